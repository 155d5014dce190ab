/*
 * check_shim.c - Check suite for the public C API (gohttp.h), driving the
 * real library over loopback HTTP from a plain C host with pthreads.
 *
 * Why CK_NOFORK: the Go runtime starts its threads when libgohttp is
 * loaded, and a forked child has none of them, so Check's default
 * fork-per-test would run every test against a dead runtime. Running in
 * process means a failed assertion longjmps out of the test: the checked
 * teardown then stops whatever servers the test left, and a watchdog
 * alarm stands in for Check's per-test timeouts (which need fork).
 *
 * Why handlers never assert: ck_assert longjmps, which is only valid on
 * the thread that runs the test. Handlers (on library threads) record what
 * they saw into a per-test struct; the test thread asserts after the
 * response came back.
 *
 * Every test ends with end_of_test(): all servers it made are stopped and
 * freed and every live counter is zero.
 *
 * Why the state handed to handlers as userdata is static: the contract
 * wants userdata alive until gohttp_wait returned 0, and after a failed
 * assertion the servers are stopped by teardown, after the test's stack
 * frame is gone.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gohttp.h"
#include "gohttplib.h"
#include "http_client.h"

/* ------------------------------------------------------------------ */
/* Fixture: server tracking and counters                               */
/* ------------------------------------------------------------------ */

#define MAX_TRACKED 8
/* Servers the running test created and has not freed yet. Only the test
 * thread touches this. */
static gohttp_server tracked[MAX_TRACKED];
static int tracked_count;

/* Remember s so teardown can stop it if the test fails before stop(). */
static void track(gohttp_server s)
{
    ck_assert_int_lt(tracked_count, MAX_TRACKED);
    tracked[tracked_count++] = s;
}

/* Forget s once the test itself freed it. */
static void untrack(gohttp_server s)
{
    for (int i = 0; i < tracked_count; i++)
        if (tracked[i] == s) {
            tracked[i] = tracked[--tracked_count];
            return;
        }
}

/* Handlers record what they saw in plain structs that the test thread
 * reads once the response arrived. The HTTP round trip orders the two, but
 * TSan cannot see through a socket, so both sides also pass this point:
 * handlers on entry and after recording (before their response can reach
 * the client), the test thread around every request (fetch). A lock/unlock
 * pair is a release and an acquire, which is all TSan needs. */
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static void sync_point(void)
{
    pthread_mutex_lock(&sync_mu);
    pthread_mutex_unlock(&sync_mu);
}

/* Response bodies not yet released. A failed assertion longjmps past the
 * test's response_done calls; teardown frees what is left so the ASan
 * flavor reports the failure, not a leak caused by it. Clients run on
 * helper threads too, hence the lock. */
#define MAX_RESPONSES 16
static pthread_mutex_t responses_mu = PTHREAD_MUTEX_INITIALIZER;
static http_response responses[MAX_RESPONSES];

/* http_fetch, with the buffers of a successful response registered. */
static int fetch(int port, const char *method, const char *target,
                 const char *extra_headers, const void *body,
                 size_t body_len, http_response *out)
{
    sync_point();
    int rc = http_fetch(port, method, target, extra_headers, body, body_len,
                        out);
    sync_point();
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&responses_mu);
    for (int i = 0; i < MAX_RESPONSES; i++)
        if (!responses[i].head && !responses[i].body) {
            responses[i] = *out;
            break;
        }
    pthread_mutex_unlock(&responses_mu);
    return 0;
}

/* Release a response obtained with fetch (or a zeroed one). */
static void response_done(http_response *r)
{
    pthread_mutex_lock(&responses_mu);
    for (int i = 0; i < MAX_RESPONSES; i++)
        if (r->body && responses[i].body == r->body)
            memset(&responses[i], 0, sizeof responses[i]);
    pthread_mutex_unlock(&responses_mu);
    http_response_free(r);
}

/* Teardown: stop and free what a failed test left behind so the next test
 * starts clean. No assertions here: this also runs after a failure. */
static void teardown(void)
{
    for (int i = 0; i < tracked_count; i++) {
        gohttp_shutdown(tracked[i], 500);
        gohttp_wait(tracked[i], 5000);
        gohttp_free(tracked[i]);
    }
    tracked_count = 0;
    pthread_mutex_lock(&responses_mu);
    for (int i = 0; i < MAX_RESPONSES; i++)
        http_response_free(&responses[i]);
    pthread_mutex_unlock(&responses_mu);
}

/* Every test starts with no tracked server. */
static void setup(void)
{
    tracked_count = 0;
}

/* A snapshot of the library's counters (gohttp_stats asserted OK). */
static gohttp_counters counters(void)
{
    gohttp_counters c;
    memset(&c, 0xA5, sizeof c);
    ck_assert_int_eq(gohttp_stats(&c), GOHTTP_OK);
    return c;
}

/* The invariant every test ends on: nothing the library made is alive. */
static void assert_live_zero(void)
{
    gohttp_counters c = counters();
    ck_assert_int_eq(c.live_handles, 0);
    ck_assert_int_eq(c.live_arenas, 0);
    ck_assert_int_eq(c.arena_bytes, 0);
    ck_assert_int_eq(c.live_servers, 0);
    ck_assert_int_eq(c.live_tokens, 0);
    ck_assert_int_eq(c.live_go_handles, 0);
}

/* A new server with default options, tracked for teardown. */
static gohttp_server new_server(const gohttp_options *opts)
{
    gohttp_server s = 0;
    int rc = gohttp_server_new(opts, &s);
    ck_assert_msg(rc == GOHTTP_OK, "gohttp_server_new: %s: %s",
                  gohttp_strerror(rc), gohttp_last_error());
    ck_assert_uint_ne(s, 0);
    track(s);
    return s;
}

/* gohttp_route, asserted OK (with the library's detail on failure). */
static void route(gohttp_server s, const char *pattern, gohttp_handler fn,
                  void *userdata)
{
    int rc = gohttp_route(s, pattern, fn, userdata);
    ck_assert_msg(rc == GOHTTP_OK, "gohttp_route %s: %s: %s", pattern,
                  gohttp_strerror(rc), gohttp_last_error());
}

/* Start s on a free loopback port and return the port. */
static int start(gohttp_server s)
{
    int port = gohttp_start(s, "127.0.0.1:0");
    ck_assert_msg(port > 0, "gohttp_start: %s: %s", gohttp_strerror(port),
                  gohttp_last_error());
    return port;
}

/* Graceful stop, wait and free, each asserted. */
static void stop(gohttp_server s)
{
    ck_assert_int_eq(gohttp_shutdown(s, 2000), GOHTTP_OK);
    ck_assert_int_eq(gohttp_wait(s, 10000), GOHTTP_OK);
    ck_assert_int_eq(gohttp_free(s), GOHTTP_OK);
    untrack(s);
}

/* Stop every server the test still has, then check the invariant. */
static void end_of_test(void)
{
    while (tracked_count > 0)
        stop(tracked[0]);
    assert_live_zero();
}

/* Milliseconds of CLOCK_MONOTONIC since *since. */
static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000 +
           (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* A loopback port held for a server that cannot report the port it bound
 * (gohttp_listen_and_serve, the seed's ListenAndServe): a socket bound to
 * 127.0.0.1:0 with SO_REUSEADDR and never listening. No other socket can
 * bind the port while it is held, yet Go's listener (which sets
 * SO_REUSEADDR too) can, because nothing listens on it. Close the returned
 * fd once the server listens. */
static int reserve_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    int one = 1;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                sizeof one), 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* GET target on port, asserting transport success and the status. */
static void get_expect(int port, const char *target, int status,
                       const char *body, http_response *r)
{
    int rc = fetch(port, "GET", target, NULL, NULL, 0, r);
    ck_assert_msg(rc == 0, "GET %s on port %d failed: %s", target, port,
                  strerror(errno));
    ck_assert_int_eq(r->status, status);
    if (body) {
        ck_assert_uint_eq(r->body_len, strlen(body));
        ck_assert_str_eq(r->body, body);
    }
}

/* ------------------------------------------------------------------ */
/* Handlers shared by several tests                                    */
/* ------------------------------------------------------------------ */

/* Writes userdata (a NUL-terminated string) as the body. */
static void write_text(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    const char *text = ud ? ud : "hello\n";
    gohttp_write(w, text, (int64_t)strlen(text));
}

/* ------------------------------------------------------------------ */
/* Errors and options                                                  */
/* ------------------------------------------------------------------ */

static const int all_codes[] = {
    GOHTTP_OK,      GOHTTP_EINVAL,   GOHTTP_ESTALE,    GOHTTP_ENOMEM,
    GOHTTP_EEXIST,  GOHTTP_EPATTERN, GOHTTP_EBIND,     GOHTTP_ESTATE,
    GOHTTP_ETIMEDOUT, GOHTTP_EBUSY,  GOHTTP_EIO,       GOHTTP_ETOOLARGE,
    GOHTTP_EPANIC,  GOHTTP_ECLOSED,  GOHTTP_EDEADLK,   GOHTTP_EBADREQ,
    GOHTTP_ELENGTH,
};
#define NCODES (sizeof all_codes / sizeof all_codes[0])

