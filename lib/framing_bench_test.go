package main

// What the framing guard costs per request head, apart from the network:
//
//	make lib && go test -tags=gohttp_test -run - -bench Guard ./lib

import (
	"net"
	"testing"
)

// headConn answers every Read with the same request head.
type headConn struct {
	net.Conn
	head []byte
}

func (c *headConn) Read(p []byte) (int, error) { return copy(p, c.head), nil }

// benchGuard reads head through a guardConn with the default limits b.N
// times; each read must hand all of it on (a head with no body leaves the
// guard ready for the next one).
func benchGuard(b *testing.B, head string) {
	opts, _ := parseOptions(nil)
	g := newGuardConn(&headConn{head: []byte(head)}, opts.limits)
	p := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := g.Read(p); n != len(head) || err != nil {
			b.Fatalf("read %d of %d bytes (%v), guard state %d", n, len(head), err, g.st)
		}
	}
}

// The head wrk sends.
func BenchmarkGuardShortHead(b *testing.B) {
	benchGuard(b, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n")
}

// A browser's head: ten fields.
func BenchmarkGuardBrowserHead(b *testing.B) {
	benchGuard(b, "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"+
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"+
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"+
		"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"+
		"Connection: keep-alive\r\nCookie: a=1; b=2; session=abcdef0123456789\r\n"+
		"Upgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n\r\n")
}
