package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

var exchangeCallNames = []string{"write_header", "set_header", "add_header", "del_header", "write",
	"flush", "abort", "read_body", "path_value", "done", "ResponseWriter_Write", "ResponseWriter_WriteHeader"}

var serverCallNames = []string{"route", "route_queue", "start", "listen_and_serve", "shutdown", "wait", "free", "next"}

// expectAllStale runs every response/request call with w and asserts each
// answered GOHTTP_ESTALE (and was counted).
func expectAllStale(t *testing.T, what string, w uint64) {
	t.Helper()
	before := tStats().StaleRejections
	rcs := tExchangeCalls(w)
	for i, rc := range rcs {
		if rc != eStale {
			t.Errorf("%s handle %#x: %s = %d, want ESTALE", what, w, exchangeCallNames[i], rc)
		}
	}
	if got := tStats().StaleRejections - before; got != int64(len(rcs)) {
		t.Errorf("%s: stale_rejections grew by %d, want %d", what, got, len(rcs))
	}
}

func expectAllServerStale(t *testing.T, what string, s uint64) {
	t.Helper()
	for i, rc := range tServerCalls(s) {
		if rc != eStale {
			t.Errorf("%s server %#x: %s = %d, want ESTALE", what, s, serverCallNames[i], rc)
		}
	}
}

// A handler that keeps its handle and writes after returning, from another
// thread, gets ESTALE and cannot touch a response that is live right then.
func TestStaleHandleAfterReturn(t *testing.T) {
	tBlockReset()
	ts := newServer(t, nil)
	ts.route("/stash", thStash, -1)
	ts.route("/block", thBlock, -1)
	ts.route("/", thHello, -1)
	ts.start()
	if _, body := ts.get("/stash"); body != "stashed\n" {
		t.Fatalf("stash body %q", body)
	}
	stale := tStashed()
	if stale == 0 || stale>>32 == 0 {
		t.Fatalf("stashed handle %#x: want a 64-bit handle with generation bits", stale)
	}

	// Hold a second request open, so a live exchange exists while the
	// stale handle is used (the seed's bug wrote into it).
	var wg sync.WaitGroup
	var blockedBody string
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, blockedBody = ts.get("/block")
	}()
	waitFor(t, 5*time.Second, "blocked handler", func() bool { return tBlockEntered() == 1 })
	if rc := tLateWrite(); rc != eStale {
		t.Errorf("late write from another thread = %d, want ESTALE", rc)
	}
	expectAllStale(t, "stashed", stale)
	tBlockRelease()
	wg.Wait()
	if blockedBody != "unblocked\n" {
		t.Errorf("live response was touched: %q", blockedBody)
	}
	ts.expectHello("/")
	if rc := tLateWrite(); rc != eStale {
		t.Errorf("late write after more requests = %d", rc)
	}
}

