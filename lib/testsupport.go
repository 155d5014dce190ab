//go:build gohttp_test

package main

// Go-typed access to the C test handlers (testhandlers.c) and to the
// public API through its C entry points, for lib/*_test.go: test files
// cannot use cgo themselves. Every call below goes through the exported C
// symbol, exactly as a C host calls it.
//
// Built only with -tags gohttp_test (go test of lib/, see mk/core.mk), like
// testhandlers.c: the shipped library holds none of it, and
// testsupport_off.go turns the hooks the library calls into no-ops.

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include <stdlib.h>
#include "testhandlers.h"
*/
import "C"

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// testPanicArmed makes the next testPanicPoint panic once, to prove the
// recover path of the exports. Set only by tArmPanic.
var testPanicArmed atomic.Bool

// testPanicPoint is called where an export looks up a handle (exchange.go,
// pull.go, server.go); testsupport_off.go makes it a no-op.
func testPanicPoint() {
	if testPanicArmed.Load() && testPanicArmed.CompareAndSwap(true, false) {
		panic("gohttp test: injected panic")
	}
}

type testHandler int

const (
	thHello testHandler = iota
	thEcho
	thThreads
	thStash
	thBlock
	thBadInput
	thShutdownSelf
	thWaitSelf
	thPathValue
	thFlush
	thAbort
	thTwoWrites
	thFirehose
	thTooLarge
	thRespond
	thUserdataValue
	thRules
	thNoBody
	thCount
	thEchoAll
)

func (h testHandler) c() C.gohttp_handler {
	switch h {
	case thHello:
		return C.gohttp_handler(C.gohttp__test_hello)
	case thEcho:
		return C.gohttp_handler(C.gohttp__test_echo)
	case thThreads:
		return C.gohttp_handler(C.gohttp__test_threads)
	case thStash:
		return C.gohttp_handler(C.gohttp__test_stash)
	case thBlock:
		return C.gohttp_handler(C.gohttp__test_block)
	case thBadInput:
		return C.gohttp_handler(C.gohttp__test_badinput)
	case thShutdownSelf:
		return C.gohttp_handler(C.gohttp__test_shutdown_self)
	case thWaitSelf:
		return C.gohttp_handler(C.gohttp__test_wait_self)
	case thPathValue:
		return C.gohttp_handler(C.gohttp__test_pathvalue)
	case thRespond:
		return C.gohttp_handler(C.gohttp__test_respond)
	case thUserdataValue:
		return C.gohttp_handler(C.gohttp__test_userdata_value)
	case thFlush:
		return C.gohttp_handler(C.gohttp__test_flush)
	case thAbort:
		return C.gohttp_handler(C.gohttp__test_abort)
	case thTwoWrites:
		return C.gohttp_handler(C.gohttp__test_twowrites)
	case thFirehose:
		return C.gohttp_handler(C.gohttp__test_firehose)
	case thTooLarge:
		return C.gohttp_handler(C.gohttp__test_toolarge)
	case thRules:
		return C.gohttp_handler(C.gohttp__test_rules)
	case thNoBody:
		return C.gohttp_handler(C.gohttp__test_nobody)
	case thCount:
		return C.gohttp_handler(C.gohttp__test_count)
	case thEchoAll:
		return C.gohttp_handler(C.gohttp__test_echo_all)
	}
	panic("unknown test handler")
}

// Test-visible copies of the constants.
const (
	tWriters = int(C.GOHTTP_TEST_WRITERS)
	tLines   = int(C.GOHTTP_TEST_LINES)
	tLineLen = int(C.GOHTTP_TEST_LINE_LEN)
)

type tOptions struct {
	ReadHeaderTimeoutMS, IdleTimeoutMS, WriteTimeoutMS int64
	MaxHeaderBytes, MaxBodyBytes                       int64
	MaxHandlers                                        int32
	QueueTimeoutMS                                     int64
	ReusePort                                          int32
	LimitRequestLine, LimitRequestFields               int64
	LimitRequestFieldSize                              int64
	BodyReadTimeoutMS, SendTimeoutMS, MaxConnections   int64
	CertFile, KeyFile                                  string // "" = NULL
	H2C                                                int32
	AccessLog                                          string // "" = NULL
}

