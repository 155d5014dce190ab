/*
 * fuzz_proxy.c - libFuzzer target: sequences of handle-table operations
 * against a model (make fuzz; clang -fsanitize=fuzzer,address,undefined).
 *
 * The input is read as a program. Its first byte picks the table size
 * (1..32 slots); every following pair of bytes is one operation and its
 * argument:
 *   ref       register a new payload; must succeed unless the table is at
 *             its size or the armed allocation failure fired
 *   deref     a live handle must resolve to its payload (a use-reference is
 *             taken); a dead handle must be refused
 *   release   give back one use-reference of a live handle
 *   free      give back its uses, then free it: must return its payload;
 *             the handle joins the dead list
 *   stale     deref of a handle freed earlier (or freed twice): refused
 *   forge     deref of a live handle with bits flipped: refused unless the
 *             flipped value is itself a live handle
 *   fail      the table's next allocation fails (GOHTTP_PROXY_CALLOC)
 * After every operation the table's live count equals the model's. At the
 * end every handle is freed and the table destroyed (ASan/LSan see leaks).
 * Single-threaded: the concurrency of the table is the stress's and TSan's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

/* The table's allocator in this build: fails once when armed. */
static int fail_next;
static int fail_fired;
void *fuzz_proxy_calloc(size_t n, size_t size);
void *fuzz_proxy_calloc(size_t n, size_t size)
{
    if (fail_next) {
        fail_next = 0;
        fail_fired = 1;
        return NULL;
    }
    return calloc(n, size);
}

#define MAX_LIVE 32
#define MAX_DEAD 256

struct entry {
    uint64_t h;
    uintptr_t payload;
    unsigned uses;
};

static void check(int ok)
{
    if (!ok)
        abort(); /* libFuzzer reports the input as a crash */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t max_slots = (uint32_t)(data[0] % MAX_LIVE) + 1;
    fail_next = 0;
    gohttp_proxy *p = gohttp_proxy_new(max_slots);
    if (p == NULL)
        return 0;
    struct entry live[MAX_LIVE];
    size_t nlive = 0;
    uint64_t dead[MAX_DEAD];
    size_t ndead = 0;
    uintptr_t next_payload = 1;

    for (size_t i = 1; i + 1 < size; i += 2) {
        uint8_t op = data[i] % 7, arg = data[i + 1];
        uintptr_t got = 0;
        switch (op) {
        case 0: { /* ref */
            fail_fired = 0;
            uintptr_t payload = next_payload++;
            uint64_t h = gohttp_proxy_ref(p, payload);
            if (h == 0) {
                check(nlive == max_slots || fail_fired);
                break;
            }
            check(nlive < max_slots);
            for (size_t k = 0; k < nlive; k++)
                check(live[k].h != h);
            for (size_t k = 0; k < ndead; k++)
                check(dead[k] != h); /* a handle is never issued twice */
            live[nlive++] = (struct entry){h, payload, 0};
            break;
        }
        case 1: /* deref */
            if (nlive == 0)
                break;
            {
                struct entry *e = &live[arg % nlive];
                check(gohttp_proxy_deref(p, e->h, &got) == 0 && got == e->payload);
                e->uses++;
            }
            break;
        case 2: /* release */
            if (nlive == 0)
                break;
            {
                struct entry *e = &live[arg % nlive];
                if (e->uses > 0) {
                    gohttp_proxy_release(p, e->h);
                    e->uses--;
                }
            }
            break;
        case 3: /* free */
            if (nlive == 0)
                break;
            {
                size_t k = arg % nlive;
                struct entry e = live[k];
                while (e.uses > 0) {
                    gohttp_proxy_release(p, e.h);
                    e.uses--;
                }
                check(gohttp_proxy_free(p, e.h, &got) == 0 && got == e.payload);
                live[k] = live[--nlive];
                if (ndead < MAX_DEAD)
                    dead[ndead++] = e.h;
            }
            break;
        case 4: /* stale: deref, release and free of a dead handle refused */
            if (ndead == 0)
                break;
            {
                uint64_t h = dead[arg % ndead];
                got = 0;
                check(gohttp_proxy_deref(p, h, &got) == GOHTTP_PROXY_ESTALE && got == 0);
                check(gohttp_proxy_free(p, h, NULL) == GOHTTP_PROXY_ESTALE);
                gohttp_proxy_release(p, h); /* ignored */
            }
            break;
        case 5: /* forge */
            if (nlive == 0)
                break;
            {
                uint64_t h = live[arg % nlive].h ^ ((uint64_t)1 << (arg % 64));
                int is_live = 0;
                for (size_t k = 0; k < nlive; k++)
                    if (live[k].h == h) {
                        is_live = 1;
                        check(gohttp_proxy_deref(p, h, &got) == 0 && got == live[k].payload);
                        gohttp_proxy_release(p, h);
                    }
                if (!is_live)
                    check(gohttp_proxy_deref(p, h, &got) == GOHTTP_PROXY_ESTALE);
            }
            break;
        case 6: /* the next allocation of the table fails */
            fail_next = 1;
            break;
        }
        fail_next = op == 6;
        check(gohttp_proxy_live(p) == nlive);
    }
    for (size_t k = 0; k < nlive; k++) {
        while (live[k].uses > 0) {
            gohttp_proxy_release(p, live[k].h);
            live[k].uses--;
        }
        check(gohttp_proxy_free(p, live[k].h, NULL) == 0);
    }
    check(gohttp_proxy_live(p) == 0);
    fail_next = 0;
    gohttp_proxy_destroy(p);
    return 0;
}
