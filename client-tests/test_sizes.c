/*
 * test_sizes.c - records sized to their values: memory per key at small
 * value sizes, small namespaces staying small, and the per-class figures of
 * INFO, MEMORY STATS, MEMORY USAGE and MEMORY DOCTOR.
 *
 * Memory is read from the OS (VmRSS of the server we started) as well as
 * from INFO. RSS bounds are asserted in the normal build only (h_sanitized:
 * AddressSanitizer's allocator and shadow memory grow with the traffic).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(sizes, .fini = h_teardown, .timeout = 300);

#define MIB (1024LL * 1024)
#define BATCH 1000

/* Record bytes of a value of len bytes (server/storage/store.h). */
static long long record_size(size_t len)
{
    return len == 0 ? 13 : 9 + (long long)((len + 3) / 4 * 4);
}

/* Value i of len bytes. */
static void value_of(uint64_t i, size_t len, uint8_t *v)
{
    for (size_t k = 0; k < len; k++)
        v[k] = (uint8_t)(i * 31 + k * 7 + (i >> 8));
}

/* SET <ns>:<i> for i in [from, to), values of len bytes (len_of(i) if
 * len is 0 and len_of is set), pipelined. */
static void load(redisContext *c, const char *ns, uint64_t from, uint64_t to, size_t len,
                 size_t (*len_of)(uint64_t))
{
    uint8_t v[128];
    for (uint64_t b = from; b < to; b += BATCH) {
        uint64_t e = b + BATCH < to ? b + BATCH : to;
        for (uint64_t i = b; i < e; i++) {
            size_t l = len_of != NULL ? len_of(i) : len;
            value_of(i, l, v);
            cr_assert(redisAppendCommand(c, "SET %s:%llu %b", ns, (unsigned long long)i, v, l) ==
                      REDIS_OK);
        }
        for (uint64_t i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "SET", (long long)i);
            cr_assert(r->type == REDIS_REPLY_STATUS, "SET %s:%llu: %s", ns, (unsigned long long)i,
                      r->type == REDIS_REPLY_ERROR ? r->str : "not a status");
            freeReplyObject(r);
        }
    }
}

/* GET every len-byte key of [from, to) back (len_of as in load). */
static void verify(redisContext *c, const char *ns, uint64_t from, uint64_t to, size_t len,
                   size_t (*len_of)(uint64_t))
{
    uint8_t v[128];
    for (uint64_t b = from; b < to; b += BATCH) {
        uint64_t e = b + BATCH < to ? b + BATCH : to;
        for (uint64_t i = b; i < e; i++)
            cr_assert(redisAppendCommand(c, "GET %s:%llu", ns, (unsigned long long)i) == REDIS_OK);
        for (uint64_t i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "GET", (long long)i);
            size_t l = len_of != NULL ? len_of(i) : len;
            value_of(i, l, v);
            cr_assert(r->type == REDIS_REPLY_STRING && r->len == l && memcmp(r->str, v, l) == 0,
                      "GET %s:%llu: not the %zu bytes written", ns, (unsigned long long)i, l);
            freeReplyObject(r);
        }
    }
}

static size_t len_mixed(uint64_t i)
{
    return (size_t)((i * 2654435761u) >> 7) % 129;
}

static long long rss(void)
{
    return h_proc_bytes_must(H.pid, "VmRSS");
}

/* A field of the INFO table line that starts with prefix, -1 if absent. */
static long long line_field(const char *info, const char *prefix, const char *name)
{
    const char *p = strstr(info, prefix);
    if (p == NULL)
        return -1;
    const char *end = strstr(p, "\r\n");
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *f = strstr(p, key);
    if (f == NULL || (end != NULL && f > end))
        return -1;
    return atoll(f + strlen(key));
}

/* 200k keys of 16-byte values: the overhead over the payload (8-byte key
 * plus value) is at most 24 bytes per key, measured from the OS, at the
 * peak (VmHWM) as well as after the load. (A record of a 16-byte value is
 * 25 bytes; the rest is the index.) */
