package main

// Held wake-ups of finished pull exchanges.
//
// gohttp_done ends an exchange on the host's thread at once (handle stale,
// arena freed); what is left is to wake its request goroutine, which then
// sends the response. When a Python handler is the slow side, Go's threads
// are asleep by then, and that wake is a futex wake of a thread on another
// CPU, paid by the host thread: about 8 us of a Flask request's 80 us on a
// 2-CPU VM (python/README.md). While other requests wait in the queue the
// host thread will take one of them next anyway, so the wake-up can wait
// for a few more done calls: woken together, the first readies a goroutine
// and wakes one Go thread, and the others find that thread awake.
//
// What a held response can cost is bounded:
//   - only the wake-up of a handler that ran less than heldWakeMaxRun is
//     held: for a slower one the wake is a small part of its time, and
//     holding would only delay its response;
//   - only while more requests are queued than wake-ups are held (a
//     withdrawn request counts until a gohttp_next skips it): the host
//     has work it takes next, so a lone request is not held;
//   - at most heldWakeMax-1 are held: the next done wakes them all, and
//     so does a gohttp_next that finds the queue empty;
//   - whatever the host does next (a slow handler, another server, no
//     call at all), a timer wakes them all heldWakeLimit after the first
//     was held: that is the bound a held response can count on.
//
// Nothing of C is held: only Go pointers to exchanges already ended, in Go
// memory, so the ownership rules of exchange.end are untouched.

import (
	"sync"
	"sync/atomic"
	"time"
)

const heldWakeMax = 8

// The defaults of a new server's heldWakes. Variables only so that a test
// can pick the rule it exercises; a server copies them when it is made.
var (
	heldWakeLimit  = time.Millisecond
	heldWakeMaxRun = 200 * time.Microsecond
)

// heldWakes are the held wake-ups of one server.
type heldWakes struct {
	limit  time.Duration // heldWakeLimit when the server was made
	maxRun time.Duration // heldWakeMaxRun when the server was made

	mu    sync.Mutex
	exs   [heldWakeMax - 1]*exchange
	n     int
	timer *time.Timer // made at the first hold; armed while n > 0
}

func newHeldWakes() heldWakes {
	return heldWakes{limit: heldWakeLimit, maxRun: heldWakeMaxRun}
}

// heldWakeCount counts the wake-ups that were held (read by tests).
var heldWakeCount atomic.Int64

// wake wakes ex's request goroutine (ex was ended by gohttp_done after its
// handler ran for ran), or holds the wake-up while queued requests wait
// for the host.
func (h *heldWakes) wake(ex *exchange, queued int, ran time.Duration) {
	h.mu.Lock()
	if ran < h.maxRun && h.n < queued && h.n < len(h.exs) {
		h.exs[h.n] = ex
		h.n++
		if h.n == 1 {
			if h.timer == nil {
				h.timer = time.AfterFunc(h.limit, h.release)
			} else {
				h.timer.Reset(h.limit)
			}
		}
		h.mu.Unlock()
		heldWakeCount.Add(1)
		return
	}
	exs, n := h.takeLocked()
	h.mu.Unlock()
	wakeAll(exs[:n])
	close(ex.done)
}

// release wakes every held wake-up now.
func (h *heldWakes) release() {
	h.mu.Lock()
	exs, n := h.takeLocked()
	h.mu.Unlock()
	wakeAll(exs[:n])
}

// held is how many wake-ups are held now.
func (h *heldWakes) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// takeLocked empties the held set (mu held) and disarms the timer; the
// caller wakes what it got after unlocking. A timer that fired already
// finds the set empty, or wakes a later set early: never late.
func (h *heldWakes) takeLocked() (exs [heldWakeMax - 1]*exchange, n int) {
	if h.n == 0 {
		return exs, 0
	}
	h.timer.Stop()
	exs, n = h.exs, h.n
	h.exs, h.n = [heldWakeMax - 1]*exchange{}, 0
	return exs, n
}

func wakeAll(exs []*exchange) {
	for _, ex := range exs {
		close(ex.done)
	}
}
