"""The seed API and the request/response surface, over real HTTP, in both
dispatch designs (the `dispatch` fixture runs each test for pull and push)."""

import errno
import hashlib
import http.client
import json
import logging
import os
import socket
import subprocess
import threading
import time

import pytest

import gohttp
from conftest import request


def test_hello(make_server):
    def index(w, req):
        w.write("Hello, world.\n")

    _, port = make_server({"/": index})
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (200, b"Hello, world.\n")


def test_hello_with_curl(make_server):
    def index(w, req):
        w.set_header("X-Via", "gohttp")
        w.write("Hello, world.\n")

    _, port = make_server({"/": index})
    # curl is not ours: under the asan flavor it must not inherit the
    # preloaded ASan runtime (LSan would judge curl's own exit).
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS")}
    out = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "10",
         "http://127.0.0.1:%d/anything" % port],
        capture_output=True, check=True, env=env, timeout=20).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"X-Via: gohttp" in head
    assert body == b"Hello, world.\n"


def test_route_decorator_and_call_forms(dispatch):
    srv = gohttp.Server(dispatch=dispatch)

    @srv.route("/a")
    def a(w, req):
        w.write("a")

    def b(w, req):
        w.write("b")

    assert callable(a) and a.__name__ == "a"   # the decorator returns fn
    assert srv.route("/b", b) is b
    with srv:
        port = srv.start()
        assert request(port, "GET", "/a")[2] == b"a"
        assert request(port, "GET", "/b")[2] == b"b"


def test_go_patterns_and_path_value(make_server):
    def item(w, req):
        w.write("%s|%s|%s" % (req.path_value("id"), req.path_value("rest"),
                              req.path_value("absent")))

    def long_value(w, req):
        w.write(req.path_value("v"))

    _, port = make_server({"GET /items/{id}/{rest...}": item,
                           "GET /long/{v}": long_value})
    assert request(port, "GET", "/items/42/x/y")[2] == b"42|x/y|"
    # A wildcard longer than the first 256-byte buffer is fetched whole.
    long = "v" * 1000
    assert request(port, "GET", "/long/" + long)[2] == long.encode()
    # Method mismatch: Go's mux answers 405 without calling the handler.
    assert request(port, "POST", "/items/42/x")[0] == 405
    assert request(port, "GET", "/nothing")[0] == 404


def test_write_types_and_counts(make_server):
    counts = []

    def h(w, req):
        counts.append(w.write(b"by"))
        counts.append(w.write(bytearray(b"ba")))
        counts.append(w.write(memoryview(b"xxmvxx")[2:4]))
        counts.append(w.write("\u00e9"))          # 2 bytes in UTF-8
        counts.append(w.write(b""))
        # A non-contiguous memoryview is accepted (copied first).
        counts.append(w.write(memoryview(b"a-b-")[::2]))
        with pytest.raises(TypeError):
            w.write(42)

    _, port = make_server({"/": h})
    status, _, body = request(port, "GET", "/")
    assert status == 200
    assert body == b"bybamv\xc3\xa9ab"
    assert counts == [2, 2, 2, 2, 0, 2]


def test_status_and_headers(make_server):
    def h(w, req):
        w.set_header("X-One", "1")
        w.add_header("X-Multi", "a")
        w.add_header("X-Multi", "b")
        w.set_header("X-Gone", "x")
        w.del_header("X-Gone")
        w.set_header("X-Replaced", "old")
        w.set_header("x-replaced", "new")
        w.set_status(201)
        w.write("made")

    _, port = make_server({"/": h})
    status, headers, body = request(port, "GET", "/")
    assert status == 201 and body == b"made"
    assert headers["X-One"] == "1"
    assert headers.get_all("X-Multi") == ["a", "b"]
    assert "X-Gone" not in headers
    assert headers.get_all("X-Replaced") == ["new"]


