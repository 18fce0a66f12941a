/*
 * resp.h - RESP2/RESP3 request reader and reply writer (layer 0).
 *
 * Pure functions of bytes: libc only, no I/O, no global state.
 *
 * Terms
 *   request  one command: a multibulk frame (`*N\r\n$len\r\nARG\r\n...`) or an
 *            inline line (`PING foo\r\n`, split with Redis's quoting rules).
 *   view     a (pointer, length) pair naming bytes owned by someone else.
 *   consumed how many input bytes a request occupied; the caller drops them.
 *
 * Reader contract (resp_read)
 *   - RESP_OK: one request was parsed. req->argc views are in req->argv and
 *     req->consumed bytes were used. argc may be 0 (an empty inline line, or
 *     `*0\r\n` / `*-1\r\n`): the caller drops the bytes and runs nothing, as
 *     Redis does.
 *   - RESP_INCOMPLETE: the input holds only a prefix of a request. Nothing is
 *     consumed (req->consumed == 0). req->need is a lower bound on the total
 *     input length at which calling again can make progress (always > len), so
 *     a caller may wait for that many bytes before re-parsing a huge frame.
 *   - RESP_ARGV_SMALL: the request is complete but has more arguments than
 *     req->argv_cap. req->argc holds the count needed; nothing is consumed.
 *     The caller grows argv to at least that many entries and calls again.
 *     (Only a complete request asks for memory, so a `*1000000\r\n` header on
 *     its own never makes anyone allocate.)
 *   - RESP_ERR_*: a protocol error. resp_strerror() gives Redis's text; the
 *     server replies `-ERR Protocol error: <text>` and closes the connection.
 *
 *   View lifetime: multibulk argument views point into `buf`. Inline
 *   arguments are unescaped into req->scratch (caller-provided, at least
 *   RESP_INLINE_MAX bytes), so their views point there. Either way views are
 *   valid until the caller changes `buf` or `scratch` or calls resp_read again.
 *
 * Writer contract (resp_out)
 *   Every resp_add_* appends the exact wire bytes for one reply element to a
 *   growable buffer owned by the resp_out. The element shape depends on
 *   out->proto (2 or 3): RESP3-only types fall back to the RESP2 shape Redis 7
 *   uses. On allocation failure the buffer stops growing and out->oom is set;
 *   later calls are no-ops until resp_out_reset().
 */
#ifndef EBB_RESP_H
#define EBB_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits (enforced only in resp_read) ---------------------------------- */

/* Longest inline command line, and longest `*N` / `$N` header line. Redis uses
 * the same 64 KiB (PROTO_INLINE_MAX_SIZE): no real command line is longer and a
 * client that sends a line without a newline must not make us buffer forever. */
#define RESP_INLINE_MAX (64u * 1024u)

/* Most arguments in one multibulk request. Redis allows 1M (1024*1024); an
 * MSET of 512k keys is the largest legitimate request, and the argv array for
 * it (16 MiB of views) is only allocated once the whole request has arrived. */
#define RESP_MAX_ARGS (1024u * 1024u)

/* Longest bulk argument. Values are at most 128 bytes and keys are short, but
 * ECHO, CLIENT SETNAME and CONFIG SET take free text; 1 MiB is ample for them
 * and keeps a single bogus `$2000000000` from holding a connection open
 * waiting for 2 GB. Values longer than 128 bytes but within this limit get the
 * command-level "value is N bytes" error instead of a protocol error. */
#define RESP_MAX_BULK (1024u * 1024u)

/* ---- Reader --------------------------------------------------------------- */

typedef enum {
    RESP_OK = 0,
    RESP_INCOMPLETE,
    RESP_ARGV_SMALL,
    RESP_ERR_MBULK_LEN,       /* "invalid multibulk length" */
    RESP_ERR_BULK_LEN,        /* "invalid bulk length" */
    RESP_ERR_EXPECTED_DOLLAR, /* "expected '$', got 'X'" (needs the byte) */
    RESP_ERR_INLINE_TOO_BIG,  /* "too big inline request" */
    RESP_ERR_MBULK_TOO_BIG,   /* "too big mbulk count string" */
    RESP_ERR_BULK_TOO_BIG,    /* "too big bulk count string" */
    RESP_ERR_QUOTES,          /* "unbalanced quotes in request" */
    RESP_ERR_BULK_CRLF,       /* "invalid bulk format: no CRLF after bulk
                                 data" (ours: Redis skips those 2 bytes
                                 unchecked and has no such error) */
} resp_status;

typedef struct {
    const char *ptr;
    size_t len;
} resp_view;

