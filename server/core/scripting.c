/*
 * scripting.c - the scripting group (layer 2): EVAL, EVALSHA, EVAL_RO,
 * EVALSHA_RO and SCRIPT, the script cache, and one script's run: what its
 * redis.call may run, the time limit, SCRIPT KILL. See scripting.h; the
 * Lua state is script_lua.c's.
 */
#include "scripting.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtab.h"
#include "evict.h"
#include "groups.h"
#include "introspection.h"
#include "log.h"
#include "script_lua.h"
#include "sha1.h"

/* A script's shebang flags (`#!lua flags=...`), as Redis 7.0 has them. A
 * script without a shebang runs in EVAL's compatibility mode. */
enum {
    SF_COMPAT = 1 << 0, /* no shebang */
    SF_NO_WRITES = 1 << 1,
    SF_ALLOW_OOM = 1 << 2,
    SF_ALLOW_STALE = 1 << 3,
    SF_NO_CLUSTER = 1 << 4,
    SF_ALLOW_CROSS_SLOT = 1 << 5,
};

/* One cached script. Its compiled function is in the Lua state's registry
 * under f_<sha>. */
typedef struct script_entry {
    char sha[SHA1_HEX_LEN + 1]; /* lowercase */
    unsigned flags;             /* SF_* */
    bool pinned;                /* loaded by SCRIPT LOAD: not evicted */
    size_t body_len;
    struct script_entry *next_in_bucket;
    struct script_entry *lru_prev, *lru_next; /* unpinned ones, most recent first */
} script_entry;

/* A run's state (RUN_*). */
enum {
    RUN_READ_ONLY = 1 << 0, /* EVAL_RO, or a no-writes script */
    RUN_ALLOW_OOM = 1 << 1, /* allow-oom */
    RUN_OOM = 1 << 2,       /* over maxmemory when the script started */
    RUN_DIRTY = 1 << 3,     /* a write command ran */
};

struct cmd_scripts {
    cmd_server *s;
    script_vm *vm;   /* made on first use, remade by SCRIPT FLUSH */
    cmd_client self; /* the client redis.call runs commands as */
    script_entry **bucket;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count, body_bytes;
    script_entry *lru_head, *lru_tail;
    size_t unpinned;
    uint64_t evicted, killed, busy_timeouts;
    /* The run. */
    bool running, kill_asked, kill_logged;
    unsigned run;
    const char *sha;
    cmd_client *caller;
    int64_t start_us;
};

#define SCRIPT_MIN_BUCKETS 64u

static const char ERR_NOSCRIPT[] = "NOSCRIPT No matching script. Please use EVAL.";

bool cmd_scripting_init(cmd_server *s)
{
    struct cmd_scripts *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return false;
    sc->s = s;
    resp_out_init(&sc->self.out);
    snprintf(sc->self.addr, sizeof sc->self.addr, "lua");
    sc->self.fd = -1;
    sc->self.authed = true;
    sc->self.script = true;
    s->scripts = sc;
    return true;
}

static void forget_all(struct cmd_scripts *sc)
{
    for (size_t i = 0; i < sc->nbuckets; i++) {
        script_entry *e = sc->bucket[i];
        while (e != NULL) {
            script_entry *next = e->next_in_bucket;
            free(e);
            e = next;
        }
    }
    free(sc->bucket);
    sc->bucket = NULL;
    sc->nbuckets = sc->count = sc->body_bytes = sc->unpinned = 0;
    sc->lru_head = sc->lru_tail = NULL;
    script_vm_destroy(sc->vm);
    sc->vm = NULL;
}

void cmd_scripting_free(cmd_server *s)
{
    struct cmd_scripts *sc = s->scripts;
    if (sc == NULL)
        return;
    forget_all(sc);
    resp_out_deinit(&sc->self.out);
    free(sc);
    s->scripts = NULL;
}

void cmd_scripting_figures(const cmd_server *s, cmd_script_figures *f)
{
    const struct cmd_scripts *sc = s->scripts;
    *f = (cmd_script_figures){
        .heap_bytes = sc->vm != NULL ? script_vm_heap(sc->vm) : 0,
        .scripts = sc->count,
        .script_bytes = sc->body_bytes,
        .evicted = sc->evicted,
        .killed = sc->killed,
        .busy_timeouts = sc->busy_timeouts,
    };
}

/* ---- The cache ---------------------------------------------------------------------- */

