/*
 * info.c - INFO's text, in Redis's format: "# Section" headers, one
 * "field:value" per line, CRLF line ends, a blank line between sections.
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
#include "prefault.h"
#include "strbuf.h"

/* Human-readable bytes as Redis prints them (1.23M, 512B). */
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

static void sec_server(cmd_server *s, strbuf *b)
{
    struct utsname u;
    uname(&u);
    int64_t up = (cmd_now_us() - s->start_us) / 1000000;
    strbuf_printf(b,
                  "# Server\r\n"
                  "redis_version:7.0.0\r\n"
                  "ebb_version:%s\r\n"
                  "redis_mode:standalone\r\n"
                  "os:%s %s %s\r\n"
                  "arch_bits:%d\r\n"
                  "multiplexing_api:%s\r\n"
                  "process_id:%ld\r\n"
                  "tcp_port:%d\r\n"
                  "uptime_in_seconds:%lld\r\n"
                  "uptime_in_days:%lld\r\n"
                  "executable:%s\r\n"
                  "config_file:%s\r\n",
                  EBB_VERSION, u.sysname, u.release, u.machine, (int)(sizeof(void *) * 8),
                  s->event_api, (long)getpid(), s->tcp_port, (long long)up,
                  (long long)(up / 86400), s->executable, s->config_file);
}

static void sec_clients(cmd_server *s, strbuf *b)
{
    size_t blocked = 0; /* waiting for a SHRINK */
    for (const cmd_client *c = s->clients; c != NULL; c = c->next)
        blocked += c->blocked;
    strbuf_printf(b,
                  "# Clients\r\n"
                  "connected_clients:%llu\r\n"
                  "maxclients:%lld\r\n"
                  "blocked_clients:%zu\r\n",
                  (unsigned long long)s->connected, s->cfg.maxclients.num, blocked);
}

static void sec_memory(cmd_server *s, strbuf *b)
{
    uint64_t used = cmd_used_memory(s);
    if (used > s->peak_used)
        s->peak_used = used;
    uint64_t rss = cmd_rss_bytes();
    char h_used[32], h_rss[32], h_peak[32], h_max[32], policy[32];
    human((uint64_t)s->cfg.maxmemory.num, h_max, sizeof h_max);
    human(used, h_used, sizeof h_used);
    human(rss, h_rss, sizeof h_rss);
    human(s->peak_used, h_peak, sizeof h_peak);
    strbuf_printf(b,
                  "# Memory\r\n"
                  "used_memory:%llu\r\n"
                  "used_memory_human:%s\r\n"
                  "used_memory_rss:%llu\r\n"
                  "used_memory_rss_human:%s\r\n"
                  "used_memory_peak:%llu\r\n"
                  "used_memory_peak_human:%s\r\n"
                  "mem_fragmentation_ratio:%.2f\r\n"
                  "maxmemory:%lld\r\n"
                  "maxmemory_human:%s\r\n"
                  "maxmemory_policy:%s\r\n",
                  (unsigned long long)used, h_used, (unsigned long long)rss, h_rss,
                  (unsigned long long)s->peak_used, h_peak,
                  used > 0 ? (double)rss / (double)used : 0.0, s->cfg.maxmemory.num, h_max,
                  config_format(&s->cfg, config_find("maxmemory-policy", 16), policy,
                                sizeof policy));
    /* Huge pages and the thread that faults them in ahead of the writes. */
    prefault_stats pf;
    prefault_get_stats(s->prefault, &pf);
    strbuf_printf(b,
                  "huge_pages:%s\r\n"
                  "prefault:%s\r\n"
                  "prefault_requests:%llu\r\n"
                  "prefault_dropped:%llu\r\n"
                  "prefault_bytes:%llu\r\n"
                  "prefault_busy_us:%llu\r\n",
                  s->cfg.huge_pages.num ? "yes" : "no",
                  s->prefault != NULL ? "on" : s->prefault_tried ? "unavailable" : "off",
                  (unsigned long long)pf.requests, (unsigned long long)pf.dropped,
                  (unsigned long long)pf.bytes, (unsigned long long)(pf.busy_ns / 1000u));
}

static void sec_stats(cmd_server *s, strbuf *b)
{
    strbuf_printf(b, "# Stats\r\n");
#define STAT_LINE(field, name, desc)                                              \
    strbuf_printf(b, "%s:%llu\r\n", name, (unsigned long long)s->st.field);
    STATS_COUNTERS(STAT_LINE)
#undef STAT_LINE
    strbuf_printf(b,
                  "longest_stall_us:%lld\r\n"
                  "longest_stall_cause:%s\r\n",
                  (long long)s->stall_max_us, s->stall_cause[0] != '\0' ? s->stall_cause : "none");
    strbuf_printf(b,
                  "expired_stale_perc:%.2f\r\n"
                  "expired_time_cap_reached_count:%llu\r\n"
                  "evicted_keys:%llu\r\n",
                  s->expire_stale_perc, (unsigned long long)s->expire_cycles_cut,
                  (unsigned long long)s->evicted_keys);
}

