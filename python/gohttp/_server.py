"""Servers, request dispatch (pull and push), run(), and the exit hook.

Two ways carry a request from Go to a Python handler (python/README.md has
the measurements that chose the default):

pull  (default) Python owns ``threads`` worker threads running the
      extension's C loop (gohttp_native.c serve): one of them, the taker,
      takes queued exchanges and runs them one after the other while it
      holds the GIL; the others stay parked until the taker waits inside
      a handler.  Only these threads ever run Python.
push  Go's handler goroutine calls the C gate gohttp_py_push_entry (compiled
      into the extension), which calls the extern "Python" function
      gohttp_py_handler on that Go thread.  At most max_handlers Go threads
      are inside the gate at once (the library's dispatch slots), the rest of
      the requests wait in Go.

Calls that can wait (body reads, writes, flushes, a large one-call
response, the wait for the next request) release the GIL, so a handler
blocked on a slow client does not stop the others.
"""

import atexit
import logging
import os
import signal
import sys
import threading
import time
import weakref

from . import _workers
from ._errors import (ClientDisconnectedError, HeadersSentError,
                      ServerBusyError, body_failure_status, check)
from ._exchange import Request, ResponseWriter
from ._gohttp_cffi import ffi, lib
from . import _native

logger = logging.getLogger("gohttp")

PUSH = "push"
PULL = "pull"
# Chosen by benchmark and by the exit-safety constraints: see README.md.
DEFAULT_DISPATCH = os.environ.get("GOHTTP_DISPATCH", PULL)
DEFAULT_DRAIN_TIMEOUT = 10.0
# How long run() and the exit hook keep waiting for handlers after the
# drain timeout of a shutdown has passed (the library has closed their
# connections by then; only handler code that does not return is left).
_DRAIN_GRACE = 1.0
# How long a pull worker waits in gohttp_next before looking at its stop
# flag again; short so that close() never waits long for a worker.
_NEXT_TIMEOUT_MS = 250
# Total time Server._join_workers gives the pull workers to return once the
# server has stopped (more if the caller's own deadline is later).
_WORKER_JOIN_TIMEOUT = 1.0

_PUSH_ENTRY = ffi.addressof(lib, "gohttp_py_push_entry")

# Thread-local "which server's handler is running on this thread", so that
# Server.wait() called from inside a handler fails fast (EDEADLK) in both
# modes instead of waiting for itself.
_in_handler = threading.local()

_INTERNAL_ERROR = b"Internal Server Error\n"
_ERROR_HEADERS = ((b"Content-Type", b"text/plain; charset=utf-8"),)


def respond_500(w):
    """Answer 500 on the raw handle w in one call, on preallocated
    constants (so it works while memory is short); returns the library's
    code (negative when a final status already went out, or w is stale)."""
    return _native.respond(w, 500, _ERROR_HEADERS, _INTERNAL_ERROR)


# The largest millisecond count the C API takes (int64_t; the library
# refuses more as an out-of-range option).
_MAX_MS = (1 << 63) // 1000000 - 1


def _finite(name, value):
    """value as a number that int() can convert: a bool, a non-number,
    NaN or an infinity is refused here, so the caller sees ValueError (or
    TypeError), never OverflowError or a conversion message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, got %r" % (name, value))
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("%s must be a finite number, got %r" % (name, value))
    return value


def _ms(seconds, what, allow_forever=False):
    # Converts a timeout in seconds to the C API's milliseconds.
    if seconds is None:
        if allow_forever:
            return -1
        raise ValueError("%s: timeout required" % what)
    seconds = _finite("%s: timeout" % what, seconds)
    if seconds < 0:
        raise ValueError("%s: negative timeout" % what)
    ms = int(seconds * 1000)
    if ms > _MAX_MS:
        raise ValueError("%s: timeout %r s is too large" % (what, seconds))
    return ms


def _positive(name, value, scale=1):
    """value * scale as the positive int a gohttp_options field takes.

    The C API reads a 0 field as "use the library default", so a 0 passed
    here would silently mean e.g. a 10 s queue timeout or a 10 MiB body
    limit instead of what the caller wrote: it is refused (ValueError), as
    are negative values; None (handled by the caller) is the way to ask for
    the default.  A positive timeout below one millisecond becomes 1 ms for
    the same reason (int() would round it to 0)."""
    if value is None or isinstance(value, bool):
        raise TypeError("%s must be a number or None" % name)
    value = _finite(name, value)
    if not value > 0:
        raise ValueError("%s must be positive; use None for the library "
                         "default (got %r)" % (name, value))
    scaled = int(value * scale)
    if scaled > (1 << 63) - 1 or (scale > 1 and scaled > _MAX_MS):
        raise ValueError("%s: %r is too large" % (name, value))
    if scaled < 1:
        if scale == 1:
            raise ValueError("%s must be positive; use None for the library "
                             "default (got %r)" % (name, value))
        scaled = 1
    return scaled


def _path_arg(name, value):
    """A path argument as the NUL-free bytes the C API copies."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError("%s must be a path, got %r" % (name, value))
    raw = os.fsencode(value)
    if not raw or b"\0" in raw:
        raise ValueError("%s must be a non-empty path without NUL" % name)
    return raw


