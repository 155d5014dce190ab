# mk/bench.mk - make bench: wrk against six hello-world servers.
#
#   plain Go net/http (bench/gohello), gohttp + C handler (bench/chello.c),
#   gohttp + Python handler in pull and push dispatch (python -m gohttp),
#   gohttp WSGI + Flask, and Flask's own threaded server.
#
# One run each, same wrk threads/connections/duration for all, loopback
# only, about 1.5 minutes in total; prints the table and writes it to
# $(BUILD)/bench/results.md. BENCH_ARGS passes options to bench/run.py
# (e.g. BENCH_ARGS='--runs 3 --only go,py-pull,py-push').

BENCH_DIR := $(BUILD)/bench
BENCH_ARGS ?=

.PHONY: bench bench-build

bench-build: $(BENCH_DIR)/gohello $(BENCH_DIR)/chello python-build

$(BENCH_DIR)/gohello: bench/gohello/main.go
	@mkdir -p $(@D)
	$(GO_ENV) $(GO) build -o $@ ./bench/gohello

# The C host links the same libgohttp.so the rest of the build uses, found
# through an rpath to $(BUILD)/lib.
$(BENCH_DIR)/chello: bench/chello.c $(BUILD)/lib/libgohttp.so $(BUILD)/include/gohttp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/include $< -o $@ -L$(BUILD)/lib -lgohttp \
	    -Wl,-rpath,$(ROOT)/$(BUILD)/lib $(LDFLAGS)

bench: bootstrap bench-build
	$(PYTHON) bench/run.py --build $(BUILD) --out $(BENCH_DIR)/results.md $(BENCH_ARGS)
