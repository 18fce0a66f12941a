/*
 * test_twemproxy.c - ebb scaled out: three ebb-servers behind twemproxy
 * (nutcracker 0.5.0, the Debian package) with consistent (ketama) hashing.
 *
 * Every test starts its own ring: three ebb-servers on free ports, a
 * nutcracker.yml in a temporary directory naming them, and nutcracker
 * listening on another free port (its stats port is a free port too, so
 * tests run in parallel). Traffic goes through the proxy (P); what each
 * instance holds is checked over a direct connection to it (D[i]), which is
 * also how INFO, DBSIZE and SHRINK reach an instance, since the proxy does
 * not forward them. The servers must exit 0 after SIGTERM, as everywhere in
 * these tests; nutcracker must still be running when the test ends.
 *
 * What the proxy does to commands (nutcracker 0.5.0, checked here):
 *   - single-key commands go to the key's instance, replies come back as ebb
 *     wrote them (ebb's errors included);
 *   - MGET, MSET, DEL, UNLINK and TOUCH are split per instance and the
 *     replies merged; when one part fails the client gets one error and the
 *     parts that succeeded stay applied;
 *   - EXISTS is not split: it goes to its first key's instance whole;
 *   - the ring hashes the key's bytes, so two spellings of one ebb key ("7"
 *     and "007") may live on two instances;
 *   - commands it does not know or does not forward (INFO, DBSIZE, SHRINK,
 *     MEMORY, CONFIG, ...) close the client's connection without a reply;
 *     a bare COMMAND is forwarded, to one instance.
 *
 * Sizes and deadlines scale with h_slow() (EBB_SANITIZED=1).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define N_INST 3
#define VLEN 128         /* the largest value a key may hold */
#define RECORD_BYTES 136 /* 8-byte key + 128-byte value: the payload per key */
#define BATCH 1000       /* commands per pipelined batch */
#define MIB (1024LL * 1024)
/* Attempts at starting nutcracker on free ports (another process may take
 * one between our probe and its bind). */
#define PROXY_TRIES 5
/* nutcracker's per-request server timeout (ms, times h_slow()): long enough
 * for a loaded 2-core machine, short enough that a lost reply fails a test
 * well before its deadline. */
#define PROXY_TIMEOUT_MS 10000

/* ---- The ring --------------------------------------------------------------------- */

typedef struct {
    h_server srv[N_INST];
    redisContext *direct[N_INST];
    redisContext *proxy;
    pid_t proxy_pid;
    int proxy_port, stats_port;
    char dir[64];
} ring;

static ring R;
#define P (R.proxy)
#define D(i) (R.direct[i])

static void ring_stop(void);

TestSuite(twemproxy, .fini = ring_stop, .timeout = 300);

/* Criterion does not count assertions failing in .fini: each test stops the
 * ring (and checks the exit statuses) at the end of its body; the suite's
 * .fini only cleans up after a failed assertion. */
#define PTEST(name)                                                                                \
    static void name##_body(void);                                                                 \
    Test(twemproxy, name)                                                                          \
    {                                                                                              \
        name##_body();                                                                             \
        ring_stop();                                                                               \
    }                                                                                              \
    static void name##_body(void)

static void path_in(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/%s", R.dir, file);
}

/* The last part of nutcracker's log, for failure messages. */
static const char *proxy_log(void)
{
    static char buf[1500];
    char path[128];
    path_in(path, sizeof path, "nutcracker.log");
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return "(no log)";
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static void write_conf(void)
{
    char path[128];
    path_in(path, sizeof path, "nutcracker.yml");
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    /* Named servers: ketama places the names on the ring, not host:port, so
     * the key -> instance map does not depend on the free ports we got. */
    fprintf(f,
            "ebb:\n"
            "  listen: 127.0.0.1:%d\n"
            "  redis: true\n"
            "  hash: murmur\n"
            "  distribution: ketama\n"
            "  auto_eject_hosts: false\n"
            "  preconnect: true\n"
            "  server_connections: 1\n"
            "  timeout: %d\n"
            "  servers:\n",
            R.proxy_port, PROXY_TIMEOUT_MS * h_slow());
    for (int i = 0; i < N_INST; i++)
        fprintf(f, "   - 127.0.0.1:%d:1 ebb%d\n", R.srv[i].port, i + 1);
    cr_assert(fclose(f) == 0);
}

/* Run a tool (harness h_spawn_argv), stdout and stderr into out_path (or
 * /dev/null). */
static pid_t spawn_tool(const char *const *argv, const char *fallback_dir, const char *out_path)
{
    int fd = open(out_path != NULL ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "open %s: %s", out_path != NULL ? out_path : "/dev/null", strerror(errno));
    pid_t pid = h_spawn_argv(argv, fallback_dir, fd, fd);
    close(fd);
    return pid;
}

/* One connect + PING through the proxy; true on +PONG. (nutcracker answers a
 * bare PING itself: this says it listens, not that the servers are up.) */
static bool proxy_pings(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c != NULL && c->err == 0) {
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r != NULL)
            freeReplyObject(r);
    }
    if (c != NULL)
        redisFree(c);
    return ok;
}

/* Start nutcracker on free ports; false if it exited before listening. */
static bool proxy_start_once(void)
{
    R.proxy_port = h_free_port();
    do
        R.stats_port = h_free_port();
    while (R.stats_port == R.proxy_port);
    write_conf();
    char conf[128], log[128], out[128], stats[16];
    path_in(conf, sizeof conf, "nutcracker.yml");
    path_in(log, sizeof log, "nutcracker.log");
    path_in(out, sizeof out, "nutcracker.out");
    snprintf(stats, sizeof stats, "%d", R.stats_port);
    const char *argv[] = {"nutcracker", "-c",  conf, "-o",        log,
                          "-s",         stats, "-a", "127.0.0.1", NULL};
    R.proxy_pid = spawn_tool(argv, "/usr/sbin", out);
    double end = h_now() + H_START_SECONDS * h_slow();
    while (h_now() < end) {
        int st;
        if (waitpid(R.proxy_pid, &st, WNOHANG) == R.proxy_pid) {
            R.proxy_pid = 0;
            cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 127),
                      "nutcracker is not installed (scripts/deps.sh test installs it)");
            return false;
        }
        if (proxy_pings(R.proxy_port))
            return true;
        usleep(5000);
    }
    cr_assert_fail("nutcracker did not answer PING on port %d within %.0f s; log:\n%s",
                   R.proxy_port, H_START_SECONDS * h_slow(), proxy_log());
    return false;
}

