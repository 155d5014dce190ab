package main

// Trusted proxy headers (gohttp_options.forwarded_allow_ips): a request
// whose TCP peer is in the allow list has its client address, scheme and
// host taken from X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host
// before anything else sees it (routes, the request view, the access
// log). From any other peer those headers are ordinary headers. The
// headers themselves are left in place in every case.
//
//   - X-Forwarded-For: every value of every X-Forwarded-For line, in
//     order, is one hop list. It is walked from the right (the hop the
//     trusted peer added) leftwards past every trusted address; the first
//     untrusted address is the client. Entries further left were written
//     by someone no proxy vouches for, and a client can put anything
//     there, so the first entry is used only when every hop after it is
//     trusted (always the case with "*"). A hop that is not an IP address
//     ("unknown", garbage) ends the walk: the address right of it is the
//     client, and with none (the rightmost hop is not an address) the
//     client address is not rewritten.
//   - X-Forwarded-Proto and X-Forwarded-Host: the last listed value (the
//     one the trusted peer set); Proto only when it is "http" or "https",
//     Host only when it is a plausible host[:port].

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// allowList is the parsed forwarded_allow_ips: nil trusts nobody.
type allowList struct {
	all      bool
	prefixes []netip.Prefix
}

// parseAllowList parses "ip, cidr, ..." or "*". Empty: nobody.
func parseAllowList(s string) (*allowList, string) {
	if strings.TrimSpace(s) == "" {
		return nil, ""
	}
	l := &allowList{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			return nil, "(an empty entry)"
		case f == "*":
			l.all = true
		case strings.Contains(f, "/"):
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, f
			}
			l.prefixes = append(l.prefixes, p.Masked())
		default:
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, f
			}
			a = a.Unmap()
			l.prefixes = append(l.prefixes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return l, ""
}

func (l *allowList) trusts(a netip.Addr) bool {
	if l == nil || !a.IsValid() {
		return false
	}
	if l.all {
		return true
	}
	a = a.Unmap().WithZone("")
	for _, p := range l.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Bits of gohttp_request.forwarded: which view fields a trusted proxy's
// header set (GOHTTP_FORWARDED_* in gohttp.h).
const (
	forwardedFor   = C.GOHTTP_FORWARDED_FOR
	forwardedProto = C.GOHTTP_FORWARDED_PROTO
	forwardedHost  = C.GOHTTP_FORWARDED_HOST
)

// forwardedInfo is what a trusted peer's headers changed; it rides in the
// request's context (only on such requests) to the view builder.
type forwardedInfo struct {
	scheme string // "" unless X-Forwarded-Proto set it
	flags  int
}

type forwardedKey struct{}

func forwardedOf(r *http.Request) *forwardedInfo {
	f, _ := r.Context().Value(forwardedKey{}).(*forwardedInfo)
	return f
}

// applyForwarded returns r itself when its peer is not trusted or sent no
// forwarded header, else a shallow copy with RemoteAddr, Host and the
// scheme (in the context) taken from the headers.
func (l *allowList) applyForwarded(r *http.Request) *http.Request {
	if l == nil {
		return r
	}
	xff, xfp, xfh := r.Header["X-Forwarded-For"], r.Header["X-Forwarded-Proto"], r.Header["X-Forwarded-Host"]
	if xff == nil && xfp == nil && xfh == nil {
		return r
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !l.trusts(peer.Addr()) {
		return r
	}
	info := &forwardedInfo{}
	remote, host := r.RemoteAddr, r.Host
	if client, ok := l.clientOf(xff); ok {
		remote, info.flags = client, info.flags|forwardedFor
	}
	if v, ok := lastValue(xfp); ok {
		switch strings.ToLower(v) {
		case "https":
			info.scheme, info.flags = "https", info.flags|forwardedProto
		case "http":
			info.scheme, info.flags = "http", info.flags|forwardedProto
		}
	}
	if v, ok := lastValue(xfh); ok && plausibleHost(v) {
		host, info.flags = v, info.flags|forwardedHost
	}
	if info.flags == 0 {
		return r
	}
	r2 := r.WithContext(context.WithValue(r.Context(), forwardedKey{}, info))
	r2.RemoteAddr, r2.Host = remote, host
	return r2
}

// clientOf walks the X-Forwarded-For hops from the right past trusted
// addresses; the first untrusted one is the client, as "ip:port" (the
// hop's port when it gave one, else 0: unknown).
func (l *allowList) clientOf(lines []string) (string, bool) {
	var hops []string
	for _, line := range lines {
		for _, h := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	var last netip.AddrPort
	found := false
	for i := len(hops) - 1; i >= 0; i-- {
		ap, ok := parseHop(hops[i])
		if !ok {
			break
		}
		last, found = ap, true
		if !l.trusts(ap.Addr()) {
			break
		}
	}
	if !found {
		return "", false
	}
	return net.JoinHostPort(last.Addr().String(), strconv.Itoa(int(last.Port()))), true
}

// parseHop reads "ip", "ip:port", "[v6]" or "[v6]:port".
func parseHop(h string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	a, err := netip.ParseAddr(h)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), 0), true
}

// lastValue is the last comma-separated element of the last line.
func lastValue(lines []string) (string, bool) {
	if len(lines) == 0 {
		return "", false
	}
	v := lines[len(lines)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// plausibleHost accepts what a Host header may hold: a reg-name, IPv4 or
// bracketed IPv6 literal, optionally ":port"; at most 255 bytes.
func plausibleHost(v string) bool {
	if len(v) > 255 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:[]!$&'()*+;=%", c) >= 0:
		default:
			return false
		}
	}
	return true
}
