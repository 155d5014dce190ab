package main

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"crypto/tls"
	"math"
	"time"
	"unsafe"
)

// serverOptions is gohttp_options after validation and defaulting.
type serverOptions struct {
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	writeTimeout      time.Duration
	maxHeaderBytes    int
	maxBodyBytes      int64
	maxHandlers       int
	queueTimeout      time.Duration
	reusePort         bool          // SO_REUSEPORT on the listener
	limits            framingLimits // requestLine, fields, fieldSize; headBytes = maxHeaderBytes
	bodyReadTimeout   time.Duration
	sendTimeout       time.Duration
	maxConnections    int
	// tlsConfig is set when certfile/keyfile were given: connections are
	// TLS, the framing guard reads their plaintext (front.go).
	tlsConfig   *tls.Config
	h2c         bool       // HTTP/2 with prior knowledge on plain connections
	accessLog   string     // path, "-" for stdout, "" for none
	forwarded   *allowList // trusted proxies (forwarded.go); nil: none
	metricsBind string     // metrics listener address (metrics.go); "": none
}

// Limits beyond which an option is rejected as GOHTTP_EINVAL rather than
// silently clamped: a caller asking for them has a bug (usually a unit
// mistake), and telling them beats a server that behaves unexpectedly.
const (
	maxTimeoutMS      = math.MaxInt64 / int64(time.Millisecond) // no Duration overflow
	maxHeaderBytesCap = 1 << 30
	// Each running push handler holds one OS thread, and the Go runtime
	// aborts the whole process past 10000 threads (debug.SetMaxThreads);
	// the runtime needs some for itself (GC workers, sysmon, idle Ms), so
	// one server may not ask for more than 8192.
	maxHandlersCap    = 8192
	maxLimitCap       = 1 << 20 // request line / field size / field count
	maxConnectionsCap = 1 << 20
	maxPathArgLen     = 4096    // certfile, keyfile, access_log, static directory
	maxAllowListLen   = 1 << 16 // forwarded_allow_ips
)

// The GOHTTP_DEFAULT_* values of gohttp.h, which gohttp_options_init
// fills in too.
var defaultOptions = serverOptions{
	readHeaderTimeout: C.GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS * time.Millisecond,
	idleTimeout:       C.GOHTTP_DEFAULT_IDLE_TIMEOUT_MS * time.Millisecond,
	writeTimeout:      C.GOHTTP_DEFAULT_WRITE_TIMEOUT_MS * time.Millisecond,
	maxHeaderBytes:    C.GOHTTP_DEFAULT_MAX_HEADER_BYTES,
	maxBodyBytes:      C.GOHTTP_DEFAULT_MAX_BODY_BYTES,
	maxHandlers:       C.GOHTTP_DEFAULT_MAX_HANDLERS,
	queueTimeout:      C.GOHTTP_DEFAULT_QUEUE_TIMEOUT_MS * time.Millisecond,
	limits: framingLimits{requestLine: C.GOHTTP_DEFAULT_LIMIT_REQUEST_LINE,
		fields: C.GOHTTP_DEFAULT_LIMIT_REQUEST_FIELDS, fieldSize: C.GOHTTP_DEFAULT_LIMIT_REQUEST_FIELD_SIZE},
	bodyReadTimeout: C.GOHTTP_DEFAULT_BODY_READ_TIMEOUT_MS * time.Millisecond,
	sendTimeout:     C.GOHTTP_DEFAULT_SEND_TIMEOUT_MS * time.Millisecond,
	maxConnections:  C.GOHTTP_DEFAULT_MAX_CONNECTIONS,
}

