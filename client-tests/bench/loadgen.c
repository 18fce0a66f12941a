/*
 * ebb-loadgen - a pipelined load generator for the peak-then-drain, the
 * throughput, the stall and the hit-ratio benchmarks.
 *
 *   ebb-loadgen MODE [--host H] [--port P] [--proto resp|memcache]
 *               [--keys N] [--first F] [--prefix S] [--width W] [--batch B]
 *               [--timeout SEC] [--value-len V|mixed|skewed] [--gen G]
 *               [--ops N] [--conns C] [--depth D] [--get-pct G] [--seed S]
 *               [--rate R]                                               (mix)
 *               [--ops N] [--conns C] [--depth D] [--seed S] [--zipf-s S]
 *               [--warmup-ops W]                                         (zipf)
 *               [--pxat MS]                                              (load)
 *               [--server-pid PID] [--monitor ebb|redis|none] [--gap-us U]
 *               [--window-ms W]                                          (probe)
 *
 * Modes (keys are PREFIX + decimal integer, F .. F+N-1; default "key:0" ..;
 * with --width W the integer is zero-padded to W digits, as redis-benchmark's
 * __rand_int__ is to 12: "key:000000000042"):
 *   load    SET every key to its value (V bytes, default 128, derived from the
 *           key); every reply must be OK/STORED. With --value-len mixed each
 *           key's length is drawn from 0..128 uniformly, with skewed 80 % from
 *           0..31 and 20 % from 32..128, both from the key and --gen G (so a
 *           new generation gives every key a new length; verify uses the same)
 *   verify  GET every key; the value must match byte for byte
 *   drain   DEL/delete every key one by one; each must have existed (:1/DELETED)
 *   gone    GET every key; none may exist any more (nil/END)
 *   ping    one PING (RESP) or "version" (memcached); exit 0 on a good reply
 *   mix     OPS requests over C connections, each key drawn uniformly from
 *           the range, G % GETs and the rest SETs of the key's value;
 *           each connection keeps D requests in flight as one pipelined batch
 *           and sends the next batch when every reply of this one is in. A GET
 *           miss is counted, not an error (the range may be partly loaded).
 *           With --rate R, request i goes out no earlier than i / R s after
 *           the start (a steady background load; 0, the default: at once).
 *   zipf    cache-aside over keys of Zipf-distributed popularity (see
 *           run_zipf): each request GETs a key drawn with probability
 *           proportional to rank^-S (S = --zipf-s, default 0.99) over the N
 *           keys, rank to key through a fixed permutation, so the hot keys
 *           are scattered over the range; a GET that misses is followed by
 *           a SET of the key's value in the connection's next batch (as an
 *           application that fills its cache from a database would). C
 *           connections keep D requests in flight as mix's do. First W GETs
 *           (--warmup-ops) that are not counted, to fill the cache, then
 *           OPS GETs measured. Deterministic from --seed (but for the
 *           order in which the server sees the connections' batches).
 *   probe   what one client waits while the server works (see run_probe):
 *           PING and GET of key F, one at a time, U µs apart (default 500),
 *           until stdin says "end"; "phase NAME" lines on stdin cut the run
 *           into phases, each reported on stdout when the next begins.
 * With --pxat MS, load's SETs carry PXAT MS (RESP only): every key expires at
 * that absolute time (ms since the epoch).
 *
 * Protocols: RESP2 multibulk (ebb, redis) and memcached's text protocol.
 * Commands go out in batches of B (default 1000): a batch is written while
 * its replies are read (poll on both directions, so neither side can block the
 * other on a full socket buffer), and the next batch starts once every reply
 * of this one has been checked. Plain sockets, libc only (and libm, for
 * zipf's sampler).
 *
 * Output: one line on stdout, "MODE N keys: T s, R ops/s, E errors, M
 * mismatches, batch ms p50 A p99 B max C, payload P B" (P: the keys'
 * bytes plus their values' bytes; the batch time is from a batch's first
 * byte out to its last reply in: a stall in the server, e.g. a table growth
 * that is not incremental, shows as a max far above the p50); mix prints
 * "mix N ops: T s, R ops/s, E errors, M misses, G gets, S sets, latency ms
 * p50 A p99 B max C" (per batch of D on one connection; at D = 1, of single
 * requests, like redis-benchmark's at -P 1); zipf prints "zipf N gets: T s,
 * R ops/s, E errors, H hits, M misses, hit ratio X %, S sets, latency ms
 * p50 A p99 B max C, warm-up W gets hit ratio Y %" (N, H, M, X, S, R and the
 * latencies for the measured part only; R counts GETs and SETs). The first
 * few problems are described on stderr.
 * Exit status: 0 all good; 1 an error reply or a mismatch; 2 usage;
 * 3 connection, I/O, timeout or protocol failure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

/* Values are --value-len bytes, at most ebb's maximum (default), or of a
 * length drawn per key (LEN_MIXED, LEN_SKEWED) from the key and len_gen. */
#define VALUE_MAX 128
static size_t value_len = VALUE_MAX;
enum { LEN_FIXED, LEN_MIXED, LEN_SKEWED };
static int len_mode = LEN_FIXED;
static uint64_t len_gen;
/* Longest key we format: prefix + "-9223372036854775808". */
#define PREFIX_MAX 64
#define KEY_MAX (PREFIX_MAX + 24)
/* Read buffer: far more than one reply (at most ~KEY_MAX + VALUE_MAX + 40
 * bytes); compacted after each read, so it never needs to grow. */
#define INBUF_SIZE (1u << 20)
/* Problems described on stderr before going quiet (the counts stay exact). */
#define REPORT_MAX 5
/* mix: most connections and most requests in flight per connection. A full
 * batch of replies (D x ~140 bytes) then fits a connection's read buffer many
 * times over. */
#define MIX_CONNS_MAX 1000
#define MIX_DEPTH_MAX 1000
/* Widest zero padding of key numbers (--width). */
#define WIDTH_MAX 20

enum mode {
    MODE_LOAD,
    MODE_VERIFY,
    MODE_DRAIN,
    MODE_GONE,
    MODE_PING,
    MODE_MIX,
    MODE_PROBE,
    MODE_ZIPF
};
enum proto { PROTO_RESP, PROTO_MEMCACHE };

static const char *const mode_names[] = {"load", "verify", "drain", "gone",
                                         "ping", "mix",    "probe", "zipf"};

/* One parsed reply; text points into the read buffer (valid until the next
 * read). */
enum reply_type {
    R_STATUS, /* RESP +line */
    R_ERROR,  /* RESP -line */
    R_INT,    /* RESP :n */
    R_BULK,   /* RESP $n data, memcached VALUE ... data END */
    R_NIL,    /* RESP $-1, memcached END (miss) */
    R_LINE,   /* any other memcached line: STORED, DELETED, NOT_FOUND, ERROR ... */
};

typedef struct {
    enum reply_type type;
    const char *text; /* line without CRLF, or bulk data */
    size_t len;
    long long num;
} reply;

typedef struct {
    const char *host;
    const char *port;
    enum proto proto;
    enum mode mode;
    int64_t first;
    uint64_t keys;
    const char *prefix;
    int width; /* zero-pad key numbers to this many digits; 0: no padding */
    unsigned batch;
    int timeout_ms;
    /* mix and zipf */
    uint64_t ops;
    unsigned conns, depth, get_pct;
    uint64_t seed;
    uint64_t rate; /* requests per second in all; 0: as fast as replies come */
    /* zipf only */
    double zipf_s;
    uint64_t warmup_ops;
    /* load only: PXAT for every SET, 0 = none */
    int64_t pxat;
    /* probe only */
    const char *server_pid; /* NULL: no /proc figures, nothing corrected */
    const char *monitor;    /* "ebb", "redis" or "none" */
    unsigned gap_us, window_ms;
} options;

typedef struct {
    uint64_t errors;     /* error replies and replies of the wrong kind */
    uint64_t mismatches; /* wrong value, missing key, key that came back;
                            in mix, GET misses */
    unsigned reported;
} tally;

