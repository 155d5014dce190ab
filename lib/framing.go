package main

// The framing guard: every accepted connection is read through guardConn,
// which follows the HTTP/1.x message boundaries on the wire exactly as
// net/http will (request head, then a Content-Length or chunked body, then
// the next head) and refuses what net/http would accept but a proxy in
// front may read differently:
//
//   - Content-Length together with Transfer-Encoding (request smuggling,
//     RFC 9112 6.1), and Transfer-Encoding in an HTTP/1.0 request (net/http
//     ignores it there and would read the chunked body as the next request);
//   - obs-fold header lines (RFC 9112 5.2);
//   - a request line, a header line or a header count over the server's
//     limits (gunicorn's limit_request_line, limit_request_field_size,
//     limit_request_fields);
//   - Content-Length, Transfer-Encoding, Host and the other framing or
//     routing fields sent as chunked trailers;
//   - a malformed or overflowing chunk size.
//
// A request head is buffered until it is complete and valid, and only then
// handed to net/http, so a refused head never reaches a handler. A refused
// head is replaced by a one-line marker request (rejectMethod) that the
// front handler answers with the status (400 or 431) and Connection:
// close; after it the connection reads EOF. Going through net/http keeps
// the answers of pipelined requests before it in order. A violation inside
// a body is reported to the body's reader as errBadFraming (GOHTTP_EBADREQ
// in the handler, 400 when the handler wrote nothing), and net/http closes
// the connection after the response.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// rejectMethod is the method of the marker request that replaces a refused
// head. A client can send it itself; without a refusal recorded on its
// connection it is an ordinary (unrouted) request.
const rejectMethod = "GOHTTP-REFUSED"

var rejectRequest = []byte(rejectMethod + " / HTTP/1.1\r\nHost: refused\r\n\r\n")

// errBadFraming is what a body read returns after the guard found a
// malformed body (bad chunk size, bad chunk terminator, forbidden trailer).
var errBadFraming = errors.New("gohttp: malformed request body framing")

// framingLimits are the head limits of one server (see gohttp_options).
type framingLimits struct {
	requestLine int // bytes of the request line without CRLF
	fields      int // header lines
	fieldSize   int // bytes of one header line without CRLF
	headBytes   int // whole head (max_header_bytes, as net/http counts it)
}

// forbiddenTrailers are fields a sender must not put in a trailer (RFC
// 9110 6.5.1): message framing, routing, request modifiers, authentication.
var forbiddenTrailers = map[string]bool{
	"content-length": true, "transfer-encoding": true, "host": true,
	"trailer": true, "content-encoding": true, "content-type": true,
	"content-range": true, "expect": true, "max-forwards": true,
	"te": true, "authorization": true, "proxy-authorization": true,
	"cookie": true, "set-cookie": true, "connection": true,
	"keep-alive": true, "upgrade": true, "cache-control": true,
}

type guardState int

const (
	gsHead      guardState = iota // buffering a request head
	gsBody                        // passing remaining Content-Length bytes
	gsChunkSize                   // reading a chunk-size line
	gsChunkData                   // passing remaining chunk bytes
	gsChunkCRLF                   // the CRLF after chunk data
	gsTrailer                     // trailer lines until the empty line
	gsPass                        // net/http refuses this head itself: stop parsing
	gsRefused                     // marker sent; EOF from now on
	gsBadBody                     // errBadFraming from now on
)

// guardConn is a net.Conn whose reads go through the framing guard.
// Reads come from one goroutine at a time (net/http's conn reader);
// refusal is read by the front handler on another goroutine (atomic).
type guardConn struct {
	net.Conn
	lim framingLimits

	st        guardState
	line      []byte // current line of a head, chunk-size line or trailer
	head      []byte // the buffered head so far
	lines     int    // header lines seen in this head / trailer
	cl        []string
	te        []string
	http11    bool  // the request line ends in "HTTP/1.1"
	remaining int64 // body or chunk bytes still to pass

	out     []byte // bytes ready for the reader
	rbuf    []byte
	pending error // underlying read error, returned once out is empty

	refused atomic.Int32 // status of the refusal the marker stands for

	// arrived: when the front handler took the current request (requests
	// of one connection are served one after the other, on one goroutine).
	arrived time.Time

	// h2: the server speaks HTTP/2 on this connection when the client
	// starts with the HTTP/2 preface (TLS, whose ALPN offers h2, or h2c):
	// the guard then passes every byte through. HTTP/2 frames carry their
	// own lengths, and net/http's HTTP/2 server checks Content-Length
	// against the DATA it receives.
	h2 bool
	// heads counts the request heads handed to net/http.
	heads int

	// handedOver: the connTable no longer counts this connection (it was
	// closed to make room, or its close was counted). Guarded by the
	// connTable's mu.
	handedOver bool
	// fresh: accepted, and no request of it reached the front handler
	// yet, nor did it close (connTable.fresh counts these).
	fresh atomic.Bool
}

