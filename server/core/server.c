/*
 * server.c - the server's life (layer 2): setup and teardown, the command
 * groups registered, options pushed into the modules, the cron and the
 * urgent work between rounds of I/O, and clients joining and leaving.
 * See commands.h.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmdtab.h"
#include "evict.h"
#include "expire.h"
#include "groups.h"
#include "hotkeys.h"
#include "introspection.h"
#include "log.h"
#include "memlimit.h"
#include "memory.h"
#include "multi.h"
#include "persist.h"
#include "prefault.h"
#include "pubsub.h"
#include "quota.h"
#include "scripting.h"
#include "tracking.h"

/* Every command group, in the order COMMAND lists them. */
static const cmd_def *const groups[] = {
    cmd_connection_rows, cmd_admin_rows,         cmd_keyspace_rows, cmd_rename_rows,
    cmd_string_rows,     cmd_lcs_rows,           cmd_bitmap_rows,   cmd_expire_rows,
    cmd_memory_rows,     cmd_introspection_rows, cmd_multi_rows,    cmd_scripting_rows,
    cmd_hotkeys_rows,    cmd_persist_rows,       cmd_dump_rows,     cmd_pubsub_rows,
};

bool cmd_server_init(cmd_server *s)
{
    cmdtab_init(groups, sizeof groups / sizeof groups[0]);
    memset(s, 0, sizeof *s);
    s->cmdstats = calloc(cmdtab_rows(), sizeof *s->cmdstats);
    if (s->cmdstats == NULL || !cmd_expire_init(s) || !cmd_evict_init(s) || !cmd_slowlog_init(s) ||
        !cmd_shrink_init(s) || !cmd_keybuf_init(s) || !cmd_multi_init(s) ||
        !cmd_scripting_init(s) || !cmd_memlimit_init(s) || !cmd_hotkeys_init(s) ||
        !cmd_persist_init(s) || !cmd_pubsub_init(s) || !cmd_tracking_init(s)) {
        cmd_server_deinit(s);
        return false;
    }
    s->run = cmd_run;
    s->clients.next_id = 1;
    s->proc.start_us = cmd_now_us();
    s->proc.config_file = "";
    s->proc.executable = "";
    s->proc.event_api = "";
    busypoll_init(&s->poll);
    if (!config_init(&s->cfg)) {
        cmd_server_deinit(s);
        return false;
    }
    return true;
}

/* Table options as the configuration says. The prefaulter's thread is
 * started the first time huge pages are asked for and kept from then on (an
 * idle worker only sleeps). Without it (a kernel before 5.14) tables keep
 * ordinary pages: their writes would fault each 2 MiB page themselves. */
static table_options table_opts(cmd_server *s)
{
    if (s->cfg.huge_pages.num != 0 && s->prefault == NULL && !s->prefault_tried) {
        s->prefault_tried = true;
        s->prefault = prefault_new();
        if (s->prefault == NULL)
            log_write(LOG_NOTICE, "Huge pages stay off: this kernel cannot populate memory "
                                  "ahead of the writes (MADV_POPULATE_WRITE)");
    }
    int policy = s->maxmemory_policy;
    return (table_options){
        .auto_shrink = s->cfg.auto_shrink.num != 0,
        .shrink_percent = (unsigned)s->cfg.auto_shrink_threshold.num,
        .huge_pages = s->cfg.huge_pages.num != 0 && s->prefault != NULL,
        .prefault = s->prefault,
        .clock_ms = &s->now_ms,
        .track_lru = policy == POLICY_ALLKEYS_LRU || policy == POLICY_VOLATILE_LRU,
        .track_lfu = policy == POLICY_ALLKEYS_LFU || policy == POLICY_VOLATILE_LFU,
        .lfu_log_factor = (unsigned)s->cfg.lfu_log_factor.num,
        .lfu_decay_time = (unsigned)s->cfg.lfu_decay_time.num,
        .expired_counter = &s->st.expired_keys,
        .on_expired = cmd_tracking_on_expired,
        .on_expired_arg = s,
        .keep_expired = &s->keys_frozen,
    };
}

bool cmd_server_start(cmd_server *s)
{
    s->now_ms = cmd_now_us() / 1000;
    cmd_memlimit_refresh(s);
    table_options topt = table_opts(s);
    s->db = db_create((unsigned)s->cfg.max_namespaces.num, &topt);
    if (s->db == NULL)
        return false;
    cmd_server_apply_config(s);
    s->peak_used = s->startup_used = cmd_used_memory(s);
    return true;
}

