"""Several worker processes on one port: the supervisor behind
``gohttp.run(..., workers=N)`` and ``python -m gohttp --workers N``.

Why processes, and why not fork: each worker is a fresh interpreter with its
own GIL and its own Go runtime.  The Go runtime does not survive fork(), so
a worker is never a forked copy of a process that has loaded libgohttp.so:
the supervisor starts it with subprocess (fork immediately followed by
exec), re-running the program's own command line (``sys.orig_argv``) with
four internal environment variables:

GOHTTP_WORKER_FD           a socket to the supervisor: the worker writes
                           "ready" once it listens and "limit" once it has
                           served its --max-requests; EOF on it tells the
                           worker that the supervisor is gone (it drains).
GOHTTP_WORKER_LISTEN_FD    the listening socket the worker serves (below)
GOHTTP_WORKER_PORT         the concrete port (the supervisor resolved port 0)
GOHTTP_WORKER_MAX_REQUESTS the worker's request limit (0: none)

They are removed from os.environ when gohttp is imported, so processes the
application starts do not inherit them (the two descriptors are made
non-inheritable too).  In a worker, run() serves as one worker (it ignores
``workers``).

One listening socket serves every worker, as in gunicorn: the supervisor
creates it (host:port, SO_REUSEADDR, port 0 resolved once, before any
worker starts; a port taken by another program is reported at once) and
passes it to each worker it starts (subprocess pass_fds).  The worker
serves it with gohttp_start_fd, which serves on a duplicate of the
descriptor, and closes its own inherited copy once it listens.  The
supervisor keeps the socket open for its whole life: a worker that stops
(recycled, reloaded, killed) closes only its duplicate, and connections
waiting in the accept queue stay there for the other workers (with a
socket per worker and SO_REUSEPORT, the kernel resets the connections
waiting in the queue of a socket that closes), and a connection it had
accepted just before gets its first request served (the library's
shutdown waits up to 250 ms for it).  Connections made while
no worker accepts (at boot, or between two generations) wait in the
queue.  The kernel wakes the workers blocked in accept on the shared
socket; the busiest get fewer connections, but the spread is not as even
as SO_REUSEPORT's hashing.  The Server's reuse_port option has no effect
in a worker: the library binds nothing there.  When it stops, the
supervisor closes its copy first, so the socket closes (new connections
are refused) once the last worker has closed its duplicate.

The supervisor:
* starts N workers; once all of them listen it calls ready(port);
* restarts a worker that dies, after a backoff that doubles from 0.1 s up
  to 4 s and starts over once a worker lived 10 s; a worker of the first
  generation that dies before it listened stops the whole supervisor
  (RuntimeError; exit status 1 from the CLI), as it would fail again;
* on "limit" starts the worker's replacement at once and, when the
  replacement listens, sends the old worker SIGTERM: it drains and exits
  with EXIT_RECYCLED;
* SIGHUP: graceful reload, the same for every worker: new workers first,
  then SIGTERM to the old ones once their replacements listen, so the
  port always has listeners;
* SIGINT/SIGTERM: SIGTERM to every worker (each drains for drain_timeout
  seconds), waits for them (bounded: drain_timeout + 6 s, then SIGKILL) and
  returns the signal number; a second signal is passed on too, which makes
  the workers stop waiting for their handlers, as in a single process.

Workers run in their own session, so a Ctrl-C or a hang-up of the terminal
reaches the supervisor only, which passes it on exactly once.
"""

import errno
import logging
import os
import random
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

logger = logging.getLogger("gohttp")

ENV_FD = "GOHTTP_WORKER_FD"
ENV_LISTEN_FD = "GOHTTP_WORKER_LISTEN_FD"
ENV_PORT = "GOHTTP_WORKER_PORT"
ENV_MAX_REQUESTS = "GOHTTP_WORKER_MAX_REQUESTS"

# Exit status of a worker that stopped because it reached --max-requests
# (EX_TEMPFAIL of sysexits.h: "try again", here "start my replacement").
EXIT_RECYCLED = 75

