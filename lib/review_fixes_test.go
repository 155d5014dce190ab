package main

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gohttp.h: "the listener is closed before it returns". A connection
// attempted right after gohttp_shutdown returned must be refused, not
// accepted and drained. Repeated, because the listener used to be closed
// by a goroutine that often (not always) won the race against the dial.
func TestShutdownClosesListenerBeforeReturn(t *testing.T) {
	for i := 0; i < 20; i++ {
		ts := newServer(t, nil)
		ts.route("/", thHello, -1)
		ts.start()
		addr := ts.base[len("http://"):]
		if rc := tShutdown(ts.h, 1000); rc != eOK {
			t.Fatalf("shutdown = %d", rc)
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("round %d: dial after gohttp_shutdown returned was accepted", i)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("round %d: dial after shutdown: %v, want connection refused", i, err)
		}
		// The drain still completes: Serve returned, wait succeeds.
		if rc := tWait(ts.h, 5000); rc != eOK {
			t.Errorf("round %d: wait after shutdown = %d", i, rc)
		}
		ts.stop()
	}
}

// The listener closed by gohttp_shutdown must not make the drain look
// failed: an in-flight handler still finishes its response within the
// timeout (http.Server.Shutdown closing the listener a second time is
// not an error that forces Close on its connections).
func TestShutdownDrainAfterEarlyListenerClose(t *testing.T) {
	tBlockReset()
	ts := newServer(t, nil)
	ts.route("/block", thBlock, -1)
	ts.start()
	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := ts.client.Get(ts.base + "/block")
		if err != nil {
			got <- result{err: err}
			return
		}
		got <- result{code: resp.StatusCode, body: readAll(resp)}
	}()
	waitFor(t, 5*time.Second, "handler to block", func() bool { return tBlockEntered() == 1 })
	if rc := tShutdown(ts.h, 5000); rc != eOK {
		t.Fatal(rc)
	}
	time.Sleep(100 * time.Millisecond) // Shutdown has run its listener close by now
	tBlockRelease()
	r := <-got
	if r.err != nil || r.code != 200 {
		t.Errorf("in-flight request during graceful drain: %d %v", r.code, r.err)
	}
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait = %d", rc)
	}
}

// onOtherThread runs f on a goroutine; called from a goroutine locked to
// its OS thread, f necessarily runs on another thread.
func onOtherThread(f func() int) int {
	c := make(chan int)
	go func() { c <- f() }()
	return <-c
}

// R1: gohttp_done called on another thread than gohttp_next. The taking
// thread holds nothing afterwards, so its gohttp_wait must work (it used
// to keep a thread-local marker forever and get EDEADLK).
func TestPullDoneOnOtherThreadClearsMarker(t *testing.T) {
	ts := newServer(t, nil)
	rc, ud := tRouteQueue(ts.h, "/q", "x")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { ts.stop(); tCFree(ud) })
	ts.start()
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

// R1: one thread holding exchanges of two servers. gohttp_wait on either
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

// R4: a panic while gohttp_free holds the server's use-reference must not
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

// R4: the same for gohttp_done: a panic while it holds the exchange's
// use-reference must not keep it, or the request goroutine's handle free
// (and with it the server's stop) would block forever.
func TestDonePanicKeepsNoReference(t *testing.T) {
	ts := newServer(t, nil)
	rc, ud := tRouteQueue(ts.h, "/q", "x")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { ts.stop(); tCFree(ud) })
	ts.start()
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

// Body over max_body_bytes: the handler decides. Its own status (with a
// header set after the failed read) goes out; a body without a status goes
// out under 413; nothing written at all gets the library's 413.
func TestTooLargeBodyHandlerChoosesStatus(t *testing.T) {
	ts := newServer(t, &tOptions{MaxBodyBytes: 1000})
	ts.route("/", thTooLarge, -1)
	ts.start()
	big := strings.Repeat("x", 5000)

	resp, body := ts.post("/", big)
	if resp.StatusCode != 422 || resp.Header.Get("X-Own") != "yes" {
		t.Errorf("own status after too-large read = %d (X-Own %q), want 422", resp.StatusCode, resp.Header.Get("X-Own"))
	}
	if want := "own read=-11 hdr=0 status=0\n"; body != want {
		t.Errorf("own answer body = %q, want %q", body, want)
	}

	resp, body = ts.post("/?implicit", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "implicit read=-11\n" {
		t.Errorf("body without status = %d %q, want 413 with the handler's body", resp.StatusCode, body)
	}

	resp, body = ts.post("/?quiet", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Errorf("nothing written = %d %q, want the library's 413", resp.StatusCode, body)
	}

	// Chunked (size unknown up front) behaves the same.
	req, _ := http.NewRequest("POST", ts.base+"/", strings.NewReader(big))
	req.ContentLength = -1
	resp, _ = ts.do(req)
	if resp.StatusCode != 422 {
		t.Errorf("chunked, own status = %d, want 422", resp.StatusCode)
	}
	// Under the limit nothing changes.
	resp, body = ts.post("/?implicit", "small")
	if resp.StatusCode != 200 || body != "implicit read=0\n" {
		t.Errorf("small body = %d %q", resp.StatusCode, body)
	}
}

// R2: a shutdown with no deadline (-1), then one with 100 ms: the second
// shortens the drain, so the blocked handler's connection is closed after
// about 100 ms (the client sees an error) while the handler still runs.
func TestShutdownShorterTimeoutShortensDrain(t *testing.T) {
	tBlockReset()
	ts := newServer(t, nil)
	ts.route("/block", thBlock, -1)
	ts.start()
	t.Cleanup(tBlockRelease) // before the server's stop (cleanups run LIFO)
	errc := getErrAsync(ts, "/block")
	waitFor(t, 5*time.Second, "handler to block", func() bool { return tBlockEntered() == 1 })
	if rc := tShutdown(ts.h, -1); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tShutdown(ts.h, 100); rc != eOK {
		t.Fatal(rc)
	}
	// A longer timeout afterwards must not extend it again.
	if rc := tShutdown(ts.h, 60000); rc != eOK {
		t.Fatal(rc)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("blocked request completed; want its connection closed")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("connection of the blocked handler still open 3 s after a 100 ms shutdown")
	}
	if rc := tWait(ts.h, 0); rc != eTimedOut {
		t.Errorf("wait while the handler still runs = %d, want ETIMEDOUT", rc)
	}
	tBlockRelease()
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait after release = %d", rc)
	}
}
