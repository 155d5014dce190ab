# mk/coverage.mk - make coverage: line coverage of the C (proxy/, shim/),
# the Go (lib/) and the Python (python/gohttp) code, measured over the
# test suites, with a table per language, the lines no test reaches and
# the goals. Not part of `make test` or `make audit` (about 3 min).
#
#   make coverage   builds an instrumented copy of everything under
#                   build/coverage/ (a sub-make of the normal rules with
#                   this file's flags), runs the suites against it:
#                     proxy Check suites + stress  (mk/proxy.mk, proxy.c
#                                                   compiled in directly)
#                     shim Check suite             (tests/c/check_shim.c
#                                                   against libgohttp.so)
#                     go test of lib/              (-coverprofile; the C of
#                                                   the package through
#                                                   lib/c_*.c)
#                     pytest of python/tests       (coverage.py, every
#                                                   Python process; the C
#                                                   through libgohttp.so)
#                   then scripts/coverage_report.py prints the tables and
#                   writes build/coverage/report.md. Fails when a suite
#                   fails or a goal that is met (COV_ENFORCE) falls below.
#
# C: gcc --coverage (gcov), at -O0 so each line's count is its own, with
# -fprofile-update=atomic (the library's C runs on many threads) and only
# the functions of shim/ and proxy/ instrumented (-fprofile-filter-files).
# The flags go to gcc as an @file, $(COV)/gcov.flags, because the filter
# is a regular expression that the recipes' shells must not see.
#   - C built by make (the Check binaries, the examples, the Python
#     extension) gets them through CFLAGS, with LDFLAGS=--coverage.
#   - C built by go (lib/c_shim.c, lib/c_proxy.c) gets them through
#     scripts/coverage_cc.sh, go's CC here, which compiles those two files
#     to a fixed directory ($(COV)/cgo) so the .gcno and .gcda do not land
#     in go's temporary work directory. CGO_LDFLAGS=--coverage links gcov's
#     runtime into libgohttp.so and the go test binary; the test binary
#     writes its counters through lib/coverage_dump.go (tag
#     gohttp_coverage), since a Go program never runs C exit handlers.
#   - $(COV)/cgo/tree-id, a random id made with the tree, is a -D in
#     CGO_CFLAGS: a new tree gives go a new cache key, so go compiles (and
#     writes notes for) the objects the tree's programs run.
# Go: go test -coverprofile with -tags gohttp_test,gohttp_coverage.
# Python: coverage.py, started in every Python process of the run by
# $(COV)/python/sitecustomize.py (the package's own directory on
# PYTHONPATH) when COVERAGE_PROCESS_START names $(COV)/coveragerc.
# coverage.py is installed with pip by this goal when missing; `make test`
# does not need it.

COV := build/coverage
COV_ABS := $(ROOT)/$(COV)
# Goals in percent of lines; COV_ENFORCE lists the areas whose goal is met
# and therefore fails the run when it is missed.
COV_GOAL_C := 95
COV_GOAL_GO := 90
COV_GOAL_PY := 90
COV_ENFORCE ?= c go python
COV_PROXY_STRESS_SECONDS := 1

.PHONY: coverage

