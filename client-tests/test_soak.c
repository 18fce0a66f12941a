/*
 * test_soak.c - nothing acknowledged is lost: 500 clients run a mix of
 * GET / SET (with and without short TTLs) / DEL / MSET / MGET / EXPIRE for
 * EBB_SOAK_SECONDS (default 30, 10 when EBB_SANITIZED=1) while an admin
 * client runs SHRINK and SHRINK ASYNC, and the load goes through growth,
 * eviction (maxmemory with allkeys-random), a delete-heavy drain (automatic
 * shrink, expiry) and growth again.
 *
 * The shadow model. Every connection owns its own keys (conn * 1000 + slot),
 * so the order of operations on a key is the order its connection sent them
 * and the model is exact. Per key it keeps the last acknowledged write (a
 * generation; the value is derived from key and generation), whether the key
 * is known to be absent, and the TTL window: a TTL of t set by a command sent
 * at s and answered at r may end from s + t (minus slack) and must have ended
 * by r + t (plus slack). Then, for every reply:
 *   - a value must be exactly the last written one, from a key the model says
 *     may be there and whose TTL has not surely run out;
 *   - nil (or DEL/EXPIRE answering 0) is fine only if the key was deleted,
 *     may have expired, or may have been evicted: eviction is possible when
 *     the eviction window (from just before CONFIG SET maxmemory was sent to
 *     just after CONFIG SET maxmemory 0 was answered) overlaps the time since
 *     the key was last seen present.
 * Anything else is a mismatch. Times are the client's (CLOCK_MONOTONIC) and
 * a send time is taken before the command is written, a receive time after
 * its reply is read, so the windows only ever widen.
 *
 * Threads: SOAK_THREADS workers each drive SOAK_CONNS / SOAK_THREADS blocking
 * hiredis connections in rounds: append 1-3 commands to every connection,
 * write them all, then read every reply; so all 500 connections have work in
 * flight at once. After the run a final pass reads every key once more.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(soak, .init = h_setup_own, .fini = h_teardown, .timeout = 600);

#define SOAK_CONNS 500
#define SOAK_THREADS 4
#define PER_THREAD (SOAK_CONNS / SOAK_THREADS)
#define SLOT_STRIDE 1000 /* key = conn * SLOT_STRIDE + slot */
#define VMIN 16
#define VMAX 128
/* Allowance for the server's millisecond clock against ours, in seconds. */
#define TTL_SLACK 0.005
#define MAX_PIPE 3  /* commands per connection per round */
#define MAX_MULTI 6 /* keys per MSET / MGET */
#define MIB (1024.0 * 1024.0)

static double soak_seconds(void)
{
    const char *e = getenv("EBB_SOAK_SECONDS");
    if (e != NULL && atof(e) > 0)
        return atof(e);
    return h_sanitized() ? 10.0 : 30.0;
}

/* Keys per connection: 500 x 400 = 200k keys at most (27 MB of records). */
static int slots(void)
{
    return h_sanitized() ? 100 : 400;
}

/* ---- Values ---------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* The value of (key, gen): VMIN..VMAX bytes, binary after a readable head,
 * different for every generation. Returns its length. */
static size_t value_of(long key, uint32_t gen, char *out)
{
    uint64_t h = mix((uint64_t)key * 0x100000001B3ULL ^ gen);
    size_t len = VMIN + (size_t)(h % (VMAX - VMIN + 1));
    int n = snprintf(out, VMAX + 1, "k%ld:g%u:", key, gen);
    for (size_t i = (size_t)n; i < len; i++) {
        h = mix(h);
        out[i] = (char)h;
    }
    return len;
}

/* ---- The shadow model ---------------------------------------------------------- */

typedef struct {
    uint32_t gen;  /* last acknowledged write; 0 = never written */
    bool present;  /* false: deleted or seen absent */
    double seen;   /* last time it was known present (write send, or a read) */
    double exp_lo; /* TTL may end from here (0: no TTL) */
    double exp_hi; /* ... and has surely ended after this */
} kmodel;

/* The eviction window (0: not yet). */
static _Atomic double ev_start, ev_end;

static bool evict_possible(const kmodel *m, double op_recv)
{
    double s = atomic_load(&ev_start), e = atomic_load(&ev_end);
    return s > 0 && s <= op_recv && (e == 0 || e >= m->seen);
}

