# mk/audit.mk - the sanitizer flavors as whole runs, the stress drivers,
# the planted-bug self-tests and `make audit`. Owned by the audit area.
#
#   make stress            stress-c and stress-py (part of `make test`, so
#                          `make asan test` runs them under ASan too)
#   make stress-c          tests/stress/stress_host.c: a C host + client
#                          threads, hostile request mix, token-checked
#   make stress-py         tests/stress/stress_py.py: the same through the
#                          Python package, both dispatch modes
#   make asan [test]       the whole `test` goal under ASan+UBSan+LSan
#   make valgrind          memcheck over the proxy Check suites, the shim
#                          Check suite, the C stress host and a Python smoke
#   make race              go test -race of lib/ (Go-hosted, C handlers)
#   make tsan              proxy churn stress, the C stress host and the C
#                          examples' tests (Check suite + integration)
#                          under TSan
#   make cgocheck          the whole `test` goal (Go tests, C examples,
#                          pytest, stress) against a cgocheck2 library
#   make audit-selftest    every planted bug must be reported by its checker
#   make faults            (mk/faults.mk) fault injection; rows of the audit
#                          in the default and asan flavors
#   make audit             every row above, a table, build/audit/report.md;
#                          it also runs `make proxy-selftest` (mk/proxy.mk)
#                          as a row of its own
#
# `make FLAVOR` alone runs that flavor's whole suite; `make FLAVOR GOAL...`
# (the same as `make FLAVOR=FLAVOR GOAL...`, see the top Makefile) runs only
# the named goals in that flavor's build tree (e.g. `make tsan stress-c`,
# `make valgrind stress-py`). STRESS_SCALE multiplies the stress request
# counts in every flavor (the defaults below fit CI).

STRESS_DIR := $(BUILD)/stress
STRESS_HOST := $(STRESS_DIR)/stress_host
STRESS_SCALE ?= 1

# Memcheck settings: definite and indirect leaks are errors,
# any error fails the run with 99. VALGRIND_EXTRA for local digging (e.g.
# --gen-suppressions=all).
VALGRIND_EXTRA ?=
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --num-callers=40 --suppressions=$(SAN_DIR)/valgrind.supp $(VALGRIND_EXTRA)

# CPython 3.11 itself trips memcheck's definedness tracking: int.from_bytes
# of an empty or zero buffer computes 0 * (uninitialised digit), and the
# "undefined" result then flows through the interpreter (26 errors for
# `python -c "import http.client"` alone, none with this flag; see
# SAFETY.md). The Python run therefore checks leaks and invalid
# reads/writes/frees only; definedness of our C is covered by the C host.
VALGRIND_PY := --undef-value-errors=no

# Per-flavor run wrapper and sizes of the stress runs. Sizes are set so each
# run takes well under a minute on 2 shared cores; the STRESS_SCALE knob
# multiplies them.
STRESS_RUN := $(SAN_RUN)
STRESS_C_SCALE := 1
STRESS_PY_SCALE := 1
STRESS_ENV := STRESS_RSS_GROWTH_MB=64
ifeq ($(FLAVOR),asan)
# ASan's quarantine and shadow make RSS meaningless as a leak signal; LSan
# at exit is the leak check in this flavor.
STRESS_C_SCALE := 1
STRESS_PY_SCALE := 0.5
STRESS_ENV := STRESS_RSS_GROWTH_MB=0
endif
ifeq ($(FLAVOR),tsan)
STRESS_C_SCALE := 1
STRESS_ENV := STRESS_RSS_GROWTH_MB=0 STRESS_BIG_MAX=262144
endif
ifeq ($(FLAVOR),valgrind)
STRESS_RUN := $(VALGRIND)
STRESS_C_SCALE := 0.1
STRESS_PY_SCALE := 0.01
# GOGC=off for the C host: Go's valgrind annotations can leave a block the
# collector freed registered with memcheck, and when the runtime hands the
# same bytes out again memcheck's exit leak check aborts on two
# overlapping blocks ("the 'impossible' happened"; reproduced 2 of 2 with
# a Go-runtime slice and a net.TCPConn at one address). With the collector
# off no Go block is reused. The C allocations this run checks (arenas,
# handle tables, the doorbell) are unaffected.
STRESS_ENV := STRESS_RSS_GROWTH_MB=0 STRESS_THREADS=4 STRESS_BIG_MAX=65536 \
              STRESS_TIMEOUT_S=600 GOGC=off
