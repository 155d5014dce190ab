package main

import (
	"net/http"
	"testing"
)

// The per-request cost of the C handler path without a network: the
// server's own mux serves a canned request into a ResponseWriter that
// discards the body, so what is measured is dispatch slot, arena, handle,
// trampoline, two callbacks (set_header, write) and cleanup. BenchmarkServeGo
// is the same request through a plain Go handler doing the same two calls,
// the floor to compare with. Run: go test -run '^$' -bench Serve ./lib

// discardWriter is the smallest http.ResponseWriter: a reused header map,
// body and status dropped.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// benchRequest is the canned request. ServeMux records the match in the
// request, so each goroutine needs its own.
func benchRequest(b *testing.B) *http.Request {
	req, err := http.NewRequest("GET", "http://127.0.0.1/", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.RequestURI = "/"
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("User-Agent", "bench")
	return req
}

func benchServe(b *testing.B, parallel bool, h http.Handler) {
	one := func(req *http.Request) {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.h.Get("Content-Type") != "text/plain" {
			b.Error("handler did not run") // not Fatal: may be a RunParallel goroutine
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		req := benchRequest(b)
		for i := 0; i < b.N; i++ {
			one(req)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		req := benchRequest(b)
		for pb.Next() {
			one(req)
		}
	})
}

// benchCServer makes a server routing "/" to the C hello handler. done
// frees it and checks the counters: every iteration served exactly once,
// nothing live afterwards.
func benchCServer(b *testing.B) (http.Handler, func()) {
	served := tStats().RequestsServed
	s, code, msg := tServerNew(nil)
	if code != eOK {
		b.Fatal(code, msg)
	}
	if code, msg := tRoute(s, "/", thHello, -1); code != eOK {
		b.Fatal(code, msg)
	}
	srv := tServerObject(s)
	return srv.mux, func() {
		tShutdown(s, 0)
		if rc := tFree(s); rc != eOK {
			b.Fatal("free", rc)
		}
		st := tStats()
		if st.LiveHandles != 0 || st.LiveArenas != 0 || st.ArenaBytes != 0 {
			b.Fatalf("counters not zero: %+v", st)
		}
		if n := st.RequestsServed - served; n != int64(b.N) {
			b.Fatalf("requests_served grew by %d for %d requests", n, b.N)
		}
	}
}

func goHello() http.Handler {
	hello := []byte("Hello, world.\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	return mux
}

func BenchmarkServeC(b *testing.B) {
	h, done := benchCServer(b)
	defer done()
	benchServe(b, false, h)
}

func BenchmarkServeCParallel(b *testing.B) {
	h, done := benchCServer(b)
	defer done()
	benchServe(b, true, h)
}

func BenchmarkServeGo(b *testing.B)         { benchServe(b, false, goHello()) }
func BenchmarkServeGoParallel(b *testing.B) { benchServe(b, true, goHello()) }