/* Start three servers (extra flags for each, NULL-terminated, may be NULL)
 * and the proxy in front of them; connect P and D(0..2). */
static void ring_start(const char *const *server_args)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&R, 0, sizeof R);
    snprintf(R.dir, sizeof R.dir, "/tmp/ebb-twemproxy-XXXXXX");
    cr_assert(mkdtemp(R.dir) != NULL, "mkdtemp: %s", strerror(errno));
    for (int i = 0; i < N_INST; i++) {
        h_start_server(&R.srv[i], server_args);
        D(i) = h_connect_to("127.0.0.1", R.srv[i].port);
    }
    bool up = false;
    for (int t = 0; t < PROXY_TRIES && !up; t++)
        up = proxy_start_once();
    cr_assert(up, "nutcracker exited before listening, %d times; log:\n%s", PROXY_TRIES,
              proxy_log());
    P = h_connect_to("127.0.0.1", R.proxy_port);
    /* A keyed command is forwarded: the servers are reachable through it. */
    redisReply *r = CMD(P, "GET 0");
    cr_assert(r->type == REDIS_REPLY_NIL, "GET through the proxy: type %d %s; log:\n%s", r->type,
              r->str != NULL ? r->str : "", proxy_log());
    freeReplyObject(r);
}

static void remove_dir(void)
{
    static const char *const files[] = {"nutcracker.yml", "nutcracker.log", "nutcracker.out",
                                        "benchmark.out"};
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_in(path, sizeof path, files[i]);
        unlink(path);
    }
    rmdir(R.dir);
    R.dir[0] = '\0';
}

/* Stop everything; idempotent (the .fini calls it again after a failure).
 * Fails the test when a server does not exit 0 or the proxy had died. */
static void ring_stop(void)
{
    if (P != NULL) {
        redisFree(P);
        P = NULL;
    }
    for (int i = 0; i < N_INST; i++)
        if (D(i) != NULL) {
            redisFree(D(i));
            D(i) = NULL;
        }
    bool proxy_died = false;
    char log[1500] = "";
    if (R.proxy_pid > 0) {
        pid_t pid = R.proxy_pid;
        R.proxy_pid = 0;
        int st;
        proxy_died = waitpid(pid, &st, WNOHANG) == pid;
        if (proxy_died)
            snprintf(log, sizeof log, "%s", proxy_log());
        else
            h_stop_pid(pid, H_STOP_SECONDS);
    }
    if (R.dir[0] != '\0')
        remove_dir();
    for (int i = 0; i < N_INST; i++)
        h_stop_server(&R.srv[i]);
    cr_assert(!proxy_died, "nutcracker exited during the test; log:\n%s", log);
}

/* ---- Keys, values and where they live ----------------------------------------------- */

/* The value of key i in generation gen (harness.h), with NUL and CR LF at
 * fixed places too. */
static void value_of(uint64_t i, unsigned gen, uint8_t out[VLEN])
{
    h_value_of(i, gen, out);
    out[9] = '\0';
    out[10] = '\r';
    out[11] = '\n';
}

/* The instance that holds key (asked directly: EXISTS on each), -1 if none.
 * Fails the test when more than one does. */
static int where(const char *key)
{
    int at = -1;
    for (int i = 0; i < N_INST; i++) {
        redisReply *r = CMD(D(i), "EXISTS %s", key);
        cr_assert(r->type == REDIS_REPLY_INTEGER, "EXISTS %s on instance %d: type %d", key, i,
                  r->type);
        if (r->integer == 1) {
            cr_assert(at < 0, "key %s is on instances %d and %d", key, at, i);
            at = i;
        }
        freeReplyObject(r);
    }
    return at;
}

static long long dbsize(int i)
{
    redisReply *r = CMD(D(i), "DBSIZE");
    cr_assert(r->type == REDIS_REPLY_INTEGER, "DBSIZE on instance %d: type %d", i, r->type);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* SET ns:i (or i when ns is NULL) for i in [0, n) through c, pipelined. */
static void load(redisContext *c, const char *ns, size_t n, unsigned gen)
{
    uint8_t v[VLEN];
    for (size_t b = 0; b < n; b += BATCH) {
        size_t e = b + BATCH < n ? b + BATCH : n;
        for (size_t i = b; i < e; i++) {
            value_of(i, gen, v);
            int rc = ns != NULL ? redisAppendCommand(c, "SET %s:%llu %b", ns, (unsigned long long)i,
                                                     v, (size_t)VLEN)
                                : redisAppendCommand(c, "SET %llu %b", (unsigned long long)i, v,
                                                     (size_t)VLEN);
            cr_assert(rc == REDIS_OK);
        }
        for (size_t i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "SET", i);
            cr_assert(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0,
                      "SET %zu: type %d %s", i, r->type, r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
    }
}

/* DEL i for i in [0, n) through c, pipelined; each must delete one key. */
static void drain(redisContext *c, size_t n)
{
    for (size_t b = 0; b < n; b += BATCH) {
        size_t e = b + BATCH < n ? b + BATCH : n;
        for (size_t i = b; i < e; i++)
            cr_assert(redisAppendCommand(c, "DEL %llu", (unsigned long long)i) == REDIS_OK);
        for (size_t i = b; i < e; i++) {
            redisReply *r = h_next_reply(c, "DEL", i);
            cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1,
                      "DEL %zu: type %d integer %lld %s", i, r->type, r->integer,
                      r->str != NULL ? r->str : "");
            freeReplyObject(r);
        }
    }
}

/* Check keys [0, n) hold generation gen through c with MGETs of `per` keys
 * (split by the proxy over the instances and merged back in order), 20
 * MGETs pipelined at a time. */
static void verify_mget(redisContext *c, size_t n, size_t per, unsigned gen)
{
    const size_t group = 20 * per;
    uint8_t v[VLEN];
    const char **argv = malloc((per + 1) * sizeof *argv);
    char(*keys)[24] = malloc(per * sizeof *keys);
    cr_assert(argv != NULL && keys != NULL);
    argv[0] = "MGET";
    for (size_t g = 0; g < n; g += group) {
        size_t ge = g + group < n ? g + group : n;
        for (size_t b = g; b < ge; b += per) {
            size_t e = b + per < ge ? b + per : ge;
            for (size_t i = b; i < e; i++) {
                snprintf(keys[i - b], sizeof keys[0], "%llu", (unsigned long long)i);
                argv[1 + i - b] = keys[i - b];
            }
            cr_assert(redisAppendCommandArgv(c, (int)(e - b + 1), argv, NULL) == REDIS_OK);
        }
        for (size_t b = g; b < ge; b += per) {
            size_t e = b + per < ge ? b + per : ge;
            redisReply *r = h_next_reply(c, "MGET", b);
            cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == e - b,
                      "MGET from %zu: type %d, %zu elements %s", b, r->type, r->elements,
                      r->str != NULL ? r->str : "");
            for (size_t i = b; i < e; i++) {
                const redisReply *el = r->element[i - b];
                value_of(i, gen, v);
                cr_assert(el->type == REDIS_REPLY_STRING && el->len == VLEN &&
                              memcmp(el->str, v, VLEN) == 0,
                          "MGET: key %zu has type %d len %zu, not its value", i, el->type, el->len);
            }
            freeReplyObject(r);
        }
    }
    free(keys);
    free(argv);
}

