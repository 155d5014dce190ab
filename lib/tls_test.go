package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// (PEM) into dir and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gohttp test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// newTLSServer starts a hello server with a fresh self-signed certificate
// and returns it and a pool that trusts the certificate.
func newTLSServer(t *testing.T, h testHandler) (*testServer, *x509.CertPool) {
	t.Helper()
	cert, key, pool := selfSigned(t, t.TempDir())
	ts := newServer(t, &tOptions{CertFile: cert, KeyFile: key})
	ts.route("/", h, -1)
	ts.start()
	ts.base = strings.Replace(ts.base, "http://", "https://", 1)
	return ts, pool
}

// HTTPS answers HTTP/2 to a client that offers it by ALPN and HTTP/1.1 to
// one that does not, on the same port, through the C handler.
func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	ts, pool := newTLSServer(t, thHello)
	for _, c := range []struct {
		proto string
		tr    *http.Transport
	}{
		{"HTTP/2.0", &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}},
		{"HTTP/1.1", &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}},
	} {
		ts.client = &http.Client{Timeout: 20 * time.Second, Transport: c.tr}
		for i := 0; i < 3; i++ { // several requests on one connection
			resp, body := ts.get("/x")
			if resp.StatusCode != 200 || body != "Hello, world.\n" || resp.Proto != c.proto || resp.TLS == nil {
				t.Fatalf("%s: GET = %d %q proto %s tls %v", c.proto, resp.StatusCode, body, resp.Proto, resp.TLS != nil)
			}
		}
		c.tr.CloseIdleConnections()
	}
}

// Several HTTP/2 streams at once on one TLS connection each reach a
// handler and get their whole body (the guard passes HTTP/2 frames
// through; arrival times are per stream).
func TestTLSHTTP2ConcurrentStreams(t *testing.T) {
	ts, pool := newTLSServer(t, thEcho)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	ts.client = &http.Client{Timeout: 20 * time.Second, Transport: tr}
	errs := make(chan string, 16)
	for i := 0; i < 16; i++ {
		go func(i int) {
			want := strings.Repeat(string(rune('a'+i)), 1000*(i+1))
			req, _ := http.NewRequest("POST", ts.base+"/echo", strings.NewReader(want))
			resp, err := ts.client.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || string(b) != want {
				errs <- resp.Proto + " " + resp.Status + " body mismatch"
				return
			}
			errs <- ""
		}(i)
	}
	for i := 0; i < 16; i++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// The framing guard reads the plaintext of TLS connections: a request
// with both Content-Length and Transfer-Encoding sent over HTTPS is
// refused (400) and the request smuggled in its body is never served.
func TestTLSFramingGuardSeesPlaintext(t *testing.T) {
	ts, pool := newTLSServer(t, thCount)
	c, err := tls.Dial("tcp", ts.base[len("https://"):], &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	got := statuses(string(b))
	if len(got) != 1 || got[0] != 400 {
		t.Fatalf("statuses %v, want [400]\n%q", got, b)
	}
}

// A plain HTTP request to the HTTPS port is not served: the handshake
// fails and the connection closes without any handler running.
func TestTLSPlainRequestNotServed(t *testing.T) {
	ts, _ := newTLSServer(t, thCount)
	c, err := net.Dial("tcp", ts.base[len("https://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("plain HTTP on the HTTPS port got %s", resp.Status)
	}
}

// certfile and keyfile: both or neither, and a missing, unreadable or
// mismatched pair is EINVAL at gohttp_server_new with the reason.
func TestTLSOptionErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir)
	other := t.TempDir()
	_, otherKey, _ := selfSigned(t, other)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a pem file\n"), 0o600)
	for _, c := range []struct {
		o    tOptions
		want string
	}{
		{tOptions{CertFile: cert}, "certfile and keyfile go together"},
		{tOptions{KeyFile: key}, "certfile and keyfile go together"},
		{tOptions{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: key}, "no such file"},
		{tOptions{CertFile: cert, KeyFile: otherKey}, "private key does not match"},
		{tOptions{CertFile: garbage, KeyFile: key}, "failed to find any PEM data"},
		{tOptions{CertFile: cert, KeyFile: strings.Repeat("k", 5000)}, "longer than 4096"},
	} {
		h, rc, msg := tServerNew(&c.o)
		if rc != eInval || !strings.Contains(msg, c.want) {
			t.Errorf("%+v: gohttp_server_new = %d %q, want EINVAL naming %q", c.o, rc, msg, c.want)
			if rc == eOK {
				tFree(h)
			}
		}
	}
}
