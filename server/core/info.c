/*
 * info.c - INFO's text, in Redis's format: "# Section" headers, one
 * "field:value" per line, CRLF line ends, a blank line between sections.
 * The scalar fields come from the list of figures (figures.h); the lines
 * per namespace, per record class and per command are written here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cmd.h"
#include "cmdtab.h"
#include "figures.h"
#include "persist.h"
#include "quota.h"
#include "strbuf.h"

/* The sections whose fields are all in the list (figures.h). */
#define LISTED(name, sec)                                                                          \
    static void sec_##name(cmd_server *s, const fig_snapshot *m, strbuf *b)                        \
    {                                                                                              \
        fig_render_info(s, m, sec, b);                                                             \
    }
LISTED(server, FIG_SEC_SERVER)
LISTED(clients, FIG_SEC_CLIENTS)
LISTED(memory, FIG_SEC_MEMORY)
LISTED(stats, FIG_SEC_STATS)
LISTED(cpu, FIG_SEC_CPU)
#undef LISTED

/* Keys, keys with a TTL, and the mean time to live left of those (ms). */
static void keyspace_line(cmd_server *s, strbuf *b, const table_stats *st)
{
    long long avg = 0;
    if (st->expires > 0 && st->avg_expire_at > s->now_ms)
        avg = (long long)(st->avg_expire_at - s->now_ms);
    strbuf_printf(b, "keys=%llu,expires=%llu,avg_ttl=%lld", (unsigned long long)st->count,
                  (unsigned long long)st->expires, avg);
}

static void sec_keyspace(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    if (m->tot.count == 0)
        return;
    strbuf_printf(b, "db0:");
    keyspace_line(s, b, &m->tot);
    strbuf_add(b, "\r\n", 2);
}

/* One line per namespace, the default one named as namespace-maxmemory
 * names it: its keys as in # Keyspace, then its memory as its quota sees
 * it (used_memory, table_memory()) and the quota (0: none), its counters
 * since it was created, and the bytes its table maps. */
static void sec_persistence(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    (void)m;
    cmd_persist_info(s, b);
}

static void sec_namespaces(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    strbuf_printf(b, "namespaces:%zu\r\n", db_ns_count(s->db) - 1);
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        table_stats st;
        table_get_stats(n->t, &st);
        strbuf_printf(b, "ns_%s:", cmd_ns_name(n));
        keyspace_line(s, b, &st);
        strbuf_printf(b,
                      ",used_memory=%llu,maxmemory=%llu,hits=%llu,misses=%llu,evicted_keys=%llu,"
                      "expired_keys=%llu,bytes=%llu\r\n",
                      (unsigned long long)table_memory(n->t), (unsigned long long)n->maxmemory,
                      (unsigned long long)n->hits, (unsigned long long)n->misses,
                      (unsigned long long)st.evicted, (unsigned long long)st.expired,
                      (unsigned long long)(st.index_bytes + st.payload_bytes + st.meta_bytes));
    }
}

/* One namespace's table, or the total, as "k=v,..." (the total also sums
 * the per-table counters). */
static void table_fields(strbuf *b, const table_stats *st)
{
    uint64_t bytes = st->index_bytes + st->payload_bytes;
    strbuf_printf(b,
                  "keys=%llu,buckets=%llu,buckets_log2=%u,overflow_buckets=%llu,"
                  "load_factor=%.2f,index_bytes=%llu,payload_bytes=%llu,bytes_per_key=%.1f,"
                  "migrating=%d,migration_done=%llu,migration_total=%llu,grows=%llu,"
                  "shrinks_auto=%llu,shrinks_manual=%llu,last_shrink_us=%llu,"
                  "last_shrink_freed=%llu",
                  (unsigned long long)st->count, (unsigned long long)st->buckets, st->log2_buckets,
                  (unsigned long long)st->overflow_buckets,
                  st->buckets > 0 ? (double)st->count / (double)st->buckets : 0.0,
                  (unsigned long long)st->index_bytes, (unsigned long long)st->payload_bytes,
                  st->count > 0 ? (double)bytes / (double)st->count : 0.0, st->migrating ? 1 : 0,
                  (unsigned long long)st->migrated, (unsigned long long)st->old_buckets,
                  (unsigned long long)st->grows, (unsigned long long)st->shrinks_auto,
                  (unsigned long long)st->shrinks_manual, (unsigned long long)st->last_shrink_us,
                  (unsigned long long)st->last_shrink_freed);
}

