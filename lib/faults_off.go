//go:build !gohttp_test

package main

// The shipped library's side of lib/faults.go: no allocation point ever
// fails on purpose, and the compiler removes the calls.
const (
	faultToken = 0
	faultSlot  = 0
)

func faultFail(int) bool { return false }
