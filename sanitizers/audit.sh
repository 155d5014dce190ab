#!/usr/bin/env bash
# sanitizers/audit.sh - `make audit`: every flavor over every suite, the
# stress drivers and the planted-bug self-tests, one row each.
#
# For each row it runs one make command, keeps the log under build/audit/,
# counts the checker reports in it and times it, then prints the table
# (flavor x suite: result, reports, seconds) and writes it with the failing
# rows' log tails to build/audit/report.md. Exit status is non-zero if any
# row failed: a test failure, a sanitizer/race/leak/cgocheck report in a
# clean run, or a planted bug that went unreported.
#
# AUDIT_ONLY='regex' runs only the rows whose "flavor suite" matches (e.g.
# AUDIT_ONLY='^valgrind' or AUDIT_ONLY='selftest'). Rows run one after the
# other (2 shared cores); MAKE_CMD overrides the make used (default: make).
# Each row is bounded: past AUDIT_ROW_TIMEOUT_S seconds (default 1800) it
# is stopped and fails as TIMED OUT, so a hang names its row.
# A full run (no AUDIT_ONLY) ends by rewriting section 6 of SAFETY.md from
# the report, for the commit the run started on (scripts/safety_audit_section.py).
# AUDIT_TEST_PASSED_ON=COMMIT: `make test` has just passed on this very
# commit (no uncommitted change), as .ci/run does right before the audit:
# the default flavor's test row then records that run instead of repeating
# it (about 5 minutes). Any other value, or a tree that differs, runs it.
set -uo pipefail

make_cmd=${MAKE_CMD:-make}
out=build/audit
mkdir -p "$out"
report=$out/report.md
only=${AUDIT_ONLY:-}
row_timeout=${AUDIT_ROW_TIMEOUT_S:-1800}

# Reports of the checkers, as they print them. A clean row must have none.
findings='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|WARNING: DATA RACE|Go pointer stored into non-Go memory|cgo argument has Go pointer|ERROR SUMMARY: [1-9]|(definitely|indirectly) lost in loss record'

# flavor | suite | make goals (run from the repository root)
rows=(
    "default|test (go, check, examples, pytest, stress)|test"
    "asan|test (ASan+UBSan+LSan, pytest with ASan preloaded)|asan test"
    "tsan|proxy churn stress|tsan proxy-stress"
    "tsan|C host stress|tsan stress-c"
    "tsan|C examples: shim Check suite + integration|tsan examples-test"
    "valgrind|proxy Check suites + stress|valgrind valgrind-proxy"
    "valgrind|shim Check suite|valgrind valgrind-shim"
    "valgrind|C host stress|valgrind stress-c"
    "valgrind|Python smoke|valgrind stress-py"
    "race|go test -race (C handlers)|race go-test"
    "default|proxy self-test: both proxy plants fail their checks|proxy-selftest"
    "cgocheck|test (go, check, examples, pytest, stress)|cgocheck test"
    "default|fault injection at every allocation point|faults"
    "asan|fault injection at every allocation point|asan faults"
    "default|Go fuzz targets, 10 s each|fuzz FUZZTIME=10s"
    "default|attack suite: C + WSGI hosts under attack, normal p99, counters 0|attack"
)
# The planted-bug self-tests: one row per line of mk/audit.mk's table.
mapfile -t selftest_rows < <($make_cmd -s --no-print-directory selftest-rows)
if [ "${#selftest_rows[@]}" -eq 0 ]; then
    echo "audit: make selftest-rows listed no self-test" >&2
    exit 1
fi
rows+=("${selftest_rows[@]}")

