//go:build gohttp_test

package main

// Go-typed access to the internal free functions of the two handle tables
// (shim/dispatch.c), for handle_free_guards_test.go. The library calls
// them only right after a successful lookup of the same handle, so their
// refusals of a wrong or freed handle are reached only from here.

/*
#include "gohttp_internal.h"
*/
import "C"

func tServerFreeInternal(h uint64) (int, string) {
	return withThread(func() int { return int(C.gohttp__server_free(C.uint64_t(h))) })
}

func tExchangeFreeInternal(h uint64) (int, string) {
	return withThread(func() int { return int(C.gohttp__exchange_free(C.uint64_t(h))) })
}
