package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shutdown from inside a handler returns at once, the server stops within
// its timeout, and a second server in the process keeps serving.
func TestShutdownFromInsideHandler(t *testing.T) {
	a := newServer(t, nil)
	b := newServer(t, nil)
	tSetSlot(0, a.h)
	a.route("/quit", thShutdownSelf, 0)
	a.route("/", thHello, -1)
	b.route("/", thHello, -1)
	a.start()
	b.start()
	a.expectHello("/")
	t0 := time.Now()
	resp, body := a.get("/quit")
	if resp.StatusCode != 200 || body != "shutdown=0\nagain=0\n" {
		t.Fatalf("quit = %d %q", resp.StatusCode, body)
	}
	if rc := tWait(a.h, 3000); rc != eOK {
		t.Fatalf("wait after in-handler shutdown = %d", rc)
	}
	if d := time.Since(t0); d > 2500*time.Millisecond {
		t.Errorf("server took %v to stop", d)
	}
	if _, err := http.Get(a.base + "/"); err == nil {
		t.Errorf("stopped server still accepts connections")
	}
	b.expectHello("/")
	if rc := tShutdown(a.h, 10); rc != eOK {
		t.Errorf("shutdown again = %d", rc)
	}
	if rc, _ := tStart(a.h, "127.0.0.1:0"); rc != eState {
		t.Errorf("start after shutdown = %d, want ESTATE", rc)
	}
}

// gohttp_wait (and listen_and_serve) from inside one of the server's own
// handlers would wait on itself: EDEADLK, and the server lives on.
func TestWaitFromInsideHandlerIsDeadlock(t *testing.T) {
	ts := newServer(t, nil)
	other := newServer(t, nil)
	tSetSlot(1, ts.h)
	tSetSlot(2, other.h)
	ts.route("/wait", thWaitSelf, 1)
	ts.route("/other", thWaitSelf, 2)
	ts.route("/", thHello, -1)
	ts.start()
	_, body := ts.get("/wait")
	if !strings.HasPrefix(body, "wait=-14 err=gohttp_wait: called from inside") {
		t.Errorf("wait inside handler: %q", body)
	}
	if !strings.Contains(body, "las=-7") {
		t.Errorf("listen_and_serve on a started server inside its handler: %q", body)
	}
	// Waiting on a different (never started) server is not a deadlock.
	if _, body := ts.get("/other"); !strings.HasPrefix(body, "wait=-7") {
		t.Errorf("wait on another server: %q", body)
	}
	ts.expectHello("/")
}

