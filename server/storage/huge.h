/*
 * huge.h - the OS-memory machinery of a table: 2 MiB-aligned mappings and
 * the moving of written memory into huge pages (layer 1, libc only).
 *
 * A lookup in a big table touches a random bucket and a random record; with
 * 4 KiB pages each is also a TLB miss, so big tables want 2 MiB pages. But
 * the kernel zeroes a huge page inside the fault of its first write (0.5 to
 * 13 ms on the machines ebb is measured on), a stall for every client. So
 * the table and its record store write in ordinary pages and, once a 2 MiB
 * range is wholly written, copy it into a page a prefaulter's thread has
 * populated already (a "staged" page) and move that page over the range
 * with mremap (0.3 to 0.6 ms for 2 MiB). This module owns the staged pages
 * and the move; the index (table.c) and the record store (store.c) say
 * which ranges are due.
 *
 * Map changes (mmap, munmap, mremap, madvise that changes a mapping's
 * flags) take the process's memory map exclusively and would wait for the
 * prefaulter's page in progress: they are made only while it is held
 * (huge_hold), except where a header says otherwise.
 */
#ifndef EBB_HUGE_H
#define EBB_HUGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prefault;

/* A huge page. */
#define HUGE_BYTES (2u * 1024u * 1024u)

/* Staged pages a table keeps asked for: one (2 MiB of RSS while staged). */
#define HUGE_STAGED 1u

/* The staged pages of one table. Zero-initialise; pf is the table's
 * prefaulter (NULL: nothing is ever staged). Fields are private to huge.c
 * except as read through the functions below. */
typedef struct {
    struct prefault *pf;
    char *pg[HUGE_STAGED];
    uint64_t tk[HUGE_STAGED];
    uint64_t moves; /* ranges moved so far */
} huge_stage;

/* The size of an ordinary page (sysconf, read once; 4096 if unknown). */
size_t huge_base_page(void);

/* n rounded up to whole ordinary pages. */
static inline uint64_t huge_round_base(uint64_t n)
{
    uint64_t ps = huge_base_page();
    return (n + ps - 1) / ps * ps;
}

/* Zero-filled private memory of `bytes` anywhere (no alignment), NULL if
 * it cannot be mapped. Release with huge_unmap. */
void *huge_map_zero(size_t bytes);

/* THP can be used at all: the kernel's mode is not "never". */
bool huge_thp_usable(void);

/* Zero-filled private memory of `bytes` (a multiple of HUGE_BYTES) at a
 * HUGE_BYTES boundary, so that each 2 MiB of it can be one huge page. NULL
 * if it cannot be mapped. Release with huge_unmap. */
void *huge_map_aligned(size_t bytes);

/* munmap, aborting on failure (only a bad pointer or length: a bug). p NULL
 * or bytes 0: nothing. */
void huge_unmap(void *p, size_t bytes);

/* Hold / release the prefaulter's worker (prefault_hold): true means map
 * changes may be made now without waiting; then call huge_release. */
bool huge_hold(huge_stage *h);
void huge_release(huge_stage *h);

/* Index of a staged page that is in (populated), or -1. */
int huge_ready(const huge_stage *h);

/* Staged pages mapped (each HUGE_BYTES, counted by the caller as RSS). */
unsigned huge_staged(const huge_stage *h);

/* Map and ask for staged pages up to HUGE_STAGED (held). A page the
 * prefaulter will not take (its lane full) is not kept. */
void huge_fill(huge_stage *h);

/* Unmap every staged page (any time: a staged page is a mapping of its own
 * that nothing else refers to). */
void huge_drop(huge_stage *h);

/* Copy [dst, dst + HUGE_BYTES) into staged page i (huge_ready) and move the
 * page over it (held). dst is 2 MiB-aligned. On a failed mremap the range
 * keeps its bytes, every staged page is dropped and false is returned: the
 * caller stops moving ranges for good. */
bool huge_move(huge_stage *h, int i, char *dst);

#endif /* EBB_HUGE_H */
