/*
 * proxy.c - the generational handle table of proxy.h.
 *
 * Handle layout (64 bits):
 *
 *     63            32 31             0
 *    +----------------+----------------+
 *    |   generation   |   index + 1    |
 *    +----------------+----------------+
 *
 * The low word is the slot index plus one, so 0 is never a valid handle
 * whatever the generation. Generations start at 1, not 0, so a valid handle
 * always has its high word set: a handle truncated to 32 bits on its way
 * through some caller (the seed's bug) can never name a live object. Only
 * generations 1 .. PROXY_GEN_MAX are ever issued; PROXY_GEN_MAX is
 * 2^GOHTTP_PROXY_GEN_BITS - 1, 32 bits normally, a few bits in the test
 * build that proves retirement.
 *
 * Slot life cycle, every transition under the table mutex:
 *
 *    (never created) --ref--> LIVE --free--> FREEING --last release--+
 *                              ^                                     |
 *                              |                                     v
 *          FREE (on the FIFO) <-+- generation < max: generation++ ---+
 *                                   generation == max: RETIRED, forever
 *
 * A handle resolves only while its slot is LIVE and carries its generation,
 * so the instant free marks a slot FREEING every copy of the handle is
 * stale for deref and free; only release still matches it (it must, to
 * give the in-flight use-references back). The generation bump happens
 * when the slot leaves FREEING, before the slot can be handed out again, so
 * no later handle of that slot can equal an earlier one.
 *
 * Memory: slots live in pages that are allocated on demand and never moved
 * or freed before gohttp_proxy_destroy. Page k holds PROXY_PAGE0 << k slots
 * (geometric growth), so 33 page pointers address the whole 32-bit index
 * space without a directory sized for max_slots, and a free() waiting on a
 * condition variable can keep its slot pointer across the wait.
 *
 * Concurrency: one mutex guards every field of the table and of every slot,
 * one condition variable wakes frees waiting for use-references to drain.
 * Nothing is lock-free on purpose: the table is small, its critical sections
 * are a handful of loads and stores, and a single lock is what an auditor
 * can check by reading.
 *
 * Planted bugs (audit self-test only, never set by the normal build):
 *   GOHTTP_PLANT_PROXY_UNLOCKED   release drops the use count without the
 *                                 lock (TSan must report the race).
 *   GOHTTP_PLANT_SKIP_GENERATION  deref ignores the generation, so a stale
 *                                 handle resolves to its slot's next payload
 *                                 (the stale-handle tests must fail).
 */
#include "proxy.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Width of the generation field. A test build narrows it (for example to
 * 2 bits: every slot lives 3 times, then retires) to prove retirement
 * without 2^32 iterations. */
#ifndef GOHTTP_PROXY_GEN_BITS
#define GOHTTP_PROXY_GEN_BITS 32
#endif
#if GOHTTP_PROXY_GEN_BITS < 1 || GOHTTP_PROXY_GEN_BITS > 32
#error "GOHTTP_PROXY_GEN_BITS must be between 1 and 32"
#endif

/* log2 of the number of slots in the first page. Later pages double. */
#ifndef GOHTTP_PROXY_PAGE0_BITS
#define GOHTTP_PROXY_PAGE0_BITS 6
#endif
#if GOHTTP_PROXY_PAGE0_BITS < 0 || GOHTTP_PROXY_PAGE0_BITS > 20
#error "GOHTTP_PROXY_PAGE0_BITS must be between 0 and 20"
#endif

/* The allocator for the table and its pages. The Check build points it at
 * a fault-injecting wrapper to prove that every allocation failure leaves
 * the table consistent and leak-free; everything else uses calloc. */
#ifdef GOHTTP_PROXY_CALLOC
void *GOHTTP_PROXY_CALLOC(size_t n, size_t size);
#else
#define GOHTTP_PROXY_CALLOC calloc
#endif

