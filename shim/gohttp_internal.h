/*
 * gohttp_internal.h - the shim's internal surface, shared by the shim C files and
 * the Go package in lib/ (through its cgo preamble). Not installed.
 *
 * Everything here is prefixed gohttp__ (two underscores) so it can never
 * collide with the public gohttp_ API.
 */
#ifndef GOHTTP_INTERNAL_H
#define GOHTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gohttp.h"
#include "gohttplib.h"
#include "proxy.h"

/* Internal functions are linked into libgohttp but not exported from it:
 * hidden visibility keeps them out of the .so's dynamic symbol table, and
 * the library's linker version script (mk/core.mk) makes cgo's wrappers of
 * them local too, so no program can come to depend on them. */
#define GOHTTP_INTERNAL __attribute__((visibility("hidden")))

/* cgo cannot spell "const T *" in a Go signature. An //export whose C
 * prototype in gohttp.h takes a const pointer declares its Go parameter
 * with one of these typedefs, so the prototype cgo generates is identical
 * to the public one and _cgo_export.c (which sees both) fails to compile if
 * they ever drift apart. */
typedef const char gohttp__cchar;
typedef const void gohttp__cvoid;
typedef const gohttp_options gohttp__coptions;
typedef const gohttp_header gohttp__cheader;

/* ---- fault injection (faults.c, test builds only) ------------------------ */

/* The allocation points that cross the boundary. In a build with
 * GOHTTP_FAULTS (set only by lib/faults.go, i.e. go test -tags gohttp_test)
 * each point calls gohttp__fault, which counts it and answers 1 when this
 * call is the armed one: the point then fails as if its allocation had.
 * Without GOHTTP_FAULTS, GOHTTP_FAULT(p) is the constant 0 and faults.c is
 * empty, so the shipped library holds neither code nor symbol of it. The
 * Go points (token table, handler slots) call lib/faults.go's faultFail,
 * a constant false in the shipped build (lib/faults_off.go). */
enum gohttp__fault_point {
    GOHTTP_FAULT_ARENA = 0,     /* gohttp__arena_new: the request arena     */
    GOHTTP_FAULT_EXCHANGE_REF,  /* gohttp__exchange_ref: exchange table     */
    GOHTTP_FAULT_SERVER_REF,    /* gohttp__server_ref: server table         */
    GOHTTP_FAULT_BELL,          /* gohttp__bell_new: the pull doorbell      */
    GOHTTP_FAULT_PROXY_PAGE,    /* proxy.c page/table calloc (its hook)     */
    GOHTTP_FAULT_TOKEN,         /* lib/tokens.go put: token table           */
    GOHTTP_FAULT_SLOT,          /* lib/server.go takeSlot: handler slots    */
    GOHTTP_FAULT_NPOINTS
};

#ifdef GOHTTP_FAULTS
/* Counts one call at point p; 1 if it must fail. */
GOHTTP_INTERNAL int gohttp__fault(int p);
/* Start a run: forget the counts, fail the nth call from now (0: none). */
GOHTTP_INTERNAL void gohttp__fault_arm(int64_t nth);
/* Calls counted since the last arm; with seq non-NULL, the points of the
 * first cap calls in order. */
GOHTTP_INTERNAL int64_t gohttp__fault_calls(int *seq, int64_t cap);
/* 1 once the armed call has been failed. */
GOHTTP_INTERNAL int gohttp__fault_fired(void);
/* The proxy's allocator in this build (GOHTTP_PROXY_CALLOC, lib/c_proxy.c). */
GOHTTP_INTERNAL void *gohttp__fault_calloc(size_t n, size_t size);
#define GOHTTP_FAULT(p) gohttp__fault(p)
#else
#define GOHTTP_FAULT(p) 0
#endif

/* ---- handles (dispatch.c) ------------------------------------------------ */

/* The process-wide exchange table (for gohttp_stats' live_handles),
 * created on first use and never destroyed (the library cannot be unloaded
 * safely: it contains the Go runtime). NULL only if creation ran out of
 * memory. */
GOHTTP_INTERNAL gohttp_proxy *gohttp__exchanges(void);

