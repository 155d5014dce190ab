// Unity file: compiles the shim's C sources into the Go library with the
// package's cgo flags (CGO_CFLAGS plus the flavor's sanitizer flags).
//
// mk/core.mk adds -Wno-unused-parameter to CGO_CFLAGS because runtime/cgo
// and cgo's generated wrappers (compiled with the same flags) trip it; our
// own C gets the warning back, as an error, here.
#pragma GCC diagnostic error "-Wunused-parameter"
#include "../shim/arena.c"
#include "../shim/counters.c"
#include "../shim/dispatch.c"
#include "../shim/doorbell.c"
#include "../shim/errors.c"
#include "../shim/faults.c"
