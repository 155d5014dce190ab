"""Build of the gohttp package for `pip install ./python`.

pip (in-tree build of a local directory) runs this with python/ as the
current directory, inside the repository checkout.  The build:

1. compiles the Go library: `go build -buildmode=c-shared` of ./lib from the
   repository root into python/build/golib/libgohttp.so, exporting only the
   functions of the public headers as mk/core.mk does (needs Go and a C
   compiler on PATH; GO and CC are honoured);
2. compiles the cffi extension gohttp._gohttp_cffi from gohttp_build.py
   (cffi_modules) against shim/gohttp.h and that library, with rpath $ORIGIN;
3. copies libgohttp.so into the built package next to the extension, so the
   installed package finds it without LD_LIBRARY_PATH.

The in-tree development build (make python-build) does not use this file;
see mk/python.mk.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GOLIB_DIR = os.path.join(HERE, "build", "golib")

# Read by gohttp_build.py when cffi loads it (during setup() below).
os.environ.setdefault("GOHTTP_INCLUDE_DIR", os.path.join(REPO, "shim"))
os.environ.setdefault("GOHTTP_LIB_DIR", GOLIB_DIR)


def write_version_script(path):
    """The linker version script of mk/core.mk: the functions of the public
    headers global, every other symbol local."""
    headers = [os.path.join(REPO, "shim", h) for h in ("gohttp.h", "gohttplib.h")]
    names = subprocess.check_output(
        [os.path.join(REPO, "scripts", "header_functions.sh"),
         os.environ.get("CC", "gcc")] + headers, text=True).split()
    with open(path, "w") as f:
        f.write("{\n  global:\n")
        f.writelines("    %s;\n" % n for n in names)
        f.write("  local: *;\n};\n")


def build_go_library():
    """go build -buildmode=c-shared ./lib -> GOLIB_DIR/libgohttp.so."""
    os.makedirs(GOLIB_DIR, exist_ok=True)
    target = os.path.join(GOLIB_DIR, "libgohttp.so")
    version_script = os.path.join(GOLIB_DIR, "libgohttp.map")
    write_version_script(version_script)
    go = os.environ.get("GO", "go")
    env = dict(os.environ, CGO_ENABLED="1")
    subprocess.check_call(
        [go, "build", "-buildmode=c-shared",
         "-ldflags=-extldflags=-Wl,--version-script=" + version_script,
         "-o", target, "./lib"], cwd=REPO, env=env)
    return target


class BuildExtWithGo(build_ext):
    """build_ext that first builds libgohttp.so, then ships a copy of it
    beside the extension (the extension's rpath is $ORIGIN)."""

    def run(self):
        library = build_go_library()
        super().run()
        for ext in self.extensions:
            dest_dir = os.path.dirname(self.get_ext_fullpath(ext.name))
            os.makedirs(dest_dir, exist_ok=True)
            shutil.copy2(library, os.path.join(dest_dir, "libgohttp.so"))


setup(
    cffi_modules=["gohttp_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExtWithGo},
    package_data={"gohttp": ["libgohttp.so"]},
    zip_safe=False,
)
