"""The supervisor of ``python -m gohttp --workers N`` / ``run(workers=N)``
and SIGHUP.

Every test runs real processes on 127.0.0.1 with port 0 (the supervisor
listens on it and hands its one socket to its workers),
waits on log lines, files and requests with deadlines (never a sleep as
synchronisation), and asserts the exit status of the supervisor it started
and, from the supervisor's log, of every worker.

Load clients keep their connection alive, as real clients do, and follow
RFC 9112 9.3.1: a server may close an idle persistent connection at any
time (a draining worker does), so a GET that got no byte of response on a
REUSED connection is retried on a new one (at most twice, 10 ms apart;
the retries are counted and bounded by the tests).  A GET that fails on a
NEW connection is a failure, never retried: every worker serves the one
listening socket the supervisor keeps open for its whole life, so a
worker that stops (recycled, reloaded, killed) takes no connection
waiting in the accept queue down with it.  A request that fails on a new
connection, a third time, or after a response started, is a failure.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import (CHILD_WAIT_S, COUNTERS_MARKER, HERE, LIVE_KEYS,
                      python_env, request)

EXITED = re.compile(r"worker (\d+) exited with status (-?\d+)")
LISTENING = re.compile(r"worker (\d+) listening")
REPLACING = re.compile(r"started worker (\d+) to replace worker (\d+)")
EXIT_RECYCLED = 75


class Child:
    """A child Python process: stdout's "listening" line gives the port,
    stderr lines are collected by a thread and can be waited for.  It runs
    through child_main.py, and so do the workers it starts (they re-run
    its command line): each prints its counters at exit on the shared
    stderr, and finish() asserts them."""

    def __init__(self, args, env=None, pass_fds=()):
        full = python_env()
        full.update(env or {})
        self.proc = subprocess.Popen([sys.executable,
                                      os.path.join(HERE, "child_main.py")]
                                     + list(args), env=full,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     pass_fds=pass_fds)
        self.lines = []
        self.out = []
        self.cond = threading.Condition()
        self.readers = [
            threading.Thread(target=self._collect, args=(s, l), daemon=True)
            for s, l in ((self.proc.stderr, self.lines),
                         (self.proc.stdout, self.out))]
        for t in self.readers:
            t.start()

    def _collect(self, stream, into):
        for line in stream:
            with self.cond:
                into.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, pattern, timeout=20.0, stream=None, count=1):
        """The first `count` matches of pattern (a regex) in stderr (or
        stdout with stream="out"), waiting up to timeout seconds."""
        lines = self.out if stream == "out" else self.lines
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for m in map(rx.search, lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and \
                        not any(t.is_alive() for t in self.readers):
                    raise AssertionError(
                        "no %d x %r; stderr:\n%s" % (count, pattern,
                                                     "\n".join(self.lines)))
                self.cond.wait(min(left, 0.2))

    def port(self):
        m = self.wait_line(r"listening on http://[^:]+:(\d+)/", stream="out")
        return int(m[0].group(1))

    def statuses(self):
        """{worker pid: exit status} from the supervisor's log."""
        with self.cond:
            return {int(m.group(1)): int(m.group(2))
                    for m in map(EXITED.search, self.lines) if m}

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send sig and return the exit status."""
        self.proc.send_signal(sig)
        return self.finish(timeout)

    def finish(self, timeout=30.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("child did not exit; stderr:\n%s"
                                 % "\n".join(self.lines))
        for t in self.readers:
            t.join(5)
        self.assert_counters_zero()
        return rc

    def assert_counters_zero(self):
        """Every process that ended by a normal interpreter exit (the
        supervisor, whatever its status, and each worker that exited 0 or
        recycled) printed its counters, every live one zero; workers
        killed by a signal print none."""
        with self.cond:
            reports = [json.loads(line.split(COUNTERS_MARKER, 1)[1])
                       for line in self.lines if COUNTERS_MARKER in line]
            exited = [rc for rc in self.statuses().values()
                      if rc in (0, EXIT_RECYCLED)]
        assert len(reports) >= 1 + len(exited), (
            "%d counter reports for the supervisor and %d workers that "
            "exited; stderr:\n%s" % (len(reports), len(exited),
                                     "\n".join(self.lines)))
        for report in reports:
            assert "error" not in report, report
            live = {k: report[k] for k in LIVE_KEYS}
            assert not any(live.values()), "live counters at exit: %r" % report

    def kill(self):
        if self.proc.poll() is None:
            # The supervisor's workers notice its end (their socket to it
            # closes) and drain.
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def children():
    """Factory for Child; every child still running at teardown is killed
    (a passing test has already stopped and checked it)."""
    made = []

    def factory(args, env=None, pass_fds=()):
        c = Child(args, env, pass_fds)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.kill()


def gohttp_args(app, *extra):
    return ["-m", "gohttp", app, "--bind", "127.0.0.1:0"] + list(extra)


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def refused(port):
    """True once nothing listens on the port any more."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