/* Keys (decimal text) that the ring places on three different instances:
 * out[i] lives on instance i. Candidates are SET through the proxy and
 * located directly, then deleted again. */
static void one_key_per_instance(char out[N_INST][32])
{
    bool have[N_INST] = {false};
    int found = 0;
    uint64_t seed = 7;
    for (int tries = 0; tries < 200 && found < N_INST; tries++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)(h_splitmix(&seed) >> 1) % 1000000007LL);
        EXPECT_OK(P, "SET %s probe", key);
        int at = where(key);
        cr_assert(at >= 0, "key %s set through the proxy is on no instance", key);
        if (!have[at]) {
            have[at] = true;
            snprintf(out[at], sizeof out[at], "%s", key);
            found++;
        }
        EXPECT_INT(P, 1, "DEL %s", key);
    }
    cr_assert_eq(found, N_INST, "200 random keys did not reach all %d instances", N_INST);
}

/* ---- 1. Data through the proxy ------------------------------------------------------ */

PTEST(commands_through_the_proxy)
{
    ring_start(NULL);
    char k[N_INST][32];
    one_key_per_instance(k);
    const char *a = k[0], *b = k[1], *c = k[2];

    /* A 128-byte binary value (NUL, CR LF, high bytes) survives the proxy,
     * and it is stored on the key's instance as sent. */
    uint8_t v[VLEN];
    value_of(1, 1, v);
    EXPECT_OK(P, "SET %s %b", a, v, (size_t)VLEN);
    EXPECT_BULKN(P, (const char *)v, VLEN, "GET %s", a);
    EXPECT_BULKN(D(0), (const char *)v, VLEN, "GET %s", a);
    EXPECT_NIL(D(1), "GET %s", a);
    EXPECT_NIL(D(2), "GET %s", a);

    /* SET's options. */
    EXPECT_NIL(P, "SET %s x NX", a);
    EXPECT_BULKN(P, (const char *)v, VLEN, "SET %s second XX GET", a);
    EXPECT_NIL(P, "SET %s x XX", b);
    EXPECT_OK(P, "SET %s first NX", b);
    EXPECT_BULK(P, "first", "SET %s third GET", b);
    EXPECT_OK(P, "SET %s ttl EX 100", c);
    redisReply *r = CMD(P, "TTL %s", c);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 100,
              "TTL after SET EX 100: %lld", r->integer);
    freeReplyObject(r);
    EXPECT_OK(P, "SET %s ttl2 KEEPTTL", c);
    r = CMD(D(2), "TTL %s", c);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 100,
              "TTL on the instance after KEEPTTL: %lld", r->integer);
    freeReplyObject(r);
    EXPECT_ERR(P, "ERR invalid expire time in 'set' command", "SET %s x EX 0", a);
    EXPECT_ERR(P, "ERR syntax error", "SET %s x PX 100 EX 10", a);

    /* MSET / MGET across the three instances, in the client's order. */
    EXPECT_OK(P, "MSET %s va %s vb %s vc", a, b, c);
    for (int i = 0; i < N_INST; i++)
        cr_assert_eq(dbsize(i), 1, "instance %d holds %lld keys after MSET", i, dbsize(i));
    EXPECT_BULK(D(1), "vb", "GET %s", b);
    r = CMD(P, "MGET %s 424242 %s %s %s", c, b, a, c);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 5, "MGET: type %d", r->type);
    const char *want[] = {"vc", NULL, "vb", "va", "vc"};
    for (size_t i = 0; i < 5; i++) {
        if (want[i] == NULL)
            cr_assert(r->element[i]->type == REDIS_REPLY_NIL, "MGET element %zu", i);
        else
            cr_assert(r->element[i]->type == REDIS_REPLY_STRING &&
                          strcmp(r->element[i]->str, want[i]) == 0,
                      "MGET element %zu: type %d", i, r->element[i]->type);
    }
    freeReplyObject(r);

    EXPECT_INT(P, 3, "TOUCH %s %s %s 424242", a, b, c);

    /* EXISTS is forwarded whole to its first key's instance: it counts only
     * the keys that live there. One key per EXISTS gives true answers. */
    EXPECT_INT(P, 1, "EXISTS %s", a);
    EXPECT_INT(P, 1, "EXISTS %s", b);
    EXPECT_INT(P, 0, "EXISTS 424242");
    EXPECT_INT(P, 2, "EXISTS %s %s", a, a);
    EXPECT_INT(P, 1, "EXISTS %s %s %s", a, b, c);
    EXPECT_INT(P, 1, "EXISTS %s %s %s", c, b, a);

    /* DEL and UNLINK are split per instance and their counts added up. */
    EXPECT_INT(P, 2, "DEL %s 424242 %s", a, c);
    EXPECT_INT(P, 0, "DEL %s %s", a, c);
    EXPECT_OK(P, "MSET %s va %s vc", a, c);
    EXPECT_INT(P, 3, "UNLINK %s %s %s 424242", c, b, a);
    for (int i = 0; i < N_INST; i++)
        cr_assert_eq(dbsize(i), 0, "instance %d not empty after UNLINK", i);

    /* EXPIRE / TTL / GETEX / GETDEL. */
    EXPECT_OK(P, "SET %s e", b);
    EXPECT_INT(P, -1, "TTL %s", b);
    EXPECT_INT(P, 1, "EXPIRE %s 1000", b);
    r = CMD(P, "TTL %s", b);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 900 && r->integer <= 1000,
              "TTL after EXPIRE 1000: %lld", r->integer);
    freeReplyObject(r);
    EXPECT_INT(P, 0, "EXPIRE 424242 10");
    EXPECT_INT(P, -2, "TTL 424242");
    EXPECT_BULK(P, "e", "GETEX %s PERSIST", b);
    EXPECT_INT(P, -1, "TTL %s", b);
    EXPECT_BULK(P, "e", "GETEX %s EX 50", b);
    r = CMD(D(1), "TTL %s", b);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 50,
              "TTL on the instance after GETEX EX 50: %lld", r->integer);
    freeReplyObject(r);
    EXPECT_NIL(P, "GETEX 424242 EX 50");
    EXPECT_BULK(P, "e", "GETDEL %s", b);
    EXPECT_NIL(P, "GETDEL %s", b);
    EXPECT_NIL(P, "GET %s", b);
    EXPECT_INT(P, 0, "EXISTS %s", b);

    /* The other single-key commands are forwarded too. */
    EXPECT_INT(P, 1, "SETNX %s 10", c);
    EXPECT_INT(P, 0, "SETNX %s 11", c);
    EXPECT_INT(P, 13, "INCRBY %s 3", c);
    EXPECT_INT(P, 14, "INCR %s", c);
    EXPECT_INT(P, 12, "DECRBY %s 2", c);
    EXPECT_INT(P, 11, "DECR %s", c);
    EXPECT_BULK(P, "11", "GETSET %s ab", c);
    EXPECT_INT(P, 4, "APPEND %s cd", c);
    EXPECT_INT(P, 4, "SETRANGE %s 1 X", c);
    EXPECT_BULK(P, "aXcd", "GETRANGE %s 0 -1", c);
    EXPECT_INT(P, 4, "STRLEN %s", c);
    EXPECT_STATUS(P, "string", "TYPE %s", c);
    EXPECT_INT(P, 1, "PEXPIRE %s 100000", c);
    r = CMD(P, "PTTL %s", c);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 100000,
              "PTTL after PEXPIRE 100000: %lld", r->integer);
    freeReplyObject(r);
    EXPECT_INT(P, 1, "PERSIST %s", c);
    EXPECT_INT(P, 1, "EXPIREAT %s 99999999999", c);
    EXPECT_INT(P, 1, "PEXPIREAT %s 99999999999000", c);
    EXPECT_OK(P, "SETEX %s 100 s", c);
    EXPECT_OK(P, "PSETEX %s 100000 p", c);
    EXPECT_BULK(D(2), "p", "GET %s", c);
    EXPECT_INT(P, 1, "DEL %s", c);

    /* Namespaced keys are routed like any other key. */
    EXPECT_OK(P, "SET ns:1 one");
    EXPECT_BULK(P, "one", "GET ns:1");
    EXPECT_OK(P, "MSET ns:2 two ns:3 three user:1 u");
    r = CMD(P, "MGET ns:3 ns:2 ns:1 user:1");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert(strcmp(r->element[0]->str, "three") == 0 && strcmp(r->element[1]->str, "two") == 0 &&
              strcmp(r->element[2]->str, "one") == 0 && strcmp(r->element[3]->str, "u") == 0);
    freeReplyObject(r);
    int ns1 = where("ns:1");
    cr_assert(ns1 >= 0);
    EXPECT_BULK(D(ns1), "one", "GET ns:1");
    EXPECT_INT(P, 4, "DEL ns:1 ns:2 ns:3 user:1");

    /* ebb's own errors come back through the proxy unchanged. */
    EXPECT_ERR(P, "ERR invalid key 'nokey': expected an integer or namespace:integer", "GET nokey");
    EXPECT_ERR(P, "ERR invalid key 'nokey': expected an integer or namespace:integer",
               "SET nokey v");
    char big[VLEN + 2];
    memset(big, 'x', sizeof big);
    EXPECT_ERR(P, "ERR value is 129 bytes; the maximum is 128", "SET %s %b", a, big,
               (size_t)VLEN + 1);
    EXPECT_NIL(P, "GET %s", a);
    EXPECT_ERR(P, "ERR unknown command 'HGET', with args beginning with: '1' 'f' ", "HGET 1 f");
    EXPECT_ERR(P, "ERR wrong number of arguments for 'set' command", "SET %s", a);

    /* A split command with one failing part: one error for the client, and
     * the parts that succeeded stay applied (a's part here). */
    EXPECT_OK(P, "SET %s old", b);
    r = CMD(P, "MSET %s new %b %b", a, b, strlen(b), big, (size_t)VLEN + 1);
    cr_assert(r->type == REDIS_REPLY_ERROR, "MSET with an oversized value: type %d", r->type);
    cr_log_info("MSET with one failing part through the proxy: %s", r->str);
    freeReplyObject(r);
    EXPECT_BULK(P, "new", "GET %s", a);
    EXPECT_BULK(P, "old", "GET %s", b);
    r = CMD(P, "MGET %s nokey", a);
    cr_assert(r->type == REDIS_REPLY_ERROR, "MGET with an invalid key: type %d", r->type);
    freeReplyObject(r);
    r = CMD(P, "DEL %s nokey", c);
    cr_assert(r->type == REDIS_REPLY_ERROR, "DEL with an invalid key: type %d", r->type);
    freeReplyObject(r);
    /* The connection is still usable after those errors. */
    EXPECT_STATUS(P, "PONG", "PING");
    EXPECT_BULK(P, "new", "GET %s", a);
}