ifneq ($(filter coverage,$(MAKECMDGOALS)),)
COV_TREE_ID := $(shell mkdir -p $(COV)/cgo $(COV)/python $(COV)/pydata && f=$(COV)/cgo/tree-id && \
  { [ -s $$f ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > $$f; } && cat $$f)
endif

COV_GCOV_FLAGS := -O0 --coverage -fprofile-abs-path -fprofile-update=atomic \
  "-fprofile-filter-files=(^|/)(shim|proxy)/[^/]+[.][ch]$$"
COV_CGO_CFLAGS := $(CFLAGS_BASE) -Wno-unused-parameter -DGOHTTP_COVERAGE_TREE=$(COV_TREE_ID)
COV_GO_ENV := CC=$(ROOT)/scripts/coverage_cc.sh GOHTTP_COV_OBJDIR=$(COV_ABS)/cgo \
  GOHTTP_COV_CFLAGS_FILE=$(COV_ABS)/gcov.flags
COV_MAKE := $(MAKE) --no-print-directory BUILD=$(COV) \
  CFLAGS='$(CFLAGS_BASE) @$(COV_ABS)/gcov.flags' LDFLAGS=--coverage \
  CGO_CFLAGS='$(COV_CGO_CFLAGS)' CGO_LDFLAGS=--coverage GO_ENV='$(COV_GO_ENV)' \
  GO_BUILD_FLAGS='-cover -covermode=atomic -tags=gohttp_coverage'
COV_PY_DATA := $(COV_ABS)/pydata
COV_GO_DATA := $(COV_ABS)/gocover

define COV_RCFILE
[run]
parallel = True
data_file = $(COV_PY_DATA)/.coverage
source_pkgs = gohttp

[paths]
gohttp =
    $(ROOT)/python/gohttp
    $(COV_ABS)/python/gohttp
endef

define COV_SITECUSTOMIZE
# Written by mk/coverage.mk: start coverage.py in every Python process of
# the coverage run (COVERAGE_PROCESS_START names the rcfile).
import coverage
coverage.process_startup()
endef

# Each suite runs even when one before it failed; the names of the failed
# ones collect in $(COV)/failed and fail the goal after the report.
coverage: bootstrap
	@$(PYTHON) -c 'import coverage' 2>/dev/null || { echo "coverage: pip installing coverage" >&2; \
	    $(PYTHON) -m pip install -q coverage >/dev/null; }
	@rm -rf $(COV_GO_DATA) && mkdir -p $(COV)/cgo $(COV_PY_DATA) $(COV_GO_DATA)
	$(file >$(COV)/gcov.flags,$(COV_GCOV_FLAGS))
	$(file >$(COV)/coveragerc,$(COV_RCFILE))
	@find $(COV) -name '*.gcda' -delete
	@# Make sees the sources, not this file's flags: the instrumented
	@# programs are linked anew each run (go's own cache keeps that quick).
	@rm -f $(COV)/lib/libgohttp.so $(COV)/tests/c/check_shim $(COV)/proxy/check_proxy* \
	    $(COV)/proxy/stress_proxy $(COV)/python/gohttp/*.so
	@rm -f $(COV)/failed $(COV)/go.cover $(COV)/go-hosts.cover $(COV_PY_DATA)/.coverage*
	$(COV_MAKE) $(COV)/lib/libgohttp.so $(COV)/tests/c/check_shim python-build
	$(file >$(COV)/python/sitecustomize.py,$(COV_SITECUSTOMIZE))
	@echo "== coverage: proxy Check suites and stress"
	$(COV_MAKE) proxy-test PROXY_STRESS_SECONDS=$(COV_PROXY_STRESS_SECONDS) || echo proxy-test >> $(COV)/failed
	@echo "== coverage: shim Check suite"
	GOHTTP_GOCOVERDIR=$(COV_GO_DATA) timeout 300 $(COV)/tests/c/check_shim || echo check_shim >> $(COV)/failed
	@echo "== coverage: go test of lib/"
	$(COV_MAKE) go-test GO_TEST_FLAGS='-tags=gohttp_test,gohttp_coverage -coverprofile=$(COV_ABS)/go.cover' \
	    || echo go-test >> $(COV)/failed
	@echo "== coverage: pytest under coverage.py"
	$(COV_MAKE) python-test PYTEST_ENV='env COVERAGE_PROCESS_START=$(COV_ABS)/coveragerc GOHTTP_GOCOVERDIR=$(COV_GO_DATA)' \
	    || echo pytest >> $(COV)/failed
	@cd $(ROOT) && $(PYTHON) -m coverage combine -q --rcfile=$(COV)/coveragerc && \
	    $(PYTHON) -m coverage json -q --rcfile=$(COV)/coveragerc -o $(COV)/python.json
	$(GO) tool covdata textfmt -i=$(COV_GO_DATA) -o $(COV)/go-hosts.cover
	$(PYTHON) scripts/coverage_report.py --root $(ROOT) --build $(COV) \
	    --goal c=$(COV_GOAL_C) --goal go=$(COV_GOAL_GO) --goal python=$(COV_GOAL_PY) \
	    --exclude lib/coverage_dump.go $(addprefix --enforce ,$(COV_ENFORCE))
	@if [ -s $(COV)/failed ]; then echo "coverage: failed suites: $$(cat $(COV)/failed | tr '\n' ' ')"; exit 1; fi