BACKOFF_FIRST = 0.1     # seconds before the first restart of a dead worker
BACKOFF_MAX = 4.0       # the backoff doubles up to this
BACKOFF_RESET = 10.0    # a worker that served this long resets the backoff
BOOT_TIMEOUT = 60.0     # a worker not listening after this is killed
STOP_GRACE = 5.0        # beyond drain_timeout + run()'s grace, then SIGKILL
# How often a worker compares its served-request count with its limit:
# a busy worker may serve what arrives in that time on top of its limit.
LIMIT_POLL = 0.05

# The directory the program started in (before a --chdir): workers re-run
# the command line, whose relative paths are relative to it.
try:
    START_CWD = os.getcwd()
except OSError:  # pragma: no cover - the directory was removed
    START_CWD = None


class WorkerConfig:
    """What a worker process got from its supervisor."""

    __slots__ = ("sock", "listen_fd", "port", "max_requests")

    def __init__(self, sock, listen_fd, port, max_requests):
        self.sock = sock
        self.listen_fd = listen_fd  # owner: this record; close_listen_fd
        self.port = port
        self.max_requests = max_requests

    def close_listen_fd(self):
        """Close the worker's inherited descriptor of the shared socket
        (the library serves on its own duplicate; the supervisor keeps
        the socket open).  Idempotent."""
        fd, self.listen_fd = self.listen_fd, None
        if fd is not None:
            os.close(fd)


def _config_from_environ():
    fd = os.environ.pop(ENV_FD, None)
    listen_fd = os.environ.pop(ENV_LISTEN_FD, None)
    port = os.environ.pop(ENV_PORT, None)
    limit = os.environ.pop(ENV_MAX_REQUESTS, None)
    if fd is None:
        return None
    sock = socket.socket(fileno=int(fd))  # owner: this module, for life
    sock.set_inheritable(False)
    if listen_fd is not None:
        listen_fd = int(listen_fd)
        os.set_inheritable(listen_fd, False)
    return WorkerConfig(sock, listen_fd, int(port), int(limit or 0))


# Set in a worker process, None everywhere else.
WORKER = _config_from_environ()

# Signals a worker got while it was still starting (importing the
# application), before run() put its own handlers in: the supervisor sends
# SIGTERM to a starting worker when it stops.  Such a worker then exits 0
# without serving instead of dying of the signal.
_EARLY_SIGNALS = []


def _early_signal(signum, frame):
    _EARLY_SIGNALS.append(signum)


if WORKER is not None and \
        threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, _early_signal)


def _send(sock, message):
    # The supervisor may be gone; the monitor thread sees the EOF.
    try:
        sock.sendall(message)
    except OSError:
        pass


def _monitor(cfg, srv, served, drain_timeout, state, stop):
    """Worker side: drain when the supervisor goes away; say "limit" once
    the served-request count reaches the limit."""
    limit = cfg.max_requests
    while not stop.is_set():
        try:
            readable, _, _ = select.select([cfg.sock], [], [], LIMIT_POLL)
            data = cfg.sock.recv(64) if readable else None
        except (OSError, ValueError):
            data = b""
        if data == b"":
            if not stop.is_set():
                logger.warning("gohttp worker %d: the supervisor is gone; "
                               "draining", os.getpid())
                srv.shutdown(drain_timeout)
            return
        if limit and not state["limit"] and served() >= limit:
            state["limit"] = True
            logger.info("gohttp worker %d served %d requests; asking for "
                        "its replacement", os.getpid(), limit)
            _send(cfg.sock, b"limit\n")


def serve_as_worker(run_one, served, srv, host, drain_timeout):
    """Serve srv as one supervised worker, then end the process: raises
    SystemExit(0) after a drain, SystemExit(EXIT_RECYCLED) when the worker
    stopped after reaching its request limit."""
    cfg = WORKER
    if _EARLY_SIGNALS:
        logger.info("gohttp worker %d stopped before it served",
                    os.getpid())
        cfg.close_listen_fd()
        cfg.sock.close()
        raise SystemExit(0)
    state = {"limit": False}
    stop = threading.Event()
    monitor = []

    def on_ready(bound):
        # The library serves on its own duplicate now.
        cfg.close_listen_fd()
        _send(cfg.sock, b"ready\n")
        t = threading.Thread(target=_monitor, name="gohttp-supervisor-link",
                             args=(cfg, srv, served, drain_timeout, state,
                                   stop), daemon=True)
        t.start()
        monitor.append(t)

    try:
        run_one(host, cfg.port, srv, drain_timeout, on_ready,
                listen_fd=cfg.listen_fd)
    finally:
        stop.set()
        for t in monitor:
            t.join(1.0)
        cfg.close_listen_fd()
        cfg.sock.close()
    raise SystemExit(EXIT_RECYCLED if state["limit"] else 0)


