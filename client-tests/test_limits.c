/*
 * test_limits.c - the per-client limits and the access rules, from outside:
 * client-query-buffer-limit, client-output-buffer-limit (hard and soft),
 * maxclients, timeout, tcp-keepalive, requirepass / AUTH / HELLO AUTH (at
 * startup and changed at runtime), protected mode, and SHUTDOWN / SIGTERM
 * while clients are mid-pipeline.
 *
 * The harness waits for +PONG before a test starts, so tests that need a
 * password usually set it with CONFIG SET once C is connected (C, already
 * authenticated, keeps working, which is also what Redis does). Startup with
 * --requirepass and the protected-mode checks spawn the server themselves.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(limits, .init = h_setup_own, .fini = h_teardown, .timeout = 240);

#define MIB (1024LL * 1024)
#define VLEN 128
#define NOAUTH "NOAUTH Authentication required."
#define WRONGPASS "WRONGPASS invalid username-password pair or user is disabled."

/* ---- Helpers ------------------------------------------------------------------------ */

static double mib(long long b)
{
    return (double)b / (double)MIB;
}

static long long stat_of(redisContext *c, const char *section, const char *field)
{
    char *info = h_info(c, section);
    long long v = h_info_num(info, field);
    free(info);
    return v;
}

/* Poll INFO until field >= want or the deadline; returns the last value. */
static long long wait_stat(const char *section, const char *field, long long want, double seconds)
{
    double end = h_now() + seconds * h_slow();
    long long v;
    while ((v = stat_of(C, section, field)) < want && h_now() < end)
        usleep(10000);
    return v;
}

/* Send what the socket takes without blocking; -1 once the peer is gone. */
static ssize_t send_some(int fd, const void *p, size_t n)
{
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0)
        return k;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    cr_assert(errno == EPIPE || errno == ECONNRESET, "send: %s", strerror(errno));
    return -1;
}

/* Send all, stopping quietly if the server hangs up. Returns bytes sent. */
static size_t send_until_closed(int fd, const void *p, size_t n, double seconds)
{
    const char *s = p;
    size_t sent = 0;
    double end = h_now() + seconds * h_slow();
    while (sent < n && h_now() < end) {
        ssize_t k = send_some(fd, s + sent, n - sent);
        if (k < 0)
            break;
        sent += (size_t)k;
        if (k == 0) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 20);
        }
    }
    return sent;
}

typedef enum { RD_EOF, RD_RESET, RD_TIMEOUT } rd_end;

/* Read (and count, keeping the first `keep` bytes in buf) until the peer
 * closes or resets, or the deadline passes. */
static rd_end drain_to_close(int fd, double seconds, char *buf, size_t keep, size_t *got)
{
    double end = h_now() + seconds * h_slow();
    static char scratch[1 << 16];
    *got = 0;
    for (;;) {
        double left = end - h_now();
        if (left <= 0)
            return RD_TIMEOUT;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t k = recv(fd, scratch, sizeof scratch, 0);
        if (k > 0) {
            if (buf != NULL && *got < keep)
                memcpy(buf + *got, scratch, (size_t)k < keep - *got ? (size_t)k : keep - *got);
            *got += (size_t)k;
        } else if (k == 0) {
            return RD_EOF;
        } else if (errno == ECONNRESET) {
            return RD_RESET;
        } else if (errno != EINTR && errno != EAGAIN) {
            cr_assert_fail("recv: %s", strerror(errno));
        }
    }
}

/* A raw TCP socket to the test's server with a small receive buffer (set
 * before connect, so the window stays small): a reader that cannot absorb
 * much, to make the server's own output buffer fill. */
static int connect_small_rcvbuf(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    int sz = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    return fd;
}

static void fill_value(char *v, int seed)
{
    for (int i = 0; i < VLEN; i++)
        v[i] = (char)('a' + (seed * 7 + i) % 26);
}

/* The CONFIG GET value of one option. */
static char *config_get(redisContext *c, const char *name)
{
    redisReply *r = CMD(c, "CONFIG GET %s", name);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "CONFIG GET %s", name);
    char *v = strdup(r->element[1]->str);
    freeReplyObject(r);
    return v;
}

#define EXPECT_CONFIG(c, name, want)                                                               \
    do {                                                                                           \
        char *v_ = config_get((c), (name));                                                        \
        cr_assert(strcmp(v_, (want)) == 0, "CONFIG GET %s: '%s', expected '%s'", (name), v_,       \
                  (want));                                                                         \
        free(v_);                                                                                  \
    } while (0)

/* ---- client-query-buffer-limit ----------------------------------------------------- */

