"""make bench: gohttp against plain Go and the Python WSGI servers.

    python bench/run.py --build BUILD [--out-dir DIR] [--threads 1]
        [--connections 32] [--duration 4] [--warmup 1] [--rounds 3]
        [--only NAME,...] [--rss [--rss-requests N]]

Every server answers "Hello, world.\\n" on / from one of three
applications: "hello" (no WSGI: plain Go, a C handler, a C pull loop,
the seed API),
"raw" (bench/wsgi_hello.py, the smallest WSGI app) and "flask"
(bench/flask_hello.py); the "file" rows serve a 10 KB file at
/static/file10k.txt, once by Go's file server (--static) and once by a
Python handler (bench/wsgi_file.py) that reads and returns it.  SERVERS below is the whole list; rows whose gohttp
CLI option is missing from `python -m gohttp --help` are skipped with a note.

The rounds are interleaved: round 1 runs every server once, then round 2,
and so on.  One run: start the server on a port this script picks (a bind
failure retries on another port), wait until the server's own process tree
listens on it, check one response, warm up with wrk, then measure with
`wrk --latency` while counting the context switches of the server's whole
process tree (voluntary + nonvoluntary, every thread of every descendant,
from /proc), and stop it (SIGINT, SIGKILL after --stop-timeout).

Reported per server: medians over the rounds of requests/s and p99, the
lowest and highest round's requests/s, the ratio to plain Go and to
granian serving the same application, and context switches per request;
then the targets, each met or not met on the medians, a ratio target also
with its value in every round (the two servers' runs of one round, which
are minutes apart at most) and in how many rounds it was met.  Written to
DIR/results.md, drawn in DIR/results.png.

--rss serves --rss-requests requests of the Flask app under gohttp (through
bench/gohttp_rss_serve.py, the public gohttp.run API) and reports the
server's VmRSS before and after, and the live-object counters the server
reads after it stopped.  Loopback only; stops by itself.
"""

import argparse
import collections
import http.client
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
HELLO = b"Hello, world.\n"
APPS = {"raw": "wsgi_hello:app", "flask": "flask_hello:app",
        "file": "wsgi_file:app"}
# The path wrk requests, and the body check_answer expects, per application.
FILE_PATH = "/static/file10k.txt"
FILE_BODY = b"".join(b"%05d gohttp static file row.......\n" % i
                     for i in range(256))[:10240]


# -- the servers -----------------------------------------------------------

def gohttp_cli(ctx, port, *extra):
    argv = [PY, "-m", "gohttp", *extra, "--bind", "127.0.0.1:%d" % port]
    if "--log-level" in ctx.gohttp_help:
        argv += ["--log-level", "warning"]
    return argv


def granian(app):
    return lambda ctx, port: [
        PY, "-m", "granian", "--interface", "wsgi", "--workers", "1",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        APPS[app]]


def bjoern(app):
    return lambda ctx, port: [PY, os.path.join(HERE, "bjoern_serve.py"),
                              APPS[app], str(port)]


def gunicorn(app):
    return lambda ctx, port: [
        PY, "-m", "gunicorn", "-k", "gthread", "--threads", "8",
        "--workers", "1", "--bind", "127.0.0.1:%d" % port,
        "--log-level", "warning", APPS[app]]


