package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet sends one GET with the request-target exactly as given and
// returns the response (body read).
func rawGet(t *testing.T, ts *testServer, target string) *http.Response {
	t.Helper()
	got, _ := rawExchange(t, ts, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("GET %s: %v in %q", target, err, got)
	}
	return resp
}

// The catch-all route sees the path the client sent: no cleaning
// redirect for "//x", "/a/../b", "/./x" or a URL inside the path.
func TestCatchAllSeesPathAsSent(t *testing.T) {
	for _, pattern := range []string{"/", "GET /"} {
		ts := newServer(t, nil)
		ts.route(pattern, thEcho, -1)
		ts.route("GET /items/", thHello, -1)
		ts.start()
		for target, path := range map[string]string{
			"//x":                         "//x",
			"/a/../b":                     "/a/../b",
			"/a/./b":                      "/a/./b",
			"/x/..":                       "/x/..",
			"/proxy/http://example.com/x": "/proxy/http://example.com/x",
			"//caf%C3%A9?q=1":             "//caf\u00e9",
			"/%2e%2e/etc":                 "/../etc",
			"/plain":                      "/plain",
			"/caf%C3%A9":                  "/caf\u00e9",
		} {
			resp := rawGet(t, ts, target)
			if resp.StatusCode != 200 {
				t.Errorf("%s: GET %s = %d (Location %q), want 200", pattern, target, resp.StatusCode, resp.Header.Get("Location"))
				continue
			}
			if got := resp.Header.Get("X-Echo-Path"); got != path {
				t.Errorf("%s: GET %s: path %q, want %q", pattern, target, got, path)
			}
			if got := resp.Header.Get("X-Echo-Url"); got != target {
				t.Errorf("%s: GET %s: url %q, want it as sent", pattern, target, got)
			}
		}
		ts.stop()
	}
}

// A pattern route keeps ServeMux's cleaning redirect, with the target
// escaped once.
func TestPatternRouteRedirectEscapedOnce(t *testing.T) {
	ts := newServer(t, nil)
	ts.route("/", thHello, -1)
	ts.route("/items/", thEcho, -1)
	ts.start()
	for target, loc := range map[string]string{
		"//items/caf%C3%A9":        "/items/caf%C3%A9",
		"/items/../items/a%2Fb":    "/items/a%2Fb",
		"/items//x%25y?q=%25":      "/items/x%25y?q=%25",
		"/items/./caf%C3%A9?a=b&c": "/items/caf%C3%A9?a=b&c",
	} {
		resp := rawGet(t, ts, target)
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != loc {
			t.Errorf("GET %s = %d Location %q, want a redirect to %q", target, resp.StatusCode, resp.Header.Get("Location"), loc)
		}
	}
	resp := rawGet(t, ts, "/items/caf%C3%A9")
	if resp.StatusCode != 200 || resp.Header.Get("X-Echo-Path") != "/items/caf\u00e9" {
		t.Errorf("direct pattern match: %d %q", resp.StatusCode, resp.Header.Get("X-Echo-Path"))
	}
}
