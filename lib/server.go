package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/cgo"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// serverState is the lifecycle of one server:
//
//	new --start--> running --shutdown--> stopping --(Serve returned,
//	 |                                     Shutdown/Close done, no handler
//	 |                                     left)--> stopped
//	 +--shutdown (never started)--------------------------> stopped
//	new|stopped --free--> freed
type serverState int

const (
	stateNew serverState = iota
	stateRunning
	stateStopping
	stateStopped
	stateFreed
)

// server is the Go object behind a gohttp_server handle. The C table holds
// only the cgo.Handle token of it, never its address.
type server struct {
	handle uint64 // its own gohttp_server handle (for the EDEADLK marker)
	opts   serverOptions
	mux    *http.ServeMux
	hs     *http.Server
	ln     net.Listener      // set at start; closed by beginShutdownMode before it returns
	slots  chan struct{}     // dispatch slots; cap == max_handlers
	conns  connTable         // open connections (max_connections)
	routes map[string]*route // by pattern, for the catch-all dispatch (front.go); guarded by mu
	queue  chan *exchange    // pull mode queue: one place per handler slot
	bell   *C.gohttp__bell   // where gohttp_next waits (shim/doorbell.c)
	held   heldWakes         // done exchanges whose goroutine is not woken yet (heldwake.go)
	h2     bool              // HTTP/2 served (TLS or h2c): see guardConn.h2
	roots  []*os.Root        // static route directories; closed by gohttp_free; guarded by mu
	log    *accessLog        // nil: no access log; closed by gohttp_free
	// metrics: nil without metrics_bind; its listener runs from start
	// until the server has stopped (metrics.go).
	metrics *serverMetrics

	mu            sync.Mutex
	state         serverState
	active        int           // ServeHTTP calls past enterHandler
	serveReturned bool          // Serve goroutine finished
	serveDone     chan struct{} // closed when http.Server.Serve returned (serve)
	closeDone     bool          // Shutdown (and Close if needed) finished
	closing       chan struct{} // closed when shutdown begins (or at free)
	stopped       chan struct{} // closed when state becomes stopped
	// The drain of a shutdown in progress: drainCancel ends it (the
	// remaining connections are then closed), drainTimer calls it at
	// drainDeadline (zero: no deadline, timeout -1). A later
	// gohttp_shutdown with an earlier deadline re-arms the timer. Guarded
	// by mu; drainTimer is nil once the drain finished.
	drainCancel   context.CancelFunc
	drainTimer    *time.Timer
	drainDeadline time.Time
	// pullOpen counts, per OS thread id (gettid), the pulled exchanges that
	// thread took with gohttp_next and nobody has gohttp_done'd yet. It
	// feeds gohttp_wait's EDEADLK diagnosis; guarded by mu.
	pullOpen map[int]int
}

// lookupServer resolves a server handle to its object. The use-reference is
// given back at once: the Go object stays alive by its own reference, and
// no export blocks while holding a server use-reference, so gohttp_free
// never waits on a long gohttp_wait or gohttp_next.
func lookupServer(h C.gohttp_server) (*server, int) {
	var p C.uintptr_t
	if C.gohttp__server_deref(C.uint64_t(h), &p) != 0 {
		return nil, codeStale
	}
	defer C.gohttp__server_release(C.uint64_t(h))
	s, ok := cgo.Handle(p).Value().(*server)
	if !ok {
		panic("gohttp: server table payload is not a server")
	}
	return s, codeOK
}