static void sec_table(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    fig_render_info(s, m, FIG_SEC_TABLE, b);
    /* Record size classes that hold keys or memory: values of up to
     * `max` bytes in records of record_size bytes. */
    table_class_stats cls[TABLE_CLASSES];
    db_total_class_stats(s->db, cls);
    for (unsigned k = 0; k < TABLE_CLASSES; k++) {
        const table_class_stats *c = &cls[k];
        if (c->keys == 0 && c->resident_bytes == 0 && c->mapped_bytes == 0)
            continue;
        strbuf_printf(b,
                      "table_class_%u:values=%u-%u,record_size=%u,keys=%llu,record_bytes=%llu,"
                      "resident_bytes=%llu,mapped_bytes=%llu,huge_bytes=%llu,meta_bytes=%llu\r\n",
                      TABLE_CLASS_MAX_LEN(k), TABLE_CLASS_MIN_LEN(k), TABLE_CLASS_MAX_LEN(k),
                      c->record_size, (unsigned long long)c->keys,
                      (unsigned long long)c->record_bytes, (unsigned long long)c->resident_bytes,
                      (unsigned long long)c->mapped_bytes, (unsigned long long)c->huge_bytes,
                      (unsigned long long)c->meta_bytes);
    }
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        table_stats st;
        table_get_stats(n->t, &st);
        if (i == 0)
            strbuf_printf(b, "table_default:");
        else
            strbuf_printf(b, "table_ns_%s:", n->name);
        table_fields(b, &st);
        strbuf_add(b, "\r\n", 2);
    }
}

static void sec_latencystats(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    const latency_hist *h = &s->latency;
    strbuf_printf(b,
                  "latency_percentiles_usec_all:p50=%.3f,p99=%.3f,p99.9=%.3f,max=%.3f\r\n"
                  "latency_commands_all:%llu\r\n",
                  (double)latency_percentile(h, 0.50) / 1000.0,
                  (double)latency_percentile(h, 0.99) / 1000.0,
                  (double)latency_percentile(h, 0.999) / 1000.0, (double)h->max_ns / 1000.0,
                  (unsigned long long)h->count);
    cmd_render_latencystats(s, b);
}

static void sec_commandstats(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    cmd_render_commandstats(s, b);
}

static void sec_errorstats(cmd_server *s, const fig_snapshot *m, strbuf *b)
{
    for (size_t i = 0; i < s->nerrorstats; i++)
        strbuf_printf(b, "errorstat_%s:count=%llu\r\n", s->errorstats[i].name,
                      (unsigned long long)s->errorstats[i].count);
}

typedef struct {
    const char *name, *title;
    void (*render)(cmd_server *, const fig_snapshot *, strbuf *);
    bool in_default; /* part of a bare INFO; the others need their name or "all" */
    unsigned need;   /* what of the snapshot it reads (FIG_NEED_*) */
} info_section;

static const info_section sections[] = {
    {"server", "Server", sec_server, true, 0},
    {"clients", "Clients", sec_clients, true, 0},
    {"memory", "Memory", sec_memory, true, FIG_NEED_MEMORY},
    {"persistence", "Persistence", sec_persistence, true, 0},
    {"stats", "Stats", sec_stats, true, 0},
    {"cpu", "CPU", sec_cpu, true, FIG_NEED_CPU},
    {"errorstats", "Errorstats", sec_errorstats, true, 0},
    {"keyspace", "Keyspace", sec_keyspace, true, FIG_NEED_TABLES},
    {"namespaces", "Namespaces", sec_namespaces, true, 0},
    {"table", "Table", sec_table, true, FIG_NEED_TABLES},
    {"commandstats", "Commandstats", sec_commandstats, false, 0},
    {"latencystats", "Latencystats", sec_latencystats, false, 0},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

char *cmd_info_text(cmd_server *s, const resp_view *names, size_t n, size_t *len)
{
    bool want[NSECTIONS];
    bool all = false, dflt = n == 0;
    for (size_t i = 0; i < NSECTIONS; i++)
        want[i] = false;
    for (size_t j = 0; j < n; j++) {
        const resp_view *v = &names[j];
        if ((v->len == 3 && strncasecmp(v->ptr, "all", 3) == 0) ||
            (v->len == 10 && strncasecmp(v->ptr, "everything", 10) == 0))
            all = true;
        if (v->len == 7 && strncasecmp(v->ptr, "default", 7) == 0)
            dflt = true;
        for (size_t i = 0; i < NSECTIONS; i++)
            if (strlen(sections[i].name) == v->len &&
                strncasecmp(sections[i].name, v->ptr, v->len) == 0)
                want[i] = true;
    }
    unsigned need = 0;
    for (size_t i = 0; i < NSECTIONS; i++)
        if (all || want[i] || (dflt && sections[i].in_default))
            need |= sections[i].need;
    fig_snapshot m;
    fig_snapshot_take(s, &m, need);
    strbuf b = {0};
    bool first = true;
    for (size_t i = 0; i < NSECTIONS; i++) {
        if (!all && !want[i] && !(dflt && sections[i].in_default))
            continue;
        if (!first)
            strbuf_add(&b, "\r\n", 2);
        first = false;
        strbuf_printf(&b, "# %s\r\n", sections[i].title);
        sections[i].render(s, &m, &b);
    }
    if (first)
        strbuf_add(&b, "", 0);
    return strbuf_take(&b, len);
}