Server = collections.namedtuple("Server", "name label app argv needs")
# needs: a gohttp CLI option the row requires ("--workers"), or the same
# prefixed with "!" for a row that exists only while the option does not.
SERVERS = [
    Server("go", "plain Go net/http", "hello",
           lambda ctx, port: [ctx.bin("gohello"), str(port)], None),
    Server("go-timeouts", "plain Go with gohttp's default timeouts",
           "hello",
           lambda ctx, port: [ctx.bin("gohello"), str(port), "timeouts"],
           None),
    Server("c", "gohttp + C handler", "hello",
           lambda ctx, port: [ctx.bin("chello"), str(port)], None),
    # GOMAXPROCS as the Python package sets it (gohttp/__init__.py), so
    # the hand-off is the same one the Python pull rows make.
    Server("c-pull", "gohttp + C pull loop", "hello",
           lambda ctx, port: [
               "env", "GOMAXPROCS=%d" % (len(os.sched_getaffinity(0)) + 1),
               ctx.bin("cpull"), str(port)], None),
    Server("seed", "gohttp seed API", "hello",
           lambda ctx, port: gohttp_cli(ctx, port), "!--dispatch"),
    Server("seed-pull", "gohttp seed API, pull", "hello",
           lambda ctx, port: gohttp_cli(ctx, port, "--dispatch", "pull"),
           "--dispatch"),
    Server("seed-push", "gohttp seed API, push", "hello",
           lambda ctx, port: gohttp_cli(ctx, port, "--dispatch", "push"),
           "--dispatch"),
    Server("gohttp-raw", "gohttp WSGI", "raw",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["raw"]), None),
    Server("gohttp-w2-raw", "gohttp WSGI --workers 2", "raw",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["raw"],
                                        "--workers", "2"), "--workers"),
    Server("granian-raw", "granian", "raw", granian("raw"), None),
    Server("bjoern-raw", "bjoern", "raw", bjoern("raw"), None),
    Server("gunicorn-raw", "gunicorn gthread", "raw", gunicorn("raw"), None),
    Server("gohttp-flask", "gohttp WSGI", "flask",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["flask"]), None),
    Server("gohttp-w2-flask", "gohttp WSGI --workers 2", "flask",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["flask"],
                                        "--workers", "2"), "--workers"),
    Server("granian-flask", "granian", "flask", granian("flask"), None),
    Server("bjoern-flask", "bjoern", "flask", bjoern("flask"), None),
    Server("gunicorn-flask", "gunicorn gthread", "flask", gunicorn("flask"),
           None),
    Server("gohttp-static", "gohttp --static (Go file server)", "file",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["file"], "--static",
                                        "/static=" + ctx.www), "--static"),
    Server("gohttp-pyfile", "gohttp, Python handler reads the file", "file",
           lambda ctx, port: gohttp_cli(ctx, port, APPS["file"]), None),
]


def app_path(app):
    return FILE_PATH if app == "file" else "/"


def app_body(app):
    return FILE_BODY if app == "file" else HELLO


class Context:
    """What every server's argv needs: the build tree and the gohttp CLI."""

    def __init__(self, build):
        self.build = os.path.abspath(build)
        # The file rows' directory, written afresh for every bench run.
        self.www = os.path.join(self.build, "bench", "www")
        os.makedirs(self.www, exist_ok=True)
        with open(os.path.join(self.www, "file10k.txt"), "wb") as f:
            f.write(FILE_BODY)
        self.env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                        GOHTTP_BENCH_WWW=self.www)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [
            os.path.join(self.build, "python"), HERE,
            os.environ.get("PYTHONPATH")]))
        self.gohttp_help = subprocess.run(
            [PY, "-m", "gohttp", "--help"], env=self.env, cwd=HERE,
            capture_output=True, text=True, check=True).stdout

    def bin(self, name):
        return os.path.join(self.build, "bench", name)

    def skip_reason(self, server):
        """None when the row runs, else why not."""
        if server.needs is None:
            return None
        option = server.needs.lstrip("!")
        listed = re.search(r"(^|\s)%s\b" % re.escape(option),
                           self.gohttp_help) is not None
        if server.needs.startswith("!") and listed:
            return "python -m gohttp has %s: its rows replace this" % option
        if not server.needs.startswith("!") and not listed:
            return "`python -m gohttp --help` lists no %s" % option
        return None


# -- /proc: process trees, sockets, context switches, RSS ------------------

def process_tree(root):
    """root and every descendant pid."""
    children = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children[ppid].append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def context_switches(root):
    """Voluntary + nonvoluntary context switches of every thread in the
    tree.  (A thread that exited is no longer counted.)"""
    total = 0
    for pid in process_tree(root):
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:",
                                            "nonvoluntary_ctxt_switches:")):
                            total += int(line.split(":")[1])
            except OSError:
                continue
    return total


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def tree_listens_on(root, port):
    """True once a process of the tree owns a listening socket on
    127.0.0.1:port (so a stranger on the port is never measured)."""
    wanted = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            host, _, hexport = fields[1].partition(":")
            if int(hexport, 16) == port and fields[3] == "0A" and \
                    host in ("0100007F", "00000000"):
                wanted.add("socket:[%s]" % fields[9])
    if not wanted:
        return False
    for pid in process_tree(root):
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in wanted:
                    return True
            except OSError:
                continue
    return False


# -- one server's life -----------------------------------------------------

class Failed(Exception):
    pass


