/*
 * test_hotkeys.c - unit tests of the Space-Saving summary (topk.c) against
 * exact counts, and of hot key detection and HOTKEYS (hotkeys.c) against an
 * in-memory server and client whose clock the tests move.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_testlib.h"
#include "hotkeys.h"
#include "topk.h"

/* ---- topk ---- */

/* A stream over `distinct` ids whose i-th id is drawn with weight ~1/i
 * (Zipf-like), from a fixed generator. */
static int64_t skewed_id(uint64_t *rng, int64_t distinct)
{
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(*rng >> 11) / 9007199254740992.0;
    /* Inverse of the continuous 1/x law over [1, distinct + 1). */
    double x = __builtin_pow((double)distinct + 1.0, u);
    int64_t id = (int64_t)x - 1;
    return id < distinct ? id : distinct - 1;
}

Test(topk, bounds_hold_against_exact_counts)
{
    enum { K = 32, DISTINCT = 5000, N = 200000 };
    static uint64_t exact[DISTINCT];
    memset(exact, 0, sizeof exact);
    topk *t = topk_new(K);
    cr_assert_not_null(t);
    uint64_t rng = 1;
    for (int i = 0; i < N; i++) {
        /* Ids far apart and negative too, so the hash sees real int64s. */
        int64_t id = skewed_id(&rng, DISTINCT);
        exact[id]++;
        topk_add(t, id * 7919 - 1000000007LL);
        if (i % 997 == 0)
            cr_assert(topk_check(t), "invariants broken after %d adds", i + 1);
    }
    cr_assert(topk_check(t));
    cr_assert_eq(topk_size(t), K);
    cr_assert_eq(topk_total(t), N);
    bool tracked[DISTINCT] = {false};
    for (uint32_t i = 0; i < topk_size(t); i++) {
        const topk_entry *e = topk_at(t, i);
        int64_t id = (e->id + 1000000007LL) / 7919;
        cr_assert(id >= 0 && id < DISTINCT);
        tracked[id] = true;
        cr_assert(e->count - e->error <= exact[id] && exact[id] <= e->count,
                  "id %lld: exact %llu outside [%llu, %llu]", (long long)id,
                  (unsigned long long)exact[id], (unsigned long long)(e->count - e->error),
                  (unsigned long long)e->count);
    }
    /* Every id seen more than N/K times is tracked. */
    for (int id = 0; id < DISTINCT; id++)
        if (exact[id] > N / K)
            cr_assert(tracked[id], "id %d seen %llu times is not tracked", id,
                      (unsigned long long)exact[id]);
    topk_clear(t);
    cr_assert_eq(topk_size(t), 0);
    cr_assert_eq(topk_total(t), 0);
    cr_assert(topk_check(t));
    topk_free(t);
}

Test(topk, exact_while_under_capacity)
{
    topk *t = topk_new(4);
    for (int r = 0; r < 3; r++)
        for (int64_t id = 1; id <= 4; id++)
            for (int64_t j = 0; j < id; j++)
                topk_add(t, id);
    cr_assert(topk_check(t));
    for (uint32_t i = 0; i < topk_size(t); i++) {
        const topk_entry *e = topk_at(t, i);
        cr_assert_eq(e->error, 0);
        cr_assert_eq(e->count, (uint64_t)(3 * e->id));
    }
    /* A fifth id takes the least counted entry (id 1, 3 adds). */
    topk_add(t, 99);
    cr_assert(topk_check(t));
    bool saw = false;
    for (uint32_t i = 0; i < topk_size(t); i++) {
        const topk_entry *e = topk_at(t, i);
        cr_assert_neq(e->id, 1);
        if (e->id == 99) {
            saw = true;
            cr_assert_eq(e->count, 4);
            cr_assert_eq(e->error, 3);
        }
    }
    cr_assert(saw);
    topk_free(t);
}

Test(topk, bad_capacity)
{
    cr_assert_null(topk_new(0));
    cr_assert_null(topk_new(TOPK_CAP_MAX + 1));
}

/* ---- HOTKEYS ---- */

static cmd_server hs;
static cmd_client hc;

#define T0 1700000000000LL

