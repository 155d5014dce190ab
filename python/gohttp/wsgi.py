"""PEP 3333 (WSGI) server on Go's net/http through gohttp.

    from gohttp.wsgi import serve
    serve(app, host="127.0.0.1", port=8000)

or, from a shell, ``python -m gohttp package.module:app --bind HOST:PORT``.

The application runs as an ordinary gohttp handler (route "/", which Go's
ServeMux matches for every path), so it inherits the binding's rules: the
GIL is released while Go writes, the Request/ResponseWriter are stale after
the call, and an exception before any byte was sent becomes a logged 500.

Conventions chosen where PEP 3333 leaves room (all as in gunicorn/wsgiref):
* PATH_INFO is the raw request path percent-decoded to bytes and decoded as
  latin-1 ("bytes in a str"), SCRIPT_NAME is "".
* Repeated headers are joined with "," (Cookie with "; "); header names
  containing "_" are dropped, since "X_User" and "X-User" would otherwise
  both become HTTP_X_USER (a header-spoofing vector behind proxies).
* The environ is built by the extension's C code in one pass; status,
  headers and the body of a list or tuple response go to the library in
  one call.  Headers are sent with the first non-empty body chunk (or when
  the iterable ends); each chunk of a streamed (non-list) iterable is
  flushed to the client as it is produced.
* Never more than Content-Length bytes are sent when the application
  declares one; a 1xx/204/304 response sends no body.
"""

import logging
import sys

from ._errors import ClientDisconnectedError, GohttpError, check, error_for
from ._exchange import Body
from ._gohttp_cffi import ffi, lib
from ._server import DEFAULT_DRAIN_TIMEOUT, Server, respond_500, run
from . import _native

__all__ = ["WSGIHandler", "WSGIInput", "make_server", "serve"]

logger = logging.getLogger("gohttp")

_environ = _native.environ
_respond = _native.respond
_write = lib.gohttp_write
_flush = lib.gohttp_flush

_LINE_CHUNK = 8192
# Most one _fill asks Go for (Body.read caps its own buffer too).
_FILL_CHUNK = 1024 * 1024
_TOO_LARGE_HEADERS = ((b"Connection", b"close"),)


class WSGIInput:
    """wsgi.input: the request body streamed from Go (read, readline,
    readlines, iteration).  Never reads past the body's end."""

    __slots__ = ("_body", "_buf", "_eof")

    def __init__(self, body):
        self._body = body      # _exchange.Body of the exchange
        self._buf = bytearray()
        self._eof = False

    def _fill(self, want):
        # Appends up to `want` more bytes to the buffer; False at the end.
        # `want` may be huge (read(size) with size from CONTENT_LENGTH or
        # sys.maxsize): one fill asks for at most _FILL_CHUNK and callers
        # loop, so the buffer only ever grows by bytes actually received.
        if self._eof:
            return False
        chunk = self._body.read(min(want, _FILL_CHUNK))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def read(self, size=-1):
        """Up to size bytes (all remaining if size is None or < 0)."""
        if size is None or size < 0:
            while self._fill(65536):
                pass
            out = bytes(self._buf)
            self._buf.clear()
            return out
        while len(self._buf) < size and self._fill(size - len(self._buf)):
            pass
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def readline(self, size=-1):
        """One line including its b"\\n" (at most size bytes if size >= 0;
        None means no limit, as for io objects)."""
        if size is None:
            size = -1
        start = 0
        while True:
            nl = self._buf.find(b"\n", start)
            if nl >= 0:
                end = nl + 1
                break
            if 0 <= size <= len(self._buf):
                end = size
                break
            start = len(self._buf)
            if not self._fill(_LINE_CHUNK):
                end = len(self._buf)
                break
        if 0 <= size < end:
            end = size
        out = bytes(self._buf[:end])
        del self._buf[:end]
        return out

    def readlines(self, hint=-1):
        """Lines until the end (or until about hint bytes were read)."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _Response:
    """The start_response/write state of one WSGI call on exchange w."""

    __slots__ = ("w", "body", "status", "headers", "sent", "remaining",
                 "no_body")

    def __init__(self, w, body):
        self.w = w
        self.body = body        # _exchange.Body (for its failed status)
        self.status = None
        self.headers = None
        self.sent = False
        self.remaining = None   # bytes still allowed by Content-Length
        self.no_body = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    # PEP 3333: too late to change anything; re-raise.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the traceback cycle
        elif self.status is not None:
            raise AssertionError("start_response called twice without "
                                 "exc_info")
        if not isinstance(status, str) or len(status) < 4 or \
                not status[:3].isdigit() or status[3] != " ":
            raise ValueError("invalid WSGI status %r" % (status,))
        if not isinstance(headers, list):
            raise TypeError("response headers must be a list")
        for item in headers:
            if not (isinstance(item, tuple) and len(item) == 2 and
                    isinstance(item[0], str) and isinstance(item[1], str)):
                raise TypeError("response header %r is not a (str, str) "
                                "tuple" % (item,))
        self.status = status
        self.headers = headers
        return self.write

    def _trim(self, data):
        # What Content-Length still allows of data.
        left = self.remaining
        if left is None:
            return data
        if len(data) > left:
            data = data[:left]
        self.remaining = left - len(data)
        return data

    def send(self, data):
        """Commit status, headers and the first body bytes (data, or None)
        in one library call."""
        if self.status is None:
            raise AssertionError("the application wrote a body before "
                                 "calling start_response")
        code = int(self.status[:3])
        if code >= 500 and self.body.failed:
            # The app failed because a wsgi.input read failed (over
            # max_body_bytes, stalled past body_read_timeout, malformed)
            # and rendered a generic error page (what frameworks do with
            # an unexpected OSError): the fault is the client's, so it gets
            # 413, 408 or 400, with the app's page as the body.
            code = self.body.failed
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == "content-length":
                if not value.isdigit():
                    raise ValueError("bad Content-Length %r" % value)
                self.remaining = int(value)
        self.no_body = code < 200 or code in (204, 304)
        if self.no_body or not data:
            data = None
        else:
            data = self._trim(data)
        rc = _respond(self.w, code, self.headers, data)
        # EINVAL (a header refused, e.g. a second Content-Length): nothing
        # was sent, so fail() can still answer 500.
        self.sent = rc != lib.GOHTTP_EINVAL
        if rc < 0:
            raise error_for(rc, "respond")

    def write(self, data):
        """The write() callable and the iterable's sink."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("WSGI body chunks must be bytes, not %s"
                            % type(data).__name__)
        if not self.sent:
            self.send(data)
            return
        if self.no_body or not data:
            return
        data = self._trim(data)
        if data:
            if type(data) is not bytes:
                data = bytes(data)
            rc = _write(self.w, data, len(data))
            if rc < 0:
                check(rc, "write")

    def fail(self, exc):
        """The application (or the response) raised: 500 if nothing was
        sent, else close the connection; the library's 413, 408 or 400
        stands after a failed body read when nothing was sent."""
        w = self.w
        if isinstance(exc, ClientDisconnectedError):
            logger.debug("client went away: %s", exc)
            lib.gohttp_abort(w)
            return
        failed = self.body.failed
        if not self.sent and failed:
            logger.info("request body failed: %s (answered %d)", exc, failed)
            return
        logger.error("exception in WSGI application",
                     exc_info=(type(exc), exc, exc.__traceback__))
        if self.sent or respond_500(w) < 0:
            lib.gohttp_abort(w)


