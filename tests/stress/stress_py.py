"""stress_py.py - the hostile request mix through the Python package.

Two servers run at once in this process, one per dispatch mode (Go threads
calling into Python, and Python worker threads pulling exchanges), and
client threads in the same process hammer both over loopback with:

  normal handlers, handlers that raise (before and after sending), handlers
  that return early, handlers that stash w/req and use them from another
  thread after returning, handlers that write from several threads at once,
  large binary bodies both ways, clients that hang up mid-request and
  mid-response, and at the end a graceful shutdown while handlers are busy.

Every request carries a unique token (X-Token header, query, body); every
response must carry its own request's token, so a reused handle or a
request view read after it was freed shows up as another request's token.
Stashed objects must raise gohttp.StaleHandleError after their handler
returned, and a hammer thread keeps writing through them (and through their
raw C handles) for the whole run: no response may ever contain a LATE-...
marker or an X-Late header.

The run ends by asserting the library's live counters are zero after every
server was closed, and reports RSS after warm-up vs after the run (bounded
by STRESS_RSS_GROWTH_MB when that is > 0).

Environment: PYTHONPATH must reach the built package ($(BUILD)/python).
STRESS_SCALE multiplies the request count (default 1), STRESS_THREADS sets
the client threads (default 8), STRESS_TIMEOUT_S the watchdog (default 240),
STRESS_RSS_GROWTH_MB the RSS bound (default 64; 0 = report only).
Exit status 0 = clean, 1 = a failed check or the watchdog (which dumps
every thread's stack first).
"""

import faulthandler
import http.client
import logging
import os
import random
import socket
import struct
import sys
import threading
import time

import gohttp

# The raw binding, to prove staleness below the Python wrappers too. If the
# package layout changes, this import fails the run (it must be updated,
# not skipped).
from gohttp._gohttp_cffi import ffi as _ffi, lib as _lib  # noqa: E402

TOKEN_LEN = 16
MULTI_THREADS = 4
MULTI_LINES = 25
GOHTTP_ESTALE = _lib.GOHTTP_ESTALE

_fail_lock = threading.Lock()
failures = []


def fail(msg):
    """Record a failed check; print the first few (the first explains the
    rest)."""
    with _fail_lock:
        failures.append(msg)
        if len(failures) <= 40:
            print("stress_py: FAIL: " + msg, file=sys.stderr, flush=True)


def env_float(name, default):
    try:
        v = float(os.environ.get(name, ""))
        return v if v >= 0 else default
    except ValueError:
        return default


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGESIZE") // 1024)


def gen_bytes(seed, n):
    """Deterministic binary bytes (with NULs) the client can regenerate."""
    rnd = random.Random(seed)
    b = bytearray(rnd.getrandbits(8 * n).to_bytes(n, "little")) if n else bytearray()
    b[::97] = bytes(len(b[::97]))
    return bytes(b)


# ---------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------

stash = {}             # token -> (w, req), filled by /stash handlers
stash_lock = threading.Lock()
grave = []             # (w, raw handle) proven stale, probed by the hammer
grave_lock = threading.Lock()
late_results = {}      # token -> what a handler's late thread saw
late_go = {}           # token -> Event the client sets once the response
                       # is complete, i.e. once the handler has returned
counts = {"read_eio": 0, "write_eio": 0, "stale_checks": 0, "raised": 0,
          "raw_stale_checks": 0}
counts_lock = threading.Lock()
in_slow = threading.Semaphore(0)


def bump(key, n=1):
    with counts_lock:
        counts[key] += n


def token_of(req):
    """The token this request names in its header, checked against the
    query: two requests mixed in one view would disagree."""
    tok = req.headers.get("X-Token", "")
    q = req.query
    if len(tok) != TOKEN_LEN or ("t=" + tok) not in q:
        fail("request view inconsistent: header %r, query %r" % (tok, q))
        raise RuntimeError("inconsistent request view")
    return tok


def answer(w, tok):
    w.set_header("X-Token", tok)
    w.write(tok + "\n")


def h_hello(w, req):
    tok = token_of(req)
    answer(w, tok)
    w.write(b"hello\n")


def h_echo(w, req):
    tok = token_of(req)
    chunks = []
    rnd = random.Random(tok)
    try:
        while True:
            b = req.read(rnd.randint(1, 20000))
            if not b:
                break
            chunks.append(b)
    except gohttp.ClientDisconnectedError:
        bump("read_eio")
        return
    body = b"".join(chunks)
    if body[:TOKEN_LEN] != tok.encode():
        fail("echo body does not start with its own token %s" % tok)
        return
    answer(w, tok)
    mv = memoryview(body)
    off = 0
    while off < len(body):
        n = rnd.randint(1, 16384)
        w.write(mv[off:off + n])
        off += n


