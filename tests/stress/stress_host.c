/*
 * stress_host.c - a C host serving a hostile request mix through libgohttp
 * while client threads in the same process hammer it over loopback.
 *
 * What it proves (each check counts a failure and the run exits 1):
 *  - Every response carries its own request's token: in its one X-Token
 *    header and at the start of the body, and the request view the handler
 *    saw (header, query, body, path value) all name the same token. A
 *    reused or stale handle shows up here as another request's token.
 *    Every response is complete and nothing follows it before the close.
 *  - A handler's w is stale once its response is complete: the client that
 *    received it calls every response and request function on the stashed
 *    w and each must return GOHTTP_ESTALE; a hammer thread keeps writing
 *    "LATE-HAMMER!" through all such dead handles for the whole run, and
 *    no response may ever contain a LATE-... marker or an X-Late header.
 *  - Concurrent writes from several threads of one handler each arrive
 *    whole (the library serializes calls on one response).
 *  - Binary bodies (with NUL bytes) round-trip exactly, in both directions.
 *  - Clients that disconnect mid-request or mid-response, and a graceful
 *    shutdown while handlers are busy, leave nothing behind: after
 *    gohttp_wait and gohttp_free every live counter is zero.
 *  - Memory is flat: RSS after warm-up vs after the run is reported, and
 *    bounded by STRESS_RSS_GROWTH_MB when that is set above 0.
 *
 * Knobs (environment): STRESS_SCALE (float, multiplies request counts,
 * default 1), STRESS_THREADS (client threads, default 8),
 * STRESS_TIMEOUT_S (watchdog, default 240), STRESS_RSS_GROWTH_MB (0 =
 * report only; default 64), STRESS_BIG_MAX (largest generated body, default
 * 1 MiB).
 *
 * The clients use the shared test client (tests/c/http_client.c) step by
 * step, for the requests that announce a body and send half of it or hang
 * up mid-response.
 *
 * Everything is loopback (127.0.0.1, port chosen by the kernel), bounded
 * in count, and a watchdog ends the process if it overruns; a run that
 * failed ends FAIL_GRACE_S (10 s) after its first failure.
 */
#define _GNU_SOURCE
#include "gohttp.h"
#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_LEN 16          /* hex digits of a 64-bit token */
#define MULTI_THREADS 4       /* writer threads in the /multi handler */
#define MULTI_LINES 25        /* lines each of them writes */
#define GRAVE_SLOTS 256       /* dead handles the hammer keeps probing */
#define STASH_BUCKETS 1024

/* ------------------------------------------------------------------ */
/* Failure accounting                                                  */
/* ------------------------------------------------------------------ */

static atomic_long g_failures;

/* Count a failure and print the first few (a flood of identical lines
 * hides the first, which is the one that explains the rest). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A failed run ends FAIL_GRACE_S after its first failure: a library that
 * broke may leave requests unanswered, and the run would otherwise wait
 * for them until the watchdog (the report is already out by then). */
#define FAIL_GRACE_S 10u

static void fail(const char *fmt, ...)
{
    long n = atomic_fetch_add(&g_failures, 1);
    if (n == 0) {
        unsigned left = alarm(FAIL_GRACE_S);
        if (left != 0 && left < FAIL_GRACE_S)
            alarm(left);
    }
    if (n >= 40)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("stress_host: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Resident set size in KiB, from /proc/self/statm. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double env_double(const char *name, double def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    double d = strtod(v, &end);
    return (*end == '\0' && d >= 0) ? d : def;
}

/* xorshift64*: deterministic bytes from a token, so the client can
 * regenerate a body the server made without it being sent twice. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void fill_bytes(uint64_t seed, unsigned char *buf, size_t n)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            uint64_t r = rng_next(&s);
            for (size_t k = 0; k < 8 && i + k < n; k++)
                buf[i + k] = (unsigned char)(r >> (8 * k));
        }
    }
    /* Make sure NUL bytes are present: bodies must be binary-safe. */
    for (size_t i = 0; i < n; i += 97)
        buf[i] = 0;
}

/* ------------------------------------------------------------------ */
/* Server side: checks on the request view                             */
/* ------------------------------------------------------------------ */

static atomic_long g_read_eio, g_write_eio, g_in_slow, g_handlers_entered;

/* A string of the view must be NUL-terminated at its length and have no
 * earlier NUL (they are all text fields). */
static bool view_str_ok(const char *s, size_t len)
{
    return s != NULL && s[len] == '\0' && strlen(s) == len;
}

/* Find the X-Token header in the request view and check the token is the
 * same one the query string carries (t=TOKEN). Copies it to tok (17 bytes)
 * and returns true; false (and a failure) if the view is inconsistent. */
