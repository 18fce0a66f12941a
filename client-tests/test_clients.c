/*
 * test_clients.c - many clients at once: 200 concurrent clients, clients
 * that vanish mid-pipeline or never read, and maxclients.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

TestSuite(clients, .init = h_setup, .fini = h_teardown, .timeout = 240);

#define NCLIENTS 200
#define OPS_PER_CLIENT 50

typedef struct {
    int id;
    redisContext *c;
    pthread_barrier_t *start;
    char prefix[48]; /* K("") made before the threads start: K() is not thread-safe */
    char err[256];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < OPS_PER_CLIENT && w->err[0] == '\0'; i++) {
        char key[64], val[64];
        snprintf(key, sizeof key, "%s%d", w->prefix, w->id * 1000 + i);
        snprintf(val, sizeof val, "client-%d-op-%d", w->id, i);
        redisReply *r = redisCommand(w->c, "SET %s %s", key, val);
        if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0)
            snprintf(w->err, sizeof w->err, "SET %s: %s", key,
                     r == NULL        ? w->c->errstr
                     : r->str != NULL ? r->str
                                      : "?");
        if (r != NULL)
            freeReplyObject(r);
        if (w->err[0] != '\0')
            break;
        r = redisCommand(w->c, "GET %s", key);
        if (r == NULL || r->type != REDIS_REPLY_STRING || strcmp(r->str, val) != 0)
            snprintf(w->err, sizeof w->err, "GET %s: %s", key,
                     r == NULL        ? w->c->errstr
                     : r->str != NULL ? r->str
                                      : "nil");
        if (r != NULL)
            freeReplyObject(r);
    }
    return NULL;
}

ITEST(clients, two_hundred_concurrent_clients)
{
    static worker ws[NCLIENTS];
    pthread_t th[NCLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NCLIENTS + 1);
    /* Connect everyone first, so all 200 are connected at the same time. */
    char prefix[48];
    snprintf(prefix, sizeof prefix, "%s", K("0"));
    prefix[strlen(prefix) - 1] = '\0';
    for (int i = 0; i < NCLIENTS; i++) {
        ws[i] = (worker){.id = i, .c = h_connect(), .start = &start};
        snprintf(ws[i].prefix, sizeof ws[i].prefix, "%s", prefix);
        cr_assert_eq(pthread_create(&th[i], NULL, work, &ws[i]), 0);
    }
    if (H.owned) {
        /* The server accepts connections in its own time: wait for all. */
        long long n = h_info_wait(C, "clients", "connected_clients", NCLIENTS + 1, 10.0);
        cr_assert_eq(n, NCLIENTS + 1, "connected_clients %lld", n);
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        cr_assert(ws[i].err[0] == '\0', "client %d: %s", i, ws[i].err);
        redisFree(ws[i].c);
    }
    pthread_barrier_destroy(&start);
    /* Everything is there afterwards too. */
    char key[96];
    snprintf(key, sizeof key, "%s", K("199049"));
    EXPECT_BULK(C, "client-199-op-49", "GET %s", key);
    if (H.owned)
        EXPECT_INT(C, NCLIENTS * OPS_PER_CLIENT, "DBSIZE");
}

ITEST(clients, disconnect_mid_pipeline_disturbs_nobody)
{
    EXPECT_OK(C, "SET %s steady", K("1"));
    /* Build a large pipeline of GETs and SETs. */
    size_t cap = 4 << 20, len = 0;
    char *req = malloc(cap);
    const char *k = K("2");
    for (int i = 0; len + 200 < cap; i++)
        len += (size_t)snprintf(req + len, cap - len,
                                i % 2 ? "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n"
                                      : "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$3\r\nabc\r\n",
                                strlen(k), k);
    for (int round = 0; round < 10; round++) {
        h_raw *r = h_raw_open();
        /* Send a part (cut inside a command), read nothing, vanish. */
        size_t part = 100000 + (size_t)round * 77777;
        h_raw_send(r, req, part);
        if (round % 2 == 1) {
            /* Wait for the first replies, so the server is mid-pipeline. */
            h_raw_fill(r, 1, H_IO_SECONDS);
            cr_assert(r->len > 0);
        }
        h_raw_close(r);
        /* Others keep working during and after. */
        EXPECT_BULK(C, "steady", "GET %s", K("1"));
        EXPECT_STATUS(C, "PONG", "PING");
    }
    free(req);
}

