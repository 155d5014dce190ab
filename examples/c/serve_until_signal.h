/*
 * serve_until_signal.h - the shutdown sequence the gohttp.h examples share:
 * SIGINT/SIGTERM -> graceful shutdown -> wait -> free -> counters check.
 *
 * Why a self-pipe: the Go runtime inside libgohttp owns threads whose
 * signal masks this program does not control, so sigwait() in one thread
 * cannot be relied on to receive the signal. A handler (installed with
 * SA_ONSTACK, as Go requires of C handlers in a process it shares) may run
 * on any thread; it only writes one byte to a pipe, which is
 * async-signal-safe, and the main thread does the real work.
 */
#ifndef GOHTTP_EXAMPLES_SERVE_UNTIL_SIGNAL_H
#define GOHTTP_EXAMPLES_SERVE_UNTIL_SIGNAL_H

#include <stdint.h>

#include "gohttp.h"

/* Install the SIGINT/SIGTERM handlers. Call before gohttp_start so a
 * signal that arrives right after the port is printed is not lost.
 * Returns 0, or -1 with a message on stderr. */
int signals_install(void);

/* Block until SIGINT or SIGTERM, then shut s down (in-flight handlers get
 * shutdown_timeout_ms), wait for it, free it and print the counters on
 * stdout. Returns the process exit status: 0 when every step succeeded
 * and every live counter (handles, servers, arenas, arena bytes) is zero,
 * 1 otherwise. s is freed (stale) afterwards whenever the wait succeeded. */
int serve_until_signal(gohttp_server s, int64_t shutdown_timeout_ms);

/* The whole life of a one-route example server: create it, route pattern
 * to fn, install the signal handlers, start on addr, print "listening on
 * port N" on stdout, then serve_until_signal(s, shutdown_timeout_ms).
 * Returns the process exit status (1 with a message on stderr when a step
 * before serving fails; the server is freed on those paths). */
int serve_one_route(const char *addr, const char *pattern, gohttp_handler fn,
                    int64_t shutdown_timeout_ms);

/* Print the process-wide counters on one line prefixed by label and
 * return 1 if any live counter is not zero (or stats failed), else 0. */
int report_counters(const char *label);

#endif /* GOHTTP_EXAMPLES_SERVE_UNTIL_SIGNAL_H */
