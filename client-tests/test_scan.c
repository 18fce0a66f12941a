/*
 * test_scan.c - iterating the keyspace from a client: SCAN (its guarantee,
 * canonical key text, COUNT, MATCH, TYPE, errors), SCAN while another client
 * grows, drains and SHRINKs the tables, KEYS, RANDOMKEY, DBSIZE, and
 * redis-cli's --scan, --bigkeys and --memkeys against the server.
 *
 * Every test needs to know the exact set of keys, so each starts its own
 * server (h_setup_own), EBB_ADDR or not.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(scan, .init = h_setup_own, .fini = h_teardown, .timeout = 120);

/* SCAN calls one iteration may take before we call it endless. */
#define MAX_SCAN_CALLS 1000000

/* ---- string sets -------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} strset;

static void ss_add(strset *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        cr_assert_not_null(s->v);
    }
    char *c = malloc(len + 1);
    cr_assert_not_null(c);
    memcpy(c, p, len);
    c[len] = '\0';
    s->v[s->n++] = c;
}

/* Add "<prefix><id>" (prefix "" or "ns:"). */
static void ss_addid(strset *s, const char *prefix, long long id)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s%lld", prefix, id);
    ss_add(s, buf, (size_t)n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ss_sort(strset *s)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_str);
}

static bool ss_has(const strset *sorted, const char *k)
{
    return sorted->n > 0 && bsearch(&k, sorted->v, sorted->n, sizeof *sorted->v, cmp_str) != NULL;
}

static void ss_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* got and want, both sorted, are the same list (so no duplicates in got
 * when want has none). */
static void ss_expect_equal_(const char *file, int line, strset *got, strset *want,
                             const char *what)
{
    ss_sort(got);
    ss_sort(want);
    size_t i = 0;
    while (i < got->n && i < want->n && strcmp(got->v[i], want->v[i]) == 0)
        i++;
    cr_assert(i == got->n && i == want->n,
              "%s:%d: %s: %zu keys returned, %zu expected; first difference at %zu: got '%s', "
              "expected '%s'",
              file, line, what, got->n, want->n, i, i < got->n ? got->v[i] : "(end)",
              i < want->n ? want->v[i] : "(end)");
}
#define SS_EXPECT_EQUAL(got, want, what) ss_expect_equal_(__FILE__, __LINE__, (got), (want), (what))

/* ---- SCAN -------------------------------------------------------------------- */

/* One SCAN call: cursor in/out as text, keys appended to out. `extra` are
 * further arguments (MATCH ..., COUNT ..., TYPE ...), NULL-terminated. */
static void scan_call(redisContext *c, char *cursor, size_t cursor_size, const char *const *extra,
                      strset *out)
{
    const char *argv[16] = {"SCAN", cursor};
    int argc = 2;
    for (; extra != NULL && extra[argc - 2] != NULL; argc++)
        argv[argc] = extra[argc - 2];
    redisReply *r = CMDV(c, argc, argv, NULL);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "SCAN %s: type %d %s", cursor,
              r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
    redisReply *cur = r->element[0], *keys = r->element[1];
    cr_assert(cur->type == REDIS_REPLY_STRING && cur->len < cursor_size, "cursor type %d",
              cur->type);
    for (size_t i = 0; i < cur->len; i++)
        cr_assert(cur->str[i] >= '0' && cur->str[i] <= '9', "cursor '%s' not decimal", cur->str);
    memcpy(cursor, cur->str, cur->len + 1);
    cr_assert_eq(keys->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < keys->elements; i++) {
        cr_assert_eq(keys->element[i]->type, REDIS_REPLY_STRING);
        ss_add(out, keys->element[i]->str, keys->element[i]->len);
    }
    freeReplyObject(r);
}

/* A full iteration from cursor 0 to cursor 0; returns the number of calls. */
static long scan_all(redisContext *c, const char *const *extra, strset *out)
{
    char cursor[32] = "0";
    long calls = 0;
    do {
        scan_call(c, cursor, sizeof cursor, extra, out);
        cr_assert_lt(++calls, MAX_SCAN_CALLS, "SCAN never returned cursor 0");
    } while (strcmp(cursor, "0") != 0);
    return calls;
}

/* The fixture of the static tests: keys written in non-canonical spellings,
 * and the canonical set SCAN and KEYS must return. */
