/* Unit tests for rdb.c: the CRC, writer -> reader round trips, every
 * truncation and bit flip of valid files, hand-built files with every
 * string encoding, type and opcode the reader walks, and DUMP/RESTORE. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdb.h"

/* ---- helpers --------------------------------------------------------- */

/* A growable byte buffer: a writer's sink, and the builder of hand-made
 * files. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_byte(buf *b, uint8_t c)
{
    b_put(b, &c, 1);
}

static void b_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b_byte(b, (uint8_t)(v >> (8 * i)));
}

/* A length as RDB stores it, written here independently of the codec. */
static void b_len(buf *b, uint64_t len)
{
    if (len < 64) {
        b_byte(b, (uint8_t)len);
    } else if (len < 16384) {
        b_byte(b, (uint8_t)(0x40 | len >> 8));
        b_byte(b, (uint8_t)len);
    } else if (len <= UINT32_MAX) {
        b_byte(b, 0x80);
        for (int i = 3; i >= 0; i--)
            b_byte(b, (uint8_t)(len >> (8 * i)));
    } else {
        b_byte(b, 0x81);
        for (int i = 7; i >= 0; i--)
            b_byte(b, (uint8_t)(len >> (8 * i)));
    }
}

static void b_str(buf *b, const char *s)
{
    b_len(b, strlen(s));
    b_put(b, s, strlen(s));
}

static void b_header(buf *b, int version)
{
    char h[16];
    snprintf(h, sizeof h, "REDIS%04d", version);
    b_put(b, h, 9);
}

/* EOF and the checksum of everything before it. */
static void b_end(buf *b)
{
    b_byte(b, 255);
    uint64_t crc = rdb_crc64(0, b->p, b->n);
    b_le(b, crc, 8);
}

static int sink_buf(void *ctx, const void *p, size_t n)
{
    b_put(ctx, p, n);
    return 0;
}

static bool eq(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && (n == 0 || memcmp(p, s, n) == 0);
}

/* Read the next item, which must be a key or aux field (kind), named key. */
static void expect(rdb_reader *r, rdb_item *it, rdb_item_kind kind, int type, const char *key)
{
    rdb_status st = rdb_next(r, it);
    cr_assert_eq(st, RDB_NEXT, "rdb_next: %d (%s at %zu)", st, r->error, r->offset);
    cr_assert_eq(it->kind, kind, "kind %d, wanted %d", it->kind, kind);
    cr_assert_eq(it->type, type, "type %d, wanted %d", it->type, type);
    if (key)
        cr_assert(eq(it->key, it->klen, key), "key '%.*s', wanted '%s'", (int)it->klen,
                  (const char *)it->key, key);
}

static void expect_string(rdb_reader *r, const char *key, const char *val)
{
    rdb_item it;
    expect(r, &it, RDB_ITEM_STRING, 0, key);
    cr_assert(eq(it.val, it.vlen, val), "value '%.*s', wanted '%s'", (int)it.vlen,
              (const char *)it.val, val);
}

static void expect_end(rdb_reader *r)
{
    rdb_item it;
    rdb_status st = rdb_next(r, &it);
    cr_assert_eq(st, RDB_END, "rdb_next: %d (%s at %zu)", st, r->error, r->offset);
    cr_assert_eq(rdb_next(r, &it), RDB_END); /* and stays there */
}

/* Read the whole of p[0..n): RDB_END or RDB_ERROR (at init or later). */
static rdb_status read_all(const uint8_t *p, size_t n, size_t *items)
{
    rdb_reader r;
    rdb_item it;
    size_t count = 0;
    rdb_status st = rdb_reader_init(&r, p, n);
    while (st == RDB_NEXT) {
        st = rdb_next(&r, &it);
        if (st == RDB_NEXT) {
            count++;
            /* property: plain strings point inside the input */
            bool decoded =
                r.scratch[0] && it.key >= r.scratch[0] && it.key < r.scratch[0] + r.scratch_cap[0];
            if (it.key && !decoded)
                cr_assert(it.key >= p && it.key + it.klen <= p + n);
        }
    }
    if (st == RDB_ERROR)
        cr_assert(r.error[0] != '\0');
    cr_assert_eq(rdb_next(&r, &it), st); /* final either way */
    rdb_reader_deinit(&r);
    if (items)
        *items = count;
    return st;
}

/* A small file written by the writer: header, two databases, strings with
 * and without TTLs, an empty and a binary value. */
static buf small_file(void)
{
    buf b = {0};
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_buf, &b);
    rdb_write_header(w, "7.0.15", 1700000000, 123456);
    rdb_write_db(w, 0, 3, 1);
    rdb_write_string(w, "customer:42", 11, "hello", 5, 1800000000000);
    rdb_write_string(w, "42", 2, "", 0, -1);
    rdb_write_string(w, "7", 1, "a\0b\xff", 4, -1);
    rdb_write_db(w, 3, 1, 0);
    rdb_write_string(w, "x:1", 3, "v", 1, 5);
    cr_assert_eq(rdb_write_end(w), 0);
    free(w);
    return b;
}

/* ---- CRC ------------------------------------------------------------- */

Test(rdb_crc, redis_test_vector)
{
    cr_assert_eq(rdb_crc64(0, "123456789", 9), UINT64_C(0xe9c6d914c4b8d9ca));
    cr_assert_eq(rdb_crc64(0, "", 0), 0);
}