def test_bad_status_and_headers_raise_value_error(make_server):
    seen = {}

    def h(w, req):
        for name, call in (
                ("status_low", lambda: w.set_status(42)),
                ("status_high", lambda: w.set_status(1000)),
                ("name_space", lambda: w.set_header("Bad Name", "v")),
                ("name_empty", lambda: w.add_header("", "v")),
                ("value_crlf", lambda: w.set_header("X-A", "a\r\nX-B: b")),
                ("value_nul", lambda: w.add_header("X-A", "a\0b")),
                ("value_non_latin1", lambda: w.set_header("X-A", "\u20ac")),
                ("del_bad", lambda: w.del_header("Bad:Name"))):
            try:
                call()
            except ValueError as exc:
                seen[name] = str(exc)
        with pytest.raises(TypeError):
            w.set_status("200")
        w.write("ok")
        # After the body started, headers and status are refused.
        for call in (lambda: w.set_header("X-Late", "1"),
                     lambda: w.set_status(404)):
            try:
                call()
            except gohttp.HeadersSentError:
                seen.setdefault("late", 0)
                seen["late"] += 1

    _, port = make_server({"/": h})
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (200, b"ok")
    assert "X-B" not in headers and "X-Late" not in headers
    assert set(seen) == {"status_low", "status_high", "name_space",
                         "name_empty", "value_crlf", "value_nul",
                         "value_non_latin1", "del_bad", "late"}
    assert seen["late"] == 2


def test_flush_streams_before_return(make_server):
    release = threading.Event()

    def h(w, req):
        w.write("first\n")
        w.flush()
        release.wait(10)
        w.write("second\n")

    _, port = make_server({"/": h})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    # The first chunk arrives while the handler is still blocked.
    assert resp.readline() == b"first\n"
    release.set()
    assert resp.read() == b"second\n"
    conn.close()


def test_request_attributes(make_server):
    got = {}

    def h(w, req):
        got.update(method=req.method, url=req.url, path=req.path,
                   query=req.query, host=req.host, proto=req.proto,
                   remote_addr=req.remote_addr,
                   ctype=req.headers["content-type"],
                   multi=req.headers.get_all("x-multi"),
                   has=("X-MULTI" in req.headers, "nope" in req.headers),
                   length=req.content_length)
        w.write("ok")

    _, port = make_server({"/": h})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("PUT", "/caf%C3%A9/p?q=1&r=%20")
    conn.putheader("Content-Type", "text/plain")
    conn.putheader("X-Multi", "one")
    conn.putheader("X-Multi", "two")
    conn.putheader("Content-Length", "3")
    conn.endheaders(b"abc")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"ok"
    conn.close()
    assert got["method"] == "PUT"
    assert got["url"] == "/caf%C3%A9/p?q=1&r=%20"
    assert got["path"] == "/caf\u00e9/p"
    assert got["query"] == "q=1&r=%20"
    assert got["host"] == "127.0.0.1:%d" % port
    assert got["proto"] == "HTTP/1.1"
    assert got["remote_addr"].startswith("127.0.0.1:")
    assert got["ctype"] == "text/plain"
    assert got["multi"] == ["one", "two"]
    assert got["has"] == (True, False)
    assert got["length"] == 3


def test_body_binary_read_and_stream(make_server):
    def whole(w, req):
        data = req.body
        assert req.body is data            # read once, kept
        w.write(hashlib.sha256(data).hexdigest() + " %d" % len(data))

    def streamed(w, req):
        sizes = []
        h = hashlib.sha256()
        while True:
            chunk = req.read(1000)
            if not chunk:
                break
            assert len(chunk) <= 1000
            sizes.append(len(chunk))
            h.update(chunk)
        assert req.read(10) == b""
        w.write(h.hexdigest() + " %d" % sum(sizes))

    _, port = make_server({"POST /whole": whole, "POST /stream": streamed})
    payload = bytes(range(256)) * 1000 + b"\0tail"
    expect = ("%s %d" % (hashlib.sha256(payload).hexdigest(),
                         len(payload))).encode()
    assert request(port, "POST", "/whole", body=payload)[2] == expect
    assert request(port, "POST", "/stream", body=payload)[2] == expect

    # Chunked upload (no Content-Length): body is still complete.
    def chunks():
        for i in range(0, len(payload), 7000):
            yield payload[i:i + 7000]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/whole", body=chunks(), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    assert conn.getresponse().read() == expect
    conn.close()


