package main

import (
	"runtime"
	"testing"
	"time"
)

// activeHandlers is the number of requests the server counts in flight
// (taken or waiting for a taker).
func activeHandlers(ts *testServer) int {
	s := tServerObject(ts.h)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// A request that was received before a shutdown but not taken yet is
// still handed out while the server drains, and answered: a drain must not
// turn requests in flight into 503s. gohttp_next answers ECLOSED only once
// the server has stopped.
func TestPullDrainHandsOutQueuedRequests(t *testing.T) {
	ts := newQueueServer(t, &tOptions{QueueTimeoutMS: 10000})

	first := getAsync(ts, "/q?first")
	second := getAsync(ts, "/q?second")
	deadline := time.Now().Add(10 * time.Second)
	for activeHandlers(ts) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the two requests never reached the queue")
		}
		runtime.Gosched()
	}
	if rc := tShutdown(ts.h, 10000); rc != eOK {
		t.Fatal(rc)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 2; i++ {
		rc, w, path := tNextEx(ts.h, 10000)
		if rc != eOK {
			t.Fatalf("next %d during the drain = %d, want a queued request", i, rc)
		}
		tWriteString(w, "served "+path)
		if rc := tDone(w); rc != eOK {
			t.Fatalf("done = %d", rc)
		}
	}
	for _, c := range []<-chan string{first, second} {
		if body := <-c; body != "served /q" {
			t.Errorf("queued request got %q, want it served", body)
		}
	}
	if rc := tNext(ts.h, 10000); rc != eClosed {
		t.Errorf("next once stopped = %d, want ECLOSED", rc)
	}
}