static void load_fixture(strset *want)
{
    redisContext *c = C;
    /* Default namespace: 007 -> 7, -05 -> -5, 0, 1..120. */
    EXPECT_OK(c, "SET 007 seven");
    ss_add(want, "7", 1);
    EXPECT_OK(c, "SET -05 neg");
    ss_add(want, "-5", 2);
    EXPECT_OK(c, "SET 000 zero");
    ss_add(want, "0", 1);
    for (long long i = 100; i < 220; i++) {
        redisAppendCommand(c, "SET 0%lld v", i);
        ss_addid(want, "", i);
    }
    /* ns:0042 -> ns:42 and friends. */
    EXPECT_OK(c, "SET ns:0042 x");
    ss_add(want, "ns:42", 5);
    EXPECT_OK(c, "SET ns:-0 x");
    ss_add(want, "ns:0", 4);
    for (long long i = 0; i < 300; i++) {
        redisAppendCommand(c, "SET customer:%03lld v", i);
        ss_addid(want, "customer:", i);
    }
    for (long long i = 5; i < 25; i++) {
        redisAppendCommand(c, "SET c1:%lld v", i);
        ss_addid(want, "c1:", i);
    }
    /* A namespace whose name starts with a digit: `1*` matches it. */
    redisAppendCommand(c, "SET 1ns:5 v");
    ss_add(want, "1ns:5", 5);
    redisAppendCommand(c, "SET order:9223372036854775807 max");
    ss_add(want, "order:9223372036854775807", 25);
    size_t pending = 120 + 300 + 20 + 2;
    for (size_t i = 0; i < pending; i++) {
        void *r = NULL;
        cr_assert_eq(redisGetReply(c, &r), REDIS_OK);
        cr_assert_eq(((redisReply *)r)->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
}

/* The keys of `all` that `keep` accepts. */
static void ss_filter(const strset *all, bool (*keep)(const char *), strset *out)
{
    for (size_t i = 0; i < all->n; i++)
        if (keep(all->v[i]))
            ss_add(out, all->v[i], strlen(all->v[i]));
}

static bool is_customer(const char *k)
{
    return strncmp(k, "customer:", 9) == 0;
}

/* c*:1? */
static bool is_c_star_1q(const char *k)
{
    const char *colon = strchr(k, ':');
    return k[0] == 'c' && colon != NULL && colon[1] == '1' && colon[2] != '\0' && colon[3] == '\0';
}

/* 1*: default keys starting with 1, and 1ns:5. */
static bool is_1star(const char *k)
{
    return k[0] == '1';
}

ITEST(scan, full_iteration_returns_canonical_keys)
{
    strset want = {0}, got = {0};
    load_fixture(&want);
    EXPECT_INT(C, (long long)want.n, "DBSIZE");

    long calls = scan_all(C, NULL, &got);
    SS_EXPECT_EQUAL(&got, &want, "SCAN");
    cr_log_info("default COUNT: %ld calls for %zu keys\n", calls, want.n);
    ss_free(&got);

    /* COUNT 1 and COUNT 7: more calls, the same keys, each exactly once (the
     * table does not change). */
    static const char *const count1[] = {"COUNT", "1", NULL};
    long calls1 = scan_all(C, count1, &got);
    SS_EXPECT_EQUAL(&got, &want, "SCAN COUNT 1");
    ss_free(&got);
    static const char *const count7[] = {"count", "7", NULL};
    scan_all(C, count7, &got);
    SS_EXPECT_EQUAL(&got, &want, "SCAN count 7");
    ss_free(&got);
    cr_assert_geq(calls1, calls, "COUNT 1 took fewer calls (%ld) than COUNT 10 (%ld)", calls1,
                  calls);

    /* A COUNT above the key count: one call does it all. */
    static const char *const big[] = {"COUNT", "100000", NULL};
    long one = scan_all(C, big, &got);
    SS_EXPECT_EQUAL(&got, &want, "SCAN COUNT 100000");
    cr_assert_eq(one, 1, "COUNT 100000 over %zu keys took %ld calls", want.n, one);
    ss_free(&got);
    ss_free(&want);
}

ITEST(scan, match_and_type)
{
    strset all = {0}, got = {0}, want = {0};
    load_fixture(&all);

    static const char *const m_customer[] = {"MATCH", "customer:*", NULL};
    scan_all(C, m_customer, &got);
    ss_filter(&all, is_customer, &want);
    cr_assert_eq(want.n, 300);
    SS_EXPECT_EQUAL(&got, &want, "MATCH customer:*");
    ss_free(&got);
    ss_free(&want);

    /* With COUNT 1 too: MATCH filters after the visit, so calls may return
     * nothing, yet the iteration must still find every match. */
    static const char *const m_customer1[] = {"MATCH", "customer:*", "COUNT", "1", NULL};
    scan_all(C, m_customer1, &got);
    ss_filter(&all, is_customer, &want);
    SS_EXPECT_EQUAL(&got, &want, "MATCH customer:* COUNT 1");
    ss_free(&got);
    ss_free(&want);

    static const char *const m_glob_ns[] = {"MATCH", "c*:1?", NULL};
    scan_all(C, m_glob_ns, &got);
    ss_filter(&all, is_c_star_1q, &want);
    cr_assert_eq(want.n, 10 + 10, "customer:10..19 and c1:10..19");
    SS_EXPECT_EQUAL(&got, &want, "MATCH c*:1?");
    ss_free(&got);
    ss_free(&want);

    static const char *const m_1star[] = {"MATCH", "1*", NULL};
    scan_all(C, m_1star, &got);
    ss_filter(&all, is_1star, &want);
    SS_EXPECT_EQUAL(&got, &want, "MATCH 1*");
    ss_free(&got);
    ss_free(&want);

    /* A literal key (no glob): only that key. */
    static const char *const m_lit[] = {"MATCH", "ns:42", NULL};
    scan_all(C, m_lit, &got);
    ss_add(&want, "ns:42", 5);
    SS_EXPECT_EQUAL(&got, &want, "MATCH ns:42");
    ss_free(&got);
    ss_free(&want);

    /* A literal key of the default namespace (no ':', no glob). */
    static const char *const m_lit_default[] = {"MATCH", "7", NULL};
    scan_all(C, m_lit_default, &got);
    ss_add(&want, "7", 1);
    SS_EXPECT_EQUAL(&got, &want, "MATCH 7");
    ss_free(&got);
    ss_free(&want);

    /* The canonical text is what is matched: `ns:0042` is stored as ns:42. */
    static const char *const m_zeros[] = {"MATCH", "ns:00*", NULL};
    scan_all(C, m_zeros, &got);
    SS_EXPECT_EQUAL(&got, &want, "MATCH ns:00*");
    static const char *const m_none[] = {"MATCH", "nosuchns:*", NULL};
    scan_all(C, m_none, &got);
    SS_EXPECT_EQUAL(&got, &want, "MATCH nosuchns:*");

    /* TYPE: every ebb value is a string. */
    static const char *const t_string[] = {"TYPE", "string", NULL};
    scan_all(C, t_string, &got);
    SS_EXPECT_EQUAL(&got, &all, "TYPE string");
    ss_free(&got);
    static const char *const t_hash[] = {"TYPE", "hash", NULL};
    long calls = scan_all(C, t_hash, &got);
    SS_EXPECT_EQUAL(&got, &want, "TYPE hash");
    cr_assert_eq(calls, 1, "TYPE hash: %ld calls", calls);
    static const char *const mix[] = {"MATCH", "customer:2*", "TYPE", "string", "COUNT", "3", NULL};
    scan_all(C, mix, &got);
    for (size_t i = 0; i < got.n; i++)
        cr_assert(strncmp(got.v[i], "customer:2", 10) == 0, "%s", got.v[i]);
    cr_assert_eq(got.n, 1 + 10 + 100, "customer:2, 20..29, 200..299: %zu", got.n);
    ss_free(&got);
    ss_free(&all);
}

ITEST(scan, errors_and_empty)
{
    /* An empty server: cursor 0 at once. */
    strset got = {0};
    long calls = scan_all(C, NULL, &got);
    cr_assert_eq(calls, 1);
    cr_assert_eq(got.n, 0);
    EXPECT_INT(C, 0, "DBSIZE");

    EXPECT_ERR(C, "ERR invalid cursor", "SCAN abc");
    EXPECT_ERR(C, "ERR invalid cursor", "SCAN -1");
    EXPECT_ERR(C, "ERR invalid cursor", "SCAN 1x");
    EXPECT_ERR(C, "ERR invalid cursor", "SCAN 99999999999999999999999");
    EXPECT_ERR(C, "ERR syntax error", "SCAN 0 COUNT 0");
    EXPECT_ERR(C, "ERR syntax error", "SCAN 0 COUNT -3");
    EXPECT_ERR(C, "ERR syntax error", "SCAN 0 COUNT");
    EXPECT_ERR(C, "ERR syntax error", "SCAN 0 MATCH");
    EXPECT_ERR(C, "ERR syntax error", "SCAN 0 BOGUS 1");
    redisReply *r = CMD(C, "SCAN 0 COUNT notanumber");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = CMD(C, "SCAN");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "SCAN without a cursor");
    freeReplyObject(r);
    /* Still serving. */
    EXPECT_STATUS(C, "PONG", "PING");
}

/* ---- SCAN while another client changes the tables ------------------------------ */

#define STABLE_DEFAULT 3000 /* keys 0..2999: present the whole time */
#define STABLE_NS 2000      /* st:0..1999: present the whole time */
#define CHURN 30000         /* churned ids: 1000000.. in both namespaces */
#define CHURN_BASE 1000000
#define BATCH 500

typedef struct {
    redisContext *c;
    volatile int stop;
    long sets, dels, shrinks, asyncs;
    char err[256];
} churner;

/* Send cmds pipelined, check that none is an error. */
static bool churn_drain(churner *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *rv = NULL;
        if (redisGetReply(w->c, &rv) != REDIS_OK || rv == NULL) {
            snprintf(w->err, sizeof w->err, "churner: %s", w->c->errstr);
            return false;
        }
        redisReply *r = rv;
        bool bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            snprintf(w->err, sizeof w->err, "churner: error reply '%s'", r->str);
        freeReplyObject(r);
        if (bad)
            return false;
    }
    return true;
}