class KeepAliveClient:
    """GETs on one persistent connection, with the retry rule of the
    module doc."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.served = 0          # responses on the current connection
        self.retries = 0         # GETs retried after a reused connection
        self.fresh_resets = 0    # GETs that failed on a new connection

    def get(self, path):
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=10)
                self.served = 0
            fresh = self.served == 0
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                # No byte of response.  On a reused connection the server
                # may have closed it as idle: retried (module doc).  On a
                # new one nothing excuses it: a failure.
                self.close()
                if fresh:
                    self.fresh_resets += 1
                    raise
                if attempt == 2:
                    raise
                self.retries += 1
                time.sleep(0.01)
                continue
            body = resp.read()   # a failure from here on is not retried
            self.served += 1
            if resp.will_close:
                self.close()
            return resp.status, body
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Load:
    """`threads` clients GETting path until stop(): keep-alive clients, or
    a new connection per request (keepalive=False).  Records, per request,
    (monotonic time, worker pid) or the exception."""

    def __init__(self, port, path="/", threads=4, keepalive=True,
                 limit=60.0):
        self.port = port
        self.path = path
        self.keepalive = keepalive
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.served = []         # (time, pid)
        self.failures = []       # (time, repr of the error or status)
        self.retries = 0         # retried GETs (KeepAliveClient)
        self.fresh_resets = 0    # GETs failed on a new connection (same)
        self.end = time.monotonic() + limit
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _client(self):
        client = KeepAliveClient(self.port) if self.keepalive else None
        try:
            while not self.done.is_set() and time.monotonic() < self.end:
                try:
                    if client:
                        status, body = client.get(self.path)
                    else:
                        status, _, body = request(self.port, "GET", self.path)
                except Exception as exc:
                    with self.lock:
                        self.failures.append((time.monotonic(), repr(exc)))
                    continue
                with self.lock:
                    if status == 200 and body.startswith(b"pid "):
                        self.served.append((time.monotonic(),
                                            int(body.split()[1])))
                    else:
                        self.failures.append((time.monotonic(),
                                              (status, body[:80])))
        finally:
            if client:
                client.close()
                with self.lock:
                    self.retries += client.retries
                    self.fresh_resets += client.fresh_resets

    def pids(self, since=0.0):
        with self.lock:
            return {pid for t, pid in self.served if t >= since}

    def count(self, since=0.0):
        with self.lock:
            return sum(1 for t, _ in self.served if t >= since)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(15)
        assert not any(t.is_alive() for t in self.threads)


def batch(port, n=100, threads=4):
    """n GETs on new connections from `threads` threads: the (status, pid)
    of each, or the exception."""
    out = []
    lock = threading.Lock()

    def client(k):
        for _ in range(k):
            try:
                status, _, body = request(port, "GET", "/")
                item = (status, int(body.split()[1]))
            except Exception as exc:
                item = exc
            with lock:
                out.append(item)

    ts = [threading.Thread(target=client, args=(n // threads,))
          for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def gated_requests(port, n):
    """n GETs of the gated app, each on its own thread and connection;
    returns (threads, results)."""
    results = [None] * n

    def client(i):
        try:
            results[i] = request(port, "GET", "/?%d" % i, timeout=30)
        except Exception as exc:     # recorded, asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def release_gated(gate_dir, threads, results):
    """Open the gate for the requests of gated_requests and assert each
    completed with 200 and its own body."""
    open(os.path.join(gate_dir, "open"), "w").close()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    for i, r in enumerate(results):
        assert isinstance(r, tuple), r
        assert r[0] == 200 and r[2].startswith(b"done %d " % i), r


def entered(gate_dir):
    try:
        with open(os.path.join(gate_dir, "entered")) as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


# -- tests -----------------------------------------------------------------

def test_killed_worker_is_replaced_and_every_request_succeeds_again(
        children):
    """kill -9 of one of two workers under load: the supervisor starts a
    replacement, and afterwards every request on a new connection
    succeeds, served by the survivor or the replacement."""
    sup = children(gohttp_args("apps:pid_app", "--workers", "2"))
    port = sup.port()
    load = Load(port, keepalive=False)
    try:
        wait_until(lambda: len(load.pids()) == 2, 15, "both workers serving")
        first = load.pids()
        victim, survivor = sorted(first)
        os.kill(victim, signal.SIGKILL)
        sup.wait_line(r"worker %d exited with status -9" % victim)
        replacement = int(sup.wait_line(r"started worker (\d+)", count=3)[2]
                          .group(1))
        sup.wait_line(r"worker %d listening" % replacement)
        killed_at = time.monotonic()
        wait_until(lambda: replacement in load.pids(killed_at), 15,
                   "the replacement serving")
    finally:
        load.stop()
    after = batch(port)
    assert len(after) == 100
    assert all(isinstance(r, tuple) and r[0] == 200 for r in after), after
    assert {pid for _, pid in after} <= {survivor, replacement}
    assert sup.stop() == 0
    assert sup.statuses() == {victim: -9, survivor: 0, replacement: 0}


def test_sigterm_to_the_supervisor_drains_requests_in_flight(children,
                                                             tmp_path):
    """SIGTERM to the supervisor while 8 requests are held in the app: the
    workers stop listening, every held request completes with 200 once
    released, every worker exits 0 and the supervisor exits 0."""
    gate = str(tmp_path)
    sup = children(gohttp_args("apps:gated_app", "--workers", "2",
                               "--drain-timeout", "20"),
                   env={"GOHTTP_TEST_GATE_DIR": gate})
    port = sup.port()
    threads, results = gated_requests(port, 8)
    wait_until(lambda: entered(gate) == 8, 20, "8 requests in the app")
    sup.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: refused(port), 20, "the workers to stop listening")
    assert sup.proc.poll() is None       # still waiting for its workers
    release_gated(gate, threads, results)
    assert sup.finish() == 0
    statuses = sup.statuses()
    assert len(statuses) == 2 and set(statuses.values()) == {0}, statuses


def test_max_requests_recycles_workers_without_a_failed_request(children):
    """--max-requests 40 --max-requests-jitter 10 under load (six
    recycles), from keep-alive clients and from clients making a new
    connection per request: workers are replaced (new pids serve, the old
    ones exit with the recycled status) and no request fails, none is reset
    on a new connection (the accept queue of the shared socket outlives
    every worker; with a socket per worker this failed in two runs of
    three)."""
    sup = children(gohttp_args("apps:pid_app", "--workers", "2",
                               "--max-requests", "40",
                               "--max-requests-jitter", "10"))
    port = sup.port()
    # Six recycles are three worker starts in a row per worker: a bound
    # that scales with a child's start (a start takes 15 s under ASan).
    bound = 6 * CHILD_WAIT_S
    load = Load(port, limit=bound)
    fresh = Load(port, threads=4, keepalive=False, limit=bound)
    try:
        sup.wait_line(r"exited with status %d" % EXIT_RECYCLED, bound,
                      count=6)
        wait_until(lambda: len(load.pids() | fresh.pids()) >= 4, 15,
                   "recycled pids")
    finally:
        load.stop()
        fresh.stop()
    assert load.fresh_resets == 0, load.failures
    assert load.failures == []
    assert fresh.failures == []
    assert fresh.count() > 0
    # Retries happen only on a reused connection a draining worker closed.
    assert load.retries <= 3 * len(sup.statuses()) + 4, load.retries
    recycled = [pid for pid, rc in sup.statuses().items()
                if rc == EXIT_RECYCLED]
    assert len(recycled) >= 6
    assert set(recycled) <= load.pids() | fresh.pids()
    assert sup.stop() == 0
    # A replacement still starting when the supervisor stopped exits 0
    # without serving, or, if SIGTERM came before gohttp was imported,
    # dies of it (-15); every worker that listened exits 0 or recycled.
    listened = {int(m.group(1)) for m in map(LISTENING.search, sup.lines)
                if m}
    for pid, rc in sup.statuses().items():
        allowed = {0, EXIT_RECYCLED} if pid in listened else {0, -15}
        assert rc in allowed, (pid, rc, sup.statuses())


def test_sighup_drains_a_single_process_and_exits_zero(children, tmp_path):
    """Without --workers, SIGHUP is a graceful stop, as SIGTERM: the held
    requests complete with 200 and the process exits 0."""
    gate = str(tmp_path)
    srv = children(gohttp_args("apps:gated_app", "--drain-timeout", "20"),
                   env={"GOHTTP_TEST_GATE_DIR": gate})
    port = srv.port()
    threads, results = gated_requests(port, 4)
    wait_until(lambda: entered(gate) == 4, 20, "4 requests in the app")
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: refused(port), 20, "the listener to close")
    assert srv.proc.poll() is None       # draining, not killed
    release_gated(gate, threads, results)
    assert srv.finish() == 0


def test_sighup_reloads_the_workers_without_a_failed_request(children):
    """SIGHUP to the supervisor under keep-alive load: two new workers
    start and listen, the two old ones drain and exit 0, afterwards only
    new pids serve, and no request fails."""
    sup = children(gohttp_args("apps:pid_app", "--workers", "2"))
    port = sup.port()
    old = {int(m.group(1)) for m in sup.wait_line(LISTENING.pattern,
                                                  count=2)}
    load = Load(port)
    try:
        wait_until(lambda: load.count() >= 50, 15, "load served")
        sup.proc.send_signal(signal.SIGHUP)
        pairs = sup.wait_line(REPLACING.pattern, count=2)
        new = {int(m.group(1)) for m in pairs}
        assert {int(m.group(2)) for m in pairs} == old
        for pid in old:
            sup.wait_line(r"worker %d exited with status 0" % pid)
        reloaded = time.monotonic()
        wait_until(lambda: load.count(reloaded) >= 100, 15,
                   "load served after the reload")
    finally:
        load.stop()
    assert load.failures == []
    assert load.pids(reloaded) <= new
    assert sup.stop() == 0
    assert sup.statuses() == {pid: 0 for pid in old | new}


RUN_WORKERS_SCRIPT = r"""
import logging, os, sys
import gohttp

