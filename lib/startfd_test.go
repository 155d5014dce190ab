package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listeningSocket makes a TCP socket listening on 127.0.0.1 with plain
// syscalls (no Go poller involved, so the test owns the descriptor and
// nothing else changes its mode) and returns it with its port. Closed at
// the end of the test unless the test closed it first.
func listeningSocket(t *testing.T) (fd, port int, closeFD func() error) {
	t.Helper()
	var err error
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeFD = closeAtEnd(t, fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*syscall.SockaddrInet4).Port, closeFD
}

// closeAtEnd closes fd when the test ends; the returned function closes it
// earlier, and the cleanup then leaves that number alone (it may belong to
// someone else by then).
func closeAtEnd(t *testing.T, fd int) func() error {
	closed := false
	t.Cleanup(func() {
		if !closed {
			syscall.Close(fd)
		}
	})
	return func() error {
		closed = true
		return syscall.Close(fd)
	}
}

// isOpen reports whether fd is an open descriptor.
func isOpen(fd int) bool {
	_, err := fcntl(fd, syscall.F_GETFD)
	return err == nil
}

func fcntl(fd, cmd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// The server serves on the caller's listening socket and reports its
// port; the caller's descriptor stays open and usable after the call,
// after the caller's close the server still serves (its own duplicate),
// and after the server stopped the socket is still listening: a
// connection made then waits in the accept queue and the caller accepts
// it. That last point is why a supervisor shares one socket with its
// workers: a worker that stops takes no queued connection down with it.
func TestStartFdServesOnTheCallersSocket(t *testing.T) {
	fd, port, closeFD := listeningSocket(t)
	ts := newServer(t, nil)
	ts.route("/", thHello, 0)
	got, msg := tStartFd(ts.h, fd)
	if got != port {
		t.Fatalf("gohttp_start_fd = %d (%s), want the socket's port %d", got, msg, port)
	}
	ts.port = got
	ts.base = fmt.Sprintf("http://127.0.0.1:%d", got)
	if !isOpen(fd) {
		t.Fatal("gohttp_start_fd closed the caller's descriptor")
	}
	if fl, err := fcntl(fd, syscall.F_GETFD); err != nil || fl&syscall.FD_CLOEXEC == 0 {
		t.Errorf("the caller's descriptor flags changed: %#x, %v", fl, err)
	}
	for i := 0; i < 4; i++ {
		ts.expectHello("/")
	}

	// A second descriptor of the same socket, kept by the test, and the
	// first one closed: the server serves on through its duplicate.
	keep, err := fcntl(fd, syscall.F_DUPFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	closeKeep := closeAtEnd(t, keep)
	if err := closeFD(); err != nil {
		t.Fatalf("closing the caller's descriptor after start: %v", err)
	}
	for i := 0; i < 4; i++ {
		ts.expectHello("/")
	}

	ts.stop()
	acc, err := syscall.GetsockoptInt(keep, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil || acc != 1 {
		t.Fatalf("the socket after the server stopped: SO_ACCEPTCONN %d, %v; want still listening", acc, err)
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		t.Fatalf("connect after the server stopped: %v (the queue closed with the server)", err)
	}
	defer c.Close()
	// The library made the socket non-blocking (shared file status):
	// poll the accept.
	deadline := time.Now().Add(2 * time.Second)
	for {
		nfd, _, err := syscall.Accept4(keep, syscall.SOCK_CLOEXEC)
		if err == nil {
			syscall.Close(nfd)
			break
		}
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			t.Fatalf("accept on the caller's socket after the server stopped: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := closeKeep(); err != nil {
		t.Errorf("closing the caller's second descriptor: %v", err)
	}
}

// Every bad descriptor is EINVAL naming the reason, leaves the caller's
// descriptor open and the server startable.
func TestStartFdRejectsWhatIsNotAListeningTCPSocket(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thHello, 0)

	file, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	notListening, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, notListening)
	if err := syscall.Bind(notListening, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	udp, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, udp)
	unix, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, unix)
	if err := syscall.Bind(unix, &syscall.SockaddrUnix{Name: "@gohttp-startfd-test-" + fmt.Sprint(os.Getpid())}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(unix, 4); err != nil {
		t.Fatal(err)
	}
	// A number that is no open descriptor: a descriptor just closed.
	gone, err := fcntl(udp, syscall.F_DUPFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(gone)

	for _, c := range []struct {
		what string
		fd   int
		want string
	}{
		{"-1", -1, "negative"},
		{"a regular file", int(file.Fd()), "not a socket"},
		{"a closed descriptor", gone, "bad file descriptor"},
		{"a bound TCP socket without listen", notListening, "not listening"},
		{"a UDP socket", udp, "not a TCP socket"},
		{"a listening unix socket", unix, "not a TCP socket"},
	} {
		got, msg := tStartFd(ts.h, c.fd)
		if got != eInval || !strings.Contains(msg, c.want) {
			t.Errorf("gohttp_start_fd(%s) = %d (%s), want EINVAL %q", c.what, got, msg, c.want)
		}
		if c.fd >= 0 && c.fd != gone && !isOpen(c.fd) {
			t.Errorf("gohttp_start_fd(%s) closed the caller's descriptor", c.what)
		}
	}

	fd, port, _ := listeningSocket(t)
	if got, msg := tStartFd(ts.h, fd); got != port {
		t.Fatalf("gohttp_start_fd after the refusals = %d (%s), want %d", got, msg, port)
	}
	ts.port = port
	ts.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	ts.expectHello("/")
}

// The state rules of gohttp_start: one start of either kind, none after a
// shutdown, a stale handle is ESTALE.
func TestStartFdStateRules(t *testing.T) {
	fd, _, _ := listeningSocket(t)
	if got, _ := tStartFd(0, fd); got != eStale {
		t.Errorf("gohttp_start_fd(0, fd) = %d, want ESTALE", got)
	}

	addrFirst := newServer(t, nil)
	addrFirst.route("/", thHello, 0)
	addrFirst.start()
	if got, msg := tStartFd(addrFirst.h, fd); got != eState || !strings.Contains(msg, "already started") {
		t.Errorf("gohttp_start_fd after gohttp_start = %d (%s), want ESTATE", got, msg)
	}

	fdFirst := newServer(t, nil)
	fdFirst.route("/", thHello, 0)
	port, msg := tStartFd(fdFirst.h, fd)
	if port <= 0 {
		t.Fatalf("gohttp_start_fd = %d (%s)", port, msg)
	}
	fdFirst.port = port
	fdFirst.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	if got, _ := tStartFd(fdFirst.h, fd); got != eState {
		t.Errorf("second gohttp_start_fd = %d, want ESTATE", got)
	}
	if got, _ := tStart(fdFirst.h, "127.0.0.1:0"); got != eState {
		t.Errorf("gohttp_start after gohttp_start_fd = %d, want ESTATE", got)
	}
	// The state is checked before the descriptor: a started server says
	// ESTATE even for a descriptor that is no socket.
	if got, _ := tStartFd(fdFirst.h, int(os.Stdin.Fd())); got != eState {
		t.Errorf("gohttp_start_fd(stdin) on a started server = %d, want ESTATE", got)
	}
	fdFirst.expectHello("/")

	never := newServer(t, nil)
	if rc := tShutdown(never.h, 0); rc != eOK {
		t.Fatal(rc)
	}
	if got, _ := tStartFd(never.h, fd); got != eState {
		t.Errorf("gohttp_start_fd after gohttp_shutdown = %d, want ESTATE", got)
	}
}

// The listener of gohttp_start_fd goes through the same guard as
// gohttp_start's: a request line over limit_request_line is 400 and the
// connection closes, as TestHeadLimitOptions shows for gohttp_start.
func TestStartFdKeepsTheOptions(t *testing.T) {
	fd, port, _ := listeningSocket(t)
	ts := newServer(t, &tOptions{LimitRequestLine: 64})
	ts.route("/", thHello, 0)
	if got, msg := tStartFd(ts.h, fd); got != port {
		t.Fatalf("gohttp_start_fd = %d (%s)", got, msg)
	}
	ts.port = port
	ts.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	long := "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	got, closed := rawExchange(t, ts, long, 5*time.Second)
	expectStatuses(t, "request line over limit_request_line", got, closed, 400)
	ts.expectHello("/")
}

// silentConnection starts a hello server and opens a connection to it that
// has sent nothing yet, once the server counts it open (closed when the
// test ends).
func silentConnection(t *testing.T) (*testServer, net.Conn) {
	t.Helper()
	ts := newServer(t, nil)
	ts.route("/", thHello, 0)
	ts.start()
	c, err := net.Dial("tcp", ts.base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitFor(t, 5*time.Second, "the connection accepted", func() bool { return tOpenConns(ts.h) == 1 })
	return ts, c
}

// A connection the server accepted before gohttp_shutdown whose request
// arrives only after it (within the 250 ms grace) is answered, not closed
// without a response (what net/http's Shutdown does to a request it reads
// after Shutdown began). Several processes serving one socket rely on it:
// a client cannot tell that the process that accepted it was stopping.
func TestShutdownAnswersTheFirstRequestOfAnAcceptedConnection(t *testing.T) {
	ts, c := silentConnection(t)
	if rc := tShutdown(ts.h, 5000); rc != eOK {
		t.Fatal(rc)
	}
	time.Sleep(20 * time.Millisecond) // the request comes after the shutdown began
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(c, buf, 12)
	if got := string(buf[:n]); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("request on a connection accepted before the shutdown: got %q, want 200", got)
	}
}

// Without a request the grace ends: the shutdown finishes about 250 ms
// later, not at the drain timeout.
func TestShutdownGraceForAnAcceptedConnectionIsBounded(t *testing.T) {
	ts, _ := silentConnection(t)
	start := time.Now()
	if rc := tShutdown(ts.h, 20000); rc != eOK {
		t.Fatal(rc)
	}
	if rc := tWait(ts.h, 10000); rc != eOK {
		t.Fatalf("gohttp_wait = %d", rc)
	}
	// A connection that never sent a byte is closed by net/http only
	// after 5 s (it counts as idle from then on), so the bound here is
	// the grace plus that.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("shutdown with a silent accepted connection took %v", d)
	}
}
