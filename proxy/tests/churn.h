/*
 * churn.h - a multi-threaded ref/deref/release/free workload over shared
 * handles, used by the Check suite (briefly) and by stress_proxy (for a
 * set time, under TSan and ASan).
 *
 * What it proves: a deref never yields a payload other than the one its
 * handle was issued for, a freed handle never resolves again, and free
 * never completes while a use-reference is held (the payload is a heap
 * record that the freeing thread destroys right after free returns, so an
 * early return is a use-after-free ASan sees, and a wrong payload is a
 * record whose stored handle differs).
 *
 * Shared state is an array of cells, each 0 or a live handle. A thread that
 * takes a handle out of a cell (atomic exchange) is its only freer; any
 * thread may deref whatever handle it loads from a cell, possibly a handle
 * that is being or has been freed, which must then be stale.
 *
 * Header-only on purpose: both test programs include it once; it is not a
 * library of the project.
 */
#ifndef GOHTTP_PROXY_CHURN_H
#define GOHTTP_PROXY_CHURN_H

#include "proxy.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHURN_MAGIC 0x70726f7879u /* "proxy" */
#define CHURN_STALE_KEEP 32       /* freed handles each thread re-probes */

/* What a handle's payload points at. handle is written by the thread that
 * made the record, after ref and before the handle is published through a
 * cell (release store), so readers that found the handle see it. */
struct churn_record {
    uint64_t magic;
    uint64_t handle;
};

struct churn_shared {
    gohttp_proxy *proxy;
    _Atomic uint64_t *cells;
    size_t ncells;
    _Atomic int stop;       /* set by the driver when time is up */
    _Atomic uint64_t wrong; /* wrong payloads, stale hits, free failures */
};

struct churn_thread {
    struct churn_shared *sh;
    uint64_t rng;      /* xorshift state, distinct per thread */
    uint64_t max_iter; /* 0 = until sh->stop */
    /* Results, read by the driver after join. */
    uint64_t refs, derefs, stale_derefs, frees, full;
    uint64_t freed[CHURN_STALE_KEEP];
};

static uint64_t churn_rand(struct churn_thread *t)
{
    uint64_t x = t->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t->rng = x;
    return x;
}

/* A broken invariant ends the process at once: after a wrong payload the
 * table's state is no longer trustworthy (a stale deref that succeeded took
 * a use-reference no one can give back, so some free would wait forever),
 * and a fast non-zero exit is what both the Check test (reported as an
 * error) and the stress driver need. */
static void churn_fail(struct churn_thread *t, const char *what, uint64_t h)
{
    atomic_fetch_add(&t->sh->wrong, 1);
    fprintf(stderr, "churn: FAIL: %s (handle %#llx)\n", what, (unsigned long long)h);
    exit(EXIT_FAILURE);
}

/* Put a fresh record in cell c if it is empty. */
static void churn_ref(struct churn_thread *t, _Atomic uint64_t *cell)
{
    if (atomic_load_explicit(cell, memory_order_relaxed) != 0)
        return;
    /* Owner: this thread until published, then whichever thread empties
     * the cell; freed right after its handle's free returns. */
    struct churn_record *r = malloc(sizeof *r);
    if (r == NULL) {
        churn_fail(t, "malloc failed", 0);
        return;
    }
    r->magic = CHURN_MAGIC;
    uint64_t h = gohttp_proxy_ref(t->sh->proxy, (uintptr_t)r);
    if (h == 0) {
        t->full++;
        free(r);
        return;
    }
    r->handle = h;
    t->refs++;
    uint64_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(cell, &expected, h, memory_order_acq_rel,
                                                memory_order_relaxed))
        return;
    /* Another thread filled the cell first: the handle was never shared. */
    uintptr_t back = 0;
    if (gohttp_proxy_free(t->sh->proxy, h, &back) != 0 || back != (uintptr_t)r)
        churn_fail(t, "free of an unpublished handle failed", h);
    free(r);
    t->frees++;
}

