//go:build gohttp_test

// testhandlers.c - C handlers and drivers for lib/*_test.go; see
// testhandlers.h. Built only with -tags gohttp_test: cgo honours the
// go:build line at the top of this file like that of a Go file.
#pragma GCC diagnostic error "-Wunused-parameter"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testhandlers.h"

static gohttp_server slots[8];

void *gohttp__test_slot(int i) { return &slots[i]; }
void gohttp__test_set_slot(int i, gohttp_server s) { slots[i] = s; }

static gohttp_server slot_server(void *ud) { return *(gohttp_server *)ud; }

static int64_t put(gohttp_handle w, const char *s)
{
    return gohttp_write(w, s, (int64_t)strlen(s));
}

static int64_t putf(gohttp_handle w, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    return gohttp_write(w, buf, n);
}

static int set_hdr(gohttp_handle w, const char *name, const char *value, size_t value_len)
{
    return gohttp_set_header(w, name, strlen(name), value, value_len);
}

void gohttp__test_hello(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    gohttp_set_header(w, "Content-Type", 12, "text/plain", 10);
    put(w, "Hello, world.\n");
}

// Echo: the request's metadata as X-Echo-* response headers, the body
// (read in small chunks, so several read_body calls) as the response body.
void gohttp__test_echo(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    size_t cap = 4096, len = 0;
    char *body = malloc(cap);
    if (body == NULL) {
        gohttp_write_header(w, 500);
        return;
    }
    for (;;) {
        if (cap - len < 1000) {
            char *bigger = realloc(body, cap * 2);
            if (bigger == NULL) {
                free(body);
                gohttp_write_header(w, 500);
                return;
            }
            body = bigger;
            cap *= 2;
        }
        int64_t n = gohttp_read_body(w, body + len, 1000);
        if (n == 0)
            break;
        if (n < 0) {
            free(body);
            putf(w, "read_body=%lld\n", (long long)n);
            return;
        }
        len += (size_t)n;
    }
    set_hdr(w, "X-Echo-Method", req->method, req->method_len);
    set_hdr(w, "X-Echo-Url", req->url, req->url_len);
    set_hdr(w, "X-Echo-Path", req->path, req->path_len);
    set_hdr(w, "X-Echo-Query", req->raw_query, req->raw_query_len);
    set_hdr(w, "X-Echo-Host", req->host, req->host_len);
    set_hdr(w, "X-Echo-Proto", req->proto, req->proto_len);
    set_hdr(w, "X-Echo-Remote", req->remote_addr, req->remote_addr_len);
    char num[64];
    int n = snprintf(num, sizeof num, "%lld", (long long)req->content_length);
    set_hdr(w, "X-Echo-Content-Length", num, (size_t)n);
    // NUL-termination and lengths must agree on every string.
    int terminated = req->method[req->method_len] == 0 && req->url[req->url_len] == 0 &&
                     req->path[req->path_len] == 0 && req->host[req->host_len] == 0;
    for (size_t i = 0; i < req->header_count; i++) {
        const gohttp_header *h = &req->headers[i];
        terminated = terminated && h->name[h->name_len] == 0 && h->value[h->value_len] == 0;
        char line[2048];
        int m = snprintf(line, sizeof line, "%.*s=%.*s", (int)h->name_len, h->name,
                         (int)h->value_len, h->value);
        if (m > 0 && (size_t)m < sizeof line)
            gohttp_add_header(w, "X-Echo-Header", 13, line, (size_t)m);
    }
    set_hdr(w, "X-Echo-Terminated", terminated ? "yes" : "no", terminated ? 3 : 2);
    int64_t wrote = gohttp_write(w, body, (int64_t)len);
    free(body);
    if (wrote != (int64_t)len)
        fprintf(stderr, "echo: write returned %lld for %zu\n", (long long)wrote, len);
}

static int put_netstring(gohttp_handle w, const char *s, size_t len)
{
    char num[32];
    int m = snprintf(num, sizeof num, "%zu:", len);
    if (gohttp_write(w, num, m) != m || gohttp_write(w, s, (int64_t)len) != (int64_t)len ||
        gohttp_write(w, ",", 1) != 1)
        return -1;
    return s[len] == 0 ? 0 : -1;
}

