# gohttp - every entry point. See README.md for what each target does.
#
# FLAVOR (default, asan, tsan, valgrind, race, cgocheck) selects the
# compiler, Go and run-time settings (mk/flavors.mk) and the build tree:
# build/ for default, build/FLAVOR/ otherwise.
#
# Each area of the build is one mk/*.mk file, its goals listed in its
# header (mk/flavors.mk: the per-flavor flags, included first); each adds
# its prerequisites to the shared goals (all, test, ...) and reads $(FLAVOR)
# and $(BUILD), never the goals.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := all

FLAVORS := asan tsan valgrind race cgocheck
FLAVOR ?= default
ifeq ($(filter default $(FLAVORS),$(FLAVOR)),)
$(error FLAVOR=$(FLAVOR): expected one of default $(FLAVORS))
endif

# The goal form, the only place that reads the goals: `make asan test`
# runs `make FLAVOR=asan test`, and a flavor goal alone (`make valgrind`)
# runs `make FLAVOR=valgrind valgrind`, that flavor's suite (mk/audit.mk).
GOAL_FLAVOR := $(filter $(FLAVORS),$(MAKECMDGOALS))
ifneq ($(filter-out $(FLAVOR),$(GOAL_FLAVOR)),)
ifneq ($(words $(GOAL_FLAVOR)),1)
$(error one flavor per make, not "$(GOAL_FLAVOR)")
endif
OTHER_GOALS := $(filter-out $(GOAL_FLAVOR),$(MAKECMDGOALS))
.PHONY: $(MAKECMDGOALS)
$(GOAL_FLAVOR):
	+@$(MAKE) --no-print-directory FLAVOR=$@ $(or $(OTHER_GOALS),$@)
$(OTHER_GOALS):
	@:
else

# A make started by a recipe picks its own flavor: FLAVOR=... given to this
# make is not passed on (BUILD, PLANT and the other variables are).
MAKEOVERRIDES := $(filter-out FLAVOR=%,$(MAKEOVERRIDES))
BUILD := $(if $(filter default,$(FLAVOR)),build,build/$(FLAVOR))

ROOT := $(CURDIR)
CC := gcc
PYTHON ?= python3
GO ?= go

CFLAGS_BASE := -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Werror
include mk/flavors.mk
CFLAGS := $(CFLAGS_BASE) $(FLAVOR_CFLAGS)
LDFLAGS := $(FLAVOR_LDFLAGS)
export CGO_CFLAGS := $(CFLAGS)
export CGO_LDFLAGS := $(LDFLAGS)

.PHONY: all test bootstrap demo bench clean install $(FLAVORS)

# Installs missing system and Python packages; quiet when all are present.
# `make test` and `make demo` (mk/python.mk) start with it; plain `make`
# never installs anything.
bootstrap:
	@scripts/bootstrap.sh

test: bootstrap

clean:
	rm -rf build python/build python/*.egg-info lib/zz_cdeps.h

include mk/proxy.mk
include mk/core.mk
include mk/python.mk
include mk/audit.mk
include mk/faults.mk
include mk/fuzz.mk
include mk/bench.mk
include mk/examples.mk
include mk/attack.mk
include mk/coverage.mk
endif
