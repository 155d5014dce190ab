package main

// Metrics in the Prometheus text format (version 0.0.4), served by Go on
// a listener of their own (gohttp_options.metrics_bind), never through
// the server's routes, handlers or handler slots. Everything is counted
// with atomics in front.ServeHTTP and takeSlot; with no metrics_bind the
// server has no metrics object and the request path only tests a nil.

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the request duration
// histogram: 100 us to 10 s.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// refusedCodes are the client-error statuses counted one by one.
var refusedCodes = []int{400, 408, 413, 431}

type serverMetrics struct {
	classes       [5]atomic.Int64 // 1xx..5xx
	refused       [4]atomic.Int64 // by refusedCodes
	inFlight      atomic.Int64
	queueWaits    atomic.Int64 // requests that found every handler slot taken
	queueTimeouts atomic.Int64 // of those, answered 503 (no slot or no worker in time)
	buckets       []atomic.Int64
	count         atomic.Int64
	sumNanos      atomic.Int64

	bind string
	hs   *http.Server
	ln   net.Listener
}

func newServerMetrics(bind string) *serverMetrics {
	return &serverMetrics{bind: bind, buckets: make([]atomic.Int64, len(latencyBuckets))}
}

// observe counts one finished request.
func (m *serverMetrics) observe(status int, took time.Duration) {
	if c := status / 100; c >= 1 && c <= 5 {
		m.classes[c-1].Add(1)
	}
	for i, code := range refusedCodes {
		if status == code {
			m.refused[i].Add(1)
		}
	}
	secs := took.Seconds()
	for i, le := range latencyBuckets {
		if secs <= le {
			m.buckets[i].Add(1)
			break // cumulated when written
		}
	}
	m.count.Add(1)
	m.sumNanos.Add(int64(took))
}

// start binds the metrics listener (start of the server).
func (m *serverMetrics) start(s *server) error {
	ln, err := net.Listen("tcp", m.bind)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(s.metricsText(nil))
	})
	m.ln = ln
	m.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second, WriteTimeout: 10 * time.Second}
	go func() { _ = m.hs.Serve(ln) }()
	return nil
}

// stop closes the metrics listener and its connections (the server
// stopped, or its own start failed).
func (m *serverMetrics) stop() {
	if m != nil && m.hs != nil {
		_ = m.hs.Close()
	}
}

type promWriter struct{ b []byte }

func (p *promWriter) family(name, typ, help string) {
	p.b = append(p.b, "# HELP "...)
	p.b = append(p.b, name...)
	p.b = append(p.b, ' ')
	p.b = append(p.b, help...)
	p.b = append(p.b, "\n# TYPE "...)
	p.b = append(p.b, name...)
	p.b = append(p.b, ' ')
	p.b = append(p.b, typ...)
	p.b = append(p.b, '\n')
}

func (p *promWriter) sample(name, labels string, v int64) {
	p.b = append(p.b, name...)
	if labels != "" {
		p.b = append(p.b, '{')
		p.b = append(p.b, labels...)
		p.b = append(p.b, '}')
	}
	p.b = append(p.b, ' ')
	p.b = strconv.AppendInt(p.b, v, 10)
	p.b = append(p.b, '\n')
}

// seconds writes one sample of nanos nanoseconds, in seconds.
func (p *promWriter) seconds(name string, nanos int64) {
	p.b = append(p.b, name...)
	p.b = append(p.b, ' ')
	p.b = strconv.AppendFloat(p.b, float64(nanos)/1e9, 'g', -1, 64)
	p.b = append(p.b, '\n')
}

func (p *promWriter) one(name, typ, help string, v int64) {
	p.family(name, typ, help)
	p.sample(name, "", v)
}

// metricsText is the whole exposition of s, appended to b.
func (s *server) metricsText(b []byte) []byte {
	m := s.metrics
	p := promWriter{b: b}
	p.family("gohttp_requests_total", "counter", "Requests answered, by status class.")
	for i := range m.classes {
		p.sample("gohttp_requests_total", `class="`+strconv.Itoa(i+1)+`xx"`, m.classes[i].Load())
	}
	p.family("gohttp_client_errors_total", "counter", "Requests answered 400 (bad request or framing), 408 (body read timeout), 413 (body too large) or 431 (header limits).")
	for i, code := range refusedCodes {
		p.sample("gohttp_client_errors_total", `code="`+strconv.Itoa(code)+`"`, m.refused[i].Load())
	}
	p.one("gohttp_requests_in_flight", "gauge", "Requests being answered now.", m.inFlight.Load())
	p.one("gohttp_handler_slots_busy", "gauge", "Handler slots taken now.", int64(len(s.slots)))
	p.one("gohttp_handler_slots", "gauge", "Handler slots (max_handlers).", int64(cap(s.slots)))
	p.one("gohttp_queue_waits_total", "counter", "Requests that found every handler slot taken and waited.", m.queueWaits.Load())
	p.one("gohttp_queue_timeouts_total", "counter", "Requests answered 503 because no handler slot or pull worker took them within queue_timeout.", m.queueTimeouts.Load())
	p.one("gohttp_open_connections", "gauge", "Open client connections.", int64(s.conns.count()))

	p.family("gohttp_request_duration_seconds", "histogram", "Time from the request head to the end of the response.")
	var cum int64
	for i, le := range latencyBuckets {
		cum += m.buckets[i].Load()
		p.sample("gohttp_request_duration_seconds_bucket", `le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"`, cum)
	}
	count := m.count.Load()
	if count < cum { // a request counted in a bucket but not yet in count
		count = cum
	}
	p.sample("gohttp_request_duration_seconds_bucket", `le="+Inf"`, count)
	p.seconds("gohttp_request_duration_seconds_sum", m.sumNanos.Load())
	p.sample("gohttp_request_duration_seconds_count", "", count)

	var c C.gohttp_counters
	C.gohttp_stats(&c)
	p.one("gohttp_live_handles", "gauge", "Response handles not yet freed (process).", int64(c.live_handles))
	p.one("gohttp_live_servers", "gauge", "Servers not yet freed (process).", int64(c.live_servers))
	p.one("gohttp_live_arenas", "gauge", "Request arenas not yet freed (process).", int64(c.live_arenas))
	p.one("gohttp_arena_bytes", "gauge", "Bytes held by live request arenas (process).", int64(c.arena_bytes))
	p.one("gohttp_live_tokens", "gauge", "Go-side exchange tokens not yet dropped (process).", int64(c.live_tokens))
	p.one("gohttp_live_go_handles", "gauge", "Go runtime/cgo.Handles not yet deleted (process).", int64(c.live_go_handles))
	p.one("gohttp_handlers_completed_total", "counter", "Handlers completed (process).", int64(c.requests_served))
	p.one("gohttp_stale_rejections_total", "counter", "Calls rejected with GOHTTP_ESTALE (process).", int64(c.stale_rejections))
	p.one("gohttp_panics_recovered_total", "counter", "Go panics turned into error codes (process).", int64(c.panics_recovered))
	p.family("gohttp_host_wait_seconds_total", "counter", "Time handlers waited in the host before running, as reported by gohttp_note_host_wait; the Python package reports its waits for the GIL (process).")
	p.seconds("gohttp_host_wait_seconds_total", int64(c.host_wait_ns))
	return p.b
}
