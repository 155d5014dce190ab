/* seed_stop.c - LD_PRELOAD helper for tests/c/integration.sh: lets the
 * seed's hello program (examples/c/hello.c, unchanged, no signal handling
 * of its own) be stopped so that it EXITS: SIGTERM makes a helper thread
 * call the seed API's Shutdown(), ListenAndServe() returns, main() returns
 * 0 and the process runs its exit path, where LeakSanitizer scans and TSan
 * turns its reports into exit status 66.
 *
 * The handler only write()s one byte to a pipe (async-signal-safe); the
 * thread, started by the constructor, blocks in read() and then calls
 * Shutdown(), found with dlsym in the program's libgohttp.so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int stop_pipe[2] = {-1, -1};

static void on_term(int sig)
{
    (void)sig;
    int saved = errno;
    char b = 1;
    ssize_t n = write(stop_pipe[1], &b, 1);
    (void)n;
    errno = saved;
}

static void *stopper(void *arg)
{
    (void)arg;
    char b;
    ssize_t n;
    do {
        n = read(stop_pipe[0], &b, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        return NULL;
    void (*shutdown)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "Shutdown");
    if (!shutdown) {
        fprintf(stderr, "seed_stop: Shutdown not found: %s\n", dlerror());
        _exit(70);
    }
    shutdown();
    return NULL;
}

__attribute__((constructor)) static void seed_stop_init(void)
{
    pthread_t t;
    struct sigaction sa;
    if (pipe(stop_pipe) != 0 || pthread_create(&t, NULL, stopper, NULL) != 0) {
        perror("seed_stop");
        _exit(70);
    }
    pthread_detach(t);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
}
