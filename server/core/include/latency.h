/*
 * latency.h - a log-linear histogram of durations (layer 2, libc only), for
 * the command service times INFO latencystats reports.
 *
 * Bucket i covers durations of 2^(i/4) .. 2^((i+1)/4) nanoseconds, roughly:
 * four buckets per doubling, so a percentile is reported within 19 % (the
 * bucket's upper bound is reported). 256 buckets reach far past an hour.
 */
#ifndef EBB_LATENCY_H
#define EBB_LATENCY_H

#include <stdint.h>

#define LATENCY_SUB 4u /* buckets per power of two */
#define LATENCY_BUCKETS 256u

typedef struct {
    uint64_t count;
    uint64_t max_ns;
    uint64_t sum_ns; /* of every duration counted, exact */
    uint64_t bucket[LATENCY_BUCKETS];
} latency_hist;

/* Count one duration. */
void latency_add(latency_hist *h, uint64_t ns);

/* The duration (ns) under which a fraction p (0 < p <= 1) of the counted
 * ones fall: the upper bound of the bucket holding that rank, capped by the
 * maximum seen. 0 when empty. */
uint64_t latency_percentile(const latency_hist *h, double p);

#endif
