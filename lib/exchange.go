package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// exchange is the Go object behind a response handle: one request and its
// response. C holds only its exchangeTokens token in the exchange table.
type exchange struct {
	srv    *server
	handle uint64

	// mu serializes every call on the exchange: several C threads may
	// write to one response, and http.ResponseWriter is not safe for that.
	mu          sync.Mutex
	rw          http.ResponseWriter
	req         *http.Request
	body        io.ReadCloser // r.Body behind http.MaxBytesReader; see bodyReader
	wroteHeader bool          // final status sent, explicitly or by a write
	aborted     bool          // gohttp_abort was called

	// What ex.end gives back: the request arena (C memory, owned by the
	// exchange until end frees it) and the exchangeTokens token.
	arena unsafe.Pointer
	token uintptr

	// Pull mode only: done is closed by gohttp_done after it ended the
	// exchange; claim says whether a gohttp_next caller took it from the
	// queue or its request goroutine withdrew it (offerOpen/Taken/
	// Withdrawn); userdata is the route's, for gohttp_next.
	done     chan struct{}
	doneOnce sync.Once
	claim    atomic.Int32
	userdata uintptr
	takerTid int       // OS thread that took it with gohttp_next; guarded by srv.mu
	takenAt  time.Time // when gohttp_next handed it out; guarded by srv.mu

	// tooLarge: a body read hit max_body_bytes. The 413 is decided when the
	// handler answers: its own gohttp_write_header status wins; a body
	// written without one goes out under 413; nothing written at all gets
	// the library's 413 at cleanup (exchange.end).
	tooLarge bool
	// bodyFailed: the status a failed body read implies, answered the same
	// way as tooLarge: 400 for a malformed body, 408 for a body that
	// stalled past body_read_timeout.
	bodyFailed int

	sendBy  time.Time // write deadline last set on the connection
	written int64     // body bytes given to rw.Write so far
}

// pendingStatus is the status a failed body read implies when the handler
// sends none itself (0: none). ex.mu held.
func (ex *exchange) pendingStatus() int {
	switch {
	case ex.tooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return ex.bodyFailed
	}
}

// failText is the body of the library's answer to a failed body read.
func failText(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "request body too large"
	case http.StatusBadRequest:
		return "malformed request body"
	case http.StatusRequestTimeout:
		return "request body stalled"
	}
	return http.StatusText(status)
}

// bufferedBody is how much of a response body net/http buffers before it
// writes to the connection (its bufferBeforeChunkingSize).
const bufferedBody = 2048

// refreshSend moves the connection's write deadline to now+send_timeout
// when less than half of it is left, so a client that stops reading frees
// the handler within send_timeout while a steady writer pays for one
// deadline update per half period. ex.mu held.
func (ex *exchange) refreshSend() {
	d := ex.srv.opts.sendTimeout
	if d <= 0 {
		return
	}
	now := time.Now()
	if now.Before(ex.sendBy.Add(-d / 2)) {
		return
	}
	by := ex.srv.writeBy(ex.req, now)
	if by.Equal(ex.sendBy) {
		return // held at the write_timeout end
	}
	ex.sendBy = by
	_ = http.NewResponseController(ex.rw).SetWriteDeadline(ex.sendBy)
}

// bodyReader is the request body limited to max_body_bytes, each read
// bounded by body_read_timeout, made on first use: most handlers never
// read the body, and this spares them the wrappers' allocation. Called
// before the exchange is published (seed) or with ex.mu held (read_body),
// so it is never made twice.
func (ex *exchange) bodyReader() io.ReadCloser {
	if ex.body == nil {
		var r io.ReadCloser = ex.req.Body
		if d := ex.srv.opts.bodyReadTimeout; d > 0 && ex.req.Body != http.NoBody {
			r = &stallReader{ReadCloser: r, rc: http.NewResponseController(ex.rw), d: d}
		}
		ex.body = http.MaxBytesReader(ex.rw, r, ex.srv.opts.maxBodyBytes)
	}
	return ex.body
}

// stallReader gives each read of the request body d to receive data (a
// read deadline on the connection), and clears the deadline at the end of
// the body: net/http's background read that follows must not time out.
// After a failed read the rest of the body is never read (done).
type stallReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	done bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	if !s.done {
		_ = s.rc.SetReadDeadline(time.Now().Add(s.d))
	}
	n, err := s.ReadCloser.Read(p)
	if err != nil && !s.done {
		s.done = true
		if err == io.EOF {
			_ = s.rc.SetReadDeadline(time.Time{})
		} else {
			// The body failed: net/http must not wait on it again (it
			// reads the rest to discard it before sending the response
			// headers), so every later read fails at once and the
			// connection closes after the response.
			_ = s.rc.SetReadDeadline(time.Unix(1, 0))
		}
	}
	return n, err
}