ITEST(limits, query_buffer_limit_closes_the_client)
{
    EXPECT_CONFIG(C, "client-query-buffer-limit", "268435456");
    redisReply *r = CMD(C, "CONFIG SET client-query-buffer-limit 1000");
    cr_assert(r->type == REDIS_REPLY_ERROR, "a limit below 1mb must be refused");
    freeReplyObject(r);
    EXPECT_OK(C, "CONFIG SET client-query-buffer-limit 1mb");
    EXPECT_CONFIG(C, "client-query-buffer-limit", "1048576");
    EXPECT_OK(C, "SET 1 keep");
    long long rss0 = h_proc_bytes_must(H.pid, "VmRSS");

    /* 900 KB of an unfinished ECHO is under the limit: it waits, then
     * completes. */
    size_t n = 900000;
    char *buf = malloc(3 * MIB);
    cr_assert(buf != NULL);
    size_t hl = (size_t)sprintf(buf, "*2\r\n$4\r\nECHO\r\n$%zu\r\n", n);
    memset(buf + hl, 'e', n);
    memcpy(buf + hl + n, "\r\n", 2);
    h_raw *ok = h_raw_open();
    h_raw_send(ok, buf, hl + n - 10);
    EXPECT_STATUS(C, "PONG", "PING");
    usleep(100000);
    h_raw_send(ok, buf + hl + n - 10, 12);
    h_raw_fill(ok, 9 + n + 2, H_IO_SECONDS);
    cr_assert_eq(ok->len, 9 + n + 2, "the 900 KB ECHO came back with %zu bytes", ok->len);
    ok->len = 0;
    h_raw_sends(ok, "PING\r\n");
    RAW_EXPECT(ok, "+PONG\r\n");
    h_raw_close(ok);
    cr_assert_eq(stat_of(C, "stats", "client_query_limit_closes"), 0);

    /* 2 MB of an unfinished MSET (two 1 MB bulks, the last one cut) is over:
     * the client is closed, without a reply. */
    size_t q = (size_t)sprintf(buf, "*5\r\n$4\r\nMSET\r\n$1\r\n1\r\n$1000000\r\n");
    memset(buf + q, 'm', 1000000);
    q += 1000000;
    q += (size_t)sprintf(buf + q, "\r\n$1\r\n2\r\n$1000000\r\n");
    memset(buf + q, 'm', 999990);
    q += 999990;
    h_raw *bad = h_raw_open();
    size_t sent = send_until_closed(bad->fd, buf, q, 30.0);
    size_t got = 0;
    rd_end how = drain_to_close(bad->fd, 10.0, NULL, 0, &got);
    cr_assert(how != RD_TIMEOUT, "the client over the limit was not closed (%zu of %zu sent)", sent,
              q);
    cr_assert_eq(got, 0, "the closed client got %zu bytes", got);
    h_raw_close(bad);
    long long closes = wait_stat("stats", "client_query_limit_closes", 1, 5.0);
    cr_assert_eq(closes, 1);
    /* The server is fine and its memory comes back. */
    EXPECT_BULK(C, "keep", "GET 1");
    EXPECT_NIL(C, "GET 2");
    long long rss = h_proc_bytes_must(H.pid, "VmRSS");
    double end = h_now() + 5.0;
    while (rss > rss0 + 4 * MIB && h_now() < end) {
        usleep(20000);
        rss = h_proc_bytes_must(H.pid, "VmRSS");
    }
    fprintf(stderr, "limits: query buffer: sent %zu bytes before the close; RSS %.1f -> %.1f MiB\n",
            sent, mib(rss0), mib(rss));
    if (!h_sanitized())
        cr_assert(rss <= rss0 + 4 * MIB, "RSS %.1f MiB after the close (%.1f before)", mib(rss),
                  mib(rss0));
    free(buf);
}

/* ---- client-output-buffer-limit ---------------------------------------------------- */

/* A client pipelines GETs of 128-byte values and never reads. Returns the
 * seconds from the first send to the server closing it (or -1), and the
 * highest server RSS seen meanwhile. */
static double flood_until_closed(int keys, long long *rss_max, size_t *sent_out)
{
    int fd = connect_small_rcvbuf(H.port);
    enum { PER = 4096 };
    char *chunk = malloc(PER * 16);
    size_t cl = 0;
    for (int i = 0; i < PER; i++)
        cl += (size_t)sprintf(chunk + cl, "GET %d\r\n", i % keys);
    size_t sent = 0, off = 0;
    double t0 = h_now(), end = t0 + 30.0 * h_slow();
    double closed_at = -1;
    *rss_max = 0;
    long long closes0 = stat_of(C, "stats", "client_output_limit_closes");
    while (h_now() < end) {
        ssize_t k = send_some(fd, chunk + off, cl - off);
        if (k < 0)
            break; /* closed under us */
        sent += (size_t)k;
        off = (off + (size_t)k) % cl;
        if (k == 0) {
            /* The server stopped reading: see whether it closed us. */
            long long rss = h_proc_bytes_must(H.pid, "VmRSS");
            *rss_max = rss > *rss_max ? rss : *rss_max;
            if (stat_of(C, "stats", "client_output_limit_closes") > closes0)
                break;
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 20);
        }
    }
    long long closes = wait_stat("stats", "client_output_limit_closes", closes0 + 1, 10.0);
    if (closes > closes0)
        closed_at = h_now() - t0;
    long long rss = h_proc_bytes_must(H.pid, "VmRSS");
    *rss_max = rss > *rss_max ? rss : *rss_max;
    /* Whatever was already in the socket buffers arrives, then the close. */
    size_t got = 0;
    rd_end how = drain_to_close(fd, 10.0, NULL, 0, &got);
    cr_assert(how != RD_TIMEOUT, "the flooding client was not disconnected");
    close(fd);
    free(chunk);
    *sent_out = sent;
    return closed_at;
}

