//go:build !plant_cgoptr

package main

import "unsafe"

// plantCgoPtr is the hook of plant_cgoptr.go; normal builds do nothing.
func plantCgoPtr(unsafe.Pointer, *exchange) {}
