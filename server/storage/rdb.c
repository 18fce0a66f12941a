/*
 * rdb.c - the RDB codec: see rdb.h for the format and the contract.
 *
 * The bytes, as Redis 7.0 lays them out (rdb.c and rdb.h of Redis 7.0):
 *
 *   "REDIS" + 4 ASCII digits (the version)
 *   then a sequence of opcodes, each one byte:
 *     250 AUX         string name, string value
 *     254 SELECTDB    length (the database number)
 *     251 RESIZEDB    length (keys), length (keys with a TTL)
 *     252 EXPIRETIME_MS  8 bytes, little-endian, absolute unix ms
 *     253 EXPIRETIME     4 bytes, little-endian, absolute unix seconds
 *     248 IDLE        length (seconds)
 *     249 FREQ        1 byte
 *     247 MODULE_AUX  length (module id), length (2: UINT), length (when),
 *                     module opcodes up to their EOF (0)
 *     245 FUNCTION2   string (a library's source)
 *     0..19 (not 6, 8) a key: the type byte, the key string, the value
 *     255 EOF         then, from version 5 on, the CRC-64 of every byte
 *                     before it, 8 bytes little-endian
 *
 *   A length: the top two bits of its first byte say how it is stored:
 *     00 llllll              6 bits
 *     01 llllll llllllll     14 bits, big-endian
 *     10 000000 + 4 bytes    32 bits, big-endian
 *     10 000001 + 8 bytes    64 bits, big-endian
 *     11 eeeeee              not a length: a string encoded as eeeeee
 *   A string: a length and that many bytes, or 11 eeeeee and
 *     e=0: 1 byte, e=1: 2 bytes, e=2: 4 bytes of a signed little-endian
 *          integer (the string is its decimal text), or
 *     e=3: LZF: length (compressed size), length (size), compressed bytes.
 *
 * The reader checks every length against what is left of the input before
 * it reads, so that a truncated or corrupt file is an error, never a read
 * beyond the input; a count of elements (of a set, say) is not trusted for
 * anything but the number of times the loop runs, and every element takes
 * at least one byte, so a corrupt count ends in a truncation error.
 *
 * Strings of the walked types (lists, sets, ...) are skipped, not decoded:
 * their LZF data is not inflated (the checksum covers the bytes).
 */
#include "rdb.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes (one byte where a key's type byte may also be). */
enum {
    OP_FUNCTION2 = 245,
    OP_FUNCTION = 246, /* Redis 7.0's release candidates only */
    OP_MODULE_AUX = 247,
    OP_IDLE = 248,
    OP_FREQ = 249,
    OP_AUX = 250,
    OP_RESIZEDB = 251,
    OP_EXPIRETIME_MS = 252,
    OP_EXPIRETIME = 253,
    OP_SELECTDB = 254,
    OP_EOF = 255,
};

/* Value types (the type byte of a key). */
enum {
    T_STRING = 0,
    T_LIST = 1,
    T_SET = 2,
    T_ZSET = 3,
    T_HASH = 4,
    T_ZSET_2 = 5,
    T_MODULE = 6,
    T_MODULE_2 = 7,
    /* 8 was never used */
    T_HASH_ZIPMAP = 9,
    T_LIST_ZIPLIST = 10,
    T_SET_INTSET = 11,
    T_ZSET_ZIPLIST = 12,
    T_HASH_ZIPLIST = 13,
    T_LIST_QUICKLIST = 14,
    T_STREAM_LISTPACKS = 15,
    T_HASH_LISTPACK = 16,
    T_ZSET_LISTPACK = 17,
    T_LIST_QUICKLIST_2 = 18,
    T_STREAM_LISTPACKS_2 = 19,
};

/* String encodings (after the 11 bits of a length byte). */
enum { ENC_INT8 = 0, ENC_INT16 = 1, ENC_INT32 = 2, ENC_LZF = 3 };

/* Module value opcodes (MODULE_2 values and module aux data). */
enum { MOD_EOF = 0, MOD_SINT = 1, MOD_UINT = 2, MOD_FLOAT = 3, MOD_DOUBLE = 4, MOD_STRING = 5 };

