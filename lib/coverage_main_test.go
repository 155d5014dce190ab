//go:build gohttp_coverage

package main

import (
	"os"
	"testing"
)

// TestMain of the coverage build (make coverage): the suite as usual, then
// the gcov counters of the C code written out before the process exits
// (see coverage_dump.go). Other builds have no TestMain of their own.
func TestMain(m *testing.M) {
	code := m.Run()
	gcovFlush()
	os.Exit(code)
}
