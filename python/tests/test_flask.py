"""A Flask application served by gohttp answers exactly like Flask's own
test client and Flask's own (Werkzeug) server: JSON, form POST, file
upload, redirect, 404/405, cookies, streamed response.  The application is
wrapped in wsgiref.validate.validator under gohttp."""

import signal
import threading
import warnings
from wsgiref.validate import WSGIWarning, validator

import pytest

from gohttp import wsgi
from conftest import finish_child, read_port, spawn

flask = pytest.importorskip("flask")
requests = pytest.importorskip("requests")
werkzeug_serving = pytest.importorskip("werkzeug.serving")

import flask_app  # noqa: E402  (examples/python, on sys.path via conftest)

UPLOAD = bytes(range(256)) * 300 + b"\r\n--not-a-boundary\r\n"

# (name, method, path, requests kwargs)
CASES = [
    ("index", "GET", "/", {}),
    ("json_get", "GET", "/json?a=1&a=2&b=%C3%A9", {}),
    ("json_post", "POST", "/json", {"json": {"x": [1, 2, {"y": None}]}}),
    ("form", "POST", "/form", {"data": {"name": "Ada", "tags": ["a", "b"],
                                        "uni": "\u00e9\u20ac"}}),
    ("upload", "POST", "/upload",
     {"files": {"file": ("data.bin", UPLOAD)}, "data": {"note": "n1"}}),
    ("redirect", "GET", "/redirect", {"allow_redirects": False}),
    ("redirect_followed", "GET", "/redirect", {}),
    ("not_found", "GET", "/missing", {}),
    ("method_not_allowed", "POST", "/only-get", {}),
    ("cookie_set", "GET", "/cookie/set", {}),
    ("cookie_get", "GET", "/cookie/get",
     {"cookies": {"flavor": "oatmeal", "count": "7"}}),
    ("stream", "GET", "/stream", {}),
    ("headers", "GET", "/headers",
     {"headers": {"User-Agent": "cmp/1.0", "X-Multi": "one"}}),
]

COMPARED_HEADERS = ("Content-Type", "Location", "Allow", "Set-Cookie")


def summary(resp):
    """What must be identical between servers for one response."""
    headers = {h: resp.headers.get(h) for h in COMPARED_HEADERS}
    if headers["Allow"]:
        # Werkzeug builds Allow from a set: its order varies per process.
        headers["Allow"] = sorted(headers["Allow"].split(", "))
    body = resp.content
    if resp.headers.get("Content-Type", "").startswith("application/json"):
        body = resp.json()
        # The client port differs between two servers; compare its shape.
        if isinstance(body, dict) and "remote" in body:
            body["remote"] = body["remote"] == "127.0.0.1"
    history = [(r.status_code, r.headers.get("Location"))
               for r in resp.history]
    return resp.status_code, headers, body, history


def run_cases(port):
    out = {}
    for name, method, path, kwargs in CASES:
        resp = requests.request(method, "http://127.0.0.1:%d%s" % (port, path),
                                timeout=10, **kwargs)
        out[name] = summary(resp)
    return out


@pytest.fixture(scope="module")
def werkzeug_answers():
    """The reference: Flask's own threaded development server."""
    srv = werkzeug_serving.make_server("127.0.0.1", 0, flask_app.app,
                                       threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        return run_cases(srv.server_port)
    finally:
        srv.shutdown()
        srv.server_close()


def test_reference_answers_are_meaningful(werkzeug_answers):
    a = werkzeug_answers
    assert a["json_post"][2]["received"] == {"x": [1, 2, {"y": None}]}
    assert a["form"][2]["form"]["tags"] == ["a", "b"]
    assert a["upload"][2]["size"] == len(UPLOAD)
    assert a["redirect"][0] == 302
    assert a["not_found"][0] == 404
    assert a["method_not_allowed"][0] == 405
    assert "flavor=oatmeal" in a["cookie_set"][1]["Set-Cookie"]
    assert a["cookie_get"][2]["cookies"] == {"flavor": "oatmeal",
                                             "count": "7"}
    assert a["stream"][2] == b"".join(b"row %d\n" % i for i in range(5))


def test_flask_under_gohttp_matches_werkzeug(dispatch, werkzeug_answers):
    srv = wsgi.make_server(validator(flask_app.app), dispatch=dispatch)
    port = srv.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", WSGIWarning)
            got = run_cases(port)
    finally:
        assert srv.close(5)
    for name, *_ in CASES:
        assert got[name] == werkzeug_answers[name], name


def test_flask_matches_its_test_client():
    """The same cases through Flask's test client (no network) agree on
    status and body with gohttp (checked above against Werkzeug)."""
    client = flask_app.app.test_client()
    assert client.get("/").data == b"<h1>gohttp + Flask</h1>\n"
    assert client.get("/redirect").status_code == 302
    assert client.post("/only-get").status_code == 405
    assert client.get("/stream").data == b"".join(
        b"row %d\n" % i for i in range(5))


def test_flask_app_via_cli(werkzeug_answers):
    """`python -m gohttp flask_app:app` answers like Flask's own server."""
    proc = spawn(["-m", "gohttp", "flask_app:app", "--bind", "127.0.0.1:0"])
    try:
        port = read_port(proc)
        got = run_cases(port)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        finish_child(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for name, *_ in CASES:
        assert got[name] == werkzeug_answers[name], name