/* May the key be gone by the end of an operation answered at op_recv? */
static bool may_be_gone(const kmodel *m, double op_recv)
{
    if (!m->present)
        return true;
    if (m->exp_lo > 0 && op_recv >= m->exp_lo)
        return true;
    return evict_possible(m, op_recv);
}

/* Has its TTL surely run out before an operation sent at op_send? */
static bool surely_expired(const kmodel *m, double op_send)
{
    return m->exp_hi > 0 && op_send > m->exp_hi;
}

/* ---- Workers --------------------------------------------------------------------- */

typedef enum { OP_GET, OP_SET, OP_SETPX, OP_DEL, OP_MSET, OP_MGET, OP_EXPIRE } op_kind;

typedef struct {
    op_kind kind;
    int n; /* keys */
    int slot[MAX_MULTI];
    uint32_t gen[MAX_MULTI];
    long ttl_ms; /* SETPX, EXPIRE (seconds * 1000) */
} op;

typedef struct {
    int id;
    redisContext *c[PER_THREAD];
    kmodel *model; /* [PER_THREAD * slots] */
    uint64_t rng;
    double t_start, t_end;
    /* results */
    long long ops, cmds, mismatches, oom, errors, gets_hit, gets_miss;
    char first[4][256];
    char fatal[256]; /* an I/O error: the thread stopped (no cr_assert off the main thread) */
} worker;

static _Atomic bool stop_all;

static uint64_t wrand(worker *w)
{
    w->rng = mix(w->rng);
    return w->rng;
}

static long key_of(const worker *w, int ci, int slot)
{
    return (long)(w->id * PER_THREAD + ci) * SLOT_STRIDE + slot;
}

/* Count a mismatch; keep the text of the first few. */
static void mismatch(worker *w, long key, const char *detail)
{
    long long n = w->mismatches++;
    if (n < 4)
        snprintf(w->first[n], sizeof w->first[n], "key %ld: %s", key, detail);
}

/* A read saw the key with this reply element: check it, update the model. */
static void check_read(worker *w, int ci, int slot, const redisReply *e, double sent, double recv)
{
    kmodel *m = &w->model[ci * slots() + slot];
    long key = key_of(w, ci, slot);
    if (e->type == REDIS_REPLY_NIL) {
        w->gets_miss++;
        if (!may_be_gone(m, recv))
            mismatch(w, key, "nil, but it was written and cannot be gone");
        m->present = false;
        m->exp_lo = m->exp_hi = 0;
        return;
    }
    w->gets_hit++;
    if (e->type != REDIS_REPLY_STRING) {
        mismatch(w, key, "the reply is not a bulk string");
        return;
    }
    char want[VMAX + 1];
    if (!m->present || m->gen == 0) {
        mismatch(w, key, "present after it was deleted or seen gone");
        return;
    }
    size_t wl = value_of(key, m->gen, want);
    if (e->len != wl || memcmp(e->str, want, wl) != 0) {
        char got[96], head[17];
        size_t hl = e->len < 16 ? e->len : 16;
        for (size_t i = 0; i < hl; i++)
            head[i] = e->str[i] >= 32 && e->str[i] < 127 ? e->str[i] : '.';
        head[hl] = '\0';
        snprintf(got, sizeof got, "value '%s' (%zu bytes) is not the last write (gen %u)", head,
                 e->len, m->gen);
        mismatch(w, key, got);
        return;
    }
    if (surely_expired(m, sent)) {
        mismatch(w, key, "still there after its TTL ran out");
        return;
    }
    if (sent > m->seen)
        m->seen = sent;
}

static void apply_write(worker *w, int ci, int slot, uint32_t gen, long ttl_ms, double sent,
                        double recv)
{
    kmodel *m = &w->model[ci * slots() + slot];
    m->gen = gen;
    m->present = true;
    m->seen = sent;
    if (ttl_ms > 0) {
        m->exp_lo = sent + (double)ttl_ms / 1000.0 - TTL_SLACK;
        m->exp_hi = recv + (double)ttl_ms / 1000.0 + TTL_SLACK;
    } else {
        m->exp_lo = m->exp_hi = 0;
    }
}

