/* Unit tests for the list of figures (figures.h): INFO and /metrics render
 * the same rows, so a figure in both says the same thing in both. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "strbuf.h"

static cmd_server srv;
static cmd_client cli;

static void setup(void)
{
    cr_assert(cmd_server_init(&srv));
    srv.cfg.maxmemory.num = 0; /* explicit: no limit from the machine's cgroup */
    cr_assert(cmd_server_start(&srv));
    cmd_client_init(&srv, &cli);
    /* Some keys, a miss, an error: counters that are not all zero. */
    const char *cmds[][3] = {{"set", "a:1", "x"},
                             {"set", "2", "yy"},
                             {"get", "3", NULL},
                             {"get", "a:1", NULL},
                             {"incr", "a:1", NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        resp_view argv[3];
        size_t argc = 0;
        for (size_t j = 0; j < 3 && cmds[i][j] != NULL; j++)
            argv[argc++] = (resp_view){cmds[i][j], strlen(cmds[i][j])};
        cmd_execute(&srv, &cli, argv, argc);
    }
}

static void teardown(void)
{
    cmd_client_deinit(&srv, &cli);
    cmd_server_deinit(&srv);
}

TestSuite(figures, .init = setup, .fini = teardown);

/* The value after "name:" on its own line of INFO text, or NULL. */
static const char *info_value(const char *text, const char *name, char *dst, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, "\r\n");
            snprintf(dst, cap, "%.*s", (int)len, v);
            return dst;
        }
    }
    return NULL;
}

/* The value of the sample "name{label}" (or "name" without a label) of
 * Prometheus text, or NAN if absent. */
static double prom_value(const char *text, const char *name, const char *label)
{
    char series[256];
    if (label != NULL)
        snprintf(series, sizeof series, "%s{%s} ", name, label);
    else
        snprintf(series, sizeof series, "%s ", name);
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, series, n) == 0)
            return strtod(p + n, NULL);
    }
    return 0.0 / 0.0;
}

Test(figures, every_row_says_the_same_in_info_and_metrics)
{
    fig_snapshot m;
    fig_snapshot_take(&srv, &m, FIG_NEED_ALL);
    strbuf info = {0}, prom = {0};
    for (int sec = FIG_SEC_SERVER; sec <= FIG_SEC_TABLE; sec++)
        fig_render_info(&srv, &m, (fig_section)sec, &info);
    fig_render_prometheus(&srv, &m, &prom);
    strbuf_add(&info, "", 1);
    strbuf_add(&prom, "", 1);
    cr_assert(!info.oom && !prom.oom);
    size_t both = 0, info_only = 0, prom_only = 0;
    char v[128];
#define X(id, sec, iname, pname, label, type, kind, scale, help, value)                            \
    do {                                                                                           \
        const char *in = iname, *pn = pname;                                                       \
        if (in != NULL)                                                                            \
            cr_assert_not_null(info_value(info.buf, in, v, sizeof v), "INFO lacks %s", in);        \
        if (pn != NULL)                                                                            \
            cr_assert(prom_value(prom.buf, pn, label) == prom_value(prom.buf, pn, label),          \
                      "/metrics lacks %s", pn);                                                    \
        if (in != NULL && pn != NULL && kind != FK_HUMAN && kind != FK_STR) {                      \
            double want = prom_value(prom.buf, pn, label);                                         \
            double got;                                                                            \
            if (kind == FK_YESNO || kind == FK_ONOFF)                                              \
                got = strcmp(v, "yes") == 0 || strcmp(v, "on") == 0;                               \
            else if (kind == FK_NS_US)                                                             \
                got = strtod(v, NULL) * 1e3 * scale; /* INFO rounds down to the µs */             \
            else                                                                                   \
                got = strtod(v, NULL) * scale;                                                     \
            double tol = kind == FK_NS_US ? 1e-6 : kind == FK_US_S ? 1.0 : 1e-9 + 1e-9 * want;     \
            cr_assert(got - want <= tol && want - got <= tol, "%s: INFO %s, /metrics %.17g", in,   \
                      v, want);                                                                    \
            both++;                                                                                \
        } else if (in != NULL) {                                                                   \
            info_only++;                                                                           \
        } else {                                                                                   \
            prom_only++;                                                                           \
        }                                                                                          \
    } while (0);
    FIGURES(X)
#undef X
    cr_log_info("%zu rows in both, %zu INFO only, %zu /metrics only", both, info_only, prom_only);
    cr_assert_gt(both, 30);
    /* Counters the setup moved, read back through both. */
    cr_assert_str_eq(info_value(info.buf, "keyspace_hits", v, sizeof v), "1"); /* GET a:1 */
    cr_assert_eq(prom_value(prom.buf, "ebb_keyspace_misses_total", NULL), 1.0);
    cr_assert_eq(prom_value(prom.buf, "ebb_table_keys", NULL), 2.0);
    free(info.buf);
    free(prom.buf);
}

Test(figures, info_takes_only_what_its_sections_read)
{
    fig_snapshot m;
    srv.peak_used = 0;
    fig_snapshot_take(&srv, &m, 0);
    cr_assert_eq(m.used, 0u, "no memory figures without FIG_NEED_MEMORY");
    cr_assert_eq(m.tot.count, 0u, "no table walk without FIG_NEED_TABLES");
    cr_assert_eq(srv.peak_used, 0u, "the peak moves only with the memory figures");
    fig_snapshot_take(&srv, &m, FIG_NEED_MEMORY | FIG_NEED_TABLES);
    cr_assert_gt(m.used, 0u);
    cr_assert_eq(srv.peak_used, m.used);
    cr_assert_eq(m.tot.count, 2u);
}