// cPaths sets the string fields of co from o as C copies; the returned
// function frees them (after gohttp_server_new, which copied them).
func (o *tOptions) cPaths(co *C.gohttp_options) func() {
	var held []*C.char
	dup := func(v string) *C.char {
		if v == "" {
			return nil
		}
		p := C.CString(v)
		held = append(held, p)
		return p
	}
	co.certfile = dup(o.CertFile)
	co.keyfile = dup(o.KeyFile)
	co.access_log = dup(o.AccessLog)
	return func() {
		for _, p := range held {
			C.free(unsafe.Pointer(p))
		}
	}
}

func (o *tOptions) toC() C.gohttp_options {
	return C.gohttp_options{
		read_header_timeout_ms:   C.int64_t(o.ReadHeaderTimeoutMS),
		idle_timeout_ms:          C.int64_t(o.IdleTimeoutMS),
		write_timeout_ms:         C.int64_t(o.WriteTimeoutMS),
		max_header_bytes:         C.int64_t(o.MaxHeaderBytes),
		max_body_bytes:           C.int64_t(o.MaxBodyBytes),
		max_handlers:             C.int32_t(o.MaxHandlers),
		queue_timeout_ms:         C.int64_t(o.QueueTimeoutMS),
		limit_request_line:       C.int64_t(o.LimitRequestLine),
		limit_request_fields:     C.int64_t(o.LimitRequestFields),
		limit_request_field_size: C.int64_t(o.LimitRequestFieldSize),
		body_read_timeout_ms:     C.int64_t(o.BodyReadTimeoutMS),
		send_timeout_ms:          C.int64_t(o.SendTimeoutMS),
		max_connections:          C.int64_t(o.MaxConnections),
		reuse_port:               C.int32_t(o.ReusePort),
		h2c:                      C.int32_t(o.H2C),
	}
}

// tDefaults holds gohttp.h's GOHTTP_DEFAULT_* values.
var tDefaults = tOptions{ReadHeaderTimeoutMS: C.GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS,
	IdleTimeoutMS: C.GOHTTP_DEFAULT_IDLE_TIMEOUT_MS, WriteTimeoutMS: C.GOHTTP_DEFAULT_WRITE_TIMEOUT_MS,
	MaxHeaderBytes: C.GOHTTP_DEFAULT_MAX_HEADER_BYTES, MaxBodyBytes: C.GOHTTP_DEFAULT_MAX_BODY_BYTES,
	MaxHandlers: C.GOHTTP_DEFAULT_MAX_HANDLERS, QueueTimeoutMS: C.GOHTTP_DEFAULT_QUEUE_TIMEOUT_MS,
	ReusePort: C.GOHTTP_DEFAULT_REUSE_PORT, LimitRequestLine: C.GOHTTP_DEFAULT_LIMIT_REQUEST_LINE,
	LimitRequestFields:    C.GOHTTP_DEFAULT_LIMIT_REQUEST_FIELDS,
	LimitRequestFieldSize: C.GOHTTP_DEFAULT_LIMIT_REQUEST_FIELD_SIZE,
	BodyReadTimeoutMS:     C.GOHTTP_DEFAULT_BODY_READ_TIMEOUT_MS, SendTimeoutMS: C.GOHTTP_DEFAULT_SEND_TIMEOUT_MS,
	MaxConnections: C.GOHTTP_DEFAULT_MAX_CONNECTIONS}

func tOptionsInit() tOptions {
	var c C.gohttp_options
	C.gohttp_options_init(&c)
	return tOptions{ReadHeaderTimeoutMS: int64(c.read_header_timeout_ms), IdleTimeoutMS: int64(c.idle_timeout_ms),
		WriteTimeoutMS: int64(c.write_timeout_ms), MaxHeaderBytes: int64(c.max_header_bytes),
		MaxBodyBytes: int64(c.max_body_bytes), MaxHandlers: int32(c.max_handlers), QueueTimeoutMS: int64(c.queue_timeout_ms),
		LimitRequestLine: int64(c.limit_request_line), LimitRequestFields: int64(c.limit_request_fields),
		LimitRequestFieldSize: int64(c.limit_request_field_size), BodyReadTimeoutMS: int64(c.body_read_timeout_ms),
		SendTimeoutMS: int64(c.send_timeout_ms), MaxConnections: int64(c.max_connections),
		ReusePort: int32(c.reuse_port), H2C: int32(c.h2c)}
}

