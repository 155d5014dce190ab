package main

import (
	"net/http"
	"testing"
)

func fwdRequest(peer string, hdr map[string][]string) *http.Request {
	r, _ := http.NewRequest("GET", "http://direct.example/", nil)
	r.RemoteAddr = peer
	r.Host = "direct.example"
	for k, v := range hdr {
		r.Header[k] = v
	}
	return r
}

// The client address is the rightmost X-Forwarded-For hop that is not
// itself trusted; scheme and host are the trusted peer's last values; an
// untrusted peer changes nothing.
func TestForwardedHeadersFromTrustedPeers(t *testing.T) {
	l, bad := parseAllowList("127.0.0.1, 10.0.0.0/8, ::1")
	if bad != "" {
		t.Fatalf("parse: %q", bad)
	}
	all, _ := parseAllowList("*")
	for _, c := range []struct {
		name   string
		list   *allowList
		peer   string
		hdr    map[string][]string
		remote string
		host   string
		scheme string
	}{
		{"untrusted peer", l, "192.0.2.9:4000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.5"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil"}},
			"192.0.2.9:4000", "direct.example", ""},
		{"trusted peer", l, "127.0.0.1:4000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.5"}, "X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"shop.example:8443"}},
			"203.0.113.5:0", "shop.example:8443", "https"},
		{"forged left hop skipped", l, "127.0.0.1:4000",
			map[string][]string{"X-Forwarded-For": {"6.6.6.6, 203.0.113.5", "10.1.2.3"}},
			"203.0.113.5:0", "direct.example", ""},
		{"star takes the first hop", all, "192.0.2.9:1",
			map[string][]string{"X-Forwarded-For": {"6.6.6.6, 203.0.113.5"}},
			"6.6.6.6:0", "direct.example", ""},
		{"v6 hop with port", l, "[::1]:4000",
			map[string][]string{"X-Forwarded-For": {"[2001:db8::7]:5555"}},
			"[2001:db8::7]:5555", "direct.example", ""},
		{"garbage hop ends the walk", l, "127.0.0.1:4000",
			map[string][]string{"X-Forwarded-For": {"unknown"}, "X-Forwarded-Proto": {"gopher"}, "X-Forwarded-Host": {"a b"}},
			"127.0.0.1:4000", "direct.example", ""},
		{"no allow list", nil, "127.0.0.1:4000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.5"}},
			"127.0.0.1:4000", "direct.example", ""},
	} {
		r := c.list.applyForwarded(fwdRequest(c.peer, c.hdr))
		scheme := ""
		if f := forwardedOf(r); f != nil {
			scheme = f.scheme
		}
		if r.RemoteAddr != c.remote || r.Host != c.host || scheme != c.scheme {
			t.Errorf("%s: got remote %q host %q scheme %q, want %q %q %q",
				c.name, r.RemoteAddr, r.Host, scheme, c.remote, c.host, c.scheme)
		}
	}
}

func TestForwardedAllowListRejectsBadEntries(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "localhost", "1.2.3.4,,", "fe80::1%eth0"} {
		if _, bad := parseAllowList(s); bad == "" {
			t.Errorf("%q accepted", s)
		}
	}
	if l, bad := parseAllowList("  "); l != nil || bad != "" {
		t.Errorf("blank list: %v %q", l, bad)
	}
}
