package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"syscall"
	"time"
	"unsafe"
)

// gohttp_next: contract in gohttp.h. Records the calling OS thread as the
// taker of the exchange in s.pullOpen, so gohttp_wait(s) from this thread
// is EDEADLK until the exchange is done (on whatever thread). An export
// runs on the C thread that called it, so gettid here names that thread.
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
	s.notePullTaken(offer.ex, syscall.Gettid())
	out.w = C.gohttp_handle(offer.ex.handle)
	out.req = (*C.gohttp_request)(offer.view)
	// Stored as the integer it is (see gohttp__route): C memory, written
	// through a uintptr view so no unsafe.Pointer ever holds it.
	*(*C.uintptr_t)(unsafe.Pointer(&out.userdata)) = C.uintptr_t(offer.userdata)
	return 0
}

// notePullTaken records that OS thread tid holds ex until gohttp_done. It
// runs before gohttp_next returns the handle, so no done can come first.
// The taker id lives in ex but is only touched under s.mu: gohttp_done may
// run on another thread, synchronized with this one only through C.
func (s *server) notePullTaken(ex *exchange, tid int) {
	s.mu.Lock()
	ex.takerTid = tid
	s.pullOpen[tid]++
	s.mu.Unlock()
}

// notePullDone gives back the taker's count for ex (whichever thread
// calls gohttp_done): the marker belongs to the thread that took it.
func (s *server) notePullDone(ex *exchange) {
	s.mu.Lock()
	if n := s.pullOpen[ex.takerTid] - 1; n > 0 {
		s.pullOpen[ex.takerTid] = n
	} else {
		delete(s.pullOpen, ex.takerTid)
	}
	s.mu.Unlock()
}

// holdsPulled reports whether OS thread tid holds an exchange of s that is
// not done yet.
func (s *server) holdsPulled(tid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pullOpen[tid] > 0
}

// next takes an exchange a request goroutine is offering. The hand-off
// channel is unbuffered, so an exchange is either taken by exactly one
// caller or still owned by its request goroutine (which answers 503 on
// timeout): none can be stranded in a queue nobody reads. A shutdown does
// not end it: the requests received before the listener closed are still
// handed out while the server drains, and only a stopped server (no
// request left, s.stopped) answers GOHTTP_ECLOSED.
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
	case <-s.stopped:
		return pullOffer{}, fail(codeClosed, "gohttp_next: server has stopped")
	case <-timeout:
		return pullOffer{}, fail(codeTimedOut, "gohttp_next: no request within %v", d)
	}
}

// gohttp_done: contract in gohttp.h. Ends the exchange on the calling
// thread (handle freed, arena freed, token dropped) and only then wakes the
// request goroutine, so it returns without waiting for that goroutine to
// be scheduled.
//
//export gohttp_done
func gohttp_done(w C.gohttp_handle) (rc C.int) {
	defer recoverInto(&rc)
	ex, code := doneLookup(w)
	if code != codeOK {
		return C.int(code)
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
	ex.srv.notePullDone(ex)
	// doneLookup gave its use-reference back, so the handle free inside
	// end waits only for calls other threads still make on w.
	ex.end(true)
	close(ex.done)
	return 0
}

// doneLookup resolves w to its exchange and gives the use-reference back
// before returning, by defer, so a panic in the lookup cannot keep it: the
// request goroutine frees the handle after done, and that free waits for
// every use-reference; a leaked one would block the server's stop forever.
func doneLookup(w C.gohttp_handle) (*exchange, int) {
	p := C.gohttp__exchange_acquire(C.uint64_t(w))
	if p == 0 {
		return nil, codeStale
	}
	defer C.gohttp__exchange_release(C.uint64_t(w))
	testPanicPoint()
	return lookupExchange(p), codeOK
}