// withThread runs f locked to one OS thread and returns its code with the
// thread's last error, so the message read is the one f's call set.
func withThread(f func() int) (int, string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.gohttp__set_last_error(nil, 0)
	rc := f()
	return rc, C.GoString(C.gohttp_last_error())
}

func tServerNew(o *tOptions) (uint64, int, string) {
	var h C.gohttp_server
	rc, msg := withThread(func() int {
		if o == nil {
			return int(C.gohttp_server_new(nil, &h))
		}
		co := o.toC()
		defer o.cPaths(&co)()
		return int(C.gohttp_server_new(&co, &h))
	})
	return uint64(h), rc, msg
}

func tServerNewNullOut() int { return int(C.gohttp_server_new(nil, nil)) }

func tRoute(s uint64, pattern string, h testHandler, slot int) (int, string) {
	cp := C.CString(pattern)
	defer C.free(unsafe.Pointer(cp))
	var ud unsafe.Pointer
	if slot >= 0 {
		ud = C.gohttp__test_slot(C.int(slot))
	}
	return withThread(func() int { return int(C.gohttp_route(C.gohttp_server(s), cp, h.c(), ud)) })
}

func tRouteNullFn(s uint64, pattern string) int {
	cp := C.CString(pattern)
	defer C.free(unsafe.Pointer(cp))
	return int(C.gohttp_route(C.gohttp_server(s), cp, nil, nil))
}

func tRouteNullPattern(s uint64) int {
	return int(C.gohttp_route(C.gohttp_server(s), nil, thHello.c(), nil))
}

// tRouteQueue registers a pull route whose userdata is a C copy of ud,
// returned so the test can free it after the server is freed.
func tRouteQueue(s uint64, pattern, ud string) (int, unsafe.Pointer) {
	cp := C.CString(pattern)
	defer C.free(unsafe.Pointer(cp))
	cud := unsafe.Pointer(C.CString(ud))
	return int(C.gohttp_route_queue(C.gohttp_server(s), cp, cud)), cud
}

func tCFree(p unsafe.Pointer) { C.free(p) }

func tStart(s uint64, addr string) (int, string) {
	ca := C.CString(addr)
	defer C.free(unsafe.Pointer(ca))
	return withThread(func() int { return int(C.gohttp_start(C.gohttp_server(s), ca)) })
}

// tStartFd calls gohttp_start_fd and returns the calling thread's last
// error with it.
func tStartFd(s uint64, fd int) (int, string) {
	return withThread(func() int { return int(C.gohttp_start_fd(C.gohttp_server(s), C.int(fd))) })
}

// tOpenConns is the number of connections server s has accepted and not
// yet seen closed (its connTable), or -1 for a stale handle.
func tOpenConns(s uint64) int {
	srv, code := lookupServer(C.gohttp_server(s))
	if code != codeOK {
		return -1
	}
	return srv.conns.count()
}

func tStartNullAddr(s uint64) int { return int(C.gohttp_start(C.gohttp_server(s), nil)) }

// tStartOnThread calls gohttp_start from a fresh C thread and returns that
// thread's last error.
func tStartOnThread(s uint64, addr string) (int, string) {
	ca := C.CString(addr)
	defer C.free(unsafe.Pointer(ca))
	const errCap = 512
	buf := (*C.char)(C.malloc(errCap))
	defer C.free(unsafe.Pointer(buf))
	rc := C.gohttp__test_start_on_thread(C.gohttp_server(s), ca, buf, errCap)
	return int(rc), C.GoString(buf)
}

func tShutdown(s uint64, ms int64) int {
	return int(C.gohttp_shutdown(C.gohttp_server(s), C.int64_t(ms)))
}

