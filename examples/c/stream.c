/*
 * stream.c - a gohttp.h example: a chunked response written piece by
 * piece, each piece pushed to the client with gohttp_flush before the next
 * is produced (what a progress feed or server-sent events need).
 *
 *   stream [ADDR]      ADDR defaults to 127.0.0.1:0 (a free port)
 *
 * GET /?chunks=N&delay_ms=D sends N lines ("chunk i of N\n", default 5,
 * at most 1000), D milliseconds apart (default 100, at most 2000).
 * Prints "listening on port N" once serving. SIGINT or SIGTERM shuts it
 * down gracefully; the exit status is 0 only if every live counter of the
 * library is back to zero.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gohttp.h"
#include "serve_until_signal.h"

/* Value of integer parameter name in query (len bytes, not
 * NUL-terminated), clamped to [0, max]; fallback when absent or not a
 * number. */
static long query_long(const char *query, size_t len, const char *name,
                       long fallback, long max)
{
    size_t name_len = strlen(name);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && query[end] != '&')
            end++;
        if (end - i > name_len && query[i + name_len] == '=' &&
            memcmp(query + i, name, name_len) == 0) {
            long v = 0;
            size_t j = i + name_len + 1;
            if (j == end)
                return fallback;
            for (; j < end; j++) {
                if (query[j] < '0' || query[j] > '9')
                    return fallback;
                if (v <= max)
                    v = v * 10 + (query[j] - '0');
            }
            return v > max ? max : v;
        }
        i = end + 1;
    }
    return fallback;
}

/* The handler: no Content-Length is set, so each flush goes out as one
 * HTTP/1.1 chunk. */
static void stream(gohttp_handle w, const gohttp_request *req, void *userdata)
{
    (void)userdata;
    long chunks = query_long(req->raw_query, req->raw_query_len, "chunks", 5,
                             1000);
    long delay_ms = query_long(req->raw_query, req->raw_query_len,
                               "delay_ms", 100, 2000);
    static const char ctype[] = "text/plain; charset=utf-8";
    gohttp_set_header(w, "Content-Type", 12, ctype, sizeof ctype - 1);
    gohttp_write_header(w, 200);
    for (long i = 1; i <= chunks; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "chunk %ld of %ld\n", i, chunks);
        /* A failed write or flush means the client left: stop producing. */
        if (gohttp_write(w, line, n) != n || gohttp_flush(w) != 0)
            return;
        if (i < chunks && delay_ms > 0) {
            struct timespec nap = { delay_ms / 1000,
                                    (delay_ms % 1000) * 1000000L };
            nanosleep(&nap, NULL);
        }
    }
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:0";
    /* In-flight streams get up to 3 s (a full default stream is 0.4 s). */
    return serve_one_route(addr, "GET /", stream, 3000);
}