// gohttp_server_new: contract in gohttp.h. The C table gets a cgo.Handle
// token of the server, never its address.
//
//export gohttp_server_new
func gohttp_server_new(o *C.gohttp__coptions, out *C.gohttp_server) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil {
		return C.int(fail(codeInval, "gohttp_server_new: out is NULL"))
	}
	opts, code := parseOptions(o)
	if code != codeOK {
		return C.int(code)
	}
	if !reserveHandlers(opts.maxHandlers) {
		return C.int(fail(codeInval, "gohttp_options.max_handlers: %d more would bring the live servers of this process above %d (one OS thread per running handler)", opts.maxHandlers, maxHandlersCap))
	}
	s := &server{
		opts:      opts,
		mux:       http.NewServeMux(),
		slots:     make(chan struct{}, opts.maxHandlers),
		queue:     make(chan *exchange, opts.maxHandlers),
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
		serveDone: make(chan struct{}),
		pullOpen:  make(map[int]int),
		held:      newHeldWakes(),
		routes:    make(map[string]*route),
	}
	if opts.accessLog != "" {
		log, err := openAccessLog(opts.accessLog)
		if err != nil {
			releaseHandlers(opts.maxHandlers)
			return C.int(fail(codeInval, "gohttp_options.access_log: %v", err))
		}
		s.log = log
	}
	if opts.metricsBind != "" {
		s.metrics = newServerMetrics(opts.metricsBind)
	}
	s.conns.max = opts.maxConnections
	s.conns.idle = make(map[*guardConn]struct{})
	s.hs = &http.Server{
		Handler:           front{s},
		ConnState:         s.conns.connState,
		ConnContext:       connContext,
		ReadHeaderTimeout: opts.readHeaderTimeout,
		IdleTimeout:       opts.idleTimeout,
		WriteTimeout:      opts.writeTimeout,
		MaxHeaderBytes:    opts.maxHeaderBytes,
	}
	// Owner of the bell: the server; destroyed in gohttp_free.
	s.bell = C.gohttp__bell_new()
	if s.bell == nil {
		releaseHandlers(opts.maxHandlers)
		s.log.close()
		return C.int(fail(codeNoMem, "gohttp_server_new: out of memory"))
	}
	if opts.tlsConfig != nil || opts.h2c {
		// TLS is done by the listener (guard(tls(conn)), front.go), so
		// net/http sees plaintext connections: HTTP/2 negotiated by ALPN
		// reaches it as a connection starting with the HTTP/2 preface,
		// which is what net/http's unencrypted HTTP/2 serves; h2c is the
		// same preface on a plain connection.
		s.h2 = true
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.hs.Protocols = p
	}
	// Owner of gh: the server table entry; deleted in gohttp_free.
	gh := newServerHandle(s)
	h := C.gohttp__server_ref(C.uintptr_t(gh))
	if h == 0 {
		deleteServerHandle(gh)
		C.gohttp__bell_destroy(s.bell)
		releaseHandlers(opts.maxHandlers)
		s.log.close()
		return C.int(fail(codeNoMem, "gohttp_server_new: server table full"))
	}
	s.handle = uint64(h)
	C.gohttp__count_server(1)
	*out = C.gohttp_server(h)
	return 0
}

var registeredAt = regexp.MustCompile(` \(registered at [^)]*\)`)

// addRoute registers h for pattern. ServeMux reports bad and conflicting
// patterns by panicking; that panic is expected input validation here, so
// it is turned into EPATTERN / EEXIST (not counted as a recovered panic).
func (s *server) addRoute(pattern string, h http.Handler) (code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return fail(codeState, "route %q: routes can only be added before start", pattern)
	}
	defer func() {
		if r := recover(); r != nil {
			// Go names the Go source line that registered each pattern;
			// for a C caller that is noise (always this file), so drop it.
			msg := registeredAt.ReplaceAllString(fmt.Sprint(r), "")
			if strings.Contains(msg, "conflicts with pattern") {
				code = fail(codeExist, "%s", msg)
			} else {
				code = fail(codePattern, "%s", msg)
			}
		}
	}()
	s.mux.Handle(pattern, h)
	if rt, ok := h.(*route); ok {
		s.routes[pattern] = rt
	}
	return codeOK
}

// gohttp__route is gohttp_route (pull == 0) and gohttp_route_queue
// (pull != 0), whose contracts are in gohttp.h; the two public functions
// are C wrappers in shim/dispatch.c that pass userdata on as an integer.
// It stays one: the host's userdata is an opaque value, often not a
// pointer at all ((void *)1), and a Go unsafe.Pointer holding such a value
// is a fatal "invalid pointer" when the runtime scans or moves a stack.
// pattern is copied.
//
//export gohttp__route
func gohttp__route(sh C.gohttp_server, pattern *C.gohttp__cchar, fn C.gohttp_handler, userdata C.uintptr_t, pull C.int) (rc C.int) {
	defer recoverInto(&rc)
	s, code := lookupServer(sh)
	if code != codeOK {
		return C.int(code)
	}
	pat, code := cStringArg("pattern", (*C.char)(unsafe.Pointer(pattern)), maxPatternLen)
	if code != codeOK {
		return C.int(code)
	}
	if pull != 0 {
		return C.int(s.addRoute(pat, &route{srv: s, pull: true, userdata: uintptr(userdata)}))
	}
	if fn == nil {
		return C.int(fail(codeInval, "route %q: handler is NULL", pat))
	}
	return C.int(s.addRoute(pat, &route{srv: s, fn: fn, userdata: uintptr(userdata)}))
}

