#!/usr/bin/env python3
"""The report of `make coverage` (mk/coverage.mk): line coverage per file of
the C in proxy/ and shim/ (gcov), the Go in lib/ (go test -coverprofile) and
the Python in python/gohttp (coverage.py), the lines no test reaches as
compact ranges, and each area's goal met or not met. Printed and written to
BUILD/report.md.

Inputs, all under --build:
  every *.gcda (with its .gcno beside it)   read with `gcov --json-format`
  go.cover                                  go test's coverage profile
  go-hosts.cover                            libgohttp.so's (go build -cover)
                                            in the C and Python hosts
  python.json                               `coverage json` of the run

A line of C is one gcov reports as code; it is covered when any program of
the run executed it (the same file is compiled into several programs: the
proxy Check binaries, libgohttp.so, the go test binary). A line of Go is a
line inside a block of the profile that holds more than braces and
comments; it is covered when a block over it ran. A line of Python is a
statement coverage.py knows.

Exit status 1 when an area named by --enforce is below its goal (or has
no data), else 0.
"""

import argparse
import glob
import json
import os
import subprocess
import sys


def compact(lines):
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'"""
    out = []
    start = prev = None
    for n in sorted(lines):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ", ".join(out)


def c_coverage(root, build):
    """{relative path: {line: count}} for the files under proxy/ and shim/."""
    files = {}
    gcdas = sorted(glob.glob(os.path.join(build, "**", "*.gcda"), recursive=True))
    for gcda in gcdas:
        res = subprocess.run(["gcov", "--json-format", "--stdout", gcda],
                             cwd=os.path.dirname(gcda), capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit("coverage_report: gcov failed on %s:\n%s" % (gcda, res.stderr))
        # One JSON document per data file, each on its own line.
        for doc in res.stdout.splitlines():
            if not doc.strip():
                continue
            data = json.loads(doc)
            cwd = data.get("current_working_directory", os.path.dirname(gcda))
            for f in data["files"]:
                path = os.path.normpath(os.path.join(cwd, f["file"]))
                rel = os.path.relpath(path, root)
                if rel.split(os.sep)[0] not in ("proxy", "shim") or os.sep + "tests" + os.sep in rel:
                    continue
                counts = files.setdefault(rel, {})
                for ln in f["lines"]:
                    n = ln["line_number"]
                    counts[n] = counts.get(n, 0) + ln["count"]
    return files, len(gcdas)


def module_path(root):
    with open(os.path.join(root, "go.mod")) as f:
        for line in f:
            if line.startswith("module "):
                return line.split()[1]
    raise SystemExit("coverage_report: no module line in go.mod")


def go_coverage(root, profiles):
    """{relative path: {line: count}} from Go coverage profiles (text)."""
    mod = module_path(root)
    sources = {}
    files = {}
    lines = []
    for p in profiles:
        with open(p) as f:
            lines.extend(f.read().splitlines())
    for raw in lines:
        raw = raw.strip()
        if not raw or raw.startswith("mode:"):
            continue
        name, rest = raw.rsplit(":", 1)
        span, _stmts, count = rest.split()
        a, b = span.split(",")
        sl, sc = (int(x) for x in a.split("."))
        el, ec = (int(x) for x in b.split("."))
        rel = name[len(mod) + 1:] if name.startswith(mod + "/") else name
        if rel not in sources:
            with open(os.path.join(root, rel)) as src:
                sources[rel] = src.read().split("\n")
        text = sources[rel]
        # A block that starts after the last character of its first
        # line (just after a `{`) or ends before the first one of its
        # last line (at a `}`) does not hold those lines.
        if not text[sl - 1][sc - 1:].strip():
            sl += 1
        if not text[el - 1][:ec - 1].strip():
            el -= 1
        counts = files.setdefault(rel, {})
        for n in range(sl, el + 1):
            code = text[n - 1].strip()
            if not code or code.startswith("//") or not code.strip("{}()[], "):
                continue
            counts[n] = max(counts.get(n, 0), int(count))
    return files


def python_coverage(root, report):
    """{relative path: {line: 1 or 0}} from `coverage json`."""
    with open(report) as f:
        data = json.load(f)
    files = {}
    for name, info in data["files"].items():
        path = name if os.path.isabs(name) else os.path.join(root, name)
        rel = os.path.relpath(os.path.normpath(path), root)
        counts = files.setdefault(rel, {})
        for n in info["executed_lines"]:
            counts[n] = 1
        for n in info["missing_lines"]:
            counts.setdefault(n, 0)
    return files


def table(title, files, out):
    """Prints one language's table; returns (lines, covered)."""
    out.append("## %s" % title)
    out.append("")
    out.append("| file | lines | covered | % |")
    out.append("|---|---:|---:|---:|")
    total = covered = 0
    missing = []
    for rel in sorted(files):
        counts = files[rel]
        n = len(counts)
        if n == 0:
            continue
        c = sum(1 for v in counts.values() if v > 0)
        total += n
        covered += c
        out.append("| %s | %d | %d | %.1f |" % (rel, n, c, 100.0 * c / n))
        lost = [ln for ln, v in counts.items() if v == 0]
        if lost:
            missing.append("- %s: %s" % (rel, compact(lost)))
    pct = 100.0 * covered / total if total else 0.0
    out.append("| **total** | %d | %d | %.1f |" % (total, covered, pct))
    out.append("")
    out.append("Lines no test reaches:")
    out.append("")
    out.extend(missing or ["- none"])
    out.append("")
    return total, covered


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--goal", action="append", default=[], metavar="AREA=PERCENT",
                    help="area c, go or python")
    ap.add_argument("--exclude", action="append", default=[], metavar="FILE",
                    help="a file (relative to --root) left out of the tables")
    ap.add_argument("--enforce", action="append", default=[], metavar="AREA",
                    help="fail when this area is below its goal")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    build = os.path.join(root, args.build)
    goals = {k: float(v) for k, v in (g.split("=", 1) for g in args.goal)}

    out = ["# make coverage", ""]
    measured = {}

    c_files, n_gcda = c_coverage(root, build)
    if c_files:
        measured["c"] = table("C: proxy/ and shim/ (gcov, %d data files)" % n_gcda, c_files, out)
    go_profiles = [p for p in (os.path.join(build, "go.cover"), os.path.join(build, "go-hosts.cover"))
                   if os.path.exists(p)]
    if go_profiles:
        go_files = go_coverage(root, go_profiles)
        for rel in args.exclude:
            go_files.pop(rel, None)
        measured["go"] = table("Go: lib/ (go test -coverprofile; libgohttp.so built with "
                               "-cover in check_shim and pytest)", go_files, out)
    py_report = os.path.join(build, "python.json")
    if os.path.exists(py_report):
        measured["python"] = table("Python: python/gohttp (coverage.py over pytest)",
                                   python_coverage(root, py_report), out)

    names = {"c": "C (proxy/, shim/)", "go": "Go (lib/)", "python": "Python (python/gohttp)"}
    out.append("## Goals")
    out.append("")
    out.append("| area | goal | measured | |")
    out.append("|---|---:|---:|---|")
    failed = []
    for area in ("c", "go", "python"):
        if area not in goals:
            continue
        if area not in measured or measured[area][0] == 0:
            out.append("| %s | %g%% | no data | not met |" % (names[area], goals[area]))
            if area in args.enforce:
                failed.append(area)
            continue
        total, covered = measured[area]
        pct = 100.0 * covered / total
        met = pct >= goals[area]
        out.append("| %s | %g%% | %.1f%% (%d/%d) | %s%s |" % (
            names[area], goals[area], pct, covered, total, "met" if met else "not met",
            " (enforced)" if area in args.enforce else ""))
        if area in args.enforce and not met:
            failed.append(area)
    out.append("")

    text = "\n".join(out)
    with open(os.path.join(build, "report.md"), "w") as f:
        f.write(text)
    print(text)
    print("coverage report: %s" % os.path.join(args.build, "report.md"))
    if failed:
        print("coverage: below an enforced goal: %s" % ", ".join(names[a] for a in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