// bodyError maps a failed body read to its code and records the status it
// implies. ex.mu held.
func (ex *exchange) bodyError(op string, err error) int {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		ex.tooLarge = true
		return fail(codeTooLarge, "%s: request body exceeds max_body_bytes (%d)", op, tooLarge.Limit)
	case errors.Is(err, errBadFraming):
		ex.bodyFailed = http.StatusBadRequest
		return fail(codeBadReq, "%s: %v", op, err)
	case errors.As(err, &ne) && ne.Timeout():
		ex.bodyFailed = http.StatusRequestTimeout
		return fail(codeTimedOut, "%s: no body data within body_read_timeout (%v)", op, ex.srv.opts.bodyReadTimeout)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne),
		errors.Is(err, http.ErrBodyReadAfterClose), errors.Is(err, net.ErrClosed):
		return fail(codeIO, "%s: %v", op, err)
	default:
		// net/http's own refusals of a body (chunk encoding errors, a
		// trailer it cannot parse) are plain errors.
		ex.bodyFailed = http.StatusBadRequest
		return fail(codeBadReq, "%s: %v", op, err)
	}
}

// lookupExchange resolves a payload of the exchange table to its exchange.
// A payload that names none is a bug in this package, never input (the C
// table hands out only payloads exchange.begin registered): it panics, and
// the export's recoverInto turns that into GOHTTP_EPANIC.
func lookupExchange(p C.uintptr_t) *exchange {
	ex := exchangeTokens.get(uintptr(p))
	if ex == nil {
		panic("gohttp: exchange table payload is not an exchange")
	}
	return ex
}

// withExchange resolves w, holds its use-reference and the exchange mutex
// for the duration of fn, and gives both back. A stale, freed, forged or 0
// handle never reaches fn: GOHTTP_ESTALE (counted, last error set).
func withExchange(w C.gohttp_handle, fn func(ex *exchange) int64) int64 {
	p := C.gohttp__exchange_acquire(C.uint64_t(w))
	if p == 0 {
		return int64(codeStale)
	}
	defer C.gohttp__exchange_release(C.uint64_t(w))
	return withPayload(p, fn)
}

// withPayload is withExchange for a caller that already holds the
// use-reference (the C half of gohttp_write): it resolves the payload and
// holds the exchange mutex for the duration of fn.
func withPayload(p C.uintptr_t, fn func(ex *exchange) int64) int64 {
	testPanicPoint()
	ex := lookupExchange(p)
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return fn(ex)
}

// gohttp_write_header: contract in gohttp.h. Serialized with every other
// call on the exchange by ex.mu (withExchange).
//
//export gohttp_write_header
func gohttp_write_header(w C.gohttp_handle, status C.int) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(withExchange(w, func(ex *exchange) int64 {
		return int64(ex.writeHeader(int(status)))
	}))
}

func (ex *exchange) writeHeader(status int) int {
	if status < 100 || status > 999 {
		return fail(codeInval, "write_header: status %d outside 100..999", status)
	}
	if ex.wroteHeader {
		return fail(codeState, "write_header(%d): status already sent", status)
	}
	if status < 200 {
		ex.refreshSend() // 1xx go out at once; a final status waits
	}
	ex.rw.WriteHeader(status)
	// 1xx other than 101 are informational: net/http sends them at once
	// and the final status is still to come.
	if status >= 200 || status == http.StatusSwitchingProtocols {
		ex.wroteHeader = true
	}
	return codeOK
}

