package main

// What every connection and request of a server passes before the routes:
// the listener that wraps connections in the framing guard and bounds
// their number (max_connections, idle ones closed first), and the front
// handler that answers refused heads, refuses a NUL in the path, keeps the
// send deadline, and routes paths as sent (no cleaning redirect for the
// catch-all route, never a twice-escaped redirect).

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// handlerBudget is the sum of max_handlers over the live servers of the
// process: each running push handler holds an OS thread, and the Go
// runtime aborts the process past 10000 of them.
var handlerBudget struct {
	mu   sync.Mutex
	used int
}

func reserveHandlers(n int) bool {
	handlerBudget.mu.Lock()
	defer handlerBudget.mu.Unlock()
	if handlerBudget.used+n > maxHandlersCap {
		return false
	}
	handlerBudget.used += n
	return true
}

func releaseHandlers(n int) {
	handlerBudget.mu.Lock()
	handlerBudget.used -= n
	handlerBudget.mu.Unlock()
}

// connTable bounds and tracks the open connections of one server.
type connTable struct {
	mu    sync.Mutex
	max   int
	open  int
	idle  map[*guardConn]struct{}
	shed  atomic.Int64 // idle connections closed to make room
	refus atomic.Int64 // new connections refused (nothing idle to close)
	// fresh counts the admitted connections whose first request has not
	// reached the front handler yet (guardConn.fresh); a shutdown lets
	// them bring it first (server.awaitFresh).
	fresh atomic.Int64
}

// guardListener wraps every accepted connection in the framing guard and
// admits it into the server's connTable.
type guardListener struct {
	net.Listener
	s *server
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cfg := l.s.opts.tlsConfig; cfg != nil {
			// guard(tls(conn)): the guard parses the plaintext. The
			// handshake runs on the connection's own goroutine, at its
			// first read, under net/http's ReadHeaderTimeout deadline.
			c = tls.Server(c, cfg)
		}
		g := newGuardConn(c, l.s.opts.limits)
		g.h2 = l.s.h2
		if l.s.conns.admit(g) {
			return g, nil
		}
		c.Close()
	}
}

// admit counts a new connection; when the table is full an idle one is
// closed to make room, and without one the new connection is refused.
func (t *connTable) admit(g *guardConn) bool {
	t.mu.Lock()
	var victim *guardConn
	if t.open >= t.max {
		for g := range t.idle {
			victim = g
			break
		}
		if victim == nil {
			t.mu.Unlock()
			t.refus.Add(1)
			return false
		}
		delete(t.idle, victim)
		t.shed.Add(1)
	}
	// The victim's slot is handed over now; its StateClosed (which
	// follows the Close below) must not count it twice.
	if victim != nil {
		victim.handedOver = true
	} else {
		t.open++
	}
	g.fresh.Store(true)
	t.fresh.Add(1)
	t.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return true
}

// connState is http.Server.ConnState: it keeps the idle set and the open
// count (a connection refused by admit never reaches it).
func (t *connTable) connState(c net.Conn, st http.ConnState) {
	g, ok := c.(*guardConn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case http.StateIdle:
		if !g.handedOver {
			t.idle[g] = struct{}{}
		}
	case http.StateActive:
		delete(t.idle, g)
	case http.StateClosed, http.StateHijacked:
		t.notFresh(g)
		delete(t.idle, g)
		if !g.handedOver {
			t.open--
		}
		g.handedOver = true
	}
}

// notFresh: g's first request reached the front handler, or g closed.
func (t *connTable) notFresh(g *guardConn) {
	if g.fresh.Load() && g.fresh.CompareAndSwap(true, false) {
		t.fresh.Add(-1)
	}
}

func (t *connTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if g, ok := c.(*guardConn); ok {
		return context.WithValue(ctx, guardKey{}, g)
	}
	return ctx
}

// arrivedKey is the context key of an HTTP/2 request's arrival time.
type arrivedKey struct{}

// front is the server's http.Handler.
type front struct{ s *server }

func (f front) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	// First, so routes, the view and the access log all see the client
	// a trusted proxy names (forwarded.go).
	r = f.s.opts.forwarded.applyForwarded(r)
	if g := guardOf(r.Context()); g != nil {
		f.s.conns.notFresh(g)
	}
	if f.s.log != nil || f.s.metrics != nil {
		lw := &loggedWriter{ResponseWriter: rw}
		start := time.Now()
		if m := f.s.metrics; m != nil {
			m.inFlight.Add(1)
		}
		// Deferred: an aborted request (ErrAbortHandler) is counted
		// and logged too.
		defer f.s.finished(r, lw, start)
		rw = lw
	}
	if r.Method == rejectMethod {
		if g := guardOf(r.Context()); g != nil && g.refusal() != 0 {
			st := g.refusal()
			rw.Header().Set("Connection", "close")
			http.Error(rw, http.StatusText(st), st)
			return
		}
	}
	if strings.IndexByte(r.URL.Path, 0) >= 0 {
		http.Error(rw, "NUL byte in the request path", http.StatusBadRequest)
		return
	}
	s := f.s
	if r.ProtoMajor >= 2 {
		// HTTP/2 streams of one connection run at once: their arrival
		// time is theirs, not the connection's.
		r = r.WithContext(context.WithValue(r.Context(), arrivedKey{}, time.Now()))
	} else if g := guardOf(r.Context()); g != nil {
		g.arrived = time.Now()
	}
	// Writes that can reach the socket while the handler runs (past
	// net/http's buffer, flushes, 1xx) set their own deadline
	// (exchange.refreshSend); this one is for net/http's final flush.
	s.dispatch(rw, r)
	s.sendDeadline(rw, r)
}

