//go:build gohttp_test

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets (make fuzz; seed corpora in testdata/fuzz/). Without -fuzz,
// go test runs each target over its seeds, so make test covers them too.

// decodeEchoAll parses gohttp__test_echo_all's body: netstrings of method,
// url, path and raw_query, the header count and name/value netstrings,
// then the request body.
func decodeEchoAll(b []byte) (fields [4]string, headers [][2]string, body []byte, err error) {
	netstring := func() (string, error) {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			return "", fmt.Errorf("no length")
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || n < 0 || i+1+n >= len(b) || b[i+1+n] != ',' {
			return "", fmt.Errorf("bad netstring at %q", b[:min(len(b), 40)])
		}
		s := string(b[i+1 : i+1+n])
		b = b[i+2+n:]
		return s, nil
	}
	for i := range fields {
		if fields[i], err = netstring(); err != nil {
			return
		}
	}
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		err = fmt.Errorf("no header count")
		return
	}
	n, err := strconv.Atoi(string(b[:i]))
	if err != nil {
		return
	}
	b = b[i+1:]
	for j := 0; j < n; j++ {
		var k, v string
		if k, err = netstring(); err != nil {
			return
		}
		if v, err = netstring(); err != nil {
			return
		}
		headers = append(headers, [2]string{k, v})
	}
	return fields, headers, b, nil
}

// statsSettled waits until no request is in flight: handles, arenas and
// tokens at zero, only the fuzz target's own server live.
func statsSettled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := tStats()
		if c.LiveHandles == 0 && c.LiveArenas == 0 && c.ArenaBytes == 0 && c.LiveTokens == 0 && c.LiveServers == 1 &&
			c.LiveGoHandles == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters not at zero after the request: %+v", c)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addFuzzRequestSeeds adds the seed requests of FuzzRequestThroughServer
// and FuzzRequestThroughWSGI: method, path, query, header name suffix,
// header value, body.
func addFuzzRequestSeeds(f *testing.F) {
	f.Add("GET", "index.html", "", "Accept", "*/*", []byte(nil))
	f.Add("POST", "echo/a%20b", "x=1&y=%00", "Content-Type", "application/octet-stream", []byte("a\x00b\xff\r\n"))
	f.Add("PUT", "caf\xc3\xa9", "q=\xff", "X-Long", strings.Repeat("v", 300), []byte(strings.Repeat("z", 5000)))
	f.Add("HEAD", "", "", "Range", "bytes=0-1", []byte("x"))
	f.Add("G ET", "a b", "", "Bad Name", "v", []byte(nil))
	f.Add("GET", "%00", "", "X", "a\x01b", []byte(nil))
	f.Add("DELETE", "/a//b/../c", "", "X", "  padded\t", []byte(nil))
	f.Add("GET", "a", "", "X", "a\r\nInjected: 1", []byte(nil))
}

// fuzzExchange is one fuzzed request sent as raw bytes and its answer.
type fuzzExchange struct {
	t                                    *testing.T
	method, target, name, hvalue, header string
	raw                                  []byte
	status                               int
	got                                  []byte
}

// sendFuzzRequest sends "METHOD /path?query HTTP/1.1" with Host, the
// header "X-F<hname>: <hvalue>", Content-Length and Connection: close,
// then the body, as raw bytes to addr, and reads the answer.
func sendFuzzRequest(t *testing.T, addr, method, path, query, hname, hvalue string, body []byte) *fuzzExchange {
	ex := &fuzzExchange{t: t, method: method, target: "/" + path, name: "X-F" + hname, hvalue: hvalue}
	if query != "" {
		ex.target += "?" + query
	}
	ex.header = method + path + query + hname + hvalue
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: fuzz\r\n%s: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		method, ex.target, ex.name, hvalue, len(body))
	raw.Write(body)
	ex.raw = raw.Bytes()

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(ex.raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("no HTTP response: %v (request %q)", err, ex.raw[:min(len(ex.raw), 200)])
	}
	ex.got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	ex.status = resp.StatusCode
	// A refusal may be followed by a reset: the server closes without
	// reading the rest of the request, as it may.
	if err != nil && !ex.refused() {
		t.Fatalf("reading the response: %v", err)
	}
	return ex
}

func (ex *fuzzExchange) refused() bool { return ex.status >= 400 && ex.status < 500 }

// checkable says whether the answer's content is to be checked: false for
// a 4xx refusal, for HEAD (no body) and for an input with CR or LF in the
// request head (it frames another request than the one intended: only the
// status is checked for it). Any status but 200 and 4xx fails the test.
func (ex *fuzzExchange) checkable() bool {
	if ex.refused() {
		return false
	}
	if ex.status != 200 {
		ex.t.Fatalf("status %d %q, want 200 or 4xx (request %q)", ex.status, ex.got, ex.raw[:min(len(ex.raw), 200)])
	}
	return !strings.ContainsAny(ex.header, "\r\n") && ex.method != "HEAD"
}

// fuzzedHeader is the fuzzed header as HTTP/1.1 parsing reads it: the
// field line splits at its first colon (a colon in the fuzzed name moves
// the rest into the value), the name canonicalized, the value trimmed of
// surrounding blanks.
func (ex *fuzzExchange) fuzzedHeader() (name, value string) {
	line := ex.name + ": " + ex.hvalue
	colon := strings.IndexByte(line, ':')
	return textproto.CanonicalMIMEHeaderKey(line[:colon]), strings.Trim(line[colon+1:], " \t")
}