Test(rdb_crc, incremental_equals_whole)
{
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    uint64_t whole = rdb_crc64(0, data, sizeof data);
    for (size_t cut = 0; cut <= sizeof data; cut += 37) {
        uint64_t c = rdb_crc64(0, data, cut);
        cr_assert_eq(rdb_crc64(c, data + cut, sizeof data - cut), whole);
    }
    /* unaligned starts take the same path */
    cr_assert_eq(rdb_crc64(rdb_crc64(0, data, 3), data + 3, 997), whole);
}

/* ---- writer -> reader ------------------------------------------------ */

Test(rdb_roundtrip, header_aux_db_fields)
{
    buf b = small_file();
    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    cr_assert_eq(r.version, 10);
    cr_assert(memcmp(b.p, "REDIS0010", 9) == 0);
    const char *aux[][2] = {{"redis-ver", "7.0.15"},
                            {"redis-bits", "64"},
                            {"ctime", "1700000000"},
                            {"used-mem", "123456"},
                            {"aof-base", "0"}};
    for (int i = 0; i < 5; i++) {
        expect(&r, &it, RDB_ITEM_AUX, 250, aux[i][0]);
        cr_assert(eq(it.val, it.vlen, aux[i][1]));
    }
    expect(&r, &it, RDB_ITEM_STRING, 0, "customer:42");
    cr_assert(eq(it.val, it.vlen, "hello"));
    cr_assert_eq(it.expire_ms, 1800000000000);
    cr_assert_eq(it.idle, -1);
    cr_assert_eq(it.freq, -1);
    cr_assert_eq(it.db, 0);
    cr_assert_eq(r.resize_keys, 3);
    cr_assert_eq(r.resize_expires, 1);
    expect(&r, &it, RDB_ITEM_STRING, 0, "42");
    cr_assert_eq(it.vlen, 0);
    cr_assert_eq(it.expire_ms, -1);
    expect(&r, &it, RDB_ITEM_STRING, 0, "7");
    cr_assert_eq(it.vlen, 4);
    cr_assert(memcmp(it.val, "a\0b\xff", 4) == 0);
    expect(&r, &it, RDB_ITEM_STRING, 0, "x:1");
    cr_assert_eq(it.db, 3);
    cr_assert_eq(it.expire_ms, 5);
    cr_assert_eq(r.resize_keys, 1);
    cr_assert_eq(r.resize_expires, 0);
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

Test(rdb_roundtrip, trailing_crc_is_crc_of_the_rest)
{
    buf b = {0};
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_buf, &b);
    rdb_write_header(w, "7.0.15", 1, 2);
    rdb_write_db(w, 0, 1, 0);
    rdb_write_string(w, "1", 1, "one", 3, -1);
    cr_assert_eq(rdb_write_end(w), 0);
    cr_assert_eq(w->bytes, b.n);
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++)
        stored |= (uint64_t)b.p[b.n - 8 + i] << (8 * i);
    cr_assert_eq(stored, rdb_crc64(0, b.p, b.n - 8));
    cr_assert_eq(w->crc, stored);
    cr_assert_eq(b.p[b.n - 9], 255);
    free(w);
    free(b.p);
}

Test(rdb_roundtrip, many_keys)
{
    enum { N = 20000 };
    buf b = {0};
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_buf, &b);
    rdb_write_header(w, "7.0.15", 1700000000, 1);
    rdb_write_db(w, 0, N, N / 3);
    uint8_t val[300];
    char key[64];
    for (int i = 0; i < N; i++) {
        size_t vlen = (size_t)(i % 7 == 0 ? 128 : i % 5 == 0 ? 0 : i % 300);
        for (size_t j = 0; j < vlen; j++)
            val[j] = (uint8_t)(i * 7 + j * 13);
        int klen = i % 2 ? snprintf(key, sizeof key, "customer:%d", i)
                         : snprintf(key, sizeof key, "%d", i);
        rdb_write_string(w, key, (size_t)klen, val, vlen, i % 3 == 0 ? 1700000000000 + i : -1);
    }
    cr_assert_eq(rdb_write_end(w), 0);
    cr_assert(b.n > RDB_WRITE_BUF * 4); /* the buffer was flushed many times */

    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    for (int i = 0; i < 5; i++)
        expect(&r, &it, RDB_ITEM_AUX, 250, NULL);
    for (int i = 0; i < N; i++) {
        size_t vlen = (size_t)(i % 7 == 0 ? 128 : i % 5 == 0 ? 0 : i % 300);
        for (size_t j = 0; j < vlen; j++)
            val[j] = (uint8_t)(i * 7 + j * 13);
        int klen = i % 2 ? snprintf(key, sizeof key, "customer:%d", i)
                         : snprintf(key, sizeof key, "%d", i);
        expect(&r, &it, RDB_ITEM_STRING, 0, key);
        cr_assert_eq(it.klen, (size_t)klen);
        cr_assert_eq(it.vlen, vlen);
        cr_assert(vlen == 0 || memcmp(it.val, val, vlen) == 0);
        cr_assert_eq(it.expire_ms, i % 3 == 0 ? 1700000000000 + i : -1);
    }
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(w);
    free(b.p);
}