static void cpu_line(strbuf *b, const char *name, struct timeval tv)
{
    strbuf_printf(b, "%s:%ld.%06ld\r\n", name, (long)tv.tv_sec, (long)tv.tv_usec);
}

/* Redis's CPU section (seconds), and the time the loop spent polling for
 * requests that had not come yet (busypoll.h; wall clock, which is CPU time
 * counted in used_cpu_* unless the server was preempted). INFO runs on the
 * loop's thread, so RUSAGE_THREAD is the main thread's share. */
static void sec_cpu(cmd_server *s, strbuf *b)
{
    struct rusage self, children, main_thread;
    memset(&self, 0, sizeof self);
    memset(&children, 0, sizeof children);
    memset(&main_thread, 0, sizeof main_thread);
    /* The thread first: read after it, the process's total cannot be the
     * smaller one. */
    getrusage(RUSAGE_THREAD, &main_thread);
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    strbuf_printf(b, "# CPU\r\n");
    cpu_line(b, "used_cpu_sys", self.ru_stime);
    cpu_line(b, "used_cpu_user", self.ru_utime);
    cpu_line(b, "used_cpu_sys_children", children.ru_stime);
    cpu_line(b, "used_cpu_user_children", children.ru_utime);
    cpu_line(b, "used_cpu_sys_main_thread", main_thread.ru_stime);
    cpu_line(b, "used_cpu_user_main_thread", main_thread.ru_utime);
    strbuf_printf(b,
                  "busy_poll:%s\r\n"
                  "busy_poll_usec:%llu\r\n",
                  s->poll.on ? "on" : "off", (unsigned long long)(s->poll.empty_ns / 1000u));
}

/* Keys, keys with a TTL, and the mean time to live left of those (ms). */
static void keyspace_line(cmd_server *s, strbuf *b, const table_stats *st)
{
    long long avg = 0;
    if (st->expires > 0 && st->avg_expire_at > s->now_ms)
        avg = (long long)(st->avg_expire_at - s->now_ms);
    strbuf_printf(b, "keys=%llu,expires=%llu,avg_ttl=%lld", (unsigned long long)st->count,
                  (unsigned long long)st->expires, avg);
}

static void sec_keyspace(cmd_server *s, strbuf *b)
{
    strbuf_printf(b, "# Keyspace\r\n");
    table_stats tot;
    db_total_stats(s->db, &tot);
    if (tot.count == 0)
        return;
    strbuf_printf(b, "db0:");
    keyspace_line(s, b, &tot);
    strbuf_add(b, "\r\n", 2);
}

static void sec_namespaces(cmd_server *s, strbuf *b)
{
    strbuf_printf(b, "# Namespaces\r\nnamespaces:%zu\r\n", db_ns_count(s->db) - 1);
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        table_stats st;
        table_get_stats(n->t, &st);
        if (i == 0)
            strbuf_printf(b, "default_namespace:");
        else
            strbuf_printf(b, "ns_%s:", n->name);
        keyspace_line(s, b, &st);
        strbuf_printf(b, ",bytes=%llu\r\n",
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
                  (unsigned long long)st->count, (unsigned long long)st->buckets,
                  st->log2_buckets, (unsigned long long)st->overflow_buckets,
                  st->buckets > 0 ? (double)st->count / (double)st->buckets : 0.0,
                  (unsigned long long)st->index_bytes, (unsigned long long)st->payload_bytes,
                  st->count > 0 ? (double)bytes / (double)st->count : 0.0, st->migrating ? 1 : 0,
                  (unsigned long long)st->migrated, (unsigned long long)st->old_buckets,
                  (unsigned long long)st->grows, (unsigned long long)st->shrinks_auto,
                  (unsigned long long)st->shrinks_manual, (unsigned long long)st->last_shrink_us,
                  (unsigned long long)st->last_shrink_freed);
}

