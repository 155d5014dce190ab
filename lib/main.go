// Command lib is the gohttp library: Go's net/http server behind the C API
// of shim/gohttp.h. It is package main only because -buildmode=c-shared and
// c-archive require it; main never runs.
//
// Build: go build -buildmode=c-shared -o build/lib/libgohttp.so ./lib
//
// Layout of the package:
//
//	errors.go    codes, last error, the panic guard every export uses
//	options.go   gohttp_options validation and defaults
//	server.go    server lifecycle exports (new, route, start, shutdown, ...)
//	dispatch.go  ServeHTTP: dispatch slot, arena, handle, trampoline, cleanup
//	view.go      building the request view inside one C arena
//	exchange.go  response and request-body exports
//	pull.go      gohttp_next / gohttp_done
//	seed.go      the 2016 gohttplib API on a default server
//	plant_*.go   planted bugs for the audit self-test (build tags only)
//	testsupport.go, testhandlers.c  hooks and C handlers for lib/*_test.go
//
// C parts come from ../shim and ../proxy through the unity files c_*.c.
package main

// #cgo CFLAGS: -I${SRCDIR}/../shim -I${SRCDIR}/../proxy
// #cgo LDFLAGS: -pthread
import "C"

func main() {}
