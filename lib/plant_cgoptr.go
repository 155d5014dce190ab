//go:build plant_cgoptr

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import "unsafe"

// Planted bug for the audit self-test (cgocheck flavor): store the address
// of the Go exchange object in the C arena head. GOEXPERIMENT=cgocheck2
// must abort with "Go pointer stored into non-Go memory". Never built
// without -tags plant_cgoptr.
func plantCgoPtr(arena unsafe.Pointer, ex *exchange) {
	slot := (*unsafe.Pointer)(unsafe.Pointer(C.gohttp__arena_owner_slot(arena)))
	*slot = unsafe.Pointer(ex)
}