logging.basicConfig(level=logging.INFO)

@gohttp.route("/")
def index(w, req):
    w.write("pid %d" % os.getpid())

def ready(port):
    print("gohttp: listening on http://127.0.0.1:%d/" % port, flush=True)

sig = gohttp.run("127.0.0.1", 0, workers=2, ready=ready)
print("supervisor %d returned %s" % (os.getpid(), sig), flush=True)
"""


def test_run_with_workers_reruns_the_script_in_each_worker(children):
    """gohttp.run(..., workers=2) from a seed-API script: two worker
    processes (not the script's own) serve its routes; only the
    supervisor's run() returns, with the signal that stopped it."""
    sup = children(["-c", RUN_WORKERS_SCRIPT])
    port = sup.port()
    load = Load(port, keepalive=False)
    try:
        wait_until(lambda: len(load.pids()) == 2, 15, "both workers serving")
    finally:
        load.stop()
    assert load.failures == []
    assert sup.proc.pid not in load.pids()
    assert sup.stop() == 0
    assert sup.out[1:] == ["supervisor %d returned %d"
                           % (sup.proc.pid, signal.SIGTERM)], sup.out
    assert sup.statuses() == {pid: 0 for pid in load.pids()}


def test_workers_that_cannot_start_stop_the_supervisor(children):
    """An application that does not import: the first workers exit before
    listening, and the supervisor exits 1 saying so (no restart loop)."""
    sup = children(gohttp_args("apps:no_such_app", "--workers", "2"))
    assert sup.finish(30) == 1
    assert any("before it listened" in line for line in sup.lines), \
        sup.lines
    assert all(rc != 0 for rc in sup.statuses().values())


def test_workers_option_errors_are_usage_errors(children):
    """--workers 0 and a negative jitter are refused by the supervisor
    before any worker starts (exit 2, argparse's usage status)."""
    for bad in (["--workers", "0"], ["--max-requests", "5",
                                     "--max-requests-jitter", "-1"]):
        c = children(gohttp_args("apps:pid_app", *bad))
        assert c.finish(30) == 2
        assert not sup_started(c)


def sup_started(child):
    return any("started worker" in line for line in child.lines)


def listening_socket():
    """A TCP socket listening on 127.0.0.1 (port 0), made by the test."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.mark.parametrize("workers", [1, 2])
def test_bind_fd_serves_an_inherited_listening_socket(children, workers):
    """--bind fd://N (systemd socket activation): the process serves the
    socket the test made and passed as descriptor N, alone or shared with
    two workers, and binds nothing (its port is the test's socket's).  The
    test's socket outlives it: after the process exited, a connection
    made to the port waits in the socket's queue and the test accepts it."""
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        args = ["-m", "gohttp", "apps:pid_app", "--bind",
                "fd://%d" % sock.fileno()]
        if workers > 1:
            args += ["--workers", str(workers)]
        child = children(args, pass_fds=(sock.fileno(),))
        assert child.port() == port
        for _ in range(20):
            status, _, body = request(port, "GET", "/")
            assert status == 200 and body.startswith(b"pid "), body
        assert child.stop() == 0
        if workers > 1:
            assert set(child.statuses().values()) == {0}
        sock.settimeout(5)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = sock.accept()
            conn.close()


@pytest.mark.parametrize("bind, why", [
    ("fd://x", "bad --bind"),
    ("fd://-1", "bad --bind"),
    ("fd://%(file)d", "cannot serve --bind fd://%(file)d"),
    ("fd://%(unbound)d", "cannot serve --bind fd://%(unbound)d: fd "
     "%(unbound)d is not a listening TCP socket"),
])
def test_bind_fd_refuses_what_is_not_a_listening_socket(tmp_path, bind,
                                                         why):
    """--bind fd://N with N not a number, or not a listening TCP socket
    (a regular file, a socket without listen): exit status 1 and why,
    before anything is served."""
    with open(tmp_path / "f", "w") as f, socket.socket() as unbound:
        names = {"file": f.fileno(), "unbound": unbound.fileno()}
        proc = subprocess.run(
            [sys.executable, "-m", "gohttp", "apps:pid_app", "--bind",
             bind % names], env=python_env(), cwd=HERE, timeout=60,
            capture_output=True, text=True,
            pass_fds=tuple(names.values()))
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert why % names in proc.stderr, proc.stderr
