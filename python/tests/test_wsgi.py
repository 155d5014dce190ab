"""gohttp.wsgi: PEP 3333 over real HTTP.  Every application here is wrapped
in wsgiref.validate.validator and its warnings are errors: a violation
raises in the handler, which the server turns into a 500 the test sees."""

import http.client
import json
import socket
import sys
import threading
import warnings
from wsgiref.validate import WSGIWarning, validator

import pytest

from gohttp import wsgi
from apps import echo_app
from conftest import read_until_close, request


@pytest.fixture(autouse=True)
def wsgi_warnings_are_errors():
    # warnings filters are process-wide, so this also covers the handler
    # threads (pull workers and Go threads).
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield


@pytest.fixture
def serve_app(dispatch):
    servers = []

    def factory(app, **options):
        srv = wsgi.make_server(app, dispatch=dispatch, **options)
        servers.append(srv)
        return srv.start("127.0.0.1", 0)

    yield factory
    for srv in servers:
        assert srv.close(5.0)


def echo(port, method, path, body=None, headers=None):
    status, hdrs, out = request(port, method, path, body=body,
                                headers=headers)
    assert status == 200, out
    return json.loads(out)


def test_environ(serve_app):
    port = serve_app(echo_app)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/caf%C3%A9/a%2Fb?x=1&y=%20z")
    for name, value in (("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", "5"), ("X-Multi", "a"),
                        ("X-Multi", "b"), ("Cookie", "a=1"),
                        ("Cookie", "b=2"), ("X_Under", "spoof"),
                        ("User-Agent", "pytest")):
        conn.putheader(name, value)
    conn.endheaders(b"hello")
    resp = conn.getresponse()
    assert resp.status == 200
    data = json.loads(resp.read())
    conn.close()
    env = data["environ"]
    assert data["body"] == ["hello"]
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded bytes as latin-1; %2F stays a literal slash byte.
    assert env["PATH_INFO"] == b"/caf\xc3\xa9/a/b".decode("latin-1")
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_MULTI"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_USER_AGENT"] == "pytest"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % port
    assert "HTTP_X_UNDER" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False


@pytest.mark.parametrize("how", ["read", "readline", "readlines", "iter",
                                 "read3"])
def test_wsgi_input_methods(serve_app, how):
    port = serve_app(echo_app)
    body = b"line one\nline two\n\nlast without newline"
    data = echo(port, "POST", "/?read=" + how, body=body)
    assert "".join(data["body"]).encode("latin-1") == body
    if how in ("readline", "readlines", "iter"):
        assert data["body"] == ["line one\n", "line two\n", "\n",
                                "last without newline"]


def test_wsgi_input_chunked_reads_to_end(serve_app):
    seen = {}

    def app(environ, start_response):
        seen["length"] = environ.get("CONTENT_LENGTH")
        seen["terminated"] = environ.get("wsgi.input_terminated")
        data = b""
        while True:
            chunk = environ["wsgi.input"].read(1000)
            if not chunk:
                break
            data += chunk
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(data)).encode()]

    port = serve_app(validator(app))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/", body=iter([b"a" * 3000, b"b" * 3000]),
                 encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    assert conn.getresponse().read() == b"6000"
    conn.close()
    assert seen == {"length": None, "terminated": True}


def test_start_response_exc_info_replaces_before_body(serve_app):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-First", "1")])
        try:
            raise KeyError("oops")
        except KeyError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]

    port = serve_app(validator(app))
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (503, b"replaced")
    assert "X-First" not in headers


def test_start_response_exc_info_after_body_reraises(serve_app, caplog):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise KeyError("too late")
        except KeyError:
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain")], sys.exc_info())
        return [b"never"]

    # Not validated: validator() forbids exc_info after headers were sent
    # too, by raising its own AssertionError instead of ours.
    port = serve_app(app)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    # The connection is cut: either before the buffered head went out or
    # in the middle of the body; never a complete response.
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    conn.close()
    assert "too late" in caplog.text


def test_start_response_twice_without_exc_info_is_500(serve_app):
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"x"]

    port = serve_app(app)
    assert request(port, "GET", "/")[0] == 500


