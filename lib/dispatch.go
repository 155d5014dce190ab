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
	userdata unsafe.Pointer // the host's pointer, passed back untouched
}

// pullOffer is what a pull-mode request hands to gohttp_next.
type pullOffer struct {
	ex       *exchange
	view     unsafe.Pointer
	userdata unsafe.Pointer
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
		// exist: gohttp_done on another thread reads them through the
		// handle, so they must never be seen unset.
		ex.done = make(chan struct{})
		ex.cleaned = make(chan struct{})
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
	// Owner of token: this goroutine; dropped in the cleanup below, after
	// the C handle that carries it is freed (lib/tokens.go).
	token := exchangeTokens.put(ex)
	// The arena and the handle come from ONE C call (gohttp__request_begin,
	// made by alloc once the view is sized) and go back in ONE
	// (gohttp__request_end). The cleanup is deferred before either exists,
	// so a panic while the view is filled frees them too.
	var arena unsafe.Pointer
	var h C.uint64_t
	alloc := func(size uintptr) unsafe.Pointer {
		// Owner of arena and h: this goroutine; freed in the cleanup below.
		got := C.gohttp__request_begin(C.size_t(size), C.uintptr_t(token))
		arena, h = got.arena, got.handle
		return arena
	}
	ran := false
	defer func() {
		// Order matters: request_end frees the handle first (waits for
		// calls still running on other threads, and makes every copy
		// stale), then the arena; after it nothing in C can reach ex or
		// the arena, so the token can go.
		if arena != nil {
			served := C.int(0)
			if ran {
				served = 1
			}
			C.gohttp__request_end(h, arena, served)
		}
		ex.mu.Lock()
		aborted = ex.aborted
		if ex.tooLarge && !ex.wroteHeader && !ex.aborted {
			// A body read hit max_body_bytes and the handler wrote
			// nothing: the answer is the library's 413.
			http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
			ex.wroteHeader = true
		}
		ex.mu.Unlock()
		exchangeTokens.drop(token)
		if ex.cleaned != nil {
			close(ex.cleaned)
		}
	}()
	if rt.seed != nil {
		buildSeedView(r, body, alloc)
	} else {
		buildView(r, alloc)
	}
	if arena == nil {
		http.Error(rw, "out of memory", http.StatusServiceUnavailable)
		return false
	}
	plantCgoPtr(arena, ex)
	if h == 0 {
		http.Error(rw, "handle table full", http.StatusServiceUnavailable)
		return false
	}
	ex.handle = uint64(h)

	switch {
	case rt.pull:
		ran = rt.handOff(ex, arena, r)
	case rt.seed != nil:
		ran = true
		C.gohttp__call_seed(rt.seed, C.ResponseWriterPtr(h), (*C.Request)(arena), C.uint64_t(s.handle))
	default:
		ran = true
		C.gohttp__call_handler(rt.fn, C.gohttp_handle(h), (*C.gohttp_request)(arena), rt.userdata, C.uint64_t(s.handle))
	}
	return false // the deferred cleanup sets the real value
}

// handOff offers the exchange to gohttp_next for up to queue_timeout_ms,
// then waits for gohttp_done. It waits for done even after the server was
// force-closed: freeing the arena under a host thread still using it would
// be worse than a shutdown that waits for a buggy host. Reports whether a
// host took the exchange.
func (rt *route) handOff(ex *exchange, arena unsafe.Pointer, r *http.Request) bool {
	s := rt.srv
	t := time.NewTimer(s.opts.queueTimeout)
	defer t.Stop()
	select {
	case s.queue <- pullOffer{ex: ex, view: arena, userdata: rt.userdata}:
	case <-s.closing:
		http.Error(ex.rw, "server is shutting down", http.StatusServiceUnavailable)
		return false
	case <-t.C:
		http.Error(ex.rw, "no worker took the request", http.StatusServiceUnavailable)
		return false
	case <-r.Context().Done():
		return false
	}
	<-ex.done
	return true
}
