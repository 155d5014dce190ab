"""Shared fixtures for the gohttp pytest suite.

Every test talks to a real server over loopback on a port the OS picks.
The autouse fixture `live_counters_zero` asserts after EVERY test that the
library's live counters (handles, arenas, arena bytes, servers, Go tokens
and Go handles) are back to
zero, waiting briefly for exchanges that are still being torn down.

Every test is bounded in time (GOHTTP_TEST_TIMEOUT seconds, default 120,
for setup, call and teardown together): past it, SIGALRM fails the test
with its name and every thread's stack; if the main thread is stuck in C
and cannot take the signal, faulthandler dumps every thread's stack to
the terminal and ends the run (exit 1) GOHTTP_TEST_TIMEOUT_GRACE (30) s
later.

Child Pythons (spawn) run through child_main.py, which prints the live
counters at exit; finish_child() asserts their exit status, their counters
and that their stderr holds no crash or sanitizer report.
"""

import contextlib
import ctypes
import faulthandler
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

import gohttp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO, "examples", "python")
# The example applications (flask_app) are imported by tests in-process too.
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

LIVE_KEYS = ("live_handles", "live_arenas", "arena_bytes", "live_servers",
             "live_tokens", "live_go_handles")


TEST_TIMEOUT = float(os.environ.get("GOHTTP_TEST_TIMEOUT", "120"))
TEST_TIMEOUT_GRACE = float(os.environ.get("GOHTTP_TEST_TIMEOUT_GRACE", "30"))
_terminal = None


class TestTimeout(Exception):
    """Raised in the main thread when a test outlives TEST_TIMEOUT."""


def pytest_configure(config):
    # Output capture is suspended while plugins are configured, so fd 2 is
    # still the terminal here: the hang backstop writes to a copy of it
    # (a dump into a capture file would die with the process unseen).
    global _terminal
    _terminal = os.fdopen(os.dup(2), "w")
    # A copy of its own that no Python object owns: LSan reports at exit,
    # after the interpreter closed its files.
    _sanitizer_reports_to(os.dup(2))


def _sanitizer_reports_to(fd):
    """In the asan flavor, ASan, LSan and UBSan report to fd (the copy of
    the terminal) instead of fd 2: pytest captures fd 2 into a file per
    test, so the report of an error that ends the process (halt_on_error)
    would die unseen with that file. A no-op where no sanitizer runtime is
    loaded. gcc's UBSan runtime is a library of its own, so it is told
    too (if the extension loaded it)."""
    for name in (None, "libubsan.so.1"):
        try:
            lib = (ctypes.CDLL(name, mode=os.RTLD_NOLOAD) if name
                   else ctypes.CDLL(None))
            setter = lib["__sanitizer_set_report_fd"]
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_void_p]
        setter.restype = None
        setter(fd)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    def expired(signum, frame):
        faulthandler.dump_traceback(all_threads=True)
        raise TestTimeout("%s: still running after %g s (per-test bound "
                          "GOHTTP_TEST_TIMEOUT)" % (item.nodeid, TEST_TIMEOUT))

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)
    if _terminal is not None:
        faulthandler.dump_traceback_later(TEST_TIMEOUT + TEST_TIMEOUT_GRACE,
                                          exit=True, file=_terminal)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


def live_counters():
    s = gohttp.stats()
    return {k: s[k] for k in LIVE_KEYS}


def wait_counters_zero(timeout=5.0):
    """The live counters once they are all zero, or the last snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snap = live_counters()
        if not any(snap.values()) or time.monotonic() > deadline:
            return snap
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def live_counters_zero():
    """After every test: no live handle, arena, arena byte, server, Go
    token or Go handle."""
    yield
    snap = wait_counters_zero()
    assert not any(snap.values()), "live objects after test: %r" % snap


@pytest.fixture(params=[gohttp.PULL, gohttp.PUSH])
def dispatch(request):
    """Runs a test once per dispatch design."""
    return request.param


@pytest.fixture
def make_server(dispatch):
    """Factory: make_server(routes={pattern: fn}, **options) -> (server,
    port), started on 127.0.0.1:0; every server is closed at teardown."""
    servers = []

    def factory(routes=None, **options):
        options.setdefault("dispatch", dispatch)
        srv = gohttp.Server(**options)
        servers.append(srv)
        for pattern, fn in (routes or {}).items():
            srv.route(pattern, fn)
        port = srv.start("127.0.0.1", 0)
        return srv, port

    yield factory
    for srv in servers:
        assert srv.close(5.0), "server did not drain"


def request(port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request on a fresh connection -> (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def foreign_env():
    """The environment for a program that is not ours (curl, openssl):
    without the sanitizer runtime and options the asan flavor preloads,
    which such a program neither needs nor survives (curl -V hung)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS",
                         "UBSAN_OPTIONS", "PYTHONMALLOC")}