PTEST(spellings_of_one_key_may_route_apart)
{
    ring_start(NULL);
    /* ebb reads "7" and "007" as one key, but the proxy hashes the bytes it
     * is sent: find an id whose two spellings go to different instances and
     * show that they then name two values. */
    char plain[32], padded[32];
    int found = -1;
    for (int id = 1; id < 400 && found < 0; id++) {
        snprintf(plain, sizeof plain, "%d", id);
        snprintf(padded, sizeof padded, "000%d", id);
        EXPECT_OK(P, "SET %s p", plain);
        int at_plain = where(plain);
        EXPECT_INT(P, 1, "DEL %s", plain);
        EXPECT_OK(P, "SET %s z", padded);
        int at_padded = where(plain); /* the instance canonicalizes */
        EXPECT_INT(P, 1, "DEL %s", padded);
        cr_assert(at_plain >= 0 && at_padded >= 0);
        if (at_plain != at_padded)
            found = id;
    }
    cr_assert(found > 0, "no id below 400 whose padded spelling routes elsewhere");
    EXPECT_OK(P, "SET %s canonical", plain);
    EXPECT_OK(P, "SET %s padded", padded);
    EXPECT_BULK(P, "canonical", "GET %s", plain);
    EXPECT_BULK(P, "padded", "GET %s", padded);
    long long total = 0;
    for (int i = 0; i < N_INST; i++)
        total += dbsize(i);
    cr_assert_eq(total, 2, "one ebb key spelled two ways is %lld keys over the ring", total);
}

