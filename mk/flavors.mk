# mk/flavors.mk - per-flavor compiler, Go and run-time settings.
#
# Included by the top Makefile once FLAVOR is known and BEFORE
# CFLAGS/LDFLAGS are composed from CFLAGS_BASE and FLAVOR_*. One flavor per
# make invocation:
#
#   flavor    C (FLAVOR_CFLAGS)                 Go (GO_BUILD_FLAGS / GO_ENV)
#   default   -                                 -
#   asan      -fsanitize=address,undefined      -asan  (ASan+LSan+UBSan)
#   tsan      -fsanitize=thread                 -      (see below)
#   valgrind  -                                 -tags valgrind
#   race      -                                 -race  (Go-hosted tests only)
#   cgocheck  -                                 GOEXPERIMENT=cgocheck2
#
# Why each choice (the evidence is in SAFETY.md):
#  - asan: `go build -asan` insists on gcc >= 7 or clang >= 9 as $(CC) and
#    links the compiler's own ASan runtime, so the C host, the library and
#    the preloaded runtime for Python all come from the same gcc 12
#    (libasan.so.8). UBSan is linked next to it; -fno-sanitize-recover makes
#    the first UB a hard failure instead of a line in a log nobody reads.
#  - tsan: a -race c-shared library cannot be loaded by a C program or by
#    Python (the Go race runtime must own the process's shadow memory), so
#    the Go side is built normally and only the C side is instrumented.
#    cmd/cgo sees -fsanitize=thread in CGO_CFLAGS and brackets every cgo
#    call with __tsan_acquire/__tsan_release on one global token, which is
#    how Go's own misc/cgo testsanitizers tsan_shared test runs. Runs go
#    through $(SAN_RUN) (setarch -R, no ASLR), as that test does (go.dev/issue/59418).
#  - valgrind: the Go 1.25+ `valgrind` tag makes the runtime describe its
#    heap and goroutine stacks to memcheck with client requests.
#  - race: Go's race detector; the C code is not instrumented by it.
#  - cgocheck: the cgocheck2 experiment adds a write barrier check that
#    throws when a Go pointer is stored into C memory.
#
# Planted-bug builds (make audit-selftest only) add PLANT=<C macro names>
# and PLANT_TAGS=<Go build tags> on the command line; the normal build never
# sets them.
#
# Variables other areas use:
#   $(PYTEST_ENV)  prefix for every Python process a test run starts:
#                  `$(PYTEST_ENV) $(PYTHON) -m pytest ...`. Empty except in
#                  asan (LD_PRELOAD of the ASan runtime + PYTHONMALLOC=malloc)
#                  and valgrind (PYTHONMALLOC=malloc).
#   $(SAN_RUN)     prefix for running an instrumented native binary (the
#                  tsan flavor needs ASLR off); empty in other flavors.
#   $(GO_TAGS)     the build tags in force (already inside GO_BUILD_FLAGS
#                  and GO_TEST_FLAGS); an area that needs its own tag must
#                  add to GO_TAGS, never pass a second -tags (the last -tags
#                  wins in `go build`).

SAN_DIR := $(ROOT)/sanitizers
comma := ,
space := $(subst ,, )

FLAVOR_CFLAGS :=
FLAVOR_LDFLAGS :=
GO_BUILD_FLAGS :=
GO_ENV :=
GO_TAGS :=
PYTEST_ENV :=
SAN_RUN :=

ifeq ($(FLAVOR),asan)
FLAVOR_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer
FLAVOR_LDFLAGS := -fsanitize=address,undefined
GO_BUILD_FLAGS := -asan
# The ASan runtime of the same compiler that built the library; Python is
# not instrumented, so the runtime must be first in its library list.
ASAN_RUNTIME := $(shell $(CC) -print-file-name=libasan.so)
# Leak detection at exit is on; ASan stops at the first error; every UBSan
# finding aborts the run with a stack trace.
ASAN_OPTIONS_BASE := detect_leaks=1:halt_on_error=1:strict_string_checks=1
export ASAN_OPTIONS := $(ASAN_OPTIONS_BASE)
export LSAN_OPTIONS := suppressions=$(SAN_DIR)/lsan.supp:print_suppressions=0
# intercept_tls_get_addr=0, Python only: Python dlopen()s libgohttp.so, so
# the Go runtime's TLS is dynamic TLS, and LSan's tracking of dynamic TLS
# blocks (gcc 12's libasan) crashes its exit-time scan in such processes
# ("Tracer caught signal 11" in ScanRangeForPointers, every stress-py run).
# Without the interception LSan no longer treats those blocks as roots of
# their own; that can only make it report more, never hide a leak.
# fast_unwind_on_malloc=0, Python only: CPython is built without frame
# pointers, so the fast unwinder records 3 frames per allocation; leak
# reports then cannot name their origin and lsan.supp entries (which
# match on cffi's frames) cannot match. Costs ~2.5x in Python runs.
PYTEST_ENV := env LD_PRELOAD=$(ASAN_RUNTIME) PYTHONMALLOC=malloc \
    ASAN_OPTIONS=$(ASAN_OPTIONS_BASE):intercept_tls_get_addr=0:fast_unwind_on_malloc=0
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
endif

ifeq ($(FLAVOR),tsan)
FLAVOR_CFLAGS := -fsanitize=thread
FLAVOR_LDFLAGS := -fsanitize=thread
# Go's c-shared TSan test turns ASLR off where the kernel's wide mmap
# randomisation confuses the TSan runtime; harmless where it does not.
SAN_RUN := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo setarch $$(uname -m) -R)
export TSAN_OPTIONS := halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$(SAN_DIR)/tsan.supp
endif

ifeq ($(FLAVOR),valgrind)
GO_TAGS += valgrind
PYTEST_ENV := env PYTHONMALLOC=malloc
endif

ifeq ($(FLAVOR),race)
GO_BUILD_FLAGS := -race
# Report every race (not just the first) and fail the run with exit 66.
export GORACE := halt_on_error=0 exitcode=66
endif

ifeq ($(FLAVOR),cgocheck)
GO_ENV := GOEXPERIMENT=cgocheck2
endif

# pyenv's python3 is a bash script: preloading ASan into bash makes LSan
# report bash's own leaks, and valgrind would trace bash. Run the real
# interpreter in the flavors that wrap Python.
ifneq ($(filter asan valgrind,$(FLAVOR)),)
PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
endif

# Planted bugs: C switches become -D flags, Go tags join the flavor's tags.
FLAVOR_CFLAGS += $(addprefix -D,$(PLANT))
GO_TAGS += $(PLANT_TAGS)
# $(GO_TEST_FLAGS): GO_BUILD_FLAGS plus the gohttp_test tag, which compiles
# lib/testsupport.go and lib/testhandlers.c in; every `go test` of lib/
# uses it. The shipped library (GO_BUILD_FLAGS) never has that tag.
go_tags_flag = $(if $(strip $(1)),-tags=$(subst $(space),$(comma),$(strip $(1))))
GO_TEST_FLAGS := $(GO_BUILD_FLAGS) $(call go_tags_flag,$(GO_TAGS) gohttp_test)
GO_BUILD_FLAGS += $(call go_tags_flag,$(GO_TAGS))
