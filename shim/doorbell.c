/*
 * doorbell.c - where gohttp_next callers wait for a pull-mode request.
 *
 * A gohttp_next caller is usually a thread of the host (a C program, a
 * Python worker): if it waited inside Go, the Go runtime would park a
 * goroutine locked to that thread, which costs a hand-over of the
 * scheduler's P and two thread wake-ups on every sleep. It waits here
 * instead, on a plain condition variable, and only the request that
 * arrives wakes it. (It parks in Go only for the yield below, at most
 * once per 5 ms.)
 *
 * Protocol (no lost wake-up): a caller first registers (enter: waiters+1,
 * and it reads the ring count), then looks at the queue; if it is empty it
 * waits until the ring count moves on. Every enqueue rings after it put
 * the request in the queue, so a request that arrived after the look
 * always moves the count the caller read before it.
 *
 * Lifetime: one bell per server, made by gohttp_server_new and destroyed
 * by gohttp_free. Destroy waits until every registered caller has left, so
 * a caller that registered before the free can still wait and leave on
 * valid memory; it then finds the server handle stale.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "gohttp_internal.h"

struct gohttp__bell {
    pthread_mutex_t mu;
    pthread_cond_t rung;   /* the ring count moved, or the bell closes  */
    pthread_cond_t left;   /* a registered caller left (for destroy)    */
    uint64_t rings;
    int64_t waiters;       /* registered callers                        */
    int closed;            /* the server stopped: waits end, ECLOSED    */
    int closing;           /* destroy has begun: waits end at once      */
};

gohttp__bell *gohttp__bell_new(void)
{
    /* Owner: the server (lib/server.go gohttp_server_new); destroyed by
     * gohttp__bell_destroy in gohttp_free. */
    gohttp__bell *b = GOHTTP_FAULT(GOHTTP_FAULT_BELL) ? NULL : calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->rung, &attr);
    pthread_cond_init(&b->left, NULL);
    pthread_condattr_destroy(&attr);
    return b;
}

uint64_t gohttp__bell_enter(gohttp__bell *b)
{
    pthread_mutex_lock(&b->mu);
    b->waiters++;
    uint64_t seen = b->rings;
    pthread_mutex_unlock(&b->mu);
    return seen;
}

static void bell_leave_locked(gohttp__bell *b)
{
    if (--b->waiters == 0 && b->closing)
        pthread_cond_broadcast(&b->left);
}

void gohttp__bell_leave(gohttp__bell *b)
{
    pthread_mutex_lock(&b->mu);
    bell_leave_locked(b);
    pthread_mutex_unlock(&b->mu);
}

int gohttp__bell_wait(gohttp__bell *b, uint64_t seen, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&b->mu);
    while (b->rings == seen && !b->closed && !b->closing) {
        int rc = timeout_ms < 0 ? pthread_cond_wait(&b->rung, &b->mu)
                                : pthread_cond_timedwait(&b->rung, &b->mu, &until);
        if (rc == ETIMEDOUT)
            break;
    }
    int closed = b->closed || b->closing;
    bell_leave_locked(b);
    pthread_mutex_unlock(&b->mu);
    return closed;
}

void gohttp__bell_ring(gohttp__bell *b)
{
    pthread_mutex_lock(&b->mu);
    b->rings++;
    if (b->waiters > 0)
        pthread_cond_signal(&b->rung);
    pthread_mutex_unlock(&b->mu);
}

void gohttp__bell_close(gohttp__bell *b)
{
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    pthread_cond_broadcast(&b->rung);
    pthread_mutex_unlock(&b->mu);
}

void gohttp__bell_destroy(gohttp__bell *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    b->closing = 1;
    pthread_cond_broadcast(&b->rung);
    while (b->waiters > 0)
        pthread_cond_wait(&b->left, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&b->left);
    pthread_cond_destroy(&b->rung);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int64_t ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t0->tv_sec) * 1000 +
           (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A thread of the host that calls into Go runs those calls on one
 * goroutine, which keeps the same scheduler slot (P) from call to call.
 * Go's monitor (sysmon) takes a goroutine that has held its P for 10 ms
 * for one that never yields: it preempts it or takes the P away, and
 * every such take sets the monitor polling again every 20 us. So a call
 * that comes YIELD_NS or more after the thread's last yield (a thread's
 * first call too) lets Go's scheduler run first, which starts a new round
 * on the thread's P: a thread that keeps taking requests yields once per
 * YIELD_NS, one whose calls are further apart on each call, never more
 * than 200 times a second (python/README.md has the figures). The time
 * of the thread's last yield: */
#define YIELD_NS 5000000LL
static __thread int64_t last_yield_ns;

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Contract in gohttp.h. The Go half looks at the queue without waiting;
 * the waiting happens here, on the server's bell. */
int gohttp_next(gohttp_server s, int64_t timeout_ms, gohttp_exchange *out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t now_ns = ns_of(&t0);
    int yield = now_ns - last_yield_ns >= YIELD_NS;
    if (yield)
        last_yield_ns = now_ns;
    for (;;) {
        gohttp__bell *bell = NULL;
        uint64_t seen = 0;
        int rc = gohttp__next_poll(s, timeout_ms, out, &bell, &seen, yield);
        yield = 0;
        if (rc != GOHTTP_ETIMEDOUT || bell == NULL)
            return rc;
        /* Registered on bell (next_poll entered it): wait, then leave. */
        int64_t left = -1;
        if (timeout_ms >= 0) {
            left = timeout_ms - ms_since(&t0);
            if (left <= 0) {
                gohttp__bell_leave(bell);
                return gohttp__next_timed_out(timeout_ms);
            }
        }
        if (gohttp__bell_wait(bell, seen, left))
            return gohttp__next_closed();
    }
}