/* A random sequence of data commands through the proxy, checked against a
 * model, and the final state checked instance by instance. */
#define MODEL_KEYS 96

typedef struct {
    char key[32];
    bool present, ttl;
    uint8_t val[VLEN];
    size_t len;
} mkey;

static void random_value(uint64_t *rng, uint8_t *out, size_t *len)
{
    uint64_t r = h_splitmix(rng);
    *len = r % 3 == 0 ? VLEN : (size_t)(r >> 8) % (VLEN + 1);
    static const uint8_t special[] = {0, '\r', '\n', 0xff, '$', '*'};
    for (size_t i = 0; i < *len; i++) {
        uint64_t x = h_splitmix(rng);
        out[i] = x % 4 == 0 ? special[(x >> 8) % sizeof special] : (uint8_t)(x >> 16);
    }
}

static void check_bulk(redisReply *r, const mkey *m, const char *what)
{
    if (!m->present) {
        cr_assert(r->type == REDIS_REPLY_NIL, "%s %s: expected nil, got type %d %s", what, m->key,
                  r->type, r->str != NULL ? h_esc(r->str, r->len) : "");
        return;
    }
    cr_assert(r->type == REDIS_REPLY_STRING && r->len == m->len &&
                  memcmp(r->str, m->val, m->len) == 0,
              "%s %s: expected \"%s\", got type %d \"%s\"", what, m->key, h_esc(m->val, m->len),
              r->type, r->str != NULL ? h_esc(r->str, r->len) : "");
}

/* n distinct model keys into idx[]. */
static void pick(uint64_t *rng, size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup;
        do {
            idx[i] = h_splitmix(rng) % MODEL_KEYS;
            dup = false;
            for (size_t j = 0; j < i; j++)
                dup = dup || idx[j] == idx[i];
        } while (dup);
    }
}

PTEST(random_commands_against_a_model)
{
    ring_start(NULL);
    static mkey m[MODEL_KEYS];
    uint64_t rng = 0x5eed;
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        memset(&m[i], 0, sizeof m[i]);
        /* Canonical spellings only (see spellings_of_one_key_may_route_apart):
         * signed 64-bit ids, a third of them namespaced. */
        long long id = (long long)h_splitmix(&rng);
        if (i % 3 == 0)
            snprintf(m[i].key, sizeof m[i].key, "ns:%lld", id);
        else
            snprintf(m[i].key, sizeof m[i].key, "%lld", id);
    }
    const size_t ops = 4000 / (size_t)h_slow();
    uint8_t v[VLEN];
    size_t vlen;
    for (size_t op = 0; op < ops; op++) {
        size_t idx[5];
        pick(&rng, idx, 5);
        mkey *x = &m[idx[0]];
        const char *argv[12];
        size_t lens[12];
        redisReply *r;
        int kind = (int)(h_splitmix(&rng) % 14);
        switch (kind) {
        case 0: /* SET [EX] */
        case 1: {
            random_value(&rng, v, &vlen);
            bool ex = kind == 1;
            argv[0] = "SET", argv[1] = x->key, argv[2] = (const char *)v;
            lens[0] = 3, lens[1] = strlen(x->key), lens[2] = vlen;
            argv[3] = "EX", argv[4] = "1000", lens[3] = 2, lens[4] = 4;
            h_check(__FILE__, __LINE__, CMDV(P, ex ? 5 : 3, argv, lens), REDIS_REPLY_STATUS, "OK",
                    (size_t)-1, 0);
            x->present = true, x->ttl = ex, x->len = vlen;
            memcpy(x->val, v, vlen);
            break;
        }
        case 2: /* SET NX / XX */
        case 3: {
            random_value(&rng, v, &vlen);
            bool nx = kind == 2;
            argv[0] = "SET", argv[1] = x->key, argv[2] = (const char *)v,
            argv[3] = nx ? "NX" : "XX";
            lens[0] = 3, lens[1] = strlen(x->key), lens[2] = vlen, lens[3] = 2;
            r = CMDV(P, 4, argv, lens);
            bool applies = nx ? !x->present : x->present;
            if (applies) {
                cr_assert(r->type == REDIS_REPLY_STATUS, "SET %s %s: type %d", x->key, argv[3],
                          r->type);
                x->present = true, x->ttl = false, x->len = vlen;
                memcpy(x->val, v, vlen);
            } else {
                cr_assert(r->type == REDIS_REPLY_NIL, "SET %s %s: type %d", x->key, argv[3],
                          r->type);
            }
            freeReplyObject(r);
            break;
        }
        case 4: /* SET GET */
            random_value(&rng, v, &vlen);
            argv[0] = "SET", argv[1] = x->key, argv[2] = (const char *)v, argv[3] = "GET";
            lens[0] = 3, lens[1] = strlen(x->key), lens[2] = vlen, lens[3] = 3;
            r = CMDV(P, 4, argv, lens);
            check_bulk(r, x, "SET GET");
            freeReplyObject(r);
            x->present = true, x->ttl = false, x->len = vlen;
            memcpy(x->val, v, vlen);
            break;
        case 5: /* GET */
            r = CMD(P, "GET %s", x->key);
            check_bulk(r, x, "GET");
            freeReplyObject(r);
            break;
        case 6: /* DEL / UNLINK of 1..4 distinct keys */
        case 7: {
            size_t n = 1 + h_splitmix(&rng) % 4;
            long long want = 0;
            argv[0] = kind == 6 ? "DEL" : "UNLINK";
            for (size_t i = 0; i < n; i++) {
                argv[1 + i] = m[idx[i]].key;
                want += m[idx[i]].present;
                m[idx[i]].present = false;
            }
            h_check(__FILE__, __LINE__, CMDV(P, (int)n + 1, argv, NULL), REDIS_REPLY_INTEGER, NULL,
                    0, want);
            break;
        }
        case 8: /* EXISTS, one key */
            EXPECT_INT(P, x->present, "EXISTS %s", x->key);
            break;
        case 9: /* GETDEL */
            r = CMD(P, "GETDEL %s", x->key);
            check_bulk(r, x, "GETDEL");
            freeReplyObject(r);
            x->present = false;
            break;
        case 10: { /* GETEX EX / PERSIST */
            bool persist = h_splitmix(&rng) % 2 == 0;
            r = persist ? CMD(P, "GETEX %s PERSIST", x->key) : CMD(P, "GETEX %s EX 500", x->key);
            check_bulk(r, x, "GETEX");
            freeReplyObject(r);
            if (x->present)
                x->ttl = !persist;
            break;
        }
        case 11:   /* EXPIRE, then TTL */
        case 12: { /* TTL */
            if (kind == 11) {
                EXPECT_INT(P, x->present, "EXPIRE %s 1000", x->key);
                if (x->present)
                    x->ttl = true;
            }
            r = CMD(P, "TTL %s", x->key);
            cr_assert(r->type == REDIS_REPLY_INTEGER, "TTL %s: type %d", x->key, r->type);
            if (!x->present)
                cr_assert_eq(r->integer, -2, "TTL %s of a missing key: %lld", x->key, r->integer);
            else if (!x->ttl)
                cr_assert_eq(r->integer, -1, "TTL %s without expiry: %lld", x->key, r->integer);
            else
                cr_assert(r->integer > 0 && r->integer <= 1000, "TTL %s: %lld", x->key, r->integer);
            freeReplyObject(r);
            break;
        }
        case 13: { /* MSET of 1..3 keys, or MGET of 1..5 */
            if (h_splitmix(&rng) % 2 == 0) {
                size_t n = 1 + h_splitmix(&rng) % 3;
                static uint8_t vals[3][VLEN];
                size_t vl[3];
                argv[0] = "MSET", lens[0] = 4;
                for (size_t i = 0; i < n; i++) {
                    random_value(&rng, vals[i], &vl[i]);
                    argv[1 + 2 * i] = m[idx[i]].key, lens[1 + 2 * i] = strlen(m[idx[i]].key);
                    argv[2 + 2 * i] = (const char *)vals[i], lens[2 + 2 * i] = vl[i];
                }
                h_check(__FILE__, __LINE__, CMDV(P, 1 + 2 * (int)n, argv, lens), REDIS_REPLY_STATUS,
                        "OK", (size_t)-1, 0);
                for (size_t i = 0; i < n; i++) {
                    mkey *y = &m[idx[i]];
                    y->present = true, y->ttl = false, y->len = vl[i];
                    memcpy(y->val, vals[i], vl[i]);
                }
            } else {
                size_t n = 1 + h_splitmix(&rng) % 5;
                argv[0] = "MGET";
                for (size_t i = 0; i < n; i++)
                    argv[1 + i] = m[idx[i]].key;
                r = CMDV(P, (int)n + 1, argv, NULL);
                cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == n, "MGET of %zu: type %d",
                          n, r->type);
                for (size_t i = 0; i < n; i++)
                    check_bulk(r->element[i], &m[idx[i]], "MGET");
                freeReplyObject(r);
            }
            break;
        }
        }
    }

    /* Every present key is on exactly one instance, with its value and its
     * TTL state there; the instances hold nothing else. */
    long long present = 0, on[N_INST] = {0};
    redisReply *r;
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        mkey *x = &m[i];
        int at = where(x->key);
        if (!x->present) {
            cr_assert_eq(at, -1, "deleted key %s is still on instance %d", x->key, at);
            continue;
        }
        cr_assert(at >= 0, "key %s is on no instance", x->key);
        present++;
        on[at]++;
        r = CMD(D(at), "GET %s", x->key);
        check_bulk(r, x, "GET on its instance");
        freeReplyObject(r);
        r = CMD(D(at), "TTL %s", x->key);
        cr_assert(x->ttl ? r->integer > 0 : r->integer == -1, "TTL %s on instance %d: %lld", x->key,
                  at, r->integer);
        freeReplyObject(r);
    }
    cr_log_info("model: %zu commands, %lld keys left: %lld / %lld / %lld per instance", ops,
                present, on[0], on[1], on[2]);
    for (int i = 0; i < N_INST; i++) {
        cr_assert_eq(dbsize(i), on[i], "instance %d holds %lld keys, the model %lld", i, dbsize(i),
                     on[i]);
        cr_assert(on[i] > 0, "no model key ended on instance %d", i);
    }
}