def test_body_bounded_by_max_body_bytes(make_server):
    def h(w, req):
        w.write("%d" % len(req.body))

    _, port = make_server({"POST /": h}, max_body_bytes=1000)
    assert request(port, "POST", "/", body=b"x" * 1000)[:3:2] == (200,
                                                                 b"1000")
    status, _, _ = request(port, "POST", "/", body=b"x" * 5000)
    assert status == 413


def test_stale_request_and_writer_after_return(make_server):
    kept = {}

    def h(w, req):
        kept["w"], kept["req"] = w, req
        assert req.method == "POST"
        w.write("ok")

    _, port = make_server({"POST /": h})
    assert request(port, "POST", "/", body=b"data")[2] == b"ok"
    w, req = kept["w"], kept["req"]
    for call in (lambda: w.write("late"), lambda: w.set_status(200),
                 lambda: w.set_header("X", "y"), lambda: w.flush(),
                 lambda: req.method, lambda: req.headers, lambda: req.body,
                 lambda: req.read(1), lambda: req.path_value("x")):
        with pytest.raises(gohttp.StaleHandleError) as info:
            call()
        assert isinstance(info.value, OSError)
        assert info.value.errno == errno.ESTALE
    # A new request is not disturbed by the stale objects.
    assert request(port, "POST", "/", body=b"again")[2] == b"ok"


def test_stale_c_handle_rejected_by_library(make_server):
    """Bypass the Python flag: the raw handle is refused by the C library
    itself (generation check), and counted as a stale rejection."""
    kept = {}

    def h(w, req):
        kept["w"] = w
        w.write("ok")

    _, port = make_server({"/": h})
    request(port, "GET", "/")
    before = gohttp.stats()["stale_rejections"]
    w = kept["w"]
    w._live = True          # pretend the Python object were still valid
    with pytest.raises(gohttp.StaleHandleError):
        w.write("late")
    w._live = False
    assert gohttp.stats()["stale_rejections"] > before


def test_handler_thread_writes_are_serialized(make_server):
    block = 4096
    late = {}

    def h(w, req):
        def other():
            for _ in range(50):
                w.write(b"B" * block)
            done.set()
            gate.wait(10)
            try:
                w.write(b"late")
            except gohttp.StaleHandleError:
                late["stale"] = True
            try:
                req.headers
            except gohttp.StaleHandleError:
                late["req_stale"] = True
            finished.set()

        done = threading.Event()
        gate = threading.Event()
        h.gate = gate
        t = threading.Thread(target=other)
        t.start()
        for _ in range(50):
            w.write(b"A" * block)
        done.wait(10)
        # t outlives the handler: it writes after return below.

    finished = threading.Event()
    _, port = make_server({"/": h})
    status, _, body = request(port, "GET", "/")
    h.gate.set()
    assert finished.wait(10)
    assert status == 200 and len(body) == 100 * block
    blocks = [body[i:i + block] for i in range(0, len(body), block)]
    assert all(b in (b"A" * block, b"B" * block) for b in blocks)
    assert sorted(set(blocks)) == [b"A" * block, b"B" * block]
    assert late == {"stale": True, "req_stale": True}


