/*
 * counters.c - the process-wide live-object counters of gohttp_stats.
 *
 * Plain int64 cells updated with relaxed atomics: each is an independent
 * tally, no other memory is published through them, so no ordering is
 * needed. live_handles is not stored here: it is read from the exchange
 * table itself, which cannot disagree with the handles it holds.
 */
#include "gohttp_internal.h"

static int64_t live_servers;
static int64_t requests_served;
static int64_t stale_rejections;
static int64_t panics_recovered;
static int64_t host_wait_ns;


void gohttp__count_server(int64_t delta)
{
#ifdef GOHTTP_PLANT_COUNTER_SKIP
    /* Planted bug (audit self-test only): a freed server is not counted
     * down, so live_servers never returns to zero; the after-every-test
     * counter assertions of make test must fail. */
    if (delta < 0)
        return;
#endif
    __atomic_add_fetch(&live_servers, delta, __ATOMIC_RELAXED);
}

void gohttp__count_served(void)
{
    __atomic_add_fetch(&requests_served, 1, __ATOMIC_RELAXED);
}

void gohttp__count_stale(void)
{
    __atomic_add_fetch(&stale_rejections, 1, __ATOMIC_RELAXED);
}

void gohttp__count_panic(void)
{
    __atomic_add_fetch(&panics_recovered, 1, __ATOMIC_RELAXED);
}

/* Contract in gohttp.h. */
void gohttp_note_host_wait(int64_t ns)
{
    if (ns > 0)
        __atomic_add_fetch(&host_wait_ns, ns, __ATOMIC_RELAXED);
}

/* A snapshot: each field is read atomically, the set is not (counters of
 * a busy server move while they are read). GOHTTP_EINVAL for NULL, with
 * its own last error. */
int gohttp_stats(gohttp_counters *out)
{
    if (out == NULL) {
        static const char msg[] = "gohttp_stats: out is NULL";
        gohttp__set_last_error(msg, sizeof msg - 1);
        return GOHTTP_EINVAL;
    }
    gohttp_proxy *ex = gohttp__exchanges();
    out->live_handles = ex ? (int64_t)gohttp_proxy_live(ex) : 0;
    out->live_servers = __atomic_load_n(&live_servers, __ATOMIC_RELAXED);
    out->live_arenas = gohttp__arena_live();
    out->arena_bytes = gohttp__arena_bytes();
    out->requests_served = __atomic_load_n(&requests_served, __ATOMIC_RELAXED);
    out->stale_rejections = __atomic_load_n(&stale_rejections, __ATOMIC_RELAXED);
    out->panics_recovered = __atomic_load_n(&panics_recovered, __ATOMIC_RELAXED);
    out->live_tokens = gohttp__live_tokens();
    out->live_go_handles = gohttp__live_go_handles();
    out->host_wait_ns = __atomic_load_n(&host_wait_ns, __ATOMIC_RELAXED);
    return GOHTTP_OK;
}

/* The GOHTTP_DEFAULT_* values of gohttp.h; lib/options.go applies the same
 * ones to zero fields. */
void gohttp_options_init(gohttp_options *opts)
{
    if (opts == NULL)
        return;
    opts->read_header_timeout_ms = GOHTTP_DEFAULT_READ_HEADER_TIMEOUT_MS;
    opts->idle_timeout_ms = GOHTTP_DEFAULT_IDLE_TIMEOUT_MS;
    opts->write_timeout_ms = GOHTTP_DEFAULT_WRITE_TIMEOUT_MS;
    opts->max_header_bytes = GOHTTP_DEFAULT_MAX_HEADER_BYTES;
    opts->max_body_bytes = GOHTTP_DEFAULT_MAX_BODY_BYTES;
    opts->max_handlers = GOHTTP_DEFAULT_MAX_HANDLERS;
    opts->queue_timeout_ms = GOHTTP_DEFAULT_QUEUE_TIMEOUT_MS;
    opts->reuse_port = GOHTTP_DEFAULT_REUSE_PORT;
    opts->limit_request_line = GOHTTP_DEFAULT_LIMIT_REQUEST_LINE;
    opts->limit_request_fields = GOHTTP_DEFAULT_LIMIT_REQUEST_FIELDS;
    opts->limit_request_field_size = GOHTTP_DEFAULT_LIMIT_REQUEST_FIELD_SIZE;
    opts->body_read_timeout_ms = GOHTTP_DEFAULT_BODY_READ_TIMEOUT_MS;
    opts->send_timeout_ms = GOHTTP_DEFAULT_SEND_TIMEOUT_MS;
    opts->max_connections = GOHTTP_DEFAULT_MAX_CONNECTIONS;
    opts->certfile = NULL;
    opts->keyfile = NULL;
    opts->h2c = 0;
    opts->access_log = NULL;
    opts->forwarded_allow_ips = NULL;
    opts->metrics_bind = NULL;
}