typedef struct {
    /* Set by the caller before resp_read. */
    resp_view *argv; /* room for argv_cap views */
    size_t argv_cap;
    char *scratch;   /* >= RESP_INLINE_MAX bytes, for unescaped inline args */
    size_t max_args; /* tighter multibulk limit (0: RESP_MAX_ARGS), e.g. for
                        clients not authenticated yet */
    size_t max_bulk; /* tighter bulk limit (0: RESP_MAX_BULK) */

    /* Resuming (opt-in with `resumable`; in and out). On RESP_INCOMPLETE inside a
     * multibulk request's arguments, resp_read sets these to where the
     * unfinished argument starts (offset from buf) and how many complete
     * arguments precede it; on any other outcome, to 0. A caller may pass them
     * back when it calls again with the SAME request at the start of buf
     * (the bytes before resume_off unchanged, more appended) and with
     * argv[0 .. min(resume_argc, argv_cap)) still holding the views it got,
     * moved along with buf if buf moved. Parsing then goes on from there, so
     * a request arriving in many reads costs O(its size) in total instead of
     * O(size^2). Zeros mean: parse from the start. */
    bool resumable;
    size_t resume_off;
    size_t resume_argc;

    /* Set by resp_read. */
    size_t argc;     /* RESP_OK: views filled; RESP_ARGV_SMALL: views needed */
    size_t consumed; /* RESP_OK: bytes used; otherwise 0 */
    size_t need;     /* RESP_INCOMPLETE: wait for at least this many bytes */
    char bad_byte;   /* RESP_ERR_EXPECTED_DOLLAR: the byte found instead */
    bool over_limit; /* RESP_ERR_MBULK_LEN / BULK_LEN: a well-formed length
                        over the caller's tighter max_args / max_bulk */
} resp_request;

/* Parse one request from buf[0..len). See the contract above. Never reads
 * outside buf[0..len), never writes outside argv[0..argv_cap) and scratch.
 * O(len) per call. Details that follow Redis 7.0:
 *   - `*N` / `$len` numbers are strict decimal (Redis's string2ll): optional
 *     '-', no '+', no spaces, no leading zeros, no "-0"; lines end in "\r\n".
 *   - Inline lines end at '\n' (a '\r' before it is dropped) and split like
 *     sdssplitargs(); a NUL byte ends the line's content (the rest of the
 *     line is consumed and ignored), as in Redis's C-string splitter. */
resp_status resp_read(const char *buf, size_t len, resp_request *req);

/* Redis's wording for a protocol error, without the "ERR Protocol error: "
 * prefix, written to dst (NUL-terminated, truncated to dstlen). Returns dst.
 * For RESP_ERR_EXPECTED_DOLLAR, req->bad_byte is printed raw, except NUL, CR
 * and LF, which print as a space (req may be NULL for the other codes). */
const char *resp_strerror(resp_status st, const resp_request *req, char *dst, size_t dstlen);

/* ---- Writer --------------------------------------------------------------- */

typedef struct {
    char *buf; /* owned; free with resp_out_deinit */
    size_t len;
    size_t cap;
    int proto; /* 2 or 3 */
    bool oom;  /* an append failed; contents are truncated */
} resp_out;

/* Caller-owned resp_out: init sets proto 2 and an empty buffer (no malloc
 * until the first append); deinit frees the buffer. reset empties it (keeps
 * the allocation and proto) and clears oom. */
void resp_out_init(resp_out *o);
void resp_out_deinit(resp_out *o);
void resp_out_reset(resp_out *o);

/* Append raw bytes (already-encoded RESP). */
void resp_add_raw(resp_out *o, const void *p, size_t n);

void resp_add_simple(resp_out *o, const char *s);            /* +s\r\n */
void resp_add_simplen(resp_out *o, const char *s, size_t n); /* +s\r\n */
void resp_add_ok(resp_out *o);                               /* +OK\r\n */
/* -msg\r\n. msg must start with the error code ("ERR ...", "WRONGTYPE ...");
 * CR and LF inside msg are replaced by spaces so the frame stays valid. */
void resp_add_error(resp_out *o, const char *msg);
/* printf-style resp_add_error. */
void resp_add_errorf(resp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void resp_add_int(resp_out *o, long long v);              /* :v\r\n */
void resp_add_bulk(resp_out *o, const void *p, size_t n); /* $n\r\n..\r\n */
void resp_add_bulkstr(resp_out *o, const char *s);        /* bulk of strlen */
void resp_add_bulk_ll(resp_out *o, long long v);          /* bulk of decimal */
void resp_add_null(resp_out *o);                          /* RESP2 $-1\r\n ; RESP3 _\r\n */
void resp_add_null_array(resp_out *o);                    /* RESP2 *-1\r\n ; RESP3 _\r\n */
void resp_add_array(resp_out *o, size_t n);               /* *n\r\n */
/* A map of n pairs: RESP3 %n\r\n ; RESP2 a flat array *2n\r\n. */
void resp_add_map(resp_out *o, size_t n);
/* A set of n members: RESP3 ~n\r\n ; RESP2 *n\r\n. */
void resp_add_set(resp_out *o, size_t n);
/* Out-of-band data of n elements (pub/sub messages and confirmations):
 * RESP3 a push >n\r\n ; RESP2 an array *n\r\n, as Redis sends them. */
void resp_add_push(resp_out *o, size_t n);
/* RESP3 ,<double>\r\n (inf, -inf, nan spelled as Redis does);
 * RESP2 a bulk string of the same text. */
void resp_add_double(resp_out *o, double d);
/* RESP3 #t\r\n / #f\r\n ; RESP2 :1\r\n / :0\r\n. */
void resp_add_bool(resp_out *o, bool b);
/* RESP3 =len\r\nfmt:text\r\n (fmt is 3 chars, e.g. "txt");
 * RESP2 a plain bulk string of text. */
void resp_add_verbatim(resp_out *o, const char *fmt, const char *p, size_t n);

#endif /* EBB_RESP_H */
