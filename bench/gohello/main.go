// Command gohello is the baseline of make bench: a plain Go net/http server
// answering "Hello, world.\n" on every path, with nothing of gohttp in it.
//
//	gohello PORT [timeouts]
//
// With "timeouts" it keeps the waits gohttp bounds by default the way a Go
// program would: net/http's ReadHeaderTimeout and IdleTimeout at gohttp's
// defaults, and a write deadline of gohttp's send_timeout on each
// response (gohttp.h: GOHTTP_DEFAULT_*). It prints
// "listening on http://127.0.0.1:PORT/" once bound and exits on
// SIGINT/SIGTERM.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// gohttp's defaults (shim/gohttp.h: GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS,
// GOHTTP_DEFAULT_IDLE_TIMEOUT_MS, GOHTTP_DEFAULT_SEND_TIMEOUT_MS).
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	sendTimeout       = 30 * time.Second
)

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohello:", err)
		os.Exit(1)
	}
	timeouts := len(os.Args) > 2 && os.Args[2] == "timeouts"
	hello := []byte("Hello, world.\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if timeouts {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(sendTimeout))
		}
		w.Write(hello)
	})
	srv := &http.Server{Handler: mux}
	if timeouts {
		srv.ReadHeaderTimeout = readHeaderTimeout
		srv.IdleTimeout = idleTimeout
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "gohello:", err)
		os.Exit(1)
	}
}
