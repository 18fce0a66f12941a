/* Unit tests for db.c: key parsing and formatting, namespaces and the cap. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static bool parse(const char *s, db_key *k)
{
    return db_parse_key(s, strlen(s), k);
}

Test(db_key, plain_integers)
{
    db_key k;
    cr_assert(parse("42", &k));
    cr_assert_eq(k.id, 42);
    cr_assert_eq(k.nslen, 0);
    cr_assert(parse("-7", &k));
    cr_assert_eq(k.id, -7);
    cr_assert(parse("007", &k));
    cr_assert_eq(k.id, 7);
    cr_assert(parse("-0", &k));
    cr_assert_eq(k.id, 0);
    cr_assert(parse("0000000000000000000000000000001", &k));
    cr_assert_eq(k.id, 1);
}

Test(db_key, int64_limits)
{
    db_key k;
    cr_assert(parse("9223372036854775807", &k));
    cr_assert_eq(k.id, INT64_MAX);
    cr_assert(parse("-9223372036854775808", &k));
    cr_assert_eq(k.id, INT64_MIN);
    cr_assert_not(parse("9223372036854775808", &k));
    cr_assert_not(parse("-9223372036854775809", &k));
    cr_assert_not(parse("99999999999999999999999", &k));
}

Test(db_key, namespaced)
{
    db_key k;
    cr_assert(parse("customer:42", &k));
    cr_assert_eq(k.nslen, 8);
    cr_assert(memcmp(k.ns, "customer", 8) == 0);
    cr_assert_eq(k.id, 42);
    cr_assert(parse("key:000000451242", &k));
    cr_assert_eq(k.id, 451242);
    cr_assert(parse("a.b-c_D9:-5", &k));
    cr_assert_eq(k.id, -5);
    cr_assert(parse("abcdefghijabcdefghijabcdefghij12:1", &k)); /* 32 chars */
}

Test(db_key, invalid)
{
    const char *bad[] = {"",
                         "-",
                         "+1",
                         "1.0",
                         " 1",
                         "1 ",
                         "abc",
                         ":1",
                         "a:",
                         "a:b",
                         "a:1:2",
                         "a b:1",
                         "é:1",
                         "0x10",
                         "1e3",
                         "a::1",
                         "abcdefghijabcdefghijabcdefghij123:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        db_key k;
        cr_assert_not(parse(bad[i], &k), "'%s' should be invalid", bad[i]);
    }
    db_key k;
    cr_assert_not(db_parse_key("1\0002", 3, &k));
}

/* The plain definition of a key, one byte at a time: what db_parse_key's
 * faster scan (namespace run, eight digits at once) must agree with. */
static bool ref_parse(const char *p, size_t len, db_key *out)
{
    const char *colon = memchr(p, ':', len);
    const char *num = p;
    size_t numlen = len;
    out->nslen = 0;
    if (colon != NULL) {
        size_t nl = (size_t)(colon - p);
        if (nl == 0 || nl > DB_NS_NAME_MAX)
            return false;
        for (size_t i = 0; i < nl; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-'))
                return false;
        }
        out->nslen = nl;
        num = colon + 1;
        numlen = len - nl - 1;
    }
    bool neg = numlen > 0 && num[0] == '-';
    if (neg) {
        num++;
        numlen--;
    }
    if (numlen == 0)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < numlen; i++) {
        unsigned d = (unsigned char)num[i] - '0';
        if (d > 9 || v < (INT64_MIN + (int64_t)d) / 10)
            return false;
        v = v * 10 - (int64_t)d;
    }
    if (!neg && v == INT64_MIN)
        return false;
    out->id = neg ? v : -v;
    return true;
}

/* Parse s[0..n) from a heap block of exactly n bytes, so that a sanitizer
 * build catches any read outside the key, and compare with ref_parse. */
static void check_same(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    cr_assert_not_null(p);
    memcpy(p, s, n);
    db_key a, b;
    bool ok = db_parse_key(p, n, &a), want = ref_parse(p, n, &b);
    cr_assert_eq(ok, want, "'%.*s': parsed %d, expected %d", (int)n, s, ok, want);
    if (ok) {
        cr_assert_eq(a.id, b.id, "'%.*s': id %lld, expected %lld", (int)n, s, (long long)a.id,
                     (long long)b.id);
        cr_assert_eq(a.nslen, b.nslen, "'%.*s'", (int)n, s);
        cr_assert(a.ns == p, "'%.*s'", (int)n, s);
    }
    free(p);
}

