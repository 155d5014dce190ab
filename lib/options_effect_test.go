package main

import (
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// closedWithin reads from c until the server closes it or d passes; it
// returns what was read, how long the close took and whether it came.
func closedWithin(c net.Conn, d time.Duration) (got string, took time.Duration, closed bool) {
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(d))
	b, err := io.ReadAll(c)
	took = time.Since(t0)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return string(b), took, false
	}
	return string(b), took, true
}

// read_header_timeout_ms: a client that sends its head slowly (a byte
// every 50 ms, never the blank line) is cut once the timeout passes,
// although bytes keep arriving; the server answers others meanwhile.
func TestReadHeaderTimeoutCutsSlowHeaders(t *testing.T) {
	ts := newServer(t, &tOptions{ReadHeaderTimeoutMS: 300})
	ts.route("/", thHello, -1)
	ts.start()
	c := dialRaw(t, ts, "GET / HTTP/1.1\r\nHost: x\r\n")
	cut := make(chan time.Duration, 1)
	t0 := time.Now()
	go func() {
		// The trickle: one header byte every 50 ms until a write fails
		// (the server closed the connection) or 5 s passed.
		for time.Since(t0) < 5*time.Second {
			if _, err := io.WriteString(c, "X"); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cut <- time.Since(t0)
	}()
	got, took, closed := closedWithin(c, 5*time.Second)
	if !closed {
		t.Fatalf("slow head not cut within 5 s (read %q)", got)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("slow head cut after %v, want about the 300 ms read_header_timeout", took)
	}
	if strings.Contains(got, "200 OK") {
		t.Errorf("the unfinished request was answered: %q", got)
	}
	c.Close()
	<-cut
	ts.expectHello("/")
}

// idle_timeout_ms: a keep-alive connection with no next request is
// closed once the timeout passes after its last response.
func TestIdleTimeoutClosesKeepAliveConnection(t *testing.T) {
	ts := newServer(t, &tOptions{IdleTimeoutMS: 300})
	ts.route("/", thHello, -1)
	ts.start()
	c := dialRaw(t, ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("first response: %q %v", buf[:n], err)
	}
	got, took, closed := closedWithin(c, 5*time.Second)
	if !closed {
		t.Fatal("idle keep-alive connection still open after 5 s")
	}
	if got != "" {
		t.Errorf("idle connection received %q", got)
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about the 300 ms idle_timeout", took)
	}
}

// write_timeout_ms: a response whose client does not read is cut when
// the timeout passes (well before send_timeout_ms, 30 s): the handler's
// write fails with GOHTTP_EIO and the connection closes.
func TestWriteTimeoutCutsSlowResponse(t *testing.T) {
	ts := newServer(t, &tOptions{WriteTimeoutMS: 300})
	ts.route("/fire", thFirehose, -1)
	ts.route("/", thHello, -1)
	ts.start()
	c := dialRaw(t, ts, "GET /fire HTTP/1.1\r\nHost: x\r\n\r\n")
	// The status line arrived: the handler runs (its code is 1 until its
	// last write returned). From here the client reads nothing more.
	head := make([]byte, 12)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, head); err != nil || string(head) != "HTTP/1.1 200" {
		t.Fatalf("response head %q %v", head, err)
	}
	t0 := time.Now()
	waitFor(t, 10*time.Second, "the firehose handler to stop", func() bool { return tFirehoseRC() != 1 })
	took := time.Since(t0)
	if rc := tFirehoseRC(); rc != -10 {
		t.Errorf("write past write_timeout = %d, want GOHTTP_EIO", rc)
	}
	if took > 5*time.Second {
		t.Errorf("write cut after %v, want about the 300 ms write_timeout", took)
	}
	// The client gets part of the body, then the close (not 1 GiB).
	c.(*net.TCPConn).SetReadBuffer(1 << 16)
	if _, _, closed := closedWithin(c, 10*time.Second); !closed {
		t.Error("connection of the cut response still open")
	}
	ts.expectHello("/")
}

