package main

import (
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
	t.Cleanup(func() { tCFree(ud) }) // after the server's cleanup (LIFO)
	ts.route("/", thHello, -1)
	if rc, ud2 := tRouteQueue(ts.h, "/q/", "dup"); rc != eExist {
		tCFree(ud2)
		t.Errorf("duplicate queue route = %d", rc)
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
	ts.stop()
	r := tPullJoin()
	want := tPullResult{Served: n, Closed: 3, StaleAfterDone: n, Deadlk: n, DoubleDone: n}
	if r != want {
		t.Errorf("pull result %+v, want %+v", r, want)
	}
}

// A queued request nobody takes gets 503 after queue_timeout_ms; gohttp_next
// on a server being shut down answers ECLOSED.
func TestPullQueueTimeoutAndClosed(t *testing.T) {
	ts := newServer(t, &tOptions{QueueTimeoutMS: 100})
	rc, ud := tRouteQueue(ts.h, "/q", "x")
	if rc != eOK {
		t.Fatal(rc)
	}
	t.Cleanup(func() { tCFree(ud) })
	ts.start()
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
