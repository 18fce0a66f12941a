/*
 * bits.c - bit fields, overflow, population count and bit search on a
 * string value (see bits.h). Values are at most TABLE_VALUE_MAX bytes, so
 * plain loops over their bytes are fast enough; clarity wins here.
 */
#include "bits.h"

#include <assert.h>

/* Bit `pos` of p[0..len), 0 past the end. */
static unsigned bit_at(const uint8_t *p, size_t len, uint64_t pos)
{
    uint64_t byte = pos >> 3;
    return byte < len ? (p[byte] >> (7 - (pos & 7))) & 1u : 0u;
}

uint64_t bits_get_unsigned(const uint8_t *p, size_t len, uint64_t offset, unsigned width)
{
    assert(width >= 1 && width <= 64);
    uint64_t v = 0;
    for (unsigned j = 0; j < width; j++)
        v = (v << 1) | bit_at(p, len, offset + j);
    return v;
}

/* The field's bits as int64: its top bit copied into every bit above it. */
static int64_t sign_extend(uint64_t v, unsigned width)
{
    if (width < 64) {
        uint64_t low = ((uint64_t)1 << width) - 1;
        v = (v >> (width - 1)) & 1u ? v | ~low : v & low;
    }
    /* Two's complement, as the exact-width types are: the conversion keeps
     * the bits. */
    return (int64_t)v;
}

int64_t bits_get_signed(const uint8_t *p, size_t len, uint64_t offset, unsigned width)
{
    return sign_extend(bits_get_unsigned(p, len, offset, width), width);
}

void bits_set(uint8_t *p, uint64_t offset, unsigned width, uint64_t v)
{
    assert(width >= 1 && width <= 64);
    for (unsigned j = 0; j < width; j++) {
        uint64_t pos = offset + j;
        unsigned shift = 7 - (unsigned)(pos & 7);
        unsigned b = (unsigned)(v >> (width - 1 - j)) & 1u;
        p[pos >> 3] = (uint8_t)((p[pos >> 3] & ~(1u << shift)) | (b << shift));
    }
}

bool bits_add_unsigned(uint64_t value, int64_t incr, unsigned width, bits_overflow ow,
                       uint64_t *out)
{
    assert(width >= 1 && width <= 63);
    uint64_t max = ((uint64_t)1 << width) - 1;
    /* |incr| without overflowing at INT64_MIN. */
    uint64_t down = incr < 0 ? (uint64_t)(-(incr + 1)) + 1 : 0;
    bool over = value > max || (incr > 0 && (uint64_t)incr > max - value);
    bool under = !over && down > value;
    if (!over && !under) {
        *out = value + (uint64_t)incr;
        return true;
    }
    switch (ow) {
    case BITS_WRAP:
        *out = (value + (uint64_t)incr) & max;
        return true;
    case BITS_SAT:
        *out = over ? max : 0;
        return true;
    case BITS_FAIL:
        break;
    }
    return false;
}

bool bits_add_signed(int64_t value, int64_t incr, unsigned width, bits_overflow ow, int64_t *out)
{
    assert(width >= 1 && width <= 64);
    int64_t max = width == 64 ? INT64_MAX : (int64_t)(((uint64_t)1 << (width - 1)) - 1);
    int64_t min = -max - 1;
    /* The room above value, max - value, is taken modulo 2^64 as Redis
     * takes it: for a narrow field, a SET of a value within `max` of
     * INT64_MIN then counts as too big (SAT stores the maximum), not too
     * small. For every value inside the field it is the exact room. */
    int64_t room_up = (int64_t)((uint64_t)max - (uint64_t)value);
    bool over = value > max || (width != 64 && incr > room_up) ||
                (value >= 0 && incr > 0 && incr > room_up);
    /* min - value cannot overflow where it is computed: value is inside
     * the field then (both tests above failed), and negative if 64 bits. */
    bool under = !over && (value < min || (width != 64 && incr < min - value) ||
                           (value < 0 && incr < 0 && incr < min - value));
    if (!over && !under) {
        *out = value + incr;
        return true;
    }
    switch (ow) {
    case BITS_WRAP:
        *out = sign_extend((uint64_t)value + (uint64_t)incr, width);
        return true;
    case BITS_SAT:
        *out = over ? max : min;
        return true;
    case BITS_FAIL:
        break;
    }
    return false;
}

/* Byte b of the range [first, last] with the bits outside it cleared. */
static unsigned in_range(unsigned b, uint64_t byte, uint64_t first, uint64_t last)
{
    if (byte == first >> 3)
        b &= 0xFFu >> (first & 7);
    if (byte == last >> 3)
        b &= (0xFFu << (7 - (last & 7))) & 0xFFu;
    return b;
}

uint64_t bits_count(const uint8_t *p, uint64_t first, uint64_t last)
{
    assert(first <= last);
    uint64_t n = 0;
    for (uint64_t byte = first >> 3; byte <= last >> 3; byte++)
        n += (uint64_t)__builtin_popcount(in_range(p[byte], byte, first, last));
    return n;
}

int64_t bits_pos(const uint8_t *p, uint64_t first, uint64_t last, int bit)
{
    assert(first <= last && (bit == 0 || bit == 1));
    for (uint64_t byte = first >> 3; byte <= last >> 3; byte++) {
        /* Looking for a 0 is looking for a 1 in the complement. */
        unsigned b = bit ? p[byte] : ~(unsigned)p[byte] & 0xFFu;
        b = in_range(b, byte, first, last);
        if (b != 0)
            return (int64_t)(byte * 8 + (uint64_t)(__builtin_clz(b) - 24));
    }
    return -1;
}
