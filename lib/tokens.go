package main

// #include <stdint.h>
import "C"

import (
	"runtime/cgo"
	"sync"
	"sync/atomic"
)

// exchangeTokens maps the integer payloads of the C exchange table to their
// Go *exchange. It plays the part runtime/cgo.Handle plays for servers,
// with the same contract (C holds an integer, never a Go pointer; a token
// names one exchange from put to drop), because it is on the per-request
// path: cgo.Handle costs a map-node allocation per put and a concurrent-map
// lookup per callback, this costs one short uncontended lock and, once the
// slice has grown to the peak number of requests in flight, no allocation.
//
// Invariants:
//   - Tokens start at 1, so 0 (what gohttp__exchange_acquire answers for a
//     stale handle) never names an exchange.
//   - exchange.end drops a token only after gohttp__request_end returned,
//     i.e. after the C handle carrying it was freed: every in-flight
//     use-reference was released and every copy of the handle is stale.
//     So no C caller can still obtain a token when it is dropped, and a
//     reused token can never reach the exchange it named before (the
//     generation check on the C handle guards against old handles).
var exchangeTokens tokenTable

type tokenTable struct {
	mu   sync.Mutex
	live []*exchange // live[t-1] is token t's exchange; nil when free
	free []uintptr   // dropped tokens, reused last-in first-out
}

// put registers ex and returns its token (>= 1), or 0 when the table takes
// no more (only ever under fault injection in test builds, lib/faults.go:
// a Go allocation failure aborts the process). Owner of the token: the
// caller, which must drop it exactly once.
func (t *tokenTable) put(ex *exchange) uintptr {
	if faultFail(faultToken) {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.free); n > 0 {
		tok := t.free[n-1]
		t.free = t.free[:n-1]
		t.live[tok-1] = ex
		return tok
	}
	t.live = append(t.live, ex)
	return uintptr(len(t.live))
}

// get returns token tok's exchange, or nil for 0, an unknown or a dropped
// token (a payload the exchange table should never hold: callers panic).
func (t *tokenTable) get(tok uintptr) *exchange {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tok == 0 || tok > uintptr(len(t.live)) {
		return nil
	}
	return t.live[tok-1]
}

// count returns the number of live tokens (put and not yet dropped).
func (t *tokenTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live) - len(t.free)
}

// gohttp__live_tokens: the live_tokens counter of gohttp_stats (called by
// shim/counters.c). Every token is dropped when its request ends, so it is
// zero whenever no request is in flight.
//
//export gohttp__live_tokens
func gohttp__live_tokens() C.int64_t {
	return C.int64_t(exchangeTokens.count())
}

// drop forgets token tok so the exchange can be collected and the token
// reused. Dropping a free or unknown token is a bug in this package.
func (t *tokenTable) drop(tok uintptr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tok == 0 || tok > uintptr(len(t.live)) || t.live[tok-1] == nil {
		panic("gohttp: drop of a token that is not live")
	}
	t.live[tok-1] = nil
	t.free = append(t.free, tok)
}

// liveGoHandles counts the runtime/cgo.Handles this package made and has not
// deleted. The only ones are the server handles' payloads (one per server,
// made by gohttp_server_new, deleted by gohttp_free): a handle leaked there
// keeps its *server (listeners, maps, channels) reachable for the life of
// the process although the C server table and live_servers say it is gone.
var liveGoHandles atomic.Int64

// newServerHandle makes the cgo.Handle that names s in the C server table.
// Owner: the server table entry; released with deleteServerHandle.
func newServerHandle(s *server) cgo.Handle {
	h := cgo.NewHandle(s)
	liveGoHandles.Add(1)
	return h
}

// deleteServerHandle deletes a handle made by newServerHandle, exactly once.
func deleteServerHandle(h cgo.Handle) {
	h.Delete()
	liveGoHandles.Add(-1)
}

// gohttp__live_go_handles: the live_go_handles counter of gohttp_stats
// (called by shim/counters.c); zero whenever no server is live.
//
//export gohttp__live_go_handles
func gohttp__live_go_handles() C.int64_t {
	return C.int64_t(liveGoHandles.Load())
}
