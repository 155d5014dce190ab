package main

import (
	"fmt"
	"strings"
	"testing"
)

// startOn starts ts on 127.0.0.1:port and returns gohttp_start's result.
func (ts *testServer) startOn(port int) (int, string) {
	ts.t.Helper()
	got, msg := tStart(ts.h, fmt.Sprintf("127.0.0.1:%d", port))
	if got > 0 {
		ts.port = got
		ts.base = fmt.Sprintf("http://127.0.0.1:%d", got)
	}
	return got, msg
}

// With reuse_port on both, two servers listen on one port, and when one of
// them shuts down the other still answers on that port. Without the option
// on either side, the second bind fails with the OS reason.
func TestReusePortSharesOnePort(t *testing.T) {
	first := newServer(t, &tOptions{ReusePort: 1})
	first.route("/", thHello, 0)
	first.start()

	second := newServer(t, &tOptions{ReusePort: 1})
	second.route("/", thHello, 0)
	if got, msg := second.startOn(first.port); got != first.port {
		t.Fatalf("second reuse_port server on port %d: start = %d (%s)", first.port, got, msg)
	}

	plain := newServer(t, nil)
	plain.route("/", thHello, 0)
	if got, msg := plain.startOn(first.port); got != eBind || !strings.Contains(msg, "address already in use") {
		t.Errorf("server without reuse_port on a shared port: start = %d (%s), want EBIND in use", got, msg)
	}

	// Both listeners are in the kernel's group: either may get a
	// connection, and each one answers.
	for i := 0; i < 8; i++ {
		first.expectHello("/")
	}
	first.stop()
	for i := 0; i < 8; i++ {
		second.expectHello("/")
	}
}

// A port held by a server without the option cannot be joined by one with
// it: SO_REUSEPORT has to be on every socket of the port.
func TestReusePortNeedsTheOptionOnEverySocket(t *testing.T) {
	plain := newServer(t, nil)
	plain.route("/", thHello, 0)
	plain.start()

	shared := newServer(t, &tOptions{ReusePort: 1})
	shared.route("/", thHello, 0)
	if got, msg := shared.startOn(plain.port); got != eBind {
		t.Errorf("reuse_port server on a port held without it: start = %d (%s), want EBIND", got, msg)
	}
	plain.expectHello("/")
}
