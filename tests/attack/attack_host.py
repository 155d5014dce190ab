"""The Python (WSGI) server process that tests/attack/driver attacks with
the framing attacks: the same protocol as attack_host.c.

A WSGI application served by gohttp.wsgi on 127.0.0.1 (port chosen by the
kernel) with a metrics listener:

  GET  /fast      200 "ok\\n"
  GET  /dupcl     the application answers with two Content-Length headers
                  ("5" and "6"); the package must refuse them with a 500
  POST /upload    reads the body, 200 with its length
  anything else   404

Once serving it prints ``READY port=P metrics=M pid=PID`` and serves until
its stdin reaches EOF; then it closes the server and checks that
gohttp.stats()' live counters are all 0 (exit status 0, else 1).
"""

import logging
import os
import resource
import socket
import sys

import gohttp
from gohttp.wsgi import make_server


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/fast":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "3")])
        return [b"ok\n"]
    if path == "/dupcl":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "5"),
                                  ("Content-Length", "6")])
        return [b"hello"]
    if path == "/upload" and environ["REQUEST_METHOD"] == "POST":
        n = len(environ["wsgi.input"].read())
        body = b"%d\n" % n
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", "10")])
    return [b"not found\n"]


class ExpectedRefusal(logging.Filter):
    """Counts, and keeps off stderr, the one error the attacks provoke by
    design: the package refusing /dupcl's second Content-Length (logged
    with its traceback for every request). Every other record passes."""

    count = 0

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and "a second Content-Length" in str(exc):
            ExpectedRefusal.count += 1
            return False
        return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    logging.getLogger("gohttp").addFilter(ExpectedRefusal())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = None
    for _ in range(5):
        mport = free_port()
        srv = make_server(app, metrics_bind="127.0.0.1:%d" % mport)
        try:
            srv.start("127.0.0.1", 0)
            break
        except gohttp.GohttpError as exc:
            print("attack_host.py: start: %s, retrying" % exc,
                  file=sys.stderr)
            srv.close()
            srv = None
    if srv is None:
        return 2
    print("READY port=%d metrics=%d pid=%d" % (srv.port, mport, os.getpid()),
          flush=True)
    sys.stdin.read()
    if not srv.close(timeout=5):
        print("attack_host.py: FAIL: server did not stop", flush=True)
        return 1
    st = gohttp.stats()
    live = {k: st[k] for k in ("live_handles", "live_servers", "live_arenas",
                               "arena_bytes", "live_tokens",
                               "live_go_handles")}
    print("attack_host.py: counters %s (handlers completed %d; second "
          "Content-Length refused %d times)"
          % (" ".join("%s=%d" % kv for kv in live.items()),
             st["requests_served"], ExpectedRefusal.count), flush=True)
    if any(live.values()):
        print("attack_host.py: FAIL: live counters not at zero", flush=True)
        return 1
    print("attack_host.py: live counters at zero", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
