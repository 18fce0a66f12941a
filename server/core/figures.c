/*
 * figures.c - the list of figures (figures.h) rendered as INFO fields and as
 * Prometheus samples.
 */
#include "figures.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "strbuf.h"

/* What each row says about itself; its value comes from fig_get. */
typedef struct {
    fig_section section;
    const char *info, *prom, *label;
    fig_type type;
    fig_kind kind;
    double scale;
    const char *help;
} fig_row;

#define X(id, sec, info, prom, label, type, kind, scale, help, value)                              \
    {sec, info, prom, label, type, kind, scale, help},
static const fig_row rows[] = {FIGURES(X)};
#undef X

enum {
#define X(id, sec, info, prom, label, type, kind, scale, help, value) FIG_ID_##id,
    FIGURES(X)
#undef X
        FIG_COUNT
};

static_assert(sizeof rows / sizeof rows[0] == FIG_COUNT, "one descriptor per row");

/* Row i's value now. */
static fig_value fig_get(size_t i, cmd_server *s, const fig_snapshot *m)
{
    fig_value v;
    memset(&v, 0, sizeof v);
    switch (i) {
#define X(id, sec, info, prom, label, type, kind, scale, help, value)                              \
    case FIG_ID_##id:                                                                              \
        v.FIG_FIELD(kind) = (value);                                                               \
        break;
        FIGURES(X)
#undef X
    }
    return v;
}

const char *fig_os(void)
{
    static char os[256];
    if (os[0] == '\0') {
        struct utsname u;
        if (uname(&u) == 0)
            snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        else
            snprintf(os, sizeof os, "unknown");
    }
    return os;
}

void fig_snapshot_take(cmd_server *s, fig_snapshot *m, unsigned need)
{
    memset(m, 0, sizeof *m);
    m->now_us = cmd_now_us();
    for (const cmd_client *c = s->clients.head; c != NULL; c = c->next)
        m->blocked += c->blocked || c->held;
    cmd_scripting_figures(s, &m->lua);
    cmd_memlimit_figures(s, &m->limit);
    if (need & FIG_NEED_MEMORY) {
        m->used = cmd_used_memory(s);
        if (m->used > s->peak_used)
            s->peak_used = m->used;
        m->rss = cmd_rss_bytes();
        prefault_get_stats(s->prefault, &m->pf);
    }
    if (need & FIG_NEED_TABLES) {
        db_total_stats(s->db, &m->tot);
        for (size_t i = 0; i < db_ns_count(s->db); i++) {
            table_stats st;
            table_get_stats(db_ns_at(s->db, i)->t, &st);
            m->migrating += st.migrating;
        }
    }
    if (need & FIG_NEED_CPU) {
        /* The loop's thread first: read after it, the process's total
         * cannot be the smaller one. (Renders run on the loop's thread.) */
        getrusage(RUSAGE_THREAD, &m->main_thread);
        getrusage(RUSAGE_SELF, &m->self);
        getrusage(RUSAGE_CHILDREN, &m->children);
    }
}

/* Bytes as Redis prints them for humans (1.23M, 512B). */
static void human(uint64_t n, char *dst, size_t cap)
{
    double d = (double)n;
    if (n < 1024)
        snprintf(dst, cap, "%lluB", (unsigned long long)n);
    else if (n < 1024ULL * 1024)
        snprintf(dst, cap, "%.2fK", d / 1024);
    else if (n < 1024ULL * 1024 * 1024)
        snprintf(dst, cap, "%.2fM", d / (1024 * 1024));
    else if (n < 1024ULL * 1024 * 1024 * 1024)
        snprintf(dst, cap, "%.2fG", d / (1024.0 * 1024 * 1024));
    else
        snprintf(dst, cap, "%.2fT", d / (1024.0 * 1024 * 1024 * 1024));
}

