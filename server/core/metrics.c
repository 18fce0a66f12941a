/*
 * metrics.c - Prometheus text for /metrics (see metrics.h).
 *
 * Each family is written as
 *   # HELP <name> <text>
 *   # TYPE <name> gauge|counter|histogram
 *   <name>{label="value",...} <number>
 * with the families in a fixed order, so that scrapes diff cleanly. The
 * unlabelled ones come from the list of figures (figures.h), which INFO
 * renders too; the labelled families are written here.
 */
#include "metrics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd.h"
#include "cmdtab.h"
#include "figures.h"

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

/* One sample with a single label. */
static void labeled(strbuf *b, const char *name, const char *label, const char *value, double v)
{
    strbuf_printf(b, "%s{%s=\"", name, label);
    label_value(b, value);
    strbuf_printf(b, "\"} %.17g\n", v);
}

/* The labelled families of the tables: per record size class and per
 * namespace. */
static void table_metrics(cmd_server *s, strbuf *b)
{
    size_t n = db_ns_count(s->db);
    /* Per record size class, labelled by the largest value length it holds
     * (records of 9 + that many bytes); every class, so series never vanish. */
    static const struct {
        const char *name, *help;
    } per_class[] = {
        {"ebb_table_class_keys", "Keys, by record size class (values of up to `class` bytes)."},
        {"ebb_table_class_record_bytes", "Bytes of the records of the class: keys x record size."},
        {"ebb_table_class_resident_bytes", "Record chunk pages of the class that may be resident."},
        {"ebb_table_class_mapped_bytes", "Record chunks of the class mapped (address space)."},
    };
    table_class_stats cls[TABLE_CLASSES];
    db_total_class_stats(s->db, cls);
    for (size_t f = 0; f < sizeof per_class / sizeof per_class[0]; f++) {
        fig_prom_family(b, per_class[f].name, "gauge", per_class[f].help);
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
    /* Per namespace; the default namespace has the empty label value. */
    static const struct {
        const char *name, *help;
    } per_ns[] = {
        {"ebb_keys", "Keys, by namespace (\"\" is the default namespace)."},
        {"ebb_keys_with_expiry", "Keys with a TTL, by namespace."},
        {"ebb_namespace_bytes", "Bytes mapped for the namespace's table, by namespace."},
        {"ebb_namespace_used_bytes",
         "Bytes of the namespace's records and index, the figure its quota is compared with."},
        {"ebb_namespace_max_bytes", "The namespace's quota (namespace-maxmemory), 0 for none."},
    };
    /* Its counters, since the namespace was created. */
    static const struct {
        const char *name, *help;
    } per_ns_counters[] = {
        {"ebb_namespace_hits_total", "Key lookups that found the key, by namespace."},
        {"ebb_namespace_misses_total", "Key lookups that found nothing, by namespace."},
        {"ebb_namespace_evicted_keys_total",
         "Keys evicted for maxmemory or the namespace's quota, by namespace."},
        {"ebb_namespace_expired_keys_total",
         "Keys reclaimed because their TTL ran out, by namespace."},
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
        fig_prom_family(b, per_ns[f].name, "gauge", per_ns[f].help);
        for (size_t i = 0; i < n; i++) {
            const table_stats *st = &all[i];
            const db_ns *ns = db_ns_at(s->db, i);
            double v = f == 0   ? (double)st->count
                       : f == 1 ? (double)st->expires
                       : f == 2 ? (double)(st->index_bytes + st->payload_bytes + st->meta_bytes)
                       : f == 3 ? (double)table_memory(ns->t)
                                : (double)ns->maxmemory;
            labeled(b, per_ns[f].name, "namespace", ns->name, v);
        }
    }
    for (size_t f = 0; f < sizeof per_ns_counters / sizeof per_ns_counters[0]; f++) {
        fig_prom_family(b, per_ns_counters[f].name, "counter", per_ns_counters[f].help);
        for (size_t i = 0; i < n; i++) {
            const db_ns *ns = db_ns_at(s->db, i);
            double v = f == 0   ? (double)ns->hits
                       : f == 1 ? (double)ns->misses
                       : f == 2 ? (double)all[i].evicted
                                : (double)all[i].expired;
            labeled(b, per_ns_counters[f].name, "namespace", ns->name, v);
        }
    }
    free(all);
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
        fig_prom_family(b, names[pass], "counter", helps[pass]);
        cmd_visit v = {b, pass};
        cmd_each_used_stat(s, per_command, &v);
    }

    fig_prom_family(b, "ebb_errors_total", "counter",
                    "Error replies, by their first word (ERR, WRONGTYPE, OOM, ...).");
    for (size_t i = 0; i < s->nerrorstats; i++)
        labeled(b, "ebb_errors_total", "kind", s->errorstats[i].name,
                (double)s->errorstats[i].count);

    const latency_hist *h = &s->latency;
    fig_prom_family(b, "ebb_command_duration_seconds", "histogram",
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
    fig_prom_family(&b, "ebb_build_info", "gauge", "Always 1; the version is in the label.");
    labeled(&b, "ebb_build_info", "version", EBB_VERSION, 1);
    fig_snapshot m;
    fig_snapshot_take(s, &m, FIG_NEED_ALL);
    fig_render_prometheus(s, &m, &b);
    table_metrics(s, &b);
    command_metrics(s, &b);
    return strbuf_take(&b, len);
}
