package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// heldAddr is a loopback address for ListenAndServe, which cannot report
// the port it bound: a socket bound to 127.0.0.1:0 with SO_REUSEADDR that
// never listens holds the port (no other socket can bind it) while Go's
// listener, which sets SO_REUSEADDR too, can bind and listen on it. The
// hold ends at release, or at the end of the test.
func heldAddr(t *testing.T) (addr string, release func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { syscall.Close(fd) }) }
	t.Cleanup(release)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port), release
}

// The seed's API: HandleFunc + ListenAndServe on the default server,
// Shutdown makes ListenAndServe return, and the default server is released.
func TestSeedAPI(t *testing.T) {
	zeroAtEnd(t)
	if msg := tSeedHandleFunc("/", false); msg != "" {
		t.Fatalf("HandleFunc: %s", msg)
	}
	if msg := tSeedHandleFunc("/echo", true); msg != "" {
		t.Fatalf("HandleFunc: %s", msg)
	}
	if msg := tSeedHandleFunc("/", false); !strings.Contains(msg, "conflicts") {
		t.Errorf("duplicate HandleFunc: last error %q", msg)
	}
	if msg := tSeedHandleFunc("/{bad", false); !strings.Contains(msg, "bad") {
		t.Errorf("bad pattern HandleFunc: last error %q", msg)
	}
	addr, release := heldAddr(t)
	done := make(chan string)
	go func() { done <- tSeedListenAndServe(addr) }()
	base := "http://" + addr
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/hello?x=1"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	release() // the server listens on it now
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); resp.StatusCode != 202 || body != fmt.Sprintf("GET /hello?x=1 %s\n", addr) {
		t.Errorf("seed hello = %d %q", resp.StatusCode, body)
	}
	// A second ListenAndServe while the first serves returns at once and
	// leaves the running server alone.
	other, _ := heldAddr(t)
	if msg := tSeedListenAndServe(other); !strings.Contains(msg, "already started") {
		t.Errorf("second ListenAndServe: last error %q", msg)
	}
	req, _ := http.NewRequest("POST", base+"/echo", strings.NewReader("seed body"))
	req.Header.Set("X-Seed", "yes")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	if !strings.Contains(body, "X-Seed: yes\r\n") || !strings.HasSuffix(body, "--\nseed body") {
		t.Errorf("seed echo = %q", body)
	}
	// Over the default max body (10 MiB): 413 without calling the handler.
	// The body is exactly one byte over, so the server has read all of it
	// when it answers: the client always gets the response, never a reset.
	req, _ = http.NewRequest("POST", base+"/echo", strings.NewReader(strings.Repeat("z", 10<<20+1)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("seed big body: %v, want a 413 response", err)
	} else if body := readAll(resp); resp.StatusCode != 413 {
		t.Errorf("seed big body = %d %q, want 413", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	tSeedShutdown()
	select {
	case msg := <-done:
		if msg != "" {
			t.Errorf("ListenAndServe left last error %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after Shutdown")
	}
	// Shutdown with nothing serving is harmless; a fresh default server
	// reports a bind failure and returns.
	tSeedShutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tSeedHandleFunc("/", false)
	if msg := tSeedListenAndServe(ln.Addr().String()); !strings.Contains(msg, "address already in use") {
		t.Errorf("ListenAndServe on a used port: last error %q", msg)
	}
}
