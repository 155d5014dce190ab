package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every request, refused heads included, gets one Common Log Format line
// plus its time in microseconds, written by Go.
func TestAccessLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	ts := newServer(t, &tOptions{AccessLog: path, H2C: 1})
	ts.route("/", thHello, -1)
	ts.start()
	ts.expectHello("/a?b=1")
	got, _ := rawExchange(t, ts, "GET /q\"x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("quote in target: %q", got)
	}
	got, _ = rawExchange(t, ts, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("CL+TE: %q", got)
	}
	cl := h2cClient()
	resp, err := cl.Get(ts.base + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cl.CloseIdleConnections()
	ts.stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	clf := `^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] `
	want := []string{
		clf + `"GET /a\?b=1 HTTP/1\.1" 200 14 \d+$`,
		clf + `"GET /q\\x22x HTTP/1\.1" 200 14 \d+$`,
		clf + `"GOHTTP-REFUSED / HTTP/1\.1" 400 \d+ \d+$`,
		clf + `"GET /h2 HTTP/2\.0" 200 14 \d+$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i, lines[i], re)
		}
	}
	if _, rc, msg := tServerNew(&tOptions{AccessLog: filepath.Join(path, "no", "dir")}); rc != eInval || !strings.Contains(msg, "access_log") {
		t.Errorf("unopenable access_log: %d %q, want EINVAL", rc, msg)
	}
}
