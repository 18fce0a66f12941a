/*
 * topk.h - the most frequent items of a stream, approximately: the
 * Space-Saving summary of Metwally, Agrawal and El Abbadi ("Efficient
 * computation of frequent and top-k elements in data streams", 2005).
 * Layer 2, libc only.
 *
 * A summary of capacity K counts at most K distinct items (int64 ids). An
 * item already tracked has its count raised by one. A new item takes a free
 * entry (count 1, error 0) or, once all K are taken, the entry with the
 * lowest count m: its count becomes m + 1 and its error m. So for every
 * tracked item, with f its true number of adds,
 *     count - error <= f <= count,
 * and every item added more than N/K times (N: all adds) is tracked.
 *
 * Cost: O(log K) per add (a min-heap of the entries by count, and a hash
 * from id to heap position, probed linearly); memory topk_bytes(K), in one
 * allocation.
 */
#ifndef EBB_TOPK_H
#define EBB_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest capacity (the hash's positions are 32-bit). */
#define TOPK_CAP_MAX (1u << 24)

typedef struct {
    int64_t id;
    uint64_t count; /* adds counted for id, over-estimated by at most error */
    uint64_t error;
} topk_entry;

typedef struct topk topk;

/* An empty summary of capacity cap (1..TOPK_CAP_MAX), or NULL (bad cap, out
 * of memory). */
topk *topk_new(uint32_t cap);
void topk_free(topk *t);

/* t moved into a summary of capacity cap (topk_size(t) <= cap <=
 * TOPK_CAP_MAX), entries, counts and errors kept: a summary can start small
 * and grow while it is not full, and stay exact meanwhile. NULL if out of
 * memory, and t is still valid then; otherwise t is freed. */
topk *topk_grow(topk *t, uint32_t cap);

/* Count one occurrence of id. */
void topk_add(topk *t, int64_t id);

/* Forget every item (the capacity stays). */
void topk_clear(topk *t);

uint32_t topk_cap(const topk *t);
uint32_t topk_size(const topk *t);  /* entries in use */
uint64_t topk_total(const topk *t); /* adds since new or clear: N */
/* Entry i, 0 <= i < topk_size(t), in no particular order; valid until the
 * next add or clear. */
const topk_entry *topk_at(const topk *t, uint32_t i);

/* Bytes a summary of capacity cap allocates. */
size_t topk_bytes(uint32_t cap);

/* Check the invariants (heap order, the hash and the heap agree, counts
 * sum to the total); false on the first broken one. For tests. */
bool topk_check(const topk *t);

#endif
