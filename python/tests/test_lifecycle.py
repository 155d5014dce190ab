"""Threads, signals, the seed program, interpreter exit, and the binding's
mirror of the header."""

import asyncio
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import gohttp
from conftest import (EXAMPLES, REPO, finish_child, read_line, read_port,
                      request, spawn)


def thread_count():
    """OS threads of this process right now."""
    return len(os.listdir("/proc/self/task"))


async def _one_request(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /?%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 % i)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def _load(port, n, samples):
    async def sample():
        while True:
            samples.append(thread_count())
            await asyncio.sleep(0.02)

    sampler = asyncio.ensure_future(sample())
    try:
        return await asyncio.wait_for(
            asyncio.gather(*(_one_request(port, i) for i in range(n))), 60)
    finally:
        sampler.cancel()


def test_500_concurrent_sleeping_requests_keep_threads_bounded(make_server):
    """500 clients at once against a handler that sleeps: every one is
    answered, and the process never has more than a bounded number of OS
    threads (the client side runs on one asyncio thread)."""
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def sleepy(w, req):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        w.write("ok " + req.query)

    before = thread_count()
    srv, port = make_server({"/": sleepy}, max_handlers=16, threads=16,
                            queue_timeout=60)
    samples = []
    results = asyncio.run(_load(port, 500, samples))
    assert len(results) == 500
    for i, data in enumerate(results):
        assert data.startswith(b"HTTP/1.1 200"), data[:80]
        assert data.endswith(b"ok %d" % i)
    assert peak[0] <= 16               # max_handlers bounds Python handlers
    most = max(samples)
    print("threads: before %d, peak %d" % (before, most))
    # 16 handler threads + Go's own (GOMAXPROCS, sysmon, netpoll, a few
    # spares) stay far below one thread per request.
    assert most - before <= 16 + 40, samples


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("mode", [gohttp.PULL, gohttp.PUSH])
def test_signal_under_load_drains_and_exits_zero(sig, mode):
    """SIGTERM/SIGINT to `python -m gohttp app` with requests in flight:
    every in-flight request completes, the process exits 0 in time."""
    proc = spawn(["-m", "gohttp", "apps:slow_app", "--bind", "127.0.0.1:0",
                  "--dispatch", mode, "--drain-timeout", "5",
                  "--threads", "12", "--max-handlers", "12"])
    try:
        port = read_port(proc)
        results = [None] * 12

        def client(i):
            try:
                results[i] = request(port, "GET", "/slow?%d" % i)
            except Exception as exc:     # recorded, asserted below
                results[i] = exc

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(len(results))]
        for t in threads:
            t.start()
        for _ in threads:                # all are now inside the app
            assert read_line(proc) == "in slow_app\n"
        sent = time.monotonic()
        proc.send_signal(sig)
        # communicate() drains the pipes (a child blocked writing to a full
        # stderr pipe would otherwise never exit).
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        finish_child(proc, out, err)
        assert took < 5 + 1.5
        for i, r in enumerate(results):
            assert not isinstance(r, Exception), r
            assert r[0] == 200 and r[2] == b"slow %d" % i
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_seed_program_runs_unchanged():
    """examples/python/hello.py exactly as the seed wrote it. It binds
    127.0.0.1:5000; the test runs the same file with run()'s port replaced
    by 0 (the file itself is not changed), so it never depends on port
    5000 being free."""
    path = os.path.join(EXAMPLES, "hello.py")
    with open(path) as f:
        assert "run(host='127.0.0.1', port=5000)" in f.read()
    wrapper = ("import sys, runpy, gohttp\n"
               "orig = gohttp.run\n"
               "def run(host, port):\n"
               "    assert (host, port) == ('127.0.0.1', 5000)\n"
               "    orig(host, 0, ready=lambda p: print("
               "'listening on http://%s:%d/' % (host, p), flush=True))\n"
               "gohttp.run = run\n"
               "runpy.run_path(sys.argv[1], run_name='__main__')\n")
    proc = spawn(["-c", wrapper, path])
    try:
        port = read_port(proc)
        status, _, body = request(port, "GET", "/")
        assert (status, body) == (200, b"Hello, world.\n")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        finish_child(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_hello_demo_default():
    proc = spawn(["-m", "gohttp", "--bind", "127.0.0.1:0"])
    try:
        port = read_port(proc)
        assert request(port, "GET", "/")[2] == b"Hello, world.\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        finish_child(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_bind_failure_exits_1():
    import socket
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = spawn(["-m", "gohttp", "--bind", "127.0.0.1:%d" % port])
        out, err = proc.communicate(timeout=15)
    finish_child(proc, out, err, status=1)
    assert "in use" in err


EXIT_SCRIPT = r"""
import sys, threading, time, gohttp
mode, sleep_s = sys.argv[1], float(sys.argv[2])
entered = threading.Event()
def slow(w, req):
    entered.set()
    time.sleep(sleep_s)
    w.write("finished")
srv = gohttp.Server(dispatch=mode)
srv.route("/", slow)
print("listening on http://127.0.0.1:%d/" % srv.start(), flush=True)
entered.wait(10)
# The main thread ends here with the request still in its handler; the
# atexit hook must drain (or give up after the exit timeout) and exit.
"""


@pytest.mark.parametrize("mode", [gohttp.PULL, gohttp.PUSH])
def test_interpreter_exit_with_request_in_flight(mode):
    proc = spawn(["-c", EXIT_SCRIPT, mode, "0.5"])
    try:
        port = read_port(proc)
        status, _, body = request(port, "GET", "/")
        assert (status, body) == (200, b"finished")
        out, err = proc.communicate(timeout=10)
        finish_child(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stuck_python_thread_env():
    """The child's environment change when a Python thread (a pull worker
    in a handler that outlives every drain) is still running at exit.

    asan flavor only: that thread's frames (CPython 3.11 keeps them in
    mmap'd data-stack chunks, which LSan does not scan) hold the last
    references to objects it uses (its thread bootstate, dicts), and LSan
    reports memory in use by a running thread as a direct leak. Leak
    detection is off for this child only; ASan, UBSan and every check of
    the test stay on."""
    if "detect_leaks=1" not in os.environ.get("ASAN_OPTIONS", ""):
        return None
    return {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"].replace(
        "detect_leaks=1", "detect_leaks=0")}


@pytest.mark.parametrize("mode", [gohttp.PULL, gohttp.PUSH])
def test_interpreter_exit_with_stuck_handler_does_not_hang(mode):
    """A handler that outlives the exit drain timeout: the process still
    exits with status 0 soon after the timeout, with no Go fatal error,
    sanitizer report or traceback on its way out. The stuck handler's
    server cannot be freed, so its counters at exit show it still live."""
    env_script = "import gohttp._server as s; s.EXIT_DRAIN_TIMEOUT = 1.0\n"
    set_env = _stuck_python_thread_env() if mode == gohttp.PULL else None
    proc = spawn(["-c", env_script + EXIT_SCRIPT, mode, "30"],
                 set_env=set_env)
    try:
        port = read_port(proc)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=_try_request(port)))
        t.start()
        start = time.monotonic()
        out, err = proc.communicate(timeout=15)
        assert time.monotonic() - start < 10
        finish_child(proc, out, err, live=STUCK_AT_EXIT_LIVE)
        t.join(25)
        assert not t.is_alive()
        # The client is cut off when the process exits, never answered.
        assert isinstance(result["r"], Exception), result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# What is still live when a process exits with one handler stuck inside
