/*
 * test_quota.c - unit tests of the memory quotas per namespace
 * (namespace-maxmemory: config.c's list, quota.c's enforcement, evict.c's
 * sampling within one namespace) and of the figures per namespace (INFO
 * # Namespaces, MEMORY STATS), against an in-memory server and client.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_testlib.h"
#include "quota.h"

static cmd_server qsrv;
static cmd_client qcli;

#define T0 1700000000000LL

static void qsetup(void)
{
    tl_server_start(&qsrv);
    cmd_client_init(&qsrv, &qcli);
    qsrv.clock_fixed = true;
    qsrv.now_ms = T0;
}

static void qteardown(void)
{
    cmd_client_deinit(&qsrv, &qcli);
    cmd_server_deinit(&qsrv);
}

TestSuite(quota, .init = qsetup, .fini = qteardown);

static const char *run(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    resp_out_reset(&qcli.out);
    tl_execv(&qsrv, &qcli, first, ap);
    va_end(ap);
    return tl_take(&qcli);
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)
#define OOM "-OOM command not allowed when used memory > 'maxmemory'.\r\n"

static table *ns_table(const char *name)
{
    db_ns *n = db_find(qsrv.db, name, strlen(name));
    cr_assert_not_null(n, "no namespace '%s'", name);
    return n->t;
}

/* Field `field` of INFO's ns_<name> line, -1 if absent. */
static long long ns_field(const char *name, const char *field)
{
    size_t len;
    resp_view sec = {"namespaces", 10};
    char *info = cmd_info_text(&qsrv, &sec, 1, &len);
    cr_assert_not_null(info);
    char head[64], key[64];
    snprintf(head, sizeof head, "\r\nns_%s:", name);
    snprintf(key, sizeof key, "%s=", field);
    long long v = -1;
    char *line = strstr(info, head);
    if (line != NULL) {
        line += strlen(head);
        char *end = strstr(line, "\r\n");
        for (char *p = line; p != NULL && p < end; p = strchr(p, ',')) {
            if (*p == ',')
                p++;
            if (strncmp(p, key, strlen(key)) == 0) {
                v = strtoll(p + strlen(key), NULL, 10);
                break;
            }
        }
    }
    free(info);
    return v;
}

/* n keys name:0..n-1 with 100-byte values. */
static void fill(const char *ns, int from, int n)
{
    char key[64], val[101];
    memset(val, 'v', 100);
    val[100] = '\0';
    for (int i = from; i < from + n; i++) {
        if (ns[0] != '\0')
            snprintf(key, sizeof key, "%s:%d", ns, i);
        else
            snprintf(key, sizeof key, "%d", i);
        R("+OK\r\n", "set", key, val);
    }
}

/* ---- the list ----------------------------------------------------------------------- */

Test(quota, parse_validate_and_canonical_form)
{
    config_ns_quota *q;
    size_t n;
    char err[256];
    const char *text = "customer 1mb  @default 2kb session 0 x.y-z_1 4096";
    cr_assert(config_parse_ns_quotas(text, strlen(text), &q, &n, err, sizeof err), "%s", err);
    cr_assert_eq(n, 3, "the pair of 0 is left out");
    cr_assert_str_eq(q[0].name, "customer");
    cr_assert_eq(q[0].bytes, 1048576);
    cr_assert_eq(q[1].len, 0, "@default is the default namespace");
    cr_assert_eq(q[1].bytes, 2048);
    cr_assert_str_eq(q[2].name, "x.y-z_1");
    cr_assert_eq(q[2].bytes, 4096);
    free(q);
    cr_assert(config_parse_ns_quotas("", 0, &q, &n, err, sizeof err) && n == 0 && q == NULL);

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"customer", "namespace 'customer' has no size: give <namespace> <bytes> pairs"},
        {"a 1 b", "namespace 'b' has no size: give <namespace> <bytes> pairs"},
        {"a:b 1", "'a:b' is not a namespace: 1 to 32 of [A-Za-z0-9_.-], or @default for the "
                  "default one"},
        {"abcdefghijklmnopqrstuvwxyz0123456 1",
         "'abcdefghijklmnopqrstuvwxyz0123456' is not a namespace: 1 to 32 of [A-Za-z0-9_.-], "
         "or @default for the default one"},
        {"a lots", "'lots' (for namespace 'a') is not a memory value"},
        {"a -1", "'-1' (for namespace 'a') is not a memory value"},
        {"a 1 b 2 a 3", "namespace 'a' is given twice"},
        {"a 0 a 1", "namespace 'a' is given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_not(
            config_parse_ns_quotas(bad[i].text, strlen(bad[i].text), &q, &n, err, sizeof err), "%s",
            bad[i].text);
        cr_assert_str_eq(err, bad[i].err);
    }
}