/* The mix for the current phase: percentages of GET, SET, SETPX, DEL, MSET,
 * MGET, EXPIRE. */
static const int mixes[2][7] = {
    {25, 25, 15, 5, 10, 10, 10}, /* growth, eviction, regrowth */
    {20, 3, 2, 40, 0, 20, 15},   /* drain */
};

static int phase_of(double f)
{
    return f >= 0.55 && f < 0.8 ? 1 : 0;
}

static void pick_op(worker *w, op *o, int phase, int ci)
{
    int r = (int)(wrand(w) % 100), k = 0;
    for (int acc = 0; k < 7; k++) {
        acc += mixes[phase][k];
        if (r < acc)
            break;
    }
    o->kind = (op_kind)(k < 7 ? k : 0);
    o->n = (o->kind == OP_MSET || o->kind == OP_MGET) ? 2 + (int)(wrand(w) % (MAX_MULTI - 1)) : 1;
    for (int i = 0; i < o->n; i++) {
        int s;
        bool dup;
        do { /* distinct keys, so the model's order within a command is moot */
            s = (int)(wrand(w) % (uint64_t)slots());
            dup = false;
            for (int j = 0; j < i; j++)
                dup |= o->slot[j] == s;
        } while (dup);
        o->slot[i] = s;
        kmodel *m = &w->model[ci * slots() + s];
        o->gen[i] = m->gen + 1;
    }
    o->ttl_ms = o->kind == OP_SETPX    ? 50 + (long)(wrand(w) % 1450)
                : o->kind == OP_EXPIRE ? 1000 * (1 + (long)(wrand(w) % 2))
                                       : 0;
}

static bool append_op(worker *w, int ci, const op *o)
{
    redisContext *c = w->c[ci];
    const char *argv[2 + 2 * MAX_MULTI];
    size_t lens[2 + 2 * MAX_MULTI];
    char keys[MAX_MULTI][24], vals[MAX_MULTI][VMAX + 1], ttl[24];
    int argc = 0;
    static const char *const names[] = {"GET", "SET", "SET", "DEL", "MSET", "MGET", "EXPIRE"};
    argv[argc] = names[o->kind];
    lens[argc++] = strlen(names[o->kind]);
    for (int i = 0; i < o->n; i++) {
        long key = key_of(w, ci, o->slot[i]);
        argv[argc] = keys[i];
        lens[argc++] = (size_t)snprintf(keys[i], sizeof keys[i], "%ld", key);
        if (o->kind == OP_SET || o->kind == OP_SETPX || o->kind == OP_MSET) {
            argv[argc] = vals[i];
            lens[argc++] = value_of(key, o->gen[i], vals[i]);
        }
    }
    if (o->kind == OP_SETPX) {
        argv[argc] = "PX";
        lens[argc++] = 2;
    }
    if (o->kind == OP_SETPX || o->kind == OP_EXPIRE) {
        argv[argc] = ttl;
        lens[argc++] = (size_t)snprintf(ttl, sizeof ttl, "%ld",
                                        o->kind == OP_EXPIRE ? o->ttl_ms / 1000 : o->ttl_ms);
    }
    return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK;
}

static bool is_oom(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "OOM", 3) == 0;
}

