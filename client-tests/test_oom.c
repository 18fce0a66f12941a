/*
 * test_oom.c - out of memory is an error, not a crash (issue 14, item 5).
 *
 * Each test runs a server whose address space is capped (RLIMIT_AS, set by
 * the harness in the child before exec: h_start_server_limited) at what an
 * idle server started with the same flags maps (h_idle_vmsize: binary,
 * libraries, thread stacks, whatever the kernel's THP mode makes of them)
 * plus a headroom. Past the cap every mmap, growing mremap and brk fails with
 * ENOMEM, as allocations do on a machine out of memory. Each headroom is
 * chosen so that the allocation under test cannot fit in it while what comes
 * before it can, with megabytes of margin either way: the outcome does not
 * depend on timing, the THP mode or the memory layout.
 *
 *   - writes: SETs fill the keyspace until they get "-ERR out of memory";
 *     the connection stays open, every acknowledged key reads back exactly,
 *     no key that got the error exists, DBSIZE is the acknowledged count, and
 *     once half the keys are deleted new writes succeed again.
 *   - input: a client whose argument array, then one whose query buffer,
 *     cannot grow is closed; another client's keys and replies are unharmed.
 *   - output: a client whose reply cannot be built (one 1 MB ECHO), then one
 *     whose pending output cannot grow (pipelined ECHOs it does not read), is
 *     closed at once; another client is unharmed.
 *
 * Not built under EBB_SANITIZE (see CMakeLists.txt): AddressSanitizer
 * reserves terabytes of shadow address space, so no RLIMIT_AS lets it start.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(oom, .fini = h_teardown, .timeout = 240);

#define MIB (1024ull * 1024ull)
#define OOM_REPLY "ERR out of memory"

/* Start H with its address space capped at an idle server's plus headroom,
 * and connect C. */
static void start_capped(const char *const *extra, uint64_t headroom)
{
    signal(SIGPIPE, SIG_IGN);
    uint64_t idle = h_idle_vmsize(extra);
    h_start_server_limited(&H, extra, idle + headroom);
    C = h_connect();
    cr_log_info("idle VmSize %.1f MiB, cap %.1f MiB", (double)idle / MIB,
                (double)(idle + headroom) / MIB);
}

/* ---- Raw sockets ------------------------------------------------------------------ */

static int connect_raw(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    if (rcvbuf > 0) /* before connect, so the window stays small */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    return fd;
}

/* Send p[0..n) without reading, as far as the server takes it. Returns true
 * if the server closed the connection (EPIPE / ECONNRESET) meanwhile; false
 * if everything was sent. Fails the test if the server neither reads the
 * bytes nor closes within the deadline. */
static bool send_or_closed(int fd, const char *p, size_t n)
{
    double end = h_now() + H_IO_SECONDS * h_slow();
    size_t sent = 0;
    while (sent < n) {
        ssize_t k = send(fd, p + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            sent += (size_t)k;
            end = h_now() + H_IO_SECONDS * h_slow(); /* progress */
            continue;
        }
        if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
            return true;
        cr_assert(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), "send: %s",
                  strerror(errno));
        cr_assert(h_now() < end,
                  "the server neither read the client's input nor closed it for %.0f s "
                  "(%zu of %zu bytes sent)",
                  H_IO_SECONDS * h_slow(), sent, n);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, 50);
    }
    return false;
}

/* Read until the server closes (EOF or reset); fails the test if it does
 * not within the deadline. Returns the bytes received before the close. */
static size_t expect_closed(int fd, const char *who)
{
    static char buf[1 << 16];
    double end = h_now() + H_IO_SECONDS * h_slow();
    size_t got = 0;
    for (;;) {
        double left = end - h_now();
        cr_assert(left > 0,
                  "%s: the server neither replied nor closed the connection in %.0f s "
                  "(%zu bytes received)",
                  who, H_IO_SECONDS * h_slow(), got);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k > 0)
            got += (size_t)k;
        else if (k == 0 || errno == ECONNRESET)
            return got;
        else
            cr_assert(errno == EINTR || errno == EAGAIN, "recv: %s", strerror(errno));
    }
}

/* ---- Keys ------------------------------------------------------------------------- */