START_TEST(strerror_names_every_code)
{
    for (size_t i = 0; i < NCODES; i++) {
        const char *name = gohttp_strerror(all_codes[i]);
        ck_assert_ptr_nonnull(name);
        ck_assert_msg(name[0] != '\0', "empty name for %d", all_codes[i]);
        ck_assert_msg(strcmp(name, "unknown error") != 0,
                      "code %d has no name", all_codes[i]);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(name, gohttp_strerror(all_codes[j])) != 0,
                          "codes %d and %d share the name \"%s\"",
                          all_codes[i], all_codes[j], name);
    }
    ck_assert_ptr_nonnull(strstr(gohttp_strerror(GOHTTP_ESTALE), "stale"));
    const int unknown[] = { 1, 42, -17, -100, INT_MIN, INT_MAX };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_str_eq(gohttp_strerror(unknown[i]), "unknown error");
    end_of_test();
}
END_TEST

/* Result of reading gohttp_last_error on a fresh thread. */
struct last_error_probe {
    char seen[256];
    int was_null;
};

/* Thread body: copy this fresh thread's gohttp_last_error() into arg. */
static void *read_last_error(void *arg)
{
    struct last_error_probe *p = arg;
    const char *e = gohttp_last_error();
    p->was_null = e == NULL;
    snprintf(p->seen, sizeof p->seen, "%s", e ? e : "");
    return NULL;
}

START_TEST(last_error_is_thread_local)
{
    gohttp_options o;
    gohttp_options_init(&o);
    o.max_handlers = -1;
    gohttp_server s = 0;
    ck_assert_int_eq(gohttp_server_new(&o, &s), GOHTTP_EINVAL);
    const char *mine = gohttp_last_error();
    ck_assert_ptr_nonnull(mine);
    ck_assert_msg(mine[0] != '\0', "EINVAL left no last-error detail");

    /* A thread that made no failed call sees "", not this thread's text. */
    struct last_error_probe probe;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, read_last_error, &probe), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(probe.was_null, 0);
    ck_assert_str_eq(probe.seen, "");
    end_of_test();
}
END_TEST

START_TEST(options_init_gives_documented_defaults)
{
    gohttp_options o;
    memset(&o, 0x5A, sizeof o);
    gohttp_options_init(&o);
    ck_assert_int_eq(o.read_header_timeout_ms, GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS);
    ck_assert_int_eq(o.idle_timeout_ms, GOHTTP_DEFAULT_IDLE_TIMEOUT_MS);
    ck_assert_int_eq(o.write_timeout_ms, GOHTTP_DEFAULT_WRITE_TIMEOUT_MS);
    ck_assert_int_eq(o.max_header_bytes, GOHTTP_DEFAULT_MAX_HEADER_BYTES);
    ck_assert_int_eq(o.max_body_bytes, GOHTTP_DEFAULT_MAX_BODY_BYTES);
    ck_assert_int_eq(o.max_handlers, GOHTTP_DEFAULT_MAX_HANDLERS);
    ck_assert_int_eq(o.queue_timeout_ms, GOHTTP_DEFAULT_QUEUE_TIMEOUT_MS);
    ck_assert_int_eq(o.reuse_port, GOHTTP_DEFAULT_REUSE_PORT);
    ck_assert_int_eq(o.limit_request_line, GOHTTP_DEFAULT_LIMIT_REQUEST_LINE);
    ck_assert_int_eq(o.limit_request_fields, GOHTTP_DEFAULT_LIMIT_REQUEST_FIELDS);
    ck_assert_int_eq(o.limit_request_field_size, GOHTTP_DEFAULT_LIMIT_REQUEST_FIELD_SIZE);
    ck_assert_int_eq(o.body_read_timeout_ms, GOHTTP_DEFAULT_BODY_READ_TIMEOUT_MS);
    ck_assert_int_eq(o.send_timeout_ms, GOHTTP_DEFAULT_SEND_TIMEOUT_MS);
    ck_assert_int_eq(o.max_connections, GOHTTP_DEFAULT_MAX_CONNECTIONS);
    end_of_test();
}
END_TEST

