/*
 * attack_host.c - the server process that tests/attack/driver attacks.
 *
 * One gohttp server on 127.0.0.1 (port chosen by the kernel) with a
 * metrics listener, serving:
 *
 *   GET  /fast              200 "ok\n" (a C handler: takes a handler slot)
 *   GET  /static/...        files of ATTACK_STATIC_DIR, served by Go alone
 *                           (no handler slot)
 *   POST /upload            reads the whole body, 200 with its length; a
 *                           stalled body ends in GOHTTP_ETIMEDOUT (408)
 *   GET  /big               streams up to 1 GiB in 64 KiB writes until a
 *                           write fails (a slow reader: send_timeout_ms)
 *   GET  /slow              sleeps ATTACK_SLOW_MS, then 200
 *   GET  /dupcl             tries to send two Content-Length headers; each
 *                           attempt must be refused with GOHTTP_EINVAL, and
 *                           the handler then answers 500 naming the result
 *   GET  /counters          this host's own counters, as text
 *
 * Options (environment, defaults in brackets): ATTACK_MAX_HANDLERS [8192],
 * ATTACK_QUEUE_TIMEOUT_MS [1000], ATTACK_BODY_READ_TIMEOUT_MS [1000],
 * ATTACK_SEND_TIMEOUT_MS [1000], ATTACK_MAX_CONNECTIONS [0: the library's
 * default, 10000], ATTACK_SLOW_MS [6000], ATTACK_TIMEOUT_S [600, a
 * watchdog]. ATTACK_PLANT names one weakness to plant, so the driver can
 * be shown to fail: "body_read_timeout" (10 minutes) or "max_connections"
 * (1048576, the largest the library accepts).
 *
 * Protocol with the driver: once serving it prints one line
 *   READY port=P metrics=M pid=PID
 * on stdout, then serves until its stdin reaches EOF. Then it shuts the
 * server down, waits, frees it, and checks that gohttp_stats' live
 * counters (live_handles, live_servers, live_arenas, arena_bytes,
 * live_tokens, live_go_handles) are all 0: exit status 0 if so, 1 otherwise.
 */
#define _GNU_SOURCE
#include "gohttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long big_cut;       /* /big writes that failed (EIO)      */
static atomic_long upload_408;    /* /upload reads that timed out       */
static atomic_long dupcl_refused; /* /dupcl attempts refused (EINVAL)   */
static atomic_long dupcl_accepted;/* /dupcl attempts NOT refused        */
static long slow_ms = 6000;
static char big_chunk[65536]; /* filled once in main, before serving */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 0) {
        fprintf(stderr, "attack_host: %s=%s is not a count\n", name, v);
        exit(2);
    }
    return n;
}

static void reply(gohttp_handle w, int status, const char *body)
{
    static const char ct[] = "Content-Type";
    static const char tp[] = "text/plain";
    gohttp_header h = { ct, sizeof ct - 1, tp, sizeof tp - 1 };
    gohttp_respond(w, status, &h, 1, body, (int64_t)strlen(body));
}

static void h_fast(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    reply(w, 200, "ok\n");
}

static void h_upload(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    char buf[16384];
    int64_t total = 0;
    for (;;) {
        int64_t n = gohttp_read_body(w, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == GOHTTP_ETIMEDOUT)
                atomic_fetch_add(&upload_408, 1);
            return; /* the library answers 408/413/400 */
        }
        total += n;
    }
    char out[64];
    snprintf(out, sizeof out, "%" PRId64 "\n", total);
    reply(w, 200, out);
}

static void h_big(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    for (int i = 0; i < 16384; i++) { /* at most 1 GiB */
        if (gohttp_write(w, big_chunk, sizeof big_chunk) < 0) {
            atomic_fetch_add(&big_cut, 1);
            return;
        }
    }
}