static void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ebb-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void report(tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(tally *t, const char *fmt, ...)
{
    if (t->reported >= REPORT_MAX)
        return;
    if (++t->reported == REPORT_MAX)
        fputs("ebb-loadgen: (further problems are counted, not shown)\n", stderr);
    va_list ap;
    va_start(ap, fmt);
    fputs("ebb-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: a fast, well-mixed sequence from any seed. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Length of key n's value (see --value-len). */
static size_t len_of(int64_t n)
{
    if (len_mode == LEN_FIXED)
        return value_len;
    uint64_t st = (uint64_t)n * 0x9E3779B97F4A7C15ull ^ (len_gen + 1) * 0xD1B54A32D192ED03ull;
    uint64_t r = splitmix64(&st);
    if (len_mode == LEN_MIXED)
        return (size_t)(r % (VALUE_MAX + 1));
    return r % 100 < 80 ? (size_t)((r >> 8) % 32) : 32 + (size_t)((r >> 8) % (VALUE_MAX - 31));
}

/* The value of key n: "v<n>." then printable bytes drawn from a generator
 * seeded with n, so every key has its own value and a value stored under the
 * wrong key is caught. len_of(n) bytes. */
static void make_value(int64_t n, char out[VALUE_MAX])
{
    size_t len = len_of(n);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char head[32];
    int hl = snprintf(head, sizeof head, "v%" PRId64 ".", n);
    uint64_t state = (uint64_t)n ^ 0x6562622D6C6F6164ull; /* "ebb-load" */
    uint64_t bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            bits = splitmix64(&state);
        out[i] = alphabet[bits & 63];
        bits >>= 8;
    }
    memcpy(out, head, (size_t)hl < len ? (size_t)hl : len);
}

/* ---- output buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void buf_reserve(buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        die(3, "out of memory");
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die(3, "vsnprintf failed");
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* RESP multibulk argument. */
static void resp_arg(buf *b, const char *s, size_t len)
{
    buf_printf(b, "$%zu\r\n", len);
    buf_add(b, s, len);
    buf_add(b, "\r\n", 2);
}

/* Key n as text: prefix, then n zero-padded to o->width digits. */
static int format_key(const options *o, int64_t n, char key[KEY_MAX])
{
    return snprintf(key, KEY_MAX, "%s%0*" PRId64, o->prefix, o->width, n);
}

/* Append the request for key n in the current mode. */
static void add_request(buf *b, const options *o, int64_t n)
{
    char key[KEY_MAX];
    int kl = format_key(o, n, key);
    char value[VALUE_MAX];

    if (o->proto == PROTO_RESP) {
        switch (o->mode) {
        case MODE_LOAD:
            make_value(n, value);
            if (o->pxat > 0) {
                char at[24];
                int al = snprintf(at, sizeof at, "%" PRId64, o->pxat);
                buf_add(b, "*5\r\n$3\r\nSET\r\n", 13);
                resp_arg(b, key, (size_t)kl);
                resp_arg(b, value, len_of(n));
                resp_arg(b, "PXAT", 4);
                resp_arg(b, at, (size_t)al);
                break;
            }
            buf_add(b, "*3\r\n$3\r\nSET\r\n", 13);
            resp_arg(b, key, (size_t)kl);
            resp_arg(b, value, len_of(n));
            break;
        case MODE_VERIFY:
        case MODE_GONE:
            buf_add(b, "*2\r\n$3\r\nGET\r\n", 13);
            resp_arg(b, key, (size_t)kl);
            break;
        case MODE_DRAIN:
            buf_add(b, "*2\r\n$3\r\nDEL\r\n", 13);
            resp_arg(b, key, (size_t)kl);
            break;
        case MODE_PING:
            buf_add(b, "*1\r\n$4\r\nPING\r\n", 14);
            break;
        case MODE_MIX:   /* built by add_mix_request */
        case MODE_ZIPF:  /* likewise */
        case MODE_PROBE: /* built by run_probe */
            break;
        }
        return;
    }
    switch (o->mode) {
    case MODE_LOAD:
        make_value(n, value);
        buf_printf(b, "set %s 0 0 %zu\r\n", key, len_of(n));
        buf_add(b, value, len_of(n));
        buf_add(b, "\r\n", 2);
        break;
    case MODE_VERIFY:
    case MODE_GONE:
        buf_printf(b, "get %s\r\n", key);
        break;
    case MODE_DRAIN:
        buf_printf(b, "delete %s\r\n", key);
        break;
    case MODE_PING:
        buf_add(b, "version\r\n", 9);
        break;
    case MODE_MIX:
    case MODE_ZIPF:
    case MODE_PROBE:
        break;
    }
}

/* mix: append a GET (is_get) or a SET of key n's value, in either protocol. */
static void add_mix_request(buf *b, const options *o, int64_t n, bool is_get)
{
    options one = *o;
    one.mode = is_get ? MODE_VERIFY : MODE_LOAD;
    add_request(b, &one, n);
}

/* ---- reply parsers: 1 complete (*used set), 0 incomplete, -1 protocol error ---- */

static const char *find_crlf(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return p + i;
    return NULL;
}

/* Strict decimal integer over exactly [s, s+len). */
static bool parse_ll(const char *s, size_t len, long long *out)
{
    bool neg = false;
    size_t i = 0;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len || len - i > 18)
        return false;
    long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static int parse_resp(const char *p, size_t len, size_t *used, reply *r)
{
    const char *eol = find_crlf(p, len);
    if (eol == NULL)
        return len > 64 * 1024 ? -1 : 0;
    size_t ll = (size_t)(eol - p); /* header line length, type byte included */
    if (ll == 0)
        return -1;
    switch (p[0]) {
    case '+':
    case '-':
        r->type = p[0] == '+' ? R_STATUS : R_ERROR;
        r->text = p + 1;
        r->len = ll - 1;
        *used = ll + 2;
        return 1;
    case ':':
        if (!parse_ll(p + 1, ll - 1, &r->num))
            return -1;
        r->type = R_INT;
        r->text = p + 1;
        r->len = ll - 1;
        *used = ll + 2;
        return 1;
    case '$': {
        long long n;
        if (!parse_ll(p + 1, ll - 1, &n) || n < -1)
            return -1;
        if (n == -1) {
            r->type = R_NIL;
            r->text = NULL;
            r->len = 0;
            *used = ll + 2;
            return 1;
        }
        size_t need = ll + 2 + (size_t)n + 2;
        if (need > INBUF_SIZE)
            return -1;
        if (len < need)
            return 0;
        if (p[need - 2] != '\r' || p[need - 1] != '\n')
            return -1;
        r->type = R_BULK;
        r->text = p + ll + 2;
        r->len = (size_t)n;
        *used = need;
        return 1;
    }
    default:
        /* Arrays, RESP3 types: never a reply to SET/GET/DEL/PING in RESP2. */
        return -1;
    }
}

static int parse_memcache(const char *p, size_t len, size_t *used, reply *r)
{
    const char *eol = find_crlf(p, len);
    if (eol == NULL)
        return len > 64 * 1024 ? -1 : 0;
    size_t ll = (size_t)(eol - p);
    if (ll == 3 && memcmp(p, "END", 3) == 0) {
        r->type = R_NIL;
        r->text = NULL;
        r->len = 0;
        *used = ll + 2;
        return 1;
    }
    if (ll > 6 && memcmp(p, "VALUE ", 6) == 0) {
        /* VALUE <key> <flags> <bytes> [<cas>] CRLF <data> CRLF END CRLF */
        const char *f = p + 6, *end = eol;
        const char *sp1 = memchr(f, ' ', (size_t)(end - f));
        if (sp1 == NULL)
            return -1;
        const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
        if (sp2 == NULL)
            return -1;
        const char *sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1));
        const char *bend = sp3 != NULL ? sp3 : end;
        long long n;
        if (!parse_ll(sp2 + 1, (size_t)(bend - sp2 - 1), &n) || n < 0)
            return -1;
        size_t data = ll + 2;
        size_t need = data + (size_t)n + 2 + 5;
        if (need > INBUF_SIZE)
            return -1;
        if (len < need)
            return 0;
        if (memcmp(p + data + (size_t)n, "\r\nEND\r\n", 7) != 0)
            return -1; /* one key per get: exactly one VALUE, then END */
        r->type = R_BULK;
        r->text = p + data;
        r->len = (size_t)n;
        *used = need;
        return 1;
    }
    r->type = R_LINE;
    r->text = p;
    r->len = ll;
    *used = ll + 2;
    return 1;
}

static bool text_is(const reply *r, const char *s)
{
    size_t n = strlen(s);
    return r->len == n && memcmp(r->text, s, n) == 0;
}

static bool is_error_reply(const reply *r)
{
    if (r->type == R_ERROR)
        return true;
    if (r->type != R_LINE)
        return false;
    return text_is(r, "ERROR") || (r->len >= 12 && memcmp(r->text, "CLIENT_ERROR", 12) == 0) ||
           (r->len >= 12 && memcmp(r->text, "SERVER_ERROR", 12) == 0);
}

static const char *type_name(enum reply_type t)
{
    switch (t) {
    case R_STATUS:
        return "status";
    case R_ERROR:
        return "error";
    case R_INT:
        return "integer";
    case R_BULK:
        return "value";
    case R_NIL:
        return "nil";
    case R_LINE:
        return "line";
    }
    return "?";
}