// finished logs and counts one request once it is answered.
func (s *server) finished(r *http.Request, lw *loggedWriter, start time.Time) {
	if s.log != nil {
		s.log.line(r, lw, start)
	}
	if m := s.metrics; m != nil {
		status := lw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		m.observe(status, time.Since(start))
		m.inFlight.Add(-1)
	}
}

// scheme is how clients reach the server itself: "https" with TLS.
func (s *server) scheme() string {
	if s.opts.tlsConfig != nil {
		return "https"
	}
	return "http"
}

// queueLeft is what remains of queue_timeout for r: the wait for a slot
// and the wait for a pull worker share one queue_timeout.
func (s *server) queueLeft(r *http.Request) time.Duration {
	t := arrival(r)
	if t.IsZero() {
		return s.opts.queueTimeout
	}
	return max(s.opts.queueTimeout-time.Since(t), 0)
}

// arrival is when the front handler took r (an HTTP/2 stream's own time,
// an HTTP/1 connection's current request), or zero when unknown.
func arrival(r *http.Request) time.Time {
	if r.ProtoMajor >= 2 {
		t, _ := r.Context().Value(arrivedKey{}).(time.Time)
		return t
	}
	if g := guardOf(r.Context()); g != nil {
		return g.arrived
	}
	return time.Time{}
}

// sendDeadline gives the next write send_timeout to complete.
func (s *server) sendDeadline(rw http.ResponseWriter, r *http.Request) {
	if s.opts.sendTimeout > 0 {
		_ = http.NewResponseController(rw).SetWriteDeadline(s.writeBy(r, time.Now()))
	}
}

// writeBy is the write deadline of r's response for a write starting at
// now: now+send_timeout, but never past write_timeout after the request
// arrived. net/http sets that write_timeout deadline when it has read the
// request; a later deadline set here would replace it.
func (s *server) writeBy(r *http.Request, now time.Time) time.Time {
	by := now.Add(s.opts.sendTimeout)
	if s.opts.writeTimeout <= 0 {
		return by
	}
	arrived := arrival(r)
	if end := arrived.Add(s.opts.writeTimeout); !arrived.IsZero() && end.Before(by) {
		return end
	}
	return by
}

// dispatch routes r through the mux. A path that is clean and holds no
// escape goes straight to it. Otherwise: a path that would only match a
// catch-all "/" route reaches that route as sent (ServeMux would redirect
// "//x" or "/a/../b" to a cleaned path); every other route keeps
// ServeMux's matching and redirects, with the redirect target escaped
// once (ServeMux escapes an already escaped path a second time).
func (s *server) dispatch(rw http.ResponseWriter, r *http.Request) {
	esc := r.URL.EscapedPath()
	if r.Method == http.MethodConnect || (strings.IndexByte(esc, '%') < 0 && !needsCleaning(esc)) {
		s.mux.ServeHTTP(rw, r)
		return
	}
	h, pat := s.mux.Handler(r)
	if _, ok := h.(*route); ok {
		s.mux.ServeHTTP(rw, r) // a direct match: the mux fills path values
		return
	}
	if needsCleaning(esc) && isCatchAll(pat) {
		if rt := s.catchAll(pat); rt != nil {
			r.Pattern = pat
			rt.ServeHTTP(rw, r)
			return
		}
	}
	h.ServeHTTP(&onceEscaped{ResponseWriter: rw}, r)
}

// needsCleaning reports whether ServeMux's cleanPath would change p.
func needsCleaning(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	return strings.Contains(p, "//") || strings.Contains(p, "/./") ||
		strings.Contains(p, "/../") || strings.HasSuffix(p, "/.") ||
		strings.HasSuffix(p, "/..")
}

// isCatchAll reports whether a pattern's path is exactly "/" ("/",
// "GET /", "example.com/").
func isCatchAll(pat string) bool {
	if pat == "" {
		return false
	}
	if i := strings.IndexAny(pat, " \t"); i >= 0 {
		pat = strings.TrimLeft(pat[i:], " \t")
	}
	i := strings.IndexByte(pat, '/')
	return i >= 0 && pat[i:] == "/"
}

func (s *server) catchAll(pat string) *route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[pat]
}

// onceEscaped undoes ServeMux's second escaping of a redirect target: the
// mux escapes an already escaped path, which turns every '%' into "%25"
// and nothing else, so each "%25" of the Location is a '%' of the path.
type onceEscaped struct{ http.ResponseWriter }

func (o *onceEscaped) WriteHeader(status int) {
	if status >= 300 && status < 400 {
		h := o.Header()
		if loc := h.Get("Location"); loc != "" {
			path, query, hasQuery := strings.Cut(loc, "?")
			loc = strings.ReplaceAll(path, "%25", "%")
			if hasQuery {
				loc += "?" + query
			}
			h.Set("Location", loc)
		}
	}
	o.ResponseWriter.WriteHeader(status)
}

func (o *onceEscaped) Unwrap() http.ResponseWriter { return o.ResponseWriter }