/* Typed wrappers over the two proxy tables. Server handles carry a type tag
 * so a server handle is never accepted as an exchange handle or the other
 * way round (see dispatch.c). ref: the handle, or 0 when the table is full
 * or out of memory. deref: 0 and a use-reference, or GOHTTP_ESTALE after
 * counting the rejection in stale_rejections and setting the thread's last
 * error. free: waits for in-flight uses; 0 or GOHTTP_ESTALE (counted). */
GOHTTP_INTERNAL uint64_t gohttp__server_ref(uintptr_t payload);
GOHTTP_INTERNAL int gohttp__server_deref(uint64_t h, uintptr_t *payload);
GOHTTP_INTERNAL void gohttp__server_release(uint64_t h);
GOHTTP_INTERNAL int gohttp__server_free(uint64_t h);
GOHTTP_INTERNAL uint64_t gohttp__exchange_ref(uintptr_t payload);
GOHTTP_INTERNAL int gohttp__exchange_deref(uint64_t h, uintptr_t *payload);
GOHTTP_INTERNAL void gohttp__exchange_release(uint64_t h);
GOHTTP_INTERNAL int gohttp__exchange_free(uint64_t h);

/* gohttp__exchange_deref for the hot path: the payload itself, or 0 for a
 * stale, freed, forged or 0 handle (counted and last error set, as deref).
 * Exchange payloads are never 0 (lib/tokens.go starts at 1), and no
 * out-pointer means cgo need not move a Go variable to the heap for it.
 * On success the caller owns one use-reference: gohttp__exchange_release. */
GOHTTP_INTERNAL uintptr_t gohttp__exchange_acquire(uint64_t h);

/* The Go half of gohttp_write (lib/exchange.go). gohttp_write itself is C
 * (dispatch.c): it holds the use-reference on the handle around this call,
 * so the hottest callback crosses into Go once instead of crossing back
 * twice more for deref and release. ex is the handle's payload. Hidden
 * here so the Go export stays out of the library's dynamic symbols. */
GOHTTP_INTERNAL int64_t gohttp__go_write(uintptr_t ex, gohttp__cvoid *buf, int64_t len);

/* gohttp_route and gohttp_route_queue (lib/server.go): userdata as the
 * integer it may well be, never as a pointer Go would have to hold. */
int gohttp__route(gohttp_server s, gohttp__cchar *pattern, gohttp_handler fn,
                  uintptr_t userdata, int pull);

/* ---- pull-mode waits (doorbell.c) --------------------------------------- */

/* One per server: gohttp_next callers wait on it in C, never inside Go
 * (see doorbell.c for the protocol and the lifetime). */
typedef struct gohttp__bell gohttp__bell;
GOHTTP_INTERNAL gohttp__bell *gohttp__bell_new(void);
GOHTTP_INTERNAL uint64_t gohttp__bell_enter(gohttp__bell *b);
GOHTTP_INTERNAL void gohttp__bell_leave(gohttp__bell *b);
/* Waits until the ring count moves past seen, the bell closes, or
 * timeout_ms (-1: no limit) passes, then leaves; 1 if the bell closed. */
GOHTTP_INTERNAL int gohttp__bell_wait(gohttp__bell *b, uint64_t seen, int64_t timeout_ms);
/* A request was queued: wake one waiter. */
GOHTTP_INTERNAL void gohttp__bell_ring(gohttp__bell *b);
/* The server stopped: wake every waiter, and every later wait ends. */
GOHTTP_INTERNAL void gohttp__bell_close(gohttp__bell *b);
GOHTTP_INTERNAL void gohttp__bell_destroy(gohttp__bell *b);

/* The Go half of gohttp_next (lib/pull.go): takes a queued exchange
 * without waiting. GOHTTP_ETIMEDOUT with *bell set means "nothing yet":
 * the caller is registered on *bell (ring count *seen) and must wait on
 * it or leave it. yield != 0: first pass through Go's scheduler (see
 * gohttp_next in shim/doorbell.c). */
int gohttp__next_poll(gohttp_server s, int64_t timeout_ms, gohttp_exchange *out,
                      gohttp__bell **bell, uint64_t *seen, int yield);
/* GOHTTP_ETIMEDOUT / GOHTTP_ECLOSED with the last error set, for a wait
 * that ran out / a bell closed by the server's stop. */
