/*
 * serve_until_signal.c - see serve_until_signal.h.
 */
#define _GNU_SOURCE
#include "serve_until_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The self-pipe: written by the handler, read by serve_until_signal. */
static int wake_pipe[2] = { -1, -1 };
/* Which signal arrived (0: none yet); written only by the handler. */
static volatile sig_atomic_t caught_signal;

/* Runs on whatever thread the kernel picked, possibly a Go thread: only
 * async-signal-safe calls, errno preserved for the interrupted code. */
static void on_signal(int sig)
{
    int saved = errno;
    caught_signal = sig;
    ssize_t n = write(wake_pipe[1], "x", 1);
    (void)n; /* a full pipe already holds a wake-up: nothing to do */
    errno = saved;
}

int signals_install(void)
{
    /* O_NONBLOCK on the write end: the handler must never block. */
    if (pipe2(wake_pipe, O_CLOEXEC) != 0 ||
        fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
        perror("pipe");
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_ONSTACK: Go threads run on small stacks and provide an alternate
     * signal stack; the Go runtime requires it of every foreign handler. */
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("sigaction");
        return -1;
    }
    return 0;
}

int report_counters(const char *label)
{
    gohttp_counters c;
    int rc = gohttp_stats(&c);
    if (rc != 0) {
        printf("%s: gohttp_stats: %s\n", label, gohttp_strerror(rc));
        return 1;
    }
    printf("%s: live_handles=%lld live_servers=%lld live_arenas=%lld "
           "arena_bytes=%lld requests_served=%lld stale_rejections=%lld "
           "panics_recovered=%lld live_tokens=%lld live_go_handles=%lld\n",
           label, (long long)c.live_handles, (long long)c.live_servers,
           (long long)c.live_arenas, (long long)c.arena_bytes,
           (long long)c.requests_served, (long long)c.stale_rejections,
           (long long)c.panics_recovered, (long long)c.live_tokens,
           (long long)c.live_go_handles);
    return c.live_handles != 0 || c.live_servers != 0 || c.live_arenas != 0 ||
           c.arena_bytes != 0 || c.live_tokens != 0 || c.live_go_handles != 0;
}

int serve_until_signal(gohttp_server s, int64_t shutdown_timeout_ms)
{
    /* poll with a timeout rather than a bare blocking read: under TSan a
     * signal is queued until its thread passes an interceptor that may
     * deliver it, and a read that SA_RESTART restarts never does; poll
     * returning every 200 ms lets TSan run the handler. Elsewhere the
     * handler runs at once and the pipe wakes poll immediately. */
    while (!caught_signal) {
        struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
        int n = poll(&pfd, 1, 200);
        if (n < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
    }
    printf("signal %d: shutting down\n", (int)caught_signal);
    int failed = 0;
    int rc = gohttp_shutdown(s, shutdown_timeout_ms);
    if (rc != 0) {
        printf("gohttp_shutdown: %s: %s\n", gohttp_strerror(rc),
               gohttp_last_error());
        failed = 1;
    }
    /* The shutdown closes stragglers after its timeout, so the wait needs
     * only a margin beyond it; a longer wait means a library bug. */
    rc = gohttp_wait(s, shutdown_timeout_ms + 5000);
    if (rc != 0) {
        printf("gohttp_wait: %s: %s\n", gohttp_strerror(rc),
               gohttp_last_error());
        return 1; /* freeing a running server would only say EBUSY */
    }
    rc = gohttp_free(s);
    if (rc != 0) {
        printf("gohttp_free: %s: %s\n", gohttp_strerror(rc),
               gohttp_last_error());
        failed = 1;
    }
    if (report_counters("stats"))
        failed = 1;
    return failed;
}

int serve_one_route(const char *addr, const char *pattern, gohttp_handler fn,
                    int64_t shutdown_timeout_ms)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* scripts read the port line live */

    gohttp_server s;
    int rc = gohttp_server_new(NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "gohttp_server_new: %s\n", gohttp_strerror(rc));
        return 1;
    }
    rc = gohttp_route(s, pattern, fn, NULL);
    if (rc != 0) {
        fprintf(stderr, "gohttp_route: %s: %s\n", gohttp_strerror(rc),
                gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    if (signals_install() != 0) {
        gohttp_free(s);
        return 1;
    }
    int port = gohttp_start(s, addr);
    if (port < 0) {
        fprintf(stderr, "gohttp_start %s: %s: %s\n", addr,
                gohttp_strerror(port), gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    printf("listening on port %d\n", port);
    return serve_until_signal(s, shutdown_timeout_ms);
}