# -- the supervisor ------------------------------------------------------

def _positive_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int" % name)
    if value < minimum:
        raise ValueError("%s must be >= %d, got %d" % (name, minimum, value))
    return value


def listen_socket(host, port):
    """The socket every worker serves: bound to host:port with
    SO_REUSEADDR and listening (backlog SOMAXCONN, the kernel caps it at
    net.core.somaxconn).  OSError (with the OS reason) if the address
    cannot be bound."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def adopt_socket(fd):
    """A duplicate of fd, a TCP socket this process already listens on
    (run(listen_fd=fd), --bind fd://N), as the socket every worker serves:
    fd stays the caller's.  OSError (EINVAL) if fd is not one."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if (sock.type != socket.SOCK_STREAM or
                sock.family not in (socket.AF_INET, socket.AF_INET6) or
                not sock.getsockopt(socket.SOL_SOCKET,
                                    socket.SO_ACCEPTCONN)):
            raise OSError(errno.EINVAL, "fd %d is not a listening TCP "
                          "socket" % fd)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_command():
    """The command line a worker runs: this program's, with the same
    interpreter and interpreter options."""
    argv = list(getattr(sys, "orig_argv", ()))
    if len(argv) < 2:
        raise RuntimeError("gohttp workers re-run the program's command "
                           "line (sys.orig_argv, Python 3.10+); an "
                           "interactive session has none")
    return [sys.executable] + argv[1:]


class _Worker:
    __slots__ = ("proc", "sock", "buf", "started", "ready_at", "initial",
                 "replaces", "replaced_by", "told", "killed")

    def __init__(self, proc, sock, initial, replaces):
        self.proc = proc
        self.sock = sock          # owner: this record; closed at EOF/exit
        self.buf = b""
        self.started = time.monotonic()
        self.ready_at = None      # monotonic time of "ready"
        self.initial = initial    # of the first generation
        self.replaces = replaces  # worker to retire once this one listens
        self.replaced_by = None   # this one's replacement, if one started
        self.told = False         # SIGTERM sent
        self.killed = False       # SIGKILL sent