// headerArgs validates a header name (RFC 7230 token) and value (no control
// byte), both bounded by the server's max_header_bytes. A Content-Length
// must be digits, and only set_header may replace one: any other op (add,
// or a one-call response adding its headers) with one already set is
// GOHTTP_EINVAL.
func (ex *exchange) headerArgs(op string, name *C.gohttp__cchar, nameLen C.size_t, value *C.gohttp__cchar, valueLen C.size_t, withValue bool) (string, string, int) {
	limit := ex.srv.opts.maxHeaderBytes
	n, code := bytesArg(op, "name", name, nameLen, limit)
	if code != codeOK {
		return "", "", code
	}
	if !isToken(n) {
		return "", "", fail(codeInval, "%s: header name %q is not an HTTP token", op, n)
	}
	if !withValue {
		return n, "", codeOK
	}
	v, code := bytesArg(op, "value", value, valueLen, limit)
	if code != codeOK {
		return "", "", code
	}
	if i := badValueByte(v); i >= 0 {
		return "", "", fail(codeInval, "%s: header %s value has the control byte 0x%02x at %d", op, n, v[i], i)
	}
	if ex.wroteHeader {
		return "", "", fail(codeState, "%s %s: headers already sent", op, n)
	}
	if asciiEqualFold([]byte(n), "content-length") {
		// Two Content-Lengths, or one that is not a plain number, make
		// the client read part of the body as the next response.
		if !isDigits(v) {
			return "", "", fail(codeInval, "%s: Content-Length %q is not 1 to 18 digits", op, v)
		}
		if op != "set_header" && len(ex.rw.Header()["Content-Length"]) > 0 {
			return "", "", fail(codeInval, "%s: a second Content-Length (%q after %q)", op, v, ex.rw.Header().Get("Content-Length"))
		}
	}
	return n, v, codeOK
}

// gohttp_set_header: contract in gohttp.h. Name and value are copied
// before return; validation in headerArgs.
//
//export gohttp_set_header
func gohttp_set_header(w C.gohttp_handle, name *C.gohttp__cchar, nameLen C.size_t, value *C.gohttp__cchar, valueLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(putHeader(w, false, name, nameLen, value, valueLen))
}

// gohttp_add_header: contract in gohttp.h; as gohttp_set_header but adds a
// value instead of replacing.
//
//export gohttp_add_header
func gohttp_add_header(w C.gohttp_handle, name *C.gohttp__cchar, nameLen C.size_t, value *C.gohttp__cchar, valueLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(putHeader(w, true, name, nameLen, value, valueLen))
}

// putHeader is gohttp_add_header (add) and gohttp_set_header (!add): the
// same checks, then Header().Add or Header().Set.
func putHeader(w C.gohttp_handle, add bool, name *C.gohttp__cchar, nameLen C.size_t, value *C.gohttp__cchar, valueLen C.size_t) int64 {
	op := "set_header"
	if add {
		op = "add_header"
	}
	return withExchange(w, func(ex *exchange) int64 {
		n, v, code := ex.headerArgs(op, name, nameLen, value, valueLen, true)
		if code != codeOK {
			return int64(code)
		}
		if add {
			ex.rw.Header().Add(n, v)
		} else {
			ex.rw.Header().Set(n, v)
		}
		return int64(codeOK)
	})
}

// gohttp_del_header: contract in gohttp.h.
//
//export gohttp_del_header
func gohttp_del_header(w C.gohttp_handle, name *C.gohttp__cchar, nameLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(withExchange(w, func(ex *exchange) int64 {
		n, _, code := ex.headerArgs("del_header", name, nameLen, nil, 0, false)
		if code != codeOK {
			return int64(code)
		}
		if ex.wroteHeader {
			return int64(fail(codeState, "del_header %s: headers already sent", n))
		}
		ex.rw.Header().Del(n)
		return int64(codeOK)
	}))
}

// gohttp__go_write is the Go half of gohttp_write (contract in gohttp.h;
// the C half in shim/dispatch.c holds the use-reference on the handle
// whose payload is p). buf is only read during the call.
//
//export gohttp__go_write
func gohttp__go_write(p C.uintptr_t, buf *C.gohttp__cvoid, n C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	return C.int64_t(withPayload(p, func(ex *exchange) int64 {
		return ex.write(unsafe.Pointer(buf), int64(n))
	}))
}

// write copies n bytes of C memory into the response (net/http buffers or
// sends them before returning; nothing keeps the slice).
func (ex *exchange) write(buf unsafe.Pointer, n int64) int64 {
	if n < 0 {
		return int64(fail(codeInval, "write: negative length %d", n))
	}
	if buf == nil && n > 0 {
		return int64(fail(codeInval, "write: buf is NULL with length %d", n))
	}
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(buf), n)
	}
	ex.implicitStatus()
	// net/http keeps the first bufferedBody bytes of a response in its own
	// buffer until the handler returns (front.ServeHTTP sets the deadline
	// of that final flush); only bytes past them may reach the socket now.
	if ex.written += n; ex.written > bufferedBody {
		ex.refreshSend()
	}
	m, err := ex.rw.Write(b)
	ex.wroteHeader = true
	switch {
	case errors.Is(err, http.ErrBodyNotAllowed):
		return int64(fail(codeState, "write: the status sent does not allow a body"))
	case errors.Is(err, http.ErrContentLength):
		return int64(fail(codeLength, "write: %d bytes past the declared Content-Length %s", n-int64(m), ex.rw.Header().Get("Content-Length")))
	case err != nil:
		return int64(fail(codeIO, "write: %v", err))
	}
	return int64(m)
}