Test(rdb_roundtrip, values_larger_than_the_buffer)
{
    size_t big = RDB_WRITE_BUF * 3 + 17, mid = RDB_WRITE_BUF - 5;
    uint8_t *v = malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (uint8_t)(i ^ (i >> 8));
    buf b = {0};
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_buf, &b);
    rdb_write_header(w, "7.0.15", 0, 0);
    rdb_write_db(w, 0, 3, 0);
    rdb_write_string(w, "1", 1, v, mid, -1);
    rdb_write_string(w, "2", 1, v, big, 99);
    rdb_write_string(w, "3", 1, v, 100, -1);
    cr_assert_eq(rdb_write_end(w), 0);
    cr_assert_eq(w->bytes, b.n);

    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    for (int i = 0; i < 5; i++)
        expect(&r, &it, RDB_ITEM_AUX, 250, NULL);
    expect(&r, &it, RDB_ITEM_STRING, 0, "1");
    cr_assert(it.vlen == mid && memcmp(it.val, v, mid) == 0);
    expect(&r, &it, RDB_ITEM_STRING, 0, "2");
    cr_assert(it.vlen == big && memcmp(it.val, v, big) == 0);
    cr_assert_eq(it.expire_ms, 99);
    expect(&r, &it, RDB_ITEM_STRING, 0, "3");
    cr_assert(it.vlen == 100 && memcmp(it.val, v, 100) == 0);
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(w);
    free(b.p);
    free(v);
}

/* A sink that fails after a budget of bytes. */
static int sink_full(void *ctx, const void *p, size_t n)
{
    size_t *budget = ctx;
    if (n > *budget)
        return ENOSPC;
    *budget -= n;
    return 0;
}

Test(rdb_roundtrip, sink_error_is_kept_and_returned)
{
    size_t budget = RDB_WRITE_BUF + 100;
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_full, &budget);
    rdb_write_header(w, "7.0.15", 0, 0);
    uint8_t v[1000] = {0};
    for (int i = 0; i < 1000; i++)
        rdb_write_string(w, "k", 1, v, sizeof v, -1);
    cr_assert_eq(w->err, ENOSPC);
    cr_assert_eq(rdb_write_end(w), ENOSPC);
    cr_assert(w->bytes > 0 && w->bytes <= RDB_WRITE_BUF + 100);
    free(w);
}

/* ---- damaged files --------------------------------------------------- */

/* A hand-built file with every walked type and encoding (see below). */
static buf every_type_file(void);

static void check_prefixes(buf b)
{
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_END);
    for (size_t n = 0; n < b.n; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, b.p, n);
        cr_assert_eq(read_all(copy, n, NULL), RDB_ERROR, "prefix of %zu of %zu bytes", n, b.n);
        free(copy);
    }
}

static void check_bit_flips(buf b)
{
    uint8_t *copy = malloc(b.n);
    for (size_t i = 0; i < b.n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, b.p, b.n);
            copy[i] ^= (uint8_t)(1u << bit);
            cr_assert_eq(read_all(copy, b.n, NULL), RDB_ERROR, "flip of bit %d at %zu", bit, i);
        }
    }
    free(copy);
}

Test(rdb_damage, every_truncation_is_an_error)
{
    buf b = small_file();
    check_prefixes(b);
    free(b.p);
    b = every_type_file();
    check_prefixes(b);
    free(b.p);
}

Test(rdb_damage, every_bit_flip_is_an_error)
{
    buf b = small_file();
    check_bit_flips(b);
    free(b.p);
    b = every_type_file();
    check_bit_flips(b);
    free(b.p);
}

Test(rdb_damage, trailing_bytes_are_an_error)
{
    buf b = small_file();
    b_byte(&b, 0);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_ERROR);
    free(b.p);
}

Test(rdb_damage, checksum_error_names_its_offset)
{
    buf b = small_file();
    b.p[22] ^= 0x20; /* inside redis-ver's value: only the checksum sees it */
    rdb_reader r;
    rdb_item it;
    rdb_status st = rdb_reader_init(&r, b.p, b.n);
    while (st == RDB_NEXT)
        st = rdb_next(&r, &it);
    cr_assert_eq(st, RDB_ERROR);
    cr_assert_eq(r.offset, b.n - 8);
    cr_assert(strstr(r.error, "checksum"), "%s", r.error);
    rdb_reader_deinit(&r);
    free(b.p);
}

Test(rdb_damage, zero_checksum_is_not_checked)
{
    buf b = small_file();
    memset(b.p + b.n - 8, 0, 8);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_END);
    free(b.p);
}

Test(rdb_damage, headers)
{
    rdb_reader r;
    const char *bad[] = {"",          "REDIS",     "REDIS001",  "RADIS0010",
                         "REDIS0011", "REDIS0000", "REDIS00x1", "REDIS9999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(rdb_reader_init(&r, (const uint8_t *)bad[i], strlen(bad[i])), RDB_ERROR, "%s",
                     bad[i]);
        cr_assert(r.error[0]);
        rdb_reader_deinit(&r);
    }
}

/* ---- hand-built inputs ----------------------------------------------- */

/* A string key k whose value is the given raw encoded bytes. */
static void b_key_raw(buf *b, const char *k, const void *enc, size_t n)
{
    b_byte(b, 0);
    b_str(b, k);
    b_put(b, enc, n);
}