// A zero field of gohttp_options takes gohttp.h's default: a server made
// from an all-zero struct runs with exactly the options of one made from
// gohttp_options_init, and one non-zero field changes only itself.
func TestZeroOptionFieldsTakeTheirDefaults(t *testing.T) {
	zeroAtEnd(t)
	effective := func(o *tOptions) (serverOptions, time.Duration, time.Duration, time.Duration, int, int) {
		t.Helper()
		h, rc, msg := tServerNew(o)
		if rc != eOK {
			t.Fatalf("gohttp_server_new(%+v) = %d (%s)", o, rc, msg)
		}
		defer tFree(h)
		s := tServerObject(h)
		return s.opts, s.hs.ReadHeaderTimeout, s.hs.IdleTimeout, s.hs.WriteTimeout, s.hs.MaxHeaderBytes, cap(s.slots)
	}
	init := tOptionsInit()
	zero, rht, idle, wt, mhb, slots := effective(&tOptions{})
	fromInit, _, _, _, _, _ := effective(&init)
	fromNull, _, _, _, _, _ := effective(nil)
	if !reflect.DeepEqual(zero, fromInit) || !reflect.DeepEqual(zero, fromNull) {
		t.Errorf("zero fields = %+v\ninit = %+v\nNULL = %+v", zero, fromInit, fromNull)
	}
	d := tDefaults
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	if rht != ms(d.ReadHeaderTimeoutMS) || idle != ms(d.IdleTimeoutMS) || wt != ms(d.WriteTimeoutMS) ||
		int64(mhb) != d.MaxHeaderBytes || slots != int(d.MaxHandlers) {
		t.Errorf("net/http server of zero fields: header timeout %v, idle %v, write %v, max header bytes %d, slots %d; want gohttp.h's %+v",
			rht, idle, wt, mhb, slots, d)
	}
	if zero.maxBodyBytes != d.MaxBodyBytes || zero.queueTimeout != ms(d.QueueTimeoutMS) ||
		zero.bodyReadTimeout != ms(d.BodyReadTimeoutMS) || zero.sendTimeout != ms(d.SendTimeoutMS) ||
		int64(zero.maxConnections) != d.MaxConnections || zero.reusePort || zero.h2c ||
		int64(zero.limits.requestLine) != d.LimitRequestLine || int64(zero.limits.fields) != d.LimitRequestFields ||
		int64(zero.limits.fieldSize) != d.LimitRequestFieldSize {
		t.Errorf("zero fields = %+v, want gohttp.h's defaults %+v", zero, d)
	}
	one, _, idleOne, _, _, _ := effective(&tOptions{IdleTimeoutMS: 1234})
	if idleOne != 1234*time.Millisecond {
		t.Errorf("idle_timeout_ms 1234 gave %v", idleOne)
	}
	one.idleTimeout = zero.idleTimeout
	if !reflect.DeepEqual(one, zero) {
		t.Errorf("one non-zero field changed others: %+v vs %+v", one, zero)
	}
}

// gohttp_wait(-1) waits for as long as a handler runs after the drain,
// and returns 0 once it returned; other negative timeouts are refused.
func TestWaitMinusOneWaitsForTheLastHandler(t *testing.T) {
	tBlockReset()
	t.Cleanup(tBlockRelease)
	ts := newServer(t, nil)
	ts.route("/block", thBlock, -1)
	ts.start()
	blocked := getErrAsync(ts, "/block")
	waitFor(t, 5*time.Second, "the blocked handler", func() bool { return tBlockEntered() == 1 })
	if rc := tWait(ts.h, -2); rc != eInval {
		t.Errorf("gohttp_wait(-2) = %d, want GOHTTP_EINVAL", rc)
	}
	if rc := tShutdown(ts.h, 50); rc != eOK {
		t.Fatal(rc)
	}
	done := make(chan int, 1)
	go func() { done <- tWait(ts.h, -1) }()
	// The drain timeout (50 ms) passes and the connection is closed; the
	// wait must still be waiting for the handler.
	<-blocked
	select {
	case rc := <-done:
		t.Fatalf("gohttp_wait(-1) returned %d while the handler runs", rc)
	case <-time.After(200 * time.Millisecond):
	}
	tBlockRelease()
	select {
	case rc := <-done:
		if rc != eOK {
			t.Errorf("gohttp_wait(-1) = %d after the handler returned", rc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gohttp_wait(-1) did not return after the handler returned")
	}
}

// A full server table (the fault hook at its allocation) is
// GOHTTP_ENOMEM from gohttp_server_new with the reason, leaves nothing
// alive, and the next gohttp_server_new succeeds.
func TestServerTableFullIsENOMEM(t *testing.T) {
	zeroAtEnd(t)
	defer tFaultArm(0)
	tFaultArm(0)
	h, rc, _ := tServerNew(nil)
	if rc != eOK {
		t.Fatal(rc)
	}
	nth := 0
	for i, p := range tFaultCalls() {
		if p == faultPointServerRef {
			nth = i + 1
		}
	}
	tFree(h)
	if nth == 0 {
		t.Fatalf("gohttp_server_new reached no server table allocation: %v", tFaultCalls())
	}
	tFaultArm(int64(nth))
	h, rc, msg := tServerNew(nil)
	fired := tFaultFired()
	tFaultArm(0)
	if !fired || rc != codeNoMem || h != 0 || !strings.Contains(msg, "server table full") {
		t.Errorf("server_new with the table full = %d handle %#x %q (fault fired: %v), want GOHTTP_ENOMEM",
			rc, h, msg, fired)
	}
	assertStatsZero(t)
	h, rc, _ = tServerNew(nil)
	if rc != eOK {
		t.Fatalf("server_new after the full table = %d", rc)
	}
	tFree(h)
}

// A full exchange handle table is the request's 503 "handle table full"
// (the handler never runs); the next request is served.
func TestExchangeTableFullIs503(t *testing.T) {
	defer tFaultArm(0)
	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	ts.start()
	ts.expectHello("/") // the table's pages exist before counting
	tFaultArm(0)
	ts.expectHello("/")
	nth := 0
	for i, p := range tFaultCalls() {
		if p == faultPointExchangeRef {
			nth = i + 1
		}
	}
	if nth == 0 {
		t.Fatalf("a request reached no exchange table allocation: %v", tFaultCalls())
	}
	tFaultArm(int64(nth))
	resp, body := ts.get("/")
	fired := tFaultFired()
	tFaultArm(0)
	if !fired || resp.StatusCode != 503 || !strings.Contains(body, "handle table full") {
		t.Errorf("request with the handle table full = %d %q (fault fired: %v)", resp.StatusCode, body, fired)
	}
	ts.expectHello("/")
}
