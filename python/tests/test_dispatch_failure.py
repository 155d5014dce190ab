"""A failure of the dispatcher itself (before the handler runs) answers
500, in both dispatch modes, never an empty 200; the pull worker survives
it."""

import logging

import gohttp
from gohttp import _server
from conftest import request


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