static void hsetup(void)
{
    tl_server_start(&hs);
    cmd_client_init(&hs, &hc);
    hs.clock_fixed = true;
    hs.now_ms = T0;
}

static void hteardown(void)
{
    cmd_client_deinit(&hs, &hc);
    cmd_server_deinit(&hs);
}

TestSuite(hotkeys, .init = hsetup, .fini = hteardown);

static const char *run(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    resp_out_reset(&hc.out);
    tl_execv(&hs, &hc, first, ap);
    va_end(ap);
    return tl_take(&hc);
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)

static void times(int n, const char *cmd, const char *key)
{
    for (int i = 0; i < n; i++)
        run(cmd, key, NULL);
}

/* One RESP2 entry of HOTKEYS GET. */
static void entry(char *dst, size_t cap, const char *key, long long qps)
{
    char q[32];
    int ql = snprintf(q, sizeof q, "%lld", qps);
    snprintf(dst, cap, "*6\r\n$3\r\nkey\r\n$%zu\r\n%s\r\n$2\r\ndb\r\n:0\r\n$3\r\nqps\r\n:%s\r\n",
             strlen(key), key, q);
    (void)ql;
}

/* The RESP2 reply listing (key, qps) pairs in order; NULL-terminated. */
static const char *expect_list(const char *key, ...)
{
    static char out[4096];
    char one[256];
    const char *keys[32];
    long long qps[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k != NULL; k = va_arg(ap, const char *)) {
        keys[n] = k;
        qps[n++] = va_arg(ap, long long);
    }
    va_end(ap);
    int w = snprintf(out, sizeof out, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        entry(one, sizeof one, keys[i], qps[i]);
        w += snprintf(out + w, sizeof out - (size_t)w, "%s", one);
    }
    return out;
}

static long long info_field(const char *section, const char *field)
{
    size_t len;
    resp_view sec = {section, strlen(section)};
    char *info = cmd_info_text(&hs, &sec, 1, &len);
    cr_assert_not_null(info);
    char head[64];
    snprintf(head, sizeof head, "\r\n%s:", field);
    char *p = strstr(info, head);
    long long v = p != NULL ? atoll(p + strlen(head)) : -1;
    free(info);
    return v;
}

Test(hotkeys, off_by_default)
{
    R("*0\r\n", "HOTKEYS", "GET");
    R("-ERR Hotkey detection is disabled\r\n", "HOTKEYS", "RESET");
    R("*2\r\n$12\r\nhotkey-top-k\r\n$1\r\n0\r\n", "CONFIG", "GET", "hotkey-top-k");
    times(100, "GET", "1");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "4");
    hs.now_ms += 10000;
    /* Nothing was sampled while off. */
    R("*0\r\n", "HOTKEYS", "GET");
    cr_assert_eq(info_field("stats", "hotkeys_window_samples"), 0);
}

Test(hotkeys, reports_the_last_window_by_rate)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "3");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "2");
    R("+OK\r\n", "SET", "customer:7", "v");
    times(99, "GET", "customer:7"); /* 100 with the SET */
    times(40, "GET", "42");         /* a miss counts */
    times(20, "INCR", "session:1");
    times(10, "GET", "5");
    run("PING", NULL); /* no key */
    run("GET", "not-a-key", NULL);
    /* The window has not ended: nothing to report yet. */
    hs.now_ms += 1999;
    R("*0\r\n", "HOTKEYS", "GET");
    hs.now_ms += 1;
    /* 2 s: 100 accesses are 50 per second. */
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL),
                     expect_list("customer:7", 50LL, "42", 20LL, "session:1", 10LL, NULL));
    cr_assert_eq(info_field("stats", "hotkeys_window_samples"), 170);
    cr_assert_eq(info_field("stats", "hotkeys_window_ms"), 2000);
    cr_assert_gt(info_field("memory", "used_memory_hotkeys"), 0);
    /* Per namespace: the default one holds 42 and 5. */
    cr_assert_str_eq(run("HOTKEYS", "GET", "NAMESPACE", "@default", NULL),
                     expect_list("42", 20LL, "5", 5LL, NULL));
    cr_assert_str_eq(run("HOTKEYS", "GET", "namespace", "session", NULL),
                     expect_list("session:1", 10LL, NULL));
    R("*0\r\n", "HOTKEYS", "GET", "NAMESPACE", "nosuch");
    R("-ERR syntax error\r\n", "HOTKEYS", "GET", "NAMESPACE");
    R("-ERR syntax error\r\n", "HOTKEYS", "GET", "COUNT", "3");
    /* The next window is reported once it ends, whatever ran meanwhile... */
    times(6, "GET", "9");
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL),
                     expect_list("customer:7", 50LL, "42", 20LL, "session:1", 10LL, NULL));
    hs.now_ms += 2000;
    cmd_hotkeys_cron(&hs);
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL), expect_list("9", 3LL, NULL));
    /* ...and a window with no access leaves nothing. */
    hs.now_ms += 2000;
    cmd_hotkeys_cron(&hs);
    R("*0\r\n", "HOTKEYS", "GET");
}

