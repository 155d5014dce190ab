#!/usr/bin/env bash
# The C compiler `go` uses in the coverage build (mk/coverage.mk passes
# CC=scripts/coverage_cc.sh to go). Every call goes to gcc unchanged,
# except the compiles of lib/c_shim.c and lib/c_proxy.c (the unity files
# that put shim/*.c and proxy/proxy.c into the Go library). Those get the
# gcov flags of $GOHTTP_COV_CFLAGS_FILE (a gcc @file written by
# mk/coverage.mk) and are compiled to a new name in $GOHTTP_COV_OBJDIR,
# then copied to the object path go asked for. gcc writes the .gcno beside
# that object and the program writes its .gcda there, so both outlive go's
# temporary work directory, and no two compiles share a name: when go
# reuses a cached object, the notes of the compile that made it are still
# in place.
set -euo pipefail

cc=${GOHTTP_COV_REAL_CC:-gcc}
src=""
out=""
prev=""
for a in "$@"; do
    [ "$prev" = "-o" ] && out=$a
    case "$a" in c_shim.c | c_proxy.c | */lib/c_shim.c | */lib/c_proxy.c) src=$a ;; esac
    prev=$a
done
if [ -z "$src" ] || [ -z "$out" ] || [ -z "${GOHTTP_COV_OBJDIR:-}" ] ||
   [ -z "${GOHTTP_COV_CFLAGS_FILE:-}" ]; then
    exec "$cc" "$@"
fi

mkdir -p "$GOHTTP_COV_OBJDIR"
stem=$(mktemp "$GOHTTP_COV_OBJDIR/$(basename "$src" .c)-XXXXXXXX")
obj=$stem.o
cmd=()
prev=""
for a in "$@"; do
    if [ "$prev" = "-o" ]; then cmd+=("$obj"); else cmd+=("$a"); fi
    prev=$a
done
"$cc" "${cmd[@]}" @"$GOHTTP_COV_CFLAGS_FILE"
rm -f "$stem"
cp "$obj" "$out"
