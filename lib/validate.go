package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include <string.h>
#include "gohttp_internal.h"
*/
import "C"

import "unsafe"

// Length limits of NUL-terminated arguments. strnlen stops at limit+1, so
// an unterminated or huge string from C is never scanned past that.
const (
	maxPatternLen  = 4096 // route patterns
	maxAddrLen     = 1024 // listen addresses
	maxPathNameLen = 4096 // path wildcard names
	maxReadChunk   = 1 << 30
)

// cStringArg copies a NUL-terminated argument of at most limit bytes.
func cStringArg(what string, p *C.char, limit int) (string, int) {
	if p == nil {
		return "", fail(codeInval, "%s is NULL", what)
	}
	n := int(C.strnlen(p, C.size_t(limit+1)))
	if n > limit {
		return "", fail(codeInval, "%s longer than %d bytes", what, limit)
	}
	return C.GoStringN(p, C.int(n)), codeOK
}

// bytesArg copies a (pointer, length) argument of at most limit bytes.
// NULL is only valid with length 0. op and what name the call and the
// argument in the error message; they are two strings so the success path
// (every set_header) builds no message.
func bytesArg(op, what string, p *C.gohttp__cchar, n C.size_t, limit int) (string, int) {
	if n == 0 {
		return "", codeOK
	}
	if p == nil {
		return "", fail(codeInval, "%s: %s is NULL with length %d", op, what, uint64(n))
	}
	if uint64(n) > uint64(limit) {
		return "", fail(codeInval, "%s: %s is %d bytes, limit %d", op, what, uint64(n), limit)
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))), codeOK
}

// isToken reports whether s is an RFC 7230 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// badValueByte returns the index of the first control byte in v (0x00 to
// 0x1f except HTAB, and DEL), or -1. CR and LF turn a header value into
// response splitting, NUL into a silently truncated C string, and RFC 9110
// 5.5 allows none of the others in a field value.
func badValueByte(v string) int {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

// isDigits reports whether v is 1 to 18 ASCII digits: a Content-Length
// that cannot be negative, signed, spaced or overflow an int64.
func isDigits(v string) bool {
	if v == "" || len(v) > 18 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}
