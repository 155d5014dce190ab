// Command gohello is the baseline of make bench: a plain Go net/http server
// answering "Hello, world.\n" on every path, with nothing of gohttp in it.
//
//	gohello PORT
//
// It prints "listening on http://127.0.0.1:PORT/" once bound and exits on
// SIGINT/SIGTERM.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
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
	hello := []byte("Hello, world.\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write(hello)
	})
	srv := &http.Server{Handler: mux}
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
