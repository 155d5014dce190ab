//go:build !plant_gorace

package main

// plantGoRace is the hook of plant_gorace.go; normal builds do nothing.
func plantGoRace() {}