void cmd_server_deinit(cmd_server *s)
{
    cmd_shrink_jobs_free(s);
    cmd_slowlog_free(s);
    cmd_keybuf_free(s);
    cmd_multi_free(s);
    cmd_scripting_free(s);
    cmd_memlimit_free(s);
    cmd_hotkeys_free(s);
    cmd_persist_free(s);
    cmd_pubsub_free(s);
    cmd_tracking_free(s);
    cmd_evict_free(s);
    cmd_expire_free(s);
    free(s->cmdstats);
    s->cmdstats = NULL;
    db_destroy(s->db);
    s->db = NULL;
    prefault_free(s->prefault); /* after the tables it populates for */
    s->prefault = NULL;
    s->prefault_tried = false;
    config_deinit(&s->cfg);
}

void cmd_server_apply_config(cmd_server *s)
{
    log_set_level((log_level)s->cfg.loglevel.num);
    config_obl obl[CONFIG_OBL_CLASSES] = {{0, 0, 0}};
    if (config_parse_obl(s->cfg.obuf_limit.str, obl))
        memcpy(s->obl, obl, sizeof obl);
    cmd_memlimit_refresh(s);
    if (s->db != NULL) {
        db_set_max_namespaces(s->db, (unsigned)s->cfg.max_namespaces.num);
        table_options topt = table_opts(s);
        db_set_table_options(s->db, &topt);
        if (!cmd_quota_apply(s))
            log_write(LOG_WARNING, "namespace-maxmemory: out of memory, the quotas in force stay");
    }
    if (s->hotkeys != NULL)
        cmd_hotkeys_apply(s);
}

/* Old buckets evacuated between clock checks in the cron's migration slice. */
#define CRON_MIGRATE_BUCKETS 256

/* What one cron tick may do before the loop serves clients again: the
 * migration, expiry and eviction slices below share it (eviction, which
 * runs only over maxmemory, still gets CRON_MIN_SLICE_US when expiry used
 * the rest). They used to have a budget each, and a tick that shrank a
 * table while keys expired ran 500 µs of migration then 1 ms of expiry:
 * 1.5-1.8 ms in which nobody was served (stall.sh, active expiry phase). */
#define CRON_BUDGET_US 1000

/* Migrations not driven by writes (a table that stopped receiving writes
 * mid-growth, a shrink) are advanced by at most this much of the budget, so
 * an idle server finishes them without a visible stall. */
#define CRON_MIGRATE_US 500

/* The expiry and eviction slices get what is left of the budget, but at
 * least this much, so that they always make progress. */
#define CRON_MIN_SLICE_US 250

static bool server_cron(cmd_server *s);
static bool server_urgent(cmd_server *s, int64_t budget_us);

/* Detached tables (FLUSHALL ASYNC) unmapped per slice: munmap runs at about
 * 10 GB/s of touched pages here, so 4 MiB is well under a millisecond. */
#define CRON_REAP_BYTES (4u * 1024u * 1024u)

/* Give free heap back to the OS when more than this much is free in it. */
#define CRON_TRIM_FREE_BYTES (256u * 1024u)

/* Background work that began at start (µs) is over: a candidate for the
 * longest stall, and time busy polling must not count as serving. */
static void background_done(cmd_server *s, const char *cause, int64_t start)
{
    int64_t took = cmd_now_us() - start;
    cmd_note_stall(s, cause, NULL, took);
    busypoll_background(&s->poll, took > 0 ? (uint64_t)took * 1000u : 0);
}

bool cmd_server_cron(cmd_server *s)
{
    int64_t start = cmd_now_us();
    bool more = server_cron(s);
    background_done(s, "cron", start);
    return more;
}

/* What is left of this tick's budget for the next slice (CRON_MIN_SLICE_US
 * at least). */
static int64_t cron_left(int64_t start)
{
    int64_t left = CRON_BUDGET_US - (cmd_now_us() - start);
    return left > CRON_MIN_SLICE_US ? left : CRON_MIN_SLICE_US;
}

