"""Public functions, options and CLI forms of the Python package that no
other test file exercises: ResponseWriter.abort(), Request.content_length
for chunked bodies, Headers (getlist, items_all, len), Server.running,
wait()/close() returning False, GohttpTimeoutError from a stalled body
read (body_read_timeout), gohttp.wsgi.serve(),
the GOHTTP_DISPATCH environment variable, and the CLI's --chdir,
--log-level, --threads, --max-handlers, the server bound flags
(--limit-request-*, --max-connections, --body-read-timeout,
--send-timeout), application specs and --bind forms (IPv6 and HOST
alone included)."""

import errno
import http.client
import json
import os
import select
import signal
import socket
import sys
import textwrap
import threading
import time

import pytest

import gohttp
from conftest import (CHILD_WAIT_S, finish_child, raw_exchange, read_line,
                      read_port, read_until_close, request, served_by,
                      spawn)


def ipv6_loopback():
    """True if this machine can listen on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(),
                                reason="::1 is not available here")


# -- the request and response surface ---------------------------------

def test_abort_cuts_a_started_response(make_server):
    """abort() after part of a chunked body went out: the client never
    sees the terminating chunk (the response is truncated, not complete);
    the same handler without abort() completes the response."""
    def h(w, req):
        w.write(b"part")
        w.flush()
        if req.query == "abort":
            w.abort()

    _, port = make_server({"/": h})
    assert request(port, "GET", "/?keep")[::2] == (200, b"part")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/?abort")
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        assert info.value.partial == b"part"
    finally:
        conn.close()


def test_abort_before_anything_was_sent_gives_no_response(make_server):
    def h(w, req):
        w.abort()

    _, port = make_server({"/": h})
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096) == b""


def test_content_length_none_for_chunked_body(make_server):
    seen = []

    def h(w, req):
        seen.append((req.content_length, req.body))
        w.write("ok")

    _, port = make_server({"/": h})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/", body=iter([b"ab", b"cde"]),
                     encode_chunked=True)
        assert conn.getresponse().read() == b"ok"
    finally:
        conn.close()
    assert request(port, "POST", "/", body=b"12345")[2] == b"ok"
    assert request(port, "GET", "/")[2] == b"ok"
    assert seen == [(None, b"abcde"), (5, b"12345"), (0, b"")]


def test_headers_getlist_items_all_len(make_server):
    seen = {}

    def h(w, req):
        hd = req.headers
        seen["getlist"] = hd.getlist("x-multi")
        seen["get_all"] = hd.get_all("X-MULTI")
        seen["absent"] = hd.getlist("x-absent")
        seen["items"] = hd.items_all()
        seen["len"] = len(hd)
        seen["names"] = list(hd)
        w.write("ok")

    _, port = make_server({"/": h})
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nX-One: c\r\n"
           b"x-multi: b\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        got = b""
        while not got.endswith(b"ok"):
            part = s.recv(4096)
            assert part, got
            got += part
    assert seen["getlist"] == ["a", "b"] == seen["get_all"]
    assert seen["absent"] == []
    items = seen["items"]
    assert [p for p in items if p[0] == "X-Multi"] == [("X-Multi", "a"),
                                                       ("X-Multi", "b")]
    assert ("X-One", "c") in items
    # One entry per distinct name; items_all has one per value.
    assert seen["len"] == len({n.lower() for n, _ in items}) == \
        len(seen["names"])
    assert len(items) == seen["len"] + 1
    assert sorted(seen["names"]) == sorted({n for n, _ in items})


def test_headers_mapping_on_its_own():
    hd = gohttp.Headers([("A", "1"), ("B", "2"), ("a", "3")])
    assert len(hd) == 2
    assert hd["a"] == "1" and hd.getlist("A") == ["1", "3"]
    assert hd.items_all() == [("A", "1"), ("B", "2"), ("a", "3")]
    assert list(hd) == ["A", "B"]
    assert hd.getlist("c") == [] and hd.get_all("c", ["x"]) == ["x"]
    assert len(gohttp.Headers()) == 0


# -- server lifecycle -------------------------------------------------

def test_running_wait_and_close_false_while_a_handler_outlives_them(
        dispatch):
    """running is True from start() to the end of wait(); wait() and
    close() return False while a handler outlives their timeouts, and the
    server stays usable for a later close()."""
    entered, release = threading.Event(), threading.Event()

    def stuck(w, req):
        entered.set()
        release.wait(30)
        w.write("late")

    srv = gohttp.Server(dispatch=dispatch)
    srv.route("/", stuck)
    assert srv.running is False
    port = srv.start()
    result = {}

    def get():
        try:
            result["r"] = request(port, "GET", "/")
        except (ConnectionError, http.client.HTTPException) as exc:
            result["error"] = exc

    client = threading.Thread(target=get)
    try:
        assert srv.running is True
        client.start()
        assert entered.wait(10)
        srv.shutdown(0.05)
        assert srv.wait(0.2) is False
        assert srv.running is True
        assert srv.close(0.05) is False     # 0.05 s + its 1 s grace
        assert srv.running is True
    finally:
        release.set()
        client.join(10)
    assert srv.close(5) is True
    assert srv.running is False
    assert srv.wait(0) is True              # freed: nothing to wait for
    # The drain timeout closed the client's connection before the handler
    # could answer.
    assert "r" not in result and "error" in result, result


def test_stalled_body_read_raises_gohttp_timeout_error(make_server):
    """body_read_timeout=0.5: a handler streaming the body of a client
    that sent the head and 1000 of 1000000 body bytes, then stalled, gets
    the 1000 bytes and then GohttpTimeoutError (a TimeoutError, errno
    ETIMEDOUT) after about 0.5 s, not the 30 s default; it sends nothing,
    so the library answers 408 and closes the connection."""
    got = {}
    done = threading.Event()

    def h(w, req):
        start = time.monotonic()
        received = 0
        try:
            while True:
                chunk = req.read(65536)
                if not chunk:
                    break
                received += len(chunk)
        except Exception as exc:
            got["exc"] = exc
        got["elapsed"] = time.monotonic() - start
        got["received"] = received
        done.set()

    _, port = make_server({"/": h}, body_read_timeout=0.5)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000000\r\n\r\n" + b"b" * 1000)
        assert done.wait(10), "body read still waiting after 10 s"
        answer = read_until_close(s)
    exc = got.get("exc")
    assert type(exc) is gohttp.GohttpTimeoutError, got
    assert isinstance(exc, TimeoutError) and isinstance(exc,
                                                        gohttp.GohttpError)
    assert exc.errno == errno.ETIMEDOUT
    assert "body_read_timeout" in str(exc)
    assert got["received"] == 1000
    assert 0.4 <= got["elapsed"] < 5, got
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_stalled_body_error_escaping_the_handler_is_408(make_server):
    """A handler that lets the body read's GohttpTimeoutError escape (as
    most would) still answers 408, the client's fault, not a 500."""
    def h(w, req):
        req.read()

    _, port = make_server({"/": h}, body_read_timeout=0.3)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000000\r\n\r\n" + b"b" * 1000)
        answer = read_until_close(s)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


