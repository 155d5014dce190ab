# mk/attack.mk - make attack: the attack suite (tests/attack/).
#
#   make attack    builds the C attack host (tests/attack/attack_host.c,
#                  linked like the C examples), the Go driver
#                  (tests/attack/driver) and the Python package, then runs
#                  the driver: each attack for a few seconds against a real
#                  server process while a normal client sends GETs, one
#                  table row per attack (normal ok/failed, p50/p99, server
#                  RSS and threads before/peak/after, the defence seen).
#                  Fails on a missing defence, on a normal request that
#                  failed or a normal p99 over ATTACK_P99 (default 1s), and
#                  when a host's live counters are not 0 at exit.
#
# ATTACK_FLAGS passes more driver flags (e.g. ATTACK_FLAGS='-only idle');
# ATTACK_PLANT=body_read_timeout|max_connections plants a weakness in the C
# host to show the suite failing. Everything is on 127.0.0.1; `timeout`
# bounds the whole run.

ATTACK_DIR := $(BUILD)/attack
ATTACK_HOST := $(ATTACK_DIR)/attack_host
ATTACK_DRIVER := $(ATTACK_DIR)/driver
ATTACK_P99 ?= 1s
ATTACK_FLAGS ?=
ATTACK_PLANT ?=

.PHONY: attack

$(ATTACK_HOST): tests/attack/attack_host.c $(BUILD)/lib/libgohttp.so $(BUILD)/include/gohttp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/include -o $@ $< -L$(BUILD)/lib \
	    -Wl,-rpath,$(abspath $(BUILD)/lib) -lgohttp -pthread $(LDFLAGS)

# The driver is plain Go (no cgo): none of the flavor's C flags apply.
$(ATTACK_DRIVER): tests/attack/driver/main.go go.mod
	@mkdir -p $(@D)
	CGO_ENABLED=0 CGO_CFLAGS= CGO_LDFLAGS= $(GO) build -o $@ ./tests/attack/driver

attack: $(ATTACK_HOST) $(ATTACK_DRIVER) python-build
	@echo "== attack ($(FLAVOR))"
	ATTACK_PLANT=$(ATTACK_PLANT) $(PYTEST_ENV) PYTHONPATH=$(ROOT)/$(BUILD)/python \
	    timeout 400 $(ATTACK_DRIVER) -host $(ATTACK_HOST) \
	    -pyhost tests/attack/attack_host.py -python $(PYTHON) \
	    -static tests/attack/static -p99 $(ATTACK_P99) $(ATTACK_FLAGS)