func tWait(s uint64, ms int64) int { return int(C.gohttp_wait(C.gohttp_server(s), C.int64_t(ms))) }

func tFree(s uint64) int { return int(C.gohttp_free(C.gohttp_server(s))) }

func tListenAndServe(s uint64, addr string) int {
	ca := C.CString(addr)
	defer C.free(unsafe.Pointer(ca))
	return int(C.gohttp_listen_and_serve(C.gohttp_server(s), ca))
}

func tNext(s uint64, ms int64) int {
	var ex C.gohttp_exchange
	return int(C.gohttp_next(C.gohttp_server(s), C.int64_t(ms), &ex))
}

// tNextEx takes an exchange on the calling thread; the caller should hold
// runtime.LockOSThread so gohttp_done runs on the same thread.
func tNextEx(s uint64, ms int64) (rc int, w uint64, path string) {
	var ex C.gohttp_exchange
	rc = int(C.gohttp_next(C.gohttp_server(s), C.int64_t(ms), &ex))
	if rc == 0 {
		w = uint64(ex.w)
		path = C.GoStringN(ex.req.path, C.int(ex.req.path_len))
	}
	return rc, w, path
}

func tDone(w uint64) int { return int(C.gohttp_done(C.gohttp_handle(w))) }

func tWriteString(w uint64, s string) int64 {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return int64(C.gohttp_write(C.gohttp_handle(w), unsafe.Pointer(cs), C.int64_t(len(s))))
}

type tCounters struct {
	LiveHandles, LiveServers, LiveArenas, ArenaBytes int64
	RequestsServed, StaleRejections, PanicsRecovered int64
	LiveTokens, LiveGoHandles                        int64
}

func tStats() tCounters {
	var c C.gohttp_counters
	if C.gohttp_stats(&c) != 0 {
		panic("gohttp_stats failed")
	}
	return tCounters{int64(c.live_handles), int64(c.live_servers), int64(c.live_arenas), int64(c.arena_bytes),
		int64(c.requests_served), int64(c.stale_rejections), int64(c.panics_recovered),
		int64(c.live_tokens), int64(c.live_go_handles)}
}

func tStatsNull() int { return int(C.gohttp_stats(nil)) }

func tStrerror(code int) string { return C.GoString(C.gohttp_strerror(C.int(code))) }

func tSetSlot(i int, s uint64) { C.gohttp__test_set_slot(C.int(i), C.gohttp_server(s)) }

func tStashed() uint64 { return uint64(C.gohttp__test_stashed()) }

func tLateWrite() int64 { return int64(C.gohttp__test_late_write()) }

func tBlockEntered() int   { return int(C.gohttp__test_block_entered()) }
func tBlockRelease()       { C.gohttp__test_block_release() }
func tBlockHandle() uint64 { return uint64(C.gohttp__test_block_handle()) }
func tBlockReset()         { C.gohttp__test_block_reset() }

func tExchangeCalls(w uint64) []int64 {
	var rcs [C.GOHTTP_TEST_EXCHANGE_CALLS]C.int64_t
	C.gohttp__test_exchange_calls(C.gohttp_handle(w), &rcs[0])
	out := make([]int64, len(rcs))
	for i, v := range rcs {
		out[i] = int64(v)
	}
	return out
}

func tServerCalls(s uint64) []int64 {
	var rcs [C.GOHTTP_TEST_SERVER_CALLS]C.int64_t
	C.gohttp__test_server_calls(C.gohttp_server(s), &rcs[0])
	out := make([]int64, len(rcs))
	for i, v := range rcs {
		out[i] = int64(v)
	}
	return out
}

type tPullResult struct {
	Served, Closed, OtherErrors, StaleAfterDone, Deadlk, DoubleDone int64
}

func tPullStart(s uint64, n int) int {
	return int(C.gohttp__test_pull_start(C.gohttp_server(s), C.int(n)))
}

func tPullJoin() tPullResult {
	var r C.gohttp_test_pull_result
	C.gohttp__test_pull_join(&r)
	return tPullResult{int64(r.served), int64(r.closed), int64(r.other_errors), int64(r.stale_after_done),
		int64(r.deadlk), int64(r.double_done)}
}