static bool request_token(const gohttp_request *req, char tok[TOKEN_LEN + 1])
{
    if (!view_str_ok(req->method, req->method_len) || !view_str_ok(req->url, req->url_len) ||
        !view_str_ok(req->path, req->path_len) ||
        !view_str_ok(req->raw_query, req->raw_query_len) ||
        !view_str_ok(req->proto, req->proto_len) ||
        !view_str_ok(req->remote_addr, req->remote_addr_len)) {
        fail("request view string not NUL-terminated at its length");
        return false;
    }
    const char *hv = NULL;
    for (size_t i = 0; i < req->header_count; i++) {
        const gohttp_header *h = &req->headers[i];
        if (h->name[h->name_len] != '\0' || h->value[h->value_len] != '\0') {
            fail("header %zu not NUL-terminated at its length", i);
            return false;
        }
        if (h->name_len == 7 && strcasecmp(h->name, "X-Token") == 0 &&
            h->value_len == TOKEN_LEN)
            hv = h->value;
    }
    if (hv == NULL) {
        fail("request without X-Token header (url %s)", req->url);
        return false;
    }
    const char *q = strstr(req->raw_query, "t=");
    if (q == NULL || strncmp(q + 2, hv, TOKEN_LEN) != 0) {
        fail("X-Token %.*s does not match query %s: two requests mixed in one view",
             TOKEN_LEN, hv, req->raw_query);
        return false;
    }
    memcpy(tok, hv, TOKEN_LEN);
    tok[TOKEN_LEN] = '\0';
    return true;
}

/* Set X-Token and write "TOKEN\n"; false if the client went away. */
static bool respond_token(gohttp_handle w, const char *tok)
{
    int rc = gohttp_set_header(w, "X-Token", 7, tok, TOKEN_LEN);
    if (rc != 0) {
        fail("set_header X-Token: %s", gohttp_strerror(rc));
        return false;
    }
    char line[TOKEN_LEN + 1];
    memcpy(line, tok, TOKEN_LEN);
    line[TOKEN_LEN] = '\n';
    int64_t n = gohttp_write(w, line, sizeof line);
    if (n == GOHTTP_EIO) {
        atomic_fetch_add(&g_write_eio, 1);
        return false;
    }
    if (n != (int64_t)sizeof line) {
        fail("write token: %lld (%s)", (long long)n, gohttp_strerror((int)n));
        return false;
    }
    return true;
}

static uint64_t token_value(const char *tok)
{
    char tmp[TOKEN_LEN + 1];
    memcpy(tmp, tok, TOKEN_LEN);
    tmp[TOKEN_LEN] = '\0';
    return strtoull(tmp, NULL, 16);
}

/* Query parameter n=NUMBER, or def. */
static long query_long(const gohttp_request *req, const char *key, long def)
{
    size_t kl = strlen(key);
    const char *q = req->raw_query;
    while (q != NULL && *q) {
        if (strncmp(q, key, kl) == 0 && q[kl] == '=')
            return strtol(q + kl + 1, NULL, 10);
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return def;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

/* GET /hello: the plain case. */
static void h_hello(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    if (respond_token(w, tok) && gohttp_write(w, "hello\n", 6) != 6)
        atomic_fetch_add(&g_write_eio, 1);
}

/* POST /echo: read the whole (binary) body in random-size chunks, check
 * it starts with our token, and send it back after the token line. */
static void h_echo(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    size_t cap = req->content_length > 0 ? (size_t)req->content_length : 4096;
    /* Owner: this handler; freed before it returns. */
    unsigned char *body = malloc(cap + 1);
    if (body == NULL) {
        fail("malloc %zu", cap);
        return;
    }
    size_t len = 0;
    uint64_t s = token_value(tok);
    for (;;) {
        if (len == cap) {
            unsigned char *nb = realloc(body, cap * 2 + 1);
            if (nb == NULL) {
                fail("realloc");
                free(body);
                return;
            }
            body = nb;
            cap *= 2;
        }
        int64_t want = (int64_t)(1 + rng_next(&s) % 20000);
        if (want > (int64_t)(cap - len))
            want = (int64_t)(cap - len);
        int64_t n = gohttp_read_body(w, body + len, want);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == GOHTTP_EIO)
                atomic_fetch_add(&g_read_eio, 1); /* client left mid-request */
            else
                fail("read_body: %s", gohttp_strerror((int)n));
            free(body);
            return;
        }
        len += (size_t)n;
    }
    if (len < TOKEN_LEN || memcmp(body, tok, TOKEN_LEN) != 0) {
        fail("echo body does not start with its own token %s", tok);
        free(body);
        return;
    }
    if (respond_token(w, tok)) {
        size_t off = 0;
        while (off < len) {
            size_t chunk = 1 + rng_next(&s) % 16384;
            if (chunk > len - off)
                chunk = len - off;
            int64_t n = gohttp_write(w, body + off, (int64_t)chunk);
            if (n != (int64_t)chunk) {
                if (n == GOHTTP_EIO)
                    atomic_fetch_add(&g_write_eio, 1);
                else
                    fail("echo write: %lld", (long long)n);
                break;
            }
            off += chunk;
        }
    }
    free(body);
}

/* GET /big?n=SIZE: a generated binary body of SIZE bytes in random-size
 * writes with occasional flushes (chunked encoding). */
