//go:build gohttp_test

package main

// Fault injection, test builds only: the #cgo line below defines
// GOHTTP_FAULTS for every C file of the package (the unity files lib/c_*.c
// included), which turns on shim/faults.c and the GOHTTP_FAULT points in
// the shim and the proxy; faultFail makes the Go points ask the same
// counter. The shipped library is built without -tags gohttp_test, so it
// gets faults_off.go instead and none of this (make symbols-check).

/*
#cgo CFLAGS: -DGOHTTP_FAULTS
#include "gohttp_internal.h"
*/
import "C"

// The Go allocation points, numbered as the C ones (gohttp_internal.h).
const (
	faultToken = int(C.GOHTTP_FAULT_TOKEN)
	faultSlot  = int(C.GOHTTP_FAULT_SLOT)
)

// faultFail counts one call at point p and reports whether it must fail.
func faultFail(p int) bool { return C.gohttp__fault(C.int(p)) != 0 }

// Driver access for lib/faults_test.go (test files cannot use cgo).
func tFaultArm(nth int64) { C.gohttp__fault_arm(C.int64_t(nth)) }
func tFaultFired() bool   { return C.gohttp__fault_fired() != 0 }

// tFaultCalls returns the points reached since the last arm, in order.
func tFaultCalls() []int {
	const cap = 1024
	var seq [cap]C.int
	n := int64(C.gohttp__fault_calls(&seq[0], cap))
	if n > cap {
		n = cap
	}
	out := make([]int, n)
	for i := range out {
		out[i] = int(seq[i])
	}
	return out
}

var faultPointNames = map[int]string{
	faultPointArena:                  "arena (shim/arena.c gohttp__arena_new)",
	int(C.GOHTTP_FAULT_EXCHANGE_REF): "exchange table (shim/dispatch.c gohttp__exchange_ref)",
	int(C.GOHTTP_FAULT_SERVER_REF):   "server table (shim/dispatch.c gohttp__server_ref)",
	int(C.GOHTTP_FAULT_BELL):         "doorbell (shim/doorbell.c gohttp__bell_new)",
	int(C.GOHTTP_FAULT_PROXY_PAGE):   "proxy page (proxy/proxy.c GOHTTP_PROXY_CALLOC)",
	faultToken:                       "token table (lib/tokens.go put)",
	faultSlot:                        "handler slot (lib/server.go takeSlot)",
}

// The C points by name, for the driver.
const (
	faultPointArena       = int(C.GOHTTP_FAULT_ARENA)
	faultPointExchangeRef = int(C.GOHTTP_FAULT_EXCHANGE_REF)
	faultPointServerRef   = int(C.GOHTTP_FAULT_SERVER_REF)
	faultPointBell        = int(C.GOHTTP_FAULT_BELL)
	faultPointProxyPage   = int(C.GOHTTP_FAULT_PROXY_PAGE)
)