endif
ifeq ($(FLAVOR),cgocheck)
STRESS_C_SCALE := 1
STRESS_PY_SCALE := 1
endif
# $(call stress_scale,FLAVOR_DEFAULT) = default * STRESS_SCALE.
stress_scale = $(shell awk 'BEGIN{print $(1) * $(STRESS_SCALE)}')

.PHONY: stress stress-c stress-py audit audit-selftest valgrind-proxy \
        valgrind-shim flavor-check

test: stress
stress: stress-c stress-py

$(STRESS_HOST): tests/stress/stress_host.c tests/c/http_client.c tests/c/http_client.h \
                $(BUILD)/lib/libgohttp.so $(BUILD)/include/gohttp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/include -Itests/c -o $@ $< tests/c/http_client.c \
	    -L$(BUILD)/lib -Wl,-rpath,$(abspath $(BUILD)/lib) -lgohttp -pthread $(LDFLAGS)

stress-c: $(STRESS_HOST)
	@echo "== stress-c ($(FLAVOR)): $(STRESS_RUN) $(STRESS_HOST)"
	$(STRESS_ENV) STRESS_SCALE=$(call stress_scale,$(STRESS_C_SCALE)) \
	    $(STRESS_RUN) $(STRESS_HOST)

# The Python package of this flavor is built by mk/python.mk (python-build).
stress-py: python-build
	@echo "== stress-py ($(FLAVOR))"
	$(STRESS_ENV) STRESS_SCALE=$(call stress_scale,$(STRESS_PY_SCALE)) \
	    $(PYTEST_ENV) PYTHONPATH=$(ROOT)/$(BUILD)/python \
	    $(if $(filter valgrind,$(FLAVOR)),$(VALGRIND) $(VALGRIND_PY)) \
	    $(PYTHON) tests/stress/stress_py.py

# --- whole-run flavor goals -------------------------------------------------
# The top Makefile runs `make valgrind` as `make FLAVOR=valgrind valgrind`,
# so these rules are the suites; they run in their own flavor only.

asan cgocheck: test
valgrind: valgrind-proxy valgrind-shim stress-c stress-py
race: go-test
tsan: proxy-stress stress-c examples-test

# Check forks a child per test by default; memcheck must see the tests
# themselves, in one process.
valgrind-proxy: $(PROXY_TESTS) $(PROXY_STRESS)
	@for t in $(PROXY_TESTS); do echo "== memcheck $$t"; \
	    CK_FORK=no $(VALGRIND) $$t || exit $$?; done
	@echo "== memcheck $(PROXY_STRESS) 1 4"
	$(VALGRIND) $(PROXY_STRESS) 1 4

valgrind-shim: $(BUILD)/tests/c/check_shim
	@echo "== memcheck $<"
	CK_FORK=no $(VALGRIND) $<

# --- planted-bug self-tests -------------------------------------------------
# Each builds the project with one planted defect under build/selftest/NAME
# (PLANT = C switch, PLANT_TAGS = Go tag; see mk/flavors.mk) and runs the
# checker that claims to find it; sanitizers/selftest.sh asserts the run
# FAILS with that checker's report. Sub-makes get no -j: 2 shared cores.

SELFTESTS := arena-uaf-asan arena-leak-lsan arena-leak-valgrind \
             proxy-unlocked-tsan proxy-unlocked-tsan-host skip-generation-stress \
             skip-generation-check gorace-race cgoptr-cgocheck fault-leak-faults \
             skip-generation-fuzz
SUBMAKE := $(MAKE) --no-print-directory
st_tree = BUILD=build/selftest/$(1)
# A few requests are enough: each planted bug fires on every request.
ST_STRESS := STRESS_SCALE=0.02 STRESS_THREADS=2

.PHONY: $(addprefix selftest-,$(SELFTESTS))
audit-selftest: $(addprefix selftest-,$(SELFTESTS))