Test(hotkeys, resp3_entries_are_maps)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "2");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    hc.out.proto = 3;
    times(3, "GET", "a:1");
    hs.now_ms += 1000;
    R("*1\r\n%3\r\n$3\r\nkey\r\n$3\r\na:1\r\n$2\r\ndb\r\n:0\r\n$3\r\nqps\r\n:3\r\n", "HOTKEYS",
      "GET");
}

Test(hotkeys, a_busy_tenant_does_not_hide_another)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "4");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    /* 1000 distinct keys of one tenant, each twice, churn its summary... */
    char key[32];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "busy:%d", i);
            run("SET", key, "v", NULL);
        }
    /* ...while another tenant's key is used 5 times. */
    times(5, "GET", "quiet:3");
    hs.now_ms += 1000;
    cr_assert_str_eq(run("HOTKEYS", "GET", "NAMESPACE", "quiet", NULL),
                     expect_list("quiet:3", 5LL, NULL));
    /* Over everything, the four highest estimates; busy's are
     * over-estimated by Space-Saving (count - error/2 of a churned entry),
     * never below the true 2. */
    const char *all = run("HOTKEYS", "GET", NULL);
    cr_assert(strncmp(all, "*4\r\n", 4) == 0, "%s", all);
}

Test(hotkeys, every_key_of_a_command_and_of_a_transaction)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "8");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    run("MSET", "1", "a", "2", "b", "3", "c", NULL);
    run("MGET", "1", "2", NULL);
    run("DEL", "1", NULL);
    R("+OK\r\n", "MULTI");
    R("+QUEUED\r\n", "GET", "2");
    R("+QUEUED\r\n", "GET", "2");
    R("*2\r\n$1\r\nb\r\n$1\r\nb\r\n", "EXEC");
    hs.now_ms += 1000;
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL), expect_list("2", 4LL, "1", 3LL, "3", 1LL, NULL));
}

Test(hotkeys, sampling_scales_back_up)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "2");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-sampling-percentage", "25");
    times(20000, "GET", "7");
    hs.now_ms += 1000;
    const char *r = run("HOTKEYS", "GET", NULL);
    const char *q = strstr(r, "qps\r\n:");
    cr_assert_not_null(q, "%s", r);
    long long qps = atoll(q + 6);
    /* 5000 samples expected; a binomial's deviation is ~61: 5 % is ~16 of
     * them. */
    cr_assert(qps > 19000 && qps < 21000, "qps %lld from 20000 accesses", qps);
    long long n = info_field("stats", "hotkeys_window_samples");
    cr_assert(n > 4750 && n < 5250, "%lld samples", n);
}

Test(hotkeys, reset_flush_and_off_forget)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "2");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    times(3, "GET", "7");
    hs.now_ms += 1000;
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL), expect_list("7", 3LL, NULL));
    R("+OK\r\n", "HOTKEYS", "RESET");
    R("*0\r\n", "HOTKEYS", "GET");
    times(3, "GET", "7");
    hs.now_ms += 1000;
    cmd_hotkeys_cron(&hs);
    R("+OK\r\n", "FLUSHALL");
    R("*0\r\n", "HOTKEYS", "GET");
    /* A new K keeps the completed window and restarts the live one. */
    times(3, "GET", "8");
    hs.now_ms += 1000;
    cmd_hotkeys_cron(&hs);
    times(5, "GET", "8");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "5");
    cr_assert_str_eq(run("HOTKEYS", "GET", NULL), expect_list("8", 3LL, NULL));
    hs.now_ms += 1000;
    R("*0\r\n", "HOTKEYS", "GET");
    /* Off frees everything. */
    times(3, "GET", "8");
    hs.now_ms += 1000;
    cmd_hotkeys_cron(&hs);
    cr_assert_gt(info_field("memory", "used_memory_hotkeys"), 0);
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "0");
    cr_assert_eq(info_field("memory", "used_memory_hotkeys"), 0);
    R("*0\r\n", "HOTKEYS", "GET");
}