# -- gohttp.wsgi.serve and GOHTTP_DISPATCH (child processes) -----------

SERVE_SCRIPT = r"""
from gohttp import wsgi
import apps
stopped_by = wsgi.serve(apps.echo_app, "127.0.0.1", 0, ready=lambda p:
                        print("listening on http://127.0.0.1:%d/" % p,
                              flush=True))
print("serve returned", stopped_by, flush=True)
"""


def test_wsgi_serve_answers_and_returns_the_signal():
    proc = spawn(["-c", SERVE_SCRIPT])
    try:
        port = read_port(proc)
        status, _, body = request(port, "POST", "/p?q=1", body=b"hi")
        assert status == 200
        doc = json.loads(body)
        assert doc["body"] == ["hi"]
        assert doc["environ"]["PATH_INFO"] == "/p"
        assert doc["environ"]["QUERY_STRING"] == "q=1"
        assert doc["environ"]["SERVER_PORT"] == str(port)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        finish_child(proc, out, err)
        assert "serve returned %d" % signal.SIGTERM in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


DISPATCH_SCRIPT = r"""
import http.client, threading, gohttp
srv = gohttp.Server()
def who(w, req):
    w.write(threading.current_thread().name)
srv.route("/", who)
port = srv.start()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
conn.request("GET", "/")
name = conn.getresponse().read().decode()
conn.close()
print(gohttp.DEFAULT_DISPATCH, srv.dispatch, name, flush=True)
assert srv.close(5)
"""


@pytest.mark.parametrize("env, want", [(None, gohttp.PULL),
                                       (gohttp.PULL, gohttp.PULL),
                                       (gohttp.PUSH, gohttp.PUSH)])
