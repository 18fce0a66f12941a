/*
 * prefault.c - see prefault.h.
 *
 * One ring of PREFAULT_QUEUE requests per lane under one mutex; the worker
 * serves the SOON lane first and sleeps on a condition variable while both
 * are empty. The asking side takes the
 * mutex only to append (a few hundred nanoseconds, never while the worker is
 * in madvise: the worker copies a request out and lets go of the mutex
 * before it works). Tickets and counters the asking side reads without the
 * mutex are atomics.
 */
#include "prefault.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack the name */
#endif

/* The worker populates at most this much per madvise call, so that a
 * request in progress notices prefault_free soon and a huge page is never
 * split between two calls. */
#define STEP_BYTES (2u * 1024u * 1024u)

typedef struct {
    uintptr_t start, end; /* page-aligned */
} request;

typedef struct {
    request ring[PREFAULT_QUEUE];
    unsigned head, len;    /* under mu */
    uint64_t asked;        /* asking side only: requests accepted */
    _Atomic uint64_t done; /* worker: requests served */
} lane;

struct prefault {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    /* The worker holds `gate` for each madvise step; prefault_hold takes it
     * with a trylock. `want` asks the worker to pause before its next step;
     * it waits on `resume` (under mu) for at most PREFAULT_HOLD_MS. */
    pthread_mutex_t gate;
    pthread_cond_t resume;
    _Atomic bool want;
    pthread_t worker;
    lane lanes[2];    /* PREFAULT_SOON, PREFAULT_LATER */
    bool stop;        /* under mu */
    uint64_t dropped; /* asking side only */
    _Atomic uint64_t bytes, failed, busy_ns;
};

/* A ticket is (sequence number in its lane) * 2 + lane, so 0 is never one. */
static uint64_t ticket_of(prefault_lane l, uint64_t seq)
{
    return seq * 2 + (uint64_t)l;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t page_bytes(void)
{
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? (size_t)v : 4096;
}

/* Before a step: if the loop wants the memory map, let it have it first
 * (it asks again within microseconds when it does), then take the gate. */
static void gate_enter(prefault *pf)
{
    if (atomic_load_explicit(&pf->want, memory_order_acquire)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += PREFAULT_HOLD_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&pf->mu);
        while (atomic_load_explicit(&pf->want, memory_order_acquire) && !pf->stop)
            if (pthread_cond_timedwait(&pf->resume, &pf->mu, &until) == ETIMEDOUT) {
                /* Asked and not taken: carry on. */
                atomic_store_explicit(&pf->want, false, memory_order_release);
                break;
            }
        pthread_mutex_unlock(&pf->mu);
    }
    pthread_mutex_lock(&pf->gate);
}

/* Populate [r.start, r.end) in STEP_BYTES pieces aligned to STEP_BYTES. */
static void serve(prefault *pf, request r)
{
    uintptr_t a = r.start;
    while (a < r.end) {
        uintptr_t b = (a + STEP_BYTES) & ~(uintptr_t)(STEP_BYTES - 1);
        if (b > r.end)
            b = r.end;
        gate_enter(pf);
        uint64_t t0 = now_ns();
        int rc = madvise((void *)a, b - a, MADV_POPULATE_WRITE);
        atomic_fetch_add_explicit(&pf->busy_ns, now_ns() - t0, memory_order_relaxed);
        pthread_mutex_unlock(&pf->gate);
        if (rc != 0) {
            /* ENOMEM: unmapped meanwhile (or out of memory, which the
             * writer will meet too); either way nothing more to do here. */
            atomic_fetch_add_explicit(&pf->failed, 1, memory_order_relaxed);
            break;
        }
        atomic_fetch_add_explicit(&pf->bytes, b - a, memory_order_relaxed);
        a = b;
        pthread_mutex_lock(&pf->mu);
        bool stop = pf->stop;
        pthread_mutex_unlock(&pf->mu);
        if (stop)
            break;
    }
}