static void load_values(int keys)
{
    char v[VLEN];
    for (int i = 0; i < keys; i++) {
        fill_value(v, i);
        redisAppendCommand(C, "SET %d %b", i, v, (size_t)VLEN);
    }
    for (int i = 0; i < keys; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(C, (void **)&r) == REDIS_OK);
        freeReplyObject(r);
    }
}

ITEST(limits, output_buffer_hard_limit)
{
    load_values(1000);
    EXPECT_OK(C, "CONFIG SET client-output-buffer-limit %s", "normal 1mb 512kb 1");
    long long rss0 = h_proc_bytes_must(H.pid, "VmRSS"), rss_max = 0;
    size_t sent = 0;
    double t = flood_until_closed(1000, &rss_max, &sent);
    fprintf(stderr,
            "limits: output hard limit: closed after %.2f s and %zu request bytes; server RSS "
            "%.1f MiB before, at most %.1f MiB during\n",
            t, sent, mib(rss0), mib(rss_max));
    cr_assert(t >= 0, "client_output_limit_closes did not count the close");
    cr_assert_eq(stat_of(C, "stats", "client_output_limit_closes"), 1);
    if (!h_sanitized())
        cr_assert(rss_max < rss0 + 24 * MIB, "server RSS reached %.1f MiB (%.1f before)",
                  mib(rss_max), mib(rss0));

    /* A pipelining client that reads is not touched: 5000 GETs (680 KB of
     * replies, under the hard limit even if it reads late). */
    h_raw *r = h_raw_open();
    char *req = malloc(5000 * 16);
    size_t q = 0;
    for (int i = 0; i < 5000; i++)
        q += (size_t)sprintf(req + q, "GET %d\r\n", i % 1000);
    h_raw_send(r, req, q);
    size_t want = 5000 * (6 + VLEN + 2);
    h_raw_fill(r, want, H_IO_SECONDS);
    cr_assert_eq(r->len, want);
    char v[VLEN];
    for (int i = 0; i < 5000; i++) {
        fill_value(v, i % 1000);
        cr_assert(memcmp(r->buf + (size_t)i * (6 + VLEN + 2) + 6, v, VLEN) == 0, "reply %d", i);
    }
    r->len = 0;
    h_raw_close(r);
    free(req);
    cr_assert_eq(stat_of(C, "stats", "client_output_limit_closes"), 1);
    EXPECT_STATUS(C, "PONG", "PING");
}

ITEST(limits, output_buffer_soft_limit_for_too_long)
{
    load_values(1000);
    /* No hard limit: only "over 512 KiB for 1 s" closes. */
    EXPECT_OK(C, "CONFIG SET client-output-buffer-limit %s", "normal 0 512kb 1");
    long long rss_max = 0;
    size_t sent = 0;
    double t = flood_until_closed(1000, &rss_max, &sent);
    fprintf(stderr, "limits: output soft limit: closed after %.2f s (soft time 1 s)\n", t);
    cr_assert(t >= 0, "client_output_limit_closes did not count the close");
    cr_assert(t >= 0.9, "closed after %.2f s, before the soft time", t);
    cr_assert(t <= 5.0 * h_slow(), "closed only after %.2f s", t);
    /* Limits off again: the same flood is throttled, not closed. */
    EXPECT_OK(C, "CONFIG SET client-output-buffer-limit %s", "normal 0 0 0");
    int fd = connect_small_rcvbuf(H.port);
    char chunk[4096];
    size_t cl = 0;
    while (cl + 16 < sizeof chunk)
        cl += (size_t)sprintf(chunk + cl, "GET %d\r\n", (int)(cl % 1000));
    double end = h_now() + 2.0;
    while (h_now() < end) {
        ssize_t k = send_some(fd, chunk, cl);
        cr_assert(k >= 0, "closed with no output limit set");
        if (k == 0)
            usleep(20000);
    }
    cr_assert_eq(stat_of(C, "stats", "client_output_limit_closes"), 1);
    close(fd);
}

/* ---- maxclients --------------------------------------------------------------------- */

static void setup_max3(void)
{
    const char *args[] = {"--maxclients", "3", NULL};
    h_setup_own_args(args);
}

ITESTX(limits, maxclients, .init = setup_max3)
{
    redisContext *a = h_connect(), *b = h_connect();
    EXPECT_STATUS(a, "PONG", "PING");
    EXPECT_STATUS(b, "PONG", "PING");
    for (int i = 0; i < 3; i++) {
        h_raw *r = h_raw_open();
        RAW_EXPECT(r, "-ERR max number of clients reached\r\n");
        size_t got = 0;
        cr_assert(drain_to_close(r->fd, 10.0, NULL, 0, &got) != RD_TIMEOUT && got == 0);
        h_raw_close(r);
    }
    cr_assert_eq(stat_of(C, "stats", "rejected_connections"), 3);
    cr_assert_eq(stat_of(C, "clients", "connected_clients"), 3);
    /* A freed slot is usable at once. */
    redisFree(b);
    cr_assert_eq(h_info_wait(C, "clients", "connected_clients", 2, 5.0), 2);
    b = h_connect();
    EXPECT_STATUS(b, "PONG", "PING");
    /* Lowered at runtime: connected clients stay, new ones are refused. */
    EXPECT_OK(C, "CONFIG SET maxclients 1");
    EXPECT_STATUS(a, "PONG", "PING");
    EXPECT_STATUS(b, "PONG", "PING");
    h_raw *r = h_raw_open();
    RAW_EXPECT(r, "-ERR max number of clients reached\r\n");
    h_raw_close(r);
    cr_assert_eq(stat_of(C, "stats", "rejected_connections"), 4);
    redisFree(a);
    redisFree(b);
}

