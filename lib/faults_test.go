//go:build gohttp_test

package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The fault-injection driver (make faults): a short request suite (one
// server with a push route into C and a pull route served by a C thread,
// three requests) runs once to count the allocation points it reaches
// (lib/faults.go, shim/faults.c), then once per point with exactly that
// allocation failing. Each run must answer the failed step with a 503 or
// gohttp_server_new's GOHTTP_ENOMEM, answer every other step normally,
// and leave every live counter at zero; the process serves normally after
// the last run.

// faultStep is what one step of the suite saw.
type faultStep struct {
	name    string
	outcome string // "ok", "503 <reason>", "ENOMEM <message>"
}

func (s faultStep) failed() bool { return s.outcome != "ok" }

// faultSuite runs the suite once; a step that gets neither its normal
// answer nor an allowed failure is reported with t.Errorf.
func faultSuite(t *testing.T) []faultStep {
	t.Helper()
	var steps []faultStep
	h, rc, msg := tServerNew(nil)
	if rc != eOK {
		if rc != codeNoMem {
			t.Errorf("gohttp_server_new = %d (%s), want 0 or GOHTTP_ENOMEM", rc, msg)
		}
		return append(steps, faultStep{"gohttp_server_new", "ENOMEM " + msg})
	}
	steps = append(steps, faultStep{"gohttp_server_new", "ok"})
	if rc, msg := tRoute(h, "/echo", thEcho, -1); rc != eOK {
		t.Fatalf("gohttp_route = %d (%s)", rc, msg)
	}
	rc, ud := tRouteQueue(h, "/q/", "fault-ud")
	if rc != eOK {
		t.Fatalf("gohttp_route_queue = %d", rc)
	}
	port, msg := tStart(h, "127.0.0.1:0")
	if port <= 0 {
		t.Fatalf("gohttp_start = %d (%s)", port, msg)
	}
	if n := tPullStart(h, 1); n != 1 {
		t.Fatalf("pull workers started: %d", n)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	request := func(name, method, path, body, want string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			steps = append(steps, faultStep{name, "transport error"})
			return
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			t.Errorf("%s: reading body: %v", name, err)
			steps = append(steps, faultStep{name, "read error"})
		case resp.StatusCode == 200 && string(got) == want:
			steps = append(steps, faultStep{name, "ok"})
		case resp.StatusCode == 503:
			steps = append(steps, faultStep{name, "503 " + strings.TrimSpace(string(got))})
		default:
			t.Errorf("%s: %d %q, want 200 %q or 503", name, resp.StatusCode, got, want)
			steps = append(steps, faultStep{name, fmt.Sprintf("%d", resp.StatusCode)})
		}
	}
	request("POST /echo", "POST", "/echo", "first body", "first body")
	request("GET /q/1 (pull)", "GET", "/q/1", "", "pulled /q/1 ud=fault-ud\n")
	request("POST /echo again", "POST", "/echo", "second body", "second body")
	client.CloseIdleConnections()
	if rc := tShutdown(h, 2000); rc != eOK {
		t.Errorf("gohttp_shutdown = %d", rc)
	}
	if r := tPullJoin(); r.OtherErrors != 0 || r.Closed != 1 {
		t.Errorf("pull worker: %+v", r)
	}
	if rc := tWait(h, 10000); rc != eOK {
		t.Errorf("gohttp_wait = %d", rc)
	}
	if rc := tFree(h); rc != eOK {
		t.Errorf("gohttp_free = %d", rc)
	}
	tCFree(ud)
	return steps
}

func TestFaultsAtEveryAllocationPoint(t *testing.T) {
	zeroAtEnd(t)
	defer tFaultArm(0)
	// Warm-up: the handle tables and their first pages exist before
	// counting, so every run below reaches the same points.
	tFaultArm(0)
	faultSuite(t)
	assertStatsZero(t)

	tFaultArm(0)
	for _, s := range faultSuite(t) {
		if s.failed() {
			t.Fatalf("counting run: %s: %s", s.name, s.outcome)
		}
	}
	seq := tFaultCalls()
	assertStatsZero(t)
	if len(seq) == 0 || len(seq) >= 1024 {
		t.Fatalf("counting run reached %d allocation points", len(seq))
	}
	reached := map[int]int{}
	for _, p := range seq {
		reached[p]++
	}
	// Every point but the proxy's page allocation must be on the suite's
	// path; pages are only allocated when a table grows (the warm-up grew
	// them), and proxy/tests/check_proxy.c fails each of them.
	for _, p := range []int{faultPointArena, faultPointExchangeRef, faultPointServerRef,
		faultPointBell, faultToken, faultSlot} {
		if reached[p] == 0 {
			t.Errorf("the suite never reaches %s", faultPointNames[p])
		}
	}

	type row struct {
		n       int
		point   string
		step    string
		outcome string
	}
	var rows []row
	for k := 1; k <= len(seq); k++ {
		tFaultArm(int64(k))
		steps := faultSuite(t)
		fired := tFaultFired()
		calls := len(tFaultCalls())
		tFaultArm(0)
		assertStatsZero(t)
		var failed []faultStep
		for _, s := range steps {
			if s.failed() {
				failed = append(failed, s)
			}
		}
		r := row{n: k, point: faultPointNames[seq[k-1]]}
		switch {
		case !fired:
			t.Errorf("fault %d (%s) never fired", k, r.point)
		case len(failed) != 1:
			t.Errorf("fault %d (%s): %d steps failed, want 1: %+v", k, r.point, len(failed), steps)
		default:
			r.step, r.outcome = failed[0].name, failed[0].outcome
		}
		if calls > len(seq) {
			t.Errorf("fault %d: the run reached %d points, the counting run %d", k, calls, len(seq))
		}
		rows = append(rows, r)
	}
	// The process lives and serves normally after every failure.
	for _, s := range faultSuite(t) {
		if s.failed() {
			t.Errorf("after the fault runs: %s: %s", s.name, s.outcome)
		}
	}

	fmt.Printf("\nfault injection: %d allocation points, each failed once\n", len(seq))
	fmt.Printf("%-3s %-55s %-20s %s\n", "n", "point", "step", "outcome (counters 0 after each)")
	for _, r := range rows {
		fmt.Printf("%-3d %-55s %-20s %s\n", r.n, r.point, r.step, r.outcome)
	}
}