def h_big(w, req):
    tok = token_of(req)
    n = int(req.query.split("n=")[1].split("&")[0])
    data = gen_bytes(int(tok, 16), n)
    answer(w, tok)
    rnd = random.Random(n)
    off = 0
    while off < n:
        k = rnd.randint(1, 65536)
        w.write(bytearray(data[off:off + k]))
        off += k
        if rnd.random() < 0.1:
            w.flush()


def h_early(w, req):
    w.set_header("X-Token", token_of(req))


def h_raise(w, req):
    tok = token_of(req)
    w.set_header("X-Token", tok)
    bump("raised")
    raise ValueError("planned failure for %s (not a test failure)" % tok)


# How a cut connection reaches http.client: a reset, or a close before
# (RemoteDisconnected) or inside (IncompleteRead, handled in place) the body.
RAISE_LATE_CUT = (ConnectionResetError, BrokenPipeError,
                  http.client.RemoteDisconnected)


def h_raise_late(w, req):
    tok = token_of(req)
    answer(w, tok)
    w.flush()
    bump("raised")
    raise ValueError("planned failure after sending, %s" % tok)


def h_stash(w, req):
    tok = token_of(req)
    answer(w, tok)
    # The ResponseWriter's raw C handle (attribute _w of the package's
    # ResponseWriter): a renamed attribute fails the run instead of
    # silently dropping the raw-handle checks.
    try:
        raw = w._w
    except AttributeError:
        fail("stash: ResponseWriter has no raw handle attribute _w; update "
             "the raw-handle checks to the package's new layout")
        raw = None
    with stash_lock:
        stash[tok] = (w, req, raw)


def h_late_thread(w, req):
    """Start a thread that uses w and req after this handler returned (it
    waits until the client has the complete response, which the library
    finishes only after the handler returned)."""
    tok = token_of(req)
    answer(w, tok)
    started = threading.Event()
    go = late_go.setdefault(tok, threading.Event())

    def late():
        started.set()
        if not go.wait(60):
            late_results[tok] = ["client never saw the response"]
            return
        seen = []
        for what, call in (("write", lambda: w.write("LATE-THREAD")),
                           ("set_header", lambda: w.set_header("X-Late", "1")),
                           ("flush", w.flush),
                           ("read", lambda: req.read(1)),
                           ("method", lambda: req.method)):
            try:
                call()
                seen.append(what + ":accepted")
            except gohttp.StaleHandleError:
                seen.append(what + ":stale")
            except Exception as e:  # noqa: BLE001 - reported below
                seen.append("%s:%s" % (what, type(e).__name__))
        late_results[tok] = seen

    t = threading.Thread(target=late, daemon=True)
    t.start()
    started.wait(5)


