"""The extension's C half (python/gohttp_native.c): the environ and the
Request built from the arena in one call, the one-call response, the
header rules it checks without a crossing, and its lifetime rule."""

import threading

import pytest

import gohttp
from gohttp import _exchange, _native, wsgi
from gohttp._gohttp_cffi import lib

from conftest import raw_exchange, request


def test_header_rules_match_the_library(make_server):
    """header_problem is the library's rule for every byte, in a name and
    in a value: the seed API checks headers without a crossing, so the two
    must never disagree."""
    disagree = []

    def handler(w, req):
        for b in range(256):
            name = b"X" + bytes([b])
            value = b"a" + bytes([b]) + b"b"
            for n, v in ((name, b"v"), (b"X-Ok", value)):
                lib_ok = lib.gohttp_set_header(w._w, n, len(n), v, len(v)) == 0
                ours = _native.header_problem(n, v) is None
                if lib_ok != ours:
                    disagree.append((n, v, lib_ok))
        for v in (b"0", b"12", b"123456789012345678", b"1234567890123456789",
                  b"-5", b"+5", b"1e3", b" 1", b"1 ", b"", b"0x10"):
            n = b"Content-Length"
            lib_ok = lib.gohttp_set_header(w._w, n, len(n), v, len(v)) == 0
            if lib_ok != (_native.header_problem(n, v) is None):
                disagree.append((n, v, lib_ok))
        lib.gohttp_del_header(w._w, b"Content-Length", 14)
        empty_ok = lib.gohttp_set_header(w._w, b"", 0, b"v", 1) == 0
        if empty_ok != (_native.header_problem(b"", b"v") is None):
            disagree.append((b"", b"v", empty_ok))
        w.write("checked")

    _, port = make_server({"/": handler})
    status, _, body = request(port, "GET", "/")
    assert (status, body) == (200, b"checked")
    assert disagree == []


def test_raw_non_ascii_path_reaches_path_info_as_latin1(make_server):
    """PEP 3333: PATH_INFO holds the path's bytes as latin-1, whether the
    client %-encoded them or sent them raw."""
    seen = []

    def app(environ, start_response):
        seen.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Length", "0")])
        return []

    srv = wsgi.make_server(app)
    port = srv.start()
    try:
        for target in (b"/caf\xc3\xa9", b"/caf%C3%A9", b"/caf%c3%a9",
                       b"http://example.com/caf%C3%A9?x=1"):
            resp = raw_exchange(port, b"GET " + target + b" HTTP/1.1\r\n"
                               b"Host: h\r\nConnection: close\r\n\r\n")
            assert resp.startswith(b"HTTP/1.1 200"), resp
    finally:
        assert srv.close(5.0)
    assert seen == [b"/caf\xc3\xa9".decode("latin-1")] * 4


def test_arena_readers_refuse_other_threads_and_late_calls(make_server):
    """environ/request read the arena only for the exchange the calling
    thread is dispatching, and only while it runs."""
    results = {}

    def handler(w, req):
        raw = w._w

        def other():
            for name, call in (("environ", lambda: _native.environ(raw, {})),
                               ("request", lambda: _native.request(raw))):
                try:
                    call()
                    results[name] = "read"
                except gohttp.StaleHandleError:
                    results[name] = "stale"

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        results["joined"] = not t.is_alive()
        results["own"] = _native.request(raw)[0]
        results["handle"] = raw
        w.write("ok")

    _, port = make_server({"/": handler})
    status, _, body = request(port, "GET", "/")
    assert (status, body) == (200, b"ok")
    assert results["joined"]
    assert results["environ"] == results["request"] == "stale"
    assert results["own"] == "GET"
    with pytest.raises(gohttp.StaleHandleError):
        _native.request(results["handle"])
    with pytest.raises(gohttp.StaleHandleError):
        _native.environ(results["handle"], {})


class _Calls:
    """Counts the library calls the response paths make."""

    def __init__(self, monkeypatch):
        self.names = []
        for module, attr in ((wsgi, "_respond"), (wsgi, "_write"),
                             (wsgi, "_flush"), (_exchange, "_respond")):
            real = getattr(module, attr)
            monkeypatch.setattr(module, attr, self._wrap(attr, real))

    def _wrap(self, name, real):
        def call(*args):
            self.names.append(name)
            return real(*args)
        return call