class Supervisor:
    """Runs N workers on host:port until SIGINT/SIGTERM (see the module
    doc).  run() returns the signal number that stopped it."""

    def __init__(self, host, port, *, workers, max_requests=None,
                 max_requests_jitter=0, drain_timeout, ready=None,
                 command=None, listen_fd=None):
        self.host = host
        self.port = port
        self.count = _positive_int("workers", workers, 1)
        self.max_requests = (None if max_requests is None else
                             _positive_int("max_requests", max_requests, 1))
        self.jitter = _positive_int("max_requests_jitter",
                                    max_requests_jitter, 0)
        self.drain_timeout = drain_timeout
        self.ready = ready
        self.command = command or worker_command()
        self.workers = []
        self.pending = []          # [(due, replaces)] restarts after backoff
        self.failures = 0          # deaths since the backoff last reset
        self.signals = []          # received, not yet handled
        self.stopping = False
        self.stop_signal = None
        self.stop_deadline = None
        self.failed = None         # why the first generation failed
        self.announced = False
        self.sel = None
        self.listener = None       # the shared socket, while run() runs
        self.listen_fd = listen_fd  # the caller's socket to share, or None

    # -- worker processes

    def _spawn(self, initial=False, replaces=None):
        limit = 0
        if self.max_requests:
            limit = self.max_requests + random.randint(0, self.jitter)
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env[ENV_FD] = str(theirs.fileno())
        env[ENV_LISTEN_FD] = str(self.listener.fileno())
        env[ENV_PORT] = str(self.port)
        env[ENV_MAX_REQUESTS] = str(limit)
        try:
            # pass_fds: the worker inherits both (the supervisor's stay
            # non-inheritable for anything else it starts).
            proc = subprocess.Popen(self.command, env=env, cwd=START_CWD,
                                    stdin=subprocess.DEVNULL,
                                    pass_fds=(theirs.fileno(),
                                              self.listener.fileno()),
                                    start_new_session=True)
        except OSError as exc:
            ours.close()
            logger.error("cannot start a worker: %s", exc)
            if initial:
                self._fail("cannot start a worker: %s" % exc)
            else:
                self._schedule(replaces, lived=0.0)
            return None
        finally:
            theirs.close()
        ours.setblocking(False)
        w = _Worker(proc, ours, initial, replaces)
        if replaces is not None:
            replaces.replaced_by = w
        self.sel.register(ours, selectors.EVENT_READ, w)
        self.workers.append(w)
        logger.info("started worker %d%s", proc.pid,
                    "" if replaces is None else
                    " to replace worker %d" % replaces.proc.pid)
        return w

    def _signal(self, w, sig):
        if w.proc.returncode is None:
            try:
                w.proc.send_signal(sig)
            except OSError:  # pragma: no cover - exited meanwhile
                pass

    def _tell(self, w):
        # SIGTERM: the worker drains its in-flight requests and exits.
        if not w.told:
            w.told = True
            self._signal(w, signal.SIGTERM)

    def _schedule(self, replaces, lived):
        if lived >= BACKOFF_RESET:
            self.failures = 0
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** self.failures))
        self.failures += 1
        self.pending.append((time.monotonic() + delay, replaces))
        logger.warning("restarting the worker in %.1f s", delay)

    def _fail(self, why):
        if self.failed is None:
            self.failed = why
        self._stop(None)

    def _stop(self, signum):
        if self.stopping:
            if signum is not None:
                # A second signal: workers stop waiting for handlers.
                for w in self.workers:
                    self._signal(w, signal.SIGTERM)
            return
        self.stopping = True
        self.stop_signal = signum
        self.pending = []
        self.stop_deadline = (time.monotonic() + self.drain_timeout + 1.0 +
                              STOP_GRACE)
        # The socket closes (new connections are refused, as in one
        # process) once the draining workers closed their duplicates.
        self._close_listener()
        for w in self.workers:
            self._tell(w)

    def _close_listener(self):
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def _reload(self):
        old = [w for w in self.workers
               if w.replaced_by is None and not w.told]
        logger.info("SIGHUP: replacing %d workers", len(old))
        for w in old:
            self._spawn(replaces=w)

    # -- events

    def _on_line(self, w, line):
        if line == b"ready":
            w.ready_at = time.monotonic()
            logger.info("worker %d listening", w.proc.pid)
            old, w.replaces = w.replaces, None
            if old is not None:
                self._tell(old)
            if (not self.announced and not self.stopping and
                    all(x.ready_at is not None for x in self.workers
                        if x.initial)):
                self.announced = True
                if self.ready is not None:
                    self.ready(self.port)
        elif line == b"limit":
            if not self.stopping and w.replaced_by is None and not w.told:
                logger.info("worker %d reached max_requests",
                            w.proc.pid)
                self._spawn(replaces=w)

    def _read(self, w):
        try:
            data = w.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(w.sock)
            w.sock.close()
            w.sock = None
            return
        w.buf += data
        while b"\n" in w.buf:
            line, w.buf = w.buf.split(b"\n", 1)
            self._on_line(w, line.strip())

    def _on_exit(self, w, rc):
        self.workers.remove(w)
        if w.sock is not None:
            self.sel.unregister(w.sock)
            w.sock.close()
            w.sock = None
        how = ("killed by signal %d" % -rc) if rc < 0 else ""
        logger.info("worker %d exited with status %d%s", w.proc.pid,
                    rc, " (%s)" % how if how else
                    " (recycled)" if rc == EXIT_RECYCLED else "")
        if self.stopping:
            return
        pending = w.replaces
        if pending is not None and pending.proc.returncode is not None:
            pending = None
        heir = w.replaced_by
        if heir is not None:
            # Its replacement is on the way: it takes over what w had to
            # retire.
            if heir.replaces is w:
                heir.replaces = pending
            return
        if w.told:
            return
        if w.initial and w.ready_at is None and not self.announced:
            self._fail("worker %d exited with status %d before it listened"
                       % (w.proc.pid, rc))
            return
        lived = 0.0 if w.ready_at is None else time.monotonic() - w.ready_at
        self._schedule(pending, lived)

    def _step(self):
        now = time.monotonic()
        timeout = 0.5
        if self.pending:
            timeout = min(timeout, min(due for due, _ in self.pending) - now)
        if any(w.sock is None for w in self.workers):
            timeout = min(timeout, 0.02)  # EOF seen, exit not reaped yet
        if self.stopping:
            timeout = min(timeout, self.stop_deadline - now)
        for key, _ in self.sel.select(max(0.0, timeout)):
            if key.data is None:
                try:
                    while key.fileobj.recv(512):
                        pass
                except OSError:
                    pass
            else:
                self._read(key.data)
        while self.signals:
            sig = self.signals.pop(0)
            if sig == signal.SIGHUP:
                if not self.stopping:
                    self._reload()
            else:
                self._stop(sig)
        for w in list(self.workers):
            rc = w.proc.poll()
            if rc is not None:
                self._on_exit(w, rc)
        now = time.monotonic()
        for w in self.workers:
            if (w.ready_at is None and not w.killed and
                    now - w.started > BOOT_TIMEOUT):
                logger.error("worker %d not listening after %.0f s; "
                             "killing it", w.proc.pid, BOOT_TIMEOUT)
                w.killed = True
                self._signal(w, signal.SIGKILL)
        due = [p for p in self.pending if p[0] <= now]
        if due and not self.stopping:
            self.pending = [p for p in self.pending if p[0] > now]
            for _, replaces in due:
                if replaces is not None and replaces.proc.returncode is not None:
                    replaces = None
                self._spawn(replaces=replaces)
        if self.stopping and now >= self.stop_deadline:
            for w in self.workers:
                if not w.killed:
                    logger.warning("worker %d still running after "
                                   "the drain; killing it", w.proc.pid)
                    w.killed = True
                    self._signal(w, signal.SIGKILL)

    def run(self):
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("the gohttp supervisor (workers > 1 or "
                             "max_requests) must run on the main thread")
        # Owner: this supervisor, until _stop or the end of run().
        self.listener = (listen_socket(self.host, self.port)
                         if self.listen_fd is None else
                         adopt_socket(self.listen_fd))
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self.sel.register(wake_r, selectors.EVENT_READ, None)

        def on_signal(signum, frame):
            self.signals.append(signum)

        previous = {}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(),
                                          warn_on_full_buffer=False)
        try:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, on_signal)
            logger.info("supervisor %d, %d workers on %s:%d",
                        os.getpid(), self.count, self.host, self.port)
            for _ in range(self.count):
                if not self.stopping:
                    self._spawn(initial=True)
            while not (self.stopping and not self.workers):
                self._step()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_wakeup)
            for w in self.workers:  # only after an exception in the loop
                self._signal(w, signal.SIGKILL)
                w.proc.wait()
                if w.sock is not None:
                    w.sock.close()
            self.sel.close()
            wake_r.close()
            wake_w.close()
            self._close_listener()
        if self.failed:
            raise RuntimeError("gohttp: " + self.failed)
        logger.info("supervisor stopped")
        return self.stop_signal


def supervise(host, port, *, workers, max_requests=None,
              max_requests_jitter=0, drain_timeout, ready=None,
              listen_fd=None):
    """Run the supervisor (see the module doc); returns the signal number
    that stopped it.  OSError if host:port cannot be bound or listened
    on, RuntimeError if the first workers cannot start.  listen_fd: share
    that listening socket (a duplicate of it) instead of binding
    host:port."""
    return Supervisor(host, port, workers=workers, max_requests=max_requests,
                      max_requests_jitter=max_requests_jitter,
                      drain_timeout=drain_timeout, ready=ready,
                      listen_fd=listen_fd).run()
