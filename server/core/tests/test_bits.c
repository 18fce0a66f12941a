/* Unit tests for bits.c: bit fields read and written at every width and
 * alignment, the overflow rules (WRAP, SAT, FAIL) of signed and unsigned
 * fields at every width against a reference in 128-bit arithmetic, and
 * population count and bit search against a bit-by-bit reference. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "bits.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Bit i of p, by the definition in bits.h. */
static unsigned ref_bit(const uint8_t *p, size_t len, uint64_t i)
{
    return i / 8 < len ? (p[i / 8] >> (7 - i % 8)) & 1u : 0u;
}

Test(bits, fields_round_trip_at_every_width_and_offset)
{
    for (unsigned w = 1; w <= 64; w++) {
        for (uint64_t off = 0; off < 40; off++) {
            uint8_t buf[16], before[16];
            for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t)next();
            memcpy(before, buf, sizeof buf);
            uint64_t v = next();
            bits_set(buf, off, w, v);
            uint64_t mask = w == 64 ? UINT64_MAX : ((uint64_t)1 << w) - 1;
            cr_assert_eq(bits_get_unsigned(buf, sizeof buf, off, w), v & mask, "w %u off %llu", w,
                         (unsigned long long)off);
            /* Bits outside the field are untouched. */
            for (uint64_t i = 0; i < 8 * sizeof buf; i++)
                if (i < off || i >= off + w)
                    cr_assert_eq(ref_bit(buf, sizeof buf, i), ref_bit(before, sizeof buf, i));
            int64_t sv = bits_get_signed(buf, sizeof buf, off, w);
            bool neg = (v >> (w - 1)) & 1u;
            cr_assert_eq((uint64_t)sv & mask, v & mask);
            cr_assert_eq(sv < 0, neg, "w %u: the top bit is the sign", w);
        }
    }
}

Test(bits, reads_past_the_end_are_zeros)
{
    const uint8_t v[2] = {0xFF, 0xFF};
    cr_assert_eq(bits_get_unsigned(v, 2, 12, 8), 0xF0u);
    cr_assert_eq(bits_get_unsigned(v, 2, 16, 8), 0u);
    cr_assert_eq(bits_get_unsigned(NULL, 0, 100, 63), 0u);
    cr_assert_eq(bits_get_signed(v, 2, 8, 16), -256); /* 0xFF00 */
    cr_assert_eq(bits_get_signed(v, 2, 8, 17), -512); /* 0x1FE00 */
    cr_assert_eq(bits_get_signed(v, 2, 0, 16), -1);
}

/* The field's limits and the reference result of value + incr. */
static void check_signed(int64_t value, int64_t incr, unsigned w)
{
    __int128 max = w == 64 ? INT64_MAX : ((__int128)1 << (w - 1)) - 1, min = -max - 1;
    __int128 sum = (__int128)value + incr;
    bool fits = sum >= min && sum <= max;
    __int128 span = (__int128)1 << w;
    __int128 wrapped = ((sum - min) % span + span) % span + min;
    int64_t out = 12345;
    cr_assert(bits_add_signed(value, incr, w, BITS_WRAP, &out));
    cr_assert_eq(out, (int64_t)wrapped, "i%u %lld + %lld wraps", w, (long long)value,
                 (long long)incr);
    cr_assert(bits_add_signed(value, incr, w, BITS_SAT, &out));
    cr_assert_eq(out,
                 (int64_t)(fits        ? sum
                           : sum > max ? max
                                       : min),
                 "i%u %lld + %lld saturates", w, (long long)value, (long long)incr);
    out = 12345;
    cr_assert_eq(bits_add_signed(value, incr, w, BITS_FAIL, &out), fits, "i%u %lld + %lld fits", w,
                 (long long)value, (long long)incr);
    cr_assert_eq(out, fits ? (int64_t)sum : 12345);
}

static void check_unsigned(uint64_t value, int64_t incr, unsigned w)
{
    __int128 max = ((__int128)1 << w) - 1;
    __int128 sum = (__int128)value + incr;
    bool fits = sum >= 0 && sum <= max;
    uint64_t out = 12345;
    cr_assert(bits_add_unsigned(value, incr, w, BITS_WRAP, &out));
    cr_assert_eq(out, (uint64_t)sum & (uint64_t)max, "u%u %llu + %lld wraps", w,
                 (unsigned long long)value, (long long)incr);
    cr_assert(bits_add_unsigned(value, incr, w, BITS_SAT, &out));
    cr_assert_eq(out, (uint64_t)(fits ? sum : sum > max ? max : 0));
    out = 12345;
    cr_assert_eq(bits_add_unsigned(value, incr, w, BITS_FAIL, &out), fits);
    cr_assert_eq(out, fits ? (uint64_t)sum : 12345u);
}

