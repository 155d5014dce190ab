package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestHello(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	ts.start()
	before := tStats().RequestsServed
	for i := 0; i < 3; i++ {
		resp, body := ts.get("/anything")
		if resp.StatusCode != 200 || body != "Hello, world.\n" {
			t.Fatalf("GET = %d %q", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
	if got := tStats().RequestsServed - before; got != 3 {
		t.Errorf("requests_served grew by %d, want 3", got)
	}
	if s := tStats(); s.LiveServers != 1 {
		t.Errorf("live_servers = %d while one server runs", s.LiveServers)
	}
}

func TestOptionsInitAndStrerror(t *testing.T) {
	// The C init and the Go defaults for zero fields are both gohttp.h's
	// GOHTTP_DEFAULT_* (python/tests/test_abi.py checks the documents).
	if o := tOptionsInit(); o != tDefaults {
		t.Errorf("gohttp_options_init = %+v, want gohttp.h's defaults %+v", o, tDefaults)
	}
	d := defaultOptions
	goDefaults := tOptions{ReadHeaderTimeoutMS: d.readHeaderTimeout.Milliseconds(),
		IdleTimeoutMS: d.idleTimeout.Milliseconds(), WriteTimeoutMS: d.writeTimeout.Milliseconds(),
		MaxHeaderBytes: int64(d.maxHeaderBytes), MaxBodyBytes: d.maxBodyBytes, MaxHandlers: int32(d.maxHandlers),
		QueueTimeoutMS:   d.queueTimeout.Milliseconds(),
		LimitRequestLine: int64(d.limits.requestLine), LimitRequestFields: int64(d.limits.fields),
		LimitRequestFieldSize: int64(d.limits.fieldSize), BodyReadTimeoutMS: d.bodyReadTimeout.Milliseconds(),
		SendTimeoutMS: d.sendTimeout.Milliseconds(), MaxConnections: int64(d.maxConnections)}
	if goDefaults != tDefaults {
		t.Errorf("defaults applied to zero fields = %+v, want gohttp.h's defaults %+v", goDefaults, tDefaults)
	}
	names := map[int]string{eOK: "success", eStale: "stale handle", eBind: "listen failed", eDeadlk: "call would wait on the calling handler"}
	for code, name := range names {
		if got := tStrerror(code); got != name {
			t.Errorf("strerror(%d) = %q, want %q", code, got, name)
		}
	}
	for code := -16; code <= 0; code++ {
		if s := tStrerror(code); s == "" || s == "unknown error" {
			t.Errorf("strerror(%d) = %q", code, s)
		}
	}
	if got := tStrerror(-999); got != "unknown error" {
		t.Errorf("strerror(-999) = %q", got)
	}
	if tStatsNull() != eInval {
		t.Errorf("gohttp_stats(NULL) accepted")
	}
}

func TestEcho(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thEcho, -1)
	ts.start()
	req, _ := http.NewRequest("PUT", ts.base+"/some/path%20x?a=1&b=two", strings.NewReader("hello body"))
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("X-Single", "v a l")
	resp, body := ts.do(req)
	if resp.StatusCode != 200 || body != "hello body" {
		t.Fatalf("echo = %d %q", resp.StatusCode, body)
	}
	h := resp.Header
	checks := map[string]string{
		"X-Echo-Method":         "PUT",
		"X-Echo-Url":            "/some/path%20x?a=1&b=two",
		"X-Echo-Path":           "/some/path x",
		"X-Echo-Query":          "a=1&b=two",
		"X-Echo-Host":           req.URL.Host,
		"X-Echo-Proto":          "HTTP/1.1",
		"X-Echo-Content-Length": "10",
		"X-Echo-Terminated":     "yes",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(h.Get("X-Echo-Remote"), "127.0.0.1:") {
		t.Errorf("X-Echo-Remote = %q", h.Get("X-Echo-Remote"))
	}
	hdrs := strings.Join(h.Values("X-Echo-Header"), "|")
	for _, want := range []string{"X-Multi=one|X-Multi=two", "X-Single=v a l", "User-Agent=Go-http-client/1.1"} {
		if !strings.Contains(hdrs, want) {
			t.Errorf("request headers %q lack %q", hdrs, want)
		}
	}
	// Chunked request: content_length is -1.
	req, _ = http.NewRequest("POST", ts.base+"/", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	req.ContentLength = -1
	resp, body = ts.do(req)
	if body != "abcd" || resp.Header.Get("X-Echo-Content-Length") != "-1" {
		t.Errorf("chunked echo = %q, content length %q", body, resp.Header.Get("X-Echo-Content-Length"))
	}
}

func TestBinaryBodyRoundTrip(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thEcho, -1)
	ts.start()
	for _, size := range []int{0, 1, 999, 1000, 1001, 65536, 256 << 10} {
		data := make([]byte, size)
		rand.New(rand.NewSource(int64(size))).Read(data)
		for i := 0; i < size; i += 97 {
			data[i] = 0 // NUL bytes everywhere
		}
		req, _ := http.NewRequest("POST", ts.base+"/bin", bytes.NewReader(data))
		resp, body := ts.do(req)
		if resp.StatusCode != 200 || !bytes.Equal([]byte(body), data) {
			t.Fatalf("size %d: status %d, round trip equal=%v (got %d bytes)", size, resp.StatusCode, bytes.Equal([]byte(body), data), len(body))
		}
	}
}

func TestBodyOverMaxIs413(t *testing.T) {
	ts := newServer(t, &tOptions{MaxBodyBytes: 1000})
	ts.route("/", thEcho, -1)
	ts.start()
	resp, body := ts.post("/", strings.Repeat("x", 1000))
	if resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("body at the limit: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = ts.post("/", strings.Repeat("x", 5000))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the limit: status %d, want 413", resp.StatusCode)
	}
	if !strings.Contains(body, "read_body="+strconv.Itoa(eTooLarge)) {
		t.Errorf("handler did not see ETOOLARGE: %q", body)
	}
	// Chunked bodies are bounded the same way.
	req, _ := http.NewRequest("POST", ts.base+"/", io.MultiReader(strings.NewReader(strings.Repeat("y", 800)), strings.NewReader(strings.Repeat("y", 800))))
	req.ContentLength = -1
	resp, _ = ts.do(req)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: status %d", resp.StatusCode)
	}
}

func TestMuxNotFoundAndMethodNotAllowed(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("GET /only", thHello, -1)
	ts.start()
	ts.expectHello("/only")
	if resp, _ := ts.get("/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
	resp, _ := ts.post("/only", "x")
	if resp.StatusCode != 405 {
		t.Errorf("POST /only = %d, want 405", resp.StatusCode)
	}
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestPathValues(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("GET /items/{id}", thPathValue, -1)
	ts.start()
	_, body := ts.get("/items/abcdef")
	want := "id=abcdef n=6 small=abc n2=6 missing=[] n3=0 n4=6\n"
	if body != want {
		t.Errorf("path values = %q, want %q", body, want)
	}
	_, body = ts.get("/items/a%2Fb")
	if !strings.HasPrefix(body, "id=a/b n=3 ") {
		t.Errorf("escaped path value = %q", body)
	}
}

func TestFlushIsChunked(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thFlush, -1)
	ts.start()
	resp, body := ts.get("/")
	if body != "chunk1\nflush=0\n" {
		t.Errorf("body = %q", body)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("TransferEncoding = %v, want chunked", resp.TransferEncoding)
	}
}

func TestAbortClosesConnection(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/abort", thAbort, -1)
	ts.route("/", thHello, -1)
	ts.start()
	resp, err := ts.client.Get(ts.base + "/abort")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The cut ends the chunked body early: unexpected EOF (or a reset).
	// Any other error -- above all the client's own timeout, a response
	// that hung instead of being cut -- fails.
	if err == nil {
		t.Errorf("aborted response read cleanly: %q", body)
	} else if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("aborted response: %v (%T), want unexpected EOF or a reset", err, err)
	}
	if string(body) != "partial" {
		t.Errorf("aborted body = %q, want the partial bytes", body)
	}
	ts.expectHello("/")
}
