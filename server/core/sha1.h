/*
 * sha1.h - SHA-1 (FIPS 180-4) of a byte string, as the lowercase hex digest
 * Redis names scripts by (EVALSHA, SCRIPT LOAD, redis.sha1hex). Bottom of
 * layer 2: libc only. Not for security: scripts are named, not protected.
 */
#ifndef EBB_SHA1_H
#define EBB_SHA1_H

#include <stddef.h>

/* The hex digest length, without the NUL. */
#define SHA1_HEX_LEN 40

/* Write the 40 lowercase hex digits of SHA-1(p[0..n)) and a NUL to hex. */
void sha1_hex(const void *p, size_t n, char hex[SHA1_HEX_LEN + 1]);

#endif