class WSGIHandler:
    """Runs a WSGI application for gohttp exchanges.  server_name and
    port_of (a callable giving the bound port) fill SERVER_NAME/PORT;
    max_body_bytes lets a declared-too-large body get 413 before the
    application runs.

    Registered with make_server, the server hands it the raw exchange
    (serve_exchange): the environ is built by the extension's C code in
    one pass, and a list or tuple response goes to the library in one
    call.  As a plain gohttp handler (w, req) it does the same."""

    def __init__(self, app, server_name="127.0.0.1", port_of=lambda: 0,
                 max_body_bytes=None, url_scheme="http"):
        self.app = app
        self.url_scheme = url_scheme
        self.server_name = server_name
        self.port_of = port_of
        self.max_body_bytes = max_body_bytes
        self._base = None

    def _base_environ(self):
        # The keys every request shares; kept once the port is known.
        base = self._base
        if base is None:
            port = self.port_of()
            base = {
                "SCRIPT_NAME": "",
                "SERVER_NAME": self.server_name,
                "SERVER_PORT": str(port),
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": self.url_scheme,
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            if port:
                self._base = base
        return base

    def environ(self, w):
        """The PEP 3333 environ of exchange w (from the thread that is
        dispatching it, while it runs)."""
        w = getattr(w, "_w", w)
        env = _environ(w, self._base_environ())
        length = env.get("CONTENT_LENGTH")
        env["wsgi.input"] = WSGIInput(Body(
            w, None if length is None else int(length)))
        return env

    def serve_exchange(self, w):
        """Run the application for exchange w; never raises."""
        resp = None
        try:
            env = _environ(w, self._base_environ())
            length = env.get("CONTENT_LENGTH")
            if length is not None:
                length = int(length)
                limit = self.max_body_bytes
                if limit is not None and length > limit:
                    _respond(w, 413, _TOO_LARGE_HEADERS, None)
                    return
            body = Body(w, length)
            env["wsgi.input"] = WSGIInput(body)
            resp = _Response(w, body)
            result = self.app(env, resp.start_response)
            try:
                if type(result) is list or type(result) is tuple:
                    if not result:
                        data = None
                    elif len(result) == 1:
                        data = result[0]
                    else:
                        data = b"".join(result)
                    if not isinstance(data, (bytes, bytearray)) and \
                            data is not None:
                        raise TypeError("WSGI body chunks must be bytes, "
                                        "not %s" % type(data).__name__)
                    if resp.sent:
                        if data:
                            resp.write(data)
                    else:
                        resp.send(data)
                else:
                    for chunk in result:
                        if chunk:
                            resp.write(chunk)
                            # Each block goes to the client as it comes
                            # (PEP 3333), except after the one that
                            # completes a declared Content-Length: that
                            # response is whole and leaves with the return.
                            if not resp.no_body and resp.remaining != 0:
                                check(_flush(w), "flush")
                    if not resp.sent:
                        resp.send(None)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            if resp is None:
                resp = _Response(w, Body(w, None))
            try:
                resp.fail(exc)
            except GohttpError:
                pass

    def __call__(self, rw, req):
        # As a plain (w, req) handler: the same exchange, by its handle.
        self.serve_exchange(rw._w)


def make_server(app, *, server_name="127.0.0.1", **server_options):
    """A gohttp Server (not started) whose every path goes to app."""
    srv = Server(**server_options)
    handler = WSGIHandler(app, server_name, lambda: srv.port,
                          srv.max_body_bytes,
                          "https" if srv.tls else "http")
    srv._add_route("/", handler.serve_exchange, exchange=True)
    return srv


def serve(app, host="127.0.0.1", port=8000, *,
          drain_timeout=DEFAULT_DRAIN_TIMEOUT, ready=None, **server_options):
    """Serve app until SIGINT/SIGTERM or gohttp.shutdown-style stop, then
    drain and return (see gohttp.run)."""
    srv = make_server(app, server_name=host, **server_options)
    return run(host, port, server=srv, drain_timeout=drain_timeout,
               ready=ready)