// implicitStatus sends 413 as the status a write or flush without an
// explicit gohttp_write_header implies, when a body read hit
// max_body_bytes: the handler did not choose 200, it just wrote. A status
// the handler sent itself (ex.wroteHeader) is left alone. ex.mu held.
func (ex *exchange) implicitStatus() {
	if st := ex.pendingStatus(); st != 0 && !ex.wroteHeader {
		ex.rw.WriteHeader(st)
		ex.wroteHeader = true
	}
}

// gohttp_flush: contract in gohttp.h. Uses http.ResponseController so a
// wrapped ResponseWriter still flushes.
//
//export gohttp_flush
func gohttp_flush(w C.gohttp_handle) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(withExchange(w, func(ex *exchange) int64 {
		ex.implicitStatus()
		ex.refreshSend()
		err := http.NewResponseController(ex.rw).Flush()
		ex.wroteHeader = true
		if err != nil {
			return int64(fail(codeIO, "flush: %v", err))
		}
		return int64(codeOK)
	}))
}

// gohttp_abort: contract in gohttp.h. Only marks the exchange; route.ServeHTTP
// panics with http.ErrAbortHandler after its cleanup.
//
//export gohttp_abort
func gohttp_abort(w C.gohttp_handle) (rc C.int) {
	defer recoverInto(&rc)
	return C.int(withExchange(w, func(ex *exchange) int64 {
		ex.aborted = true
		return int64(codeOK)
	}))
}

// gohttp_read_body: contract in gohttp.h. buf is only written during the
// call.
//
//export gohttp_read_body
func gohttp_read_body(w C.gohttp_handle, buf unsafe.Pointer, capacity C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	return C.int64_t(withExchange(w, func(ex *exchange) int64 {
		return ex.readBody(buf, int64(capacity))
	}))
}

// readBody reads one chunk of the body into C memory. Past max_body_bytes
// it answers ETOOLARGE and only records it (ex.tooLarge): the status is
// decided when the handler answers, so a handler that catches the error
// and sends its own status (a framework's error page) is not refused.
func (ex *exchange) readBody(buf unsafe.Pointer, capacity int64) int64 {
	if capacity < 0 {
		return int64(fail(codeInval, "read_body: negative capacity %d", capacity))
	}
	if buf == nil && capacity > 0 {
		return int64(fail(codeInval, "read_body: buf is NULL with capacity %d", capacity))
	}
	if capacity == 0 {
		return 0
	}
	if capacity > maxReadChunk {
		capacity = maxReadChunk
	}
	b := unsafe.Slice((*byte)(buf), capacity)
	for {
		n, err := ex.bodyReader().Read(b)
		if n > 0 {
			return int64(n) // an error comes back on the next call
		}
		switch {
		case err == nil:
			continue // a 0, nil read: try again
		case err == io.EOF:
			return 0
		default:
			return int64(ex.bodyError("read_body", err))
		}
	}
}

// gohttp_path_value: contract in gohttp.h (snprintf semantics).
//
//export gohttp_path_value
func gohttp_path_value(w C.gohttp_handle, name *C.gohttp__cchar, buf *C.char, capacity C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	return C.int64_t(withExchange(w, func(ex *exchange) int64 {
		n, code := cStringArg("path_value: name", (*C.char)(unsafe.Pointer(name)), maxPathNameLen)
		if code != codeOK {
			return int64(code)
		}
		if capacity < 0 {
			return int64(fail(codeInval, "path_value: negative capacity %d", int64(capacity)))
		}
		if buf == nil && capacity > 0 {
			return int64(fail(codeInval, "path_value: buf is NULL with capacity %d", int64(capacity)))
		}
		v := ex.req.PathValue(n)
		if capacity > 0 {
			// snprintf semantics: copy what fits, always NUL-terminate.
			m := min(int64(len(v)), int64(capacity)-1)
			dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), m+1)
			copy(dst, v[:m])
			dst[m] = 0
		}
		return int64(len(v))
	}))
}