Test(bits, incrby_overflow_at_every_width)
{
    for (unsigned w = 1; w <= 64; w++) {
        int64_t max = w == 64 ? INT64_MAX : (int64_t)(((uint64_t)1 << (w - 1)) - 1), min = -max - 1;
        const int64_t values[] = {0, 1, -1, max, min, max - 1, min + 1, max / 2, min / 2};
        const int64_t incrs[] = {0,
                                 1,
                                 -1,
                                 max,
                                 min,
                                 INT64_MAX,
                                 INT64_MIN,
                                 INT64_MAX - 1,
                                 INT64_MIN + 1,
                                 2,
                                 -2,
                                 max + (w < 64),
                                 min - (w < 64)};
        /* INCRBY's value is the field's: inside it (for i1, 1 is not). */
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
            for (size_t j = 0; j < sizeof incrs / sizeof incrs[0]; j++)
                if (values[i] >= min && values[i] <= max)
                    check_signed(values[i], incrs[j], w);
        for (int k = 0; k < 200; k++) {
            uint64_t span = w == 64 ? UINT64_MAX : ((uint64_t)1 << w) - 1;
            check_signed((int64_t)(next() & span) + (w == 64 ? 0 : min),
                         (int64_t)next() >> (next() % 64), w);
        }
    }
    for (unsigned w = 1; w <= 63; w++) {
        uint64_t max = ((uint64_t)1 << w) - 1;
        const uint64_t values[] = {0, 1, max, max - 1, max / 2};
        /* max + 1 and -max - 1, wrapping to INT64_MIN for u63. */
        const int64_t incrs[] = {0,         1, -1, (int64_t)max,       -(int64_t)max,  INT64_MAX,
                                 INT64_MIN, 2, -2, (int64_t)(max + 1), (int64_t)(~max)};
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
            for (size_t j = 0; j < sizeof incrs / sizeof incrs[0]; j++)
                check_unsigned(values[i] & max, incrs[j], w);
        for (int k = 0; k < 200; k++)
            check_unsigned(next() & max, (int64_t)next() >> (next() % 64), w);
    }
}

Test(bits, set_of_a_value_out_of_the_field)
{
    /* SET passes the new value with an increment of 0. Unsigned: a negative
     * value is a huge one, so SAT stores the maximum (as Redis). */
    uint64_t u;
    cr_assert(bits_add_unsigned((uint64_t)-1, 0, 8, BITS_SAT, &u));
    cr_assert_eq(u, 255u);
    cr_assert(bits_add_unsigned((uint64_t)-1, 0, 8, BITS_WRAP, &u));
    cr_assert_eq(u, 255u);
    cr_assert(bits_add_unsigned(256, 0, 8, BITS_WRAP, &u));
    cr_assert_eq(u, 0u);
    cr_assert(!bits_add_unsigned(256, 0, 8, BITS_FAIL, &u));
    int64_t s;
    cr_assert(bits_add_signed(200, 0, 8, BITS_SAT, &s));
    cr_assert_eq(s, 127);
    cr_assert(bits_add_signed(-200, 0, 8, BITS_SAT, &s));
    cr_assert_eq(s, -128);
    cr_assert(bits_add_signed(200, 0, 8, BITS_WRAP, &s));
    cr_assert_eq(s, -56);
    /* Within 127 of INT64_MIN the room above the value is taken modulo
     * 2^64, as Redis takes it: too big, so SAT gives the maximum. */
    cr_assert(bits_add_signed(INT64_MIN, 0, 8, BITS_SAT, &s));
    cr_assert_eq(s, 127);
    cr_assert(bits_add_signed(INT64_MIN + 128, 0, 8, BITS_SAT, &s));
    cr_assert_eq(s, -128);
    cr_assert(bits_add_signed(INT64_MIN, 0, 8, BITS_WRAP, &s));
    cr_assert_eq(s, 0);
}

Test(bits, count_and_pos_against_a_bit_by_bit_reference)
{
    for (int round = 0; round < 300; round++) {
        uint8_t p[24];
        size_t len = 1 + next() % sizeof p;
        unsigned density = (unsigned)(next() % 4);
        for (size_t i = 0; i < len; i++)
            p[i] = density == 0 ? 0 : density == 1 ? 0xFF : (uint8_t)next();
        uint64_t nbits = 8 * len;
        for (int k = 0; k < 50; k++) {
            uint64_t first = next() % nbits, last = next() % nbits;
            if (first > last) {
                uint64_t t = first;
                first = last;
                last = t;
            }
            uint64_t ones = 0;
            int64_t pos1 = -1, pos0 = -1;
            for (uint64_t i = first; i <= last; i++) {
                unsigned b = ref_bit(p, len, i);
                ones += b;
                if (b && pos1 < 0)
                    pos1 = (int64_t)i;
                if (!b && pos0 < 0)
                    pos0 = (int64_t)i;
            }
            cr_assert_eq(bits_count(p, first, last), ones);
            cr_assert_eq(bits_pos(p, first, last, 1), pos1);
            cr_assert_eq(bits_pos(p, first, last, 0), pos0);
        }
    }
}