/* Grow both tables with churn keys, delete them again (the tables shrink
 * when auto-shrink is on), and send SHRINK / SHRINK ASYNC between the steps,
 * until told to stop. Writes only churn keys. */
static void *churn_main(void *arg)
{
    churner *w = arg;
    unsigned round = 0;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && w->err[0] == '\0') {
        /* Half the rounds fill all of CHURN, the others a random part. */
        unsigned upto = round % 2 == 0 ? CHURN : (unsigned)(rand() % CHURN) + 1;
        for (unsigned b = 0; b < upto && w->err[0] == '\0'; b += BATCH) {
            unsigned e = b + BATCH < upto ? b + BATCH : upto;
            for (unsigned i = b; i < e; i++)
                redisAppendCommand(w->c, "SET %s%u v", i % 2 ? "st:" : "", CHURN_BASE + i);
            churn_drain(w, e - b);
            w->sets += e - b;
        }
        /* SHRINK, SHRINK ASYNC, SHRINK st, SHRINK st ASYNC in turn. */
        bool async = round % 2 == 1;
        switch (round % 4) {
        case 0:
            redisAppendCommand(w->c, "SHRINK");
            break;
        case 1:
            redisAppendCommand(w->c, "SHRINK ASYNC");
            break;
        case 2:
            redisAppendCommand(w->c, "SHRINK st");
            break;
        default:
            redisAppendCommand(w->c, "SHRINK st ASYNC");
            break;
        }
        churn_drain(w, 1);
        if (async)
            w->asyncs++;
        else
            w->shrinks++;
        for (unsigned b = 0; b < upto && w->err[0] == '\0'; b += BATCH) {
            unsigned e = b + BATCH < upto ? b + BATCH : upto;
            for (unsigned i = b; i < e; i++)
                redisAppendCommand(w->c, "DEL %s%u", i % 2 ? "st:" : "", CHURN_BASE + i);
            churn_drain(w, e - b);
            w->dels += e - b;
            if (b % (4 * BATCH) == 0) {
                if (b % (8 * BATCH) == 0) {
                    redisAppendCommand(w->c, "SHRINK");
                    w->shrinks++;
                } else {
                    redisAppendCommand(w->c, "SHRINK ASYNC");
                    w->asyncs++;
                }
                churn_drain(w, 1);
            }
        }
        redisAppendCommand(w->c, "SHRINK");
        churn_drain(w, 1);
        w->shrinks++;
        round++;
    }
    return NULL;
}