static void *work(void *arg)
{
    prefault *pf = arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (pf->lanes[0].len == 0 && pf->lanes[1].len == 0 && !pf->stop)
            pthread_cond_wait(&pf->wake, &pf->mu);
        if (pf->stop)
            break;
        lane *l = &pf->lanes[pf->lanes[PREFAULT_SOON].len > 0 ? PREFAULT_SOON : PREFAULT_LATER];
        request r = l->ring[l->head];
        l->head = (l->head + 1) % PREFAULT_QUEUE;
        l->len--;
        pthread_mutex_unlock(&pf->mu);
        serve(pf, r);
        /* Release: whoever sees the ticket done also sees the pages. */
        atomic_fetch_add_explicit(&l->done, 1, memory_order_release);
        pthread_mutex_lock(&pf->mu);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

/* Does this kernel know MADV_POPULATE_WRITE? Try it on one fresh page. */
static bool kernel_populates(void)
{
    size_t ps = page_bytes();
    void *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    bool ok = madvise(p, ps, MADV_POPULATE_WRITE) == 0;
    munmap(p, ps);
    return ok;
}

prefault *prefault_new(void)
{
    if (!kernel_populates())
        return NULL;
    prefault *pf = calloc(1, sizeof *pf);
    if (pf == NULL)
        return NULL;
    if (pthread_mutex_init(&pf->mu, NULL) != 0) {
        free(pf);
        return NULL;
    }
    /* `resume` is waited on with a CLOCK_MONOTONIC deadline. */
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return NULL;
    }
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&pf->wake, NULL) == 0;
    if (ok && pthread_cond_init(&pf->resume, &ca) != 0) {
        pthread_cond_destroy(&pf->wake);
        ok = false;
    }
    if (ok && pthread_mutex_init(&pf->gate, NULL) != 0) {
        pthread_cond_destroy(&pf->resume);
        pthread_cond_destroy(&pf->wake);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return NULL;
    }
    int rc = worker_start(&pf->worker, work, pf);
    if (rc != 0) {
        pthread_mutex_destroy(&pf->gate);
        pthread_cond_destroy(&pf->resume);
        pthread_cond_destroy(&pf->wake);
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return NULL;
    }
    return pf;
}

void prefault_free(prefault *pf)
{
    if (pf == NULL)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_signal(&pf->wake);
    pthread_cond_signal(&pf->resume);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->worker, NULL);
    pthread_mutex_destroy(&pf->gate);
    pthread_cond_destroy(&pf->resume);
    pthread_cond_destroy(&pf->wake);
    pthread_mutex_destroy(&pf->mu);
    free(pf);
}

uint64_t prefault_ask(prefault *pf, prefault_lane which, void *p, size_t bytes)
{
    if (pf == NULL || bytes == 0)
        return 0;
    lane *l = &pf->lanes[which == PREFAULT_SOON ? PREFAULT_SOON : PREFAULT_LATER];
    size_t ps = page_bytes();
    request r = {.start = (uintptr_t)p & ~(uintptr_t)(ps - 1),
                 .end = ((uintptr_t)p + bytes + ps - 1) & ~(uintptr_t)(ps - 1)};
    pthread_mutex_lock(&pf->mu);
    bool room = l->len < PREFAULT_QUEUE;
    if (room) {
        l->ring[(l->head + l->len) % PREFAULT_QUEUE] = r;
        l->len++;
        pthread_cond_signal(&pf->wake);
    }
    pthread_mutex_unlock(&pf->mu);
    if (!room) {
        pf->dropped++;
        return 0;
    }
    return ticket_of(which, ++l->asked);
}

bool prefault_hold(prefault *pf)
{
    if (pf == NULL)
        return true;
    atomic_store_explicit(&pf->want, true, memory_order_release);
    return pthread_mutex_trylock(&pf->gate) == 0;
}

void prefault_release(prefault *pf)
{
    if (pf == NULL)
        return;
    pthread_mutex_unlock(&pf->gate);
    pthread_mutex_lock(&pf->mu);
    atomic_store_explicit(&pf->want, false, memory_order_release);
    pthread_cond_signal(&pf->resume);
    pthread_mutex_unlock(&pf->mu);
}

bool prefault_done(const prefault *pf, uint64_t ticket)
{
    if (pf == NULL || ticket == 0)
        return true;
    lane *l = &((prefault *)pf)->lanes[ticket & 1];
    return atomic_load_explicit(&l->done, memory_order_acquire) >= ticket / 2;
}

void prefault_get_stats(const prefault *pf, prefault_stats *st)
{
    *st = (prefault_stats){0};
    if (pf == NULL)
        return;
    prefault *m = (prefault *)pf;
    st->requests = pf->lanes[0].asked + pf->lanes[1].asked;
    st->dropped = pf->dropped;
    st->done = atomic_load_explicit(&m->lanes[0].done, memory_order_acquire) +
               atomic_load_explicit(&m->lanes[1].done, memory_order_acquire);
    st->bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
    st->failed = atomic_load_explicit(&m->failed, memory_order_relaxed);
    st->busy_ns = atomic_load_explicit(&m->busy_ns, memory_order_relaxed);
}
