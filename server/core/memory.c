/*
 * memory.c - SHRINK and MEMORY: giving memory back on demand, and saying
 * where it is (layer 2).
 *
 * SHRINK [namespace] [ASYNC]
 *   Shrinks every namespace (or one) to the smallest index that holds its
 *   keys at the normal load, drops overflow buckets left by deletes, unmaps
 *   spare record chunks, releases emptied namespaces and trims the allocator.
 *   The work is a job advanced in slices of at most SHRINK_SLICE_US between
 *   rounds of I/O (cmd_server_urgent), so other clients keep being served;
 *   the caller is blocked and gets its reply when the job is done. With ASYNC
 *   the caller gets +OK at once and the job runs the same way.
 *
 *   A SHRINK that finds a table migrating (a growth, or an automatic shrink)
 *   first lets that migration finish, in the same bounded slices, then
 *   shrinks. A growth that starts while the job runs (writes keep coming) is
 *   finished too before the job replies, so the reply describes a table with
 *   no migration in progress.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "groups.h"
#include "memory.h"
#include "multi.h"
#include "quota.h"

/* SHRINK's own state (cmd_server.shrink). */
struct cmd_shrink {
    struct shrink_job *jobs; /* in progress */
    uint64_t commands;       /* completed */
    uint64_t last_us;        /* duration of the last completed one */
    int64_t last_freed;      /* table bytes it freed (before - after) */
};

bool cmd_shrink_init(cmd_server *s)
{
    s->shrink = calloc(1, sizeof *s->shrink);
    return s->shrink != NULL;
}

bool cmd_shrink_pending(const cmd_server *s)
{
    return s->shrink->jobs != NULL;
}

uint64_t cmd_shrink_commands(const cmd_server *s)
{
    return s->shrink->commands;
}

uint64_t cmd_shrink_last_us(const cmd_server *s)
{
    return s->shrink->last_us;
}

int64_t cmd_shrink_last_freed(const cmd_server *s)
{
    return s->shrink->last_freed;
}

/* Longest slice of SHRINK work between two rounds of I/O. With the loop's
 * own I/O work this keeps every client's wait near the ~2 ms target. */
#define SHRINK_SLICE_US 1000

/* Old buckets evacuated (or record chunks unmapped) between clock checks:
 * ~256 buckets take ~10-30 µs, so a slice overshoots its budget by little;
 * one 2 MiB chunk (a huge page, once full) per check, since unmapping
 * 16 MiB of them at once took 7 ms in stall.sh's SHRINK. */
#define SHRINK_STEP_BUCKETS 256u
#define SHRINK_STEP_CHUNKS 1u

typedef struct {
    char name[DB_NS_NAME_MAX + 1];
    uint8_t len;
    bool shrunk; /* table_shrink() has been called */
} shrink_target;

typedef struct shrink_job {
    struct shrink_job *next;
    cmd_client *client; /* waiting for the reply; NULL for ASYNC or gone */
    shrink_target *targets;
    size_t ntargets;
    bool all; /* every namespace: release all emptied ones */
    int64_t start_us;
    uint64_t buckets_before, overflow_before, bytes_before, rss_before;
} shrink_job;

/* One field/value pair of a map reply with an integer value. */
static void field_int(resp_out *o, const char *name, long long v)
{
    resp_add_bulkstr(o, name);
    resp_add_int(o, v);
}

/* Sum the tables a job covers (those that still exist). */
static void job_sum(cmd_server *s, const shrink_job *j, uint64_t *buckets, uint64_t *ovf,
                    uint64_t *bytes)
{
    *buckets = *ovf = *bytes = 0;
    for (size_t i = 0; i < j->ntargets; i++) {
        table *t;
        if (db_table(s->db, j->targets[i].name, j->targets[i].len, false, &t) != DB_OK)
            continue;
        table_stats st;
        table_get_stats(t, &st);
        *buckets += st.buckets + st.old_buckets;
        *ovf += st.overflow_buckets;
        *bytes += st.index_bytes + st.payload_bytes;
    }
}

