/* Unit tests for latency.c: buckets and percentiles. */
#include <criterion/criterion.h>

#include "latency.h"

Test(latency, empty_and_single)
{
    latency_hist h = {0};
    cr_assert_eq(latency_percentile(&h, 0.5), 0);
    latency_add(&h, 1000);
    cr_assert_eq(h.count, 1);
    cr_assert_eq(h.max_ns, 1000);
    cr_assert_eq(latency_percentile(&h, 0.5), 1000, "capped by the maximum");
    cr_assert_eq(latency_percentile(&h, 1.0), 1000);
}

Test(latency, percentiles_within_a_bucket)
{
    latency_hist h = {0};
    /* 990 fast (1 µs), 9 slow (100 µs), 1 very slow (10 ms). */
    for (int i = 0; i < 990; i++)
        latency_add(&h, 1000);
    for (int i = 0; i < 9; i++)
        latency_add(&h, 100000);
    latency_add(&h, 10000000);
    uint64_t p50 = latency_percentile(&h, 0.50);
    uint64_t p99 = latency_percentile(&h, 0.99);
    uint64_t p999 = latency_percentile(&h, 0.999);
    cr_assert(p50 >= 1000 && p50 < 1200, "p50 %llu", (unsigned long long)p50);
    cr_assert(p99 >= 1000 && p99 < 1200, "p99 %llu (990 of 1000 are 1 µs)",
              (unsigned long long)p99);
    cr_assert(p999 >= 100000 && p999 < 120000, "p99.9 %llu", (unsigned long long)p999);
    cr_assert_eq(latency_percentile(&h, 1.0), 10000000);
}

Test(latency, huge_and_tiny_values)
{
    latency_hist h = {0};
    latency_add(&h, 0);
    latency_add(&h, 3);
    latency_add(&h, UINT64_MAX);
    cr_assert_eq(h.count, 3);
    cr_assert_eq(latency_percentile(&h, 0.3), 0);
    cr_assert_eq(latency_percentile(&h, 1.0), UINT64_MAX);
}

Test(latency, every_bucket_bound_is_monotonic)
{
    /* Adding increasing values never yields a smaller percentile. */
    latency_hist h = {0};
    uint64_t last = 0;
    for (uint64_t v = 1; v < (1ull << 40); v = v * 5 / 4 + 1) {
        latency_add(&h, v);
        uint64_t p = latency_percentile(&h, 1.0);
        cr_assert_geq(p, last);
        cr_assert_geq(p, v);
        last = p;
    }
}