/* ---- timeout ------------------------------------------------------------------------ */

static void setup_timeout1(void)
{
    const char *args[] = {"--timeout", "1", NULL};
    h_setup_own_args(args);
}

ITESTX(limits, idle_timeout, .init = setup_timeout1)
{
    EXPECT_CONFIG(C, "timeout", "1");
    /* Taken before the connections open: none can be idle longer. */
    double t0 = h_now(), idle_closed = -1, mid_closed = -1;
    h_raw *idle = h_raw_open();
    h_raw *mid = h_raw_open(); /* idle in the middle of a command */
    h_raw_sends(mid, "*2\r\n$3\r\nGET\r\n");
    h_raw *active = h_raw_open();
    int pongs = 0;
    /* C and `active` send a command every 100 ms; the idle ones must be
     * closed within ~2-3 s (the check runs once a second). */
    while (h_now() < t0 + 4.0 * h_slow() && (idle_closed < 0 || mid_closed < 0)) {
        EXPECT_STATUS(C, "PONG", "PING");
        h_raw_sends(active, "PING\r\n");
        RAW_EXPECT(active, "+PONG\r\n");
        pongs++;
        h_raw *rs[2] = {idle, mid};
        double *at[2] = {&idle_closed, &mid_closed};
        for (int i = 0; i < 2; i++) {
            if (*at[i] >= 0)
                continue;
            struct pollfd pf = {.fd = rs[i]->fd, .events = POLLIN};
            if (poll(&pf, 1, 0) == 1) {
                char b;
                ssize_t k = recv(rs[i]->fd, &b, 1, 0);
                cr_assert(k <= 0, "an idle client got data");
                *at[i] = h_now() - t0;
            }
        }
        usleep(100000);
    }
    fprintf(stderr,
            "limits: timeout 1: idle client closed after %.2f s, mid-command one after %.2f s; "
            "the active one answered %d PINGs\n",
            idle_closed, mid_closed, pongs);
    cr_assert(idle_closed >= 0.9 && idle_closed <= 3.5 * h_slow(), "idle closed after %.2f s",
              idle_closed);
    cr_assert(mid_closed >= 0.9 && mid_closed <= 3.5 * h_slow(), "mid closed after %.2f s",
              mid_closed);
    h_raw_sends(active, "PING\r\n");
    RAW_EXPECT(active, "+PONG\r\n");
    cr_assert_eq(stat_of(C, "stats", "client_idle_closes"), 2);
    h_raw_close(idle);
    h_raw_close(mid);
    /* timeout 0: an idle client stays. */
    EXPECT_OK(C, "CONFIG SET timeout 0");
    h_raw *stay = h_raw_open();
    double end = h_now() + 2.5;
    while (h_now() < end) {
        EXPECT_STATUS(C, "PONG", "PING");
        h_raw_sends(active, "PING\r\n");
        RAW_EXPECT(active, "+PONG\r\n");
        usleep(100000);
    }
    h_raw_sends(stay, "PING\r\n");
    RAW_EXPECT(stay, "+PONG\r\n");
    h_raw_close(stay);
    h_raw_close(active);
    cr_assert_eq(stat_of(C, "stats", "client_idle_closes"), 2);
}

/* ---- tcp-keepalive ------------------------------------------------------------------- */

ITEST(limits, tcp_keepalive_option)
{
    /* SO_KEEPALIVE is set on the server's socket, which a client cannot
     * observe: the option itself is tested. */
    EXPECT_CONFIG(C, "tcp-keepalive", "300");
    EXPECT_OK(C, "CONFIG SET tcp-keepalive 60");
    EXPECT_CONFIG(C, "tcp-keepalive", "60");
    redisContext *c = h_connect();
    EXPECT_STATUS(c, "PONG", "PING");
    redisFree(c);
    EXPECT_OK(C, "CONFIG SET tcp-keepalive 0");
    c = h_connect();
    EXPECT_STATUS(c, "PONG", "PING");
    redisFree(c);
    redisReply *r = CMD(C, "CONFIG SET tcp-keepalive -1");
    cr_assert(r->type == REDIS_REPLY_ERROR, "tcp-keepalive -1 accepted");
    freeReplyObject(r);
    EXPECT_CONFIG(C, "tcp-keepalive", "0");
}

static void setup_keepalive_off(void)
{
    const char *args[] = {"--tcp-keepalive", "0", NULL};
    h_setup_own_args(args);
}

ITESTX(limits, tcp_keepalive_at_startup, .init = setup_keepalive_off)
{
    EXPECT_CONFIG(C, "tcp-keepalive", "0");
    EXPECT_STATUS(C, "PONG", "PING");
}

