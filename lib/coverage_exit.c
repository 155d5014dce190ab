//go:build gohttp_coverage

// make coverage only (see coverage_dump.go): when the library is loaded,
// register the Go function that writes Go's coverage data to run at the
// process's exit (atexit handlers run last-registered first, so after the
// host's own).
//
// The Go function runs on a thread of its own: the thread that calls
// exit() may have had its signal stack taken away by then (Python's
// faulthandler removes its sigaltstack when the interpreter finalizes),
// and Go code on a thread without one dies on the next signal ("non-Go
// code disabled sigaltstack"). A new thread gets a signal stack from Go.
#include <pthread.h>
#include <stdlib.h>

extern void gohttpCoverageAtExit(void);

static void *gohttp_coverage_write(void *arg)
{
    (void)arg;
    gohttpCoverageAtExit();
    return NULL;
}

static void gohttp_coverage_at_exit(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, gohttp_coverage_write, NULL) == 0)
        pthread_join(t, NULL);
}

__attribute__((constructor)) static void gohttp_coverage_register(void)
{
    atexit(gohttp_coverage_at_exit);
}
