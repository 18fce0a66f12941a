/*
 * harness.h - lifecycle and helpers for ebb's black-box integration tests.
 *
 * What it does
 *   Each test (a Criterion test runs in its own process) starts the built
 *   ebb-server (EBB_SERVER_PATH, a compile definition) on a free high port,
 *   bound to 127.0.0.1, waits until it answers PING, runs, and always stops
 *   it: SIGTERM, waitpid, and the exit status must be 0, so a crash or a
 *   sanitizer report in the server fails the test that caused it.
 *
 * Using a running server (debugging)
 *   EBB_ADDR=host:port makes h_setup() use that server instead of starting
 *   one. Tests written for h_setup() therefore never assume an empty
 *   keyspace: they name keys with K() and namespaces with NS(), which add a
 *   per-test unique namespace / suffix in that mode. Tests that need an empty
 *   server or change server-wide state (FLUSHALL, CONFIG SET, maxclients,
 *   command-line options) use h_setup_own(), which always starts its own.
 *   Each external-mode test creates a namespace, so give that server a large
 *   max-namespaces (`--max-namespaces 65536`).
 *
 * Failures are reported with the caller's file:line (the EXPECT_* macros).
 * Sizes and deadlines scale with h_slow() (4 when EBB_SANITIZED=1 is set).
 * Notes go through cr_log_info (shown with --verbose): Criterion 2.4 exits
 * non-zero after any cr_log_warn, which would fail a passing suite.
 */
#ifndef EBB_HARNESS_H
#define EBB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis.h>

/* Deadline for the server to answer its first PING, and to exit after SIGTERM. */
#define H_START_SECONDS 10.0
#define H_STOP_SECONDS 10.0
/* Default deadline for one raw-socket read. */
#define H_IO_SECONDS 10.0

typedef struct {
    pid_t pid; /* > 0 while we own a running server */
    int port;
    char host[64];
    bool owned;  /* false: EBB_ADDR */
    char ns[40]; /* "" when owned; a unique namespace otherwise */
} h_server;

/* The server of the current test, and a hiredis connection to it. */
extern h_server H;
extern redisContext *C;

/* 1 normally, 4 when EBB_SANITIZED=1: multiply deadlines by it. */
int h_slow(void);
/* True when EBB_SANITIZED=1 (the server is a sanitizer build). Tests then
 * use smaller sizes, and assert no bound on the server's RSS or VmHWM: its
 * shadow memory and the quarantine of freed blocks count in them, so such
 * a bound would measure the sanitizer as much as ebb. RSS bounds are
 * asserted in the normal build (scripts/test.sh runs it first). */
bool h_sanitized(void);
/* Monotonic seconds. */
double h_now(void);

/* ---- Lifecycle -------------------------------------------------------------- */

/* Criterion .init/.fini: use EBB_ADDR if set, otherwise start a server with
 * default options; connect C. */
void h_setup(void);
/* Always start our own server; extra flags end with NULL (may be NULL). */
void h_setup_own_args(const char *const *extra);
void h_setup_own(void);
/* Disconnect C; if we own the server, stop it and require exit status 0. */
void h_teardown(void);

/* Start ebb-server with argv[1..] = args (NULL-terminated, the port is not
 * added). Stdout/stderr go to the given fds when >= 0. Returns the pid. */
pid_t h_spawn(const char *const *args, int out_fd, int err_fd);
/* Fork and exec argv (argv[0] a path, or a name looked up on PATH and then,
 * if fallback_dir is not NULL, in fallback_dir), stdout and stderr to the
 * given fds when >= 0. The child dies with the test process. */
pid_t h_spawn_argv(const char *const *argv, const char *fallback_dir, int out_fd, int err_fd);
/* Poll until process pid answers INFO on 127.0.0.1:port (its process_id
 * says it is pid, not another test's server on the same port) or exits.
 * Returns true when it answered; false with *status filled when it exited
 * first. */
bool h_wait_ready(pid_t pid, int port, double seconds, int *status);
/* SIGTERM pid and wait up to `seconds`; returns the waitpid status, or -1
 * after killing it with SIGKILL because it did not exit in time. */
int h_stop_pid(pid_t pid, double seconds);
/* Wait up to `seconds` (scaled by h_slow()) for pid to exit by itself;
 * returns its waitpid status, or -1 if it is still running. */
int h_wait_exit(pid_t pid, double seconds);
/* A currently free TCP port on 127.0.0.1 (bind to port 0, read, close). */
int h_free_port(void);
/* Start an owned server with these extra flags on a free port, retrying on a
 * port collision. Fills srv. */