static void job_free(shrink_job *j)
{
    free(j->targets);
    free(j);
}

static void cmd_shrink(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    bool async = false;
    const resp_view *ns = NULL;
    size_t argc = req->argc;
    if (argc >= 2 && cmd_arg_is(&req->argv[argc - 1], "async")) {
        async = true;
        argc--;
    }
    /* Inside EXEC nothing may block the transaction's reply: SHRINK runs as
     * SHRINK ASYNC, as Redis runs blocking commands in a transaction. */
    if (cmd_in_exec(c))
        async = true;
    if (argc > 2) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (argc == 2)
        ns = &req->argv[1];

    shrink_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    if (ns != NULL) {
        table *t;
        if (ns->len == 0 || ns->len > DB_NS_NAME_MAX ||
            db_table(s->db, ns->ptr, ns->len, false, &t) != DB_OK) {
            char q[CMD_QUOTE_BUF];
            cmd_reply_errorf(s, c, "ERR no such namespace '%s'", cmd_quote(q, ns, 64, false));
            free(j);
            return;
        }
        j->ntargets = 1;
    } else {
        j->all = true;
        j->ntargets = db_ns_count(s->db);
    }
    j->targets = calloc(j->ntargets, sizeof *j->targets);
    if (j->targets == NULL) {
        free(j);
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    for (size_t i = 0; i < j->ntargets; i++) {
        shrink_target *tg = &j->targets[i];
        if (ns != NULL) {
            memcpy(tg->name, ns->ptr, ns->len);
            tg->len = (uint8_t)ns->len;
        } else {
            const db_ns *n = db_ns_at(s->db, i);
            memcpy(tg->name, n->name, n->namelen);
            tg->len = n->namelen;
        }
    }
    j->start_us = cmd_now_us();
    j->rss_before = cmd_rss_bytes();
    job_sum(s, j, &j->buckets_before, &j->overflow_before, &j->bytes_before);
    if (async) {
        resp_add_ok(&c->out);
    } else {
        j->client = c;
        c->blocked = true;
    }
    j->next = s->shrink->jobs;
    s->shrink->jobs = j;
}

/* Advance one job until the deadline. Returns true when it is done. */
static bool job_run(cmd_server *s, shrink_job *j, int64_t deadline)
{
    for (size_t i = 0; i < j->ntargets; i++) {
        shrink_target *tg = &j->targets[i];
        table *t;
        if (db_table(s->db, tg->name, tg->len, false, &t) != DB_OK)
            continue; /* released meanwhile (FLUSHALL, another SHRINK) */
        for (;;) {
            /* Finish whatever migration is in progress, then release spare
             * chunks a few at a time, then start the shrink (which then has
             * no long unmap left to do) and finish its migration. */
            bool busy = table_step(t, SHRINK_STEP_BUCKETS);
            if (!busy && !tg->shrunk)
                busy = table_release(t, SHRINK_STEP_CHUNKS);
            if (!busy && !tg->shrunk) {
                tg->shrunk = true;
                table_shrink(t);
                busy = true; /* go round once more: step the new migration */
            }
            if (!busy)
                break;
            if (cmd_now_us() >= deadline)
                return false;
        }
    }
    return true;
}

/* Reply to the job's caller (if any) and count it. */
static void job_finish(cmd_server *s, shrink_job *j)
{
    size_t released = 0;
    if (j->all) {
        released = db_release_empty(s->db);
    } else {
        table *t;
        if (db_table(s->db, j->targets[0].name, j->targets[0].len, false, &t) == DB_OK &&
            table_count(t) == 0)
            released = db_release_ns(s->db, j->targets[0].name, j->targets[0].len) ? 1 : 0;
    }
    malloc_trim(0);
    uint64_t buckets, ovf, bytes;
    job_sum(s, j, &buckets, &ovf, &bytes);
    int64_t dur = cmd_now_us() - j->start_us;
    s->shrink->commands++;
    s->shrink->last_us = (uint64_t)dur;
    s->shrink->last_freed = (int64_t)j->bytes_before - (int64_t)bytes;
    cmd_client *c = j->client;
    if (c == NULL)
        return;
    resp_out *o = &c->out;
    resp_add_map(o, 11);
    field_int(o, "namespaces_shrunk", (long long)j->ntargets);
    field_int(o, "namespaces_released", (long long)released);
    field_int(o, "buckets_before", (long long)j->buckets_before);
    field_int(o, "buckets_after", (long long)buckets);
    field_int(o, "overflow_buckets_before", (long long)j->overflow_before);
    field_int(o, "overflow_buckets_after", (long long)ovf);
    field_int(o, "table_bytes_before", (long long)j->bytes_before);
    field_int(o, "table_bytes_after", (long long)bytes);
    field_int(o, "rss_before", (long long)j->rss_before);
    field_int(o, "rss_after", (long long)cmd_rss_bytes());
    field_int(o, "duration_us", (long long)dur);
    c->blocked = false;
    if (s->daemon.client_ready != NULL)
        s->daemon.client_ready(c);
}

bool cmd_shrink_jobs_run(cmd_server *s, int64_t budget_us)
{
    int64_t deadline = cmd_now_us() + budget_us;
    /* Oldest first would be fairer, but jobs are rare and each is bounded;
     * run them in list order and stop at the deadline. */
    shrink_job **pp = &s->shrink->jobs;
    while (*pp != NULL) {
        shrink_job *j = *pp;
        if (!job_run(s, j, deadline))
            return true;
        *pp = j->next;
        job_finish(s, j);
        job_free(j);
        if (cmd_now_us() >= deadline)
            break;
    }
    return s->shrink->jobs != NULL;
}

void cmd_shrink_jobs_forget(cmd_server *s, cmd_client *c)
{
    for (shrink_job *j = s->shrink->jobs; j != NULL; j = j->next)
        if (j->client == c)
            j->client = NULL;
}

void cmd_shrink_jobs_free(cmd_server *s)
{
    if (s->shrink == NULL)
        return;
    while (s->shrink->jobs != NULL) {
        shrink_job *j = s->shrink->jobs;
        s->shrink->jobs = j->next;
        job_free(j);
    }
    free(s->shrink);
    s->shrink = NULL;
}

/* MEMORY DOCTOR names a size class whose resident pages exceed its records
 * by more than this (and by more than a quarter): below it, the slack is
 * what auto-shrink keeps on purpose (store.c, GIVING BACK). */
#define DOCTOR_CLASS_SLACK (4u * 1024u * 1024u)

/* ---- MEMORY ----------------------------------------------------------------------- */

static void cmd_memory_usage(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    /* MEMORY USAGE key [SAMPLES count]: SAMPLES is accepted and ignored (a
     * key's cost is known exactly): its record (9 bytes + its value rounded
     * up to 4; 13 for an empty one), its share of its namespace's index
     * (index bytes / keys, rounded up), its expire time if it has one, and
     * its LRU stamp while an LRU policy is set. */
    if (req->argc != 3 && !(req->argc == 5 && cmd_arg_is(&req->argv[3], "samples"))) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (req->argc == 5) {
        long long n;
        if (!cmd_arg_ll(s, c, &req->argv[4], &n))
            return;
    }
    db_key k;
    if (!cmd_key_arg(s, c, req, 2, &k))
        return;
    table *t = cmd_read_table(s, &k);
    int64_t at;
    size_t len;
    if (t == NULL || table_get_expire(t, k.id, &at) != TABLE_OK ||
        table_get(t, k.id, NULL, &len) != TABLE_OK) {
        resp_add_null(&c->out);
        return;
    }
    table_options o = table_get_options(t);
    table_stats st;
    table_get_stats(t, &st);
    long long index = st.count > 0 ? (long long)((st.index_bytes + st.count - 1) / st.count) : 0;
    long long bytes = (long long)table_record_size(len) + index +
                      (at != 0 ? (long long)sizeof(int64_t) : 0) +
                      (o.track_lru || o.track_lfu ? (long long)sizeof(uint32_t) : 0);
    resp_add_int(&c->out, bytes);
}

static void cmd_memory_stats(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    table_stats tot;
    db_total_stats(s->db, &tot);
    uint64_t keys = tot.count, index = tot.index_bytes, payload = tot.payload_bytes;
    uint64_t used = cmd_used_memory(s);
    uint64_t rss = cmd_rss_bytes();
    uint64_t other = used > index + payload ? used - index - payload : 0;
    resp_out *o = &c->out;
    table_class_stats cls[TABLE_CLASSES];
    db_total_class_stats(s->db, cls);
    unsigned used_classes = 0;
    for (unsigned k = 0; k < TABLE_CLASSES; k++)
        used_classes += cls[k].keys > 0 || cls[k].resident_bytes > 0;
    resp_add_map(o, 16 + used_classes);
    field_int(o, "peak.allocated", (long long)s->peak_used);
    field_int(o, "total.allocated", (long long)used);
    field_int(o, "startup.allocated", (long long)s->startup_used);
    field_int(o, "rss", (long long)rss);
    field_int(o, "keys.count", (long long)keys);
    field_int(o, "keys.bytes-per-key", keys > 0 ? (long long)((index + payload) / keys) : 0);
    field_int(o, "dataset.bytes", (long long)tot.record_bytes);
    field_int(o, "table.index.bytes", (long long)index);
    field_int(o, "table.payload.bytes", (long long)payload);
    field_int(o, "table.record.bytes", (long long)tot.record_bytes);
    field_int(o, "table.buckets", (long long)tot.buckets);
    field_int(o, "table.overflow-buckets", (long long)tot.overflow_buckets);
    field_int(o, "table.migrating", tot.migrating ? 1 : 0);
    field_int(o, "allocator.other.bytes", (long long)other);
    resp_add_bulkstr(o, "fragmentation");
    resp_add_double(o, used > 0 ? (double)rss / (double)used : 0.0);
    /* Each namespace (the default one as namespace-maxmemory names it): its
     * keys, its memory as its quota sees it, and its quota (0: none). */
    resp_add_bulkstr(o, "namespaces");
    resp_add_map(o, db_ns_count(s->db));
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        resp_add_bulkstr(o, cmd_ns_name(n));
        resp_add_map(o, 3);
        field_int(o, "keys", (long long)table_count(n->t));
        field_int(o, "used_memory", (long long)table_memory(n->t));
        field_int(o, "maxmemory", (long long)n->maxmemory);
    }
    /* Each record size class in use, as Redis nests db.N. */
    for (unsigned k = 0; k < TABLE_CLASSES; k++) {
        const table_class_stats *cl = &cls[k];
        if (cl->keys == 0 && cl->resident_bytes == 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "table.class.%u", TABLE_CLASS_MAX_LEN(k));
        resp_add_bulkstr(o, name);
        resp_add_map(o, 5);
        field_int(o, "record.size", (long long)cl->record_size);
        field_int(o, "keys", (long long)cl->keys);
        field_int(o, "record.bytes", (long long)cl->record_bytes);
        field_int(o, "resident.bytes", (long long)cl->resident_bytes);
        field_int(o, "mapped.bytes", (long long)cl->mapped_bytes);
    }
}

