package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"
)

// The seed API (shim/gohttplib.h) runs on one default server, created by
// the first HandleFunc or ListenAndServe and released when ListenAndServe
// returns.
var (
	seedMu     sync.Mutex
	seedServer C.gohttp_server // 0 when none
)

// seedShutdownTimeout is how long Shutdown() lets in-flight handlers run.
const seedShutdownTimeout = 5 * time.Second

// seedReport makes a seed call's failure visible: the seed's functions
// return void, so the detail goes to the last error (already set) and to
// stderr.
func seedReport(fn string, code int) {
	if code < 0 {
		fmt.Fprintf(os.Stderr, "gohttp: %s: %s: %s\n", fn, C.GoString(C.gohttp_strerror(C.int(code))), C.GoString(C.gohttp_last_error()))
	}
}

// seedDefault returns the default server, creating it if needed.
// seedMu must be held.
func seedDefaultLocked() (*server, int) {
	if seedServer == 0 {
		var h C.gohttp_server
		if code := int(gohttp_server_new(nil, &h)); code != codeOK {
			return nil, code
		}
		seedServer = h
	}
	return lookupServer(seedServer)
}

// HandleFunc: the seed API (gohttplib.h) on the default server. Errors go
// to the last error and stderr.
//
//export HandleFunc
func HandleFunc(pattern *C.char, fn *C.FuncPtr) {
	defer recoverVoid()
	seedMu.Lock()
	defer seedMu.Unlock()
	code := func() int {
		s, code := seedDefaultLocked()
		if code != codeOK {
			return code
		}
		pat, code := cStringArg("pattern", pattern, maxPatternLen)
		if code != codeOK {
			return code
		}
		if fn == nil {
			return fail(codeInval, "HandleFunc %q: handler is NULL", pat)
		}
		return s.addRoute(pat, &route{srv: s, seed: fn})
	}()
	seedReport("HandleFunc", code)
}

// ListenAndServe: the seed API (gohttplib.h). Blocks until Shutdown, then
// releases the default server.
//
//export ListenAndServe
func ListenAndServe(addr *C.char) {
	defer recoverVoid()
	seedMu.Lock()
	s, code := seedDefaultLocked()
	h := seedServer
	seedMu.Unlock()
	if code != codeOK {
		seedReport("ListenAndServe", code)
		return
	}
	a, code := cStringArg("addr", addr, maxAddrLen)
	if code != codeOK {
		seedReport("ListenAndServe", code)
		return
	}
	if port := s.start(a); port < 0 {
		seedReport("ListenAndServe", port)
		s.mu.Lock()
		running := s.state == stateRunning || s.state == stateStopping
		s.mu.Unlock()
		if running {
			return // another ListenAndServe owns the default server
		}
		// Bind failure (or Shutdown came first): the routes go with the
		// server, as they went with the seed's process exit.
	} else {
		seedReport("ListenAndServe", s.wait(0, true))
	}
	seedRelease(h, s)
}

// seedRelease frees the default server h once it is not running, so a
// later HandleFunc starts a fresh one.
func seedRelease(h C.gohttp_server, s *server) {
	seedMu.Lock()
	if seedServer == h {
		seedServer = 0
	}
	seedMu.Unlock()
	s.beginShutdown(0) // a never-started server becomes stopped at once
	<-s.stopped
	seedReport("ListenAndServe", int(gohttp_free(h)))
}

// Shutdown: the seed API (gohttplib.h). Non-blocking graceful shutdown of
// the default server; safe from inside a handler.
//
//export Shutdown
func Shutdown() {
	defer recoverVoid()
	seedMu.Lock()
	h := seedServer
	seedMu.Unlock()
	if h == 0 {
		return // nothing is serving
	}
	s, code := lookupServer(h)
	if code == codeOK {
		s.beginShutdown(seedShutdownTimeout)
	}
	seedReport("Shutdown", code)
}

// ResponseWriter_Write: the seed API (gohttplib.h); gohttp_write with an
// int length.
//
//export ResponseWriter_Write
func ResponseWriter_Write(w C.ResponseWriterPtr, buf *C.char, n C.int) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(withExchange(C.gohttp_handle(w), func(ex *exchange) int64 {
		return ex.write(unsafe.Pointer(buf), int64(n))
	}))
}

// ResponseWriter_WriteHeader: the seed API (gohttplib.h); errors go to the
// last error and stderr.
//
//export ResponseWriter_WriteHeader
func ResponseWriter_WriteHeader(w C.ResponseWriterPtr, code C.int) {
	defer recoverVoid()
	rc := withExchange(C.gohttp_handle(w), func(ex *exchange) int64 {
		return int64(ex.writeHeader(int(code)))
	})
	seedReport("ResponseWriter_WriteHeader", int(rc))
}
