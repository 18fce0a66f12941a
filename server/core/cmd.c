/*
 * cmd.c - the bottom of layer 2: replies, argument and key parsing, the
 * clocks and the error counters every command group shares. See cmd.h.
 *
 * Error wording follows Redis 7 wherever Redis has the same error; the few
 * errors of ebb's own (invalid key, value too long, namespace cap) are
 * defined once here.
 */
#include "cmd.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

void cmd_reply_error(cmd_server *s, cmd_client *c, const char *msg)
{
    STAT_INC(&s->st, total_error_replies);
    cmd_count_error(s, msg);
    resp_add_error(&c->out, msg);
}

void cmd_reply_errorf(cmd_server *s, cmd_client *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cmd_reply_error(s, c, msg);
}

const char ERR_SYNTAX[] = "ERR syntax error";
const char ERR_NOT_INT[] = "ERR value is not an integer or out of range";
const char ERR_OOM[] = "ERR out of memory";

const char *cmd_quote(char *dst, const resp_view *v, size_t max, bool ellipsis)
{
    assert(max <= CMD_QUOTE_MAX);
    size_t n = v->len < max ? v->len : max, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (v->ptr[i] == '\0') {
            dst[d++] = '\\';
            dst[d++] = '0';
        } else {
            dst[d++] = v->ptr[i];
        }
    }
    if (ellipsis && v->len > max) {
        memcpy(dst + d, "...", 3);
        d += 3;
    }
    dst[d] = '\0';
    assert(d < CMD_QUOTE_BUF);
    return dst;
}

static void reply_bad_key(cmd_server *s, cmd_client *c, const resp_view *k)
{
    char q[CMD_QUOTE_BUF];
    cmd_reply_errorf(s, c, "ERR invalid key '%s': expected an integer or namespace:integer",
                     cmd_quote(q, k, CMD_QUOTE_SHORT, true));
}

void cmd_reply_value_too_long(cmd_server *s, cmd_client *c, size_t len)
{
    cmd_reply_errorf(s, c, "ERR value is %zu bytes; the maximum is %u", len, TABLE_VALUE_MAX);
}

void cmd_reply_wrong_arity(cmd_server *s, cmd_client *c, const char *fullname)
{
    cmd_reply_errorf(s, c, "ERR wrong number of arguments for '%s' command", fullname);
}

bool cmd_parse_key(cmd_server *s, cmd_client *c, const resp_view *v, db_key *k)
{
    if (db_parse_key(v->ptr, v->len, k))
        return true;
    reply_bad_key(s, c, v);
    return false;
}

bool cmd_parse_keys(cmd_server *s, cmd_client *c, const cmd_request *req, size_t first, size_t step,
                    db_key *keys)
{
    for (size_t i = first, j = 0; i < req->argc; i += step, j++)
        if (!cmd_key_arg(s, c, req, i, &keys[j]))
            return false;
    return true;
}

table *cmd_write_table(cmd_server *s, cmd_client *c, const db_key *k)
{
    table *t;
    switch (db_table(s->db, k->ns, k->nslen, true, &t)) {
    case DB_OK:
        return t;
    case DB_NS_LIMIT:
        cmd_reply_errorf(
            s, c, "ERR too many namespaces: creating '%.*s' would pass max-namespaces (%lld)",
            (int)k->nslen, k->ns, s->cfg.max_namespaces.num);
        return NULL;
    case DB_NO_NAMESPACE:
    case DB_NOMEM:
        break;
    }
    STAT_INC(&s->st, unexpected_error_replies);
    cmd_reply_error(s, c, ERR_OOM);
    return NULL;
}

/* Store; replies the error and returns false on failure. */
bool cmd_store(cmd_server *s, cmd_client *c, table *t, int64_t id, const void *val, size_t len,
               int64_t expire_at, bool keep_ttl)
{
    assert(len <= TABLE_VALUE_MAX);
    if (table_put(t, id, val, len, expire_at, keep_ttl, NULL) == TABLE_OK)
        return true;
    STAT_INC(&s->st, unexpected_error_replies);
    cmd_reply_error(s, c, ERR_OOM);
    return false;
}

/* Redis's string2ll: optional '-', no '+', no leading zeros, no spaces, no
 * overflow. The strictness matters: INCR must refuse "01" as Redis does. */
