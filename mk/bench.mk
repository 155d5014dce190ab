# mk/bench.mk - make bench: gohttp against plain Go and the Python servers.
#
#   plain Go net/http (bench/gohello), gohttp + C handler (bench/chello.c),
#   gohttp + one C host thread pulling the requests (bench/cpull.c),
#   the seed-API hello (python -m gohttp), and the raw WSGI hello
#   (bench/wsgi_hello.py) and a Flask hello (bench/flask_hello.py) under
#   gohttp, granian, bjoern and gunicorn gthread, one worker each (plus
#   gohttp --workers 2 when the CLI has it), a 10 KB file served by --static
#   and by a Python handler (bench/wsgi_file.py); then the RSS row.
#
# bench/install.sh first installs what only the bench needs (wrk and
# bench/requirements.txt), silently when present; make test never needs it.
# wrk -t1 -c32 -d4s, three interleaved rounds, medians; about 5 minutes.
# Prints the table and writes $(BUILD)/bench/results.md and results.png.
# BENCH_ARGS passes options to bench/run.py, e.g.
#   make bench BENCH_ARGS='--rounds 5 --only go,gohttp-raw,granian-raw'
#   make bench BENCH_ARGS='--rss-requests 1000000'      (the 1M RSS row)
#   make bench BENCH_ARGS='--rounds 0'                  (the RSS row alone)
#   make bench BENCH_ARGS='--no-rss'

BENCH_DIR := $(BUILD)/bench
BENCH_ARGS ?=

.PHONY: bench bench-build bench-deps

bench-deps:
	@PYTHON=$(PYTHON) bench/install.sh

bench-build: $(BENCH_DIR)/gohello $(BENCH_DIR)/chello $(BENCH_DIR)/cpull python-build

$(BENCH_DIR)/gohello: bench/gohello/main.go
	@mkdir -p $(@D)
	$(GO_ENV) $(GO) build -o $@ ./bench/gohello

# The C hosts link the same libgohttp.so the rest of the build uses, found
# through an rpath to $(BUILD)/lib.
$(BENCH_DIR)/chello $(BENCH_DIR)/cpull: $(BENCH_DIR)/%: bench/%.c bench/host.h $(BUILD)/lib/libgohttp.so $(BUILD)/include/gohttp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(BUILD)/include $< -o $@ -L$(BUILD)/lib -lgohttp \
	    -Wl,-rpath,$(ROOT)/$(BUILD)/lib $(LDFLAGS)

bench: bootstrap bench-deps bench-build
	$(PYTHON) bench/run.py --build $(BUILD) --out-dir $(BENCH_DIR) --rss $(BENCH_ARGS)