/* Quicklist 2 node containers. */
enum { QL_PLAIN = 1, QL_PACKED = 2 };

/* A stream ID as a stream's PEL stores it: 16 raw bytes (ms, seq, both
 * big-endian). */
#define STREAM_ID_BYTES 16

/* Each LZF back-reference of 3 bytes expands to at most 264 bytes, so no
 * valid compressed string is more than 88 times its compressed size: a
 * larger claimed size is corrupt, and is refused before it is allocated. */
#define LZF_MAX_RATIO 88

/* The CRC-64 of a DUMP payload and the RDB version before it. */
#define DUMP_FOOTER 10

/* rdb_reader.pos once EOF (and the checksum) has been read: later calls
 * return RDB_END again. */
#define POS_DONE SIZE_MAX

/* ---- CRC-64 ---------------------------------------------------------- */

/* The Jones polynomial 0xad93d23594c935a9, bit-reflected: Redis's CRC-64
 * reflects input and output, which a right-shifting table computes. */
#define CRC_POLY_REFLECTED UINT64_C(0x95ac9329ac4bc9b5)

/* Slicing by 8: crc_table[k][b] is the CRC of byte b followed by k zero
 * bytes, so 8 input bytes are folded in with 8 lookups. Built once, at the
 * first call (16 KiB). */