Test(rdb_hand, integer_encoded_strings)
{
    buf b = {0};
    b_header(&b, 10);
    b_key_raw(&b, "1", "\xc0\x05", 2);             /* INT8 5 */
    b_key_raw(&b, "2", "\xc0\xfb", 2);             /* INT8 -5 */
    b_key_raw(&b, "3", "\xc0\x80", 2);             /* INT8 -128 */
    b_key_raw(&b, "4", "\xc1\xe8\x03", 3);         /* INT16 1000 */
    b_key_raw(&b, "5", "\xc1\xd4\xfe", 3);         /* INT16 -300 */
    b_key_raw(&b, "6", "\xc1\x00\x80", 3);         /* INT16 -32768 */
    b_key_raw(&b, "7", "\xc2\xff\xff\xff\x7f", 5); /* INT32 max */
    b_key_raw(&b, "8", "\xc2\x00\x00\x00\x80", 5); /* INT32 min */
    b_key_raw(&b, "9", "\xc2\x40\x42\x0f\x00", 5); /* INT32 1000000 */
    b_key_raw(&b, "10", "\xc0\x00", 2);            /* INT8 0 */
    /* an integer-encoded key, as Redis writes "42" */
    b_byte(&b, 0);
    b_put(&b, "\xc0\x2a", 2);
    b_str(&b, "answer");
    /* both encoded: key and value decode to separate buffers */
    b_byte(&b, 0);
    b_put(&b, "\xc1\x39\x30", 3);
    b_put(&b, "\xc2\x87\xd6\x12\x00", 5);
    b_end(&b);

    rdb_reader r;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect_string(&r, "1", "5");
    expect_string(&r, "2", "-5");
    expect_string(&r, "3", "-128");
    expect_string(&r, "4", "1000");
    expect_string(&r, "5", "-300");
    expect_string(&r, "6", "-32768");
    expect_string(&r, "7", "2147483647");
    expect_string(&r, "8", "-2147483648");
    expect_string(&r, "9", "1000000");
    expect_string(&r, "10", "0");
    expect_string(&r, "42", "answer");
    expect_string(&r, "12345", "1234567");
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

/* LZF data, made by hand per liblzf's format: "abc" as a literal run (ctrl
 * 2), a long back-reference of 9 bytes at distance 3 (ctrl 7<<5, extra
 * length 0, offset 2), a literal 'X', a short back-reference of 3 bytes at
 * distance 3 (ctrl 1<<5, offset 2): "abcabcabcabcX" + "bcX". */
static const uint8_t lzf_data[] = {0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02, 0x00, 'X', 0x20, 0x02};
static const char lzf_text[] = "abcabcabcabcXbcX";

static void b_lzf(buf *b, const uint8_t *c, size_t clen, size_t ulen)
{
    b_byte(b, 0xc3);
    b_len(b, clen);
    b_len(b, ulen);
    b_put(b, c, clen);
}

Test(rdb_hand, lzf_strings)
{
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, 0);
    b_str(&b, "1");
    b_lzf(&b, lzf_data, sizeof lzf_data, strlen(lzf_text));
    /* an LZF key with an LZF value */
    b_byte(&b, 0);
    b_lzf(&b, lzf_data, sizeof lzf_data, strlen(lzf_text));
    b_lzf(&b, lzf_data, 4, 3); /* the literal run alone: "abc" */
    b_end(&b);

    rdb_reader r;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect_string(&r, "1", lzf_text);
    expect_string(&r, lzf_text, "abc");
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

static rdb_status read_one_lzf(const uint8_t *c, size_t clen, size_t ulen)
{
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, 0);
    b_str(&b, "1");
    b_lzf(&b, c, clen, ulen);
    b_end(&b);
    rdb_status st = read_all(b.p, b.n, NULL);
    free(b.p);
    return st;
}

Test(rdb_hand, malformed_lzf)
{
    /* a back-reference before the start of the output */
    const uint8_t before[] = {0x01, 'a', 'b', 0x20, 0x05};
    cr_assert_eq(read_one_lzf(before, sizeof before, 5), RDB_ERROR);
    /* the data decodes to fewer bytes than claimed, or more */
    cr_assert_eq(read_one_lzf(lzf_data, sizeof lzf_data, strlen(lzf_text) + 1), RDB_ERROR);
    cr_assert_eq(read_one_lzf(lzf_data, sizeof lzf_data, strlen(lzf_text) - 1), RDB_ERROR);
    /* a literal run past the end of the input; a reference without its
     * offset byte; a long reference without its length byte */
    const uint8_t run[] = {0x05, 'a', 'b'};
    cr_assert_eq(read_one_lzf(run, sizeof run, 6), RDB_ERROR);
    const uint8_t ref[] = {0x00, 'a', 0x20};
    cr_assert_eq(read_one_lzf(ref, sizeof ref, 4), RDB_ERROR);
    const uint8_t longref[] = {0x00, 'a', 0xe0};
    cr_assert_eq(read_one_lzf(longref, sizeof longref, 10), RDB_ERROR);
    /* a size no LZF data of this length can reach */
    cr_assert_eq(read_one_lzf(lzf_data, sizeof lzf_data, 1u << 30), RDB_ERROR);
    /* and the good data reads */
    cr_assert_eq(read_one_lzf(lzf_data, sizeof lzf_data, strlen(lzf_text)), RDB_END);
}

Test(rdb_hand, unknown_string_encoding)
{
    buf b = {0};
    b_header(&b, 10);
    b_key_raw(&b, "1", "\xc4\x00", 2);
    b_end(&b);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_ERROR);
    free(b.p);
}

Test(rdb_hand, lengths_in_every_width)
{
    buf b = {0};
    b_header(&b, 10);
    char *v = malloc(70000);
    memset(v, 'z', 70000);
    /* 14-bit, 32-bit and 64-bit lengths (a writer may use a wider one
     * than needed) */
    b_byte(&b, 0);
    b_str(&b, "1");
    b_len(&b, 100);
    b_put(&b, v, 100);
    b_byte(&b, 0);
    b_str(&b, "2");
    b_len(&b, 70000);
    b_put(&b, v, 70000);
    b_byte(&b, 0);
    b_str(&b, "3");
    b_put(&b, "\x81\0\0\0\0\0\0\0\x03zzz", 12);
    b_end(&b);
    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect(&r, &it, RDB_ITEM_STRING, 0, "1");
    cr_assert_eq(it.vlen, 100);
    expect(&r, &it, RDB_ITEM_STRING, 0, "2");
    cr_assert_eq(it.vlen, 70000);
    expect_string(&r, "3", "zzz");
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
    free(v);
}

