#!/bin/sh
# header_functions.sh CC HEADER... - print the name of every function that
# the given headers declare, one per line, sorted, each once.
#
# The compiler parses the headers (gcc's -aux-info lists every prototype it
# saw with the file that declared it), so multi-line declarations, macros
# and comments need no parsing here. Used to write the library's linker
# version script (mk/core.mk) and by tests/abi/check_exports.sh.
set -eu
cc=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/all.c"
for h in "$@"; do
    printf '#include "%s"\n' "$(cd "$(dirname "$h")" && pwd)/$(basename "$h")" >>"$tmp/all.c"
done
"$cc" -std=gnu11 -aux-info "$tmp/aux" -fsyntax-only "$tmp/all.c"
for h in "$@"; do
    # "/* DIR/gohttp.h:71:NC */ extern const char *gohttp_strerror (int);"
    grep -F "/$(basename "$h"):" "$tmp/aux" || true
done | sed -n 's|^/\* [^ ]* \*/ [^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\) (.*|\1|p' | sort -u
