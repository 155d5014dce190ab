#!/usr/bin/env bash
# Install what the build and tests need, only what is missing. Idempotent and
# silent when everything is present, so every make goal can depend on it.
set -euo pipefail

debs=(check pkg-config curl wrk valgrind clang libclang-rt-14-dev)
pymods=(cffi:cffi pytest:pytest flask:flask requests:requests setuptools:setuptools
        prometheus_client:prometheus_client wheel:wheel)

missing_debs=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing_debs+=("$p")
done
if ((${#missing_debs[@]})); then
    echo "bootstrap: installing ${missing_debs[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing_debs[@]}" >/dev/null
fi

py=${PYTHON:-python3}
# find_spec locates a module without importing it (importing flask costs ~1 s).
read -r -a missing_py <<<"$("$py" - "${pymods[@]}" <<'PY'
import importlib.util, sys
print(" ".join(e.split(":")[1] for e in sys.argv[1:]
               if importlib.util.find_spec(e.split(":")[0]) is None))
PY
)"
if ((${#missing_py[@]})); then
    echo "bootstrap: pip installing ${missing_py[*]}" >&2
    "$py" -m pip install -q "${missing_py[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "bootstrap: Go toolchain not found on PATH" >&2; exit 1; }