# the server: the server and the Go handle naming it, the request's handle,
# its arena and its token.
STUCK_AT_EXIT_LIVE = {"live_servers": 1, "live_handles": 1, "live_arenas": 1,
                      "arena_bytes": None, "live_tokens": 1,
                      "live_go_handles": 1}


def _try_request(port):
    try:
        return request(port, "GET", "/", timeout=20)
    except Exception as exc:
        return exc


def test_push_gate_refuses_when_closed():
    """The C gate in front of push-mode Python: closed, Go threads answer
    503 in C and never enter Python."""
    from gohttp._gohttp_cffi import lib
    calls = []
    with gohttp.Server(dispatch=gohttp.PUSH) as srv:
        srv.route("/", lambda w, r: calls.append(1) or w.write("in"))
        port = srv.start()
        assert request(port, "GET", "/")[2] == b"in"
        lib.gohttp_py_gate_close()
        try:
            status, _, body = request(port, "GET", "/")
        finally:
            lib.gohttp_py_gate_open()
        assert status == 503 and body == b"Service Unavailable\n"
        assert calls == [1]
        assert lib.gohttp_py_gate_inside() == 0


def test_cdef_mirrors_header():
    """Every function, enum constant and struct field of shim/gohttp.h is
    declared in the cffi binding."""
    from gohttp._gohttp_cffi import ffi, lib
    header = open(os.path.join(REPO, "shim", "gohttp.h")).read()
    header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    functions = set(re.findall(r"\b(gohttp_\w+)\s*\(", header))
    functions.discard("gohttp_handler")   # a typedef'd pointer type
    assert functions, "no functions parsed"
    for name in sorted(functions):
        assert hasattr(lib, name), "missing in cdef: " + name
    for name in re.findall(r"\b(GOHTTP_E?[A-Z]+)\s*=", header):
        assert hasattr(lib, name), "missing constant: " + name
    for struct in ("gohttp_request", "gohttp_options", "gohttp_counters",
                   "gohttp_exchange", "gohttp_header"):
        body = re.search(r"typedef struct %s \{(.*?)\}" % struct, header,
                         re.S).group(1)
        fields = set(re.findall(r"(\w+)\s*;", body))
        fields |= set(re.findall(r"(\w+)\s*;", body.replace(",", ";")))
        declared = {f for f, _ in ffi.typeof(struct).fields}
        assert fields <= declared, (struct, fields - declared)
        assert ffi.sizeof(struct) > 0


