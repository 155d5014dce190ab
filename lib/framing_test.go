package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends data on a fresh connection and returns everything the
// server sent until it closed the connection (or d passed: closed=false).
func rawExchange(t *testing.T, ts *testServer, data string, d time.Duration) (got string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", ts.base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, data); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	return string(b), err == nil
}

// statuses lists the status codes of the responses in a raw stream.
func statuses(stream string) []int {
	var out []int
	br := bufio.NewReader(strings.NewReader(stream))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
}

func expectStatuses(t *testing.T, what, stream string, closed bool, want ...int) {
	t.Helper()
	got := statuses(stream)
	if fmt.Sprint(got) != fmt.Sprint(want) || !closed {
		t.Errorf("%s: statuses %v (connection closed: %v), want %v and a close\n%q", what, got, closed, want, stream)
	}
}

// A request with both Content-Length and Transfer-Encoding is refused and
// the connection closed: a request hidden in its body is never served,
// and neither is the refused request itself.
func TestContentLengthWithTransferEncodingRefused(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thCount, -1)
	ts.start()
	before := tCounted()
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	for _, te := range []string{"chunked", "Chunked", "gzip, chunked"} {
		req := fmt.Sprintf("POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: %s\r\n\r\n%s", len(body), te, body)
		got, closed := rawExchange(t, ts, req, 5*time.Second)
		expectStatuses(t, "CL+TE "+te, got, closed, 400)
	}
	// Pipelined behind a normal request: the normal one is answered
	// first, in order, then the refusal.
	req := "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" +
		fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	got, closed := rawExchange(t, ts, req, 5*time.Second)
	expectStatuses(t, "pipelined CL+TE", got, closed, 200, 400)
	if n := tCounted() - before; n != 1 {
		t.Errorf("handler ran %d times, want 1 (only GET /ok)", n)
	}
}

// Transfer-Encoding in HTTP/1.0: net/http ignores it, so the chunked body
// would be read as the next request.
func TestTransferEncodingInHTTP10Refused(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thCount, -1)
	ts.start()
	before := tCounted()
	req := "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"GET /smuggled HTTP/1.0\r\nHost: x\r\n\r\n"
	got, closed := rawExchange(t, ts, req, 5*time.Second)
	expectStatuses(t, "HTTP/1.0 TE", got, closed, 400)
	if n := tCounted() - before; n != 0 {
		t.Errorf("handler ran %d times, want 0", n)
	}
}