void h_start_server(h_server *srv, const char *const *extra);
/* Start redis-server 7 (the peer of the differential tests: no config
 * file, nothing on disk) on a free port; its pid in *pid, its port
 * returned. Stop it with h_stop_pid. */
int h_start_redis(pid_t *pid);
/* Stop srv (owned) and assert exit status 0. */
void h_stop_server(h_server *srv);
/* h_start_server with the server's address space capped: the child sets
 * RLIMIT_AS (soft and hard) to as_bytes before it execs the server, so every
 * mmap, mremap that grows and brk past the cap fails there with ENOMEM, as
 * allocations fail on a machine out of memory (0: no cap). A cap is only
 * meaningful relative to what the server maps anyway (binary, libraries,
 * thread stacks, its own reservations, which vary with the kernel and the
 * options): derive it from h_idle_vmsize() with the same flags. Not under
 * AddressSanitizer, which reserves terabytes of shadow address space. */
void h_start_server_limited(h_server *srv, const char *const *extra, uint64_t as_bytes);
/* Address space (VmSize, bytes) of a server started with these flags,
 * measured once it answers PING, then stopped. */
uint64_t h_idle_vmsize(const char *const *extra);

/* Criterion does not count assertions that fail in a .fini fixture, so a
 * test must stop its server (and check the exit status) in its own body.
 * ITEST declares a Criterion test whose body ends with h_teardown(); the
 * suite's .fini = h_teardown then only cleans up after a failed assertion.
 * ITESTX passes Criterion test options (.init = ...). */
#define ITEST(suite, name)                                                                         \
    static void suite##_##name##_body(void);                                                       \
    Test(suite, name)                                                                              \
    {                                                                                              \
        suite##_##name##_body();                                                                   \
        h_teardown();                                                                              \
    }                                                                                              \
    static void suite##_##name##_body(void)
#define ITESTX(suite, name, ...)                                                                   \
    static void suite##_##name##_body(void);                                                       \
    Test(suite, name, __VA_ARGS__)                                                                 \
    {                                                                                              \
        suite##_##name##_body();                                                                   \
        h_teardown();                                                                              \
    }                                                                                              \
    static void suite##_##name##_body(void)

/* ---- Names ------------------------------------------------------------------ */

/* Key text for id ("7", "007"): itself when the server is ours, "<ns>:<id>"
 * on an external server. Returns one of 32 rotating static buffers. */
const char *K(const char *id);
/* A namespace name: `base` when owned, base + a unique suffix otherwise. */
const char *NS(const char *base);

/* ---- hiredis helpers -------------------------------------------------------- */

redisContext *h_connect(void);
redisContext *h_connect_to(const char *host, int port);

/* Run a command (printf-style hiredis format); fails the test on I/O error.
 * The caller frees the reply. */
redisReply *h_cmd(const char *file, int line, redisContext *c, const char *fmt, ...);
redisReply *h_cmdargv(const char *file, int line, redisContext *c, int argc, const char **argv,
                      const size_t *lens);
/* Check the reply type and value; str is compared exactly (with its length
 * `slen`, or strlen when slen is (size_t)-1). Frees the reply. */
void h_check(const char *file, int line, redisReply *r, int type, const char *str, size_t slen,
             long long num);
/* A hiredis reply type's name ("bulk", "array", "integer", "nil", "status",
 * "error"), for messages. */
const char *h_type_name(int t);
/* A printable, escaped form of bytes for messages (static rotating buffers). */
const char *h_esc(const void *p, size_t n);

#define CMD(c, ...) h_cmd(__FILE__, __LINE__, (c), __VA_ARGS__)
#define CMDV(c, argc, argv, lens) h_cmdargv(__FILE__, __LINE__, (c), (argc), (argv), (lens))

#define EXPECT_STATUS(c, want, ...)                                                                \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_STATUS, (want), (size_t)-1, 0)
#define EXPECT_OK(c, ...) EXPECT_STATUS(c, "OK", __VA_ARGS__)
#define EXPECT_ERR(c, want, ...)                                                                   \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_ERROR, (want), (size_t)-1, 0)
#define EXPECT_INT(c, want, ...)                                                                   \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_INTEGER, NULL, 0, (want))
#define EXPECT_NIL(c, ...)                                                                         \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_NIL, NULL, 0, 0)
#define EXPECT_BULK(c, want, ...)                                                                  \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_STRING, (want), (size_t)-1, 0)
#define EXPECT_BULKN(c, want, wlen, ...)                                                           \
    h_check(__FILE__, __LINE__, CMD(c, __VA_ARGS__), REDIS_REPLY_STRING, (want), (wlen), 0)

/* ---- Raw sockets (exact bytes) ---------------------------------------------- */

