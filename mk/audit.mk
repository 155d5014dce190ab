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
#   make audit-selftest    every planted bug must be reported by its checker,
#                          through the goal a user runs (the table below;
#                          make selftest-NAME runs one); and proxy-selftest
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

.PHONY: stress stress-c stress-py audit valgrind-proxy \
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
# Each plant is built under build/selftest/NAME (PLANT = C switches,
# PLANT_TAGS = Go tags, added on the command line; see mk/flavors.mk) and
# caught by the very goal a user runs, `make FLAVOR GOAL`, with that
# flavor's options, suppressions and run wrappers: nothing else is set but
# the tree, the plant and the goal's size knobs. sanitizers/selftest.sh
# builds BUILD first (it must compile), then requires the run to FAIL by
# itself (a timeout is not a catch) with REPORT in its output.
#
# One line per plant: $(call selftest,NAME, GOAL, BUILD, PLANT, REPORT)
#   NAME    the goal is selftest-NAME
#   GOAL    flavor and goal as a user types them, with size knobs
#   BUILD   the goal of the same flavor that compiles the plant (TREE/ is
#           the plant's build tree; - when GOAL alone compiles it)
#   PLANT   PLANT=<C macros> and/or PLANT_TAGS=<Go tags>
#   REPORT  'regex' the checker's report must match, then 'regex's the
#           same output must match too (the planted function in a stack,
#           so another finding cannot pass for the plant); grep -E, quoted;
#           a comma is written $(comma)
# Sub-makes get no -j: 2 shared cores.

SUBMAKE := $(MAKE) --no-print-directory
# A few requests are enough where the planted bug fires on every request.
ST_STRESS := STRESS_SCALE=0.02 STRESS_THREADS=2
SELFTESTS :=
st_make = $(SUBMAKE) $(1) BUILD=build/selftest/$(2) $(3)
define selftest_rule
SELFTESTS += $(1)
ST_ROW_$(1) := $(patsubst PLANT=%,%,$(patsubst PLANT_TAGS=%,tags %,$(4))) -> make $(2)
.PHONY: selftest-$(1)
selftest-$(1):
	@sanitizers/selftest.sh $(1) \
	  '$(if $(filter -,$(3)),true,$(call st_make,$(filter $(FLAVORS),$(firstword $(2))) $(subst TREE/,build/selftest/$(1)/,$(3)),$(1),$(4)))' \
	  '$(call st_make,$(2),$(1),$(4))' \
	  $(5)
endef
selftest = $(eval $(call selftest_rule,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)),$(strip $(5))))

#               NAME                GOAL                           BUILD                PLANT                             REPORT
$(call selftest,arena-uaf-asan,     asan stress-c $(ST_STRESS),    lib,                 PLANT=GOHTTP_PLANT_ARENA_UAF,     'ERROR: AddressSanitizer: heap-use-after-free' 'in gohttp__arena_free')
$(call selftest,arena-leak-lsan,    asan stress-c $(ST_STRESS),    lib,                 PLANT=GOHTTP_PLANT_ARENA_LEAK,    'ERROR: LeakSanitizer: detected memory leaks' 'in gohttp__arena_new')
$(call selftest,arena-leak-valgrind, valgrind stress-c $(ST_STRESS), lib,               PLANT=GOHTTP_PLANT_ARENA_LEAK,    'definitely lost in' 'by 0x[0-9A-F]+: gohttp__arena_new')
$(call selftest,proxy-unlocked-tsan, tsan proxy-stress PROXY_STRESS_SECONDS=5, TREE/proxy/stress_proxy, PLANT=GOHTTP_PLANT_PROXY_UNLOCKED, 'WARNING: ThreadSanitizer: data race' 'in gohttp_proxy_(release|deref|free)')
$(call selftest,proxy-unlocked-tsan-host, tsan stress-c STRESS_SCALE=1, lib,            PLANT=GOHTTP_PLANT_PROXY_UNLOCKED, 'WARNING: ThreadSanitizer: data race' 'in gohttp_proxy_(release|deref|free)')
$(call selftest,skip-generation-stress, stress-c STRESS_SCALE=0.1,  lib,                 PLANT=GOHTTP_PLANT_SKIP_GENERATION, 'on dead handle .*returned [0-9]|another request|LATE')
$(call selftest,skip-generation-check, proxy-test,                  TREE/proxy/check_proxy, PLANT=GOHTTP_PLANT_SKIP_GENERATION, 'Checks: [0-9]+$(comma) Failures: [1-9]' ':test_stale_after_reuse:')
$(call selftest,skip-generation-fuzz, fuzz FUZZTIME=10s,            TREE/fuzz/fuzz_proxy, PLANT=GOHTTP_PLANT_SKIP_GENERATION, 'ERROR: libFuzzer: deadly signal' 'fuzz_proxy: FAILED')
$(call selftest,gorace-race,         race go-test,                  -,                   PLANT_TAGS=plant_gorace,          'WARNING: DATA RACE' 'plant_gorace\.go')
$(call selftest,cgoptr-cgocheck,     cgocheck stress-c $(ST_STRESS), lib,                PLANT_TAGS=plant_cgoptr,          'Go pointer stored into non-Go memory|cgo argument has Go pointer' 'plantCgoPtr')
$(call selftest,fault-leak-faults,   faults,                        lib,                 PLANT=GOHTTP_PLANT_FAULT_LEAK,    'stats not at zero after test: .*LiveArenas:[1-9]' 'handle table full')
$(call selftest,native-leak-lsan,    asan python-test PYTEST_ARGS="-k test_api", python-build,        PLANT=GOHTTP_PLANT_NATIVE_LEAK,   'ERROR: LeakSanitizer: detected memory leaks' 'in gohttp_py_request')
$(call selftest,native-uaf-asan,     asan python-test,              python-build,        PLANT=GOHTTP_PLANT_NATIVE_UAF,    'ERROR: AddressSanitizer: heap-use-after-free' 'in gohttp_py_request')
$(call selftest,native-leak-valgrind, valgrind stress-py,           python-build,        PLANT=GOHTTP_PLANT_NATIVE_LEAK,   'definitely lost in' 'by 0x[0-9A-F]+: gohttp_py_request')
$(call selftest,ub-misaligned-ubsan, asan stress-c $(ST_STRESS),    lib,                 PLANT=GOHTTP_PLANT_UB_MISALIGNED, 'runtime error: load of misaligned address' 'in gohttp__arena_new')
$(call selftest,shim-race-tsan,      tsan examples-test,            examples,            PLANT=GOHTTP_PLANT_SHIM_RACE,     'WARNING: ThreadSanitizer: data race' 'in gohttp_write')
$(call selftest,counter-skip-check,  examples-test,                 examples,            PLANT=GOHTTP_PLANT_COUNTER_SKIP,  "Assertion 'c\.live_servers == 0' failed")

.PHONY: audit-selftest selftest-rows
# Every plant of the table, and the proxy area's own self-test
# (mk/proxy.mk), which is also a row of make audit.
audit-selftest: $(addprefix selftest-,$(SELFTESTS)) proxy-selftest

# The table as make audit's rows (sanitizers/audit.sh): flavor|suite|goals.
selftest-rows:
	@$(foreach n,$(SELFTESTS),echo 'selftest|$(ST_ROW_$(n))|selftest-$(n)';)

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