func TestObsFoldAndHeadLimitsRefused(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thCount, -1)
	ts.start()
	before := tCounted()
	many := strings.Repeat("X-H: v\r\n", 100)
	cases := []struct {
		what, req string
		status    int
	}{
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n", 400},
		{"request line 4095", "GET /" + strings.Repeat("a", 4095-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"101 fields", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
		{"field 8191", "GET / HTTP/1.1\r\nHost: x\r\nX-L: " + strings.Repeat("v", 8191-5) + "\r\n\r\n", 431},
		{"field 8191 unterminated", "GET / HTTP/1.1\r\nHost: x\r\nX-L: " + strings.Repeat("v", 9000), 431},
		{"bad Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	}
	for _, c := range cases {
		got, closed := rawExchange(t, ts, c.req, 5*time.Second)
		expectStatuses(t, c.what, got, closed, c.status)
	}
	// At the limits exactly: served.
	ok := []string{
		"GET /" + strings.Repeat("a", 4094-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + strings.Repeat("X-H: v\r\n", 98) + "\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-L: " + strings.Repeat("v", 8190-5) + "\r\n\r\n",
	}
	for i, req := range ok {
		got, closed := rawExchange(t, ts, req, 5*time.Second)
		expectStatuses(t, fmt.Sprintf("at the limit %d", i), got, closed, 200)
	}
	if n := tCounted() - before; n != int64(len(ok)) {
		t.Errorf("handler ran %d times, want %d", n, len(ok))
	}
}

// The limits are options.
func TestHeadLimitOptions(t *testing.T) {
	ts := newServer(t, &tOptions{LimitRequestLine: 64, LimitRequestFields: 3, LimitRequestFieldSize: 32})
	ts.route("/", thCount, -1)
	ts.start()
	cases := []struct {
		what, req string
		status    int
	}{
		{"line 64", "GET /" + strings.Repeat("a", 64-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
		{"line 65", "GET /" + strings.Repeat("a", 65-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"3 fields", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: y\r\n\r\n", 200},
		{"4 fields", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: y\r\nY: z\r\n\r\n", 431},
		{"field 33", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("v", 30) + "\r\n\r\n", 431},
	}
	for _, c := range cases {
		got, closed := rawExchange(t, ts, c.req, 5*time.Second)
		expectStatuses(t, c.what, got, closed, c.status)
	}
	for _, o := range []tOptions{{LimitRequestLine: -1}, {LimitRequestFields: 1 << 21}, {LimitRequestFieldSize: -2},
		{BodyReadTimeoutMS: -1}, {SendTimeoutMS: -1}, {MaxConnections: -1}, {MaxConnections: 1 << 21}} {
		if _, rc, msg := tServerNew(&o); rc != eInval {
			t.Errorf("options %+v: rc %d (%s), want EINVAL", o, rc, msg)
		}
	}
}

// A malformed chunked body: the handler's read gets GOHTTP_EBADREQ (the
// echo handler writes "read_body=CODE"), the client a 400.
func TestMalformedChunkedBody(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thEcho, -1)
	ts.start()
	head := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for what, body := range map[string]string{
		"bad size":           "zz\r\nab\r\n0\r\n\r\n",
		"overflowing size":   "fffffffffffffffff\r\nab\r\n0\r\n\r\n",
		"no CRLF after data": "2\r\nabXY1\r\nc\r\n0\r\n\r\n",
		"forbidden trailer":  "2\r\nab\r\n0\r\nContent-Length: 5\r\n\r\n",
		"Host trailer":       "2\r\nab\r\n0\r\nHost: evil\r\n\r\n",
		"TE trailer":         "2\r\nab\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"obs-fold trailer":   "2\r\nab\r\n0\r\nX-T: a\r\n b\r\n\r\n",
	} {
		got, closed := rawExchange(t, ts, head+body, 5*time.Second)
		expectStatuses(t, what, got, closed, 400)
		if !strings.Contains(got, "read_body=-15") {
			t.Errorf("%s: handler did not get GOHTTP_EBADREQ: %q", what, got)
		}
	}
	// A harmless trailer is fine.
	got, _ := rawExchange(t, ts, strings.Replace(head, "Host: x", "Host: x\r\nConnection: close", 1)+"2\r\nab\r\n0\r\nX-T: a\r\n\r\n", 5*time.Second)
	if s := statuses(got); len(s) != 1 || s[0] != 200 || !strings.HasSuffix(got, "ab") {
		t.Errorf("allowed trailer: %q", got)
	}
}

// %00 in the path never reaches a handler.
func TestNulInPathRefused(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thCount, -1)
	ts.start()
	before := tCounted()
	for _, p := range []string{"/admin%00.png", "/%00", "/a%00b/c"} {
		resp, _ := ts.get(p)
		if resp.StatusCode != 400 {
			t.Errorf("GET %s = %d, want 400", p, resp.StatusCode)
		}
	}
	if n := tCounted() - before; n != 0 {
		t.Errorf("handler ran %d times for NUL paths", n)
	}
}

// Content-Length and control bytes from a handler: refused at the call.
func TestHandlerHeaderRules(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thRules, -1)
	ts.start()
	resp, body := ts.get("/")
	want := "0 -1 -1 -1 -1 -1 -1 0 -1"
	if resp.StatusCode != 200 || body != want {
		t.Errorf("header rules: %d %q, want 200 %q", resp.StatusCode, body, want)
	}
	if cl := resp.Header.Values("Content-Length"); len(cl) != 1 {
		t.Errorf("Content-Length sent %q", cl)
	}
	if v := resp.Header.Get("X-A"); v != "a\tb" {
		t.Errorf("X-A = %q", v)
	}
	if rc := tRulesExtra(); rc != -16 {
		t.Errorf("write past Content-Length = %d, want GOHTTP_ELENGTH (-16)", rc)
	}
	// The keep-alive connection is still in step: a second request on it
	// gets its own whole answer.
	resp, body = ts.get("/")
	if resp.StatusCode != 200 || body != want {
		t.Errorf("second request: %d %q", resp.StatusCode, body)
	}
}

// After 204, 304 (and 1xx then 204) the status goes out; the body write is
// GOHTTP_ESTATE.
func TestNoBodyStatusIsSent(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thNoBody, -1)
	ts.start()
	for _, st := range []string{"204", "304", "103"} {
		got, _ := rawExchange(t, ts, "GET /?"+st+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
		want := "HTTP/1.1 " + st
		if st == "103" {
			want = "HTTP/1.1 204"
		}
		if !strings.Contains(got, want) {
			t.Errorf("status %s: got %q, want %q", st, got, want)
		}
		// The refused byte never goes out: the stream ends with the head.
		if !strings.HasSuffix(got, "\r\n\r\n") || strings.Contains(got, "\r\n\r\nx") {
			t.Errorf("status %s: body bytes after the head: %q", st, got)
		}
		if rc := tNoBodyRC(); rc != eState {
			t.Errorf("status %s: write = %d, want GOHTTP_ESTATE", st, rc)
		}
	}
}

// gohttp_stats(NULL) sets its own last error instead of leaving the
// previous call's.
func TestStatsNullSetsItsOwnLastError(t *testing.T) {
	rc, msg := withThread(func() int {
		tRouteNullPattern(0) // leaves "stale ..." as the last error
		return tStatsNull()
	})
	if rc != eInval || !strings.Contains(msg, "gohttp_stats") {
		t.Errorf("gohttp_stats(NULL) = %d, last error %q", rc, msg)
	}
}