#define PROXY_GEN_MAX ((uint32_t)((((uint64_t)1) << GOHTTP_PROXY_GEN_BITS) - 1))
#define PROXY_GEN_FIRST ((uint32_t)1)
/* index + 1 must fit the low word, so the last index is UINT32_MAX - 1. */
#define PROXY_MAX_SLOTS UINT32_MAX
#define PROXY_PAGE0 ((uint64_t)1 << GOHTTP_PROXY_PAGE0_BITS)
/* Pages 0 .. k-1 hold PROXY_PAGE0 * (2^k - 1) slots; 33 pages cover more
 * than 2^32 slots even with a one-slot first page. */
#define PROXY_NPAGES 33

_Static_assert(PROXY_PAGE0 * ((((uint64_t)1) << PROXY_NPAGES) - 1) >= PROXY_MAX_SLOTS,
               "the page directory must cover every index");

enum proxy_slot_state {
    PROXY_SLOT_FREE = 0, /* on the free list, or created and never handed out */
    PROXY_SLOT_LIVE,     /* handed out by ref; deref and free accept it */
    PROXY_SLOT_FREEING,  /* free is waiting for the use-references to drain */
    PROXY_SLOT_RETIRED,  /* generation exhausted; never handed out again */
};

struct proxy_slot {
    uintptr_t payload;  /* the caller's value; meaningful while LIVE/FREEING */
    uint64_t uses;      /* in-flight use-references (64 bits: cannot wrap) */
    uint32_t gen;       /* generation of the current or next handle */
    uint32_t next_free; /* index + 1 of the next FIFO entry, 0 at the tail */
    uint8_t state;      /* enum proxy_slot_state */
};

struct gohttp_proxy {
    pthread_mutex_t mu;
    pthread_cond_t drained;   /* signalled when a FREEING slot's uses hit 0 */
    uint32_t max_slots;       /* clamped capacity, 1 .. PROXY_MAX_SLOTS */
    uint32_t created;         /* slots 0 .. created-1 exist */
    uint32_t free_head;       /* index + 1 of the oldest free slot, 0 = empty */
    uint32_t free_tail;       /* index + 1 of the newest free slot */
    size_t live;              /* LIVE + FREEING slots */
    struct proxy_slot *pages[PROXY_NPAGES];
};

/* Which page holds index i, and where in it. Page k starts at
 * PROXY_PAGE0 * (2^k - 1); adding PROXY_PAGE0 turns that into a power of
 * two, so the page is the position of the top bit. */
static void proxy_slot_place(uint32_t i, unsigned *page, uint64_t *offset)
{
    uint64_t j = (uint64_t)i + PROXY_PAGE0;
    unsigned top = 63u - (unsigned)__builtin_clzll(j);
    *page = top - GOHTTP_PROXY_PAGE0_BITS;
    *offset = j - ((uint64_t)1 << top);
}

/* The slot at index i, which must be below p->created (so its page exists).
 * Caller holds p->mu. */
static struct proxy_slot *proxy_slot_at(gohttp_proxy *p, uint32_t i)
{
    unsigned page;
    uint64_t offset;
    proxy_slot_place(i, &page, &offset);
    return &p->pages[page][offset];
}

/* Pack and unpack handles. */
static uint64_t proxy_handle_make(uint32_t index, uint32_t gen)
{
    return ((uint64_t)gen << 32) | ((uint64_t)index + 1);
}

/* The slot h names if h's index is one this table created, else NULL.
 * Does not look at generation or state. Caller holds p->mu. */
static struct proxy_slot *proxy_slot_of_handle(gohttp_proxy *p, uint64_t h)
{
    uint32_t index1 = (uint32_t)(h & 0xffffffffu);
    if (index1 == 0 || index1 > p->created)
        return NULL;
    return proxy_slot_at(p, index1 - 1);
}

