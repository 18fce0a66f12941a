/*
 * test_close.c - every close that follows a reply delivers it whole.
 *
 * Closing a TCP socket with unread input makes the kernel send RST, and RST
 * throws away every reply still in the send queue. Each test here has a
 * client pipeline far more than the socket buffers hold, so that when the
 * server closes there is input it never read and replies still on their
 * way: SIGTERM, SHUTDOWN, QUIT, a protocol error, the output limit. The
 * client must get every reply the server owes it, byte for byte, and then
 * EOF, never a reset.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

/* Each test reads the server's own command counts: its own server. */
TestSuite(close, .init = h_setup_own, .fini = h_teardown);

/* A 128-byte value at key 1, and the exact reply to GET 1. */
#define VLEN 128
static const char GET1[] = "*2\r\n$3\r\nGET\r\n$1\r\n1\r\n";
#define GLEN (sizeof GET1 - 1)
static char reply1[6 + VLEN + 2];
#define RLEN sizeof reply1

static void set_value(void)
{
    uint8_t v[H_VALUE_LEN];
    h_value_of(1, 0, v);
    EXPECT_OK(C, "SET 1 %b", v, (size_t)VLEN);
    memcpy(reply1, "$128\r\n", 6);
    memcpy(reply1 + 6, v, VLEN);
    memcpy(reply1 + 6 + VLEN, "\r\n", 2);
}

/* n GETs of key 1, then `mid` (may be ""), then `after` bytes of `tail`
 * repeated (a pattern of tlen bytes). Returns a malloc'd buffer, *len set. */
static char *flood(size_t n, const char *mid, size_t after, const char *tail, size_t *len)
{
    size_t ml = strlen(mid), tl = strlen(tail);
    size_t cap = n * GLEN + ml + after + tl;
    char *b = malloc(cap);
    cr_assert(b != NULL);
    size_t q = 0;
    for (size_t i = 0; i < n; i++, q += GLEN)
        memcpy(b + q, GET1, GLEN);
    memcpy(b + q, mid, ml);
    q += ml;
    for (size_t k = 0; k < after; k += tl, q += tl)
        memcpy(b + q, tail, tl);
    *len = q;
    return b;
}

/* Send what the socket takes now; stops at EAGAIN. Returns bytes sent. */
static size_t send_now(int fd, const char *p, size_t n)
{
    size_t sent = 0;
    while (sent < n) {
        ssize_t k = send(fd, p + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            sent += (size_t)k;
            continue;
        }
        cr_assert(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), "send: %s",
                  k == 0 ? "0" : strerror(errno));
        if (errno != EINTR)
            break;
    }
    return sent;
}

/* The connection's server-side id (CLIENT ID sent on it raw). */
static long long raw_client_id(h_raw *r)
{
    h_raw_sends(r, "CLIENT ID\r\n");
    size_t len;
    char *rep = RAW_REPLY(r, &len);
    cr_assert(rep[0] == ':', "CLIENT ID: %s", h_esc(rep, len));
    long long id = strtoll(rep + 1, NULL, 10);
    free(rep);
    return id;
}

/* A field of client `id`'s CLIENT LIST line: its text after "name=" up to
 * the next space, copied to out. False when the client is not listed. */
static bool client_field(long long id, const char *name, char *out, size_t cap)
{
    redisReply *r = CMD(C, "CLIENT LIST");
    cr_assert(r->type == REDIS_REPLY_STRING);
    char key[32], want[64];
    snprintf(key, sizeof key, "id=%lld ", id);
    snprintf(want, sizeof want, " %s=", name);
    bool found = false;
    for (const char *line = r->str; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t ll = end != NULL ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, key, strlen(key)) == 0) {
            const char *f = strstr(line, want);
            cr_assert(f != NULL && f < line + ll, "no %s= in CLIENT LIST", name);
            f += strlen(want);
            size_t fl = strcspn(f, " \n");
            cr_assert(fl < cap);
            memcpy(out, f, fl);
            out[fl] = '\0';
            found = true;
            break;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    freeReplyObject(r);
    return found;
}

/* Send as much of the flood as the sockets take while the server reads it,
 * until the server stops reading client `id` (its replies fill its output
 * buffer: CLIENT LIST events= has no 'r') and the socket takes no more.
 * Returns the bytes sent; the server then holds input it has not read. */