/* ---- 2. Keys spread over every instance --------------------------------------------- */

PTEST(keys_spread_over_all_instances)
{
    ring_start(NULL);
    const size_t n = 30000;
    load(P, NULL, n, 1);
    long long total = 0, per[N_INST];
    for (int i = 0; i < N_INST; i++) {
        per[i] = dbsize(i);
        total += per[i];
    }
    cr_log_info("%zu keys through the proxy: %lld / %lld / %lld per instance", n, per[0], per[1],
                per[2]);
    cr_assert_eq(total, (long long)n, "the instances hold %lld keys, %zu were set", total, n);
    for (int i = 0; i < N_INST; i++)
        cr_assert(per[i] * 100 >= (long long)n * 15, "instance %d holds %lld of %zu keys (< 15 %%)",
                  i, per[i], n);
    /* Read back with MGETs that span the instances. */
    verify_mget(P, n, 50, 1);
    /* The same ring, namespaced keys: spread too. */
    load(P, "user", n / 3, 2);
    for (int i = 0; i < N_INST; i++) {
        long long more = dbsize(i) - per[i];
        cr_assert(more * 100 >= (long long)(n / 3) * 15,
                  "instance %d got %lld of %zu namespaced keys", i, more, n / 3);
    }
}

/* ---- 3. Drain through the proxy, SHRINK each instance directly --------------------- */

/* RSS after SHRINK must come back within this much of the instance's empty
 * baseline (normal builds; see test_memory.c for why not under ASan). */
#define RSS_SLACK (1 * MIB)
/* SHRINK must lower RSS by at least 9/10 of the records it drops. */
#define UNMAP_SEEN_NUM 9
#define UNMAP_SEEN_DEN 10

static long long field_of(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0) {
            cr_assert(r->element[i + 1]->type == REDIS_REPLY_INTEGER);
            return r->element[i + 1]->integer;
        }
    cr_assert_fail("SHRINK's reply lacks %s", name);
    return -1;
}

static double mib(long long b)
{
    return (double)b / (double)MIB;
}