def test_write_callable_and_exception_gives_500(serve_app):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("app bug")
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"from write; ")
        return [b"from iterable"]

    port = serve_app(validator(app))
    assert request(port, "GET", "/")[2] == b"from write; from iterable"
    status, _, body = request(port, "GET", "/boom")
    assert status == 500 and body == b"Internal Server Error\n"


def test_streamed_iterable_arrives_chunk_by_chunk(serve_app):
    release = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first\n"
            release.wait(10)
            yield b"second\n"
        return gen()

    port = serve_app(validator(app))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.readline() == b"first\n"   # before the app produced more
    release.set()
    assert resp.read() == b"second\n"
    conn.close()


class ClosingBody:
    """An iterable with close(), to prove close() is always called."""

    closed = 0

    def __init__(self, fail):
        self.fail = fail

    def __iter__(self):
        yield b"one"
        if self.fail:
            raise RuntimeError("iteration failed")
        yield b"two"

    def close(self):
        ClosingBody.closed += 1


def test_close_always_called(serve_app):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingBody(environ["PATH_INFO"] == "/fail")

    port = serve_app(validator(app))
    ClosingBody.closed = 0
    assert request(port, "GET", "/ok")[2] == b"onetwo"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/fail")
    resp = conn.getresponse()
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp.read()
    conn.close()
    assert ClosingBody.closed == 2


def test_content_length_honoured(serve_app):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "5")])
        return [b"12345", b"67890"]

    port = serve_app(app)   # validator would reject the extra bytes itself
    status, headers, body = request(port, "GET", "/")
    assert (status, headers["Content-Length"], body) == (200, "5", b"12345")


def test_second_content_length_is_500(serve_app):
    # The library refuses the second Content-Length before anything is
    # sent, so the client gets a 500 (not a dropped connection, and never
    # two lengths).
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5"),
                                  ("Content-Length", "6")])
        return [b"hello"]

    port = serve_app(app)
    status, _, body = request(port, "GET", "/")
    assert status == 500 and body == b"Internal Server Error\n"


def test_no_body_statuses_and_head(serve_app):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/nocontent":
            start_response("204 No Content", [])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "4")])
        return [b"body"]

    port = serve_app(validator(app))
    assert request(port, "GET", "/nocontent")[::2] == (204, b"")
    status, headers, body = request(port, "HEAD", "/")
    assert (status, headers["Content-Length"], body) == (200, "4", b"")


def test_declared_too_large_body_is_413(serve_app):
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [])
        return [b""]

    port = serve_app(validator(app), max_body_bytes=100)
    assert request(port, "POST", "/", body=b"x" * 1000)[0] == 413
    assert calls == []


def test_wsgi_input_readline_accepts_none(serve_app):
    """readline(None) means no limit, as for io objects (and as read(None)
    already does here)."""
    def app(environ, start_response):
        stream = environ["wsgi.input"]
        lines = []
        while True:
            line = stream.readline(None)
            if not line:
                break
            lines.append(line.decode("latin-1"))
        out = json.dumps(lines).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out]

    port = serve_app(validator(app))
    assert echo(port, "POST", "/", body=b"one\ntwo\nend") == [
        "one\n", "two\n", "end"]


@pytest.mark.parametrize("app_catches", [True, False])
def test_stalled_body_under_wsgi_is_408(serve_app, app_catches):
    """A wsgi.input read that stalls past body_read_timeout: an app that
    renders its own 5xx page for it, or lets it escape, answers 408 (the
    client's fault); the app's page is kept as the body."""
    def app(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except OSError:
            if not app_catches:
                raise
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain")])
            return [b"error page"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"read"]

    port = serve_app(app, body_read_timeout=0.3)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000000\r\n\r\n" + b"b" * 1000)
        answer = read_until_close(s)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    if app_catches:
        assert answer.endswith(b"\r\n\r\nerror page"), answer[-200:]


def test_too_large_chunked_body_caught_by_app_is_413(serve_app):
    """A framework that catches the too-large error while reading
    wsgi.input and renders its own 5xx error page: the adapter reports
    the real cause, 413, with the app's page as the body."""
    def app(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except OSError:
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain")])
            return [b"error page"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"read"]

    port = serve_app(app, max_body_bytes=1000)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/", body=iter([b"a" * 3000]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413
    assert resp.read() == b"error page"
    conn.close()