static size_t fill_until_paused(h_raw *f, long long id, const char *buf, size_t len)
{
    size_t sent = 0;
    double end = h_now() + 30.0 * h_slow();
    char ev[16] = "r";
    while (h_now() < end) {
        sent += send_now(f->fd, buf + sent, len - sent);
        cr_assert(sent < len, "the server read all %zu bytes without pausing", len);
        cr_assert(client_field(id, "events", ev, sizeof ev), "client %lld is gone", id);
        if (strchr(ev, 'r') == NULL)
            break;
        struct pollfd pf = {.fd = f->fd, .events = POLLOUT};
        poll(&pf, 1, 10);
    }
    cr_assert(strchr(ev, 'r') == NULL, "the server kept reading client %lld", id);
    /* Paused: what the socket takes now stays in the server's receive queue. */
    sent += send_now(f->fd, buf + sent, len - sent);
    return sent;
}

/* INFO commandstats calls of one command (0 when never called). */
static long long calls_of(const char *cmd)
{
    char *info = h_info(C, "commandstats");
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(info, key);
    long long n = p != NULL ? strtoll(p + strlen(key), NULL, 10) : 0;
    free(info);
    return n;
}

/* Require f->buf to be exactly n GET replies followed by `tail`. */
static void expect_replies(h_raw *f, size_t n, const char *tail, const char *what)
{
    size_t tl = strlen(tail);
    cr_assert_eq(f->len, n * RLEN + tl, "%s: %zu reply bytes, expected %zu GET replies (%zu) + %zu",
                 what, f->len, n, n * RLEN, tl);
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(f->buf + i * RLEN, reply1, RLEN) == 0, "%s: reply %zu differs", what, i);
    cr_assert(memcmp(f->buf + n * RLEN, tail, tl) == 0, "%s: ends with \"%s\", expected \"%s\"",
              what, h_esc(f->buf + n * RLEN, tl), tail);
}

/* ---- Stopping the server --------------------------------------------------------------- */

/* A client has pipelined far more GETs than the server will read; the
 * server has paused it with its output buffer full. `stop` it: every GET
 * the server read runs, and its reply arrives, then EOF; the server exits
 * 0 by itself. */
/* Flood client `id` (on f) with GETs until the server pauses it; returns
 * the GETs a stop now owes it: those run so far and the whole ones it holds
 * unparsed (the last may be cut). Nothing changes them until the stop: a
 * paused client is read no more. */
static size_t flood_until_paused(h_raw *f, long long id, long long *ran)
{
    size_t len;
    char *buf = flood(1000000, "", 0, "", &len);
    fill_until_paused(f, id, buf, len);
    free(buf);
    *ran = calls_of("get");
    char q[32];
    cr_assert(client_field(id, "qbuf", q, sizeof q));
    return (size_t)*ran + (size_t)strtoll(q, NULL, 10) / GLEN;
}

static void stop_with_unread_input(bool by_signal)
{
    set_value();
    h_raw *f = h_raw_open();
    long long id = raw_client_id(f), ran;
    size_t owed = flood_until_paused(f, id, &ran);

    if (by_signal) {
        kill(H.pid, SIGTERM);
    } else {
        h_raw *s = h_raw_open();
        h_raw_sends(s, "SHUTDOWN\r\n");
        cr_assert_eq(h_raw_read_to_close(s, 10.0), H_RAW_EOF);
        cr_assert_eq(s->len, 0, "SHUTDOWN replied \"%s\"", h_esc(s->buf, s->len));
        h_raw_close(s);
    }
    redisFree(C);
    C = NULL;
    h_raw_end how = h_raw_read_to_close(f, 60.0);
    cr_assert_eq(how, H_RAW_EOF, "the client saw %s after %zu reply bytes (%zu owed)",
                 how == H_RAW_RESET ? "a reset" : "no close", f->len, owed * RLEN);
    expect_replies(f, owed, "", by_signal ? "SIGTERM" : "SHUTDOWN");
    h_raw_close(f);
    int st = h_wait_exit(H.pid, 10.0); /* by itself: no second signal */
    if (st == -1)
        h_stop_pid(H.pid, 1.0);
    H.pid = 0;
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    cr_log_info("close: %s: %lld GETs run and %lld held, all %zu replies delivered",
                by_signal ? "SIGTERM" : "SHUTDOWN", ran, (long long)owed - ran, owed);
}

ITEST(close, sigterm_delivers_every_reply_owed)
{
    stop_with_unread_input(true);
}

/* A MONITOR client (connected after the busy one, so listed before it)
 * sees every command run during a stop before it is closed itself. */
