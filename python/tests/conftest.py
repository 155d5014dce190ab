"""Shared fixtures for the gohttp pytest suite.

Every test talks to a real server over loopback on a port the OS picks.
The autouse fixture `live_counters_zero` asserts after EVERY test that the
library's live counters (handles, arenas, arena bytes, servers) are back to
zero, waiting briefly for exchanges that are still being torn down.
"""

import http.client
import os
import select
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

LIVE_KEYS = ("live_handles", "live_arenas", "arena_bytes", "live_servers")


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
    """After every test: no live handle, arena, arena byte or server."""
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


def spawn(args, drop_env=(), **kw):
    """Start a child Python (same interpreter, same gohttp build)."""
    env = python_env()
    for name in drop_env:
        env.pop(name, None)
    return subprocess.Popen([sys.executable] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def read_port(proc, timeout=15.0):
    """Wait for the CLI's 'listening on http://HOST:PORT/' line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                raise AssertionError("child exited: %s" % proc.stderr.read())
            continue
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError("child exited: %s" % proc.stderr.read())
            continue
        if "listening on http://" in line:
            return int(line.rsplit(":", 1)[1].strip().rstrip("/"))
    raise AssertionError("child did not report its port")
