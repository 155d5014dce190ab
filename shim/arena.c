/*
 * arena.c - the per-request arena: ONE malloc holding a request view (the
 * gohttp_request or seed Request struct, the header array, every string)
 * so one free releases all of it, on every path, in one place.
 *
 * Layout: [arena_head][size usable bytes]. The head records the usable
 * size so the free path can keep arena_bytes exact without the caller
 * passing it back. The head is 16 bytes so the usable part keeps malloc's
 * alignment for the structs placed at its start.
 *
 * Ownership: the Go goroutine serving the request (lib/dispatch.go) makes
 * the arena, hands read-only pointers into it to the handler, and frees it
 * in a defer after the handler returned (push) or gohttp_done (pull).
 */
#include <stdlib.h>

#include "gohttp_internal.h"

typedef struct arena_head {
    size_t size;  /* usable bytes after the head */
    void *owner;  /* always NULL; the plant_cgoptr build stores a Go
                     pointer here to prove cgocheck2 catches it */
} arena_head;

_Static_assert(sizeof(arena_head) == 16, "arena head keeps 16-byte alignment");

static int64_t live_arenas;
static int64_t arena_bytes;

int64_t gohttp__arena_live(void)
{
    return __atomic_load_n(&live_arenas, __ATOMIC_RELAXED);
}

int64_t gohttp__arena_bytes(void)
{
    return __atomic_load_n(&arena_bytes, __ATOMIC_RELAXED);
}

/* noinline (also gohttp__arena_free): gohttp__request_begin/_end in the
 * same unity file call these, and the audit self-tests (mk/audit.mk) look
 * for these names as frames in sanitizer and memcheck reports. */
__attribute__((noinline)) void *gohttp__arena_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(arena_head) || GOHTTP_FAULT(GOHTTP_FAULT_ARENA))
        return NULL;
    /* Owner: the caller (gohttp__request_begin for lib/dispatch.go
     * route.serve); freed by gohttp__arena_free below. */
    arena_head *h = malloc(sizeof(arena_head) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    h->owner = NULL;
#ifdef GOHTTP_PLANT_UB_MISALIGNED
    /* Planted bug (audit self-test only): the size read back through a
     * pointer one byte off its alignment; UBSan (asan flavor,
     * -fno-sanitize-recover) must stop the run with "misaligned address". */
    {
        volatile const size_t *off = (const size_t *)((const char *)h + 1);
        (void)*off;
    }
#endif
    __atomic_add_fetch(&live_arenas, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&arena_bytes, (int64_t)size, __ATOMIC_RELAXED);
    return h + 1;
}

void **gohttp__arena_owner_slot(void *arena)
{
    return &((arena_head *)arena - 1)->owner;
}

__attribute__((noinline)) void gohttp__arena_free(void *arena)
{
    if (arena == NULL)
        return;
    arena_head *h = (arena_head *)arena - 1;
    size_t size = h->size;
    __atomic_sub_fetch(&live_arenas, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&arena_bytes, (int64_t)size, __ATOMIC_RELAXED);
#ifndef GOHTTP_PLANT_ARENA_LEAK
    free(h);
#else
    /* Planted bug (audit self-test only): the counters above say freed but
     * the memory is kept, so only LSan / memcheck can see the leak. */
#endif
#ifdef GOHTTP_PLANT_ARENA_UAF
    /* Planted bug (audit self-test only): read the request view after its
     * arena was freed. ASan must report a heap-use-after-free here. */
    {
        volatile const char *first = (const char *)arena;
        (void)*first;
    }
#endif
}
