/*
 * faults.c - the allocation-failure counter of test builds (GOHTTP_FAULTS,
 * set by lib/faults.go under -tags gohttp_test; empty otherwise).
 *
 * Every allocation point that crosses the boundary (enum
 * gohttp__fault_point in gohttp_internal.h) asks gohttp__fault before it
 * allocates. After gohttp__fault_arm(n) the calls are counted from 1 and
 * the nth one fails; with n = 0 none fails and the counts tell the driver
 * (lib/faults_test.go) how many points a run reaches and in which order.
 * The counters are atomics: the points are reached from request goroutines
 * on many threads.
 */
#ifdef GOHTTP_FAULTS
#include <stdlib.h>

#include "gohttp_internal.h"

#define FAULT_SEQ_CAP 1024

static int64_t fault_calls;
static int64_t fault_at;
static int fault_fired;
static int fault_seq[FAULT_SEQ_CAP];

int gohttp__fault(int p)
{
    int64_t n = __atomic_add_fetch(&fault_calls, 1, __ATOMIC_SEQ_CST);
    if (n <= FAULT_SEQ_CAP)
        __atomic_store_n(&fault_seq[n - 1], p, __ATOMIC_SEQ_CST);
    if (n == __atomic_load_n(&fault_at, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&fault_fired, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    return 0;
}

void gohttp__fault_arm(int64_t nth)
{
    __atomic_store_n(&fault_at, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fault_fired, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fault_calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fault_at, nth, __ATOMIC_SEQ_CST);
}

int64_t gohttp__fault_calls(int *seq, int64_t cap)
{
    int64_t n = __atomic_load_n(&fault_calls, __ATOMIC_SEQ_CST);
    if (seq != NULL)
        for (int64_t i = 0; i < n && i < cap && i < FAULT_SEQ_CAP; i++)
            seq[i] = __atomic_load_n(&fault_seq[i], __ATOMIC_SEQ_CST);
    return n;
}

int gohttp__fault_fired(void)
{
    return __atomic_load_n(&fault_fired, __ATOMIC_SEQ_CST);
}

void *gohttp__fault_calloc(size_t n, size_t size)
{
    if (gohttp__fault(GOHTTP_FAULT_PROXY_PAGE))
        return NULL;
    return calloc(n, size);
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int gohttp__faults_unused;
#endif
