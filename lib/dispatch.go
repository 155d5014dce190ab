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

// ServeHTTP runs one request through the C side: the server's handler
// count and a handler slot, then the path of the route's mode (push, seed
// or pull), each built on exchange.begin and exchange.finish. All cleanup
// happens inside; only then, if the handler called gohttp_abort, the
// ErrAbortHandler panic tells net/http to drop the connection.
func (rt *route) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s := rt.srv
	if !s.enterHandler() {
		http.Error(rw, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.leaveHandler()
	if !s.takeSlot(r.Context()) {
		http.Error(rw, "all handlers busy", http.StatusServiceUnavailable)
		return
	}
	defer s.releaseSlot()
	plantGoRace()
	var aborted bool
	switch {
	case rt.pull:
		aborted = rt.servePull(rw, r)
	case rt.seed != nil:
		aborted = rt.serveSeed(rw, r)
	default:
		aborted = rt.servePush(rw, r)
	}
	if aborted {
		panic(http.ErrAbortHandler)
	}
}

// servePush runs a gohttp_route handler on this goroutine's thread.
func (rt *route) servePush(rw http.ResponseWriter, r *http.Request) (aborted bool) {
	ex := &exchange{srv: rt.srv, rw: rw, req: r}
	ran := false
	defer ex.finish(&ran, &aborted)
	if !ex.begin(false, nil) {
		return
	}
	ran = true
	C.gohttp__call_handler(rt.fn, C.gohttp_handle(ex.handle), (*C.gohttp_request)(ex.arena), C.uintptr_t(rt.userdata), C.uint64_t(rt.srv.handle))
	return
}

// serveSeed reads the whole body (bounded by max_body_bytes), then runs a
// seed HandleFunc handler with it in the view, on this goroutine's thread.
func (rt *route) serveSeed(rw http.ResponseWriter, r *http.Request) (aborted bool) {
	ex := &exchange{srv: rt.srv, rw: rw, req: r}
	body, err := io.ReadAll(ex.bodyReader())
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(rw, "cannot read request body", http.StatusBadRequest)
		}
		return false
	}
	ran := false
	defer ex.finish(&ran, &aborted)
	if !ex.begin(true, body) {
		return
	}
	ran = true
	C.gohttp__call_seed(rt.seed, C.ResponseWriterPtr(ex.handle), (*C.Request)(ex.arena), C.uint64_t(rt.srv.handle))
	return
}

// servePull queues the exchange for a gohttp_next caller (handOff).
func (rt *route) servePull(rw http.ResponseWriter, r *http.Request) (aborted bool) {
	// done is made with ex, before the token and handle that publish ex
	// exist: gohttp_done on another thread reads it through the handle,
	// so it must never be seen unset.
	ex := &exchange{srv: rt.srv, rw: rw, req: r, done: make(chan struct{})}
	ran := false
	defer ex.finish(&ran, &aborted)
	if !ex.begin(false, nil) {
		return
	}
	ran = rt.handOff(ex, r)
	return
}

// begin gives ex its token, then its arena and handle from ONE C call
// (gohttp__request_begin, made by alloc once the view is sized), with the
// view of ex.req built in the arena (the seed layout, with body, when seed
// is set). False: the request was answered 503 (a table full, out of
// memory). Called after finish was deferred, so a panic while the view is
// filled frees what was made.
func (ex *exchange) begin(seed bool, body []byte) bool {
	// Owner of the token: this exchange; dropped by ex.end, after the C
	// handle that carries it is freed (lib/tokens.go).
	ex.token = exchangeTokens.put(ex)
	if ex.token == 0 {
		http.Error(ex.rw, "token table full", http.StatusServiceUnavailable)
		return false
	}
	alloc := func(size uintptr) unsafe.Pointer {
		// Owner of arena and handle: ex; freed by ex.end.
		got := C.gohttp__request_begin(C.size_t(size), C.uintptr_t(ex.token))
		ex.arena, ex.handle = got.arena, uint64(got.handle)
		return ex.arena
	}
	if seed {
		buildSeedView(ex.req, body, alloc)
	} else {
		buildView(ex.req, ex.srv.scheme(), alloc)
	}
	if ex.arena == nil {
		http.Error(ex.rw, "out of memory", http.StatusServiceUnavailable)
		return false
	}
	plantCgoPtr(ex.arena, ex)
	if ex.handle == 0 {
		http.Error(ex.rw, "handle table full", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// finish is every path's deferred last step: it ends ex (ex.end, with
// whether the handler ran) unless begin made nothing or gohttp_done ended
// it already (a taken pull exchange, ended on the caller's thread so that
// done returns without waiting for this goroutine), then reports whether
// the handler called gohttp_abort.
func (ex *exchange) finish(ran, aborted *bool) {
	if ex.token == 0 {
		return
	}
	if ex.claim.Load() != offerTaken {
		ex.end(*ran)
	}
	ex.mu.Lock() // gohttp_abort sets it under mu, from any thread
	*aborted = ex.aborted
	ex.mu.Unlock()
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

// end is step 6 for one exchange, run exactly once: by exchange.finish
// when the handler returned (push, seed) or the exchange was never taken
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