Test(hotkeys, namespaces_tracked_are_bounded)
{
    R("+OK\r\n", "CONFIG", "SET", "max-namespaces", "2");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "2");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    R("+OK\r\n", "SET", "real:1", "v");
    /* Misses in 100 namespaces that do not exist: past max-namespaces + 1
     * slots, only namespaces that exist get one. */
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "ghost%d:1", i);
        run("GET", key, NULL);
    }
    times(4, "GET", "real:1");
    hs.now_ms += 1000;
    cr_assert_str_eq(run("HOTKEYS", "GET", "NAMESPACE", "real", NULL),
                     expect_list("real:1", 5LL, NULL));
    /* real took the first of the three slots (its SET came first), two
     * ghosts the others; the other 98 were dropped. */
    cr_assert_eq(info_field("stats", "hotkeys_dropped_samples"), 98);
    cr_assert_eq(info_field("stats", "hotkeys_window_samples"), 7);
}

/* A window that ends between two samples and a GET: the GET closes it
 * before it looks the namespace up (closing moves the slots). */
Test(hotkeys, namespace_view_after_a_rotation)
{
    R("+OK\r\n", "CONFIG", "SET", "hotkey-top-k", "4");
    R("+OK\r\n", "CONFIG", "SET", "hotkey-window-seconds", "1");
    run("GET", "aaa:1", NULL);
    run("GET", "bbb:2", NULL);
    hs.now_ms += 1000;
    cmd_hotkeys_cron(&hs);
    run("GET", "bbb:3", NULL);
    hs.now_ms += 1000;
    R("*0\r\n", "HOTKEYS", "GET", "NAMESPACE", "aaa");
    cr_assert_str_eq(run("HOTKEYS", "GET", "NAMESPACE", "bbb", NULL),
                     expect_list("bbb:3", 1LL, NULL));
}

/* Summaries grow from a few entries to K, exact until they are full. */
Test(topk, grows_exactly)
{
    topk *t = topk_new(2);
    for (int64_t id = 1; id <= 2; id++)
        topk_add(t, id);
    topk_add(t, 2);
    topk *g = topk_grow(t, 5);
    cr_assert_not_null(g);
    cr_assert_null(topk_grow(g, 1), "smaller than its entries");
    for (int64_t id = 3; id <= 5; id++)
        topk_add(g, id);
    topk_add(g, 2);
    cr_assert(topk_check(g));
    cr_assert_eq(topk_size(g), 5);
    cr_assert_eq(topk_total(g), 7);
    for (uint32_t i = 0; i < topk_size(g); i++) {
        const topk_entry *e = topk_at(g, i);
        cr_assert_eq(e->error, 0);
        cr_assert_eq(e->count, e->id == 2 ? 3u : 1u, "id %lld", (long long)e->id);
    }
    topk_free(g);
}

Test(hotkeys, help_and_errors)
{
    const char *h = run("HOTKEYS", "HELP", NULL);
    cr_assert(strstr(h, "GET [NAMESPACE <namespace>]") != NULL, "%s", h);
    R("-ERR unknown subcommand 'NOPE'. Try HOTKEYS HELP.\r\n", "HOTKEYS", "NOPE");
    R("-ERR wrong number of arguments for 'hotkeys' command\r\n", "HOTKEYS");
    R("-ERR wrong number of arguments for 'hotkeys|reset' command\r\n", "HOTKEYS", "RESET", "x");
    R("-ERR CONFIG SET failed (possibly related to argument 'hotkey-top-k') - argument must be "
      "between 0 and 1024 inclusive\r\n",
      "CONFIG", "SET", "hotkey-top-k", "1025");
}
