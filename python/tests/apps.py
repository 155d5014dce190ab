"""WSGI applications used by the tests (importable by child processes as
`apps:NAME`).  Each is exported wrapped in wsgiref.validate.validator."""

import json
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
