package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "SECRET-OUTSIDE-THE-ROOT"

// staticTree makes DIR/root (served) next to DIR/secret.txt and
// DIR/outside/secret.txt (never served), with symlinks inside the root
// that stay in it and that leave it.
func staticTree(t *testing.T) (root string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	for _, d := range []string{"root/sub", "root/empty", "outside"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"root/a.txt":          "hello static\n",
		"root/style.css":      "body{}\n",
		"root/sub/index.html": "<p>sub index</p>\n",
		"secret.txt":          secret,
		"outside/secret.txt":  secret,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"root/link-in":     "a.txt",
		"root/link-out":    "../secret.txt",
		"root/link-abs":    filepath.Join(base, "secret.txt"),
		"root/dirlink-out": "../outside",
		"root/sub/link-up": "../../secret.txt",
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func newStaticServer(t *testing.T) *testServer {
	t.Helper()
	root := staticTree(t)
	ts := newServer(t, nil)
	ts.route("/", thHello, -1) // a catch-all beside the static route
	if rc, msg := tRouteStatic(ts.h, "/static", root); rc != eOK {
		t.Fatalf("gohttp_route_static = %d (%s)", rc, msg)
	}
	ts.start()
	return ts
}

// Files, content types, ranges, conditional requests, HEAD, index.html,
// and no listing.
func TestStaticFiles(t *testing.T) {
	ts := newStaticServer(t)
	before := tStats().RequestsServed
	resp, body := ts.get("/static/a.txt")
	if resp.StatusCode != 200 || body != "hello static\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("a.txt: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if resp, _ := ts.get("/static/style.css"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css Content-Type %q", resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("GET", ts.base+"/static/a.txt", nil)
	req.Header.Set("Range", "bytes=6-11")
	if resp, body := ts.do(req); resp.StatusCode != 206 || body != "static" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", ts.base+"/static/a.txt", nil)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if resp, _ := ts.do(req); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("HEAD", ts.base+"/static/a.txt", nil)
	if resp, body := ts.do(req); resp.StatusCode != 200 || body != "" || resp.ContentLength != 13 {
		t.Errorf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
	}
	if resp, body := ts.get("/static/sub/"); resp.StatusCode != 200 || body != "<p>sub index</p>\n" {
		t.Errorf("sub/: %d %q", resp.StatusCode, body)
	}
	if resp, body := ts.get("/static/link-in"); resp.StatusCode != 200 || body != "hello static\n" {
		t.Errorf("symlink inside the root: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"/static/", "/static/empty/", "/static/missing.txt"} {
		if resp, body := ts.get(p); resp.StatusCode != 404 || strings.Contains(body, "a.txt") {
			t.Errorf("%s: %d %q (no listing, want 404)", p, resp.StatusCode, body)
		}
	}
	// The catch-all still gets everything else; static files never reach
	// a handler.
	ts.expectHello("/other")
	if got := tStats().RequestsServed - before; got != 1 {
		t.Errorf("handlers ran %d times, want 1 (the /other request)", got)
	}
	// Only GET and HEAD are static: a POST goes to the routes (here the
	// catch-all), never to the file.
	if resp, body := ts.post("/static/a.txt", "x"); resp.StatusCode != 200 || body != "Hello, world.\n" {
		t.Errorf("POST: %d %q, want the catch-all's hello", resp.StatusCode, body)
	}
}

// Nothing outside the root is served, whatever the encoding of "..",
// and whichever symlink points out of it. Raw requests, so no client
// cleans the path first.
func TestStaticTraversalRefused(t *testing.T) {
	ts := newStaticServer(t)
	for _, target := range []string{
		"/static/../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/%2E%2E/secret.txt",
		"/static/..%2fsecret.txt",
		"/static/%2e%2e%2fsecret.txt",
		"/static/sub/..%2f..%2fsecret.txt",
		"/static/sub/../../secret.txt",
		"/static/..%5csecret.txt",
		"/static/link-out",
		"/static/link-abs",
		"/static/dirlink-out/secret.txt",
		"/static/sub/link-up",
		"/static/./../secret.txt",
		"/static//../secret.txt",
	} {
		got, _ := rawExchange(t, ts, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
		if strings.Contains(got, secret) || !strings.HasPrefix(got, "HTTP/1.1 ") {
			t.Errorf("GET %s served a file outside the root:\n%q", target, got)
		}
	}
}

// The file system of a static route refuses, by itself, every name that
// leaves the root: ".." components and symlinks out (http.FileServer
// cleans ".." away before it asks, so this is the layer under it).
func TestStaticDirRefusesEscapes(t *testing.T) {
	root := staticTree(t)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := staticDir{r}
	for _, name := range []string{"/../secret.txt", "/sub/../../secret.txt", "/../outside/secret.txt",
		"/link-out", "/link-abs", "/dirlink-out/secret.txt", "/sub/link-up", "/empty", "/"} {
		f, err := d.Open(name)
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want not-exist", name, err)
		}
	}
	if f, err := d.Open("/a.txt"); err != nil {
		t.Errorf("Open(/a.txt): %v", err)
	} else {
		f.Close()
	}
}

func TestStaticRouteErrors(t *testing.T) {
	root := staticTree(t)
	h, rc, _ := tServerNew(nil)
	if rc != eOK {
		t.Fatal(rc)
	}
	defer tFree(h)
	for _, c := range []struct{ prefix, dir, want string }{
		{"static", root, "absolute"},
		{"/s/{x}", root, "wildcards"},
		{"/s/../t", root, "dot segments"},
		{"/s", filepath.Join(root, "missing"), "no such file"},
		{"/s", filepath.Join(root, "a.txt"), "not a directory"},
		{"/s", "", "empty"},
	} {
		if rc, msg := tRouteStatic(h, c.prefix, c.dir); rc != eInval || !strings.Contains(msg, c.want) {
			t.Errorf("route_static(%q, %q) = %d %q, want EINVAL naming %q", c.prefix, c.dir, rc, msg, c.want)
		}
	}
	if rc, _ := tRouteStatic(h, "/s", root); rc != eOK {
		t.Fatalf("route_static = %d", rc)
	}
	if rc, _ := tRouteStatic(h, "/s/", root); rc != eExist {
		t.Errorf("same prefix twice = %d, want EEXIST", rc)
	}
}