def _path_options(opts, pairs):
    """Set each (field, path) of pairs that is not None on opts; returns
    the cffi buffers, which must outlive the gohttp_server_new call."""
    held = []
    for field, value in pairs:
        if value is None:
            continue
        buf = ffi.new("char[]", _path_arg(field, value))
        held.append(buf)
        setattr(opts, field, buf)
    return held


def _allow_list(opts, value):
    """Set opts.forwarded_allow_ips from a str or a list of str; returns
    the cffi buffer, which must outlive the gohttp_server_new call."""
    if isinstance(value, str):
        text = value
    else:
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise TypeError("forwarded_allow_ips must be a str or a list "
                            "of str")
        text = ",".join(items)
    raw = text.encode("ascii", "replace")
    if b"\0" in raw:
        raise ValueError("forwarded_allow_ips contains NUL")
    buf = ffi.new("char[]", raw)  # owner: the caller, until server_new
    opts.forwarded_allow_ips = buf
    return buf


class _Route:
    """What a route's userdata names (push: a cffi handle to it; pull: its
    index in Server._routes).  Kept alive by the Server until gohttp_wait
    returned 0 and the server is freed, as gohttp_route requires.

    ``serve(w)`` runs one exchange and never raises for the handler's own
    errors: for a (w, req) handler it is _dispatch; an exchange handler
    (the WSGI adapter) is called with the raw handle itself."""

    __slots__ = ("fn", "pattern", "server", "serve")

    def __init__(self, fn, pattern, server, exchange=False):
        self.fn = fn
        self.pattern = pattern
        self.server = server
        self.serve = fn if exchange else self._dispatch

    def _dispatch(self, w):
        _dispatch(self, w)


def _fail(rw, exc, route, rq=None):
    """Answer for a handler that raised: 500 if no final status was sent
    yet (whatever the handler had set but not sent is dropped), otherwise
    close the connection (gohttp_abort) so the client sees a truncated
    response, never a complete-looking one.  After a body read failed
    through the client's fault (rq._body_failed: over max_body_bytes, a
    stall past body_read_timeout, a malformed body) the library answers
    413, 408 or 400 when the handler sent nothing, so whatever the handler
    raised then, nothing is written here and that status is the answer."""
    if isinstance(exc, ClientDisconnectedError):
        logger.debug("client went away during %s: %s", route.pattern, exc)
        _abort_quietly(rw)
        return
    failed = rq._body_failed if rq is not None else 0
    if failed and not rw._started:
        # The library answers the failed body's status itself when nothing
        # was written.
        if body_failure_status(exc) or isinstance(exc, HeadersSentError):
            logger.info("request body failed on %s: %s (answered %d)",
                        route.pattern, exc, failed)
        else:
            logger.error("exception in handler for %r (after a failed "
                         "body read; answered %d)", route.pattern, failed,
                         exc_info=(type(exc), exc, exc.__traceback__))
        return
    logger.error("exception in handler for %r", route.pattern,
                 exc_info=(type(exc), exc, exc.__traceback__))
    if rw._complete:
        # A 204 or 304 went out whole (the failure was a body it refuses):
        # cutting the connection would only lose that answer.
        return
    if rw._started:
        _abort_quietly(rw)
        return
    w = rw._w
    # Nothing, or only informational statuses, went out: the headers given
    # to the library with those are still set and must not leak into the
    # 500 (none were, if nothing reached it).
    for name in rw._touched:
        lib.gohttp_del_header(w, name, len(name))
    if respond_500(w) < 0:
        _abort_quietly(rw)


def _abort_quietly(rw):
    try:
        lib.gohttp_abort(rw._w)
    except Exception:  # pragma: no cover - abort only fails when stale
        pass