/* Is k a churn key (id >= CHURN_BASE in either namespace)? */
static bool is_churn(const char *k)
{
    const char *id = strncmp(k, "st:", 3) == 0 ? k + 3 : k;
    long long v = strtoll(id, NULL, 10);
    return v >= CHURN_BASE && v < CHURN_BASE + CHURN;
}

static void scan_during_churn(bool auto_shrink)
{
    EXPECT_OK(C, auto_shrink ? "CONFIG SET auto-shrink yes" : "CONFIG SET auto-shrink no");
    for (unsigned b = 0; b < STABLE_DEFAULT; b += BATCH) {
        for (unsigned i = b; i < b + BATCH; i++)
            redisAppendCommand(C, "SET %u s", i);
        for (unsigned i = b; i < b + BATCH; i++) {
            void *r = NULL;
            cr_assert_eq(redisGetReply(C, &r), REDIS_OK);
            freeReplyObject(r);
        }
    }
    for (unsigned i = 0; i < STABLE_NS; i++)
        redisAppendCommand(C, "SET st:%u s", i);
    for (unsigned i = 0; i < STABLE_NS; i++) {
        void *r = NULL;
        cr_assert_eq(redisGetReply(C, &r), REDIS_OK);
        freeReplyObject(r);
    }
    /* Keys deleted before the iterations: must never come back. */
    EXPECT_OK(C, "SET 999999 gone");
    EXPECT_OK(C, "SET st:999999 gone");
    EXPECT_INT(C, 2, "DEL 999999 st:999999");

    churner w = {.c = h_connect()};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, churn_main, &w), 0);

    /* Several iterations, with small COUNTs so that each spans many of the
     * churner's growths, drains and SHRINKs. */
    double end = h_now() + 3.0 * h_slow();
    int iterations = 0;
    long calls = 0;
    static const char *const counts[] = {"1", "3", "10", "50"};
    while (iterations < 3 || h_now() < end) {
        const char *const extra[] = {"COUNT", counts[iterations % 4], NULL};
        strset got = {0}, stable = {0};
        calls += scan_all(C, extra, &got);
        for (size_t i = 0; i < got.n; i++) {
            cr_assert(strcmp(got.v[i], "999999") != 0 && strcmp(got.v[i], "st:999999") != 0,
                      "a key deleted before the iteration came back: %s", got.v[i]);
            if (!is_churn(got.v[i]))
                ss_add(&stable, got.v[i], strlen(got.v[i]));
        }
        /* Each stable key at least once: dedupe, then compare. */
        ss_sort(&stable);
        size_t k = 0;
        for (size_t i = 0; i < stable.n; i++)
            if (k == 0 || strcmp(stable.v[k - 1], stable.v[i]) != 0)
                stable.v[k++] = stable.v[i];
            else
                free(stable.v[i]);
        size_t dups = stable.n - k;
        stable.n = k;
        strset want = {0};
        for (long long i = 0; i < STABLE_DEFAULT; i++)
            ss_addid(&want, "", i);
        for (long long i = 0; i < STABLE_NS; i++)
            ss_addid(&want, "st:", i);
        char what[96];
        snprintf(what, sizeof what, "iteration %d (COUNT %s, auto-shrink %s)", iterations,
                 counts[iterations % 4], auto_shrink ? "yes" : "no");
        ss_expect_equal_(__FILE__, __LINE__, &stable, &want, what);
        cr_log_info("%s: %zu keys returned, %zu duplicates of stable keys\n", what, got.n, dups);
        ss_free(&got);
        ss_free(&stable);
        ss_free(&want);
        iterations++;
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    cr_assert(w.err[0] == '\0', "%s", w.err);
    cr_log_info("auto-shrink %s: %d iterations, %ld SCAN calls; churner %ld SETs, %ld DELs, "
                "%ld SHRINKs, %ld ASYNC\n",
                auto_shrink ? "yes" : "no", iterations, calls, w.sets, w.dels, w.shrinks, w.asyncs);
    cr_assert_gt(w.shrinks, 0, "the churner ran no SHRINK during the scans");
    redisFree(w.c);
}