Test(rdb_hand, key_attributes)
{
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, 250);
    b_str(&b, "redis-bits");
    b_put(&b, "\xc0\x40", 2); /* as Redis writes it: INT8 64 */
    b_byte(&b, 254);          /* SELECTDB 5 */
    b_len(&b, 5);
    b_byte(&b, 251); /* RESIZEDB 1000 1 */
    b_len(&b, 1000);
    b_len(&b, 1);
    b_byte(&b, 253); /* EXPIRETIME in seconds */
    b_le(&b, 1700000000, 4);
    b_key_raw(&b, "1", "\x01v", 2);
    b_byte(&b, 248); /* IDLE 300 */
    b_len(&b, 300);
    b_key_raw(&b, "2", "\x01v", 2);
    b_byte(&b, 249); /* FREQ 7, with an expire in ms */
    b_byte(&b, 7);
    b_byte(&b, 252);
    b_le(&b, 1700000000123, 8);
    b_key_raw(&b, "3", "\x01v", 2);
    b_key_raw(&b, "4", "\x01v", 2); /* attributes do not carry over */
    b_end(&b);

    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect(&r, &it, RDB_ITEM_AUX, 250, "redis-bits");
    cr_assert(eq(it.val, it.vlen, "64"));
    expect(&r, &it, RDB_ITEM_STRING, 0, "1");
    cr_assert_eq(it.db, 5);
    cr_assert_eq(r.db, 5);
    cr_assert_eq(r.resize_keys, 1000);
    cr_assert_eq(r.resize_expires, 1);
    cr_assert_eq(it.expire_ms, 1700000000000);
    cr_assert_eq(it.idle, -1);
    expect(&r, &it, RDB_ITEM_STRING, 0, "2");
    cr_assert_eq(it.idle, 300);
    cr_assert_eq(it.expire_ms, -1);
    cr_assert_eq(it.freq, -1);
    expect(&r, &it, RDB_ITEM_STRING, 0, "3");
    cr_assert_eq(it.freq, 7);
    cr_assert_eq(it.expire_ms, 1700000000123);
    expect(&r, &it, RDB_ITEM_STRING, 0, "4");
    cr_assert_eq(it.freq, -1);
    cr_assert_eq(it.expire_ms, -1);
    cr_assert_eq(it.idle, -1);
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

static void b_module_opcodes(buf *b)
{
    b_len(b, 1); /* SINT */
    b_len(b, 5);
    b_len(b, 2); /* UINT */
    b_len(b, 1u << 20);
    b_len(b, 3); /* FLOAT */
    b_le(b, 0x3f800000, 4);
    b_len(b, 4); /* DOUBLE */
    b_le(b, 0, 8);
    b_len(b, 5); /* STRING */
    b_str(b, "module data");
    b_len(b, 5); /* STRING, LZF */
    b_lzf(b, lzf_data, sizeof lzf_data, strlen(lzf_text));
    b_len(b, 0); /* EOF */
}