PTEST(drain_through_the_proxy_then_shrink_each_instance)
{
    /* auto-shrink off: the drain keeps the memory, SHRINK gives it back. */
    static const char *const args[] = {"--auto-shrink", "no", NULL};
    ring_start(args);
    const bool exact = !h_sanitized(); /* RSS bounds (see h_sanitized) */
    const size_t n = exact ? 150000 : 60000;
    long long empty[N_INST];
    for (int i = 0; i < N_INST; i++)
        empty[i] = h_proc_bytes_must(R.srv[i].pid, "VmRSS");

    load(P, NULL, n, 3);
    long long held[N_INST], total = 0;
    for (int i = 0; i < N_INST; i++) {
        held[i] = dbsize(i);
        total += held[i];
        cr_assert(held[i] > 0, "instance %d got no keys", i);
    }
    cr_assert_eq(total, (long long)n);

    drain(P, n);
    for (int i = 0; i < N_INST; i++) {
        cr_assert_eq(dbsize(i), 0, "instance %d holds %lld keys after the drain", i, dbsize(i));
        long long rss = h_proc_bytes_must(R.srv[i].pid, "VmRSS");
        /* Nothing given back yet: the records' chunks are kept. */
        if (exact)
            cr_assert(rss - empty[i] >= held[i] * RECORD_BYTES * UNMAP_SEEN_NUM / UNMAP_SEEN_DEN,
                      "instance %d: RSS %.1f MiB after the drain, empty %.1f MiB, %lld keys held",
                      i, mib(rss), mib(empty[i]), held[i]);
    }

    for (int i = 0; i < N_INST; i++) {
        redisReply *r = CMD(D(i), "SHRINK");
        cr_assert(r->type == REDIS_REPLY_ARRAY, "SHRINK on instance %d: type %d %s", i, r->type,
                  r->str != NULL ? r->str : "");
        long long before = field_of(r, "rss_before"), after = field_of(r, "rss_after");
        long long b_before = field_of(r, "buckets_before"), b_after = field_of(r, "buckets_after");
        freeReplyObject(r);
        long long records = held[i] * RECORD_BYTES;
        cr_log_info("instance %d: %lld keys; SHRINK: RSS %.1f -> %.1f MiB, buckets %lld -> "
                    "%lld (empty %.1f MiB)",
                    i, held[i], mib(before), mib(after), b_before, b_after, mib(empty[i]));
        cr_assert(b_after < b_before, "instance %d: SHRINK kept %lld buckets", i, b_after);
        if (exact)
            cr_assert((before - after) * UNMAP_SEEN_DEN >= records * UNMAP_SEEN_NUM,
                      "instance %d: SHRINK dropped %.1f MiB of records, RSS fell by %.1f MiB", i,
                      mib(records), mib(before - after));
        cr_assert_eq(dbsize(i), 0);
    }
    if (exact) {
        /* Connection buffers grown by the pipelines are given back after
         * 2 s idle: poll. */
        for (int i = 0; i < N_INST; i++) {
            double end = h_now() + 5.0;
            long long rss;
            while ((rss = h_proc_bytes_must(R.srv[i].pid, "VmRSS")) > empty[i] + RSS_SLACK &&
                   h_now() < end)
                usleep(20000);
            cr_assert(rss <= empty[i] + RSS_SLACK,
                      "instance %d: RSS %.2f MiB after SHRINK, %.2f MiB when empty", i, mib(rss),
                      mib(empty[i]));
        }
    }
    /* The ring keeps working after the shrink. */
    load(P, NULL, 3000, 4);
    verify_mget(P, 3000, 30, 4);
}

/* ---- 4. Commands the proxy does not forward ---------------------------------------- */

PTEST(unforwarded_commands_close_the_proxy_connection)
{
    ring_start(NULL);
    load(P, NULL, 300, 5);
    long long before[N_INST];
    for (int i = 0; i < N_INST; i++)
        before[i] = dbsize(i);

    static const char *const cmds[][4] = {
        {"INFO"},
        {"INFO", "keyspace"},
        {"DBSIZE"},
        {"SHRINK"},
        {"MEMORY", "USAGE", "1"},
        {"CONFIG", "GET", "maxmemory"},
        {"FLUSHALL"},
        {"SCAN", "0"},
        {"KEYS", "*"},
        {"SELECT", "0"},
        {"HELLO", "3"},
        {"ECHO", "x"},
        {"PING", "x"},
        {"COMMAND", "DOCS"},
        {"CLIENT", "LIST"},
        {"MSETNX", "1", "a"},
        {"RENAME", "1", "2"},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        int argc = 0;
        while (argc < 4 && cmds[c][argc] != NULL)
            argc++;
        h_raw *s = h_raw_open_to("127.0.0.1", R.proxy_port);
        h_raw_cmd(s, argc, cmds[c]);
        h_raw_expect_closed_(__FILE__, __LINE__, s, true);
        h_raw_close(s);
    }
    /* In a pipeline the close can overtake the replies to the commands sent
     * before it: what arrives before it is at most GET's reply. */
    h_raw *s = h_raw_open_to("127.0.0.1", R.proxy_port);
    h_raw_sends(s, "*2\r\n$3\r\nGET\r\n$1\r\n0\r\n*1\r\n$4\r\nINFO\r\n");
    h_raw_fill(s, (size_t)1 << 20, H_IO_SECONDS); /* until the close */
    bool got_get = s->len > 0;
    if (got_get) {
        size_t len;
        char *rep = RAW_REPLY(s, &len);
        cr_assert(len == 6 + VLEN + 2 && memcmp(rep, "$128\r\n", 6) == 0,
                  "before the close of GET + INFO: %s", h_esc(rep, len));
        free(rep);
    }
    cr_log_info("GET then INFO in one pipeline: GET's reply %s before the close",
                got_get ? "arrived" : "did not arrive");
    h_raw_expect_closed_(__FILE__, __LINE__, s, true);
    h_raw_close(s);

    /* None of it reached the instances (FLUSHALL flushed nothing), and the
     * same commands work on each instance directly. */
    for (int i = 0; i < N_INST; i++) {
        EXPECT_STATUS(D(i), "PONG", "PING");
        cr_assert_eq(dbsize(i), before[i], "instance %d lost keys", i);
        char *info = h_info(D(i), "keyspace");
        cr_assert(strncmp(info, "# Keyspace", 10) == 0, "INFO keyspace on instance %d: %s", i,
                  info);
        free(info);
        redisReply *r = CMD(D(i), "SHRINK");
        cr_assert(r->type == REDIS_REPLY_ARRAY, "SHRINK on instance %d", i);
        freeReplyObject(r);
    }
    /* A bare COMMAND is forwarded (to one instance): ebb's command table. */
    redisReply *cmdr = CMD(P, "COMMAND");
    cr_assert(cmdr->type == REDIS_REPLY_ARRAY && cmdr->elements > 10,
              "COMMAND through the proxy: type %d, %zu elements", cmdr->type, cmdr->elements);
    freeReplyObject(cmdr);
    /* The proxy still serves the established client and new ones. */
    verify_mget(P, 300, 25, 5);
    redisContext *c2 = h_connect_to("127.0.0.1", R.proxy_port);
    EXPECT_INT(c2, 1, "EXISTS 299");
    redisFree(c2);
}

