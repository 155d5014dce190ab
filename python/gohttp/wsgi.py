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
* Headers are sent with the first non-empty body chunk (or when the
  iterable ends); each chunk of a streamed (non-list) iterable is flushed to
  the client as it is produced.
* Never more than Content-Length bytes are sent when the application
  declares one; a 1xx/204/304 response sends no body.
"""

import sys
from urllib.parse import unquote_to_bytes

from ._server import DEFAULT_DRAIN_TIMEOUT, Server, run

__all__ = ["WSGIHandler", "WSGIInput", "make_server", "serve"]

_LINE_CHUNK = 8192
# Most one _fill asks Go for (Request.read caps its own buffer too).
_FILL_CHUNK = 1024 * 1024


class WSGIInput:
    """wsgi.input: the request body streamed from Go (read, readline,
    readlines, iteration).  Never reads past the body's end."""

    def __init__(self, req):
        self._req = req
        self._buf = bytearray()
        self._eof = False

    def _fill(self, want):
        # Appends up to `want` more bytes to the buffer; False at the end.
        # `want` may be huge (read(size) with size from CONTENT_LENGTH or
        # sys.maxsize): one fill asks for at most _FILL_CHUNK and callers
        # loop, so the buffer only ever grows by bytes actually received.
        if self._eof:
            return False
        chunk = self._req.read(min(want, _FILL_CHUNK))
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


def _split_addr(addr):
    # "1.2.3.4:5678" / "[::1]:5678" -> (host, port)
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _path_info(url):
    # The request-target as sent: origin form "/p?q", absolute form
    # "http://h/p?q", or "*".  PATH_INFO is its path, %-decoded to bytes,
    # as latin-1 (PEP 3333's native-string rule).
    raw = url.split("?", 1)[0]
    if not raw.startswith("/") and "://" in raw:
        rest = raw.split("://", 1)[1]
        slash = rest.find("/")
        raw = rest[slash:] if slash >= 0 else "/"
    return unquote_to_bytes(raw).decode("latin-1")


class _Response:
    """The start_response/write state of one WSGI call."""

    __slots__ = ("w", "req", "status", "headers", "sent", "remaining",
                 "no_body")

    def __init__(self, w, req):
        self.w = w
        self.req = req
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

    def send_headers(self):
        """Commit status and headers (once)."""
        if self.sent:
            return
        if self.status is None:
            raise AssertionError("the application wrote a body before "
                                 "calling start_response")
        code = int(self.status[:3])
        if code >= 500 and self.req._too_large:
            # The app failed because wsgi.input hit max_body_bytes and
            # rendered a generic error page (what frameworks do with an
            # unexpected OSError): the client's fault is the body size, so
            # it gets 413, with the app's page as the body.
            code = 413
        w = self.w
        for name, value in self.headers:
            if name.lower() == "content-length":
                try:
                    self.remaining = int(value)
                except ValueError:
                    raise ValueError("bad Content-Length %r" % value) \
                        from None
            w.add_header(name, value)
        self.no_body = code < 200 or code in (204, 304)
        w.set_status(code)
        self.sent = True

    def write(self, data):
        """The write() callable and the iterable's sink."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("WSGI body chunks must be bytes, not %s"
                            % type(data).__name__)
        if not self.sent:
            self.send_headers()
        if self.no_body or not data:
            return
        if self.remaining is not None:
            if self.remaining <= 0:
                return
            if len(data) > self.remaining:
                data = data[:self.remaining]
            self.remaining -= len(data)
        self.w.write(data)


class WSGIHandler:
    """A gohttp handler that calls a WSGI application.  server_name and
    port_of (a callable giving the bound port) fill SERVER_NAME/PORT;
    max_body_bytes lets a declared-too-large body get 413 before the
    application runs."""

    def __init__(self, app, server_name="127.0.0.1", port_of=lambda: 0,
                 max_body_bytes=None):
        self.app = app
        self.server_name = server_name
        self.port_of = port_of
        self.max_body_bytes = max_body_bytes

    def environ(self, req):
        """The PEP 3333 environ for req."""
        remote_host, remote_port = _split_addr(req.remote_addr)
        env = {
            "REQUEST_METHOD": req.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _path_info(req.url),
            "QUERY_STRING": req.query,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": str(self.port_of()),
            "SERVER_PROTOCOL": req.proto,
            "REMOTE_ADDR": remote_host,
            "REMOTE_PORT": remote_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": WSGIInput(req),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        length = req.content_length
        if length is not None:
            env["CONTENT_LENGTH"] = str(length)
        else:
            # Chunked body: Go de-chunks it and wsgi.input returns b"" at
            # its end, so frameworks may read to EOF without a length (as
            # Werkzeug's own server signals for chunked requests only).
            env["wsgi.input_terminated"] = True
        host = req.host
        if host:
            env["HTTP_HOST"] = host
        headers = req.headers
        for name in headers:
            if "_" in name:
                continue
            low = name.lower()
            values = headers.get_all(name)
            if low == "content-type":
                env["CONTENT_TYPE"] = values[0]
                continue
            if low == "content-length" or low == "host":
                continue
            joined = ("; " if low == "cookie" else ",").join(values)
            env["HTTP_" + name.upper().replace("-", "_")] = joined
        return env

    def __call__(self, w, req):
        limit = self.max_body_bytes
        if limit is not None and (req.content_length or 0) > limit:
            w.set_header("Connection", "close")
            w.set_status(413)
            return
        env = self.environ(req)
        resp = _Response(w, req)
        result = self.app(env, resp.start_response)
        try:
            stream = not isinstance(result, (list, tuple))
            for chunk in result:
                if chunk:
                    resp.write(chunk)
                    if stream and not resp.no_body:
                        w.flush()
            if not resp.sent:
                resp.send_headers()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def make_server(app, *, server_name="127.0.0.1", **server_options):
    """A gohttp Server (not started) whose every path goes to app."""
    srv = Server(**server_options)
    handler = WSGIHandler(app, server_name, lambda: srv.port,
                          srv.max_body_bytes)
    srv.route("/", handler)
    return srv


def serve(app, host="127.0.0.1", port=8000, *,
          drain_timeout=DEFAULT_DRAIN_TIMEOUT, ready=None, **server_options):
    """Serve app until SIGINT/SIGTERM or gohttp.shutdown-style stop, then
    drain and return (see gohttp.run)."""
    srv = make_server(app, server_name=host, **server_options)
    return run(host, port, server=srv, drain_timeout=drain_timeout,
               ready=ready)
