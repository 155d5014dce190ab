package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// h2cClient speaks HTTP/2 with prior knowledge on plain TCP.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Protocols: p}}
}

// With h2c, a prior-knowledge client gets HTTP/2 and an HTTP/1.1 client
// gets HTTP/1.1 on the same port, bodies intact both ways.
func TestH2CAndHTTP1OnOnePort(t *testing.T) {
	ts := newServer(t, &tOptions{H2C: 1})
	ts.route("/", thEcho, -1)
	ts.start()
	for _, c := range []struct {
		proto  string
		client *http.Client
	}{{"HTTP/2.0", h2cClient()}, {"HTTP/1.1", ts.client}} {
		for i := 0; i < 3; i++ {
			want := strings.Repeat("x", 70000+i)
			resp, err := c.client.Post(ts.base+"/e", "text/plain", strings.NewReader(want))
			if err != nil {
				t.Fatalf("%s: %v", c.proto, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != c.proto || resp.StatusCode != 200 || string(b) != want {
				t.Fatalf("%s: got %s %s, body %d bytes", c.proto, resp.Proto, resp.Status, len(b))
			}
		}
		c.client.CloseIdleConnections()
	}
}

// Without h2c (the default) a prior-knowledge client gets no HTTP/2.
func TestH2COffByDefault(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	ts.start()
	cl := h2cClient()
	defer cl.CloseIdleConnections()
	if resp, err := cl.Get(ts.base + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP/2 prior knowledge without h2c got %s %s", resp.Proto, resp.Status)
	}
	ts.expectHello("/")
}

// The framing guard stays on HTTP/1.1 connections of an h2c server, and
// the HTTP/2 preface is only taken as the first bytes of a connection.
func TestH2CKeepsFramingGuard(t *testing.T) {
	ts := newServer(t, &tOptions{H2C: 1})
	ts.route("/", thCount, -1)
	ts.start()
	got, closed := rawExchange(t, ts, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 5*time.Second)
	expectStatuses(t, "CL+TE on an h2c server", got, closed, 400)
	// A preface after a first request does not switch the connection to
	// HTTP/2: it stays an HTTP/1 exchange (no binary frame comes back;
	// net/http reads the PRI line as one more HTTP/1 request and closes).
	got, _ = rawExchange(t, ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 2*time.Second)
	if st := statuses(got); len(st) < 1 || st[0] != 200 || strings.Count(got, "HTTP/1.1 ") != len(st) || strings.ContainsRune(got, 0) {
		t.Fatalf("statuses %v\n%q", st, got)
	}
	if _, rc, msg := tServerNew(&tOptions{H2C: 2}); rc != eInval || !strings.Contains(msg, "h2c") {
		t.Errorf("h2c 2: %d %q, want EINVAL", rc, msg)
	}
}