void fig_render_info(cmd_server *s, const fig_snapshot *m, fig_section sec, strbuf *b)
{
    for (size_t i = 0; i < FIG_COUNT; i++) {
        const fig_row *r = &rows[i];
        if (r->section != sec || r->info == NULL)
            continue;
        fig_value v = fig_get(i, s, m);
        char h[32];
        strbuf_printf(b, "%s:", r->info);
        switch (r->kind) {
        case FK_U64:
            strbuf_printf(b, "%llu", (unsigned long long)v.u);
            break;
        case FK_I64:
            strbuf_printf(b, "%lld", (long long)v.i);
            break;
        case FK_INT:
            strbuf_printf(b, "%d", v.n);
            break;
        case FK_F1:
            strbuf_printf(b, "%.1f", v.d);
            break;
        case FK_F2:
            strbuf_printf(b, "%.2f", v.d);
            break;
        case FK_SEC:
            strbuf_printf(b, "%.6f", v.d);
            break;
        case FK_STR:
            strbuf_printf(b, "%s", v.str);
            break;
        case FK_HUMAN:
            human(v.u, h, sizeof h);
            strbuf_printf(b, "%s", h);
            break;
        case FK_YESNO:
            strbuf_printf(b, "%s", v.b ? "yes" : "no");
            break;
        case FK_ONOFF:
            strbuf_printf(b, "%s", v.b ? "on" : "off");
            break;
        case FK_US_S:
            strbuf_printf(b, "%lld", (long long)(v.i / 1000000));
            break;
        case FK_US_D:
            strbuf_printf(b, "%lld", (long long)(v.i / 1000000 / 86400));
            break;
        case FK_NS_US:
            strbuf_printf(b, "%llu", (unsigned long long)(v.u / 1000u));
            break;
        }
        strbuf_add(b, "\r\n", 2);
    }
}

/* The HELP and TYPE lines of a family. HELP text escapes backslash and
 * newline, as the format requires (quotes stay as they are). */
void fig_prom_family(strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s ", name);
    for (const char *h = help; *h != '\0'; h++) {
        if (*h == '\\')
            strbuf_add(b, "\\\\", 2);
        else if (*h == '\n')
            strbuf_add(b, "\\n", 2);
        else
            strbuf_add(b, h, 1);
    }
    strbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* A row's value as a number, in the family's unit. */
static double prom_number(const fig_row *r, fig_value v)
{
    double x = 0;
    switch (r->kind) {
    case FK_U64:
    case FK_HUMAN:
    case FK_NS_US:
        x = (double)v.u;
        break;
    case FK_I64:
    case FK_US_S:
    case FK_US_D:
        x = (double)v.i;
        break;
    case FK_INT:
        x = v.n;
        break;
    case FK_F1:
    case FK_F2:
    case FK_SEC:
        x = v.d;
        break;
    case FK_YESNO:
    case FK_ONOFF:
        x = v.b ? 1 : 0;
        break;
    case FK_STR:
        break;
    }
    return x * r->scale;
}

void fig_render_prometheus(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    const char *family = NULL;
    for (size_t i = 0; i < FIG_COUNT; i++) {
        const fig_row *r = &rows[i];
        if (r->prom == NULL)
            continue;
        if (family == NULL || strcmp(family, r->prom) != 0) {
            fig_prom_family(b, r->prom, r->type == FIG_COUNTER ? "counter" : "gauge", r->help);
            family = r->prom;
        }
        fig_value v = fig_get(i, s, m);
        strbuf_printf(b, "%s", r->prom);
        if (r->label != NULL)
            strbuf_printf(b, "{%s}", r->label);
        /* Whole counts print exactly; anything scaled or fractional with
         * 15 significant digits, which doubles hold exactly (no
         * 0.16459799999999999). */
        if (r->scale == 1 && r->kind == FK_U64)
            strbuf_printf(b, " %llu\n", (unsigned long long)v.u);
        else
            strbuf_printf(b, " %.15g\n", prom_number(r, v));
    }
}