static void h_big(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    long n = query_long(req, "n", 0);
    if (n < 0 || n > (64L << 20)) {
        fail("bad n %ld", n);
        return;
    }
    /* Owner: this handler; freed before it returns. */
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        fail("malloc");
        return;
    }
    fill_bytes(token_value(tok), buf, (size_t)n);
    if (respond_token(w, tok)) {
        uint64_t s = token_value(tok) ^ 0x5555;
        long off = 0;
        while (off < n) {
            long chunk = 1 + (long)(rng_next(&s) % 65536);
            if (chunk > n - off)
                chunk = n - off;
            int64_t wn = gohttp_write(w, buf + off, chunk);
            if (wn != chunk) {
                if (wn == GOHTTP_EIO)
                    atomic_fetch_add(&g_write_eio, 1);
                else
                    fail("big write: %lld", (long long)wn);
                break;
            }
            off += chunk;
            if ((rng_next(&s) & 7) == 0 && gohttp_flush(w) != 0)
                break;
        }
    }
    free(buf);
}

/* GET /early: returns having only set a header (no body, implicit 200). */
static void h_early(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    int rc = gohttp_set_header(w, "X-Token", 7, tok, TOKEN_LEN);
    if (rc != 0)
        fail("early set_header: %s", gohttp_strerror(rc));
}

/* The stash: handlers of /stash leave their w here under their token; the
 * client that got the response takes it out and proves it is dead. */
struct stash_entry {
    char tok[TOKEN_LEN + 1];
    gohttp_handle w;
    struct stash_entry *next;
};
static struct stash_entry *g_stash[STASH_BUCKETS];
static pthread_mutex_t g_stash_mu = PTHREAD_MUTEX_INITIALIZER;

/* The graveyard: handles proven stale, probed by the hammer until the end. */
static _Atomic gohttp_handle g_grave[GRAVE_SLOTS];
static atomic_uint g_grave_next;
static atomic_long g_stale_checks;

/* GET /stash: answer, then keep w where another thread will use it after
 * this handler returned. */
static void h_stash(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    respond_token(w, tok);
    /* Owner: the stash until the client takes it (stash_take frees it). */
    struct stash_entry *e = malloc(sizeof *e);
    if (e == NULL) {
        fail("malloc stash");
        return;
    }
    memcpy(e->tok, tok, sizeof e->tok);
    e->w = w;
    unsigned b = (unsigned)(token_value(tok) % STASH_BUCKETS);
    pthread_mutex_lock(&g_stash_mu);
    e->next = g_stash[b];
    g_stash[b] = e;
    pthread_mutex_unlock(&g_stash_mu);
}

/* Remove tok's stash entry and return its w (0 if the handler never
 * stashed it). */
static gohttp_handle stash_take(const char *tok)
{
    unsigned b = (unsigned)(token_value(tok) % STASH_BUCKETS);
    gohttp_handle w = 0;
    pthread_mutex_lock(&g_stash_mu);
    for (struct stash_entry **pp = &g_stash[b]; *pp; pp = &(*pp)->next) {
        if (memcmp((*pp)->tok, tok, TOKEN_LEN) == 0) {
            struct stash_entry *e = *pp;
            *pp = e->next;
            w = e->w;
            free(e); /* made in h_stash */
            break;
        }
    }
    pthread_mutex_unlock(&g_stash_mu);
    return w;
}

/* Every response and request call on a dead handle must say stale. The
 * write's bytes say LATE so that, were it accepted, the response it landed
 * in would show it. */
