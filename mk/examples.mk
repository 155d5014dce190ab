# mk/examples.mk - the C examples (examples/c/) and the C-hosted tests of the
# public API (tests/c/): build, Check suite, integration, load, demo-c.
#
#   make examples       build $(BUILD)/examples/{hello,echo,stream} and
#                       $(BUILD)/tests/c/{check_shim,load}
#   make examples-test  Check suite + integration test (curl against the
#                       running examples); part of `make test`
#   make load-test      100k requests from 64 keep-alive connections
#                       through each C API (gohttp.h and the seed's
#                       gohttplib.h), stats at zero afterwards; part of
#                       `make test`. LOAD_REQUESTS / LOAD_CONNECTIONS scale
#                       it (the TSan and valgrind flavors want less).
#   make demo-c         the seed hello example on :5000 until Ctrl-C
#
# Everything links the library the way a user would: the installed-style
# headers in $(BUILD)/include and -lgohttp from $(BUILD)/lib, with an rpath
# so the binaries run from the build tree. Flavor builds (make tsan
# examples-test) get their CFLAGS/LDFLAGS and $(BUILD) from the top level.

EX_BUILD := $(BUILD)/examples
EX_TESTS := $(BUILD)/tests/c
EX_LIBDEPS := $(BUILD)/lib/libgohttp.so $(BUILD)/include/gohttp.h \
              $(BUILD)/include/gohttplib.h
# Sources come first on the command line, -lgohttp after them: with
# --as-needed (Ubuntu's default) a library named before its users is dropped.
EX_LINK := -I$(BUILD)/include -Iexamples/c -Itests/c -L$(BUILD)/lib \
           -Wl,-rpath,$(abspath $(BUILD)/lib) -lgohttp -pthread $(LDFLAGS)
EX_CHECK_FLAGS = $(shell pkg-config --cflags --libs check)

EXAMPLE_BINS := $(EX_BUILD)/hello $(EX_BUILD)/echo $(EX_BUILD)/stream
EXAMPLE_TEST_BINS := $(EX_TESTS)/check_shim $(EX_TESTS)/load

LOAD_REQUESTS ?= 100000
LOAD_CONNECTIONS ?= 64

.PHONY: examples examples-test load-test demo-c

# Plain `make` builds the example programs; the test binaries need Check,
# which `make test` installs (bootstrap).
all: $(EXAMPLE_BINS)
test: examples-test load-test

examples: lib $(EXAMPLE_BINS) $(EXAMPLE_TEST_BINS)

$(EX_BUILD) $(EX_TESTS):
	mkdir -p $@

# The seed program, byte for byte apart from its include line; it compiles
# under our -Wall -Wextra -Werror as is, so it gets no special flags.
$(EX_BUILD)/hello: examples/c/hello.c $(EX_LIBDEPS) | $(EX_BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(EX_LINK)

$(EX_BUILD)/%: examples/c/%.c examples/c/serve_until_signal.c \
               examples/c/serve_until_signal.h $(EX_LIBDEPS) | $(EX_BUILD)
	$(CC) $(CFLAGS) -o $@ $< examples/c/serve_until_signal.c $(EX_LINK)

$(EX_TESTS)/check_shim: tests/c/check_shim.c tests/c/http_client.c \
                        tests/c/http_client.h $(EX_LIBDEPS) | $(EX_TESTS)
	$(CC) $(CFLAGS) -o $@ $< tests/c/http_client.c $(EX_LINK) $(EX_CHECK_FLAGS)

$(EX_TESTS)/load: tests/c/load.c tests/c/http_client.c tests/c/http_client.h \
                  examples/c/serve_until_signal.c examples/c/serve_until_signal.h \
                  $(EX_LIBDEPS) | $(EX_TESTS)
	$(CC) $(CFLAGS) -o $@ $< tests/c/http_client.c examples/c/serve_until_signal.c $(EX_LINK)

# timeout: the suite bounds itself (alarm) and so does every socket call;
# this is the last line of defence so `make test` can never hang here.
# $(SAN_RUN) (mk/flavors.mk) prefixes every instrumented binary: the tsan
# flavor needs ASLR off; integration.sh applies it to the examples.
examples-test: examples
	@echo "== check_shim ($(BUILD))"
	timeout 300 $(SAN_RUN) $(EX_TESTS)/check_shim
	@echo "== C examples integration ($(BUILD))"
	SAN_RUN="$(SAN_RUN)" timeout 300 tests/c/integration.sh $(BUILD)

load-test: examples
	@echo "== load: $(LOAD_REQUESTS) requests x 2 APIs, $(LOAD_CONNECTIONS) connections ($(BUILD))"
	timeout 600 $(SAN_RUN) $(EX_TESTS)/load -n $(LOAD_REQUESTS) -c $(LOAD_CONNECTIONS)

# hello binds ":5000" (every interface, so also 127.0.0.1:5000): that is
# the seed's code and stays unchanged. It has no signal handler, so Ctrl-C
# ends it by the default action and make reports the interrupt.
demo-c: $(EX_BUILD)/hello
	@echo "demo-c: serving the seed hello example on http://127.0.0.1:5000/ (bound to :5000) - Ctrl-C stops it"
	$(EX_BUILD)/hello
