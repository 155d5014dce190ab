"""make bench: one wrk run per server, same load for all, on 127.0.0.1.

    python bench/run.py --build BUILD [--duration 8] [--connections 64]
                        [--threads 2] [--only NAME,...] [--runs 1]
                        [--out FILE.md]

Servers (each answers "Hello, world.\\n" on /):
  go          plain Go net/http (bench/gohello)                the baseline
  c           gohttp, C handler (bench/chello.c)
  py-pull     gohttp, Python handler, seed API, pull dispatch  (python -m gohttp)
  py-push     gohttp, Python handler, seed API, push dispatch
  wsgi-flask  gohttp WSGI server + Flask
  flask       Flask's own threaded server (Werkzeug)

Each server is started on a free port, warmed up for one second, measured
with `wrk --latency`, and stopped.  The table gives requests/s, p99 latency
and the ratio of requests/s to plain Go; with --runs N every figure is the
median of N runs.  Stops by itself; loopback only.
"""

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

TARGETS = [
    ("go", "plain Go net/http"),
    ("c", "gohttp + C handler"),
    ("py-pull", "gohttp + Python (seed API, pull)"),
    ("py-push", "gohttp + Python (seed API, push)"),
    ("wsgi-flask", "gohttp WSGI + Flask"),
    ("flask", "Flask's own server (threaded)"),
]
# The project's throughput targets, as ratios of plain Go's requests/s.
GOALS = {"c": 0.97, "py-pull": 0.90, "py-push": 0.90}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name, build, port):
    """argv and environment that start server `name` on port."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(build, "python"), HERE, env.get("PYTHONPATH", "")])
    py = sys.executable
    gohttp_cli = [py, "-m", "gohttp", "--bind", "127.0.0.1:%d" % port,
                  "--log-level", "warning"]
    if name == "go":
        return [os.path.join(build, "bench", "gohello"), str(port)], env
    if name == "c":
        return [os.path.join(build, "bench", "chello"), str(port)], env
    if name == "py-pull":
        return gohttp_cli + ["--dispatch", "pull"], env
    if name == "py-push":
        return gohttp_cli + ["--dispatch", "push"], env
    if name == "wsgi-flask":
        return gohttp_cli + ["flask_hello:app"], env
    if name == "flask":
        return [py, os.path.join(HERE, "flask_hello.py"), str(port)], env
    raise ValueError(name)


def wait_listening(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    """(requests/s, p99 in ms, non-2xx count, socket errors) from wrk."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99 = float(m.group(1)) * _UNITS[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:(.*)", text)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0, \
        errors.group(1).strip() if errors else ""


def measure(name, build, args):
    port = free_port()
    argv, env = command(name, build, port)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        url = "http://127.0.0.1:%d/" % port
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", url],
                       capture_output=True, check=True)      # warm-up
        out = subprocess.run(
            ["wrk", "-t%d" % args.threads, "-c%d" % args.connections,
             "-d%ds" % args.duration, "--latency", url],
            capture_output=True, text=True, check=True).stdout
        return parse_wrk(out)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    targets = [(n, d) for n, d in TARGETS if not only or n in only]

    results = {}
    for run in range(args.runs):
        for name, _ in targets:
            r = measure(name, os.path.abspath(args.build), args)
            results.setdefault(name, []).append(r)
            print("  run %d %-11s %9.0f req/s  p99 %7.2f ms%s" % (
                run + 1, name, r[0], r[1],
                "  non-2xx %d" % r[2] if r[2] else ""), file=sys.stderr)

    med = {n: (statistics.median(r[0] for r in rs),
               statistics.median(r[1] for r in rs),
               sum(r[2] for r in rs), rs[-1][3]) for n, rs in results.items()}
    base = med.get("go", (None,))[0]
    lines = [
        "wrk -t%d -c%d -d%ds on 127.0.0.1, %d run(s) each (median), "
        "hello-world handler; %d CPUs shared with the load generator" % (
            args.threads, args.connections, args.duration, args.runs,
            os.cpu_count()),
        "",
        "| server | req/s | p99 latency | vs plain Go | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, desc in targets:
        rps, p99, non2xx, errs = med[name]
        ratio = "%.2f" % (rps / base) if base else "-"
        goal = GOALS.get(name)
        verdict = ""
        if goal and base:
            verdict = ">= %.2f: %s" % (goal, "met" if rps / base >= goal
                                       else "NOT met")
        if non2xx:
            verdict += " (%d non-2xx!)" % non2xx
        lines.append("| %s | %.0f | %.2f ms | %s | %s |" % (
            desc, rps, p99, ratio, verdict))
    table = "\n".join(lines)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
