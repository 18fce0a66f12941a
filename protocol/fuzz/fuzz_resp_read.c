/*
 * fuzz_resp_read.c - libFuzzer target for resp_read with property checks.
 *
 * The input is a byte stream from one connection. It is parsed the way conn
 * does: drop `consumed` bytes on OK, grow argv on ARGV_SMALL, stop on
 * INCOMPLETE or an error. Checked with abort() on every call:
 *   - OK: 0 < consumed <= len, argc <= argv_cap and <= RESP_MAX_ARGS, every
 *     view inside the input or inside scratch; an inline line without
 *     quotes keeps every NUL byte in its arguments;
 *   - not OK: consumed == 0; INCOMPLETE: need > len; ARGV_SMALL: argc >
 *     argv_cap and <= RESP_MAX_ARGS.
 * Then the same stream is delivered in two pieces, cut at a few points
 * (as if the second read() came later): the requests must be the same, in
 * the same order, with the same final status; and every INCOMPLETE seen on
 * the way must have a need no larger than the request's real length.
 *
 * Buffers are heap copies of exactly the bytes a call may see, so ASan flags
 * any read past len.
 */
#include "resp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* argv starts small so ARGV_SMALL is exercised on ordinary inputs. */
#define FUZZ_ARGV_START 2u

/* Records of one run: per request a hash of its argv, plus the end status. */
#define FUZZ_MAX_REQS 4096u

typedef struct {
    size_t nreq;
    uint64_t hash[FUZZ_MAX_REQS];
    size_t end_off[FUZZ_MAX_REQS]; /* stream offset just past each request */
    resp_status final;
    size_t final_off;
} run_log;

static resp_view *g_argv;
static size_t g_cap;
static char *g_scratch;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void ensure_cap(size_t want)
{
    if (want <= g_cap)
        return;
    resp_view *nv = realloc(g_argv, want * sizeof *nv);
    CHECK(nv != NULL);
    g_argv = nv;
    g_cap = want;
}

static void reset_argv(void)
{
    free(g_argv);
    g_argv = malloc(FUZZ_ARGV_START * sizeof *g_argv);
    g_cap = FUZZ_ARGV_START;
}

/* An inline line without quotes (so without escapes) keeps every NUL byte
 * in its arguments: NUL neither ends the line nor separates arguments, so a
 * request cannot silently name other bytes than the client sent. */
static void check_inline_keeps_nul(const char *buf, const resp_request *req)
{
    size_t line = req->consumed, nul_in = 0, nul_out = 0;
    for (size_t i = 0; i < line; i++) {
        if (buf[i] == '"' || buf[i] == '\'')
            return;
        nul_in += buf[i] == '\0';
    }
    for (size_t a = 0; a < req->argc; a++)
        for (size_t i = 0; i < req->argv[a].len; i++)
            nul_out += req->argv[a].ptr[i] == '\0';
    CHECK(nul_in == nul_out);
}

/* One resp_read with all per-call properties checked. buf is an exact-size
 * heap block of len bytes. */
static resp_status checked_read(const char *buf, size_t len, resp_request *req)
{
    req->argv = g_argv;
    req->argv_cap = g_cap;
    req->scratch = g_scratch;
    resp_status st = resp_read(buf, len, req);
    switch (st) {
    case RESP_OK:
        CHECK(req->consumed > 0 && req->consumed <= len);
        CHECK(req->argc <= req->argv_cap && req->argc <= RESP_MAX_ARGS);
        for (size_t i = 0; i < req->argc; i++) {
            const resp_view *v = &req->argv[i];
            bool in_buf = v->ptr >= buf && v->len <= len && v->ptr <= buf + len - v->len;
            bool in_scratch = v->ptr >= g_scratch && v->len <= RESP_INLINE_MAX &&
                              v->ptr <= g_scratch + RESP_INLINE_MAX - v->len;
            CHECK(in_buf || in_scratch);
            /* A multibulk view lies within the consumed bytes. */
            if (buf[0] == '*')
                CHECK(in_buf && v->ptr + v->len <= buf + req->consumed);
        }
        if (buf[0] != '*')
            check_inline_keeps_nul(buf, req);
        break;
    case RESP_INCOMPLETE:
        CHECK(req->consumed == 0);
        CHECK(req->need > len);
        break;
    case RESP_ARGV_SMALL:
        CHECK(req->consumed == 0);
        CHECK(req->argc > req->argv_cap && req->argc <= RESP_MAX_ARGS);
        break;
    default: {
        CHECK(req->consumed == 0);
        char text[128];
        resp_strerror(st, req, text, sizeof text);
        CHECK(text[0] != '\0');
        break;
    }
    }
    return st;
}