// free of a running server is EBUSY; the lifecycle then completes.
func TestFreeWhileRunningIsBusy(t *testing.T) {
	h, rc, _ := tServerNew(nil)
	if rc != eOK {
		t.Fatal(rc)
	}
	if rc, _ := tRoute(h, "/", thHello, -1); rc != eOK {
		t.Fatal(rc)
	}
	if port, msg := tStart(h, "127.0.0.1:0"); port <= 0 {
		t.Fatal(port, msg)
	}
	if rc := tFree(h); rc != eBusy {
		t.Errorf("free while running = %d, want EBUSY", rc)
	}
	if rc := tShutdown(h, 1000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tWait(h, 5000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tFree(h); rc != eOK {
		t.Errorf("free after wait = %d", rc)
	}
	if rc := tFree(h); rc != eStale {
		t.Errorf("double free = %d, want ESTALE", rc)
	}
	// Never started: free at once; shutdown of a never-started server makes
	// wait return at once.
	h2, _, _ := tServerNew(nil)
	if rc := tShutdown(h2, 0); rc != eOK {
		t.Error(rc)
	}
	if rc := tWait(h2, 0); rc != eOK {
		t.Errorf("wait after shutdown of an unstarted server = %d", rc)
	}
	if rc := tFree(h2); rc != eOK {
		t.Error(rc)
	}
	h3, _, _ := tServerNew(nil)
	if rc := tFree(h3); rc != eOK {
		t.Error(rc)
	}
	assertStatsZero(t)
}

// gohttp_listen_and_serve blocks until a shutdown from another thread.
func TestListenAndServeReturnsAfterShutdown(t *testing.T) {
	h, _, _ := tServerNew(nil)
	tRoute(h, "/", thHello, -1)
	done := make(chan int)
	go func() { done <- tListenAndServe(h, "127.0.0.1:0") }()
	select {
	case rc := <-done:
		t.Fatalf("listen_and_serve returned early: %d", rc)
	case <-time.After(200 * time.Millisecond):
	}
	tShutdown(h, 1000)
	select {
	case rc := <-done:
		if rc != eOK {
			t.Errorf("listen_and_serve = %d", rc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("listen_and_serve did not return after shutdown")
	}
	if rc := tFree(h); rc != eOK {
		t.Error(rc)
	}
	assertStatsZero(t)
}

// At most max_handlers run at once; the next request waits queue_timeout
// and gets 503; once a slot frees, requests are served again.
func TestMaxHandlersAnd503(t *testing.T) {
	tBlockReset()
	ts := newServer(t, &tOptions{MaxHandlers: 2, QueueTimeoutMS: 150})
	ts.route("/block", thBlock, -1)
	ts.route("/", thHello, -1)
	ts.start()
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); _, bodies[i] = ts.get("/block") }(i)
	}
	waitFor(t, 5*time.Second, "two blocked handlers", func() bool { return tBlockEntered() == 2 })
	t0 := time.Now()
	resp, _ := ts.get("/")
	if resp.StatusCode != 503 {
		t.Errorf("third request = %d, want 503", resp.StatusCode)
	}
	if d := time.Since(t0); d < 140*time.Millisecond || d > 3*time.Second {
		t.Errorf("503 after %v, want about the 150ms queue timeout", d)
	}
	if tBlockEntered() != 2 {
		t.Errorf("a third handler ran: %d", tBlockEntered())
	}
	tBlockRelease()
	wg.Wait()
	for _, b := range bodies {
		if b != "unblocked\n" {
			t.Errorf("blocked body %q", b)
		}
	}
}

// A request queued for a dispatch slot (all max_handlers busy) gets the
// slot as soon as one frees, within its queue timeout. The test releases
// the slot only once the request is seen waiting in takeSlot, so the
// queued path is what runs, whatever the machine's load.
func TestQueuedRequestGetsFreedSlot(t *testing.T) {
	tBlockReset()
	ts := newServer(t, &tOptions{MaxHandlers: 1, QueueTimeoutMS: 20000})
	t.Cleanup(tBlockRelease) // a failure below must not leave it blocked
	ts.route("/block", thBlock, -1)
	ts.route("/", thHello, -1)
	ts.start()
	blocked := getAsync(ts, "/block")
	waitFor(t, 5*time.Second, "the blocked handler", func() bool { return tBlockEntered() == 1 })
	got := make(chan int, 1)
	go func() { resp, _ := ts.get("/"); got <- resp.StatusCode }()
	waitFor(t, 5*time.Second, "a request waiting for a slot", func() bool {
		return goroutinesIn(").takeSlot(") == 1
	})
	tBlockRelease()
	if code := <-got; code != 200 {
		t.Errorf("queued request = %d, want 200", code)
	}
	if b := <-blocked; b != "unblocked\n" {
		t.Errorf("blocked body %q", b)
	}
}

// A handler outliving the shutdown timeout: its connection is closed, wait
// keeps waiting for the handler itself, and completes once it returns.
func TestShutdownTimeoutWaitsForHandlers(t *testing.T) {
	tBlockReset()
	ts := newServer(t, nil)
	ts.route("/block", thBlock, -1)
	ts.start()
	errc := getErrAsync(ts, "/block")
	waitFor(t, 5*time.Second, "blocked handler", func() bool { return tBlockEntered() == 1 })
	if rc := tShutdown(ts.h, 100); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tWait(ts.h, 400); rc != eTimedOut {
		t.Errorf("wait with a handler still running = %d, want ETIMEDOUT", rc)
	}
	if rc := tFree(ts.h); rc != eBusy {
		t.Errorf("free while a handler runs = %d, want EBUSY", rc)
	}
	tBlockRelease()
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait after the handler returned = %d", rc)
	}
	<-errc // the forced close may or may not have reached the client
}

// An injected Go panic inside an export becomes EPANIC, is counted, and
// the process and server carry on.
func TestPanicRecovery(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/two", thTwoWrites, -1)
	ts.route("/", thHello, -1)
	ts.start()
	before := tStats().PanicsRecovered
	tArmPanic()
	_, body := ts.get("/two")
	if body != "first=-12\n" {
		t.Errorf("body = %q, want the first call to report EPANIC", body)
	}
	if got := tStats().PanicsRecovered - before; got != 1 {
		t.Errorf("panics_recovered grew by %d", got)
	}
	ts.expectHello("/")
}

// A client that goes away mid-response: the handler's writes fail with
// GOHTTP_EIO (not a crash, not a hang), and everything is released.
func TestClientGoneIsEIO(t *testing.T) {
	ts := newServer(t, &tOptions{WriteTimeoutMS: 5000})
	ts.route("/fire", thFirehose, -1)
	ts.route("/", thHello, -1)
	ts.start()
	resp, err := ts.client.Get(ts.base + "/fire")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // closes the connection mid-body
	waitFor(t, 10*time.Second, "firehose handler to stop", func() bool { return tFirehoseRC() != 1 })
	if rc := tFirehoseRC(); rc != -10 {
		t.Errorf("write after the client left = %d, want GOHTTP_EIO", rc)
	}
	ts.expectHello("/")
}