def test_gohttp_dispatch_environment_variable(env, want):
    """GOHTTP_DISPATCH picks the dispatch of a Server made without one:
    pull runs handlers on the server's Python worker threads, push on Go
    threads (which Python sees as dummy threads)."""
    if env is None:
        proc = spawn(["-c", DISPATCH_SCRIPT], drop_env=["GOHTTP_DISPATCH"])
    else:
        proc = spawn(["-c", DISPATCH_SCRIPT],
                     set_env={"GOHTTP_DISPATCH": env})
    out, err = proc.communicate(timeout=30)
    finish_child(proc, out, err)
    default, used, thread = out.split()
    assert (default, used) == (want, want)
    if want == gohttp.PULL:
        assert thread.startswith("gohttp-worker-"), thread
    else:
        assert thread.startswith("Dummy-"), thread


# -- the CLI ------------------------------------------------------------

APP_MODULES = {
    # Both names: the bare module spec must pick "application".
    "app_both.py": """
        import os
        def application(environ, start_response):
            body = ("application " + os.getcwd()).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "3")])
            return [b"app"]
        """,
    # Only "app": the bare module spec falls back to it.
    "app_only.py": """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "8")])
            return [b"only app"]
        """,
    # A factory called by "module:create()"; "threads" answers the names
    # of the pull worker threads of the process.
    "app_factory.py": """
        import threading
        def create():
            def made(environ, start_response):
                if environ["PATH_INFO"] == "/threads":
                    names = sorted(t.name for t in threading.enumerate()
                                   if t.name.startswith("gohttp-worker-"))
                    body = " ".join(names).encode()
                else:
                    body = b"made by factory"
                start_response("200 OK", [("Content-Length", str(len(body)))])
                return [body]
            return made
        """,
}


@pytest.fixture
def app_dir(tmp_path):
    for name, text in APP_MODULES.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return str(tmp_path)


def cli(app_dir, *args):
    """The CLI in another directory than the applications' (so only
    --chdir makes them importable)."""
    return spawn(["-m", "gohttp"] + list(args) + ["--chdir", app_dir],
                 cwd="/")


@pytest.mark.parametrize("spec, want", [
    ("app_both", "application {dir}"),
    ("app_only", "only app"),
    ("app_both:app", "app"),
    ("app_factory:create()", "made by factory"),
])
def test_cli_app_specs_and_chdir(app_dir, spec, want):
    with served_by(cli(app_dir, spec, "--bind", "127.0.0.1:0")) as proc:
        port = read_port(proc)
        status, _, body = request(port, "GET", "/")
        assert (status, body.decode()) == (200, want.format(dir=app_dir))


def test_cli_without_chdir_cannot_import_the_app(app_dir):
    proc = spawn(["-m", "gohttp", "app_only", "--bind", "127.0.0.1:0"],
                 cwd="/")
    out, err = proc.communicate(timeout=30)
    # The reason, not a traceback.
    finish_child(proc, out, err, status=1)
    assert "no module named 'app_only'" in err


@pytest.mark.parametrize("args, workers", [
    (["--threads", "3"], 3),
    (["--max-handlers", "5"], 5),          # threads default: max_handlers
    (["--threads", "2", "--max-handlers", "7"], 2),
])
def test_cli_threads_and_max_handlers(app_dir, args, workers):
    with served_by(cli(app_dir, "app_factory:create()", "--bind",
                       "127.0.0.1:0", "--dispatch", "pull", *args)) as proc:
        port = read_port(proc)
        names = request(port, "GET", "/threads")[2].decode().split()
        assert names == sorted("gohttp-worker-%d" % i
                               for i in range(workers))


def test_cli_max_handlers_bounds_concurrency(app_dir):
    """--max-handlers 1 in push mode: one handler at a time, so while one
    request is held the next waits (and is served once it is released)."""
    gate = os.path.join(app_dir, "gate")
    os.mkdir(gate)
    with served_by(spawn(["-m", "gohttp", "apps:gated_app", "--bind",
                          "127.0.0.1:0", "--dispatch", "push",
                          "--max-handlers", "1"],
                         set_env={"GOHTTP_TEST_GATE_DIR": gate})) as proc:
        port = read_port(proc)
        results = {}
        threads = [threading.Thread(target=lambda i=i: results.update(
            {i: request(port, "GET", "/?%d" % i, timeout=30)}))
            for i in range(2)]
        for t in threads:
            t.start()
        entered = os.path.join(gate, "entered")
        deadline = time.monotonic() + 10

        def entries():
            # The app appends its line after creating the file: an empty
            # file is one being written.
            try:
                with open(entered) as f:
                    return f.read().split()
            except FileNotFoundError:
                return []

        while not entries():
            assert time.monotonic() < deadline
            threading.Event().wait(0.01)
        # Both requests reached the server (one in the app): the second
        # can only be waiting for the single handler slot.
        for _ in range(20):
            with open(entered) as f:
                assert len(f.read().split()) == 1
            threading.Event().wait(0.01)
        open(os.path.join(gate, "open"), "w").close()
        for t in threads:
            t.join(30)
        assert sorted(results) == [0, 1]
        assert all(r[0] == 200 for r in results.values())
        with open(entered) as f:
            assert sorted(f.read().split()) == ["0", "1"]


