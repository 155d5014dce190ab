package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import "unsafe"

// maxRespondHeaders bounds the header array of one gohttp_respond call, so
// a wild count from C is refused before anything is read through it.
const maxRespondHeaders = 1 << 16

// gohttp_respond: contract in gohttp.h. A whole response in one crossing:
// the headers are validated first (nothing changes if one is refused),
// then added, then the status and the body go out, all under ex.mu, with
// the same checks as gohttp_add_header, gohttp_write_header and
// gohttp_write. headers and body are only read during the call.
//
//export gohttp_respond
func gohttp_respond(w C.gohttp_handle, status C.int, headers *C.gohttp__cheader, count C.size_t, body *C.gohttp__cvoid, n C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	return C.int64_t(withExchange(w, func(ex *exchange) int64 {
		return ex.respond(int(status), headers, count, unsafe.Pointer(body), int64(n))
	}))
}

func (ex *exchange) respond(status int, headers *C.gohttp__cheader, count C.size_t, body unsafe.Pointer, n int64) int64 {
	if count > 0 && headers == nil {
		return int64(fail(codeInval, "respond: headers is NULL with count %d", uint64(count)))
	}
	if count > maxRespondHeaders {
		return int64(fail(codeInval, "respond: %d headers, limit %d", uint64(count), maxRespondHeaders))
	}
	if status != 0 && (status < 100 || status > 999) {
		return int64(fail(codeInval, "respond: status %d outside 100..999", status))
	}
	if status != 0 && ex.wroteHeader {
		return int64(fail(codeState, "respond(%d): status already sent", status))
	}
	if n < 0 {
		return int64(fail(codeInval, "respond: negative body length %d", n))
	}
	if body == nil && n > 0 {
		return int64(fail(codeInval, "respond: body is NULL with length %d", n))
	}
	var list []C.gohttp__cheader
	if count > 0 {
		list = unsafe.Slice(headers, int(count))
	}
	// Most responses carry a few headers: validate into a stack array.
	var pairBuf [8][2]string
	pairs := pairBuf[:0]
	for i := range list {
		e := &list[i]
		name, value, code := ex.headerArgs("respond", (*C.gohttp__cchar)(unsafe.Pointer(e.name)), e.name_len,
			(*C.gohttp__cchar)(unsafe.Pointer(e.value)), e.value_len, true)
		if code != codeOK {
			return int64(code)
		}
		if asciiEqualFold([]byte(name), "content-length") {
			// headerArgs compares with the headers already set; a
			// second Content-Length within this call is refused here.
			for _, p := range pairs {
				if asciiEqualFold([]byte(p[0]), "content-length") {
					return int64(fail(codeInval, "respond: a second Content-Length (%q after %q)", value, p[1]))
				}
			}
		}
		pairs = append(pairs, [2]string{name, value})
	}
	h := ex.rw.Header()
	for _, p := range pairs {
		h.Add(p[0], p[1])
	}
	if status != 0 {
		if code := ex.writeHeader(status); code != codeOK {
			return int64(code)
		}
	}
	if n == 0 {
		return 0
	}
	return ex.write(body, n)
}
