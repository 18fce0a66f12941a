/*
 * prefault.h - fault memory in before its first write, on a thread of its
 * own (layer 1, libc only).
 *
 * The first write to a 2 MiB huge page makes the kernel allocate and zero
 * it inside the page fault: 0.5 to 13 ms on the virtual machines ebb is
 * measured on, a stall for every client of the event loop that took the
 * fault. A table that knows where it will write next asks a prefaulter for
 * those bytes ahead of time; its thread runs madvise(MADV_POPULATE_WRITE)
 * on them (in steps of 2 MiB), so by the time the loop writes there the
 * pages are in.
 *
 * Asking is a hint and is always safe: populating private anonymous memory
 * never changes its contents (a page that is already in stays as it is; one
 * that is not comes in zero-filled, which is what the first write would
 * have found). Memory unmapped before its turn comes is skipped (the kernel
 * reports ENOMEM, counted as failed); memory mapped again at the same
 * address only comes in early. So nothing needs to be cancelled; callers
 * only keep what they ask for close to what they will write, since what is
 * populated counts in RSS.
 *
 * Requests go in one of two lanes. SOON is for memory a caller will write
 * whatever happens (records: an insert cannot wait); LATER for memory whose
 * writer can put its work off until the pages are in (a migration step).
 * The worker serves SOON requests first. Within a lane requests are served
 * in the order asked, so a ticket done means every earlier ticket of the
 * same lane is done too.
 *
 * Threading: prefault_ask, prefault_done, prefault_hold, prefault_release
 * and prefault_get_stats may be called from one thread at a time (the event
 * loop); the worker is internal. prefault_free joins it.
 */
#ifndef EBB_PREFAULT_H
#define EBB_PREFAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct prefault prefault;

/* Requests waiting at most per lane; an ask beyond that is dropped
 * (ticket 0). */
#define PREFAULT_QUEUE 64u

typedef enum { PREFAULT_SOON = 0, PREFAULT_LATER = 1 } prefault_lane;

typedef struct {
    uint64_t requests; /* asks accepted, both lanes */
    uint64_t dropped;  /* asks refused: the lane was full */
    uint64_t done;     /* requests served, both lanes */
    uint64_t bytes;    /* bytes populated (requested ranges, page-rounded) */
    uint64_t failed;   /* ranges the kernel refused (unmapped meanwhile) */
    uint64_t busy_ns;  /* time the worker spent in madvise */
} prefault_stats;

/* Start a prefaulter. NULL if the kernel has no MADV_POPULATE_WRITE
 * (before Linux 5.14), the thread cannot be started or memory is short:
 * callers then simply fault pages in themselves. */
prefault *prefault_new(void);

/* Stop the worker (a request in progress ends at its next 2 MiB step) and
 * free everything. pf may be NULL. */
void prefault_free(prefault *pf);

/* Ask for [p, p + bytes) to be populated (rounded out to whole pages), in
 * lane `which`. Returns the request's ticket (never 0), or 0 if nothing will
 * be done: pf is NULL, bytes is 0 or the lane is full. Never blocks on the
 * worker's madvise. */
uint64_t prefault_ask(prefault *pf, prefault_lane which, void *p, size_t bytes);

/* True when request `ticket` (and every earlier one of its lane) has been
 * served, or ticket is 0. */
bool prefault_done(const prefault *pf, uint64_t ticket);

/* Keep the worker out of the process's memory map. mmap, munmap and mremap
 * take the map exclusively, so made while the worker populates they wait
 * for its current step (milliseconds for a huge page). Returns true if the
 * worker is between steps: it starts no step until prefault_release, and
 * the caller may map and unmap without waiting. Returns false while a step
 * is in progress: the worker then pauses before its next step, for up to
 * PREFAULT_HOLD_MS, so a caller that asks again soon gets it; nothing is to
 * be released. pf NULL: true (nothing to release either way). */
bool prefault_hold(prefault *pf);
void prefault_release(prefault *pf);

/* How long the worker waits for a caller that failed to hold it. */
#define PREFAULT_HOLD_MS 2

/* Counters so far. pf may be NULL (all zero). */
void prefault_get_stats(const prefault *pf, prefault_stats *st);

#endif
