/*
 * dispatch.c - the handle tables, the handler trampolines, and the
 * thread-local "which server's push handler is this thread running" marker.
 *
 * cgo cannot call a C function pointer, so Go calls these trampolines with
 * the pointer as an argument. The trampoline runs on the OS thread of the
 * calling goroutine, and every callback the handler makes into the library
 * runs on that same thread; that is what makes the thread-local marker
 * below a correct answer to "is gohttp_wait being called from inside one of
 * this server's handlers".
 */
#include <pthread.h>

#include "gohttp_internal.h"

/* Bounds on live handles. Live exchanges are at most the sum of
 * max_handlers over live servers, which the options allow up to 4096 x
 * 65536 = 2^28; the table holds 2^20 (1048576), and a request that finds
 * it full is answered 503 ("handle table full", lib/dispatch.go) without
 * reaching its handler. */
#define GOHTTP_MAX_SERVERS 4096u
#define GOHTTP_MAX_EXCHANGES (1u << 20)

/* Servers and exchanges live in two tables, and each table numbers its
 * handles the same way: the first server and the first exchange would both
 * be 0x100000001, so a server handle passed as a response handle would
 * reach a live response. Server handles therefore carry a type tag, bit 31
 * (the top bit of the proxy's index field, which neither table can reach
 * with the bounds above): a handle with the tag is never an exchange, one
 * without it is never a server. A raw handle that already has the bit set
 * (a proxy layout change) is refused at creation, never mis-tagged. */
#define SERVER_TAG ((uint64_t)1 << 31)
_Static_assert(GOHTTP_MAX_SERVERS < SERVER_TAG && GOHTTP_MAX_EXCHANGES < SERVER_TAG,
               "no table index reaches the server tag bit");

/* Every failed proxy lookup or free is answered GOHTTP_ESTALE (stale()
 * below), whatever the proxy returned; its codes are equal to the public
 * ones anyway, so a code that escaped unmapped would still mean the same. */
_Static_assert(GOHTTP_PROXY_ESTALE == GOHTTP_ESTALE, "proxy ESTALE is GOHTTP_ESTALE");
_Static_assert(GOHTTP_PROXY_EINVAL == GOHTTP_EINVAL, "proxy EINVAL is GOHTTP_EINVAL");

static gohttp_proxy *servers;
static gohttp_proxy *exchanges;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    /* Owner: the library, for the life of the process (never destroyed:
     * the Go runtime inside this library cannot be unloaded either). */
    servers = gohttp_proxy_new(GOHTTP_MAX_SERVERS);
    exchanges = gohttp_proxy_new(GOHTTP_MAX_EXCHANGES);
}

static gohttp_proxy *server_table(void)
{
    pthread_once(&tables_once, tables_init);
    return servers;
}

gohttp_proxy *gohttp__exchanges(void)
{
    pthread_once(&tables_once, tables_init);
    return exchanges;
}

static int stale(void)
{
    static const char msg[] = "stale, freed, forged or 0 handle";
    gohttp__count_stale();
    gohttp__set_last_error(msg, sizeof msg - 1);
    return GOHTTP_ESTALE;
}

uint64_t gohttp__server_ref(uintptr_t payload)
{
    gohttp_proxy *t = server_table();
    if (GOHTTP_FAULT(GOHTTP_FAULT_SERVER_REF))
        return 0; /* as a full table or a failed page allocation */
    uint64_t raw = gohttp_proxy_ref(t, payload);
    if (raw == 0)
        return 0;
    if (raw & SERVER_TAG) {
        gohttp_proxy_free(t, raw, NULL);
        return 0;
    }
    return raw | SERVER_TAG;
}

int gohttp__server_deref(uint64_t h, uintptr_t *payload)
{
    gohttp_proxy *t = server_table();
    if (t == NULL || !(h & SERVER_TAG) || gohttp_proxy_deref(t, h & ~SERVER_TAG, payload) != 0)
        return stale();
    return GOHTTP_OK;
}

void gohttp__server_release(uint64_t h)
{
    gohttp_proxy_release(server_table(), h & ~SERVER_TAG);
}

int gohttp__server_free(uint64_t h)
{
    gohttp_proxy *t = server_table();
    if (t == NULL || !(h & SERVER_TAG) || gohttp_proxy_free(t, h & ~SERVER_TAG, NULL) != 0)
        return stale();
    return GOHTTP_OK;
}

uint64_t gohttp__exchange_ref(uintptr_t payload)
{
    gohttp_proxy *t = gohttp__exchanges();
    if (GOHTTP_FAULT(GOHTTP_FAULT_EXCHANGE_REF))
        return 0; /* as a full table or a failed page allocation */
    uint64_t h = gohttp_proxy_ref(t, payload);
    if (h & SERVER_TAG) {
        gohttp_proxy_free(t, h, NULL);
        return 0;
    }
    return h;
}