/* Judge the reply to key n's request. */
static void check_reply(const options *o, int64_t n, const reply *r, tally *t)
{
    const char *p = o->prefix;
    if (is_error_reply(r)) {
        t->errors++;
        report(t, "%s %s%" PRId64 ": error reply: %.*s", mode_names[o->mode], p, n,
               (int)(r->len > 200 ? 200 : r->len), r->text);
        return;
    }
    bool resp = o->proto == PROTO_RESP;
    switch (o->mode) {
    case MODE_LOAD:
        if (resp ? (r->type == R_STATUS && text_is(r, "OK"))
                 : (r->type == R_LINE && text_is(r, "STORED")))
            return;
        break;
    case MODE_VERIFY:
        if (r->type == R_NIL) {
            t->mismatches++;
            report(t, "verify %s%" PRId64 ": key is missing", p, n);
            return;
        }
        if (r->type == R_BULK) {
            char value[VALUE_MAX];
            make_value(n, value);
            if (r->len != len_of(n) || memcmp(r->text, value, r->len) != 0) {
                t->mismatches++;
                report(t, "verify %s%" PRId64 ": wrong value (%zu bytes) \"%.*s...\"", p, n, r->len,
                       (int)(r->len > 40 ? 40 : r->len), r->text);
            }
            return;
        }
        break;
    case MODE_DRAIN:
        if (resp ? (r->type == R_INT && r->num == 1) : (r->type == R_LINE && text_is(r, "DELETED")))
            return;
        if (resp ? (r->type == R_INT && r->num == 0)
                 : (r->type == R_LINE && text_is(r, "NOT_FOUND"))) {
            t->mismatches++;
            report(t, "drain %s%" PRId64 ": key was already gone", p, n);
            return;
        }
        break;
    case MODE_GONE:
        if (r->type == R_NIL)
            return;
        if (r->type == R_BULK) {
            t->mismatches++;
            report(t, "gone %s%" PRId64 ": key still exists", p, n);
            return;
        }
        break;
    case MODE_PING:
        if (resp ? (r->type == R_STATUS && text_is(r, "PONG"))
                 : (r->type == R_LINE && r->len >= 8 && memcmp(r->text, "VERSION ", 8) == 0))
            return;
        break;
    case MODE_MIX:   /* judged by check_mix_reply */
    case MODE_ZIPF:  /* likewise */
    case MODE_PROBE: /* judged by run_probe */
        break;
    }
    t->errors++;
    report(t, "%s %s%" PRId64 ": unexpected %s reply \"%.*s\"", mode_names[o->mode], p, n,
           type_name(r->type), (int)(r->len > 60 ? 60 : r->len), r->text ? r->text : "");
}

/* ---- connection ---- */

static int connect_to(const options *o)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0)
        die(3, "%s:%s: %s", o->host, o->port, gai_strerror(rc));
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        die(3, "connect %s:%s: %s", o->host, o->port, strerror(err));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die(3, "fcntl: %s", strerror(errno));
    return fd;
}

typedef struct {
    char *p;
    size_t start, end; /* unparsed bytes are p[start..end) */
} inbuf;

/* Send the batch in out and check its count replies, the first for key n0.
 * Writes and reads interleave (poll), so a server that answers while still
 * reading never deadlocks against us. */
