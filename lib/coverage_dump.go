//go:build gohttp_coverage

package main

// make coverage only (mk/coverage.mk builds with -tags gohttp_coverage and
// links with --coverage); nothing of it is in any other build.
//
// gcovFlush: the C of shim/ and proxy/ is compiled with gcov counters in
// that build, and gcov writes them from an exit handler of the C runtime,
// which a Go program never runs (os.Exit leaves with a bare exit_group).
// lib/coverage_main_test.go calls it after the last test of go test.
//
// gohttpCoverageAtExit: libgohttp.so is built with go build -cover there,
// and a Go library inside a C or Python process has no os.Exit or main
// return at which Go would write its coverage data. lib/coverage_exit.c
// registers this function with atexit(); it writes the data into
// $GOHTTP_GOCOVERDIR, when that is set, for `go tool covdata`.

// void __gcov_dump(void);
import "C"

import (
	"os"
	"runtime/coverage"
)

func gcovFlush() { C.__gcov_dump() }

//export gohttpCoverageAtExit
func gohttpCoverageAtExit() {
	dir := os.Getenv("GOHTTP_GOCOVERDIR")
	if dir == "" {
		return
	}
	if err := coverage.WriteMetaDir(dir); err != nil {
		os.Stderr.WriteString("gohttp coverage: " + err.Error() + "\n")
		return
	}
	if err := coverage.WriteCountersDir(dir); err != nil {
		os.Stderr.WriteString("gohttp coverage: " + err.Error() + "\n")
	}
}