static void apply_reply(worker *w, int ci, const op *o, const redisReply *r, double sent,
                        double recv)
{
    w->cmds++;
    w->ops += o->n;
    if (r->type == REDIS_REPLY_ERROR) {
        /* A refused write changed nothing. */
        if (is_oom(r) && o->kind != OP_GET && o->kind != OP_MGET)
            w->oom++;
        else {
            w->errors++;
            char msg[200];
            snprintf(msg, sizeof msg, "error reply '%.150s'", r->str);
            mismatch(w, key_of(w, ci, o->slot[0]), msg);
        }
        return;
    }
    switch (o->kind) {
    case OP_GET:
        check_read(w, ci, o->slot[0], r, sent, recv);
        break;
    case OP_MGET:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)o->n) {
            mismatch(w, key_of(w, ci, o->slot[0]), "MGET reply shape");
            break;
        }
        for (int i = 0; i < o->n; i++)
            check_read(w, ci, o->slot[i], r->element[i], sent, recv);
        break;
    case OP_SET:
    case OP_SETPX:
    case OP_MSET:
        if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) {
            mismatch(w, key_of(w, ci, o->slot[0]), "write not OK");
            break;
        }
        for (int i = 0; i < o->n; i++)
            apply_write(w, ci, o->slot[i], o->gen[i], o->kind == OP_SETPX ? o->ttl_ms : 0, sent,
                        recv);
        break;
    case OP_DEL: {
        kmodel *m = &w->model[ci * slots() + o->slot[0]];
        long key = key_of(w, ci, o->slot[0]);
        if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 1)
            mismatch(w, key, "DEL reply");
        else if (r->integer == 0 && !may_be_gone(m, recv))
            mismatch(w, key, "DEL found nothing, but it was there");
        else if (r->integer == 1 && (!m->present || surely_expired(m, sent)))
            mismatch(w, key, "DEL deleted a key that was gone");
        m->present = false;
        m->exp_lo = m->exp_hi = 0;
        break;
    }
    case OP_EXPIRE: {
        kmodel *m = &w->model[ci * slots() + o->slot[0]];
        long key = key_of(w, ci, o->slot[0]);
        if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 1) {
            mismatch(w, key, "EXPIRE reply");
        } else if (r->integer == 0) {
            if (!may_be_gone(m, recv))
                mismatch(w, key, "EXPIRE found nothing, but it was there");
            m->present = false;
            m->exp_lo = m->exp_hi = 0;
        } else if (!m->present || surely_expired(m, sent)) {
            mismatch(w, key, "EXPIRE found a key that was gone");
        } else {
            m->seen = sent > m->seen ? sent : m->seen;
            m->exp_lo = sent + (double)o->ttl_ms / 1000.0 - TTL_SLACK;
            m->exp_hi = recv + (double)o->ttl_ms / 1000.0 + TTL_SLACK;
        }
        break;
    }
    }
}

static bool fail(worker *w, const char *what, redisContext *c)
{
    snprintf(w->fatal, sizeof w->fatal, "%s: %s", what, c->errstr);
    atomic_store(&stop_all, true);
    return false;
}

/* One round: 1..MAX_PIPE commands on every connection, written, then read.
 * False (w->fatal set) on an I/O error. */
static bool round_trip(worker *w, int phase, bool verify_all, int verify_from)
{
    static _Thread_local op ops[PER_THREAD][MAX_PIPE];
    int depth[PER_THREAD];
    for (int ci = 0; ci < PER_THREAD; ci++) {
        depth[ci] = verify_all ? 1 : 1 + (int)(wrand(w) % MAX_PIPE);
        for (int d = 0; d < depth[ci]; d++) {
            op *o = &ops[ci][d];
            if (verify_all) {
                /* The final pass: MGET MAX_MULTI consecutive slots. */
                o->kind = OP_MGET;
                o->n = 0;
                for (int s = verify_from; s < verify_from + MAX_MULTI && s < slots(); s++)
                    o->slot[o->n++] = s;
            } else {
                pick_op(w, o, phase, ci);
                /* Two writes of one key in a round take consecutive generations. */
                for (int e = 0; e < d; e++)
                    for (int i = 0; i < o->n; i++)
                        for (int j = 0; j < ops[ci][e].n; j++)
                            if (ops[ci][e].slot[j] == o->slot[i] && ops[ci][e].gen[j] >= o->gen[i])
                                o->gen[i] = ops[ci][e].gen[j] + 1;
            }
            if (!append_op(w, ci, o))
                return fail(w, "append", w->c[ci]);
        }
    }
    double sent = h_now();
    for (int ci = 0; ci < PER_THREAD; ci++) {
        int done = 0;
        while (!done)
            if (redisBufferWrite(w->c[ci], &done) != REDIS_OK)
                return fail(w, "write", w->c[ci]);
    }
    for (int ci = 0; ci < PER_THREAD; ci++) {
        for (int d = 0; d < depth[ci]; d++) {
            redisReply *r = NULL;
            if (redisGetReply(w->c[ci], (void **)&r) != REDIS_OK)
                return fail(w, "read", w->c[ci]);
            apply_reply(w, ci, &ops[ci][d], r, sent, h_now());
            freeReplyObject(r);
        }
    }
    return true;
}