def test_exception_gives_500_and_log(make_server, caplog):
    def boom(w, req):
        w.set_header("X-Partial", "1")
        raise RuntimeError("handler bug")

    _, port = make_server({"/": boom})
    with caplog.at_level(logging.ERROR, logger="gohttp"):
        status, headers, body = request(port, "GET", "/")
    assert status == 500
    assert body == b"Internal Server Error\n"
    assert "X-Partial" not in headers
    records = [r for r in caplog.records if r.name == "gohttp"]
    assert records and records[0].exc_info[0] is RuntimeError
    assert "handler bug" in caplog.text


def test_exception_after_body_started_aborts(make_server, caplog):
    def half(w, req):
        w.write("partial")
        w.flush()
        raise RuntimeError("late failure")

    _, port = make_server({"/": half})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp.read()
    conn.close()
    assert "late failure" in caplog.text


def test_empty_handler_is_a_plain_200(make_server):
    _, port = make_server({"/": lambda w, req: None})
    status, headers, body = request(port, "GET", "/")
    assert (status, body, headers["Content-Length"]) == (200, b"", "0")


def test_duplicate_and_invalid_routes(dispatch):
    with gohttp.Server(dispatch=dispatch) as srv:
        srv.route("/x", lambda w, r: None)
        with pytest.raises(ValueError):
            srv.route("/x", lambda w, r: None)
        for bad in ("", "GET", "/{", "/a/{x}/{x}", "/a/{x...}/b"):
            with pytest.raises(ValueError):
                srv.route(bad, lambda w, r: None)
        with pytest.raises(TypeError):
            srv.route("/y", "not callable")
        srv.start()
        with pytest.raises(ValueError):   # routes only before start
            srv.route("/late", lambda w, r: None)


def test_bind_failure_is_oserror(dispatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with gohttp.Server(dispatch=dispatch) as srv:
            srv.route("/", lambda w, r: None)
            with pytest.raises(OSError) as info:
                srv.start("127.0.0.1", port)
            assert info.value.errno == errno.EADDRINUSE
            assert "in use" in str(info.value)


def test_shutdown_from_inside_handler(make_server):
    box = {}

    def stop(w, req):
        box["srv"].shutdown(5)          # returns at once, no deadlock
        with pytest.raises(gohttp.ServerBusyError):
            box["srv"].wait(1)          # would wait for this very handler
        w.write("bye")

    srv, port = make_server({"/": stop})
    box["srv"] = srv
    assert request(port, "GET", "/")[2] == b"bye"
    assert srv.wait(5)
    with pytest.raises(ConnectionError):
        request(port, "GET", "/", timeout=2)


def test_shutdown_from_other_thread_drains_in_flight(make_server):
    entered, release = threading.Event(), threading.Event()

    def slow(w, req):
        entered.set()
        release.wait(10)
        w.write("done")

    srv, port = make_server({"/": slow})
    result = {}
    t = threading.Thread(
        target=lambda: result.update(r=request(port, "GET", "/")))
    t.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=srv.shutdown, args=(5,))
    stopper.start()
    stopper.join(5)
    # The shutdown has begun (the listener is closed) with the handler
    # still inside: it must be drained, not cut.
    with pytest.raises(ConnectionError):
        request(port, "GET", "/", timeout=2)
    assert srv.wait(0) is False
    release.set()
    assert srv.wait(5)
    t.join(5)
    assert result["r"][0] == 200 and result["r"][2] == b"done"


def test_module_level_api_run_and_shutdown_from_handler():
    """route()/run()/shutdown() on the default server, run() on a
    non-main thread (no signal handlers there), stopped by a handler."""
    ready = threading.Event()
    box = {}

    @gohttp.route("/")
    def index(w, req):
        w.write("Hello, world.\n")

    @gohttp.route("/stop")
    def stop(w, req):
        gohttp.shutdown(5)
        w.write("stopping")

    def serve():
        box["ret"] = gohttp.run("127.0.0.1", 0, ready=lambda p: (
            box.update(port=p), ready.set()))

    t = threading.Thread(target=serve)
    t.start()
    assert ready.wait(10)
    port = box["port"]
    assert request(port, "GET", "/")[2] == b"Hello, world.\n"
    assert request(port, "GET", "/stop")[2] == b"stopping"
    t.join(10)
    assert not t.is_alive() and box["ret"] is None
    # run() freed the default server; the next route() starts a new one.
    assert gohttp.default_server() is not None
    gohttp.default_server().close()


