/*
 * huge.c - staged huge pages and the move of written ranges into them.
 * See huge.h for the contract.
 */
#include "huge.h"

#include "prefault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

size_t huge_base_page(void)
{
    static size_t ps;
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
    }
    return ps;
}

void *huge_map_zero(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool huge_thp_usable(void)
{
    static int usable = -1;
    if (usable < 0) {
        char buf[128] = {0};
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
        usable = f != NULL && fgets(buf, sizeof buf, f) != NULL && strstr(buf, "[never]") == NULL;
        if (f != NULL)
            fclose(f);
    }
    return usable == 1;
}

void huge_unmap(void *p, size_t bytes)
{
    if (p != NULL && bytes > 0 && munmap(p, bytes) != 0)
        abort(); /* only on a bad pointer or length: a bug */
}

/* Map HUGE_BYTES more than asked and unmap the unaligned head and tail. */
void *huge_map_aligned(size_t bytes)
{
    char *p =
        mmap(NULL, bytes + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
    char *al = (char *)a;
    huge_unmap(p, (size_t)(al - p));
    huge_unmap(al + bytes, (size_t)(p + bytes + HUGE_BYTES - (al + bytes)));
    return al;
}

bool huge_hold(huge_stage *h)
{
    return prefault_hold(h->pf);
}

void huge_release(huge_stage *h)
{
    prefault_release(h->pf);
}

int huge_ready(const huge_stage *h)
{
    for (unsigned i = 0; i < HUGE_STAGED; i++)
        if (h->pg[i] != NULL && prefault_done(h->pf, h->tk[i]))
            return (int)i;
    return -1;
}

unsigned huge_staged(const huge_stage *h)
{
    unsigned n = 0;
    for (unsigned i = 0; i < HUGE_STAGED; i++)
        n += h->pg[i] != NULL;
    return n;
}

void huge_fill(huge_stage *h)
{
    if (h->pf == NULL)
        return;
    for (unsigned i = 0; i < HUGE_STAGED; i++) {
        if (h->pg[i] != NULL)
            continue;
        char *pg = huge_map_aligned(HUGE_BYTES);
        if (pg == NULL)
            return;
        (void)madvise(pg, HUGE_BYTES, MADV_HUGEPAGE);
        uint64_t tk = prefault_ask(h->pf, PREFAULT_SOON, pg, HUGE_BYTES);
        if (tk == 0) {
            huge_unmap(pg, HUGE_BYTES);
            return;
        }
        h->pg[i] = pg;
        h->tk[i] = tk;
    }
}

void huge_drop(huge_stage *h)
{
    for (unsigned i = 0; i < HUGE_STAGED; i++) {
        huge_unmap(h->pg[i], HUGE_BYTES);
        h->pg[i] = NULL;
        h->tk[i] = 0;
    }
}

bool huge_move(huge_stage *h, int i, char *dst)
{
    char *pg = h->pg[i];
    memcpy(pg, dst, HUGE_BYTES);
    if (mremap(pg, HUGE_BYTES, HUGE_BYTES, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED) {
        /* Kernels refuse before touching dst (msync then finds it mapped);
         * if dst was unmapped all the same, pg still holds its bytes. */
        if (msync(dst, HUGE_BYTES, MS_ASYNC) != 0) {
            if (mmap(dst, HUGE_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
                abort(); /* the records or buckets of this range would be lost */
            (void)madvise(dst, HUGE_BYTES, MADV_NOHUGEPAGE);
            memcpy(dst, pg, HUGE_BYTES);
        }
        huge_drop(h);
        return false;
    }
    h->pg[i] = NULL;
    h->tk[i] = 0;
    h->moves++;
    return true;
}