static void sec_table(cmd_server *s, strbuf *b)
{
    table_stats tot;
    db_total_stats(s->db, &tot);
    uint64_t migrating = 0;
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        table_stats st;
        table_get_stats(db_ns_at(s->db, i)->t, &st);
        migrating += st.migrating;
    }
    uint64_t bytes = tot.index_bytes + tot.payload_bytes;
    strbuf_printf(b,
                  "# Table\r\n"
                  "table_keys:%llu\r\n"
                  "table_buckets:%llu\r\n"
                  "table_overflow_buckets:%llu\r\n"
                  "table_load_factor:%.2f\r\n"
                  "table_index_bytes:%llu\r\n"
                  "table_payload_bytes:%llu\r\n"
                  "table_record_bytes:%llu\r\n"
                  "table_bytes:%llu\r\n"
                  "table_bytes_per_key:%.1f\r\n"
                  "table_migrating:%llu\r\n"
                  "table_grows:%llu\r\n"
                  "table_shrinks_auto:%llu\r\n"
                  "table_shrinks_manual:%llu\r\n"
                  "table_prefault_waits:%llu\r\n"
                  "table_huge_record_bytes:%llu\r\n"
                  "table_huge_index_bytes:%llu\r\n"
                  "table_promotions:%llu\r\n"
                  "shrink_commands:%llu\r\n"
                  "shrink_jobs_pending:%d\r\n"
                  "last_shrink_command_us:%llu\r\n"
                  "last_shrink_command_freed:%lld\r\n"
                  "auto_shrink:%s\r\n",
                  (unsigned long long)tot.count, (unsigned long long)tot.buckets,
                  (unsigned long long)tot.overflow_buckets,
                  tot.buckets > 0 ? (double)tot.count / (double)tot.buckets : 0.0,
                  (unsigned long long)tot.index_bytes, (unsigned long long)tot.payload_bytes,
                  (unsigned long long)tot.record_bytes, (unsigned long long)bytes,
                  tot.count > 0 ? (double)bytes / (double)tot.count : 0.0,
                  (unsigned long long)migrating, (unsigned long long)tot.grows,
                  (unsigned long long)tot.shrinks_auto, (unsigned long long)tot.shrinks_manual,
                  (unsigned long long)tot.prefault_waits,
                  (unsigned long long)tot.huge_record_bytes,
                  (unsigned long long)tot.huge_index_bytes, (unsigned long long)tot.promotions,
                  (unsigned long long)s->shrink_commands, s->shrink_jobs != NULL ? 1 : 0,
                  (unsigned long long)s->last_shrink_us, (long long)s->last_shrink_freed,
                  s->cfg.auto_shrink.num ? "yes" : "no");
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
                      TABLE_CLASS_MAX_LEN(k), TABLE_CLASS_MIN_LEN(k),
                      TABLE_CLASS_MAX_LEN(k), c->record_size, (unsigned long long)c->keys,
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

static void sec_latencystats(cmd_server *s, strbuf *b)
{
    const latency_hist *h = &s->latency;
    strbuf_printf(b,
                  "# Latencystats\r\n"
                  "latency_percentiles_usec_all:p50=%.3f,p99=%.3f,p99.9=%.3f,max=%.3f\r\n"
                  "latency_commands_all:%llu\r\n",
                  (double)latency_percentile(h, 0.50) / 1000.0,
                  (double)latency_percentile(h, 0.99) / 1000.0,
                  (double)latency_percentile(h, 0.999) / 1000.0, (double)h->max_ns / 1000.0,
                  (unsigned long long)h->count);
    cmd_render_latencystats(s, b);
}

static void sec_commandstats(cmd_server *s, strbuf *b)
{
    strbuf_printf(b, "# Commandstats\r\n");
    cmd_render_commandstats(s, b);
}

static void sec_errorstats(cmd_server *s, strbuf *b)
{
    strbuf_printf(b, "# Errorstats\r\n");
    for (size_t i = 0; i < s->nerrorstats; i++)
        strbuf_printf(b, "errorstat_%s:count=%llu\r\n", s->errorstats[i].name,
                      (unsigned long long)s->errorstats[i].count);
}

typedef struct {
    const char *name;
    void (*render)(cmd_server *, strbuf *);
    bool in_default; /* part of a bare INFO; the others need their name or "all" */
} info_section;

static const info_section sections[] = {
    {"server", sec_server, true},
    {"clients", sec_clients, true},
    {"memory", sec_memory, true},
    {"stats", sec_stats, true},
    {"cpu", sec_cpu, true},
    {"errorstats", sec_errorstats, true},
    {"keyspace", sec_keyspace, true},
    {"namespaces", sec_namespaces, true},
    {"table", sec_table, true},
    {"commandstats", sec_commandstats, false},
    {"latencystats", sec_latencystats, false},
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
    strbuf b = {0};
    bool first = true;
    for (size_t i = 0; i < NSECTIONS; i++) {
        if (!all && !want[i] && !(dflt && sections[i].in_default))
            continue;
        if (!first)
            strbuf_add(&b, "\r\n", 2);
        first = false;
        sections[i].render(s, &b);
    }
    if (first)
        strbuf_add(&b, "", 0);
    return strbuf_take(&b, len);
}
