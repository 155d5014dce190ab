package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// gohttp__next_poll is the Go half of gohttp_next (contract in gohttp.h;
// the C half in shim/doorbell.c waits on the server's bell between polls,
// so a host thread never waits inside Go for a request; it parks there
// only for the yield below). It takes a queued exchange
// without waiting. When there is none it answers GOHTTP_ETIMEDOUT with
// *bell set and the caller registered on it (entered before the queue was
// looked at, so a request queued after the look rings a bell the caller
// will see). Records the calling OS thread as the taker of an exchange in
// s.pullOpen, so gohttp_wait(s) from this thread is EDEADLK until the
// exchange is done (on whatever thread). An export runs on the C thread
// that called it, so gettid here names that thread. yield != 0 (the C half
// asks on a call 5 ms or more after the thread's last yield):
// runtime.Gosched first, so this thread's goroutine goes through the
// scheduler and Go's monitor does not take it for one that never yields
// (shim/doorbell.c: gohttp_next).
//
//export gohttp__next_poll
func gohttp__next_poll(sh C.gohttp_server, timeoutMS C.int64_t, out *C.gohttp_exchange, bell **C.gohttp__bell, seen *C.uint64_t, yield C.int) (rc C.int) {
	defer recoverInto(&rc)
	*bell = nil
	if yield != 0 {
		hostYields.Add(1)
		runtime.Gosched()
	}
	s, code := lookupServer(sh)
	if code != codeOK {
		return C.int(code)
	}
	if out == nil {
		return C.int(fail(codeInval, "gohttp_next: out is NULL"))
	}
	if _, _, code := timeoutArg("gohttp_next", timeoutMS); code != codeOK {
		return C.int(code)
	}
	entered := C.gohttp__bell_enter(s.bell)
	ex := s.poll()
	if ex == nil {
		s.held.release() // nothing queued: no reason to hold a wake-up
		select {
		case <-s.stopped:
			C.gohttp__bell_leave(s.bell)
			return C.int(fail(codeClosed, "gohttp_next: server has stopped"))
		default:
		}
		if timeoutMS == 0 {
			C.gohttp__bell_leave(s.bell)
			return C.int(fail(codeTimedOut, "gohttp_next: no request queued"))
		}
		*bell, *seen = s.bell, entered
		return C.int(codeTimedOut)
	}
	C.gohttp__bell_leave(s.bell)
	s.notePullTaken(ex, syscall.Gettid())
	out.w = C.gohttp_handle(ex.handle)
	out.req = (*C.gohttp_request)(ex.arena)
	// Stored as the integer it is (see gohttp__route): C memory, written
	// through a uintptr view so no unsafe.Pointer ever holds it.
	*(*C.uintptr_t)(unsafe.Pointer(&out.userdata)) = C.uintptr_t(ex.userdata)
	return 0
}

// hostYields counts the yields gohttp__next_poll made (read by tests).
var hostYields atomic.Int64

// gohttp__next_closed: the C half's answer when the server stopped while
// it waited.
//
//export gohttp__next_closed
func gohttp__next_closed() C.int {
	return C.int(fail(codeClosed, "gohttp_next: server has stopped"))
}

// gohttp__next_timed_out: the C half's answer when its wait ran out.
//
//export gohttp__next_timed_out
func gohttp__next_timed_out(timeoutMS C.int64_t) C.int {
	return C.int(fail(codeTimedOut, "gohttp_next: no request within %dms", int64(timeoutMS)))
}

// notePullTaken records that OS thread tid holds ex until gohttp_done, and
// since when. It runs before gohttp_next returns the handle, so no done can
// come first. Both live in ex but are only touched under s.mu: gohttp_done
// may run on another thread, synchronized with this one only through C.
func (s *server) notePullTaken(ex *exchange, tid int) {
	now := time.Now()
	s.mu.Lock()
	ex.takerTid = tid
	ex.takenAt = now
	s.pullOpen[tid]++
	s.mu.Unlock()
}

// notePullDone gives back the taker's count for ex (whichever thread
// calls gohttp_done): the marker belongs to the thread that took it.
// Returns how long ex was out with the host.
func (s *server) notePullDone(ex *exchange) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.pullOpen[ex.takerTid] - 1; n > 0 {
		s.pullOpen[ex.takerTid] = n
	} else {
		delete(s.pullOpen, ex.takerTid)
	}
	return time.Since(ex.takenAt)
}

// holdsPulled reports whether OS thread tid holds an exchange of s that is
// not done yet.
func (s *server) holdsPulled(tid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pullOpen[tid] > 0
}

// poll takes the next queued exchange that its request goroutine has not
// withdrawn, or nil. The queue has a place for every handler slot, so a
// request goroutine never waits to enqueue, and it parks only once (until
// gohttp_done, or its queue timeout). Each exchange is claimed exactly
// once, by one poll or by its goroutine's withdraw: none is ever served
// twice or stranded. A shutdown does not stop the polls: the requests
// received before the listener closed are still handed out while the
// server drains; gohttp_next answers GOHTTP_ECLOSED once the server has
// stopped (no request left).
func (s *server) poll() *exchange {
	for {
		select {
		case ex := <-s.queue:
			if ex.take() {
				return ex
			}
			// withdrawn: its goroutine answered it
		default:
			return nil
		}
	}
}

// gohttp_done: contract in gohttp.h. Ends the exchange on the calling
// thread (handle freed, arena freed, token dropped) and only then wakes the
// request goroutine, so it returns without waiting for that goroutine to
// be scheduled; while requests are queued that wake-up may be held and
// made with later ones (heldwake.go).
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
	ran := ex.srv.notePullDone(ex)
	// Deferred, so that even a panic in end (recovered into a code) does
	// not leave the request goroutine parked for good.
	defer ex.srv.held.wake(ex, len(ex.srv.queue), ran)
	// doneLookup gave its use-reference back, so the handle free inside
	// end waits only for calls other threads still make on w.
	ex.end(true)
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
