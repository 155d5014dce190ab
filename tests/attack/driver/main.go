// Command driver is the attack suite of gohttp (make attack): it starts a
// server process (tests/attack/attack_host.c, and attack_host.py for the
// framing attacks), runs one attack at a time against it for a few
// seconds while a normal client sends ordinary GETs, and prints one table
// row per attack: the normal client's ok/failed counts and p50/p99
// latency, the server's RSS and thread count (before/peak/after, from
// /proc/PID/status), and the defence observed. Each row asserts its
// defence and a bound on the normal requests; after the last attack the
// host stops and must report its live counters at zero. Any failure makes
// the exit status 1.
//
// Everything targets 127.0.0.1 and every wait is bounded.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	flagHost        = flag.String("host", "", "path of the C attack host")
	flagPyHost      = flag.String("pyhost", "", "path of attack_host.py (empty: skip the Python host)")
	flagPython      = flag.String("python", "python3", "Python interpreter for -pyhost")
	flagStatic      = flag.String("static", "tests/attack/static", "directory the C host serves under /static/")
	flagOnly        = flag.String("only", "", "run only the attacks whose name contains this")
	flagP99         = flag.Duration("p99", time.Second, "bound on the normal requests' p99 latency")
	flagP99Sat      = flag.Duration("p99-saturated", 3*time.Second, "the bound instead while the slow readers' streams start and while max_handlers slow handlers start (then on a static route)")
	flagDur         = flag.Duration("dur", 3*time.Second, "duration of each framing attack")
	flagIdle        = flag.Int("idle", 10500, "idle keep-alive connections to open (the host allows 10000)")
	flagMaxConns    = flag.Int("max-connections", 10000, "the host's max_connections (the library's default)")
	flagMaxHandlers = flag.Int("max-handlers", 8192, "the host's max_handlers (the library's maximum)")
	flagExtraSlow   = flag.Int("extra-slow", 1000, "slow requests beyond max_handlers")
	flagSlowMS      = flag.Int("slow-ms", 6000, "how long the host's /slow handler sleeps")
	flagRamp        = flag.Duration("ramp", 2*time.Second, "the slow requests are sent evenly over this time")
	flagStalled     = flag.Int("stalled", 500, "connections holding a stalled request body")
	flagSlowReaders = flag.Int("slow-readers", 200, "connections reading nothing of a streamed response")
	flagBodyTimeout = flag.Duration("body-read-timeout", time.Second, "the host's body_read_timeout_ms")
	flagSendTimeout = flag.Duration("send-timeout", time.Second, "the host's send_timeout_ms")
	flagQueue       = flag.Duration("queue-timeout", time.Second, "the host's queue_timeout_ms")
	flagThreadSlack = flag.Int("thread-slack", 512, "threads allowed above max_handlers (Go runtime, cgo)")
)

// ---------------------------------------------------------------------
// The host process

type host struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string // 127.0.0.1:port
	maddr string // metrics listener
	pid   int
	lines chan string // stdout after READY
	mc    *http.Client
}

func startHost(name string, argv []string, env []string) (*host, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &host{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64),
		mc: &http.Client{Timeout: 5 * time.Second}}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first && strings.HasPrefix(sc.Text(), "READY ") {
				first = false
				ready <- sc.Text()
				continue
			}
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	select {
	case line := <-ready:
		var port, mport, pid int
		if _, err := fmt.Sscanf(line, "READY port=%d metrics=%d pid=%d", &port, &mport, &pid); err != nil {
			cmd.Process.Kill()
			return nil, fmt.Errorf("bad READY line %q", line)
		}
		h.addr = fmt.Sprintf("127.0.0.1:%d", port)
		h.maddr = fmt.Sprintf("127.0.0.1:%d", mport)
		h.pid = pid
		return h, nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("no READY line within 60 s")
	}
}