func tRulesExtra() int64 { return int64(C.gohttp__test_rules_extra()) }
func tNoBodyRC() int64   { return int64(C.gohttp__test_nobody_rc()) }
func tCounted() int64    { return int64(C.gohttp__test_counted()) }

func tFirehoseRC() int64 { return int64(C.gohttp__test_firehose_rc()) }

func tArmPanic() { testPanicArmed.Store(true) }

// The seed API (gohttplib.h) through its C symbols.
func tSeedHandleFunc(pattern string, echo bool) string {
	cp := C.CString(pattern)
	defer C.free(unsafe.Pointer(cp))
	fn := (*C.FuncPtr)(C.gohttp__test_seed_hello)
	if echo {
		fn = (*C.FuncPtr)(C.gohttp__test_seed_echo)
	}
	_, msg := withThread(func() int { C.HandleFunc(cp, fn); return 0 })
	return msg
}

func tSeedListenAndServe(addr string) string {
	ca := C.CString(addr)
	defer C.free(unsafe.Pointer(ca))
	_, msg := withThread(func() int { C.ListenAndServe(ca); return 0 })
	return msg
}

func tSeedShutdown() { C.Shutdown() }

// tServerObject is the Go server behind handle s (for the benchmarks,
// which drive its mux without a network, and for tests that read its
// state).
func tServerObject(s uint64) *server {
	srv, code := lookupServer(C.gohttp_server(s))
	if code != codeOK {
		panic("tServerObject: stale server handle")
	}
	return srv
}

// tRouteValue registers handler h with an integer userdata ((void *)ud),
// as C hosts do when the value is an index rather than a pointer; with
// pull set it registers a queue route instead (h unused).
func tRouteValue(s uint64, pattern string, h testHandler, ud uintptr, pull bool) int {
	cp := C.CString(pattern)
	defer C.free(unsafe.Pointer(cp))
	if pull {
		return int(C.gohttp__test_route_queue_value(C.gohttp_server(s), cp, C.uintptr_t(ud)))
	}
	return int(C.gohttp__test_route_value(C.gohttp_server(s), cp, h.c(), C.uintptr_t(ud)))
}

// tNextValue takes an exchange and returns its userdata as the integer it
// was registered as.
func tNextValue(s uint64, ms int64) (rc int, w uint64, ud uintptr) {
	var ex C.gohttp_exchange
	rc = int(C.gohttp_next(C.gohttp_server(s), C.int64_t(ms), &ex))
	if rc == 0 {
		w = uint64(ex.w)
		ud = uintptr(C.gohttp__test_userdata_of(&ex))
	}
	return rc, w, ud
}

// tValuePuller serves a queue route from a C thread (one the Go runtime
// did not create) and checks each exchange's integer userdata is want;
// join returns the exchanges served and how many had another userdata.
func tValuePullerStart(s uint64, want uintptr) int {
	return int(C.gohttp__test_value_puller_start(C.gohttp_server(s), C.uintptr_t(want)))
}

func tValuePullerJoin() (served, wrong int64) {
	var w C.int64_t
	served = int64(C.gohttp__test_value_puller_join(&w))
	return served, int64(w)
}

func tRouteStatic(s uint64, prefix, dir string) (int, string) {
	cp := C.CString(prefix)
	defer C.free(unsafe.Pointer(cp))
	cd := C.CString(dir)
	defer C.free(unsafe.Pointer(cd))
	return withThread(func() int { return int(C.gohttp_route_static(C.gohttp_server(s), cp, cd)) })
}

// tQueued is how many exchanges wait in server s's pull queue; tHeld how
// many done exchanges have their wake-up held (heldwake.go).
func tQueued(s uint64) int { return len(tServerObject(s).queue) }

func tHeld(s uint64) int { return tServerObject(s).held.held() }

// tReleaseHeld wakes the held wake-ups of server s now (a test that failed
// while some were held, with a timer too long to wait for).
func tReleaseHeld(s uint64) { tServerObject(s).held.release() }
