#!/usr/bin/env bash
# sanitizers/selftest.sh - prove that one checker reports one planted bug.
#
#   selftest.sh NAME 'BUILD-COMMAND' 'RUN-COMMAND' 'REGEX' ['ALSO-REGEX'...]
#
# (mk/audit.mk makes both commands from its table of plants: BUILD is
# `make FLAVOR <goal that compiles the plant>`, RUN is `make FLAVOR GOAL`.)
# BUILD-COMMAND builds the planted variant and must SUCCEED (a planted
# build that does not compile proves nothing). RUN-COMMAND runs the checker
# over it and must FAIL, with REGEX (grep -E) in its output: the planted
# bug was reported by the tool that claims to find it. A run that passes,
# or fails without the expected report (a crash, another error), means the
# checker did not catch it, and this script exits 1.
# Each ALSO-REGEX must match the output too (e.g. the planted function in
# the report's stack, so another finding cannot pass for the planted one).
#
# A timeout is never a catch, even when the log already holds the report:
# the checker must end the run by itself. That covers this script's own
# bound (SELFTEST_TIMEOUT_S, default 600) and every bound inside the run
# (timeout(1) in a recipe, a test driver's watchdog or alarm, pytest's
# per-test bound), recognised by the lines in $timeout_re below.
#
# Logs: build/selftest/NAME.build.log and build/selftest/NAME.log. The last
# line printed is machine-readable for sanitizers/audit.sh:
#   selftest NAME: caught|NOT CAUGHT (...)
set -uo pipefail

name=$1 build_cmd=$2 run_cmd=$3 regex=$4
shift 4
dir=build/selftest
mkdir -p "$dir"
blog=$dir/$name.build.log
log=$dir/$name.log

# What a bound inside the run prints when it stops the run: make's line for
# a recipe that timeout(1) ended (124 TERM, 137 KILL) or SIGALRM killed
# (142, check_shim's alarm), the stress drivers' watchdogs, pytest's
# per-test bound (python/tests/conftest.py) and faulthandler's timeout dump.
timeout_re='^make(\[[0-9]+\])?: \*\*\* .*(Error (124|137|142)|Alarm clock)$|FAIL: watchdog|still running after [0-9.]+ s \(per-test bound|^Timeout \([0-9:]+\)!$'

not_caught() {
    tail -n 40 "$log"
    echo "selftest $name: NOT CAUGHT ($1; see $log)"
    exit 1
}

start=$(date +%s)
if ! bash -c "$build_cmd" >"$blog" 2>&1; then
    tail -n 30 "$blog"
    echo "selftest $name: NOT CAUGHT (the planted build failed; see $blog)"
    exit 1
fi
timeout --kill-after=10 "${SELFTEST_TIMEOUT_S:-600}" bash -c "$run_cmd" >"$log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
# timeout(1): 124 = the bound expired (TERM), 137 = KILLed after it.
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    not_caught "the run timed out after ${secs}s, exit $rc; a timeout is not a report"
fi
if [ "$rc" -eq 0 ]; then
    not_caught "the run passed with the bug planted; ${secs}s"
fi
if bound=$(grep -m1 -E -- "$timeout_re" "$log"); then
    not_caught "a time bound inside the run stopped it (\"$bound\"), exit $rc; a timeout is not a report; ${secs}s"
fi
if ! match=$(grep -m1 -E -- "$regex" "$log"); then
    not_caught "exit $rc but no report matching /$regex/; ${secs}s"
fi
for also in "$@"; do
    if ! grep -q -E -- "$also" "$log"; then
        not_caught "a report, but none matching /$also/; ${secs}s"
    fi
done
count=$(grep -c -E -- "$regex" "$log")
echo "selftest $name: caught (exit $rc, $count x '$(echo "$match" | sed 's/^[= 0-9]*//' | cut -c1-90)', ${secs}s)"
