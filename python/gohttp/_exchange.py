"""Request, ResponseWriter and Headers: the Python view of one exchange.

Lifetime rule (the reason this file exists): both objects are valid only
while their handler runs.  The C request view lives in an arena that the
library frees when the exchange ends, so:

* Request copies every field out of the arena when it is made, in ONE call
  into the extension's C code (gohttp_native.c ``request``), on the thread
  that runs the dispatcher, while the exchange is that thread's current
  one; afterwards nothing reads the arena;
* every accessor raises StaleHandleError once the handler returned, even for
  values already copied, so misuse is loud and consistent;
* response calls go to C with the integer handle, which the library rejects
  with GOHTTP_ESTALE after the exchange ended (and which never names another
  request's response: handles are generation-checked).  The C library also
  serializes calls on one response.

ResponseWriter keeps the status and headers a handler sets until the first
body byte, flush() or the handler's return, and then hands status, headers
and body to the library in ONE call (gohttp_respond); headers are checked
against the library's rules when they are set, so a bad one still raises
at the call that set it.

Strings from the request are decoded as latin-1 (header values, method,
host, proto, remote address: HTTP's byte-preserving convention, like
http.client) except the decoded path, which is UTF-8 with surrogateescape.
"""

from collections.abc import Mapping

from ._errors import (BODY_FAILURES, HeadersSentError, StaleHandleError,
                      body_failure_status, check, error_for)
from ._gohttp_cffi import ffi, lib
from . import _native

_from_buffer = ffi.from_buffer
_respond = _native.respond
_header_problem = _native.header_problem
_request_fields = _native.request

# Reads of the body go through one bytearray per call; 64 KiB matches what
# Go's server reads per syscall and keeps small bodies to one C call.
_READ_CHUNK = 65536
# Largest buffer one read(n) allocates, whatever n is: read(n) is "up to n
# bytes", so a caller's huge n (say a declared Content-Length of 5 GB, or
# sys.maxsize) must not become a huge allocation (MemoryError) up front.
# One C read returns what Go has at hand, far below this in practice.
MAX_READ_BUFFER = 1024 * 1024


def _stale(what):
    return StaleHandleError(
        116, "%s used after its handler returned: stale handle" % what)