static uint64_t hash_request(const resp_request *req)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &req->argc, sizeof req->argc);
    for (size_t i = 0; i < req->argc; i++) {
        h = fnv(h, &req->argv[i].len, sizeof req->argv[i].len);
        h = fnv(h, req->argv[i].ptr, req->argv[i].len);
    }
    return h;
}

/* Parse stream[0..avail) from *off on, like a connection, logging requests.
 * Returns the stopping status; *off is left at the first unparsed byte.
 * If need_out is non-NULL, it gets the need of a final INCOMPLETE. */
static resp_status drain(const uint8_t *stream, size_t avail, size_t *off, run_log *log,
                         size_t *need_out)
{
    for (;;) {
        size_t len = avail - *off;
        char *buf = malloc(len ? len : 1);
        CHECK(buf != NULL);
        if (len)
            memcpy(buf, stream + *off, len);
        resp_request req;
        memset(&req, 0xa5, sizeof req);
        resp_status st = checked_read(buf, len, &req);
        if (st == RESP_ARGV_SMALL) {
            ensure_cap(req.argc);
            st = checked_read(buf, len, &req);
            /* The same bytes with enough room must now parse. */
            CHECK(st == RESP_OK);
        }
        if (st == RESP_OK) {
            if (log->nreq < FUZZ_MAX_REQS) {
                log->hash[log->nreq] = hash_request(&req);
                log->end_off[log->nreq] = *off + req.consumed;
            }
            log->nreq++;
            *off += req.consumed;
            free(buf);
            continue;
        }
        if (st == RESP_INCOMPLETE && need_out != NULL)
            *need_out = *off + req.need; /* as a stream offset */
        free(buf);
        return st;
    }
}

static run_log whole, split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_scratch == NULL) {
        g_scratch = malloc(RESP_INLINE_MAX);
        CHECK(g_scratch != NULL);
    }

    /* The whole stream at once. */
    reset_argv();
    memset(&whole, 0, sizeof whole);
    size_t off = 0;
    whole.final = drain(data, size, &off, &whole, NULL);
    whole.final_off = off;

    /* Cut points: a third, the middle, and one derived from the content. */
    size_t cuts[3] = {size / 3, size / 2, 0};
    if (size > 0)
        cuts[2] = (size_t)(fnv(7, data, size) % size);

    for (size_t c = 0; c < 3; c++) {
        size_t cut = cuts[c];
        reset_argv();
        memset(&split, 0, sizeof split);
        size_t soff = 0;
        size_t need = 0;
        resp_status st = drain(data, cut, &soff, &split, &need);
        size_t first_nreq = split.nreq;
        bool was_incomplete = st == RESP_INCOMPLETE;
        if (!was_incomplete) {
            /* An error on a prefix must be the same error on the whole. */
            CHECK(st == whole.final && soff == whole.final_off);
            CHECK(split.nreq == whole.nreq);
        } else {
            st = drain(data, size, &soff, &split, NULL);
            CHECK(st == whole.final && soff == whole.final_off);
            CHECK(split.nreq == whole.nreq);
            /* need was a lower bound: the request that was cut ends at or
             * after it (if it completed at all). */
            if (first_nreq < whole.nreq && first_nreq < FUZZ_MAX_REQS)
                CHECK(need <= whole.end_off[first_nreq]);
        }
        size_t n = split.nreq < FUZZ_MAX_REQS ? split.nreq : FUZZ_MAX_REQS;
        for (size_t i = 0; i < n; i++) {
            CHECK(split.hash[i] == whole.hash[i]);
            CHECK(split.end_off[i] == whole.end_off[i]);
        }
    }
    return 0;
}