@pytest.mark.parametrize("level, logged", [("info", True),
                                           ("WARNING", False),
                                           ("debug", True)])
def test_cli_log_level(level, logged):
    proc = spawn(["-m", "gohttp", "--bind", "127.0.0.1:0",
                  "--log-level", level])
    try:
        port = read_port(proc)
        assert request(port, "GET", "/")[2] == b"Hello, world.\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finish_child(proc, out, err)
    assert ("gohttp INFO serving on http://127.0.0.1:%d/" % port in err) \
        == logged, err


def test_cli_bad_log_level_is_refused():
    proc = spawn(["-m", "gohttp", "--bind", "127.0.0.1:0",
                  "--log-level", "loud"])
    out, err = proc.communicate(timeout=30)
    # A usage error (exit 2, the reason), not a traceback.
    finish_child(proc, out, err, status=2)
    assert "--log-level" in err and "loud" in err.lower()


def test_parse_bind_forms():
    from gohttp.__main__ import parse_bind
    assert parse_bind("10.0.0.1:81", 8000) == ("10.0.0.1", 81)
    assert parse_bind(":81", 8000) == ("127.0.0.1", 81)
    assert parse_bind("0.0.0.0", 8000) == ("0.0.0.0", 8000)
    assert parse_bind("[::1]:81", 8000) == ("::1", 81)
    assert parse_bind("[::1]", 5000) == ("::1", 5000)
    assert parse_bind("::1", 5000) == ("::1", 5000)
    with pytest.raises(SystemExit):
        parse_bind("host:port", 8000)


# The application of test_cli_server_bound_flags_reach_the_server: "/"
# answers "ok", /read reads the declared body and answers the name of the
# exception that ended the read, /big streams up to 1 GiB and prints on
# stdout how many 64 KiB blocks it produced once the server closed it.
BOUNDS_APP = textwrap.dedent("""\
    class Big:
        def __init__(self):
            self.blocks = 0

        def __iter__(self):
            block = b"x" * 65536
            while self.blocks < 16384:
                self.blocks += 1
                yield block

        def close(self):
            print("big closed after %d blocks" % self.blocks, flush=True)


    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/big":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return Big()
        out = b"ok"
        if path == "/read":
            try:
                environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
                out = b"read it all"
            except Exception as exc:
                out = type(exc).__name__.encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(out)))])
        return [out]
    """)


def test_cli_server_bound_flags_reach_the_server(tmp_path):
    """Each of --limit-request-line/-fields/-field-size, --max-connections,
    --body-read-timeout and --send-timeout, set far from its default,
    shows its effect on the wire of a `python -m gohttp` child."""
    from test_options import (closed_by_peer, head, keep_alive_get,
                              status_of, target_for_line)
    (tmp_path / "boundsapp.py").write_text(BOUNDS_APP)
    proc = spawn(["-m", "gohttp", "boundsapp:app", "--chdir", str(tmp_path),
                  "--bind", "127.0.0.1:0", "--limit-request-line", "64",
                  "--limit-request-fields", "5",
                  "--limit-request-field-size", "64",
                  "--max-connections", "3", "--body-read-timeout", "0.5",
                  "--send-timeout", "0.5"])
    with served_by(proc):
        port = read_port(proc)
        for at_limit, over, refusal in (
                (head(target_for_line(64)), head(target_for_line(65)), 400),
                (head(fields=[b"X-A: 1", b"X-B: 2", b"X-C: 3"]),
                 head(fields=[b"X-A: 1", b"X-B: 2", b"X-C: 3", b"X-D: 4"]),
                 431),
                (head(fields=[b"X-Pad: " + b"v" * 57]),
                 head(fields=[b"X-Pad: " + b"v" * 58]), 431)):
            assert status_of(raw_exchange(port, at_limit)) == 200
            assert status_of(raw_exchange(port, over)) == refusal, over

        idle = [keep_alive_get(port) for _ in range(3)]
        try:
            keep_alive_get(port).close()
            assert len(closed_by_peer([c.sock for c in idle])) == 1
        finally:
            for c in idle:
                c.close()

        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            start = time.monotonic()
            s.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1000000\r\n\r\n" + b"b" * 1000)
            answer = read_until_close(s)
            assert time.monotonic() - start < 5
        assert answer.endswith(b"\r\n\r\nGohttpTimeoutError"), answer

        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            # The client never reads: the server gives up on it after the
            # 0.5 s send timeout (the default would hold it 30 s).
            line = read_line(proc, timeout=10)
        assert line.startswith("big closed after "), line
        assert int(line.split()[3]) < 16384, line


