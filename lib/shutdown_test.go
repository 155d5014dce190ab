package main

import (
	"errors"
	"net"
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
	// Shutdown has run its listener close once it polls for idle
	// connections (parked in its select).
	waitFor(t, 5*time.Second, "http.Server.Shutdown polling", func() bool {
		return goroutinesIn("[select", "net/http.(*Server).Shutdown(") == 1
	})
	tBlockRelease()
	r := <-got
	if r.err != nil || r.code != 200 {
		t.Errorf("in-flight request during graceful drain: %d %v", r.code, r.err)
	}
	if rc := tWait(ts.h, 5000); rc != eOK {
		t.Errorf("wait = %d", rc)
	}
}

// A shutdown with no deadline (-1), then one with 100 ms: the second
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
