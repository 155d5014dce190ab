package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Error codes of gohttp.h as Go ints (internal results are plain ints and
// are converted at the export boundary).
const (
	codeOK       = int(C.GOHTTP_OK)
	codeInval    = int(C.GOHTTP_EINVAL)
	codeStale    = int(C.GOHTTP_ESTALE)
	codeNoMem    = int(C.GOHTTP_ENOMEM)
	codeExist    = int(C.GOHTTP_EEXIST)
	codePattern  = int(C.GOHTTP_EPATTERN)
	codeBind     = int(C.GOHTTP_EBIND)
	codeState    = int(C.GOHTTP_ESTATE)
	codeTimedOut = int(C.GOHTTP_ETIMEDOUT)
	codeBusy     = int(C.GOHTTP_EBUSY)
	codeIO       = int(C.GOHTTP_EIO)
	codeTooLarge = int(C.GOHTTP_ETOOLARGE)
	codePanic    = int(C.GOHTTP_EPANIC)
	codeClosed   = int(C.GOHTTP_ECLOSED)
	codeDeadlk   = int(C.GOHTTP_EDEADLK)
	codeBadReq   = int(C.GOHTTP_EBADREQ)
	codeLength   = int(C.GOHTTP_ELENGTH)
)

// setLastError copies msg into the calling thread's last-error buffer.
// Exports run on the C thread that called them (cgo callbacks are locked to
// their thread), so the message reaches the thread that reads it. No C
// string is allocated: C copies straight out of the Go string, which holds
// no Go pointers and is not retained.
func setLastError(msg string) {
	if len(msg) == 0 {
		C.gohttp__set_last_error(nil, 0)
		return
	}
	C.gohttp__set_last_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// fail records a formatted detail as the last error and returns code.
func fail(code int, format string, args ...any) int {
	setLastError(fmt.Sprintf(format, args...))
	return code
}

// recoverInto is deferred first by every export that returns a code: a Go
// panic anywhere below becomes GOHTTP_EPANIC with the panic value as the
// last error, and is counted, instead of killing the host process.
func recoverInto[T ~int32 | ~int64](rc *T) {
	if r := recover(); r != nil {
		notePanic(r)
		*rc = T(codePanic)
	}
}

// recoverVoid is recoverInto for the seed's void exports.
func recoverVoid() {
	if r := recover(); r != nil {
		notePanic(r)
	}
}

func notePanic(r any) {
	C.gohttp__count_panic()
	setLastError(fmt.Sprintf("gohttp: recovered Go panic: %v", r))
}