static size_t sha_bucket(const struct cmd_scripts *sc, const char *sha)
{
    /* The digest is uniform: its first 16 hex digits are hash enough. */
    uint64_t h = 0;
    for (int i = 0; i < 16; i++)
        h = h << 4 | (uint64_t)(isdigit((unsigned char)sha[i]) ? sha[i] - '0' : sha[i] - 'a' + 10);
    return (size_t)(h & (sc->nbuckets - 1));
}

/* The entry named by sha (40 hex digits, any case), or NULL. */
static script_entry *find(struct cmd_scripts *sc, const char *sha, size_t len)
{
    if (len != SHA1_HEX_LEN || sc->nbuckets == 0)
        return NULL;
    char lower[SHA1_HEX_LEN + 1];
    for (size_t i = 0; i < SHA1_HEX_LEN; i++) {
        if (!isxdigit((unsigned char)sha[i]))
            return NULL;
        lower[i] = (char)tolower((unsigned char)sha[i]);
    }
    lower[SHA1_HEX_LEN] = '\0';
    for (script_entry *e = sc->bucket[sha_bucket(sc, lower)]; e != NULL; e = e->next_in_bucket)
        if (memcmp(e->sha, lower, SHA1_HEX_LEN) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct cmd_scripts *sc, script_entry *e)
{
    if (e->lru_prev != NULL)
        e->lru_prev->lru_next = e->lru_next;
    else
        sc->lru_head = e->lru_next;
    if (e->lru_next != NULL)
        e->lru_next->lru_prev = e->lru_prev;
    else
        sc->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct cmd_scripts *sc, script_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = sc->lru_head;
    if (sc->lru_head != NULL)
        sc->lru_head->lru_prev = e;
    sc->lru_head = e;
    if (sc->lru_tail == NULL)
        sc->lru_tail = e;
}

static void remove_entry(struct cmd_scripts *sc, script_entry *e)
{
    script_entry **pp = &sc->bucket[sha_bucket(sc, e->sha)];
    while (*pp != e)
        pp = &(*pp)->next_in_bucket;
    *pp = e->next_in_bucket;
    if (!e->pinned) {
        lru_unlink(sc, e);
        sc->unpinned--;
    }
    sc->count--;
    sc->body_bytes -= e->body_len;
    script_vm_drop(sc->vm, e->sha);
    free(e);
}

static bool grow_buckets(struct cmd_scripts *sc)
{
    size_t n = sc->nbuckets == 0 ? SCRIPT_MIN_BUCKETS : sc->nbuckets * 2;
    script_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return false;
    script_entry **old = sc->bucket;
    size_t oldn = sc->nbuckets;
    sc->bucket = b;
    sc->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        script_entry *e = old[i];
        while (e != NULL) {
            script_entry *next = e->next_in_bucket;
            size_t j = sha_bucket(sc, e->sha);
            e->next_in_bucket = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(old);
    return true;
}

static bool ensure_vm(struct cmd_scripts *sc);

/* Parse a shebang line (`#!lua [flags=a,b]`), Redis's errors. *skip: the
 * bytes before the line feed that ends it. */
static bool parse_shebang(const char *body, size_t len, unsigned *flags, size_t *skip, char *err,
                          size_t errlen)
{
    *flags = SF_COMPAT;
    *skip = 0;
    if (len < 2 || body[0] != '#' || body[1] != '!')
        return true;
    const char *nl = memchr(body, '\n', len);
    if (nl == NULL) {
        snprintf(err, errlen, "ERR Invalid script shebang");
        return false;
    }
    *skip = (size_t)(nl - body);
    *flags = 0;
    static const struct {
        const char *name;
        unsigned flag;
    } known[] = {{"no-writes", SF_NO_WRITES},
                 {"allow-oom", SF_ALLOW_OOM},
                 {"allow-stale", SF_ALLOW_STALE},
                 {"no-cluster", SF_NO_CLUSTER},
                 {"allow-cross-slot-keys", SF_ALLOW_CROSS_SLOT}};
    const char *p = body, *end = nl;
    for (int part = 0;; part++) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p == end) {
            if (part == 0) {
                snprintf(err, errlen, "ERR Invalid engine in script shebang");
                return false;
            }
            return true;
        }
        const char *w = p;
        while (p < end && !isspace((unsigned char)*p))
            p++;
        int wl = (int)(p - w);
        if (part == 0) {
            if (wl != 5 || memcmp(w, "#!lua", 5) != 0) {
                snprintf(err, errlen, "ERR Unexpected engine in script shebang: %.*s", wl, w);
                return false;
            }
            continue;
        }
        if (wl < 6 || memcmp(w, "flags=", 6) != 0) {
            snprintf(err, errlen, "ERR Unknown lua shebang option: %.*s", wl, w);
            return false;
        }
        for (const char *f = w + 6; f < p;) {
            const char *comma = memchr(f, ',', (size_t)(p - f));
            const char *fe = comma != NULL ? comma : p;
            size_t fl = (size_t)(fe - f);
            size_t k;
            for (k = 0; k < sizeof known / sizeof known[0]; k++)
                if (strlen(known[k].name) == fl && memcmp(known[k].name, f, fl) == 0)
                    break;
            if (k == sizeof known / sizeof known[0]) {
                snprintf(err, errlen, "ERR Unexpected flag in script shebang: %.*s", (int)fl, f);
                return false;
            }
            *flags |= known[k].flag;
            f = comma != NULL ? comma + 1 : p;
        }
    }
}

