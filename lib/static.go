package main

// Static files served by Go alone: gohttp_route_static registers a
// directory under a path prefix. Requests for it never reach C or Python
// and take no handler slot. http.FileServer gives ranges, conditional
// requests (If-Modified-Since, If-None-Match), content types and
// sendfile; on top of it:
//
//   - nothing outside the directory is ever opened: the files are opened
//     through an os.Root, which refuses ".." and symlinks that leave the
//     root (os.DirFS would follow them);
//   - no directory listing: a directory is served as its index.html, and
//     without one it does not exist (404).

/*
#cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
#include "gohttp_internal.h"
*/
import "C"

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"unsafe"
)

// staticDir is the http.FileSystem of one static route.
type staticDir struct{ root *os.Root }

// Open opens name ("/a/b.txt", as http.FileServer asks) inside the root.
// The *os.File itself is returned, so net/http can sendfile it.
func (d staticDir) Open(name string) (http.File, error) {
	rel := strings.TrimPrefix(name, "/")
	if rel == "" {
		rel = "."
	}
	f, err := d.root.Open(rel)
	if err != nil {
		return nil, fs.ErrNotExist // never tell why (escape, permission, ...)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fs.ErrNotExist
	}
	if st.IsDir() {
		// Served only as its index.html (which http.FileServer opens
		// itself); never listed.
		if ist, err := d.root.Stat(strings.TrimSuffix(rel, "/") + "/index.html"); err != nil || ist.IsDir() {
			f.Close()
			return nil, fs.ErrNotExist
		}
	}
	return f, nil
}

// validStaticPrefix: an absolute path without wildcards, spaces or a
// method ("/static", "/static/", "/").
func validStaticPrefix(p string) bool {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, "{} \t\r\n") {
		return false
	}
	return !strings.Contains(p, "//") && !strings.Contains(p, "/./") && !strings.Contains(p, "/../") &&
		!strings.HasSuffix(p, "/..") && !strings.HasSuffix(p, "/.")
}

// gohttp_route_static: contract in gohttp.h. prefix and directory are
// copied; the directory is opened now (an os.Root, closed by gohttp_free).
//
//export gohttp_route_static
func gohttp_route_static(sh C.gohttp_server, prefix, directory *C.gohttp__cchar) (rc C.int) {
	defer recoverInto(&rc)
	s, code := lookupServer(sh)
	if code != codeOK {
		return C.int(code)
	}
	pre, code := cStringArg("prefix", (*C.char)(unsafe.Pointer(prefix)), maxPatternLen)
	if code != codeOK {
		return C.int(code)
	}
	dir, code := cStringArg("directory", (*C.char)(unsafe.Pointer(directory)), maxPathArgLen)
	if code != codeOK {
		return C.int(code)
	}
	if !validStaticPrefix(pre) {
		return C.int(fail(codeInval, "gohttp_route_static: prefix %q is not an absolute path without wildcards, spaces or dot segments", pre))
	}
	if dir == "" {
		return C.int(fail(codeInval, "gohttp_route_static: directory is empty"))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return C.int(fail(codeInval, "gohttp_route_static: %v", err))
	}
	// Recorded before the route exists, so a gohttp_free racing this call
	// closes it; a refused route closes it here.
	s.mu.Lock()
	s.roots = append(s.roots, root)
	s.mu.Unlock()
	strip := strings.TrimSuffix(pre, "/")
	h := http.StripPrefix(strip, http.FileServer(staticDir{root}))
	if code := s.addRoute("GET "+strip+"/", h); code != codeOK {
		s.mu.Lock()
		for i, r := range s.roots {
			if r == root {
				s.roots = append(s.roots[:i], s.roots[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		root.Close()
		return C.int(code)
	}
	return 0
}

// closeRoots closes the static routes' directories (gohttp_free).
func (s *server) closeRoots() {
	s.mu.Lock()
	roots := s.roots
	s.roots = nil
	s.mu.Unlock()
	for _, r := range roots {
		r.Close()
	}
}

// ReadFrom lets net/http hand a file to the socket's own ReadFrom
// (sendfile on TCP) when it writes a static file. Only reads go through
// the guard; writes are the connection's own. A TLS connection has no
// ReadFrom: the bytes are copied (and encrypted) as usual.
func (g *guardConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := g.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{g.Conn}, r)
}

// writerOnly hides every method but Write (so io.Copy cannot loop back
// into ReadFrom).
type writerOnly struct{ io.Writer }
