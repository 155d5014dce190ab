package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
)

// get fetches path and returns status, headers and body (fatal on a
// transport error).
func (ts *testServer) fetchAll(path string) (int, http.Header, string) {
	ts.t.Helper()
	resp, err := ts.client.Get(ts.base + path)
	if err != nil {
		ts.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("GET %s body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// gohttp_respond sends status, every header (repeated names kept) and the
// body in one call; a refused call changes nothing; after the status only
// a body may follow.
func TestRespondOneCall(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/r", thRespond, -1)
	ts.start()

	status, h, body := ts.fetchAll("/r?plain")
	if status != 201 || body != "made" || h.Get("Content-Type") != "text/x-test" ||
		fmt.Sprint(h.Values("X-A")) != "[1 2]" {
		t.Fatalf("plain: %d %q %v", status, body, h)
	}

	status, h, body = ts.fetchAll("/r?refused")
	// bad name, CR/LF value, NULL headers with a count, negative length,
	// NULL body with a length, status 99, a count over the limit, two
	// Content-Lengths in one call: EINVAL
	if status != 202 || body != "ok" || h.Get("X-Leak") != "" || h.Get("X-Split") != "" ||
		h.Get("X-Rc") != "-1 -1 -1 -1 -1 -1 -1 -1" {
		t.Fatalf("refused: %d %q %v", status, body, h)
	}

	status, h, body = ts.fetchAll("/r?twice")
	// headers and a second status after the first: ESTATE; body: appended
	if status != 200 || h.Get("X-Late") != "" || body != "ab|1 -7 -7 1" {
		t.Fatalf("twice: %d %q %v", status, body, h)
	}

	status, _, body = ts.fetchAll("/r?nobody")
	if status != 204 || body != "" {
		t.Fatalf("nobody: %d %q", status, body)
	}
	status, _, body = ts.fetchAll("/r")
	if status != 200 || body != "implicit" {
		t.Fatalf("implicit: %d %q", status, body)
	}
}

// A host's userdata is an opaque value, often an index cast to a pointer.
// The library must pass it back unchanged and never let the Go runtime see
// it as a pointer: a Go stack holding 0x7 as an unsafe.Pointer is a fatal
// "invalid pointer found on stack" as soon as the garbage collector shrinks
// or moves that stack, so this runs with a collection after another.
func TestIntegerUserdataRoundTrips(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	stop := make(chan struct{})
	var collector sync.WaitGroup
	collector.Add(1)
	go func() {
		defer collector.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); collector.Wait() }()

	ts := newServer(t, nil)
	if rc := tRouteValue(ts.h, "/push", thUserdataValue, 7, false); rc != eOK {
		t.Fatalf("route: %d", rc)
	}
	if rc := tRouteValue(ts.h, "/pull", 0, 9, true); rc != eOK {
		t.Fatalf("route_queue: %d", rc)
	}
	ts.start()

	const n = 1000
	if rc := tValuePullerStart(ts.h, 9); rc != 0 {
		t.Fatalf("puller thread: %d", rc)
	}
	for i := 0; i < n; i++ {
		if status, _, body := ts.fetchAll("/push"); status != 200 || body != "ud=7" {
			t.Fatalf("push %d: %d %q", i, status, body)
		}
		if status, _, body := ts.fetchAll("/pull"); status != 200 || body != "pulled" {
			t.Fatalf("pull %d: %d %q", i, status, body)
		}
	}
	ts.stop()
	if served, wrong := tValuePullerJoin(); served != n || wrong != 0 {
		t.Fatalf("puller served %d (want %d), %d with another userdata", served, n, wrong)
	}
}