Test(db_key, matches_reference_parser)
{
    /* Every digit count 1..24 (the 8-at-a-time path covers 1..16 when 8
     * bytes end at the last digit), with and without a sign and a
     * namespace, with and without leading zeros. */
    const char *prefixes[] = {"", "-", "k:", "k:-", "key:", "key:-", "abcdefgh:", "-0"};
    char buf[64];
    for (size_t pi = 0; pi < sizeof prefixes / sizeof prefixes[0]; pi++) {
        for (size_t nd = 1; nd <= 24; nd++) {
            for (int lead = 0; lead < 3; lead++) {
                size_t pl = strlen(prefixes[pi]);
                memcpy(buf, prefixes[pi], pl);
                for (size_t i = 0; i < nd; i++)
                    buf[pl + i] = lead == 1 ? (i + 1 < nd ? '0' : '7')
                                            : (char)('0' + (lead == 2 ? 9 : (i * 7 + 3) % 10));
                check_same(buf, pl + nd);
                /* Every byte value at every position of it. */
                for (size_t pos = 0; pos < pl + nd; pos++) {
                    char keep = buf[pos];
                    for (int c = 0; c < 256; c++) {
                        buf[pos] = (char)c;
                        check_same(buf, pl + nd);
                    }
                    buf[pos] = keep;
                }
            }
        }
    }
    /* Namespace lengths around the limit, bare and with a colon. */
    for (size_t nl = 0; nl <= 40; nl++) {
        memset(buf, 'n', nl);
        memcpy(buf + nl, ":12", 3);
        check_same(buf, nl + 3);
        memset(buf, '0', nl);
        memcpy(buf + nl, "12", 2);
        check_same(buf, nl + 2);
        memcpy(buf + nl, "x", 1);
        check_same(buf, nl + 1);
    }
    /* Random short strings over the bytes that matter. */
    const char alphabet[] = "0123456789-:ab.\x00\xff/9";
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = x % 30;
        for (size_t i = 0; i < n; i++)
            buf[i] = alphabet[(x >> (5 + i % 50)) % (sizeof alphabet - 1) ^ (i & 1)];
        check_same(buf, n);
    }
}

Test(db_key, canonical_format)
{
    char buf[DB_KEY_TEXT_MAX];
    cr_assert_eq(db_format_key("", 0, 7, buf), 1);
    cr_assert_str_eq(buf, "7");
    db_format_key("customer", 8, -42, buf);
    cr_assert_str_eq(buf, "customer:-42");
    db_format_key("abcdefghijabcdefghijabcdefghij12", 32, INT64_MIN, buf);
    cr_assert_str_eq(buf, "abcdefghijabcdefghijabcdefghij12:-9223372036854775808");
}

Test(db_ns, namespaces_are_separate_keyspaces)
{
    db *d = db_create(4, NULL);
    cr_assert_not_null(d);
    table *t0, *ta, *tb, *again;
    cr_assert_eq(db_table(d, "", 0, false, &t0), DB_OK);
    cr_assert_eq(db_table(d, "a", 1, false, &ta), DB_NO_NAMESPACE);
    cr_assert_null(ta);
    cr_assert_eq(db_table(d, "a", 1, true, &ta), DB_OK);
    cr_assert_eq(db_table(d, "b", 1, true, &tb), DB_OK);
    cr_assert_neq(ta, tb);
    cr_assert_neq(ta, t0);
    cr_assert_eq(db_table(d, "a", 1, false, &again), DB_OK);
    cr_assert_eq(again, ta);
    cr_assert_eq(table_set(t0, 1, "x", 1, NULL), TABLE_OK);
    cr_assert_eq(table_set(ta, 1, "yy", 2, NULL), TABLE_OK);
    cr_assert_eq(table_set(tb, 1, "zzz", 3, NULL), TABLE_OK);
    const uint8_t *v;
    size_t len;
    cr_assert_eq(table_get(ta, 1, &v, &len), TABLE_OK);
    cr_assert_eq(len, 2);
    cr_assert_eq(db_size(d), 3);
    cr_assert_eq(db_ns_count(d), 3);
    cr_assert_str_eq(db_ns_at(d, 1)->name, "a");
    db_destroy(d);
}

Test(db_ns, cap_counts_named_namespaces_only)
{
    db *d = db_create(2, NULL);
    table *t;
    cr_assert_eq(db_table(d, "a", 1, true, &t), DB_OK);
    cr_assert_eq(db_table(d, "b", 1, true, &t), DB_OK);
    cr_assert_eq(db_table(d, "c", 1, true, &t), DB_NS_LIMIT);
    cr_assert_null(t);
    cr_assert_eq(db_table(d, "", 0, true, &t), DB_OK);
    db_set_max_namespaces(d, 3);
    cr_assert_eq(db_table(d, "c", 1, true, &t), DB_OK);
    db_destroy(d);
}