class Headers(Mapping):
    """Case-insensitive, multi-valued, read-only mapping of request headers.

    ``h[name]`` gives the first value (KeyError if absent), ``get_all(name)``
    every value in order, iteration the distinct names in canonical form,
    ``items_all()`` every (name, value) pair as received.  Values are str.
    """

    __slots__ = ("_pairs", "_index")

    def __init__(self, pairs=()):
        self._pairs = list(pairs)
        index = {}
        for name, value in self._pairs:
            index.setdefault(name.lower(), []).append(value)
        self._index = index

    def __getitem__(self, name):
        values = self._index.get(name.lower()) if isinstance(name, str) else None
        if not values:
            raise KeyError(name)
        return values[0]

    def get_all(self, name, default=None):
        """Every value of header ``name`` in order, or ``default``."""
        values = self._index.get(name.lower())
        return list(values) if values else ([] if default is None else default)

    getlist = get_all

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self):
        seen = set()
        for name, _ in self._pairs:
            low = name.lower()
            if low not in seen:
                seen.add(low)
                yield name

    def __len__(self):
        return len(self._index)

    def items_all(self):
        """Every (name, value) pair, repeated names included, in order."""
        return list(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % (self._pairs,)


class Body:
    """The request body of exchange w, read from Go on demand (the GIL is
    released while Go reads).  Shared by Request and wsgi.input."""

    __slots__ = ("_w", "_length", "_consumed", "eof", "failed")

    def __init__(self, w, length):
        self._w = w
        self._length = length   # declared Content-Length, None if unknown
        self._consumed = 0      # bytes handed out so far (read sizing)
        self.eof = False
        # Once a read failed through the client's fault, the status the
        # library answers if the handler writes nothing (413, 408 or 400:
        # body_failure_status), so no 500 may be answered over it; else 0.
        self.failed = 0

    def read(self, n):
        """Up to n (> 0) bytes, b"" at the end; at most MAX_READ_BUFFER."""
        if self.eof:
            return b""
        size = min(n, MAX_READ_BUFFER)
        length = self._length
        if length is not None:
            # What is left of a declared body, plus one byte so that a
            # body longer than declared still surfaces (Go then errors);
            # at least 1 so that the end is read as end, not skipped.
            size = max(1, min(size, length - self._consumed + 1))
        buf = bytearray(size)
        got = self._read_into(_from_buffer(buf), size)
        if got == 0:
            self.eof = True
            return b""
        self._consumed += got
        del buf[got:]
        return bytes(buf)

    def read_all(self):
        parts = []
        buf = bytearray(_READ_CHUNK)
        cbuf = _from_buffer(buf)
        while not self.eof:
            got = self._read_into(cbuf, _READ_CHUNK)
            if got == 0:
                self.eof = True
                break
            self._consumed += got
            parts.append(bytes(buf[:got]))
        return b"".join(parts)

    def _read_into(self, cbuf, n):
        try:
            return check(lib.gohttp_read_body(self._w, cbuf, n), "read body")
        except BODY_FAILURES as exc:
            self.failed = body_failure_status(exc)
            raise


class Request:
    """The request being handled.  Its fields are copied from the C view
    when it is made; the body is read from Go on demand."""

    __slots__ = ("_w", "_live", "_fields", "_headers", "_body", "_all",
                 "__weakref__")

    def __init__(self, w):
        self._w = w            # integer handle; C rejects it once stale
        self._live = True
        # (method, url, path, query, host, proto, remote_addr,
        #  content_length, [(name, value), ...], scheme); raises StaleHandleError
        # unless w is the exchange this thread is dispatching.
        self._fields = fields = _request_fields(w)
        self._headers = None   # Headers, made on first use
        length = fields[7]
        self._body = Body(w, length if length >= 0 else None)
        self._all = None       # bytes once .body was read

    @property
    def _body_failed(self):
        return self._body.failed

    def invalidate(self):
        """Called by the dispatcher before returning to C."""
        self._live = False

    def _field(self, i):
        if not self._live:
            raise _stale("Request")
        return self._fields[i]

    method = property(lambda self: self._field(0),
                      doc="Request method, e.g. 'GET'.")
    url = property(lambda self: self._field(1),
                   doc="Request target as sent, e.g. '/a%20b?x=1'.")
    path = property(lambda self: self._field(2),
                    doc="Decoded URL path, e.g. '/a b'.")
    query = property(lambda self: self._field(3),
                     doc="Raw query string without the '?'.")
    host = property(lambda self: self._field(4),
                    doc="Host header (or the URL's host).")
    proto = property(lambda self: self._field(5),
                     doc="Protocol, e.g. 'HTTP/1.1'.")
    remote_addr = property(lambda self: self._field(6),
                           doc="Client address 'ip:port' (from a trusted "
                           "proxy's X-Forwarded-For: Server's "
                           "forwarded_allow_ips).")
    scheme = property(lambda self: self._field(9),
                      doc="'https' or 'http': the server's, or a trusted "
                      "proxy's X-Forwarded-Proto.")

    @property
    def headers(self):
        """Request headers (Headers mapping)."""
        pairs = self._field(8)
        if self._headers is None:
            self._headers = Headers(pairs)
        return self._headers

    @property
    def content_length(self):
        """Declared body length, or None when unknown (chunked)."""
        n = self._field(7)
        return None if n < 0 else n

    def read(self, n=-1):
        """Read up to n bytes of the body (all remaining if n < 0 or None);
        b"" only at the end.  Like a raw stream read it returns as soon as
        some bytes are there, and never more than MAX_READ_BUFFER (1 MiB)
        per call, so any n is safe: loop until b"" for the whole body.
        Raises RequestTooLargeError past max_body_bytes and
        ClientDisconnectedError if the client went away."""
        if not self._live:
            raise _stale("Request")
        if n is None or n < 0:
            return self._body.read_all()
        if n == 0:
            return b""
        return self._body.read(n)

    @property
    def body(self):
        """The whole (remaining) body as bytes, read once and kept; bounded
        by the server's max_body_bytes (RequestTooLargeError past it)."""
        if not self._live:
            raise _stale("Request")
        if self._all is None:
            self._all = self._body.read_all()
        return self._all

    def path_value(self, name):
        """Value of the path wildcard ``name`` ('id' in '/items/{id}'), ''
        if the pattern has no such wildcard."""
        if not self._live:
            raise _stale("Request")
        key = name.encode("utf-8")
        if b"\0" in key:
            raise ValueError("path_value: NUL in wildcard name")
        cap = 256
        while True:
            buf = bytearray(cap)
            n = check(lib.gohttp_path_value(self._w, key, _from_buffer(buf),
                                            cap), "path_value")
            if n < cap:
                return bytes(buf[:n]).decode("utf-8", "surrogateescape")
            cap = n + 1

    def __repr__(self):
        if not self._live:
            return "<gohttp.Request (finished)>"
        return "<gohttp.Request %s %s>" % (self.method, self.url)


def _header_arg(value, what):
    # Header names/values are latin-1 on the wire; str outside latin-1 is a
    # caller error (ValueError), as are CR/LF/NUL (rejected by C).
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("%s %r is not latin-1" % (what, value)) from None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, int) and not isinstance(value, bool) and \
            what == "header value":
        return str(value).encode("ascii")
    raise TypeError("%s must be str or bytes, not %s"
                    % (what, type(value).__name__))