table=()
failed=0
total_start=$(date +%s)
ran_on=$(scripts/safety_audit_section.py --commit 2>/dev/null || echo '?')
for row in "${rows[@]}"; do
    IFS='|' read -r flavor suite goals <<<"$row"
    if [ -n "$only" ] && ! grep -qE -- "$only" <<<"$flavor $suite"; then
        continue
    fi
    slug=$(echo "$flavor-$goals" | tr ' /' '__')
    log=$out/$slug.log
    if [ "$flavor|$goals" = "default|test" ] && [ -n "${AUDIT_TEST_PASSED_ON:-}" ] &&
       [ "$AUDIT_TEST_PASSED_ON" = "$ran_on" ] && [[ "$ran_on" != *" + "* ]]; then
        echo "== audit: $flavor / $suite: make test passed on $ran_on just before the audit (AUDIT_TEST_PASSED_ON): not repeated" >&2
        echo "make test passed on commit $ran_on before this audit (AUDIT_TEST_PASSED_ON); not repeated" >"$log"
        table+=("| $flavor | $suite | \`make $goals\` run just before the audit on the same commit (AUDIT_TEST_PASSED_ON), not repeated | passed | 0 | 0 |")
        continue
    fi
    echo "== audit: $flavor / $suite: $make_cmd $goals" >&2
    start=$(date +%s)
    # shellcheck disable=SC2086 # goals are words on purpose
    timeout --signal=TERM --kill-after=30 "$row_timeout" \
        $make_cmd --no-print-directory $goals >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "audit: row '$flavor / $suite' still running after ${row_timeout}s: stopped" >>"$log"
        result="TIMED OUT (exit $rc)"
        reports=$(grep -cE -- "$findings" "$log")
        failed=1
    elif [ "$flavor" = selftest ]; then
        line=$(grep -E '^selftest .*: (caught|NOT CAUGHT)' "$log" | tail -n1)
        if [ "$rc" -eq 0 ] && grep -q ': caught' <<<"$line"; then
            result=caught
            reports=$(sed -nE "s/.*caught \(exit [0-9]+, ([0-9]+) x .*/\1/p" <<<"$line")
        else
            result="NOT CAUGHT"
            reports=0
            failed=1
        fi
    else
        reports=$(grep -cE -- "$findings" "$log")
        if [ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]; then
            result=passed
        else
            result="FAILED (exit $rc)"
            failed=1
        fi
    fi
    echo "   -> $result, $reports reports, ${secs}s (log $log)" >&2
    table+=("| $flavor | $suite | \`make $goals\` | $result | ${reports:-0} | $secs |")
done
total=$(($(date +%s) - total_start))

{
    echo "# gohttp audit report"
    echo
    echo "Generated by \`make audit\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
         "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)'), $(nproc) cores."
    echo
    echo "| flavor | suite | command | result | reports | seconds |"
    echo "|---|---|---|---|---:|---:|"
    printf '%s\n' "${table[@]}"
    echo
    echo "Total: ${total}s. A clean row must pass with 0 reports; a selftest row"
    echo "must be caught (its planted bug reported by its checker)."
    if [ "$failed" -ne 0 ]; then
        echo
        echo "## Failing rows (log tails)"
        for row in "${rows[@]}"; do
            IFS='|' read -r flavor suite goals <<<"$row"
            slug=$(echo "$flavor-$goals" | tr ' /' '__')
            log=$out/$slug.log
            [ -f "$log" ] || continue
            if grep -qF "| $flavor | $suite |" <(printf '%s\n' "${table[@]}" | grep -E 'FAILED|NOT CAUGHT|TIMED OUT'); then
                echo
                echo "### $flavor / $suite"
                echo '```'
                tail -n 25 "$log"
                echo '```'
            fi
        done
    fi
} >"$report"

echo
sed -n '/^| flavor/,/^must be caught/p' "$report"
echo "report: $report"
if [ -z "$only" ]; then
    scripts/safety_audit_section.py "$report" SAFETY.md "$ran_on" || failed=1
fi
if [ "$failed" -ne 0 ]; then
    echo "audit: FAILED"
    exit 1
fi
echo "audit: all rows clean, every planted bug caught"
