package main

import (
	"runtime"
	"testing"
	"time"
)

// heldWakeServer is a queue server (route /q) with n requests queued, each
// sent by its own client; their bodies ("" for a failed request) arrive
// on the returned channel. The server takes the held-wake settings that
// withHeldWakes set before.
func heldWakeServer(t *testing.T, n int) (*testServer, chan string) {
	t.Helper()
	ts := newQueueServer(t, &tOptions{MaxHandlers: int32(n)})
	// Runs before the server's stop: a test that failed with wake-ups
	// held must not leave a server that cannot stop to the next tests.
	t.Cleanup(func() { tReleaseHeld(ts.h) })
	got := make(chan string, n)
	for i := 0; i < n; i++ {
		c := getAsync(ts, "/q")
		go func() { got <- <-c }()
	}
	waitFor(t, 5*time.Second, "the requests to be queued", func() bool { return tQueued(ts.h) >= n })
	return ts, got
}

// withHeldWakes sets the timer and the handler-time bound of the servers
// the test makes next.
func withHeldWakes(t *testing.T, limit, maxRun time.Duration) {
	savedLimit, savedMaxRun := heldWakeLimit, heldWakeMaxRun
	heldWakeLimit, heldWakeMaxRun = limit, maxRun
	t.Cleanup(func() { heldWakeLimit, heldWakeMaxRun = savedLimit, savedMaxRun })
}

// take takes the next exchange on this thread (the caller holds
// runtime.LockOSThread) and writes body to it.
func take(t *testing.T, ts *testServer, body string) uint64 {
	t.Helper()
	rc, w, _ := tNextEx(ts.h, 5000)
	if rc != eOK {
		t.Fatalf("next = %d", rc)
	}
	if n := tWriteString(w, body); n != int64(len(body)) {
		t.Fatalf("write = %d", n)
	}
	return w
}

func done(t *testing.T, w uint64) {
	t.Helper()
	if rc := tDone(w); rc != eOK {
		t.Fatalf("done = %d", rc)
	}
}

func expectBody(t *testing.T, got chan string, want string) {
	t.Helper()
	select {
	case body := <-got:
		if body != want {
			t.Errorf("response %q, want %q", body, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no response %q within 5 s", want)
	}
}

// While requests are queued, gohttp_done holds the wake-up of at most as
// many exchanges as are queued and at most heldWakeMax-1; the done that
// would go past either wakes them all, and so does a gohttp_next that
// finds the queue empty. Every response arrives whole.
func TestPullDoneHoldsWakeUpsWhileQueued(t *testing.T) {
	withHeldWakes(t, time.Hour, time.Hour) // only the count rules release here
	const n = 2*heldWakeMax + 1
	ts, got := heldWakeServer(t, n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := heldWakeCount.Load()
	// Queued after each take: n-1, n-2, ...; held after each done: 1, 2,
	// ... up to heldWakeMax-1, then the heldWakeMax-th done wakes all.
	for i := 1; i <= heldWakeMax; i++ {
		done(t, take(t, ts, "reply\n"))
		want := i
		if i == heldWakeMax {
			want = 0
		}
		if h := tHeld(ts.h); h != want {
			t.Fatalf("after done %d: %d held, want %d", i, h, want)
		}
	}
	// heldWakeMax+1 left: the queued-count rule stops the holding before
	// the cap does.
	for i, want := range []int{1, 2, 3, 4, 0, 1, 2} {
		done(t, take(t, ts, "reply\n"))
		if h := tHeld(ts.h); h != want {
			t.Fatalf("after done %d: %d held, want %d (queued %d)", heldWakeMax+i+1, h, want, tQueued(ts.h))
		}
	}
	// Two left, two held: take both, so the queue is empty while they
	// are held; a gohttp_next that finds nothing wakes them.
	last := []uint64{take(t, ts, "reply\n"), take(t, ts, "reply\n")}
	if h := tHeld(ts.h); h != 2 {
		t.Fatalf("%d held before the empty poll, want 2", h)
	}
	if rc := tNext(ts.h, 0); rc != eTimedOut {
		t.Errorf("next on an empty queue = %d", rc)
	}
	if h := tHeld(ts.h); h != 0 {
		t.Errorf("%d held after a next found the queue empty", h)
	}
	for i := 0; i < n-2; i++ {
		expectBody(t, got, "reply\n")
	}
	done(t, last[0])
	done(t, last[1])
	expectBody(t, got, "reply\n")
	expectBody(t, got, "reply\n")
	if d := heldWakeCount.Load() - before; d != heldWakeMax-1+4+2 {
		t.Errorf("%d wake-ups held", d)
	}
}

// A held wake-up is made by the timer while the host thread is inside its
// next handler, which does not return until the held response arrived;
// the timer, re-armed by the next hold, does it again.
func TestPullHeldWakeUpTimer(t *testing.T) {
	withHeldWakes(t, 50*time.Millisecond, time.Hour)
	ts, got := heldWakeServer(t, 3)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := heldWakeCount.Load()
	done(t, take(t, ts, "first\n")) // 2 queued: held
	second := take(t, ts, "second\n")
	expectBody(t, got, "first\n") // woken by the timer: second is not done
	done(t, second)               // 1 queued, none held: held, timer re-armed
	third := take(t, ts, "third\n")
	expectBody(t, got, "second\n") // woken by the timer again
	done(t, third)                 // nothing queued: woken at once
	expectBody(t, got, "third\n")
	if d := heldWakeCount.Load() - before; d != 2 {
		t.Errorf("%d wake-ups held, want 2", d)
	}
}

// The wake-up of a handler that ran heldWakeMaxRun or longer is not held,
// even with requests queued: holding would only delay its response.
func TestPullSlowHandlerWakeUpNotHeld(t *testing.T) {
	withHeldWakes(t, time.Hour, time.Millisecond)
	ts, got := heldWakeServer(t, 2)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := take(t, ts, "slow\n")
	time.Sleep(5 * time.Millisecond)
	done(t, w) // 1 queued, but the handler ran 5 ms
	if h := tHeld(ts.h); h != 0 {
		t.Errorf("%d held after a 5 ms handler", h)
	}
	expectBody(t, got, "slow\n")
	done(t, take(t, ts, "last\n"))
	expectBody(t, got, "last\n")
}
