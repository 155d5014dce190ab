//go:build !gohttp_test

package main

// testPanicPoint is the test hook of testsupport.go; the shipped library
// (built without -tags gohttp_test) does nothing here.
func testPanicPoint() {}