static void run_batch(int fd, const options *o, const buf *out, int64_t n0, uint64_t count,
                      inbuf *in, tally *t)
{
    size_t sent = 0;
    uint64_t got = 0;
    while (got < count) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (sent < out->len)
            pfd.events |= POLLOUT;
        int pr = poll(&pfd, 1, o->timeout_ms);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            die(3, "poll: %s", strerror(errno));
        }
        if (pr == 0)
            die(3,
                "timeout: no progress for %d ms (%" PRIu64 " of %" PRIu64
                " replies of the batch at %s%" PRId64 ")",
                o->timeout_ms, got, count, o->prefix, n0);
        if ((pfd.revents & POLLOUT) && sent < out->len) {
            ssize_t w = write(fd, out->p + sent, out->len - sent);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                die(3, "write: %s", strerror(errno));
            if (w > 0)
                sent += (size_t)w;
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (in->start > 0) { /* compact: keep only the unparsed tail */
            memmove(in->p, in->p + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        ssize_t r = read(fd, in->p + in->end, INBUF_SIZE - in->end);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            die(3, "read: %s", strerror(errno));
        }
        if (r == 0)
            die(3,
                "server closed the connection after %" PRIu64 " of %" PRIu64
                " replies of the batch at %s%" PRId64,
                got, count, o->prefix, n0);
        in->end += (size_t)r;
        while (got < count) {
            reply rep = {0};
            size_t used = 0;
            int pr2 = o->proto == PROTO_RESP
                          ? parse_resp(in->p + in->start, in->end - in->start, &used, &rep)
                          : parse_memcache(in->p + in->start, in->end - in->start, &used, &rep);
            if (pr2 < 0)
                die(3, "protocol error in the reply for %s%" PRId64 ": \"%.*s\"", o->prefix,
                    n0 + (int64_t)got, (int)(in->end - in->start > 60 ? 60 : in->end - in->start),
                    in->p + in->start);
            if (pr2 == 0)
                break;
            check_reply(o, n0 + (int64_t)got, &rep, t);
            in->start += used;
            got++;
        }
    }
    if (in->end > in->start)
        die(3, "%zu unexpected bytes after the replies of the batch at %s%" PRId64,
            in->end - in->start, o->prefix, n0);
    in->start = in->end = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of the n sorted values. */
static double quantile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* ---- mix and zipf: several connections, pipelined batches ---- */

/* One connection of mix or zipf: its batch in flight and what each reply
 * answers. */
typedef struct {
    int fd;
    buf out;     /* the batch being sent */
    size_t sent; /* bytes of out written so far */
    inbuf in;
    unsigned count; /* requests in the batch */
    unsigned got;   /* replies checked so far */
    int64_t *keys;  /* key of each request of the batch */
    bool *is_get;   /* GET (true) or SET of each request */
    double started; /* when the batch's first byte went out */
    /* zipf only (NULL for mix): keys whose GET missed in this batch, to be
     * SET in the connection's next one; at most one per request. */
    int64_t *missed;
    unsigned nmissed;
} mix_conn;

/* The reply to a mix request for key n: a GET hits (a value of any 128 bytes:
 * other benchmarks may have overwritten it) or misses (counted); a SET says
 * OK / STORED. True when it was a GET that missed. */
static bool check_mix_reply(const options *o, int64_t n, bool is_get, const reply *r, tally *t)
{
    if (is_error_reply(r)) {
        t->errors++;
        report(t, "%s %s %s%" PRId64 ": error reply: %.*s", mode_names[o->mode],
               is_get ? "GET" : "SET", o->prefix, n, (int)(r->len > 200 ? 200 : r->len), r->text);
        return false;
    }
    bool resp = o->proto == PROTO_RESP;
    if (is_get) {
        if (r->type == R_NIL) {
            t->mismatches++;
            return true;
        }
        if (r->type == R_BULK && r->len == len_of(n))
            return false;
    } else if (resp ? (r->type == R_STATUS && text_is(r, "OK"))
                    : (r->type == R_LINE && text_is(r, "STORED"))) {
        return false;
    }
    t->errors++;
    report(t, "%s %s %s%" PRId64 ": unexpected %s reply \"%.*s\"", mode_names[o->mode],
           is_get ? "GET" : "SET", o->prefix, n, type_name(r->type),
           (int)(r->len > 60 ? 60 : r->len), r->text ? r->text : "");
    return false;
}

/* Connection c's batch of count requests (already in c->out, keys and
 * is_get) is ready to go. */
static void mix_batch_start(mix_conn *c, unsigned count)
{
    c->count = count;
    c->got = 0;
    c->sent = 0;
    c->started = now_s();
}

/* Read what connection c has and check the replies; true when its batch is
 * complete. Dies on EOF, I/O or protocol errors. */
static bool mix_read(mix_conn *c, const options *o, tally *t)
{
    inbuf *in = &c->in;
    if (in->start > 0) {
        memmove(in->p, in->p + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    ssize_t r = read(c->fd, in->p + in->end, INBUF_SIZE - in->end);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return false;
        die(3, "read: %s", strerror(errno));
    }
    if (r == 0)
        die(3, "server closed a connection after %u of %u replies of a batch", c->got, c->count);
    in->end += (size_t)r;
    while (c->got < c->count) {
        reply rep = {0};
        size_t used = 0;
        int pr = o->proto == PROTO_RESP
                     ? parse_resp(in->p + in->start, in->end - in->start, &used, &rep)
                     : parse_memcache(in->p + in->start, in->end - in->start, &used, &rep);
        if (pr < 0)
            die(3, "protocol error in a %s reply: \"%.*s\"", mode_names[o->mode],
                (int)(in->end - in->start > 60 ? 60 : in->end - in->start), in->p + in->start);
        if (pr == 0)
            break;
        int64_t n = c->keys[c->got];
        if (check_mix_reply(o, n, c->is_get[c->got], &rep, t) && c->missed != NULL)
            c->missed[c->nmissed++] = n;
        in->start += used;
        c->got++;
    }
    if (c->got < c->count)
        return false;
    if (in->end > in->start)
        die(3, "%zu unexpected bytes after the replies of a batch", in->end - in->start);
    in->start = in->end = 0;
    return true;
}

/* Put connection c's next batch into c->out, c->keys and c->is_get and call
 * mix_batch_start; false when c has nothing more to send (it then idles). */
typedef bool (*mix_fill_fn)(mix_conn *c, const options *o, void *feed);

/* What one mix_drive did. */
typedef struct {
    uint64_t done; /* requests answered */
    tally t;
    double *lat; /* seconds per batch, nlat of them (at most lat_cap) */
    size_t nlat, lat_cap;
} mix_result;

/* Open o->conns connections, each with room for o->depth requests per
 * batch (and as many missed keys, with_missed). */
static mix_conn *mix_open(const options *o, bool with_missed)
{
    mix_conn *cs = calloc(o->conns, sizeof *cs);
    if (cs == NULL)
        die(3, "out of memory");
    for (unsigned i = 0; i < o->conns; i++) {
        cs[i].fd = connect_to(o);
        cs[i].in.p = malloc(INBUF_SIZE); /* untouched pages cost nothing */
        cs[i].keys = malloc(o->depth * sizeof *cs[i].keys);
        cs[i].is_get = malloc(o->depth * sizeof *cs[i].is_get);
        cs[i].missed = with_missed ? malloc(o->depth * sizeof *cs[i].missed) : NULL;
        if (cs[i].in.p == NULL || cs[i].keys == NULL || cs[i].is_get == NULL ||
            (with_missed && cs[i].missed == NULL))
            die(3, "out of memory");
    }
    return cs;
}

static void mix_close(mix_conn *cs, unsigned nc)
{
    for (unsigned i = 0; i < nc; i++) {
        close(cs[i].fd);
        free(cs[i].out.p);
        free(cs[i].in.p);
        free(cs[i].keys);
        free(cs[i].is_get);
        free(cs[i].missed);
    }
    free(cs);
}

/* Run the connections until none has anything left to send or to read:
 * each gets a batch from fill, and its next one when every reply of this
 * one is in. One poll() over every connection drives them all. */
static void mix_drive(mix_conn *cs, unsigned nc, const options *o, mix_fill_fn fill, void *feed,
                      mix_result *res)
{
    struct pollfd *pfds = calloc(nc, sizeof *pfds);
    bool *finished = calloc(nc, sizeof *finished);
    if (pfds == NULL || finished == NULL)
        die(3, "out of memory");
    for (unsigned i = 0; i < nc; i++) {
        cs[i].count = cs[i].got = 0;
        cs[i].out.len = cs[i].sent = 0;
    }
    /* With --rate, the requests started so far set when the next batch is
     * due: request i goes out no earlier than i / rate s after the start. */
    double t0 = now_s();
    uint64_t started = 0;
    for (;;) {
        bool busy = false;
        double now = now_s(), wait = -1;
        for (unsigned i = 0; i < nc; i++) {
            mix_conn *c = &cs[i];
            if (c->count > 0 || finished[i])
                continue;
            double due = o->rate > 0 ? t0 + (double)started / (double)o->rate : now;
            if (due > now) {
                wait = due - now;
                busy = true;
                break;
            }
            if (!fill(c, o, feed))
                finished[i] = true;
            started += c->count;
        }
        for (unsigned i = 0; i < nc; i++) {
            mix_conn *c = &cs[i];
            /* An idle connection (no work left for it) is left out of poll. */
            pfds[i].fd = c->got < c->count ? c->fd : -1;
            pfds[i].events = POLLIN | (c->sent < c->out.len ? POLLOUT : 0);
            pfds[i].revents = 0;
            busy |= c->got < c->count;
        }
        if (!busy)
            break;
        double limit = wait >= 0 && wait < o->timeout_ms / 1e3 ? wait : o->timeout_ms / 1e3;
        struct timespec ts = {(time_t)limit, (long)((limit - (double)(time_t)limit) * 1e9)};
        int pr = ppoll(pfds, nc, &ts, NULL);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            die(3, "ppoll: %s", strerror(errno));
        }
        if (pr == 0 && limit == wait)
            continue; /* the next batch is due */
        if (pr == 0)
            die(3, "timeout: no progress for %d ms (%" PRIu64 " requests done)", o->timeout_ms,
                res->done);
        for (unsigned i = 0; i < nc; i++) {
            mix_conn *c = &cs[i];
            short ev = pfds[i].revents;
            if (ev == 0)
                continue;
            if ((ev & POLLOUT) && c->sent < c->out.len) {
                ssize_t w = write(c->fd, c->out.p + c->sent, c->out.len - c->sent);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    die(3, "write: %s", strerror(errno));
                if (w > 0)
                    c->sent += (size_t)w;
            }
            if (!(ev & (POLLIN | POLLHUP | POLLERR)) || !mix_read(c, o, &res->t))
                continue;
            if (res->nlat < res->lat_cap)
                res->lat[res->nlat++] = now_s() - c->started;
            res->done += c->count;
            c->count = c->got = 0;
            c->out.len = c->sent = 0;
        }
    }
    free(finished);
    free(pfds);
}

/* Room for one latency figure per batch of a run of `requests` requests in
 * batches of up to o->depth (the last batch of each connection may be
 * short, and zipf's may be shorter still: count twice as many). */
static void mix_result_init(mix_result *res, const options *o, uint64_t requests)
{
    *res = (mix_result){0};
    res->lat_cap = (size_t)(requests / o->depth) * 2 + 2 * (size_t)o->conns + 1;
    res->lat = malloc(res->lat_cap * sizeof *res->lat);
    if (res->lat == NULL)
        die(3, "out of memory");
}

/* mix's source of requests: o->ops in all, uniform keys, G % GETs. */
typedef struct {
    uint64_t rng, issued, gets;
} mix_feed;

static bool mix_fill_uniform(mix_conn *c, const options *o, void *feed)
{
    mix_feed *f = feed;
    if (f->issued >= o->ops)
        return false;
    unsigned count = o->ops - f->issued < o->depth ? (unsigned)(o->ops - f->issued) : o->depth;
    c->out.len = 0;
    for (unsigned i = 0; i < count; i++) {
        uint64_t r = splitmix64(&f->rng);
        /* The low bits pick the key, the high bits GET or SET: the two are
         * independent. A modulo bias of keys / 2^32 is far below noise. */
        int64_t n = o->first + (int64_t)((r & 0xFFFFFFFFull) % o->keys);
        bool g = (r >> 32) % 100 < o->get_pct;
        c->keys[i] = n;
        c->is_get[i] = g;
        f->gets += g;
        add_mix_request(&c->out, o, n, g);
    }
    f->issued += count;
    mix_batch_start(c, count);
    return true;
}

/* The mix mode: o->ops requests over o->conns connections, o->depth in flight
 * on each. */
static int run_mix(const options *o)
{
    mix_conn *cs = mix_open(o, false);
    mix_feed feed = {.rng = o->seed};
    mix_result res;
    mix_result_init(&res, o, o->ops);
    double t0 = now_s(); /* connecting is not part of the run */
    mix_drive(cs, o->conns, o, mix_fill_uniform, &feed, &res);
    double secs = now_s() - t0;
    qsort(res.lat, res.nlat, sizeof *res.lat, cmp_double);
    printf("mix %" PRIu64 " ops: %.3f s, %.0f ops/s, %" PRIu64 " errors, %" PRIu64
           " misses, %" PRIu64 " gets, %" PRIu64 " sets, latency ms p50 %.3f p99 %.3f max %.3f\n",
           o->ops, secs, secs > 0 ? (double)o->ops / secs : 0.0, res.t.errors, res.t.mismatches,
           feed.gets, o->ops - feed.gets, quantile(res.lat, res.nlat, 0.5) * 1e3,
           quantile(res.lat, res.nlat, 0.99) * 1e3, res.nlat ? res.lat[res.nlat - 1] * 1e3 : 0.0);
    mix_close(cs, o->conns);
    free(res.lat);
    return res.t.errors == 0 ? 0 : 1;
}

/* ---- zipf: cache-aside over keys of Zipf-distributed popularity ---- */

/*
 * Rank k (1..n) is drawn with probability k^-s / sum(j^-s, j = 1..n) by
 * rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-inversion to
 * generate variates from monotone discrete distributions", ACM TOMACS 6(3),
 * 1996): exact, O(1) per draw whatever n, no table and no zeta sum. With
 * H(x) = the integral of t^-s from 1 to x, the area under the hat x^-s
 * from 0.5 (for rank 1: H(1.5) − 1) to n + 0.5 is cut into one piece per
 * rank, piece k ending at H(k + 0.5); a uniform point u in it is mapped back
 * to x = H⁻¹(u) and rounded to rank k, accepted if u lies in the last h(k) =
 * k^-s of piece k (so each rank is accepted with weight k^-s exactly),
 * otherwise drawn again. Most draws are accepted by a cheaper test on x
 * (k − x ≤ accept), which the paper proves implies the exact one.
 *
 * Rank k then names key first + perm(k − 1), perm a fixed permutation of
 * 0..n−1 (a 4-round Feistel network over the next power of 4, walking the
 * cycle until it lands below n): hot keys are scattered over the range,
 * not the lowest integers, and the same keys are hot whatever --seed.
 */

/* Mixes the permutation's round function; fixed, so hot keys stay put. */
#define ZIPF_PERM_KEY 0x7A697066u /* "zipf" */
#define ZIPF_PERM_ROUNDS 4

typedef struct {
    uint64_t n;
    double s;
    double h_x1;        /* H(1.5) − 1: the low end of the area */
    double h_n;         /* H(n + 0.5): its high end */
    double accept;      /* the quick acceptance bound on k − x */
    unsigned half_bits; /* perm works on 2 × half_bits bits */
    uint64_t half_mask;
} zipf_gen;

/* expm1(x) / x, and its limit at 0. */
static double expm1_over(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x / 2.0;
}

/* log1p(x) / x, and its limit at 0. */
static double log1p_over(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x / 2.0;
}

/* x^-s. */
static double zipf_h(const zipf_gen *z, double x)
{
    return exp(-z->s * log(x));
}

/* H(x) = (x^(1−s) − 1) / (1 − s), log x at s = 1, written so that it stays
 * accurate near s = 1. */
static double zipf_H(const zipf_gen *z, double x)
{
    double lx = log(x);
    return expm1_over((1.0 - z->s) * lx) * lx;
}

/* H⁻¹(y) = (1 + (1 − s) y)^(1 / (1−s)), exp(y) at s = 1. */
static double zipf_H_inv(const zipf_gen *z, double y)
{
    double t = y * (1.0 - z->s);
    if (t < -1.0) /* only by rounding, at the very low end */
        t = -1.0;
    return exp(log1p_over(t) * y);
}

static void zipf_init(zipf_gen *z, uint64_t n, double s)
{
    z->n = n;
    z->s = s;
    z->h_x1 = zipf_H(z, 1.5) - 1.0;
    z->h_n = zipf_H(z, (double)n + 0.5);
    z->accept = 2.0 - zipf_H_inv(z, zipf_H(z, 2.5) - zipf_h(z, 2.0));
    z->half_bits = 1;
    while (z->half_bits < 32 && (1ull << (2 * z->half_bits)) < n)
        z->half_bits++;
    z->half_mask = (1ull << z->half_bits) - 1;
}

/* A rank, 1..n (rank 1 the most popular). */
static uint64_t zipf_rank(const zipf_gen *z, uint64_t *rng)
{
    for (;;) {
        double unit = (double)(splitmix64(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
        double u = z->h_n + unit * (z->h_x1 - z->h_n);
        double x = zipf_H_inv(z, u);
        uint64_t k = x < 1.5 ? 1 : (uint64_t)(x + 0.5);
        if (k > z->n)
            k = z->n;
        if ((double)k - x <= z->accept || u >= zipf_H(z, (double)k + 0.5) - zipf_h(z, (double)k))
            return k;
    }
}

/* The key offset (0..n−1) of rank k: perm(k − 1). */
static uint64_t zipf_key(const zipf_gen *z, uint64_t k)
{
    uint64_t x = k - 1;
    do {
        uint64_t l = x >> z->half_bits, r = x & z->half_mask;
        for (uint64_t round = 0; round < ZIPF_PERM_ROUNDS; round++) {
            uint64_t st = r ^ (round << 40) ^ ((uint64_t)ZIPF_PERM_KEY << 8);
            uint64_t f = splitmix64(&st) & z->half_mask;
            uint64_t nl = r;
            r = l ^ f;
            l = nl;
        }
        x = l << z->half_bits | r;
    } while (x >= z->n);
    return x;
}

/* zipf's source of requests: first the SETs of the keys the connection's
 * last batch missed (cache-aside: the miss is filled), then GETs of keys
 * drawn from the distribution up to D requests, while the phase has GETs
 * left to send. */
typedef struct {
    zipf_gen z;
    uint64_t rng;
    uint64_t gets_left; /* GETs still to send in this phase */
    uint64_t gets, sets;
} zipf_feed;

static bool zipf_fill(mix_conn *c, const options *o, void *feed)
{
    zipf_feed *f = feed;
    unsigned k = 0;
    c->out.len = 0;
    for (; k < c->nmissed; k++) {
        c->keys[k] = c->missed[k];
        c->is_get[k] = false;
        add_mix_request(&c->out, o, c->missed[k], false);
    }
    f->sets += c->nmissed;
    c->nmissed = 0;
    for (; k < o->depth && f->gets_left > 0; k++, f->gets_left--, f->gets++) {
        int64_t n = o->first + (int64_t)zipf_key(&f->z, zipf_rank(&f->z, &f->rng));
        c->keys[k] = n;
        c->is_get[k] = true;
        add_mix_request(&c->out, o, n, true);
    }
    if (k == 0)
        return false;
    mix_batch_start(c, k);
    return true;
}

/* The zipf mode: --warmup-ops GETs (with their SETs) not counted, then
 * o->ops GETs measured, over o->conns connections, o->depth requests in
 * flight on each. */
static int run_zipf(const options *o)
{
    mix_conn *cs = mix_open(o, true);
    zipf_feed feed = {.rng = o->seed};
    zipf_init(&feed.z, o->keys, o->zipf_s);
    uint64_t errors = 0;
    double warm_ratio = 0;
    if (o->warmup_ops > 0) {
        mix_result warm;
        mix_result_init(&warm, o, 0); /* latencies are not kept */
        warm.lat_cap = 0;
        feed.gets_left = o->warmup_ops;
        mix_drive(cs, o->conns, o, zipf_fill, &feed, &warm);
        errors += warm.t.errors;
        warm_ratio = 100.0 * (double)(feed.gets - warm.t.mismatches) / (double)feed.gets;
        free(warm.lat);
    }
    feed.gets = feed.sets = 0;
    feed.gets_left = o->ops;
    mix_result res;
    mix_result_init(&res, o, o->ops * 2);
    double t0 = now_s();
    mix_drive(cs, o->conns, o, zipf_fill, &feed, &res);
    double secs = now_s() - t0;
    errors += res.t.errors;
    qsort(res.lat, res.nlat, sizeof *res.lat, cmp_double);
    uint64_t misses = res.t.mismatches, requests = feed.gets + feed.sets;
    printf("zipf %" PRIu64 " gets: %.3f s, %.0f ops/s, %" PRIu64 " errors, %" PRIu64
           " hits, %" PRIu64 " misses, hit ratio %.2f %%, %" PRIu64
           " sets, latency ms p50 %.3f p99 %.3f max %.3f, warm-up %" PRIu64
           " gets hit ratio %.2f %%\n",
           feed.gets, secs, secs > 0 ? (double)requests / secs : 0.0, errors, feed.gets - misses,
           misses, 100.0 * (double)(feed.gets - misses) / (double)feed.gets, feed.sets,
           quantile(res.lat, res.nlat, 0.5) * 1e3, quantile(res.lat, res.nlat, 0.99) * 1e3,
           res.nlat ? res.lat[res.nlat - 1] * 1e3 : 0.0, o->warmup_ops, warm_ratio);
    mix_close(cs, o->conns);
    free(res.lat);
    return errors == 0 ? 0 : 1;
}

/* ---- probe: how long one client waits while the server works ---- */

/*
 * run_probe keeps one request in flight on its own connection: PING, then
 * GET of key F, and so on, the next one --gap-us after a reply (so a server
 * stall of S ms shows as one round trip of about S ms). With --monitor, a
 * second connection asks the server every --window-ms for its longest stall
 * since the last ask: ebb's INFO stats (longest_stall_us, longest_stall_cause)
 * then LATENCY RESET; redis's LATENCY LATEST (the largest max, in ms, with
 * its event; needs latency-monitor-threshold > 0) then LATENCY RESET.
 *
 * A shared machine preempts the server for milliseconds at a time, which
 * both figures include. With --server-pid, each is also given corrected:
 * /proc/<pid>/schedstat (the event loop's thread) says how long the server
 * waited for a CPU, and its CPU-time clock (clock_getcpuclockid) how long it
 * ran. A round trip, less the server's and this process's CPU waits during
 * it, and at most the server's CPU time in it (time it spent off the CPU for
 * other reasons, such as the host taking the virtual CPU away, is not work
 * that made the probe wait); a window's longest stall, less the server's CPU
 * waits over the window, and at most its CPU time in the window. Both
 * corrections cover the whole interval, not only the stall: they can make a
 * stall look shorter (by at most about a window), never longer.
 *
 * Output, per phase: "phase NAME: T s, N probes, rtt ms p50 A p99 B p99.9 C
 * max D, corrected ms p99.9 E max F, corrected over 2 ms K, server stall ms G
 * (CAUSE) corrected H (CAUSE), W windows". Before the first phase, "probe
 * ready" once both connections are up.
 */

#define PROBE_TARGET_US 2000.0 /* the stall target the over-2-ms count is about */
#define PROBE_ATOMS_MAX 4096   /* values of one monitor reply we look at */
#define PROBE_NAME_MAX 100

typedef struct {
    uint64_t run, wait; /* ns on a CPU (server only), ns runnable and waiting for one */
} sched_pair;

/* ns of CPU the process behind clk has used; the kernel brings a running
 * task's figure up to date for this clock (schedstat's lags by up to a tick). */
static uint64_t cpu_ns(clockid_t clk, bool have)
{
    struct timespec ts;
    if (!have || clock_gettime(clk, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_schedstat(const char *pid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%s/schedstat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(3, "%s: %s", path, strerror(errno));
    return fd;
}

/* The CPU wait from schedstat (fd), the CPU time from the clock (if have).
 * Zeros for fd < 0 (no pid given): nothing is then subtracted. */
static sched_pair sched_get(int fd, clockid_t clk, bool have)
{
    sched_pair s = {0, 0};
    char t[128];
    ssize_t k = fd >= 0 ? pread(fd, t, sizeof t - 1, 0) : -1;
    if (k <= 0)
        return s;
    t[k] = '\0';
    char *e;
    (void)strtoull(t, &e, 10); /* schedstat's own CPU time: may lag a tick */
    s.wait = strtoull(e, NULL, 10);
    s.run = cpu_ns(clk, have);
    return s;
}

typedef struct {
    char name[PROBE_NAME_MAX + 1];
    double start;
    double *rtt, *cor; /* µs */
    size_t n, cap;
    double stall, stall_cor; /* µs, the longest of any window */
    char cause[64], cause_cor[64];
    unsigned long windows;
} probe_phase;

static void probe_phase_add(probe_phase *ph, double rtt, double cor)
{
    if (ph->n == ph->cap) {
        size_t cap = ph->cap ? ph->cap * 2 : 8192;
        double *a = realloc(ph->rtt, cap * sizeof *a), *b;
        if (a == NULL)
            die(3, "out of memory");
        ph->rtt = a;
        b = realloc(ph->cor, cap * sizeof *b);
        if (b == NULL)
            die(3, "out of memory");
        ph->cor = b;
        ph->cap = cap;
    }
    ph->rtt[ph->n] = rtt;
    ph->cor[ph->n] = cor;
    ph->n++;
}

static void probe_phase_print(probe_phase *ph, double now)
{
    size_t n = ph->n;
    unsigned long over = 0;
    for (size_t i = 0; i < n; i++)
        over += ph->cor[i] > PROBE_TARGET_US;
    qsort(ph->rtt, n, sizeof *ph->rtt, cmp_double);
    qsort(ph->cor, n, sizeof *ph->cor, cmp_double);
    printf("phase %s: %.1f s, %zu probes, rtt ms p50 %.3f p99 %.3f p99.9 %.3f max %.3f, "
           "corrected ms p99.9 %.3f max %.3f, corrected over 2 ms %lu, server stall ms %.3f "
           "(%s) corrected %.3f (%s), %lu windows\n",
           ph->name, now - ph->start, n, quantile(ph->rtt, n, 0.5) / 1e3,
           quantile(ph->rtt, n, 0.99) / 1e3, quantile(ph->rtt, n, 0.999) / 1e3,
           n ? ph->rtt[n - 1] / 1e3 : 0.0, quantile(ph->cor, n, 0.999) / 1e3,
           n ? ph->cor[n - 1] / 1e3 : 0.0, over, ph->stall / 1e3, ph->cause[0] ? ph->cause : "none",
           ph->stall_cor / 1e3, ph->cause_cor[0] ? ph->cause_cor : "none", ph->windows);
    fflush(stdout);
    ph->n = 0;
    ph->stall = ph->stall_cor = 0;
    ph->cause[0] = ph->cause_cor[0] = '\0';
    ph->windows = 0;
}

/* One RESP2 value of any kind, arrays flattened into atoms (at most max of
 * them are kept; the rest are parsed and skipped). 1 complete (*used set),
 * 0 incomplete, -1 protocol error. */
static int parse_any(const char *p, size_t len, size_t *used, reply *atoms, size_t *natoms,
                     size_t max, int depth)
{
    if (len == 0)
        return 0;
    if (p[0] != '*') {
        reply r = {0};
        int k = parse_resp(p, len, used, &r);
        if (k == 1 && *natoms < max)
            atoms[(*natoms)++] = r;
        return k;
    }
    const char *eol = find_crlf(p, len);
    if (eol == NULL)
        return 0;
    long long count;
    if (depth > 4 || !parse_ll(p + 1, (size_t)(eol - p - 1), &count) || count < -1)
        return -1;
    size_t off = (size_t)(eol - p) + 2;
    for (long long i = 0; i < count; i++) {
        size_t u = 0;
        int k = parse_any(p + off, len - off, &u, atoms, natoms, max, depth + 1);
        if (k != 1)
            return k;
        off += u;
    }
    *used = off;
    return 1;
}

/* Text after "field:" in INFO text, up to CR, into out. */
static bool info_field(const char *info, size_t len, const char *field, char *out, size_t cap)
{
    size_t fl = strlen(field);
    for (size_t i = 0; i + fl < len; i++) {
        if ((i == 0 || info[i - 1] == '\n') && memcmp(info + i, field, fl) == 0 &&
            info[i + fl] == ':') {
            size_t s = i + fl + 1, e = s;
            while (e < len && info[e] != '\r' && info[e] != '\n')
                e++;
            snprintf(out, cap, "%.*s", (int)(e - s), info + s);
            return true;
        }
    }
    return false;
}

static void probe_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno != EINTR && errno != EAGAIN)
            die(3, "probe write: %s", strerror(errno));
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
}

/* Read what fd has into in (compacting first); dies on EOF or errors. */
static void probe_fill(int fd, inbuf *in, const char *who)
{
    if (in->start > 0) {
        memmove(in->p, in->p + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (in->end == INBUF_SIZE)
        die(3, "%s: reply too long", who);
    ssize_t r = read(fd, in->p + in->end, INBUF_SIZE - in->end);
    if (r == 0)
        die(3, "%s: the server closed the connection", who);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        die(3, "%s read: %s", who, strerror(errno));
    }
    in->end += (size_t)r;
}

static int run_probe(const options *o)
{
    enum { MON_NONE, MON_EBB, MON_REDIS } mon;
    if (strcmp(o->monitor, "ebb") == 0)
        mon = MON_EBB;
    else if (strcmp(o->monitor, "redis") == 0)
        mon = MON_REDIS;
    else if (strcmp(o->monitor, "none") == 0)
        mon = MON_NONE;
    else
        die(2, "--monitor must be ebb, redis or none, not '%s'", o->monitor);
    if (o->proto != PROTO_RESP)
        die(2, "probe speaks RESP only");

    int pfd = connect_to(o), mfd = mon != MON_NONE ? connect_to(o) : -1;
    int srv = o->server_pid != NULL ? open_schedstat(o->server_pid) : -1;
    int self = o->server_pid != NULL ? open_schedstat("thread-self") : -1;
    clockid_t clk = CLOCK_MONOTONIC;
    bool have_clk = false;
    if (o->server_pid != NULL) {
        int e = clock_getcpuclockid((pid_t)atoi(o->server_pid), &clk);
        if (e != 0)
            die(3, "CPU clock of pid %s: %s", o->server_pid, strerror(e));
        have_clk = true;
    }
    inbuf pin = {.p = malloc(INBUF_SIZE)}, min = {.p = malloc(INBUF_SIZE)};
    reply *atoms = malloc(PROBE_ATOMS_MAX * sizeof *atoms);
    if (pin.p == NULL || min.p == NULL || atoms == NULL)
        die(3, "out of memory");

    char key[KEY_MAX];
    int kl = format_key(o, o->first, key);
    buf ping = {0}, get = {0}, ask = {0};
    buf_add(&ping, "*1\r\n$4\r\nPING\r\n", 14);
    buf_add(&get, "*2\r\n$3\r\nGET\r\n", 13);
    resp_arg(&get, key, (size_t)kl);
    if (mon == MON_EBB)
        buf_add(&ask, "*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n", 25);
    else
        buf_add(&ask, "*2\r\n$7\r\nLATENCY\r\n$6\r\nLATEST\r\n", 29);
    buf_add(&ask, "*2\r\n$7\r\nLATENCY\r\n$5\r\nRESET\r\n", 28);

    probe_phase ph = {0};
    bool in_phase = false, done = false, stdin_open = true;
    char line[256];
    size_t line_len = 0;
    /* A line from stdin takes effect once the request in flight is answered
     * and the monitor has closed a window opened after the line came: so the
     * stalls of the work before it are the old phase's. No probe request is
     * sent meanwhile. */
    bool cutting = false;
    double cut_at = 0, m_done_sent = 0;

    /* The probe's request in flight, and the monitor's. */
    bool p_busy = false, p_is_get = false, m_busy = false;
    unsigned long sent = 0;
    double p_t0 = 0, next_probe = now_s(), next_window = now_s() + o->window_ms / 1e3;
    sched_pair p_s0 = {0, 0}, p_self0 = {0, 0}, m_before = {0, 0};
    sched_pair m_before_prev = sched_get(srv, clk, have_clk);
    double m_sent_at = 0;

    printf("probe ready\n");
    fflush(stdout);
    while (!done) {
        double now = now_s();
        if (!cutting && (memchr(line, '\n', line_len) != NULL || !stdin_open)) {
            cutting = true;
            cut_at = now;
        }
        if (cutting && !p_busy && (mon == MON_NONE || (!m_busy && m_done_sent >= cut_at))) {
            char *nl = memchr(line, '\n', line_len);
            if (in_phase)
                probe_phase_print(&ph, cut_at);
            in_phase = false;
            if (nl == NULL) {
                done = true; /* stdin closed */
                continue;
            }
            *nl = '\0';
            if (strncmp(line, "phase ", 6) == 0) {
                snprintf(ph.name, sizeof ph.name, "%.*s", PROBE_NAME_MAX, line + 6);
                ph.start = cut_at;
                in_phase = true;
                /* The caller may start the phase's work now. */
                printf("begun %s\n", ph.name);
                fflush(stdout);
            } else if (strcmp(line, "end") == 0) {
                done = true;
            } else {
                die(2, "probe: unknown line on stdin: \"%s\"", line);
            }
            size_t rest = line_len - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest);
            line_len = rest;
            cutting = false;
            continue;
        }
        if (!p_busy && !cutting && now >= next_probe) {
            p_is_get = sent++ % 2 == 1;
            p_s0 = sched_get(srv, clk, have_clk);
            p_self0 = sched_get(self, clk, false);
            p_t0 = now_s();
            probe_send(pfd, p_is_get ? get.p : ping.p, p_is_get ? get.len : ping.len);
            p_busy = true;
        }
        if (mon != MON_NONE && !m_busy && now >= next_window) {
            m_before = sched_get(srv, clk, have_clk);
            m_sent_at = now;
            probe_send(mfd, ask.p, ask.len);
            m_busy = true;
        }
        if ((p_busy && now - p_t0 > o->timeout_ms / 1e3) ||
            (m_busy && now - m_sent_at > o->timeout_ms / 1e3))
            die(3, "probe: no reply for %d ms", o->timeout_ms);

        struct pollfd fds[3] = {{.fd = stdin_open && !cutting ? 0 : -1, .events = POLLIN},
                                {.fd = p_busy ? pfd : -1, .events = POLLIN},
                                {.fd = m_busy ? mfd : -1, .events = POLLIN}};
        double wake = 1.0;
        if (!p_busy && !cutting)
            wake = next_probe - now;
        if (mon != MON_NONE && !m_busy && next_window - now < wake)
            wake = next_window - now;
        if (wake < 0)
            wake = 0;
        struct timespec ts = {(time_t)wake, (long)((wake - (double)(time_t)wake) * 1e9)};
        int k = ppoll(fds, 3, &ts, NULL);
        if (k < 0 && errno != EINTR)
            die(3, "ppoll: %s", strerror(errno));
        if (k <= 0)
            continue;

        if (fds[1].revents) {
            probe_fill(pfd, &pin, "probe");
            reply r = {0};
            size_t used = 0;
            int pr = parse_resp(pin.p + pin.start, pin.end - pin.start, &used, &r);
            if (pr < 0)
                die(3, "probe: protocol error in a reply");
            if (pr == 1) {
                double t1 = now_s();
                sched_pair s1 = sched_get(srv, clk, have_clk), self1 = sched_get(self, clk, false);
                bool ok = p_is_get ? r.type == R_NIL || r.type == R_BULK
                                   : r.type == R_STATUS && text_is(&r, "PONG");
                if (!ok)
                    die(1, "probe: unexpected %s reply to %s", type_name(r.type),
                        p_is_get ? "GET" : "PING");
                pin.start += used;
                if (pin.start != pin.end)
                    die(3, "probe: more than one reply");
                pin.start = pin.end = 0;
                double rtt = (t1 - p_t0) * 1e6;
                double cor = rtt - (double)(s1.wait - p_s0.wait) / 1e3 -
                             (double)(self1.wait - p_self0.wait) / 1e3;
                if (have_clk && cor > (double)(s1.run - p_s0.run) / 1e3)
                    cor = (double)(s1.run - p_s0.run) / 1e3;
                if (cor < 0)
                    cor = 0;
                if (in_phase)
                    probe_phase_add(&ph, rtt, cor);
                p_busy = false;
                next_probe = t1 + o->gap_us / 1e6;
            }
        }

        if (fds[2].revents) {
            probe_fill(mfd, &min, "monitor");
            size_t na = 0, used1 = 0, used2 = 0;
            int a = parse_any(min.p + min.start, min.end - min.start, &used1, atoms, &na,
                              PROBE_ATOMS_MAX, 0);
            if (a < 0)
                die(3, "monitor: protocol error in a reply");
            size_t na1 = na;
            int b = a == 1 ? parse_any(min.p + min.start + used1, min.end - min.start - used1,
                                       &used2, atoms, &na, PROBE_ATOMS_MAX, 0)
                           : 0;
            if (b < 0)
                die(3, "monitor: protocol error in a reply");
            if (a == 1 && b == 1) {
                sched_pair after = sched_get(srv, clk, have_clk);
                double stall = -1;
                char cause[64] = "none";
                if (na != na1 + 1 || atoms[na1].type != R_INT)
                    die(1, "monitor: LATENCY RESET did not answer with an integer");
                if (mon == MON_EBB) {
                    char v[32];
                    if (na1 != 1 || atoms[0].type != R_BULK ||
                        !info_field(atoms[0].text, atoms[0].len, "longest_stall_us", v, sizeof v) ||
                        !info_field(atoms[0].text, atoms[0].len, "longest_stall_cause", cause,
                                    sizeof cause))
                        die(1, "monitor: INFO stats lacks longest_stall_us/_cause");
                    stall = strtod(v, NULL);
                } else {
                    /* LATENCY LATEST: [event, time, latest ms, max ms] per event. */
                    stall = 0;
                    for (size_t i = 0; i + 3 < na1; i += 4) {
                        if (atoms[i].type != R_BULK || atoms[i + 3].type != R_INT)
                            die(1, "monitor: unexpected LATENCY LATEST reply");
                        if (atoms[i + 3].num * 1000.0 > stall) {
                            stall = atoms[i + 3].num * 1000.0;
                            snprintf(cause, sizeof cause, "%.*s", (int)atoms[i].len, atoms[i].text);
                        }
                    }
                }
                min.start = min.end = 0;
                double cor = stall - (double)(after.wait - m_before_prev.wait) / 1e3;
                double cpu = (double)(after.run - m_before_prev.run) / 1e3;
                if (have_clk && cor > cpu)
                    cor = cpu;
                m_before_prev = m_before;
                if (in_phase) {
                    ph.windows++;
                    if (stall > ph.stall) {
                        ph.stall = stall;
                        snprintf(ph.cause, sizeof ph.cause, "%s", cause);
                    }
                    if (cor > ph.stall_cor) {
                        ph.stall_cor = cor;
                        snprintf(ph.cause_cor, sizeof ph.cause_cor, "%s", cause);
                    }
                }
                m_busy = false;
                m_done_sent = m_sent_at;
                next_window = now_s() + o->window_ms / 1e3;
            }
        }

        if (fds[0].revents) {
            ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
            if (r <= 0)
                stdin_open = false;
            else
                line_len += (size_t)r;
            if (line_len == sizeof line - 1 && memchr(line, '\n', line_len) == NULL)
                die(2, "probe: stdin line too long");
        }
    }
    if (in_phase)
        probe_phase_print(&ph, now_s());
    close(pfd);
    if (mfd >= 0)
        close(mfd);
    if (srv >= 0)
        close(srv);
    if (self >= 0)
        close(self);
    free(pin.p);
    free(min.p);
    free(atoms);
    free(ping.p);
    free(get.p);
    free(ask.p);
    free(ph.rtt);
    free(ph.cor);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: ebb-loadgen load|verify|drain|gone|ping|mix|zipf|probe [options]\n"
          "  -H, --host H        server address [127.0.0.1]\n"
          "  -p, --port P        server port [6379]\n"
          "  -P, --proto X       resp (ebb, redis) or memcache [resp]\n"
          "  -n, --keys N        number of keys [1000000]\n"
          "  -f, --first F       first key number [0]\n"
          "  -k, --prefix S      key prefix [key:]\n"
          "  -w, --width W       zero-pad key numbers to W digits [0: no padding]\n"
          "  -b, --batch B       commands per pipelined batch [1000]\n"
          "  -t, --timeout SEC   give up after SEC seconds without progress [30]\n"
          "mix and zipf:\n"
          "  -o, --ops N         requests in all (zipf: GETs measured) [1000000]\n"
          "  -c, --conns C       connections [50]\n"
          "  -d, --depth D       requests in flight per connection [1]\n"
          "  -g, --get-pct G     percent of GETs, the rest SETs (mix only) [90]\n"
          "  -s, --seed S        random seed [1]\n"
          "  -r, --rate R        at most R requests per second in all [0: no limit]\n"
          "zipf only:\n"
          "      --zipf-s S      the distribution's exponent, 0 .. 10 [0.99]\n"
          "      --warmup-ops W  GETs (and their SETs) first, not counted [0]\n"
          "      --value-len V   bytes per value, 0 .. 128, or mixed (0..128 per key)\n"
          "                      or skewed (80 %% 0..31, 20 %% 32..128) [128]\n"
          "      --gen G         with mixed or skewed: the lengths' generation [0]\n"
          "load only:\n"
          "      --pxat MS       every SET gets PXAT MS (expires at MS ms since the epoch)\n"
          "probe only:\n"
          "      --server-pid P  correct for CPU waits from /proc/P/schedstat [none]\n"
          "      --monitor M     ebb, redis or none: ask the server for its stalls [none]\n"
          "      --gap-us U      pause between two probe requests [500]\n"
          "      --window-ms W   how often the monitor asks [10]\n"
          "Modes: load SETs every key to a value derived from it; verify GETs\n"
          "and compares every value; drain DELetes every key one by one; gone checks\n"
          "that no key exists; ping checks that the server answers; mix sends random\n"
          "GETs and SETs over the key range (misses are counted, not errors); zipf\n"
          "GETs keys of Zipf-distributed popularity and SETs each one that missed\n"
          "(cache-aside), reporting the hit ratio; probe\n"
          "times PING/GET of key F one at a time until stdin says \"end\", reporting\n"
          "each \"phase NAME\" (a line on stdin) on stdout.\n"
          "Exit: 0 ok, 1 error reply or mismatch, 2 usage, 3 connection/protocol failure.\n",
          f);
}

static long long num_arg(const char *name, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ebb-loadgen: bad %s '%s' (%lld..%lld)\n", name, s, min, max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    options o = {.host = "127.0.0.1",
                 .port = "6379",
                 .proto = PROTO_RESP,
                 .first = 0,
                 .keys = 1000000,
                 .prefix = "key:",
                 .width = 0,
                 .batch = 1000,
                 .timeout_ms = 30000,
                 .ops = 1000000,
                 .conns = 50,
                 .depth = 1,
                 .get_pct = 90,
                 .seed = 1,
                 .zipf_s = 0.99,
                 .warmup_ops = 0,
                 .pxat = 0,
                 .server_pid = NULL,
                 .monitor = "none",
                 .gap_us = 500,
                 .window_ms = 10};
    static const struct option longopts[] = {{"host", required_argument, NULL, 'H'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"proto", required_argument, NULL, 'P'},
                                             {"keys", required_argument, NULL, 'n'},
                                             {"first", required_argument, NULL, 'f'},
                                             {"prefix", required_argument, NULL, 'k'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"width", required_argument, NULL, 'w'},
                                             {"ops", required_argument, NULL, 'o'},
                                             {"conns", required_argument, NULL, 'c'},
                                             {"depth", required_argument, NULL, 'd'},
                                             {"get-pct", required_argument, NULL, 'g'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"pxat", required_argument, NULL, 1000},
                                             {"server-pid", required_argument, NULL, 1001},
                                             {"monitor", required_argument, NULL, 1002},
                                             {"gap-us", required_argument, NULL, 1003},
                                             {"window-ms", required_argument, NULL, 1004},
                                             {"value-len", required_argument, NULL, 1005},
                                             {"gen", required_argument, NULL, 1006},
                                             {"zipf-s", required_argument, NULL, 1007},
                                             {"warmup-ops", required_argument, NULL, 1008},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "H:p:P:n:f:k:w:b:t:o:c:d:g:s:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            num_arg("port", optarg, 1, 65535);
            o.port = optarg;
            break;
        case 'P':
            if (strcmp(optarg, "resp") == 0)
                o.proto = PROTO_RESP;
            else if (strcmp(optarg, "memcache") == 0 || strcmp(optarg, "memcached") == 0)
                o.proto = PROTO_MEMCACHE;
            else {
                fprintf(stderr, "ebb-loadgen: unknown protocol '%s'\n", optarg);
                return 2;
            }
            break;
        case 'n':
            o.keys = (uint64_t)num_arg("keys", optarg, 0, INT64_MAX / 2);
            break;
        case 'f':
            o.first = num_arg("first key", optarg, INT64_MIN / 2, INT64_MAX / 2);
            break;
        case 'k':
            if (strlen(optarg) > PREFIX_MAX || strpbrk(optarg, " \r\n") != NULL) {
                fprintf(stderr, "ebb-loadgen: prefix too long or has spaces\n");
                return 2;
            }
            o.prefix = optarg;
            break;
        case 'w':
            o.width = (int)num_arg("width", optarg, 0, WIDTH_MAX);
            break;
        case 'b':
            o.batch = (unsigned)num_arg("batch", optarg, 1, 100000);
            break;
        case 'o':
            o.ops = (uint64_t)num_arg("ops", optarg, 1, INT64_MAX / 2);
            break;
        case 'c':
            o.conns = (unsigned)num_arg("conns", optarg, 1, MIX_CONNS_MAX);
            break;
        case 'd':
            o.depth = (unsigned)num_arg("depth", optarg, 1, MIX_DEPTH_MAX);
            break;
        case 'g':
            o.get_pct = (unsigned)num_arg("get-pct", optarg, 0, 100);
            break;
        case 's':
            o.seed = (uint64_t)num_arg("seed", optarg, 0, INT64_MAX);
            break;
        case 'r':
            o.rate = (uint64_t)num_arg("rate", optarg, 0, 1000000000);
            break;
        case 't':
            o.timeout_ms = (int)num_arg("timeout", optarg, 1, 86400) * 1000;
            break;
        case 1000:
            o.pxat = num_arg("pxat", optarg, 1, INT64_MAX / 2);
            break;
        case 1001:
            num_arg("server-pid", optarg, 1, INT32_MAX);
            o.server_pid = optarg;
            break;
        case 1002:
            o.monitor = optarg;
            break;
        case 1003:
            o.gap_us = (unsigned)num_arg("gap-us", optarg, 0, 1000000);
            break;
        case 1004:
            o.window_ms = (unsigned)num_arg("window-ms", optarg, 1, 10000);
            break;
        case 1005:
            if (strcmp(optarg, "mixed") == 0)
                len_mode = LEN_MIXED;
            else if (strcmp(optarg, "skewed") == 0)
                len_mode = LEN_SKEWED;
            else
                value_len = (size_t)num_arg("value-len", optarg, 0, VALUE_MAX);
            break;
        case 1006:
            len_gen = (uint64_t)num_arg("gen", optarg, 0, 1000000);
            break;
        case 1007: {
            char *end;
            errno = 0;
            o.zipf_s = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o.zipf_s >= 0.0) ||
                o.zipf_s > 10.0)
                die(2, "bad zipf-s '%s' (0 .. 10)", optarg);
            break;
        }
        case 1008:
            o.warmup_ops = (uint64_t)num_arg("warmup-ops", optarg, 0, INT64_MAX / 2);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    size_t m = 0;
    while (m < sizeof mode_names / sizeof mode_names[0] && strcmp(argv[optind], mode_names[m]))
        m++;
    if (m == sizeof mode_names / sizeof mode_names[0]) {
        fprintf(stderr, "ebb-loadgen: unknown mode '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    o.mode = (enum mode)m;
    if (o.mode == MODE_PING)
        o.keys = 1;
    if (o.mode == MODE_MIX) {
        if (o.keys == 0 || o.keys > UINT32_MAX)
            die(2, "mix needs 1 .. %" PRIu32 " keys", UINT32_MAX);
        return run_mix(&o);
    }
    if (o.mode == MODE_ZIPF) {
        if (o.keys == 0 || o.keys > UINT32_MAX)
            die(2, "zipf needs 1 .. %" PRIu32 " keys", UINT32_MAX);
        return run_zipf(&o);
    }
    if (o.mode == MODE_PROBE)
        return run_probe(&o);
    if (o.pxat > 0 && (o.mode != MODE_LOAD || o.proto != PROTO_RESP))
        die(2, "--pxat is for load over RESP only");

    int fd = connect_to(&o);
    inbuf in = {.p = malloc(INBUF_SIZE)};
    if (in.p == NULL)
        die(3, "out of memory");
    buf out = {0};
    tally t = {0};

    size_t nbatches = (size_t)((o.keys + o.batch - 1) / o.batch), b = 0;
    double *batch_s = malloc((nbatches ? nbatches : 1) * sizeof *batch_s);
    if (batch_s == NULL)
        die(3, "out of memory");
    double t0 = now_s();
    for (uint64_t done = 0; done < o.keys; b++) {
        uint64_t count = o.keys - done < o.batch ? o.keys - done : o.batch;
        int64_t n0 = o.first + (int64_t)done;
        out.len = 0;
        for (uint64_t i = 0; i < count; i++)
            add_request(&out, &o, n0 + (int64_t)i);
        double tb = now_s();
        run_batch(fd, &o, &out, n0, count, &in, &t);
        batch_s[b] = now_s() - tb;
        done += count;
    }
    double secs = now_s() - t0;
    qsort(batch_s, b, sizeof *batch_s, cmp_double);
    close(fd);
    free(out.p);
    free(in.p);

    /* The payload as the benchmarks count it: an 8-byte key and the value. */
    uint64_t payload = 0;
    for (uint64_t i = 0; i < o.keys && o.mode != MODE_PING; i++)
        payload += 8 + len_of(o.first + (int64_t)i);
    if (o.mode != MODE_PING)
        printf("%s %" PRIu64 " keys: %.3f s, %.0f ops/s, %" PRIu64 " errors, %" PRIu64
               " mismatches, batch ms p50 %.2f p99 %.2f max %.2f, payload %" PRIu64 " B\n",
               mode_names[o.mode], o.keys, secs, secs > 0 ? (double)o.keys / secs : 0.0, t.errors,
               t.mismatches, quantile(batch_s, b, 0.5) * 1e3, quantile(batch_s, b, 0.99) * 1e3,
               b ? batch_s[b - 1] * 1e3 : 0.0, payload);
    free(batch_s);
    return t.errors == 0 && t.mismatches == 0 ? 0 : 1;
}