/* The entry for body, compiling and caching it if new (pinned: SCRIPT
 * LOAD's). NULL with the error in err. */
static script_entry *load(struct cmd_scripts *sc, const resp_view *body, bool pinned, char *err,
                          size_t errlen)
{
    char sha[SHA1_HEX_LEN + 1];
    sha1_hex(body->ptr, body->len, sha);
    script_entry *e = find(sc, sha, SHA1_HEX_LEN);
    if (e != NULL) {
        if (pinned && !e->pinned) {
            lru_unlink(sc, e);
            sc->unpinned--;
            e->pinned = true;
        }
        return e;
    }
    unsigned flags;
    size_t skip;
    if (!parse_shebang(body->ptr, body->len, &flags, &skip, err, errlen))
        return NULL;
    if (!ensure_vm(sc) || (sc->count + 1 > sc->nbuckets && !grow_buckets(sc)) ||
        (e = calloc(1, sizeof *e)) == NULL) {
        snprintf(err, errlen, "%s", ERR_OOM);
        return NULL;
    }
    script_vm_set_limit(sc->vm, (size_t)sc->s->cfg.lua_maxmemory.num);
    if (!script_vm_compile(sc->vm, sha, body->ptr, body->len, skip, err, errlen)) {
        free(e);
        return NULL;
    }
    memcpy(e->sha, sha, sizeof sha);
    e->flags = flags;
    e->pinned = pinned;
    e->body_len = body->len;
    size_t b = sha_bucket(sc, sha);
    e->next_in_bucket = sc->bucket[b];
    sc->bucket[b] = e;
    sc->count++;
    sc->body_bytes += body->len;
    if (!pinned) {
        lru_push(sc, e);
        sc->unpinned++;
        /* EVAL's scripts are capped in number, the least recently used
         * going first; the one just added stays. */
        while (sc->unpinned > (size_t)sc->s->cfg.lua_cache_max_scripts.num && sc->lru_tail != e) {
            remove_entry(sc, sc->lru_tail);
            sc->evicted++;
        }
    }
    return e;
}

/* ---- The run ------------------------------------------------------------------------ */