ITEST(scan, guarantee_while_churning_auto_shrink)
{
    scan_during_churn(true);
}

ITEST(scan, guarantee_while_churning_no_auto_shrink)
{
    scan_during_churn(false);
}

/* Pipeline `n` commands "<verb> <id>" for ids [from, from + n), checking
 * that none fails. */
static void pipeline_ids(const char *verb, long long from, long long n)
{
    for (long long b = 0; b < n; b += 1000) {
        long long e = b + 1000 < n ? b + 1000 : n;
        for (long long i = b; i < e; i++) {
            if (strcmp(verb, "SET") == 0)
                redisAppendCommand(C, "SET %lld v", from + i);
            else
                redisAppendCommand(C, "DEL %lld", from + i);
        }
        for (long long i = b; i < e; i++) {
            void *r = NULL;
            cr_assert_eq(redisGetReply(C, &r), REDIS_OK);
            cr_assert_neq(((redisReply *)r)->type, REDIS_REPLY_ERROR, "%s %lld", verb, from + i);
            freeReplyObject(r);
        }
    }
}

ITEST(scan, guarantee_across_shrink_async_of_a_large_table)
{
    /* A table grown large and drained, with auto-shrink off: SHRINK ASYNC
     * then goes down several sizes at once, in background slices, so the
     * SCAN calls that follow meet the migration from the large array (whose
     * cursor they carry) to a much smaller one. */
    EXPECT_OK(C, "CONFIG SET auto-shrink no");
    const long long stable = 30000, filler = h_slow() > 1 ? 150000 : 500000;
    pipeline_ids("SET", 0, stable);
    pipeline_ids("SET", 10000000, filler);
    pipeline_ids("DEL", 10000000, filler);
    EXPECT_INT(C, stable, "DBSIZE");

    strset got = {0};
    char cursor[32] = "0";
    /* Part way through with large COUNTs... */
    static const char *const big[] = {"COUNT", "300", NULL};
    for (int i = 0; i < 3; i++) {
        scan_call(C, cursor, sizeof cursor, big, &got);
        cr_assert_str_neq(cursor, "0", "the iteration ended before the SHRINK");
    }
    size_t before = got.n;
    EXPECT_OK(C, "SHRINK ASYNC");
    /* ... then in small steps while the shrink runs between them. */
    static const char *const small[] = {"COUNT", "1", NULL};
    long calls = 0;
    do {
        scan_call(C, cursor, sizeof cursor, small, &got);
        cr_assert_lt(++calls, MAX_SCAN_CALLS);
    } while (strcmp(cursor, "0") != 0);

    ss_sort(&got);
    size_t k = 0;
    for (size_t i = 0; i < got.n; i++)
        if (k == 0 || strcmp(got.v[k - 1], got.v[i]) != 0)
            got.v[k++] = got.v[i];
        else
            free(got.v[i]);
    size_t dups = got.n - k;
    got.n = k;
    strset want = {0};
    for (long long i = 0; i < stable; i++)
        ss_addid(&want, "", i);
    cr_log_info("%zu keys before SHRINK ASYNC, %ld calls after, %zu duplicates\n", before, calls,
                dups);
    SS_EXPECT_EQUAL(&got, &want, "SCAN across SHRINK ASYNC");
    ss_free(&got);
    ss_free(&want);
}

