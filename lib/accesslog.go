package main

// The access log, written by Go: one line per request in the Common Log
// Format followed by the request time in microseconds,
//
//	127.0.0.1 - - [02/Jan/2006:15:04:05 -0700] "GET /a?b HTTP/1.1" 200 13 118
//
// Off unless gohttp_options.access_log names a file ("-": stdout). Each
// line is one write(2) on a file opened with O_APPEND, so lines of
// several servers or processes sharing the file never interleave.

import (
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

type accessLog struct {
	mu  sync.Mutex
	f   *os.File
	own bool // opened by the server (not stdout): closed by gohttp_free
	buf []byte
}

// openAccessLog opens path for appending ("-" is stdout).
func openAccessLog(path string) (*accessLog, error) {
	if path == "-" {
		return &accessLog{f: os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &accessLog{f: f, own: true}, nil
}

func (l *accessLog) close() {
	if l != nil && l.own {
		l.f.Close()
	}
}

// loggedWriter records the final status and the body bytes of one
// response. It is used by one request at a time (the exchange serializes
// its callers); the line is written after the request finished.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == 101) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for static files.
func (w *loggedWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// line appends the request's log line to the log.
func (l *accessLog) line(r *http.Request, w *loggedWriter, start time.Time) {
	took := time.Since(start).Microseconds()
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendLogSafe(b, r.Method)
	b = append(b, ' ')
	b = appendLogSafe(b, r.RequestURI)
	b = append(b, ' ')
	b = appendLogSafe(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if w.bytes == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, w.bytes, 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, took, 10)
	b = append(b, '\n')
	l.buf = b
	_, _ = l.f.Write(b) // a full disk must not fail the request
}

// appendLogSafe appends s with control bytes, '"', '\\' and bytes >= 0x7f
// escaped as \xHH, so a request line can neither forge a log line nor
// break the quoting.
func appendLogSafe(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}
