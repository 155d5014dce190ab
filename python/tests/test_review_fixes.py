"""Regression tests for review findings R5-R8 (python/ binding):

R5  a 1xx informational status (103 Early Hints) does not count as "the
    response started": a handler that raises after it still gets a 500.
R6  Request.read(n) / wsgi.input.read(n) with a huge n never allocate n
    bytes: each C read buffer is capped.
R7  option value 0 is refused (ValueError) where the C API would silently
    read it as "library default"; sub-millisecond timeouts do not round to 0.
R8  a failure of the dispatcher itself (before the handler runs) answers
    500, in both dispatch designs, never an empty 200.
"""

import hashlib
import http.client
import logging
import os
import socket
import sys
import threading
import time

import pytest

import gohttp
from gohttp import _exchange, _server, wsgi
from conftest import request


def raw_exchange(port, head, timeout=10):
    """Send raw request bytes on a fresh connection and read until the
    server closes it (the request carries Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        data = b""
        while True:
            got = s.recv(65536)
            if not got:
                return data
            data += got


# -- R5 ------------------------------------------------------------------

def test_early_hints_then_exception_gives_500(make_server, caplog):
    seen = {}

    def hints_then_bug(w, req):
        w.set_header("Link", "</style.css>; rel=preload; as=style")
        w.set_status(103)
        seen["sent_after_103"] = w.headers_sent
        raise RuntimeError("bug after early hints")

    _, port = make_server({"/": hints_then_bug})
    with caplog.at_level(logging.ERROR, logger="gohttp"):
        data = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    # The 103 went out first, then a complete 500 (not a dropped connection).
    assert data.startswith(b"HTTP/1.1 103 "), data[:200]
    assert b"</style.css>" in data.split(b"\r\n\r\n", 1)[0]
    final = data.split(b"\r\n\r\n", 1)[1]
    assert final.startswith(b"HTTP/1.1 500 "), data
    assert final.endswith(b"\r\n\r\nInternal Server Error\n"), data
    # The handler's own headers are not part of the 500.
    assert b"</style.css>" not in final
    assert seen["sent_after_103"] is False
    assert "bug after early hints" in caplog.text


def test_early_hints_then_final_status(make_server):
    states = []

    def hints_then_created(w, req):
        w.set_status(103)
        states.append(w.headers_sent)
        w.set_status(201)
        states.append(w.headers_sent)
        w.write("made")

    _, port = make_server({"/": hints_then_created})
    data = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 103 ")
    assert b"HTTP/1.1 201 " in data and data.endswith(b"\r\n\r\nmade")
    assert states == [False, True]


# -- R6 ------------------------------------------------------------------

class _ReadSpy:
    """Stands in for the cffi lib in gohttp._exchange and records the
    capacity of every gohttp_read_body call (everything else passes
    through to the real library)."""

    def __init__(self, real):
        self._real = real
        self.caps = []

    def __getattr__(self, name):
        return getattr(self._real, name)

    def gohttp_read_body(self, w, buf, cap):
        self.caps.append(cap)
        return self._real.gohttp_read_body(w, buf, cap)


@pytest.mark.parametrize("chunked", [False, True])
def test_request_read_huge_n_caps_the_c_buffer(make_server, monkeypatch,
                                               chunked):
    spy = _ReadSpy(_exchange.lib)
    monkeypatch.setattr(_exchange, "lib", spy)

    def reader(w, req):
        h = hashlib.sha256()
        total = 0
        while True:
            chunk = req.read(sys.maxsize)   # bytearray(sys.maxsize) fails
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
        w.write("%s %d" % (h.hexdigest(), total))

    _, port = make_server({"POST /": reader})
    payload = os.urandom(3 * 1024 * 1024 + 17)
    expect = ("%s %d" % (hashlib.sha256(payload).hexdigest(),
                         len(payload))).encode()
    if chunked:
        def gen():
            for i in range(0, len(payload), 500000):
                yield payload[i:i + 500000]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("POST", "/", body=gen(), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
        conn.close()
    else:
        status, _, body = request(port, "POST", "/", body=payload,
                                  timeout=20)
    assert (status, body) == (200, expect)
    assert spy.caps and max(spy.caps) <= _exchange.MAX_READ_BUFFER
    assert _exchange.MAX_READ_BUFFER <= 1024 * 1024


def test_request_read_small_body_uses_small_buffer(make_server, monkeypatch):
    # With a Content-Length, the buffer follows what is left of the body
    # (plus one byte to see its end), not n.
    spy = _ReadSpy(_exchange.lib)
    monkeypatch.setattr(_exchange, "lib", spy)

    def reader(w, req):
        w.write(req.read(1 << 40) + b"|" + req.read(1 << 40))

    _, port = make_server({"POST /": reader})
    status, _, body = request(port, "POST", "/", body=b"0123456789")
    assert (status, body) == (200, b"0123456789|")
    assert spy.caps and max(spy.caps) <= 11


@pytest.mark.parametrize("chunked", [False, True])
def test_wsgi_input_read_huge_size(dispatch, chunked):
    def app(environ, start_response):
        data = environ["wsgi.input"].read(sys.maxsize)
        out = ("%s %d" % (hashlib.sha256(data).hexdigest(),
                          len(data))).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    payload = os.urandom(2 * 1024 * 1024 + 5)
    expect = ("%s %d" % (hashlib.sha256(payload).hexdigest(),
                         len(payload))).encode()
    srv = wsgi.make_server(app, dispatch=dispatch)
    try:
        port = srv.start("127.0.0.1", 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        if chunked:
            conn.request("POST", "/", body=iter([payload[:1000000],
                                                 payload[1000000:]]),
                         encode_chunked=True,
                         headers={"Transfer-Encoding": "chunked"})
        else:
            conn.request("POST", "/", body=payload)
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, expect)
        conn.close()
    finally:
        assert srv.close(5.0)


# -- R7 ------------------------------------------------------------------

@pytest.mark.parametrize("option", [
    "queue_timeout", "max_body_bytes", "max_header_bytes",
    "read_header_timeout", "idle_timeout", "max_handlers", "threads"])
def test_zero_option_is_refused(option):
    with pytest.raises(ValueError, match=r"%s.*must be positive.*None"
                       % option):
        gohttp.Server(**{option: 0})
    with pytest.raises(ValueError, match="must be positive"):
        gohttp.Server(**{option: -1})


def test_zero_option_is_refused_by_wsgi_make_server():
    with pytest.raises(ValueError, match="max_body_bytes.*must be positive"):
        wsgi.make_server(lambda e, s: [], max_body_bytes=0)


def test_write_timeout_zero_means_none_and_is_accepted(dispatch):
    # Documented: write_timeout=0 means no write timeout (the C meaning of
    # 0 for this field, which is also its default), so it is allowed.
    with gohttp.Server(dispatch=dispatch, write_timeout=0) as srv:
        srv.route("/", lambda w, req: w.write("ok"))
        port = srv.start()
        assert request(port, "GET", "/")[:3:2] == (200, b"ok")


def test_sub_millisecond_queue_timeout_is_not_the_default(make_server):
    # 0.0004 s must become 1 ms, not 0 ms (= the 10 s library default).
    entered = threading.Event()
    release = threading.Event()

    def busy(w, req):
        entered.set()
        release.wait(10)
        w.write("done")

    _, port = make_server({"/": busy}, max_handlers=1, threads=1,
                          queue_timeout=0.0004)
    first = {}
    t = threading.Thread(target=lambda: first.update(
        r=request(port, "GET", "/")))
    t.start()
    try:
        assert entered.wait(5)
        start = time.monotonic()
        status, _, _ = request(port, "GET", "/", timeout=5)
        assert status == 503
        assert time.monotonic() - start < 3
    finally:
        release.set()
        t.join(10)
    assert first["r"][:3:2] == (200, b"done")


# -- R8 ------------------------------------------------------------------

def _failing_request(*args):
    raise MemoryError("simulated: cannot build the Request")


def test_dispatch_failure_answers_500(make_server, monkeypatch, caplog):
    monkeypatch.setattr(_server, "Request", _failing_request)
    called = []
    # threads=1: in pull mode the single worker must survive the failure
    # and serve the second request too.
    _, port = make_server({"/": lambda w, req: called.append(1)},
                          threads=1, queue_timeout=3)
    with caplog.at_level(logging.CRITICAL, logger="gohttp"):
        for _ in range(2):
            status, headers, body = request(port, "GET", "/", timeout=8)
            assert status == 500
            assert body == b"Internal Server Error\n"
    assert called == []
    assert "simulated: cannot build the Request" in caplog.text


def test_dispatch_failure_last_resort_onerror_answers_500(monkeypatch,
                                                          caplog):
    # Push mode: even if the in-dispatch recovery itself fails, the cffi
    # onerror hook finds the handle and answers 500.
    def broken_recovery(w, exc):
        raise RuntimeError("recovery failed too")

    monkeypatch.setattr(_server, "Request", _failing_request)
    monkeypatch.setattr(_server, "_dispatch_failed", broken_recovery)
    with gohttp.Server(dispatch=gohttp.PUSH) as srv:
        srv.route("/", lambda w, req: None)
        port = srv.start()
        with caplog.at_level(logging.CRITICAL, logger="gohttp"):
            status, _, body = request(port, "GET", "/")
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "recovery failed too" in caplog.text


def test_cli_zero_threads_is_a_usage_error():
    from conftest import spawn
    proc = spawn(["-m", "gohttp", "--threads", "0", "--bind",
                  "127.0.0.1:0"])
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:     # it started serving: the bug
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, (out, err)
    assert "threads must be positive" in err
    assert "Traceback" not in err
