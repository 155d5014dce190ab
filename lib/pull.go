package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import "time"

// gohttp_next: contract in gohttp.h. Marks the calling thread as holding an
// exchange of s, so gohttp_wait on it from this thread is EDEADLK.
//
//export gohttp_next
func gohttp_next(sh C.gohttp_server, timeoutMS C.int64_t, out *C.gohttp_exchange) (rc C.int) {
	defer recoverInto(&rc)
	s, code := lookupServer(sh)
	if code != codeOK {
		return C.int(code)
	}
	if out == nil {
		return C.int(fail(codeInval, "gohttp_next: out is NULL"))
	}
	d, forever, code := timeoutArg("gohttp_next", timeoutMS)
	if code != codeOK {
		return C.int(code)
	}
	offer, code := s.next(d, forever)
	if code != codeOK {
		return C.int(code)
	}
	out.w = C.gohttp_handle(offer.ex.handle)
	out.req = (*C.gohttp_request)(offer.view)
	out.userdata = offer.userdata
	C.gohttp__set_pull_server(C.uint64_t(s.handle))
	return 0
}

// next takes an exchange a request goroutine is offering. The hand-off
// channel is unbuffered, so an exchange is either taken by exactly one
// caller or still owned by its request goroutine (which answers 503 on
// timeout or shutdown): none can be stranded in a queue nobody reads.
func (s *server) next(d time.Duration, forever bool) (pullOffer, int) {
	select { // prefer work over the closed signal
	case o := <-s.queue:
		return o, codeOK
	default:
	}
	var timeout <-chan time.Time
	if !forever {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case o := <-s.queue:
		return o, codeOK
	case <-s.closing:
		return pullOffer{}, fail(codeClosed, "gohttp_next: server is shutting down")
	case <-timeout:
		return pullOffer{}, fail(codeTimedOut, "gohttp_next: no request within %v", d)
	}
}

// gohttp_done: contract in gohttp.h. Returns after the request goroutine
// freed the handle and the arena.
//
//export gohttp_done
func gohttp_done(w C.gohttp_handle) (rc C.int) {
	defer recoverInto(&rc)
	p := C.gohttp__exchange_acquire(C.uint64_t(w))
	if p == 0 {
		return C.int(codeStale)
	}
	ex := exchangeTokens.get(uintptr(p))
	// Give the use-reference back before signalling: the request goroutine
	// frees the handle, which waits for every use-reference, ours included.
	C.gohttp__exchange_release(C.uint64_t(w))
	if ex == nil {
		panic("gohttp: exchange table payload is not an exchange")
	}
	if ex.done == nil {
		return C.int(fail(codeState, "gohttp_done: not a pulled exchange (push handlers just return)"))
	}
	first := false
	ex.doneOnce.Do(func() { first = true })
	if !first {
		C.gohttp__count_stale()
		return C.int(fail(codeStale, "gohttp_done: exchange already done"))
	}
	C.gohttp__clear_pull_server(C.uint64_t(ex.srv.handle))
	close(ex.done)
	// Return only once the handle is stale and the arena freed, so the
	// caller may rely on "after done, w and req are gone".
	<-ex.cleaned
	return 0
}
