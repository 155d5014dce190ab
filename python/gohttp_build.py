"""cffi build script for gohttp's extension module ``gohttp._gohttp_cffi``.

This is the ONE place where Python meets C.  It is used three ways:

* ``python gohttp_build.py --emit FILE.c`` writes the generated C source, which
  mk/python.mk then compiles with the project's $(CC)/$(CFLAGS) so every
  build flavor (asan, valgrind, ...) gets an extension built the same way as
  the library it loads;
* ``setup.py`` names ``gohttp_build.py:ffibuilder`` in ``cffi_modules`` so
  ``pip install ./python`` compiles it with setuptools;
* ``python gohttp_build.py`` compiles in place (development convenience).

The ``cdef`` of the API is generated from gohttp.h (the header in
GOHTTP_INCLUDE_DIR, the same one the extension is compiled against), so
every type, the error enum and every function signature are the header's
own; only the extension's additions (CDEF_EXTENSION) are written here.  API
mode means the C compiler checks those against their definitions when the
extension is compiled: a wrong signature is a build error, not a crash.

Include and library directories come from GOHTTP_INCLUDE_DIR and
GOHTTP_LIB_DIR (default: the repository's default build tree, build/include
and build/lib).  The extension links ``libgohttp.so`` with an rpath of
``$ORIGIN``: the build copies the library next to the extension inside the
package directory, so no LD_LIBRARY_PATH is ever needed.
"""

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

INCLUDE_DIR = os.environ.get("GOHTTP_INCLUDE_DIR",
                             os.path.join(REPO, "build", "include"))
LIB_DIR = os.environ.get("GOHTTP_LIB_DIR", os.path.join(REPO, "build", "lib"))

HEADER = os.path.join(INCLUDE_DIR, "gohttp.h")


def cdef_from_header(text):
    """The cdef of the API, made from gohttp.h itself so the two cannot
    disagree: comments, the C++ guards and preprocessor lines go (cffi's
    parser takes the rest as is); an object-like #define with a value
    becomes ``#define NAME ...``, whose value cffi reads from the compiled
    header in API mode."""
    text = re.sub(r"\\\n", " ", text)                       # continued lines
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"^\s*#\s*ifdef\s+__cplusplus\s*$.*?^\s*#\s*endif[^\n]*$",
                  "", text, flags=re.S | re.M)
    lines = []
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)\s+\S", line)
        if m:
            lines.append("#define %s ..." % m.group(1))
        elif not line.lstrip().startswith("#") and line.strip():
            lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


with open(HEADER) as f:
    CDEF_API = cdef_from_header(f.read())

# What the extension adds on top of the API: the Python entry point for push
# mode and the C gate in front of it.
CDEF_EXTENSION = r"""
extern "Python" void gohttp_py_handler(gohttp_handle w,
                                       const gohttp_request *req,
                                       void *userdata);

void gohttp_py_push_entry(gohttp_handle w, const gohttp_request *req,
                          void *userdata);
int gohttp_py_install(void);
void gohttp_py_gate_close(void);
void gohttp_py_gate_open(void);
long gohttp_py_gate_inside(void);
"""

# C compiled into the extension.  The gate exists because Go's threads keep
# arriving on their own schedule: once the interpreter starts finalizing (or
# the package's atexit hook closed the gate), calling into Python from a
# foreign thread could hang or crash, so such a thread answers 503 in C
# and never touches the interpreter.
SOURCE = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "gohttp.h"

@NATIVE@
/* Defined by cffi from the extern "Python" cdef; forward-declared here so
 * the gate can call it (cffi documents this pattern). */
static void gohttp_py_handler(gohttp_handle w, const gohttp_request *req,
                              void *userdata);

/* cffi compiles against the limited API, which hides these; both are
 * exported by every CPython of their versions (3.13 renamed the function)
 * and only read an atomic, so they are safe to call without the GIL. */
#if PY_VERSION_HEX >= 0x030D0000
extern int Py_IsFinalizing(void);
#define GOHTTP_PY_FINALIZING() Py_IsFinalizing()
#else
extern int _Py_IsFinalizing(void);
#define GOHTTP_PY_FINALIZING() _Py_IsFinalizing()
#endif

/* Closed by gohttp's atexit hook (and reopened only by tests). Counts the
 * Go threads currently inside Python so the hook can wait for them. */