// start binds addr synchronously (so the caller learns a bind failure and
// the real port) and serves in a goroutine.
func (s *server) start(addr string) int {
	return s.startWith(fmt.Sprintf("start %q", addr), func() (net.Listener, int) {
		raw, err := s.listenConfig().Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, fail(codeBind, "%v", err)
		}
		return raw, codeOK
	})
}

// startWith is what gohttp_start and gohttp_start_fd share once the state
// allows a start: listen makes the TCP listener (binding an address or
// taking over a descriptor), then the metrics listener, the framing guard
// (guardListener: TLS, h2c, max_connections) and the Serve goroutine are
// the same for both. Returns the listener's port or a negative code.
func (s *server) startWith(what string, listen func() (net.Listener, int)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return fail(codeState, "%s: server already started or shut down", what)
	}
	raw, code := listen()
	if code != codeOK {
		return code
	}
	if s.metrics != nil {
		if err := s.metrics.start(s); err != nil {
			raw.Close()
			return fail(codeBind, "metrics_bind: %v", err)
		}
	}
	ln := &closeOnceListener{Listener: &guardListener{Listener: raw, s: s}}
	s.ln = ln
	s.state = stateRunning
	go s.serve(ln)
	return raw.Addr().(*net.TCPAddr).Port
}

// listenerFromFD checks that fd is a listening TCP socket and returns a
// listener on a duplicate of it: the caller keeps owning fd. The duplicate
// is made with F_DUPFD_CLOEXEC (atomic, so a fork of the host never
// inherits it); net.FileListener duplicates it once more into the
// listener, and the first duplicate is closed here. Whatever fails, the
// caller's fd is never closed.
func listenerFromFD(fd int) (net.Listener, int) {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		if errors.Is(err, syscall.ENOTSOCK) {
			return nil, fail(codeInval, "fd %d is not a socket", fd)
		}
		return nil, fail(codeInval, "fd %d: %v", fd, err)
	}
	domain, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	if err != nil {
		return nil, fail(codeInval, "fd %d: SO_DOMAIN: %v", fd, err)
	}
	if typ != syscall.SOCK_STREAM || (domain != syscall.AF_INET && domain != syscall.AF_INET6) {
		return nil, fail(codeInval, "fd %d is not a TCP socket (only TCP listeners are served)", fd)
	}
	acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return nil, fail(codeInval, "fd %d: SO_ACCEPTCONN: %v", fd, err)
	}
	if acc == 0 {
		return nil, fail(codeInval, "fd %d is a TCP socket that is not listening (call listen first)", fd)
	}
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, fail(codeBind, "fd %d: dup: %v", fd, errno)
	}
	// Owner of f: this function; closed below, the listener has its own
	// descriptor.
	f := os.NewFile(dup, fmt.Sprintf("gohttp-listener-fd-%d", fd))
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fail(codeBind, "fd %d: %v", fd, err)
	}
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		ln.Close()
		return nil, fail(codeInval, "fd %d is not a TCP listener", fd)
	}
	return ln, codeOK
}

// listenConfig is how start binds: plain, or with SO_REUSEPORT set on the
// socket before bind when the reuse_port option asks for it (the option has
// to be on every socket sharing the port, and the kernel only lets sockets
// of the same effective user share it).
func (s *server) listenConfig() *net.ListenConfig {
	if !s.opts.reusePort {
		return &net.ListenConfig{}
	}
	return &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt SO_REUSEPORT: %w", serr)
		}
		return nil
	}}
}

// soReusePort is SO_REUSEPORT from asm-generic/socket.h (15, on x86-64 and
// arm64 alike). The standard syscall package names it for linux/arm64 but
// not for linux/amd64.
const soReusePort = 0xf

