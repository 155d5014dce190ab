"""The package as a user gets it: `pip wheel ./python` builds a wheel
(setup.py compiles the Go library into it), the wheel installs into a
fresh virtual environment, and `python -m gohttp` serves the hello from
there with no Go on PATH and no repository on sys.path, and exits 0 with
every live counter of the installed library at 0.  Slow (a Go
build and a venv): run by `make python-wheel-test` (GOHTTP_WHEEL_TEST=1),
part of `make audit`."""

import glob
import http.client
import os
import shutil
import signal
import subprocess
import sys

import pytest

import gohttp

from conftest import HERE, REPO, finish_child, read_port

pytestmark = pytest.mark.skipif(
    os.environ.get("GOHTTP_WHEEL_TEST") != "1",
    reason="slow: make python-wheel-test")


def run(args, **kw):
    kw.setdefault("timeout", 600)
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    assert out.returncode == 0, "%s failed:\n%s\n%s" % (
        args, out.stdout[-4000:], out.stderr[-4000:])
    return out


def source_copy(dest):
    """What setup.py builds from, copied without any build output: pip
    builds in tree, and a build directory left by an earlier build would
    put its files into the wheel."""
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                  "_gohttp_cffi*", "zz_cdeps.h")
    for d in ("lib", "shim", "proxy", "scripts", "python"):
        shutil.copytree(os.path.join(REPO, d), os.path.join(dest, d),
                        ignore=skip)
    shutil.copy2(os.path.join(REPO, "go.mod"), dest)


def test_wheel_serves_hello_from_fresh_venv_without_go(tmp_path):
    src = tmp_path / "src"
    source_copy(str(src))
    wheels = tmp_path / "wheels"
    # --no-build-isolation: the build requirements (setuptools, wheel,
    # cffi) are this interpreter's, so no index is needed.
    run([sys.executable, "-m", "pip", "wheel", str(src / "python"),
         "-w", str(wheels), "--no-deps", "--no-build-isolation", "-q"])
    found = glob.glob(str(wheels / "gohttp-*.whl"))
    assert len(found) == 1, found
    assert os.path.basename(found[0]).startswith(
        "gohttp-%s-" % gohttp.__version__)

    venv = tmp_path / "venv"
    # The venv sees this interpreter's site-packages for cffi only; the
    # wheel itself is installed into the venv.
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    vpy = str(venv / "bin" / "python")
    run([vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         found[0]])

    go = shutil.which("go")
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not (go and os.path.dirname(go) == d))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GOHTTP_BUILD", "LD_LIBRARY_PATH")}
    env["PATH"] = path
    assert shutil.which("go", path=path) is None
    where = run([vpy, "-c", "import gohttp, sys; print(gohttp.__file__); "
                 "print(gohttp.__version__)"], env=env, cwd=str(tmp_path))
    location, version = where.stdout.split()
    assert location.startswith(str(venv)), location
    assert version == gohttp.__version__

    # The child runs through a copy of child_main.py (in a directory of
    # its own, which becomes its sys.path[0] and holds nothing else), so
    # it prints the installed library's counters at exit.
    runner = tmp_path / "runner"
    runner.mkdir()
    shutil.copy2(os.path.join(HERE, "child_main.py"), str(runner))
    proc = subprocess.Popen([vpy, str(runner / "child_main.py"), "-m",
                             "gohttp", "--bind", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(tmp_path))
    try:
        port = read_port(proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200 and b"Hello" in body, body
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        # Exit status 0, no crash report, every live counter 0.
        counters = finish_child(proc, out, err)
        assert counters["requests_served"] == 1, counters
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
