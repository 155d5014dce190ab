"""What an application server is deployed with, served by Go: HTTPS with
HTTP/2 by ALPN, h2c, static files, the access log.  Real clients (Python's
ssl and http.client, curl) against real servers on 127.0.0.1."""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess

import pytest

import gohttp
from gohttp import wsgi

from apps import echo_app
from conftest import (finish_child, foreign_env, raw_exchange, read_line,
                      read_port, served_by, spawn)

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")


def curl_has(feature):
    if CURL is None:
        return False
    out = subprocess.run([CURL, "-V"], capture_output=True, text=True,
                         env=foreign_env(), timeout=20).stdout
    return feature in out.split()


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl")
needs_curl_h2 = pytest.mark.skipif(not curl_has("HTTP2"),
                                   reason="curl without HTTP/2")


def make_cert(directory, name="cert"):
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    cert = os.path.join(str(directory), name + ".pem")
    key = os.path.join(str(directory), name + "-key.pem")
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext",
         "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30, env=foreign_env())
    return cert, key


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if OPENSSL is None:
        pytest.skip("no openssl")
    return make_cert(tmp_path_factory.mktemp("tls"))


def https_get(port, cafile, path="/", method="GET", body=None):
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read(), conn.sock.version()
    finally:
        conn.close()


def curl(*args):
    out = subprocess.run([CURL, "-sS", "--max-time", "10"] + list(args),
                         capture_output=True, text=True, timeout=20,
                         env=foreign_env())
    return out


# -- HTTPS ---------------------------------------------------------------

@needs_openssl
def test_https_wsgi_sees_https_scheme_over_verified_tls(cert, dispatch):
    certfile, keyfile = cert
    srv = wsgi.make_server(echo_app, dispatch=dispatch, certfile=certfile,
                           keyfile=keyfile)
    try:
        port = srv.start("127.0.0.1", 0)
        status, _, body, version = https_get(port, certfile, "/a?b=1",
                                             "POST", b"payload")
        got = json.loads(body)
        env = got["environ"]
        assert status == 200
        assert env["wsgi.url_scheme"] == "https"
        assert env["PATH_INFO"] == "/a" and "".join(got["body"]) == "payload"
        assert version.startswith("TLSv1.")
        # The certificate is checked: a client that does not trust it fails.
        with pytest.raises(ssl.SSLError):
            https_get(port, None)
    finally:
        assert srv.close(5.0)