/* Each walked value type, each followed by a string key that must read. */
static buf every_type_file(void)
{
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, 250);
    b_str(&b, "redis-ver");
    b_str(&b, "7.0.15");
    /* MODULE_AUX: module id, when-opcode UINT, when, opcodes, EOF */
    b_byte(&b, 247);
    b_len(&b, UINT64_C(0x1234567890abc) << 10);
    b_len(&b, 2);
    b_len(&b, 2);
    b_module_opcodes(&b);
    /* FUNCTION2: a library's source */
    b_byte(&b, 245);
    b_str(&b, "#!lua name=lib\nredis.register_function('f', function() return 1 end)");
    b_byte(&b, 254);
    b_len(&b, 0);
    b_byte(&b, 251);
    b_len(&b, 30);
    b_len(&b, 0);

    /* SET (2): count, strings (one of them int-encoded) */
    b_byte(&b, 2);
    b_str(&b, "set");
    b_len(&b, 3);
    b_str(&b, "a");
    b_put(&b, "\xc0\x07", 2);
    b_lzf(&b, lzf_data, sizeof lzf_data, strlen(lzf_text));
    b_key_raw(&b, "1", "\x03one", 4);
    /* LIST (1): count, strings */
    b_byte(&b, 1);
    b_str(&b, "list");
    b_len(&b, 2);
    b_str(&b, "x");
    b_str(&b, "y");
    b_key_raw(&b, "2", "\x03two", 4);
    /* LIST_QUICKLIST_2 (18): count, (container, listpack) each */
    b_byte(&b, 18);
    b_str(&b, "ql2");
    b_len(&b, 2);
    b_len(&b, 2); /* PACKED */
    b_str(&b, "listpack bytes");
    b_len(&b, 1); /* PLAIN */
    b_str(&b, "a plain node");
    b_key_raw(&b, "3", "\x05three", 6);
    /* LIST_QUICKLIST (14): count, ziplists */
    b_byte(&b, 14);
    b_str(&b, "ql");
    b_len(&b, 1);
    b_str(&b, "ziplist bytes");
    b_key_raw(&b, "4",
              "\x04"
              "four",
              5);
    /* ZSET_2 (5): count, (member, binary double) */
    b_byte(&b, 5);
    b_str(&b, "zset2");
    b_len(&b, 2);
    b_str(&b, "m1");
    b_le(&b, 0x3ff0000000000000, 8);
    b_str(&b, "m2");
    b_le(&b, 0x4000000000000000, 8);
    b_key_raw(&b, "5",
              "\x04"
              "five",
              5);
    /* ZSET (3): count, (member, text double: length byte or 253..255) */
    b_byte(&b, 3);
    b_str(&b, "zset");
    b_len(&b, 3);
    b_str(&b, "m1");
    b_byte(&b, 3);
    b_put(&b, "1.5", 3);
    b_str(&b, "m2");
    b_byte(&b, 254); /* +inf */
    b_str(&b, "m3");
    b_byte(&b, 253); /* nan */
    b_key_raw(&b, "6", "\x03six", 4);
    /* HASH (4): count, (field, value) */
    b_byte(&b, 4);
    b_str(&b, "hash");
    b_len(&b, 2);
    b_str(&b, "f1");
    b_str(&b, "v1");
    b_str(&b, "f2");
    b_put(&b, "\xc1\x00\x01", 3);
    b_key_raw(&b, "7", "\x05seven", 6);
    /* one blob each: HASH_LISTPACK, SET_INTSET, ZSET_LISTPACK, and the
     * old zipmap/ziplist encodings */
    const int blobs[] = {16, 11, 17, 9, 10, 12, 13};
    for (size_t i = 0; i < sizeof blobs / sizeof *blobs; i++) {
        char k[16], v[8];
        snprintf(k, sizeof k, "blob%d", blobs[i]);
        b_byte(&b, (uint8_t)blobs[i]);
        b_str(&b, k);
        if (i == 1)
            b_lzf(&b, lzf_data, sizeof lzf_data, strlen(lzf_text));
        else
            b_str(&b, "serialized blob");
        snprintf(k, sizeof k, "%d", 100 + blobs[i]);
        snprintf(v, sizeof v, "v%d", blobs[i]);
        b_byte(&b, 0);
        b_str(&b, k);
        b_str(&b, v);
    }
    /* STREAM_LISTPACKS_2 (19) with a consumer group */
    b_byte(&b, 19);
    b_str(&b, "stream");
    b_len(&b, 1); /* one (master ID, listpack) pair */
    b_len(&b, 16);
    b_put(&b, "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0", 16);
    b_str(&b, "listpack of entries");
    b_len(&b, 2); /* length */
    b_len(&b, 5); /* last ID */
    b_len(&b, 1);
    b_len(&b, 5); /* first ID */
    b_len(&b, 0);
    b_len(&b, 0); /* max deleted ID */
    b_len(&b, 0);
    b_len(&b, 2); /* entries added */
    b_len(&b, 1); /* one group */
    b_str(&b, "group");
    b_len(&b, 5); /* last delivered ID */
    b_len(&b, 1);
    b_len(&b, 2); /* entries read */
    b_len(&b, 1); /* PEL: one ID, delivery time, delivery count */
    b_put(&b, "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\x01", 16);
    b_le(&b, 1700000000000, 8);
    b_len(&b, 1);
    b_len(&b, 1); /* one consumer: name, seen time, PEL IDs */
    b_str(&b, "consumer");
    b_le(&b, 1700000000000, 8);
    b_len(&b, 1);
    b_put(&b, "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\x01", 16);
    b_key_raw(&b, "8",
              "\x05"
              "eight",
              6);
    /* STREAM_LISTPACKS (15), the older layout, no groups */
    b_byte(&b, 15);
    b_str(&b, "stream1");
    b_len(&b, 1);
    b_len(&b, 16);
    b_put(&b, "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0", 16);
    b_str(&b, "listpack");
    b_len(&b, 1);
    b_len(&b, 5);
    b_len(&b, 0);
    b_len(&b, 0);
    b_key_raw(&b, "9", "\x04nine", 5);
    /* MODULE_2 (7): module id, opcodes, EOF; with a TTL */
    b_byte(&b, 252);
    b_le(&b, 1800000000000, 8);
    b_byte(&b, 7);
    b_str(&b, "module");
    b_len(&b, UINT64_C(0x1234567890abc) << 10);
    b_module_opcodes(&b);
    b_key_raw(&b, "10", "\x03ten", 4);
    b_end(&b);
    return b;
}

Test(rdb_hand, every_other_type_is_walked)
{
    buf b = every_type_file();
    rdb_reader r;
    rdb_item it;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect(&r, &it, RDB_ITEM_AUX, 250, "redis-ver");
    expect(&r, &it, RDB_ITEM_SKIP, 247, NULL);
    expect(&r, &it, RDB_ITEM_SKIP, 245, NULL);
    cr_assert(eq(it.val, it.vlen,
                 "#!lua name=lib\nredis.register_function('f', function() return 1 end)"));
    expect(&r, &it, RDB_ITEM_OTHER, 2, "set");
    expect_string(&r, "1", "one");
    expect(&r, &it, RDB_ITEM_OTHER, 1, "list");
    expect_string(&r, "2", "two");
    expect(&r, &it, RDB_ITEM_OTHER, 18, "ql2");
    expect_string(&r, "3", "three");
    expect(&r, &it, RDB_ITEM_OTHER, 14, "ql");
    expect_string(&r, "4", "four");
    expect(&r, &it, RDB_ITEM_OTHER, 5, "zset2");
    expect_string(&r, "5", "five");
    expect(&r, &it, RDB_ITEM_OTHER, 3, "zset");
    expect_string(&r, "6", "six");
    expect(&r, &it, RDB_ITEM_OTHER, 4, "hash");
    expect_string(&r, "7", "seven");
    const int blobs[] = {16, 11, 17, 9, 10, 12, 13};
    for (size_t i = 0; i < sizeof blobs / sizeof *blobs; i++) {
        char k[16], v[8];
        snprintf(k, sizeof k, "blob%d", blobs[i]);
        expect(&r, &it, RDB_ITEM_OTHER, blobs[i], k);
        snprintf(k, sizeof k, "%d", 100 + blobs[i]);
        snprintf(v, sizeof v, "v%d", blobs[i]);
        expect_string(&r, k, v);
    }
    expect(&r, &it, RDB_ITEM_OTHER, 19, "stream");
    expect_string(&r, "8", "eight");
    expect(&r, &it, RDB_ITEM_OTHER, 15, "stream1");
    expect_string(&r, "9", "nine");
    expect(&r, &it, RDB_ITEM_OTHER, 7, "module");
    cr_assert_eq(it.expire_ms, 1800000000000);
    expect_string(&r, "10", "ten");
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

/* A file whose only key has type byte t and the given value bytes. */
static rdb_status read_typed(int t, const void *val, size_t n, char *err, size_t errlen)
{
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, (uint8_t)t);
    b_str(&b, "k");
    b_put(&b, val, n);
    b_end(&b);
    rdb_reader r;
    rdb_item it;
    rdb_status st = rdb_reader_init(&r, b.p, b.n);
    while (st == RDB_NEXT)
        st = rdb_next(&r, &it);
    snprintf(err, errlen, "%s", r.error);
    rdb_reader_deinit(&r);
    free(b.p);
    return st;
}