def _dispatch(route, w):
    """Run route's handler for exchange w (the exchange this thread is
    dispatching), hand over what it set but did not send, then make both
    Python objects stale BEFORE returning.  Never raises for the handler's
    errors."""
    rw = ResponseWriter(w)
    rq = Request(w)
    _in_handler.server = route.server
    try:
        route.fn(rw, rq)
        rw._finish()
    except BaseException as exc:  # handler bugs must not escape into C
        try:
            _fail(rw, exc, route, rq)
        except BaseException:  # pragma: no cover - logging itself failed
            _abort_quietly(rw)
    finally:
        _in_handler.server = None
        rq.invalidate()
        rw.invalidate()


def _answer_internal_error(w):
    """Answer 500 on the raw handle w when the dispatcher itself failed (no
    ResponseWriter to rely on), so the client never gets the empty 200 the
    library would complete the exchange with.  If a final status already
    went out, abort the connection instead (as _fail does).  C calls only,
    on preallocated constants, so it works while memory is short."""
    if respond_500(w) == lib.GOHTTP_ESTATE:
        lib.gohttp_abort(w)


def _dispatch_failed(w, exc):
    """_dispatch raised (e.g. MemoryError while building the Request): answer
    500 first, then log.  Both dispatch designs call it; if it raises in
    push mode, _on_callback_error tries again."""
    _answer_internal_error(w)
    try:
        logger.critical("gohttp dispatch failed; answered 500",
                        exc_info=(type(exc), exc, exc.__traceback__))
    except Exception:  # pragma: no cover - logging itself failed
        pass


def _on_callback_error(exc_type, exc_value, tb):
    """cffi's onerror for gohttp_py_handler: the last resort, reached only
    if _dispatch_failed itself raised.  cffi gives no arguments, but the
    traceback's first frame is gohttp_py_handler's, whose local ``w`` is
    the exchange handle; answer 500 on it (never leave an empty 200)."""
    try:
        w = tb.tb_frame.f_locals.get("w") if tb is not None else None
        if w is not None:
            _answer_internal_error(w)
    finally:
        logger.critical("gohttp push dispatch failed",
                        exc_info=(exc_type, exc_value, tb))


@ffi.def_extern(onerror=_on_callback_error)
def gohttp_py_handler(w, req, userdata):
    """Push mode entry: a Go thread, through the C gate, holding the GIL.
    _dispatch never raises for handler errors; what it can raise (its own
    failure) is answered with a 500 here."""
    try:
        ffi.from_handle(userdata).serve(w)
    except BaseException as exc:
        _dispatch_failed(w, exc)


# Every started-but-not-freed server, strongly referenced so that route
# handles stay alive while Go may still call them; the exit hook drains them.
_live_servers = set()
_live_lock = threading.Lock()
# Every server ever made (weakly), so the exit hook can also free servers
# that were created but never started (e.g. routes registered, run() never
# called): otherwise their C side would outlive the interpreter.
_all_servers = weakref.WeakSet()