static void cmd_memory_purge(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    malloc_trim(0);
    resp_add_ok(&c->out);
}

static void cmd_memory_doctor(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    uint64_t used = cmd_used_memory(s), rss = cmd_rss_bytes();
    char text[2048];
    int n = 0;
    bool found = false;
    if (rss > used + 16u * 1024 * 1024 && rss > used + used / 4) {
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "RSS (%llu bytes) is well above used memory (%llu bytes). "
                      "Run MEMORY PURGE, or SHRINK if auto-shrink is off.\n",
                      (unsigned long long)rss, (unsigned long long)used);
        found = true;
    }
    /* A size class whose resident pages exceed its records by more than a
     * quarter and DOCTOR_CLASS_SLACK: pages a drain left behind (auto-shrink
     * off) that SHRINK gives back. */
    table_class_stats cls[TABLE_CLASSES];
    db_total_class_stats(s->db, cls);
    for (unsigned k = 0; k < TABLE_CLASSES && (size_t)n < sizeof text - 256; k++) {
        const table_class_stats *cl = &cls[k];
        if (cl->resident_bytes > cl->record_bytes + DOCTOR_CLASS_SLACK &&
            cl->resident_bytes > cl->record_bytes + cl->record_bytes / 4) {
            n += snprintf(text + n, sizeof text - (size_t)n,
                          "Values of up to %u bytes hold %llu bytes of pages for %llu bytes of "
                          "records (%llu keys): run SHRINK to give the rest back.\n",
                          TABLE_CLASS_MAX_LEN(k), (unsigned long long)cl->resident_bytes,
                          (unsigned long long)cl->record_bytes, (unsigned long long)cl->keys);
            found = true;
        }
    }
    if (!found)
        n = snprintf(text, sizeof text,
                     "No memory problem found: RSS %llu bytes, used %llu bytes.\n",
                     (unsigned long long)rss, (unsigned long long)used);
    resp_add_verbatim(&c->out, "txt", text, (size_t)n);
}

