//go:build plant_gorace

package main

// Planted bug for the audit self-test (make audit-selftest, race flavor):
// every request increments this shared counter without synchronization.
// `go test -race` must report it. Never built without -tags plant_gorace.
var plantRequests int

func plantGoRace() { plantRequests++ }
