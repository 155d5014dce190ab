"""make bench's raw WSGI hello: the smallest complete WSGI application,
so a row measures the server and its WSGI bridge, not a framework."""

BODY = b"Hello, world.\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "14")]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