void gohttp__test_echo_all(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    int terminated = req->method[req->method_len] == 0 && req->url[req->url_len] == 0 &&
                     req->path[req->path_len] == 0 && req->raw_query[req->raw_query_len] == 0;
    for (size_t i = 0; i < req->header_count; i++)
        terminated = terminated && req->headers[i].name[req->headers[i].name_len] == 0 &&
                     req->headers[i].value[req->headers[i].value_len] == 0;
    if (!terminated) {
        gohttp_write_header(w, 500);
        return;
    }
    put_netstring(w, req->method, req->method_len);
    put_netstring(w, req->url, req->url_len);
    put_netstring(w, req->path, req->path_len);
    put_netstring(w, req->raw_query, req->raw_query_len);
    putf(w, "%zu:", req->header_count);
    for (size_t i = 0; i < req->header_count; i++) {
        put_netstring(w, req->headers[i].name, req->headers[i].name_len);
        put_netstring(w, req->headers[i].value, req->headers[i].value_len);
    }
    char buf[4096];
    int64_t n;
    while ((n = gohttp_read_body(w, buf, sizeof buf)) > 0)
        gohttp_write(w, buf, n);
    if (n < 0)
        putf(w, "!read_body=%lld", (long long)n);
}

// Threads: several C threads write fixed-size lines into one response at
// once; the library must serialize them so every line arrives whole.
typedef struct writer_arg {
    gohttp_handle w;
    int id;
    int failures;
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *a = p;
    for (int i = 0; i < GOHTTP_TEST_LINES; i++) {
        char line[GOHTTP_TEST_LINE_LEN + 1];
        snprintf(line, sizeof line, "t%02d-l%04d-%*s\n", a->id, i, GOHTTP_TEST_LINE_LEN - 11, "x");
        if (gohttp_write(a->w, line, GOHTTP_TEST_LINE_LEN) != GOHTTP_TEST_LINE_LEN)
            a->failures++;
    }
    return NULL;
}

void gohttp__test_threads(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    pthread_t th[GOHTTP_TEST_WRITERS];
    writer_arg args[GOHTTP_TEST_WRITERS];
    int started = 0;
    for (int i = 0; i < GOHTTP_TEST_WRITERS; i++) {
        args[i] = (writer_arg){.w = w, .id = i};
        if (pthread_create(&th[i], NULL, writer_main, &args[i]) == 0)
            started++;
        else
            break;
    }
    int failures = GOHTTP_TEST_WRITERS - started;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    putf(w, "failures=%d\n", failures);
}

// Stash: keep the handle after returning (a host bug the library must
// make harmless).
static gohttp_handle stashed;

void gohttp__test_stash(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    __atomic_store_n(&stashed, w, __ATOMIC_SEQ_CST);
    put(w, "stashed\n");
}

gohttp_handle gohttp__test_stashed(void)
{
    return __atomic_load_n(&stashed, __ATOMIC_SEQ_CST);
}

static void *late_writer(void *p)
{
    int64_t *rc = p;
    *rc = gohttp_write(gohttp__test_stashed(), "LATE-WRITE", 10);
    return NULL;
}

int64_t gohttp__test_late_write(void)
{
    int64_t rc = 1;
    pthread_t th;
    if (pthread_create(&th, NULL, late_writer, &rc) != 0)
        return 1;
    pthread_join(th, NULL);
    return rc;
}

// Block: wait until the test releases every blocked handler.
static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cv = PTHREAD_COND_INITIALIZER;
static int block_entered;
static unsigned block_generation;
static gohttp_handle block_last; /* handle of the latest blocked request */

void gohttp__test_block(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    pthread_mutex_lock(&block_mu);
    block_entered++;
    block_last = w;
    unsigned gen = block_generation;
    while (block_generation == gen)
        pthread_cond_wait(&block_cv, &block_mu);
    pthread_mutex_unlock(&block_mu);
    put(w, "unblocked\n");
}

gohttp_handle gohttp__test_block_handle(void)
{
    pthread_mutex_lock(&block_mu);
    gohttp_handle w = block_last;
    pthread_mutex_unlock(&block_mu);
    return w;
}

int gohttp__test_block_entered(void)
{
    pthread_mutex_lock(&block_mu);
    int n = block_entered;
    pthread_mutex_unlock(&block_mu);
    return n;
}

void gohttp__test_block_release(void)
{
    pthread_mutex_lock(&block_mu);
    block_generation++;
    pthread_cond_broadcast(&block_cv);
    pthread_mutex_unlock(&block_mu);
}

