#!/usr/bin/env bash
# Installs what only make bench needs: wrk (apt) and bench/requirements.txt
# (pip), each only when missing or too old. Silent when everything is present.
#
#   bench/install.sh            (PYTHON selects the interpreter, default python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}

if ! command -v wrk >/dev/null; then
    echo "bench/install.sh: installing wrk" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi

# Prints the requirement lines that the interpreter does not satisfy.
missing=$("$py" - "$here/requirements.txt" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    from packaging.requirements import Requirement
except ImportError:          # no packaging: presence alone is checked
    Requirement = None
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    if Requirement is not None:
        req = Requirement(line)
        name, spec = req.name, req.specifier
    else:
        name, spec = line.split(">")[0].split("=")[0].strip(), None
    try:
        have = version(name)
    except PackageNotFoundError:
        print(line)
        continue
    if spec is not None and not spec.contains(have, prereleases=True):
        print(line)
PY
)
if [ -n "$missing" ]; then
    echo "bench/install.sh: pip installing" $missing >&2
    mapfile -t reqs <<<"$missing"
    PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q "${reqs[@]}" >/dev/null
fi