selftest-arena-uaf-asan:
	@sanitizers/selftest.sh arena-uaf-asan 'ERROR: AddressSanitizer: heap-use-after-free' \
	  '$(SUBMAKE) asan $(call st_tree,arena-uaf) PLANT=GOHTTP_PLANT_ARENA_UAF build/selftest/arena-uaf/stress/stress_host' \
	  '$(SUBMAKE) asan stress-c $(call st_tree,arena-uaf) PLANT=GOHTTP_PLANT_ARENA_UAF $(ST_STRESS)' \
	  'in gohttp__arena_free'

selftest-arena-leak-lsan:
	@sanitizers/selftest.sh arena-leak-lsan 'ERROR: LeakSanitizer: detected memory leaks' \
	  '$(SUBMAKE) asan $(call st_tree,arena-leak-asan) PLANT=GOHTTP_PLANT_ARENA_LEAK build/selftest/arena-leak-asan/stress/stress_host' \
	  '$(SUBMAKE) asan stress-c $(call st_tree,arena-leak-asan) PLANT=GOHTTP_PLANT_ARENA_LEAK $(ST_STRESS)' \
	  'in gohttp__arena_new'

selftest-arena-leak-valgrind:
	@sanitizers/selftest.sh arena-leak-valgrind 'definitely lost in' \
	  '$(SUBMAKE) valgrind $(call st_tree,arena-leak-vg) PLANT=GOHTTP_PLANT_ARENA_LEAK build/selftest/arena-leak-vg/stress/stress_host' \
	  '$(SUBMAKE) valgrind stress-c $(call st_tree,arena-leak-vg) PLANT=GOHTTP_PLANT_ARENA_LEAK $(ST_STRESS)' \
	  'by 0x[0-9A-F]+: gohttp__arena_new'

# The proxy churn stress under TSan with the unlocked update planted, the
# binary mk/proxy.mk builds for its proxy-selftest goal (CFLAGS_BASE plus
# -fsanitize=thread, its own TSAN_OPTIONS); we require the TSan report.
# The same plant through `make tsan` itself is the -host row below.
selftest-proxy-unlocked-tsan:
	@sanitizers/selftest.sh proxy-unlocked-tsan 'WARNING: ThreadSanitizer: data race' \
	  '$(SUBMAKE) $(call st_tree,proxy-unlocked) build/selftest/proxy-unlocked/proxy/plant/stress_proxy_unlocked_tsan' \
	  'TSAN_OPTIONS="halt_on_error=1 exitcode=66" build/selftest/proxy-unlocked/proxy/plant/stress_proxy_unlocked_tsan 2'

# The same planted race through the real library: the C stress host under
# TSan, the Go side built normally (see mk/flavors.mk). TSan stops at its
# first report.
selftest-proxy-unlocked-tsan-host:
	@sanitizers/selftest.sh proxy-unlocked-tsan-host 'WARNING: ThreadSanitizer: data race' \
	  '$(SUBMAKE) tsan $(call st_tree,proxy-unlocked-lib) PLANT=GOHTTP_PLANT_PROXY_UNLOCKED build/selftest/proxy-unlocked-lib/stress/stress_host' \
	  '$(SUBMAKE) tsan stress-c $(call st_tree,proxy-unlocked-lib) PLANT=GOHTTP_PLANT_PROXY_UNLOCKED STRESS_SCALE=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66' \
	  'in gohttp_proxy_(release|deref|free)'

# Stale-handle tests against the real library: the stress host's dead
# handles must be rejected; with the generation check skipped they are not.
selftest-skip-generation-stress:
	@sanitizers/selftest.sh skip-generation-stress 'on dead handle .*returned [0-9]|another request|LATE' \
	  '$(SUBMAKE) $(call st_tree,skip-generation) PLANT=GOHTTP_PLANT_SKIP_GENERATION build/selftest/skip-generation/stress/stress_host' \
	  '$(SUBMAKE) stress-c $(call st_tree,skip-generation) PLANT=GOHTTP_PLANT_SKIP_GENERATION STRESS_SCALE=0.1 STRESS_TIMEOUT_S=30'

