#!/usr/bin/env bash
# Prints the path of every CPython 3.10-3.13 interpreter on this machine,
# one per minor version, oldest first: pyenv's newest install of 3.M when
# pyenv is there, else python3.M on PATH. Used by `make python-versions`.
set -uo pipefail
for m in 10 11 12 13; do
    py=""
    if command -v pyenv >/dev/null 2>&1; then
        v=$(pyenv versions --bare 2>/dev/null | grep -E "^3\.$m\.[0-9]+$" |
            sort -t. -k3,3n | tail -1)
        if [ -n "$v" ]; then
            py="$(pyenv prefix "$v" 2>/dev/null)/bin/python3.$m"
        fi
    fi
    if [ -z "$py" ] || [ ! -x "$py" ]; then
        py=$(command -v "python3.$m" 2>/dev/null || true)
    fi
    [ -n "$py" ] || continue
    if "$py" -c "import sys; sys.exit(not (sys.implementation.name == 'cpython' and sys.version_info[:2] == (3, $m)))" 2>/dev/null; then
        echo "$py"
    fi
done
