#!/usr/bin/env bash
# sanitizers/selftest.sh - prove that one checker reports one planted bug.
#
#   selftest.sh NAME 'REGEX' 'BUILD-COMMAND' 'RUN-COMMAND' ['ALSO-REGEX'...]
#
# BUILD-COMMAND builds the planted variant and must SUCCEED (a planted
# build that does not compile proves nothing). RUN-COMMAND runs the checker
# over it and must FAIL, with REGEX (grep -E) in its output: the planted
# bug was reported by the tool that claims to find it. A run that passes,
# or fails without the expected report (a crash, a timeout, another
# error), means the checker did not catch it, and this script exits 1.
# Each ALSO-REGEX must match the output too (e.g. the planted function in
# the report's stack, so another finding cannot pass for the planted one).
#
# Logs: build/selftest/NAME.build.log and build/selftest/NAME.log. The last
# line printed is machine-readable for sanitizers/audit.sh:
#   selftest NAME: caught|NOT CAUGHT (...)
set -uo pipefail

name=$1 regex=$2 build_cmd=$3 run_cmd=$4
shift 4
dir=build/selftest
mkdir -p "$dir"
blog=$dir/$name.build.log
log=$dir/$name.log

start=$(date +%s)
if ! bash -c "$build_cmd" >"$blog" 2>&1; then
    tail -n 30 "$blog"
    echo "selftest $name: NOT CAUGHT (the planted build failed; see $blog)"
    exit 1
fi
# The run is bounded: a planted bug that hangs the checker is a failure,
# even if the log already holds the report (the checker must end the run
# itself). SELFTEST_TIMEOUT_S (default 600) sets the bound.
timeout --kill-after=10 "${SELFTEST_TIMEOUT_S:-600}" bash -c "$run_cmd" >"$log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
# timeout(1): 124 = the bound expired (TERM), 137 = KILLed after it.
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    tail -n 30 "$log"
    echo "selftest $name: NOT CAUGHT (the run timed out after ${secs}s, exit $rc; a timeout is not a report; see $log)"
    exit 1
fi
if [ "$rc" -eq 0 ]; then
    tail -n 30 "$log"
    echo "selftest $name: NOT CAUGHT (the run passed with the bug planted; ${secs}s; see $log)"
    exit 1
fi
if ! match=$(grep -m1 -E -- "$regex" "$log"); then
    tail -n 40 "$log"
    echo "selftest $name: NOT CAUGHT (exit $rc but no report matching /$regex/; ${secs}s; see $log)"
    exit 1
fi
for also in "$@"; do
    if ! grep -q -E -- "$also" "$log"; then
        tail -n 40 "$log"
        echo "selftest $name: NOT CAUGHT (a report, but none matching /$also/; ${secs}s; see $log)"
        exit 1
    fi
done
count=$(grep -c -E -- "$regex" "$log")
echo "selftest $name: caught (exit $rc, $count x '$(echo "$match" | sed 's/^[= 0-9]*//' | cut -c1-90)', ${secs}s)"
