package main

import (
	"strings"
	"testing"
	"time"
)

// Chunked bodies the framing guard accepts beyond the plain upper-case
// form: lower-case hex sizes, mixed case, and chunk extensions (";name" or
// ";name=value", ignored). The handler reads the whole body, in order.
func TestChunkedBodyLowerCaseSizesAndExtensions(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thEcho, -1)
	ts.start()
	head := "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
	part1 := "0123456789"              // a
	part2 := strings.Repeat("x", 0x1f) // 1f
	part3 := strings.Repeat("y", 0xab) // aB
	body := "a;name=value\r\n" + part1 + "\r\n" +
		"1f;flag\r\n" + part2 + "\r\n" +
		"aB \r\n" + part3 + "\r\n" +
		"0\r\n\r\n"
	got, closed := rawExchange(t, ts, head+body, 5*time.Second)
	want := part1 + part2 + part3
	if s := statuses(got); len(s) != 1 || s[0] != 200 || !closed || !strings.HasSuffix(got, want) {
		t.Errorf("statuses %v (closed %v), want one 200 ending in the %d body bytes:\n%q", s, closed, len(want), got)
	}
}

// More malformed chunked bodies: each is a 400 for the client and
// GOHTTP_EBADREQ for the handler's read.
func TestMalformedChunkedBodyFraming(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thEcho, -1)
	ts.start()
	head := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for what, body := range map[string]string{
		"bare LF after the size":     "2\nab\r\n0\r\n\r\n",
		"size line over 4096 bytes":  "2;" + strings.Repeat("e", 5000) + "\r\nab\r\n0\r\n\r\n",
		"empty size":                 ";ext\r\nab\r\n0\r\n\r\n",
		"trailer line without colon": "2\r\nab\r\n0\r\nNoColonHere\r\n\r\n",
	} {
		got, closed := rawExchange(t, ts, head+body, 5*time.Second)
		expectStatuses(t, what, got, closed, 400)
		if !strings.Contains(got, "read_body=-15") {
			t.Errorf("%s: handler did not get GOHTTP_EBADREQ: %q", what, got)
		}
	}
}
