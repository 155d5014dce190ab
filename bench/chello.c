/*
 * chello.c - make bench's "gohttp with a C handler": the seed's hello
 * handler registered with gohttp_route (push mode, Go threads call it).
 *
 *   chello PORT
 *
 * Prints "listening on http://127.0.0.1:PORT/" once bound; SIGINT/SIGTERM
 * start a graceful shutdown, then the server is waited for and freed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gohttp.h"

static volatile sig_atomic_t stop_requested;

/* Signal handler: only records the request; main polls it. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

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
    char addr[64];
    gohttp_server s;
    int port, rc;
    struct sigaction sa;

    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
    if (gohttp_server_new(NULL, &s) != 0 ||
        gohttp_route(s, "/", hello, NULL) != 0) {
        fprintf(stderr, "chello: setup: %s\n", gohttp_last_error());
        return 1;
    }
    port = gohttp_start(s, addr);
    if (port < 0) {
        fprintf(stderr, "chello: %s: %s\n", gohttp_strerror(port),
                gohttp_last_error());
        gohttp_free(s);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("listening on http://127.0.0.1:%d/\n", port);
    fflush(stdout);
    while (!stop_requested)
        gohttp_wait(s, 200);
    gohttp_shutdown(s, 5000);
    rc = gohttp_wait(s, 10000);
    if (rc == 0)
        gohttp_free(s);
    return rc == 0 ? 0 : 1;
}