// 0, forged and freed handles on every response, request and server call.
func TestForgedZeroAndFreedHandles(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/stash", thStash, -1)
	ts.route("/block", thBlock, -1)
	ts.start()
	ts.get("/stash")
	freed := tStashed()
	for _, h := range []uint64{0, 1, 0xffffffffffffffff, 0xdeadbeefcafebabe, 1 << 32, (1 << 32) | 1, freed, freed + 1<<32, freed ^ 1} {
		expectAllStale(t, "forged/freed", h)
	}
	// A server handle is never an exchange handle and vice versa, even
	// when both tables hold a live object at the same slot (the first
	// server and the first exchange would otherwise share one number).
	tBlockReset()
	var wg sync.WaitGroup
	var blockedBody string
	wg.Add(1)
	go func() { defer wg.Done(); _, blockedBody = ts.get("/block") }()
	waitFor(t, 5*time.Second, "blocked handler", func() bool { return tBlockEntered() == 1 })
	live := tBlockHandle()
	// The mechanism: server handles carry a type tag bit that exchange
	// handles never have (shim/dispatch.c), so equal raw table numbers
	// can never be confused.
	const serverTag = 1 << 31
	if ts.h&serverTag == 0 || live&serverTag != 0 {
		t.Errorf("type tags: server %#x, exchange %#x", ts.h, live)
	}
	expectAllStale(t, "server-as-exchange", ts.h)
	// Same slot as a live exchange, other generations: the generation
	// check alone must reject them (GOHTTP_PLANT_SKIP_GENERATION fails here).
	expectAllStale(t, "live slot, next generation", live+1<<32)
	expectAllStale(t, "live slot, previous generation", live-1<<32)
	other, rc, _ := tServerNew(nil)
	if rc != eOK {
		t.Fatal(rc)
	}
	expectAllStale(t, "other-server-as-exchange", other)
	expectAllServerStale(t, "exchange-as-server", live)
	if rc := tFree(other); rc != eOK {
		t.Errorf("free = %d", rc)
	}
	tBlockRelease()
	wg.Wait()
	if blockedBody != "unblocked\n" {
		t.Errorf("live response reached through a server handle: %q", blockedBody)
	}
	for _, s := range []uint64{0, 1, 0xffffffffffffffff, 0xdeadbeefcafebabe, freed} {
		expectAllServerStale(t, "forged", s)
	}
	// A freed server handle.
	h, rc, _ := tServerNew(nil)
	if rc != eOK {
		t.Fatal(rc)
	}
	if rc := tFree(h); rc != eOK {
		t.Fatalf("free = %d", rc)
	}
	expectAllServerStale(t, "freed", h)
	ts.expectHelloOr(t, "/stash", "stashed\n")
}

func (ts *testServer) expectHelloOr(t *testing.T, path, want string) {
	t.Helper()
	if resp, body := ts.get(path); resp.StatusCode != 200 || body != want {
		t.Fatalf("GET %s = %d %q, want %q", path, resp.StatusCode, body, want)
	}
}

// Several C threads write into one response at once: every line arrives
// whole, none is lost.
func TestConcurrentWritersOneResponse(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thThreads, -1)
	ts.start()
	for round := 0; round < 3; round++ {
		resp, body := ts.get("/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !strings.HasSuffix(body, "failures=0\n") {
			t.Fatalf("writer failures: %q", body[max(0, len(body)-40):])
		}
		lines := body[:len(body)-len("failures=0\n")]
		if len(lines) != tWriters*tLines*tLineLen {
			t.Fatalf("got %d bytes of lines, want %d", len(lines), tWriters*tLines*tLineLen)
		}
		seen := map[string]bool{}
		next := make([]int, tWriters)
		for off := 0; off < len(lines); off += tLineLen {
			line := lines[off : off+tLineLen]
			var id, n int
			if _, err := fmtSscanf(line, &id, &n); err != nil || line[tLineLen-1] != '\n' {
				t.Fatalf("torn line at %d: %q", off, line)
			}
			if seen[line] {
				t.Fatalf("duplicate line %q", line)
			}
			seen[line] = true
			if n != next[id] {
				t.Fatalf("thread %d: line %d arrived when %d was expected", id, n, next[id])
			}
			next[id]++
		}
	}
}

// Several servers with concurrent clients: every response carries its own
// request's token (a reused or crossed handle would mix them).
func TestConcurrentRequestsNoCrossTalk(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHandlers: 8})
	ts.route("/", thEcho, -1)
	ts.start()
	const workers, perWorker = 16, 40
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				token := strings.Repeat(string(rune('a'+g)), 1+i*37%2000) + "-" + itoa(g*1000+i)
				req, _ := http.NewRequest("POST", ts.base+"/t/"+itoa(g*1000+i), strings.NewReader(token))
				resp, err := ts.client.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				body := readAll(resp)
				if resp.StatusCode != 200 || body != token || resp.Header.Get("X-Echo-Path") != "/t/"+itoa(g*1000+i) {
					errs <- "cross talk: " + req.URL.Path + " got " + resp.Header.Get("X-Echo-Path")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
