#include "latency.h"

#include <assert.h>

/* Bucket of a duration: the position of its top bit gives the power of two,
 * the next two bits the quarter within it. Values under 4 ns share the first
 * buckets exactly. */
static unsigned bucket_of(uint64_t ns)
{
    if (ns < LATENCY_SUB)
        return (unsigned)ns;
    unsigned top = 63u - (unsigned)__builtin_clzll(ns);
    unsigned sub = (unsigned)(ns >> (top - 2)) & (LATENCY_SUB - 1);
    unsigned i = top * LATENCY_SUB + sub;
    return i < LATENCY_BUCKETS ? i : LATENCY_BUCKETS - 1;
}

/* The largest duration bucket i holds. */
static uint64_t bucket_top(unsigned i)
{
    if (i < LATENCY_SUB)
        return i;
    unsigned top = i / LATENCY_SUB, sub = i % LATENCY_SUB;
    if (top >= 63)
        return UINT64_MAX;
    uint64_t base = 1ull << top, step = base / LATENCY_SUB;
    return base + step * (sub + 1) - 1;
}

void latency_add(latency_hist *h, uint64_t ns)
{
    h->bucket[bucket_of(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t latency_percentile(const latency_hist *h, double p)
{
    assert(p > 0 && p <= 1);
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count + 0.5);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LATENCY_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < h->max_ns ? top : h->max_ns;
        }
    }
    return h->max_ns;
}
