# mk/core.mk - shim/ + lib/: libgohttp.so / libgohttp.a, the installed
# headers, pkg-config, the Go tests, install.
#
#   make lib       $(BUILD)/lib/libgohttp.{so,a}, $(BUILD)/include/gohttp.h
#                  and gohttplib.h, $(BUILD)/lib/pkgconfig/gohttp.pc
#   make go-test   go test of lib/ (Go-hosted servers with C handlers over
#                  loopback); part of `make test`. Flavors add their flags
#                  through GO_BUILD_FLAGS / GO_ENV (e.g. -race).
#   make install   PREFIX=/usr/local (default) [DESTDIR=...]: lib, include,
#                  lib/pkgconfig.
#
# The Go package in lib/ compiles proxy/*.c and shim/*.c itself (unity
# files lib/c_*.c), so every flavor's CGO_CFLAGS reach them. cgo writes its
# own libgohttp.h next to the library; it is deleted, not shipped: the
# hand-written shim/gohttp.h is the contract, and cgo's _cgo_export.c
# checks every //export against it at build time.

# runtime/cgo and cgo's generated wrappers are compiled with CGO_CFLAGS too
# and trip -Wunused-parameter under -Wextra -Werror (x_cgo_clearenv's
# "_unused", the prolog's "v"), which breaks every go build. Turn that one
# warning off for cgo compiles; lib/c_*.c turn it back on, as an error, for
# our own C. Exported, so every area's go invocations get it.
CGO_CFLAGS += -Wno-unused-parameter

CORE_LIB_DIR := $(BUILD)/lib
CORE_INC_DIR := $(BUILD)/include
CORE_SO := $(CORE_LIB_DIR)/libgohttp.so
CORE_A := $(CORE_LIB_DIR)/libgohttp.a
CORE_HEADERS := $(CORE_INC_DIR)/gohttp.h $(CORE_INC_DIR)/gohttplib.h
CORE_PC := $(CORE_LIB_DIR)/pkgconfig/gohttp.pc
# Everything that goes into the library; tests excluded so editing a test
# does not relink.
CORE_SRCS := go.mod $(filter-out %_test.go,$(wildcard lib/*.go)) \
             $(wildcard lib/*.c shim/*.c shim/*.h proxy/*.c proxy/*.h)
CORE_GO_TEST_TIMEOUT ?= 600s
PREFIX ?= /usr/local
GOHTTP_VERSION := 0.1.0

.PHONY: lib go-test

all: lib
test: go-test

lib: $(CORE_SO) $(CORE_A) $(CORE_HEADERS) $(CORE_PC)

$(CORE_SO): $(CORE_SRCS)
	@mkdir -p $(@D)
	$(GO_ENV) $(GO) build $(GO_BUILD_FLAGS) -buildmode=c-shared -o $@ ./lib
	rm -f $(CORE_LIB_DIR)/libgohttp.h

# Ordered after the .so: both write cgo's libgohttp.h, which is removed.
$(CORE_A): $(CORE_SRCS) | $(CORE_SO)
	@mkdir -p $(@D)
	$(GO_ENV) $(GO) build $(GO_BUILD_FLAGS) -buildmode=c-archive -o $@ ./lib
	rm -f $(CORE_LIB_DIR)/libgohttp.h

$(CORE_INC_DIR)/%.h: shim/%.h
	@mkdir -p $(@D)
	cp $< $@

# gohttp.pc for a given prefix: $(call core_pc,PREFIX).
define core_pc
prefix=$(1)
exec_prefix=$${prefix}
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: gohttp
Description: Go net/http server answering requests with C handlers
Version: $(GOHTTP_VERSION)
Libs: -L$${libdir} -lgohttp
Libs.private: -pthread
Cflags: -I$${includedir}
endef

# The build-tree copy points at the build tree, so
# PKG_CONFIG_PATH=$(BUILD)/lib/pkgconfig works without installing.
$(CORE_PC): mk/core.mk
	$(shell mkdir -p $(@D))$(file >$@,$(call core_pc,$(abspath $(BUILD))))
	@echo "wrote $@"

# go test prints every test; the summary after it counts them. The full
# log stays in $(BUILD)/go-test.log.
go-test:
	@mkdir -p $(BUILD)
	@set +e; $(GO_ENV) $(GO) test $(GO_BUILD_FLAGS) -count=1 -timeout $(CORE_GO_TEST_TIMEOUT) -v ./lib \
	    > $(BUILD)/go-test.log 2>&1; rc=$$?; \
	grep -E '^(--- (PASS|FAIL|SKIP)|(ok|FAIL)[[:space:]]|panic:|WARNING: DATA RACE)' $(BUILD)/go-test.log; \
	if [ $$rc -ne 0 ]; then grep -B2 -A20 -E '^--- FAIL|^panic:|DATA RACE' $(BUILD)/go-test.log | head -200; fi; \
	echo "go-test: $$(grep -c '^--- PASS' $(BUILD)/go-test.log) passed, $$(grep -c '^--- FAIL' $(BUILD)/go-test.log) failed, $$(grep -c '^--- SKIP' $(BUILD)/go-test.log) skipped (log: $(BUILD)/go-test.log)"; \
	exit $$rc

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(CORE_SO) $(DESTDIR)$(PREFIX)/lib/libgohttp.so
	install -m 0644 $(CORE_A) $(DESTDIR)$(PREFIX)/lib/libgohttp.a
	install -m 0644 shim/gohttp.h shim/gohttplib.h $(DESTDIR)$(PREFIX)/include/
	$(shell mkdir -p $(BUILD))$(file >$(BUILD)/gohttp.pc.install,$(call core_pc,$(PREFIX)))
	install -m 0644 $(BUILD)/gohttp.pc.install $(DESTDIR)$(PREFIX)/lib/pkgconfig/gohttp.pc
