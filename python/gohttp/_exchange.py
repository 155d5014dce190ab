"""Request, ResponseWriter and Headers: the Python view of one exchange.

Lifetime rule (the reason this file exists): both objects are valid only
while their handler runs.  The C request view they are built from lives in
an arena that the library frees when the handler returns (push mode) or at
gohttp_done (pull mode).  So:

* nothing here keeps a C pointer past invalidate(): the dispatcher calls
  invalidate() on both objects BEFORE it returns to C, and every arena read
  happens under the Request's lock after checking that it is still live, so
  a thread that the handler started cannot read the arena while it is being
  freed;
* every accessor raises StaleHandleError once the handler returned, even for
  values already copied into Python, so misuse is loud and consistent;
* response calls go to C with the integer handle, which the library rejects
  with GOHTTP_ESTALE after the exchange ended (and which never names another
  request's response: handles are generation-checked).  The C library also
  serializes calls on one response, so a thread writing concurrently with its
  handler cannot interleave bytes.

Strings from the request are decoded as latin-1 (header values, method,
host, proto, remote address: HTTP's byte-preserving convention, like
http.client) except the decoded path, which is UTF-8 with surrogateescape
(URL paths are percent-encoded UTF-8 in practice; surrogateescape keeps any
other byte sequence round-trippable).
"""

import threading
from collections.abc import Mapping

from ._errors import RequestTooLargeError, StaleHandleError, check
from ._gohttp_cffi import ffi, lib

_unpack = ffi.unpack
_from_buffer = ffi.from_buffer

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


def _copy_headers(h, count):
    # (name, value) str pairs out of the C header array (caller holds the
    # Request lock and has checked liveness).
    pairs = []
    for i in range(count):
        e = h[i]
        pairs.append((_unpack(e.name, e.name_len).decode("latin-1"),
                      _unpack(e.value, e.value_len).decode("latin-1")))
    return pairs


class Request:
    """The request being handled.  Attributes are str and copied from the
    C view on first access (lazily: see python/README.md for the
    measurement); the body is read from Go on demand."""

    __slots__ = ("_w", "_req", "_lock", "_live", "_cache", "_body",
                 "_body_eof", "_too_large", "_consumed", "__weakref__")

    def __init__(self, w, req):
        self._w = w            # integer handle; C rejects it once stale
        self._req = req        # C view; dropped in invalidate()
        self._lock = threading.Lock()
        self._live = True
        self._cache = {}
        self._body = None      # bytes once .body was read
        self._body_eof = False
        self._consumed = 0     # body bytes handed out so far (read sizing)
        # Set once a read hit max_body_bytes: the library answers 413 if
        # the handler writes nothing, so the dispatcher must not answer a
        # 500 over it.
        self._too_large = False

    def invalidate(self):
        """Called by the dispatcher before returning to C: from here on no
        access reads the arena (taken under the lock, so an accessor running
        on another thread either finished its copy or sees the flag)."""
        with self._lock:
            self._live = False
            self._req = None

    def _copy(self, key):
        # Copies one field out of the arena, under the lock.
        with self._lock:
            if not self._live:
                raise _stale("Request")
            value = self._cache.get(key)
            if value is not None:
                return value
            r = self._req
            if key == "method":
                value = _unpack(r.method, r.method_len).decode("latin-1")
            elif key == "url":
                value = _unpack(r.url, r.url_len).decode("latin-1")
            elif key == "path":
                value = _unpack(r.path, r.path_len).decode(
                    "utf-8", "surrogateescape")
            elif key == "query":
                value = _unpack(r.raw_query, r.raw_query_len).decode("latin-1")
            elif key == "host":
                value = _unpack(r.host, r.host_len).decode("latin-1")
            elif key == "proto":
                value = _unpack(r.proto, r.proto_len).decode("latin-1")
            elif key == "remote_addr":
                value = _unpack(r.remote_addr, r.remote_addr_len).decode(
                    "latin-1")
            elif key == "content_length":
                n = r.content_length
                value = n if n >= 0 else -1
            elif key == "headers":
                value = Headers(_copy_headers(r.headers, r.header_count))
            else:  # pragma: no cover - programming error
                raise AttributeError(key)
            self._cache[key] = value
            return value

    def _get(self, key):
        if not self._live:
            raise _stale("Request")
        value = self._cache.get(key)
        if value is None:
            value = self._copy(key)
        return value

    method = property(lambda self: self._get("method"),
                      doc="Request method, e.g. 'GET'.")
    url = property(lambda self: self._get("url"),
                   doc="Request target as sent, e.g. '/a%20b?x=1'.")
    path = property(lambda self: self._get("path"),
                    doc="Decoded URL path, e.g. '/a b'.")
    query = property(lambda self: self._get("query"),
                     doc="Raw query string without the '?'.")
    host = property(lambda self: self._get("host"),
                    doc="Host header (or the URL's host).")
    proto = property(lambda self: self._get("proto"),
                     doc="Protocol, e.g. 'HTTP/1.1'.")
    remote_addr = property(lambda self: self._get("remote_addr"),
                           doc="Client address 'ip:port'.")
    headers = property(lambda self: self._get("headers"),
                       doc="Request headers (Headers mapping).")

    @property
    def content_length(self):
        """Declared body length, or None when unknown (chunked)."""
        n = self._get("content_length")
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
            return self._read_all()
        if n == 0 or self._body_eof:
            return b""
        size = min(n, MAX_READ_BUFFER)
        length = self.content_length
        if length is not None:
            # What is left of a declared body, plus one byte so that a
            # body longer than declared still surfaces (Go then errors);
            # at least 1 so that the end is read as end, not skipped.
            size = max(1, min(size, length - self._consumed + 1))
        buf = bytearray(size)
        got = self._read_into(self._w, _from_buffer(buf), size)
        if got == 0:
            self._body_eof = True
            return b""
        self._consumed += got
        del buf[got:]
        return bytes(buf)

    def _read_all(self):
        parts = []
        w = self._w
        buf = bytearray(_READ_CHUNK)
        cbuf = _from_buffer(buf)
        while not self._body_eof:
            got = self._read_into(w, cbuf, _READ_CHUNK)
            if got == 0:
                self._body_eof = True
                break
            self._consumed += got
            parts.append(bytes(buf[:got]))
        return b"".join(parts)

    def _read_into(self, w, cbuf, n):
        try:
            return check(lib.gohttp_read_body(w, cbuf, n), "read body")
        except RequestTooLargeError:
            self._too_large = True
            raise

    @property
    def body(self):
        """The whole (remaining) body as bytes, read once and kept; bounded
        by the server's max_body_bytes (RequestTooLargeError past it)."""
        if not self._live:
            raise _stale("Request")
        if self._body is None:
            self._body = self._read_all()
        return self._body

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