START_TEST(server_new_rejects_bad_options)
{
    int64_t before = counters().live_servers;
    for (int field = 0; field < 9; field++) {
        gohttp_options o;
        gohttp_options_init(&o);
        switch (field) {
        case 7: o.reuse_port = -1; break;
        case 8: o.reuse_port = 2; break;
        case 0: o.read_header_timeout_ms = -1; break;
        case 1: o.idle_timeout_ms = -1; break;
        case 2: o.write_timeout_ms = -1; break;
        case 3: o.max_header_bytes = -1; break;
        case 4: o.max_body_bytes = -1; break;
        case 5: o.max_handlers = -1; break;
        case 6: o.queue_timeout_ms = -1; break;
        }
        gohttp_server s = 0;
        ck_assert_msg(gohttp_server_new(&o, &s) == GOHTTP_EINVAL,
                      "bad option field %d accepted", field);
        ck_assert_int_eq(counters().live_servers, before);
    }
    gohttp_options o;
    gohttp_options_init(&o);
    ck_assert_int_eq(gohttp_server_new(&o, NULL), GOHTTP_EINVAL);
    ck_assert_int_eq(counters().live_servers, before);

    /* NULL options and all-zero options both mean the defaults. */
    gohttp_server a = new_server(NULL);
    memset(&o, 0, sizeof o);
    gohttp_server b = new_server(&o);
    ck_assert_uint_ne(a, b);
    ck_assert_int_eq(counters().live_servers, before + 2);
    ck_assert_int_eq(gohttp_free(a), GOHTTP_OK);
    untrack(a);
    ck_assert_int_eq(gohttp_free(a), GOHTTP_ESTALE); /* double free */
    ck_assert_int_eq(gohttp_free(b), GOHTTP_OK);
    untrack(b);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

/* Writes "item=<id>" from the {id} wildcard, recording the length the
 * library reported. */
static _Atomic int64_t path_value_len;
static void item(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    char id[64];
    int64_t n = gohttp_path_value(w, "id", id, sizeof id);
    path_value_len = n;
    /* cap 3 for a 5-byte value: snprintf semantics give "12" + NUL and
     * the full length; the sentinel after buf[cap-1] must survive. */
    char small[5] = { 'x', 'x', 'x', 'S', '\0' };
    int64_t truncated = gohttp_path_value(w, "id", small, 3);
    int cap_ok = small[3] == 'S';
    small[3] = '\0';
    char body[128];
    int len = snprintf(body, sizeof body,
                       "item=%s small=%s full=%lld cap_ok=%d",
                       n >= 0 && n < (int64_t)sizeof id ? id : "?", small,
                       (long long)truncated, cap_ok);
    gohttp_write(w, body, len);
}

START_TEST(route_rejects_bad_and_duplicate_patterns)
{
    gohttp_server s = new_server(NULL);
    ck_assert_int_eq(gohttp_route(s, NULL, write_text, NULL), GOHTTP_EINVAL);
    ck_assert_int_eq(gohttp_route(s, "/a", NULL, NULL), GOHTTP_EINVAL);
    const char *bad[] = {
        "",                 /* empty */
        "no-slash",         /* path must start with / */
        "/{unclosed",       /* wildcard not closed */
        "GET /a/{x}/{x}",   /* duplicate wildcard name */
        "/a/{rest...}/b",   /* ... wildcard not last */
        "/a/{bad-name}",    /* wildcard name not an identifier */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = gohttp_route(s, bad[i], write_text, NULL);
        ck_assert_msg(rc == GOHTTP_EPATTERN, "pattern \"%s\": %s", bad[i],
                      gohttp_strerror(rc));
        ck_assert_msg(gohttp_last_error()[0] != '\0',
                      "no detail for pattern \"%s\"", bad[i]);
    }
    route(s, "/a", write_text, (void *)"a\n");
    ck_assert_int_eq(gohttp_route(s, "/a", write_text, NULL), GOHTTP_EEXIST);
    route(s, "GET /items/{id}", item, NULL);
    ck_assert_int_eq(gohttp_route(s, "GET /items/{name}", item, NULL),
                     GOHTTP_EEXIST);

    int port = start(s);
    ck_assert_int_eq(gohttp_route(s, "/late", write_text, NULL),
                     GOHTTP_ESTATE);
    ck_assert_int_eq(gohttp_start(s, "127.0.0.1:0"), GOHTTP_ESTATE);

    /* The routes that were accepted work; the rejected ones left no
     * trace (/b would be 404 either way; /a answers with its own text). */
    http_response r;
    get_expect(port, "/a", 200, "a\n", &r);
    response_done(&r);
    get_expect(port, "/items/12345", 200,
               "item=12345 small=12 full=5 cap_ok=1", &r);
    response_done(&r);
    ck_assert_int_eq(path_value_len, 5);
    get_expect(port, "/late", 404, NULL, &r);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Start, bind failure, busy free                                      */
/* ------------------------------------------------------------------ */

START_TEST(start_reports_bind_failures)
{
    int port;
    int fd = http_listen_any(&port);
    ck_assert_int_ge(fd, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    gohttp_server s = new_server(NULL);
    route(s, "/", write_text, NULL);
    int rc = gohttp_start(s, addr);
    ck_assert_msg(rc == GOHTTP_EBIND, "start on a port in use: %s",
                  gohttp_strerror(rc));
    ck_assert_msg(strstr(gohttp_last_error(), "address already in use"),
                  "last error \"%s\" lacks the OS reason",
                  gohttp_last_error());
    close(fd);
    /* A server whose start failed never ran: free succeeds. */
    ck_assert_int_eq(gohttp_free(s), GOHTTP_OK);
    untrack(s);

    /* No host names: a DNS lookup could stall the suite. */
    const char *bad_addrs[] = { "127.0.0.1:99999", "127.0.0.1", "[::1",
                                "not an address" };
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        s = new_server(NULL);
        route(s, "/", write_text, NULL);
        rc = gohttp_start(s, bad_addrs[i]);
        ck_assert_msg(rc == GOHTTP_EBIND, "start on \"%s\": %s", bad_addrs[i],
                      gohttp_strerror(rc));
        ck_assert_msg(gohttp_last_error()[0] != '\0', "no detail for \"%s\"",
                      bad_addrs[i]);
        ck_assert_int_eq(gohttp_free(s), GOHTTP_OK);
        untrack(s);
    }
    s = new_server(NULL);
    ck_assert_int_eq(gohttp_start(s, NULL), GOHTTP_EINVAL);
    end_of_test();
}
END_TEST

START_TEST(free_while_running_is_busy)
{
    gohttp_server s = new_server(NULL);
    route(s, "/", write_text, (void *)"still here\n");
    int port = start(s);
    ck_assert_int_eq(gohttp_free(s), GOHTTP_EBUSY);
    http_response r;
    get_expect(port, "/", 200, "still here\n", &r);
    response_done(&r);
    ck_assert_int_eq(gohttp_wait(s, 50), GOHTTP_ETIMEDOUT);
    stop(s);
    ck_assert_int_eq(gohttp_free(s), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_shutdown(s, 0), GOHTTP_ESTALE);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Stale, forged and 0 handles                                         */
/* ------------------------------------------------------------------ */

/* Every server-handle call with h; each must say ESTALE. */
static void assert_server_calls_stale(gohttp_server h)
{
    gohttp_exchange ex;
    ck_assert_int_eq(gohttp_route(h, "/", write_text, NULL), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_route_queue(h, "/q", NULL), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_start(h, "127.0.0.1:0"), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_listen_and_serve(h, "127.0.0.1:0"),
                     GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_shutdown(h, 0), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_wait(h, 0), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_next(h, 0, &ex), GOHTTP_ESTALE);
    ck_assert_int_eq(gohttp_free(h), GOHTTP_ESTALE);
}
#define SERVER_CALLS 8

/* Every response/request call with h and otherwise valid arguments; the
 * result of each, in order, into rc[]. Safe on any thread. */
#define EXCHANGE_CALLS 10
static void exchange_calls(gohttp_handle h, int64_t rc[EXCHANGE_CALLS])
{
    char buf[16];
    rc[0] = gohttp_write_header(h, 200);
    rc[1] = gohttp_set_header(h, "X-Evil", 6, "1", 1);
    rc[2] = gohttp_add_header(h, "X-Evil", 6, "2", 1);
    rc[3] = gohttp_del_header(h, "Content-Type", 12);
    rc[4] = gohttp_write(h, "EVIL", 4);
    rc[5] = gohttp_flush(h);
    rc[6] = gohttp_read_body(h, buf, sizeof buf);
    rc[7] = gohttp_path_value(h, "id", buf, sizeof buf);
    rc[8] = gohttp_abort(h);
    rc[9] = gohttp_done(h);
}

/* Assert every recorded exchange call said ESTALE. */
static void assert_all_stale(const int64_t rc[EXCHANGE_CALLS],
                             const char *what)
{
    for (int i = 0; i < EXCHANGE_CALLS; i++)
        ck_assert_msg(rc[i] == GOHTTP_ESTALE,
                      "%s: exchange call %d returned %lld, not ESTALE", what,
                      i, (long long)rc[i]);
}

/* What the handler of the type-confusion check saw. */
struct confusion {
    gohttp_server server;
    int64_t write_with_server_handle;
    int shutdown_with_response_handle;
    int free_with_response_handle;
    gohttp_handle seen;
};

/* Passes the server handle where a response handle belongs and the
 * response handle where a server handle belongs. */
static void confuse(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    struct confusion *c = ud;
    sync_point();
    c->seen = w;
    if (c->server) {
        c->write_with_server_handle = gohttp_write(c->server, "EVIL", 4);
        c->shutdown_with_response_handle = gohttp_shutdown(w, 0);
        c->free_with_response_handle = gohttp_free(w);
    }
    sync_point();
    gohttp_write(w, "fine", 4);
}

/* Runs FIRST in the suite, on fresh tables: if server and response
 * handles were drawn from separate tables without a type tag, the first
 * server and the first response would carry the very same value, and a
 * server handle passed to gohttp_write would write into that response
 * (or a response handle passed to gohttp_shutdown would stop the server). */
START_TEST(server_and_response_handles_do_not_mix)
{
    static struct confusion c;
    memset(&c, 0, sizeof c);
    gohttp_server s = new_server(NULL);
    c.server = s;
    route(s, "/", confuse, &c);
    int port = start(s);
    http_response r;
    get_expect(port, "/", 200, NULL, &r);
    ck_assert_msg(r.body_len == 4 && strcmp(r.body, "fine") == 0,
                  "response body \"%s\": a server handle wrote into it "
                  "(server %#llx, response %#llx)", r.body,
                  (unsigned long long)s, (unsigned long long)c.seen);
    ck_assert_int_eq(http_header(&r, "X-Evil", NULL, 0), -1);
    response_done(&r);
    ck_assert_int_eq(c.write_with_server_handle, GOHTTP_ESTALE);
    ck_assert_int_eq(c.shutdown_with_response_handle, GOHTTP_ESTALE);
    ck_assert_int_eq(c.free_with_response_handle, GOHTTP_ESTALE);
    /* Still serving: the response handle did not shut the server down. */
    get_expect(port, "/", 200, "fine", &r);
    response_done(&r);
    end_of_test();
}
END_TEST

START_TEST(bad_handles_are_stale_everywhere)
{
    int64_t stale_before = counters().stale_rejections;
    const gohttp_server forged[] = { 0, 0xFFFFFFFFFFFFFFFFull,
                                     0x00000001FFFFFFF0ull,
                                     0x7A7A7A7A00000003ull };
    const size_t nforged = sizeof forged / sizeof forged[0];
    for (size_t i = 0; i < nforged; i++)
        assert_server_calls_stale(forged[i]);

    gohttp_server freed = new_server(NULL);
    ck_assert_int_eq(gohttp_free(freed), GOHTTP_OK);
    untrack(freed);
    assert_server_calls_stale(freed);

    int64_t rc[EXCHANGE_CALLS];
    for (size_t i = 0; i < nforged; i++) {
        exchange_calls(forged[i], rc);
        assert_all_stale(rc, "forged handle");
    }

    /* A handle from a finished request. */
    gohttp_server s = new_server(NULL);
    static struct confusion c;
    memset(&c, 0, sizeof c);
    c.server = 0; /* confuse() then only records its handle */
    route(s, "/", confuse, &c);
    int port = start(s);
    http_response r;
    get_expect(port, "/", 200, "fine", &r);
    response_done(&r);
    ck_assert_uint_ne(c.seen, 0);
    exchange_calls(c.seen, rc);
    assert_all_stale(rc, "finished request's handle");
    /* The server survived all of it. */
    get_expect(port, "/", 200, "fine", &r);
    response_done(&r);

    int64_t expected = (int64_t)(nforged + 1) * SERVER_CALLS +
                       (int64_t)(nforged + 1) * EXCHANGE_CALLS;
    ck_assert_int_ge(counters().stale_rejections - stale_before, expected);
    end_of_test();
}
END_TEST

/* State shared by the stash test's two handlers and its threads. */
struct stash {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gohttp_handle stashed;   /* /first's handle, kept past its return    */
    int second_running;      /* /second is inside its handler            */
    int release_second;      /* the test allows /second to finish        */
    int second_timed_out;    /* /second gave up waiting (test failure)   */
    int64_t late[EXCHANGE_CALLS]; /* results of the late calls           */
    int port;
    http_response second;    /* what the client of /second received      */
    int second_fetch_rc;
};

/* /first: stashes its handle for use after return, answers "first". */
static void first(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    struct stash *st = ud;
    pthread_mutex_lock(&st->mu);
    st->stashed = w; /* the misuse under test: keeping w after return */
    pthread_mutex_unlock(&st->mu);
    sync_point();
    gohttp_write(w, "first", 5);
}

/* Holds its request open until the test has tried the stale handle, so
 * the stale calls happen while another response is live. */
static void second(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    struct stash *st = ud;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&st->mu);
    st->second_running = 1;
    pthread_cond_broadcast(&st->cv);
    while (!st->release_second)
        if (pthread_cond_timedwait(&st->cv, &st->mu, &deadline) ==
            ETIMEDOUT) {
            st->second_timed_out = 1;
            break;
        }
    pthread_mutex_unlock(&st->mu);
    sync_point();
    gohttp_write(w, "second", 6);
}

/* Client thread: GET /second, which blocks until the test releases it. */
static void *fetch_second(void *arg)
{
    struct stash *st = arg;
    st->second_fetch_rc =
        fetch(st->port, "GET", "/second", NULL, NULL, 0, &st->second);
    return NULL;
}

/* Thread body: every exchange call through /first's stale handle. */
static void *late_writer(void *arg)
{
    struct stash *st = arg;
    exchange_calls(st->stashed, st->late);
    return NULL;
}

START_TEST(stashed_handle_is_stale_and_harmless)
{
    static struct stash st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    gohttp_server s = new_server(NULL);
    route(s, "/first", first, &st);
    route(s, "/second", second, &st);
    st.port = start(s);

    http_response r;
    get_expect(st.port, "/first", 200, "first", &r);
    response_done(&r);
    ck_assert_uint_ne(st.stashed, 0);

    pthread_t client, writer;
    ck_assert_int_eq(pthread_create(&client, NULL, fetch_second, &st), 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&st.mu);
    while (!st.second_running &&
           pthread_cond_timedwait(&st.cv, &st.mu, &deadline) != ETIMEDOUT)
        ;
    int running = st.second_running;
    pthread_mutex_unlock(&st.mu);

    /* /second is live now (its handle may well reuse /first's slot):
     * every late call through /first's handle must bounce. */
    if (running) {
        pthread_create(&writer, NULL, late_writer, &st);
        pthread_join(writer, NULL);
    }
    pthread_mutex_lock(&st.mu);
    st.release_second = 1;
    pthread_cond_broadcast(&st.cv);
    pthread_mutex_unlock(&st.mu);
    pthread_join(client, NULL);

    ck_assert_msg(running, "/second never reached its handler");
    ck_assert_int_eq(st.second_timed_out, 0);
    assert_all_stale(st.late, "handle used after its handler returned");
    ck_assert_int_eq(st.second_fetch_rc, 0);
    ck_assert_int_eq(st.second.status, 200);
    ck_assert_uint_eq(st.second.body_len, 6);
    ck_assert_str_eq(st.second.body, "second");
    ck_assert_int_eq(http_header(&st.second, "X-Evil", NULL, 0), -1);
    response_done(&st.second);
    end_of_test();
    pthread_cond_destroy(&st.cv);
    pthread_mutex_destroy(&st.mu);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency inside one response                                     */
/* ------------------------------------------------------------------ */

#define WRITERS 4
#define WRITES_PER_WRITER 200
#define BLOCK 64

struct writer_arg {
    gohttp_handle w;
    char letter;
    int failures;
};

/* Thread body: WRITES_PER_WRITER blocks of BLOCK bytes of one letter. */
static void *block_writer(void *arg)
{
    struct writer_arg *a = arg;
    char block[BLOCK];
    memset(block, a->letter, sizeof block);
    for (int i = 0; i < WRITES_PER_WRITER; i++)
        if (gohttp_write(a->w, block, BLOCK) != BLOCK)
            a->failures++;
    return NULL;
}

static _Atomic int concurrent_failures;
static _Atomic int concurrent_spawn_failures;

/* Four threads write 64-byte blocks of their own letter into one
 * response; the handler returns only after joining them all. */
static void concurrent(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    pthread_t t[WRITERS];
    struct writer_arg a[WRITERS];
    int started = 0;
    for (int i = 0; i < WRITERS; i++) {
        a[i] = (struct writer_arg){ w, (char)('A' + i), 0 };
        if (pthread_create(&t[i], NULL, block_writer, &a[i]) != 0) {
            concurrent_spawn_failures++;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        concurrent_failures += a[i].failures;
    }
}

START_TEST(concurrent_writes_into_one_response)
{
    concurrent_failures = 0;
    concurrent_spawn_failures = 0;
    gohttp_server s = new_server(NULL);
    route(s, "/", concurrent, NULL);
    int port = start(s);
    http_response r;
    get_expect(port, "/", 200, NULL, &r);
    ck_assert_int_eq(concurrent_spawn_failures, 0);
    ck_assert_int_eq(concurrent_failures, 0);
    ck_assert_uint_eq(r.body_len, (size_t)WRITERS * WRITES_PER_WRITER * BLOCK);
    int per_letter[WRITERS] = { 0 };
    /* Writes are serialized, so each 64-byte block is one writer's. */
    for (size_t off = 0; off < r.body_len; off += BLOCK) {
        char c = r.body[off];
        ck_assert_msg(c >= 'A' && c < 'A' + WRITERS, "bad byte at %zu", off);
        for (size_t i = 1; i < BLOCK; i++)
            ck_assert_msg(r.body[off + i] == c,
                          "block at %zu interleaved with another write", off);
        per_letter[c - 'A']++;
    }
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(per_letter[i], WRITES_PER_WRITER);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Shutdown from inside a handler                                      */
/* ------------------------------------------------------------------ */

struct inner_stop {
    gohttp_server self;
    int shutdown_rc;
    int wait_rc;
    int shutdown_again_rc;
};

/* /stop: shuts its own server down, tries to wait on it (must be
 * EDEADLK, not a hang), shuts down again (harmless), answers. */
static void stop_from_inside(gohttp_handle w, const gohttp_request *req,
                             void *ud)
{
    (void)req;
    struct inner_stop *st = ud;
    sync_point();
    st->shutdown_rc = gohttp_shutdown(st->self, 2000);
    st->wait_rc = gohttp_wait(st->self, 1000);
    st->shutdown_again_rc = gohttp_shutdown(st->self, 2000);
    sync_point();
    gohttp_write(w, "stopping", 8);
}

START_TEST(shutdown_inside_handler_stops_only_that_server)
{
    static struct inner_stop st;
    memset(&st, 0, sizeof st);
    gohttp_server a = new_server(NULL);
    gohttp_server b = new_server(NULL);
    st.self = a;
    route(a, "/stop", stop_from_inside, &st);
    route(b, "/", write_text, (void *)"b lives\n");
    int port_a = start(a);
    int port_b = start(b);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_response r;
    get_expect(port_a, "/stop", 200, "stopping", &r);
    response_done(&r);
    ck_assert_int_eq(st.shutdown_rc, GOHTTP_OK);
    ck_assert_int_eq(st.wait_rc, GOHTTP_EDEADLK);
    ck_assert_int_eq(st.shutdown_again_rc, GOHTTP_OK);
    ck_assert_int_eq(gohttp_wait(a, 10000), GOHTTP_OK);
    long took = elapsed_ms(&t0);
    /* The handler returns at once, so stopping needs far less than the
     * 2 s timeout; the bound leaves room for valgrind's slowdown while
     * still failing a wait that only ended by its own 10 s limit. */
    ck_assert_msg(took < 7000, "server took %ld ms to stop (timeout 2000)",
                  took);

    http_conn c;
    int connected = http_connect(&c, port_a, 1000) == 0;
    if (connected)
        http_close(&c);
    ck_assert_msg(!connected, "stopped server still accepts connections");
    get_expect(port_b, "/", 200, "b lives\n", &r);
    response_done(&r);
    ck_assert_int_eq(gohttp_free(a), GOHTTP_OK);
    untrack(a);
    get_expect(port_b, "/", 200, "b lives\n", &r);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad arguments inside a handler                                      */
/* ------------------------------------------------------------------ */

#define BAD_CALLS 30
struct bad_inputs {
    int64_t rc[BAD_CALLS];
    const char *what[BAD_CALLS];
    int n;
    int64_t ok_set, ok_status, second_status, late_header, ok_write;
};

#define RECORD(b, call)                                                      \
    do {                                                                     \
        (b)->what[(b)->n] = #call;                                           \
        (b)->rc[(b)->n++] = (call);                                          \
    } while (0)

/* Every malformed argument must give EINVAL; afterwards the response is
 * still usable. */
static void misuse(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    struct bad_inputs *b = ud;
    char buf[16];
    sync_point();
    b->n = 0;
    RECORD(b, gohttp_write_header(w, 99));
    RECORD(b, gohttp_write_header(w, 1000));
    RECORD(b, gohttp_write_header(w, -200));
    RECORD(b, gohttp_set_header(w, "Bad Name", 8, "v", 1));
    RECORD(b, gohttp_set_header(w, "X:Y", 3, "v", 1));
    RECORD(b, gohttp_set_header(w, "", 0, "v", 1));
    RECORD(b, gohttp_set_header(w, NULL, 4, "v", 1));
    RECORD(b, gohttp_set_header(w, "X-O\0k", 5, "v", 1));
    RECORD(b, gohttp_set_header(w, "X-Bad", 5, "a\r\nX-Injected: 1", 17));
    RECORD(b, gohttp_set_header(w, "X-Bad", 5, "a\nb", 3));
    RECORD(b, gohttp_set_header(w, "X-Bad", 5, "a\rb", 3));
    RECORD(b, gohttp_set_header(w, "X-Bad", 5, "a\0b", 3));
    RECORD(b, gohttp_set_header(w, "X-Bad", 5, NULL, 3));
    RECORD(b, gohttp_add_header(w, "Bad Name", 8, "v", 1));
    RECORD(b, gohttp_add_header(w, "X-Bad", 5, "a\r\nb", 4));
    RECORD(b, gohttp_add_header(w, "X-Bad", 5, "a\0b", 3));
    RECORD(b, gohttp_del_header(w, "Bad Name", 8));
    RECORD(b, gohttp_del_header(w, NULL, 3));
    RECORD(b, gohttp_write(w, "x", -1));
    RECORD(b, gohttp_write(w, NULL, 5));
    RECORD(b, gohttp_read_body(w, NULL, 10));
    RECORD(b, gohttp_read_body(w, buf, -1));
    RECORD(b, gohttp_path_value(w, NULL, buf, sizeof buf));
    RECORD(b, gohttp_path_value(w, "id", NULL, 10));
    RECORD(b, gohttp_path_value(w, "id", buf, -1));
    b->ok_set = gohttp_set_header(w, "X-Ok", 4, "fine", 4);
    b->ok_status = gohttp_write_header(w, 201);
    b->second_status = gohttp_write_header(w, 202);
    b->late_header = gohttp_set_header(w, "X-Late", 6, "1", 1);
    /* 2 bytes stay buffered until return, so recording after the write
     * still happens before the client can see the response. */
    b->ok_write = gohttp_write(w, "ok", 2);
    sync_point();
}

START_TEST(bad_arguments_are_einval_and_server_lives)
{
    static struct bad_inputs b;
    memset(&b, 0, sizeof b);
    gohttp_server s = new_server(NULL);
    route(s, "/misuse", misuse, &b);
    route(s, "/", write_text, (void *)"alive\n");
    int port = start(s);

    http_response r;
    get_expect(port, "/misuse", 201, "ok", &r);
    ck_assert_int_eq(b.n, 25);
    for (int i = 0; i < b.n; i++)
        ck_assert_msg(b.rc[i] == GOHTTP_EINVAL, "%s returned %lld (%s)",
                      b.what[i], (long long)b.rc[i],
                      gohttp_strerror((int)b.rc[i]));
    ck_assert_int_eq(b.ok_set, GOHTTP_OK);
    ck_assert_int_eq(b.ok_status, GOHTTP_OK);
    ck_assert_int_eq(b.second_status, GOHTTP_ESTATE);
    ck_assert_int_eq(b.late_header, GOHTTP_ESTATE);
    ck_assert_int_eq(b.ok_write, 2);
    char v[32];
    ck_assert_int_eq(http_header(&r, "X-Ok", v, sizeof v), 4);
    ck_assert_str_eq(v, "fine");
    ck_assert_int_eq(http_header(&r, "X-Bad", NULL, 0), -1);
    ck_assert_int_eq(http_header(&r, "X-Injected", NULL, 0), -1);
    ck_assert_int_eq(http_header(&r, "X-Late", NULL, 0), -1);
    response_done(&r);

    get_expect(port, "/", 200, "alive\n", &r);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The request view and the body                                       */
/* ------------------------------------------------------------------ */

/* What the handler saw of its request, copied out for the test thread. */
struct seen_request {
    char method[16], path[64], query[64], proto[16], host[64], remote[64];
    char header[64];
    int strings_terminated;
    int64_t content_length;
    size_t body_len;
    unsigned char body[200000];
    int64_t read_error;
};

/* Copy a view string into dst (bounded) and clear *terminated unless the
 * library NUL-terminated it at its stated length. */
static void copy_field(char *dst, size_t cap, const char *s, size_t len,
                       int *terminated)
{
    if (!s || s[len] != '\0')
        *terminated = 0;
    snprintf(dst, cap, "%.*s", s ? (int)len : 0, s ? s : "");
}

/* Records the view and the body, then echoes the body back. */
static void inspect(gohttp_handle w, const gohttp_request *req, void *ud)
{
    struct seen_request *sr = ud;
    sync_point();
    sr->strings_terminated = 1;
    copy_field(sr->method, sizeof sr->method, req->method, req->method_len,
               &sr->strings_terminated);
    copy_field(sr->path, sizeof sr->path, req->path, req->path_len,
               &sr->strings_terminated);
    copy_field(sr->query, sizeof sr->query, req->raw_query,
               req->raw_query_len, &sr->strings_terminated);
    copy_field(sr->proto, sizeof sr->proto, req->proto, req->proto_len,
               &sr->strings_terminated);
    copy_field(sr->host, sizeof sr->host, req->host, req->host_len,
               &sr->strings_terminated);
    copy_field(sr->remote, sizeof sr->remote, req->remote_addr,
               req->remote_addr_len, &sr->strings_terminated);
    for (size_t i = 0; i < req->header_count; i++) {
        const gohttp_header *h = &req->headers[i];
        if (h->name[h->name_len] != '\0' || h->value[h->value_len] != '\0')
            sr->strings_terminated = 0;
        if (h->name_len == 6 && memcmp(h->name, "X-Test", 6) == 0)
            copy_field(sr->header, sizeof sr->header, h->value, h->value_len,
                       &sr->strings_terminated);
    }
    sr->content_length = req->content_length;
    sr->body_len = 0;
    sr->read_error = 0;
    for (;;) { /* small reads: the body must come through in pieces */
        size_t room = sizeof sr->body - sr->body_len;
        int64_t n = gohttp_read_body(w, sr->body + sr->body_len,
                                     room < 1000 ? (int64_t)room : 1000);
        if (n < 0) {
            sr->read_error = n;
            sync_point();
            return; /* nothing written: the library answers (413) */
        }
        if (n == 0)
            break;
        sr->body_len += (size_t)n;
    }
    sync_point();
    gohttp_write(w, sr->body, (int64_t)sr->body_len);
}

START_TEST(request_view_and_binary_body)
{
    static struct seen_request sr;
    memset(&sr, 0, sizeof sr);
    static unsigned char body[150000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (unsigned char)(i % 7 == 0 ? 0 : (i * 31) & 0xFF);
    gohttp_server s = new_server(NULL);
    route(s, "POST /inspect/{rest...}", inspect, &sr);
    int port = start(s);

    http_response r;
    ck_assert_int_eq(fetch(port, "POST", "/inspect/a%20b?x=1&y=%00",
                                "X-Test: v\xc3\xa9 1\r\n", body, sizeof body,
                                &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(sr.read_error, 0);
    ck_assert_int_eq(sr.strings_terminated, 1);
    ck_assert_str_eq(sr.method, "POST");
    ck_assert_str_eq(sr.path, "/inspect/a b");
    ck_assert_str_eq(sr.query, "x=1&y=%00");
    ck_assert_str_eq(sr.proto, "HTTP/1.1");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    ck_assert_str_eq(sr.host, host);
    ck_assert_msg(strncmp(sr.remote, "127.0.0.1:", 10) == 0, "remote %s",
                  sr.remote);
    ck_assert_str_eq(sr.header, "v\xc3\xa9 1");
    ck_assert_int_eq(sr.content_length, (int64_t)sizeof body);
    ck_assert_uint_eq(sr.body_len, sizeof body);
    ck_assert_mem_eq(sr.body, body, sizeof body);
    ck_assert_uint_eq(r.body_len, sizeof body);
    ck_assert_mem_eq(r.body, body, sizeof body);
    response_done(&r);
    end_of_test();
}
END_TEST

START_TEST(body_over_limit_is_413)
{
    static struct seen_request sr;
    memset(&sr, 0, sizeof sr);
    gohttp_options o;
    gohttp_options_init(&o);
    o.max_body_bytes = 1000;
    gohttp_server s = new_server(&o);
    route(s, "POST /", inspect, &sr);
    int port = start(s);
    static char body[5000];
    memset(body, 'z', sizeof body);
    http_response r;
    ck_assert_int_eq(fetch(port, "POST", "/", NULL, body, sizeof body,
                                &r),
                     0);
    ck_assert_int_eq(r.status, 413);
    ck_assert_int_eq(sr.read_error, GOHTTP_ETOOLARGE);
    response_done(&r);
    /* At the limit exactly is fine. */
    ck_assert_int_eq(fetch(port, "POST", "/", NULL, body, 1000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 1000);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Pull mode                                                           */
/* ------------------------------------------------------------------ */

struct puller {
    gohttp_server s;
    int next_rc, done_rc, done_again_rc, next_after_rc;
    int64_t write_rc, write_after_rc;
    char method[8];
    void *userdata;
};

/* Puller thread: take one exchange, answer it, then misuse its handle
 * after gohttp_done; records every result for the test thread. */
static void *pull_one(void *arg)
{
    struct puller *p = arg;
    gohttp_exchange ex;
    memset(&ex, 0, sizeof ex);
    p->next_rc = gohttp_next(p->s, 10000, &ex);
    if (p->next_rc != 0)
        return NULL;
    snprintf(p->method, sizeof p->method, "%s", ex.req->method);
    p->userdata = ex.userdata;
    p->write_rc = gohttp_write(ex.w, "pulled", 6);
    p->done_rc = gohttp_done(ex.w);
    p->done_again_rc = gohttp_done(ex.w);
    p->write_after_rc = gohttp_write(ex.w, "late", 4);
    return NULL;
}

START_TEST(pull_mode_round_trip)
{
    static int tag;
    static struct puller p;
    memset(&p, 0, sizeof p);
    gohttp_server s = new_server(NULL);
    p.s = s;
    ck_assert_int_eq(gohttp_route_queue(s, "/q", &tag), GOHTTP_OK);
    ck_assert_int_eq(gohttp_route_queue(s, "/q", &tag), GOHTTP_EEXIST);
    int port = start(s);
    gohttp_exchange ex;
    ck_assert_int_eq(gohttp_next(s, 10, &ex), GOHTTP_ETIMEDOUT);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, pull_one, &p), 0);
    http_response r;
    int fetch_rc = fetch(port, "GET", "/q", NULL, NULL, 0, &r);
    pthread_join(t, NULL);
    ck_assert_int_eq(fetch_rc, 0);
    ck_assert_int_eq(p.next_rc, GOHTTP_OK);
    ck_assert_str_eq(p.method, "GET");
    ck_assert_ptr_eq(p.userdata, &tag);
    ck_assert_int_eq(p.write_rc, 6);
    ck_assert_int_eq(p.done_rc, GOHTTP_OK);
    ck_assert_int_eq(p.done_again_rc, GOHTTP_ESTALE);
    ck_assert_int_eq(p.write_after_rc, GOHTTP_ESTALE);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "pulled");
    response_done(&r);
    ck_assert_int_eq(gohttp_shutdown(s, 1000), GOHTTP_OK);
    ck_assert_int_eq(gohttp_next(s, 1000, &ex), GOHTTP_ECLOSED);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bounded handlers, abort                                             */
/* ------------------------------------------------------------------ */

/* A gate a handler waits at until the test opens it (10 s at most). */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, open, timed_out;
    int port;
    int fetch_rc;
    http_response r;
};
static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                            0, 0, 0, 0, 0, { 0 } };

/* /slow: holds its handler slot until the gate opens, answers "slow". */
static void gated(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&gate.mu);
    gate.arrived++;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.open)
        if (pthread_cond_timedwait(&gate.cv, &gate.mu, &deadline) ==
            ETIMEDOUT) {
            gate.timed_out = 1;
            break;
        }
    pthread_mutex_unlock(&gate.mu);
    sync_point();
    gohttp_write(w, "slow", 4);
}

/* Client thread: GET /slow. */
static void *fetch_gated(void *arg)
{
    (void)arg;
    gate.fetch_rc =
        fetch(gate.port, "GET", "/slow", NULL, NULL, 0, &gate.r);
    return NULL;
}

START_TEST(excess_requests_wait_then_503)
{
    pthread_mutex_lock(&gate.mu);
    gate.arrived = gate.open = gate.timed_out = 0;
    pthread_mutex_unlock(&gate.mu);
    gohttp_options o;
    gohttp_options_init(&o);
    o.max_handlers = 1;
    o.queue_timeout_ms = 300;
    gohttp_server s = new_server(&o);
    route(s, "/slow", gated, NULL);
    route(s, "/fast", write_text, (void *)"fast\n");
    gate.port = start(s);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fetch_gated, NULL), 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&gate.mu);
    while (!gate.arrived &&
           pthread_cond_timedwait(&gate.cv, &gate.mu, &deadline) != ETIMEDOUT)
        ;
    int arrived = gate.arrived;
    pthread_mutex_unlock(&gate.mu);

    /* The only handler slot is taken: /fast waits its 300 ms, then 503. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_response busy;
    int busy_rc = fetch(gate.port, "GET", "/fast", NULL, NULL, 0, &busy);
    long waited = elapsed_ms(&t0);

    pthread_mutex_lock(&gate.mu);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    pthread_join(t, NULL);

    ck_assert_int_eq(arrived, 1);
    ck_assert_int_eq(busy_rc, 0);
    ck_assert_int_eq(busy.status, 503);
    ck_assert_msg(waited >= 250, "503 after %ld ms, queue timeout 300",
                  waited);
    response_done(&busy);
    ck_assert_int_eq(gate.timed_out, 0);
    ck_assert_int_eq(gate.fetch_rc, 0);
    ck_assert_int_eq(gate.r.status, 200);
    ck_assert_str_eq(gate.r.body, "slow");
    response_done(&gate.r);
    /* The slot is free again. */
    http_response r;
    get_expect(gate.port, "/fast", 200, "fast\n", &r);
    response_done(&r);
    end_of_test();
}
END_TEST

/* Sends part of a chunked body, then asks for the connection to be cut. */
static void abort_midway(gohttp_handle w, const gohttp_request *req,
                         void *ud)
{
    (void)req;
    int *rc = ud;
    gohttp_write(w, "partial", 7);
    gohttp_flush(w);
    *rc = gohttp_abort(w);
    sync_point(); /* before return: the cut happens after it */
}

/* Send a raw request on a fresh connection to 127.0.0.1:port and read
 * everything until the server closes it, into buf (cap bytes, NUL-
 * terminated). Returns how the read ended: 0 for EOF, ECONNRESET for a
 * reset, EAGAIN when nothing came for timeout_ms (the server hung), or
 * another errno. */
static int read_until_closed(int port, const char *request, char *buf,
                             size_t cap, size_t *len, int timeout_ms)
{
    http_conn c;
    *len = 0;
    buf[0] = '\0';
    if (http_connect(&c, port, timeout_ms) != 0)
        return errno;
    size_t want = strlen(request);
    if (write(c.fd, request, want) != (ssize_t)want) {
        int e = errno;
        http_close(&c);
        return e;
    }
    int how = 0;
    for (;;) {
        ssize_t n = recv(c.fd, buf + *len, cap - 1 - *len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            how = (errno == EWOULDBLOCK) ? EAGAIN : errno;
            break;
        }
        if (n == 0 || *len + (size_t)n >= cap - 1) {
            *len += (size_t)n;
            break;
        }
        *len += (size_t)n;
    }
    buf[*len] = '\0';
    http_close(&c);
    return how;
}

START_TEST(abort_cuts_the_response)
{
    static int abort_rc;
    abort_rc = 12345;
    gohttp_server s = new_server(NULL);
    route(s, "/abort", abort_midway, &abort_rc);
    route(s, "/", write_text, (void *)"after\n");
    int port = start(s);
    http_response r;
    /* The connection is cut (EOF or reset) after the flushed chunk, with
     * no terminating chunk; a response that hangs instead runs into the
     * 10 s receive timeout (EAGAIN) and fails here. */
    char raw[4096];
    size_t raw_len;
    sync_point();
    int how = read_until_closed(
        port, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n", raw, sizeof raw,
        &raw_len, 10000);
    sync_point();
    ck_assert_msg(how == 0 || how == ECONNRESET,
                  "aborted response not cut: %s after %zu bytes: %s",
                  strerror(how), raw_len, raw);
    ck_assert_msg(strncmp(raw, "HTTP/1.1 200 ", 13) == 0, "status: %s", raw);
    ck_assert_msg(strstr(raw, "\r\n\r\n7\r\npartial\r\n") != NULL,
                  "flushed chunk missing: %s", raw);
    ck_assert_msg(strstr(raw, "\r\n0\r\n\r\n") == NULL,
                  "aborted response has its terminating chunk: %s", raw);
    ck_assert_int_eq(abort_rc, GOHTTP_OK);
    get_expect(port, "/", 200, "after\n", &r);
    response_done(&r);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* gohttp_listen_and_serve                                             */
/* ------------------------------------------------------------------ */

struct blocking_serve {
    gohttp_server s;
    char addr[64];
    int rc;
};

/* Thread body: the blocking gohttp_listen_and_serve, result into arg. */
static void *run_listen_and_serve(void *arg)
{
    struct blocking_serve *b = arg;
    b->rc = gohttp_listen_and_serve(b->s, b->addr);
    return NULL;
}

/* Two servers with reuse_port share one port, and the second keeps
 * answering there once the first stopped; a server without the option
 * cannot bind that port (EBIND with the OS reason). */
START_TEST(reuse_port_lets_two_servers_share_a_port)
{
    gohttp_options o;
    gohttp_options_init(&o);
    o.reuse_port = 1;
    gohttp_server first = new_server(&o);
    route(first, "/", write_text, (void *)"first\n");
    int port = start(first);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    gohttp_server second = new_server(&o);
    route(second, "/", write_text, (void *)"second\n");
    int rc = gohttp_start(second, addr);
    ck_assert_msg(rc == port, "second reuse_port server on %s: %s: %s", addr,
                  gohttp_strerror(rc), gohttp_last_error());

    gohttp_server plain = new_server(NULL);
    route(plain, "/", write_text, NULL);
    rc = gohttp_start(plain, addr);
    ck_assert_msg(rc == GOHTTP_EBIND, "server without reuse_port on %s: %s",
                  addr, gohttp_strerror(rc));
    ck_assert_msg(strstr(gohttp_last_error(), "address already in use"),
                  "last error \"%s\" lacks the OS reason",
                  gohttp_last_error());
    ck_assert_int_eq(gohttp_free(plain), GOHTTP_OK);
    untrack(plain);

    /* While both listen, each answer comes from one of them. */
    http_response r;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(fetch(port, "GET", "/", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(!strcmp(r.body, "first\n") || !strcmp(r.body, "second\n"),
                      "unexpected body \"%s\"", r.body);
        response_done(&r);
    }
    stop(first);
    for (int i = 0; i < 4; i++) {
        get_expect(port, "/", 200, "second\n", &r);
        response_done(&r);
    }
    end_of_test();
}
END_TEST

/* gohttp_start_fd EINVAL on fd, with a last error containing why. */
static void expect_start_fd_einval(gohttp_server s, int fd, const char *why)
{
    int rc = gohttp_start_fd(s, fd);
    ck_assert_msg(rc == GOHTTP_EINVAL, "gohttp_start_fd(%d) [%s] = %s", fd,
                  why, gohttp_strerror(rc));
    ck_assert_msg(strstr(gohttp_last_error(), why),
                  "gohttp_start_fd(%d): last error \"%s\" lacks \"%s\"", fd,
                  gohttp_last_error(), why);
}

/* A server started on a listening socket the test made serves on it; the
 * test's fd stays open and usable (and closable) after the call; bad
 * descriptors are EINVAL with the reason and leave them open; a second
 * start of either kind is ESTATE; the counters end at zero. */
START_TEST(start_fd_serves_on_the_callers_socket)
{
    gohttp_server s = new_server(NULL);
    route(s, "/", write_text, (void *)"on fd\n");

    ck_assert_int_eq(gohttp_start_fd(s, -1), GOHTTP_EINVAL);
    ck_assert_msg(strstr(gohttp_last_error(), "negative"), "%s",
                  gohttp_last_error());

    char path[] = "/tmp/gohttp-check-startfd-XXXXXX";
    int file = mkstemp(path);
    ck_assert_int_ge(file, 0);
    unlink(path);
    expect_start_fd_einval(s, file, "not a socket");
    ck_assert_int_eq(close(file), 0); /* still ours, still open */

    int held = reserve_port(&(int){0}); /* bound, not listening */
    expect_start_fd_einval(s, held, "not listening");
    ck_assert_int_eq(close(held), 0);

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(udp, 0);
    expect_start_fd_einval(s, udp, "not a TCP socket");
    ck_assert_int_eq(close(udp), 0);

    int port;
    int fd = reserve_port(&port);
    ck_assert_int_eq(listen(fd, 16), 0);
    int rc = gohttp_start_fd(s, fd);
    ck_assert_msg(rc == port, "gohttp_start_fd: %s: %s (want port %d)",
                  gohttp_strerror(rc), gohttp_last_error(), port);
    /* The caller's fd is untouched: still a listening socket. */
    int acc = 0;
    socklen_t len = sizeof acc;
    ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len), 0);
    ck_assert_int_eq(acc, 1);

    http_response r;
    get_expect(port, "/", 200, "on fd\n", &r);
    response_done(&r);
    /* The caller closes its fd: the server keeps its own duplicate. */
    ck_assert_int_eq(close(fd), 0);
    get_expect(port, "/", 200, "on fd\n", &r);
    response_done(&r);

    int again = reserve_port(&(int){0});
    ck_assert_int_eq(listen(again, 4), 0);
    ck_assert_int_eq(gohttp_start_fd(s, again), GOHTTP_ESTATE);
    ck_assert_int_eq(gohttp_start(s, "127.0.0.1:0"), GOHTTP_ESTATE);

    gohttp_server other = new_server(NULL);
    start(other);
    ck_assert_int_eq(gohttp_start_fd(other, again), GOHTTP_ESTATE);
    ck_assert_int_eq(gohttp_start_fd(0, again), GOHTTP_ESTALE);
    ck_assert_int_eq(close(again), 0);
    end_of_test();
}
END_TEST

START_TEST(listen_and_serve_blocks_until_shutdown)
{
    static struct blocking_serve b;
    memset(&b, 0, sizeof b);
    b.rc = 12345;
    b.s = new_server(NULL);
    route(b.s, "/", write_text, (void *)"blocking\n");
    int port;
    int held = reserve_port(&port);
    snprintf(b.addr, sizeof b.addr, "127.0.0.1:%d", port);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_listen_and_serve, &b), 0);
    int listening = http_wait_listening(port, 10000) == 0;
    close(held);
    http_response r;
    int fetched = listening &&
                  fetch(port, "GET", "/", NULL, NULL, 0, &r) == 0;
    gohttp_shutdown(b.s, 1000);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 10;
    int joined = pthread_timedjoin_np(t, NULL, &limit) == 0;
    ck_assert_msg(joined, "gohttp_listen_and_serve did not return after "
                          "gohttp_shutdown");
    ck_assert_msg(listening, "never listened on %s", b.addr);
    ck_assert_int_eq(fetched, 1);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "blocking\n");
    response_done(&r);
    ck_assert_int_eq(b.rc, GOHTTP_OK);
    ck_assert_int_eq(gohttp_free(b.s), GOHTTP_OK);
    untrack(b.s);

    /* A bind failure comes back at once instead of blocking. */
    int fd = http_listen_any(&port);
    ck_assert_int_ge(fd, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    gohttp_server s = new_server(NULL);
    route(s, "/", write_text, NULL);
    ck_assert_int_eq(gohttp_listen_and_serve(s, addr), GOHTTP_EBIND);
    ck_assert_ptr_nonnull(
        strstr(gohttp_last_error(), "address already in use"));
    close(fd);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The seed API (gohttplib.h) on its default server                    */
/* ------------------------------------------------------------------ */

/* What the seed handler saw, copied out for the test thread. */
struct seed_seen {
    char method[16], host[64], url[64], body[64], headers[512];
    ResponseWriterPtr stashed;
    int bad_status_left_detail;
    int calls;
};
static struct seed_seen seed_seen;

/* Seed /seed: records the seed Request, stashes w, tries a bad status,
 * answers 202 "seed ok". */
static void seed_record(ResponseWriterPtr w, Request *req)
{
    struct seed_seen *s = &seed_seen;
    sync_point();
    snprintf(s->method, sizeof s->method, "%s", req->Method);
    snprintf(s->host, sizeof s->host, "%s", req->Host);
    snprintf(s->url, sizeof s->url, "%s", req->URL);
    snprintf(s->body, sizeof s->body, "%s", req->Body);
    snprintf(s->headers, sizeof s->headers, "%s", req->Headers);
    s->stashed = w; /* kept past return on purpose: must go stale */
    ResponseWriter_WriteHeader(w, 1000); /* invalid: reported, not fatal */
    s->bad_status_left_detail = gohttp_last_error()[0] != '\0';
    ResponseWriter_WriteHeader(w, 202);
    s->calls++;
    sync_point();
    char *text = "seed ok";
    ResponseWriter_Write(w, text, (int)strlen(text));
}

/* Seed /stop: Shutdown() from inside a handler, answers "stopping". */
static void seed_stop(ResponseWriterPtr w, Request *req)
{
    (void)req;
    Shutdown(); /* from inside a handler: must not deadlock */
    char *text = "stopping";
    ResponseWriter_Write(w, text, (int)strlen(text));
}

struct seed_run {
    char addr[64];
    char last_error[256]; /* the serving thread's, after return */
};

/* Thread body: the seed's blocking ListenAndServe, then a copy of this
 * thread's last error (bind failures are reported only there). */
static void *seed_serve(void *arg)
{
    struct seed_run *run = arg;
    ListenAndServe(run->addr);
    snprintf(run->last_error, sizeof run->last_error, "%s",
             gohttp_last_error());
    return NULL;
}

/* Join t within seconds; 0 if it did not return. */
static int timed_join(pthread_t t, int seconds)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += seconds;
    return pthread_timedjoin_np(t, NULL, &limit) == 0;
}

START_TEST(seed_api_serves_and_goes_stale)
{
    static struct seed_run run;
    memset(&run, 0, sizeof run);
    memset(&seed_seen, 0, sizeof seed_seen);
    int port;
    int held = reserve_port(&port);
    snprintf(run.addr, sizeof run.addr, "127.0.0.1:%d", port);
    HandleFunc("/seed", &seed_record);
    HandleFunc("/stop", &seed_stop);
    /* Bad and duplicate patterns are reported, and the process lives. */
    HandleFunc("/{unclosed", &seed_record);
    ck_assert_msg(gohttp_last_error()[0] != '\0', "bad seed pattern silent");
    HandleFunc("/seed", &seed_record);
    ck_assert_ptr_nonnull(strstr(gohttp_last_error(), "conflict"));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, seed_serve, &run), 0);

    int listening = http_wait_listening(port, 10000) == 0;
    close(held);
    http_response r;
    memset(&r, 0, sizeof r);
    int fetched = listening &&
                  fetch(port, "POST", "/seed?x=1", "X-Test: v\r\n",
                             "hello body", 10, &r) == 0;
    http_response stop_r;
    memset(&stop_r, 0, sizeof stop_r);
    int stop_fetched =
        listening &&
        fetch(port, "GET", "/stop", NULL, NULL, 0, &stop_r) == 0;
    if (!stop_fetched)
        Shutdown(); /* so the serving thread ends whatever happened */
    int joined = timed_join(t, 15);
    ck_assert_msg(joined, "ListenAndServe did not return after Shutdown()");
    ck_assert_msg(listening, "seed server never listened: %s",
                  run.last_error);
    ck_assert_int_eq(fetched, 1);
    ck_assert_int_eq(stop_fetched, 1);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "seed ok");
    ck_assert_int_eq(stop_r.status, 200);
    ck_assert_str_eq(stop_r.body, "stopping");
    response_done(&r);
    response_done(&stop_r);
    ck_assert_int_eq(seed_seen.calls, 1);
    ck_assert_str_eq(seed_seen.method, "POST");
    ck_assert_str_eq(seed_seen.url, "/seed?x=1");
    ck_assert_str_eq(seed_seen.host, run.addr);
    ck_assert_str_eq(seed_seen.body, "hello body");
    ck_assert_msg(strstr(seed_seen.headers, "X-Test: v\r\n"),
                  "Headers \"%s\" lack X-Test", seed_seen.headers);
    ck_assert_int_eq(seed_seen.bad_status_left_detail, 1);
    ck_assert_int_eq(ResponseWriter_Write(seed_seen.stashed, "late", 4),
                     GOHTTP_ESTALE);
    end_of_test(); /* the default server was released on return */
}
END_TEST

