package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Every bad argument of the response/request calls gets its code, and the
// response and the server carry on.
func TestBadInputsInHandler(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHeaderBytes: 4096})
	ts.route("/bad", thBadInput, -1)
	ts.route("/", thHello, -1)
	ts.start()
	resp, body := ts.get("/bad")
	if resp.StatusCode != 201 {
		t.Errorf("status = %d, want 201 (set after the bad calls)", resp.StatusCode)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		k, v, ok := strings.Cut(line, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[k] = n
	}
	want := map[string]int{
		"status_0": eInval, "status_99": eInval, "status_1000": eInval, "status_neg": eInval,
		"name_null": eInval, "name_empty": eInval, "name_space": eInval, "name_colon": eInval,
		"name_nul": eInval, "name_crlf": eInval, "name_long": eInval,
		"value_cr": eInval, "value_lf": eInval, "value_crlf": eInval, "value_nul": eInval,
		"value_null": eInval, "value_long": eInval, "del_null": eInval, "del_bad": eInval,
		"write_null": eInval, "write_neg": eInval, "read_null": eInval, "read_neg": eInval,
		"pv_name_null": eInval, "pv_buf_null": eInval, "pv_cap_neg": eInval,
		"done_push":      eState,
		"value_empty_ok": eOK, "set_ok": eOK, "status_201": eOK,
		"status_again": eState, "set_after": eState, "add_after": eState, "del_after": eState,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %d (present %v), want %d", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d results, want %d", len(got), len(want))
	}
	if resp.Header.Get("X-Ok") != "yes" || resp.Header.Get("X-Late") != "" || resp.Header.Get("X-A") != "" {
		t.Errorf("headers: X-Ok=%q X-Late=%q X-A=%q", resp.Header.Get("X-Ok"), resp.Header.Get("X-Late"), resp.Header.Get("X-A"))
	}
	if _, ok := resp.Header["X-Empty"]; !ok {
		t.Errorf("empty-valued header missing")
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("header injection got through")
	}
	ts.expectHello("/")
}

// Server-level bad inputs: each gets its code and last error; the server
// still serves afterwards.
func TestBadServerInputs(t *testing.T) {
	for _, o := range []tOptions{
		{ReadHeaderTimeoutMS: -1}, {IdleTimeoutMS: -5}, {WriteTimeoutMS: -1}, {MaxHeaderBytes: -1},
		{MaxBodyBytes: -1}, {MaxHandlers: -1}, {QueueTimeoutMS: -1}, {MaxHandlers: 1 << 20},
		{MaxHeaderBytes: 1 << 40}, {ReadHeaderTimeoutMS: 1 << 62}, {ReusePort: 2}, {ReusePort: -1},
	} {
		o := o
		if _, rc, msg := tServerNew(&o); rc != eInval || !strings.Contains(msg, "gohttp_options.") {
			t.Errorf("server_new(%+v) = %d %q, want EINVAL naming the field", o, rc, msg)
		}
	}
	if rc := tServerNewNullOut(); rc != eInval {
		t.Errorf("server_new(out=NULL) = %d", rc)
	}

	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	if rc := tRouteNullPattern(ts.h); rc != eInval {
		t.Errorf("route(NULL pattern) = %d", rc)
	}
	if rc := tRouteNullFn(ts.h, "/x"); rc != eInval {
		t.Errorf("route(NULL fn) = %d", rc)
	}
	if rc, msg := tRoute(ts.h, "/"+strings.Repeat("a", 5000), thHello, -1); rc != eInval || !strings.Contains(msg, "longer") {
		t.Errorf("route(long) = %d %q", rc, msg)
	}
	for _, p := range []string{"", "/{bad", "/a/{x}/{x}", "/{$}x", "/{..}", "/a/{x...}/b", "GET /{", "/a/{x}y"} {
		if rc, msg := tRoute(ts.h, p, thHello, -1); rc != ePattern || msg == "" {
			t.Errorf("route(%q) = %d %q, want EPATTERN", p, rc, msg)
		}
	}
	if rc, msg := tRoute(ts.h, "/", thHello, -1); rc != eExist || !strings.Contains(msg, "conflicts with pattern") {
		t.Errorf("route(\"/\") again = %d %q, want EEXIST", rc, msg)
	}
	if rc, msg := tRoute(ts.h, "/items/{id}", thHello, -1); rc != eOK {
		t.Fatalf("route = %d %s", rc, msg)
	}
	if rc, msg := tRoute(ts.h, "/items/{name}", thHello, -1); rc != eExist {
		t.Errorf("conflicting wildcard route = %d %q, want EEXIST", rc, msg)
	}
	if rc := tStartNullAddr(ts.h); rc != eInval {
		t.Errorf("start(NULL) = %d", rc)
	}
	if rc, _ := tStart(ts.h, strings.Repeat("1", 2000)); rc != eInval {
		t.Errorf("start(long addr) = %d", rc)
	}
	if rc, msg := tStart(ts.h, "256.1.1.1:80"); rc != eBind || msg == "" {
		t.Errorf("start(bad address) = %d %q, want EBIND", rc, msg)
	}
	if rc, msg := tStart(ts.h, "127.0.0.1:notaport"); rc != eBind || msg == "" {
		t.Errorf("start(bad port) = %d %q, want EBIND", rc, msg)
	}
	for _, d := range []int64{-2, -100} {
		if rc := tShutdown(ts.h, d); rc != eInval {
			t.Errorf("shutdown(%d) = %d", d, rc)
		}
		if rc := tWait(ts.h, d); rc != eInval {
			t.Errorf("wait(%d) = %d", d, rc)
		}
	}
	if rc := tWait(ts.h, 0); rc != eState {
		t.Errorf("wait on a never-started server = %d, want ESTATE", rc)
	}
	ts.start()
	if rc, _ := tStart(ts.h, "127.0.0.1:0"); rc != eState {
		t.Errorf("second start = %d, want ESTATE", rc)
	}
	if rc, _ := tRoute(ts.h, "/late", thHello, -1); rc != eState {
		t.Errorf("route after start = %d, want ESTATE", rc)
	}
	if rc := tNext(ts.h, 0); rc != eTimedOut {
		t.Errorf("next with no queue routes = %d, want ETIMEDOUT", rc)
	}
	ts.expectHello("/")
}

// A port in use: EBIND with the OS reason, on the calling thread.
func TestBindFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	rc, msg := tStartOnThread(ts.h, ln.Addr().String())
	if rc != eBind {
		t.Fatalf("start on a used port = %d, want EBIND", rc)
	}
	if !strings.Contains(msg, "address already in use") || !strings.Contains(msg, ln.Addr().String()) {
		t.Errorf("last error = %q, want the OS reason and address", msg)
	}
	// Not started: can be started elsewhere afterwards.
	ts.start()
	ts.expectHello("/")
}

// Requests whose headers exceed max_header_bytes are refused by net/http
// (431) before any handler runs; the server carries on.
func TestHeaderOverMaxIs431(t *testing.T) {
	ts := newServer(t, &tOptions{MaxHeaderBytes: 2048})
	ts.route("/", thHello, -1)
	ts.start()
	req, _ := http.NewRequest("GET", ts.base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	resp, _ := ts.do(req)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d, want 431", resp.StatusCode)
	}
	ts.expectHello("/")
}