static uint64_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_build(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint64_t c = b;
        for (int i = 0; i < 8; i++)
            c = (c & 1) ? (c >> 1) ^ CRC_POLY_REFLECTED : c >> 1;
        crc_table[0][b] = c;
    }
    for (unsigned b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xff];
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t rdb_crc64(uint64_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_build);
    const uint8_t *s = p;
    while (n >= 8) {
        uint64_t v = crc ^ load_le64(s);
        crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
              crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
              crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
              crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
        s += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ---- writing --------------------------------------------------------- */

void rdb_writer_init(rdb_writer *w, rdb_sink sink, void *ctx)
{
    w->sink = sink;
    w->ctx = ctx;
    w->crc = 0;
    w->bytes = 0;
    w->err = 0;
    w->sink_sums = false;
    w->len = 0;
}

/* Hand p[0..n) to the sink, folding it into the checksum. */
static void hand(rdb_writer *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    if (!w->sink_sums)
        w->crc = rdb_crc64(w->crc, p, n);
    int e = w->sink(w->ctx, p, n);
    if (e)
        w->err = e;
    else
        w->bytes += n;
}

static void flush(rdb_writer *w)
{
    hand(w, w->buf, w->len);
    w->len = 0;
}

static void put(rdb_writer *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (n <= RDB_WRITE_BUF - w->len) {
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        return;
    }
    flush(w);
    if (n >= RDB_WRITE_BUF) {
        hand(w, p, n); /* a big value goes straight through */
    } else {
        memcpy(w->buf, p, n);
        w->len = n;
    }
}

/* Encode a length into b (at most 9 bytes); returns the bytes used. */
static size_t enc_len(uint8_t *b, uint64_t len)
{
    if (len < (1u << 6)) {
        b[0] = (uint8_t)len;
        return 1;
    }
    if (len < (1u << 14)) {
        b[0] = (uint8_t)(0x40 | (len >> 8));
        b[1] = (uint8_t)len;
        return 2;
    }
    if (len <= UINT32_MAX) {
        b[0] = 0x80;
        for (int i = 0; i < 4; i++)
            b[1 + i] = (uint8_t)(len >> (8 * (3 - i)));
        return 5;
    }
    b[0] = 0x81;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(len >> (8 * (7 - i)));
    return 9;
}

static void put_len(rdb_writer *w, uint64_t len)
{
    uint8_t b[9];
    put(w, b, enc_len(b, len));
}

static void put_string(rdb_writer *w, const void *p, size_t n)
{
    put_len(w, n);
    put(w, p, n);
}

static void put_byte(rdb_writer *w, uint8_t b)
{
    put(w, &b, 1);
}

void rdb_write_aux(rdb_writer *w, const char *name, const void *val, size_t vlen)
{
    put_byte(w, OP_AUX);
    put_string(w, name, strlen(name));
    put_string(w, val, vlen);
}

static void put_aux_int(rdb_writer *w, const char *name, long long v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%lld", v);
    rdb_write_aux(w, name, b, (size_t)n);
}

void rdb_write_header(rdb_writer *w, const char *redis_ver, int64_t ctime, uint64_t used_mem)
{
    char magic[10];
    snprintf(magic, sizeof magic, "REDIS%04d", RDB_VERSION);
    put(w, magic, 9);
    rdb_write_aux(w, "redis-ver", redis_ver, strlen(redis_ver));
    put_aux_int(w, "redis-bits", 64);
    put_aux_int(w, "ctime", (long long)ctime);
    char b[24];
    int n = snprintf(b, sizeof b, "%llu", (unsigned long long)used_mem);
    rdb_write_aux(w, "used-mem", b, (size_t)n);
    put_aux_int(w, "aof-base", 0);
}

void rdb_write_db(rdb_writer *w, unsigned db, uint64_t keys, uint64_t expires)
{
    uint8_t b[1 + 9 + 1 + 9 + 9];
    size_t n = 0;
    b[n++] = OP_SELECTDB;
    n += enc_len(b + n, db);
    b[n++] = OP_RESIZEDB;
    n += enc_len(b + n, keys);
    n += enc_len(b + n, expires);
    put(w, b, n);
}

void rdb_write_string(rdb_writer *w, const void *key, size_t klen, const void *val, size_t vlen,
                      int64_t expire_ms)
{
    /* Everything before the value in one piece: the common small key is
     * two copies into the buffer. */
    uint8_t b[1 + 8 + 1 + 9];
    size_t n = 0;
    if (expire_ms >= 0) {
        b[n++] = OP_EXPIRETIME_MS;
        store_le64(b + n, (uint64_t)expire_ms);
        n += 8;
    }
    b[n++] = T_STRING;
    n += enc_len(b + n, klen);
    put(w, b, n);
    put(w, key, klen);
    put_string(w, val, vlen);
}

int rdb_write_end(rdb_writer *w)
{
    put_byte(w, OP_EOF);
    flush(w);
    if (w->err || w->sink_sums)
        return w->err;
    /* The checksum itself is not part of what it sums: handed past the
     * running CRC, which stays the file's checksum. */
    uint8_t b[8];
    store_le64(b, w->crc);
    int e = w->sink(w->ctx, b, sizeof b);
    if (e)
        w->err = e;
    else
        w->bytes += sizeof b;
    return w->err;
}

/* ---- reading --------------------------------------------------------- */

static bool fail(rdb_reader *r, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record what is wrong at 'at'; returns false, for `return fail(...)`. */
static bool fail(rdb_reader *r, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->offset = (size_t)(at - r->p);
    return false;
}

static bool truncated(rdb_reader *r, const uint8_t *at)
{
    return fail(r, at, "truncated");
}

static inline size_t left(const rdb_reader *r, const uint8_t *p)
{
    return (size_t)(r->p + r->n - p);
}

/* A length or a string's encoding at *pp. *enc: -1 for a length, else the
 * encoding (ENC_*) of the string that follows. */
static inline bool get_len(rdb_reader *r, const uint8_t **pp, uint64_t *len, int *enc)
{
    const uint8_t *p = *pp;
    *enc = -1;
    *len = 0;
    if (left(r, p) < 1)
        return truncated(r, p);
    uint8_t b = p[0];
    switch (b >> 6) {
    case 0:
        *len = b;
        *pp = p + 1;
        return true;
    case 1:
        if (left(r, p) < 2)
            return truncated(r, p);
        *len = (uint64_t)(b & 0x3f) << 8 | p[1];
        *pp = p + 2;
        return true;
    case 3:
        *enc = b & 0x3f;
        *pp = p + 1;
        return true;
    default:
        break;
    }
    int bytes = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
    if (bytes == 0)
        return fail(r, p, "bad length encoding 0x%02x", b);
    if (left(r, p) < 1 + (size_t)bytes)
        return truncated(r, p);
    uint64_t v = 0;
    for (int i = 1; i <= bytes; i++)
        v = v << 8 | p[i];
    *len = v;
    *pp = p + 1 + bytes;
    return true;
}

/* A plain length: an encoded string here is an error. */
static bool get_count(rdb_reader *r, const uint8_t **pp, uint64_t *len)
{
    const uint8_t *at = *pp;
    int enc;
    if (!get_len(r, pp, len, &enc))
        return false;
    if (enc >= 0)
        return fail(r, at, "encoded string where a length belongs");
    return true;
}

static bool skip(rdb_reader *r, const uint8_t **pp, uint64_t n)
{
    if (left(r, *pp) < n)
        return truncated(r, *pp);
    *pp += n;
    return true;
}

/* Make scratch[slot] at least n bytes. */
static bool reserve(rdb_reader *r, const uint8_t *at, int slot, size_t n)
{
    if (r->scratch_cap[slot] >= n)
        return true;
    size_t cap = r->scratch_cap[slot] ? r->scratch_cap[slot] : 64;
    while (cap < n)
        cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    uint8_t *b = realloc(r->scratch[slot], cap);
    if (!b)
        return fail(r, at, "out of memory for a %zu-byte string", n);
    r->scratch[slot] = b;
    r->scratch_cap[slot] = cap;
    return true;
}

/* Inflate LZF data in[0..clen) into exactly out[0..ulen) (the format of
 * liblzf's lzf_d.c): a control byte below 32 starts a literal run of
 * ctrl+1 bytes; otherwise its top 3 bits are a length (7: add the next
 * byte) and the copy is length+2 bytes from (low 5 bits << 8 | next byte)
 * + 1 bytes back in the output. */
static bool lzf_inflate(const uint8_t *in, size_t clen, uint8_t *out, size_t ulen)
{
    size_t i = 0, o = 0;
    while (i < clen) {
        unsigned ctrl = in[i++];
        if (ctrl < 32) {
            size_t run = ctrl + 1;
            if (run > clen - i || run > ulen - o)
                return false;
            memcpy(out + o, in + i, run);
            i += run;
            o += run;
            continue;
        }
        size_t len = ctrl >> 5;
        size_t back = (size_t)(ctrl & 0x1f) << 8;
        if (len == 7) {
            if (i >= clen)
                return false;
            len += in[i++];
        }
        if (i >= clen)
            return false;
        back += (size_t)in[i++] + 1;
        len += 2;
        if (back > o || len > ulen - o)
            return false;
        const uint8_t *ref = out + o - back;
        if (back >= len) {
            memcpy(out + o, ref, len);
        } else {
            /* The copy overlaps what it writes: byte by byte repeats the
             * pattern, as the format means. */
            for (size_t k = 0; k < len; k++)
                out[o + k] = ref[k];
        }
        o += len;
    }
    return o == ulen;
}

/* Decimal text of v into b (at least 21 bytes); returns its length. */
static size_t fmt_int(uint8_t *b, int64_t v)
{
    char t[24];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        b[len++] = '-';
    while (n)
        b[len++] = (uint8_t)t[--n];
    return len;
}

/* The encoded string (encoding enc) at *pp, decoded into scratch[slot]. */
static bool get_encoded(rdb_reader *r, const uint8_t **pp, int enc, int slot, const uint8_t **s,
                        size_t *len)
{
    const uint8_t *p = *pp, *at = p - 1;
    if (enc <= ENC_INT32) {
        size_t w = (size_t)1 << enc; /* 1, 2 or 4 bytes */
        if (left(r, p) < w)
            return truncated(r, p);
        uint32_t u = 0;
        for (size_t i = 0; i < w; i++)
            u |= (uint32_t)p[i] << (8 * i);
        int64_t v = enc == ENC_INT8 ? (int8_t)u : enc == ENC_INT16 ? (int16_t)u : (int32_t)u;
        if (!reserve(r, at, slot, 24))
            return false;
        *len = fmt_int(r->scratch[slot], v);
        *s = r->scratch[slot];
        *pp = p + w;
        return true;
    }
    if (enc != ENC_LZF)
        return fail(r, at, "unknown string encoding %d", enc);
    uint64_t clen, ulen;
    if (!get_count(r, &p, &clen) || !get_count(r, &p, &ulen))
        return false;
    if (left(r, p) < clen)
        return truncated(r, p);
    if (ulen / LZF_MAX_RATIO > clen)
        return fail(r, at, "LZF string of %llu bytes claims %llu", (unsigned long long)clen,
                    (unsigned long long)ulen);
    if (!reserve(r, at, slot, ulen ? ulen : 1))
        return false;
    if (!lzf_inflate(p, clen, r->scratch[slot], ulen))
        return fail(r, at, "bad LZF data");
    *s = r->scratch[slot];
    *len = ulen;
    *pp = p + clen;
    return true;
}

/* The string at *pp: plain strings point into the input, encoded ones
 * are decoded into scratch[slot]. */
static inline bool get_string(rdb_reader *r, const uint8_t **pp, int slot, const uint8_t **s,
                              size_t *len)
{
    const uint8_t *p = *pp;
    /* The common case first: a short plain string (6-bit length). */
    if (left(r, p) >= 1 && p[0] < 0x40 && left(r, p) - 1 >= p[0]) {
        *s = p + 1;
        *len = p[0];
        *pp = p + 1 + p[0];
        return true;
    }
    uint64_t n;
    int enc;
    if (!get_len(r, &p, &n, &enc))
        return false;
    if (enc >= 0) {
        *pp = p;
        return get_encoded(r, pp, enc, slot, s, len);
    }
    if (left(r, p) < n)
        return truncated(r, p);
    *s = p;
    *len = (size_t)n;
    *pp = p + n;
    return true;
}

/* Step over a string without decoding it. */
static bool skip_string(rdb_reader *r, const uint8_t **pp)
{
    const uint8_t *at = *pp;
    uint64_t n;
    int enc;
    if (!get_len(r, pp, &n, &enc))
        return false;
    if (enc < 0)
        return skip(r, pp, n);
    if (enc <= ENC_INT32)
        return skip(r, pp, (uint64_t)1 << enc);
    if (enc != ENC_LZF)
        return fail(r, at, "unknown string encoding %d", enc);
    uint64_t clen, ulen;
    if (!get_count(r, pp, &clen) || !get_count(r, pp, &ulen))
        return false;
    return skip(r, pp, clen);
}

static bool skip_strings(rdb_reader *r, const uint8_t **pp, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++)
        if (!skip_string(r, pp))
            return false;
    return true;
}

static bool skip_counts(rdb_reader *r, const uint8_t **pp, int count)
{
    uint64_t v;
    for (int i = 0; i < count; i++)
        if (!get_count(r, pp, &v))
            return false;
    return true;
}

/* A ZSET (type 3) score: a length byte, with 253/254/255 for nan/+inf/-inf,
 * then that many bytes of text. */
static bool skip_text_double(rdb_reader *r, const uint8_t **pp)
{
    if (left(r, *pp) < 1)
        return truncated(r, *pp);
    uint8_t n = *(*pp)++;
    return n >= 253 || skip(r, pp, n);
}

/* Module opcodes up to their EOF (a MODULE_2 value, module aux data). */
static bool skip_module_opcodes(rdb_reader *r, const uint8_t **pp)
{
    for (;;) {
        const uint8_t *at = *pp;
        uint64_t op, v;
        if (!get_count(r, pp, &op))
            return false;
        switch (op) {
        case MOD_EOF:
            return true;
        case MOD_SINT:
        case MOD_UINT:
            if (!get_count(r, pp, &v))
                return false;
            break;
        case MOD_FLOAT:
            if (!skip(r, pp, 4))
                return false;
            break;
        case MOD_DOUBLE:
            if (!skip(r, pp, 8))
                return false;
            break;
        case MOD_STRING:
            if (!skip_string(r, pp))
                return false;
            break;
        default:
            return fail(r, at, "unknown module opcode %llu", (unsigned long long)op);
        }
    }
}

/* A stream's consumer groups (after its listpacks and metadata). */
static bool skip_stream_groups(rdb_reader *r, const uint8_t **pp, bool v2)
{
    uint64_t groups;
    if (!get_count(r, pp, &groups))
        return false;
    for (uint64_t g = 0; g < groups; g++) {
        uint64_t pel, consumers;
        /* name, last-delivered id (ms, seq), and in v2 the entries-read
         * offset */
        if (!skip_string(r, pp) || !skip_counts(r, pp, v2 ? 3 : 2))
            return false;
        /* the group's PEL: raw ID, delivery time (8 bytes), count */
        if (!get_count(r, pp, &pel))
            return false;
        for (uint64_t i = 0; i < pel; i++)
            if (!skip(r, pp, STREAM_ID_BYTES + 8) || !skip_counts(r, pp, 1))
                return false;
        if (!get_count(r, pp, &consumers))
            return false;
        for (uint64_t c = 0; c < consumers; c++) {
            /* name, seen time (8 bytes), its PEL: raw IDs */
            if (!skip_string(r, pp) || !skip(r, pp, 8) || !get_count(r, pp, &pel))
                return false;
            if (pel > left(r, *pp) / STREAM_ID_BYTES)
                return truncated(r, *pp);
            *pp += pel * STREAM_ID_BYTES;
        }
    }
    return true;
}

/* Walk over the value of a key of type t (not a string). */
static bool skip_value(rdb_reader *r, const uint8_t **pp, int t, const uint8_t *at)
{
    uint64_t n;
    switch (t) {
    case T_LIST:
    case T_SET:
    case T_LIST_QUICKLIST:
        return get_count(r, pp, &n) && skip_strings(r, pp, n);
    case T_HASH:
        if (!get_count(r, pp, &n))
            return false;
        for (uint64_t i = 0; i < n; i++)
            if (!skip_strings(r, pp, 2))
                return false;
        return true;
    case T_ZSET:
    case T_ZSET_2:
        if (!get_count(r, pp, &n))
            return false;
        for (uint64_t i = 0; i < n; i++) {
            if (!skip_string(r, pp))
                return false;
            if (!(t == T_ZSET_2 ? skip(r, pp, 8) : skip_text_double(r, pp)))
                return false;
        }
        return true;
    case T_HASH_ZIPMAP:
    case T_LIST_ZIPLIST:
    case T_SET_INTSET:
    case T_ZSET_ZIPLIST:
    case T_HASH_ZIPLIST:
    case T_HASH_LISTPACK:
    case T_ZSET_LISTPACK:
        return skip_string(r, pp); /* one serialized blob */
    case T_LIST_QUICKLIST_2:
        if (!get_count(r, pp, &n))
            return false;
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *c = *pp;
            uint64_t container;
            if (!get_count(r, pp, &container))
                return false;
            if (container != QL_PLAIN && container != QL_PACKED)
                return fail(r, c, "bad quicklist container %llu", (unsigned long long)container);
            if (!skip_string(r, pp))
                return false;
        }
        return true;
    case T_STREAM_LISTPACKS:
    case T_STREAM_LISTPACKS_2:
        /* (master ID, listpack) pairs; length, last ID; in v2 first ID,
         * max deleted ID, entries added; then the consumer groups */
        if (!get_count(r, pp, &n))
            return false;
        for (uint64_t i = 0; i < n; i++)
            if (!skip_strings(r, pp, 2))
                return false;
        if (!skip_counts(r, pp, t == T_STREAM_LISTPACKS_2 ? 8 : 3))
            return false;
        return skip_stream_groups(r, pp, t == T_STREAM_LISTPACKS_2);
    case T_MODULE_2:
        return get_count(r, pp, &n) && skip_module_opcodes(r, pp); /* module id, opcodes */
    case T_MODULE:
        return fail(r, at, "module value without opcodes (type 6) cannot be walked");
    default:
        return fail(r, at, "unknown type %d", t);
    }
}