static uint32_t proxy_handle_gen(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

/* Whether h's generation is the slot's current one. The one place the
 * generation is compared for deref, so the planted bug is one line. */
static bool proxy_gen_matches_for_deref(const struct proxy_slot *s, uint64_t h)
{
#ifdef GOHTTP_PLANT_SKIP_GENERATION
    (void)s;
    (void)h;
    return true; /* PLANTED BUG: a stale handle resolves to the slot's new payload */
#else
    return s->gen == proxy_handle_gen(h);
#endif
}

/* Create a table. All of its memory is owned by the returned table and freed
 * by gohttp_proxy_destroy; the pages come later, on demand, from ref. */
gohttp_proxy *gohttp_proxy_new(uint32_t max_slots)
{
    /* Owner: the caller; freed in gohttp_proxy_destroy. */
    gohttp_proxy *p = GOHTTP_PROXY_CALLOC(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->drained, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    p->max_slots = (max_slots == 0 || max_slots > PROXY_MAX_SLOTS) ? PROXY_MAX_SLOTS : max_slots;
    return p;
}

/* Free the pages and the table. Payloads of handles still live are the
 * caller's business (the table never owned them). */
void gohttp_proxy_destroy(gohttp_proxy *p)
{
    if (p == NULL)
        return;
    for (unsigned k = 0; k < PROXY_NPAGES; k++)
        free(p->pages[k]); /* made in proxy_slot_create */
    pthread_cond_destroy(&p->drained);
    pthread_mutex_destroy(&p->mu);
    free(p); /* made in gohttp_proxy_new */
}

/* Take the oldest slot off the free list, or NULL if it is empty. Caller
 * holds p->mu. Oldest-first spreads generation bumps evenly over the slots
 * and maximises the time a stale handle's slot stays unused. */
static struct proxy_slot *proxy_free_list_pop(gohttp_proxy *p, uint32_t *index)
{
    if (p->free_head == 0)
        return NULL;
    uint32_t i = p->free_head - 1;
    struct proxy_slot *s = proxy_slot_at(p, i);
    p->free_head = s->next_free;
    if (p->free_head == 0)
        p->free_tail = 0;
    s->next_free = 0;
    *index = i;
    return s;
}

/* Append slot i (state FREE) at the newest end of the free list. Caller
 * holds p->mu. */
static void proxy_free_list_push(gohttp_proxy *p, uint32_t i, struct proxy_slot *s)
{
    s->next_free = 0;
    if (p->free_tail == 0)
        p->free_head = i + 1;
    else
        proxy_slot_at(p, p->free_tail - 1)->next_free = i + 1;
    p->free_tail = i + 1;
}

/* Create the next never-used slot, allocating its page if this is the
 * page's first slot. NULL when the table is at max_slots or the page
 * allocation fails (the table is unchanged then). Caller holds p->mu. */
static struct proxy_slot *proxy_slot_create(gohttp_proxy *p, uint32_t *index)
{
    if (p->created >= p->max_slots)
        return NULL;
    uint32_t i = p->created;
    unsigned page;
    uint64_t offset;
    proxy_slot_place(i, &page, &offset);
    if (p->pages[page] == NULL) {
        /* Only allocate what max_slots can ever use of this page. */
        uint64_t page_len = PROXY_PAGE0 << page;
        uint64_t remaining = (uint64_t)p->max_slots - i; /* i is the page's first index */
        if (page_len > remaining)
            page_len = remaining;
        if (page_len > SIZE_MAX / sizeof(struct proxy_slot))
            return NULL;
        /* Owner: the table; freed in gohttp_proxy_destroy, never before,
         * so a slot pointer stays valid for the table's whole life. */
        p->pages[page] = GOHTTP_PROXY_CALLOC((size_t)page_len, sizeof(struct proxy_slot));
        if (p->pages[page] == NULL)
            return NULL;
    }
    struct proxy_slot *s = &p->pages[page][offset];
    s->gen = PROXY_GEN_FIRST;
    s->state = PROXY_SLOT_FREE;
    p->created = i + 1;
    *index = i;
    return s;
}

/* Register payload. Reuses the oldest free slot; creates a new one only when
 * none is free, so the table grows to the peak number of live handles. */
uint64_t gohttp_proxy_ref(gohttp_proxy *p, uintptr_t payload)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->mu);
    uint32_t i;
    struct proxy_slot *s = proxy_free_list_pop(p, &i);
    if (s == NULL)
        s = proxy_slot_create(p, &i);
    uint64_t h = 0;
    if (s != NULL) {
        s->payload = payload;
        s->uses = 0;
        s->state = PROXY_SLOT_LIVE;
        p->live++;
        h = proxy_handle_make(i, s->gen);
    }
    pthread_mutex_unlock(&p->mu);
    return h;
}

