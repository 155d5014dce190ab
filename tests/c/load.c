/*
 * load.c - a C host that serves hello through both C APIs and drives each
 * with many keep-alive requests from concurrent connections over
 * 127.0.0.1, then proves nothing leaked.
 *
 *   load [-n REQUESTS] [-c CONNECTIONS] [-t SECONDS]
 *
 * Defaults: 100000 requests per API, 64 connections, 120 s budget per API
 * (the run stops by itself when the budget is spent and counts that as a
 * failure). Phase 1 serves through gohttp.h on 127.0.0.1:0; phase 2
 * through the seed API (gohttplib.h) on a free loopback port, stopped with
 * Shutdown(). Every response must be 200 with the exact hello body.
 *
 * Exit status 0 only if every request completed without error and, after
 * each phase, every live counter (handles, servers, arenas, arena bytes)
 * is zero. Small -n/-c values make this usable under TSan and valgrind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gohttp.h"
#include "gohttplib.h"
#include "http_client.h"
#include "serve_until_signal.h" /* report_counters */

static const char hello_text[] = "Hello, world.\n";

/* hello through gohttp.h. */
static void hello(gohttp_handle w, const gohttp_request *req, void *ud)
{
    (void)req;
    (void)ud;
    gohttp_write(w, hello_text, sizeof hello_text - 1);
}

/* hello through the seed API, as examples/c/hello.c writes it but without
 * the per-request printf (100k lines of log are not what is measured). */
static void seed_hello(ResponseWriterPtr w, Request *req)
{
    (void)req;
    char *buf = "Hello, world.\n";
    ResponseWriter_Write(w, buf, (int)strlen(buf));
}

/* One load run's shared state. */
struct run {
    int port;
    long total;              /* requests to complete                      */
    _Atomic long next;       /* next request index to claim               */
    _Atomic long done;       /* responses that were 200 + exact body      */
    _Atomic long errors;     /* transport failures and wrong responses    */
    struct timespec deadline;
};

/* Has CLOCK_MONOTONIC reached *deadline? */
static int past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* One connection: claims request indexes until none are left, on one
 * keep-alive connection, reconnecting after a failure. */
static void *connection(void *arg)
{
    struct run *run = arg;
    http_conn conn;
    conn.fd = -1;
    while (!past(&run->deadline)) {
        long i = atomic_fetch_add(&run->next, 1);
        if (i >= run->total)
            break;
        if (conn.fd < 0 && http_connect(&conn, run->port, 10000) != 0) {
            run->errors++;
            struct timespec nap = { 0, 10 * 1000 * 1000 };
            nanosleep(&nap, NULL);
            continue;
        }
        http_response r;
        if (http_request(&conn, "GET", "/", NULL, NULL, 0, &r) != 0) {
            run->errors++;
            continue;
        }
        if (r.status == 200 && r.body_len == sizeof hello_text - 1 &&
            memcmp(r.body, hello_text, r.body_len) == 0)
            run->done++;
        else
            run->errors++;
        http_response_free(&r);
    }
    http_close(&conn);
    return NULL;
}

/* Drive port with total requests over conns connections within budget_s.
 * Prints one summary line. Returns 0 if all completed without error. */
static int drive(const char *label, int port, long total, int conns,
                 int budget_s)
{
    struct run run;
    memset(&run, 0, sizeof run);
    run.port = port;
    run.total = total;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run.deadline = t0;
    run.deadline.tv_sec += budget_s;

    pthread_t *t = calloc((size_t)conns, sizeof *t);
    if (!t)
        return -1;
    int started = 0;
    for (; started < conns; started++)
        if (pthread_create(&t[started], NULL, connection, &run) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long done = run.done, errors = run.errors;
    printf("%s: %ld/%ld requests ok, %ld errors, %d connections, %.2f s, "
           "%.0f req/s%s\n",
           label, done, total, errors, started, secs, (double)done / secs,
           past(&run.deadline) && done < total ? " (time budget spent)" : "");
    return done == total && errors == 0 && started == conns ? 0 : -1;
}

/* Phase 1: gohttp.h. Returns 0 on success. */
static int phase_gohttp(long total, int conns, int budget_s)
{
    gohttp_server s;
    int rc = gohttp_server_new(NULL, &s);
    if (rc != 0) {
        printf("gohttp_server_new: %s\n", gohttp_strerror(rc));
        return 1;
    }
    if ((rc = gohttp_route(s, "/", hello, NULL)) != 0) {
        printf("gohttp_route: %s\n", gohttp_strerror(rc));
        gohttp_free(s);
        return 1;
    }
    int port = gohttp_start(s, "127.0.0.1:0");
    if (port < 0) {
        printf("gohttp_start: %s: %s\n", gohttp_strerror(port),
               gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    int failed = drive("gohttp.h hello", port, total, conns, budget_s) != 0;
    if ((rc = gohttp_shutdown(s, 2000)) != 0 ||
        (rc = gohttp_wait(s, 10000)) != 0 || (rc = gohttp_free(s)) != 0) {
        printf("stopping the server: %s: %s\n", gohttp_strerror(rc),
               gohttp_last_error());
        failed = 1;
    }
    return report_counters("gohttp.h stats") || failed;
}

static char seed_addr[64];

/* Thread body: the seed's blocking ListenAndServe on seed_addr. */
static void *seed_serve(void *arg)
{
    (void)arg;
    ListenAndServe(seed_addr); /* returns after Shutdown() */
    return NULL;
}

/* Phase 2: the seed API on the default server. Returns 0 on success. */
static int phase_seed(long total, int conns, int budget_s)
{
    int port = http_free_port();
    if (port < 0) {
        printf("no free port: %s\n", strerror(errno));
        return 1;
    }
    snprintf(seed_addr, sizeof seed_addr, "127.0.0.1:%d", port);
    HandleFunc("/", &seed_hello);
    pthread_t t;
    if (pthread_create(&t, NULL, seed_serve, NULL) != 0)
        return 1;
    int failed = 0;
    if (http_wait_listening(port, 10000) != 0) {
        printf("seed server never listened on %s: %s\n", seed_addr,
               gohttp_last_error());
        failed = 1;
    } else {
        failed = drive("gohttplib.h hello", port, total, conns, budget_s) != 0;
    }
    Shutdown();
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 15;
    if (pthread_timedjoin_np(t, NULL, &limit) != 0) {
        printf("ListenAndServe did not return within 15 s of Shutdown()\n");
        report_counters("gohttplib.h stats");
        return 1; /* the thread still runs: do not pretend it is clean */
    }
    return report_counters("gohttplib.h stats") || failed;
}

/* Parse -n/-c/-t, run both phases; exit 0 only if both passed. */
int main(int argc, char **argv)
{
    long total = 100000;
    int conns = 64, budget_s = 120, opt;
    while ((opt = getopt(argc, argv, "n:c:t:")) != -1) {
        switch (opt) {
        case 'n': total = atol(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 't': budget_s = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n requests] [-c connections] "
                            "[-t seconds]\n", argv[0]);
            return 2;
        }
    }
    if (total < 1 || conns < 1 || conns > 1024 || budget_s < 1) {
        fprintf(stderr, "load: bad arguments\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failed = phase_gohttp(total, conns, budget_s);
    failed |= phase_seed(total, conns, budget_s);
    printf("load: %s\n", failed ? "FAIL" : "PASS");
    return failed;
}
