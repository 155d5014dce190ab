//go:build gohttp_test

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wsgiChild is a `python -m gohttp apps:fields_app` process serving on
// 127.0.0.1 (started through python/tests/child_main.py, which prints the
// library's counters as the last line of stderr at exit).
type wsgiChild struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{} // closed when stdout and stderr reached EOF
}

// startWSGIChild starts the child with the interpreter and package dir
// make names in GOHTTP_FUZZ_PYTHON and GOHTTP_FUZZ_PYTHONPATH, and waits
// for its "listening on" line. The child gets SIGTERM if this process
// dies first.
func startWSGIChild(tb testing.TB, python, pkgDir string) *wsgiChild {
	tb.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	tests := filepath.Join(root, "python", "tests")
	c := &wsgiChild{done: make(chan struct{})}
	c.cmd = exec.Command(python, filepath.Join(tests, "child_main.py"), "-m", "gohttp",
		"apps:fields_app", "--bind", "127.0.0.1:0", "--log-level", "warning")
	c.cmd.Dir = root
	c.cmd.Env = append(os.Environ(), "PYTHONPATH="+pkgDir+string(os.PathListSeparator)+tests)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", python, err)
	}
	addr := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		io.Copy(&lockedWriter{&c.mu, &c.stderr}, stderr)
	}()
	go func() {
		defer readers.Done()
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := listeningRE.FindStringSubmatch(lines.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		readers.Wait()
		close(c.done)
	}()
	select {
	case c.addr = <-addr:
		return c
	case <-c.done:
	case <-time.After(30 * time.Second):
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
	tb.Fatalf("the WSGI child did not start listening; stderr:\n%s", c.errText())
	return nil
}

var listeningRE = regexp.MustCompile(`listening on http://(127\.0\.0\.1:[0-9]+)/`)

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *wsgiChild) errText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// childCrashRE matches what a crash or a sanitizer leaves on stderr (the
// same reports python/tests/conftest.py's CRASH_RE looks for).
var childCrashRE = regexp.MustCompile(`(?m)^fatal error: |^panic: |^SIG[A-Z]+: |Fatal Python error|` +
	`Traceback \(most recent call last\)|==[0-9]+==ERROR: |runtime error: |WARNING: ThreadSanitizer`)

const childCountersMarker = "gohttp counters at exit: "

// stop ends the child with SIGTERM (a drain, then exit) and checks it: exit
// status 0, no crash report, and every live counter it printed at exit 0.
func (c *wsgiChild) stop(tb testing.TB) {
	tb.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		c.cmd.Wait()
		tb.Fatalf("the WSGI child did not exit within 30 s of SIGTERM; stderr:\n%s", c.errText())
	}
	err := c.cmd.Wait()
	text := c.errText()
	if err != nil {
		tb.Fatalf("the WSGI child: %v; stderr:\n%s", err, text)
	}
	if m := childCrashRE.FindString(text); m != "" {
		tb.Fatalf("crash report %q in the WSGI child's stderr:\n%s", m, text)
	}
	i := strings.LastIndex(text, childCountersMarker)
	if i < 0 {
		tb.Fatalf("the WSGI child printed no counters at exit; stderr:\n%s", text)
	}
	line, _, _ := strings.Cut(text[i+len(childCountersMarker):], "\n")
	var counters map[string]int64
	if err := json.Unmarshal([]byte(line), &counters); err != nil {
		tb.Fatalf("counters line %q: %v", line, err)
	}
	for _, k := range []string{"live_handles", "live_arenas", "arena_bytes", "live_servers", "live_tokens", "live_go_handles"} {
		v, ok := counters[k]
		if !ok || v != 0 {
			tb.Errorf("the WSGI child's %s at exit = %d (present %v), want 0: %s", k, v, ok, line)
		}
	}
}

// percentDecode is PATH_INFO's rule: every %XX decoded to its byte, a '%'
// not followed by two hex digits kept as it is.
func percentDecode(s string) string {
	unhex := func(c byte) int {
		switch {
		case '0' <= c && c <= '9':
			return int(c - '0')
		case 'a' <= c && c <= 'f':
			return int(c-'a') + 10
		case 'A' <= c && c <= 'F':
			return int(c-'A') + 10
		}
		return -1
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzRequestThroughWSGI sends the same fuzzed requests as
// FuzzRequestThroughServer to a real `python -m gohttp` process whose WSGI
// application (python/tests/apps.py fields_app) answers the environ it got.
// The answer must be a 4xx refusal or a 200 in which every byte arrived as
// PEP 3333 says: REQUEST_METHOD as sent, SCRIPT_NAME empty, PATH_INFO the
// path as sent %-decoded (bytes as latin-1), QUERY_STRING as sent, the
// header as HTTP_<NAME> (a name with '_' dropped), CONTENT_LENGTH and the
// body unchanged. The child ends with exit status 0, no crash report and
// every live counter 0.
//
// The child is started from GOHTTP_FUZZ_PYTHON with the built package in
// GOHTTP_FUZZ_PYTHONPATH (make fuzz-wsgi-seeds, part of make test, and
// make fuzz set both); plain go test skips the target without them.
func FuzzRequestThroughWSGI(f *testing.F) {
	addFuzzRequestSeeds(f)
	f.Add("GET", "a_b", "", "User_Agent", "underscore", []byte(nil))
	f.Add("GET", "%41%2F%zz%", "a=%41", "X", "\xe9", []byte(nil))

	python, pkgDir := os.Getenv("GOHTTP_FUZZ_PYTHON"), os.Getenv("GOHTTP_FUZZ_PYTHONPATH")
	if python == "" || pkgDir == "" {
		f.Skip("GOHTTP_FUZZ_PYTHON / GOHTTP_FUZZ_PYTHONPATH not set (make fuzz-wsgi-seeds sets them)")
	}
	child := startWSGIChild(f, python, pkgDir)
	f.Cleanup(func() { child.stop(f) })

	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue string, body []byte) {
		ex := sendFuzzRequest(t, child.addr, method, path, query, hname, hvalue, body)
		if !ex.checkable() {
			return
		}
		fields, headers, echoed, err := decodeEchoAll(ex.got)
		if err != nil {
			t.Fatalf("answer: %v in %q", err, ex.got)
		}
		rawPath, rawQuery, _ := strings.Cut(ex.target, "?")
		want := [4]string{method, "", percentDecode(rawPath), rawQuery}
		if fields != want {
			t.Fatalf("REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING arrived as %q, sent %q", fields, want)
		}
		name, value := ex.fuzzedHeader()
		key := "HTTP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		got := map[string]string{}
		for _, hv := range headers {
			got[hv[0]] = hv[1]
		}
		if v, ok := got[key]; strings.Contains(name, "_") {
			if ok {
				t.Fatalf("header %q has '_' in its name and must be dropped, arrived as %s=%q", name, key, v)
			}
		} else if !ok || v != value {
			t.Fatalf("header %q: want %s=%q, environ has %q", name, key, value, headers)
		}
		if got["CONTENT_LENGTH"] != fmt.Sprint(len(body)) {
			t.Fatalf("CONTENT_LENGTH %q, sent %d bytes", got["CONTENT_LENGTH"], len(body))
		}
		if !bytes.Equal(echoed, body) {
			t.Fatalf("body arrived as %q, sent %q", echoed, body)
		}
	})
}