void gohttp__test_block_reset(void)
{
    pthread_mutex_lock(&block_mu);
    block_entered = 0;
    pthread_mutex_unlock(&block_mu);
}

// Badinput: every bad argument a response/request call can get, each
// answered "name=code" in the body; the status ends up 201.
void gohttp__test_badinput(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    char buf[8192];
    size_t off = 0;
    char big[5000];
    memset(big, 'a', sizeof big);
#define REC(name, expr)                                                              \
    do {                                                                             \
        long long rc_ = (long long)(expr);                                           \
        int n_ = snprintf(buf + off, sizeof buf - off, "%s=%lld\n", name, rc_);      \
        if (n_ > 0 && (size_t)n_ < sizeof buf - off)                                 \
            off += (size_t)n_;                                                       \
    } while (0)
    REC("status_0", gohttp_write_header(w, 0));
    REC("status_99", gohttp_write_header(w, 99));
    REC("status_1000", gohttp_write_header(w, 1000));
    REC("status_neg", gohttp_write_header(w, -200));
    REC("name_null", gohttp_set_header(w, NULL, 3, "v", 1));
    REC("name_empty", gohttp_set_header(w, "", 0, "v", 1));
    REC("name_space", gohttp_set_header(w, "Bad Name", 8, "v", 1));
    REC("name_colon", gohttp_set_header(w, "Bad:", 4, "v", 1));
    REC("name_nul", gohttp_set_header(w, "X\0Y", 3, "v", 1));
    REC("name_crlf", gohttp_add_header(w, "X\r\nY", 4, "v", 1));
    REC("name_long", gohttp_set_header(w, big, sizeof big, "v", 1));
    REC("value_cr", gohttp_set_header(w, "X-A", 3, "a\rb", 3));
    REC("value_lf", gohttp_set_header(w, "X-A", 3, "a\nb", 3));
    REC("value_crlf", gohttp_add_header(w, "X-A", 3, "a\r\nSet-Cookie: x=1", 18));
    REC("value_nul", gohttp_set_header(w, "X-A", 3, "a\0b", 3));
    REC("value_null", gohttp_set_header(w, "X-A", 3, NULL, 2));
    REC("value_long", gohttp_set_header(w, "X-A", 3, big, sizeof big));
    REC("del_null", gohttp_del_header(w, NULL, 1));
    REC("del_bad", gohttp_del_header(w, "a b", 3));
    REC("write_null", gohttp_write(w, NULL, 5));
    REC("write_neg", gohttp_write(w, "abc", -1));
    REC("read_null", gohttp_read_body(w, NULL, 5));
    REC("read_neg", gohttp_read_body(w, buf, -1));
    REC("pv_name_null", gohttp_path_value(w, NULL, buf, 10));
    REC("pv_buf_null", gohttp_path_value(w, "id", NULL, 10));
    REC("pv_cap_neg", gohttp_path_value(w, "id", buf, -1));
    REC("done_push", gohttp_done(w));
    // Valid calls still work after all of the above.
    REC("value_empty_ok", gohttp_set_header(w, "X-Empty", 7, NULL, 0));
    REC("set_ok", gohttp_set_header(w, "X-Ok", 4, "yes", 3));
    REC("status_201", gohttp_write_header(w, 201));
    REC("status_again", gohttp_write_header(w, 202));
    REC("set_after", gohttp_set_header(w, "X-Late", 6, "v", 1));
    REC("add_after", gohttp_add_header(w, "X-Late", 6, "v", 1));
    REC("del_after", gohttp_del_header(w, "X-Ok", 4));
#undef REC
    gohttp_write(w, buf, (int64_t)off);
}

void gohttp__test_shutdown_self(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    putf(w, "shutdown=%d\n", gohttp_shutdown(slot_server(ud), 2000));
    putf(w, "again=%d\n", gohttp_shutdown(slot_server(ud), 2000));
}

void gohttp__test_wait_self(gohttp_handle w, const gohttp_request *req, void *ud)
{
    int rc = gohttp_wait(slot_server(ud), 1000);
    putf(w, "wait=%d err=%s\n", rc, gohttp_last_error());
    // Only on the handler's own (running) server: on another server
    // listen_and_serve would start it and block, as documented.
    if (strcmp(req->path, "/wait") == 0)
        putf(w, "las=%d\n", gohttp_listen_and_serve(slot_server(ud), "127.0.0.1:0"));
}

