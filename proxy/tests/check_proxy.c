/*
 * check_proxy.c - Check suite for the handle table (proxy/proxy.h).
 *
 * Built twice by mk/proxy.mk: once as the library builds proxy.c, and once
 * with a narrow generation field (-DGOHTTP_PROXY_GEN_BITS=2) so the
 * retirement-at-wrap test runs in a handful of iterations. The tests only
 * learn the width through TEST_GEN_MAX below; everything else is the
 * public contract. Both builds also pass
 * -DGOHTTP_PROXY_CALLOC=proxy_test_calloc, which routes the table's
 * allocations through the fault injector defined here.
 *
 * Every test ends with the table's live count at 0 (assert_drained).
 */
#include "proxy.h"

#include "churn.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef GOHTTP_PROXY_GEN_BITS
#define GOHTTP_PROXY_GEN_BITS 32
#endif
/* Generations run 1 .. TEST_GEN_MAX (see the layout comment in proxy.c). */
#define TEST_GEN_MAX ((uint64_t)((((uint64_t)1) << GOHTTP_PROXY_GEN_BITS) - 1))

#define LOW32(h) ((uint32_t)((h) & 0xffffffffu))
#define HIGH32(h) ((uint32_t)((h) >> 32))

/* An assertion for hot loops. Check's ck_assert_* records a checkpoint on
 * every PASSING assertion (a write to the runner), which makes loops of
 * 10^5 asserts crawl under valgrind; this one costs nothing until it fails. */
#define HOT_ASSERT(cond)                                                         \
    do {                                                                         \
        if (!(cond))                                                             \
            ck_abort_msg("Assertion '%s' failed at %s:%d", #cond, __FILE__, __LINE__); \
    } while (0)

/* Every test's last word: nothing live, then the table goes away. */
static void assert_drained(gohttp_proxy *p)
{
    ck_assert_uint_eq(gohttp_proxy_live(p), 0);
    gohttp_proxy_destroy(p);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A thread that frees h and records when free returned. */
struct freer {
    gohttp_proxy *p;
    uint64_t h;
    int rc;
    uintptr_t pl;
    _Atomic uint64_t returned_ns;
};

static void *freer_main(void *arg)
{
    struct freer *fr = arg;
    fr->rc = gohttp_proxy_free(fr->p, fr->h, &fr->pl);
    atomic_store(&fr->returned_ns, now_ns());
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Basics                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_ref_deref_release_free)
{
    gohttp_proxy *p = gohttp_proxy_new(16);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(gohttp_proxy_live(p), 0);

    uint64_t h = gohttp_proxy_ref(p, (uintptr_t)0xabcdef);
    ck_assert_uint_ne(h, 0);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);

    uintptr_t pl = 0;
    ck_assert_int_eq(gohttp_proxy_deref(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 0xabcdef);
    /* Two use-references at once are fine. */
    uintptr_t pl2 = 0;
    ck_assert_int_eq(gohttp_proxy_deref(p, h, &pl2), 0);
    ck_assert_uint_eq(pl2, 0xabcdef);
    gohttp_proxy_release(p, h);
    gohttp_proxy_release(p, h);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);

    uintptr_t back = 0;
    ck_assert_int_eq(gohttp_proxy_free(p, h, &back), 0);
    ck_assert_uint_eq(back, 0xabcdef);
    ck_assert_uint_eq(gohttp_proxy_live(p), 0);

    /* A payload of 0 is a payload like any other. */
    uint64_t z = gohttp_proxy_ref(p, 0);
    ck_assert_uint_ne(z, 0);
    pl = 99;
    ck_assert_int_eq(gohttp_proxy_deref(p, z, &pl), 0);
    ck_assert_uint_eq(pl, 0);
    gohttp_proxy_release(p, z);
    /* free accepts a NULL out pointer. */
    ck_assert_int_eq(gohttp_proxy_free(p, z, NULL), 0);
    assert_drained(p);
}
END_TEST

START_TEST(test_handles_distinct_and_32bit_truncation_invalid)
{
    gohttp_proxy *p = gohttp_proxy_new(64);
    uint64_t hs[64];
    for (int i = 0; i < 64; i++) {
        hs[i] = gohttp_proxy_ref(p, (uintptr_t)i);
        ck_assert_uint_ne(hs[i], 0);
        /* A handle cut to its low 32 bits (the seed's bug) names nothing. */
        uintptr_t pl = 12345;
        ck_assert_int_eq(gohttp_proxy_deref(p, (uint64_t)LOW32(hs[i]), &pl), GOHTTP_PROXY_ESTALE);
        ck_assert_uint_eq(pl, 12345);
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne(hs[i], hs[j]);
    }
    for (int i = 0; i < 64; i++) {
        uintptr_t pl = 0;
        ck_assert_int_eq(gohttp_proxy_free(p, hs[i], &pl), 0);
        ck_assert_uint_eq(pl, (uintptr_t)i);
    }
    assert_drained(p);
}
END_TEST

START_TEST(test_null_arguments)
{
    uintptr_t pl = 7;
    ck_assert_uint_eq(gohttp_proxy_ref(NULL, 1), 0);
    ck_assert_int_eq(gohttp_proxy_deref(NULL, 1, &pl), GOHTTP_PROXY_EINVAL);
    ck_assert_int_eq(gohttp_proxy_free(NULL, 1, &pl), GOHTTP_PROXY_EINVAL);
    gohttp_proxy_release(NULL, 1);
    ck_assert_uint_eq(gohttp_proxy_live(NULL), 0);
    gohttp_proxy_destroy(NULL);
    ck_assert_uint_eq(pl, 7);

    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t h = gohttp_proxy_ref(p, 5);
    ck_assert_int_eq(gohttp_proxy_deref(p, h, NULL), GOHTTP_PROXY_EINVAL);
    /* The failed deref took no use-reference: free must not wait. */
    ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 5);
    assert_drained(p);
}
END_TEST