class ResponseWriter:
    """The response being written.  Every method raises StaleHandleError
    after the handler returned."""

    __slots__ = ("_w", "_live", "_started", "_touched", "__weakref__")

    def __init__(self, w):
        self._w = w
        self._live = True
        self._started = False   # status line committed (or body started)
        self._touched = None    # header names set/added, for the 500 path

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

    def set_status(self, code):
        """Send the status line (100..999); a final status only once, before
        the body.  1xx statuses other than 101 (e.g. 103 Early Hints) are
        informational: they go out at once, with the headers set so far,
        and a final status may follow (as in Go's net/http)."""
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError("status must be an int")
        if not 100 <= code <= 999:
            raise ValueError("invalid HTTP status %d" % code)
        check(lib.gohttp_write_header(self._handle(), code), "set_status")
        # Mirrors the library's own rule (lib/exchange.go writeHeader): only
        # a final status commits the response; the 500 path relies on it.
        if code >= 200 or code == 101:
            self._started = True

    def _remember(self, name):
        if self._touched is None:
            self._touched = []
        self._touched.append(name)

    def set_header(self, name, value):
        """Replace header ``name`` with ``value`` (before the body)."""
        n = _header_arg(name, "header name")
        v = _header_arg(value, "header value")
        check(lib.gohttp_set_header(self._handle(), n, len(n), v, len(v)),
              "set_header")
        self._remember(n)

    def add_header(self, name, value):
        """Add one more value to header ``name`` (before the body)."""
        n = _header_arg(name, "header name")
        v = _header_arg(value, "header value")
        check(lib.gohttp_add_header(self._handle(), n, len(n), v, len(v)),
              "add_header")
        self._remember(n)

    def del_header(self, name):
        """Remove header ``name`` (before the body)."""
        n = _header_arg(name, "header name")
        check(lib.gohttp_del_header(self._handle(), n, len(n)), "del_header")

    def write(self, data):
        """Write body bytes (bytes, bytearray, memoryview, or str as UTF-8);
        returns the number of bytes written.  Sends status 200 first if no
        status was set.  ClientDisconnectedError if the client went away."""
        if not self._live:
            raise _stale("ResponseWriter")
        if isinstance(data, str):
            data = data.encode("utf-8")
            n = len(data)
        elif isinstance(data, (bytes, bytearray)):
            n = len(data)
        elif isinstance(data, memoryview):
            if data.c_contiguous:
                n = data.nbytes
            else:
                data = data.tobytes()
                n = len(data)
        else:
            raise TypeError("write() takes bytes, bytearray, memoryview or "
                            "str, not %s" % type(data).__name__)
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
        check(lib.gohttp_flush(self._handle()), "flush")
        self._started = True

    def abort(self):
        """Close the connection when the handler returns instead of
        completing the response."""
        check(lib.gohttp_abort(self._handle()), "abort")

    def __repr__(self):
        return "<gohttp.ResponseWriter%s>" % ("" if self._live
                                              else " (finished)")