class Server:
    """One gohttp server: routes, then start(), then shutdown()/wait() or
    close().  Usable as a context manager (close on exit).

    dispatch      'push' (Go threads call in through the C gate) or 'pull'
                  (Python worker threads); default from GOHTTP_DISPATCH,
                  else 'pull' (chosen by benchmark: python/README.md).
    threads       pull mode: number of Python worker threads (default:
                  max_handlers; one at a time takes requests, the others
                  wait parked until a handler waits).
    max_handlers  handlers running at once (the library's dispatch slots;
                  default 64, and at least ``threads`` in pull mode).
    max_body_bytes, max_header_bytes, read_header_timeout, idle_timeout,
    write_timeout, queue_timeout: the gohttp_options fields (timeouts in
                  seconds, a positive value below 1 ms counts as 1 ms).
                  None keeps the library default; 0 or a negative value is
                  a ValueError (the C API would read 0 as "default"),
                  except write_timeout=0, which means no write timeout
                  (the default too).  threads and max_handlers: None is
                  the default, values below 1 are a ValueError.
    limit_request_line, limit_request_fields, limit_request_field_size
                  (gunicorn's names): the longest request line in bytes
                  (default 4094; longer: 400), the most header lines
                  (default 100; more: 431), the longest header line in
                  bytes (default 8190; longer: 431); at most 1 MiB each,
                  more is a ValueError.  Refused heads never reach a
                  handler; the connection closes after the answer.
    body_read_timeout  seconds each read of the request body may wait for
                  data (default 30): past it Request.read/body and
                  wsgi.input raise GohttpTimeoutError; if nothing was
                  sent, the answer is the library's 408, whether the
                  handler lets the error escape or catches it.
    send_timeout  seconds each write of the response may take to reach the
                  client (default 30): past it the write raises
                  ClientDisconnectedError and the connection closes (a
                  client that stops reading cannot hold a handler longer).
    max_connections  open connections (default 10000, at most 1048576):
                  when full, an idle keep-alive connection is closed to
                  make room for a new one; with none idle, new connections
                  are closed at once.  These six follow the rules above:
                  None is the default, 0 or less a ValueError.
    reuse_port    True: SO_REUSEPORT on the listener, so several servers
                  (in this or other processes of the same user) listen on
                  one port and the kernel spreads connections over them.
                  None: True in a worker started by the supervisor
                  (run(workers=N)), False elsewhere.
    certfile, keyfile  HTTPS: paths of the PEM certificate (chain) and its
                  private key, both or neither.  Loaded here: a missing or
                  bad pair is a ValueError now, never an error of the first
                  request.  HTTP/2 is offered by ALPN; WSGI sees
                  wsgi.url_scheme "https".
    h2c           True: also serve HTTP/2 without TLS to clients that start
                  with the HTTP/2 preface (prior knowledge); HTTP/1.1
                  keeps working on the same port.  Default False.
    access_log    path of an access log written by Go ("-": stdout; None,
                  the default: none): Common Log Format plus the request
                  time in microseconds.  Opened (appending) here.
    forwarded_allow_ips  peers trusted to name the client: "127.0.0.1,
                  10.0.0.0/8" (IP addresses and CIDR blocks, a str or a
                  list of them) or "*"; None (default): none.  A request
                  from a trusted peer gets REMOTE_ADDR /
                  Request.remote_addr from X-Forwarded-For (the rightmost
                  hop not itself trusted), wsgi.url_scheme /
                  Request.scheme from X-Forwarded-Proto and HTTP_HOST /
                  Request.host from X-Forwarded-Host; from other peers
                  those are ordinary headers.  A bad entry: ValueError.
    metrics_bind  "HOST:PORT" of a second listener, run by Go from start()
                  until the server stopped, answering GET /metrics in the
                  Prometheus text format; None (default): none.
    """

    def __init__(self, *, dispatch=None, threads=None, max_handlers=None,
                 max_body_bytes=None, max_header_bytes=None,
                 read_header_timeout=None, idle_timeout=None,
                 write_timeout=None, queue_timeout=None, reuse_port=None,
                 certfile=None, keyfile=None, h2c=False, access_log=None,
                 forwarded_allow_ips=None, metrics_bind=None,
                 limit_request_line=None, limit_request_fields=None,
                 limit_request_field_size=None, body_read_timeout=None,
                 send_timeout=None, max_connections=None):
        dispatch = dispatch or DEFAULT_DISPATCH
        if dispatch not in (PUSH, PULL):
            raise ValueError("dispatch must be 'push' or 'pull'")
        self.dispatch = dispatch
        self.threads = (None if threads is None
                        else _positive("threads", threads))
        opts = ffi.new("gohttp_options *")  # owner: this call; copied by C
        lib.gohttp_options_init(opts)
        for name, field, value, scale in (
                ("max_body_bytes", "max_body_bytes", max_body_bytes, 1),
                ("max_header_bytes", "max_header_bytes", max_header_bytes,
                 1),
                ("read_header_timeout", "read_header_timeout_ms",
                 read_header_timeout, 1000),
                ("idle_timeout", "idle_timeout_ms", idle_timeout, 1000),
                ("queue_timeout", "queue_timeout_ms", queue_timeout, 1000),
                ("limit_request_line", "limit_request_line",
                 limit_request_line, 1),
                ("limit_request_fields", "limit_request_fields",
                 limit_request_fields, 1),
                ("limit_request_field_size", "limit_request_field_size",
                 limit_request_field_size, 1),
                ("body_read_timeout", "body_read_timeout_ms",
                 body_read_timeout, 1000),
                ("send_timeout", "send_timeout_ms", send_timeout, 1000),
                ("max_connections", "max_connections", max_connections,
                 1)):
            if value is not None:
                setattr(opts, field, _positive(name, value, scale))
        if write_timeout is not None:
            # The one option whose 0 means something: no write timeout
            # (the C meaning of 0 for this field, also its default).
            if write_timeout < 0:
                raise ValueError("write_timeout must be >= 0 (0 or None: no "
                                 "write timeout), got %r" % (write_timeout,))
            opts.write_timeout_ms = (_positive("write_timeout", write_timeout,
                                               1000) if write_timeout else 0)
        if max_handlers is not None:
            opts.max_handlers = _positive("max_handlers", max_handlers)
        if reuse_port is None:
            reuse_port = _workers.WORKER is not None
        elif not isinstance(reuse_port, bool):
            raise TypeError("reuse_port must be True, False or None")
        self.reuse_port = reuse_port
        opts.reuse_port = 1 if reuse_port else 0
        if not isinstance(h2c, bool):
            raise TypeError("h2c must be True or False")
        opts.h2c = 1 if h2c else 0
        if self.threads is None:
            # One worker per handler slot: a slow handler then blocks the
            # others only as max_handlers says (parked workers cost no
            # CPU and never take the GIL; see python/README.md).
            self.threads = opts.max_handlers
        if dispatch == PULL and opts.max_handlers < self.threads:
            opts.max_handlers = self.threads
        self.max_handlers = opts.max_handlers
        self.max_body_bytes = opts.max_body_bytes
        # The C strings live until gohttp_server_new returned (it copies
        # them); owner: these locals.
        held = _path_options(opts, (("certfile", certfile),
                                    ("keyfile", keyfile),
                                    ("access_log", access_log)))
        if forwarded_allow_ips is not None:
            held.append(_allow_list(opts, forwarded_allow_ips))
        if metrics_bind is not None:
            if not isinstance(metrics_bind, str):
                raise TypeError("metrics_bind must be a str 'HOST:PORT'")
            raw = metrics_bind.encode("utf-8")
            if b"\0" in raw:
                raise ValueError("metrics_bind contains NUL")
            buf = ffi.new("char[]", raw)  # owner: held, until server_new
            held.append(buf)
            opts.metrics_bind = buf
        if (certfile is None) != (keyfile is None):
            raise ValueError("certfile and keyfile go together")
        self.tls = certfile is not None
        out = ffi.new("gohttp_server *")
        self._s = 0
        check(lib.gohttp_server_new(opts, out), "gohttp_server_new")
        del held
        self._s = out[0]          # owner: this object; gohttp_free in _free
        self._handles = []        # ffi.new_handle()s given to C as userdata
        self._routes = []         # pull mode: route index + 1 is userdata
        self._pool = None         # pull mode: the workers' shared pool
        self._workers = []
        self._drain_deadline = None  # monotonic end of the first shutdown
        self._started = False
        self._stopped = False
        self._freed = False
        self.port = None
        # Re-entrant: run()'s signal handler calls shutdown() on the main
        # thread between bytecodes, possibly while that same thread is
        # inside start() (or route/_free) holding this lock.
        self._lock = threading.RLock()
        _all_servers.add(self)

    # -- routes ---------------------------------------------------------

    def route(self, pattern, fn=None):
        """Register fn(w, req) for a Go 1.22 pattern ('/', 'GET /items/{id}').
        As route(pattern) it is a decorator returning the function.  Raises
        ValueError for an invalid or conflicting pattern."""
        if fn is None:
            def decorator(f):
                self.route(pattern, f)
                return f
            return decorator
        self._add_route(pattern, fn, exchange=False)
        return fn

    def _add_route(self, pattern, fn, exchange):
        """Register fn for pattern; with exchange=True fn(w) gets the raw
        exchange handle and must answer it itself and never raise (the
        WSGI adapter)."""
        if not callable(fn):
            raise TypeError("handler must be callable")
        if not isinstance(pattern, str):
            raise TypeError("pattern must be str")
        raw = pattern.encode("utf-8")
        if b"\0" in raw:
            raise ValueError("route pattern contains NUL")
        with self._lock:
            if self._freed:
                raise ValueError("route on a closed server")
            if self._started:
                raise ValueError("route after start")
            entry = _Route(fn, pattern, self, exchange)
            if self.dispatch == PUSH:
                handle = ffi.new_handle(entry)  # owner: self._handles
                rc = lib.gohttp_route(self._s, raw, _PUSH_ENTRY, handle)
                check(rc, "route %r" % pattern)
                self._handles.append(handle)
            else:
                # userdata is the route's index + 1 in self._routes (an
                # integer, never a pointer): the worker loop passes it back.
                rc = lib.gohttp_route_queue(self._s, raw, ffi.cast(
                    "void *", len(self._routes) + 1))
                check(rc, "route %r" % pattern)
                self._routes.append(entry)

    def static(self, prefix, directory):
        """Serve the files of directory under prefix ('/static'), from Go:
        these requests never run Python and take no handler slot.  Ranges,
        If-Modified-Since, content types, sendfile; a directory is served
        as its index.html, never listed; nothing outside directory is
        served (.., its encodings, symlinks that leave it).  The directory
        is opened now: ValueError if it is missing or not a directory, or
        if prefix is not an absolute path without wildcards."""
        if not isinstance(prefix, str):
            raise TypeError("prefix must be str")
        raw = prefix.encode("utf-8")
        if b"\0" in raw:
            raise ValueError("prefix contains NUL")
        path = _path_arg("directory", directory)
        with self._lock:
            if self._freed:
                raise ValueError("static on a closed server")
            if self._started:
                raise ValueError("static after start")
            check(lib.gohttp_route_static(self._s, raw, path),
                  "static %r" % prefix)

    # -- lifecycle ------------------------------------------------------

    def start(self, host="127.0.0.1", port=0):
        """Listen on host:port (port 0 picks a free one) and serve in the
        background.  Returns the bound port; OSError with the OS reason if
        the address cannot be bound."""
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host  # IPv6 literal
        addr = ("%s:%d" % (host, int(port))).encode("utf-8")
        return self._start_with(lambda s: lib.gohttp_start(s, addr),
                                "start %s" % addr.decode())

    def _start_fd(self, fd):
        """start() on a listening TCP socket this process already has
        (gohttp_start_fd): the library serves on its own duplicate of fd,
        so the caller keeps owning fd and may close it once this returned.
        A worker serves its supervisor's socket this way."""
        return self._start_with(lambda s: lib.gohttp_start_fd(s, fd),
                                "start on fd %d" % fd)

    def _start_with(self, start, what):
        # start(server handle) is gohttp_start or gohttp_start_fd; the
        # rest of starting is the same for both.
        with self._lock:
            if self._started or self._freed:
                raise ValueError("server already started")
            got = check(start(self._s), what)
            self._started = True
            self.port = got
            with _live_lock:
                _live_servers.add(self)
            if self.dispatch == PULL:
                # One pool per server: the workers share its taker role.
                self._pool = _native.pool()
                for i in range(self.threads):
                    t = threading.Thread(target=self._work,
                                         name="gohttp-worker-%d" % i,
                                         daemon=True)
                    t.start()
                    self._workers.append(t)
        return got

    def _work(self):
        # Pull-mode worker: the extension's loop (gohttp_native.c serve)
        # takes exchanges while it holds the GIL and returns None after
        # _NEXT_TIMEOUT_MS without work, so the stop flag is seen.
        serve = _native.serve
        s = self._s
        dispatch = self._dispatch_pulled
        pool = self._pool
        while True:
            rc = serve(s, dispatch, pool, _NEXT_TIMEOUT_MS)
            if rc is None:
                if self._stopped:
                    return
            elif rc == lib.GOHTTP_ECLOSED or self._freed:
                # Shut down; or a worker that outlived _join_workers' bound
                # found the server already freed (its handle is stale): not
                # an error worth a log line.
                return
            else:
                logger.error("gohttp_next failed: %s",
                             ffi.string(lib.gohttp_strerror(rc)).decode())
                return

    def _dispatch_pulled(self, w, route):
        """One pulled exchange, on a worker thread, for the extension's
        loop: which ends it (gohttp_done) once this returns."""
        try:
            self._routes[route - 1].serve(w)
        except BaseException as exc:
            # The dispatcher itself failed: answer 500 and keep this worker
            # alive (an escaping exception would end the thread).
            _dispatch_failed(w, exc)

    def shutdown(self, timeout=DEFAULT_DRAIN_TIMEOUT):
        """Begin a graceful shutdown and return at once: no new connections,
        in-flight requests get ``timeout`` seconds.  Safe from any thread and
        from inside a handler; repeated calls are harmless."""
        ms = _ms(timeout, "shutdown")
        with self._lock:
            if self._freed or not self._started:
                return
            if self._drain_deadline is None:
                # The first shutdown's end: a later call with a shorter
                # timeout shortens the library's drain and a longer one
                # does not extend it, so this stays an upper bound.
                self._drain_deadline = time.monotonic() + ms / 1000.0
        check(lib.gohttp_shutdown(self._s, ms), "shutdown")

    def wait(self, timeout=None):
        """Block until the server stopped and every handler returned; True
        if so, False if ``timeout`` seconds passed first.  Waits in short
        slices so signals reach the main thread.  Calling it from one of the
        server's own handlers raises ServerBusyError (it would deadlock)."""
        if getattr(_in_handler, "server", None) is self:
            raise ServerBusyError(35, "wait() from inside one of this "
                                  "server's handlers would deadlock")
        if not self._started or self._freed:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            slice_ms = 200
            if deadline is not None:
                left = deadline - time.monotonic()
                slice_ms = max(0, min(slice_ms, int(left * 1000)))
            rc = lib.gohttp_wait(self._s, slice_ms)
            if rc == 0:
                self._stopped = True
                self._join_workers(deadline)
                return True
            if rc != lib.GOHTTP_ETIMEDOUT:
                check(rc, "wait")
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _join_workers(self, deadline):
        """Join the pull workers once the server has stopped (gohttp_wait
        returned 0), so that no worker thread and none of its frames is
        left when run() returns or the interpreter finalizes.

        Bound: the whole call takes at most max(deadline - now,
        _WORKER_JOIN_TIMEOUT) seconds, however many workers there are (a
        total, not a per-thread, timeout).  After the server stopped every
        handler has returned and gohttp_next answers GOHTTP_ECLOSED at
        once, so a worker only has its own Python return left to do; the
        bound matters only for a worker starved of CPU.  One that is still
        alive after it is a daemon thread and ends on its own."""
        end = time.monotonic() + _WORKER_JOIN_TIMEOUT
        if deadline is not None:
            end = max(end, deadline)
        for t in self._workers:
            if t is threading.current_thread():
                continue
            t.join(max(0.0, end - time.monotonic()))

    @property
    def running(self):
        """True between start() and the end of wait()."""
        return self._started and not self._stopped

    def close(self, timeout=DEFAULT_DRAIN_TIMEOUT):
        """shutdown(timeout), wait, then free the C server.  Returns True if
        the server was freed; False if handlers were still running after the
        drain timeout (plus a grace second), in which case it stays
        allocated (freeing it would be unsafe) and close() may be retried."""
        if self._freed:
            return True
        if self._started:
            self.shutdown(timeout)
            if not self.wait(timeout + 1.0):
                return False
        return self._free()

    def _free(self):
        with self._lock:
            if self._freed:
                return True
            check(lib.gohttp_free(self._s), "gohttp_free")
            self._freed = True
            self._handles = []
            self._routes = []
        with _live_lock:
            _live_servers.discard(self)
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # A server that never started owns no threads: free it so it does
        # not count as live.  A started one is referenced by _live_servers
        # until freed, so it cannot be collected while running.
        try:
            if self._s and not self._freed and not self._started:
                lib.gohttp_free(self._s)
                self._freed = True
        except Exception:  # pragma: no cover - interpreter teardown
            pass

    def __repr__(self):
        state = ("freed" if self._freed else "running" if self.running
                 else "stopped" if self._stopped else "new")
        return "<gohttp.Server %s port=%s %s>" % (self.dispatch, self.port,
                                                  state)