rdb_status rdb_reader_init(rdb_reader *r, const uint8_t *p, size_t n)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->n = n;
    r->pos = 0;
    if (n < 9 || memcmp(p, "REDIS", 5) != 0) {
        fail(r, p, "not an RDB file");
        return RDB_ERROR;
    }
    int v = 0;
    for (int i = 5; i < 9; i++) {
        if (p[i] < '0' || p[i] > '9') {
            fail(r, p + i, "bad RDB version");
            return RDB_ERROR;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > RDB_VERSION) {
        fail(r, p + 5, "RDB version %d not supported (1 to %d)", v, RDB_VERSION);
        return RDB_ERROR;
    }
    r->version = v;
    r->pos = 9;
    return RDB_NEXT;
}

void rdb_reader_deinit(rdb_reader *r)
{
    for (int i = 0; i < 2; i++) {
        free(r->scratch[i]);
        r->scratch[i] = NULL;
        r->scratch_cap[i] = 0;
    }
}

/* EOF has been read; p is past it. The checksum, and nothing after it. */
static bool check_end(rdb_reader *r, const uint8_t *p)
{
    if (r->version >= 5) {
        if (left(r, p) < 8)
            return truncated(r, p);
        uint64_t stored = load_le64(p);
        r->stored_crc = stored;
        r->crc_len = (size_t)(p - r->p);
        if (stored != 0 && !r->defer_crc) {
            uint64_t crc = rdb_crc64(0, r->p, (size_t)(p - r->p));
            if (crc != stored)
                return fail(r, p, "checksum mismatch: stored %016llx, computed %016llx",
                            (unsigned long long)stored, (unsigned long long)crc);
        }
        p += 8;
    }
    /* A file with more after its end (an AOF tail, say) is not one this
     * reader can load whole: refused rather than cut short. */
    if (left(r, p) != 0)
        return fail(r, p, "%zu bytes after the end", left(r, p));
    return true;
}