// closeOnceListener makes Close idempotent: beginShutdownMode closes the
// listener itself (so it is closed when gohttp_shutdown returns), and
// http.Server.Shutdown closes it again; that second close must not report
// "use of closed network connection", which Shutdown would return as its
// error and which would be mistaken for a drain that ran out of time.
type closeOnceListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *closeOnceListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// serve runs http.Server.Serve until shutdown. If Serve fails on its own
// the server shuts itself down so wait still ends. When beginShutdownMode
// closed the listener before http.Server.Shutdown marked the server as
// shutting down, Serve returns the accept error instead of ErrServerClosed;
// the state is stopping by then, and the self-shutdown below must not
// touch that drain (it would cut it to 0): it only acts on a running server.
func (s *server) serve(ln net.Listener) {
	err := s.hs.Serve(ln)
	close(s.serveDone)
	if !errors.Is(err, http.ErrServerClosed) {
		s.beginShutdownMode(0, false, true)
	}
	s.mu.Lock()
	s.serveReturned = true
	s.checkStoppedLocked()
	s.mu.Unlock()
}

// startExport is the shared body of gohttp_start and gohttp_listen_and_serve:
// validate the handle and address, then bind. Returns the server and the
// bound port, or nil and a negative code.
func startExport(sh C.gohttp_server, addr *C.gohttp__cchar) (*server, C.int) {
	s, code := lookupServer(sh)
	if code != codeOK {
		return nil, C.int(code)
	}
	a, code := cStringArg("addr", (*C.char)(unsafe.Pointer(addr)), maxAddrLen)
	if code != codeOK {
		return nil, C.int(code)
	}
	port := C.int(s.start(a))
	if port < 0 {
		return nil, port
	}
	return s, port
}

// gohttp_start: contract in gohttp.h. Binds before returning.
//
//export gohttp_start
func gohttp_start(sh C.gohttp_server, addr *C.gohttp__cchar) (rc C.int) {
	defer recoverInto(&rc)
	_, port := startExport(sh, addr)
	return port
}

// gohttp_start_fd: contract in gohttp.h. The state is checked before the
// descriptor is looked at, so a started server answers ESTATE whatever fd
// is; a negative fd is EINVAL before either.
//
//export gohttp_start_fd
func gohttp_start_fd(sh C.gohttp_server, fd C.int) (rc C.int) {
	defer recoverInto(&rc)
	s, code := lookupServer(sh)
	if code != codeOK {
		return C.int(code)
	}
	if fd < 0 {
		return C.int(fail(codeInval, "gohttp_start_fd: fd %d is negative", int(fd)))
	}
	return C.int(s.startWith(fmt.Sprintf("start on fd %d", int(fd)), func() (net.Listener, int) {
		return listenerFromFD(int(fd))
	}))
}

// gohttp_listen_and_serve: contract in gohttp.h: start, then wait forever.
//
//export gohttp_listen_and_serve
func gohttp_listen_and_serve(sh C.gohttp_server, addr *C.gohttp__cchar) (rc C.int) {
	defer recoverInto(&rc)
	s, port := startExport(sh, addr)
	if s == nil {
		return port
	}
	return C.int(s.wait(0, true))
}

// beginShutdown starts a graceful shutdown and returns at once: it never
// blocks, so it is safe from inside a handler of this very server. It
// closes the listener itself, then a goroutine runs http.Server.Shutdown
// until the drain deadline, and Close() if handlers are still running. A
// later call can only bring the deadline forward.
func (s *server) beginShutdown(timeout time.Duration) {
	s.beginShutdownMode(timeout, false, false)
}