# -- the default server and the seed's module-level API ----------------

_default = None
_default_lock = threading.Lock()


def default_server():
    """The server used by the module-level route()/run()/shutdown()."""
    global _default
    with _default_lock:
        if _default is None or _default._freed:
            _default = Server()
        return _default


def route(pattern, fn=None):
    """Register a handler on the default server (decorator or call)."""
    return default_server().route(pattern, fn)


def shutdown(timeout=DEFAULT_DRAIN_TIMEOUT):
    """Begin a graceful shutdown of the default server (run() returns once
    it has drained).  Safe from handlers and any thread."""
    srv = _default
    if srv is not None:
        srv.shutdown(timeout)


def run(host="127.0.0.1", port=5000, *, server=None,
        drain_timeout=DEFAULT_DRAIN_TIMEOUT, ready=None, workers=1,
        max_requests=None, max_requests_jitter=0, listen_fd=None):
    """Serve until shutdown() or a signal, then drain and return.

    On the main thread SIGINT (Ctrl-C), SIGTERM and SIGHUP start a graceful
    shutdown: the listener closes, in-flight requests get ``drain_timeout``
    seconds, then run() frees the server and returns normally (no
    KeyboardInterrupt); a second signal stops waiting at once.  Handlers still running a second
    after the drain timeout of the shutdown are not waited for: run()
    returns and leaves the server allocated (freeing it under a running
    handler would be unsafe).  ``ready(port)`` is called once listening.
    Returns the signal number that stopped it, or None.

    workers=N > 1 (or any max_requests) makes this process a supervisor of
    N worker processes that each re-run this program's command line and
    serve the one socket the supervisor listens on at host:port;
    max_requests=M recycles a worker
    after about M (+ random 0..max_requests_jitter) requests; SIGHUP then
    reloads the workers gracefully.  ready(port) is called once every
    worker listens.  In a worker, run() does not return: it ends the
    process with SystemExit once drained.  See gohttp._workers.

    listen_fd=N serves a TCP socket this process already listens on (one
    inherited from systemd socket activation, ``--bind fd://N``) instead of
    binding host:port, which then only name it in the log; with workers,
    the supervisor shares that socket with them.  The caller keeps owning
    N (the library and the supervisor serve duplicates of it).
    """
    if _workers.WORKER is not None:
        srv = server if server is not None else default_server()
        return _workers.serve_as_worker(
            _run_one, lambda: stats()["requests_served"], srv, host,
            drain_timeout)
    if workers != 1 or max_requests is not None:
        return _workers.supervise(
            host, port, workers=workers, max_requests=max_requests,
            max_requests_jitter=max_requests_jitter,
            drain_timeout=drain_timeout, ready=ready, listen_fd=listen_fd)
    return _run_one(host, port, server, drain_timeout, ready,
                    listen_fd=listen_fd)


