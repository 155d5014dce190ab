package main

import (
	"testing"
	"time"
)

// A panic while gohttp_free holds the server's use-reference must not
// leave the reference behind: a later free (which waits for every
// use-reference) must complete instead of blocking forever.
func TestFreePanicKeepsNoReference(t *testing.T) {
	zeroAtEnd(t)
	h, rc, msg := tServerNew(nil)
	if rc != eOK {
		t.Fatalf("server_new = %d %s", rc, msg)
	}
	tArmPanic()
	if rc := tFree(h); rc != ePanic {
		t.Errorf("free with an injected panic = %d, want EPANIC", rc)
	}
	rc = callWithin(t, 5*time.Second, "free after a recovered panic blocks: a use-reference leaked",
		func() int { return tFree(h) })
	if rc != eOK {
		t.Errorf("second free = %d, want 0", rc)
	}
}

// The same for gohttp_done: a panic while it holds the exchange's
// use-reference must not keep it, or the request goroutine's handle free
// (and with it the server's stop) would block forever.
func TestDonePanicKeepsNoReference(t *testing.T) {
	ts := newQueueServer(t, nil)
	got := getAsync(ts, "/q")
	rc, w, _ := tNextEx(ts.h, 5000)
	if rc != eOK {
		t.Fatalf("next = %d", rc)
	}
	tWriteString(w, "ok\n")
	tArmPanic()
	if rc := tDone(w); rc != ePanic {
		t.Errorf("done with an injected panic = %d, want EPANIC", rc)
	}
	rc = callWithin(t, 5*time.Second, "done after a recovered panic blocks: a use-reference leaked",
		func() int { return tDone(w) })
	if rc != eOK {
		t.Errorf("done after the recovered panic = %d, want 0", rc)
	}
	select {
	case body := <-got:
		if body != "ok\n" {
			t.Errorf("body = %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request never completed: a use-reference leaked")
	}
	if rc := tShutdown(ts.h, 1000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait = %d", rc)
	}
}