Test(quota, config_set_get_round_trip)
{
    R("*2\r\n$19\r\nnamespace-maxmemory\r\n$0\r\n\r\n", "config", "get", "namespace-maxmemory");
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "customer 1mb @default 2KB session 0");
    R("*2\r\n$19\r\nnamespace-maxmemory\r\n$30\r\ncustomer 1048576 @default 2048\r\n", "config",
      "get", "namespace-maxmemory");
    cr_assert_eq(qsrv.ns_quotas, 2);
    cr_assert_eq(db_find(qsrv.db, "", 0)->maxmemory, 2048);
    /* Refused as a whole: the list in force stays. */
    R("-ERR CONFIG SET failed (possibly related to argument 'namespace-maxmemory') - namespace "
      "'b' has no size: give <namespace> <bytes> pairs\r\n",
      "config", "set", "namespace-maxmemory", "a 1mb b");
    R("*2\r\n$19\r\nnamespace-maxmemory\r\n$30\r\ncustomer 1048576 @default 2048\r\n", "config",
      "get", "namespace-maxmemory");
    /* A long list comes back whole. */
    char list[8192] = "";
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len +=
            (size_t)snprintf(list + len, sizeof list - len, "%sns%d %d", i ? " " : "", i, 1000 + i);
    R("+OK\r\n", "config", "set", "namespace-maxmemory", list);
    char want[9000];
    snprintf(want, sizeof want, "*2\r\n$19\r\nnamespace-maxmemory\r\n$%zu\r\n%s\r\n", len, list);
    R(want, "config", "get", "namespace-maxmemory");
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "");
    cr_assert_eq(qsrv.ns_quotas, 0);
    cr_assert_eq(db_find(qsrv.db, "", 0)->maxmemory, 0);
}

Test(quota, applies_to_namespaces_created_later)
{
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "later 1mb");
    cr_assert_null(db_find(qsrv.db, "later", 5));
    R("+OK\r\n", "set", "later:1", "v");
    cr_assert_eq(ns_field("later", "maxmemory"), 1048576);
    R("+OK\r\n", "flushall");
    R("+OK\r\n", "set", "later:1", "v");
    cr_assert_eq(db_find(qsrv.db, "later", 5)->maxmemory, 1048576);
}

/* ---- enforcement --------------------------------------------------------------------- */

/* Under each evicting policy: writes to a namespace over its quota evict its
 * own keys and keep it near the quota; the other namespace keeps every key. */
Test(quota, eviction_stays_in_the_namespace)
{
    const char *policies[] = {"allkeys-lru", "allkeys-random", "volatile-ttl"};
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        R("+OK\r\n", "flushall");
        R("+OK\r\n", "config", "set", "namespace-maxmemory", "");
        R("+OK\r\n", "config", "set", "maxmemory-policy", policies[p]);
        bool ttl = strcmp(policies[p], "volatile-ttl") == 0;
        fill("b", 0, 3000);
        fill("", 0, 500);
        char key[32], val[101];
        memset(val, 'w', 100);
        val[100] = '\0';
        R("+OK\r\n", "config", "set", "namespace-maxmemory", "a 200kb");
        for (int i = 0; i < 6000; i++) {
            snprintf(key, sizeof key, "a:%d", i);
            if (ttl)
                R("+OK\r\n", "set", key, val, "EX", "1000");
            else
                R("+OK\r\n", "set", key, val);
            /* Checked before each write: at most one write's record over, or
             * an index that has just doubled. */
            uint64_t used = table_memory(ns_table("a"));
            cr_assert(used <= 204800 + 64 * 1024, "%s: a holds %llu", policies[p],
                      (unsigned long long)used);
        }
        cr_assert_eq(table_count(ns_table("b")), 3000, "%s", policies[p]);
        cr_assert_eq(table_count(db_find(qsrv.db, "", 0)->t), 500, "%s", policies[p]);
        long long evicted = ns_field("a", "evicted_keys");
        cr_assert_eq(evicted, 6000 - (long long)table_count(ns_table("a")), "%s", policies[p]);
        cr_assert_eq(ns_field("b", "evicted_keys"), 0);
        cr_assert_eq(ns_field("@default", "evicted_keys"), 0);
        cr_assert_eq(ns_field("a", "used_memory"), (long long)table_memory(ns_table("a")));
        cr_assert_eq(ns_field("a", "maxmemory"), 204800);
        cr_assert_eq(ns_field("b", "maxmemory"), 0);
    }
}