int gohttp__exchange_deref(uint64_t h, uintptr_t *payload)
{
    gohttp_proxy *t = gohttp__exchanges();
    if (t == NULL || (h & SERVER_TAG) || gohttp_proxy_deref(t, h, payload) != 0)
        return stale();
    return GOHTTP_OK;
}

void gohttp__exchange_release(uint64_t h)
{
    gohttp_proxy_release(gohttp__exchanges(), h);
}

int gohttp__exchange_free(uint64_t h)
{
    gohttp_proxy *t = gohttp__exchanges();
    if (t == NULL || (h & SERVER_TAG) || gohttp_proxy_free(t, h, NULL) != 0)
        return stale();
    return GOHTTP_OK;
}

uintptr_t gohttp__exchange_acquire(uint64_t h)
{
    uintptr_t payload = 0;
    if (gohttp__exchange_deref(h, &payload) != GOHTTP_OK)
        return 0;
    return payload;
}

/* Contract in gohttp.h. The use-reference is taken and given back here,
 * in C, on the calling thread; the Go half runs between the two, recovers
 * its own panics and never keeps buf. */
#ifdef GOHTTP_PLANT_SHIM_RACE
/* Planted bug (audit self-test only): a tally of write calls updated with
 * a plain read-modify-write from every writing thread; TSan must report
 * the data race in gohttp_write (check_shim's concurrent writers). */
static volatile long plant_write_calls;
#endif

int64_t gohttp_write(gohttp_handle w, const void *buf, int64_t len)
{
#ifdef GOHTTP_PLANT_SHIM_RACE
    plant_write_calls = plant_write_calls + 1;
#endif
    uintptr_t ex = gohttp__exchange_acquire(w);
    if (ex == 0)
        return GOHTTP_ESTALE;
    int64_t rc = gohttp__go_write(ex, buf, len);
    gohttp__exchange_release(w);
    return rc;
}

/* Contracts in gohttp.h; the Go half keeps userdata as an integer. */
int gohttp_route(gohttp_server s, const char *pattern, gohttp_handler fn,
                 void *userdata)
{
    return gohttp__route(s, pattern, fn, (uintptr_t)userdata, 0);
}

int gohttp_route_queue(gohttp_server s, const char *pattern, void *userdata)
{
    return gohttp__route(s, pattern, NULL, (uintptr_t)userdata, 1);
}

gohttp__request_start gohttp__request_begin(size_t size, uintptr_t payload)
{
    gohttp__request_start r = {NULL, 0};
    /* Owner of both: the calling request goroutine (lib/dispatch.go
     * route.serve), which gives them back in gohttp__request_end. */
    r.arena = gohttp__arena_new(size);
    if (r.arena != NULL)
        r.handle = gohttp__exchange_ref(payload);
    return r;
}

void gohttp__request_end(uint64_t h, void *arena, int served)
{
    /* Handle first: once its free returns no callback can be running on
     * the exchange, so nothing the library does can still touch the arena
     * (the handler itself has returned, or called gohttp_done). */
    if (h != 0)
        gohttp__exchange_free(h);
#ifdef GOHTTP_PLANT_FAULT_LEAK
    /* Planted bug (audit self-test only): a request whose handle could not
     * be made (the 503 "handle table full" path) keeps its arena; the
     * fault-injection driver (make faults) must see live_arenas stay up. */
    if (h == 0)
        return;
#endif
    gohttp__arena_free(arena);
    if (served)
        gohttp__count_served();
}

/* The server whose handler this thread is running (push); 0 for none.
 * A push handler starts and returns on the same thread, so a thread-local
 * is exact here. Pull mode cannot use one (gohttp_done may come from
 * another thread, and one thread may hold exchanges of several servers):
 * it is counted per taker thread id in Go (lib/pull.go). */
static __thread uint64_t push_server;

void gohttp__call_handler(gohttp_handler fn, gohttp_handle w,
                          const gohttp_request *req, uintptr_t userdata,
                          uint64_t server)
{
    uint64_t outer = push_server; /* a handler may serve a nested server */
    push_server = server;
    fn(w, req, (void *)userdata);
    push_server = outer;
}

void gohttp__call_seed(FuncPtr *fn, ResponseWriterPtr w, Request *req,
                       uint64_t server)
{
    uint64_t outer = push_server;
    push_server = server;
    fn(w, req);
    push_server = outer;
}

int gohttp__thread_serves(uint64_t server)
{
    return server != 0 && push_server == server;
}