# The generation check removed, caught by the proxy's Check suite run the
# way `make test` runs it (the proxy-test goal, default flavor settings):
# the stale-handle test must fail.
selftest-skip-generation-check:
	@sanitizers/selftest.sh skip-generation-check 'Checks: [0-9]+, Failures: [1-9]' \
	  '$(SUBMAKE) $(call st_tree,skip-generation-check) PLANT=GOHTTP_PLANT_SKIP_GENERATION build/selftest/skip-generation-check/proxy/check_proxy' \
	  '$(SUBMAKE) proxy-test $(call st_tree,skip-generation-check) PLANT=GOHTTP_PLANT_SKIP_GENERATION' \
	  ':test_stale_after_reuse:'

selftest-gorace-race:
	@sanitizers/selftest.sh gorace-race 'WARNING: DATA RACE' \
	  'mkdir -p build/selftest/gorace && $(GO) test -race -tags=plant_gorace,gohttp_test -c -o build/selftest/gorace/lib.test ./lib' \
	  '$(SUBMAKE) race go-test $(call st_tree,gorace) PLANT_TAGS=plant_gorace' \
	  'plant_gorace\.go'

selftest-cgoptr-cgocheck:
	@sanitizers/selftest.sh cgoptr-cgocheck 'Go pointer stored into non-Go memory|cgo argument has Go pointer' \
	  '$(SUBMAKE) cgocheck $(call st_tree,cgoptr) PLANT_TAGS=plant_cgoptr build/selftest/cgoptr/stress/stress_host' \
	  '$(SUBMAKE) cgocheck stress-c $(call st_tree,cgoptr) PLANT_TAGS=plant_cgoptr $(ST_STRESS)' \
	  'plantCgoPtr'

# The arena of a request refused 503 "handle table full" is kept (the
# counters see it): the fault-injection driver must fail on counters that
# do not return to zero.
selftest-fault-leak-faults:
	@sanitizers/selftest.sh fault-leak-faults 'stats not at zero after test: .*LiveArenas:[1-9]' \
	  '$(SUBMAKE) $(call st_tree,fault-leak) PLANT=GOHTTP_PLANT_FAULT_LEAK lib' \
	  '$(SUBMAKE) faults $(call st_tree,fault-leak) PLANT=GOHTTP_PLANT_FAULT_LEAK' \
	  'handle table full'

# The generation check removed, caught by the libFuzzer target of the
# handle table (mk/fuzz.mk): a freed handle resolves, the model aborts.
selftest-skip-generation-fuzz:
	@sanitizers/selftest.sh skip-generation-fuzz 'ERROR: libFuzzer: deadly signal' \
	  '$(SUBMAKE) $(call st_tree,skip-generation-fuzz) PLANT=GOHTTP_PLANT_SKIP_GENERATION build/selftest/skip-generation-fuzz/fuzz/fuzz_proxy' \
	  'mkdir -p build/selftest/skip-generation-fuzz/corpus && build/selftest/skip-generation-fuzz/fuzz/fuzz_proxy -max_total_time=60 -max_len=512 -artifact_prefix=build/selftest/skip-generation-fuzz/ build/selftest/skip-generation-fuzz/corpus proxy/tests/fuzz_proxy_corpus' \
	  'in LLVMFuzzerTestOneInput .*fuzz_proxy.c'

# --- make audit -------------------------------------------------------------

audit:
	@sanitizers/audit.sh

# Print the flavor settings in force (for the docs and for debugging).
flavor-check:
	@echo "FLAVOR=$(FLAVOR) BUILD=$(BUILD)"
	@echo "CFLAGS=$(CFLAGS)"
	@echo "LDFLAGS=$(LDFLAGS)"
	@echo "CGO_CFLAGS=$(CGO_CFLAGS)"
	@echo "GO_BUILD_FLAGS=$(GO_BUILD_FLAGS) GO_TEST_FLAGS=$(GO_TEST_FLAGS) GO_ENV=$(GO_ENV)"
	@echo "PYTHON=$(PYTHON)"
	@echo "PYTEST_ENV=$(PYTEST_ENV) SAN_RUN=$(SAN_RUN)"
	@echo "ASAN_OPTIONS=$$ASAN_OPTIONS LSAN_OPTIONS=$$LSAN_OPTIONS"
	@echo "UBSAN_OPTIONS=$$UBSAN_OPTIONS TSAN_OPTIONS=$$TSAN_OPTIONS GORACE=$$GORACE"
