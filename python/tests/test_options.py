"""Server options: 0 is refused (ValueError) where the C API would
silently read it as "library default" (write_timeout=0 means none, as in
C), sub-millisecond timeouts do not round to 0, and the effect on the wire
of the head limits, send_timeout and max_connections (body_read_timeout:
test_surface.py)."""

import http.client
import select
import socket
import threading
import time

import pytest

import gohttp
from gohttp import wsgi
from conftest import raw_exchange, read_until_close, request


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


# -- the head limits, the body and send timeouts, max_connections -------
# Each test below sets the option far from its library default, so the
# effect it asserts could not come from the default.

NEW_OPTIONS = ("limit_request_line", "limit_request_fields",
               "limit_request_field_size", "body_read_timeout",
               "send_timeout", "max_connections")


@pytest.mark.parametrize("option", NEW_OPTIONS)
def test_new_option_bad_values_are_refused(option):
    with pytest.raises(ValueError, match=r"%s.*must be positive.*None"
                       % option):
        gohttp.Server(**{option: 0})
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=option):
            gohttp.Server(**{option: bad})
    with pytest.raises(TypeError, match=option):
        gohttp.Server(**{option: "5"})
    with pytest.raises(TypeError, match=option):
        gohttp.Server(**{option: True})


@pytest.mark.parametrize("option, cap", [
    ("limit_request_line", 1 << 20), ("limit_request_fields", 1 << 20),
    ("limit_request_field_size", 1 << 20), ("max_connections", 1 << 20)])
def test_count_option_over_its_cap_is_refused(option, cap):
    with gohttp.Server(**{option: cap}):
        pass
    with pytest.raises(ValueError, match="%s: %d out of range" %
                       (option, cap + 1)):
        gohttp.Server(**{option: cap + 1})


@pytest.mark.parametrize("option", ["body_read_timeout", "send_timeout"])
def test_timeout_option_too_large_is_refused(option):
    with pytest.raises(ValueError, match="%s.*too large" % option):
        gohttp.Server(**{option: 1e16})


def status_of(raw):
    """The status code of the first response in raw bytes."""
    assert raw.startswith(b"HTTP/1.1 "), raw[:200]
    return int(raw.split(b" ", 2)[1])


def ok(w, req):
    w.write("ok")


def head(target=b"/", fields=()):
    """A GET head for target with Host, Connection: close and fields."""
    lines = [b"GET %s HTTP/1.1" % target, b"Host: x", b"Connection: close"]
    lines += list(fields)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def target_for_line(length):
    """A request target that makes 'GET <target> HTTP/1.1' length bytes."""
    pad = length - len(b"GET / HTTP/1.1")
    return b"/" + b"a" * pad


@pytest.mark.parametrize("option, limit, at_limit, over, refusal", [
    ("limit_request_line", 64,
     lambda n: head(target_for_line(n)),
     lambda n: head(target_for_line(n + 1)), 400),
    # Host and Connection are 2 of the header lines.
    ("limit_request_fields", 5,
     lambda n: head(fields=[b"X-F%d: v" % i for i in range(n - 2)]),
     lambda n: head(fields=[b"X-F%d: v" % i for i in range(n - 1)]), 431),
    ("limit_request_field_size", 64,
     lambda n: head(fields=[b"X-Pad: " + b"v" * (n - 7)]),
     lambda n: head(fields=[b"X-Pad: " + b"v" * (n - 6)]), 431),
])
def test_head_limit_refuses_one_over_and_serves_one_at_it(
        make_server, option, limit, at_limit, over, refusal):
    seen = []

    def h(w, req):
        seen.append(req.path)
        w.write("ok")

    _, port = make_server({"/": h}, **{option: limit})
    served = raw_exchange(port, at_limit(limit))
    assert status_of(served) == 200 and served.endswith(b"ok"), served
    refused = raw_exchange(port, over(limit))
    assert status_of(refused) == refusal, refused
    # The refused head never reached the handler.
    assert len(seen) == 1


def keep_alive_get(port):
    """A connection that made one GET (answered 200) and stays open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"ok")
    return conn


def closed_by_peer(socks, settle=0.3, timeout=5.0):
    """The sockets of socks the peer has closed: polled until at least one
    is, then for `settle` seconds more (a second close would show)."""
    closed = set()
    deadline = time.monotonic() + timeout
    settled = None
    while time.monotonic() < (settled or deadline):
        ready, _, _ = select.select(
            [s for s in socks if s not in closed], [], [], 0.05)
        for s in ready:
            try:
                if s.recv(1) == b"":
                    closed.add(s)
            except ConnectionError:
                closed.add(s)
        if closed and settled is None:
            settled = time.monotonic() + settle
    return closed


def test_max_connections_closes_an_idle_connection_for_a_new_one(
        make_server):
    """max_connections=3 and three idle keep-alive connections: a fourth
    connection is admitted and answered, and exactly one of the idle
    three is closed to make room."""
    _, port = make_server({"/": ok}, max_connections=3)
    idle = [keep_alive_get(port) for _ in range(3)]
    try:
        fourth = keep_alive_get(port)
        closed = closed_by_peer([c.sock for c in idle])
        assert len(closed) == 1, closed
        # The new connection stays usable.
        fourth.request("GET", "/")
        assert fourth.getresponse().read() == b"ok"
        fourth.close()
    finally:
        for c in idle:
            c.close()


def test_max_connections_refuses_a_new_one_when_none_is_idle(make_server):
    """max_connections=2 and two connections that sent nothing yet (open,
    not idle): a third is closed at once; a request on one of the two is
    still answered."""
    _, port = make_server({"/": ok}, max_connections=2)
    held = [socket.create_connection(("127.0.0.1", port), timeout=10)
            for _ in range(2)]
    try:
        with socket.create_connection(("127.0.0.1", port),
                                      timeout=10) as third:
            assert closed_by_peer([third], settle=0) == {third}
        held[0].sendall(head())
        answer = read_until_close(held[0])
        assert status_of(answer) == 200 and answer.endswith(b"ok"), answer
    finally:
        for s in held:
            s.close()


def test_send_timeout_frees_a_handler_whose_client_stopped_reading(
        make_server):
    """send_timeout=0.5: a handler streaming to a client that never reads
    gets ClientDisconnectedError from write once the socket buffers are
    full and a write got nowhere for 0.5 s (the default is 30 s)."""
    got = {}
    done = threading.Event()
    chunk = b"x" * 65536

    def h(w, req):
        start = time.monotonic()
        sent = 0
        try:
            while sent < 1 << 30:
                w.write(chunk)
                sent += len(chunk)
        except Exception as exc:
            got["exc"] = exc
        got["elapsed"] = time.monotonic() - start
        got["sent"] = sent
        done.set()

    _, port = make_server({"/": h}, send_timeout=0.5)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.sendall(head())
        assert done.wait(15), "handler still writing after 15 s"
    assert isinstance(got.get("exc"), gohttp.ClientDisconnectedError), got
    assert got["sent"] < 1 << 30
    assert got["elapsed"] < 10, got