Test(rdb_hand, what_cannot_be_walked)
{
    char err[128];
    /* an old module value (type 6) has no opcodes to follow */
    cr_assert_eq(read_typed(6, "\x05\x00", 2, err, sizeof err), RDB_ERROR);
    cr_assert(strstr(err, "module"), "%s", err);
    /* type 8 was never used; 20 and up are newer than version 10 */
    cr_assert_eq(read_typed(8, "\x00", 1, err, sizeof err), RDB_ERROR);
    cr_assert_eq(read_typed(20, "\x00", 1, err, sizeof err), RDB_ERROR);
    cr_assert_eq(read_typed(244, "\x00", 1, err, sizeof err), RDB_ERROR);
    /* a quicklist node container other than plain or packed */
    cr_assert_eq(read_typed(18, "\x01\x03\x01x", 4, err, sizeof err), RDB_ERROR);
    /* a module opcode that does not exist */
    cr_assert_eq(read_typed(7, "\x01\x06", 2, err, sizeof err), RDB_ERROR);
    /* an encoded string where a count belongs */
    cr_assert_eq(read_typed(2, "\xc0\x01", 2, err, sizeof err), RDB_ERROR);
    /* a bad length encoding */
    cr_assert_eq(read_typed(2, "\x82\x00", 2, err, sizeof err), RDB_ERROR);
    cr_assert(strstr(err, "length"), "%s", err);
    /* and the good one */
    cr_assert_eq(read_typed(2, "\x01\x01x", 3, err, sizeof err), RDB_END);

    /* FUNCTION (246), the 7.0 release candidates' format */
    buf b = {0};
    b_header(&b, 10);
    b_byte(&b, 246);
    b_str(&b, "lib");
    b_end(&b);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_ERROR);
    free(b.p);
    /* an aux field between an expire and its key */
    b = (buf){0};
    b_header(&b, 10);
    b_byte(&b, 252);
    b_le(&b, 1, 8);
    b_byte(&b, 250);
    b_str(&b, "a");
    b_str(&b, "b");
    b_key_raw(&b, "1", "\x01v", 2);
    b_end(&b);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_ERROR);
    free(b.p);
    /* module aux data whose 'when' is not a UINT */
    b = (buf){0};
    b_header(&b, 10);
    b_byte(&b, 247);
    b_len(&b, 1);
    b_len(&b, 1);
    b_len(&b, 2);
    b_len(&b, 0);
    b_end(&b);
    cr_assert_eq(read_all(b.p, b.n, NULL), RDB_ERROR);
    free(b.p);
}

Test(rdb_hand, older_versions)
{
    /* version 9 (Redis 5 and 6) and 6: the same layout */
    for (int v = 6; v <= 9; v++) {
        buf b = {0};
        b_header(&b, v);
        b_byte(&b, 254);
        b_len(&b, 0);
        b_key_raw(&b, "1", "\x03one", 4);
        b_end(&b);
        rdb_reader r;
        cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
        cr_assert_eq(r.version, v);
        expect_string(&r, "1", "one");
        expect_end(&r);
        rdb_reader_deinit(&r);
        free(b.p);
    }
    /* before version 5 there is no checksum after EOF */
    buf b = {0};
    b_header(&b, 4);
    b_key_raw(&b, "1", "\x03one", 4);
    b_byte(&b, 255);
    rdb_reader r;
    cr_assert_eq(rdb_reader_init(&r, b.p, b.n), RDB_NEXT);
    expect_string(&r, "1", "one");
    expect_end(&r);
    rdb_reader_deinit(&r);
    free(b.p);
}

Test(rdb_hand, empty_database_file)
{
    buf b = {0};
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_buf, &b);
    rdb_write_header(w, "7.0.15", 0, 0);
    cr_assert_eq(rdb_write_end(w), 0);
    size_t items;
    cr_assert_eq(read_all(b.p, b.n, &items), RDB_END);
    cr_assert_eq(items, 5);
    free(w);
    free(b.p);
}

/* ---- DUMP and RESTORE ------------------------------------------------ */

/* A payload around body[0..n): version and CRC-64 appended. */
static buf payload(const void *body, size_t n, unsigned version)
{
    buf b = {0};
    b_put(&b, body, n);
    b_le(&b, version, 2);
    b_le(&b, rdb_crc64(0, b.p, b.n), 8);
    return b;
}