ITESTX(sizes, small_values_cost_little_over_their_payload, .init = h_setup_own)
{
    const uint64_t n = 200000;
    const long long empty = rss();
    redisContext *L = h_connect();
    load(L, "s", 0, n, 16, NULL);
    verify(L, "s", 0, n, 16, NULL);
    redisFree(L);
    long long now = rss(), hwm = h_proc_bytes_must(H.pid, "VmHWM");
    const long long payload = (long long)n * (8 + 16);
    double per_key = (double)(now - empty - payload) / (double)n;
    double per_key_peak = (double)(hwm - empty - payload) / (double)n;
    cr_log_info("200k keys of 16 bytes: %.1f B/key over the payload (peak %.1f)", per_key,
                per_key_peak);
    char *info = h_info(C, "table");
    cr_assert_eq(h_info_num(info, "table_record_bytes"), (long long)n * record_size(16), "%s",
                 info);
    cr_assert_eq(line_field(info, "table_class_16:", "keys"), (long long)n, "%s", info);
    cr_assert_eq(line_field(info, "table_class_16:", "record_size"), record_size(16), "%s", info);
    free(info);
    if (!h_sanitized()) {
        cr_assert(per_key <= 24.0, "%.1f bytes per key over the payload", per_key);
        cr_assert(per_key_peak <= 24.0, "%.1f bytes per key over the payload at the peak",
                  per_key_peak);
    }
}

/* Every length 0..128, changing class on overwrite: values read back, the
 * per-class key counts add up, and memory stays within the bound. */
ITESTX(sizes, mixed_lengths_and_class_changes, .init = h_setup_own)
{
    const uint64_t n = 100000;
    const long long empty = rss();
    redisContext *L = h_connect();
    load(L, "m", 0, n, 0, len_mixed);
    verify(L, "m", 0, n, 0, len_mixed);
    /* Overwrite every key with a length of another class, and back. */
    load(L, "m", 0, n, 100, NULL);
    verify(L, "m", 0, n, 100, NULL);
    load(L, "m", 0, n, 0, len_mixed);
    verify(L, "m", 0, n, 0, len_mixed);
    redisFree(L);
    char *info = h_info(C, "table");
    long long keys = 0, records = 0;
    long long want[32] = {0}, payload = 0;
    for (uint64_t i = 0; i < n; i++) {
        want[len_mixed(i) == 0 ? 0 : (len_mixed(i) - 1) / 4]++;
        payload += 8 + (long long)len_mixed(i);
        records += record_size(len_mixed(i));
    }
    for (unsigned k = 0; k < 32; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "table_class_%u:", k * 4 + 4);
        long long got = line_field(info, prefix, "keys");
        cr_assert_eq(got < 0 ? 0 : got, want[k], "class %u: %lld keys, want %lld\n%s", k * 8, got,
                     want[k], info);
        keys += got < 0 ? 0 : got;
    }
    cr_assert_eq(keys, (long long)n);
    cr_assert_eq(h_info_num(info, "table_record_bytes"), records, "%s", info);
    free(info);
    if (!h_sanitized()) {
        double per_key = (double)(rss() - empty - payload) / (double)n;
        cr_log_info("100k mixed keys after two rewrites: %.1f B/key over the payload", per_key);
        cr_assert(per_key <= 32.0, "%.1f bytes per key over the payload", per_key);
    }
}

/* A namespace of one key maps a page of records and a page of index (and
 * a page of overflow pool), not a chunk: 64 of them cost well under 2 MiB,
 * in RSS and in used_memory. */
