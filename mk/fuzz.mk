# mk/fuzz.mk - make fuzz: Go native fuzzing of the request path.
#
#   make fuzz [FUZZTIME=30s]   each target of lib/fuzz_test.go in turn for
#                              FUZZTIME (one fuzz worker: 2 shared cores):
#     FuzzRequestThroughServer  fuzzed method, path, query, header and body
#                               as raw bytes through a real server on
#                               127.0.0.1 into a C echo handler
#                               (gohttp__test_echo_all): every byte arrives
#                               unchanged or the request is refused 4xx; no
#                               crash; counters 0 after each request
#     FuzzBuildView             view.go buildView / buildSeedView fed
#                               fuzzed http.Request values
#   Seed corpora: lib/testdata/fuzz/<target>/ (a failing input the fuzzer
#   finds is written there: commit it with the fix, as a regression seed).
#   Without -fuzz, go test runs every seed, so make test covers them too.
#   make audit runs `make fuzz FUZZTIME=10s`.
#
# Go 1.26's fuzz coordinator can end a clean run with a bare "context
# deadline exceeded" at the FUZZTIME boundary (go.dev/issue/75804, fixed in
# Go 1.27). Such a run, with no failing input written, counts as passed and
# says so; any other failure fails the target.

FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzRequestThroughServer FuzzBuildView

.PHONY: fuzz

fuzz:
	@mkdir -p $(BUILD)
	@failed=0; for t in $(FUZZ_TARGETS); do \
	    log=$(BUILD)/fuzz-$$t.log; before=$$(ls lib/testdata/fuzz/$$t 2>/dev/null | sort); \
	    echo "== fuzz $$t for $(FUZZTIME) (log: $$log)"; \
	    set +e; $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) -count=1 -run '^$$' -fuzz "^$$t\$$" \
	        -fuzztime $(FUZZTIME) -fuzzminimizetime 10s -parallel 1 ./lib > $$log 2>&1; rc=$$?; set -e; \
	    after=$$(ls lib/testdata/fuzz/$$t 2>/dev/null | sort); \
	    grep -E '^fuzz: elapsed' $$log | tail -n 1; \
	    if [ $$rc -eq 0 ]; then echo "   $$t: passed"; \
	    elif [ "$$before" = "$$after" ] && grep -qx '    context deadline exceeded' $$log && \
	         ! grep -qE 'Failing input|panic:|fuzz_test.go:[0-9]+:' $$log; then \
	        echo "   $$t: passed (the coordinator's deadline report at the end, go.dev/issue/75804)"; \
	    else grep -vE '^fuzz: elapsed' $$log | tail -n 30; echo "   $$t: FAILED (exit $$rc)"; failed=1; fi; \
	done; exit $$failed