def _run_one(host, port, server, drain_timeout, ready, listen_fd=None):
    """run() in one process: serve (on host:port, or on the listening
    socket listen_fd, which stays the caller's), drain on a signal,
    free."""
    global _default
    srv = server if server is not None else default_server()
    got = []
    gave_up = False

    def on_signal(signum, frame):
        # Runs on the main thread between bytecodes; gohttp_shutdown does
        # not block, so this is safe in a signal handler. (Before start()
        # returned, shutdown() is a no-op; the check after start covers it.)
        got.append(signum)
        srv.shutdown(drain_timeout if len(got) == 1 else 0)

    # Handlers go in BEFORE start: a signal that arrives while start() is
    # still spawning workers must not become a KeyboardInterrupt that
    # leaves a listening server behind.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        try:
            if listen_fd is None:
                bound = srv.start(host, port)
            else:
                bound = srv._start_fd(listen_fd)
        except BaseException:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            previous = {}
            raise
        logger.info("serving on http://%s:%d/ (%s dispatch)", host,
                    bound, srv.dispatch)
        if got:
            srv.shutdown(drain_timeout)
        if ready is not None:
            ready(bound)
        while not srv.wait(0.2):
            deadline = srv._drain_deadline
            if len(got) > 1 or (deadline is not None and
                                time.monotonic() > deadline + _DRAIN_GRACE):
                gave_up = True
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if gave_up:
            if srv.wait(0):
                srv._free()
            else:
                logger.warning("handlers still running after the drain "
                               "timeout; not waiting for them")
        elif not srv.close(drain_timeout):
            logger.warning("handlers still running after the drain timeout")
        with _default_lock:
            if _default is srv:
                _default = None
    return got[0] if got else None


