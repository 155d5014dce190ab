package main

import (
	"net/http"
	"strings"
	"testing"
)

// Body over max_body_bytes: the handler decides. Its own status (with a
// header set after the failed read) goes out; a body without a status goes
// out under 413; nothing written at all gets the library's 413.
func TestTooLargeBodyHandlerChoosesStatus(t *testing.T) {
	ts := newServer(t, &tOptions{MaxBodyBytes: 1000})
	ts.route("/", thTooLarge, -1)
	ts.start()
	big := strings.Repeat("x", 5000)

	resp, body := ts.post("/", big)
	if resp.StatusCode != 422 || resp.Header.Get("X-Own") != "yes" {
		t.Errorf("own status after too-large read = %d (X-Own %q), want 422", resp.StatusCode, resp.Header.Get("X-Own"))
	}
	if want := "own read=-11 hdr=0 status=0\n"; body != want {
		t.Errorf("own answer body = %q, want %q", body, want)
	}

	resp, body = ts.post("/?implicit", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "implicit read=-11\n" {
		t.Errorf("body without status = %d %q, want 413 with the handler's body", resp.StatusCode, body)
	}

	resp, body = ts.post("/?quiet", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Errorf("nothing written = %d %q, want the library's 413", resp.StatusCode, body)
	}

	// Chunked (size unknown up front) behaves the same.
	req, _ := http.NewRequest("POST", ts.base+"/", strings.NewReader(big))
	req.ContentLength = -1
	resp, _ = ts.do(req)
	if resp.StatusCode != 422 {
		t.Errorf("chunked, own status = %d, want 422", resp.StatusCode)
	}
	// Under the limit nothing changes.
	resp, body = ts.post("/?implicit", "small")
	if resp.StatusCode != 200 || body != "implicit read=0\n" {
		t.Errorf("small body = %d %q", resp.StatusCode, body)
	}
}