// parseOptions validates o (NULL means all defaults): a zero field takes
// its default, a negative or out-of-range one is GOHTTP_EINVAL with the
// field named in the last error.
func parseOptions(o *C.gohttp__coptions) (serverOptions, int) {
	opts := defaultOptions
	if o == nil {
		opts.limits.headBytes = opts.maxHeaderBytes
		return opts, codeOK
	}
	ms := func(name string, v C.int64_t, dst *time.Duration) int {
		switch {
		case v < 0 || int64(v) > maxTimeoutMS:
			return fail(codeInval, "gohttp_options.%s: %d ms out of range 0..%d", name, int64(v), maxTimeoutMS)
		case v > 0:
			*dst = time.Duration(v) * time.Millisecond
		}
		return codeOK
	}
	if rc := ms("read_header_timeout_ms", o.read_header_timeout_ms, &opts.readHeaderTimeout); rc != codeOK {
		return opts, rc
	}
	if rc := ms("idle_timeout_ms", o.idle_timeout_ms, &opts.idleTimeout); rc != codeOK {
		return opts, rc
	}
	if rc := ms("write_timeout_ms", o.write_timeout_ms, &opts.writeTimeout); rc != codeOK {
		return opts, rc
	}
	if rc := ms("queue_timeout_ms", o.queue_timeout_ms, &opts.queueTimeout); rc != codeOK {
		return opts, rc
	}
	if rc := ms("body_read_timeout_ms", o.body_read_timeout_ms, &opts.bodyReadTimeout); rc != codeOK {
		return opts, rc
	}
	if rc := ms("send_timeout_ms", o.send_timeout_ms, &opts.sendTimeout); rc != codeOK {
		return opts, rc
	}
	count := func(name string, v C.int64_t, limit int64, dst *int) int {
		switch {
		case v < 0 || int64(v) > limit:
			return fail(codeInval, "gohttp_options.%s: %d out of range 0..%d", name, int64(v), limit)
		case v > 0:
			*dst = int(v)
		}
		return codeOK
	}
	if rc := count("limit_request_line", o.limit_request_line, maxLimitCap, &opts.limits.requestLine); rc != codeOK {
		return opts, rc
	}
	if rc := count("limit_request_fields", o.limit_request_fields, maxLimitCap, &opts.limits.fields); rc != codeOK {
		return opts, rc
	}
	if rc := count("limit_request_field_size", o.limit_request_field_size, maxLimitCap, &opts.limits.fieldSize); rc != codeOK {
		return opts, rc
	}
	if rc := count("max_connections", o.max_connections, maxConnectionsCap, &opts.maxConnections); rc != codeOK {
		return opts, rc
	}
	switch v := int64(o.max_header_bytes); {
	case v < 0 || v > maxHeaderBytesCap:
		return opts, fail(codeInval, "gohttp_options.max_header_bytes: %d out of range 0..%d", v, maxHeaderBytesCap)
	case v > 0:
		opts.maxHeaderBytes = int(v)
	}
	switch v := int64(o.max_body_bytes); {
	case v < 0:
		return opts, fail(codeInval, "gohttp_options.max_body_bytes: %d is negative", v)
	case v > 0:
		opts.maxBodyBytes = v
	}
	switch v := int64(o.max_handlers); {
	case v < 0 || v > maxHandlersCap:
		return opts, fail(codeInval, "gohttp_options.max_handlers: %d out of range 0..%d", v, maxHandlersCap)
	case v > 0:
		opts.maxHandlers = int(v)
	}
	switch v := int32(o.reuse_port); v {
	case 0, 1:
		opts.reusePort = v == 1
	default:
		return opts, fail(codeInval, "gohttp_options.reuse_port: %d is neither 0 nor 1", v)
	}
	switch v := int32(o.h2c); v {
	case 0, 1:
		opts.h2c = v == 1
	default:
		return opts, fail(codeInval, "gohttp_options.h2c: %d is neither 0 nor 1", v)
	}
	opts.limits.headBytes = opts.maxHeaderBytes
	if rc := parseTLS(o, &opts); rc != codeOK {
		return opts, rc
	}
	logPath, code := optionalPath("access_log", o.access_log)
	if code != codeOK {
		return opts, code
	}
	opts.accessLog = logPath
	if o.forwarded_allow_ips != nil {
		v, code := cStringArg("gohttp_options.forwarded_allow_ips", (*C.char)(unsafe.Pointer(o.forwarded_allow_ips)), maxAllowListLen)
		if code != codeOK {
			return opts, code
		}
		l, bad := parseAllowList(v)
		if bad != "" {
			return opts, fail(codeInval, "gohttp_options.forwarded_allow_ips: %q is neither an IP address, a CIDR block nor \"*\"", bad)
		}
		opts.forwarded = l
	}
	if o.metrics_bind != nil {
		v, code := cStringArg("gohttp_options.metrics_bind", (*C.char)(unsafe.Pointer(o.metrics_bind)), maxAddrLen)
		if code != codeOK {
			return opts, code
		}
		if v == "" {
			return opts, fail(codeInval, "gohttp_options.metrics_bind is empty (NULL for none)")
		}
		opts.metricsBind = v
	}
	return opts, codeOK
}

// optionalPath copies a NUL-terminated path option; NULL is "".
func optionalPath(name string, p *C.gohttp__cchar) (string, int) {
	if p == nil {
		return "", codeOK
	}
	v, code := cStringArg("gohttp_options."+name, (*C.char)(unsafe.Pointer(p)), maxPathArgLen)
	if code == codeOK && v == "" {
		return "", fail(codeInval, "gohttp_options.%s is empty (NULL for none)", name)
	}
	return v, code
}

// parseTLS loads certfile and keyfile now, so a missing or bad pair is an
// error of gohttp_server_new, never of the first request. Both or neither.
func parseTLS(o *C.gohttp__coptions, opts *serverOptions) int {
	cert, code := optionalPath("certfile", o.certfile)
	if code != codeOK {
		return code
	}
	key, code := optionalPath("keyfile", o.keyfile)
	if code != codeOK {
		return code
	}
	switch {
	case cert == "" && key == "":
		return codeOK
	case cert == "" || key == "":
		return fail(codeInval, "gohttp_options: certfile and keyfile go together (got only %s)",
			map[bool]string{true: "certfile", false: "keyfile"}[cert != ""])
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return fail(codeInval, "gohttp_options.certfile/keyfile: %v", err)
	}
	opts.tlsConfig = &tls.Config{
		Certificates: []tls.Certificate{pair},
		// HTTP/2 first: an h2 client that negotiates it is served by
		// net/http's HTTP/2 server (see guardListener).
		NextProtos: []string{"h2", "http/1.1"},
	}
	return codeOK
}

// timeoutArg turns a wait-style timeout in ms into (duration, forever).
// -1 means forever; other negatives are GOHTTP_EINVAL.
func timeoutArg(name string, v C.int64_t) (time.Duration, bool, int) {
	switch {
	case v == -1:
		return 0, true, codeOK
	case v < 0:
		return 0, false, fail(codeInval, "%s: timeout %d ms (use -1 to wait forever)", name, int64(v))
	case int64(v) > maxTimeoutMS:
		return 0, true, codeOK
	}
	return time.Duration(v) * time.Millisecond, false, codeOK
}
