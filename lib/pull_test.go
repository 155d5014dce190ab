package main

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Pull mode: C worker threads take exchanges with gohttp_next, answer, and
// gohttp_done them; after done the handle is stale; shutdown makes next
// answer ECLOSED so the workers exit.
func TestPullMode(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHandlers: 4})
	rc, ud := tRouteQueue(ts.h, "/q/", "queue-ud")
	if rc != eOK {
		t.Fatal(rc)
	}
	// userdata must outlive the server: stop it first (stop is idempotent).
	t.Cleanup(func() { ts.stop(); tCFree(ud) })
	ts.route("/", thHello, -1)
	rc2, ud2 := tRouteQueue(ts.h, "/q/", "dup")
	tCFree(ud2) // a rejected route keeps no reference to its userdata
	if rc2 != eExist {
		t.Errorf("duplicate queue route = %d", rc2)
	}
	ts.start()
	if n := tPullStart(ts.h, 3); n != 3 {
		t.Fatalf("started %d workers", n)
	}
	const n = 30
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := ts.client.Get(ts.base + "/q/" + itoa(i))
			if err != nil {
				t.Error(err)
				return
			}
			if body := readAll(resp); body != "pulled /q/"+itoa(i)+" ud=queue-ud\n" {
				t.Errorf("pulled body %q", body)
			}
		}(i)
	}
	wg.Wait()
	ts.expectHello("/")
	// Join the workers after the shutdown but before the free: a worker
	// whose gohttp_next starts after the free would get ESTALE, not ECLOSED.
	if rc := tShutdown(ts.h, 2000); rc != eOK {
		t.Fatalf("shutdown = %d", rc)
	}
	r := tPullJoin()
	ts.stop()
	want := tPullResult{Served: n, Closed: 3, StaleAfterDone: n, Deadlk: n, DoubleDone: n}
	if r != want {
		t.Errorf("pull result %+v, want %+v", r, want)
	}
}

// A queued request nobody takes gets 503 after queue_timeout_ms; gohttp_next
// on a server being shut down answers ECLOSED.
func TestPullQueueTimeoutAndClosed(t *testing.T) {
	ts := newQueueServer(t, &tOptions{QueueTimeoutMS: 100})
	t0 := time.Now()
	resp, body := ts.get("/q")
	if resp.StatusCode != 503 || !strings.Contains(body, "no worker") {
		t.Errorf("untaken request = %d %q", resp.StatusCode, body)
	}
	if time.Since(t0) < 90*time.Millisecond {
		t.Errorf("503 came before the queue timeout")
	}
	if rc := tNext(ts.h, 20); rc != eTimedOut {
		t.Errorf("next with nothing queued = %d", rc)
	}
	if rc := tShutdown(ts.h, 1000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tNext(ts.h, -1); rc != eClosed {
		t.Errorf("next after shutdown = %d, want ECLOSED", rc)
	}
}

// A host thread holding a pulled exchange across a shutdown: the server
// cannot finish stopping (wait times out, free is EBUSY) and nothing is
// freed under the host; once it calls gohttp_done everything completes.
// On the holding thread itself, gohttp_wait is EDEADLK.
func TestPullExchangeHeldThroughShutdown(t *testing.T) {
	ts := newServer(t, nil)
	rc, ud := tRouteQueue(ts.h, "/q", "held")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { ts.stop(); tCFree(ud) })
	ts.start()
	got := make(chan string, 1)
	go func() {
		resp, err := ts.client.Get(ts.base + "/q")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- readAll(resp)
	}()
	// The holding thread: next, (checks), done, all on one OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc, w, path := tNextEx(ts.h, 5000)
	if rc != eOK || path != "/q" {
		t.Fatalf("next = %d %q", rc, path)
	}
	if rc := tWait(ts.h, 0); rc != eDeadlk {
		t.Errorf("wait on the thread holding an exchange = %d, want EDEADLK", rc)
	}
	if n := tWriteString(w, "held reply\n"); n != 11 {
		t.Errorf("write = %d", n)
	}
	if rc := tShutdown(ts.h, 100); rc != eOK {
		t.Fatal(rc)
	}
	onOtherThread := func(f func() int) int {
		c := make(chan int)
		go func() { c <- f() }() // this goroutine cannot run on the locked thread
		return <-c
	}
	if rc := onOtherThread(func() int { return tWait(ts.h, 400) }); rc != eTimedOut {
		t.Errorf("wait while an exchange is held = %d, want ETIMEDOUT", rc)
	}
	if rc := onOtherThread(func() int { return tFree(ts.h) }); rc != eBusy {
		t.Errorf("free while an exchange is held = %d, want EBUSY", rc)
	}
	if s := tStats(); s.LiveArenas != 1 || s.LiveHandles != 1 {
		t.Errorf("held exchange was released under the host: %+v", s)
	}
	if rc := tDone(w); rc != eOK {
		t.Errorf("done = %d", rc)
	}
	if rc := tDone(w); rc != eStale {
		t.Errorf("second done = %d, want ESTALE", rc)
	}
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait after done (marker cleared on this thread) = %d", rc)
	}
	<-got // forced close after 100ms: the client may or may not get the reply
}