static void h_slow(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    struct timespec ts = { slow_ms / 1000, (slow_ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    reply(w, 200, "slow\n");
}

static void h_dupcl(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    static const char cl[] = "Content-Length";
    int refused = 0, tried = 0;
    /* 1: two Content-Length headers in one gohttp_respond: nothing may be
     * sent or set. */
    gohttp_header two[2] = { { cl, sizeof cl - 1, "5", 1 },
                             { cl, sizeof cl - 1, "6", 1 } };
    tried++;
    if (gohttp_respond(w, 200, two, 2, "hello", 5) == GOHTTP_EINVAL)
        refused++;
    /* 2: set, then add a second (equal and different) value. */
    if (gohttp_set_header(w, cl, sizeof cl - 1, "5", 1) == 0) {
        tried++;
        if (gohttp_add_header(w, cl, sizeof cl - 1, "5", 1) == GOHTTP_EINVAL)
            refused++;
        tried++;
        if (gohttp_add_header(w, cl, sizeof cl - 1, "7", 1) == GOHTTP_EINVAL)
            refused++;
        gohttp_del_header(w, cl, sizeof cl - 1);
    }
    atomic_fetch_add(&dupcl_refused, refused);
    atomic_fetch_add(&dupcl_accepted, tried - refused);
    char out[96];
    snprintf(out, sizeof out, "duplicate Content-Length refused %d of %d\n",
             refused, tried);
    reply(w, 500, out);
}

static void h_counters(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    char out[256];
    snprintf(out, sizeof out,
             "big_cut %ld\nupload_408 %ld\ndupcl_refused %ld\n"
             "dupcl_accepted %ld\n",
             atomic_load(&big_cut), atomic_load(&upload_408),
             atomic_load(&dupcl_refused), atomic_load(&dupcl_accepted));
    reply(w, 200, out);
}

/* A free loopback port for the metrics listener (gohttp_start reports only
 * the main port). Another process may take it before the server binds it:
 * the caller retries with a new one. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

#define CHECK(call)                                                        \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ < 0) {                                                     \
            fprintf(stderr, "attack_host: %s: %s (%s)\n", #call,           \
                    gohttp_strerror(rc_), gohttp_last_error());            \
            exit(2);                                                       \
        }                                                                  \
    } while (0)

int main(void)
{
    alarm((unsigned)env_long("ATTACK_TIMEOUT_S", 600));

    /* Up to the hard limit: max_connections (10000 by default) needs as
     * many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    const char *static_dir = getenv("ATTACK_STATIC_DIR");
    if (static_dir == NULL || *static_dir == '\0') {
        fprintf(stderr, "attack_host: ATTACK_STATIC_DIR is not set\n");
        return 2;
    }
    slow_ms = env_long("ATTACK_SLOW_MS", 6000);
    memset(big_chunk, 'b', sizeof big_chunk);

    gohttp_options o;
    gohttp_options_init(&o);
    o.max_handlers = (int32_t)env_long("ATTACK_MAX_HANDLERS", 8192);
    o.queue_timeout_ms = env_long("ATTACK_QUEUE_TIMEOUT_MS", 1000);
    o.body_read_timeout_ms = env_long("ATTACK_BODY_READ_TIMEOUT_MS", 1000);
    o.send_timeout_ms = env_long("ATTACK_SEND_TIMEOUT_MS", 1000);
    o.max_connections = env_long("ATTACK_MAX_CONNECTIONS", 0);
    const char *plant = getenv("ATTACK_PLANT");
    if (plant != NULL && *plant != '\0') {
        if (strcmp(plant, "body_read_timeout") == 0)
            o.body_read_timeout_ms = 600000;
        else if (strcmp(plant, "max_connections") == 0)
            o.max_connections = 1048576;
        else {
            fprintf(stderr, "attack_host: unknown ATTACK_PLANT=%s\n", plant);
            return 2;
        }
        fprintf(stderr, "attack_host: PLANTED weakness: %s\n", plant);
    }

    gohttp_server s = 0;
    int port = -1, mport = -1;
    char mbind[64];
    for (int attempt = 0; attempt < 5 && port < 0; attempt++) {
        mport = free_port();
        if (mport < 0) {
            perror("attack_host: metrics port");
            return 2;
        }
        snprintf(mbind, sizeof mbind, "127.0.0.1:%d", mport);
        o.metrics_bind = mbind;
        CHECK(gohttp_server_new(&o, &s));
        CHECK(gohttp_route(s, "GET /fast", h_fast, NULL));
        CHECK(gohttp_route(s, "POST /upload", h_upload, NULL));
        CHECK(gohttp_route(s, "GET /big", h_big, NULL));
        CHECK(gohttp_route(s, "GET /slow", h_slow, NULL));
        CHECK(gohttp_route(s, "GET /dupcl", h_dupcl, NULL));
        CHECK(gohttp_route(s, "GET /counters", h_counters, NULL));
        CHECK(gohttp_route_static(s, "/static/", static_dir));
        port = gohttp_start(s, "127.0.0.1:0");
        if (port < 0) {
            fprintf(stderr, "attack_host: start: %s (%s), retrying\n",
                    gohttp_strerror(port), gohttp_last_error());
            CHECK(gohttp_free(s));
            s = 0;
        }
    }
    if (port < 0)
        return 2;
    printf("READY port=%d metrics=%d pid=%d\n", port, mport, (int)getpid());
    fflush(stdout);

    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {
    }

    CHECK(gohttp_shutdown(s, 5000));
    CHECK(gohttp_wait(s, 30000));
    CHECK(gohttp_free(s));

    gohttp_counters c;
    CHECK(gohttp_stats(&c));
    printf("attack_host: counters live_handles=%" PRId64 " live_servers=%" PRId64
           " live_arenas=%" PRId64 " arena_bytes=%" PRId64 " live_tokens=%" PRId64
           " live_go_handles=%" PRId64 " (handlers completed %" PRId64 "; /big cut %ld, /upload 408 %ld,"
           " /dupcl refused %ld accepted %ld)\n",
           c.live_handles, c.live_servers, c.live_arenas, c.arena_bytes,
           c.live_tokens, c.live_go_handles, c.requests_served, atomic_load(&big_cut),
           atomic_load(&upload_408), atomic_load(&dupcl_refused),
           atomic_load(&dupcl_accepted));
    if (c.live_handles || c.live_servers || c.live_arenas || c.arena_bytes ||
        c.live_tokens || c.live_go_handles) {
        printf("attack_host: FAIL: live counters not at zero\n");
        return 1;
    }
    printf("attack_host: live counters at zero\n");
    return 0;
}