/* SET keys [from, to) to their generation-gen values, pipelined. */
static void set_keys(redisContext *c, uint64_t from, uint64_t to, unsigned gen)
{
    uint8_t v[H_VALUE_LEN];
    for (uint64_t i = from; i < to; i++) {
        h_value_of(i, gen, v);
        redisAppendCommand(c, "SET %" PRIu64 " %b", i, v, (size_t)H_VALUE_LEN);
    }
    for (uint64_t i = from; i < to; i++) {
        redisReply *r = h_next_reply(c, "SET", (long long)i);
        cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, "SET %" PRIu64 ": %s",
                  i, r->type == REDIS_REPLY_ERROR ? r->str : "not +OK");
        freeReplyObject(r);
    }
}

/* Every key of [from, to) holds its generation-gen value, and answers come
 * back on c. */
static void expect_keys(redisContext *c, uint64_t from, uint64_t to, unsigned gen)
{
    uint8_t v[H_VALUE_LEN];
    for (uint64_t i = from; i < to; i++)
        redisAppendCommand(c, "GET %" PRIu64, i);
    for (uint64_t i = from; i < to; i++) {
        redisReply *r = h_next_reply(c, "GET", (long long)i);
        h_value_of(i, gen, v);
        cr_assert(r->type == REDIS_REPLY_STRING && r->len == H_VALUE_LEN &&
                      memcmp(r->str, v, H_VALUE_LEN) == 0,
                  "key %" PRIu64 " does not hold its value", i);
        freeReplyObject(r);
    }
}

/* ---- Writes ----------------------------------------------------------------------- */

/* 96 MiB past the idle server: a few hundred thousand 128-byte keys, record
 * slabs and a bucket-array grow or two included, in a few seconds. */
#define FILL_HEADROOM (96 * MIB)
#define FILL_BATCH 1000u

enum { KEY_UNSENT, KEY_ACKED, KEY_REFUSED };

ITEST(oom, writes_get_an_error_and_every_acknowledged_key_stays)
{
    start_capped(NULL, FILL_HEADROOM);
    /* Every key takes at least its 136-byte record: past this many SETs
     * without an error, the cap is not working. */
    uint64_t most = FILL_HEADROOM / 136 + FILL_BATCH;
    uint8_t *state = calloc(most, 1);
    cr_assert(state != NULL);
    uint8_t v[H_VALUE_LEN];
    uint64_t next = 0, acked = 0, refused = 0;
    /* Until a whole batch is refused: one refusal need not end the acks (a
     * write may need no new memory where another does). */
    for (bool all_refused = false; !all_refused;) {
        cr_assert(next + FILL_BATCH <= most,
                  "%" PRIu64 " SETs of 128 bytes under a %llu MiB cap, no out of memory", next,
                  FILL_HEADROOM / MIB);
        for (uint64_t i = next; i < next + FILL_BATCH; i++) {
            h_value_of(i, 0, v);
            redisAppendCommand(C, "SET %" PRIu64 " %b", i, v, (size_t)H_VALUE_LEN);
        }
        all_refused = true;
        for (uint64_t i = next; i < next + FILL_BATCH; i++) {
            /* A reply for every SET: the connection stays open. */
            redisReply *r = h_next_reply(C, "SET", (long long)i);
            if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
                state[i] = KEY_ACKED;
                acked++;
                all_refused = false;
            } else {
                cr_assert(r->type == REDIS_REPLY_ERROR && strcmp(r->str, OOM_REPLY) == 0,
                          "SET %" PRIu64 ": expected +OK or -" OOM_REPLY ", got type %d '%s'", i,
                          r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
                state[i] = KEY_REFUSED;
                refused++;
            }
            freeReplyObject(r);
        }
        next += FILL_BATCH;
    }
    cr_log_info("%" PRIu64 " keys acknowledged, %" PRIu64 " refused", acked, refused);
    cr_assert(acked > FILL_HEADROOM / 4 / 200, "only %" PRIu64 " keys fit in %llu MiB", acked,
              FILL_HEADROOM / MIB);

    /* The same connection still answers, and the keyspace is exactly the
     * acknowledged writes: each holds its value, no refused key exists. */
    EXPECT_STATUS(C, "PONG", "PING");
    EXPECT_INT(C, (long long)acked, "DBSIZE");
    for (uint64_t from = 0; from < next; from += FILL_BATCH) {
        for (uint64_t i = from; i < from + FILL_BATCH; i++)
            redisAppendCommand(C, "GET %" PRIu64, i);
        for (uint64_t i = from; i < from + FILL_BATCH; i++) {
            redisReply *r = h_next_reply(C, "GET", (long long)i);
            if (state[i] == KEY_ACKED) {
                h_value_of(i, 0, v);
                cr_assert(r->type == REDIS_REPLY_STRING && r->len == H_VALUE_LEN &&
                              memcmp(r->str, v, H_VALUE_LEN) == 0,
                          "acknowledged key %" PRIu64 " does not hold its value", i);
            } else {
                cr_assert(r->type == REDIS_REPLY_NIL,
                          "key %" PRIu64 " exists though its SET got -" OOM_REPLY, i);
            }
            freeReplyObject(r);
        }
    }

    /* Delete every other acknowledged key: writes fit again, a quarter of
     * what was deleted at least (the refused keys first, then new ones). */
    uint64_t deleted = 0, k = 0;
    for (uint64_t i = 0; i < next; i++)
        if (state[i] == KEY_ACKED && k++ % 2 == 0) {
            redisAppendCommand(C, "DEL %" PRIu64, i);
            state[i] = KEY_UNSENT;
            deleted++;
        }
    for (uint64_t i = 0; i < deleted; i++) {
        redisReply *r = h_next_reply(C, "DEL", (long long)i);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "DEL #%" PRIu64, i);
        freeReplyObject(r);
    }
    uint64_t again = deleted / 4, written = 0;
    for (uint64_t i = 0; written < again; i++) {
        if (i < next && state[i] != KEY_REFUSED)
            continue;
        h_value_of(i, 1, v);
        redisAppendCommand(C, "SET %" PRIu64 " %b", i, v, (size_t)H_VALUE_LEN);
        if (i < next)
            state[i] = KEY_ACKED;
        written++;
    }
    for (uint64_t i = 0; i < again; i++) {
        redisReply *r = h_next_reply(C, "SET", (long long)i);
        cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
                  "write #%" PRIu64 " of %" PRIu64 " after deleting %" PRIu64 " keys: %s", i, again,
                  deleted, r->type == REDIS_REPLY_ERROR ? r->str : "not +OK");
        freeReplyObject(r);
    }
    EXPECT_INT(C, (long long)(acked - deleted + again), "DBSIZE");
    free(state);
}