static atomic_int gohttp_py_gate_closed_flag;
static atomic_long gohttp_py_gate_inside_count;

/* Answer 503 without entering Python: used once the gate is closed. */
static void gohttp_py_refuse(gohttp_handle w)
{
    gohttp_set_header(w, "Connection", 10, "close", 5);
    gohttp_set_header(w, "Content-Type", 12, "text/plain; charset=utf-8", 25);
    if (gohttp_write_header(w, 503) == 0)
        gohttp_write(w, "Service Unavailable\n", 20);
}

/* Set once this thread keeps a Python thread state for its life. */
static __thread int gohttp_py_state_kept;

/* The C handler gohttp_route is given in push mode; runs on a Go thread.
 * Increments the inside count BEFORE testing the gate (both seq_cst), so
 * that once gohttp_py_gate_close has run and gohttp_py_gate_inside() reads
 * 0, no thread is in Python and none will enter. */
void gohttp_py_push_entry(gohttp_handle w, const gohttp_request *req,
                          void *userdata)
{
    atomic_fetch_add(&gohttp_py_gate_inside_count, 1);
    if (atomic_load(&gohttp_py_gate_closed_flag) || GOHTTP_PY_FINALIZING()) {
        atomic_fetch_sub(&gohttp_py_gate_inside_count, 1);
        gohttp_py_refuse(w);
        return;
    }
    gohttp_handle saved_w;
    const gohttp_request *saved_req;
    gohttp_py_enter(w, req, &saved_w, &saved_req);
    int saved_push = gohttp_py_in_push;
    gohttp_py_in_push = 1;
    /* The GIL is taken here, timed, so that the wait is reported
     * (gohttp_note_host_wait); cffi's own take inside the callback then
     * finds it held. */
    long long asked = gohttp_py_now_ns();
    PyGILState_STATE gil = PyGILState_Ensure();
    if (!gohttp_py_state_kept) {
        /* This thread's first call: keep the thread state Ensure just
         * made for the thread's life (one count never released), as cffi
         * would. Made and deleted per request it would cost more than
         * the request. */
        PyGILState_Ensure();
        gohttp_py_state_kept = 1;
    }
    gohttp_note_host_wait(gohttp_py_now_ns() - asked);
    gohttp_py_handler(w, req, userdata);
    PyGILState_Release(gil);
    gohttp_py_in_push = saved_push;
    gohttp_py_leave(saved_w, saved_req);
    atomic_fetch_sub(&gohttp_py_gate_inside_count, 1);
}

/* Stop Go threads from entering Python from now on. */
void gohttp_py_gate_close(void)
{
    atomic_store(&gohttp_py_gate_closed_flag, 1);
}

/* Let Go threads enter Python again (tests of the gate only). */
void gohttp_py_gate_open(void)
{
    atomic_store(&gohttp_py_gate_closed_flag, 0);
}

/* Number of Go threads between the gate and their return from Python. */
long gohttp_py_gate_inside(void)
{
    return atomic_load(&gohttp_py_gate_inside_count);
}
"""

# The CPython-API half of the extension (worker loop, environ, respond),
# one file of its own so it reads as C; it precedes the gate, which uses
# its thread-local "current exchange".
with open(os.path.join(HERE, "gohttp_native.c")) as _native:
    SOURCE = SOURCE.replace("@NATIVE@", _native.read())

ffibuilder = FFI()
ffibuilder.cdef(CDEF_API + CDEF_EXTENSION)
ffibuilder.set_source(
    "gohttp._gohttp_cffi",
    SOURCE,
    include_dirs=[INCLUDE_DIR],
    library_dirs=[LIB_DIR],
    libraries=["gohttp"],
    # gohttp_native.c uses the full CPython API (mk/python.mk passes the
    # same define).
    define_macros=[("_CFFI_NO_LIMITED_API", None)],
    # $ORIGIN: the loader looks for libgohttp.so in the extension's own
    # directory, where every build method puts a copy.
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
)


def main(argv):
    """--emit FILE writes the C source; no argument compiles in place."""
    if len(argv) == 3 and argv[1] == "--emit":
        ffibuilder.emit_c_code(argv[2])
        return 0
    if len(argv) == 1:
        ffibuilder.compile(tmpdir=HERE, verbose=True)
        return 0
    sys.stderr.write("usage: gohttp_build.py [--emit FILE.c]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