/* ---- KEYS, RANDOMKEY, DBSIZE ---------------------------------------------------- */

static void keys_cmd(const char *pattern, strset *out)
{
    redisReply *r = CMD(C, "KEYS %s", pattern);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "KEYS %s: type %d", pattern, r->type);
    for (size_t i = 0; i < r->elements; i++)
        ss_add(out, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
}

static bool is_ns_4x(const char *k)
{
    return strcmp(k, "ns:42") == 0;
}

static bool is_customer_1x_or_2x(const char *k)
{
    return strncmp(k, "customer:", 9) == 0 && (k[9] == '1' || k[9] == '2') && k[10] != '\0' &&
           k[11] == '\0';
}

ITEST(scan, keys_patterns)
{
    strset all = {0}, got = {0}, want = {0};
    keys_cmd("*", &got);
    cr_assert_eq(got.n, 0, "KEYS * on an empty server");
    load_fixture(&all);

    keys_cmd("*", &got);
    SS_EXPECT_EQUAL(&got, &all, "KEYS *");
    ss_free(&got);

    static const struct {
        const char *pattern;
        bool (*keep)(const char *);
    } cases[] = {
        {"customer:*", is_customer},
        {"c*:1?", is_c_star_1q},
        {"1*", is_1star},
        {"ns:4[0-9]", is_ns_4x},
        {"customer:[12]?", is_customer_1x_or_2x},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        keys_cmd(cases[c].pattern, &got);
        ss_filter(&all, cases[c].keep, &want);
        cr_assert_gt(want.n, 0, "%s matches something", cases[c].pattern);
        SS_EXPECT_EQUAL(&got, &want, cases[c].pattern);
        ss_free(&got);
        ss_free(&want);
    }
    /* Literals, and patterns that match nothing. */
    keys_cmd("7", &got);
    ss_add(&want, "7", 1);
    SS_EXPECT_EQUAL(&got, &want, "KEYS 7");
    ss_free(&got);
    ss_free(&want);
    keys_cmd("007", &got);
    cr_assert_eq(got.n, 0, "KEYS matches the canonical text: 007 is stored as 7");
    keys_cmd("nosuch:*", &got);
    keys_cmd("customer:x*", &got);
    cr_assert_eq(got.n, 0);
    EXPECT_INT(C, (long long)all.n, "DBSIZE");
    ss_free(&all);
}