/* ---- Input ------------------------------------------------------------------------ */

/* 12 MiB past the idle server. A DEL of 2^20 - 1 one-byte keys is 7 MiB of
 * input (an 8 MiB query buffer, which fits) and needs a 16 MiB argument
 * array (which does not); an unfinished request of 1 MB bulks doubles the
 * query buffer until 16 MiB, which does not fit either (or sooner: glibc
 * serves the buffer from its heap, copying, once a freed 8 MiB block has
 * raised its mmap threshold). Either way the outcome checked is the same:
 * closed, no reply. */
#define INPUT_HEADROOM (12 * MIB)
#define KEEP_KEYS 1000u

/* The other client (C, with keys 0..KEEP_KEYS) and a new one are served,
 * and writes fit again. */
static void others_unharmed(void)
{
    EXPECT_STATUS(C, "PONG", "PING");
    expect_keys(C, 0, KEEP_KEYS, 0);
    redisContext *d = h_connect();
    set_keys(d, KEEP_KEYS, 2 * KEEP_KEYS, 0);
    expect_keys(d, 0, 2 * KEEP_KEYS, 0);
    redisFree(d);
}

ITEST(oom, a_client_whose_input_cannot_grow_is_closed_alone)
{
    start_capped(NULL, INPUT_HEADROOM);
    EXPECT_OK(C, "CONFIG SET client-query-buffer-limit 4gb");
    set_keys(C, 0, KEEP_KEYS, 0);

    /* The argument array. */
    size_t nargs = 1u << 20;
    size_t cap = 16 + 13 + (nargs - 1) * 7;
    char *buf = malloc(cap);
    cr_assert(buf != NULL);
    size_t n = (size_t)sprintf(buf, "*%zu\r\n$3\r\nDEL\r\n", nargs);
    for (size_t i = 1; i < nargs; i++) {
        memcpy(buf + n, "$1\r\n7\r\n", 7);
        n += 7;
    }
    int fd = connect_raw(0);
    send_or_closed(fd, buf, n);
    size_t got = expect_closed(fd, "DEL of 2^20 - 1 keys");
    cr_assert_eq(got, 0, "the DEL got %zu bytes of reply; its argv cannot fit", got);
    close(fd);
    EXPECT_STATUS(C, "PONG", "PING");
    expect_keys(C, 0, KEEP_KEYS, 0);
    free(buf);

    /* The query buffer: an MSET that never ends, 1 MB bulk after bulk. */
    size_t bulk = 1000000;
    buf = malloc(bulk + 32);
    cr_assert(buf != NULL);
    fd = connect_raw(0);
    n = (size_t)sprintf(buf, "*1000001\r\n$4\r\nMSET\r\n");
    cr_assert(!send_or_closed(fd, buf, n));
    n = (size_t)sprintf(buf, "$%zu\r\n", bulk);
    memset(buf + n, 'q', bulk);
    memcpy(buf + n + bulk, "\r\n", 2);
    n += bulk + 2;
    size_t sent = 0;
    bool closed = false;
    while (!closed) {
        cr_assert(sent < 8 * INPUT_HEADROOM,
                  "%zu MiB of one unfinished request taken under a %llu MiB headroom",
                  sent / (size_t)MIB, INPUT_HEADROOM / MIB);
        closed = send_or_closed(fd, buf, n);
        sent += n;
    }
    got = expect_closed(fd, "unfinished MSET");
    cr_assert_eq(got, 0, "the unfinished MSET got %zu bytes of reply", got);
    close(fd);
    cr_log_info("query buffer: closed after %zu MiB sent", sent / (size_t)MIB);
    free(buf);

    others_unharmed();
}