START_TEST(seed_bind_failure_returns_with_reason)
{
    static struct seed_run run;
    memset(&run, 0, sizeof run);
    int port;
    int fd = http_listen_any(&port);
    ck_assert_int_ge(fd, 0);
    snprintf(run.addr, sizeof run.addr, "127.0.0.1:%d", port);
    HandleFunc("/", &seed_record);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, seed_serve, &run), 0);
    int joined = timed_join(t, 10);
    if (!joined)
        Shutdown();
    close(fd);
    ck_assert_msg(joined, "ListenAndServe on a port in use did not return");
    ck_assert_msg(strstr(run.last_error, "address already in use"),
                  "serving thread's last error: \"%s\"", run.last_error);
    end_of_test();
}
END_TEST

/* The seed's Shutdown() drains: a request in flight when it is called is
 * answered, new connections are refused at once, and ListenAndServe
 * returns only after the handler returned. */
struct seed_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
    int neg_rc, ok_rc;
};
static struct seed_gate seed_gate = { PTHREAD_MUTEX_INITIALIZER,
                                      PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };

/* Seed /slow: tries a negative length, then waits (at most 20 s) for the
 * test to open the gate and answers "drained". */
static void seed_slow(ResponseWriterPtr w, Request *req)
{
    (void)req;
    struct seed_gate *g = &seed_gate;
    int neg = ResponseWriter_Write(w, "x", -1);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 20;
    pthread_mutex_lock(&g->mu);
    g->neg_rc = neg;
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open &&
           pthread_cond_timedwait(&g->cv, &g->mu, &limit) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&g->mu);
    char *text = "drained";
    int ok = ResponseWriter_Write(w, text, (int)strlen(text));
    pthread_mutex_lock(&g->mu);
    g->ok_rc = ok;
    pthread_mutex_unlock(&g->mu);
}

