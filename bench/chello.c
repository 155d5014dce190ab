/*
 * chello.c - make bench's "gohttp with a C handler": the seed's hello
 * handler registered with gohttp_route (push mode, Go threads call it).
 *
 *   chello PORT
 *
 * Prints "listening on http://127.0.0.1:PORT/" once bound; SIGINT/SIGTERM
 * start a graceful shutdown, then the server is waited for and freed.
 */
#include "host.h"

/* The hello handler: one write of a static buffer (the library copies). */
static void hello(gohttp_handle w, const gohttp_request *req, void *userdata)
{
    static const char msg[] = "Hello, world.\n";
    (void)req;
    (void)userdata;
    gohttp_write(w, msg, (int64_t)(sizeof msg - 1));
}

int main(int argc, char **argv)
{
    gohttp_server s;
    int rc;

    if (gohttp_server_new(NULL, &s) != 0) {
        fprintf(stderr, "chello: server: %s\n", gohttp_last_error());
        return 1;
    }
    if (gohttp_route(s, "/", hello, NULL) != 0) {
        fprintf(stderr, "chello: route: %s\n", gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    if (bench_host_start(s, "chello", argc > 1 ? argv[1] : NULL) != 0)
        return 1;
    while (!stop_requested)
        gohttp_wait(s, 200);
    gohttp_shutdown(s, 5000);
    rc = gohttp_wait(s, 10000);
    if (rc == 0)
        gohttp_free(s);
    return rc == 0 ? 0 : 1;
}
