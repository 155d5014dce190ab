/*
 * host.h - what make bench's two C hosts (chello.c, cpull.c) share: start
 * a server that has its route on 127.0.0.1:PORT, take SIGINT/SIGTERM as a
 * stop request, say where it listens.
 */
#ifndef GOHTTP_BENCH_HOST_H
#define GOHTTP_BENCH_HOST_H

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "gohttp.h"

static volatile sig_atomic_t stop_requested;

/* Signal handler: only records the request; the host polls it. */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Start s on 127.0.0.1:port_arg ("0" when NULL), install the stop
 * handlers and print "listening on http://127.0.0.1:PORT/". 0, or 1 after
 * an error message (s is freed then). */
static int bench_host_start(gohttp_server s, const char *name, const char *port_arg)
{
    char addr[64];
    struct sigaction sa;
    int port;

    snprintf(addr, sizeof addr, "127.0.0.1:%s", port_arg ? port_arg : "0");
    port = gohttp_start(s, addr);
    if (port < 0) {
        fprintf(stderr, "%s: %s: %s\n", name, gohttp_strerror(port),
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
    return 0;
}

#endif