def pick_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv_of, ctx, timeout=30.0, attempts=3):
    """Starts a server on a picked port: (Popen, port, stderr file).
    A server that exits before it listens is retried on another port."""
    for attempt in range(attempts):
        port = pick_port()
        err = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(argv_of(ctx, port), env=ctx.env, cwd=HERE,
                                stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if tree_listens_on(proc.pid, port):
                return proc, port, err
            time.sleep(0.05)
        stop(proc)
        err.seek(0)
        why = err.read().strip().splitlines()[-3:]
        err.close()
        if attempt == attempts - 1:
            raise Failed("did not listen on 127.0.0.1:%d: %s" %
                         (port, " / ".join(why) or "no output"))
    raise AssertionError("unreachable")


def stop(proc, timeout=10.0):
    """SIGINT, then SIGKILL of the whole session after timeout; returns
    True when the server stopped by itself."""
    clean = True
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            clean = False
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # leftovers of the session
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    return clean


def check_answer(port, app="hello"):
    path, want = app_path(app), app_body(app)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200 or body != want:
        raise Failed("GET %s answered %d %r, not 200 %r" %
                     (path, resp.status, body[:40], want[:40]))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(port, threads, connections, seconds, path="/"):
    """Runs wrk --latency on path; returns requests, requests/s, p99 (ms),
    and the number of errors (socket errors + non-2xx)."""
    out = subprocess.run(
        ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds,
         "--latency", "http://127.0.0.1:%d%s" % (port, path)],
        capture_output=True, text=True, timeout=seconds + 30).stdout
    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not (requests and rps and p99):
        raise Failed("wrk output not understood: %r" % out[-300:])
    errors = sum(int(n) for n in re.findall(
        r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return (int(requests.group(1)), float(rps.group(1)),
            float(p99.group(1)) * _UNITS[p99.group(2)], errors)


Run = collections.namedtuple("Run", "rps p99 cs_per_req errors clean")


def measure(server, ctx, args):
    proc, port, err = start(server.argv, ctx)
    try:
        check_answer(port, server.app)
        path = app_path(server.app)
        wrk(port, args.threads, args.connections, args.warmup, path)
        before = context_switches(proc.pid)
        requests, rps, p99, errors = wrk(port, args.threads,
                                         args.connections, args.duration,
                                         path)
        switches = context_switches(proc.pid) - before
    finally:
        clean = stop(proc, args.stop_timeout)
        err.close()
    return Run(rps, p99, switches / max(requests, 1), errors, clean)


# -- the RSS row -----------------------------------------------------------

def measure_rss(ctx, args):
    """The Flask app under gohttp serving --rss-requests requests."""
    stats_file = os.path.join(os.path.abspath(args.out_dir),
                              "rss_stats.json")
    if os.path.exists(stats_file):
        os.remove(stats_file)
    argv = lambda ctx, port: [PY, os.path.join(HERE, "gohttp_rss_serve.py"),
                              APPS["flask"], str(port), stats_file]
    proc, port, err = start(argv, ctx)
    try:
        check_answer(port)
        rss_start = rss_kib(proc.pid)
        rate = wrk(port, args.threads, args.connections, args.warmup)[1]
        rss_before = rss_kib(proc.pid)
        # wrk runs by time, so the requests are served in runs sized from
        # the last rate until --rss-requests are reached (or the time bound).
        requests, errors = 0, 0
        t0 = time.monotonic()
        while requests < args.rss_requests and \
                time.monotonic() - t0 < args.rss_max_seconds:
            seconds = min(30, max(1, math.ceil(
                (args.rss_requests - requests) / rate)))
            n, rate, _, e = wrk(port, args.threads, args.connections,
                                seconds)
            requests += n
            errors += e
        seconds = time.monotonic() - t0
        rps = requests / seconds
        rss_after = rss_kib(proc.pid)
    finally:
        clean = stop(proc, args.stop_timeout)
        err.seek(0)
        tail = err.read().strip().splitlines()[-3:]
        err.close()
    try:
        with open(stats_file) as f:
            counters = json.load(f)
    except (OSError, ValueError):
        counters = None
    return dict(requests=requests, rps=rps, seconds=seconds, errors=errors,
                rss_start=rss_start, rss_before=rss_before,
                rss_after=rss_after, counters=counters, clean=clean,
                stderr=tail)


# -- report ----------------------------------------------------------------

def medians(runs):
    return Run(statistics.median(r.rps for r in runs),
               statistics.median(r.p99 for r in runs),
               statistics.median(r.cs_per_req for r in runs),
               sum(r.errors for r in runs), all(r.clean for r in runs))


def ratio(med, a, b):
    if a in med and b in med and med[b].rps:
        return med[a].rps / med[b].rps
    return None


def round_ratios(by_round, a, b):
    """a's req/s over b's in each round both were measured in, in round
    order: the rounds are interleaved, so the two runs of a round are
    minutes apart at most and see the same machine."""
    ra, rb = by_round.get(a, {}), by_round.get(b, {})
    return [ra[n].rps / rb[n].rps for n in sorted(ra) if n in rb and
            rb[n].rps]


def spread(by_round, a, b, goal):
    """How a ratio target fared round by round, e.g. "rounds 0.73x 1.38x
    1.02x: met in 2 of 3"; empty with fewer than two shared rounds."""
    rs = round_ratios(by_round, a, b)
    if len(rs) < 2:
        return ""
    return "; rounds %s: met in %d of %d" % (
        " ".join("%.2fx" % r for r in rs), sum(r >= goal for r in rs),
        len(rs))


def targets(med, rss, rss_goal, by_round):
    """(met, text) lines for the issue's "Done when" list; a ratio is
    judged on the medians and followed by its per-round values."""
    lines = []

    def at_least(text, a, b, goal, aim=""):
        r = ratio(med, a, b)
        if r is None:
            lines.append((None, "%s (not measured)" % text))
        else:
            lines.append((r >= goal, "%s: %.3fx (target >= %.2fx%s%s)" %
                          (text, r, goal, aim,
                           spread(by_round, a, b, goal))))

    at_least("raw WSGI hello, gohttp vs granian", "gohttp-raw",
             "granian-raw", 1.0, ", aim 1.2x")
    at_least("raw WSGI hello, gohttp vs plain Go", "gohttp-raw", "go", 0.75)
    at_least("Flask hello, gohttp vs granian", "gohttp-flask",
             "granian-flask", 1.5)
    at_least("Flask hello moonshot, gohttp vs bjoern", "gohttp-flask",
             "bjoern-flask", 1.0)
    for name in ("seed", "seed-pull", "seed-push"):
        if name in med:
            at_least("%s hello vs plain Go" % name, name, "go", 0.90)
    at_least("C handler vs plain Go", "c", "go", 0.97)
    for s in SERVERS:
        if s.name.startswith("gohttp-") and s.name in med:
            peer = "granian-" + s.app
            if peer in med:
                lines.append((med[s.name].p99 <= med[peer].p99,
                              "p99 %s %.2f ms <= granian %.2f ms" % (
                                  s.name, med[s.name].p99, med[peer].p99)))
    for s in SERVERS:
        if s.name.startswith("gohttp-") and s.app == "flask" and \
                s.name in med:
            cs = med[s.name].cs_per_req
            lines.append((cs <= 2.0, "context switches per request, %s: "
                          "%.2f (target <= 2)" % (s.name, cs)))
    if rss is not None:
        growth = (rss["rss_after"] - rss["rss_before"]) / 1024.0
        text = "RSS growth over %d Flask requests: %.2f MiB (target < 5 MiB" \
            " over %d" % (rss["requests"], growth, rss_goal)
        if rss["requests"] < rss_goal:
            lines.append((None, text + "; run --rss-requests %d)" % rss_goal))
        else:
            lines.append((growth < 5.0, text + ")"))
        c = rss["counters"]
        zero = c is not None and all(c.get(k) == 0 for k in (
            "live_handles", "live_arenas", "arena_bytes", "live_servers"))
        lines.append((zero, "live-object counters after the RSS run: %s" % (
            ", ".join("%s %s" % (k, c.get(k)) for k in (
                "live_handles", "live_arenas", "arena_bytes", "live_servers"))
            if c is not None else "no stats file written")))
    return lines


def versions():
    out = []
    for dist in ("granian", "bjoern-binary", "gunicorn", "flask"):
        try:
            out.append("%s %s" % (dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            out.append("%s missing" % dist)
    go = subprocess.run(["go", "version"], capture_output=True, text=True)
    return ", ".join(out + ["Python %d.%d.%d" % sys.version_info[:3],
                            (go.stdout.split() or ["", "", "go?"])[2]])


def scheduling():
    """The kernel setting that decides how the two cores are shared: with
    autogroup on (the default), each server runs in its own session, so
    its whole process tree and wrk get an equal share of the CPUs; off,
    every thread competes alone and a server with more busy threads gets
    more of the machine (granian's raw row measured about twice as fast
    that way, gohttp's about the same)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            on = f.read().strip() == "1"
    except OSError:
        return "Scheduler autogroup: unknown."
    return ("Scheduler autogroup %s: %s." % (
        "on" if on else "off",
        "each server's process tree and wrk share the CPUs equally" if on
        else "every thread competes alone; multi-threaded servers get more "
        "CPU than with it on"))


def report(args, rows, med, failures, skipped, rss, by_round):
    out = ["# make bench", "",
           "wrk -t%d -c%d -d%ds --latency on 127.0.0.1 after a %ds warm-up; "
           "%d interleaved round(s), medians; one worker each unless the "
           "name says otherwise; %d CPUs shared by servers and wrk." % (
               args.threads, args.connections, args.duration, args.warmup,
               args.rounds, os.cpu_count()),
           "%s. %s" % (versions(), time.strftime("%Y-%m-%d %H:%M %Z")),
           "", scheduling()]
    if med:
        out += ["", "| server | app | req/s | req/s, lowest-highest round "
                "| p99 ms | vs plain Go | vs granian same app | cs/req |",
                "|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in rows:
        if s.name not in med:
            continue
        m = med[s.name]
        vs_go = ratio(med, s.name, "go")
        vs_gr = ratio(med, s.name, "granian-" + s.app) \
            if s.app != "hello" else None
        each = [r.rps for r in by_round.get(s.name, {}).values()]
        out.append("| %s (%s) | %s | %.0f | %s | %.2f | %s | %s | %.2f |" % (
            s.label, s.name, s.app, m.rps,
            "%.0f-%.0f" % (min(each), max(each)) if each else "-", m.p99,
            "%.2f" % vs_go if vs_go is not None else "-",
            "%.2f" % vs_gr if vs_gr is not None else "-", m.cs_per_req))
    if rss is not None:
        out += ["", "RSS: gohttp WSGI + Flask (bench/gohttp_rss_serve.py), "
                "%d requests in %.1f s (%.0f req/s, wrk -t%d -c%d): VmRSS "
                "%.1f MiB after start, %.1f MiB after the warm-up, %.1f MiB "
                "after the requests; growth %+.2f MiB." % (
                    rss["requests"], rss["seconds"], rss["rps"],
                    args.threads, args.connections, rss["rss_start"] / 1024,
                    rss["rss_before"] / 1024, rss["rss_after"] / 1024,
                    (rss["rss_after"] - rss["rss_before"]) / 1024)]
    out += ["", "Targets:"]
    for met, text in targets(med, rss, 1000000, by_round):
        out.append("- %s: %s" % ({True: "met", False: "not met",
                                  None: "not measured"}[met], text))
    notes = []
    for s, why in skipped:
        notes.append("%s skipped: %s." % (s.name, why))
    for name, why in failures:
        notes.append("%s failed: %s" % (name, why))
    for s in rows:
        m = med.get(s.name)
        if m and m.errors:
            notes.append("%s: %d socket errors or non-2xx answers under "
                         "load." % (s.name, m.errors))
        if m and not m.clean:
            notes.append("%s did not stop within %gs of SIGINT and was "
                         "killed." % (s.name, args.stop_timeout))
    if rss is not None:
        if rss["errors"]:
            notes.append("RSS run: %d socket errors or non-2xx." %
                         rss["errors"])
        if not rss["clean"]:
            notes.append("RSS server did not stop on SIGINT: %s" %
                         " / ".join(rss["stderr"]))
    static = ratio(med, "gohttp-static", "gohttp-pyfile")
    if static is not None:
        notes.append("10 KB file: Go's file server (--static) %.0f req/s, "
                     "%.2fx the Python handler that reads and returns it "
                     "(%.0f req/s)." % (med["gohttp-static"].rps, static,
                                         med["gohttp-pyfile"].rps))
    pulled = [(name, ratio(med, name, "c-pull"))
              for name in ("gohttp-raw", "seed-pull")]
    pulled = ["%s %.2fx" % (name, r) for name, r in pulled if r is not None]
    if pulled:
        notes.append("The C pull loop (one C host thread taking the "
                     "requests, no Python) makes the hand-off of the "
                     "Python package's default dispatch; the Python rows "
                     "against it: %s." %
                     ", ".join(pulled))
    timed = ratio(med, "c", "go-timeouts")
    if timed is not None:
        notes.append("C handler vs plain Go with gohttp's default timeouts "
                     "(read header, idle, a send deadline per response): "
                     "%.2fx; plain Go with them vs without: %.2fx." %
                     (timed, ratio(med, "go-timeouts", "go")))
    handoff = ratio(med, "c-pull", "c")
    if handoff is not None:
        notes.append("C pull loop vs C handler (push): %.2fx, the cost of "
                     "handing each request to a host thread and back."
                     % handoff)
    notes.append("cs/req: context switches of every thread of the "
                 "server's process tree during the measured run, divided "
                 "by the requests wrk counted (threads that exited during "
                 "the run are not counted).")
    out += ["", "Notes:"] + ["- " + n for n in notes]
    return "\n".join(out) + "\n"


def chart(path, rows, med, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [s for s in rows if s.name in med][::-1]
    colors = {"hello": "#7f7f7f", "raw": "#1f77b4", "flask": "#d62728",
              "file": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.6))
    values = [med[s.name].rps / 1000 for s in shown]
    # gohttp and plain Go solid, the Python peers lighter.
    ours = ("go", "c", "seed", "gohttp")
    ax.barh(range(len(shown)), values,
            color=[colors[s.app] + ("ff" if s.name.split("-")[0] in ours
                                    else "70") for s in shown])
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(["%s [%s]" % (s.label, s.app) for s in shown])
    for i, s in enumerate(shown):
        ax.text(values[i], i, " %.1fk  p99 %.1f ms" % (
            values[i], med[s.name].p99), va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.35)
    ax.set_xlabel("thousand requests/s (median of %d rounds)" % args.rounds)
    ax.set_title("wrk -t%d -c%d -d%ds, 127.0.0.1, one worker unless named;"
                 " solid = gohttp and plain Go" % (
                     args.threads, args.connections, args.duration),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main ------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--out-dir", default=None,
                    help="where results.md/.png go (default BUILD/bench)")
    ap.add_argument("--threads", type=int, default=1, help="wrk -t")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c")
    ap.add_argument("--duration", type=int, default=4, help="wrk -d, s")
    ap.add_argument("--warmup", type=int, default=1, help="seconds")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds (0: only the RSS row)")
    ap.add_argument("--only", default="",
                    help="comma-separated server names")
    ap.add_argument("--stop-timeout", type=float, default=10.0,
                    help="seconds from SIGINT to SIGKILL")
    ap.add_argument("--rss", action=argparse.BooleanOptionalAction,
                    default=False, help="also run the RSS row")
    ap.add_argument("--rss-requests", type=int, default=100000,
                    help="requests of the RSS row (the target counts 1M)")
    ap.add_argument("--rss-max-seconds", type=int, default=900,
                    help="upper bound of the RSS row's wrk runs")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the server being measured is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args.out_dir = args.out_dir or os.path.join(args.build, "bench")
    os.makedirs(args.out_dir, exist_ok=True)

    ctx = Context(args.build)
    only = set(filter(None, args.only.split(",")))
    unknown = only - {s.name for s in SERVERS}
    if unknown:
        ap.error("unknown server(s): %s" % ", ".join(sorted(unknown)))
    rows, skipped = [], []
    for s in SERVERS:
        if only and s.name not in only:
            continue
        why = ctx.skip_reason(s)
        if why:
            skipped.append((s, why))
        else:
            rows.append(s)

    by_round = collections.defaultdict(dict)  # name -> {round: Run}
    failures = []
    for rnd in range(1, args.rounds + 1):
        for s in rows:
            try:
                r = measure(s, ctx, args)
            except (Failed, OSError, subprocess.SubprocessError) as exc:
                failures.append((s.name, "round %d: %s" % (rnd, exc)))
                print("round %d %-16s FAILED %s" % (rnd, s.name, exc),
                      file=sys.stderr)
                continue
            by_round[s.name][rnd] = r
            print("round %d %-16s %9.0f req/s  p99 %6.2f ms  %5.2f cs/req%s"
                  % (rnd, s.name, r.rps, r.p99, r.cs_per_req,
                     "  errors %d" % r.errors if r.errors else ""),
                  file=sys.stderr, flush=True)
    med = {name: medians(list(rs.values())) for name, rs in by_round.items()}

    rss = None
    if args.rss:
        try:
            rss = measure_rss(ctx, args)
            print("rss %d requests: %d -> %d KiB" % (
                rss["requests"], rss["rss_before"], rss["rss_after"]),
                file=sys.stderr)
        except (Failed, OSError, subprocess.SubprocessError) as exc:
            failures.append(("rss", str(exc)))

    text = report(args, rows, med, failures, skipped, rss, by_round)
    print(text)
    with open(os.path.join(args.out_dir, "results.md"), "w") as f:
        f.write(text)
    if med:
        chart(os.path.join(args.out_dir, "results.png"), rows, med, args)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
