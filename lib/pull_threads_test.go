package main

import (
	"runtime"
	"testing"
	"time"
)

// onOtherThread runs f on a goroutine; called from a goroutine locked to
// its OS thread, f necessarily runs on another thread.
func onOtherThread(f func() int) int {
	c := make(chan int)
	go func() { c <- f() }()
	return <-c
}

// gohttp_done called on another thread than gohttp_next. The taking
// thread holds nothing afterwards, so its gohttp_wait must work (it used
// to keep a thread-local marker forever and get EDEADLK).
func TestPullDoneOnOtherThreadClearsMarker(t *testing.T) {
	ts := newQueueServer(t, nil)
	got := getAsync(ts, "/q")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc, w, _ := tNextEx(ts.h, 5000)
	if rc != eOK {
		t.Fatalf("next = %d", rc)
	}
	if rc := tWait(ts.h, 0); rc != eDeadlk {
		t.Errorf("wait on the taking thread while held = %d, want EDEADLK", rc)
	}
	if rc := onOtherThread(func() int {
		if n := tWriteString(w, "done elsewhere\n"); n != 15 {
			return int(n)
		}
		return tDone(w)
	}); rc != eOK {
		t.Fatalf("write+done on another thread = %d", rc)
	}
	if body := <-got; body != "done elsewhere\n" {
		t.Errorf("body = %q", body)
	}
	if rc := tShutdown(ts.h, 1000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait on the (former) taking thread after done elsewhere = %d, want 0", rc)
	}
}

// One thread holding exchanges of two servers. gohttp_wait on either
// from that thread is EDEADLK (the first server used to be forgotten, so
// the wait blocked instead); after done of one, only the other still is.
func TestPullTwoServersOneThread(t *testing.T) {
	ta := newServer(t, nil)
	tb := newServer(t, nil)
	rc, uda := tRouteQueue(ta.h, "/a", "a")
	if rc != eOK {
		t.Fatal(rc)
	}
	rc, udb := tRouteQueue(tb.h, "/b", "b")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { ta.stop(); tb.stop(); tCFree(uda); tCFree(udb) })
	ta.start()
	tb.start()
	gotA := getAsync(ta, "/a")
	gotB := getAsync(tb, "/b")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc, wa, _ := tNextEx(ta.h, 5000)
	if rc != eOK {
		t.Fatalf("next(a) = %d", rc)
	}
	rc, wb, _ := tNextEx(tb.h, 5000)
	if rc != eOK {
		t.Fatalf("next(b) = %d", rc)
	}
	if rc := tWait(ta.h, 0); rc != eDeadlk {
		t.Errorf("wait(a) on a thread holding a and b = %d, want EDEADLK", rc)
	}
	if rc := tWait(tb.h, 0); rc != eDeadlk {
		t.Errorf("wait(b) on a thread holding a and b = %d, want EDEADLK", rc)
	}
	// Another thread holds nothing: a plain running-server poll.
	if rc := onOtherThread(func() int { return tWait(ta.h, 0) }); rc != eTimedOut {
		t.Errorf("wait(a) on another thread = %d, want ETIMEDOUT", rc)
	}
	tWriteString(wb, "b\n")
	if rc := tDone(wb); rc != eOK {
		t.Fatalf("done(b) = %d", rc)
	}
	if rc := tWait(ta.h, 0); rc != eDeadlk {
		t.Errorf("wait(a) after done(b) = %d, want EDEADLK", rc)
	}
	if rc := tWait(tb.h, 0); rc != eTimedOut {
		t.Errorf("wait(b) after done(b) = %d, want ETIMEDOUT (running, nothing held)", rc)
	}
	tWriteString(wa, "a\n")
	if rc := tDone(wa); rc != eOK {
		t.Fatalf("done(a) = %d", rc)
	}
	if a, b := <-gotA, <-gotB; a != "a\n" || b != "b\n" {
		t.Errorf("bodies %q %q", a, b)
	}
	for _, ts := range []*testServer{ta, tb} {
		if rc := tShutdown(ts.h, 1000); rc != eOK {
			t.Fatal(rc)
		}
		if rc := tWait(ts.h, 5000); rc != eOK {
			t.Errorf("wait after both done = %d", rc)
		}
	}
}

// gohttp_next yields (shim/doorbell.c) on a call that starts 5 ms or
// more after the thread's last yield, and on no other. Checked per call
// from the times around it, so it does not depend on how much CPU the
// test gets: two yields whose calls span less than 5 ms are one too many;
// a call that began 5 ms after the previous yield's call had returned
// and did not yield is one too few.
func TestPullTakerYieldsOncePer5ms(t *testing.T) {
	const period = 5 * time.Millisecond
	ts := newQueueServer(t, nil)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	type call struct {
		start, end time.Time
		yielded    bool
	}
	var calls []call
	for begin := time.Now(); time.Since(begin) < 60*time.Millisecond; {
		before := hostYields.Load()
		c := call{start: time.Now()}
		if rc := tNext(ts.h, 0); rc != eTimedOut {
			t.Fatalf("next on an empty queue = %d, want ETIMEDOUT", rc)
		}
		c.end = time.Now()
		c.yielded = hostYields.Load() != before
		calls = append(calls, c)
	}
	yields := 0
	var last *call
	for i := range calls {
		c := &calls[i]
		if c.yielded {
			yields++
			if last != nil && c.end.Sub(last.start) < period {
				t.Fatalf("call %d yielded %v after the yield of an earlier call, want at least %v between yields",
					i, c.end.Sub(last.start), period)
			}
			last = c
		} else if last != nil && c.start.Sub(last.end) >= period {
			t.Fatalf("call %d began %v after the last yield's call returned and did not yield",
				i, c.start.Sub(last.end))
		}
	}
	// 60 ms of calls: the second yield is due 5 ms after the first.
	if yields < 2 {
		t.Errorf("%d calls of gohttp_next over 60 ms yielded %d times, want at least 2", len(calls), yields)
	}
}