// beginShutdownMode is beginShutdown with the -1 (forever) timeout, and,
// with onlyIfRunning, no effect on a shutdown already in progress (for the
// server's own shutdown after Serve failed).
func (s *server) beginShutdownMode(timeout time.Duration, forever, onlyIfRunning bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if onlyIfRunning && s.state != stateRunning {
		return
	}
	switch s.state {
	case stateNew:
		// Never served: nothing to drain.
		s.state = stateStopped
		s.serveReturned, s.closeDone = true, true
		close(s.closing)
		close(s.stopped)
		C.gohttp__bell_close(s.bell) // waiting gohttp_next callers: ECLOSED
		return
	case stateRunning:
		s.state = stateStopping
		close(s.closing)
		// The contract says the listener closes now: close it before
		// returning, so a connection attempted after gohttp_shutdown
		// returned is refused, not accepted and then drained. Shutdown
		// below closes it again (a no-op, closeOnceListener). A close
		// error leaves nothing to retry: the socket is gone either way,
		// and Serve returns on its next accept.
		_ = s.ln.Close()
	case stateStopping:
		s.shortenDrainLocked(timeout, forever)
		return
	default:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.drainCancel = cancel
	s.shortenDrainLocked(timeout, forever)
	go func() {
		s.awaitFresh(ctx)
		if err := s.hs.Shutdown(ctx); err != nil && ctx.Err() != nil {
			// Handlers outlived the timeout: close their connections.
			// The handlers themselves still run to completion (Go cannot
			// stop a C function); wait covers them through s.active.
			s.hs.Close()
		}
		s.mu.Lock()
		if s.drainTimer != nil {
			s.drainTimer.Stop()
			s.drainTimer = nil
		}
		s.drainCancel = nil
		s.closeDone = true
		s.checkStoppedLocked()
		s.mu.Unlock()
		cancel()
	}()
}

// freshGrace bounds how long a shutdown waits for the first request of
// the connections accepted before the listener closed.
const freshGrace = 250 * time.Millisecond

// awaitFresh waits, before http.Server.Shutdown, until every connection
// accepted before the listener closed has brought its first request to
// the front handler (or closed), at most freshGrace and never past the
// drain (ctx). Shutdown would close such a connection without an answer
// once it reads the request (net/http drops a request read after
// Shutdown began), yet its client sent the request to a listening
// server: with several processes serving one socket (gohttp_start_fd),
// a client cannot tell that it reached the one that was stopping. A
// request that arrives in time is served as an in-flight one.
//
// It first waits for Serve to return: a connection that Serve's Accept
// took from the socket just before the listener closed is counted fresh
// only inside that Accept (guardListener.Accept admits it after the
// socket handed it over), so a count taken while an Accept is still
// under way can miss it, and net/http would then drop its request.
func (s *server) awaitFresh(ctx context.Context) {
	give := time.NewTimer(freshGrace)
	defer give.Stop()
	select {
	case <-s.serveDone:
	case <-give.C:
		return
	case <-ctx.Done():
		return
	}
	if s.conns.fresh.Load() == 0 {
		return
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.conns.fresh.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-give.C:
			return
		case <-tick.C:
		}
	}
}

// shortenDrainLocked arms the drain deadline now+timeout if it is earlier
// than the one in force (or none is): a second gohttp_shutdown with a
// shorter timeout shortens the drain, a longer one or -1 never extends
// it. No-op once the drain finished. s.mu must be held.
func (s *server) shortenDrainLocked(timeout time.Duration, forever bool) {
	if forever || s.drainCancel == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	if !s.drainDeadline.IsZero() && !deadline.Before(s.drainDeadline) {
		return
	}
	if s.drainTimer != nil {
		s.drainTimer.Stop()
	}
	s.drainDeadline = deadline
	s.drainTimer = time.AfterFunc(timeout, s.drainCancel)
}

// checkStoppedLocked moves stopping -> stopped once nothing of the server
// runs any more. s.mu must be held.
func (s *server) checkStoppedLocked() {
	if s.state == stateStopping && s.serveReturned && s.closeDone && s.active == 0 {
		s.state = stateStopped
		s.metrics.stop()
		close(s.stopped)
		C.gohttp__bell_close(s.bell) // waiting gohttp_next callers: ECLOSED
	}
}

// serverAndTimeout is the argument check shared by gohttp_shutdown and
// gohttp_wait: the server handle first (a stale handle is ESTALE whatever
// the timeout), then the wait-style timeout.
func serverAndTimeout(sh C.gohttp_server, name string, ms C.int64_t) (*server, time.Duration, bool, int) {
	s, code := lookupServer(sh)
	if code != codeOK {
		return nil, 0, false, code
	}
	d, forever, code := timeoutArg(name, ms)
	if code != codeOK {
		return nil, 0, false, code
	}
	return s, d, forever, codeOK
}

// gohttp_shutdown: contract in gohttp.h. Never blocks (beginShutdownMode).
//
//export gohttp_shutdown
func gohttp_shutdown(sh C.gohttp_server, timeoutMS C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	s, d, forever, code := serverAndTimeout(sh, "gohttp_shutdown", timeoutMS)
	if code != codeOK {
		return C.int(code)
	}
	s.beginShutdownMode(d, forever, false)
	return 0
}