static bool arity_ok(const cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

/* redis.call: check what may run from a script, then run it as the
 * scripts' client. */
/* A command refused before it ran: counted as Redis counts it (the
 * command's rejected calls, the error replies), and the reason to *err. */
static bool refuse(cmd_server *s, size_t stat, const char *why, const char **err)
{
    if (stat != SIZE_MAX)
        s->cmdstats[stat].rejected++;
    STAT_INC(&s->st, total_error_replies);
    cmd_count_error(s, why[0] == '-' ? why + 1 : "ERR");
    *err = why;
    return false;
}

static bool host_call(void *ctx, const resp_view *argv, size_t argc, int proto, const char **reply,
                      size_t *len, const char **err)
{
    struct cmd_scripts *sc = ctx;
    cmd_server *s = sc->s;
    int row;
    const cmd_def *d = cmdtab_find(argv[0].ptr, argv[0].len, &row);
    if (d == NULL)
        return refuse(s, SIZE_MAX, "Unknown Redis command called from script", err);
    static const char ARITY[] = "Wrong number of args calling Redis command from script";
    if (!arity_ok(d, argc))
        return refuse(s, (size_t)row, ARITY, err);
    unsigned flags = d->flags;
    size_t stat = (size_t)row;
    if (d->subs != NULL && (d->fn == NULL || argc >= 2)) {
        const cmd_def *sub = cmdtab_find_sub(d, &argv[1]);
        if (sub != NULL) {
            stat = cmdtab_stat_index((size_t)row, sub);
            if (!arity_ok(sub, argc))
                return refuse(s, stat, ARITY, err);
            flags |= sub->flags;
        }
    }
    if (flags & CMD_NO_SCRIPT)
        return refuse(s, stat, "This Redis command is not allowed from script", err);
    if ((sc->run & RUN_READ_ONLY) && (flags & CMD_WRITE))
        return refuse(s, stat, "Write commands are not allowed from read-only scripts.", err);
    /* Over maxmemory at the start, a write that may add memory is refused
     * until the script has written: then it cannot stop halfway. */
    if ((flags & CMD_DENYOOM) && !(sc->run & (RUN_ALLOW_OOM | RUN_DIRTY)) && (sc->run & RUN_OOM) &&
        s->maxmemory > 0)
        return refuse(s, stat, "-" EVICT_ERR_OOM, err);
    if (flags & CMD_WRITE)
        sc->run |= RUN_DIRTY;
    resp_out_reset(&sc->self.out);
    sc->self.out.proto = proto;
    cmd_request r = {.argv = argv, .argc = argc};
    int64_t clock_ns = cmd_now_ns();
    s->run(s, &sc->self, &r, &clock_ns);
    if (sc->self.out.oom)
        return refuse(s, SIZE_MAX, "-OOM out of memory building a command's reply", err);
    *reply = sc->self.out.buf;
    *len = sc->self.out.len;
    return true;
}

static const char KILLED[] = "Script killed by user with SCRIPT KILL...";
static const char SHUTTING_DOWN[] = "Script stopped: the server is shutting down";

/* Every SCRIPT_TICK_INSTRUCTIONS: past the threshold, let the others in. */
static const char *host_tick(void *ctx)
{
    struct cmd_scripts *sc = ctx;
    cmd_server *s = sc->s;
    long long limit_ms = s->cfg.busy_reply_threshold.num;
    int64_t took_us = cmd_now_us() - sc->start_us;
    if (limit_ms > 0 && took_us >= limit_ms * 1000) {
        if (!s->busy) {
            s->busy = true;
            sc->busy_timeouts++;
            log_write(LOG_WARNING,
                      "Slow script detected: still in execution after %lld milliseconds. You can "
                      "try killing the script using the SCRIPT KILL command. Script name is: %s.",
                      (long long)(took_us / 1000), sc->sha);
        }
        if (s->daemon.serve_while_busy != NULL)
            s->daemon.serve_while_busy(sc->caller);
    }
    if (sc->kill_asked) {
        if (!sc->kill_logged)
            log_write(LOG_WARNING, "Lua script killed by user with SCRIPT KILL.");
        sc->kill_logged = true;
        return KILLED;
    }
    if (s->shutdown_asked)
        return SHUTTING_DOWN;
    return NULL;
}

/* A script's error reply: counted as the dispatcher counts replies. */
static void host_count_error(void *ctx, const char *msg)
{
    struct cmd_scripts *sc = ctx;
    STAT_INC(&sc->s->st, total_error_replies);
    cmd_count_error(sc->s, msg);
}

static void host_log(void *ctx, int level, const char *msg)
{
    static const log_level levels[] = {LOG_DEBUG, LOG_VERBOSE, LOG_NOTICE, LOG_WARNING};
    log_write(levels[level], "%s", msg);
}

static bool ensure_vm(struct cmd_scripts *sc)
{
    if (sc->vm != NULL)
        return true;
    script_host h = {.ctx = sc,
                     .call = host_call,
                     .tick = host_tick,
                     .log = host_log,
                     .count_error = host_count_error};
    sc->vm = script_vm_create(&h, (size_t)sc->s->cfg.lua_maxmemory.num);
    return sc->vm != NULL;
}

/* The error text of a script's reply can quote a command's error, the
 * script's name and where it failed. */
#define SCRIPT_ERR_MAX 1024

static void run_script(cmd_server *s, cmd_client *c, const cmd_request *req, script_entry *e,
                       size_t numkeys, bool ro)
{
    struct cmd_scripts *sc = s->scripts;
    unsigned run = 0;
    if (!(e->flags & SF_COMPAT)) {
        if (!(e->flags & SF_NO_WRITES) && ro) {
            cmd_reply_error(s, c,
                            "ERR Can not execute a script with write flag using *_ro command.");
            return;
        }
        /* A script that declared it may write, and not allow-oom, is a
         * write that may add memory: refused over maxmemory at once. */
        if (!(e->flags & (SF_NO_WRITES | SF_ALLOW_OOM)) && s->maxmemory > 0 && !cmd_evict_room(s)) {
            cmd_reply_error(s, c, EVICT_ERR_OOM);
            return;
        }
        if (e->flags & SF_NO_WRITES)
            run |= RUN_READ_ONLY;
        if (e->flags & SF_ALLOW_OOM)
            run |= RUN_ALLOW_OOM;
    }
    if (ro)
        run |= RUN_READ_ONLY;
    if (s->maxmemory > 0 && !(run & RUN_READ_ONLY) && !cmd_evict_room(s))
        run |= RUN_OOM;
    sc->run = run;
    sc->running = true;
    sc->kill_asked = sc->kill_logged = false;
    sc->sha = e->sha;
    sc->caller = c;
    sc->start_us = cmd_now_us();
    sc->self.tx_state = CMD_TX_EXECUTING; /* time stands still, as in EXEC */
    script_vm_set_limit(sc->vm, (size_t)s->cfg.lua_maxmemory.num);
    char err[SCRIPT_ERR_MAX];
    script_result r = script_vm_run(sc->vm, e->sha, req->argv + 3, numkeys, req->argv + 3 + numkeys,
                                    req->argc - 3 - numkeys, &c->out, err, sizeof err);
    sc->self.tx_state = CMD_TX_NONE;
    resp_out_reset(&sc->self.out);
    sc->running = false;
    sc->caller = NULL;
    if (sc->kill_asked)
        sc->killed++;
    sc->kill_asked = false;
    s->busy = false;
    if (r == SCRIPT_ERROR)
        cmd_reply_error(s, c, err);
    else if (r == SCRIPT_ERROR_COUNTED)
        resp_add_error(&c->out, err);
}

/* EVAL and its kin: the script (by text or digest), then the run. */
static void eval_generic(cmd_server *s, cmd_client *c, const cmd_request *req, bool by_sha, bool ro)
{
    struct cmd_scripts *sc = s->scripts;
    /* MONITOR shows the script before the commands it runs, as Redis. */
    if (s->clients.monitors > 0)
        cmd_monitor_feed(s, c, req->argv, req->argc, false);
    long long numkeys;
    if (!cmd_arg_ll(s, c, &req->argv[2], &numkeys))
        return;
    if (numkeys > (long long)req->argc - 3) {
        cmd_reply_error(s, c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        cmd_reply_error(s, c, "ERR Number of keys can't be negative");
        return;
    }
    script_entry *e;
    if (by_sha) {
        e = find(sc, req->argv[1].ptr, req->argv[1].len);
        if (e == NULL) {
            cmd_reply_error(s, c, ERR_NOSCRIPT);
            return;
        }
    } else {
        char err[SCRIPT_ERR_MAX];
        e = load(sc, &req->argv[1], false, err, sizeof err);
        if (e == NULL) {
            cmd_reply_error(s, c, err);
            return;
        }
    }
    if (!e->pinned && sc->lru_head != e) {
        lru_unlink(sc, e);
        lru_push(sc, e);
    }
    run_script(s, c, req, e, (size_t)numkeys, ro);
}

static void cmd_eval(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    eval_generic(s, c, req, false, false);
}

static void cmd_evalsha(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    eval_generic(s, c, req, true, false);
}

static void cmd_eval_ro(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    eval_generic(s, c, req, false, true);
}

static void cmd_evalsha_ro(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    eval_generic(s, c, req, true, true);
}

/* ---- SCRIPT ------------------------------------------------------------------------- */

static void cmd_script_help(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    static const char *const lines[] = {
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
        NULL};
    cmd_reply_help(c, lines);
}

static void cmd_script_load(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    char err[SCRIPT_ERR_MAX];
    script_entry *e = load(s->scripts, &req->argv[2], true, err, sizeof err);
    if (e == NULL)
        cmd_reply_error(s, c, err);
    else
        resp_add_bulk(&c->out, e->sha, SHA1_HEX_LEN);
}

static void cmd_script_exists(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    resp_add_array(&c->out, req->argc - 2);
    for (size_t i = 2; i < req->argc; i++)
        resp_add_int(&c->out, find(s->scripts, req->argv[i].ptr, req->argv[i].len) != NULL);
}

static void cmd_script_flush(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc == 3 && !cmd_arg_is(&req->argv[2], "sync") &&
        !cmd_arg_is(&req->argv[2], "async")) {
        cmd_reply_error(s, c, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    if (req->argc > 3) {
        cmd_reply_error(s, c, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    /* A new Lua state: nothing a script left survives a flush. */
    forget_all(s->scripts);
    resp_add_ok(&c->out);
}

static void cmd_script_kill(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    struct cmd_scripts *sc = s->scripts;
    if (!sc->running) {
        cmd_reply_error(s, c, "NOTBUSY No scripts in execution right now.");
        return;
    }
    if (sc->run & RUN_DIRTY) {
        cmd_reply_error(s, c,
                        "UNKILLABLE Sorry the script already executed write commands against the "
                        "dataset. You can either wait the script termination or kill the server "
                        "in a hard way using the SHUTDOWN NOSAVE command.");
        return;
    }
    sc->kill_asked = true;
    resp_add_ok(&c->out);
}

static void cmd_script_debug(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (cmd_arg_is(&req->argv[2], "no")) {
        resp_add_ok(&c->out);
        return;
    }
    if (cmd_arg_is(&req->argv[2], "yes") || cmd_arg_is(&req->argv[2], "sync")) {
        cmd_reply_error(s, c,
                        "ERR ebb has no Lua debugger: SCRIPT DEBUG YES|SYNC is not supported");
        return;
    }
    cmd_reply_error(s, c, "ERR Use SCRIPT DEBUG YES/SYNC/NO");
}

#define SCRIPT_FLAGS (CMD_NO_SCRIPT | CMD_SKIP_MONITOR | CMD_STALE)

static const cmd_def script_subs[] = {
    {"debug", 3, CMD_NO_SCRIPT, 0, 0, 0, cmd_script_debug, NULL, "scripting", "3.2.0",
     "Sets the debug mode of server-side Lua scripts (ebb: NO only).", "YES|SYNC|NO", NULL},
    {"exists", -3, CMD_NO_SCRIPT, 0, 0, 0, cmd_script_exists, NULL, "scripting", "2.6.0",
     "Determines whether server-side Lua scripts exist in the script cache.", "sha1...", NULL},
    {"flush", -2, CMD_NO_SCRIPT, 0, 0, 0, cmd_script_flush, NULL, "scripting", "2.6.0",
     "Removes all server-side Lua scripts from the script cache.", "[ASYNC|SYNC]", NULL},
    {"help", 2, CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_script_help, NULL, "scripting", "5.0.0",
     "Returns helpful text about the different subcommands.", NULL, NULL},
    {"kill", 2, CMD_NO_SCRIPT | CMD_ALLOW_BUSY, 0, 0, 0, cmd_script_kill, NULL, "scripting",
     "2.6.0", "Terminates a server-side Lua script during execution.", NULL, NULL},
    {"load", 3, CMD_NO_SCRIPT | CMD_STALE, 0, 0, 0, cmd_script_load, NULL, "scripting", "2.6.0",
     "Loads a server-side Lua script to the script cache.", "script", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const cmd_def cmd_scripting_rows[] = {
    {"eval", -3, SCRIPT_FLAGS | CMD_MAY_REPLICATE, 0, 0, 0, cmd_eval, NULL, "scripting", "2.6.0",
     "Executes a server-side Lua script.", "script numkeys [key...] [arg...]", NULL},
    {"evalsha", -3, SCRIPT_FLAGS | CMD_MAY_REPLICATE, 0, 0, 0, cmd_evalsha, NULL, "scripting",
     "2.6.0", "Executes a server-side Lua script by SHA1 digest.", "sha1 numkeys [key...] [arg...]",
     NULL},
    {"eval_ro", -3, SCRIPT_FLAGS | CMD_READONLY, 0, 0, 0, cmd_eval_ro, NULL, "scripting", "7.0.0",
     "Executes a read-only server-side Lua script.", "script numkeys [key...] [arg...]", NULL},
    {"evalsha_ro", -3, SCRIPT_FLAGS | CMD_READONLY, 0, 0, 0, cmd_evalsha_ro, NULL, "scripting",
     "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.",
     "sha1 numkeys [key...] [arg...]", NULL},
    {"script", -2, 0, 0, 0, 0, NULL, script_subs, "scripting", "2.6.0",
     "A container for Lua scripts management commands.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
