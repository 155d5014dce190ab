# mk/proxy.mk - proxy/: the generational handle table, its Check suite and
# its multi-threaded stress. Owned by the proxy area.
#
# Goals:
#   proxy-test      build and run both Check binaries (32-bit generations and
#                   narrow generations, where slots retire after a few
#                   lives) and a short stress run; part of `make test`.
#   proxy-stress    only the stress run (PROXY_STRESS_SECONDS, default 2).
#   proxy-selftest  prove the planted proxy bugs are caught: the Check suite
#                   must fail with GOHTTP_PLANT_SKIP_GENERATION, and the
#                   stress under -fsanitize=thread must report a data race
#                   with GOHTTP_PLANT_PROXY_UNLOCKED. Builds its own
#                   binaries under $(BUILD)/proxy/plant/ from CFLAGS_BASE
#                   (no flavor flags), so it works from any flavor.
#
# For other areas (mk/core.mk, mk/audit.mk):
#   PROXY_SRC, PROXY_HDR       the sources to compile into the library
#   PROXY_TESTS                the Check binaries of this flavor
#   PROXY_STRESS               the stress binary of this flavor; run it as
#                              $(PROXY_STRESS) SECONDS [THREADS [CELLS [SLOTS]]]
#                              (exit 0 = clean; 1 = wrong payload/leak;
#                              a TSan flavor build exits 66 on a report)
#   PROXY_STRESS_SECONDS       duration used by proxy-test / proxy-stress
# Runs are prefixed with $(SAN_RUN) (mk/flavors.mk).
# Check forks one child per test (CK_FORK); under valgrind run the Check
# binaries with CK_FORK=no or --trace-children=yes.

PROXY_SRC := proxy/proxy.c
PROXY_HDR := proxy/proxy.h
PROXY_BUILD := $(BUILD)/proxy
PROXY_CHECK := $(PROXY_BUILD)/check_proxy
# Narrow generation field: every slot lives 3 times, then retires.
PROXY_NARROW_GEN_BITS := 2
PROXY_CHECK_NARROW := $(PROXY_BUILD)/check_proxy_gen$(PROXY_NARROW_GEN_BITS)
PROXY_STRESS := $(PROXY_BUILD)/stress_proxy
PROXY_TESTS := $(PROXY_CHECK) $(PROXY_CHECK_NARROW)
PROXY_STRESS_SECONDS ?= 2

PROXY_TEST_SRC := proxy/tests/check_proxy.c
# The Check builds route the table's allocations through the suite's fault
# injector (proxy.c: GOHTTP_PROXY_CALLOC); the library and stress use calloc.
PROXY_FAULT_CFLAGS := -DGOHTTP_PROXY_CALLOC=proxy_test_calloc
PROXY_STRESS_SRC := proxy/tests/stress_proxy.c
PROXY_DEPS := $(PROXY_SRC) $(PROXY_HDR) proxy/tests/churn.h mk/proxy.mk
# Deferred (=) so a fresh machine runs bootstrap (which installs check and
# pkg-config) before these are evaluated.
PROXY_CHECK_CFLAGS = $(shell pkg-config --cflags check) $(PROXY_FAULT_CFLAGS)
PROXY_CHECK_LIBS = $(shell pkg-config --libs check)

.PHONY: proxy-test proxy-stress proxy-selftest

test: proxy-test

proxy-test: $(PROXY_TESTS) $(PROXY_STRESS)
	@echo "== proxy: Check suite, $$(basename $(PROXY_CHECK)) (32-bit generations)"
	$(SAN_RUN) $(PROXY_CHECK)
	@echo "== proxy: Check suite, $$(basename $(PROXY_CHECK_NARROW)) ($(PROXY_NARROW_GEN_BITS)-bit generations)"
	$(SAN_RUN) $(PROXY_CHECK_NARROW)
	@echo "== proxy: stress, $(PROXY_STRESS_SECONDS)s"
	$(SAN_RUN) $(PROXY_STRESS) $(PROXY_STRESS_SECONDS)

proxy-stress: $(PROXY_STRESS)
	$(SAN_RUN) $(PROXY_STRESS) $(PROXY_STRESS_SECONDS)