Test(quota, noeviction_refuses_only_that_namespace)
{
    fill("a", 0, 1000);
    fill("b", 0, 1000);
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "a 10kb");
    R(OOM, "set", "a:5000", "x");
    R(OOM, "mset", "b:1", "x", "a:1", "x");
    R("+OK\r\n", "set", "b:5000", "x");
    R("+OK\r\n", "set", "5000", "x");
    R("$1\r\nv\r\n", "getrange", "a:1", "0", "0");
    R(":1\r\n", "del", "a:1");
    /* MULTI: refused while queueing, as over maxmemory. */
    R("+OK\r\n", "multi");
    R(OOM, "set", "a:5001", "x");
    R("+QUEUED\r\n", "set", "b:5001", "x");
    R("-EXECABORT Transaction discarded because of previous errors.\r\n", "exec");
    cr_assert_eq(table_count(ns_table("a")), 999);
    cr_assert_eq(ns_field("a", "evicted_keys"), 0);
    /* The quota of the default namespace, named @default. */
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "@default 1kb");
    R(OOM, "set", "5001", "x");
    R("+OK\r\n", "set", "a:5000", "x");
}

Test(quota, lowered_quota_is_drained_by_the_cron)
{
    R("+OK\r\n", "config", "set", "maxmemory-policy", "allkeys-random");
    fill("a", 0, 4000);
    fill("b", 0, 4000);
    uint64_t b_before = table_memory(ns_table("b"));
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "a 100kb b 100mb");
    int ticks = 0;
    while (table_memory(ns_table("a")) > 102400) {
        cmd_server_cron(&qsrv);
        while (cmd_server_urgent(&qsrv, 1000))
            ;
        cr_assert(++ticks < 1000, "the cron does not drain a");
    }
    cr_assert_gt(table_count(ns_table("a")), 0);
    cr_assert_eq(table_count(ns_table("b")), 4000);
    cr_assert_eq(table_memory(ns_table("b")), b_before);
    cr_assert_eq(ns_field("a", "evicted_keys"), 4000 - (long long)table_count(ns_table("a")));
}

/* ---- counters per namespace --------------------------------------------------------- */

Test(quota, hits_misses_expired_per_namespace)
{
    R("+OK\r\n", "set", "a:1", "x");
    R("+OK\r\n", "set", "a:2", "y", "PX", "100");
    R("+OK\r\n", "set", "1", "z");
    R("$1\r\nx\r\n", "get", "a:1");
    R("$1\r\nx\r\n", "get", "a:1");
    R("$-1\r\n", "get", "a:3");
    R("$1\r\nz\r\n", "get", "1");
    R("$-1\r\n", "get", "2");
    R("$-1\r\n", "get", "nosuch:1"); /* no namespace: counted for the server only */
    R("*2\r\n$1\r\nx\r\n$-1\r\n", "mget", "a:1", "b:1");
    qsrv.now_ms += 200;
    R("$-1\r\n", "get", "a:2");
    cr_assert_eq(ns_field("a", "hits"), 3);
    cr_assert_eq(ns_field("a", "misses"), 2);
    cr_assert_eq(ns_field("a", "expired_keys"), 1);
    cr_assert_eq(ns_field("a", "keys"), 1);
    cr_assert_eq(ns_field("@default", "hits"), 1);
    cr_assert_eq(ns_field("@default", "misses"), 1);
    cr_assert_eq(ns_field("@default", "expired_keys"), 0);
    cr_assert_eq(qsrv.st.keyspace_hits, 4);
    cr_assert_eq(qsrv.st.keyspace_misses, 5);
}

Test(quota, memory_stats_namespaces_map)
{
    R("+OK\r\n", "config", "set", "namespace-maxmemory", "a 1mb");
    R("+OK\r\n", "set", "a:1", "x");
    char want[256];
    snprintf(want, sizeof want,
             "$10\r\nnamespaces\r\n*4\r\n$8\r\n@default\r\n*6\r\n$4\r\nkeys\r\n:0\r\n"
             "$11\r\nused_memory\r\n:%llu\r\n$9\r\nmaxmemory\r\n:0\r\n$1\r\na\r\n*6\r\n"
             "$4\r\nkeys\r\n:1\r\n$11\r\nused_memory\r\n:%llu\r\n$9\r\nmaxmemory\r\n:1048576\r\n",
             (unsigned long long)table_memory(db_find(qsrv.db, "", 0)->t),
             (unsigned long long)table_memory(ns_table("a")));
    const char *r = run("memory", "stats", NULL);
    cr_assert_not_null(strstr(r, want), "%s", r);
    qcli.out.proto = 3;
    r = run("memory", "stats", NULL);
    cr_assert_not_null(strstr(r, "$10\r\nnamespaces\r\n%2\r\n$8\r\n@default\r\n%3\r\n$4\r\nkeys"),
                       "%s", r);
}