// wait blocks until the server is stopped. Called from inside one of its
// own handlers (or with one of its pulled exchanges open on this thread) it
// would wait on itself: EDEADLK.
//
// It must run on the C thread of the export that called it (gettid names
// the caller): pulled exchanges are counted per taker thread id.
func (s *server) wait(d time.Duration, forever bool) int {
	if C.gohttp__thread_serves(C.uint64_t(s.handle)) != 0 {
		return fail(codeDeadlk, "gohttp_wait: called from inside one of the server's own handlers")
	}
	if s.holdsPulled(syscall.Gettid()) {
		return fail(codeDeadlk, "gohttp_wait: the calling thread holds a pulled exchange of this server (gohttp_done it first)")
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st == stateNew {
		return fail(codeState, "gohttp_wait: server was never started")
	}
	select { // a 0 timeout polls: an already stopped server must win
	case <-s.stopped:
		return codeOK
	default:
	}
	if forever {
		<-s.stopped
		return codeOK
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopped:
		return codeOK
	case <-t.C:
		return fail(codeTimedOut, "gohttp_wait: server still running after %v", d)
	}
}

// gohttp_wait: contract in gohttp.h.
//
//export gohttp_wait
func gohttp_wait(sh C.gohttp_server, timeoutMS C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	s, d, forever, code := serverAndTimeout(sh, "gohttp_wait", timeoutMS)
	if code != codeOK {
		return C.int(code)
	}
	return C.int(s.wait(d, forever))
}

// gohttp_free: contract in gohttp.h. The state is checked and set to freed
// under s.mu before the handle is freed, so a racing start cannot revive it.
//
//export gohttp_free
func gohttp_free(sh C.gohttp_server) (rc C.int) {
	defer recoverInto(&rc)
	gh, code := claimForFree(sh)
	if code != codeOK {
		return C.int(code)
	}
	// The use-reference is back (claimForFree), so the free below, which
	// waits for every use-reference, cannot wait on our own.
	C.gohttp__server_free(C.uint64_t(sh))
	srv := gh.Value().(*server)
	// After the handle free no new gohttp_next can register on the bell;
	// destroy waits for those that did to leave.
	C.gohttp__bell_destroy(srv.bell)
	srv.closeRoots()
	srv.log.close()
	releaseHandlers(srv.opts.maxHandlers)
	deleteServerHandle(gh)
	C.gohttp__count_server(-1)
	return 0
}

// claimForFree resolves sh and moves its server to stateFreed if it may be
// freed (never started, or stopped). The use-reference is given back by
// defer, as in lookupServer, so a panic here cannot leave one behind (it
// would make every later free of the handle wait forever).
func claimForFree(sh C.gohttp_server) (cgo.Handle, int) {
	var p C.uintptr_t
	if C.gohttp__server_deref(C.uint64_t(sh), &p) != 0 {
		return 0, codeStale
	}
	defer C.gohttp__server_release(C.uint64_t(sh))
	testPanicPoint()
	gh := cgo.Handle(p)
	s, ok := gh.Value().(*server)
	if !ok {
		panic("gohttp: server table payload is not a server")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning, stateStopping:
		return 0, fail(codeBusy, "gohttp_free: server is running; shutdown and wait first")
	case stateFreed:
		// Lost a race with another gohttp_free of the same handle.
		C.gohttp__count_stale()
		return 0, fail(codeStale, "gohttp_free: server already freed")
	case stateNew:
		// Wake gohttp_next callers blocked on a server that never ran.
		close(s.closing)
		close(s.stopped)
		C.gohttp__bell_close(s.bell) // waiting gohttp_next callers: ECLOSED
	}
	s.state = stateFreed
	return gh, codeOK
}

// enterHandler admits a request into the server's handler count; false
// once the server has stopped (a connection that raced the final Close),
// so no handler ever runs after gohttp_wait returned 0.
func (s *server) enterHandler() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateStopped || s.state == stateFreed {
		return false
	}
	s.active++
	return true
}

func (s *server) leaveHandler() {
	s.mu.Lock()
	s.active--
	s.checkStoppedLocked()
	s.mu.Unlock()
}

// takeSlot waits up to queue_timeout_ms for a dispatch slot (false on
// timeout or when the client went away first).
func (s *server) takeSlot(ctx context.Context) bool {
	if faultFail(faultSlot) {
		return false // as if every slot stayed busy (fault injection)
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	if m := s.metrics; m != nil {
		m.queueWaits.Add(1)
	}
	t := time.NewTimer(s.opts.queueTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return true
	case <-t.C:
		if m := s.metrics; m != nil {
			m.queueTimeouts.Add(1)
		}
		return false
	case <-ctx.Done():
		return false
	}
}

func (s *server) releaseSlot() { <-s.slots }