def test_library_found_without_ld_library_path():
    """The extension loads its libgohttp.so through rpath $ORIGIN."""
    proc = spawn(["-c", "import gohttp, os; "
                  "print(sorted(os.listdir(os.path.dirname(gohttp.__file__))))"
                  ], drop_env=("LD_LIBRARY_PATH",))
    out, err = proc.communicate(timeout=30)
    finish_child(proc, out, err)
    assert "libgohttp.so" in out


def test_exit_hook_frees_servers_never_started():
    """Routes registered on the default server (and a Server) but run()
    never called: the exit hook still frees their C side."""
    script = (
        "import atexit\n"
        "def report():\n"  # registered first, so it runs after gohttp's hook
        "    import gohttp\n"
        "    print('live_servers', gohttp.stats()['live_servers'], flush=True)\n"
        "atexit.register(report)\n"
        "import gohttp\n"
        "gohttp.route('/', lambda w, r: None)\n"
        "keep = gohttp.Server()\n"
        "print('before', gohttp.stats()['live_servers'], flush=True)\n")
    proc = spawn(["-c", script])
    out, err = proc.communicate(timeout=30)
    finish_child(proc, out, err)
    assert "before 2" in out
    assert "live_servers 0" in out


SIGNAL_DURING_START_SCRIPT = r"""
import os, signal, sys, gohttp
from gohttp import _server
mode = sys.argv[1]
srv = gohttp.Server(dispatch=mode, threads=2)
srv.route("/", lambda w, r: w.write("x"))
real_check = _server.check
def check(rc, what):
    # SIGTERM lands while Server.start() holds the server's lock; the
    # Python-level handler run() installed then runs on this thread at the
    # next bytecode, still inside start().
    if what.startswith("start "):
        os.kill(os.getpid(), signal.SIGTERM)
    return real_check(rc, what)
_server.check = check
print("stopped by", gohttp.run("127.0.0.1", 0, server=srv,
                               drain_timeout=1), flush=True)
"""


@pytest.mark.parametrize("mode", [gohttp.PULL, gohttp.PUSH])
def test_signal_while_start_holds_lock_does_not_deadlock(mode):
    """run() installs its signal handlers before start(); a signal that
    arrives while start() is running must stop the server, not deadlock
    the main thread on the server's lock."""
    proc = spawn(["-c", SIGNAL_DURING_START_SCRIPT, mode])
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("run() deadlocked on a signal during start()")
    finish_child(proc, out, err)
    assert "stopped by %d" % signal.SIGTERM in out


