#!/bin/bash
# check_exports.sh CC LIBRARY HEADER... - the dynamic symbols of LIBRARY
# (libgohttp.so) against the functions the public HEADERs declare.
#
# Fails on
#  - a function the headers declare that the library does not export, and
#  - an exported function the headers do not declare whose name contains
#    "gohttp" (any case) or is one of the seed API's names (HandleFunc,
#    ListenAndServe, Shutdown, ResponseWriter_*, Request*): an internal or
#    test-only function that leaked out of the library, or an export that
#    lost its declaration;
#  - any symbol, exported or not, of the test-only C code (gohttp__test_*,
#    lib/testhandlers.c): it is built only with -tags gohttp_test, never
#    into the shipped library.
# Other exports (none are expected) are listed, not failed: a toolchain may
# add its own.
set -euo pipefail
cc=$1
lib=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

declared=$("$here/../../scripts/header_functions.sh" "$cc" "$@")
[ -n "$declared" ] || { echo "check_exports: no functions found in $*" >&2; exit 1; }
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u)

missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
leaked=$(echo "$extra" | grep -iE 'gohttp|^(HandleFunc|ListenAndServe|Shutdown|ResponseWriter_|Request)' || true)
other=$(echo "$extra" | grep -viE 'gohttp|^(HandleFunc|ListenAndServe|Shutdown|ResponseWriter_|Request)' | grep . || true)

rc=0
if [ -n "$missing" ]; then
    echo "check_exports: FAIL: declared in $* but not exported by $lib:"
    echo "$missing" | sed 's/^/  /'
    rc=1
fi
if [ -n "$leaked" ]; then
    echo "check_exports: FAIL: exported by $lib but declared in no public header:"
    echo "$leaked" | sed 's/^/  /'
    rc=1
fi
testonly=$(nm "$lib" | awk '$3 ~ /gohttp__test_/ { print $3 }' | sort -u)
if [ -n "$testonly" ]; then
    echo "check_exports: FAIL: test-only code compiled into $lib ($(echo "$testonly" | wc -l) symbols):"
    echo "$testonly" | head -5 | sed 's/^/  /'
    rc=1
fi
if [ -n "$other" ]; then
    echo "check_exports: note: other exported functions: $(echo $other)"
fi
[ $rc -ne 0 ] || echo "check_exports: ok: $lib exports the $(echo "$declared" | wc -l) declared functions and no other gohttp or seed function ($(nm -D --defined-only "$lib" | wc -l) dynamic symbols)"
exit $rc