static void expect_all_stale(gohttp_handle w, const char *where)
{
    char buf[64];
    long bad = 0;
    int64_t r;
    if ((r = gohttp_write(w, "LATE-WRITE!", 11)) != GOHTTP_ESTALE)
        bad++, fail("%s: write on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_write_header(w, 299)) != GOHTTP_ESTALE)
        bad++, fail("%s: write_header on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_set_header(w, "X-Late", 6, "LATE", 4)) != GOHTTP_ESTALE)
        bad++, fail("%s: set_header on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_add_header(w, "X-Late", 6, "LATE", 4)) != GOHTTP_ESTALE)
        bad++, fail("%s: add_header on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_del_header(w, "X-Token", 7)) != GOHTTP_ESTALE)
        bad++, fail("%s: del_header on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_flush(w)) != GOHTTP_ESTALE)
        bad++, fail("%s: flush on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_read_body(w, buf, sizeof buf)) != GOHTTP_ESTALE)
        bad++, fail("%s: read_body on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_path_value(w, "id", buf, sizeof buf)) != GOHTTP_ESTALE)
        bad++, fail("%s: path_value on dead handle returned %lld", where, (long long)r);
    if ((r = gohttp_abort(w)) != GOHTTP_ESTALE)
        bad++, fail("%s: abort on dead handle returned %lld", where, (long long)r);
    atomic_fetch_add(&g_stale_checks, 9 - bad);
}

static atomic_int g_hammer_stop;
static atomic_long g_hammer_probes;

/* Keeps writing LATE through every dead handle in the graveyard while new
 * requests reuse the handle table's slots: if a generation check were
 * missing, one of these writes would land in a live response. */
static void *hammer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_hammer_stop)) {
        for (unsigned i = 0; i < GRAVE_SLOTS; i++) {
            gohttp_handle w = atomic_load(&g_grave[i]);
            if (w == 0)
                continue;
            int64_t r = gohttp_write(w, "LATE-HAMMER!", 12);
            if (r != GOHTTP_ESTALE)
                fail("hammer: write on dead handle %#llx returned %lld",
                     (unsigned long long)w, (long long)r);
            atomic_fetch_add(&g_hammer_probes, 1);
        }
        sleep_ms(2);
    }
    return NULL;
}

/* GET /multi: MULTI_THREADS threads write MULTI_LINES lines each through
 * the same w at once; every line must arrive whole. */
struct multi_arg {
    gohttp_handle w;
    char tok[TOKEN_LEN + 1];
    int id;
};

static void *multi_writer(void *arg)
{
    struct multi_arg *a = arg;
    char line[64];
    for (int j = 0; j < MULTI_LINES; j++) {
        int n = snprintf(line, sizeof line, "%s:%d:%02d\n", a->tok, a->id, j);
        int64_t r = gohttp_write(a->w, line, n);
        if (r != n) {
            if (r == GOHTTP_EIO)
                atomic_fetch_add(&g_write_eio, 1);
            else
                fail("multi write: %lld", (long long)r);
            break;
        }
        if ((j & 7) == 3)
            gohttp_flush(a->w);
    }
    return NULL;
}

static void h_multi(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    if (!respond_token(w, tok))
        return;
    pthread_t th[MULTI_THREADS];
    struct multi_arg args[MULTI_THREADS];
    int started = 0;
    for (int i = 0; i < MULTI_THREADS; i++) {
        args[i].w = w;
        memcpy(args[i].tok, tok, sizeof tok);
        args[i].id = i;
        if (pthread_create(&th[i], NULL, multi_writer, &args[i]) != 0) {
            fail("pthread_create");
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/* GET /items/{id}: the path value must be the token. */
static void h_items(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    char id[64];
    int64_t n = gohttp_path_value(w, "id", id, sizeof id);
    if (n != TOKEN_LEN || memcmp(id, tok, TOKEN_LEN) != 0) {
        fail("path value %lld '%.*s' is not token %s", (long long)n, (int)sizeof id - 1, id,
             tok);
        return;
    }
    char small[4];
    n = gohttp_path_value(w, "id", small, sizeof small);
    if (n != TOKEN_LEN || small[3] != '\0')
        fail("path_value into a short buffer: %lld", (long long)n);
    if (gohttp_path_value(w, "nope", id, sizeof id) != 0)
        fail("absent path wildcard did not give 0");
    respond_token(w, tok);
}

/* POST /partial: reads only the first bytes of the body and answers;
 * the library has to deal with the unread rest. */
static void h_partial(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    char buf[TOKEN_LEN];
    int64_t got = 0;
    while (got < TOKEN_LEN) {
        int64_t n = gohttp_read_body(w, buf + got, TOKEN_LEN - got);
        if (n <= 0) {
            if (n == GOHTTP_EIO)
                atomic_fetch_add(&g_read_eio, 1);
            else
                fail("partial read_body: %lld", (long long)n);
            return;
        }
        got += n;
    }
    if (memcmp(buf, tok, TOKEN_LEN) != 0)
        fail("partial body does not start with its own token");
    respond_token(w, tok);
}

/* GET /flood: up to 8 MiB in flushed 32 KiB writes, for clients that hang
 * up mid-response; stops at the first failed write. */
static void h_flood(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    if (!respond_token(w, tok))
        return;
    static const char block[32768];
    for (int i = 0; i < 256; i++) {
        int64_t n = gohttp_write(w, block, sizeof block);
        if (n != (int64_t)sizeof block) {
            if (n == GOHTTP_EIO)
                atomic_fetch_add(&g_write_eio, 1);
            else
                fail("flood write: %lld", (long long)n);
            return;
        }
        if (gohttp_flush(w) != 0)
            return;
    }
}

/* GET /slow?ms=N: token, flush, sleep, token again: in flight during the
 * shutdown phase. */
static void h_slow(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_handlers_entered, 1);
    char tok[TOKEN_LEN + 1];
    if (!request_token(req, tok))
        return;
    if (!respond_token(w, tok))
        return;
    gohttp_flush(w);
    atomic_fetch_add(&g_in_slow, 1);
    sleep_ms(query_long(req, "ms", 100));
    char line[TOKEN_LEN + 1];
    memcpy(line, tok, TOKEN_LEN);
    line[TOKEN_LEN] = '\n';
    if (gohttp_write(w, line, sizeof line) != (int64_t)sizeof line)
        atomic_fetch_add(&g_write_eio, 1);
}

/* ------------------------------------------------------------------ */
/* Client side                                                         */
/* ------------------------------------------------------------------ */

static int g_port;

enum kind { K_HELLO, K_ECHO, K_BIG, K_EARLY, K_STASH, K_MULTI, K_ITEMS, K_PARTIAL,
            K_DISC_REQ, K_DISC_RESP, K_COUNT };
static const char *const kind_name[K_COUNT] = {
    "hello", "echo", "big", "early", "stash", "multi", "items", "partial",
    "disconnect-mid-request", "disconnect-mid-response"};
/* Relative frequencies of the kinds in the mix. */
static const int kind_weight[K_COUNT] = {14, 20, 8, 8, 16, 8, 8, 6, 6, 6};
static atomic_long g_kind_done[K_COUNT];

/* The I/O timeout of every client connection: generous, because under
 * valgrind a request may wait long for a handler slot; the watchdog bounds
 * the run. */
#define CLIENT_TIMEOUT_MS 60000

/* Does any of the late-write markers (whole markers only: 4 random bytes
 * spell "LATE" about once per 4 GB) occur in p[0..n)? */
static bool has_late_marker(const char *p, size_t n)
{
    return memmem(p, n, "LATE-WRITE!", 11) != NULL || memmem(p, n, "LATE-HAMMER!", 12) != NULL ||
           memmem(p, n, "X-Late:", 7) != NULL;
}

/* Does r carry exactly one X-Token header, and is it tok? */
static bool own_token_header(const http_response *r, const char *tok)
{
    char got[TOKEN_LEN + 2];
    return http_header_count(r, "X-Token") == 1 &&
           http_header(r, "X-Token", got, sizeof got) == TOKEN_LEN && strcmp(got, tok) == 0;
}

/* Read the response to a "Connection: close" request and the server's
 * close after it: the response must be complete and nothing may follow
 * it. Returns 0, or -1 after counting a failure. */
static int read_whole(http_conn *conn, const char *method, const char *target,
                      http_response *r)
{
    if (http_read_response(conn, method, r) != 0) {
        fail("%s %s: unreadable response (%s)", method, target, strerror(errno));
        return -1;
    }
    if (http_expect_close(conn) != 0) {
        fail("%s %s: bytes after the response, or no close", method, target);
        http_response_free(r);
        return -1;
    }
    return 0;
}

/* One client request of the given kind with a fresh token; verifies the
 * response. */
static void client_request(enum kind k, uint64_t tokval, uint64_t *rng, size_t big_max)
{
    char tok[TOKEN_LEN + 1];
    snprintf(tok, sizeof tok, "%016llx", (unsigned long long)tokval);
    char headers[128];
    unsigned char *body = NULL;
    size_t body_len = 0, big_n = 0;
    const char *method = "GET";
    char target[160];
    int expect_status = 200;

    switch (k) {
    case K_HELLO:
        snprintf(target, sizeof target, "/hello?t=%s", tok);
        break;
    case K_ECHO:
    case K_PARTIAL:
    case K_DISC_REQ:
        method = "POST";
        snprintf(target, sizeof target, "%s?t=%s", k == K_PARTIAL ? "/partial" : "/echo", tok);
        body_len = TOKEN_LEN + (size_t)(rng_next(rng) % 65536);
        /* Only /echo gets large bodies: a handler that reads part of a
         * large body makes the server close with unread data (RST). */
        if (k == K_ECHO && (rng_next(rng) & 15) == 0)
            body_len += big_max / 2;
        break;
    case K_BIG:
        big_n = (size_t)(rng_next(rng) % (big_max + 1));
        snprintf(target, sizeof target, "/big?t=%s&n=%zu", tok, big_n);
        break;
    case K_EARLY:
        snprintf(target, sizeof target, "/early?t=%s", tok);
        break;
    case K_STASH:
        snprintf(target, sizeof target, "/stash?t=%s", tok);
        break;
    case K_MULTI:
        snprintf(target, sizeof target, "/multi?t=%s", tok);
        break;
    case K_ITEMS:
        snprintf(target, sizeof target, "/items/%s?t=%s", tok, tok);
        break;
    case K_DISC_RESP:
        snprintf(target, sizeof target, "/flood?t=%s", tok);
        break;
    default:
        return;
    }
    if (body_len) {
        /* Owner: this function; freed at the end. */
        body = malloc(body_len);
        if (body == NULL) {
            fail("malloc body");
            return;
        }
        fill_bytes(tokval ^ 0xabcdef, body, body_len);
        memcpy(body, tok, TOKEN_LEN);
    }
    snprintf(headers, sizeof headers, "X-Token: %s\r\n%s", tok,
             body_len ? "Content-Type: application/octet-stream\r\n" : "");
    long long announced = body_len ? (long long)(k == K_DISC_REQ ? body_len + 100000 : body_len) : -1;

    http_conn conn;
    if (http_connect(&conn, g_port, CLIENT_TIMEOUT_MS) != 0) {
        fail("connect: %s", strerror(errno));
        free(body);
        return;
    }
    if (http_send_head(&conn, method, target, headers, announced, 1) != 0) {
        fail("send head: %s", strerror(errno));
        goto out;
    }
    if (k == K_DISC_REQ) {
        /* Send part of the announced body and hang up: the handler's body
         * read must fail, not hang or crash. */
        http_send_raw(&conn, body, body_len / 2);
        goto counted;
    }
    if (body_len && http_send_raw(&conn, body, body_len) != 0) {
        /* /partial may answer and close before the whole body is sent. */
        if (k != K_PARTIAL) {
            fail("send body: %s", strerror(errno));
            goto out;
        }
    }
    if (k == K_DISC_RESP) {
        /* Read a little of the flood, then reset the connection. */
        char tmp[8192];
        long n = http_recv_some(&conn, tmp, sizeof tmp);
        if (n <= 0)
            fail("flood: nothing received");
        else if (memmem(tmp, (size_t)n, tok, TOKEN_LEN) == NULL)
            fail("flood: first bytes lack the token %s", tok);
        http_abort(&conn);
        goto counted;
    }

    http_response r;
    if (read_whole(&conn, method, target, &r) != 0)
        goto out;
    if (has_late_marker(r.head, r.head_len) || has_late_marker(r.body, r.body_len))
        fail("%s: a late write from a dead handle landed in this response", tok);
    if (r.status != expect_status)
        fail("%s %s: status %d", method, target, r.status);
    if (!own_token_header(&r, tok))
        fail("%s %s: X-Token is missing, repeated or another request's "
             "(cross-request contamination)",
             method, target);
    if (k != K_EARLY && (r.body_len < TOKEN_LEN + 1 || memcmp(r.body, tok, TOKEN_LEN) != 0))
        fail("%s %s: body does not start with its own token", method, target);

    switch (k) {
    case K_HELLO:
        if (r.body_len != TOKEN_LEN + 7 || memcmp(r.body + TOKEN_LEN + 1, "hello\n", 6) != 0)
            fail("hello: wrong body");
        break;
    case K_ECHO:
        if (r.body_len != TOKEN_LEN + 1 + body_len ||
            memcmp(r.body + TOKEN_LEN + 1, body, body_len) != 0)
            fail("echo %s: body differs (%zu vs %zu bytes)", tok, r.body_len,
                 TOKEN_LEN + 1 + body_len);
        break;
    case K_BIG: {
        unsigned char *want = malloc(big_n + 1);
        if (want == NULL) {
            fail("malloc");
            break;
        }
        fill_bytes(tokval, want, big_n);
        if (r.body_len != TOKEN_LEN + 1 + big_n ||
            memcmp(r.body + TOKEN_LEN + 1, want, big_n) != 0)
            fail("big %s: body differs (%zu bytes, want %zu)", tok, r.body_len,
                 TOKEN_LEN + 1 + big_n);
        free(want);
        break;
    }
    case K_EARLY:
        if (r.body_len != 0)
            fail("early: non-empty body");
        break;
    case K_STASH: {
        gohttp_handle w = stash_take(tok);
        if (w == 0) {
            fail("stash %s: handler did not stash its handle", tok);
            break;
        }
        /* The response is complete, so the handler has returned: w is dead. */
        expect_all_stale(w, "stash");
        unsigned slot = atomic_fetch_add(&g_grave_next, 1) % GRAVE_SLOTS;
        atomic_store(&g_grave[slot], w);
        break;
    }
    case K_MULTI: {
        /* After the token line: MULTI_THREADS*MULTI_LINES whole lines, each
         * "TOKEN:i:jj\n" (22 bytes), each (i, j) once. */
        size_t line = TOKEN_LEN + 6;
        size_t want = TOKEN_LEN + 1 + line * MULTI_THREADS * MULTI_LINES;
        if (r.body_len != want) {
            fail("multi %s: %zu bytes, want %zu", tok, r.body_len, want);
            break;
        }
        int seen[MULTI_THREADS][MULTI_LINES] = {{0}};
        for (size_t off = TOKEN_LEN + 1; off < r.body_len; off += line) {
            const char *l = (const char *)r.body + off;
            int i, j;
            if (memcmp(l, tok, TOKEN_LEN) != 0 || l[line - 1] != '\n' ||
                sscanf(l + TOKEN_LEN, ":%d:%d", &i, &j) != 2 || i < 0 ||
                i >= MULTI_THREADS || j < 0 || j >= MULTI_LINES || seen[i][j]++) {
                fail("multi %s: torn or foreign line at %zu: %.22s", tok, off, l);
                break;
            }
        }
        break;
    }
    default:
        break;
    }
    http_response_free(&r);
counted:
    atomic_fetch_add(&g_kind_done[k], 1);
out:
    http_close(&conn);
    free(body);
}

struct client_arg {
    int id;
    long count;
    size_t big_max;
    long base;
};

static atomic_long g_seq;

static void *client_main(void *arg)
{
    struct client_arg *a = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(a->id + 1) + (uint64_t)a->base;
    int total = 0;
    for (int i = 0; i < K_COUNT; i++)
        total += kind_weight[i];
    for (long n = 0; n < a->count; n++) {
        int pick = (int)(rng_next(&rng) % (uint64_t)total);
        enum kind k = 0;
        while (pick >= kind_weight[k])
            pick -= kind_weight[k++];
        /* Unique per request: a sequence number in the high bits, random
         * low bits so equal prefixes never look alike. */
        uint64_t seq = (uint64_t)atomic_fetch_add(&g_seq, 1) + 1;
        uint64_t tokval = (seq << 24) | (rng_next(&rng) & 0xffffff);
        client_request(k, tokval, &rng, a->big_max);
    }
    return NULL;
}

/* Run `total` requests spread over `threads` client threads. */
static void run_clients(int threads, long total, size_t big_max, long base)
{
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    struct client_arg *args = calloc((size_t)threads, sizeof *args);
    if (th == NULL || args == NULL) {
        fail("calloc");
        free(th);
        free(args);
        return;
    }
    for (int i = 0; i < threads; i++) {
        args[i] = (struct client_arg){i, total / threads + (i < total % threads), big_max, base};
        if (pthread_create(&th[i], NULL, client_main, &args[i]) != 0) {
            fail("pthread_create client");
            args[i].count = -1;
        }
    }
    for (int i = 0; i < threads; i++)
        if (args[i].count >= 0)
            pthread_join(th[i], NULL);
    free(th);
    free(args);
}

/* Shutdown while busy: slow requests in flight, then a graceful shutdown
 * with a generous timeout; every one of them must complete with its own
 * token twice. */
struct slow_arg {
    uint64_t tokval;
    int ok;
};

static void *slow_client(void *arg)
{
    struct slow_arg *a = arg;
    char tok[TOKEN_LEN + 1], target[64], headers[64];
    snprintf(tok, sizeof tok, "%016llx", (unsigned long long)a->tokval);
    snprintf(target, sizeof target, "/slow?t=%s&ms=300", tok);
    snprintf(headers, sizeof headers, "X-Token: %s\r\n", tok);
    http_conn conn;
    if (http_connect(&conn, g_port, CLIENT_TIMEOUT_MS) != 0) {
        fail("slow connect: %s", strerror(errno));
        return NULL;
    }
    http_response r;
    if (http_send_head(&conn, "GET", target, headers, -1, 1) != 0 ||
        read_whole(&conn, "GET", target, &r) != 0) {
        fail("slow %s: no complete response across a graceful shutdown", tok);
        http_close(&conn);
        return NULL;
    }
    if (r.status != 200 || !own_token_header(&r, tok) || r.body_len != 2 * (TOKEN_LEN + 1) ||
        memcmp(r.body, tok, TOKEN_LEN) != 0 || memcmp(r.body + TOKEN_LEN + 1, tok, TOKEN_LEN) != 0)
        fail("slow %s: wrong response across shutdown (status %d, %zu bytes)", tok, r.status,
             r.body_len);
    else
        a->ok = 1;
    http_response_free(&r);
    return NULL;
}

static void on_watchdog(int sig)
{
    (void)sig;
    if (atomic_load(&g_failures) > 0) {
        static const char msg[] = "stress_host: run failed; stopped 10 s after its first failure\n";
        ssize_t rc = write(2, msg, sizeof msg - 1);
        (void)rc;
        _exit(1);
    }
    static const char msg[] = "stress_host: FAIL: watchdog: run exceeded STRESS_TIMEOUT_S\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(3);
}

static int check_route(gohttp_server s, const char *pattern, gohttp_handler fn)
{
    int rc = gohttp_route(s, pattern, fn, NULL);
    if (rc != 0)
        fprintf(stderr, "stress_host: route %s: %s (%s)\n", pattern, gohttp_strerror(rc),
                gohttp_last_error());
    return rc;
}

int main(void)
{
    double scale = env_double("STRESS_SCALE", 1.0);
    int threads = (int)env_double("STRESS_THREADS", 8);
    int timeout_s = (int)env_double("STRESS_TIMEOUT_S", 240);
    double rss_bound_mb = env_double("STRESS_RSS_GROWTH_MB", 64);
    size_t big_max = (size_t)env_double("STRESS_BIG_MAX", 1 << 20);
    long total = (long)(3000 * scale);
    if (threads < 1)
        threads = 1;
    if (total < 10 * threads)
        total = 10 * threads;
    signal(SIGALRM, on_watchdog);
    alarm((unsigned)timeout_s);
    signal(SIGPIPE, SIG_IGN);

    gohttp_options opts;
    gohttp_options_init(&opts);
    opts.max_handlers = 32;
    opts.max_body_bytes = 8 << 20;
    opts.queue_timeout_ms = 60000;
    gohttp_server srv;
    int rc = gohttp_server_new(&opts, &srv);
    if (rc != 0) {
        fprintf(stderr, "stress_host: server_new: %s\n", gohttp_strerror(rc));
        return 1;
    }
    if (check_route(srv, "GET /hello", h_hello) || check_route(srv, "POST /echo", h_echo) ||
        check_route(srv, "GET /big", h_big) || check_route(srv, "GET /early", h_early) ||
        check_route(srv, "GET /stash", h_stash) || check_route(srv, "GET /multi", h_multi) ||
        check_route(srv, "GET /items/{id}", h_items) ||
        check_route(srv, "POST /partial", h_partial) || check_route(srv, "GET /flood", h_flood) ||
        check_route(srv, "GET /slow", h_slow))
        return 1;
    g_port = gohttp_start(srv, "127.0.0.1:0");
    if (g_port <= 0) {
        fprintf(stderr, "stress_host: start: %s (%s)\n", gohttp_strerror(g_port),
                gohttp_last_error());
        return 1;
    }
    pthread_t hammer;
    if (pthread_create(&hammer, NULL, hammer_main, NULL) != 0) {
        fprintf(stderr, "stress_host: pthread_create hammer failed\n");
        return 1;
    }

    double t0 = now_s();
    long warm = total / 10;
    run_clients(threads, warm, big_max, 1);
    long rss_warm = rss_kib();
    run_clients(threads, total - warm, big_max, 2);
    long rss_end = rss_kib();
    double t1 = now_s();

    /* Shutdown while busy. */
    enum { SLOW = 8 };
    pthread_t sth[SLOW];
    struct slow_arg sargs[SLOW];
    atomic_store(&g_in_slow, 0);
    int slow_started = 0;
    for (int i = 0; i < SLOW; i++) {
        sargs[i] = (struct slow_arg){((uint64_t)0xfeed << 48) | (uint64_t)i, 0};
        if (pthread_create(&sth[i], NULL, slow_client, &sargs[i]) == 0)
            slow_started++;
        else
            break;
    }
    double wait_until = now_s() + 20;
    while (atomic_load(&g_in_slow) < slow_started && now_s() < wait_until)
        sleep_ms(5);
    if (atomic_load(&g_in_slow) < slow_started)
        fail("only %ld of %d slow handlers started", atomic_load(&g_in_slow), slow_started);
    rc = gohttp_shutdown(srv, 20000);
    if (rc != 0)
        fail("shutdown: %s", gohttp_strerror(rc));
    /* gohttp.h: the listener is closed when gohttp_shutdown returns, so
     * the very next connect must be refused. */
    {
        http_conn probe;
        if (http_connect(&probe, g_port, 1000) == 0) {
            http_close(&probe);
            fail("a connection was accepted after gohttp_shutdown returned");
        }
    }
    for (int i = 0; i < slow_started; i++)
        pthread_join(sth[i], NULL);
    rc = gohttp_wait(srv, 30000);
    if (rc != 0)
        fail("wait: %s", gohttp_strerror(rc));

    atomic_store(&g_hammer_stop, 1);
    pthread_join(hammer, NULL);
    for (unsigned i = 0; i < GRAVE_SLOTS; i++)
        if (atomic_load(&g_grave[i]) != 0)
            expect_all_stale(atomic_load(&g_grave[i]), "after shutdown");

    gohttp_counters c;
    rc = gohttp_stats(&c);
    if (rc != 0)
        fail("stats: %s", gohttp_strerror(rc));
    long served = (long)c.requests_served, stale = (long)c.stale_rejections;
    rc = gohttp_free(srv);
    if (rc != 0)
        fail("free: %s", gohttp_strerror(rc));
    if (gohttp_free(srv) != GOHTTP_ESTALE)
        fail("second free of the server was not stale");
    rc = gohttp_stats(&c);
    if (rc != 0)
        fail("stats: %s", gohttp_strerror(rc));
    bool live_zero = c.live_handles == 0 && c.live_arenas == 0 && c.arena_bytes == 0 &&
                     c.live_servers == 0 && c.live_tokens == 0 && c.live_go_handles == 0;
    if (!live_zero)
        fail("live counters not zero at the end: handles %lld arenas %lld bytes %lld "
             "servers %lld tokens %lld go handles %lld",
             (long long)c.live_handles, (long long)c.live_arenas, (long long)c.arena_bytes,
             (long long)c.live_servers, (long long)c.live_tokens, (long long)c.live_go_handles);
    long stale_checks = atomic_load(&g_stale_checks) + atomic_load(&g_hammer_probes);
    if (stale < stale_checks)
        fail("stats count %ld stale rejections, the test made %ld", stale, stale_checks);

    /* Leftover stash entries mean a handler stashed but no client took it. */
    for (unsigned b = 0; b < STASH_BUCKETS; b++)
        while (g_stash[b]) {
            struct stash_entry *e = g_stash[b];
            g_stash[b] = e->next;
            fail("stash entry %s never taken", e->tok);
            free(e);
        }

    long done = 0;
    printf("stress_host: %ld requests in %.2f s (%.0f req/s), %d client threads, scale %.2f\n",
           total, t1 - t0, (double)total / (t1 - t0), threads, scale);
    for (int k = 0; k < K_COUNT; k++) {
        printf("  %-24s %ld\n", kind_name[k], atomic_load(&g_kind_done[k]));
        done += atomic_load(&g_kind_done[k]);
    }
    printf("  handlers entered %ld, served %ld, stale checks %ld (library counted %ld), "
           "body read EIO %ld, write EIO %ld\n",
           atomic_load(&g_handlers_entered), served, stale_checks, stale,
           atomic_load(&g_read_eio), atomic_load(&g_write_eio));
    double growth_mb = (double)(rss_end - rss_warm) / 1024.0;
    printf("  RSS after warm-up %.1f MiB, after run %.1f MiB, growth %.1f MiB (bound %s)\n",
           (double)rss_warm / 1024.0, (double)rss_end / 1024.0, growth_mb,
           rss_bound_mb > 0 ? "enforced" : "report only");
    if (rss_bound_mb > 0 && growth_mb > rss_bound_mb)
        fail("RSS grew %.1f MiB after warm-up (bound %.0f MiB)", growth_mb, rss_bound_mb);
    if (done != total)
        fail("%ld of %ld requests completed", done, total);
    if (live_zero)
        printf("  live counters at end: all zero\n");
    long f = atomic_load(&g_failures);
    printf("stress_host: %s (%ld failures)\n", f ? "FAILED" : "ok", f);
    return f ? 1 : 0;
}