@needs_openssl
def test_plain_server_keeps_http_scheme():
    srv = wsgi.make_server(echo_app)
    try:
        port = srv.start("127.0.0.1", 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        env = json.loads(conn.getresponse().read())["environ"]
        conn.close()
        assert env["wsgi.url_scheme"] == "http"
    finally:
        assert srv.close(5.0)


@needs_openssl
@needs_curl_h2
def test_https_http2_by_alpn_and_http1_with_curl(cert):
    certfile, keyfile = cert
    srv = wsgi.make_server(echo_app, certfile=certfile, keyfile=keyfile)
    try:
        port = srv.start("127.0.0.1", 0)
        url = "https://127.0.0.1:%d/h2" % port
        for flag, want in (("--http2", "2"), ("--http1.1", "1.1")):
            out = curl("--cacert", certfile, flag, "-w", "\n%{http_version}",
                       url)
            assert out.returncode == 0, out.stderr
            body, version = out.stdout.rsplit("\n", 1)
            assert version == want
            env = json.loads(body)["environ"]
            assert env["SERVER_PROTOCOL"] == ("HTTP/2.0" if want == "2"
                                              else "HTTP/1.1")
            assert env["wsgi.url_scheme"] == "https"
    finally:
        assert srv.close(5.0)


@needs_openssl
def test_bad_certificate_or_key_is_an_error_at_construction(cert, tmp_path):
    certfile, keyfile = cert
    _, other_key = make_cert(tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not pem\n")
    cases = [
        (dict(certfile=certfile), "go together"),
        (dict(keyfile=keyfile), "go together"),
        (dict(certfile=str(tmp_path / "missing.pem"), keyfile=keyfile),
         "no such file"),
        (dict(certfile=certfile, keyfile=other_key), "does not match"),
        (dict(certfile=str(garbage), keyfile=keyfile), "PEM"),
        (dict(certfile="", keyfile=keyfile), "non-empty"),
    ]
    for kwargs, want in cases:
        with pytest.raises(ValueError, match=want):
            gohttp.Server(**kwargs)


@needs_openssl
def test_cli_https_flags(cert):
    certfile, keyfile = cert
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--certfile", certfile, "--keyfile", keyfile])
    with served_by(proc):
        line = read_line(proc, 15.0)
        assert line.startswith("gohttp: listening on https://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        status, _, body, _ = https_get(port, certfile)
        assert status == 200
        assert json.loads(body)["environ"]["wsgi.url_scheme"] == "https"


@needs_openssl
def test_cli_bad_certificate_is_a_usage_error(tmp_path):
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--certfile", str(tmp_path / "none.pem"),
                  "--keyfile", str(tmp_path / "none-key.pem")])
    out, err = proc.communicate(timeout=15)
    finish_child(proc, out, err, status=2)
    assert "no such file" in err


# -- h2c -----------------------------------------------------------------

@needs_curl_h2
def test_h2c_prior_knowledge_and_http1_on_one_port_from_the_cli():
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--h2c"])
    with served_by(proc):
        port = read_port(proc)
        url = "http://127.0.0.1:%d/p" % port
        out = curl("--http2-prior-knowledge", "-w", "\n%{http_version}",
                   "--data-binary", "abc", url)
        assert out.returncode == 0, out.stderr
        body, version = out.stdout.rsplit("\n", 1)
        got = json.loads(body)
        assert version == "2"
        assert got["environ"]["SERVER_PROTOCOL"] == "HTTP/2.0"
        assert "".join(got["body"]) == "abc"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/p")
        resp = conn.getresponse()
        env = json.loads(resp.read())["environ"]
        conn.close()
        assert resp.version == 11 and env["SERVER_PROTOCOL"] == "HTTP/1.1"


@needs_curl_h2
def test_without_h2c_prior_knowledge_gets_no_http2(make_server):
    srv, port = make_server({"/": lambda w, req: w.write(b"hi")})
    out = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/" % port)
    assert out.returncode != 0
    srv2, port2 = make_server({"/": lambda w, req: w.write(b"hi")}, h2c=True)
    out = curl("--http2-prior-knowledge", "-w", "%{http_version}",
               "http://127.0.0.1:%d/" % port2)
    assert out.returncode == 0 and out.stdout == "hi2"
    with pytest.raises(TypeError):
        gohttp.Server(h2c=1)


# -- static files --------------------------------------------------------

SECRET = b"SECRET-OUTSIDE-THE-ROOT"


@pytest.fixture
def public(tmp_path):
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "hello.txt").write_bytes(b"static hello\n")
    (root / "css" / "site.css").write_bytes(b"body{}\n")
    (root / "css" / "index.html").write_bytes(b"<p>css index</p>\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink("../secret.txt", str(root / "out"))
    return root


def raw_get(port, target):
    return raw_exchange(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")


def test_static_files_never_reach_python(public):
    calls = []

    def app(w, req):
        calls.append(req.path)
        w.write(b"from python")

    srv = gohttp.Server(dispatch="pull")
    try:
        srv.route("/", app)
        srv.static("/static", str(public))
        port = srv.start("127.0.0.1", 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/static/hello.txt")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"static hello\n"
        assert resp.getheader("Content-Type").startswith("text/plain")
        conn.request("GET", "/static/css/site.css",
                      headers={"Range": "bytes=0-3"})
        resp = conn.getresponse()
        assert resp.status == 206 and resp.read() == b"body"
        conn.request("GET", "/static/css/")
        resp = conn.getresponse()
        assert resp.read() == b"<p>css index</p>\n"
        conn.request("GET", "/static/empty/")      # no listing
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404
        conn.request("GET", "/other")
        assert conn.getresponse().read() == b"from python"
        conn.close()
        for target in (b"/static/../secret.txt", b"/static/%2e%2e/secret.txt",
                       b"/static/..%2fsecret.txt", b"/static/out"):
            got = raw_get(port, target)
            assert got.startswith(b"HTTP/1.1 ") and SECRET not in got, target
        # Only /other ran Python: no static file did.  (A path that needs
        # cleaning reaches the catch-all route as sent, by design; it is
        # the application's, never a file.)
        assert calls[0] == "/other"
        assert set(calls[1:]) <= {"/static/../secret.txt"}, calls
        with pytest.raises(ValueError, match="static after start"):
            srv.static("/more", str(public))
    finally:
        assert srv.close(5.0)
    with gohttp.Server() as bad:
        with pytest.raises(ValueError, match="no such file"):
            bad.static("/s", str(public / "missing"))
        with pytest.raises(ValueError, match="absolute"):
            bad.static("s", str(public))


def test_cli_static_repeatable_and_passed_to_workers(public, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.txt").write_bytes(b"other file\n")
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--workers", "2", "--static", "/static=%s" % public,
                  "--static", "/o/=%s" % other])
    try:
        port = read_port(proc, 30.0)
        # Several fresh connections, so both workers answer some.
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/static/hello.txt")
            assert conn.getresponse().read() == b"static hello\n"
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/o/o.txt")
            assert conn.getresponse().read() == b"other file\n"
            conn.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_static_bad_spec_is_a_usage_error(tmp_path):
    for spec in ("/static", "/s=%s" % (tmp_path / "missing")):
        proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind",
                      "127.0.0.1:0", "--static", spec])
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 2, (spec, err)


# -- access log ----------------------------------------------------------

CLF = re.compile(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d '
                 r'[+-]\d{4}\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) (\d+)$')


def test_cli_access_log_file(tmp_path, public):
    log = tmp_path / "access.log"
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--access-log", str(log), "--static",
                  "/static=%s" % public])
    with served_by(proc):
        port = read_port(proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/app?x=1", body=b"abc")
        n_app = len(conn.getresponse().read())
        conn.request("GET", "/static/hello.txt")
        conn.getresponse().read()
        conn.request("GET", "/static/nothing")
        conn.getresponse().read()
        conn.close()
    lines = log.read_text().splitlines()
    got = [CLF.match(line) for line in lines]
    assert all(got), lines
    assert [m.groups()[:5] for m in got] == [
        ("POST", "/app?x=1", "HTTP/1.1", "200", str(n_app)),
        ("GET", "/static/hello.txt", "HTTP/1.1", "200", "13"),
        ("GET", "/static/nothing", "HTTP/1.1", "404", "19"),
    ]


def test_access_log_that_cannot_be_opened_is_an_error_at_construction(
        tmp_path):
    with pytest.raises(ValueError, match="access_log"):
        gohttp.Server(access_log=str(tmp_path / "no" / "such" / "dir.log"))