ITEST(scan, randomkey_and_dbsize)
{
    EXPECT_NIL(C, "RANDOMKEY");
    EXPECT_INT(C, 0, "DBSIZE");

    strset all = {0};
    load_fixture(&all);
    ss_sort(&all);
    EXPECT_INT(C, (long long)all.n, "DBSIZE");
    strset seen = {0};
    for (int i = 0; i < 300; i++) {
        redisReply *r = CMD(C, "RANDOMKEY");
        cr_assert_eq(r->type, REDIS_REPLY_STRING, "RANDOMKEY with %zu keys: type %d", all.n,
                     r->type);
        cr_assert(ss_has(&all, r->str), "RANDOMKEY returned '%s', not a key", r->str);
        ss_add(&seen, r->str, r->len);
        freeReplyObject(r);
    }
    /* Random: from more than one namespace and many distinct keys. */
    ss_sort(&seen);
    size_t distinct = 0, named = 0;
    for (size_t i = 0; i < seen.n; i++) {
        distinct += i == 0 || strcmp(seen.v[i], seen.v[i - 1]) != 0;
        named += strchr(seen.v[i], ':') != NULL;
    }
    cr_assert_gt(distinct, 100, "300 RANDOMKEYs gave %zu distinct keys", distinct);
    cr_assert(named > 0 && named < seen.n, "%zu of 300 in named namespaces", named);
    ss_free(&seen);

    /* DBSIZE follows deletes, FLUSHALL ends at an empty server. */
    EXPECT_INT(C, 3, "DEL 7 ns:42 customer:0");
    EXPECT_INT(C, (long long)all.n - 3, "DBSIZE");
    EXPECT_OK(C, "FLUSHALL");
    EXPECT_INT(C, 0, "DBSIZE");
    EXPECT_NIL(C, "RANDOMKEY");
    ss_free(&all);
}

ITEST(scan, randomkey_never_expired)
{
    /* Two live keys among keys that have expired but may not have been
     * reclaimed yet by active expiry. */
    EXPECT_OK(C, "SET 1 live");
    EXPECT_OK(C, "SET ns:2 live");
    for (int i = 100; i < 140; i++)
        EXPECT_OK(C, "SET %d dying PX 30", i);
    for (int i = 100; i < 140; i++)
        EXPECT_OK(C, "SET ns:%d dying PX 30", i);
    usleep(100 * 1000);
    for (int i = 0; i < 200; i++) {
        redisReply *r = CMD(C, "RANDOMKEY");
        cr_assert_eq(r->type, REDIS_REPLY_STRING,
                     "RANDOMKEY gave type %d while two live keys exist", r->type);
        cr_assert(strcmp(r->str, "1") == 0 || strcmp(r->str, "ns:2") == 0,
                  "RANDOMKEY returned '%s', which has expired", r->str);
        freeReplyObject(r);
    }
    EXPECT_INT(C, 2, "DEL 1 ns:2");
    /* Only expired keys left: nil. */
    for (int i = 100; i < 110; i++)
        EXPECT_OK(C, "SET %d dying PX 20", i);
    usleep(60 * 1000);
    EXPECT_NIL(C, "RANDOMKEY");
    /* SCAN and KEYS skip expired keys too. */
    for (int i = 200; i < 300; i++)
        EXPECT_OK(C, "SET %d dying PX 20", i);
    EXPECT_OK(C, "SET 5 live");
    usleep(60 * 1000);
    strset got = {0}, want = {0};
    scan_all(C, NULL, &got);
    ss_add(&want, "5", 1);
    SS_EXPECT_EQUAL(&got, &want, "SCAN after expiry");
    ss_free(&got);
    keys_cmd("*", &got);
    SS_EXPECT_EQUAL(&got, &want, "KEYS after expiry");
    ss_free(&got);
    ss_free(&want);
}

