package main

// Attack tests for the bounds that must hold by default: each runs a
// bounded attack on 127.0.0.1 and shows a normal request is still answered
// while it runs, the OS thread count stays bounded, and the counters are
// back at zero afterwards (newServer's teardown).

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// osThreads is the process's OS thread count (/proc/self/status).
func osThreads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "Threads: %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// timedHello GETs path and returns how long the answer took, failing the
// test unless it is the hello answer.
func timedHello(ts *testServer, path string) time.Duration {
	ts.t.Helper()
	t0 := time.Now()
	ts.expectHello(path)
	return time.Since(t0)
}

// dialRaw opens a connection and sends data (the attack side).
func dialRaw(t *testing.T, ts *testServer, data string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if data != "" {
		if _, err := io.WriteString(c, data); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Bodies that stall hold a handler slot for at most body_read_timeout:
// the handler's read gets GOHTTP_ETIMEDOUT, the client 408, and normal
// requests are answered while the attack runs.
func TestStalledBodiesFreeTheirSlots(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHandlers: 4, BodyReadTimeoutMS: 300, QueueTimeoutMS: 5000})
	ts.route("/echo", thEcho, -1)
	ts.route("/", thHello, -1)
	ts.start()
	base := osThreads(t)
	const attackers = 16
	conns := make([]net.Conn, attackers)
	for i := range conns {
		conns[i] = dialRaw(t, ts, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
	}
	// The attack is on once every slot is taken and requests queue.
	waitFor(t, 5*time.Second, "requests queued for a slot", func() bool { return goroutinesIn(").takeSlot(") > 0 })
	var worst time.Duration
	maxThreads := 0
	for i := 0; i < 5; i++ {
		worst = max(worst, timedHello(ts, "/"))
		maxThreads = max(maxThreads, osThreads(t))
	}
	if worst > 3*time.Second {
		t.Errorf("normal request took %v while bodies stalled", worst)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		if s := statuses(string(b)); len(s) != 1 || s[0] != 408 || !strings.Contains(string(b), "read_body=-8") {
			t.Errorf("stalled body %d: %q, want 408 and GOHTTP_ETIMEDOUT in the handler", i, b)
		}
	}
	if maxThreads > base+attackers+8 {
		t.Errorf("threads %d during the attack, %d before", maxThreads, base)
	}
	t.Logf("stalled bodies: normal request worst %v, threads %d -> %d", worst, base, maxThreads)
}

// A client that never reads a streamed response holds its slot for at
// most send_timeout: the handler's write fails with GOHTTP_EIO.
func TestClientThatNeverReadsFreesItsSlot(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHandlers: 2, SendTimeoutMS: 300, QueueTimeoutMS: 5000})
	ts.route("/fire", thFirehose, -1)
	ts.route("/", thHello, -1)
	ts.start()
	c := dialRaw(t, ts, "GET /fire HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, 5*time.Second, "firehose to start", func() bool { return tFirehoseRC() == 1 })
	// Both slots: the firehose and a second never-reading client.
	c2 := dialRaw(t, ts, "GET /fire HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c2
	d := timedHello(ts, "/")
	if d > 3*time.Second {
		t.Errorf("normal request took %v while clients did not read", d)
	}
	waitFor(t, 10*time.Second, "firehose to stop", func() bool { return tFirehoseRC() != 1 })
	if rc := tFirehoseRC(); rc != -10 {
		t.Errorf("firehose stopped with %d, want GOHTTP_EIO", rc)
	}
	c.Close()
	t.Logf("never-reading clients: normal request took %v", d)
}

// max_connections: when full, an idle keep-alive connection is closed to
// make room; with none idle a new connection is refused; and a normal
// client is answered once the table has room again.
func TestMaxConnectionsClosesIdleFirst(t *testing.T) {
	ts := newServer(t, &tOptions{MaxConnections: 4})
	ts.route("/", thHello, -1)
	ts.start()
	ts.client.CloseIdleConnections()
	idle := make([]net.Conn, 4)
	for i := range idle {
		idle[i] = dialRaw(t, ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 4096)
		idle[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := idle[i].Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Fatalf("idle conn %d: %q %v", i, buf[:n], err)
		}
	}
	conns := &tServerObject(ts.h).conns
	waitFor(t, 5*time.Second, "four idle connections", func() bool {
		conns.mu.Lock()
		defer conns.mu.Unlock()
		return len(conns.idle) == 4
	})
	got, _ := rawExchange(t, ts, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	if s := statuses(got); len(s) != 1 || s[0] != 200 {
		t.Fatalf("request with 4 idle connections open: %q", got)
	}
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
		c.Close()
	}
	if closed != 1 {
		t.Errorf("%d idle connections closed to make room, want 1", closed)
	}
	waitFor(t, 5*time.Second, "every connection closed", func() bool { return conns.count() == 0 })
	// Four silent connections (nothing idle to close): the fifth is refused.
	for i := 0; i < 4; i++ {
		dialRaw(t, ts, "")
	}
	waitFor(t, 5*time.Second, "four silent connections admitted", func() bool { return conns.count() == 4 })
	got, _ = rawExchange(t, ts, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	if got != "" {
		t.Errorf("fifth connection with four busy ones was served: %q", got)
	}
}

// The sum of max_handlers over live servers stays under the Go runtime's
// thread limit.
func TestMaxHandlersBoundedByThreadLimit(t *testing.T) {
	if _, rc, _ := tServerNew(&tOptions{MaxHandlers: 8193}); rc != eInval {
		t.Errorf("max_handlers 8193: rc %d, want EINVAL", rc)
	}
	a, rc, msg := tServerNew(&tOptions{MaxHandlers: 5000})
	if rc != eOK {
		t.Fatalf("max_handlers 5000: %d %s", rc, msg)
	}
	b, rc, _ := tServerNew(&tOptions{MaxHandlers: 5000})
	if rc != eInval {
		t.Errorf("second server with max_handlers 5000: rc %d, want EINVAL", rc)
		tFree(b)
	}
	tFree(a)
	b, rc, msg = tServerNew(&tOptions{MaxHandlers: 5000})
	if rc != eOK {
		t.Errorf("after the first server was freed: %d %s", rc, msg)
	}
	tFree(b)
	assertStatsZero(t)
}

// Pull mode: the wait for a slot and the wait for a worker share one
// queue_timeout.
func TestPullWaitBoundedByQueueTimeout(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHandlers: 1, QueueTimeoutMS: 400})
	if rc, ud := tRouteQueue(ts.h, "/", "q"); rc != eOK {
		t.Fatal(rc)
	} else {
		t.Cleanup(func() { tCFree(ud) })
	}
	ts.start()
	var wg sync.WaitGroup
	took := make([]time.Duration, 3)
	codes := make([]int, 3)
	for i := range took {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			resp, err := ts.client.Get(ts.base + "/")
			took[i] = time.Since(t0)
			if err == nil {
				codes[i] = resp.StatusCode
				readAll(resp)
			}
		}()
	}
	wg.Wait()
	for i := range took {
		if codes[i] != 503 || took[i] > 700*time.Millisecond {
			t.Errorf("request %d: %d after %v, want 503 within queue_timeout (400ms)", i, codes[i], took[i])
		}
	}
}
