/*
 * proxy.h - a generational handle table.
 *
 * A handle names one payload (a uintptr_t: a pointer C owns, or an integer
 * token such as a runtime/cgo.Handle value) without being a pointer. It packs
 * a slot index and that slot's generation into a uint64_t:
 *
 *   - 0 is never a valid handle.
 *   - Freeing a handle bumps its slot's generation, so every copy of the old
 *     handle is stale from that instant: deref and free answer
 *     GOHTTP_PROXY_ESTALE, never another object's payload.
 *   - A slot whose generation would wrap is retired and never reused, so a
 *     stale handle can never match a later object (no ABA).
 *   - Free slots are reused oldest-first, which maximises the time before a
 *     slot's generation advances again.
 *   - deref takes a use-reference that release gives back. free makes new
 *     derefs fail at once and returns only when the in-flight uses are
 *     released, so a payload is never torn down under a user.
 *
 * The table may grow up to max_slots; slots never move once created, so a
 * thread reading a slot never reads freed memory. All functions are
 * thread-safe. Nothing here knows HTTP, Go or Python.
 */
#ifndef GOHTTP_PROXY_H
#define GOHTTP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returned for a stale, freed, forged or 0 handle. The shim answers every
 * failed lookup with GOHTTP_ESTALE itself; both codes equal their
 * GOHTTP_E* namesakes in shim/gohttp.h (asserted in shim/dispatch.c). */
#define GOHTTP_PROXY_ESTALE (-2)
/* Returned for a NULL table or output pointer. */
#define GOHTTP_PROXY_EINVAL (-1)

typedef struct gohttp_proxy gohttp_proxy;

/* Create a table holding at most max_slots live handles (0 or more than the
 * index field can address is clamped to that maximum). NULL when out of
 * memory. The caller owns the table and frees it with gohttp_proxy_destroy. */
gohttp_proxy *gohttp_proxy_new(uint32_t max_slots);

/* Free the table. Live handles are abandoned (their payloads are the
 * caller's); no thread may be using the table. NULL is ignored. */
void gohttp_proxy_destroy(gohttp_proxy *p);

/* Register payload and return its handle, or 0 when the table is full, out
 * of memory, or p is NULL. The table does not own the payload. */
uint64_t gohttp_proxy_ref(gohttp_proxy *p, uintptr_t payload);

/* Look up h. On success stores its payload in *payload, takes one
 * use-reference (give it back with gohttp_proxy_release) and returns 0.
 * A stale, freed, forged or 0 handle, or one being freed, returns
 * GOHTTP_PROXY_ESTALE and leaves *payload untouched. */
int gohttp_proxy_deref(gohttp_proxy *p, uint64_t h, uintptr_t *payload);

/* Give back one use-reference taken by a successful deref of h. h still
 * matches while a free of it waits for its uses. Releasing without a
 * matching deref (a 0, forged or stale handle, or one release too many) is
 * ignored, never applied to another handle's uses; a build with
 * -DGOHTTP_PROXY_DEBUG aborts on it instead. */
void gohttp_proxy_release(gohttp_proxy *p, uint64_t h);

/* Free h: new derefs fail at once, then wait until every in-flight
 * use-reference is released, store the payload in *payload (if not NULL)
 * and return 0. The caller now owns the payload again. A second free of the
 * same handle, or of a stale/forged/0 handle, returns GOHTTP_PROXY_ESTALE.
 * Must not be called by a thread that itself holds a use-reference on h
 * (it would wait on itself). */
int gohttp_proxy_free(gohttp_proxy *p, uint64_t h, uintptr_t *payload);

/* Number of live (referenced, not yet freed) handles. */
size_t gohttp_proxy_live(const gohttp_proxy *p);

#ifdef __cplusplus
}
#endif

#endif /* GOHTTP_PROXY_H */
