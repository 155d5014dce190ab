"""cffi build script for gohttp's extension module ``gohttp._gohttp_cffi``.

This is the ONE place where Python meets C.  It is used three ways:

* ``python gohttp_build.py --emit FILE.c`` writes the generated C source, which
  mk/python.mk then compiles with the project's $(CC)/$(CFLAGS) so every
  build flavor (asan, valgrind, ...) gets an extension built the same way as
  the library it loads;
* ``setup.py`` names ``gohttp_build.py:ffibuilder`` in ``cffi_modules`` so
  ``pip install ./python`` compiles it with setuptools;
* ``python gohttp_build.py`` compiles in place (development convenience).

The ``cdef`` below mirrors shim/gohttp.h declaration by declaration (types,
the error enum, every function).  python/tests/test_binding.py parses the
header and fails if a declaration is missing here, so the two cannot drift
silently.  API mode means the C compiler checks the cdef against the real
header when the extension is compiled: a wrong signature is a build error,
not a crash.

Include and library directories come from GOHTTP_INCLUDE_DIR and
GOHTTP_LIB_DIR (default: the repository's default build tree, build/include
and build/lib).  The extension links ``libgohttp.so`` with an rpath of
``$ORIGIN``: the build copies the library next to the extension inside the
package directory, so no LD_LIBRARY_PATH is ever needed.
"""

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

INCLUDE_DIR = os.environ.get("GOHTTP_INCLUDE_DIR",
                             os.path.join(REPO, "build", "include"))
LIB_DIR = os.environ.get("GOHTTP_LIB_DIR", os.path.join(REPO, "build", "lib"))

# Mirror of shim/gohttp.h.  Comments are kept short: the header is the
# reference for every contract.
CDEF_API = r"""
typedef uint64_t gohttp_server;
typedef uint64_t gohttp_handle;

typedef enum gohttp_error {
    GOHTTP_OK = 0,
    GOHTTP_EINVAL = -1,
    GOHTTP_ESTALE = -2,
    GOHTTP_ENOMEM = -3,
    GOHTTP_EEXIST = -4,
    GOHTTP_EPATTERN = -5,
    GOHTTP_EBIND = -6,
    GOHTTP_ESTATE = -7,
    GOHTTP_ETIMEDOUT = -8,
    GOHTTP_EBUSY = -9,
    GOHTTP_EIO = -10,
    GOHTTP_ETOOLARGE = -11,
    GOHTTP_EPANIC = -12,
    GOHTTP_ECLOSED = -13,
    GOHTTP_EDEADLK = -14,
    GOHTTP_EBADREQ = -15,
    GOHTTP_ELENGTH = -16
} gohttp_error;

const char *gohttp_strerror(int code);
const char *gohttp_last_error(void);

typedef struct gohttp_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} gohttp_header;

typedef struct gohttp_request {
    const char *method;      size_t method_len;
    const char *url;         size_t url_len;
    const char *path;        size_t path_len;
    const char *raw_query;   size_t raw_query_len;
    const char *host;        size_t host_len;
    const char *proto;       size_t proto_len;
    const char *remote_addr; size_t remote_addr_len;
    const gohttp_header *headers; size_t header_count;
    int64_t content_length;
} gohttp_request;

typedef void (*gohttp_handler)(gohttp_handle w, const gohttp_request *req,
                               void *userdata);

typedef struct gohttp_options {
    int64_t read_header_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t write_timeout_ms;
    int64_t max_header_bytes;
    int64_t max_body_bytes;
    int32_t max_handlers;
    int64_t queue_timeout_ms;
    int32_t reuse_port;
    int64_t limit_request_line;
    int64_t limit_request_fields;
    int64_t limit_request_field_size;
    int64_t body_read_timeout_ms;
    int64_t send_timeout_ms;
    int64_t max_connections;
    const char *certfile;
    const char *keyfile;
    int32_t h2c;
    const char *access_log;
} gohttp_options;

void gohttp_options_init(gohttp_options *opts);
int gohttp_server_new(const gohttp_options *opts, gohttp_server *out);
int gohttp_route(gohttp_server s, const char *pattern, gohttp_handler fn,
                 void *userdata);
int gohttp_route_static(gohttp_server s, const char *prefix,
                        const char *directory);
int gohttp_start(gohttp_server s, const char *addr);
int gohttp_listen_and_serve(gohttp_server s, const char *addr);
int gohttp_shutdown(gohttp_server s, int64_t timeout_ms);
int gohttp_wait(gohttp_server s, int64_t timeout_ms);
int gohttp_free(gohttp_server s);

int gohttp_write_header(gohttp_handle w, int status);
int gohttp_set_header(gohttp_handle w, const char *name, size_t name_len,
                      const char *value, size_t value_len);
int gohttp_add_header(gohttp_handle w, const char *name, size_t name_len,
                      const char *value, size_t value_len);
int gohttp_del_header(gohttp_handle w, const char *name, size_t name_len);
int64_t gohttp_write(gohttp_handle w, const void *buf, int64_t len);
int64_t gohttp_respond(gohttp_handle w, int status,
                       const gohttp_header *headers, size_t header_count,
                       const void *body, int64_t body_len);
int gohttp_flush(gohttp_handle w);
int gohttp_abort(gohttp_handle w);

int64_t gohttp_read_body(gohttp_handle w, void *buf, int64_t cap);
int64_t gohttp_path_value(gohttp_handle w, const char *name, char *buf,
                          int64_t cap);

typedef struct gohttp_exchange {
    gohttp_handle w;
    const gohttp_request *req;
    void *userdata;
} gohttp_exchange;

int gohttp_route_queue(gohttp_server s, const char *pattern, void *userdata);
int gohttp_next(gohttp_server s, int64_t timeout_ms, gohttp_exchange *out);
int gohttp_done(gohttp_handle w);

typedef struct gohttp_counters {
    int64_t live_handles;
    int64_t live_servers;
    int64_t live_arenas;
    int64_t arena_bytes;
    int64_t requests_served;
    int64_t stale_rejections;
    int64_t panics_recovered;
    int64_t live_tokens;
} gohttp_counters;

int gohttp_stats(gohttp_counters *out);
"""

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
#include <time.h>
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
    gohttp_py_handler(w, req, userdata);
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