typedef struct {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len, cap;
} h_raw;

/* Connect a raw TCP socket to the current server (or host:port). */
h_raw *h_raw_open(void);
h_raw *h_raw_open_to(const char *host, int port);
/* h_raw_open with a receive buffer of `bytes` (SO_RCVBUF, before connect):
 * a reader that leaves most of what it is sent in the server. */
h_raw *h_raw_open_rcvbuf(int bytes);
void h_raw_close(h_raw *r);
/* Send all bytes (fails the test on error). */
void h_raw_send(h_raw *r, const void *p, size_t n);
void h_raw_sends(h_raw *r, const char *s);
/* Send one command as a multibulk frame of NUL-terminated words. */
void h_raw_cmd(h_raw *r, int argc, const char *const *argv);
/* Receive until at least n bytes are buffered or the deadline passes;
 * returns the number buffered (may be < n on timeout or EOF). */
size_t h_raw_fill(h_raw *r, size_t n, double seconds);
/* Require the next bytes to be exactly `want` (wlen bytes) and consume them. */
void h_raw_expect_(const char *file, int line, h_raw *r, const void *want, size_t wlen);
#define RAW_EXPECT(r, s) h_raw_expect_(__FILE__, __LINE__, (r), (s), sizeof(s) - 1)
#define RAW_EXPECTN(r, p, n) h_raw_expect_(__FILE__, __LINE__, (r), (p), (n))
/* Read one complete RESP2/RESP3 reply; returns a malloc'd copy of its exact
 * bytes (NUL-terminated, length in *len) and consumes it. */
char *h_raw_reply_(const char *file, int line, h_raw *r, size_t *len);
#define RAW_REPLY(r, lenp) h_raw_reply_(__FILE__, __LINE__, (r), (lenp))
/* Require that the peer closes the connection (recv returns 0) with nothing
 * more sent; allow_reset also accepts ECONNRESET (the peer closed with our
 * bytes unread, which TCP reports as a reset). */
void h_raw_expect_closed_(const char *file, int line, h_raw *r, bool allow_reset);
#define RAW_EXPECT_CLOSED(r) h_raw_expect_closed_(__FILE__, __LINE__, (r), false)
/* How a connection ended for h_raw_read_to_close. */
typedef enum { H_RAW_EOF, H_RAW_RESET, H_RAW_TIMEOUT } h_raw_end;
/* Read everything into r until the peer closes (EOF), resets the
 * connection, or `seconds` (scaled by h_slow()) pass. */
h_raw_end h_raw_read_to_close(h_raw *r, double seconds);
/* Length of one complete RESP value at p[0..n), 0 if incomplete. */
size_t h_resp_frame_len(const char *p, size_t n);

/* The next reply on c (of pipelined commands); fails the test, naming `what`
 * and request i, if none comes. */
redisReply *h_next_reply(redisContext *c, const char *what, long long i);

/* Fetch INFO [section] over hiredis; malloc'd text. */
char *h_info(redisContext *c, const char *section);
/* Value of "field:" in INFO text as a number (-1 if absent). */
long long h_info_num(const char *info, const char *field);
/* Poll INFO <section> on c until `field` equals want or `seconds` (scaled by
 * h_slow()) pass; returns the last value read. For counts the server reaches
 * in its own time, such as connections it has yet to accept. */
/* Poll until the bytes of input the server holds unparsed for every client
 * but c (the sum of CLIENT LIST's qbuf= fields) equal want, or `seconds`
 * (scaled by h_slow()) pass; returns the last sum. How a test knows the
 * server has read partial requests sent on other connections. */
long long h_held_input_wait(redisContext *c, long long want, double seconds);
long long h_info_wait(redisContext *c, const char *section, const char *field, long long want,
                      double seconds);

/* Bytes of a "Name:   N kB" line of /proc/<pid>/status (VmRSS, VmHWM), or
 * -1 if it cannot be read. Safe from any thread. */
long long h_proc_bytes(pid_t pid, const char *name);
/* The same, failing the test if it cannot be read (test thread only). */
long long h_proc_bytes_must(pid_t pid, const char *name);

/* ---- Test values ------------------------------------------------------------------ */

/* A 128-byte value for key i in generation gen: i in its first 8 bytes, so
 * distinct for every (i, gen), then pseudo-random bytes of every value (NUL,
 * CR and LF included). */
#define H_VALUE_LEN 128
/* splitmix64: the next pseudo-random number of the sequence *x. */
uint64_t h_splitmix(uint64_t *x);
void h_value_of(uint64_t i, unsigned gen, uint8_t out[H_VALUE_LEN]);

#endif