static void item_clear(rdb_item *it, rdb_item_kind kind, int type, unsigned db)
{
    it->kind = kind;
    it->type = type;
    it->db = db;
    it->key = it->val = NULL;
    it->klen = it->vlen = 0;
    it->expire_ms = -1;
    it->idle = -1;
    it->freq = -1;
}

rdb_status rdb_next(rdb_reader *r, rdb_item *it)
{
    if (r->error[0])
        return RDB_ERROR; /* an error is final */
    if (r->pos == POS_DONE)
        return RDB_END;
    const uint8_t *p = r->p + r->pos;
    /* A key's attributes, from the opcodes before its type byte. */
    int64_t expire = -1, idle = -1;
    int freq = -1;
    bool attrs = false;
    for (;;) {
        const uint8_t *at = p;
        if (left(r, p) < 1)
            goto short_input;
        int t = *p++;
        uint64_t v, w;
        switch (t) {
        case T_STRING:
            item_clear(it, RDB_ITEM_STRING, t, r->db);
            if (!get_string(r, &p, 0, &it->key, &it->klen) ||
                !get_string(r, &p, 1, &it->val, &it->vlen))
                return RDB_ERROR;
            goto key;
        case OP_EXPIRETIME_MS:
            if (left(r, p) < 8)
                goto short_input;
            expire = (int64_t)load_le64(p);
            p += 8;
            attrs = true;
            continue;
        case OP_EXPIRETIME:
            if (left(r, p) < 4)
                goto short_input;
            expire =
                (int64_t)(int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) * 1000;
            p += 4;
            attrs = true;
            continue;
        case OP_IDLE:
            if (!get_count(r, &p, &v))
                return RDB_ERROR;
            idle = v > INT64_MAX ? INT64_MAX : (int64_t)v;
            attrs = true;
            continue;
        case OP_FREQ:
            if (left(r, p) < 1)
                goto short_input;
            freq = *p++;
            attrs = true;
            continue;
        case OP_SELECTDB:
            if (!get_count(r, &p, &v))
                return RDB_ERROR;
            if (v > UINT32_MAX) {
                fail(r, at, "database %llu", (unsigned long long)v);
                return RDB_ERROR;
            }
            r->db = (unsigned)v;
            continue;
        case OP_RESIZEDB:
            if (!get_count(r, &p, &v) || !get_count(r, &p, &w))
                return RDB_ERROR;
            r->resize_keys = v;
            r->resize_expires = w;
            continue;
        case OP_EOF:
            if (!check_end(r, p))
                return RDB_ERROR;
            r->pos = POS_DONE;
            return RDB_END;
        case OP_AUX:
        case OP_FUNCTION2:
        case OP_MODULE_AUX:
            /* Redis writes a key's attributes just before its type byte;
             * anything else between them is a corrupt file. */
            if (attrs) {
                fail(r, at, "opcode %d between a key's attributes and its type", t);
                return RDB_ERROR;
            }
            if (t == OP_AUX) {
                item_clear(it, RDB_ITEM_AUX, t, r->db);
                if (!get_string(r, &p, 0, &it->key, &it->klen) ||
                    !get_string(r, &p, 1, &it->val, &it->vlen))
                    return RDB_ERROR;
            } else if (t == OP_FUNCTION2) {
                item_clear(it, RDB_ITEM_SKIP, t, r->db);
                if (!get_string(r, &p, 1, &it->val, &it->vlen))
                    return RDB_ERROR;
            } else {
                item_clear(it, RDB_ITEM_SKIP, t, r->db);
                const uint8_t *wat;
                if (!get_count(r, &p, &v)) /* module id */
                    return RDB_ERROR;
                wat = p;
                if (!get_count(r, &p, &w))
                    return RDB_ERROR;
                if (w != MOD_UINT) {
                    fail(r, wat, "module aux 'when' is not an integer");
                    return RDB_ERROR;
                }
                if (!get_count(r, &p, &w) || !skip_module_opcodes(r, &p))
                    return RDB_ERROR;
            }
            r->pos = (size_t)(p - r->p);
            return RDB_NEXT;
        case OP_FUNCTION:
            fail(r, at, "function library of a Redis 7.0 release candidate (opcode 246)");
            return RDB_ERROR;
        default:
            if (t >= OP_FUNCTION2) {
                fail(r, at, "unknown opcode %d", t);
                return RDB_ERROR;
            }
            item_clear(it, RDB_ITEM_OTHER, t, r->db);
            if (!get_string(r, &p, 0, &it->key, &it->klen) || !skip_value(r, &p, t, at))
                return RDB_ERROR;
            goto key;
        }
    key:
        it->expire_ms = expire;
        it->idle = idle;
        it->freq = freq;
        r->pos = (size_t)(p - r->p);
        return RDB_NEXT;
    }
short_input:
    truncated(r, p);
    return RDB_ERROR;
}