void gohttp__test_pathvalue(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    char big[256], small[4], missing[16] = "untouched";
    int64_t n = gohttp_path_value(w, "id", big, sizeof big);
    int64_t n2 = gohttp_path_value(w, "id", small, sizeof small);
    int64_t n3 = gohttp_path_value(w, "missing", missing, sizeof missing);
    int64_t n4 = gohttp_path_value(w, "id", NULL, 0);
    putf(w, "id=%s n=%lld small=%s n2=%lld missing=[%s] n3=%lld n4=%lld\n", big,
         (long long)n, small, (long long)n2, missing, (long long)n3, (long long)n4);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void gohttp__test_flush(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    put(w, "chunk1\n");
    int rc = gohttp_flush(w);
    sleep_ms(20);
    putf(w, "flush=%d\n", rc);
}

void gohttp__test_abort(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    put(w, "partial");
    gohttp_flush(w);
    gohttp_abort(w);
}

// Twowrites: the first write may be made to fail by the test (injected
// panic); the body reports both results.
void gohttp__test_twowrites(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    int64_t first = gohttp_set_header(w, "X-First", 7, "1", 1);
    putf(w, "first=%lld\n", (long long)first);
}

// Firehose: write until the client goes away; the code that ended it is
// kept for the test.
static int64_t firehose_rc = 1;

void gohttp__test_firehose(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    static char chunk[65536];
    int64_t rc = 0;
    __atomic_store_n(&firehose_rc, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 16384 && rc >= 0; i++)
        rc = gohttp_write(w, chunk, sizeof chunk);
    __atomic_store_n(&firehose_rc, rc, __ATOMIC_SEQ_CST);
}

int64_t gohttp__test_firehose_rc(void)
{
    return __atomic_load_n(&firehose_rc, __ATOMIC_SEQ_CST);
}

void gohttp__test_seed_hello(ResponseWriterPtr w, Request *req)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s %s %s\n", req->Method, req->URL, req->Host);
    ResponseWriter_WriteHeader(w, 202);
    ResponseWriter_Write(w, buf, (int)strlen(buf));
}

void gohttp__test_seed_echo(ResponseWriterPtr w, Request *req)
{
    ResponseWriter_Write(w, (char *)req->Headers, (int)strlen(req->Headers));
    ResponseWriter_Write(w, "--\n", 3);
    ResponseWriter_Write(w, (char *)req->Body, (int)strlen(req->Body));
}

void gohttp__test_exchange_calls(gohttp_handle w, int64_t *rcs)
{
    char buf[16];
    int i = 0;
    rcs[i++] = gohttp_write_header(w, 200);
    rcs[i++] = gohttp_set_header(w, "X-A", 3, "b", 1);
    rcs[i++] = gohttp_add_header(w, "X-A", 3, "b", 1);
    rcs[i++] = gohttp_del_header(w, "X-A", 3);
    rcs[i++] = gohttp_write(w, "abc", 3);
    rcs[i++] = gohttp_flush(w);
    rcs[i++] = gohttp_abort(w);
    rcs[i++] = gohttp_read_body(w, buf, sizeof buf);
    rcs[i++] = gohttp_path_value(w, "id", buf, sizeof buf);
    rcs[i++] = gohttp_done(w);
    rcs[i++] = ResponseWriter_Write(w, "abc", 3);
    gohttp__set_last_error("", 0);
    ResponseWriter_WriteHeader(w, 200);
    rcs[i++] = strstr(gohttp_last_error(), "stale") ? GOHTTP_ESTALE : 0;
}

void gohttp__test_server_calls(gohttp_server s, int64_t *rcs)
{
    gohttp_exchange ex;
    int i = 0;
    rcs[i++] = gohttp_route(s, "/", gohttp__test_hello, NULL);
    rcs[i++] = gohttp_route_queue(s, "/q", NULL);
    rcs[i++] = gohttp_start(s, "127.0.0.1:0");
    rcs[i++] = gohttp_listen_and_serve(s, "127.0.0.1:0");
    rcs[i++] = gohttp_shutdown(s, 0);
    rcs[i++] = gohttp_wait(s, 0);
    rcs[i++] = gohttp_free(s);
    rcs[i++] = gohttp_next(s, 0, &ex);
}

