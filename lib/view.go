package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"net/http"
	"sort"
	"unsafe"
)

// arenaWriter lays strings out in an arena that was sized for them in
// advance; every string gets its bytes plus a NUL, so C sees both a length
// and a terminator (binary-safe and strlen-safe).
type arenaWriter struct {
	base unsafe.Pointer
	off  uintptr
	size uintptr
}

func (a *arenaWriter) str(s string) (*C.char, C.size_t) {
	if a.off+uintptr(len(s))+1 > a.size {
		panic("gohttp: request arena sized too small") // sizing bug, never input
	}
	dst := unsafe.Add(a.base, a.off)
	copy(unsafe.Slice((*byte)(dst), len(s)+1), s)
	*(*byte)(unsafe.Add(dst, len(s))) = 0
	a.off += uintptr(len(s)) + 1
	return (*C.char)(dst), C.size_t(len(s))
}

func (a *arenaWriter) bytes(b []byte) *C.char {
	p, _ := a.str(unsafe.String(unsafe.SliceData(b), len(b)))
	return p
}

func align8(n uintptr) uintptr { return (n + 7) &^ 7 }

// sortedHeaderNames appends h's names to names (a caller's buffer, so a
// request with a few headers allocates nothing here) and sorts them.
func sortedHeaderNames(h http.Header, names []string) []string {
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// arenaAlloc returns ONE arena of size usable bytes (16-byte aligned) or
// nil when out of memory. exchange.begin supplies it (gohttp__request_begin)
// and owns what it returns.
type arenaAlloc func(size uintptr) unsafe.Pointer

// buildView sizes the gohttp_request view of r, gets ONE arena of that
// size from alloc and lays the view into it: the struct, the header array,
// then every string. Returns nil when out of memory. The arena is alloc's
// caller's (exchange.end frees it once the handler can no longer see it).
//
// scheme is the server's ("https" with TLS, else "http") unless a trusted
// proxy's X-Forwarded-Proto replaced it (forwarded.go).
func buildView(r *http.Request, scheme string, alloc arenaAlloc) unsafe.Pointer {
	var nameBuf [16]string
	names := sortedHeaderNames(r.Header, nameBuf[:0])
	forwarded := 0
	if f := forwardedOf(r); f != nil {
		forwarded = f.flags
		if f.scheme != "" {
			scheme = f.scheme
		}
	}
	strs := []string{r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.Host, r.Proto, r.RemoteAddr, scheme}
	nvals := 0
	size := uintptr(0)
	for _, s := range strs {
		size += uintptr(len(s)) + 1
	}
	for _, k := range names {
		size += uintptr(len(k)) + 1 // one copy of the name serves all its values
		for _, v := range r.Header[k] {
			size += uintptr(len(v)) + 1
			nvals++
		}
	}
	hdrOff := align8(C.sizeof_gohttp_request)
	strOff := hdrOff + uintptr(nvals)*C.sizeof_gohttp_header
	size += strOff

	// Owner: the request goroutine (exchange.begin); freed by exchange.end.
	arena := alloc(size)
	if arena == nil {
		return nil
	}
	req := (*C.gohttp_request)(arena)
	a := arenaWriter{base: arena, off: strOff, size: size}
	req.method, req.method_len = a.str(r.Method)
	req.url, req.url_len = a.str(r.RequestURI)
	req.path, req.path_len = a.str(r.URL.Path)
	req.raw_query, req.raw_query_len = a.str(r.URL.RawQuery)
	req.host, req.host_len = a.str(r.Host)
	req.proto, req.proto_len = a.str(r.Proto)
	req.remote_addr, req.remote_addr_len = a.str(r.RemoteAddr)
	req.scheme, req.scheme_len = a.str(scheme)
	req.forwarded = C.int32_t(forwarded)
	hdrs := unsafe.Slice((*C.gohttp_header)(unsafe.Add(arena, hdrOff)), nvals)
	i := 0
	for _, k := range names {
		name, nameLen := a.str(k)
		for _, v := range r.Header[k] {
			hdrs[i].name, hdrs[i].name_len = name, nameLen
			hdrs[i].value, hdrs[i].value_len = a.str(v)
			i++
		}
	}
	req.headers = (*C.gohttp_header)(unsafe.Add(arena, hdrOff))
	req.header_count = C.size_t(nvals)
	req.content_length = C.int64_t(r.ContentLength)
	return arena
}

// buildSeedView lays the seed's Request out in one arena: the five
// pointers, then Method, Host, URL, Body, Headers ("Name: value\r\n" per
// value, sorted by name), each NUL-terminated. Same arena source and
// ownership as buildView.
func buildSeedView(r *http.Request, body []byte, alloc arenaAlloc) unsafe.Pointer {
	var nameBuf [16]string
	names := sortedHeaderNames(r.Header, nameBuf[:0])
	hdrLen := 0
	for _, k := range names {
		for _, v := range r.Header[k] {
			hdrLen += len(k) + 2 + len(v) + 2
		}
	}
	strOff := align8(C.sizeof_Request)
	size := strOff + uintptr(len(r.Method)+len(r.Host)+len(r.RequestURI)+len(body)+hdrLen+5)

	// Owner: the request goroutine (exchange.begin); freed by exchange.end.
	arena := alloc(size)
	if arena == nil {
		return nil
	}
	req := (*C.Request)(arena)
	a := arenaWriter{base: arena, off: strOff, size: size}
	req.Method, _ = a.str(r.Method)
	req.Host, _ = a.str(r.Host)
	req.URL, _ = a.str(r.RequestURI)
	req.Body = a.bytes(body)
	// Headers are written in place rather than joined into a Go string
	// first: one copy, straight into the arena.
	hdrs := unsafe.Add(arena, a.off)
	p := hdrs
	put := func(s string) {
		copy(unsafe.Slice((*byte)(p), len(s)), s)
		p = unsafe.Add(p, len(s))
	}
	for _, k := range names {
		for _, v := range r.Header[k] {
			put(k)
			put(": ")
			put(v)
			put("\r\n")
		}
	}
	*(*byte)(p) = 0
	a.off += uintptr(hdrLen) + 1
	req.Headers = (*C.char)(hdrs)
	return arena
}
