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
#     FuzzRequestThroughWSGI    the same requests through a real
#                               `python -m gohttp` process into a WSGI
#                               app answering its environ
#                               (python/tests/apps.py fields_app): PEP
#                               3333's rules byte for byte or a 4xx; the
#                               child exits 0 with counters 0
#     FuzzBuildView             view.go buildView / buildSeedView fed
#                               fuzzed http.Request values
#     proxy/tests/fuzz_proxy.c  libFuzzer (clang -fsanitize=fuzzer,address,
#                               undefined): sequences of ref / deref /
#                               release / free / stale / forged operations
#                               and allocation failures against a model of
#                               the handle table; no stale handle resolves
#   Seed corpora: lib/testdata/fuzz/<target>/ and
#   proxy/tests/fuzz_proxy_corpus/ (libFuzzer's own finds go to
#   $(BUILD)/fuzz/corpus_proxy; a crashing input to $(BUILD)/fuzz/crash-*); (a failing input the fuzzer
#   finds is written there: commit it with the fix, as a regression seed).
#   Without -fuzz, go test runs every seed, so make test covers them too
#   (FuzzRequestThroughWSGI's through make fuzz-wsgi-seeds: it needs the
#   built package, named by GOHTTP_FUZZ_PYTHON / GOHTTP_FUZZ_PYTHONPATH).
#   make audit runs `make fuzz FUZZTIME=10s`.
#
# FUZZTIME is Go's syntax; the libFuzzer run takes it as seconds (Ns or Nm;
# anything else: 10 s).
FUZZ_CLANG ?= clang
FUZZ_SECONDS = $(if $(filter %s,$(FUZZTIME)),$(patsubst %s,%,$(FUZZTIME)),$(if $(filter %m,$(FUZZTIME)),$(shell expr $(patsubst %m,%,$(FUZZTIME)) \* 60),10))
FUZZ_PROXY := $(BUILD)/fuzz/fuzz_proxy

# Small first page (2 slots) so short programs grow the table over
# several pages; the table's allocator is the target's failing calloc.
$(FUZZ_PROXY): proxy/tests/fuzz_proxy.c $(PROXY_SRC) $(PROXY_HDR) mk/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CLANG) -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -DGOHTTP_PROXY_CALLOC=fuzz_proxy_calloc \
	    -DGOHTTP_PROXY_PAGE0_BITS=1 $(addprefix -D,$(PLANT)) -Iproxy -o $@ \
	    proxy/tests/fuzz_proxy.c $(PROXY_SRC) -pthread

# Go 1.26's fuzz coordinator can end a clean run with a bare "context
# deadline exceeded" at the FUZZTIME boundary (go.dev/issue/75804, fixed in
# Go 1.27). Such a run, with no failing input written, counts as passed and
# says so; any other failure fails the target.

FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzRequestThroughServer FuzzRequestThroughWSGI FuzzBuildView
# The interpreter and built package FuzzRequestThroughWSGI's child runs.
FUZZ_WSGI_ENV = GOHTTP_FUZZ_PYTHON=$(PYTHON) GOHTTP_FUZZ_PYTHONPATH=$(ROOT)/$(PY_OUT)

.PHONY: fuzz fuzz-wsgi-seeds

# The WSGI target's seeds; in the default flavor only (a sanitizer
# flavor's child Python would need that flavor's preload and options).
ifeq ($(FLAVOR),default)
test: fuzz-wsgi-seeds
endif

fuzz-wsgi-seeds: python-build
	@mkdir -p $(BUILD)
	@set +e; $(FUZZ_WSGI_ENV) $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) -count=1 -run '^FuzzRequestThroughWSGI$$' -v ./lib \
	    > $(BUILD)/fuzz-wsgi-seeds.log 2>&1; rc=$$?; set -e; \
	grep -E '^(--- (PASS|FAIL|SKIP)|(ok|FAIL)[[:space:]]|panic:)|fuzz_(wsgi_)?test.go:[0-9]+:' $(BUILD)/fuzz-wsgi-seeds.log | head -40; \
	if [ $$rc -eq 0 ] && grep -q '^--- SKIP' $(BUILD)/fuzz-wsgi-seeds.log; then \
	    echo "fuzz-wsgi-seeds: skipped, which must not happen here"; exit 1; fi; \
	exit $$rc

fuzz: $(FUZZ_PROXY) python-build
	@mkdir -p $(BUILD)/fuzz/corpus_proxy
	@failed=0; for t in $(FUZZ_TARGETS); do \
	    log=$(BUILD)/fuzz-$$t.log; before=$$(ls lib/testdata/fuzz/$$t 2>/dev/null | sort); \
	    echo "== fuzz $$t for $(FUZZTIME) (log: $$log)"; \
	    set +e; $(FUZZ_WSGI_ENV) $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) -count=1 -run '^$$' -fuzz "^$$t\$$" \
	        -fuzztime $(FUZZTIME) -fuzzminimizetime 10s -parallel 1 ./lib > $$log 2>&1; rc=$$?; set -e; \
	    after=$$(ls lib/testdata/fuzz/$$t 2>/dev/null | sort); \
	    { grep -E '^fuzz: elapsed' $$log || true; } | tail -n 1; \
	    if [ $$rc -eq 0 ]; then echo "   $$t: passed"; \
	    elif [ "$$before" = "$$after" ] && grep -qx '    context deadline exceeded' $$log && \
	         ! grep -qE 'Failing input|panic:|fuzz_test.go:[0-9]+:' $$log; then \
	        echo "   $$t: passed (the coordinator's deadline report at the end, go.dev/issue/75804)"; \
	    else grep -vE '^fuzz: elapsed' $$log | tail -n 30; echo "   $$t: FAILED (exit $$rc)"; failed=1; fi; \
	done; \
	log=$(BUILD)/fuzz-proxy.log; echo "== fuzz proxy/tests/fuzz_proxy.c (libFuzzer) for $(FUZZ_SECONDS)s (log: $$log)"; \
	set +e; ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(FUZZ_PROXY) -max_total_time=$(FUZZ_SECONDS) -max_len=512 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus_proxy proxy/tests/fuzz_proxy_corpus > $$log 2>&1; rc=$$?; set -e; \
	{ grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' $$log || true; } | tail -n 2; \
	if [ $$rc -eq 0 ]; then echo "   fuzz_proxy: passed"; \
	else grep -E 'ERROR|SUMMARY|fuzz_proxy.c:|crash-' $$log | head -n 20 || true; echo "   fuzz_proxy: FAILED (exit $$rc)"; failed=1; fi; \
	exit $$failed
