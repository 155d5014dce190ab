package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Codes as plain ints for the tests.
const (
	eOK       = 0
	eInval    = -1
	eStale    = -2
	eExist    = -4
	ePattern  = -5
	eBind     = -6
	eState    = -7
	eTimedOut = -8
	eBusy     = -9
	eTooLarge = -11
	ePanic    = -12
	eClosed   = -13
	eDeadlk   = -14
)

// Each literal above is gohttp.h's code (errors.go): a constant index other
// than 0 into a one-element array does not compile.
var _ = [1]struct{}{}[eOK-codeOK]
var _ = [1]struct{}{}[eInval-codeInval]
var _ = [1]struct{}{}[eStale-codeStale]
var _ = [1]struct{}{}[eExist-codeExist]
var _ = [1]struct{}{}[ePattern-codePattern]
var _ = [1]struct{}{}[eBind-codeBind]
var _ = [1]struct{}{}[eState-codeState]
var _ = [1]struct{}{}[eTimedOut-codeTimedOut]
var _ = [1]struct{}{}[eBusy-codeBusy]
var _ = [1]struct{}{}[eTooLarge-codeTooLarge]
var _ = [1]struct{}{}[ePanic-codePanic]
var _ = [1]struct{}{}[eClosed-codeClosed]
var _ = [1]struct{}{}[eDeadlk-codeDeadlk]

// testServer is one started server plus the client that talks to it.
type testServer struct {
	t      *testing.T
	h      uint64
	port   int
	base   string
	client *http.Client
	closed bool
}

// newServer creates a server (nil opts: defaults) and registers it for
// teardown: shutdown, wait, free, then the stats must be back at zero.
func newServer(t *testing.T, opts *tOptions) *testServer {
	t.Helper()
	h, rc, msg := tServerNew(opts)
	if rc != eOK {
		t.Fatalf("gohttp_server_new = %d (%s)", rc, msg)
	}
	ts := &testServer{t: t, h: h, client: &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	zeroAtEnd(t)
	t.Cleanup(ts.stop)
	return ts
}

// newQueueServer is newServer (opts as there) with a queue route "/q"
// (userdata "x", freed after the server is stopped), started.
func newQueueServer(t *testing.T, opts *tOptions) *testServer {
	t.Helper()
	ts := newServer(t, opts)
	rc, ud := tRouteQueue(ts.h, "/q", "x")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { ts.stop(); tCFree(ud) })
	ts.start()
	return ts
}

func (ts *testServer) route(pattern string, h testHandler, slot int) {
	ts.t.Helper()
	if rc, msg := tRoute(ts.h, pattern, h, slot); rc != eOK {
		ts.t.Fatalf("gohttp_route(%q) = %d (%s)", pattern, rc, msg)
	}
}

func (ts *testServer) start() {
	ts.t.Helper()
	port, msg := tStart(ts.h, "127.0.0.1:0")
	if port <= 0 {
		ts.t.Fatalf("gohttp_start = %d (%s)", port, msg)
	}
	ts.port = port
	ts.base = fmt.Sprintf("http://127.0.0.1:%d", port)
}

// stop shuts the server down, waits for it and frees it (idempotent).
func (ts *testServer) stop() {
	ts.t.Helper()
	if ts.closed {
		return
	}
	ts.closed = true
	ts.client.CloseIdleConnections()
	if rc := tShutdown(ts.h, 2000); rc != eOK {
		ts.t.Errorf("gohttp_shutdown = %d", rc)
	}
	if ts.port != 0 {
		if rc := tWait(ts.h, 10000); rc != eOK {
			ts.t.Errorf("gohttp_wait = %d", rc)
		}
	}
	if rc := tFree(ts.h); rc != eOK {
		ts.t.Errorf("gohttp_free = %d", rc)
	}
}

func (ts *testServer) do(req *http.Request) (*http.Response, string) {
	ts.t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

func (ts *testServer) get(path string) (*http.Response, string) {
	ts.t.Helper()
	req, err := http.NewRequest("GET", ts.base+path, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.do(req)
}

func (ts *testServer) post(path, body string) (*http.Response, string) {
	ts.t.Helper()
	req, err := http.NewRequest("POST", ts.base+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.do(req)
}

// expectHello asserts the server still answers normally.
func (ts *testServer) expectHello(path string) {
	ts.t.Helper()
	resp, body := ts.get(path)
	if resp.StatusCode != 200 || body != "Hello, world.\n" {
		ts.t.Fatalf("GET %s = %d %q, want 200 hello", path, resp.StatusCode, body)
	}
}

var (
	zeroMu    sync.Mutex
	zeroTests = map[*testing.T]bool{}
)

// zeroAtEnd registers assertStatsZero once per test, before any server's
// teardown, so it runs after all of them (cleanups run last-in first-out).
func zeroAtEnd(t *testing.T) {
	zeroMu.Lock()
	defer zeroMu.Unlock()
	if zeroTests[t] {
		return
	}
	zeroTests[t] = true
	t.Cleanup(func() { assertStatsZero(t) })
}

// assertStatsZero is the invariant every test ends with.
func assertStatsZero(t *testing.T) {
	t.Helper()
	// Handles and arenas are released before the response completes, but
	// allow the request goroutine a moment after a client-side abort.
	deadline := time.Now().Add(3 * time.Second)
	var c tCounters
	for {
		c = tStats()
		if c.LiveHandles == 0 && c.LiveArenas == 0 && c.ArenaBytes == 0 && c.LiveServers == 0 &&
			c.LiveTokens == 0 && c.LiveGoHandles == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("stats not at zero after test: %+v", c)
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutinesIn counts the goroutines whose stack holds frame (e.g.
// ").takeSlot(" for a request waiting for a dispatch slot), and every one
// of more (e.g. a state "[select" too): the event a test waits for when
// the library has no other signal for it.
func goroutinesIn(frame string, more ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, frame) {
			continue
		}
		all := true
		for _, f := range more {
			all = all && strings.Contains(g, f)
		}
		if all {
			count++
		}
	}
	return count
}

// getAsync GETs path in the background; the channel yields the body, or ""
// if the request failed.
func getAsync(ts *testServer, path string) <-chan string {
	c := make(chan string, 1)
	go func() {
		resp, err := ts.client.Get(ts.base + path)
		if err != nil {
			c <- ""
			return
		}
		c <- readAll(resp)
	}()
	return c
}

// getErrAsync GETs path in the background (reading the body to the end);
// the channel yields the request's error, nil on success.
func getErrAsync(ts *testServer, path string) <-chan error {
	c := make(chan error, 1)
	go func() {
		resp, err := ts.client.Get(ts.base + path)
		if err == nil {
			readAll(resp)
		}
		c <- err
	}()
	return c
}

// callWithin runs f in the background and returns its result, failing the
// test at once with msg if f has not returned within d.
func callWithin(t *testing.T, d time.Duration, msg string, f func() int) int {
	t.Helper()
	c := make(chan int, 1)
	go func() { c <- f() }()
	select {
	case rc := <-c:
		return rc
	case <-time.After(d):
		t.Fatal(msg)
		return 0
	}
}