static bool server_cron(cmd_server *s)
{
    if (!s->clock_fixed)
        s->now_ms = cmd_now_us() / 1000;
    int64_t start = cmd_now_us();
    while (db_step(s->db, CRON_MIGRATE_BUCKETS) && cmd_now_us() < start + CRON_MIGRATE_US) {
    }
    bool reaping = db_reap(s->db, CRON_REAP_BYTES);
    if (cmd_memlimit_cron(s)) {
        table_options topt = table_opts(s);
        db_set_table_options(s->db, &topt);
    }
    s->expire_slices = cmd_expire_tick(s, cron_left(start));
    bool evicting = cmd_evict_cycle(s, cron_left(start));
    evicting |= cmd_quota_cycle(s, cron_left(start));
    cmd_hotkeys_cron(s);
    bool saving = cmd_persist_cron(s);
    cmd_tracking_cron(s);
    /* glibc's mallinfo2 walks every free chunk of the heap: milliseconds
     * once the heap holds many small free chunks. The cron asks it at most
     * once a tick, and spaces the calls so that they take under 1 % of the
     * time (each call's cost x 100 apart). */
    int64_t now_us = cmd_now_us();
    if (now_us >= s->heap_next_us) {
        struct mallinfo2 mi = mallinfo2();
        int64_t cost = cmd_now_us() - now_us;
        s->heap_next_us = now_us + cost * 100;
        s->heap_used = mi.uordblks + mi.hblkhd;
        /* Trim when free heap grew by CRON_TRIM_FREE_BYTES since the last
         * trim left it: free space trim cannot return (fragments) must not
         * make it walk the heap 100 times a second. */
        if (mi.fordblks > s->trim_floor + CRON_TRIM_FREE_BYTES) {
            malloc_trim(0);
            s->trim_floor = mallinfo2().fordblks;
        } else if (mi.fordblks < s->trim_floor) {
            s->trim_floor = mi.fordblks;
        }
    }
    /* The peak from this tick's heap figures: glibc's mallinfo2 walks every
     * free chunk, so the cron asks it once per tick, not once per use. */
    table_stats tot;
    db_total_stats(s->db, &tot);
    uint64_t used = tot.index_bytes + tot.payload_bytes + tot.meta_bytes + s->heap_used;
    if (used > s->peak_used)
        s->peak_used = used;
    return cmd_shrink_pending(s) || s->expire_slices > 0 || evicting || reaping || s->loading ||
           saving;
}

bool cmd_server_urgent(cmd_server *s, int64_t budget_us)
{
    int64_t start = cmd_now_us();
    bool more = server_urgent(s, budget_us);
    background_done(s, "background", start);
    return more;
}

static bool server_urgent(cmd_server *s, int64_t budget_us)
{
    int64_t start = cmd_now_us();
    if (!s->clock_fixed)
        s->now_ms = cmd_now_us() / 1000;
    bool more = false;
    if (s->loading)
        return cmd_persist_load_step(s, budget_us);
    if (cmd_shrink_pending(s))
        more |= cmd_shrink_jobs_run(s, budget_us);
    else if (s->expire_slices > 0) {
        s->expire_slices--;
        if (!cmd_expire_cycle(s, budget_us))
            s->expire_slices = 0;
        more |= s->expire_slices > 0;
    } else {
        more |= cmd_evict_cycle(s, budget_us);
        more |= cmd_quota_cycle(s, budget_us);
    }
    /* FLUSHALL ASYNC leftovers, at about CRON_REAP_BYTES per slice. */
    more |= db_reap(s->db, CRON_REAP_BYTES);
    /* A background save's walk, in what is left of the slice. */
    int64_t left = budget_us - (cmd_now_us() - start);
    if (left > 0)
        more |= cmd_persist_save_step(s, left);
    return more;
}

uint64_t cmd_used_memory(const cmd_server *s)
{
    table_stats tot;
    db_total_stats(s->db, &tot);
    struct mallinfo2 mi = mallinfo2();
    return tot.index_bytes + tot.payload_bytes + tot.meta_bytes + mi.uordblks + mi.hblkhd +
           cmd_persist_buffer_bytes(s);
}

void cmd_client_init(cmd_server *s, cmd_client *c)
{
    memset(c, 0, sizeof *c);
    resp_out_init(&c->out);
    c->id = s->clients.next_id++;
    c->fd = -1;
    c->ctime_us = c->last_us = cmd_now_us();
    c->authed = s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    c->next = s->clients.head;
    if (s->clients.head != NULL)
        s->clients.head->prev = c;
    s->clients.head = c;
    s->clients.count++;
}

void cmd_client_closing(cmd_server *s, cmd_client *c)
{
    c->closing = true;
    cmd_monitor_forget(s, c);
    cmd_pubsub_forget(s, c);
}

void cmd_client_deinit(cmd_server *s, cmd_client *c)
{
    cmd_monitor_forget(s, c);
    cmd_pubsub_forget(s, c);
    cmd_multi_forget(s, c);
    cmd_tracking_forget(s, c);
    if (c->blocked)
        cmd_shrink_jobs_forget(s, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients.head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->clients.count--;
    resp_out_deinit(&c->out);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    c->name = c->lib_name = c->lib_ver = NULL;
}