STUCK_HANDLER_SCRIPT = r"""
import faulthandler, signal, sys, threading, time, gohttp
# If the process ever fails to exit, the test asks for every thread's
# Python stack with SIGUSR1 before killing it (diagnosis only).
faulthandler.register(signal.SIGUSR1, all_threads=True)
entered = threading.Event()
def stuck(w, req):
    entered.set()
    print("in handler", flush=True)
    time.sleep(30)          # outlives any drain timeout
    w.write("late")
srv = gohttp.Server()
srv.route("/", stuck)
def ready(port):
    print("listening on http://127.0.0.1:%d/" % port, flush=True)
start = []
def on_ready(port):
    start.append(time.monotonic())
    ready(port)
gohttp.run("127.0.0.1", 0, server=srv, drain_timeout=1, ready=on_ready)
print("run returned", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_handler_outliving_drain_timeout_exits(sig):
    """SIGTERM/Ctrl-C while a handler runs longer than the drain timeout:
    the drain is bounded, run() returns and the process exits (the stuck
    handler cannot be stopped, but it must not keep the process alive)."""
    # The default dispatch is pull: the stuck handler is a Python thread.
    proc = spawn(["-c", STUCK_HANDLER_SCRIPT],
                 set_env=_stuck_python_thread_env())
    try:
        port = read_port(proc)
        t = threading.Thread(target=_try_request, args=(port,), daemon=True)
        t.start()
        assert read_line(proc) == "in handler\n"
        sent = time.monotonic()
        proc.send_signal(sig)
        # communicate(), not wait(): it keeps reading the child's stdout
        # and stderr pipes.  With wait() a child that writes more than a
        # pipe buffer (64 KiB on Linux) to stderr -- a sanitizer report, a
        # Go runtime traceback of every goroutine, many log lines -- blocks
        # in write() and never exits, which looks exactly like a hang.
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            # A hang, not a slow exit (the bound below is 5 s): record
            # where every thread of the child is, then fail.
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError("child did not exit within 20 s of the "
                                 "signal; its threads:\n" + err[-20000:])
        took = time.monotonic() - sent
        finish_child(proc, out, err, live=STUCK_AT_EXIT_LIVE)
        assert "run returned" in out
        # drain_timeout 1 s, a grace second for run(), the exit hook's
        # short tail: far below the handler's 30 s.
        assert took < 5, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


PULL_WORKERS_SCRIPT = r"""
import socket, threading, time, gohttp
srv = gohttp.Server(dispatch="pull", threads=4)
def slow(w, r):
    print("in handler", flush=True)
    # The signal lands while a worker is in here: it returns once the
    # shutdown closed the listener (10 s at most).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", srv.port)) != 0:
                break
        time.sleep(0.01)
    w.write("x")
srv.route("/", slow)
gohttp.run("127.0.0.1", 0, server=srv, drain_timeout=2,
           ready=lambda p: print("listening on http://127.0.0.1:%d/" % p,
                                 flush=True))
alive = [t.name for t in threading.enumerate()
         if t.name.startswith("gohttp-worker-")]
print("workers alive after run:", len(alive), alive, flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_pull_workers_joined_before_run_returns(sig):
    """After a signal, run() returns only once the pull worker threads have
    ended (they see GOHTTP_ECLOSED), so none is left running Python while
    the interpreter finalizes."""
    proc = spawn(["-c", PULL_WORKERS_SCRIPT])
    try:
        port = read_port(proc)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=_try_request(port)))
        t.start()
        assert read_line(proc) == "in handler\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        t.join(15)
        assert not t.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finish_child(proc, out, err)
    assert "workers alive after run: 0 []" in out, out + err
    # The in-flight request was drained, not cut off.
    assert result["r"][0] == 200 and result["r"][2] == b"x", result


def test_exit_hook_closes_gate_even_if_interrupted():
    """A Ctrl-C (or any exception) while the exit hook drains must not skip
    closing the push gate: an open gate lets Go threads enter Python while
    the interpreter finalizes."""
    from gohttp import _server
    from gohttp._gohttp_cffi import ffi, lib
    calls = []
    probe = _server._Route(lambda w: calls.append(1), "/probe", None,
                           exchange=True)
    handle = ffi.new_handle(probe)

    def gate_is_open():
        # The gate's C entry with a stale handle: if open, it runs probe in
        # Python (which touches nothing: w is 0); if closed it answers in C.
        del calls[:]
        lib.gohttp_py_push_entry(0, ffi.NULL, handle)
        return bool(calls)

    assert gate_is_open()
    srv = gohttp.Server(dispatch=gohttp.PUSH)
    srv.route("/", lambda w, r: w.write("x"))
    srv.start()

    def interrupted_wait(timeout=None):
        raise KeyboardInterrupt

    srv.wait = interrupted_wait       # Ctrl-C lands during the exit drain
    try:
        with pytest.raises(KeyboardInterrupt):
            _server._at_exit()
        assert not gate_is_open(), "exit hook left the push gate open"
    finally:
        lib.gohttp_py_gate_open()
        del srv.wait
        assert srv.close(5.0)