# -- interpreter exit --------------------------------------------------

EXIT_DRAIN_TIMEOUT = 5.0


def _at_exit():
    """Registered with atexit: drain every live server (bounded), then close
    the push gate so no Go thread enters Python during finalization, then
    free what stopped.  Never blocks longer than about EXIT_DRAIN_TIMEOUT
    plus a second.  The gate is closed even if the drain is interrupted
    (Ctrl-C during the drain raises KeyboardInterrupt in here)."""
    with _live_lock:
        servers = list(_live_servers)
    deadline = time.monotonic() + EXIT_DRAIN_TIMEOUT
    limit = time.monotonic()
    try:
        for srv in servers:
            try:
                srv.shutdown(EXIT_DRAIN_TIMEOUT)
            except Exception:
                pass
        # A server whose shutdown began earlier (run() gave up on it) is
        # not waited for past its own drain deadline.
        for srv in servers:
            own = deadline
            if srv._drain_deadline is not None:
                own = min(own, srv._drain_deadline + _DRAIN_GRACE)
            limit = max(limit, own)
            try:
                srv.wait(max(0.0, own - time.monotonic()))
            except Exception:
                pass
    finally:
        lib.gohttp_py_gate_close()
    while lib.gohttp_py_gate_inside() and time.monotonic() < limit + 1.0:
        time.sleep(0.01)
    for srv in servers:
        try:
            if srv._stopped:
                srv._free()
        except Exception:
            pass
    for srv in list(_all_servers):
        try:
            if not srv._started and not srv._freed:
                srv._free()
        except Exception:
            pass
    # Stop our own logging from touching a closing stderr.
    sys.stderr.flush()


atexit.register(_at_exit)


def stats():
    """The library's live-object counters as a dict."""
    c = ffi.new("gohttp_counters *")
    check(lib.gohttp_stats(c), "gohttp_stats")
    return {name: getattr(c, name) for name in (
        "live_handles", "live_servers", "live_arenas", "arena_bytes",
        "requests_served", "stale_rejections", "panics_recovered",
        "live_tokens", "live_go_handles", "host_wait_ns")}