/* MEMORY MALLOC-STATS: the allocator's own report, as Redis gives
 * jemalloc's. ebb allocates with glibc's malloc, whose report is
 * malloc_info's XML (per arena: free chunks by size, system bytes), caught
 * in memory with open_memstream. (A Redis built on libc malloc answers
 * "Stats not supported for the current allocator"; glibc has them.) */
static void cmd_memory_malloc_stats(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        cmd_reply_error(s, c, ERR_OOM);
        return;
    }
    int rc = malloc_info(0, f);
    if (fclose(f) != 0 || rc != 0 || text == NULL) {
        free(text);
        cmd_reply_text(c, "Stats not supported for the current allocator",
                       strlen("Stats not supported for the current allocator"));
        return;
    }
    cmd_reply_text(c, text, len);
    free(text);
}

static void cmd_memory_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator (glibc's malloc_info).",
        "PURGE",
        "    Give free allocator memory back to the operating system.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its index share.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    cmd_reply_help(c, lines);
}

static const cmd_def memory_subs[] = {
    {"usage", -3, CMD_READONLY, 2, 2, 1, cmd_memory_usage, NULL, "server", "4.0.0",
     "Estimates the memory usage of a key.", "key [SAMPLES count]", NULL},
    {"stats", 2, CMD_STALE, 0, 0, 0, cmd_memory_stats, NULL, "server", "4.0.0",
     "Returns details about memory usage.", NULL, NULL},
    {"purge", 2, CMD_STALE, 0, 0, 0, cmd_memory_purge, NULL, "server", "4.0.0",
     "Gives free allocator memory back to the operating system.", NULL, NULL},
    {"doctor", 2, CMD_STALE, 0, 0, 0, cmd_memory_doctor, NULL, "server", "4.0.0",
     "Outputs a memory problems report.", NULL, NULL},
    {"malloc-stats", 2, 0, 0, 0, 0, cmd_memory_malloc_stats, NULL, "server", "4.0.0",
     "Returns the allocator statistics (glibc's malloc_info XML).", NULL, NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_memory_help, NULL, "server", "4.0.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_memory_rows[] = {
    {"memory", -2, CMD_STALE, 0, 0, 0, NULL, memory_subs, "server", "4.0.0",
     "A container for memory diagnostics commands.", NULL, NULL},
    {"shrink", -1, CMD_ADMIN, 0, 0, 0, cmd_shrink, NULL, "server", "0.1.0",
     "Shrinks tables now and gives freed memory back: SHRINK [namespace] [ASYNC].",
     "[namespace] [ASYNC]", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