def h_multi(w, req):
    tok = token_of(req)
    answer(w, tok)

    def writer(i):
        for j in range(MULTI_LINES):
            w.write("%s:%d:%02d\n" % (tok, i, j))
            if j % 8 == 3:
                w.flush()

    ts = [threading.Thread(target=writer, args=(i,)) for i in range(MULTI_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def h_items(w, req):
    tok = token_of(req)
    if req.path_value("id") != tok:
        fail("path value %r is not token %s" % (req.path_value("id"), tok))
    answer(w, tok)


def h_flood(w, req):
    tok = token_of(req)
    answer(w, tok)
    block = bytes(32768)
    try:
        for _ in range(256):
            w.write(block)
            w.flush()
    except gohttp.ClientDisconnectedError:
        bump("write_eio")


def h_slow(w, req):
    tok = token_of(req)
    answer(w, tok)
    w.flush()
    in_slow.release()
    time.sleep(0.3)
    w.write(tok + "\n")


ROUTES = [
    ("GET /hello", h_hello), ("POST /echo", h_echo), ("GET /big", h_big),
    ("GET /early", h_early), ("GET /raise", h_raise),
    ("GET /raise-late", h_raise_late), ("GET /stash", h_stash),
    ("GET /late-thread", h_late_thread), ("GET /multi", h_multi),
    ("GET /items/{id}", h_items), ("GET /flood", h_flood),
    ("GET /slow", h_slow),
]


def expect_stale(w, req, raw, where):
    """Every method of a dead w/req raises StaleHandleError, and the raw C
    handle is rejected by the library itself."""
    calls = (("write", lambda: w.write(b"LATE-STASH")),
             ("set_status", lambda: w.set_status(299)),
             ("set_header", lambda: w.set_header("X-Late", "1")),
             ("add_header", lambda: w.add_header("X-Late", "1")),
             ("del_header", lambda: w.del_header("X-Token")),
             ("flush", w.flush),
             ("read", lambda: req.read(1)),
             ("body", lambda: req.body),
             ("path_value", lambda: req.path_value("id")),
             ("headers", lambda: req.headers),
             ("method", lambda: req.method))
    for what, call in calls:
        try:
            call()
            fail("%s: %s on a dead object was accepted" % (where, what))
        except gohttp.StaleHandleError:
            bump("stale_checks")
        except Exception as e:  # noqa: BLE001
            fail("%s: %s on a dead object raised %s, not StaleHandleError: %s"
                 % (where, what, type(e).__name__, e))
    if raw is None:
        fail("%s: no raw handle to check" % where)
        return
    rc = _lib.gohttp_write(raw, b"LATE-RAW", 8)
    if rc != GOHTTP_ESTALE:
        fail("%s: raw gohttp_write on a dead handle returned %d" % (where, rc))
    else:
        bump("stale_checks")
        bump("raw_stale_checks")


hammer_stop = threading.Event()
hammer_probes = [0]


def hammer():
    """Write LATE through every dead object for the whole run."""
    while not hammer_stop.is_set():
        with grave_lock:
            items = list(grave[-128:])
        for w, raw in items:
            try:
                w.write(b"LATE-HAMMER")
                fail("hammer: a write through a dead ResponseWriter was accepted")
            except gohttp.StaleHandleError:
                pass
            if raw is not None:
                rc = _lib.gohttp_write(raw, b"LATE-HAMMER", 11)
                if rc != GOHTTP_ESTALE:
                    fail("hammer: raw write on dead handle %#x returned %d" % (raw, rc))
            hammer_probes[0] += 1
        time.sleep(0.005)


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------

KINDS = [("hello", 14), ("echo", 16), ("big", 6), ("early", 6), ("raise", 5),
         ("raise-late", 4), ("stash", 12), ("late-thread", 6), ("multi", 8),
         ("items", 7), ("disc-req", 5), ("disc-resp", 5)]
kind_done = {k: 0 for k, _ in KINDS}
seq_lock = threading.Lock()
seq = [0]


def next_token(rnd):
    with seq_lock:
        seq[0] += 1
        s = seq[0]
    return "%016x" % ((s << 24) | rnd.getrandbits(24))


def raw_request(port, method, target, tok, body_len=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Token: %s\r\n"
            "Connection: close\r\n" % (method, target, tok))
    if body_len is not None:
        head += "Content-Length: %d\r\n" % body_len
    s.sendall((head + "\r\n").encode())
    return s


def client_request(port, kind, rnd, big_max):
    tok = next_token(rnd)
    hdrs = {"X-Token": tok, "Connection": "close"}
    body = None
    path = {"disc-resp": "/flood"}.get(kind, "/" + kind)
    target = "%s?t=%s" % (path, tok)
    method = "GET"
    if kind in ("echo", "disc-req"):
        method = "POST"
        n = TOKEN_LEN + rnd.randint(0, 65536)
        if kind == "echo" and rnd.random() < 0.06:
            n += big_max // 2
        body = tok.encode() + gen_bytes(int(tok, 16) ^ 0xABC, n - TOKEN_LEN)
        target = "/echo?t=%s" % tok
    elif kind == "big":
        big_n = rnd.randint(0, big_max)
        target += "&n=%d" % big_n
    elif kind == "items":
        target = "/items/%s?t=%s" % (tok, tok)

    if kind == "disc-req":
        s = raw_request(port, method, target, tok, len(body) + 100000)
        s.sendall(body[:len(body) // 2])
        s.close()
        kind_done[kind] += 1
        return
    if kind == "disc-resp":
        s = raw_request(port, method, target, tok)
        first = s.recv(8192)
        if tok.encode() not in first:
            fail("flood: first bytes lack the token %s" % tok)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        kind_done[kind] += 1
        return

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, target, body=body, headers=hdrs)
        resp = conn.getresponse()
        try:
            data = resp.read()
            complete = True
        except http.client.IncompleteRead as e:
            data, complete = e.partial, False
        status, got_tok = resp.status, resp.getheader("X-Token")
        got_late = resp.getheader("X-Late") is not None
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        # raise-late: the connection is cut by design, which the client
        # sees as a reset or a close; a timeout (the response hung instead
        # of being cut) or any other error is a failure.
        if kind == "raise-late" and isinstance(e, RAISE_LATE_CUT) \
                and not isinstance(e, TimeoutError):
            kind_done[kind] += 1
            return
        fail("%s %s: %s: %s" % (method, target, type(e).__name__, e))
        return
    finally:
        conn.close()

    # Whole markers only: random binary bodies contain b"LATE" by chance.
    if any(m in data for m in (b"LATE-STASH", b"LATE-HAMMER", b"LATE-THREAD",
                                b"LATE-RAW")) or got_late:
        fail("%s: a late write from a dead object landed in this response" % tok)
    if kind == "raise":
        if status != 500:
            fail("raise: status %d, want 500" % status)
        if tok.encode() in data or (got_tok not in (None, tok)):
            fail("raise: 500 carries a token it should not: %r %r" % (got_tok, data[:40]))
        kind_done[kind] += 1
        return
    if kind == "raise-late":
        # Sent the token, then raised: the library must cut the response
        # after the flushed token, never complete it.
        if complete:
            fail("raise-late: a handler that raised mid-response got a "
                 "complete response (%d %r)" % (status, data[:40]))
        elif status != 200 or data[:TOKEN_LEN + 1] != (tok + "\n").encode():
            fail("raise-late: cut response is not its own flushed token: "
                 "%d %r" % (status, data[:40]))
        kind_done[kind] += 1
        return
    if status != 200:
        fail("%s %s: status %d" % (method, target, status))
    if got_tok != tok:
        fail("%s %s: X-Token %r is another request's (cross-request contamination)"
             % (method, target, got_tok))
    if kind != "early" and data[:TOKEN_LEN + 1] != (tok + "\n").encode():
        fail("%s %s: body does not start with its own token" % (method, target))
    rest = data[TOKEN_LEN + 1:]
    if kind == "hello" and rest != b"hello\n":
        fail("hello: wrong body")
    elif kind == "echo" and rest != body:
        fail("echo %s: body differs (%d vs %d bytes)" % (tok, len(rest), len(body)))
    elif kind == "big" and rest != gen_bytes(int(tok, 16), big_n):
        fail("big %s: body differs (%d bytes, want %d)" % (tok, len(rest), big_n))
    elif kind == "early" and data:
        fail("early: non-empty body")
    elif kind == "multi":
        lines = rest.split(b"\n")
        if lines[-1] != b"" or len(lines) - 1 != MULTI_THREADS * MULTI_LINES:
            fail("multi %s: %d lines" % (tok, len(lines) - 1))
        else:
            want = {("%s:%d:%02d" % (tok, i, j)).encode()
                    for i in range(MULTI_THREADS) for j in range(MULTI_LINES)}
            if set(lines[:-1]) != want:
                fail("multi %s: torn or foreign lines" % tok)
    elif kind == "late-thread":
        late_go.setdefault(tok, threading.Event()).set()
    elif kind == "stash":
        with stash_lock:
            entry = stash.pop(tok, None)
        if entry is None:
            fail("stash %s: the handler did not stash" % tok)
        else:
            w, req, raw = entry
            expect_stale(w, req, raw, "stash")
            with grave_lock:
                grave.append((w, raw))
                del grave[:-256]
    kind_done[kind] += 1


def client_main(port_of, count, seed, big_max):
    rnd = random.Random(seed)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    for _ in range(count):
        kind = rnd.choices(names, weights)[0]
        try:
            client_request(port_of(rnd), kind, rnd, big_max)
        except Exception as e:  # noqa: BLE001 - a client bug is a failure too
            fail("client %s: %s: %s" % (kind, type(e).__name__, e))


def run_clients(nthreads, total, port_of, big_max, base):
    ts = [threading.Thread(target=client_main,
                           args=(port_of, total // nthreads + (i < total % nthreads),
                                 base * 1000 + i, big_max))
          for i in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def slow_client(port, tok, ok):
    try:
        s = raw_request(port, "GET", "/slow?t=%s" % tok, tok)
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        s.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n")[0] or body.count(tok.encode()) != 2:
            fail("slow %s: wrong response across a graceful shutdown: %r" % (tok, buf[:200]))
        else:
            ok.append(tok)
    except OSError as e:
        fail("slow %s: %s" % (tok, e))


def main():
    scale = env_float("STRESS_SCALE", 1.0)
    nthreads = max(1, int(env_float("STRESS_THREADS", 8)))
    timeout_s = env_float("STRESS_TIMEOUT_S", 240)
    rss_bound = env_float("STRESS_RSS_GROWTH_MB", 64)
    big_max = int(env_float("STRESS_BIG_MAX", 1 << 20))
    total = max(10 * nthreads, int(1500 * scale))
    faulthandler.dump_traceback_later(timeout_s, exit=True)
    # Planned handler exceptions are logged by the package; keep them quiet.
    logging.getLogger("gohttp").setLevel(logging.CRITICAL)

    servers = []
    for mode in (gohttp.PUSH, gohttp.PULL):
        srv = gohttp.Server(dispatch=mode, max_handlers=32, queue_timeout=60,
                            max_body_bytes=8 << 20)
        for pattern, fn in ROUTES:
            srv.route(pattern, fn)
        srv.port = srv.start("127.0.0.1", 0)
        servers.append(srv)
    ports = [s.port for s in servers]

    def port_of(rnd):
        return ports[rnd.getrandbits(1)]

    hm = threading.Thread(target=hammer, daemon=True)
    hm.start()
    t0 = time.monotonic()
    warm = total // 10
    run_clients(nthreads, warm, port_of, big_max, 1)
    rss_warm = rss_kib()
    run_clients(nthreads, total - warm, port_of, big_max, 2)
    rss_end = rss_kib()
    t1 = time.monotonic()

    # Shutdown while busy, on each server.
    slow_ok = []
    for srv in servers:
        slow = 6
        ts = [threading.Thread(target=slow_client,
                               args=(srv.port, "%016x" % (0xfeed << 48 | srv.port << 8 | i),
                                     slow_ok)) for i in range(slow)]
        for t in ts:
            t.start()
        for _ in range(slow):
            if not in_slow.acquire(timeout=20):
                fail("slow handlers did not start")
                break
        srv.shutdown(20)
        # gohttp.h: the listener is closed when shutdown returns, so the
        # very next connect must be refused.
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        except OSError:
            pass
        else:
            fail("a connection was accepted after shutdown() returned")
        for t in ts:
            t.join()
        if not srv.wait(30):
            fail("server did not stop within 30 s of shutdown")
    if len(slow_ok) != 12:
        fail("%d of 12 in-flight requests survived the graceful shutdown" % len(slow_ok))

    hammer_stop.set()
    hm.join()
    deadline = time.monotonic() + 30  # late threads of the last handlers
    while len(late_results) < kind_done["late-thread"] and time.monotonic() < deadline:
        time.sleep(0.01)
    if len(late_results) != kind_done["late-thread"]:
        fail("%d late threads reported, %d started"
             % (len(late_results), kind_done["late-thread"]))
    for tok, seen in list(late_results.items()):
        bad = [s for s in seen if not s.endswith(":stale")]
        if bad:
            fail("late thread of %s: %s" % (tok, ", ".join(bad)))
    before_close = gohttp.stats()
    for srv in servers:
        if not srv.close():
            fail("close() could not free a server")
    st = gohttp.stats()
    live = {k: st[k] for k in ("live_handles", "live_arenas", "arena_bytes", "live_servers",
                               "live_tokens", "live_go_handles")}
    if any(live.values()):
        fail("live counters not zero at the end: %r" % live)
    if kind_done["stash"] and not counts["raw_stale_checks"]:
        fail("%d stash requests but no raw-handle stale check ran"
             % kind_done["stash"])
    leftover = len(stash)
    if leftover:
        fail("%d stashed objects never taken" % leftover)

    print("stress_py: %d requests in %.2f s (%.0f req/s), %d client threads, scale %.2f"
          % (total, t1 - t0, total / (t1 - t0), nthreads, scale))
    for k, _ in KINDS:
        print("  %-12s %d" % (k, kind_done[k]))
    print("  stale checks %d, late threads %d, hammer probes %d, library stale "
          "rejections %d, served %d, read EIO %d, write EIO %d"
          % (counts["stale_checks"], len(late_results), hammer_probes[0],
             before_close["stale_rejections"], before_close["requests_served"],
             counts["read_eio"], counts["write_eio"]))
    growth = (rss_end - rss_warm) / 1024.0
    print("  RSS after warm-up %.1f MiB, after run %.1f MiB, growth %.1f MiB (bound %s)"
          % (rss_warm / 1024.0, rss_end / 1024.0, growth,
             "%.0f MiB" % rss_bound if rss_bound > 0 else "report only"))
    if rss_bound > 0 and growth > rss_bound:
        fail("RSS grew %.1f MiB after warm-up (bound %.0f MiB)" % (growth, rss_bound))
    done = sum(kind_done.values())
    if done != total:
        fail("%d of %d requests completed" % (done, total))
    if not any(live.values()):
        print("  live counters at end: all zero")
    print("stress_py: %s (%d failures)" % ("FAILED" if failures else "ok", len(failures)))
    faulthandler.cancel_dump_traceback_later()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