// keptOut is the largest g.out buffer a connection keeps between reads:
// enough for most request heads, and at most 2 KiB per connection more
// (next to rbuf's 4 KiB) when max_connections are open and idle.
const keptOut = 2048

func newGuardConn(c net.Conn, lim framingLimits) *guardConn {
	return &guardConn{Conn: c, lim: lim, rbuf: make([]byte, 4096)}
}

// refusal is the status (400/431) the marker request stands for, or 0.
func (g *guardConn) refusal() int { return int(g.refused.Load()) }

func (g *guardConn) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		switch g.st {
		case gsRefused:
			return 0, io.EOF
		case gsBadBody:
			return 0, errBadFraming
		}
		if g.pending != nil {
			err := g.pending
			g.pending = nil // a deadline error is not final
			return 0, err
		}
		n, err := g.Conn.Read(g.rbuf)
		if n > 0 {
			g.feed(g.rbuf[:n])
			g.pending = err
			continue
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, g.out)
	switch {
	case n < len(g.out):
		g.out = g.out[n:]
	case cap(g.out) <= keptOut:
		g.out = g.out[:0] // handed on in full: the next feed reuses it
	default:
		g.out = nil // after a large head: not kept for the connection's life
	}
	return n, nil
}

// feed runs b through the state machine, appending what net/http may read
// to g.out.
func (g *guardConn) feed(b []byte) {
	for len(b) > 0 {
		switch g.st {
		case gsPass:
			g.out = append(g.out, b...)
			return
		case gsRefused, gsBadBody:
			return
		case gsBody, gsChunkData:
			n := int64(len(b))
			if n > g.remaining {
				n = g.remaining
			}
			g.out = append(g.out, b[:n]...)
			b = b[n:]
			g.remaining -= n
			if g.remaining == 0 {
				if g.st == gsBody {
					g.st = gsHead
				} else {
					g.st = gsChunkCRLF
				}
			}
		case gsChunkCRLF:
			// Exactly CRLF; the line is accumulated like any other.
			i := bytes.IndexByte(b, '\n')
			take := b
			if i >= 0 {
				take = b[:i+1]
			}
			g.line = append(g.line, take...)
			g.out = append(g.out, take...)
			b = b[len(take):]
			if len(g.line) > 2 {
				g.badBody()
				return
			}
			if i >= 0 {
				if !bytes.Equal(g.line, []byte("\r\n")) {
					g.badBody()
					return
				}
				g.line = g.line[:0]
				g.st = gsChunkSize
			}
		default: // gsHead, gsChunkSize, gsTrailer: line-based
			i := bytes.IndexByte(b, '\n')
			take := b
			if i >= 0 {
				take = b[:i+1]
			}
			g.line = append(g.line, take...)
			b = b[len(take):]
			if g.st == gsHead {
				g.head = append(g.head, take...)
			} else {
				g.out = append(g.out, take...)
			}
			if i < 0 {
				if !g.lineFits() {
					return
				}
				continue
			}
			line := bytes.TrimSuffix(g.line[:len(g.line)-1], []byte("\r"))
			switch g.st {
			case gsHead:
				g.headLine(line)
			case gsChunkSize:
				g.chunkSizeLine(line)
			case gsTrailer:
				g.trailerLine(line)
			}
			g.line = g.line[:0]
		}
	}
}

// lineFits checks an unterminated line against its limit, so no line is
// buffered without bound. False when the guard stopped on it.
func (g *guardConn) lineFits() bool {
	n := len(g.line)
	switch g.st {
	case gsHead:
		if len(g.head) > g.lim.headBytes+4096 {
			g.refuse(431)
			return false
		}
		limit := g.lim.fieldSize
		if g.lines == 0 {
			limit = g.lim.requestLine
		}
		if n > limit+2 {
			if g.lines == 0 {
				g.refuse(400)
			} else {
				g.refuse(431)
			}
			return false
		}
	case gsChunkSize:
		if n > 4096 { // net/http's own chunk-line limit
			g.badBody()
			return false
		}
	case gsTrailer:
		if n > g.lim.fieldSize+2 {
			g.badBody()
			return false
		}
	}
	return true
}

func (g *guardConn) refuse(status int) {
	g.refused.Store(int32(status))
	g.out = append(g.out, rejectRequest...)
	g.head, g.line = nil, nil
	g.st = gsRefused
}