ITEST(scan, randomkey_one_live_among_many_expired)
{
    /* Redis returns nil only when no live key exists: one live key among
     * many that have just expired is still found. */
    EXPECT_OK(C, "SET 1 live");
    for (int b = 0; b < 5000; b += 500) {
        for (int i = b; i < b + 500; i++)
            redisAppendCommand(C, "SET %d dying PX 50", 10000 + i);
        for (int i = 0; i < 500; i++) {
            void *r = NULL;
            cr_assert_eq(redisGetReply(C, &r), REDIS_OK);
            freeReplyObject(r);
        }
    }
    /* Just past their time: active expiry has not had the time to reclaim
     * them all, so RANDOMKEY meets many. */
    usleep(60 * 1000);
    for (int i = 0; i < 20; i++) {
        redisReply *r = CMD(C, "RANDOMKEY");
        cr_assert_eq(r->type, REDIS_REPLY_STRING,
                     "RANDOMKEY #%d gave nil (type %d) while key 1 is live (5000 expired keys)", i,
                     r->type);
        cr_assert_str_eq(r->str, "1");
        freeReplyObject(r);
    }
}

/* ---- redis-cli --------------------------------------------------------------- */

/* Run `redis-cli -p PORT <args>`; its stdout lines into out (if not NULL),
 * the whole output into *text (malloc'd, if not NULL). Returns the exit
 * status. */
static int redis_cli(const char *args, strset *out, char **text)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "redis-cli -h %s -p %d %s 2>/dev/null", H.host, H.port, args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "popen %s", cmd);
    size_t cap = 1 << 16, len = 0;
    char *all = malloc(cap);
    cr_assert_not_null(all);
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        if (len + n + 1 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            cr_assert_not_null(all);
        }
        memcpy(all + len, line, n);
        len += n;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (out != NULL)
            ss_add(out, line, n);
    }
    all[len] = '\0';
    int st = pclose(f);
    if (text != NULL)
        *text = all;
    else
        free(all);
    return st;
}

/* redis-cli is installed by the test command (scripts/deps.sh test); a
 * machine without it fails these tests rather than skipping them. */
static void need_redis_cli(void)
{
    cr_assert(system("redis-cli --version >/dev/null 2>&1") == 0,
              "redis-cli is not installed (scripts/deps.sh test installs it)");
}

ITEST(scan, redis_cli_scan)
{
    need_redis_cli();
    strset all = {0}, got = {0}, want = {0};
    load_fixture(&all);

    int st = redis_cli("--scan", &got, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-cli --scan: status %d", st);
    SS_EXPECT_EQUAL(&got, &all, "redis-cli --scan");
    ss_free(&got);

    st = redis_cli("--scan --pattern 'customer:*'", &got, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    ss_filter(&all, is_customer, &want);
    SS_EXPECT_EQUAL(&got, &want, "redis-cli --scan --pattern customer:*");
    ss_free(&got);
    ss_free(&want);

    st = redis_cli("--scan --pattern 'c*:1?'", &got, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    ss_filter(&all, is_c_star_1q, &want);
    SS_EXPECT_EQUAL(&got, &want, "redis-cli --scan --pattern c*:1?");
    ss_free(&got);
    ss_free(&want);
    ss_free(&all);
}

ITEST(scan, redis_cli_bigkeys_memkeys)
{
    need_redis_cli();
    strset all = {0};
    load_fixture(&all);
    /* One clearly biggest value. */
    EXPECT_OK(C, "SET customer:77 %s",
              "0123456789012345678901234567890123456789012345678901234567890123456789");

    char *text = NULL;
    int st = redis_cli("--bigkeys", NULL, &text);
    cr_log_info("--bigkeys:\n%s", text);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-cli --bigkeys: status %d\n%s", st,
              text);
    char want[128];
    snprintf(want, sizeof want, "Sampled %zu keys", all.n);
    cr_assert(strstr(text, want) != NULL, "--bigkeys lacks '%s':\n%s", want, text);
    cr_assert(strstr(text, "Biggest string found") != NULL && strstr(text, "customer:77") != NULL,
              "--bigkeys does not name customer:77 as the biggest string:\n%s", text);
    free(text);

    st = redis_cli("--memkeys", NULL, &text);
    cr_log_info("--memkeys:\n%s", text);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-cli --memkeys: status %d\n%s", st,
              text);
    cr_assert(strstr(text, want) != NULL, "--memkeys lacks '%s':\n%s", want, text);
    cr_assert(strstr(text, "Biggest string found") != NULL, "--memkeys:\n%s", text);
    free(text);
    ss_free(&all);
}