/* ---- AUTH ---------------------------------------------------------------------------- */

static void setup_pw(void)
{
    h_setup_own();
    EXPECT_OK(C, "CONFIG SET requirepass %s", "pw-1");
}

ITESTX(limits, auth_required_for_everything_else, .init = setup_pw)
{
    EXPECT_OK(C, "SET 1 one");
    redisContext *u = h_connect();
    static const char *const refused[] = {
        "PING",
        "GET 1",
        "SET 1 x",
        "DEL 1",
        "MGET 1 2",
        "MSET 1 a",
        "EXPIRE 1 1",
        "INCR 5",
        "DBSIZE",
        "FLUSHALL",
        "FLUSHDB",
        "CONFIG GET port",
        "CONFIG SET requirepass x",
        "INFO",
        "CLIENT LIST",
        "CLIENT SETNAME x",
        "COMMAND",
        "ECHO x",
        "SHRINK",
        "MEMORY STATS",
        "SELECT 0",
        "SHUTDOWN",
        "SHUTDOWN NOSAVE",
        "NOSUCHCMD",
        "get 1",
        "AUTHX pw-1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        EXPECT_ERR(u, NOAUTH, refused[i]);
    /* None of them ran. */
    EXPECT_BULK(C, "one", "GET 1");
    EXPECT_INT(C, 1, "DBSIZE");
    EXPECT_STATUS(C, "PONG", "PING");

    /* Wrong passwords, wrong users, wrong shapes. */
    EXPECT_ERR(u, WRONGPASS, "AUTH pw-2");
    EXPECT_ERR(u, WRONGPASS, "AUTH %s", "");
    EXPECT_ERR(u, WRONGPASS, "AUTH pw-");
    EXPECT_ERR(u, WRONGPASS, "AUTH pw-11");
    EXPECT_ERR(u, WRONGPASS, "AUTH PW-1");
    EXPECT_ERR(u, WRONGPASS, "AUTH %b", "pw-1\0", (size_t)5);
    EXPECT_ERR(u, WRONGPASS, "AUTH default pw-2");
    EXPECT_ERR(u, WRONGPASS, "AUTH bob pw-1");
    EXPECT_ERR(u, WRONGPASS, "AUTH DEFAULTX pw-1");
    EXPECT_ERR(u, "ERR syntax error", "AUTH a b c");
    EXPECT_ERR(u, "ERR wrong number of arguments for 'auth' command", "AUTH");
    EXPECT_ERR(u, NOAUTH, "PING");
    /* HELLO without AUTH says how to authenticate. */
    const char *hello_noauth =
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time";
    EXPECT_ERR(u, hello_noauth, "HELLO");
    EXPECT_ERR(u, hello_noauth, "HELLO 2");
    EXPECT_ERR(u, hello_noauth, "HELLO 3");
    EXPECT_ERR(u, hello_noauth, "HELLO 2 SETNAME x");
    EXPECT_ERR(u, WRONGPASS, "HELLO 2 AUTH default pw-2");
    EXPECT_ERR(u, WRONGPASS, "HELLO 2 AUTH bob pw-1");
    EXPECT_ERR(u, NOAUTH, "PING");

    /* AUTH pass, AUTH default pass, HELLO 2 AUTH default pass. */
    EXPECT_OK(u, "AUTH pw-1");
    EXPECT_STATUS(u, "PONG", "PING");
    EXPECT_BULK(u, "one", "GET 1");
    EXPECT_OK(u, "AUTH pw-1"); /* again: still fine */
    redisFree(u);
    u = h_connect();
    EXPECT_OK(u, "AUTH default pw-1");
    EXPECT_BULK(u, "one", "GET 1");
    redisFree(u);
    u = h_connect();
    redisReply *r = CMD(u, "HELLO 2 AUTH default pw-1 SETNAME authed");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 14, "HELLO 2 AUTH: type %d", r->type);
    cr_assert(strcmp(r->element[0]->str, "server") == 0);
    cr_assert(strcmp(r->element[4]->str, "proto") == 0 && r->element[5]->integer == 2);
    freeReplyObject(r);
    EXPECT_BULK(u, "authed", "CLIENT GETNAME");
    EXPECT_BULK(u, "one", "GET 1");
    redisFree(u);
    /* HELLO 3 AUTH on a raw socket: a RESP3 map. */
    h_raw *raw = h_raw_open();
    h_raw_sends(raw, "HELLO 3 AUTH default pw-1\r\n");
    size_t len = 0;
    char *rep = RAW_REPLY(raw, &len);
    cr_assert(strncmp(rep, "%7\r\n$6\r\nserver\r\n", 16) == 0, "%s", h_esc(rep, len));
    free(rep);
    h_raw_sends(raw, "GET 1\r\n");
    RAW_EXPECT(raw, "$3\r\none\r\n");
    h_raw_close(raw);
    /* QUIT works before AUTH. */
    raw = h_raw_open();
    h_raw_sends(raw, "QUIT\r\n");
    RAW_EXPECT(raw, "+OK\r\n");
    RAW_EXPECT_CLOSED(raw);
    h_raw_close(raw);
}