// stop closes the host's stdin and waits (bounded) for its exit and its
// counter report. ok: exit status 0.
func (h *host) stop() (ok bool) {
	h.stdin.Close()
	done := make(chan error, 1)
	go func() {
		for line := range h.lines {
			fmt.Println("  " + line)
		}
		done <- h.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			fmt.Printf("%s: host exited: %v\n", h.name, err)
			return false
		}
		return true
	case <-time.After(90 * time.Second):
		h.cmd.Process.Kill()
		fmt.Printf("%s: host did not stop within 90 s (killed)\n", h.name)
		return false
	}
}

// procStatus reads VmRSS (KiB) and Threads of the host.
func (h *host) procStatus() (rssKB, threads int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.Atoi(f[1])
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rssKB, threads
}

// metrics scrapes the host's metrics listener: "name{labels}" -> value.
func (h *host) metrics() (map[string]float64, error) {
	resp, err := h.mc.Get("http://" + h.maddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

func (h *host) metric(name string) float64 {
	m, err := h.metrics()
	if err != nil {
		return -1
	}
	return m[name]
}

// counters reads the C host's own counters (GET /counters).
func (h *host) counters() map[string]int {
	out := map[string]int{}
	resp, err := h.mc.Get("http://" + h.addr + "/counters")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			out[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	return out
}

// settle waits (at most 15 s) until the host holds no handler slot and at
// most a few connections, so the next attack starts from a quiet server.
func (h *host) settle() {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m, err := h.metrics()
		if err == nil && m["gohttp_handler_slots_busy"] == 0 && m["gohttp_open_connections"] <= 4 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// Raw HTTP/1.1 on a socket

type response struct {
	status int
	header textproto.MIMEHeader // every value of every field
	body   []byte
}

// readResponse reads one response without normalising its header (two
// Content-Length fields stay two values).
func readResponse(br *bufio.Reader) (*response, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	st, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	r := &response{status: st, header: hdr}
	switch {
	case st/100 == 1 || st == 204 || st == 304:
	case strings.EqualFold(hdr.Get("Transfer-Encoding"), "chunked"):
		r.body, err = io.ReadAll(httputil.NewChunkedReader(br))
	case len(hdr["Content-Length"]) == 1:
		n, perr := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
		if perr != nil || n < 0 || n > 1<<20 {
			return r, fmt.Errorf("bad Content-Length %q", hdr.Get("Content-Length"))
		}
		r.body = make([]byte, n)
		_, err = io.ReadFull(br, r.body)
	case len(hdr["Content-Length"]) > 1:
		return r, fmt.Errorf("%d Content-Length fields %q", len(hdr["Content-Length"]), hdr["Content-Length"])
	default:
		r.body, err = io.ReadAll(io.LimitReader(br, 1<<20))
	}
	return r, err
}

// readEOF reports whether the server closes the connection within d
// without sending anything more. extra: bytes it sent instead.
func readEOF(c net.Conn, br *bufio.Reader, d time.Duration) (closed bool, extra string) {
	c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 512)
	n, err := br.Read(b)
	if n > 0 {
		return false, string(b[:n])
	}
	return err != nil && !isTimeout(err), ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func dial(addr string, d time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, d)
}

// ---------------------------------------------------------------------
// The normal client

type normalResult struct {
	path     string
	ok, fail int
	statuses map[int]int
	lat      []time.Duration
	firstErr string
	// The slowest request, split: connect (accept queue) and the rest.
	slowDial, slowTotal time.Duration
}

// normalClient sends GET path on a new connection every 20 ms (50 per
// second, open loop: a request does not wait for the one before, so a
// stall of the server shows in every request it delays) until ctx ends,
// then waits for the requests in flight. A request counts as ok when it
// is answered 200 within 5 s.
func normalClient(ctx context.Context, addr, path string, out *normalResult) {
	out.path = path
	out.statuses = map[int]int{}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: normal\r\nConnection: close\r\n\r\n")
	var mu sync.Mutex
	var wg sync.WaitGroup
	one := func() {
		defer wg.Done()
		t0 := time.Now()
		var dialed time.Duration
		status := 0
		err := func() error {
			c, err := dial(addr, 5*time.Second)
			dialed = time.Since(t0)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(t0.Add(5 * time.Second))
			if _, err := c.Write(req); err != nil {
				return err
			}
			r, err := readResponse(bufio.NewReader(c))
			if err != nil {
				return err
			}
			status = r.status
			if r.status != 200 {
				return fmt.Errorf("status %d", r.status)
			}
			return nil
		}()
		lat := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if status != 0 {
			out.statuses[status]++
		}
		out.lat = append(out.lat, lat)
		if lat > out.slowTotal {
			out.slowTotal, out.slowDial = lat, dialed
		}
		if err == nil {
			out.ok++
		} else {
			out.fail++
			if out.firstErr == "" {
				out.firstErr = err.Error()
			}
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		wg.Add(1)
		go one()
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// ---------------------------------------------------------------------
// Rows

type row struct {
	host, name string
	normal     normalResult
	rss        [3]int // KiB before, peak, after
	thr        [3]int
	peakOpen   float64 // metrics: open connections, peak
	peakBusy   float64 // metrics: handler slots busy, peak
	lastOpen   float64 // idleConns: open connections at its end
	defence    string
	problems   []string
	// normalBound: assert the normal client's results (all ok, p99 under
	// the bound). False only where a documented bound says otherwise.
	normalBound bool
}

func (r *row) fail(format string, a ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, a...))
}

// attack is one row: run attacks until ctx ends (it may end earlier).
type attack struct {
	name       string
	dur        time.Duration
	normalPath string
	run        func(ctx context.Context, h *host, r *row)
	// peaks: checks of the sampled peaks, once sampling stopped.
	peaks func(r *row)
	// extra normal client on another path, reported only (see row).
	extraPath string
	// p99: the bound on the normal client's p99 (0: -p99).
	p99 time.Duration
}

func runAttack(h *host, a attack) *row {
	h.settle()
	r := &row{host: h.name, name: a.name, normalBound: true}
	r.rss[0], r.thr[0] = h.procStatus()
	r.rss[1], r.thr[1] = r.rss[0], r.thr[0]

	ctx, cancel := context.WithTimeout(context.Background(), a.dur)
	defer cancel()
	stopSampling := make(chan struct{})
	var samplers sync.WaitGroup
	samplers.Add(2)
	go func() { // /proc every 50 ms
		defer samplers.Done()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
			rss, thr := h.procStatus()
			r.rss[1] = max(r.rss[1], rss)
			r.thr[1] = max(r.thr[1], thr)
		}
	}()
	go func() { // metrics every 200 ms
		defer samplers.Done()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if m, err := h.metrics(); err == nil {
				r.peakOpen = max(r.peakOpen, m["gohttp_open_connections"])
				r.peakBusy = max(r.peakBusy, m["gohttp_handler_slots_busy"])
			}
		}
	}()

	var wg sync.WaitGroup
	path := a.normalPath
	if path == "" {
		path = "/fast"
	}
	wg.Add(1)
	go func() { defer wg.Done(); normalClient(ctx, h.addr, path, &r.normal) }()
	var extra normalResult
	if a.extraPath != "" {
		wg.Add(1)
		go func() { defer wg.Done(); normalClient(ctx, h.addr, a.extraPath, &extra) }()
	}
	// The normal client starts first and keeps going for the whole attack.
	time.Sleep(100 * time.Millisecond)
	a.run(ctx, h, r)
	cancel() // an attack may end before its time is up
	wg.Wait()
	close(stopSampling)
	samplers.Wait()
	h.settle()
	r.rss[2], r.thr[2] = h.procStatus()
	if a.peaks != nil {
		a.peaks(r)
	}

	bound := *flagP99
	if a.p99 != 0 {
		bound = a.p99
	}
	if a.extraPath != "" {
		r.defence += fmt.Sprintf("; C route %s meanwhile: %d ok, statuses %v, p99 %s, slowest %s (connect %s)",
			a.extraPath, extra.ok, extra.statuses, ms(percentile(extra.lat, 0.99)),
			ms(extra.slowTotal), ms(extra.slowDial))
		for st := range extra.statuses {
			if st != 200 && st != 503 {
				r.fail("normal %s got status %d (expected 200 or 503)", a.extraPath, st)
			}
		}
		if lim := *flagQueue + bound; percentile(extra.lat, 1) > lim {
			r.fail("normal %s waited %s (expected at most queue_timeout + %s = %s)",
				a.extraPath, ms(percentile(extra.lat, 1)), ms(bound), ms(lim))
		}
		if extra.fail > 0 && extra.firstErr != "" && !strings.HasPrefix(extra.firstErr, "status 503") {
			r.fail("normal %s: %s", a.extraPath, extra.firstErr)
		}
	}
	r.defence += fmt.Sprintf("; slowest normal %s (connect %s)", ms(r.normal.slowTotal), ms(r.normal.slowDial))
	if r.normalBound {
		n := &r.normal
		if n.ok == 0 {
			r.fail("no normal request answered")
		}
		if n.fail > 0 {
			r.fail("%d normal requests failed (first: %s)", n.fail, n.firstErr)
		}
		if p := percentile(n.lat, 0.99); p > bound {
			r.fail("normal p99 %s over the bound %s", ms(p), ms(bound))
		}
	}
	return r
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

func mb(kb int) string { return strconv.Itoa((kb + 512) / 1024) }

func printHeader() {
	fmt.Printf("%-6s %-34s %-11s %9s %9s %-15s %-17s %s\n",
		"host", "attack", "normal ok/f", "p50", "p99", "RSS MB b/pk/a", "threads b/pk/a", "defence observed -> verdict")
}

func printRow(r *row) {
	verdict := "PASS"
	if len(r.problems) > 0 {
		verdict = "FAIL: " + strings.Join(r.problems, "; ")
	}
	fmt.Printf("%-6s %-34s %-11s %9s %9s %-15s %-17s %s -> %s\n",
		r.host, r.name, fmt.Sprintf("%d/%d", r.normal.ok, r.normal.fail),
		ms(percentile(r.normal.lat, 0.5)), ms(percentile(r.normal.lat, 0.99)),
		mb(r.rss[0])+"/"+mb(r.rss[1])+"/"+mb(r.rss[2]),
		fmt.Sprintf("%d/%d/%d", r.thr[0], r.thr[1], r.thr[2]),
		r.defence, verdict)
}

// ---------------------------------------------------------------------
// Framing attacks: each payload must be answered by exactly one response
// of the expected status; with close, the connection must then end
// without another response (nothing smuggled).

type framingCase struct {
	payload string
	status  int
	close   bool // Connection: close, then EOF
	check   func(*response) error
}

func framingAttack(cases []framingCase, workers int) func(context.Context, *host, *row) {
	return func(ctx context.Context, h *host, r *row) {
		var defended, violated atomic.Int64
		var mu sync.Mutex
		first := ""
		violation := func(format string, a ...any) {
			violated.Add(1)
			mu.Lock()
			if first == "" {
				first = fmt.Sprintf(format, a...)
			}
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; ctx.Err() == nil; i++ {
					fc := cases[i%len(cases)]
					c, err := dial(h.addr, 5*time.Second)
					if err != nil {
						violation("dial: %v", err)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					c.SetDeadline(time.Now().Add(5 * time.Second))
					br := bufio.NewReader(c)
					_, err = io.WriteString(c, fc.payload)
					var resp *response
					if err == nil {
						resp, err = readResponse(br)
					}
					switch {
					case err != nil:
						violation("%q: %v", firstLine(fc.payload), err)
					case resp.status != fc.status:
						violation("%q: status %d, expected %d", firstLine(fc.payload), resp.status, fc.status)
					case fc.close && !strings.EqualFold(resp.header.Get("Connection"), "close"):
						violation("%q: no Connection: close", firstLine(fc.payload))
					case fc.check != nil && fc.check(resp) != nil:
						violation("%q: %v", firstLine(fc.payload), fc.check(resp))
					default:
						if fc.close {
							if closed, extra := readEOF(c, br, 2*time.Second); !closed {
								violation("%q: connection not closed after the refusal (got %q)", firstLine(fc.payload), extra)
								break
							}
						}
						defended.Add(1)
					}
					c.Close()
				}
			}(w)
		}
		wg.Wait()
		r.defence = fmt.Sprintf("%d refused as expected, %d not", defended.Load(), violated.Load())
		if first != "" {
			r.fail("%s", first)
		}
		if defended.Load() == 0 {
			r.fail("no attack request was answered as expected")
		}
	}
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

var clteCases = []framingCase{
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(5+len(smuggled)) +
		"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, status: 400, close: true},
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
		"5c\r\n" + smuggled + "\r\n0\r\n\r\n", status: 400, close: true},
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: identity, chunked\r\n\r\n" +
		"0\r\n\r\n" + smuggled, status: 400, close: true},
	{payload: "POST /upload HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		status: 400, close: true},
}

var dupCLCases = []framingCase{
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: " +
		strconv.Itoa(5+len(smuggled)) + "\r\n\r\nhello" + smuggled, status: 400, close: true},
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!" + smuggled,
		status: 400, close: true},
	{payload: "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello" + smuggled,
		status: 400, close: true},
}

var nulCases = []framingCase{
	{payload: "GET /fast%00 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{payload: "GET /static/hello.txt%00.html HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{payload: "GET /%00/../fast HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{payload: "GET /fast?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", status: 200}, // control: the route works
}

func dupCLHandlerCases(wantBody string) []framingCase {
	return []framingCase{{payload: "GET /dupcl HTTP/1.1\r\nHost: a\r\n\r\n", status: 500,
		check: func(r *response) error {
			if n := len(r.header["Content-Length"]); n > 1 {
				return fmt.Errorf("%d Content-Length fields sent", n)
			}
			if wantBody != "" && !bytes.Contains(r.body, []byte(wantBody)) {
				return fmt.Errorf("body %q, expected %q", r.body, wantBody)
			}
			return nil
		}}}
}

// ---------------------------------------------------------------------
// Resource attacks against the C host

// stalledBodies: connections that send a head with Content-Length 100 and
// one byte of body, then nothing. Each must be answered 408 within
// body_read_timeout (+2 s of slack) and closed; then it comes back.
func stalledBodies(ctx context.Context, h *host, r *row) {
	before := h.metric(`gohttp_client_errors_total{code="408"}`)
	var cut, late, other atomic.Int64
	var mu sync.Mutex
	first := ""
	note := func(s string) {
		mu.Lock()
		if first == "" {
			first = s
		}
		mu.Unlock()
	}
	bound := *flagBodyTimeout + 2*time.Second
	var wg sync.WaitGroup
	for i := 0; i < *flagStalled; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dial(h.addr, 5*time.Second)
				if err != nil {
					other.Add(1)
					note("dial: " + err.Error())
					time.Sleep(100 * time.Millisecond)
					continue
				}
				t0 := time.Now()
				c.SetDeadline(t0.Add(bound))
				br := bufio.NewReader(c)
				io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nx")
				resp, err := readResponse(br)
				el := time.Since(t0)
				switch {
				case err != nil && isTimeout(err):
					late.Add(1)
					note(fmt.Sprintf("no answer within body_read_timeout + 2 s = %s", ms(bound)))
				case err != nil:
					if ctx.Err() == nil {
						other.Add(1)
						note(err.Error())
					}
				case resp.status != 408:
					other.Add(1)
					note(fmt.Sprintf("status %d, expected 408", resp.status))
				case el < *flagBodyTimeout*9/10:
					other.Add(1)
					note(fmt.Sprintf("408 after %s, before body_read_timeout", ms(el)))
				default:
					if closed, extra := readEOF(c, br, 2*time.Second); !closed {
						other.Add(1)
						note(fmt.Sprintf("connection not closed after 408 (got %q)", extra))
					} else {
						cut.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	got408 := h.metric(`gohttp_client_errors_total{code="408"}`) - before
	r.defence = fmt.Sprintf("%d stalled bodies cut by 408 + close within %s, %d late, %d other; server counted %.0f x 408",
		cut.Load(), ms(bound), late.Load(), other.Load(), got408)
	if cut.Load() == 0 {
		r.fail("no stalled body was cut")
	}
	if late.Load()+other.Load() > 0 {
		r.fail("%s", first)
	}
}

// slowReaders: connections that ask for a big streamed response and read
// none of it (receive buffer 4 KiB). Each handler's write must fail after
// send_timeout, freeing its slot while the attacker still holds the
// connection.
func slowReaders(ctx context.Context, h *host, r *row) {
	before := h.counters()["big_cut"]
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	var conns []net.Conn
	dialFail := 0
	for i := 0; i < *flagSlowReaders && ctx.Err() == nil; i++ {
		c, err := d.Dial("tcp", h.addr)
		if err != nil {
			dialFail++
			continue
		}
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
		conns = append(conns, c)
	}
	opened := time.Now()
	// Every handler must have been cut by now: send_timeout after its
	// buffers filled, plus slack.
	wait := *flagSendTimeout + 5*time.Second
	deadline := opened.Add(wait)
	var cut int
	var busy float64
	for {
		cut = h.counters()["big_cut"] - before
		busy = h.metric("gohttp_handler_slots_busy")
		if cut >= len(conns) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(opened)
	for _, c := range conns {
		c.Close()
	}
	r.defence = fmt.Sprintf("%d slow readers, %d handlers cut by send_timeout within %s while connected (slots busy then: %.0f)",
		len(conns), cut, ms(took), busy)
	if dialFail > 0 {
		r.fail("%d connections could not be opened", dialFail)
	}
	if cut < len(conns) {
		r.fail("%d of %d slow-reader handlers still writing after %s", len(conns)-cut, len(conns), ms(wait))
	}
}

// idleConns: keep-alive connections that send one request each and then
// stay idle; more of them than max_connections. The server must stay at
// max_connections, closing idle ones for the newcomers (the normal client
// among them).
func idleConns(ctx context.Context, h *host, r *row) {
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	want := *flagIdle
	note := ""
	if lim := int(rl.Cur) - 300; want > lim {
		note = fmt.Sprintf(" (open-file limit %d: %d of %d)", rl.Cur, lim, want)
		want = lim
	}
	var opened, closedByServer, failed atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	firstErr := ""
	jobs := make(chan struct{})
	var openers sync.WaitGroup
	for w := 0; w < 64; w++ {
		openers.Add(1)
		go func() {
			defer openers.Done()
			for range jobs {
				c, err := dial(h.addr, 5*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					_, err = io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
				}
				br := bufio.NewReader(c0(c))
				if err == nil {
					var resp *response
					resp, err = readResponse(br)
					if err == nil && resp.status != 200 {
						err = fmt.Errorf("status %d", resp.status)
					}
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					if c != nil {
						c.Close()
					}
					continue
				}
				opened.Add(1)
				c.SetDeadline(time.Time{})
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				go func() { // counts the server closing it
					b := make([]byte, 64)
					if _, err := br.Read(b); err != nil && ctx.Err() == nil {
						closedByServer.Add(1)
					}
				}()
			}
		}()
	}
	for i := 0; i < want && ctx.Err() == nil; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	openers.Wait()
	// Hold them while the normal client keeps coming.
	select {
	case <-ctx.Done():
	case <-time.After(3 * time.Second):
	}
	open := h.metric("gohttp_open_connections")
	shed := closedByServer.Load()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	r.defence = fmt.Sprintf("%d idle keep-alive connections opened%s, %d failed; server open connections %.0f at the end; %d idle ones closed by the server",
		opened.Load(), note, failed.Load(), open, shed)
	r.lastOpen = open
	if int(opened.Load()) <= *flagMaxConns {
		r.fail("only %d connections opened, not beyond max_connections %d (first error: %s)", opened.Load(), *flagMaxConns, firstErr)
	}
	if excess := opened.Load() - int64(*flagMaxConns); shed < excess {
		r.fail("only %d idle connections closed by the server, %d are over max_connections", shed, excess)
	}
}

// idleConnsPeaks checks the open connections sampled during idleConns.
func idleConnsPeaks(r *row) {
	peak := max(r.peakOpen, r.lastOpen)
	r.defence += fmt.Sprintf("; open connections peak %.0f (max_connections %d)", peak, *flagMaxConns)
	if peak > float64(*flagMaxConns) {
		r.fail("server held %.0f connections, over max_connections %d", peak, *flagMaxConns)
	}
}

// c0 keeps bufio.NewReader from being given a nil net.Conn interface.
func c0(c net.Conn) io.Reader {
	if c == nil {
		return bytes.NewReader(nil)
	}
	return c
}

// slowHandlers: max_handlers + extra requests to a handler that sleeps.
// At most max_handlers run (threads stay bounded), the rest are answered
// 503 after queue_timeout, and routes that take no handler slot (the
// static files) keep answering.
func slowHandlers(ctx context.Context, h *host, r *row) {
	n := *flagMaxHandlers + *flagExtraSlow
	var ok200, got503, other atomic.Int64
	var mu sync.Mutex
	first := ""
	note := func(s string) {
		other.Add(1)
		mu.Lock()
		if first == "" {
			first = s
		}
		mu.Unlock()
	}
	// Each connection is opened and its request sent at its own time,
	// evenly over the ramp (shorter than the handler's sleep minus
	// queue_timeout): they must all be pending together, or the first
	// ones finish and free their slots before the last ones arrive.
	ramp := *flagRamp
	bound := ramp + time.Duration(*flagSlowMS)*time.Millisecond + *flagQueue + 10*time.Second
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(due time.Time) {
			defer wg.Done()
			time.Sleep(time.Until(due))
			c, err := dial(h.addr, 5*time.Second)
			if err != nil {
				note("dial: " + err.Error())
				return
			}
			defer c.Close()
			c.SetDeadline(start.Add(bound))
			_, err = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
			var resp *response
			if err == nil {
				resp, err = readResponse(bufio.NewReader(c))
			}
			switch {
			case err != nil:
				note(err.Error())
			case resp.status == 200:
				ok200.Add(1)
			case resp.status == 503:
				got503.Add(1)
			default:
				note(fmt.Sprintf("status %d", resp.status))
			}
		}(start.Add(ramp * time.Duration(i) / time.Duration(n)))
	}
	wg.Wait()
	r.defence = fmt.Sprintf("%d slow requests: %d x 200, %d x 503 (queue_timeout), %d other",
		n, ok200.Load(), got503.Load(), other.Load())
	if other.Load() > 0 {
		r.fail("%d slow requests neither 200 nor 503 (first: %s)", other.Load(), first)
	}
	if ok200.Load() == 0 {
		r.fail("no slow request was served")
	}
}

// slowHandlersPeaks checks the peaks sampled during slowHandlers: every
// slot taken, never more, and threads bounded by the slots.
func slowHandlersPeaks(r *row) {
	r.defence += fmt.Sprintf("; slots busy peak %.0f of %d; threads peak %d (bound max_handlers + %d); open connections peak %.0f",
		r.peakBusy, *flagMaxHandlers, r.thr[1], *flagThreadSlack, r.peakOpen)
	if r.peakBusy != float64(*flagMaxHandlers) {
		r.fail("slots busy peaked at %.0f, expected max_handlers %d", r.peakBusy, *flagMaxHandlers)
	}
	if lim := *flagMaxHandlers + *flagThreadSlack; r.thr[1] > lim {
		r.fail("threads peaked at %d, over max_handlers + %d = %d", r.thr[1], *flagThreadSlack, lim)
	}
}

// ---------------------------------------------------------------------

func main() {
	flag.Parse()
	if *flagHost == "" {
		fmt.Fprintln(os.Stderr, "driver: -host is required")
		os.Exit(2)
	}
	start := time.Now()
	// Go raises the soft open-file limit to the hard one itself; say what
	// it is, since the idle attack needs more than 10000.
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	fmt.Printf("attack: open-file limit %d (hard %d); normal client: GET on a new connection every 20 ms (open loop), bound: all 200, p99 <= %s (%s while max_handlers slow handlers or the slow readers' streams start)\n",
		rl.Cur, rl.Max, ms(*flagP99), ms(*flagP99Sat))

	framing := []attack{
		{name: "CL+TE smuggling", dur: *flagDur, run: framingAttack(clteCases, 4)},
		{name: "duplicate Content-Length (request)", dur: *flagDur, run: framingAttack(dupCLCases, 4)},
		{name: "%00 in the path", dur: *flagDur, run: framingAttack(nulCases, 4)},
	}
	cAttacks := append(append([]attack{}, framing...),
		attack{name: "duplicate Content-Length (handler)", dur: *flagDur,
			run: framingAttack(dupCLHandlerCases("refused 3 of 3"), 4)},
		attack{name: "stalled request bodies", dur: *flagBodyTimeout*3 + time.Second, run: stalledBodies},
		// The 200 streaming handlers start together and are cut together
		// at send_timeout: normal requests share the CPUs with those two
		// bursts (slowest normal request on a 2-core machine: 1.03 s once
		// in a full run, 0.1-0.8 s with the row alone), so the row has
		// the saturated bound.
		attack{name: "slow readers of a streamed response", run: slowReaders, dur: *flagSendTimeout + 6*time.Second, p99: *flagP99Sat},
		attack{name: "idle keep-alive connections", dur: 40 * time.Second, run: idleConns, peaks: idleConnsPeaks},
		attack{name: "slow handlers > max_handlers", normalPath: "/static/hello.txt", extraPath: "/fast",
			dur: *flagRamp + time.Duration(*flagSlowMS)*time.Millisecond + 4*time.Second, run: slowHandlers, peaks: slowHandlersPeaks, p99: *flagP99Sat},
	)
	pyAttacks := append(append([]attack{}, framing...),
		attack{name: "duplicate Content-Length (handler)", dur: *flagDur,
			run: framingAttack(dupCLHandlerCases(""), 4)})

	failed := false
	run := func(name string, argv, env []string, attacks []attack) {
		var selected []attack
		for _, a := range attacks {
			if strings.Contains(a.name, *flagOnly) {
				selected = append(selected, a)
			}
		}
		if len(selected) == 0 {
			return
		}
		h, err := startHost(name, argv, env)
		if err != nil {
			fmt.Printf("%s host: %v\n", name, err)
			failed = true
			return
		}
		fmt.Printf("\n%s host pid %d on %s (metrics %s)\n", name, h.pid, h.addr, h.maddr)
		printHeader()
		for _, a := range selected {
			r := runAttack(h, a)
			printRow(r)
			if len(r.problems) > 0 {
				failed = true
			}
		}
		if !h.stop() {
			fmt.Printf("%s host: FAIL: live counters not at zero or unclean exit\n", name)
			failed = true
		}
	}
	msStr := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	run("C", []string{*flagHost}, []string{
		"ATTACK_STATIC_DIR=" + *flagStatic,
		"ATTACK_MAX_HANDLERS=" + strconv.Itoa(*flagMaxHandlers),
		"ATTACK_QUEUE_TIMEOUT_MS=" + msStr(*flagQueue),
		"ATTACK_BODY_READ_TIMEOUT_MS=" + msStr(*flagBodyTimeout),
		"ATTACK_SEND_TIMEOUT_MS=" + msStr(*flagSendTimeout),
		"ATTACK_SLOW_MS=" + strconv.Itoa(*flagSlowMS),
	}, cAttacks)
	if *flagPyHost != "" {
		run("Python", []string{*flagPython, *flagPyHost}, nil, pyAttacks)
	}
	fmt.Printf("\nattack: %s in %s\n", map[bool]string{false: "PASS", true: "FAIL"}[failed],
		time.Since(start).Round(time.Second))
	if failed {
		os.Exit(1)
	}
}