/* Deref whatever handle the cell holds, check the record, hold it a little
 * sometimes so frees really have to wait, then release. */
static void churn_deref(struct churn_thread *t, _Atomic uint64_t *cell)
{
    uint64_t h = atomic_load_explicit(cell, memory_order_acquire);
    if (h == 0)
        return;
    /* Sometimes let the handle age between load and deref, so the deref
     * often meets a free in progress or done (the stale path). */
    if ((churn_rand(t) & 7) == 0)
        sched_yield();
    uintptr_t pl = 0;
    if (gohttp_proxy_deref(t->sh->proxy, h, &pl) != 0) {
        t->stale_derefs++; /* freed meanwhile: fine */
        return;
    }
    t->derefs++;
    const struct churn_record *r = (const struct churn_record *)pl;
    if (r->magic != CHURN_MAGIC || r->handle != h)
        churn_fail(t, "deref yielded another handle's payload", h);
    if ((churn_rand(t) & 15) == 0)
        sched_yield();
    /* Re-check after the yield: a free that did not wait would have freed
     * the record by now (ASan) or let it be reused (wrong handle). */
    if (r->magic != CHURN_MAGIC || r->handle != h)
        churn_fail(t, "payload changed while a use-reference was held", h);
    gohttp_proxy_release(t->sh->proxy, h);
}

/* Empty the cell and free its handle; this thread is the only freer. */
static void churn_free(struct churn_thread *t, _Atomic uint64_t *cell)
{
    uint64_t h = atomic_exchange_explicit(cell, 0, memory_order_acq_rel);
    if (h == 0)
        return;
    uintptr_t pl = 0;
    if (gohttp_proxy_free(t->sh->proxy, h, &pl) != 0) {
        churn_fail(t, "free of a live handle failed", h);
        return;
    }
    struct churn_record *r = (struct churn_record *)pl;
    if (r == NULL || r->magic != CHURN_MAGIC || r->handle != h) {
        churn_fail(t, "free returned another handle's payload", h);
        return;
    }
    r->magic = 0; /* poison: a late reader that got through sees it */
    free(r);      /* made in churn_ref */
    t->frees++;
    t->freed[t->frees % CHURN_STALE_KEEP] = h;
}

/* A handle this thread freed must never resolve or free again. */
static void churn_probe_stale(struct churn_thread *t)
{
    uint64_t h = t->freed[churn_rand(t) % CHURN_STALE_KEEP];
    if (h == 0)
        return;
    uintptr_t pl = 0;
    if (gohttp_proxy_deref(t->sh->proxy, h, &pl) == 0) {
        churn_fail(t, "a freed handle resolved", h);
    }
    if (gohttp_proxy_free(t->sh->proxy, h, &pl) == 0)
        churn_fail(t, "a freed handle was freed again", h);
}

/* Thread body: random operations on random cells. */
static void *churn_main(void *arg)
{
    struct churn_thread *t = arg;
    struct churn_shared *sh = t->sh;
    for (uint64_t n = 0; t->max_iter == 0 || n < t->max_iter; n++) {
        if ((n & 255) == 0 && atomic_load_explicit(&sh->stop, memory_order_relaxed))
            break;
        uint64_t r = churn_rand(t);
        _Atomic uint64_t *cell = &sh->cells[(r >> 8) % sh->ncells];
        switch (r & 7) {
        case 0:
        case 1:
            churn_ref(t, cell);
            break;
        case 2:
            churn_free(t, cell);
            break;
        case 3:
            churn_probe_stale(t);
            break;
        default:
            churn_deref(t, cell);
            break;
        }
    }
    return NULL;
}

/* Free whatever the cells still hold (single-threaded, after join). */
static void churn_drain(struct churn_thread *t)
{
    for (size_t i = 0; i < t->sh->ncells; i++)
        churn_free(t, &t->sh->cells[i]);
}

#endif /* GOHTTP_PROXY_CHURN_H */