$(PROXY_CHECK_NARROW): PROXY_GEN_CFLAGS := -DGOHTTP_PROXY_GEN_BITS=$(PROXY_NARROW_GEN_BITS)
$(PROXY_TESTS): $(PROXY_TEST_SRC) $(PROXY_DEPS) | bootstrap
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PROXY_GEN_CFLAGS) $(PROXY_CHECK_CFLAGS) -Iproxy $(PROXY_TEST_SRC) \
		$(PROXY_SRC) -o $@ $(LDFLAGS) $(PROXY_CHECK_LIBS) -pthread

$(PROXY_STRESS): $(PROXY_STRESS_SRC) $(PROXY_DEPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iproxy $(PROXY_STRESS_SRC) $(PROXY_SRC) -o $@ $(LDFLAGS) -pthread

# --- planted-bug self-test -------------------------------------------------

PROXY_PLANT := $(PROXY_BUILD)/plant
PROXY_PLANT_GEN := $(PROXY_PLANT)/check_proxy_skip_generation
PROXY_PLANT_RACE := $(PROXY_PLANT)/stress_proxy_unlocked_tsan

$(PROXY_PLANT_GEN): $(PROXY_TEST_SRC) $(PROXY_DEPS) | bootstrap
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -DGOHTTP_PLANT_SKIP_GENERATION $(PROXY_CHECK_CFLAGS) -Iproxy \
		$(PROXY_TEST_SRC) $(PROXY_SRC) -o $@ $(PROXY_CHECK_LIBS) -pthread

$(PROXY_PLANT_RACE): $(PROXY_STRESS_SRC) $(PROXY_DEPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -fsanitize=thread -DGOHTTP_PLANT_PROXY_UNLOCKED -Iproxy \
		$(PROXY_STRESS_SRC) $(PROXY_SRC) -o $@ -fsanitize=thread -pthread

# Each planted binary must FAIL; the recipe fails if one passes. TSan stops
# at its first report (halt_on_error) so the run takes well under a second.
proxy-selftest: $(PROXY_PLANT_GEN) $(PROXY_PLANT_RACE)
	@echo "== proxy self-test: GOHTTP_PLANT_SKIP_GENERATION, the Check suite must fail"
	@if $(PROXY_PLANT_GEN) > $(PROXY_PLANT)/skip_generation.log 2>&1; then \
		cat $(PROXY_PLANT)/skip_generation.log; \
		echo "proxy self-test: FAILED: stale-handle tests passed with the generation check removed"; \
		exit 1; fi
	@grep -E '^[0-9]+%: Checks' $(PROXY_PLANT)/skip_generation.log
	@grep -q 'test_stale_after_reuse' $(PROXY_PLANT)/skip_generation.log || { \
		echo "proxy self-test: FAILED: test_stale_after_reuse did not catch it"; exit 1; }
	@echo "proxy self-test: caught (stale-handle tests failed)"
	@echo "== proxy self-test: GOHTTP_PLANT_PROXY_UNLOCKED, TSan must report a race"
	@# TSan sees a race only when the two accesses meet in its history, so
	@# on a loaded machine one 2 s run may miss it: up to 3 runs, caught
	@# when one of them reports (a plant no run reports still fails).
	@for try in 1 2 3; do rc=0; \
		TSAN_OPTIONS="halt_on_error=1 exitcode=66 $$TSAN_OPTIONS" \
		$(PROXY_PLANT_RACE) 2 > $(PROXY_PLANT)/unlocked.log 2>&1 || rc=$$?; \
		if [ $$rc -eq 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' $(PROXY_PLANT)/unlocked.log; then \
			echo "proxy self-test: run $$try reported the race"; break; fi; \
		if [ $$try -eq 3 ]; then cat $(PROXY_PLANT)/unlocked.log; \
			echo "proxy self-test: FAILED: no TSan data race report in 3 runs (exit $$rc)"; exit 1; fi; \
	done
	@grep -m1 'SUMMARY: ThreadSanitizer' $(PROXY_PLANT)/unlocked.log
	@echo "proxy self-test: caught (TSan data race, exit 66)"
