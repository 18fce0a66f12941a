/*
 * test_pubsub.c - pub/sub against the real binary: hiredis in RESP2
 * subscribed mode, raw sockets for RESP3 pushes, transcripts compared byte
 * for byte with redis-server 7.0's, patterns matched as Redis matches
 * them, and hostile clients: a subscriber that never reads (closed by the
 * pubsub output limit, the server's memory bounded), one past
 * pubsub-max-subscriptions, and a pattern built to make matchers slow.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(pubsub, .init = h_setup, .fini = h_teardown, .timeout = 300);

static long long info_ll(redisContext *c, const char *field)
{
    redisReply *r = CMD(c, "INFO everything");
    char key[96];
    snprintf(key, sizeof key, "\r\n%s:", field);
    char *p = strstr(r->str, key);
    long long v = p != NULL ? atoll(p + strlen(key)) : -1;
    freeReplyObject(r);
    return v;
}

/* The next message of a subscribed hiredis connection. */
static redisReply *next_msg(redisContext *c)
{
    redisReply *r = NULL;
    cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK, "reading a message: %s", c->errstr);
    return r;
}

static void expect_msg(redisContext *c, const char *kind, const char *pattern, const char *ch,
                       const char *payload)
{
    redisReply *r = next_msg(c);
    size_t n = pattern != NULL ? 4 : 3;
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, n);
    cr_assert_str_eq(r->element[0]->str, kind);
    size_t i = 1;
    if (pattern != NULL)
        cr_assert_str_eq(r->element[i++]->str, pattern);
    cr_assert_str_eq(r->element[i++]->str, ch);
    if (payload != NULL)
        cr_assert_str_eq(r->element[i]->str, payload);
    else
        cr_assert_eq(r->element[i]->integer >= 0, true);
    freeReplyObject(r);
}

