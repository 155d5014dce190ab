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
// A held response never waits long:
//   - a wake-up is held only while more requests are queued than wake-ups
//     are held, so the wait is at most the handler time of requests that
//     were already waiting, about what those requests wait themselves;
//   - at most heldWakeMax-1 are held: the next done wakes them all;
//   - gohttp_next finding no request wakes them all (the host is about
//     to wait);
//   - heldWakeLimit after the first one was held, a timer wakes them all,
//     for a host thread that went into a slow handler or stopped calling.
//
// Nothing of C is held: only Go pointers, in Go memory, so the ownership
// rules of exchange.end are untouched.

import (
	"sync"
	"sync/atomic"
	"time"
)

const heldWakeMax = 8

// heldWakeLimit bounds how long a wake-up stays held. A variable only so
// that a test can make the timer never fire before the count rules do; it
// is set before the server under test starts.
var heldWakeLimit = time.Millisecond

// heldWakes are the held wake-ups of one server.
type heldWakes struct {
	mu    sync.Mutex
	exs   [heldWakeMax - 1]*exchange
	n     int
	timer *time.Timer // made at the first hold; armed while n > 0
}

// heldWakeCount counts the wake-ups that were held (read by tests).
var heldWakeCount atomic.Int64

// wake wakes ex's request goroutine (ex was ended by gohttp_done), or
// holds the wake-up when queued requests are waiting for the host.
func (h *heldWakes) wake(ex *exchange, queued int) {
	h.mu.Lock()
	if h.n < queued && h.n < len(h.exs) {
		h.exs[h.n] = ex
		h.n++
		if h.n == 1 {
			if h.timer == nil {
				h.timer = time.AfterFunc(heldWakeLimit, h.release)
			} else {
				h.timer.Reset(heldWakeLimit)
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
