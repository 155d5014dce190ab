"""Request.read(n) and wsgi.input.read(n) with a huge n never allocate n
bytes: each C read buffer is capped (MAX_READ_BUFFER), small bodies get
small buffers."""

import hashlib
import http.client
import os
import sys

import pytest

import gohttp
from gohttp import _exchange, wsgi
from conftest import request


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