int gohttp__next_timed_out(int64_t timeout_ms);
int gohttp__next_closed(void);

/* ---- request begin / end (dispatch.c) ---------------------------------- */

/* What gohttp__request_begin made: arena NULL when out of memory (then
 * handle is 0 too); handle 0 when the exchange table is full (the arena is
 * still the caller's to end). */
typedef struct gohttp__request_start {
    void *arena;
    uint64_t handle;
} gohttp__request_start;

/* Steps 3-4 of a request in one cgo crossing: gohttp__arena_new(size),
 * then, if that worked, gohttp__exchange_ref(payload). Returned by value
 * so Go passes no pointer. The caller owns both and gives them back with
 * ONE gohttp__request_end, from its deferred cleanup. */
GOHTTP_INTERNAL gohttp__request_start gohttp__request_begin(size_t size, uintptr_t payload);

/* Step 6 in one cgo crossing, in the order safety needs: free handle h (if
 * not 0; waits for in-flight use-references on other threads, stale from
 * that instant), THEN free arena (NULL is ignored), then count one served
 * request if served is not 0. */
GOHTTP_INTERNAL void gohttp__request_end(uint64_t h, void *arena, int served);

/* ---- trampolines (dispatch.c) ------------------------------------------ */

/* Call a gohttp_handler / seed FuncPtr (cgo cannot call C function pointers).
 * While fn runs, the calling thread's "current server" is server, so
 * gohttp_wait on that server from inside fn can answer GOHTTP_EDEADLK. */
GOHTTP_INTERNAL void gohttp__call_handler(gohttp_handler fn, gohttp_handle w,
                          const gohttp_request *req, uintptr_t userdata,
                          uint64_t server);
GOHTTP_INTERNAL void gohttp__call_seed(FuncPtr *fn, ResponseWriterPtr w, Request *req,
                       uint64_t server);

/* 1 if the calling thread is inside a push handler of server (the
 * trampolines above mark it). Pulled exchanges are counted per taker
 * thread on the Go side (server.pullOpen in lib/pull.go), not here. */
GOHTTP_INTERNAL int gohttp__thread_serves(uint64_t server);

/* ---- errors (errors.c) -------------------------------------------------- */

/* Copy msg[0..len) into the calling thread's last-error buffer, truncated
 * to fit and NUL-terminated. msg need not be NUL-terminated (Go strings). */
GOHTTP_INTERNAL void gohttp__set_last_error(const char *msg, size_t len);

/* ---- counters (counters.c) ---------------------------------------------- */

GOHTTP_INTERNAL void gohttp__count_server(int64_t delta);
GOHTTP_INTERNAL void gohttp__count_served(void);
GOHTTP_INTERNAL void gohttp__count_stale(void);
GOHTTP_INTERNAL void gohttp__count_panic(void);

/* Live entries of the Go token table and live runtime/cgo.Handles of
 * servers (lib/tokens.go, Go exports). */
int64_t gohttp__live_tokens(void);
int64_t gohttp__live_go_handles(void);

/* ---- the request arena (arena.c) ---------------------------------------- */

/* One malloc holding a request view and every byte it points to. Returns
 * size usable bytes, 16-byte aligned, or NULL when out of memory. Counted in
 * live_arenas / arena_bytes until gohttp__arena_free. Owner: the Go request
 * goroutine that made it (lib/dispatch.go), which frees it in a defer. */
GOHTTP_INTERNAL void *gohttp__arena_new(size_t size);

/* Tallies for gohttp_stats: arenas not yet freed and their usable bytes. */
GOHTTP_INTERNAL int64_t gohttp__arena_live(void);
GOHTTP_INTERNAL int64_t gohttp__arena_bytes(void);

/* Free an arena from gohttp__arena_new. NULL is ignored. */
GOHTTP_INTERNAL void gohttp__arena_free(void *arena);

/* Header slot the planted cgocheck2 bug writes a Go pointer into (build tag
 * plant_cgoptr); otherwise always NULL and unused. */
GOHTTP_INTERNAL void **gohttp__arena_owner_slot(void *arena);

#endif /* GOHTTP_INTERNAL_H */
