"""Framing strictness and option conversion through the Python package:
what a handler may not send (a second or invalid Content-Length, control
bytes), what a client may not send (Content-Length with
Transfer-Encoding, a malformed chunked body, NUL in the path), and option
values that cannot be converted (ValueError, never OverflowError)."""

import socket

import pytest

import gohttp


def raw(port, data, timeout=5.0):
    """Send data on a fresh connection; everything until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                got = s.recv(65536)
            except socket.timeout:
                return out
            if not got:
                return out
            out += got


def test_handler_content_length_and_control_bytes_refused(make_server):
    seen = {}

    def h(w, req):
        w.add_header("Content-Length", "2")
        for name, call in (
                ("second", lambda: w.add_header("Content-Length", "3")),
                ("negative", lambda: w.set_header("Content-Length", "-5")),
                ("digits", lambda: w.set_header("Content-Length", "1e3")),
                ("ctl", lambda: w.set_header("X-A", "a\x01b")),
                ("del", lambda: w.set_header("X-A", "a\x7fb"))):
            try:
                call()
            except ValueError as exc:
                seen[name] = str(exc)
        w.write(b"ok")

    _, port = make_server({"/": h})
    got = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200")
    assert got.count(b"Content-Length") == 1 and got.endswith(b"\r\n\r\nok")
    assert set(seen) == {"second", "negative", "digits", "ctl", "del"}


def test_content_length_with_transfer_encoding_is_refused(make_server):
    calls = []

    def h(w, req):
        calls.append(req.path)
        w.write(b"served")

    _, port = make_server({"/": h})
    hidden = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + hidden
    got = raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" % len(body) + body)
    assert got.startswith(b"HTTP/1.1 400") and got.count(b"HTTP/1.1") == 1
    assert calls == []


def test_malformed_chunked_body_is_bad_request(make_server):
    seen = []

    def h(w, req):
        try:
            req.read()
        except gohttp.BadRequestError as exc:
            seen.append(exc.code)

    _, port = make_server({"/": h})
    got = raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
              b"chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400")
    assert seen == [-15]


def test_malformed_chunked_body_error_escaping_the_handler_is_400(
        make_server):
    """The BadRequestError of a malformed body, left to escape the
    handler: 400 (the client's fault), not 500."""
    def h(w, req):
        req.read()

    _, port = make_server({"/": h})
    got = raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
              b"chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400"), got[:200]


def test_nul_in_path_never_reaches_the_handler(make_server):
    calls = []
    _, port = make_server({"/": lambda w, req: calls.append(req.path)})
    got = raw(port, b"GET /admin%00.png HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400") and calls == []


@pytest.mark.parametrize("options", [
    {"max_body_bytes": 10 ** 30},
    {"max_header_bytes": 2 ** 64},
    {"read_header_timeout": float("inf")},
    {"idle_timeout": float("nan")},
    {"queue_timeout": 10 ** 20},
    {"write_timeout": float("inf")},
    {"write_timeout": float("nan")},
])
def test_unconvertible_options_are_value_errors(options):
    with pytest.raises(ValueError):
        gohttp.Server(**options)


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 10 ** 20])
def test_unconvertible_shutdown_timeout_is_value_error(make_server, timeout):
    srv, _ = make_server({"/": lambda w, req: None})
    with pytest.raises(ValueError):
        srv.shutdown(timeout)
