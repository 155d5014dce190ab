"""Host wait time: gohttp_note_host_wait adds to the process-wide
host_wait_ns counter, and the Python package reports through it each wait
for the GIL that a dispatched request makes before its handler runs (push:
a Go thread entering Python; pull: the worker taking the GIL back with an
exchange in hand).  The metrics endpoint shows it in seconds."""

import sys
import threading
import time

import pytest

import gohttp
from gohttp._gohttp_cffi import lib

from conftest import request


def test_note_host_wait_adds_positive_values_only():
    before = gohttp.stats()["host_wait_ns"]
    lib.gohttp_note_host_wait(1234)
    lib.gohttp_note_host_wait(0)
    lib.gohttp_note_host_wait(-10 ** 12)
    assert gohttp.stats()["host_wait_ns"] - before == 1234


@pytest.mark.parametrize("dispatch", ["push", "pull"])
def test_gil_waits_of_dispatched_requests_are_counted(dispatch):
    """A Python thread that keeps the GIL busy (with a long switch
    interval, so each hand-over takes tens of milliseconds) makes every
    request wait for the GIL before its handler runs; those waits show up
    in host_wait_ns.  Without the busy thread they stay far smaller."""
    srv = gohttp.Server(dispatch=dispatch, threads=2)
    srv.route("/", lambda w, req: w.write(b"ok"))
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=busy)
    old_interval = sys.getswitchinterval()
    try:
        port = srv.start("127.0.0.1", 0)
        assert request(port, "GET", "/")[0] == 200  # workers are up
        quiet_before = gohttp.stats()["host_wait_ns"]
        for _ in range(3):
            assert request(port, "GET", "/")[0] == 200
        quiet = gohttp.stats()["host_wait_ns"] - quiet_before

        sys.setswitchinterval(0.05)
        spinner.start()
        time.sleep(0.01)  # a head start only; the waits below need no timing
        busy_before = gohttp.stats()["host_wait_ns"]
        for _ in range(3):
            assert request(port, "GET", "/")[0] == 200
        waited = gohttp.stats()["host_wait_ns"] - busy_before
    finally:
        stop.set()
        sys.setswitchinterval(old_interval)
        assert srv.close(5.0)
    if spinner.ident is not None:
        spinner.join(10)
    # Three requests, each waiting for a switch interval of 50 ms at most
    # and usually a good part of one: at least 10 ms in total.
    assert waited >= 10_000_000, (waited, quiet)
    assert waited > quiet
