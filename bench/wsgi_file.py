"""The 10 KB file row's WSGI app: GET /static/NAME answers the file NAME of
the directory in GOHTTP_BENCH_WWW, read on every request, as a Python
handler that serves files would.  With --static /static=DIR, Go's file
server answers those paths and this app never sees them."""

import os

WWW = os.environ.get("GOHTTP_BENCH_WWW", ".")


def app(environ, start_response):
    name = environ["PATH_INFO"].rpartition("/static/")[2]
    if "/" in name or not name:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    with open(os.path.join(WWW, name), "rb") as f:
        data = f.read()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(data)))])
    return [data]