def raw_exchange(port, head, timeout=10):
    """Send raw request bytes on a fresh connection and read until the
    server closes it (the request carries Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        return read_until_close(s)


def read_until_close(s):
    """Every byte socket s receives until the peer closes it."""
    data = b""
    while True:
        got = s.recv(65536)
        if not got:
            return data
        data += got


def free_port_busy(port):
    """True if something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def python_env():
    """Environment for a child Python that imports the same gohttp build."""
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(gohttp.__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (pkg_root, HERE, EXAMPLES, env.get("PYTHONPATH")) if p)
    return env


def spawn(args, drop_env=(), set_env=None, **kw):
    """Start a child Python (same interpreter, same gohttp build); args are
    what follows `python` (-m MOD ..., -c CODE ..., PATH ...). It runs
    through child_main.py, which prints its counters at exit."""
    env = python_env()
    for name in drop_env:
        env.pop(name, None)
    env.update(set_env or {})
    return subprocess.Popen(
        [sys.executable, os.path.join(HERE, "child_main.py")] + list(args),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **kw)


# What a crashed or sanitizer-failed child leaves on stderr: a Go runtime
# fatal error or unrecovered panic (with its goroutine dump), a fatal
# signal, any ASan/LSan/UBSan/TSan report, a Python traceback.
CRASH_RE = re.compile(
    r"^fatal error: |^panic: |^goroutine \d+ \[|^SIG[A-Z]+: |"
    r"Fatal Python error|Traceback \(most recent call last\)|"
    r"==\d+==ERROR: |ERROR: (Address|Leak)Sanitizer|runtime error: |"
    r"WARNING: ThreadSanitizer|^SUMMARY: \w+Sanitizer", re.M)
COUNTERS_MARKER = "gohttp counters at exit: "


def child_counters(err):
    """The counters child_main.py printed at exit, or None."""
    found = None
    for line in err.splitlines():
        if line.startswith(COUNTERS_MARKER):
            found = json.loads(line[len(COUNTERS_MARKER):])
    return found


@contextlib.contextmanager
def served_by(proc):
    """Run a test body against a server child: on leaving normally it is
    stopped with SIGTERM and checked with finish_child (exit status 0, a
    clean stderr, counters zero); whatever happens it is not left
    running."""
    try:
        yield proc
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=CHILD_WAIT_S)
        finish_child(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish_child(proc, out, err, status=0, live=None, uses_gohttp=True):
    """Assert on a child that has exited (out/err from communicate()): its
    exit status is exactly `status`, stderr holds no crash or sanitizer
    report, and (if it imported gohttp) it printed its counters at exit,
    with every live counter zero, or equal to `live` ({name: value} for
    the ones that must not be zero, e.g. a handler still stuck at exit;
    None for "not zero")."""
    rc = proc.returncode
    assert rc == status, "exit status %r, expected %r; stderr:\n%s" % (
        rc, status, err[-8000:])
    crash = CRASH_RE.search(err)
    assert crash is None, "crash report in the child's stderr (%r):\n%s" % (
        crash.group(0), err[-8000:])
    counters = child_counters(err)
    if not uses_gohttp:
        return counters
    assert counters is not None, "no counters at exit; stderr:\n" + err[-8000:]
    assert "error" not in counters, counters
    expected = dict.fromkeys(LIVE_KEYS, 0)
    expected.update(live or {})
    got = {k: counters[k] for k in expected}
    for k, v in expected.items():
        if v is None:                   # must be live, any amount
            expected[k] = got[k] if got[k] > 0 else "> 0"
    assert got == expected, "live counters at exit: %r" % counters
    print("child counters at exit:", counters)
    return counters


# How long a child Python may take to start serving or to stop: 15 s, four
# times that under the asan flavor (ASan preloaded, PYTHONMALLOC=malloc,
# the slow unwinder), where a start under load was seen to take over 15 s.
CHILD_WAIT_S = 60.0 if "libasan" in os.environ.get("LD_PRELOAD", "") else 15.0


def read_line(proc, timeout=CHILD_WAIT_S):
    """The child's next stdout line, waiting at most `timeout` seconds.
    Reads the pipe byte by byte (no buffer of its own), so what follows
    the line is left for communicate()."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no line from the child within %g s (got %r)"
                                 % (timeout, line))
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if not ready:
            continue
        byte = os.read(fd, 1)
        if not byte:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            raise AssertionError("child exited (status %s) after %r: %s" % (
                proc.returncode, line, proc.stderr.read()))
        line += byte
    return line.decode()


def read_port(proc, timeout=CHILD_WAIT_S):
    """Wait for the CLI's 'listening on http(s)://HOST:PORT/' line."""
    deadline = time.monotonic() + timeout
    while True:
        line = read_line(proc, max(0.0, deadline - time.monotonic()))
        if "listening on http://" in line or "listening on https://" in line:
            return int(line.rsplit(":", 1)[1].strip().rstrip("/"))