def _check_header(name, value):
    """Raise ValueError where the library would refuse the header."""
    problem = _header_problem(name, value)
    if problem is not None:
        raise ValueError("%s: %r" % (problem, name if value is None
                                      else (name, value)))


def _headers_sent(what):
    return HeadersSentError(22, "%s: call not valid in this state "
                            "(headers already sent)" % what)


class ResponseWriter:
    """The response being written.  Every method raises StaleHandleError
    after the handler returned."""

    __slots__ = ("_w", "_live", "_started", "_status", "_pending",
                 "_committed", "_touched", "_complete", "__weakref__")

    def __init__(self, w):
        self._w = w
        self._live = True
        self._started = False   # final status set or body started
        self._status = 0        # final status not yet given to the library
        self._pending = []      # (name, value) bytes not yet given to it
        self._committed = False  # the library has status/headers/body
        self._touched = []      # header names given to the library
        # A 204 or 304 went out: the response is whole, a refused body
        # write does not make it a failed one.
        self._complete = False

    def invalidate(self):
        """Called by the dispatcher before returning to C."""
        self._live = False

    @property
    def headers_sent(self):
        """True once a final status was set or body bytes were written.  A
        1xx informational status (other than 101) does not count: the final
        status is still to come, so a handler that fails after 103 Early
        Hints still gets a 500."""
        return self._started

    def _handle(self):
        if not self._live:
            raise _stale("ResponseWriter")
        return self._w

    def _commit(self, status, body, what):
        """Give the library the pending status and headers (and body) in
        one call; returns the body bytes written."""
        pending = self._pending
        if pending:
            self._touched.extend([name for name, _ in pending])
        self._pending = []
        self._status = 0
        rc = _respond(self._w, status, pending, body)
        # EINVAL: refused before anything changed; any other outcome may
        # have sent something, so later calls go straight to the library.
        if rc != lib.GOHTTP_EINVAL:
            self._committed = True
        if status in (204, 304) and rc in (0, lib.GOHTTP_ESTATE):
            self._started = self._complete = True
        if rc < 0:
            raise error_for(rc, what)
        if body is not None or status >= 200 or status == 101:
            self._started = True
        return rc

    def set_status(self, code):
        """Set the status (100..999); a final status only once, before the
        body.  1xx statuses other than 101 (e.g. 103 Early Hints) are
        informational: they go out at once, with the headers set so far,
        and a final status may follow (as in Go's net/http)."""
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError("status must be an int")
        if not 100 <= code <= 999:
            raise ValueError("invalid HTTP status %d" % code)
        self._handle()
        final = code >= 200 or code == 101
        if self._started:
            raise _headers_sent("set_status(%d)" % code)
        if not final:
            self._commit(code, None, "set_status")
            return
        if self._committed:
            check(lib.gohttp_write_header(self._w, code), "set_status")
            self._complete = code in (204, 304)
        else:
            self._status = code
        self._started = True

    def _header_call(self, name, value, what):
        # Validated bytes of a header call on a live, not yet sent response.
        n = _header_arg(name, "header name")
        v = None if value is None else _header_arg(value, "header value")
        self._handle()
        if self._started and not self._committed:
            raise _headers_sent("%s %s" % (what, n.decode("latin-1")))
        _check_header(n, v)
        return n, v

    def _forget(self, name):
        low = name.lower()
        self._pending = [p for p in self._pending if p[0].lower() != low]

    def set_header(self, name, value):
        """Replace header ``name`` with ``value`` (before the body)."""
        n, v = self._header_call(name, value, "set_header")
        if self._committed:
            check(lib.gohttp_set_header(self._w, n, len(n), v, len(v)),
                  "set_header")
            self._touched.append(n)
            return
        self._forget(n)
        self._pending.append((n, v))

    def add_header(self, name, value):
        """Add one more value to header ``name`` (before the body)."""
        n, v = self._header_call(name, value, "add_header")
        if n.lower() == b"content-length" and any(
                p[0].lower() == b"content-length" for p in self._pending):
            # The library refuses a second one at the call (it would
            # split the response on a keep-alive connection).
            raise ValueError("add_header: a second Content-Length")
        if self._committed:
            check(lib.gohttp_add_header(self._w, n, len(n), v, len(v)),
                  "add_header")
            self._touched.append(n)
            return
        self._pending.append((n, v))

    def del_header(self, name):
        """Remove header ``name`` (before the body)."""
        n, _ = self._header_call(name, None, "del_header")
        if self._committed:
            check(lib.gohttp_del_header(self._w, n, len(n)), "del_header")
            return
        self._forget(n)

    def write(self, data):
        """Write body bytes (bytes, bytearray, memoryview, or str as UTF-8);
        returns the number of bytes written.  Sends status 200 first if no
        status was set.  ClientDisconnectedError if the client went away."""
        if not self._live:
            raise _stale("ResponseWriter")
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif isinstance(data, memoryview):
            data = data.tobytes()
        elif not isinstance(data, (bytes, bytearray)):
            raise TypeError("write() takes bytes, bytearray, memoryview or "
                            "str, not %s" % type(data).__name__)
        n = len(data)
        if not self._committed:
            return self._commit(self._status, data, "write")
        # The C library copies the bytes before returning (gohttp.h
        # ownership rule), so the buffer need only live for the call.
        if type(data) is not bytes:
            data = _from_buffer(data) if n else ffi.NULL
        rc = lib.gohttp_write(self._w, data, n)
        if rc < 0:
            check(rc, "write")
        self._started = True
        return rc

    def flush(self):
        """Send buffered body bytes to the client now."""
        w = self._handle()
        if not self._committed:
            self._commit(self._status, None, "flush")
        check(lib.gohttp_flush(w), "flush")
        self._started = True

    def abort(self):
        """Close the connection when the handler returns instead of
        completing the response."""
        check(lib.gohttp_abort(self._handle()), "abort")

    def _finish(self):
        """The handler returned: hand over what it set and never sent."""
        if not self._committed and (self._status or self._pending):
            self._commit(self._status, None, "respond")

    def __repr__(self):
        return "<gohttp.ResponseWriter%s>" % ("" if self._live
                                              else " (finished)")
