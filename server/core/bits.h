/*
 * bits.h - bit arithmetic on a string value for the bitmap group (layer 2,
 * bitmap.c): bit fields, their overflow rules, population count and the
 * search for a bit. Pure functions on caller-owned bytes; no server state,
 * no allocation.
 *
 * Terms: bit i of a string is bit (7 - i % 8) of byte i / 8, the most
 * significant bit of the first byte being bit 0, as Redis numbers them. A
 * field of `width` bits at `offset` is read most significant bit first
 * (big-endian when it is byte-aligned). Widths are 1..64 for signed and
 * 1..63 for unsigned fields, Redis's i1..i64 and u1..u63.
 */
#ifndef EBB_BITS_H
#define EBB_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The field of width bits at offset in p[0..len), bytes past len read as
 * zero (a read past the end of a value sees zeros). Unsigned: the bits as
 * they are; signed: sign-extended from the field's top bit. */
uint64_t bits_get_unsigned(const uint8_t *p, size_t len, uint64_t offset, unsigned width);
int64_t bits_get_signed(const uint8_t *p, size_t len, uint64_t offset, unsigned width);

/* Write the low width bits of v at offset. p must hold the field: the
 * caller has grown the value to (offset + width + 7) / 8 bytes. */
void bits_set(uint8_t *p, uint64_t offset, unsigned width, uint64_t v);

/* What a result that does not fit its field becomes (BITFIELD OVERFLOW). */
typedef enum {
    BITS_WRAP, /* modulo 2^width (signed: two's complement) */
    BITS_SAT,  /* the field's maximum or minimum */
    BITS_FAIL, /* nothing is written */
} bits_overflow;

/* value + incr in an unsigned field of width bits (SET passes the new value
 * as value, reinterpreted from int64, and incr 0: a negative value is then
 * too big for the field, and saturates to its maximum, as in Redis).
 * *out receives the result to store; returns false when it did not fit
 * and ow is BITS_FAIL (*out is then untouched). */
bool bits_add_unsigned(uint64_t value, int64_t incr, unsigned width, bits_overflow ow,
                       uint64_t *out);
/* The same for a signed field of width bits (1..64). */
bool bits_add_signed(int64_t value, int64_t incr, unsigned width, bits_overflow ow, int64_t *out);

/* Set bits of p in the bit range [first, last], both inclusive and inside
 * the string (last < 8 * its length). */
uint64_t bits_count(const uint8_t *p, uint64_t first, uint64_t last);

/* The position of the first bit equal to `bit` (0 or 1) in [first, last]
 * of p (inclusive, inside the string), or -1 if there is none. */
int64_t bits_pos(const uint8_t *p, uint64_t first, uint64_t last, int bit);

#endif