/* ---- Output ----------------------------------------------------------------------- */

/* 2 MiB past the idle server. A 1 MB ECHO takes a 1 MiB query buffer (which
 * fits) and a 2 MiB reply buffer (which does not); a client that does not
 * read replies of 64 KiB would make the server hold up to 4 MiB of them
 * before it stops reading (conn.c, CONN_OUTPUT_HIGH), which does not fit
 * either. */
#define OUTPUT_HEADROOM (2 * MIB)

ITEST(oom, a_client_whose_output_cannot_grow_is_closed_alone)
{
    start_capped(NULL, OUTPUT_HEADROOM);
    set_keys(C, 0, KEEP_KEYS, 0);

    /* One reply too big to build. */
    size_t bulk = 1000000;
    char *buf = malloc(bulk + 64);
    cr_assert(buf != NULL);
    size_t n = (size_t)sprintf(buf, "*2\r\n$4\r\nECHO\r\n$%zu\r\n", bulk);
    memset(buf + n, 'e', bulk);
    memcpy(buf + n + bulk, "\r\n", 2);
    n += bulk + 2;
    int fd = connect_raw(0);
    cr_assert(!send_or_closed(fd, buf, n), "the 1 MB ECHO itself must fit");
    size_t got = expect_closed(fd, "1 MB ECHO");
    cr_assert_eq(got, 0, "%zu bytes of a reply that cannot be built", got);
    close(fd);
    EXPECT_STATUS(C, "PONG", "PING");
    expect_keys(C, 0, KEEP_KEYS, 0);

    /* Pending output that cannot grow: 64 KiB ECHOs, pipelined and not
     * read, from a client with a small receive window. */
    bulk = 65536;
    n = (size_t)sprintf(buf, "*2\r\n$4\r\nECHO\r\n$%zu\r\n", bulk);
    memset(buf + n, 'o', bulk);
    memcpy(buf + n + bulk, "\r\n", 2);
    n += bulk + 2;
    fd = connect_raw(4096);
    cr_assert_eq(h_info_wait(C, "clients", "connected_clients", 2, 10.0), 2,
                 "the server did not accept the client");
    bool closed = false;
    size_t sent = 0;
    while (!closed) {
        cr_assert(sent < 64 * MIB, "%zu MiB of ECHOs sent and not read: never out of memory",
                  sent / (size_t)MIB);
        closed = send_or_closed(fd, buf, n);
        sent += n;
        /* Closed by the server: it is no longer its client (it reads and
         * drops what still arrives until the socket closes). */
        if (!closed) {
            char *info = h_info(C, "clients");
            closed = h_info_num(info, "connected_clients") == 1;
            free(info);
        }
    }
    expect_closed(fd, "unread ECHOs");
    close(fd);
    cr_log_info("pending output: closed after %zu KiB of ECHOs", sent / 1024);
    free(buf);

    others_unharmed();
}