/* Resolve h and take a use-reference, all under the lock: the seed released
 * its lock before the caller used the pointer, which let free race with the
 * use. Here free cannot finish until this reference is released. */
int gohttp_proxy_deref(gohttp_proxy *p, uint64_t h, uintptr_t *payload)
{
    if (p == NULL || payload == NULL)
        return GOHTTP_PROXY_EINVAL;
    int rc = GOHTTP_PROXY_ESTALE;
    pthread_mutex_lock(&p->mu);
    struct proxy_slot *s = proxy_slot_of_handle(p, h);
    if (s != NULL && s->state == PROXY_SLOT_LIVE && proxy_gen_matches_for_deref(s, h)) {
        s->uses++;
        *payload = s->payload;
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Give back a use-reference. The handle still matches while its slot is
 * FREEING (that is what the waiting free needs); once the slot has left
 * FREEING the generation or state no longer matches and the release is a
 * stray one: ignored, and fatal only in GOHTTP_PROXY_DEBUG builds,
 * because a server must not die on a caller's bookkeeping mistake. */
void gohttp_proxy_release(gohttp_proxy *p, uint64_t h)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    struct proxy_slot *s = proxy_slot_of_handle(p, h);
    bool matches = s != NULL && (s->state == PROXY_SLOT_LIVE || s->state == PROXY_SLOT_FREEING) &&
                   s->gen == proxy_handle_gen(h) && s->uses > 0;
    if (!matches) {
#ifdef GOHTTP_PROXY_DEBUG
        abort(); /* a release without a matching deref: a caller bug */
#endif
        pthread_mutex_unlock(&p->mu);
        return;
    }
#ifdef GOHTTP_PLANT_PROXY_UNLOCKED
    /* PLANTED BUG: the use count is dropped outside the lock, racing with
     * deref's increment and free's read on other threads. */
    pthread_mutex_unlock(&p->mu);
    s->uses--;
    pthread_mutex_lock(&p->mu);
#else
    s->uses--;
#endif
    if (s->uses == 0 && s->state == PROXY_SLOT_FREEING)
        pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->mu);
}

/* Retire h's slot: FREEING at once (new derefs and frees fail), wait for the
 * in-flight uses, then bump the generation and queue the slot for reuse, or
 * retire it for good when the generation is exhausted. */
int gohttp_proxy_free(gohttp_proxy *p, uint64_t h, uintptr_t *payload)
{
    if (p == NULL)
        return GOHTTP_PROXY_EINVAL;
    pthread_mutex_lock(&p->mu);
    struct proxy_slot *s = proxy_slot_of_handle(p, h);
    if (s == NULL || s->state != PROXY_SLOT_LIVE || s->gen != proxy_handle_gen(h)) {
        pthread_mutex_unlock(&p->mu);
        return GOHTTP_PROXY_ESTALE;
    }
    s->state = PROXY_SLOT_FREEING;
    /* s stays valid across the wait: pages never move or go away. Only this
     * call moves the slot out of FREEING, so the state cannot change under
     * us; the loop guards against spurious and foreign wake-ups. */
    while (s->uses > 0)
        pthread_cond_wait(&p->drained, &p->mu);
    if (payload != NULL)
        *payload = s->payload;
    s->payload = 0;
    p->live--;
    uint32_t index = (uint32_t)(h & 0xffffffffu) - 1;
    if (s->gen >= PROXY_GEN_MAX) {
        /* The next generation would wrap to one already handed out. */
        s->state = PROXY_SLOT_RETIRED;
    } else {
        s->gen++;
        s->state = PROXY_SLOT_FREE;
        proxy_free_list_push(p, index, s);
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Count of live handles, for the "back to zero after every test" checks.
 * Takes the lock so the count is one that existed at some instant; the
 * const is cast away only to lock, the table itself is not modified. */
size_t gohttp_proxy_live(const gohttp_proxy *p)
{
    if (p == NULL)
        return 0;
    gohttp_proxy *mp = (gohttp_proxy *)p;
    pthread_mutex_lock(&mp->mu);
    size_t n = mp->live;
    pthread_mutex_unlock(&mp->mu);
    return n;
}