def test_several_servers_in_one_process(dispatch):
    with gohttp.Server(dispatch=dispatch) as a, \
            gohttp.Server(dispatch=dispatch) as b:
        a.route("/", lambda w, r: w.write("a"))
        b.route("/", lambda w, r: w.write("b"))
        pa, pb = a.start(), b.start()
        assert pa != pb
        assert request(pa, "GET", "/")[2] == b"a"
        assert request(pb, "GET", "/")[2] == b"b"
        a.close()
        assert request(pb, "GET", "/")[2] == b"b"


def test_concurrent_requests_all_answered_correctly(make_server):
    def echo(w, req):
        w.write(req.query)

    _, port = make_server({"/": echo})
    errors = []
    answered = []

    def client(i):
        try:
            for j in range(20):
                token = "t%d-%d" % (i, j)
                status, _, body = request(port, "GET", "/?" + token)
                if (status, body) != (200, token.encode()):
                    errors.append((token, status, body))
                else:
                    answered.append(token)
        except Exception as exc:        # recorded, asserted below
            errors.append((i, exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a client is stuck"
    assert errors == []
    assert len(answered) == 8 * 20


def test_json_roundtrip_with_requests(make_server):
    requests = pytest.importorskip("requests")

    def api(w, req):
        data = json.loads(req.body)
        w.set_header("Content-Type", "application/json")
        w.write(json.dumps({"got": data, "method": req.method}))

    _, port = make_server({"POST /api": api})
    r = requests.post("http://127.0.0.1:%d/api" % port, json={"a": [1, 2]},
                      timeout=10)
    assert r.status_code == 200
    assert r.json() == {"got": {"a": [1, 2]}, "method": "POST"}


def test_slow_reading_client_does_not_block_other_handlers(make_server):
    """A handler stuck writing to a client that does not read holds no
    GIL: another request is answered meanwhile; when the slow client goes
    away the stuck write fails with ClientDisconnectedError."""
    writing = threading.Event()
    outcome = {}

    def big(w, req):
        chunk = b"x" * 65536
        writing.set()
        try:
            for _ in range(2000):          # 128 MiB: far beyond the buffers
                w.write(chunk)
            outcome["finished"] = True
        except gohttp.ClientDisconnectedError:
            outcome["disconnected"] = True
            raise

    def fast(w, req):
        w.write("fast")

    _, port = make_server({"/big": big, "/fast": fast})
    slow = socket.create_connection(("127.0.0.1", port))
    try:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert writing.wait(5)
        time.sleep(0.3)                    # let the writer block
        start = time.monotonic()
        assert request(port, "GET", "/fast")[2] == b"fast"
        assert time.monotonic() - start < 2.0
        assert "finished" not in outcome
    finally:
        slow.close()
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcome == {"disconnected": True}


def test_too_large_body_handled_by_the_handler_still_answers_413(make_server):
    """Past max_body_bytes the library commits a 413. A handler that
    catches RequestTooLargeError and then tries to answer itself (as a
    framework's error page does) gets HeadersSentError; the client must
    still receive the 413, not a connection closed without a response."""
    seen = []

    def h(w, req):
        try:
            req.body
        except gohttp.RequestTooLargeError:
            seen.append("too large")
        w.set_header("Content-Type", "text/plain")   # HeadersSentError
        w.write("handled")

    _, port = make_server({"POST /": h}, max_body_bytes=1000)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # Chunked, so the size is only known while reading (no early 413).
    conn.request("POST", "/", body=iter([b"x" * 3000]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413
    resp.read()
    conn.close()
    assert seen == ["too large"]