ITESTX(limits, requirepass_changed_at_runtime, .init = h_setup_own)
{
    /* Connected before any password: authenticated, and stays so. The
     * server accepts a connection in its own time, so it counts as
     * connected once it has answered something (a PING), not once the
     * kernel has completed the handshake. */
    redisContext *early = h_connect();
    EXPECT_STATUS(early, "PONG", "PING");
    EXPECT_OK(C, "CONFIG SET requirepass %s", "first");
    EXPECT_CONFIG(C, "requirepass", "first");
    EXPECT_STATUS(early, "PONG", "PING");
    EXPECT_OK(early, "SET 2 two");
    redisContext *late = h_connect();
    EXPECT_ERR(late, NOAUTH, "GET 2");
    EXPECT_OK(late, "AUTH first");
    EXPECT_BULK(late, "two", "GET 2");
    /* A new password: authenticated clients go on, new ones need the new one. */
    EXPECT_OK(late, "CONFIG SET requirepass %s", "second");
    EXPECT_BULK(late, "two", "GET 2");
    EXPECT_BULK(early, "two", "GET 2");
    redisContext *n = h_connect();
    EXPECT_ERR(n, WRONGPASS, "AUTH first");
    EXPECT_ERR(n, NOAUTH, "GET 2");
    EXPECT_OK(n, "AUTH second");
    EXPECT_BULK(n, "two", "GET 2");
    redisFree(n);
    /* Password removed: new clients need nothing; AUTH then says so. */
    EXPECT_OK(C, "CONFIG SET requirepass %s", "");
    n = h_connect();
    EXPECT_BULK(n, "two", "GET 2");
    EXPECT_ERR(n,
               "ERR AUTH <password> called without any password configured for the default "
               "user. Are you sure your configuration is correct?",
               "AUTH x");
    EXPECT_OK(n, "AUTH default anything");
    redisReply *r = CMD(n, "HELLO 2 AUTH default whatever");
    cr_assert(r->type == REDIS_REPLY_ARRAY, "HELLO AUTH without a password: type %d", r->type);
    freeReplyObject(r);
    redisFree(n);
    redisFree(early);
    redisFree(late);
}

/* Redis 7.0: once requirepass is cleared, a client that connected while it
 * was set (and never authenticated) may run commands (checked against
 * redis-server 7.0.15: PING -> +PONG). */
ITESTX(limits, clearing_requirepass_lets_waiting_clients_in, .init = h_setup_own)
{
    EXPECT_OK(C, "CONFIG SET requirepass %s", "pw");
    redisContext *u = h_connect();
    EXPECT_ERR(u, NOAUTH, "PING");
    EXPECT_OK(C, "CONFIG SET requirepass %s", "");
    EXPECT_STATUS(u, "PONG", "PING");
    redisFree(u);
}

/* ---- Servers this file starts itself -------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    int err_fd; /* read end of its stderr */
} spawned;

/* Start ebb-server with these args after --port P --loglevel warning. */
static spawned spawn_server(const char *const *extra)
{
    spawned s = {.port = h_free_port()};
    char ps[16];
    snprintf(ps, sizeof ps, "%d", s.port);
    const char *args[32] = {"--port", ps, "--loglevel", "warning"};
    size_t n = 4;
    for (size_t i = 0; extra[i] != NULL && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    int p[2];
    cr_assert(pipe(p) == 0);
    s.pid = h_spawn(args, -1, p[1]);
    close(p[1]);
    s.err_fd = p[0];
    fcntl(s.err_fd, F_SETFL, O_NONBLOCK);
    return s;
}

/* Wait for it to exit; returns the wait status, or -1 on timeout. */
static size_t read_stderr(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    return n;
}

/* Poll 127.0.0.1:port until a PING gets `want` (or the process exits). */
static bool wait_answer(spawned *s, const char *want)
{
    double end = h_now() + 10.0 * h_slow();
    while (h_now() < end) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
        a.sin_addr.s_addr = htonl(0x7f000001);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
            char buf[128];
            size_t got = 0, wl = strlen(want);
            double e2 = h_now() + 2.0;
            while (got < wl && h_now() < e2) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                if (poll(&pf, 1, 50) != 1)
                    continue;
                ssize_t k = recv(fd, buf + got, sizeof buf - got, 0);
                if (k <= 0)
                    break;
                got += (size_t)k;
            }
            close(fd);
            if (got == wl && memcmp(buf, want, wl) == 0)
                return true;
            cr_assert(got == 0, "PING got \"%s\", expected \"%s\"", h_esc(buf, got),
                      h_esc(want, wl));
        } else {
            close(fd);
        }
        usleep(5000);
    }
    return false;
}

static void stop_spawned(spawned *s)
{
    if (s->pid > 0) {
        int st = h_stop_pid(s->pid, 10.0);
        s->pid = 0;
        cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    }
    close(s->err_fd);
}