func (g *guardConn) badBody() {
	g.line = nil
	g.st = gsBadBody
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// headLine takes one complete line of a request head (without its line
// end).
func (g *guardConn) headLine(line []byte) {
	if g.lines == 0 {
		if len(line) == 0 && len(g.head) <= 2 {
			// Empty lines before a request line: RFC 9112 2.2 lets a
			// server ignore them, and net/http reads the first as a
			// malformed request line. Refuse it ourselves.
			g.refuse(400)
			return
		}
		if len(line) > g.lim.requestLine {
			g.refuse(400)
			return
		}
		sp := bytes.LastIndexByte(line, ' ')
		g.http11 = sp >= 0 && string(line[sp+1:]) == "HTTP/1.1"
		g.lines = 1
		return
	}
	if len(line) == 0 {
		g.endHead()
		return
	}
	if len(line) > g.lim.fieldSize {
		g.refuse(431)
		return
	}
	if g.lines > g.lim.fields { // g.lines counts the request line too
		g.refuse(431)
		return
	}
	g.lines++
	if isOWS(line[0]) {
		g.refuse(400) // obs-fold
		return
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		// net/http refuses a line without a colon with 400 too.
		g.refuse(400)
		return
	}
	name := line[:colon]
	switch {
	case asciiEqualFold(name, "content-length"):
		g.cl = append(g.cl, fieldValue(line[colon+1:]))
	case asciiEqualFold(name, "transfer-encoding"):
		g.te = append(g.te, fieldValue(line[colon+1:]))
	}
}

// fieldValue is a field line's value without the whitespace around it.
func fieldValue(v []byte) string {
	return string(bytes.Trim(v, " \t"))
}

// endHead decides the framing of the body that follows a complete head
// and hands the head to net/http (or refuses it).
func (g *guardConn) endHead() {
	if g.h2 && g.heads == 0 && bytes.Equal(g.head, http2PrefaceHead) {
		// The first 18 bytes of the HTTP/2 client preface; the rest
		// ("SM\r\n\r\n") and the frames are net/http's to check.
		g.flushHead(gsPass)
		return
	}
	cl, te := g.cl, g.te
	g.cl, g.te, g.lines = g.cl[:0], g.te[:0], 0
	switch {
	case len(te) > 0 && len(cl) > 0:
		g.refuse(400)
		return
	case len(te) > 0 && !g.http11:
		g.refuse(400)
		return
	case len(te) > 0:
		if len(te) != 1 || !asciiEqualFold([]byte(te[0]), "chunked") {
			// net/http answers 501 and closes; nothing to follow.
			g.flushHead(gsPass)
			return
		}
		g.flushHead(gsChunkSize)
		return
	case len(cl) > 0:
		n, ok := parseContentLength(cl)
		if !ok {
			g.refuse(400)
			return
		}
		if n > 0 {
			g.remaining = n
			g.flushHead(gsBody)
			return
		}
	}
	g.flushHead(gsHead)
}

// http2PrefaceHead is the HTTP/2 client preface up to its first empty
// line, which reads like a request head with no fields.
var http2PrefaceHead = []byte("PRI * HTTP/2.0\r\n\r\n")

func (g *guardConn) flushHead(next guardState) {
	g.heads++
	g.out = append(g.out, g.head...)
	g.head = g.head[:0]
	g.st = next
}

// parseContentLength accepts one or more identical values of 1 to 18
// digits (no sign, no spaces inside), as RFC 9110 8.6 allows.
func parseContentLength(vals []string) (int64, bool) {
	for _, v := range vals[1:] {
		if v != vals[0] {
			return 0, false
		}
	}
	v := vals[0]
	if v == "" || len(v) > 18 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// chunkSizeLine parses "HEX[;ext]" (at most 15 hex digits, so the size
// never overflows); 0 starts the trailer section.
func (g *guardConn) chunkSizeLine(line []byte) {
	if len(g.line) < 2 || g.line[len(g.line)-2] != '\r' {
		g.badBody() // bare LF: net/http refuses it too
		return
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		g.badBody()
		return
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			g.badBody()
			return
		}
		n = n<<4 | int64(d)
	}
	if n == 0 {
		g.st = gsTrailer
		g.lines = 0
		return
	}
	g.remaining = n
	g.st = gsChunkData
}

func (g *guardConn) trailerLine(line []byte) {
	if len(line) == 0 {
		g.lines = 0
		g.st = gsHead
		return
	}
	g.lines++
	if g.lines > g.lim.fields || len(line) > g.lim.fieldSize || isOWS(line[0]) {
		g.badBody()
		return
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		g.badBody()
		return
	}
	if forbiddenTrailers[string(bytes.ToLower(line[:colon]))] {
		g.badBody()
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// guardKey is the context key of a request's guardConn (set by the
// server's ConnContext).
type guardKey struct{}

func guardOf(ctx context.Context) *guardConn {
	g, _ := ctx.Value(guardKey{}).(*guardConn)
	return g
}