/* ---- DUMP and RESTORE ------------------------------------------------ */

size_t rdb_dump_string(const void *val, size_t vlen, uint8_t *out)
{
    size_t n = 0;
    out[n++] = T_STRING;
    n += enc_len(out + n, vlen);
    if (vlen)
        memcpy(out + n, val, vlen);
    n += vlen;
    out[n++] = RDB_VERSION & 0xff;
    out[n++] = (RDB_VERSION >> 8) & 0xff;
    store_le64(out + n, rdb_crc64(0, out, n));
    return n + 8;
}

rdb_restore_status rdb_restore_string(const uint8_t *p, size_t n, uint8_t **scratch,
                                      size_t *scratch_cap, const uint8_t **val, size_t *vlen)
{
    if (n < DUMP_FOOTER + 1)
        return RDB_RESTORE_BAD;
    const uint8_t *footer = p + n - DUMP_FOOTER;
    unsigned version = footer[0] | (unsigned)footer[1] << 8;
    if (version > RDB_VERSION || rdb_crc64(0, p, n - 8) != load_le64(footer + 2))
        return RDB_RESTORE_BAD;

    /* The body is one type byte and a value, read as a file's would be.
     * Like Redis's RESTORE, bytes after the value are not looked at. */
    rdb_reader r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.n = n - DUMP_FOOTER;
    r.version = (int)version;
    r.scratch[1] = *scratch;
    r.scratch_cap[1] = *scratch_cap;
    const uint8_t *q = p + 1;
    int t = p[0];
    rdb_restore_status st;
    if (t == T_STRING) {
        st = get_string(&r, &q, 1, val, vlen) ? RDB_RESTORE_OK : RDB_RESTORE_BAD;
    } else if (t >= OP_FUNCTION2) {
        st = RDB_RESTORE_BAD; /* an opcode, not a type */
    } else {
        st = skip_value(&r, &q, t, p) ? RDB_RESTORE_NOT_STRING : RDB_RESTORE_BAD;
    }
    *scratch = r.scratch[1];
    *scratch_cap = r.scratch_cap[1];
    return st;
}