// Pull workers.
static pthread_mutex_t pull_mu = PTHREAD_MUTEX_INITIALIZER;
static gohttp_test_pull_result pull_result;
static pthread_t pull_threads[16];
static int pull_nthreads;
static gohttp_server pull_server_handle;

static void *pull_main(void *p)
{
    (void)p;
    gohttp_test_pull_result r = {0};
    for (;;) {
        gohttp_exchange ex;
        int rc = gohttp_next(pull_server_handle, 100, &ex);
        if (rc == GOHTTP_ETIMEDOUT)
            continue;
        if (rc == GOHTTP_ECLOSED) {
            r.closed++;
            break;
        }
        if (rc != 0) {
            r.other_errors++;
            break;
        }
        if (gohttp_wait(pull_server_handle, 0) == GOHTTP_EDEADLK)
            r.deadlk++;
        char body[512];
        int n = snprintf(body, sizeof body, "pulled %.*s ud=%s\n", (int)ex.req->path_len,
                         ex.req->path, ex.userdata ? (const char *)ex.userdata : "(null)");
        if (gohttp_write(ex.w, body, n) != n)
            r.other_errors++;
        if (gohttp_done(ex.w) != 0)
            r.other_errors++;
        else
            r.served++;
        if (gohttp_write(ex.w, "late", 4) == GOHTTP_ESTALE)
            r.stale_after_done++;
        if (gohttp_done(ex.w) == GOHTTP_ESTALE)
            r.double_done++;
    }
    pthread_mutex_lock(&pull_mu);
    pull_result.served += r.served;
    pull_result.closed += r.closed;
    pull_result.other_errors += r.other_errors;
    pull_result.stale_after_done += r.stale_after_done;
    pull_result.deadlk += r.deadlk;
    pull_result.double_done += r.double_done;
    pthread_mutex_unlock(&pull_mu);
    return NULL;
}

int gohttp__test_pull_start(gohttp_server s, int nthreads)
{
    if (nthreads > 16)
        nthreads = 16;
    memset(&pull_result, 0, sizeof pull_result);
    pull_server_handle = s;
    pull_nthreads = 0;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&pull_threads[i], NULL, pull_main, NULL) != 0)
            break;
        pull_nthreads++;
    }
    return pull_nthreads;
}

void gohttp__test_pull_join(gohttp_test_pull_result *out)
{
    for (int i = 0; i < pull_nthreads; i++)
        pthread_join(pull_threads[i], NULL);
    pull_nthreads = 0;
    pthread_mutex_lock(&pull_mu);
    *out = pull_result;
    pthread_mutex_unlock(&pull_mu);
}

typedef struct start_arg {
    gohttp_server s;
    const char *addr;
    int rc;
    char *err;
    size_t errcap;
} start_arg;

static void *start_main(void *p)
{
    start_arg *a = p;
    a->rc = gohttp_start(a->s, a->addr);
    snprintf(a->err, a->errcap, "%s", gohttp_last_error());
    return NULL;
}

int gohttp__test_start_on_thread(gohttp_server s, const char *addr, char *err, size_t errcap)
{
    start_arg a = {.s = s, .addr = addr, .rc = 1, .err = err, .errcap = errcap};
    pthread_t th;
    if (pthread_create(&th, NULL, start_main, &a) != 0)
        return 1;
    pthread_join(th, NULL);
    return a.rc;
}

/* Too large: reads the body until an error, then answers according to the
 * query: "quiet" writes nothing (the library owes a 413), "implicit"
 * writes a body without a status, anything else sends its own 422 with a
 * header, as a framework's error page does. The body names every code. */
void gohttp__test_toolarge(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    char buf[512];
    int64_t rc;
    while ((rc = gohttp_read_body(w, buf, sizeof buf)) > 0)
        ;
    if (req->raw_query_len == 5 && memcmp(req->raw_query, "quiet", 5) == 0)
        return;
    char out[128];
    if (req->raw_query_len == 8 && memcmp(req->raw_query, "implicit", 8) == 0) {
        int n = snprintf(out, sizeof out, "implicit read=%lld\n", (long long)rc);
        gohttp_write(w, out, n);
        return;
    }
    int hdr = gohttp_set_header(w, "X-Own", 5, "yes", 3);
    int st = gohttp_write_header(w, 422);
    int n = snprintf(out, sizeof out, "own read=%lld hdr=%d status=%d\n", (long long)rc, hdr, st);
    gohttp_write(w, out, n);
}

