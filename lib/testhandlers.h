/*
 * testhandlers.h - C handlers and drivers used only by the Go tests in lib/.
 *
 * They are compiled into the package (cgo cannot be used from _test.go
 * files) only with -tags gohttp_test, i.e. into the Go test binary, never
 * into the shipped library. Prefixed gohttp__test_, hidden visibility. They
 * call the public API exactly as a C host would: through gohttp.h.
 */
#ifndef GOHTTP_TESTHANDLERS_H
#define GOHTTP_TESTHANDLERS_H

#include "gohttp_internal.h"

#define GOHTTP_TEST_API __attribute__((visibility("hidden")))

/* Server handles that handlers need (shutdown / wait from inside). The
 * userdata of such a route is gohttp__test_slot(i), a C pointer. */
GOHTTP_TEST_API void *gohttp__test_slot(int i);
GOHTTP_TEST_API void gohttp__test_set_slot(int i, gohttp_server s);

GOHTTP_TEST_API void gohttp__test_hello(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_echo(gohttp_handle w, const gohttp_request *req, void *ud);
/* Echo of every field as the handler saw it, in the body: netstrings
 * ("<len>:<bytes>,") of method, url, path, raw_query, then "<count>:" and
 * one netstring per header name and value, then the body. A string whose
 * NUL terminator is missing is answered 500. For lib/fuzz_test.go. */
GOHTTP_TEST_API void gohttp__test_echo_all(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_threads(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_stash(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_block(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_badinput(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_shutdown_self(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_wait_self(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_pathvalue(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_flush(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_abort(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_twowrites(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_firehose(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_toolarge(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_rules(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API int64_t gohttp__test_rules_extra(void);
GOHTTP_TEST_API void gohttp__test_nobody(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API int64_t gohttp__test_nobody_rc(void);
GOHTTP_TEST_API void gohttp__test_count(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API int64_t gohttp__test_counted(void);
/* 1 while the firehose handler runs, then the code that stopped it. */
GOHTTP_TEST_API int64_t gohttp__test_firehose_rc(void);
GOHTTP_TEST_API void gohttp__test_seed_hello(ResponseWriterPtr w, Request *req);
GOHTTP_TEST_API void gohttp__test_seed_echo(ResponseWriterPtr w, Request *req);

/* Threads used by the handlers above. */
#define GOHTTP_TEST_WRITERS 8
#define GOHTTP_TEST_LINES 200
#define GOHTTP_TEST_LINE_LEN 32

/* The handle the stash handler kept, and a late write with it from a new
 * thread (returns gohttp_write's result). */
GOHTTP_TEST_API gohttp_handle gohttp__test_stashed(void);
GOHTTP_TEST_API int64_t gohttp__test_late_write(void);

/* The block handler: how many entered so far, and release all waiting. */
GOHTTP_TEST_API int gohttp__test_block_entered(void);
GOHTTP_TEST_API gohttp_handle gohttp__test_block_handle(void);
GOHTTP_TEST_API void gohttp__test_block_release(void);
GOHTTP_TEST_API void gohttp__test_block_reset(void);

/* Every response/request call with handle w and otherwise valid arguments;
 * rcs receives GOHTTP_TEST_EXCHANGE_CALLS codes. */
#define GOHTTP_TEST_EXCHANGE_CALLS 12
GOHTTP_TEST_API void gohttp__test_exchange_calls(gohttp_handle w, int64_t *rcs);
/* Every server call with handle s; GOHTTP_TEST_SERVER_CALLS codes. */
#define GOHTTP_TEST_SERVER_CALLS 8
GOHTTP_TEST_API void gohttp__test_server_calls(gohttp_server s, int64_t *rcs);

/* Pull mode: n worker threads loop on gohttp_next(server) until ECLOSED. */
typedef struct gohttp_test_pull_result {
    int64_t served;          /* exchanges answered and done */
    int64_t closed;          /* workers that saw ECLOSED */
    int64_t other_errors;    /* unexpected next/write/done codes */
    int64_t stale_after_done;/* writes after done that got ESTALE */
    int64_t deadlk;          /* gohttp_wait inside an open exchange: EDEADLK */
    int64_t double_done;     /* second gohttp_done that got ESTALE */
} gohttp_test_pull_result;
GOHTTP_TEST_API int gohttp__test_pull_start(gohttp_server s, int nthreads);
GOHTTP_TEST_API void gohttp__test_pull_join(gohttp_test_pull_result *out);

/* Calls made from a fresh C thread, with that thread's last error: for
 * checks that must not depend on which thread Go runs a cgo call on. */
GOHTTP_TEST_API int gohttp__test_start_on_thread(gohttp_server s, const char *addr,
                                                 char *err, size_t errcap);

/* gohttp_respond cases chosen by the query, and a handler that writes its
 * userdata as a number. */
GOHTTP_TEST_API void gohttp__test_respond(gohttp_handle w, const gohttp_request *req, void *ud);
GOHTTP_TEST_API void gohttp__test_userdata_value(gohttp_handle w, const gohttp_request *req, void *ud);

GOHTTP_TEST_API int gohttp__test_route_value(gohttp_server s, const char *pattern,
                                             gohttp_handler fn, uintptr_t ud);
GOHTTP_TEST_API int gohttp__test_route_queue_value(gohttp_server s, const char *pattern, uintptr_t ud);
GOHTTP_TEST_API uintptr_t gohttp__test_userdata_of(const gohttp_exchange *ex);

GOHTTP_TEST_API int gohttp__test_value_puller_start(gohttp_server s, uintptr_t want);
GOHTTP_TEST_API int64_t gohttp__test_value_puller_join(int64_t *wrong);

#endif /* GOHTTP_TESTHANDLERS_H */
