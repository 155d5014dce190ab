package main

import (
	"runtime"
	"testing"
	"time"
)

// heldWakeServer is a queue server (route /q) with n requests queued, each
// sent by its own client; their bodies ("" for a failed request) arrive
// on the returned channel.
func heldWakeServer(t *testing.T, n int) (*testServer, chan string) {
	t.Helper()
	ts := newQueueServer(t, &tOptions{MaxHandlers: int32(n)})
	got := make(chan string, n)
	for i := 0; i < n; i++ {
		c := getAsync(ts, "/q")
		go func() { got <- <-c }()
	}
	for deadline := time.Now().Add(5 * time.Second); tQueued(ts.h) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests queued", tQueued(ts.h), n)
		}
		time.Sleep(time.Millisecond)
	}
	return ts, got
}

// serveOne takes the next exchange on this thread, answers body and ends
// it; the caller holds runtime.LockOSThread.
func serveOne(t *testing.T, ts *testServer, body string) {
	t.Helper()
	rc, w, _ := tNextEx(ts.h, 5000)
	if rc != eOK {
		t.Fatalf("next = %d", rc)
	}
	if n := tWriteString(w, body); n != int64(len(body)) {
		t.Fatalf("write = %d", n)
	}
	if rc := tDone(w); rc != eOK {
		t.Fatalf("done = %d", rc)
	}
}

func withHeldWakeLimit(t *testing.T, d time.Duration) {
	saved := heldWakeLimit
	heldWakeLimit = d
	t.Cleanup(func() { heldWakeLimit = saved })
}

// While requests are queued, gohttp_done holds the wake-up of at most as
// many exchanges as are queued and at most heldWakeMax-1; the done that
// would go past either wakes them all, and so does a gohttp_next that
// finds the queue empty. Every response arrives whole.
func TestPullDoneHoldsWakeUpsWhileQueued(t *testing.T) {
	withHeldWakeLimit(t, time.Hour) // only the count rules release here
	const n = 2*heldWakeMax + 1
	ts, got := heldWakeServer(t, n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := heldWakeCount.Load()
	// Queued after each take: n-1, n-2, ...; held after each done: 1, 2,
	// ... up to heldWakeMax-1, then the heldWakeMax-th done wakes all.
	for i := 1; i <= heldWakeMax; i++ {
		serveOne(t, ts, "reply\n")
		want := i
		if i == heldWakeMax {
			want = 0
		}
		if h := tHeld(ts.h); h != want {
			t.Fatalf("after done %d: %d held, want %d", i, h, want)
		}
	}
	// n-heldWakeMax = heldWakeMax+1 left: the queued-count rule stops the
	// holding before the cap does.
	held := []int{1, 2, 3, 4, 0, 1, 2, 0, 0}
	for i, want := range held {
		serveOne(t, ts, "reply\n")
		if h := tHeld(ts.h); h != want {
			t.Fatalf("after done %d: %d held, want %d (queued %d)", heldWakeMax+i+1, h, want, tQueued(ts.h))
		}
	}
	for i := 0; i < n; i++ {
		if body := <-got; body != "reply\n" {
			t.Errorf("response %d: %q", i, body)
		}
	}
	if d := heldWakeCount.Load() - before; d != heldWakeMax-1+4+2 {
		t.Errorf("%d wake-ups held", d)
	}
	// The next that finds nothing queued wakes a held set: none is left.
	if rc := tNext(ts.h, 0); rc != eTimedOut {
		t.Errorf("next on an empty queue = %d", rc)
	}
}

// A held wake-up is made by the timer while the host thread is inside its
// next handler, which here never returns until the held response arrived.
func TestPullHeldWakeUpTimer(t *testing.T) {
	withHeldWakeLimit(t, 20*time.Millisecond)
	ts, got := heldWakeServer(t, 3)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	serveOne(t, ts, "first\n")
	if h := tHeld(ts.h); h != 1 {
		t.Fatalf("%d held after the first done with 2 queued", h)
	}
	rc, w, _ := tNextEx(ts.h, 5000) // the next handler, still running below
	if rc != eOK {
		t.Fatalf("next = %d", rc)
	}
	t0 := time.Now()
	select {
	case body := <-got:
		if body != "first\n" {
			t.Errorf("held response %q", body)
		}
		t.Logf("held response arrived %v after the next was taken", time.Since(t0))
	case <-time.After(5 * time.Second):
		t.Fatal("the held response did not arrive while the host was in its next handler")
	}
	tWriteString(w, "second\n")
	if rc := tDone(w); rc != eOK {
		t.Fatalf("done = %d", rc)
	}
	serveOne(t, ts, "third\n")
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		seen[<-got] = true
	}
	if !seen["second\n"] || !seen["third\n"] {
		t.Errorf("responses %v", seen)
	}
	if h := tHeld(ts.h); h != 0 {
		t.Errorf("%d held with nothing queued", h)
	}
}
