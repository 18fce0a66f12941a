/*
 * metrics.c - Prometheus text for /metrics (see metrics.h).
 *
 * Each family is written as
 *   # HELP <name> <text>
 *   # TYPE <name> gauge|counter|histogram
 *   <name>{label="value",...} <number>
 * with the families in a fixed order, so that scrapes diff cleanly.
 */
#include "metrics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd.h"
#include "cmdtab.h"
#include "prefault.h"

/* The HELP and TYPE lines of a family. HELP text escapes backslash and
 * newline, as the format requires (quotes stay as they are). */
static void family(strbuf *b, const char *name, const char *type, const char *help)
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

/* A label value with \, " and newline escaped, as the format requires. */
static void label_value(strbuf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            strbuf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            strbuf_add(b, "\\n", 2);
        else
            strbuf_add(b, v, 1);
    }
}

static void gauge(strbuf *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    strbuf_printf(b, "%s %.17g\n", name, v);
}

static void counter(strbuf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* One sample with a single label. */
static void labeled(strbuf *b, const char *name, const char *label, const char *value,
                    double v)
{
    strbuf_printf(b, "%s{%s=\"", name, label);
    label_value(b, value);
    strbuf_printf(b, "\"} %.17g\n", v);
}

static void process_metrics(cmd_server *s, strbuf *b)
{
    family(b, "ebb_build_info", "gauge", "Always 1; the version is in the label.");
    labeled(b, "ebb_build_info", "version", EBB_VERSION, 1);
    family(b, "ebb_uptime_seconds", "gauge", "Seconds since the server started.");
    strbuf_printf(b, "ebb_uptime_seconds %.3f\n", (double)(cmd_now_us() - s->start_us) / 1e6);
    size_t blocked = 0;
    for (const cmd_client *c = s->clients; c != NULL; c = c->next)
        blocked += c->blocked;
    gauge(b, "ebb_connected_clients", "Clients connected now.", (double)s->connected);
    gauge(b, "ebb_blocked_clients", "Clients waiting for a SHRINK to finish.",
          (double)blocked);
    gauge(b, "ebb_max_clients", "The maxclients setting.", (double)s->cfg.maxclients.num);
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    getrusage(RUSAGE_SELF, &ru);
    family(b, "ebb_cpu_seconds_total", "counter",
           "CPU time of the process, by mode (INFO used_cpu_user, used_cpu_sys).");
    labeled(b, "ebb_cpu_seconds_total", "mode", "user",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);
    labeled(b, "ebb_cpu_seconds_total", "mode", "system",
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    gauge(b, "ebb_busy_poll", "1 while the event loop polls for requests before sleeping.",
          s->poll.on ? 1 : 0);
    family(b, "ebb_busy_poll_seconds_total", "counter",
           "Time the event loop spent polling for requests that had not come yet (wall "
           "clock; CPU time unless the machine preempted the server).");
    strbuf_printf(b, "ebb_busy_poll_seconds_total %.9f\n", (double)s->poll.empty_ns / 1e9);
}

static void memory_metrics(cmd_server *s, strbuf *b)
{
    uint64_t used = cmd_used_memory(s);
    if (used > s->peak_used)
        s->peak_used = used;
    gauge(b, "ebb_memory_used_bytes",
          "Memory the server holds: table mappings plus allocator bytes in use (INFO "
          "used_memory).",
          (double)used);
    gauge(b, "ebb_memory_rss_bytes", "Resident set size of the process, from /proc.",
          (double)cmd_rss_bytes());
    gauge(b, "ebb_memory_peak_used_bytes", "Highest ebb_memory_used_bytes seen.",
          (double)s->peak_used);
    gauge(b, "ebb_memory_max_bytes", "The maxmemory setting (0: no limit).",
          (double)s->cfg.maxmemory.num);
}

static void table_metrics(cmd_server *s, strbuf *b)
{
    table_stats tot;
    db_total_stats(s->db, &tot);
    uint64_t migrating = 0;
    size_t n = db_ns_count(s->db);
    for (size_t i = 0; i < n; i++) {
        table_stats st;
        table_get_stats(db_ns_at(s->db, i)->t, &st);
        migrating += st.migrating;
    }
    gauge(b, "ebb_table_keys", "Keys in every namespace.", (double)tot.count);
    gauge(b, "ebb_table_buckets", "Buckets of the tables' current arrays.",
          (double)tot.buckets);
    gauge(b, "ebb_table_overflow_buckets", "Overflow buckets in use.",
          (double)tot.overflow_buckets);
    gauge(b, "ebb_table_index_bytes", "Bytes mapped for bucket arrays and overflow pools.",
          (double)tot.index_bytes);
    gauge(b, "ebb_table_payload_bytes",
          "Record chunk pages that may be resident (keys and values), and staged huge pages.",
          (double)tot.payload_bytes);
    gauge(b, "ebb_table_record_bytes", "Bytes of the records themselves: keys x record size.",
          (double)tot.record_bytes);
    gauge(b, "ebb_table_meta_bytes", "Bytes mapped for expire-time and LRU arrays.",
          (double)tot.meta_bytes);
    gauge(b, "ebb_table_migrating", "Tables with a grow or shrink migration in progress.",
          (double)migrating);
    counter(b, "ebb_table_grows_total", "Migrations to a bigger bucket array started.",
            tot.grows);
    counter(b, "ebb_table_prefault_waits_total",
            "Writes that left a migration step for a huge page still being faulted in.",
            tot.prefault_waits);
    gauge(b, "ebb_table_huge_record_bytes",
          "Record chunk bytes moved into 2 MiB pages (huge-pages yes).",
          (double)tot.huge_record_bytes);
    gauge(b, "ebb_table_huge_index_bytes",
          "Bucket array bytes moved into 2 MiB pages (huge-pages yes).",
          (double)tot.huge_index_bytes);
    counter(b, "ebb_table_promotions_total",
            "2 MiB ranges of records or bucket arrays moved into huge pages.", tot.promotions);
    prefault_stats pf;
    prefault_get_stats(s->prefault, &pf);
    counter(b, "ebb_prefault_requests_total", "Ranges asked of the prefault thread.",
            pf.requests);
    counter(b, "ebb_prefault_bytes_total", "Bytes the prefault thread faulted in ahead of writes.",
            pf.bytes);
    family(b, "ebb_prefault_busy_seconds_total", "counter",
           "Time the prefault thread spent faulting pages in.");
    strbuf_printf(b, "ebb_prefault_busy_seconds_total %.9f\n", (double)pf.busy_ns / 1e9);
    family(b, "ebb_table_shrinks_total", "counter",
           "Shrink migrations started, by trigger (auto-shrink or SHRINK).");
    labeled(b, "ebb_table_shrinks_total", "trigger", "auto", (double)tot.shrinks_auto);
    labeled(b, "ebb_table_shrinks_total", "trigger", "manual", (double)tot.shrinks_manual);
    counter(b, "ebb_shrink_commands_total", "SHRINK commands completed.", s->shrink_commands);

    /* Per record size class, labelled by the largest value length it holds
     * (records of 9 + that many bytes); every class, so series never vanish. */
    static const struct {
        const char *name, *help;
    } per_class[] = {
        {"ebb_table_class_keys", "Keys, by record size class (values of up to `class` bytes)."},
        {"ebb_table_class_record_bytes", "Bytes of the records of the class: keys x record size."},
        {"ebb_table_class_resident_bytes",
         "Record chunk pages of the class that may be resident."},
        {"ebb_table_class_mapped_bytes", "Record chunks of the class mapped (address space)."},
    };
    table_class_stats cls[TABLE_CLASSES];
    db_total_class_stats(s->db, cls);
    for (size_t f = 0; f < sizeof per_class / sizeof per_class[0]; f++) {
        family(b, per_class[f].name, "gauge", per_class[f].help);
        for (unsigned k = 0; k < TABLE_CLASSES; k++) {
            const table_class_stats *c = &cls[k];
            double v = f == 0   ? (double)c->keys
                       : f == 1 ? (double)c->record_bytes
                       : f == 2 ? (double)c->resident_bytes
                                : (double)c->mapped_bytes;
            char label[8];
            snprintf(label, sizeof label, "%u", TABLE_CLASS_MAX_LEN(k));
            labeled(b, per_class[f].name, "class", label, v);
        }
    }
    gauge(b, "ebb_namespaces", "Named namespaces (the default one not counted).",
          (double)(n - 1));

    /* Per namespace; the default namespace has the empty label value. */
    static const struct {
        const char *name, *help;
    } per_ns[] = {
        {"ebb_keys", "Keys, by namespace (\"\" is the default namespace)."},
        {"ebb_keys_with_expiry", "Keys with a TTL, by namespace."},
        {"ebb_namespace_bytes", "Bytes mapped for the namespace's table, by namespace."},
    };
    /* Each table's figures once: there may be tens of thousands. */
    table_stats *all = malloc(n * sizeof *all);
    if (all == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        table_get_stats(db_ns_at(s->db, i)->t, &all[i]);
    for (size_t f = 0; f < sizeof per_ns / sizeof per_ns[0]; f++) {
        family(b, per_ns[f].name, "gauge", per_ns[f].help);
        for (size_t i = 0; i < n; i++) {
            const table_stats *st = &all[i];
            double v = f == 0   ? (double)st->count
                       : f == 1 ? (double)st->expires
                                : (double)(st->index_bytes + st->payload_bytes + st->meta_bytes);
            labeled(b, per_ns[f].name, "namespace", db_ns_at(s->db, i)->name, v);
        }
    }
    free(all);
}

/* One of INFO's counters under its Prometheus name: "total_commands_processed"
 * becomes ebb_commands_processed_total, "keyspace_hits"
 * ebb_keyspace_hits_total; the description, capitalised, is the HELP. */
static void stat_counter(strbuf *b, const char *info, const char *desc, uint64_t v)
{
    if (strncmp(info, "total_", 6) == 0)
        info += 6;
    char name[96], help[160];
    snprintf(name, sizeof name, "ebb_%s_total", info);
    snprintf(help, sizeof help, "%c%s.", (char)toupper((unsigned char)desc[0]), &desc[1]);
    counter(b, name, help, v);
}

static void stats_metrics(cmd_server *s, strbuf *b)
{
#define STAT_METRIC(field, info, desc) stat_counter(b, info, desc, s->st.field);
    STATS_COUNTERS(STAT_METRIC)
#undef STAT_METRIC
    counter(b, "ebb_evicted_keys_total", "Keys evicted to stay under maxmemory.",
            s->evicted_keys);
    counter(b, "ebb_expire_time_cap_reached_total",
            "Active expiry slices cut short by their time budget.", s->expire_cycles_cut);
    gauge(b, "ebb_expired_stale_ratio",
          "Share of the keys the last active expiry slice looked at that had expired.",
          s->expire_stale_perc / 100.0);
    gauge(b, "ebb_longest_stall_seconds",
          "Longest single command or background slice since start or CONFIG RESETSTAT "
          "(INFO longest_stall_cause says what it was).",
          (double)s->stall_max_us / 1e6);
}

typedef struct {
    strbuf *b;
    int pass; /* which per-command family is being written */
} cmd_visit;

static void per_command(const char *name, const cmd_stat *st, void *arg)
{
    cmd_visit *v = arg;
    static const char *const names[] = {"ebb_commands_total", "ebb_commands_rejected_total",
                                        "ebb_commands_failed_total",
                                        "ebb_command_service_seconds_total"};
    double value = v->pass == 0   ? (double)st->calls
                   : v->pass == 1 ? (double)st->rejected
                   : v->pass == 2 ? (double)st->failed
                                  : (double)st->hist.sum_ns / 1e9;
    labeled(v->b, names[v->pass], "cmd", name, value);
}

/* Histogram buckets at powers of two nanoseconds, 2^10 (~1 µs) to 2^30
 * (~1.07 s). latency.c keeps four buckets per power of two, so the count
 * under 2^k ns is exactly the sum of its first 4k buckets: a duration of
 * exactly 2^k ns counts in the next `le` up, 1 ns off the text format's
 * "less or equal", which no scrape can notice. */
#define METRICS_HIST_FIRST_LOG2 10u
#define METRICS_HIST_LAST_LOG2 30u

static void command_metrics(cmd_server *s, strbuf *b)
{
    static const char *const helps[] = {
        "Commands run, by command.",
        "Commands refused before running (arity, NOAUTH, OOM), by command.",
        "Commands that ran and replied an error, by command.",
        "Seconds spent serving each command, by command.",
    };
    static const char *const names[] = {"ebb_commands_total", "ebb_commands_rejected_total",
                                        "ebb_commands_failed_total",
                                        "ebb_command_service_seconds_total"};
    for (int pass = 0; pass < 4; pass++) {
        family(b, names[pass], "counter", helps[pass]);
        cmd_visit v = {b, pass};
        cmd_each_used_stat(s, per_command, &v);
    }

    family(b, "ebb_errors_total", "counter",
           "Error replies, by their first word (ERR, WRONGTYPE, OOM, ...).");
    for (size_t i = 0; i < s->nerrorstats; i++)
        labeled(b, "ebb_errors_total", "kind", s->errorstats[i].name,
                (double)s->errorstats[i].count);

    const latency_hist *h = &s->latency;
    family(b, "ebb_command_duration_seconds", "histogram",
           "Service time of every command run (refused ones not included).");
    uint64_t cum = 0;
    unsigned next = 0;
    for (unsigned k = METRICS_HIST_FIRST_LOG2; k <= METRICS_HIST_LAST_LOG2; k++) {
        for (; next < k * LATENCY_SUB && next < LATENCY_BUCKETS; next++)
            cum += h->bucket[next];
        strbuf_printf(b, "ebb_command_duration_seconds_bucket{le=\"%.10g\"} %llu\n",
                      (double)(1ull << k) / 1e9, (unsigned long long)cum);
    }
    strbuf_printf(b, "ebb_command_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)h->count);
    strbuf_printf(b, "ebb_command_duration_seconds_sum %.9f\n", (double)h->sum_ns / 1e9);
    strbuf_printf(b, "ebb_command_duration_seconds_count %llu\n", (unsigned long long)h->count);
}

char *metrics_render(cmd_server *s, size_t *len)
{
    strbuf b = {0};
    process_metrics(s, &b);
    memory_metrics(s, &b);
    table_metrics(s, &b);
    stats_metrics(s, &b);
    command_metrics(s, &b);
    return strbuf_take(&b, len);
}
