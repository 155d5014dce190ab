"""Trusted proxy headers (forwarded_allow_ips): X-Forwarded-For, -Proto
and -Host from a trusted peer become REMOTE_ADDR / Request.remote_addr,
wsgi.url_scheme / Request.scheme and HTTP_HOST / Request.host; from any
other peer they are ordinary headers.  The server listens on 127.0.0.1,
so the test's own connection is the peer, trusted or not by the list."""

import json

import pytest

import gohttp
from gohttp import wsgi

from apps import echo_app
from conftest import read_line, request, served_by, spawn

PROXY = {"X-Forwarded-For": "6.6.6.6, 203.0.113.5",
         "X-Forwarded-Proto": "https",
         "X-Forwarded-Host": "shop.example:8443"}


def wsgi_environ(allow, dispatch, headers):
    srv = wsgi.make_server(echo_app, dispatch=dispatch,
                           forwarded_allow_ips=allow)
    try:
        port = srv.start("127.0.0.1", 0)
        status, _, body = request(port, "GET", "/", headers=headers)
        assert status == 200
        return json.loads(body)["environ"], port
    finally:
        assert srv.close(5.0)


def test_wsgi_trusted_peer_gets_forwarded_client(dispatch):
    env, _ = wsgi_environ("10.0.0.0/8, 127.0.0.1", dispatch, PROXY)
    # The rightmost untrusted hop: 6.6.6.6 is left of it, unvouched for.
    assert env["REMOTE_ADDR"] == "203.0.113.5"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "shop.example:8443"
    # The headers themselves are still there.
    assert env["HTTP_X_FORWARDED_FOR"] == "6.6.6.6, 203.0.113.5"


@pytest.mark.parametrize("allow", [None, "10.0.0.0/8, ::1", ""])
def test_wsgi_untrusted_peer_headers_stay_headers(dispatch, allow):
    env, port = wsgi_environ(allow, dispatch, PROXY)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % port
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"


def test_request_remote_addr_and_scheme(make_server):
    seen = []

    def handler(w, req):
        seen.append((req.remote_addr, req.scheme, req.host))
        w.write(b"ok")

    for allow in ("127.0.0.1", None):
        _, port = make_server({"/": handler}, forwarded_allow_ips=allow)
        assert request(port, "GET", "/", headers=PROXY)[0] == 200
    assert seen[0] == ("203.0.113.5:0", "https", "shop.example:8443")
    addr, scheme, host = seen[1]
    assert addr.startswith("127.0.0.1:") and addr != "127.0.0.1:0"
    assert scheme == "http" and host.startswith("127.0.0.1:")


def test_star_trusts_every_peer_and_takes_the_first_hop(make_server):
    seen = []
    _, port = make_server({"/": lambda w, req: seen.append(req.remote_addr)},
                          forwarded_allow_ips=["*"])
    request(port, "GET", "/", headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.1"})
    assert seen == ["6.6.6.6:0"]


def test_bad_allow_list_is_an_error_at_construction():
    for bad, word in (("10.0.0.0/33", "10.0.0.0/33"), ("localhost", "localhost"),
                      ("1.2.3.4,,", "empty")):
        with pytest.raises(ValueError, match=word):
            gohttp.Server(forwarded_allow_ips=bad)
    with pytest.raises(TypeError):
        gohttp.Server(forwarded_allow_ips=[1])


def test_cli_forwarded_allow_ips():
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  "--forwarded-allow-ips", "127.0.0.1"])
    with served_by(proc):
        line = read_line(proc, 15.0)
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        status, _, body = request(port, "GET", "/", headers=PROXY)
        env = json.loads(body)["environ"]
        assert status == 200 and env["REMOTE_ADDR"] == "203.0.113.5"
        assert env["wsgi.url_scheme"] == "https"