ITEST(close, monitor_sees_the_commands_run_during_a_stop)
{
    set_value();
    h_raw *f = h_raw_open();
    long long id = raw_client_id(f), ran;
    h_raw *m = h_raw_open();
    h_raw_sends(m, "MONITOR\r\n");
    RAW_EXPECT(m, "+OK\r\n");
    long long owed = (long long)flood_until_paused(f, id, &ran);
    redisFree(C);
    C = NULL;
    kill(H.pid, SIGTERM);
    /* Read both: neither may stall the other's delivery. */
    bool m_open = true, f_open = true;
    double end = h_now() + 60.0 * h_slow();
    while ((m_open || f_open) && h_now() < end) {
        h_raw *rs[2] = {m, f};
        bool *open[2] = {&m_open, &f_open};
        for (int i = 0; i < 2; i++) {
            if (!*open[i])
                continue;
            h_raw *r = rs[i];
            if (r->cap - r->len < 65536) {
                r->cap = r->cap ? r->cap * 2 : (1u << 20);
                r->buf = realloc(r->buf, r->cap);
                cr_assert(r->buf != NULL);
            }
            ssize_t k = recv(r->fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
            if (k > 0)
                r->len += (size_t)k;
            else if (k == 0)
                *open[i] = false;
            else
                cr_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "recv: %s",
                          strerror(errno));
        }
        struct pollfd pf[2] = {{.fd = m_open ? m->fd : -1, .events = POLLIN},
                               {.fd = f_open ? f->fd : -1, .events = POLLIN}};
        poll(pf, 2, 100);
    }
    cr_assert(!m_open && !f_open, "the server did not close both clients");
    expect_replies(f, (size_t)owed, "", "the busy client");
    long long seen = 0;
    for (const char *p = m->buf; (p = memmem(p, m->len - (size_t)(p - m->buf), "\"GET\"", 5));
         p += 5)
        seen++;
    cr_assert_eq(seen, owed, "MONITOR saw %lld of the %lld GETs run", seen, owed);
    f->len = m->len = 0;
    h_raw_close(f);
    h_raw_close(m);
    int st = h_wait_exit(H.pid, 10.0);
    if (st == -1)
        h_stop_pid(H.pid, 1.0);
    H.pid = 0;
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
}

ITEST(close, shutdown_delivers_every_reply_owed)
{
    stop_with_unread_input(false);
}

/* ---- Closing one client after its last reply ------------------------------------------------ */

/* The client sends n GETs, then `mid` (which ends the connection), then
 * far more input, reading as it goes: it must get n GET replies, then
 * `tail`, then EOF. */