Test(db_ns, flush_and_release_empty)
{
    db *d = db_create(8, NULL);
    table *a, *b, *t0;
    db_table(d, "a", 1, true, &a);
    db_table(d, "b", 1, true, &b);
    db_table(d, "", 0, true, &t0);
    table_set(b, 5, "v", 1, NULL);
    table_set(t0, 5, "v", 1, NULL);
    cr_assert_eq(db_release_empty(d), 1); /* a is empty */
    cr_assert_eq(db_ns_count(d), 2);
    cr_assert_eq(db_table(d, "a", 1, false, &a), DB_NO_NAMESPACE);
    cr_assert_eq(db_table(d, "b", 1, false, &b), DB_OK);
    cr_assert_eq(table_count(b), 1);
    db_flush(d);
    cr_assert_eq(db_ns_count(d), 1);
    cr_assert_eq(db_size(d), 0);
    cr_assert_eq(db_table(d, "b", 1, false, &b), DB_NO_NAMESPACE);
    db_destroy(d);
}

Test(db_ns, step_finishes_migrations)
{
    db *d = db_create(8, NULL);
    table *a;
    db_table(d, "a", 1, true, &a);
    for (int64_t i = 0; i < 20000; i++)
        cr_assert_eq(table_set(a, i, "v", 1, NULL), TABLE_OK);
    int guard = 0;
    while (db_step(d, 64))
        cr_assert(++guard < 100000);
    table_stats st;
    table_get_stats(a, &st);
    cr_assert_not(st.migrating);
    table_check(a);
    db_destroy(d);
}

/* Grow a namespace's table at least once; return the total grows. */
static uint64_t grow_ns(db *d, const char *name)
{
    table *t;
    cr_assert_eq(db_table(d, name, strlen(name), true, &t), DB_OK);
    for (int64_t i = 0; i < 5000; i++)
        cr_assert_eq(table_set(t, i, "v", 1, NULL), TABLE_OK);
    while (db_step(d, 1024))
        ;
    table_stats st;
    table_get_stats(t, &st);
    cr_assert_gt(st.grows, 0);
    db_total_stats(d, &st);
    return st.grows;
}

Test(db_ns, total_counters_never_go_down)
{
    db *d = db_create(8, NULL);
    uint64_t before = grow_ns(d, "a");
    table *a;
    db_table(d, "a", 1, false, &a);
    table_clear(a);
    cr_assert_eq(db_release_empty(d), 1);
    table_stats st;
    db_total_stats(d, &st);
    cr_assert_eq(st.grows, before, "a dropped namespace keeps its grows in the total");

    before = grow_ns(d, "b");
    db_table(d, "b", 1, false, &a);
    table_clear(a);
    cr_assert(db_release_ns(d, "b", 1));
    db_total_stats(d, &st);
    cr_assert_eq(st.grows, before, "db_release_ns");

    before = grow_ns(d, "c");
    db_flush(d);
    db_total_stats(d, &st);
    cr_assert_eq(st.grows, before, "db_flush");

    before = grow_ns(d, "e");
    cr_assert(db_flush_async(d));
    db_total_stats(d, &st);
    cr_assert_eq(st.grows, before, "db_flush_async");
    while (db_reap(d, 1 << 20))
        ;
    db_total_stats(d, &st);
    cr_assert_eq(st.grows, before, "after reaping");
    db_destroy(d);
}

static void ignore_record(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t exp)
{
    (void)arg;
    (void)key;
    (void)val;
    (void)len;
    (void)exp;
}

Test(db_ns, an_empty_namespace_is_kept_while_its_snapshot_runs)
{
    /* The snapshot's state lives in the table: dropping the table would
     * drop a failure with it. */
    db *d = db_create(8, NULL);
    table *a;
    cr_assert_eq(db_table(d, "a", 1, true, &a), DB_OK);
    cr_assert_eq(table_set(a, 1, "x", 1, NULL), TABLE_OK);
    cr_assert(table_snap_begin(a, ignore_record, NULL));
    cr_assert_eq(table_del(a, 1), TABLE_OK);
    cr_assert_eq(db_release_empty(d), 0);
    cr_assert_not(db_release_ns(d, "a", 1));
    cr_assert_eq(db_ns_count(d), 2);
    table_snap_end(a);
    cr_assert(db_release_ns(d, "a", 1));
    cr_assert_eq(db_ns_count(d), 1);
    db_destroy(d);
}