static void *work(void *arg)
{
    worker *w = arg;
    double span = w->t_end - w->t_start;
    while (!atomic_load(&stop_all) && h_now() < w->t_end) {
        double f = (h_now() - w->t_start) / span;
        if (!round_trip(w, phase_of(f), false, 0))
            break;
    }
    return NULL;
}

/* ---- The admin client ----------------------------------------------------------------- */

typedef struct {
    redisContext *c;
    pid_t pid;
    double t_start, t_end;
    long long shrinks, shrink_async, rss_peak, maxmemory;
    char err[256];
} admin;

static bool admin_cmd(admin *a, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(a->c, fmt, ap);
    va_end(ap);
    bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (!ok && a->err[0] == '\0')
        snprintf(a->err, sizeof a->err, "%s: %s", what, r == NULL ? a->c->errstr : r->str);
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

static long long admin_info(admin *a, const char *section, const char *field)
{
    redisReply *r = redisCommand(a->c, "INFO %s", section);
    long long v = r != NULL && r->type == REDIS_REPLY_STRING ? h_info_num(r->str, field) : -1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

static void *administer(void *arg)
{
    admin *a = arg;
    double span = a->t_end - a->t_start;
    int stage = 0; /* 0: before eviction, 1: evicting, 2: after */
    double next_shrink = a->t_start + 0.25;
    while (!atomic_load(&stop_all) && h_now() < a->t_end && a->err[0] == '\0') {
        double now = h_now(), f = (now - a->t_start) / span;
        if (stage == 0 && f >= 0.3) {
            /* Half of what is used now: keys have to go. */
            long long used = admin_info(a, "memory", "used_memory");
            a->maxmemory = used / 2;
            admin_cmd(a, "policy", "CONFIG SET maxmemory-policy allkeys-random");
            atomic_store(&ev_start, h_now());
            admin_cmd(a, "maxmemory", "CONFIG SET maxmemory %lld", a->maxmemory);
            stage = 1;
        } else if (stage == 1 && f >= 0.55) {
            admin_cmd(a, "maxmemory 0", "CONFIG SET maxmemory 0");
            atomic_store(&ev_end, h_now());
            stage = 2;
        }
        if (now >= next_shrink) {
            if ((a->shrinks + a->shrink_async) % 2 == 0) {
                admin_cmd(a, "SHRINK", "SHRINK");
                a->shrinks++;
            } else {
                admin_cmd(a, "SHRINK ASYNC", "SHRINK ASYNC");
                a->shrink_async++;
            }
            next_shrink = now + 0.25;
        }
        long long rss = h_proc_bytes(a->pid, "VmRSS");
        a->rss_peak = rss > a->rss_peak ? rss : a->rss_peak;
        usleep(20000);
    }
    if (stage == 1) {
        admin_cmd(a, "maxmemory 0", "CONFIG SET maxmemory 0");
        atomic_store(&ev_end, h_now());
    }
    return NULL;
}

/* ---- The test ------------------------------------------------------------------------------ */

ITEST(soak, shadow_model_under_churn)
{
    double secs = soak_seconds();
    static worker ws[SOAK_THREADS];
    pthread_t th[SOAK_THREADS], ath;
    atomic_store(&stop_all, false);
    atomic_store(&ev_start, 0.0);
    atomic_store(&ev_end, 0.0);
    for (int t = 0; t < SOAK_THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].id = t;
        ws[t].rng = 0x50A4ULL + (uint64_t)t;
        ws[t].model = calloc((size_t)PER_THREAD * (size_t)slots(), sizeof(kmodel));
        cr_assert(ws[t].model != NULL);
        for (int ci = 0; ci < PER_THREAD; ci++)
            ws[t].c[ci] = h_connect();
    }
    /* connect() returns once the kernel has the connection; the server may
     * not have accepted every one yet: poll. */
    long long connected = 0;
    for (double until = h_now() + 10.0 * h_slow(); h_now() < until;) {
        char *cinfo = h_info(C, "clients");
        connected = h_info_num(cinfo, "connected_clients");
        free(cinfo);
        if (connected == SOAK_CONNS + 1)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(connected, SOAK_CONNS + 1);
    long long rss0 = h_proc_bytes(H.pid, "VmRSS");
    admin a = {.c = h_connect(), .pid = H.pid};
    double t0 = h_now();
    a.t_start = t0;
    a.t_end = t0 + secs;
    for (int t = 0; t < SOAK_THREADS; t++) {
        ws[t].t_start = t0;
        ws[t].t_end = t0 + secs;
        cr_assert_eq(pthread_create(&th[t], NULL, work, &ws[t]), 0);
    }
    cr_assert_eq(pthread_create(&ath, NULL, administer, &a), 0);
    for (int t = 0; t < SOAK_THREADS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&stop_all, true);
    pthread_join(ath, NULL);
    double took = h_now() - t0;
    for (int t = 0; t < SOAK_THREADS; t++)
        cr_assert(ws[t].fatal[0] == '\0', "worker %d: %s", t, ws[t].fatal);
    long long run_ops = 0;
    for (int t = 0; t < SOAK_THREADS; t++)
        run_ops += ws[t].ops;

    /* The final pass: every key once more (eviction is over, so a key may be
     * missing only if it was evicted earlier, deleted, or expired). */
    for (int t = 0; t < SOAK_THREADS; t++)
        for (int from = 0; from < slots(); from += MAX_MULTI)
            cr_assert(round_trip(&ws[t], 0, true, from), "final pass: %s", ws[t].fatal);

    long long ops = 0, cmds = 0, mism = 0, oom = 0, errs = 0, hit = 0, miss = 0;
    for (int t = 0; t < SOAK_THREADS; t++) {
        ops += ws[t].ops;
        cmds += ws[t].cmds;
        mism += ws[t].mismatches;
        oom += ws[t].oom;
        errs += ws[t].errors;
        hit += ws[t].gets_hit;
        miss += ws[t].gets_miss;
        for (int i = 0; i < 4 && i < ws[t].mismatches; i++)
            fprintf(stderr, "soak: mismatch (thread %d): %s\n", t, ws[t].first[i]);
    }
    char *st = h_info(C, "stats"), *tb = h_info(C, "table"), *ks = h_info(C, "keyspace");
    long long evicted = h_info_num(st, "evicted_keys"), expired = h_info_num(st, "expired_keys");
    long long grows = h_info_num(tb, "table_grows"), sauto = h_info_num(tb, "table_shrinks_auto");
    long long sman = h_info_num(tb, "table_shrinks_manual");
    long long keys = h_info_num(tb, "table_keys");
    long long rss_end = h_proc_bytes(H.pid, "VmRSS");
    fprintf(stderr,
            "soak: %.1f s, %d clients: %lld commands, %lld key operations (%.0f/s in the run, "
            "then %lld in the final pass), "
            "reads %lld hits / %lld misses; mismatches %lld, OOM refusals %lld, other errors "
            "%lld\n"
            "soak: evicted %lld (maxmemory %.1f MiB for part of the run), expired %lld, "
            "grows %lld, auto shrinks %lld, manual shrinks %lld (%lld SHRINK, %lld SHRINK "
            "ASYNC), keys at the end %lld\n"
            "soak: server RSS %.1f MiB with the clients connected, peak %.1f MiB, %.1f MiB at "
            "the end\n",
            took, SOAK_CONNS, cmds, ops, (double)run_ops / took, ops - run_ops, hit, miss, mism,
            oom, errs, evicted, (double)a.maxmemory / MIB, expired, grows, sauto, sman, a.shrinks,
            a.shrink_async, keys, (double)rss0 / MIB, (double)a.rss_peak / MIB,
            (double)rss_end / MIB);
    free(st);
    free(tb);
    free(ks);
    cr_assert(a.err[0] == '\0', "admin: %s", a.err);
    cr_assert_eq(mism, 0, "%lld mismatches (the first are printed above)", mism);
    cr_assert_eq(errs, 0, "%lld unexpected error replies", errs);
    cr_assert(evicted > 0, "nothing was evicted");
    cr_assert(expired > 0, "nothing expired");
    cr_assert(grows > 0, "the table never grew");
    cr_assert(sauto + sman > 0, "the table never shrank");
    for (int t = 0; t < SOAK_THREADS; t++) {
        for (int ci = 0; ci < PER_THREAD; ci++)
            redisFree(ws[t].c[ci]);
        free(ws[t].model);
    }
    redisFree(a.c);
}
