package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"errors"
	"io"
	"net/http"
	"time"
	"unsafe"
)

// route is the http.Handler registered in a server's mux for one pattern.
// Exactly one of fn (gohttp_route), seed (HandleFunc) or pull
// (gohttp_route_queue) is set.
type route struct {
	srv      *server
	fn       C.gohttp_handler
	seed     *C.FuncPtr
	pull     bool
	userdata uintptr // the host's value, passed back untouched (gohttp__route)
}

// ServeHTTP runs one request through the C side. All cleanup happens
// inside serve; only then, if the handler called gohttp_abort, the
// ErrAbortHandler panic tells net/http to drop the connection.
func (rt *route) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if rt.serve(rw, r) {
		panic(http.ErrAbortHandler)
	}
}

// serve runs one request: handler slot, arena, handle, trampoline (or
// hand-off to gohttp_next), and a single deferred cleanup that runs on
// every path, panics included.
func (rt *route) serve(rw http.ResponseWriter, r *http.Request) (aborted bool) {
	s := rt.srv
	if !s.enterHandler() {
		http.Error(rw, "server is shutting down", http.StatusServiceUnavailable)
		return false
	}
	defer s.leaveHandler()
	if !s.takeSlot(r.Context()) {
		http.Error(rw, "all handlers busy", http.StatusServiceUnavailable)
		return false
	}
	defer s.releaseSlot()
	plantGoRace()

	ex := &exchange{srv: s, rw: rw, req: r}
	if rt.pull {
		// Made here, with ex, before the token and handle that publish ex
		// exist: gohttp_done on another thread reads it through the handle,
		// so it must never be seen unset.
		ex.done = make(chan struct{})
	}
	var body []byte
	if rt.seed != nil {
		var err error
		body, err = io.ReadAll(ex.bodyReader())
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(rw, "cannot read request body", http.StatusBadRequest)
			}
			return false
		}
	}
	// Owner of the token: this exchange; dropped by ex.end, after the C
	// handle that carries it is freed (lib/tokens.go).
	ex.token = exchangeTokens.put(ex)
	if ex.token == 0 {
		http.Error(rw, "token table full", http.StatusServiceUnavailable)
		return false
	}
	// The arena and the handle come from ONE C call (gohttp__request_begin,
	// made by alloc once the view is sized) and go back in ONE
	// (gohttp__request_end, in ex.end). The cleanup is deferred before
	// either exists, so a panic while the view is filled frees them too.
	alloc := func(size uintptr) unsafe.Pointer {
		// Owner of arena and handle: ex; freed by ex.end.
		got := C.gohttp__request_begin(C.size_t(size), C.uintptr_t(ex.token))
		ex.arena, ex.handle = got.arena, uint64(got.handle)
		return ex.arena
	}
	ran := false
	defer func() {
		// A pulled exchange was ended by gohttp_done before it closed
		// ex.done (on the caller's thread, so that done returns without
		// waiting for this goroutine); every other path ends it here.
		if ex.claim.Load() != offerTaken {
			ex.end(ran)
		}
		ex.mu.Lock() // gohttp_abort sets it under mu, from any thread
		aborted = ex.aborted
		ex.mu.Unlock()
	}()
	if rt.seed != nil {
		buildSeedView(r, body, alloc)
	} else {
		buildView(r, s.scheme(), alloc)
	}
	if ex.arena == nil {
		http.Error(rw, "out of memory", http.StatusServiceUnavailable)
		return false
	}
	plantCgoPtr(ex.arena, ex)
	if ex.handle == 0 {
		http.Error(rw, "handle table full", http.StatusServiceUnavailable)
		return false
	}
	h := C.uint64_t(ex.handle)

	switch {
	case rt.pull:
		ran = rt.handOff(ex, r)
	case rt.seed != nil:
		ran = true
		C.gohttp__call_seed(rt.seed, C.ResponseWriterPtr(h), (*C.Request)(ex.arena), C.uint64_t(s.handle))
	default:
		ran = true
		C.gohttp__call_handler(rt.fn, C.gohttp_handle(h), (*C.gohttp_request)(ex.arena), C.uintptr_t(rt.userdata), C.uint64_t(s.handle))
	}
	return false // the deferred cleanup sets the real value
}

// handOff offers the exchange to gohttp_next for up to queue_timeout_ms,
// then waits for gohttp_done. It waits for done even after the server was
// force-closed: freeing the arena under a host thread still using it would
// be worse than a shutdown that waits for a buggy host. Reports whether a
// host took the exchange.
func (rt *route) handOff(ex *exchange, r *http.Request) bool {
	s := rt.srv
	t := time.NewTimer(s.queueLeft(r))
	defer t.Stop()
	ex.userdata = rt.userdata
	select {
	case s.queue <- ex:
		C.gohttp__bell_ring(s.bell)
	default:
		// Cannot happen while every queued request holds a handler slot
		// (the queue has one place per slot); refused rather than waited.
		http.Error(ex.rw, "no worker took the request", http.StatusServiceUnavailable)
		return false
	}
	select {
	case <-ex.done:
		return true
	case <-t.C:
		if ex.withdraw() {
			if m := s.metrics; m != nil {
				m.queueTimeouts.Add(1)
			}
			http.Error(ex.rw, "no worker took the request", http.StatusServiceUnavailable)
			return false
		}
	case <-r.Context().Done():
		if ex.withdraw() {
			return false
		}
	}
	// A taker won the race: from here gohttp_done owns the end.
	<-ex.done
	return true
}

// Claim states of a queued exchange: one gohttp_next caller takes it, or
// its request goroutine withdraws it (timeout, client gone); never both.
const (
	offerOpen int32 = iota
	offerTaken
	offerWithdrawn
)

// take claims ex for a gohttp_next caller; false if it was withdrawn.
func (ex *exchange) take() bool {
	return ex.claim.CompareAndSwap(offerOpen, offerTaken)
}

// withdraw takes ex back for its request goroutine; false if a taker has
// it already (then gohttp_done ends it and closes ex.done).
func (ex *exchange) withdraw() bool {
	return ex.claim.CompareAndSwap(offerOpen, offerWithdrawn)
}

// end is step 6 for one exchange, run exactly once: by route.serve when
// the handler returned (push, seed) or the exchange was never taken
// (pull), by gohttp_done for a taken one. Order matters: request_end
// frees the handle first (waits for calls still running on other threads,
// and makes every copy stale), then the arena; after it nothing in C can
// reach ex or the arena, so the token can go.
func (ex *exchange) end(served bool) {
	if ex.arena != nil {
		flag := C.int(0)
		if served {
			flag = 1
		}
		C.gohttp__request_end(C.uint64_t(ex.handle), ex.arena, flag)
		ex.arena = nil
	}
	ex.mu.Lock()
	if st := ex.pendingStatus(); st != 0 && !ex.wroteHeader && !ex.aborted {
		// A body read failed (over max_body_bytes: 413, malformed: 400,
		// stalled: 408) and the handler wrote nothing.
		http.Error(ex.rw, failText(st), st)
		ex.wroteHeader = true
	}
	ex.mu.Unlock()
	exchangeTokens.drop(ex.token)
}