ITEST(limits, requirepass_at_startup)
{
    const char *args[] = {"--bind", "127.0.0.1", "--requirepass", "boot-pw", NULL};
    spawned s = spawn_server(args);
    cr_assert(wait_answer(&s, "-" NOAUTH "\r\n"), "the server did not start");
    redisContext *c = h_connect_to("127.0.0.1", s.port);
    EXPECT_ERR(c, NOAUTH, "GET 1");
    EXPECT_ERR(c, WRONGPASS, "AUTH nope");
    EXPECT_OK(c, "AUTH boot-pw");
    EXPECT_OK(c, "SET 1 x");
    EXPECT_CONFIG(c, "requirepass", "boot-pw");
    redisFree(c);
    stop_spawned(&s);
}

/* ---- Protected mode ------------------------------------------------------------------ */

ITEST(limits, protected_mode_refuses_public_bind_without_password)
{
    static const char *const binds[] = {"0.0.0.0", "127.0.0.1 0.0.0.0", "::", "10.1.2.3"};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++) {
        const char *args[] = {"--bind", binds[i], NULL};
        spawned s = spawn_server(args);
        int st = h_wait_exit(s.pid, 5.0);
        if (st == -1)
            h_stop_pid(s.pid, 1.0);
        char err[2048];
        read_stderr(s.err_fd, err, sizeof err);
        close(s.err_fd);
        cr_assert(st != -1, "bind '%s' without a password: the server kept running", binds[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "bind '%s': exit status %#x", binds[i],
                  st);
        cr_assert(strstr(err, "protected-mode") != NULL,
                  "bind '%s': stderr does not name "
                  "protected-mode: %s",
                  binds[i], err);
        cr_assert(strchr(err, '\n') == strrchr(err, '\n'), "more than one line: %s", err);
        fprintf(stderr, "limits: --bind %s -> %s", binds[i], err);
    }
}