struct seed_fetch {
    int port, rc;
    http_response r;
};

static void *seed_fetch_slow(void *arg)
{
    struct seed_fetch *f = arg;
    f->rc = fetch(f->port, "GET", "/slow", NULL, NULL, 0, &f->r);
    return NULL;
}

START_TEST(seed_shutdown_drains_the_request_in_flight)
{
    static struct seed_run run;
    static struct seed_fetch f;
    memset(&run, 0, sizeof run);
    memset(&f, 0, sizeof f);
    pthread_mutex_lock(&seed_gate.mu);
    seed_gate.entered = seed_gate.open = 0;
    seed_gate.neg_rc = seed_gate.ok_rc = 12345;
    pthread_mutex_unlock(&seed_gate.mu);
    int held = reserve_port(&f.port);
    snprintf(run.addr, sizeof run.addr, "127.0.0.1:%d", f.port);
    HandleFunc("/slow", &seed_slow);
    pthread_t t, client;
    ck_assert_int_eq(pthread_create(&t, NULL, seed_serve, &run), 0);
    int listening = http_wait_listening(f.port, 10000) == 0;
    close(held);
    if (!listening) {
        Shutdown();
        timed_join(t, 15);
        ck_abort_msg("seed server never listened: %s", run.last_error);
    }
    ck_assert_int_eq(pthread_create(&client, NULL, seed_fetch_slow, &f), 0);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 10;
    pthread_mutex_lock(&seed_gate.mu);
    while (!seed_gate.entered &&
           pthread_cond_timedwait(&seed_gate.cv, &seed_gate.mu, &limit) !=
               ETIMEDOUT) {
    }
    int entered = seed_gate.entered;
    pthread_mutex_unlock(&seed_gate.mu);

    Shutdown();
    /* The listener is closed before Shutdown returns. */
    http_conn late;
    int late_rc = http_connect(&late, f.port, 1000);
    if (late_rc == 0)
        http_close(&late);
    /* The handler still runs, so ListenAndServe cannot have returned. */
    int returned_early = pthread_tryjoin_np(t, NULL) == 0;
    /* The handler keeps running 300 ms into the drain (a duration under
     * test, not a wait for an event): well within the seed's 5 s, so its
     * answer must still reach the client. */
    struct timespec hold = { 0, 300 * 1000000L };
    while (nanosleep(&hold, &hold) != 0 && errno == EINTR) {
    }

    pthread_mutex_lock(&seed_gate.mu);
    seed_gate.open = 1;
    pthread_cond_broadcast(&seed_gate.cv);
    pthread_mutex_unlock(&seed_gate.mu);
    int client_joined = timed_join(client, 15);
    int joined = returned_early || timed_join(t, 15);
    ck_assert_msg(joined, "ListenAndServe did not return after Shutdown()");
    ck_assert_msg(client_joined, "the in-flight request never finished");
    ck_assert_int_eq(entered, 1);
    ck_assert_msg(late_rc != 0, "a connection after Shutdown() was accepted");
    ck_assert_msg(!returned_early,
                  "ListenAndServe returned while a handler ran");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_int_eq(f.r.status, 200);
    ck_assert_str_eq(f.r.body, "drained");
    response_done(&f.r);
    ck_assert_int_eq(seed_gate.neg_rc, GOHTTP_EINVAL);
    ck_assert_int_eq(seed_gate.ok_rc, 7);
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Documented edge cases: read_body with cap 0, last error truncation   */
/* ------------------------------------------------------------------ */

struct cap_zero {
    int64_t rc_cap0, rc_null_cap0, rc_after;
    char body[64];
};

/* Reads with cap 0 (a buffer, then NULL), then the whole body, and
 * answers it. */
static void read_cap_zero(gohttp_handle w, const gohttp_request *req,
                          void *ud)
{
    (void)req;
    struct cap_zero *c = ud;
    char buf[64];
    sync_point();
    c->rc_cap0 = gohttp_read_body(w, buf, 0);
    c->rc_null_cap0 = gohttp_read_body(w, NULL, 0);
    int64_t n = 0, got;
    while ((got = gohttp_read_body(w, buf + n, (int64_t)sizeof buf - 1 - n))
           > 0)
        n += got;
    c->rc_after = got;
    buf[n] = '\0';
    snprintf(c->body, sizeof c->body, "%s", buf);
    sync_point();
    gohttp_write(w, buf, n);
}

START_TEST(read_body_with_cap_zero_returns_zero_and_reads_nothing)
{
    static struct cap_zero c;
    memset(&c, 0xA5, sizeof c);
    gohttp_server s = new_server(NULL);
    route(s, "/", read_cap_zero, &c);
    int port = start(s);
    http_response r;
    ck_assert_int_eq(fetch(port, "POST", "/", NULL, "twelve bytes", 12, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "twelve bytes");
    response_done(&r);
    ck_assert_int_eq(c.rc_cap0, 0);
    ck_assert_int_eq(c.rc_null_cap0, 0);
    ck_assert_int_eq(c.rc_after, 0);
    ck_assert_str_eq(c.body, "twelve bytes");
    end_of_test();
}
END_TEST

START_TEST(last_error_is_truncated_at_511_bytes)
{
    gohttp_server s = new_server(NULL);
    /* An invalid pattern: the detail quotes it. */
    char pattern[2100];
    memset(pattern, 'a', sizeof pattern);
    pattern[0] = '/';
    memcpy(pattern + sizeof pattern - 4, "/{x", 4); /* unclosed wildcard */
    ck_assert_int_eq(gohttp_route(s, pattern, write_text, NULL),
                     GOHTTP_EPATTERN);
    const char *e = gohttp_last_error();
    ck_assert_uint_eq(strlen(e), 511);
    ck_assert_ptr_nonnull(strstr(e, "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    /* The same error with a short pattern is not cut. */
    ck_assert_int_eq(gohttp_route(s, "/short/{x", write_text, NULL),
                     GOHTTP_EPATTERN);
    e = gohttp_last_error();
    ck_assert_uint_lt(strlen(e), 511);
    ck_assert_ptr_nonnull(strstr(e, "/short/{x"));
    end_of_test();
}
END_TEST

/* ------------------------------------------------------------------ */

/* The suite: "api" for gohttp.h, "seed" for gohttplib.h. */
static Suite *shim_suite(void)
{
    Suite *s = suite_create("shim");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, server_and_response_handles_do_not_mix); /* first */
    tcase_add_test(tc, strerror_names_every_code);
    tcase_add_test(tc, last_error_is_thread_local);
    tcase_add_test(tc, options_init_gives_documented_defaults);
    tcase_add_test(tc, server_new_rejects_bad_options);
    tcase_add_test(tc, route_rejects_bad_and_duplicate_patterns);
    tcase_add_test(tc, start_reports_bind_failures);
    tcase_add_test(tc, free_while_running_is_busy);
    tcase_add_test(tc, bad_handles_are_stale_everywhere);
    tcase_add_test(tc, stashed_handle_is_stale_and_harmless);
    tcase_add_test(tc, concurrent_writes_into_one_response);
    tcase_add_test(tc, shutdown_inside_handler_stops_only_that_server);
    tcase_add_test(tc, bad_arguments_are_einval_and_server_lives);
    tcase_add_test(tc, request_view_and_binary_body);
    tcase_add_test(tc, body_over_limit_is_413);
    tcase_add_test(tc, pull_mode_round_trip);
    tcase_add_test(tc, listen_and_serve_blocks_until_shutdown);
    tcase_add_test(tc, reuse_port_lets_two_servers_share_a_port);
    tcase_add_test(tc, start_fd_serves_on_the_callers_socket);
    tcase_add_test(tc, excess_requests_wait_then_503);
    tcase_add_test(tc, abort_cuts_the_response);
    tcase_add_test(tc, read_body_with_cap_zero_returns_zero_and_reads_nothing);
    tcase_add_test(tc, last_error_is_truncated_at_511_bytes);
    suite_add_tcase(s, tc);

    TCase *seed = tcase_create("seed");
    tcase_add_checked_fixture(seed, setup, teardown);
    tcase_add_test(seed, seed_api_serves_and_goes_stale);
    tcase_add_test(seed, seed_bind_failure_returns_with_reason);
    tcase_add_test(seed, seed_shutdown_drains_the_request_in_flight);
    suite_add_tcase(s, seed);
    return s;
}

/* Run the suite in process (see the top of the file); exit 0 iff all
 * tests passed. */
int main(void)
{
    /* Check's per-test timeouts need fork; this bounds the whole run.
     * CHECK_SHIM_ALARM (seconds) stretches it for slow flavors (valgrind). */
    const char *alarm_env = getenv("CHECK_SHIM_ALARM");
    alarm(alarm_env && atoi(alarm_env) > 0 ? (unsigned)atoi(alarm_env) : 240);
    SRunner *sr = srunner_create(shim_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