// FuzzRequestThroughServer sends a request built from fuzzed method, path,
// query, one header and a body as raw bytes to a real server on 127.0.0.1
// whose catch-all route is a C handler echoing every field it saw. The
// answer must be a 4xx refusal or a 200 in which every byte arrived
// unchanged (the header as fuzzedHeader reads it); the counters return to
// zero after each request.
func FuzzRequestThroughServer(f *testing.F) {
	addFuzzRequestSeeds(f)

	h, rc, msg := tServerNew(&tOptions{MaxHandlers: 4})
	if rc != eOK {
		f.Fatalf("gohttp_server_new = %d (%s)", rc, msg)
	}
	if rc, msg := tRoute(h, "/", thEchoAll, -1); rc != eOK {
		f.Fatalf("gohttp_route = %d (%s)", rc, msg)
	}
	port, msg := tStart(h, "127.0.0.1:0")
	if port <= 0 {
		f.Fatalf("gohttp_start = %d (%s)", port, msg)
	}
	f.Cleanup(func() {
		tShutdown(h, 2000)
		tWait(h, 10000)
		tFree(h)
		if c := tStats(); c.LiveHandles != 0 || c.LiveArenas != 0 || c.LiveTokens != 0 || c.LiveServers != 0 || c.LiveGoHandles != 0 {
			f.Errorf("counters not at zero after the fuzz target: %+v", c)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue string, body []byte) {
		ex := sendFuzzRequest(t, addr, method, path, query, hname, hvalue, body)
		statsSettled(t)
		if !ex.checkable() {
			return
		}
		fields, headers, echoed, err := decodeEchoAll(ex.got)
		if err != nil {
			t.Fatalf("echo: %v in %q", err, ex.got)
		}
		u, err := url.ParseRequestURI(ex.target)
		if err != nil {
			t.Fatalf("200 for a target Go cannot parse: %q", ex.target)
		}
		want := [4]string{method, ex.target, u.Path, u.RawQuery}
		if fields != want {
			t.Fatalf("request line arrived as %q, sent %q", fields, want)
		}
		wantName, wantValue := ex.fuzzedHeader()
		found := false
		for _, hv := range headers {
			if hv[0] == wantName && hv[1] == wantValue {
				found = true
			}
		}
		if !found {
			t.Fatalf("header %q: %q not among %q", wantName, wantValue, headers)
		}
		if !bytes.Equal(echoed, body) {
			t.Fatalf("body arrived as %q, sent %q", echoed, body)
		}
	})
}

// FuzzBuildView feeds the request view builders (view.go buildView and
// buildSeedView) with fuzzed http.Request values, fields a server would
// never let through included: every string must come back byte for byte,
// NUL-terminated, inside the one arena, and the arena must be sized
// exactly enough (the builders panic on a short arena).
func FuzzBuildView(f *testing.F) {
	f.Add("GET", "/a?b=c", "/a", "b=c", "host:80", "Accept", "*/*", uint8(1), []byte(nil), int64(0))
	f.Add("", "", "", "", "", "", "", uint8(0), []byte{}, int64(-1))
	f.Add("P\x00ST", "/\x00?\x00", "/\x00", "\x00", "h\x00", "N\x00", "v\x00\xff", uint8(5), []byte("a\x00b"), int64(3))
	f.Add("GET", strings.Repeat("/x", 500), "/", "", "h", "X", strings.Repeat("y", 2000), uint8(40), []byte(nil), int64(1<<40))

	f.Fuzz(func(t *testing.T, method, uri, path, query, host, hname, hvalue string, nvals uint8, body []byte, cl int64) {
		hdr := http.Header{}
		for i := 0; i < int(nvals%64); i++ {
			hdr[hname] = append(hdr[hname], hvalue+strconv.Itoa(i))
		}
		if nvals%3 == 0 {
			hdr["Other-"+hname] = []string{hvalue}
		}
		r := &http.Request{Method: method, RequestURI: uri, URL: &url.URL{Path: path, RawQuery: query},
			Host: host, Proto: "HTTP/1.1", RemoteAddr: "127.0.0.1:1", Header: hdr, ContentLength: cl}

		v, ok := tBuildView(r)
		if !ok {
			t.Fatal("buildView gave no view")
		}
		if !v.Terminated || !v.InArena {
			t.Fatalf("view strings: terminated=%v in arena=%v", v.Terminated, v.InArena)
		}
		want := tView{Method: method, URL: uri, Path: path, Query: query, Host: host, Proto: "HTTP/1.1",
			Remote: "127.0.0.1:1", ContentLength: cl, Terminated: true, InArena: true}
		names := make([]string, 0, len(hdr))
		for k := range hdr {
			names = append(names, k)
		}
		sort.Strings(names)
		var seedHeaders strings.Builder
		for _, k := range names {
			for _, val := range hdr[k] {
				want.Headers = append(want.Headers, [2]string{k, val})
				seedHeaders.WriteString(k + ": " + val + "\r\n")
			}
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("view %#v, want %#v", v, want)
		}

		seed, terminated, ok := tBuildSeedView(r, body)
		if !ok {
			t.Fatal("buildSeedView gave no view")
		}
		wantSeed := [5]string{method, host, uri, string(body), seedHeaders.String()}
		if !terminated || seed != wantSeed {
			t.Fatalf("seed view %q (terminated %v), want %q", seed, terminated, wantSeed)
		}
		if c := tStats(); c.LiveArenas != 0 {
			t.Fatalf("arenas live after the views were freed: %+v", c)
		}
	})
}
