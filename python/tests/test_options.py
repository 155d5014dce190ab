"""Server options: 0 is refused (ValueError) where the C API would
silently read it as "library default" (write_timeout=0 means none, as in
C), and sub-millisecond timeouts do not round to 0."""

import threading
import time

import pytest

import gohttp
from gohttp import wsgi
from conftest import request


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
