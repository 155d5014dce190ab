"""Host wait time: gohttp_note_host_wait adds to the process-wide
host_wait_ns counter, and the Python package reports through it each wait
for the GIL that a dispatched request makes before its handler runs (push:
a Go thread entering Python; pull: the worker taking the GIL back with an
exchange in hand).  The metrics endpoint shows it in seconds."""

import ctypes
import socket
import sys
import time

import pytest

import gohttp
from gohttp._gohttp_cffi import lib

from conftest import read_until_close, request


def test_note_host_wait_adds_positive_values_only():
    before = gohttp.stats()["host_wait_ns"]
    lib.gohttp_note_host_wait(1234)
    lib.gohttp_note_host_wait(0)
    lib.gohttp_note_host_wait(-10 ** 12)
    assert gohttp.stats()["host_wait_ns"] - before == 1234


_libc = ctypes.PyDLL(None)
_libc.send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
_libc.send.restype = ctypes.c_ssize_t


def get_while_holding_the_gil(port, seconds):
    """Send a GET on a raw socket, then run pure Python for `seconds`
    before reading the answer: the request, dispatched meanwhile, must
    wait for the GIL until the interpreter makes this thread drop it (after
    one switch interval)."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # socket.send would release the GIL, and the request's thread could
        # take it then; a call through ctypes.PyDLL keeps it.
        assert _libc.send(s.fileno(), head, len(head), 0) == len(head)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        data = read_until_close(s)
    assert data.startswith(b"HTTP/1.1 200 "), data[:60]


@pytest.mark.parametrize("dispatch", ["push", "pull"])
def test_gil_waits_of_dispatched_requests_are_counted(dispatch):
    """With a switch interval of 50 ms, a request dispatched while this
    thread runs Python waits about that long for the GIL before its handler
    runs; those waits show up in host_wait_ns.  Requests made while this
    thread waits for the answer (GIL released) wait far less."""
    srv = gohttp.Server(dispatch=dispatch, threads=2)
    srv.route("/", lambda w, req: w.write(b"ok"))
    old_interval = sys.getswitchinterval()
    try:
        port = srv.start("127.0.0.1", 0)
        assert request(port, "GET", "/")[0] == 200  # workers are up
        quiet_before = gohttp.stats()["host_wait_ns"]
        for _ in range(3):
            assert request(port, "GET", "/")[0] == 200
        quiet = gohttp.stats()["host_wait_ns"] - quiet_before

        sys.setswitchinterval(0.05)
        busy_before = gohttp.stats()["host_wait_ns"]
        for _ in range(3):
            get_while_holding_the_gil(port, 0.2)
        waited = gohttp.stats()["host_wait_ns"] - busy_before
    finally:
        sys.setswitchinterval(old_interval)
        assert srv.close(5.0)
    # Three requests, each waiting one switch interval (50 ms): at least
    # 100 ms in total, and more than the quiet ones.
    assert waited >= 100_000_000, (waited, quiet)
    assert waited > quiet