static rdb_restore_status restore(const buf *b, uint8_t **scratch, size_t *cap, const uint8_t **val,
                                  size_t *vlen)
{
    return rdb_restore_string(b->p, b->n, scratch, cap, val, vlen);
}

Test(rdb_dump, round_trip)
{
    const char *vals[] = {"", "hello", "42",
                          ("a value of some length, more than sixty-four "
                           "bytes, so that its length takes two bytes")};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        size_t n = strlen(vals[i]);
        uint8_t *out = malloc(RDB_DUMP_MAX(n));
        size_t len = rdb_dump_string(vals[i], n, out);
        cr_assert(len <= RDB_DUMP_MAX(n));
        cr_assert_eq(out[0], 0);
        cr_assert_eq(out[len - 10], 10); /* version 10, little-endian */
        cr_assert_eq(out[len - 9], 0);
        uint64_t crc = 0;
        for (int k = 0; k < 8; k++)
            crc |= (uint64_t)out[len - 8 + k] << (8 * k);
        cr_assert_eq(crc, rdb_crc64(0, out, len - 8));
        uint8_t *scratch = NULL;
        size_t cap = 0, vlen;
        const uint8_t *val;
        cr_assert_eq(rdb_restore_string(out, len, &scratch, &cap, &val, &vlen), RDB_RESTORE_OK);
        cr_assert(eq(val, vlen, vals[i]));
        cr_assert(val > out && val + vlen <= out + len); /* plain: into the payload */
        free(scratch);
        free(out);
    }
    /* a value larger than 64 KiB */
    size_t n = 100000;
    uint8_t *v = malloc(n), *out = malloc(RDB_DUMP_MAX(n));
    memset(v, 'q', n);
    size_t len = rdb_dump_string(v, n, out);
    uint8_t *scratch = NULL;
    size_t cap = 0, vlen;
    const uint8_t *val;
    cr_assert_eq(rdb_restore_string(out, len, &scratch, &cap, &val, &vlen), RDB_RESTORE_OK);
    cr_assert(vlen == n && memcmp(val, v, n) == 0);
    free(scratch);
    free(out);
    free(v);
}

Test(rdb_dump, every_flipped_byte_is_bad)
{
    uint8_t out[RDB_DUMP_MAX(5)];
    size_t len = rdb_dump_string("hello", 5, out);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            out[i] ^= (uint8_t)(1u << bit);
            uint8_t *scratch = NULL;
            size_t cap = 0, vlen;
            const uint8_t *val;
            cr_assert_eq(rdb_restore_string(out, len, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD,
                         "byte %zu bit %d", i, bit);
            free(scratch);
            out[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* and every truncation */
    for (size_t n = 0; n < len; n++) {
        uint8_t *scratch = NULL;
        size_t cap = 0, vlen;
        const uint8_t *val;
        cr_assert_eq(rdb_restore_string(out, n, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD);
        free(scratch);
    }
}

Test(rdb_dump, versions)
{
    uint8_t *scratch = NULL;
    size_t cap = 0, vlen;
    const uint8_t *val;
    for (unsigned v = 0; v <= 12; v++) {
        buf b = payload("\x00\x02hi", 4, v);
        cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen),
                     v <= 10 ? RDB_RESTORE_OK : RDB_RESTORE_BAD, "version %u", v);
        free(b.p);
    }
    buf b = payload("\x00\x02hi", 4, 0x100 | 10); /* 266 */
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD);
    free(b.p);
    free(scratch);
}

Test(rdb_dump, other_types)
{
    uint8_t *scratch = NULL;
    size_t cap = 0, vlen;
    const uint8_t *val;
    /* a SET of two members, as Redis 7.0 DUMPs a set of strings */
    buf b = payload("\x02\x02\x01"
                    "a\x01"
                    "b",
                    6, 10);
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_NOT_STRING);
    free(b.p);
    /* an intset (type 11): one blob */
    b = payload("\x0b\x04"
                "abcd",
                6, 10);
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_NOT_STRING);
    free(b.p);
    /* a SET whose body is cut short: not valid */
    b = payload("\x02\x03\x01"
                "a\x01"
                "b",
                6, 10);
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD);
    free(b.p);
    /* type 6 (module, no opcodes), type 8, an opcode: not valid */
    const char *bad[] = {"\x06\x01", "\x08\x01", "\xfe\x01", "\xff\x01"};
    for (size_t i = 0; i < 4; i++) {
        b = payload(bad[i], 2, 10);
        cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD, "%zu", i);
        free(b.p);
    }
    free(scratch);
}

Test(rdb_dump, encoded_payloads)
{
    uint8_t *scratch = NULL;
    size_t cap = 0, vlen;
    const uint8_t *val;
    buf b = payload("\x00\xc1\xd4\xfe", 4, 10); /* INT16 -300 */
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_OK);
    cr_assert(eq(val, vlen, "-300"));
    free(b.p);
    b = payload("\x00\xc2\x87\xd6\x12\x00", 6, 9); /* INT32, version 9 */
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_OK);
    cr_assert(eq(val, vlen, "1234567"));
    free(b.p);
    buf body = {0};
    b_byte(&body, 0);
    b_lzf(&body, lzf_data, sizeof lzf_data, strlen(lzf_text));
    b = payload(body.p, body.n, 10);
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_OK);
    cr_assert(eq(val, vlen, lzf_text));
    cr_assert(val == scratch);
    free(b.p);
    /* bad LZF inside a good checksum */
    body.p[body.n - 1] ^= 0x40;
    b = payload(body.p, body.n, 10);
    cr_assert_eq(restore(&b, &scratch, &cap, &val, &vlen), RDB_RESTORE_BAD);
    free(b.p);
    free(body.p);
    free(scratch);
}