ITEST(limits, protected_mode_no_or_a_password_allows_public_bind)
{
    const char *a1[] = {"--bind", "0.0.0.0", "--protected-mode", "no", NULL};
    spawned s = spawn_server(a1);
    cr_assert(wait_answer(&s, "+PONG\r\n"), "--bind 0.0.0.0 --protected-mode no did not start");
    stop_spawned(&s);

    const char *a2[] = {"--bind", "0.0.0.0", "--requirepass", "x", NULL};
    s = spawn_server(a2);
    cr_assert(wait_answer(&s, "-" NOAUTH "\r\n"), "--bind 0.0.0.0 --requirepass x did not start");
    redisContext *c = h_connect_to("127.0.0.1", s.port);
    EXPECT_OK(c, "AUTH x");
    EXPECT_STATUS(c, "PONG", "PING");
    /* protected-mode is a startup option. */
    redisReply *r = CMD(c, "CONFIG SET protected-mode no");
    cr_assert(r->type == REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
    stop_spawned(&s);

    /* Loopback binds need neither. */
    const char *a3[] = {"--bind", "127.0.0.1 ::1", NULL};
    s = spawn_server(a3);
    bool up = wait_answer(&s, "+PONG\r\n");
    if (!up) {
        /* No IPv6 loopback here: then it must fail to listen, not refuse. */
        char err[2048];
        read_stderr(s.err_fd, err, sizeof err);
        cr_assert(strstr(err, "protected-mode") == NULL, "loopback refused: %s", err);
        close(s.err_fd);
    } else {
        stop_spawned(&s);
    }
}

/* ---- SHUTDOWN and SIGTERM mid-pipeline --------------------------------------------------- */

enum { READERS = 8, PER_READER = 3000, HOG_GETS = 100001 };
#define RLEN (6 + VLEN + 2)

/* Clients in the middle of things: READERS that sent PER_READER GETs (all
 * run by the server, replies not yet read), one mid-command, and, when hog,
 * one that sent far more than it will ever read. Then `stop` is applied;
 * every reader must get all its replies, whole, then EOF; the server must
 * exit 0 within 1 s (asserted at 3 s; printed). */
static void stop_mid_pipeline(const char *how, bool hog)
{
    char v[VLEN];
    fill_value(v, 9);
    EXPECT_OK(C, "SET 9 %b", v, (size_t)VLEN);
    long long before = stat_of(C, "stats", "total_commands_processed");
    h_raw *rd[READERS];
    char *req = malloc((size_t)HOG_GETS * 8);
    size_t q = 0;
    for (int i = 0; i < HOG_GETS; i++)
        q += (size_t)sprintf(req + q, "GET 9\r\n");
    for (int i = 0; i < READERS; i++) {
        rd[i] = h_raw_open();
        h_raw_send(rd[i], req, (size_t)PER_READER * 7);
    }
    /* Wait until the server has run every reader's commands (each INFO
     * counts as one more). */
    long long want = (long long)READERS * PER_READER, done = 0;
    double end = h_now() + 20.0 * h_slow();
    int polls = 0;
    while (h_now() < end) {
        polls++;
        done = stat_of(C, "stats", "total_commands_processed") - before - polls;
        if (done >= want)
            break;
    }
    cr_assert(done >= want, "the server ran %lld of %lld commands", done, want);
    h_raw *mid = h_raw_open();
    h_raw_sends(mid, "*2\r\n$3\r\nGET\r\n$1\r\n");
    int hog_fd = -1;
    if (hog) {
        /* One MGET of 100000 keys: 13.6 MB of replies, far more than the
         * socket buffers take, so the server cannot flush it all. */
        hog_fd = connect_small_rcvbuf(H.port);
        size_t hq = (size_t)sprintf(req, "*100001\r\n$4\r\nMGET\r\n");
        for (int i = 0; i < 100000; i++) {
            memcpy(req + hq, "$1\r\n9\r\n", 7);
            hq += 7;
        }
        cr_assert_eq(send_until_closed(hog_fd, req, hq, 10.0), hq);
    }
    /* Everyone is accepted (a signal closes the listener, and with it any
     * connection still in its backlog), and the hog has output waiting. */
    long long conns = READERS + 2 + (hog ? 1 : 0);
    long long n = h_info_wait(C, "clients", "connected_clients", conns, 10.0);
    end = h_now() + 10.0 * h_slow();
    cr_assert_eq(n, conns, "connected_clients %lld, expected %lld", n, conns);
    long long omem = 0;
    while (hog && omem < 4 * MIB && h_now() < end) {
        redisReply *cl = CMD(C, "CLIENT LIST");
        for (const char *p = cl->str; (p = strstr(p, " omem=")) != NULL; p++) {
            long long m = strtoll(p + 6, NULL, 10);
            omem = m > omem ? m : omem;
        }
        freeReplyObject(cl);
    }
    if (hog)
        cr_assert(omem >= 4 * MIB, "the hog has only %lld bytes of output waiting", omem);
    EXPECT_STATUS(C, "PONG", "PING");

    double t0 = h_now();
    if (strcmp(how, "SIGTERM") == 0) {
        kill(H.pid, SIGTERM);
    } else {
        h_raw *s = h_raw_open();
        h_raw_sends(s, how);
        size_t got = 0;
        rd_end e = drain_to_close(s->fd, 10.0, NULL, 0, &got);
        cr_assert(e == RD_EOF && got == 0, "%s: got %zu bytes, end %d", how, got, e);
        h_raw_close(s);
    }
    redisFree(C);
    C = NULL;
    /* Read every reader concurrently while the server stops. */
    size_t want_bytes = (size_t)PER_READER * RLEN;
    bool open[READERS];
    int left = READERS;
    for (int i = 0; i < READERS; i++)
        open[i] = true;
    double rend = h_now() + 10.0 * h_slow();
    while (left > 0 && h_now() < rend) {
        struct pollfd pf[READERS];
        for (int i = 0; i < READERS; i++)
            pf[i] = (struct pollfd){.fd = open[i] ? rd[i]->fd : -1, .events = POLLIN};
        if (poll(pf, READERS, 100) <= 0)
            continue;
        for (int i = 0; i < READERS; i++) {
            if (!open[i] || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            h_raw *r = rd[i];
            if (r->cap - r->len < 65536) {
                r->cap = r->cap ? r->cap * 2 : want_bytes + 65536;
                r->buf = realloc(r->buf, r->cap);
            }
            ssize_t k = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
            if (k > 0) {
                r->len += (size_t)k;
                continue;
            }
            cr_assert(k == 0, "reader %d: %s after %zu bytes", i, strerror(errno), r->len);
            open[i] = false;
            left--;
        }
    }
    cr_assert_eq(left, 0, "%d readers were not closed", left);
    for (int i = 0; i < READERS; i++) {
        cr_assert_eq(rd[i]->len, want_bytes, "%s: reader %d got %zu of %zu reply bytes", how, i,
                     rd[i]->len, want_bytes);
        for (size_t k = 0; k < (size_t)PER_READER; k++)
            cr_assert(memcmp(rd[i]->buf + k * RLEN, "$128\r\n", 6) == 0 &&
                          memcmp(rd[i]->buf + k * RLEN + 6, v, VLEN) == 0,
                      "reader %d reply %zu", i, k);
        rd[i]->len = 0;
        h_raw_close(rd[i]);
    }
    size_t got = 0;
    cr_assert(drain_to_close(mid->fd, 5.0, NULL, 0, &got) != RD_TIMEOUT && got == 0);
    h_raw_close(mid);
    int st = h_wait_exit(H.pid, 10.0);
    double took = h_now() - t0;

    if (st == -1)
        h_stop_pid(H.pid, 1.0);
    H.pid = 0;
    if (hog_fd >= 0)
        close(hog_fd);
    free(req);
    fprintf(stderr, "limits: %.*s with %d readers mid-pipeline%s: exited in %.3f s\n",
            (int)strcspn(how, "\r"), how, READERS, hog ? " and a client that never reads" : "",
            took);
    cr_assert(st != -1, "%s: the server did not exit", how);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %#x", how, st);
    cr_assert(took < 5.0 * h_slow(), "%s: exit took %.2f s", how, took);
}

ITEST(limits, sigterm_mid_pipeline)
{
    stop_mid_pipeline("SIGTERM", false);
}

ITEST(limits, shutdown_mid_pipeline)
{
    stop_mid_pipeline("SHUTDOWN\r\n", false);
}

ITEST(limits, shutdown_nosave_with_a_client_that_never_reads)
{
    stop_mid_pipeline("SHUTDOWN NOSAVE\r\n", true);
}

ITEST(limits, sigterm_with_a_client_that_never_reads)
{
    stop_mid_pipeline("SIGTERM", true);
}