// Header rules: every Content-Length and control-byte case a handler can
// try, the codes as the body (under a correct Content-Length), then one
// write past that length; its code is kept for gohttp__test_rules_extra.
static int64_t rules_extra = 1;

void gohttp__test_rules(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    static const char *const cl = "Content-Length";
    int r[9];
    r[0] = gohttp_add_header(w, cl, 14, "3", 1);
    r[1] = gohttp_add_header(w, cl, 14, "3", 1);     /* a second one */
    r[2] = gohttp_set_header(w, cl, 14, "-5", 2);    /* negative */
    r[3] = gohttp_set_header(w, cl, 14, "12a", 3);   /* non-digits */
    r[4] = gohttp_set_header(w, cl, 14, " 1", 2);    /* spaced */
    r[5] = gohttp_set_header(w, "X-A", 3, "a\001b", 3);
    r[6] = gohttp_set_header(w, "X-A", 3, "a\177b", 3);
    r[7] = gohttp_set_header(w, "X-A", 3, "a\tb", 3);
    r[8] = gohttp_add_header(w, "content-length", 14, "4", 1); /* any case */
    char body[128], num[16];
    int n = snprintf(body, sizeof body, "%d %d %d %d %d %d %d %d %d", r[0], r[1], r[2], r[3], r[4],
                     r[5], r[6], r[7], r[8]);
    int m = snprintf(num, sizeof num, "%d", n);
    gohttp_set_header(w, cl, 14, num, (size_t)m);
    gohttp_write(w, body, n);
    __atomic_store_n(&rules_extra, gohttp_write(w, "x", 1), __ATOMIC_SEQ_CST);
}

int64_t gohttp__test_rules_extra(void)
{
    return __atomic_load_n(&rules_extra, __ATOMIC_SEQ_CST);
}

// No body allowed: the status given in the query ("204", "304", "103"),
// then a write; its code is kept for gohttp__test_nobody_rc.
static int64_t nobody_rc = 1;

void gohttp__test_nobody(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    int status = atoi(req->raw_query);
    gohttp_write_header(w, status);
    if (status < 200)
        gohttp_write_header(w, 204);
    __atomic_store_n(&nobody_rc, gohttp_write(w, "x", 1), __ATOMIC_SEQ_CST);
}

int64_t gohttp__test_nobody_rc(void)
{
    return __atomic_load_n(&nobody_rc, __ATOMIC_SEQ_CST);
}

// Counts its calls and answers "counted".
static int64_t counted;

void gohttp__test_count(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    __atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST);
    put(w, "counted");
}

int64_t gohttp__test_counted(void)
{
    return __atomic_load_n(&counted, __ATOMIC_SEQ_CST);
}

/* Writes its userdata as a number: routes registered with an integer
 * userdata ((void *)7), not a pointer, must get it back unchanged. */
void gohttp__test_userdata_value(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    putf(w, "ud=%lu", (unsigned long)(uintptr_t)ud);
}

/* One response in one call: the query names the case (see
 * TestRespondOneCall). Every return code goes into X-Rc headers of the
 * final answer. */
