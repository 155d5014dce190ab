#!/usr/bin/env python3
"""safety_audit_section.py - write the "Latest audit" section of SAFETY.md
from a `make audit` report (sanitizers/audit.sh runs it at the end of every
full audit).

  scripts/safety_audit_section.py --commit
      print the commit the tree is at: `git rev-parse --short HEAD`, plus
      " + uncommitted changes" when a tracked file other than SAFETY.md
      differs from HEAD (SAFETY.md is what this script writes, so its own
      earlier rewrite does not count as a change to what was audited).
  scripts/safety_audit_section.py REPORT SAFETY_MD COMMIT
      replace the text between the two audit markers of SAFETY_MD with a
      summary line (COMMIT, the report's date and core count, whether every
      row was clean and every planted bug caught, the total time) and the
      report's table. Everything outside the markers is left as it is.

Plain Python 3, no dependencies.
"""

import re
import subprocess
import sys

BEGIN = "<!-- audit:begin"
END = "<!-- audit:end -->"
BEGIN_LINE = ("<!-- audit:begin: written by sanitizers/audit.sh at the end of every full "
              "`make audit` (scripts/safety_audit_section.py); edits up to audit:end are overwritten -->")


def commit():
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".", ":(exclude)SAFETY.md"]).returncode
    return head + (" + uncommitted changes" if dirty else "")


def parse_report(text):
    m = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", text)
    date = m.group(1) if m else "an unknown date"
    m = re.search(r"(\d+) cores", text)
    cores = m.group(1) if m else "?"
    m = re.search(r"^Total: (\d+)s", text, re.M)
    total = m.group(1) if m else "?"
    lines = text.split("\n")
    try:
        k = next(i for i, l in enumerate(lines) if l.startswith("| flavor |"))
    except StopIteration:
        raise SystemExit("safety_audit_section: no table in the report")
    table = []
    for l in lines[k:]:
        if not l.startswith("|"):
            break
        table.append(l)
    return date, cores, total, table


def section(report_text, ran_on):
    date, cores, total, table = parse_report(report_text)
    rows = [r for r in table[2:]]
    bad = []
    for r in rows:
        cells = [c.strip() for c in r.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[3] not in ("passed", "caught"):
            bad.append("%s / %s: %s" % (cells[0], cells[1], cells[3]))
    if bad:
        verdict = "%d of %d rows FAILED (%s; log tails in build/audit/report.md)" % (
            len(bad), len(rows), "; ".join(bad))
    else:
        verdict = "all %d rows clean and every planted bug caught" % len(rows)
    head = ("`make audit` on commit %s, finished %s, %s cores: %s, %s s of rows in all."
            % (ran_on, date, cores, verdict, total))
    return [BEGIN_LINE, head, ""] + table + [END]


def rewrite(safety_text, new_lines):
    lines = safety_text.split("\n")
    b = [i for i, l in enumerate(lines) if l.startswith(BEGIN)]
    e = [i for i, l in enumerate(lines) if l.strip() == END]
    if len(b) != 1 or len(e) != 1 or b[0] > e[0]:
        raise SystemExit("safety_audit_section: SAFETY.md needs exactly one '%s ...' line followed by one "
                         "'%s' line" % (BEGIN, END))
    return "\n".join(lines[:b[0]] + new_lines + lines[e[0] + 1:])


def main(argv):
    if argv[1:] == ["--commit"]:
        print(commit())
        return 0
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    report, safety, ran_on = argv[1:]
    with open(report, encoding="utf-8") as f:
        new_lines = section(f.read(), ran_on)
    with open(safety, encoding="utf-8") as f:
        text = rewrite(f.read(), new_lines)
    with open(safety, "w", encoding="utf-8") as f:
        f.write(text)
    print("%s: section 6 rewritten for commit %s" % (safety, ran_on))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