bool cmd_parse_ll(const char *p, size_t len, long long *out)
{
    if (len == 0 || len > 20)
        return false;
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return false;
    }
    if (p[i] < '1' || p[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return false;
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

bool cmd_arg_ll(cmd_server *s, cmd_client *c, const resp_view *v, long long *out)
{
    if (cmd_parse_ll(v->ptr, v->len, out))
        return true;
    cmd_reply_error(s, c, ERR_NOT_INT);
    return false;
}

bool cmd_arg_is(const resp_view *v, const char *word)
{
    size_t n = strlen(word);
    return v->len == n && strncasecmp(v->ptr, word, n) == 0;
}

void cmd_reply_help(cmd_client *c, const char *const *lines)
{
    size_t n = 0;
    while (lines[n] != NULL)
        n++;
    resp_add_array(&c->out, n);
    for (size_t i = 0; i < n; i++)
        resp_add_simple(&c->out, lines[i]);
}

void cmd_reply_text(cmd_client *c, const char *p, size_t n)
{
    resp_add_verbatim(&c->out, "txt", p, n);
}

/* The kept buffer of parsed keys (cmd_server.keybuf). */
struct cmd_keybuf {
    db_key *keys;
    size_t cap;
};

bool cmd_keybuf_init(cmd_server *s)
{
    s->keybuf = calloc(1, sizeof *s->keybuf);
    return s->keybuf != NULL;
}

void cmd_keybuf_free(cmd_server *s)
{
    if (s->keybuf != NULL)
        free(s->keybuf->keys);
    free(s->keybuf);
    s->keybuf = NULL;
}

size_t cmd_keybuf_cap(const cmd_server *s)
{
    return s->keybuf->cap;
}

/* Room for the parsed keys of a multi-key command. Small commands use the
 * stack; up to KEYS_KEPT keys the server's keybuf, grown to the largest
 * such command and then reused (at most 96 KiB held); past that, one
 * malloc per command, freed after it, so one huge MGET does not pin its
 * buffer. Handlers do not nest, so one keybuf serves every command. */
#define KEYS_KEPT 4096

db_key *cmd_keys_alloc(cmd_server *s, cmd_client *c, size_t n, db_key *stackbuf)
{
    if (n <= CMD_KEYS_ON_STACK)
        return stackbuf;
    if (n <= s->keybuf->cap)
        return s->keybuf->keys;
    if (n <= KEYS_KEPT) {
        size_t cap = s->keybuf->cap * 2 > n ? s->keybuf->cap * 2 : n;
        cap = cap < KEYS_KEPT ? cap : KEYS_KEPT;
        db_key *k = realloc(s->keybuf->keys, cap * sizeof *k);
        if (k != NULL) {
            s->keybuf->keys = k;
            s->keybuf->cap = cap;
            return k;
        }
    } else {
        db_key *k = malloc(n * sizeof *k);
        if (k != NULL)
            return k;
    }
    cmd_reply_error(s, c, ERR_OOM);
    return NULL;
}

void cmd_keys_free(cmd_server *s, db_key *k, db_key *stackbuf)
{
    if (k != stackbuf && k != s->keybuf->keys)
        free(k);
}

/* Wall clock in ns: one vDSO call gives both the TTL clock and the start
 * (or end) of a service time. */
int64_t cmd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cmd_note_stall(cmd_server *s, const char *what, const char *detail, int64_t us)
{
    if (us <= s->stall_max_us)
        return;
    s->stall_max_us = us;
    snprintf(s->stall_cause, sizeof s->stall_cause, "%s%s%s", what, detail != NULL ? ":" : "",
             detail != NULL ? detail : "");
}

int64_t cmd_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void cmd_count_error(cmd_server *s, const char *msg)
{
    /* As Redis: the code is the first word, if a space (CR and LF are sent
     * as spaces) ends it within the first 31 bytes; otherwise ERR. */
    const char *code = msg;
    size_t n = 0;
    while (n < 31 && msg[n] != '\0' && msg[n] != ' ' && msg[n] != '\r' && msg[n] != '\n')
        n++;
    if (n == 31 || msg[n] == '\0') {
        code = "ERR";
        n = 3;
    }
    /* Kept sorted by name, the order Redis lists them in. */
    size_t lo = 0, hi = s->nerrorstats;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = s->errorstats[mid].name;
        size_t len = strlen(name);
        int c = memcmp(name, code, len < n ? len : n);
        if (c == 0 && len == n) {
            s->errorstats[mid].count++;
            return;
        }
        if (c < 0 || (c == 0 && len < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->nerrorstats == CMD_ERRORSTATS_MAX)
        return; /* as Redis: new kinds past the cap are not tracked */
    memmove(&s->errorstats[lo + 1], &s->errorstats[lo],
            (s->nerrorstats - lo) * sizeof s->errorstats[0]);
    s->nerrorstats++;
    cmd_errorstat *e = &s->errorstats[lo];
    memcpy(e->name, code, n);
    e->name[n] = '\0';
    e->count = 1;
}

uint64_t cmd_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size = 0, res = 0;
    int n = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    return n == 2 ? res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

bool cmd_expire_option(const resp_view *v, cmd_expire_unit *unit)
{
    if (cmd_arg_is(v, "ex"))
        *unit = EXPIRE_SEC;
    else if (cmd_arg_is(v, "px"))
        *unit = EXPIRE_MS;
    else if (cmd_arg_is(v, "exat"))
        *unit = EXPIRE_AT_SEC;
    else if (cmd_arg_is(v, "pxat"))
        *unit = EXPIRE_AT_MS;
    else
        return false;
    return true;
}

/* Absolute ms for value v in unit, or false on overflow. Any sign allowed. */
bool cmd_expire_abs_ms(cmd_server *s, long long v, cmd_expire_unit unit, int64_t *at)
{
    bool secs = unit == EXPIRE_SEC || unit == EXPIRE_AT_SEC;
    if (secs && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000))
        return false;
    long long ms = secs ? v * 1000 : v;
    if (unit == EXPIRE_SEC || unit == EXPIRE_MS) {
        if ((ms > 0 && s->now_ms > LLONG_MAX - ms) || (ms < 0 && s->now_ms < LLONG_MIN - ms))
            return false;
        ms += s->now_ms;
    }
    *at = ms;
    return true;
}

bool cmd_expire_time(cmd_server *s, cmd_client *c, const resp_view *v, cmd_expire_unit unit,
                     const char *cmdname, int64_t *at)
{
    long long n;
    if (!cmd_arg_ll(s, c, v, &n))
        return false;
    if (n <= 0 || !cmd_expire_abs_ms(s, n, unit, at) || *at <= 0) {
        cmd_reply_errorf(s, c, "ERR invalid expire time in '%s' command", cmdname);
        return false;
    }
    return true;
}