/* ---- 5. An instance going away and coming back ------------------------------------- */

PTEST(instance_down_then_back)
{
    ring_start(NULL);
    char k[N_INST][32];
    one_key_per_instance(k);
    EXPECT_OK(P, "MSET %s a %s b %s c", k[0], k[1], k[2]);

    /* auto_eject_hosts: false: the keys of a stopped instance get an error,
     * the others' keys are served as before, nothing moves. */
    const int port = R.srv[2].port;
    redisFree(D(2));
    D(2) = NULL;
    h_stop_server(&R.srv[2]);
    redisReply *r = CMD(P, "GET %s", k[2]);
    cr_assert(r->type == REDIS_REPLY_ERROR, "GET on a stopped instance: type %d", r->type);
    cr_log_info("a stopped instance's key through the proxy: %s", r->str);
    freeReplyObject(r);
    EXPECT_BULK(P, "a", "GET %s", k[0]);
    EXPECT_BULK(P, "b", "GET %s", k[1]);
    r = CMD(P, "MGET %s %s", k[0], k[2]);
    cr_assert(r->type == REDIS_REPLY_ERROR, "MGET touching a stopped instance: type %d", r->type);
    freeReplyObject(r);
    /* (nutcracker 0.5.0 then closes the client's connection: a new one.) */
    redisFree(P);
    P = h_connect_to("127.0.0.1", R.proxy_port);
    EXPECT_OK(P, "SET %s a2", k[0]);

    /* Back on the same address: the proxy reconnects by itself; the instance
     * starts empty (ebb keeps nothing on disk). */
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *args[] = {"--port", ps, "--bind", "127.0.0.1", "--loglevel", "warning", NULL};
    pid_t pid = h_spawn(args, -1, -1);
    int st = 0;
    cr_assert(h_wait_ready(pid, port, H_START_SECONDS, &st),
              "ebb-server did not come back on port %d (wait status %#x)", port, st);
    R.srv[2].pid = pid;
    D(2) = h_connect_to("127.0.0.1", port);
    double end = h_now() + 10.0 * h_slow();
    for (;;) {
        r = CMD(P, "GET %s", k[2]);
        if (r->type != REDIS_REPLY_ERROR || h_now() > end)
            break;
        freeReplyObject(r);
        usleep(20000);
    }
    cr_assert(r->type == REDIS_REPLY_NIL, "GET on the restarted instance: type %d %s", r->type,
              r->str != NULL ? r->str : "");
    freeReplyObject(r);
    EXPECT_OK(P, "SET %s c2", k[2]);
    EXPECT_BULK(D(2), "c2", "GET %s", k[2]);
    EXPECT_BULK(P, "a2", "GET %s", k[0]);
}

/* ---- 6. redis-benchmark through the proxy ------------------------------------------ */

/* The rate redis-benchmark -q printed for test `name` ("SET"), -1 if none.
 * Progress lines ("SET: rps=...") do not parse as a rate and are skipped. */
static double rate_of(const char *out, const char *name)
{
    char pat[32];
    snprintf(pat, sizeof pat, "%s: ", name);
    for (const char *p = strstr(out, pat); p != NULL; p = strstr(p + 1, pat)) {
        if (p != out && p[-1] != '\n' && p[-1] != '\r' && p[-1] != ' ')
            continue;
        char *end;
        double v = strtod(p + strlen(pat), &end);
        if (end != p + strlen(pat) && strncmp(end, " requests per second", 20) == 0)
            return v;
    }
    return -1;
}

PTEST(redis_benchmark_through_the_proxy)
{
    ring_start(NULL);
    const int n = h_slow() == 1 ? 100000 : 20000;
    char port[16], reqs[16], out_path[128];
    snprintf(port, sizeof port, "%d", R.proxy_port);
    snprintf(reqs, sizeof reqs, "%d", n);
    path_in(out_path, sizeof out_path, "benchmark.out");
    const char *argv[] = {
        "redis-benchmark", "-h", "127.0.0.1", "-p", port, "-t", "set,get", "-d", "128", "-r",
        "100000",          "-n", reqs,        "-c", "50", "-q", NULL};
    pid_t pid = spawn_tool(argv, NULL, out_path);
    double end = h_now() + 120.0 * h_slow();
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && h_now() < end)
        usleep(20000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        cr_assert_fail("redis-benchmark did not finish within %.0f s", 120.0 * h_slow());
    }
    static char out[1 << 16];
    FILE *f = fopen(out_path, "r");
    cr_assert(f != NULL);
    size_t got = fread(out, 1, sizeof out - 1, f);
    out[got] = '\0';
    fclose(f);
    cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 127), "redis-benchmark is not installed");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-benchmark ended with status %#x: %s",
              st, h_esc(out, got < 1500 ? got : 1500));
    cr_assert(strstr(out, "Error") == NULL, "redis-benchmark reported an error: %s",
              h_esc(out, got < 1500 ? got : 1500));
    /* Its CONFIG GET is one of the commands the proxy closes on. */
    cr_assert(strstr(out, "WARNING: Could not fetch server CONFIG") != NULL,
              "no CONFIG warning: %s", h_esc(out, got < 1500 ? got : 1500));
    double set = rate_of(out, "SET"), get = rate_of(out, "GET");
    cr_log_info("redis-benchmark -n %d -c 50 through the proxy: SET %.0f/s, GET %.0f/s", n, set,
                get);
    cr_assert(set > 0 && get > 0, "no SET or GET rate: %s", h_esc(out, got < 1500 ? got : 1500));

    /* Its keys (key:000000012345 ...) landed on every instance. */
    long long total = 0, per[N_INST];
    for (int i = 0; i < N_INST; i++) {
        per[i] = dbsize(i);
        total += per[i];
    }
    cr_log_info("benchmark keys per instance: %lld / %lld / %lld", per[0], per[1], per[2]);
    cr_assert(total > n / 10, "only %lld keys after %d SETs", total, n);
    for (int i = 0; i < N_INST; i++)
        cr_assert(per[i] * 100 >= total * 15, "instance %d holds %lld of %lld keys", i, per[i],
                  total);
}
