// Unity file: compiles proxy/proxy.c into the Go library with the package's
// cgo flags (CGO_CFLAGS plus the flavor's sanitizer flags).
//
// mk/core.mk adds -Wno-unused-parameter to CGO_CFLAGS because runtime/cgo
// and cgo's generated wrappers (compiled with the same flags) trip it; our
// own C gets the warning back, as an error, here.
#pragma GCC diagnostic error "-Wunused-parameter"
// Test builds with fault injection (GOHTTP_FAULTS, lib/faults.go) route
// the table's page allocations through the counting allocator of
// shim/faults.c, the hook proxy.c offers its own Check suite.
#ifdef GOHTTP_FAULTS
#include <stddef.h>
void *gohttp__fault_calloc(size_t n, size_t size);
#define GOHTTP_PROXY_CALLOC gohttp__fault_calloc
#endif
#include "../proxy/proxy.c"