@pytest.mark.parametrize("flag, value, message", [
    ("--limit-request-line", "abc",
     "argument --limit-request-line: invalid int value: 'abc'"),
    ("--send-timeout", "soon",
     "argument --send-timeout: invalid float value: 'soon'"),
    ("--max-connections", "0", "max_connections must be positive"),
    ("--limit-request-field-size", "2000000",
     "limit_request_field_size: 2000000 out of range"),
])
def test_cli_bad_server_bound_is_a_usage_error(flag, value, message):
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1:0",
                  flag, value])
    out, err = proc.communicate(timeout=30)
    finish_child(proc, out, err, status=2)
    assert message in err, err


def test_cli_bind_host_alone_uses_port_8000():
    """--bind HOST without a port: an application is served on port 8000.
    Either it serves there (a GET on 127.0.0.1:8000 is answered by it) or,
    with 8000 taken on this machine, it exits 1 naming 127.0.0.1:8000;
    both show the port it chose."""
    proc = spawn(["-m", "gohttp", "apps:echo_app", "--bind", "127.0.0.1"])
    try:
        # Its first stdout line, or "" if it exits without one.
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + CHILD_WAIT_S
        line = b""
        while not line.endswith(b"\n"):
            assert time.monotonic() < deadline, "no line, no exit: %r" % line
            if select.select([fd], [], [], 0.2)[0]:
                byte = os.read(fd, 1)
                if not byte:
                    break
                line += byte
        if not line:
            out, err = proc.communicate(timeout=CHILD_WAIT_S)
            finish_child(proc, out, err, status=1)
            assert "gohttp: cannot listen on 127.0.0.1:8000: " in err, err
            return
        with served_by(proc):
            assert line.decode() == \
                "gohttp: listening on http://127.0.0.1:8000/\n", line
            status, _, body = request(8000, "GET", "/where")
            assert status == 200
            env = json.loads(body)["environ"]
            assert (env["PATH_INFO"], env["SERVER_PORT"]) == ("/where",
                                                              "8000")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def listening_port(proc, host):
    """The port of the CLI's listening line, which must name host."""
    line = read_line(proc)
    assert line.startswith("gohttp: listening on http://%s:" % host), line
    return int(line.rsplit(":", 1)[1].rstrip("/\n"))


def test_cli_bind_colon_port():
    """':0' binds 127.0.0.1 on a port the OS picks."""
    proc = spawn(["-m", "gohttp", "--bind", ":0"])
    with served_by(proc):
        port = listening_port(proc, "127.0.0.1")
        assert request(port, "GET", "/")[2] == b"Hello, world.\n"


def get_over_ipv6(port):
    """The body of GET / from [::1]:port."""
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read()
    finally:
        conn.close()


@needs_ipv6
def test_cli_bind_ipv6_and_serves_over_ipv6():
    proc = spawn(["-m", "gohttp", "--bind", "[::1]:0"])
    with served_by(proc):
        port = listening_port(proc, "[::1]")
        assert get_over_ipv6(port) == b"Hello, world.\n"
        # Bound to ::1 only: nothing answers on 127.0.0.1 at that port.
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


@needs_ipv6
def test_server_start_on_ipv6_host(dispatch):
    seen = []

    def h(w, req):
        seen.append(req.remote_addr)
        w.write("v6")

    with gohttp.Server(dispatch=dispatch) as srv:
        srv.route("/", h)
        port = srv.start("::1", 0)
        assert get_over_ipv6(port) == b"v6"
    assert seen and seen[0].startswith("[::1]:"), seen