ITEST(clients, client_that_never_reads)
{
    /* A client that pipelines far more replies than any buffer holds and
     * never reads must not block the server for the others. */
    char val[129];
    memset(val, 'v', 128);
    val[128] = '\0';
    EXPECT_OK(C, "SET %s %s", K("1"), val);
    const char *k = K("1");
    char one[128];
    int ol = snprintf(one, sizeof one, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(k), k);
    int n = 200000;
    char *req = malloc((size_t)ol * (size_t)n);
    for (int i = 0; i < n; i++)
        memcpy(req + (size_t)i * (size_t)ol, one, (size_t)ol);
    h_raw *r = h_raw_open();
    size_t sent = 0, total = (size_t)ol * (size_t)n;
    /* Send until the socket refuses more (the server stopped reading). */
    double end = h_now() + 30.0 * h_slow();
    int stalls = 0;
    while (sent < total && h_now() < end && stalls < 20) {
        ssize_t w = send(r->fd, req + sent, total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            stalls = 0;
            continue;
        }
        struct pollfd pf = {.fd = r->fd, .events = POLLOUT};
        if (poll(&pf, 1, 50) == 0)
            stalls++;
        /* Meanwhile others are served. */
        EXPECT_STATUS(C, "PONG", "PING");
    }
    EXPECT_BULK(C, val, "GET %s", K("1"));
    redisContext *c2 = h_connect();
    EXPECT_STATUS(c2, "PONG", "PING");
    redisFree(c2);
    /* Now read it all: every reply arrives, in order. */
    size_t want = 0, rl = strlen("$128\r\n") + 128 + 2;
    size_t got = 0;
    while (sent < total || got < (size_t)n * rl) {
        if (sent < total) {
            ssize_t w = send(r->fd, req + sent, total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
        }
        size_t before = r->len;
        h_raw_fill(r, r->len + 1, sent < total ? 0.01 : 10.0);
        cr_assert(r->len > before || sent < total, "replies stopped after %zu bytes", got + r->len);
        size_t whole = r->len / rl * rl;
        for (size_t off = 0; off < whole; off += rl)
            cr_assert(memcmp(r->buf + off, "$128\r\nvvvv", 10) == 0, "reply %zu is wrong",
                      (got + off) / rl);
        memmove(r->buf, r->buf + whole, r->len - whole);
        r->len -= whole;
        got += whole;
    }
    (void)want;
    cr_assert_eq(got, (size_t)n * rl);
    h_raw_close(r);
    free(req);
}

static void setup_max5(void)
{
    const char *args[] = {"--maxclients", "5", NULL};
    h_setup_own_args(args);
}

ITESTX(clients, maxclients, .init = setup_max5)
{
    redisContext *cs[4];
    for (int i = 0; i < 4; i++) {
        cs[i] = h_connect();
        EXPECT_STATUS(cs[i], "PONG", "PING");
    }
    /* C plus four: the sixth is turned away with Redis's error. */
    for (int attempt = 0; attempt < 3; attempt++) {
        h_raw *r = h_raw_open();
        RAW_EXPECT(r, "-ERR max number of clients reached\r\n");
        RAW_EXPECT_CLOSED(r);
        h_raw_close(r);
    }
    for (int i = 0; i < 4; i++)
        EXPECT_STATUS(cs[i], "PONG", "PING");
    char *info = h_info(C, "stats");
    cr_assert_eq(h_info_num(info, "rejected_connections"), 3, "%s", info);
    free(info);
    info = h_info(C, "clients");
    cr_assert_eq(h_info_num(info, "connected_clients"), 5, "%s", info);
    cr_assert_eq(h_info_num(info, "maxclients"), 5, "%s", info);
    free(info);
    /* One leaves: a newcomer gets in once the server has seen the close. */
    redisFree(cs[0]);
    double end = h_now() + 10.0 * h_slow();
    bool in = false;
    while (!in && h_now() < end) {
        h_raw *r = h_raw_open();
        h_raw_sends(r, "PING\r\n");
        char *rep = RAW_REPLY(r, NULL);
        in = strcmp(rep, "+PONG\r\n") == 0;
        cr_assert(in || strcmp(rep, "-ERR max number of clients reached\r\n") == 0, "%s", rep);
        free(rep);
        h_raw_close(r);
    }
    cr_assert(in, "no room after a client left");
    /* Raising maxclients at runtime lets more in. */
    EXPECT_OK(C, "CONFIG SET maxclients 7");
    redisContext *extra = h_connect();
    EXPECT_STATUS(extra, "PONG", "PING");
    redisFree(extra);
    for (int i = 1; i < 4; i++)
        redisFree(cs[i]);
}
