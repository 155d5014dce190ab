"""WSGI applications used by the tests (importable by child processes as
`apps:NAME`).  Each is exported wrapped in wsgiref.validate.validator."""

import json
import os
import sys
import time
from wsgiref.validate import validator


@validator
def slow_app(environ, start_response):
    """Prints 'in slow_app' (so a test knows the request is inside the
    app), sleeps 1 s, then answers 'slow <query>': used for drain tests."""
    sys.stdout.write("in slow_app\n")     # one write: threads interleave
    sys.stdout.flush()
    time.sleep(1.0)
    body = ("slow " + environ["QUERY_STRING"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _echo(environ, start_response):
    """Answers a JSON dump of the str/bool/int environ values and the
    body, read with the wsgi.input method named by ?read=..."""
    stream = environ["wsgi.input"]
    how = environ["QUERY_STRING"].partition("read=")[2] or "read"
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if how == "read":
        body = [stream.read(length).decode("latin-1")]
    elif how == "readline":
        body = []
        while True:
            line = stream.readline()
            if not line:
                break
            body.append(line.decode("latin-1"))
    elif how == "readlines":
        body = [line.decode("latin-1") for line in stream.readlines()]
    elif how == "iter":
        body = [line.decode("latin-1") for line in stream]
    else:
        body = []
        while True:
            chunk = stream.read(3)
            if not chunk:
                break
            body.append(chunk.decode("latin-1"))
    env = {k: v for k, v in environ.items()
           if isinstance(v, (str, bool, int, tuple))}
    out = json.dumps({"environ": env, "body": body}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


echo_app = validator(_echo)


def _pid(environ, start_response):
    """Answers 'pid <worker pid>': tells the worker tests who served."""
    body = b"pid %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _gated(environ, start_response):
    """Holds the request until the test opens a gate: appends a line to
    $GOHTTP_TEST_GATE_DIR/entered on entry, then waits (30 s at most) for
    the file $GOHTTP_TEST_GATE_DIR/open; answers 'done <query> <pid>'.
    Used to keep requests in flight across a signal without timing."""
    gate_dir = os.environ["GOHTTP_TEST_GATE_DIR"]
    with open(os.path.join(gate_dir, "entered"), "a") as f:
        f.write(environ["QUERY_STRING"] + "\n")
    deadline = time.monotonic() + 30.0
    gate = os.path.join(gate_dir, "open")
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    status = "200 OK" if os.path.exists(gate) else "504 Gateway Timeout"
    body = ("done %s %d" % (environ["QUERY_STRING"], os.getpid())).encode()
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]


pid_app = validator(_pid)
gated_app = validator(_gated)


def _netstring(data):
    return b"%d:%s," % (len(data), data)


def _fields(environ, start_response):
    """Answers what the request looked like to a WSGI application, in the
    netstring form lib/fuzz_wsgi_test.go decodes: REQUEST_METHOD,
    SCRIPT_NAME, PATH_INFO and QUERY_STRING, then the count and the
    name/value pairs of CONTENT_TYPE, CONTENT_LENGTH and every HTTP_*
    entry (sorted by name), then the body as wsgi.input read it. The str
    values go back as the bytes they stand for (latin-1, PEP 3333)."""
    out = [_netstring(environ[k].encode("latin-1")) for k in
           ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING")]
    names = sorted(k for k in environ if k.startswith("HTTP_") or
                   k in ("CONTENT_TYPE", "CONTENT_LENGTH"))
    out.append(b"%d:" % len(names))
    for k in names:
        out.append(_netstring(k.encode("latin-1")))
        out.append(_netstring(environ[k].encode("latin-1")))
    out.append(environ["wsgi.input"].read(
        int(environ.get("CONTENT_LENGTH") or 0)))
    body = b"".join(out)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


fields_app = validator(_fields)