static void close_after(const char *what, const char *mid, const char *tail, size_t n)
{
    set_value();
    h_raw *f = h_raw_open();
    long long id = raw_client_id(f);
    size_t len;
    /* After `mid`: 8 MB of GETs, more than the socket buffers hold. */
    char *buf = flood(n, mid, 8u << 20, GET1, &len);
    /* Unread input is certain when the server reaches `mid`: it paused the
     * client with `mid` and the tail still in the socket buffers. */
    size_t sent = fill_until_paused(f, id, buf, len);
    h_raw_end how = H_RAW_TIMEOUT;
    double end = h_now() + 60.0 * h_slow();
    /* Send and read together until the server closes. */
    while (h_now() < end) {
        if (sent < len) {
            ssize_t k = send(f->fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                sent += (size_t)k;
            else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sent = len; /* the server is gone: see how the input ended */
        }
        struct pollfd pf = {.fd = f->fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (poll(&pf, 1, 100) <= 0 || !(pf.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (f->cap - f->len < 65536) {
            f->cap = f->cap ? f->cap * 2 : (1u << 20);
            f->buf = realloc(f->buf, f->cap);
            cr_assert(f->buf != NULL);
        }
        ssize_t k = recv(f->fd, f->buf + f->len, f->cap - f->len, MSG_DONTWAIT);
        if (k > 0) {
            f->len += (size_t)k;
        } else if (k == 0) {
            how = H_RAW_EOF;
            break;
        } else if (errno == ECONNRESET) {
            how = H_RAW_RESET;
            break;
        }
    }
    free(buf);
    cr_assert_eq(how, H_RAW_EOF, "%s: the client saw %s after %zu reply bytes (%zu sent)", what,
                 how == H_RAW_RESET ? "a reset" : "no close", f->len, sent);
    expect_replies(f, n, tail, what);
    f->len = 0;
    h_raw_close(f);
    /* Nothing after `mid` ran. */
    cr_assert_eq(calls_of("get"), (long long)n, "%s: GETs after it ran", what);
}

ITEST(close, quit_delivers_every_reply_before_it)
{
    close_after("QUIT", "*1\r\n$4\r\nQUIT\r\n", "+OK\r\n", 300000);
}

/* Outside a stop, a closing client that pauses reading for a while (a
 * garbage collection, a congested link) still gets every reply: the server
 * gives up on it only after 10 s without progress (0.9 s during a stop).
 * The pause is the behaviour under test, so it is a sleep. */
ITEST(close, quit_waits_for_a_client_that_pauses_reading)
{
    set_value();
    h_raw *f = h_raw_open_rcvbuf(4096);
    /* 25000 replies, 3.4 MB: less than the 4 MiB of output at which the
     * server stops reading a client, so it reads the QUIT and starts
     * closing; more than the kernel's socket buffers take from it with the
     * client's small receive buffer (about 3 MB here), so the rest waits in
     * the server while the client pauses. */
    const size_t n = 25000;
    size_t len;
    char *buf = flood(n, "*1\r\n$4\r\nQUIT\r\n", 0, "", &len);
    h_raw_send(f, buf, len);
    free(buf);
    /* Until the server has run the QUIT, then 2 s without reading. */
    double end = h_now() + 10.0 * h_slow();
    struct timespec ms = {0, 1000000};
    while (calls_of("quit") == 0 && h_now() < end)
        nanosleep(&ms, NULL);
    cr_assert_eq(calls_of("quit"), 1, "the QUIT was not run");
    cr_assert_eq(calls_of("get"), (long long)n);
    struct timespec pause = {2, 0};
    nanosleep(&pause, NULL);
    h_raw_end how = h_raw_read_to_close(f, 30.0);
    cr_assert_eq(how, H_RAW_EOF, "the client saw %s after %zu reply bytes",
                 how == H_RAW_RESET ? "a reset" : "no close", f->len);
    expect_replies(f, n, "+OK\r\n", "QUIT after a pause");
    h_raw_close(f);
}

ITEST(close, protocol_error_reaches_a_client_that_sent_more)
{
    close_after("a protocol error", "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n",
                300000);
}

/* A client blocked in SHRINK that closes its side still gets the SHRINK
 * reply and the replies to what it sent after, then EOF. */
ITEST(close, blocked_client_that_half_closes_gets_its_replies)
{
    h_raw *f = h_raw_open();
    h_raw_sends(f, "SET 1 x\r\nSHRINK\r\nPING\r\n");
    cr_assert_eq(shutdown(f->fd, SHUT_WR), 0);
    h_raw_end how = h_raw_read_to_close(f, 10.0);
    cr_assert_eq(how, H_RAW_EOF, "%s after \"%s\"", how == H_RAW_RESET ? "a reset" : "no close",
                 h_esc(f->buf, f->len));
    RAW_EXPECT(f, "+OK\r\n");
    size_t len;
    char *shrink = RAW_REPLY(f, &len);
    cr_assert(shrink[0] == '*', "SHRINK replied \"%s\"", h_esc(shrink, len));
    free(shrink);
    RAW_EXPECT(f, "+PONG\r\n");
    cr_assert_eq(f->len, 0, "more after PONG: \"%s\"", h_esc(f->buf, f->len));
    h_raw_close(f);
}

/* A client closed by client-output-buffer-limit runs nothing more, but
 * gets the replies already queued for it, whole, then EOF: the input it
 * sent past the limit does not turn the close into a reset. */
ITEST(close, output_limit_close_ends_in_eof)
{
    set_value();
    EXPECT_OK(C, "CONFIG SET client-output-buffer-limit %s", "normal 1mb 0 0");
    h_raw *f = h_raw_open();
    size_t len;
    char *buf = flood(1000000, "", 0, "", &len);
    /* Send, reading nothing, until the server closes the client: it then
     * reads and drops what follows, so the flood always goes through. */
    size_t sent = 0;
    double end = h_now() + 60.0 * h_slow();
    while (sent < len && h_now() < end) {
        sent += send_now(f->fd, buf + sent, len - sent);
        struct pollfd pf = {.fd = f->fd, .events = POLLOUT};
        poll(&pf, 1, 100);
    }
    free(buf);
    cr_assert_eq(sent, len, "the server took %zu of %zu bytes", sent, len);
    long long closes = h_info_wait(C, "stats", "client_output_limit_closes", 1, 10.0);
    cr_assert_eq(closes, 1, "client_output_limit_closes %lld", closes);
    h_raw_end how = h_raw_read_to_close(f, 30.0);
    cr_assert_eq(how, H_RAW_EOF, "the client saw %s after %zu reply bytes",
                 how == H_RAW_RESET ? "a reset" : "no close", f->len);
    cr_assert(f->len > 0, "no reply reached the client");
    cr_assert_eq(f->len % RLEN, 0, "%zu reply bytes: the last reply is cut", f->len);
    expect_replies(f, f->len / RLEN, "", "output limit");
    /* It ran nothing after the limit: every GET run was answered. */
    cr_assert_eq(calls_of("get"), (long long)(f->len / RLEN), "GETs run after the limit");
    f->len = 0;
    h_raw_close(f);
    EXPECT_STATUS(C, "PONG", "PING");
}
