/*
 * stress_proxy.c - multi-threaded stress of the handle table, meant to run
 * under -fsanitize=thread (make tsan) and -fsanitize=address,undefined.
 *
 *   stress_proxy [seconds [threads [cells [max_slots]]]]
 *
 * Defaults: 2 seconds, 4 threads, 64 shared cells, a 48-slot table (smaller
 * than the cells, so ref sometimes finds the table full, and slots are
 * reused constantly). Threads race ref, deref, release and free on shared
 * handles (churn.h). Exit status: 0 when every deref yielded its own
 * handle's payload and the table drained to 0 live handles; 1 on any wrong
 * payload, stale handle that resolved, or failed free (churn.h exits at
 * once); 1 too when a proxy call still waits 10 s after the run ended (a
 * free waiting for a use count that never returns to 0); 2 on bad
 * arguments or setup failure; 3 when the run itself overruns its time by
 * 20 s (a watchdog).
 *
 * The threads' random streams come from one seed, printed first
 * ("stress_proxy: seed 0x..."); STRESS_PROXY_SEED=0x... runs with that
 * seed again (the same operation streams per thread; their interleaving
 * is still up to the scheduler). Without it the seed comes from the clock.
 */
#include "proxy.h"

#include "churn.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

/* Parse argument i as an unsigned integer in [lo, hi], or return def when
 * it is absent. Exits with status 2 on garbage. */
static unsigned long arg_or(int argc, char **argv, int i, unsigned long def, unsigned long lo,
                            unsigned long hi)
{
    if (argc <= i)
        return def;
    char *end = NULL;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "stress_proxy: bad argument %d: %s (want %lu..%lu)\n", i, argv[i], lo, hi);
        exit(2);
    }
    return v;
}

/* Set once the churn threads were told to stop: from then on every proxy
 * call of the run is one that must finish at once (a free waits only for
 * uses that other threads end within microseconds). */
static atomic_int g_stopping;

static void on_alarm(int sig)
{
    (void)sig;
    static const char stuck[] =
        "stress_proxy: FAIL: a proxy call still waits 10 s after the run ended: "
        "a use count that never returns to 0 (a lost update)\n";
    static const char overran[] = "stress_proxy: FAIL: watchdog: the run overran its time\n";
    int after = atomic_load(&g_stopping);
    ssize_t rc = after ? write(2, stuck, sizeof stuck - 1) : write(2, overran, sizeof overran - 1);
    (void)rc;
    _exit(after ? 1 : 3);
}

int main(int argc, char **argv)
{
    unsigned long seconds = arg_or(argc, argv, 1, 2, 1, 3600);
    unsigned long nthreads = arg_or(argc, argv, 2, 4, 1, MAX_THREADS);
    unsigned long ncells = arg_or(argc, argv, 3, 64, 1, 1u << 20);
    unsigned long max_slots = arg_or(argc, argv, 4, 48, 1, UINT32_MAX);

    /* A hang is a failure too, and must not stall CI. */
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(seconds + 20));

    gohttp_proxy *p = gohttp_proxy_new((uint32_t)max_slots);
    /* Owner: main; freed below after the drain. */
    _Atomic uint64_t *cells = calloc(ncells, sizeof *cells);
    if (p == NULL || cells == NULL) {
        fprintf(stderr, "stress_proxy: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < ncells; i++)
        atomic_init(&cells[i], 0);
    struct churn_shared sh = {.proxy = p, .cells = cells, .ncells = ncells};
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.wrong, 0);

    struct churn_thread th[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    const char *seed_env = getenv("STRESS_PROXY_SEED");
    if (seed_env != NULL && *seed_env != '\0') {
        char *end = NULL;
        seed = strtoull(seed_env, &end, 0);
        if (end == seed_env || *end != '\0') {
            fprintf(stderr, "stress_proxy: bad STRESS_PROXY_SEED: %s\n", seed_env);
            return 2;
        }
    }
    printf("stress_proxy: seed %#llx (STRESS_PROXY_SEED=%#llx repeats it)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    for (unsigned long i = 0; i < nthreads; i++) {
        th[i] = (struct churn_thread){.sh = &sh, .rng = (seed + i) * 0x9e3779b97f4a7c15ull | 1};
        if (pthread_create(&tid[i], NULL, churn_main, &th[i]) != 0) {
            fprintf(stderr, "stress_proxy: pthread_create failed\n");
            return 2;
        }
    }
    struct timespec ts = {.tv_sec = (time_t)seconds, .tv_nsec = 0};
    nanosleep(&ts, NULL);
    atomic_store(&g_stopping, 1);
    alarm(10);
    atomic_store(&sh.stop, 1);

    uint64_t refs = 0, derefs = 0, stale = 0, frees = 0, full = 0;
    for (unsigned long i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        refs += th[i].refs;
        derefs += th[i].derefs;
        stale += th[i].stale_derefs;
        frees += th[i].frees;
        full += th[i].full;
    }
    uint64_t frees_before_drain = th[0].frees;
    churn_drain(&th[0]);
    frees += th[0].frees - frees_before_drain;

    size_t live = gohttp_proxy_live(p);
    uint64_t wrong = atomic_load(&sh.wrong);
    printf("stress_proxy: %lus %lu threads %lu cells %lu slots: refs %llu derefs %llu "
           "stale-derefs %llu frees %llu table-full %llu wrong %llu live-at-end %zu\n",
           seconds, nthreads, ncells, max_slots, (unsigned long long)refs,
           (unsigned long long)derefs, (unsigned long long)stale, (unsigned long long)frees,
           (unsigned long long)full, (unsigned long long)wrong, live);
    alarm(0);
    gohttp_proxy_destroy(p);
    free(cells);

    if (wrong != 0 || live != 0 || refs != frees) {
        fprintf(stderr, "stress_proxy: FAIL\n");
        return 1;
    }
    if (derefs == 0 || refs == 0) {
        fprintf(stderr, "stress_proxy: FAIL: the run did no work\n");
        return 1;
    }
    printf("stress_proxy: OK\n");
    return 0;
}
