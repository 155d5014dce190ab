//go:build gohttp_test

package main

// Access to the request view builders (view.go) for lib/fuzz_test.go:
// build the view of a request into a real arena (gohttp__arena_new, as
// exchange.begin does), read it back through the C struct, free the arena.

/*
#include "gohttp_internal.h"
*/
import "C"

import (
	"net/http"
	"unsafe"
)

// tView is a gohttp_request read back from its arena.
type tView struct {
	Method, URL, Path, Query, Host, Proto, Remote string
	Headers                                       [][2]string
	ContentLength                                 int64
	// Terminated: every string has its NUL right after its length.
	Terminated bool
	// InArena: every string and the header array lie inside the arena.
	InArena bool
}

// tBuildView runs buildView on r; ok is false when it gave no view.
func tBuildView(r *http.Request) (v tView, ok bool) {
	var arena unsafe.Pointer
	var size uintptr
	p := buildView(r, "http", func(n uintptr) unsafe.Pointer {
		size = n
		arena = C.gohttp__arena_new(C.size_t(n))
		return arena
	})
	if p == nil {
		C.gohttp__arena_free(arena)
		return v, false
	}
	defer C.gohttp__arena_free(arena)
	lo, hi := uintptr(arena), uintptr(arena)+size
	v.Terminated, v.InArena = true, true
	read := func(s *C.char, n C.size_t) string {
		start := uintptr(unsafe.Pointer(s))
		if start < lo || start+uintptr(n)+1 > hi {
			v.InArena = false
			return ""
		}
		if *(*byte)(unsafe.Add(unsafe.Pointer(s), uintptr(n))) != 0 {
			v.Terminated = false
		}
		return C.GoStringN(s, C.int(n))
	}
	req := (*C.gohttp_request)(p)
	v.Method = read(req.method, req.method_len)
	v.URL = read(req.url, req.url_len)
	v.Path = read(req.path, req.path_len)
	v.Query = read(req.raw_query, req.raw_query_len)
	v.Host = read(req.host, req.host_len)
	v.Proto = read(req.proto, req.proto_len)
	v.Remote = read(req.remote_addr, req.remote_addr_len)
	if n := uintptr(req.header_count); n > 0 {
		start := uintptr(unsafe.Pointer(req.headers))
		if start < lo || start+n*C.sizeof_gohttp_header > hi {
			v.InArena = false
			return v, true
		}
		for _, h := range unsafe.Slice(req.headers, n) {
			v.Headers = append(v.Headers, [2]string{read(h.name, h.name_len), read(h.value, h.value_len)})
		}
	}
	v.ContentLength = int64(req.content_length)
	return v, true
}

// tBuildSeedView runs buildSeedView on r and body and returns the seed
// Request's five strings (Method, Host, URL, Body, Headers).
func tBuildSeedView(r *http.Request, body []byte) (out [5]string, terminated, ok bool) {
	var arena unsafe.Pointer
	var size uintptr
	p := buildSeedView(r, body, func(n uintptr) unsafe.Pointer {
		size = n
		arena = C.gohttp__arena_new(C.size_t(n))
		return arena
	})
	if p == nil {
		C.gohttp__arena_free(arena)
		return out, false, false
	}
	defer C.gohttp__arena_free(arena)
	req := (*C.Request)(p)
	lo, hi := uintptr(arena), uintptr(arena)+size
	terminated = true
	// Lengths are those the builder was given: Body may hold NULs.
	hdrLen := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			hdrLen += len(k) + 2 + len(v) + 2
		}
	}
	lens := [5]int{len(r.Method), len(r.Host), len(r.RequestURI), len(body), hdrLen}
	for i, s := range []*C.char{req.Method, req.Host, req.URL, req.Body, req.Headers} {
		start := uintptr(unsafe.Pointer(s))
		n := lens[i]
		if start < lo || start+uintptr(n)+1 > hi {
			return out, false, true
		}
		if *(*byte)(unsafe.Add(unsafe.Pointer(s), n)) != 0 {
			terminated = false
		}
		out[i] = C.GoStringN(s, C.int(n))
	}
	return out, terminated, true
}