ITEST(pubsub, hiredis_messages_in_order)
{
    redisContext *sub = h_connect();
    redisAppendCommand(sub, "SUBSCRIBE news sports");
    expect_msg(sub, "subscribe", NULL, "news", NULL);
    expect_msg(sub, "subscribe", NULL, "sports", NULL);
    redisAppendCommand(sub, "PSUBSCRIBE n*");
    expect_msg(sub, "psubscribe", NULL, "n*", NULL);
    /* Another client sees it as pubsub: flag P, sub= and psub=. */
    redisReply *l = CMD(C, "CLIENT LIST TYPE pubsub");
    cr_assert(strstr(l->str, "flags=P db=0 sub=2 psub=1 ") != NULL, "%s", l->str);
    freeReplyObject(l);
    cr_assert_eq(info_ll(C, "pubsub_channels"), 2);
    cr_assert_eq(info_ll(C, "pubsub_patterns"), 1);
    redisReply *ns = CMD(C, "PUBSUB NUMSUB news nobody");
    cr_assert_eq(ns->elements, 4);
    cr_assert_eq(ns->element[1]->integer, 1);
    cr_assert_eq(ns->element[3]->integer, 0);
    freeReplyObject(ns);
    int n = 2000 / h_slow();
    for (int i = 0; i < n; i++)
        redisAppendCommand(C, "PUBLISH %s %d", i % 3 == 0 ? "sports" : "news", i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
        cr_assert_eq(r->integer, i % 3 == 0 ? 1 : 2);
        freeReplyObject(r);
    }
    char num[16];
    for (int i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%d", i);
        if (i % 3 == 0) {
            expect_msg(sub, "message", NULL, "sports", num);
        } else {
            expect_msg(sub, "message", NULL, "news", num);
            expect_msg(sub, "pmessage", "n*", "news", num);
        }
    }
    /* Only SUBSCRIBE & co, PING, QUIT and RESET in RESP2 subscribed mode. */
    redisAppendCommand(sub, "GET 1");
    redisReply *e = next_msg(sub);
    cr_assert_eq(e->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(e->str, "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                             "PING / QUIT / RESET are allowed in this context");
    freeReplyObject(e);
    redisAppendCommand(sub, "UNSUBSCRIBE sports");
    expect_msg(sub, "unsubscribe", NULL, "sports", NULL);
    EXPECT_INT(C, 0, "PUBLISH sports x");
    redisAppendCommand(sub, "PUNSUBSCRIBE");
    expect_msg(sub, "punsubscribe", NULL, "n*", NULL);
    redisAppendCommand(sub, "UNSUBSCRIBE");
    expect_msg(sub, "unsubscribe", NULL, "news", NULL);
    EXPECT_INT(C, 0, "PUBLISH news x");
    cr_assert_eq(info_ll(C, "pubsub_channels"), 0);
    /* Back to a normal client. */
    EXPECT_STATUS(sub, "PONG", "PING");
    redisFree(sub);
}

ITEST(pubsub, closing_and_reset_unsubscribe)
{
    h_raw *a = h_raw_open();
    const char *s[] = {"SUBSCRIBE", "gone"};
    h_raw_cmd(a, 2, s);
    RAW_EXPECT(a, "*3\r\n$9\r\nsubscribe\r\n$4\r\ngone\r\n:1\r\n");
    h_raw *b = h_raw_open();
    const char *p[] = {"PSUBSCRIBE", "g*"};
    h_raw_cmd(b, 2, p);
    RAW_EXPECT(b, "*3\r\n$10\r\npsubscribe\r\n$2\r\ng*\r\n:1\r\n");
    EXPECT_INT(C, 2, "PUBLISH gone x");
    h_raw_close(a);
    const char *reset[] = {"RESET"};
    h_raw_cmd(b, 1, reset);
    RAW_EXPECT(b, "*4\r\n$8\r\npmessage\r\n$2\r\ng*\r\n$4\r\ngone\r\n$1\r\nx\r\n+RESET\r\n");
    /* The closed one is gone once the server has seen its EOF. */
    double end = h_now() + 5 * h_slow();
    long long left = 1;
    while (h_now() < end && (left = info_ll(C, "pubsub_channels")) != 0)
        usleep(10000);
    cr_assert_eq(left, 0);
    EXPECT_INT(C, 0, "PUBLISH gone x");
    cr_assert_eq(info_ll(C, "pubsub_patterns"), 0);
    h_raw_close(b);
}

/* A subscriber waits for messages: timeout does not close it, as Redis. */
static void setup_timeout1(void)
{
    static const char *const args[] = {"--timeout", "1", NULL};
    h_setup_own_args(args);
}

ITESTX(pubsub, subscribers_have_no_idle_timeout, .init = setup_timeout1)
{
    h_raw *sub = h_raw_open();
    const char *s[] = {"SUBSCRIBE", "slow"};
    h_raw_cmd(sub, 2, s);
    RAW_EXPECT(sub, "*3\r\n$9\r\nsubscribe\r\n$4\r\nslow\r\n:1\r\n");
    h_raw *idle = h_raw_open();
    for (int i = 0; i < 15; i++) { /* C stays active, the others idle */
        EXPECT_STATUS(C, "PONG", "PING");
        usleep(200000);
    }
    EXPECT_INT(C, 1, "PUBLISH slow hi");
    RAW_EXPECT(sub, "*3\r\n$7\r\nmessage\r\n$4\r\nslow\r\n$2\r\nhi\r\n");
    cr_assert_eq(h_raw_read_to_close(idle, 3), H_RAW_EOF);
    h_raw_close(idle);
    h_raw_close(sub);
}

/* ---- against redis-server 7.0 ---------------------------------------------------------- */

static pid_t redis_pid;

static int start_redis(void)
{
    return h_start_redis(&redis_pid);
}

/* A conversation of three connections: each step sends a command on one
 * and reads a number of frames from each; the frames read make the
 * transcript. Only what is deterministic in Redis is asked (one channel
 * per UNSUBSCRIBE-all, at most one pattern matching a message). */
typedef struct {
    int who;           /* connection sending */
    const char *words; /* the command, space-separated ('~' stands for a space in an argument) */
    int reads[3];      /* frames to read from each connection afterwards */
} step;

static const step conversation[] = {
    {0, "SUBSCRIBE a b a", {3, 0, 0}},
    {0, "PING", {1, 0, 0}},
    {0, "PING hello", {1, 0, 0}},
    {0, "GET 1", {1, 0, 0}},
    {0, "CLIENT ID", {1, 0, 0}},
    {0, "MULTI", {1, 0, 0}},
    {0, "FOO bar", {1, 0, 0}},
    {0, "GET", {1, 0, 0}},
    {0, "PSUBSCRIBE x.*", {1, 0, 0}},
    {1, "PUBLISH a one", {1, 1, 0}},
    {1, "PUBLISH x.y two", {1, 1, 0}},
    {1, "PUBLISH x three", {0, 1, 0}},
    {2, "HELLO 3", {0, 0, 0}}, /* read below: its id differs */
    {2, "SUBSCRIBE a", {0, 0, 1}},
    {2, "PSUBSCRIBE b*", {0, 0, 1}},
    {2, "GET 1", {0, 0, 1}},
    {2, "PING", {0, 0, 1}},
    {1, "PUBLISH a four", {1, 1, 1}},
    {1, "PUBLISH b~c five", {0, 1, 1}},
    {2, "PUBLISH a six", {1, 0, 2}},
    {1, "PUBSUB NUMSUB a b c", {0, 1, 0}},
    {1, "PUBSUB NUMPAT", {0, 1, 0}},
    {1, "PUBSUB CHANNELS b*", {0, 1, 0}},
    {1, "PUBSUB CHANNELS", {0, 0, 0}}, /* order is Redis's hash order: read below */
    {1, "PUBSUB CHANNELS a b", {0, 1, 0}},
    {1, "PUBSUB SHARDCHANNELS", {0, 1, 0}},
    {1, "PUBSUB SHARDNUMSUB a", {0, 1, 0}},
    {1, "PUBSUB HELP", {0, 1, 0}},
    {1, "PUBSUB NOPE", {0, 1, 0}},
    {1, "PUBSUB", {0, 1, 0}},
    {2, "UNSUBSCRIBE a", {0, 0, 1}},
    {2, "UNSUBSCRIBE", {0, 0, 1}},
    {2, "PUNSUBSCRIBE", {0, 0, 1}},
    {2, "PUNSUBSCRIBE", {0, 0, 1}},
    {2, "CLIENT REPLY OFF", {0, 0, 0}},
    {2, "SUBSCRIBE q", {0, 0, 1}},
    {2, "PUBLISH q x", {0, 0, 1}},
    {2, "CLIENT REPLY ON", {0, 0, 1}},
    {2, "PUBLISH q y", {0, 0, 2}},
    {0, "UNSUBSCRIBE b", {1, 0, 0}},
    {0, "UNSUBSCRIBE", {1, 0, 0}},
    {0, "PING", {1, 0, 0}},
    {0, "PUNSUBSCRIBE x.* nope", {2, 0, 0}},
    {0, "PING", {1, 0, 0}},
    {0, "SUBSCRIBE r", {1, 0, 0}},
    {0, "RESET", {1, 0, 0}},
    {0, "PING", {1, 0, 0}},
    {1, "PUBLISH r z", {0, 1, 0}},
    {1, "COMMAND INFO publish", {0, 0, 0}}, /* flag order is ebb's own: read below */
};

static char *transcript(int port)
{
    h_raw *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = h_raw_open_to("127.0.0.1", port);
    size_t cap = 1 << 16, len = 0;
    char *t = malloc(cap);
    for (size_t k = 0; k < sizeof conversation / sizeof conversation[0]; k++) {
        const step *st = &conversation[k];
        char copy[256];
        snprintf(copy, sizeof copy, "%s", st->words);
        const char *argv[16];
        int argc = 0;
        for (char *w = strtok(copy, " "); w != NULL && argc < 16; w = strtok(NULL, " ")) {
            for (char *q = w; *q != '\0'; q++)
                if (*q == '~')
                    *q = ' ';
            argv[argc++] = w;
        }
        h_raw_cmd(c[st->who], argc, argv);
        bool skip = strcmp(st->words, "HELLO 3") == 0 ||
                    strcmp(st->words, "PUBSUB CHANNELS") == 0 ||
                    strcmp(st->words, "COMMAND INFO publish") == 0;
        if (skip) {
            size_t n;
            free(RAW_REPLY(c[st->who], &n));
        }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < st->reads[i]; j++) {
                size_t n;
                char *rep = RAW_REPLY(c[i], &n);
                while (len + n + 64 > cap)
                    t = realloc(t, cap *= 2);
                len += (size_t)snprintf(t + len, cap - len, "[%zu %d] ", k, i);
                memcpy(t + len, rep, n);
                len += n;
                free(rep);
            }
    }
    t[len] = '\0';
    for (int i = 0; i < 3; i++)
        h_raw_close(c[i]);
    return t;
}

ITEST(pubsub, byte_for_byte_with_redis)
{
    int rport = start_redis();
    char *want = transcript(rport);
    char *got = transcript(H.port);
    h_stop_pid(redis_pid, H_STOP_SECONDS);
    size_t i = 0;
    while (want[i] != '\0' && want[i] == got[i])
        i++;
    size_t from = i > 120 ? i - 120 : 0;
    cr_assert(want[i] == got[i], "transcripts differ at byte %zu:\nredis: %s\nebb:   %s", i,
              h_esc(want + from, strlen(want + from) < 400 ? strlen(want + from) : 400),
              h_esc(got + from, strlen(got + from) < 400 ? strlen(got + from) : 400));
    free(want);
    free(got);
}

/* PSUBSCRIBE patterns match as Redis's: each pattern against each channel,
 * the receivers PUBLISH counts compared. */
static const char *const patterns[] = {
    "*",        "a*",    "*a",  "a*b",     "?",   "a?c",   "[abc]", "[^abc]", "[a-c]x", "[c-a]",
    "a\\*b",    "a\\",   "[a",  "[a-",     "a[",  "\\[a]", "*a*b*", "**",     "h?llo",  "h*llo",
    "h[^e]llo", "[\\]]", "[]]", "a*a*a*b", "*.*", "[!a]",  "\\?",   "[a-]",
};
static const char *const channels[] = {
    "",     "a",      "b",   "d",   "ab", "abc", "axb", "ba",    "a*b",
    "a\\",  "[a",     "a[",  "]",   "\\", "ax",  "cx",  "hello", "hallo",
    "hllo", "heello", "aab", "x.y", "!",  "?",   "-",   "a-",    "ba.c",
};

static char *pattern_table(int port)
{
    h_raw *sub = h_raw_open_to("127.0.0.1", port);
    h_raw *pub = h_raw_open_to("127.0.0.1", port);
    size_t np = sizeof patterns / sizeof patterns[0], nc = sizeof channels / sizeof channels[0];
    char *t = calloc(np * (nc + 1) + 1, 1);
    size_t len = 0;
    for (size_t i = 0; i < np; i++) {
        const char *ps[] = {"PSUBSCRIBE", patterns[i]};
        h_raw_cmd(sub, 2, ps);
        size_t n;
        free(RAW_REPLY(sub, &n));
        for (size_t j = 0; j < nc; j++) {
            const char *pb[] = {"PUBLISH", channels[j], "m"};
            h_raw_cmd(pub, 3, pb);
            char *r = RAW_REPLY(pub, &n);
            t[len++] = r[1];
            if (r[1] == '1')
                free(RAW_REPLY(sub, &n));
            free(r);
        }
        t[len++] = '\n';
        const char *pu[] = {"PUNSUBSCRIBE", patterns[i]};
        h_raw_cmd(sub, 2, pu);
        free(RAW_REPLY(sub, &n));
    }
    h_raw_close(sub);
    h_raw_close(pub);
    return t;
}

ITEST(pubsub, patterns_match_as_redis)
{
    int rport = start_redis();
    char *want = pattern_table(rport);
    char *got = pattern_table(H.port);
    h_stop_pid(redis_pid, H_STOP_SECONDS);
    cr_assert_str_eq(got, want,
                     "rows: patterns, columns: channels (1: delivered)\nredis:\n%s\nebb:\n%s", want,
                     got);
    free(want);
    free(got);
}

/* ---- hostile clients ------------------------------------------------------------------- */

static void setup_small_limits(void)
{
    static const char *const args[] = {"--client-output-buffer-limit", "pubsub 1mb 256kb 2",
                                       "--pubsub-max-subscriptions", "10", NULL};
    h_setup_own_args(args);
}

ITESTX(pubsub, slow_subscriber_is_closed_memory_stays_bounded, .init = setup_small_limits)
{
    /* A subscriber with a small receive buffer that never reads. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    h_raw *sub = h_raw_open();
    close(sub->fd);
    sub->fd = fd;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.port)};
    sa.sin_addr.s_addr = htonl(0x7f000001);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *s[] = {"SUBSCRIBE", "flood"};
    h_raw_cmd(sub, 2, s);
    RAW_EXPECT(sub, "*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n");
    /* A normal client is not in the pubsub class: it reads big replies. */
    redisContext *normal = h_connect();
    long long rss0 = info_ll(C, "used_memory_rss");
    static char payload[16384];
    memset(payload, 'p', sizeof payload);
    long long total = 0, delivered = 0;
    for (int round = 0; round < 64; round++) {
        for (int i = 0; i < 64; i++)
            redisAppendCommand(C, "PUBLISH flood %b", payload, sizeof payload);
        for (int i = 0; i < 64; i++) {
            redisReply *r;
            cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
            delivered += r->integer;
            freeReplyObject(r);
        }
        total += 64 * (long long)sizeof payload;
    }
    /* 64 MiB published; the subscriber was closed long before. */
    cr_assert_lt(delivered, 64 * 64, "the subscriber was never closed");
    cr_assert_geq(info_ll(C, "client_output_limit_closes"), 1);
    EXPECT_INT(C, 0, "PUBLISH flood x");
    redisReply *l = CMD(C, "CLIENT LIST TYPE pubsub");
    cr_assert_str_eq(l->str, "");
    freeReplyObject(l);
    if (!h_sanitized()) {
        long long grew = info_ll(C, "used_memory_rss") - rss0;
        cr_assert_lt(grew, 24ll << 20, "RSS grew by %lld bytes for %lld published", grew, total);
    }
    EXPECT_STATUS(normal, "PONG", "PING");
    redisFree(normal);
    h_raw_close(sub);
}

ITESTX(pubsub, subscription_bound, .init = setup_small_limits)
{
    redisContext *sub = h_connect();
    redisAppendCommand(sub, "SUBSCRIBE c0 c1 c2 c3 c4 c5 c6 c7");
    for (int i = 0; i < 8; i++) {
        redisReply *r = next_msg(sub);
        cr_assert_eq(r->element[2]->integer, i + 1);
        freeReplyObject(r);
    }
    redisAppendCommand(sub, "PSUBSCRIBE p0 p1 p2");
    redisReply *e = next_msg(sub);
    cr_assert_eq(e->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(e->str, "ERR too many subscriptions: a client may hold 10 channels and "
                             "patterns together (pubsub-max-subscriptions)");
    freeReplyObject(e);
    cr_assert_eq(info_ll(C, "pubsub_patterns"), 0);
    redisAppendCommand(sub, "PSUBSCRIBE p0 p1");
    expect_msg(sub, "psubscribe", NULL, "p0", NULL);
    expect_msg(sub, "psubscribe", NULL, "p1", NULL);
    /* Raised at runtime: one more fits. */
    EXPECT_OK(C, "CONFIG SET pubsub-max-subscriptions 11");
    redisAppendCommand(sub, "SUBSCRIBE c8");
    expect_msg(sub, "subscribe", NULL, "c8", NULL);
    redisFree(sub);
}

/* Time of `rounds` PUBLISHes of a long channel with one subscriber of
 * `pattern` (best of three, to see through the noise of a busy machine). */
static double publish_time(const char *pattern, const char *ch, int rounds)
{
    redisContext *sub = h_connect();
    redisAppendCommand(sub, "PSUBSCRIBE %s", pattern);
    freeReplyObject(next_msg(sub));
    double best = 1e9;
    for (int k = 0; k < 3; k++) {
        double t0 = h_now();
        for (int i = 0; i < rounds; i++)
            redisAppendCommand(C, "PUBLISH %s m", ch);
        for (int i = 0; i < rounds; i++) {
            redisReply *r;
            cr_assert_eq(redisGetReply(C, (void **)&r), REDIS_OK);
            cr_assert_eq(r->integer, 0);
            freeReplyObject(r);
        }
        double t = h_now() - t0;
        if (t < best)
            best = t;
    }
    redisFree(sub);
    return best;
}

ITEST(pubsub, hostile_pattern_does_not_stall_publish)
{
    /* Exponential for a backtracking matcher on a channel of a's. */
    size_t len = 256 * 1024;
    char *ch = malloc(len + 1);
    memset(ch, 'a', len);
    ch[len] = '\0';
    int rounds = 40;
    double benign = publish_time("a*b", ch, rounds);
    double hostile = publish_time("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", ch, rounds);
    cr_assert_leq(hostile, 10 * benign, "hostile pattern: %.4f s, benign: %.4f s", hostile, benign);
    EXPECT_STATUS(C, "PONG", "PING");
    free(ch);
}
