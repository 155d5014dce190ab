/*
 * cpull.c - make bench's "gohttp, C pull loop": the hello answered by one
 * host thread through the pull API (gohttp_route_queue, gohttp_next,
 * gohttp_respond, gohttp_done), the same hand-off the Python package's
 * default dispatch makes, with no Python in it. Its row against the
 * Python rows shows what Python adds; against the C handler row (push)
 * what the hand-off between a request goroutine and a host thread costs.
 *
 *   cpull PORT
 *
 * Prints "listening on http://127.0.0.1:PORT/" once bound; SIGINT/SIGTERM
 * start a graceful shutdown: the loop keeps taking exchanges until
 * gohttp_next answers GOHTTP_ECLOSED, then the server is waited for and
 * freed.
 */
#include "host.h"

int main(int argc, char **argv)
{
    static const gohttp_header headers[] = {
        {"Content-Type", 12, "text/plain", 10},
        {"Content-Length", 14, "14", 2},
    };
    static const char msg[] = "Hello, world.\n";
    gohttp_server s;
    gohttp_exchange ex;
    int rc, stopping = 0;

    if (gohttp_server_new(NULL, &s) != 0) {
        fprintf(stderr, "cpull: server: %s\n", gohttp_last_error());
        return 1;
    }
    if (gohttp_route_queue(s, "/", NULL) != 0) {
        fprintf(stderr, "cpull: route: %s\n", gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    if (bench_host_start(s, "cpull", argc > 1 ? argv[1] : NULL) != 0)
        return 1;
    for (;;) {
        if (stop_requested && !stopping) {
            gohttp_shutdown(s, 5000);
            stopping = 1;
        }
        rc = gohttp_next(s, 200, &ex);
        if (rc == GOHTTP_ETIMEDOUT)
            continue;
        if (rc != GOHTTP_OK)
            break; /* GOHTTP_ECLOSED: stopped, nothing left to take */
        if (gohttp_respond(ex.w, 200, headers, 2, msg, (int64_t)(sizeof msg - 1)) < 0)
            fprintf(stderr, "cpull: respond: %s\n", gohttp_last_error());
        gohttp_done(ex.w);
    }
    if (rc != GOHTTP_ECLOSED) {
        fprintf(stderr, "cpull: next: %s\n", gohttp_strerror(rc));
        if (!stopping)
            gohttp_shutdown(s, 5000);
    }
    rc = gohttp_wait(s, 10000);
    if (rc == 0)
        gohttp_free(s);
    return rc == 0 ? 0 : 1;
}