ITESTX(sizes, one_key_namespaces_stay_small, .init = h_setup_own)
{
    char *info = h_info(C, "memory");
    const long long used0 = h_info_num(info, "used_memory");
    free(info);
    const long long rss0 = rss();
    for (int i = 0; i < 64; i++) {
        redisReply *r = CMD(C, "SET ns%d:1 %s", i, "a-small-value");
        cr_assert(r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    info = h_info(C, "memory");
    long long used = h_info_num(info, "used_memory") - used0;
    free(info);
    long long grew = rss() - rss0;
    cr_log_info("64 one-key namespaces: used_memory +%lld KiB, RSS +%lld KiB", used / 1024,
                grew / 1024);
    cr_assert(used <= 2 * MIB, "used_memory grew by %lld bytes", used);
    if (!h_sanitized())
        cr_assert(grew <= 2 * MIB, "RSS grew by %lld bytes", grew);
    /* MEMORY USAGE: the record (9 + 16) and the namespace's index. */
    redisReply *r = CMD(C, "MEMORY USAGE ns7:1");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer >= record_size(13) &&
                  r->integer <= record_size(13) + 16384,
              "MEMORY USAGE %lld", r->integer);
    freeReplyObject(r);
}

/* MEMORY STATS nests each class in use; MEMORY USAGE follows the value's
 * class; MEMORY DOCTOR names a class that holds pages a drain left behind
 * (auto-shrink off), and SHRINK gives them back. */
ITESTX(sizes, memory_commands_per_class, .init = h_setup_own)
{
    redisReply *r = CMD(C, "CONFIG SET auto-shrink no");
    freeReplyObject(r);
    redisContext *L = h_connect();
    load(L, "d", 0, 100000, 64, NULL);
    r = CMD(C, "MEMORY USAGE d:5");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer >= record_size(64) &&
                  r->integer < record_size(64) + 32,
              "MEMORY USAGE %lld", r->integer);
    freeReplyObject(r);
    r = CMD(C, "SET d:5 x");
    freeReplyObject(r);
    r = CMD(C, "MEMORY USAGE d:5");
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer >= record_size(1) &&
                  r->integer < record_size(1) + 32,
              "MEMORY USAGE %lld after a 1-byte SET", r->integer);
    freeReplyObject(r);

    r = CMD(C, "MEMORY STATS");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    bool seen64 = false, seen8 = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (strcmp(k->str, "table.class.64") == 0 || strcmp(k->str, "table.class.4") == 0) {
            cr_assert(v->type == REDIS_REPLY_ARRAY && v->elements == 10);
            long long keys = -1, size = -1;
            for (size_t j = 0; j + 1 < v->elements; j += 2) {
                if (strcmp(v->element[j]->str, "keys") == 0)
                    keys = v->element[j + 1]->integer;
                if (strcmp(v->element[j]->str, "record.size") == 0)
                    size = v->element[j + 1]->integer;
            }
            if (strcmp(k->str, "table.class.64") == 0) {
                seen64 = true;
                cr_assert_eq(keys, 99999);
                cr_assert_eq(size, record_size(64));
            } else {
                seen8 = true;
                cr_assert_eq(keys, 1);
            }
        }
    }
    cr_assert(seen64 && seen8, "MEMORY STATS has no entry for the classes in use");
    freeReplyObject(r);

    /* Drain 90 % with auto-shrink off: the class keeps its pages. */
    for (uint64_t b = 10000; b < 100000; b += BATCH) {
        for (uint64_t i = b; i < b + BATCH; i++)
            redisAppendCommand(L, "DEL d:%llu", (unsigned long long)i);
        for (uint64_t i = b; i < b + BATCH; i++)
            freeReplyObject(h_next_reply(L, "DEL", (long long)i));
    }
    redisFree(L);
    r = CMD(C, "MEMORY DOCTOR");
    cr_assert(r->type == REDIS_REPLY_STRING, "MEMORY DOCTOR replied type %d", r->type);
    cr_assert(strstr(r->str, "Values of up to 64 bytes") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = CMD(C, "SHRINK");
    freeReplyObject(r);
    r = CMD(C, "MEMORY DOCTOR");
    cr_assert(strstr(r->str, "No memory problem") != NULL, "after SHRINK: %s", r->str);
    freeReplyObject(r);
    char *info = h_info(C, "table");
    long long res = line_field(info, "table_class_64:", "resident_bytes");
    long long recs = line_field(info, "table_class_64:", "record_bytes");
    cr_assert(res >= recs && res <= recs + 4096, "after SHRINK: %lld resident for %lld", res, recs);
    free(info);
}
