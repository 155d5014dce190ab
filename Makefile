# gohttp - every entry point. See README.md for what each target does.
#
# Build flavors: a flavor goal given on the command line (make asan test)
# selects a build tree under build/FLAVOR/; without one the default build
# lives directly under build/ (build/lib, build/include).
#
# The parts of the build live in mk/*.mk, one file per area:
#   mk/proxy.mk      proxy/ handle table and its Check suite
#   mk/core.mk       shim/ + lib/: libgohttp.so/.a, headers, pkg-config,
#                    Go tests, C examples, install
#   mk/python.mk     python/ package, pytest suite, demo
#   mk/flavors.mk    per-flavor compiler and Go flags (sourced first)
#   mk/audit.mk      flavor goals' test runs, self-tests, stress, audit
#   mk/bench.mk      make bench
# Each area adds its own prerequisites to the shared goals (test, all, ...).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := all

FLAVORS := asan tsan valgrind race cgocheck
FLAVOR := $(firstword $(filter $(FLAVORS),$(MAKECMDGOALS)))
ifeq ($(FLAVOR),)
FLAVOR := default
BUILD := build
else
BUILD := build/$(FLAVOR)
endif

ROOT := $(CURDIR)
CC := gcc
PYTHON ?= python3
GO ?= go

WARN := -Wall -Wextra -Werror
CFLAGS_BASE := -std=gnu11 -O2 -g -fPIC $(WARN)
# Per-flavor additions, set by mk/flavors.mk.
FLAVOR_CFLAGS :=
FLAVOR_LDFLAGS :=
GO_BUILD_FLAGS :=
GO_ENV :=

include mk/flavors.mk

CFLAGS := $(CFLAGS_BASE) $(FLAVOR_CFLAGS)
LDFLAGS := $(FLAVOR_LDFLAGS)
export CGO_CFLAGS := $(CFLAGS)
export CGO_LDFLAGS := $(LDFLAGS)

.PHONY: all test bootstrap demo bench clean install $(FLAVORS)

# Installs missing system and Python packages; quiet when all are present.
bootstrap:
	@scripts/bootstrap.sh

all: bootstrap
test: bootstrap

# A flavor goal alone only selects the build tree (make asan test); the
# flavors that are whole runs (make valgrind, make race, ...) add recipes
# in mk/audit.mk.

clean:
	rm -rf build python/build python/*.egg-info

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