@pytest.mark.parametrize("shape", ["list", "tuple", "iter-with-length"])
def test_wsgi_response_is_one_library_call(monkeypatch, dispatch, shape):
    calls = _Calls(monkeypatch)
    body = b"Hello, world.\n"

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        if shape == "list":
            return [body]
        if shape == "tuple":
            return (body[:5], body[5:])
        return iter([body])

    srv = wsgi.make_server(app, dispatch=dispatch)
    port = srv.start()
    try:
        status, headers, got = request(port, "GET", "/")
    finally:
        assert srv.close(5.0)
    assert (status, got) == (200, body)
    assert headers["Content-Type"] == "text/plain"
    assert calls.names == ["_respond"]


def test_wsgi_stream_without_length_flushes_each_block(monkeypatch, dispatch):
    calls = _Calls(monkeypatch)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"one "
        yield b"two"

    srv = wsgi.make_server(app, dispatch=dispatch)
    port = srv.start()
    try:
        status, _, got = request(port, "GET", "/")
    finally:
        assert srv.close(5.0)
    assert (status, got) == (200, b"one two")
    assert calls.names == ["_respond", "_flush", "_write", "_flush"]


def test_seed_handler_status_headers_body_in_one_call(monkeypatch,
                                                      make_server):
    calls = _Calls(monkeypatch)

    def handler(w, req):
        w.set_header("X-One", "1")
        w.add_header("X-Two", "a")
        w.add_header("X-Two", "b")
        w.set_header("X-Gone", "x")
        w.del_header("x-gone")
        w.set_status(201)
        w.write("made")

    _, port = make_server({"/": handler})
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (201, b"made")
    assert headers["X-One"] == "1"
    assert headers.get_all("X-Two") == ["a", "b"]
    assert "X-Gone" not in headers
    assert calls.names == ["_respond"]


def test_seed_handler_that_only_sets_is_answered_at_return(monkeypatch,
                                                           make_server):
    calls = _Calls(monkeypatch)

    def handler(w, req):
        w.set_header("X-Only", "yes")
        w.set_status(204)

    _, port = make_server({"/": handler})
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (204, b"")
    assert headers["X-Only"] == "yes"
    assert calls.names == ["_respond"]


def test_seed_header_after_status_is_refused_at_once(make_server):
    seen = {}

    def handler(w, req):
        w.set_status(200)
        try:
            w.set_header("X-Late", "1")
        except gohttp.HeadersSentError:
            seen["late"] = "refused"
        try:
            w.set_header("Bad Name", "1")
        except (ValueError, gohttp.HeadersSentError) as exc:
            seen["bad"] = type(exc).__name__
        w.write("ok")

    _, port = make_server({"/": handler})
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (200, b"ok")
    assert "X-Late" not in headers
    assert seen == {"late": "refused", "bad": "HeadersSentError"}


@pytest.mark.parametrize("status", [204, 304])
def test_seed_body_after_no_body_status_is_refused_status_kept(make_server,
                                                               status):
    """The status goes out; only the body is refused (HeadersSentError in
    the handler), and the connection is not cut."""
    seen = []

    def handler(w, req):
        w.set_status(status)
        try:
            w.write("body")
        except gohttp.HeadersSentError:
            seen.append("refused")
        w.write("again")   # not caught: logged, the answer stands

    _, port = make_server({"/": handler})
    got = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n"
                      b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 %d " % status), got
    assert got.endswith(b"\r\n\r\n")
    assert seen == ["refused"]


def test_waiting_handler_hands_the_pull_worker_role_over():
    """Pull mode: a handler that waits (here on an Event, GIL released)
    must not hold up the next request: a parked worker takes the taker
    role over, so the fast request is answered while the slow one still
    waits. Without the hand-over the fast request would wait for the slow
    one, which waits for it: the test would time out."""
    release = threading.Event()
    entered = threading.Event()

    def slow(w, req):
        entered.set()
        w.write("slow %s" % release.wait(20))

    def fast(w, req):
        w.write("fast")

    srv = gohttp.Server(dispatch=gohttp.PULL, threads=4)
    srv.route("/slow", slow)
    srv.route("/fast", fast)
    port = srv.start()
    results = {}

    def get_slow():
        results["slow"] = request(port, "GET", "/slow", timeout=30)

    t = threading.Thread(target=get_slow)
    t.start()
    try:
        assert entered.wait(10), "the slow handler never ran"
        status, _, body = request(port, "GET", "/fast", timeout=10)
        assert (status, body) == (200, b"fast")
        assert t.is_alive(), "the slow request ended first"
    finally:
        release.set()
        t.join(30)
        assert srv.close(5.0)
    assert not t.is_alive()
    assert results["slow"][0] == 200 and results["slow"][2] == b"slow True"