START_TEST(test_zero_handle)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t h = gohttp_proxy_ref(p, 42);
    uintptr_t pl = 7;
    ck_assert_int_eq(gohttp_proxy_deref(p, 0, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_int_eq(gohttp_proxy_free(p, 0, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_uint_eq(pl, 7);
    gohttp_proxy_release(p, 0); /* ignored */
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);
    ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 42);
    assert_drained(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Forged handles                                                       */
/* ------------------------------------------------------------------ */

START_TEST(test_forged_random_bits)
{
    gohttp_proxy *p = gohttp_proxy_new(128);
    uint64_t hs[100];
    for (int i = 0; i < 100; i++)
        hs[i] = gohttp_proxy_ref(p, (uintptr_t)(1000 + i));
    /* Free a few so the table also has freed slots to be fooled by. */
    for (int i = 0; i < 100; i += 3)
        ck_assert_int_eq(gohttp_proxy_free(p, hs[i], NULL), 0);
    size_t live = gohttp_proxy_live(p);

    struct churn_thread rng = {.rng = 0x9e3779b97f4a7c15ull};
    for (int n = 0; n < 100000; n++) {
        uint64_t f = churn_rand(&rng);
        /* Half the probes keep a plausible index so the generation check,
         * not the range check, is what must reject them. */
        if (n & 1)
            f = (f & 0xffffffff00000000ull) | (uint64_t)(1 + (f % 128));
        int issued_live = 0;
        for (int i = 1; i < 100; i++)
            if (i % 3 != 0 && hs[i] == f)
                issued_live = 1;
        if (issued_live)
            continue;
        uintptr_t pl = 0x5a5a;
        HOT_ASSERT(gohttp_proxy_deref(p, f, &pl) == GOHTTP_PROXY_ESTALE);
        HOT_ASSERT(pl == 0x5a5a);
        HOT_ASSERT(gohttp_proxy_free(p, f, &pl) == GOHTTP_PROXY_ESTALE);
        gohttp_proxy_release(p, f);
    }
    ck_assert_uint_eq(gohttp_proxy_live(p), live);
    /* The real handles are unharmed by all that. */
    for (int i = 0; i < 100; i++) {
        if (i % 3 == 0)
            continue;
        uintptr_t pl = 0;
        ck_assert_int_eq(gohttp_proxy_free(p, hs[i], &pl), 0);
        ck_assert_uint_eq(pl, (uintptr_t)(1000 + i));
    }
    assert_drained(p);
}
END_TEST

START_TEST(test_forged_index_out_of_range)
{
    gohttp_proxy *p = gohttp_proxy_new(8);
    uint64_t h = gohttp_proxy_ref(p, 1);
    uint64_t gen = (uint64_t)HIGH32(h) << 32;
    uintptr_t pl = 77;
    const uint64_t forged[] = {
        gen | 0,          /* index field 0 */
        gen | 2,          /* index 1: inside max_slots, never created */
        gen | 8,          /* last index of max_slots, never created */
        gen | 9,          /* just past max_slots */
        gen | 0xffffffff, /* the largest index field */
        0xffffffffffffffffull,
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        ck_assert_int_eq(gohttp_proxy_deref(p, forged[i], &pl), GOHTTP_PROXY_ESTALE);
        ck_assert_int_eq(gohttp_proxy_free(p, forged[i], &pl), GOHTTP_PROXY_ESTALE);
        gohttp_proxy_release(p, forged[i]);
    }
    ck_assert_uint_eq(pl, 77);
    ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 1);
    assert_drained(p);
}
END_TEST

START_TEST(test_forged_wrong_generation)
{
    gohttp_proxy *p = gohttp_proxy_new(8);
    uint64_t h = gohttp_proxy_ref(p, 31337);
    uint64_t index1 = LOW32(h);
    uintptr_t pl = 77;
    uint64_t forged[] = {
        index1,                        /* generation 0 is never issued */
        h + ((uint64_t)1 << 32),       /* the next generation, not yet issued */
        h ^ ((uint64_t)1 << 63),       /* a bit far above the field */
        h | 0xffffffff00000000ull,     /* every generation bit set */
        /* One past the largest generation (wraps to generation 0 in the
         * 32-bit build, which is just as invalid). */
        ((TEST_GEN_MAX + 1) << 32) | index1,
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        ck_assert_int_eq(gohttp_proxy_deref(p, forged[i], &pl), GOHTTP_PROXY_ESTALE);
        ck_assert_int_eq(gohttp_proxy_free(p, forged[i], &pl), GOHTTP_PROXY_ESTALE);
        gohttp_proxy_release(p, forged[i]);
    }
    ck_assert_uint_eq(pl, 77);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);
    ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 31337);
    assert_drained(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Free, double free, stale handles                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_double_free)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t a = gohttp_proxy_ref(p, 10);
    uint64_t b = gohttp_proxy_ref(p, 20);
    uintptr_t pl = 0;
    ck_assert_int_eq(gohttp_proxy_free(p, a, &pl), 0);
    ck_assert_uint_eq(pl, 10);
    pl = 99;
    ck_assert_int_eq(gohttp_proxy_free(p, a, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_uint_eq(pl, 99);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);
    /* The neighbour is untouched. */
    ck_assert_int_eq(gohttp_proxy_deref(p, b, &pl), 0);
    ck_assert_uint_eq(pl, 20);
    gohttp_proxy_release(p, b);
    ck_assert_int_eq(gohttp_proxy_free(p, b, NULL), 0);
    ck_assert_int_eq(gohttp_proxy_free(p, b, NULL), GOHTTP_PROXY_ESTALE);
    assert_drained(p);
}
END_TEST

START_TEST(test_stale_after_free)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t h = gohttp_proxy_ref(p, 55);
    ck_assert_int_eq(gohttp_proxy_free(p, h, NULL), 0);
    uintptr_t pl = 1;
    ck_assert_int_eq(gohttp_proxy_deref(p, h, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_uint_eq(pl, 1);
    gohttp_proxy_release(p, h); /* stray: ignored */
    assert_drained(p);
}
END_TEST

/* The ABA case the generation exists for: the slot is reused, the old
 * handle must not reach the new payload. Fails with the generation check
 * planted away (GOHTTP_PLANT_SKIP_GENERATION). */
START_TEST(test_stale_after_reuse)
{
    gohttp_proxy *p = gohttp_proxy_new(1);
    uint64_t old = gohttp_proxy_ref(p, 111);
    ck_assert_int_eq(gohttp_proxy_free(p, old, NULL), 0);
    uint64_t cur = gohttp_proxy_ref(p, 222);
    if (TEST_GEN_MAX == 1) {
        /* A 1-bit generation retires the slot at once: nothing to reuse. */
        ck_assert_uint_eq(cur, 0);
        assert_drained(p);
        return;
    }
    ck_assert_uint_ne(cur, 0);
    ck_assert_uint_eq(LOW32(cur), LOW32(old)); /* same slot ... */
    ck_assert_uint_ne(cur, old);               /* ... new generation */

    uintptr_t pl = 7;
    ck_assert_int_eq(gohttp_proxy_deref(p, old, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_uint_eq(pl, 7);
    ck_assert_int_eq(gohttp_proxy_free(p, old, &pl), GOHTTP_PROXY_ESTALE);
    ck_assert_uint_eq(pl, 7);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1);

    /* A stray release through the old handle must not drop the new
     * handle's use count: with it dropped, a free of the new handle would
     * no longer wait for the real holder. */
    ck_assert_int_eq(gohttp_proxy_deref(p, cur, &pl), 0);
    ck_assert_uint_eq(pl, 222);
    gohttp_proxy_release(p, old);
    struct freer fr = {.p = p, .h = cur, .rc = 1};
    pthread_t b;
    ck_assert_int_eq(pthread_create(&b, NULL, freer_main, &fr), 0);
    sleep_ms(50);
    ck_assert_uint_eq(atomic_load(&fr.returned_ns), 0); /* still waiting for us */
    uint64_t released = now_ns();
    gohttp_proxy_release(p, cur);
    ck_assert_int_eq(pthread_join(b, NULL), 0);
    ck_assert_int_eq(fr.rc, 0);
    ck_assert_uint_eq(fr.pl, 222);
    ck_assert_uint_ge(atomic_load(&fr.returned_ns), released);
    assert_drained(p);
}
END_TEST

/* A release without a deref is ignored: if it were counted, the use count
 * would wrap and the free below would wait forever (Check's timeout). */
START_TEST(test_release_without_deref_ignored)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t h = gohttp_proxy_ref(p, 8);
    gohttp_proxy_release(p, h);
    uintptr_t pl = 0;
    ck_assert_int_eq(gohttp_proxy_deref(p, h, &pl), 0);
    gohttp_proxy_release(p, h);
    gohttp_proxy_release(p, h); /* one too many */
    ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
    ck_assert_uint_eq(pl, 8);
    assert_drained(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Capacity, growth, reuse order, retirement                            */
/* ------------------------------------------------------------------ */

START_TEST(test_table_full)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t hs[4];
    for (int i = 0; i < 4; i++) {
        hs[i] = gohttp_proxy_ref(p, (uintptr_t)i);
        ck_assert_uint_ne(hs[i], 0);
    }
    ck_assert_uint_eq(gohttp_proxy_ref(p, 99), 0);
    ck_assert_uint_eq(gohttp_proxy_ref(p, 99), 0);
    ck_assert_uint_eq(gohttp_proxy_live(p), 4);
    ck_assert_int_eq(gohttp_proxy_free(p, hs[2], NULL), 0);
    if (TEST_GEN_MAX > 1) {
        /* A freed slot makes room again (unless a 1-bit generation retired it). */
        hs[2] = gohttp_proxy_ref(p, 2);
        ck_assert_uint_ne(hs[2], 0);
        ck_assert_uint_eq(gohttp_proxy_ref(p, 99), 0);
        ck_assert_int_eq(gohttp_proxy_free(p, hs[2], NULL), 0);
    }
    for (int i = 0; i < 4; i++)
        if (i != 2)
            ck_assert_int_eq(gohttp_proxy_free(p, hs[i], NULL), 0);
    assert_drained(p);
}
END_TEST

/* Enough handles to span ten pages (the first page holds 64 slots and
 * pages double); every payload must survive the growth that came after it. */
START_TEST(test_growth_many_pages)
{
    enum { N = 50000 };
    gohttp_proxy *p = gohttp_proxy_new(0); /* 0: the largest table */
    uint64_t *hs = malloc(N * sizeof *hs);
    ck_assert_ptr_nonnull(hs);
    for (uint32_t i = 0; i < N; i++) {
        hs[i] = gohttp_proxy_ref(p, (uintptr_t)i * 2654435761u);
        HOT_ASSERT(hs[i] != 0);
        HOT_ASSERT(LOW32(hs[i]) == i + 1); /* fresh slots in order */
    }
    ck_assert_uint_eq(gohttp_proxy_live(p), N);
    for (uint32_t i = 0; i < N; i++) {
        uintptr_t pl = 0;
        HOT_ASSERT(gohttp_proxy_deref(p, hs[i], &pl) == 0);
        HOT_ASSERT(pl == (uintptr_t)i * 2654435761u);
        gohttp_proxy_release(p, hs[i]);
    }
    for (uint32_t i = 0; i < N; i++) {
        uintptr_t pl = 0;
        HOT_ASSERT(gohttp_proxy_free(p, hs[i], &pl) == 0);
        HOT_ASSERT(pl == (uintptr_t)i * 2654435761u);
    }
    free(hs);
    assert_drained(p);
}
END_TEST

/* Pages are sized so the table never holds more than max_slots: filling a
 * table whose capacity ends mid-page must stop exactly at max_slots. */
START_TEST(test_capacity_mid_page)
{
    const uint32_t max = 64 + 128 + 7; /* two full pages and part of a third */
    gohttp_proxy *p = gohttp_proxy_new(max);
    uint64_t *hs = malloc(max * sizeof *hs);
    ck_assert_ptr_nonnull(hs);
    for (uint32_t i = 0; i < max; i++) {
        hs[i] = gohttp_proxy_ref(p, i);
        ck_assert_uint_ne(hs[i], 0);
    }
    ck_assert_uint_eq(gohttp_proxy_ref(p, 0), 0);
    for (uint32_t i = 0; i < max; i++) {
        uintptr_t pl = 0;
        ck_assert_int_eq(gohttp_proxy_free(p, hs[i], &pl), 0);
        ck_assert_uint_eq(pl, i);
    }
    free(hs);
    assert_drained(p);
}
END_TEST

START_TEST(test_oldest_first_reuse)
{
    if (TEST_GEN_MAX == 1)
        return; /* 1-bit generations never reuse a slot */
    /* Room to grow: free slots must still be reused before new ones are
     * created, so the table's size follows the peak of live handles. */
    gohttp_proxy *p = gohttp_proxy_new(100);
    uint64_t hs[5];
    for (int i = 0; i < 5; i++)
        hs[i] = gohttp_proxy_ref(p, (uintptr_t)i);
    /* Free in the order 3, 0, 4, 1; slot 2 stays live. */
    const int order[] = {3, 0, 4, 1};
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(gohttp_proxy_free(p, hs[order[k]], NULL), 0);
    /* The next refs come off the free list, oldest free first. */
    uint64_t again[4];
    for (int k = 0; k < 4; k++) {
        again[k] = gohttp_proxy_ref(p, (uintptr_t)(100 + k));
        ck_assert_uint_eq(LOW32(again[k]), LOW32(hs[order[k]]));
        ck_assert_uint_ne(again[k], hs[order[k]]);
    }
    /* Free list empty: now the table grows. */
    uint64_t fresh = gohttp_proxy_ref(p, 0);
    ck_assert_uint_eq(LOW32(fresh), 6);
    ck_assert_int_eq(gohttp_proxy_free(p, fresh, NULL), 0);
    for (int k = 0; k < 4; k++) {
        uintptr_t pl = 0;
        ck_assert_int_eq(gohttp_proxy_free(p, again[k], &pl), 0);
        ck_assert_uint_eq(pl, (uintptr_t)(100 + k));
    }
    ck_assert_int_eq(gohttp_proxy_free(p, hs[2], NULL), 0);
    assert_drained(p);
}
END_TEST

/* A slot lives through generations 1 .. TEST_GEN_MAX, then is retired: it
 * never hands out a handle again, so no stale handle can come back to life.
 * Runs in the narrow-generation build; the 32-bit build would need 2^32
 * cycles, so there it checks only that generations advance. */
START_TEST(test_retire_at_generation_wrap)
{
    if (TEST_GEN_MAX > 1024) {
        gohttp_proxy *p = gohttp_proxy_new(1);
        uint64_t prev = 0;
        for (int i = 0; i < 1000; i++) {
            uint64_t h = gohttp_proxy_ref(p, (uintptr_t)i);
            ck_assert_uint_ne(h, 0);
            if (prev != 0)
                ck_assert_uint_eq(HIGH32(h), HIGH32(prev) + 1);
            ck_assert_int_eq(gohttp_proxy_free(p, h, NULL), 0);
            prev = h;
        }
        assert_drained(p);
        return;
    }
    /* Two slots: both must each serve exactly TEST_GEN_MAX lifetimes. */
    gohttp_proxy *p = gohttp_proxy_new(2);
    uint64_t seen[2 * 1024];
    size_t nseen = 0;
    for (;;) {
        uint64_t h = gohttp_proxy_ref(p, (uintptr_t)(nseen + 1));
        if (h == 0)
            break;
        ck_assert_uint_lt(nseen, 2 * TEST_GEN_MAX);
        ck_assert_uint_ge(HIGH32(h), 1);
        ck_assert_uint_le(HIGH32(h), TEST_GEN_MAX);
        for (size_t i = 0; i < nseen; i++)
            ck_assert_uint_ne(h, seen[i]); /* never the same handle twice */
        seen[nseen++] = h;
        uintptr_t pl = 0;
        ck_assert_int_eq(gohttp_proxy_free(p, h, &pl), 0);
        ck_assert_uint_eq(pl, nseen);
    }
    ck_assert_uint_eq(nseen, 2 * TEST_GEN_MAX);
    /* Both slots retired: the table stays full for good, and every handle it
     * ever issued is stale. */
    ck_assert_uint_eq(gohttp_proxy_ref(p, 1), 0);
    for (size_t i = 0; i < nseen; i++) {
        uintptr_t pl = 3;
        ck_assert_int_eq(gohttp_proxy_deref(p, seen[i], &pl), GOHTTP_PROXY_ESTALE);
        ck_assert_int_eq(gohttp_proxy_free(p, seen[i], &pl), GOHTTP_PROXY_ESTALE);
        ck_assert_uint_eq(pl, 3);
    }
    assert_drained(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Allocation failure (fault injection)                                 */
/* ------------------------------------------------------------------ */

#ifdef GOHTTP_PROXY_CALLOC
/* The table's allocator in this build (see GOHTTP_PROXY_CALLOC in proxy.c):
 * once armed, the fault_at-th allocation fails. Atomics because the thread
 * tests allocate pages from several threads (unarmed there). */
static _Atomic long fault_at;    /* 0: never fail */
static _Atomic long alloc_calls; /* allocations since arming */

void *GOHTTP_PROXY_CALLOC(size_t n, size_t size);
void *GOHTTP_PROXY_CALLOC(size_t n, size_t size)
{
    long call = atomic_fetch_add(&alloc_calls, 1) + 1;
    if (atomic_load(&fault_at) == call)
        return NULL;
    return calloc(n, size);
}

static void fault_arm(long at)
{
    atomic_store(&alloc_calls, 0);
    atomic_store(&fault_at, at);
}

/* Fail each allocation in turn (the table, then each page) while filling a
 * 200-slot table (pages of 64, 128 and 8 slots): the failing call reports
 * NULL or 0, nothing leaks (ASan/valgrind runs), the table is unchanged by
 * the failed ref, and the very next ref succeeds at the same index. */
START_TEST(test_alloc_failure_at_every_allocation)
{
    enum { N = 200 };
    long points = 0;
    for (long k = 1;; k++) {
        fault_arm(k);
        gohttp_proxy *p = gohttp_proxy_new(N);
        if (p == NULL) {
            ck_assert_int_eq(k, 1); /* only the first allocation is the table */
            points++;
            continue;
        }
        uint64_t hs[N];
        int failed_refs = 0;
        for (uint32_t i = 0; i < N; i++) {
            hs[i] = gohttp_proxy_ref(p, (uintptr_t)(i + 7));
            if (hs[i] == 0) {
                failed_refs++;
                ck_assert_uint_eq(gohttp_proxy_live(p), i);
                hs[i] = gohttp_proxy_ref(p, (uintptr_t)(i + 7)); /* fault is spent */
            }
            ck_assert_uint_ne(hs[i], 0);
            ck_assert_uint_eq(LOW32(hs[i]), i + 1);
        }
        ck_assert_uint_eq(gohttp_proxy_ref(p, 0), 0); /* full */
        for (uint32_t i = 0; i < N; i++) {
            uintptr_t pl = 0;
            ck_assert_int_eq(gohttp_proxy_free(p, hs[i], &pl), 0);
            ck_assert_uint_eq(pl, (uintptr_t)(i + 7));
        }
        long calls = atomic_load(&alloc_calls);
        assert_drained(p);
        if (calls < k) {
            /* The run made fewer than k allocations: every point is done. */
            ck_assert_int_eq(failed_refs, 0);
            break;
        }
        ck_assert_int_eq(failed_refs, 1);
        points++;
    }
    fault_arm(0);
    ck_assert_int_eq(points, 4); /* the table and its three pages */
}
END_TEST
#endif /* GOHTTP_PROXY_CALLOC */

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

struct holder {
    gohttp_proxy *p;
    uint64_t h;
    _Atomic int held;          /* the holder has its use-reference */
    _Atomic int go_release;    /* the main thread lets it go */
    _Atomic uint64_t released_ns;
};

static void *holder_main(void *arg)
{
    struct holder *hd = arg;
    uintptr_t pl = 0;
    if (gohttp_proxy_deref(hd->p, hd->h, &pl) != 0 || pl != 4242)
        return (void *)1;
    atomic_store(&hd->held, 1);
    while (!atomic_load(&hd->go_release))
        sleep_ms(1);
    atomic_store(&hd->released_ns, now_ns());
    gohttp_proxy_release(hd->p, hd->h);
    return NULL;
}

/* Thread A derefs and holds; thread B frees and must not return until A
 * releases; meanwhile new derefs already fail and a second free is stale. */
START_TEST(test_free_waits_for_release)
{
    gohttp_proxy *p = gohttp_proxy_new(4);
    uint64_t h = gohttp_proxy_ref(p, 4242);
    struct holder hd = {.p = p, .h = h};
    struct freer fr = {.p = p, .h = h, .rc = 1};
    pthread_t a, b;
    ck_assert_int_eq(pthread_create(&a, NULL, holder_main, &hd), 0);
    while (!atomic_load(&hd.held))
        sleep_ms(1);
    ck_assert_int_eq(pthread_create(&b, NULL, freer_main, &fr), 0);

    /* Wait until B's free has begun: from then on derefs fail. */
    uintptr_t pl = 0;
    uint64_t deadline = now_ns() + 3000000000ull;
    for (;;) {
        if (gohttp_proxy_deref(p, h, &pl) != 0)
            break;
        gohttp_proxy_release(p, h);
        ck_assert_uint_lt(now_ns(), deadline);
        sleep_ms(1);
    }
    /* B is blocked on A: give it time to (wrongly) return. */
    sleep_ms(100);
    ck_assert_uint_eq(atomic_load(&fr.returned_ns), 0);
    ck_assert_uint_eq(gohttp_proxy_live(p), 1); /* not freed yet */
    ck_assert_int_eq(gohttp_proxy_free(p, h, NULL), GOHTTP_PROXY_ESTALE);
    ck_assert_int_eq(gohttp_proxy_deref(p, h, &pl), GOHTTP_PROXY_ESTALE);

    atomic_store(&hd.go_release, 1);
    void *ares = (void *)2;
    ck_assert_int_eq(pthread_join(a, &ares), 0);
    ck_assert_ptr_null(ares);
    ck_assert_int_eq(pthread_join(b, NULL), 0);
    ck_assert_int_eq(fr.rc, 0);
    ck_assert_uint_eq(fr.pl, 4242);
    ck_assert_uint_ne(atomic_load(&hd.released_ns), 0);
    ck_assert_uint_ge(atomic_load(&fr.returned_ns), atomic_load(&hd.released_ns));
    assert_drained(p);
}
END_TEST

/* Several frees waiting on different slots at once all complete, each
 * after its own holder lets go (one condition variable serves them all). */
START_TEST(test_many_waiting_frees)
{
    enum { K = 4 };
    gohttp_proxy *p = gohttp_proxy_new(K);
    struct holder hd[K];
    struct freer fr[K];
    pthread_t a[K], b[K];
    for (int i = 0; i < K; i++) {
        uint64_t h = gohttp_proxy_ref(p, 4242);
        hd[i] = (struct holder){.p = p, .h = h};
        fr[i] = (struct freer){.p = p, .h = h, .rc = 1};
        ck_assert_int_eq(pthread_create(&a[i], NULL, holder_main, &hd[i]), 0);
        while (!atomic_load(&hd[i].held))
            sleep_ms(1);
        ck_assert_int_eq(pthread_create(&b[i], NULL, freer_main, &fr[i]), 0);
    }
    sleep_ms(50);
    /* Release in reverse; each free returns only after its own release. */
    for (int i = K - 1; i >= 0; i--) {
        for (int j = 0; j < i; j++)
            ck_assert_uint_eq(atomic_load(&fr[j].returned_ns), 0);
        atomic_store(&hd[i].go_release, 1);
        ck_assert_int_eq(pthread_join(a[i], NULL), 0);
        ck_assert_int_eq(pthread_join(b[i], NULL), 0);
        ck_assert_int_eq(fr[i].rc, 0);
        ck_assert_uint_eq(fr[i].pl, 4242);
        ck_assert_uint_ge(atomic_load(&fr[i].returned_ns), atomic_load(&hd[i].released_ns));
    }
    assert_drained(p);
}
END_TEST

/* Threads race ref/deref/release/free on shared handles (see churn.h);
 * no deref may yield a payload other than its handle's. */
START_TEST(test_concurrent_churn)
{
    enum { THREADS = 4, CELLS = 16, ITER = 20000 };
    /* A small table so slots are reused (and, with narrow generations,
     * retired) during the run. */
    gohttp_proxy *p = gohttp_proxy_new(TEST_GEN_MAX < 16 ? 4096 : 24);
    _Atomic uint64_t cells[CELLS];
    for (int i = 0; i < CELLS; i++)
        atomic_init(&cells[i], 0);
    struct churn_shared sh = {.proxy = p, .cells = cells, .ncells = CELLS};
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.wrong, 0);
    struct churn_thread th[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        th[i] = (struct churn_thread){.sh = &sh, .rng = 0x1234567ull * (uint64_t)(i + 1),
                                      .max_iter = ITER};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, churn_main, &th[i]), 0);
    }
    uint64_t refs = 0, derefs = 0;
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
        refs += th[i].refs;
        derefs += th[i].derefs;
    }
    churn_drain(&th[0]);
    ck_assert_uint_eq(atomic_load(&sh.wrong), 0);
    ck_assert_uint_gt(refs, 1000);
    ck_assert_uint_gt(derefs, 1000);
    assert_drained(p);
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");

    TCase *basic = tcase_create("basic");
    tcase_add_test(basic, test_ref_deref_release_free);
    tcase_add_test(basic, test_handles_distinct_and_32bit_truncation_invalid);
    tcase_add_test(basic, test_null_arguments);
    tcase_add_test(basic, test_zero_handle);
    suite_add_tcase(s, basic);

    TCase *forged = tcase_create("forged");
    tcase_add_test(forged, test_forged_random_bits);
    tcase_add_test(forged, test_forged_index_out_of_range);
    tcase_add_test(forged, test_forged_wrong_generation);
    suite_add_tcase(s, forged);

    TCase *stale = tcase_create("stale");
    tcase_add_test(stale, test_double_free);
    tcase_add_test(stale, test_stale_after_free);
    tcase_add_test(stale, test_stale_after_reuse);
    tcase_add_test(stale, test_release_without_deref_ignored);
    suite_add_tcase(s, stale);

    TCase *cap = tcase_create("capacity");
    tcase_add_test(cap, test_table_full);
    tcase_add_test(cap, test_growth_many_pages);
    tcase_add_test(cap, test_capacity_mid_page);
    tcase_add_test(cap, test_oldest_first_reuse);
    tcase_add_test(cap, test_retire_at_generation_wrap);
    tcase_set_timeout(cap, 30);
    suite_add_tcase(s, cap);

#ifdef GOHTTP_PROXY_CALLOC
    TCase *fault = tcase_create("alloc-failure");
    tcase_add_test(fault, test_alloc_failure_at_every_allocation);
    suite_add_tcase(s, fault);
#endif

    TCase *thr = tcase_create("threads");
    tcase_add_test(thr, test_free_waits_for_release);
    tcase_add_test(thr, test_many_waiting_frees);
    tcase_add_test(thr, test_concurrent_churn);
    tcase_set_timeout(thr, 30);
    suite_add_tcase(s, thr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