void gohttp__test_respond(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    char q[64];
    snprintf(q, sizeof q, "%.*s", (int)req->raw_query_len, req->raw_query);
    if (strcmp(q, "plain") == 0) {
        gohttp_header h[] = {{"X-A", 3, "1", 1}, {"X-A", 3, "2", 1},
                             {"Content-Type", 12, "text/x-test", 11}};
        gohttp_respond(w, 201, h, 3, "made", 4);
        return;
    }
    if (strcmp(q, "refused") == 0) {
        /* A bad header anywhere refuses the whole call: X-Leak must not
         * reach the client, and the response is still open. */
        gohttp_header bad[] = {{"X-Leak", 6, "yes", 3}, {"Bad Name", 8, "x", 1}};
        gohttp_header crlf[] = {{"X-Split", 7, "a\r\nb", 4}};
        int64_t rc1 = gohttp_respond(w, 200, bad, 2, "no", 2);
        int64_t rc2 = gohttp_respond(w, 200, crlf, 1, NULL, 0);
        int64_t rc3 = gohttp_respond(w, 200, NULL, 1, NULL, 0);
        int64_t rc4 = gohttp_respond(w, 200, NULL, 0, NULL, -1);
        int64_t rc5 = gohttp_respond(w, 200, NULL, 0, NULL, 5);
        int64_t rc6 = gohttp_respond(w, 99, NULL, 0, NULL, 0);
        int64_t rc7 = gohttp_respond(w, 200, bad, (size_t)1 << 20, NULL, 0);
        gohttp_header two_lengths[] = {{"Content-Length", 14, "2", 1},
                                       {"content-length", 14, "3", 1}};
        int64_t rc8 = gohttp_respond(w, 200, two_lengths, 2, "no", 2);
        char v[160];
        int n = snprintf(v, sizeof v, "%lld %lld %lld %lld %lld %lld %lld %lld",
                         (long long)rc1, (long long)rc2, (long long)rc3, (long long)rc4,
                         (long long)rc5, (long long)rc6, (long long)rc7, (long long)rc8);
        gohttp_header rc[] = {{"X-Rc", 4, v, (size_t)n}};
        gohttp_respond(w, 202, rc, 1, "ok", 2);
        return;
    }
    if (strcmp(q, "twice") == 0) {
        /* Status once; afterwards headers and status are refused, a
         * body-only call appends. */
        int64_t a = gohttp_respond(w, 200, NULL, 0, "a", 1);
        gohttp_header late[] = {{"X-Late", 6, "1", 1}};
        int64_t b = gohttp_respond(w, 0, late, 1, NULL, 0);
        int64_t c = gohttp_respond(w, 201, NULL, 0, NULL, 0);
        int64_t d = gohttp_respond(w, 0, NULL, 0, "b", 1);
        putf(w, "|%lld %lld %lld %lld", (long long)a, (long long)b, (long long)c, (long long)d);
        return;
    }
    if (strcmp(q, "nobody") == 0) {
        int64_t a = gohttp_respond(w, 204, NULL, 0, "x", 1);
        (void)a;
        return;
    }
    /* status 0: the body goes out under 200 */
    gohttp_respond(w, 0, NULL, 0, "implicit", 8);
}

/* Registration and read-back of integer userdata, in C, so that no Go
 * unsafe.Pointer in the test holds a value that is not a pointer. */
int gohttp__test_route_value(gohttp_server s, const char *pattern, gohttp_handler fn, uintptr_t ud)
{
    return gohttp_route(s, pattern, fn, (void *)ud);
}

int gohttp__test_route_queue_value(gohttp_server s, const char *pattern, uintptr_t ud)
{
    return gohttp_route_queue(s, pattern, (void *)ud);
}

uintptr_t gohttp__test_userdata_of(const gohttp_exchange *ex)
{
    return (uintptr_t)ex->userdata;
}

/* A puller on a thread the Go runtime did not create (as a Python worker
 * is): serve exchanges, polling first as the Python worker loop does,
 * until the server closes; count those whose userdata was not want. */
static pthread_t value_puller;
static gohttp_server value_server;
static uintptr_t value_want;
static int64_t value_served, value_wrong;

static void *value_puller_main(void *p)
{
    (void)p;
    for (;;) {
        gohttp_exchange ex;
        int rc = gohttp_next(value_server, 0, &ex);
        if (rc == GOHTTP_ETIMEDOUT)
            rc = gohttp_next(value_server, 100, &ex);
        if (rc == GOHTTP_ETIMEDOUT)
            continue;
        if (rc != 0)
            break;
        if ((uintptr_t)ex.userdata != value_want)
            value_wrong++;
        /* Calls that run deep in net/http grow this thread's Go stack, so
         * the collector later shrinks (copies) it, as under a real load. */
        gohttp_header h[] = {{"Content-Type", 12, "text/plain", 10}};
        gohttp_respond(ex.w, 200, h, 1, "pul", 3);
        gohttp_flush(ex.w);
        gohttp_write(ex.w, "led", 3);
        gohttp_done(ex.w);
        value_served++;
    }
    return NULL;
}

int gohttp__test_value_puller_start(gohttp_server s, uintptr_t want)
{
    value_server = s;
    value_want = want;
    value_served = value_wrong = 0;
    return pthread_create(&value_puller, NULL, value_puller_main, NULL);
}

int64_t gohttp__test_value_puller_join(int64_t *wrong)
{
    pthread_join(value_puller, NULL);
    *wrong = value_wrong;
    return value_served;
}
