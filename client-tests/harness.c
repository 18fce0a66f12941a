/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#ifndef EBB_SERVER_PATH
#error "EBB_SERVER_PATH must name the ebb-server binary"
#endif

/* How often to retry the first connect+PING while the server starts. */
#define H_POLL_NS (5 * 1000 * 1000)
/* Attempts at starting on a free port: another test may grab the port
 * between our probe and the server's bind. */
#define H_PORT_TRIES 5

h_server H;
redisContext *C;

int h_slow(void)
{
    const char *s = getenv("EBB_SANITIZED");
    return s != NULL && s[0] != '\0' && strcmp(s, "0") != 0 ? 4 : 1;
}

bool h_sanitized(void)
{
    return h_slow() > 1;
}

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void)
{
    struct timespec ts = {0, H_POLL_NS};
    nanosleep(&ts, NULL);
}

const char *h_esc(const void *p, size_t n)
{
    static char bufs[4][2048];
    static int next;
    char *out = bufs[next++ % 4];
    const unsigned char *s = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof bufs[0] - 8; i++) {
        unsigned char ch = s[i];
        if (ch == '\r')
            o += (size_t)sprintf(out + o, "\\r");
        else if (ch == '\n')
            o += (size_t)sprintf(out + o, "\\n");
        else if (ch == '\\')
            o += (size_t)sprintf(out + o, "\\\\");
        else if (ch < 32 || ch > 126)
            o += (size_t)sprintf(out + o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    if (n > 0 && o >= sizeof bufs[0] - 8)
        o += (size_t)sprintf(out + o, "...");
    out[o] = '\0';
    return out;
}

/* ---- Processes ------------------------------------------------------------------ */

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    socklen_t al = sizeof a;
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* h_spawn_argv, with the child's address space capped at as_bytes (0: not). */
static pid_t spawn_argv(const char *const *argv, const char *fallback_dir, int out_fd, int err_fd,
                        uint64_t as_bytes)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the test process, even if it crashes before fini. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (out_fd >= 0)
            dup2(out_fd, 1);
        if (err_fd >= 0)
            dup2(err_fd, 2);
        if (as_bytes > 0) {
            struct rlimit rl = {.rlim_cur = as_bytes, .rlim_max = as_bytes};
            if (setrlimit(RLIMIT_AS, &rl) != 0) {
                fprintf(stderr, "harness: setrlimit(RLIMIT_AS): %s\n", strerror(errno));
                _exit(127);
            }
        }
        execvp(argv[0], (char *const *)argv);
        if (fallback_dir != NULL) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s", fallback_dir, argv[0]);
            execv(path, (char *const *)argv);
        }
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

pid_t h_spawn_argv(const char *const *argv, const char *fallback_dir, int out_fd, int err_fd)
{
    return spawn_argv(argv, fallback_dir, out_fd, err_fd, 0);
}

/* h_spawn with an address-space cap (0: none). */
static pid_t spawn_server(const char *const *args, int out_fd, int err_fd, uint64_t as_bytes)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = EBB_SERVER_PATH;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return spawn_argv(argv, NULL, out_fd, err_fd, as_bytes);
}

pid_t h_spawn(const char *const *args, int out_fd, int err_fd)
{
    return spawn_server(args, out_fd, err_fd, 0);
}

/* One connect + INFO server attempt; true when the server that answered
 * is process pid. Tests run in parallel and each picks a free port: two
 * can pick the same one, and then the second's server exits (the port is
 * taken) while its probe may already be talking to the first's, which a
 * bare PING could not tell apart. pid <= 0: any server (EBB_ADDR). */
static bool ping_once(int port, pid_t pid)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    static const char req[] = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
        char buf[8192], want[48];
        snprintf(want, sizeof want, "\r\nprocess_id:%d\r\n", (int)pid);
        size_t got = 0;
        double end = h_now() + 2.0 * h_slow();
        while (got < sizeof buf - 1 && h_now() < end) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 100) <= 0)
                continue;
            ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (k <= 0)
                break;
            got += (size_t)k;
            buf[got] = '\0';
            if (buf[0] != '$')
                break; /* an error (-LOADING, -NOAUTH): not ready */
            const char *line = strstr(buf, "\r\nprocess_id:");
            if (line != NULL && strstr(line + 2, "\r\n") != NULL) {
                ok = pid <= 0 || strstr(buf, want) != NULL;
                break;
            }
        }
    }
    close(fd);
    return ok;
}

bool h_wait_ready(pid_t pid, int port, double seconds, int *status)
{
    double end = h_now() + seconds * h_slow();
    while (h_now() < end) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (status != NULL)
                *status = st;
            return false;
        }
        if (ping_once(port, pid))
            return true;
        nap();
    }
    cr_assert_fail("ebb-server (pid %d) did not answer PING on port %d within %.0f s", (int)pid,
                   port, seconds * h_slow());
    return false;
}

int h_wait_exit(pid_t pid, double seconds)
{
    double end = h_now() + seconds * h_slow();
    int st;
    while (h_now() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(2000);
    }
    return -1;
}

int h_stop_pid(pid_t pid, double seconds)
{
    kill(pid, SIGTERM);
    double end = h_now() + seconds * h_slow();
    int st;
    while (h_now() < end) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return st;
        if (w < 0)
            return -2;
        nap();
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static const char *describe_status(int st)
{
    static char buf[64];
    if (st == -1)
        snprintf(buf, sizeof buf, "did not exit after SIGTERM (killed)");
    else if (st == -2)
        snprintf(buf, sizeof buf, "was already reaped");
    else if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "was killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(buf, sizeof buf, "ended with wait status %#x", st);
    return buf;
}

void h_start_server_limited(h_server *srv, const char *const *extra, uint64_t as_bytes)
{
    memset(srv, 0, sizeof *srv);
    snprintf(srv->host, sizeof srv->host, "127.0.0.1");
    srv->owned = true;
    for (int attempt = 0; attempt < H_PORT_TRIES; attempt++) {
        int port = h_free_port();
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        /* maxmemory 0: the tests do not depend on the machine's cgroup
         * limit (a test of `auto` gives its own --maxmemory, which wins). */
        const char *args[64] = {"--port",     ps,        "--bind",      "127.0.0.1",
                                "--loglevel", "warning", "--maxmemory", "0"};
        size_t n = 8;
        for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 63; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        pid_t pid = spawn_server(args, -1, -1, as_bytes);
        int st = 0;
        if (h_wait_ready(pid, port, H_START_SECONDS, &st)) {
            srv->pid = pid;
            srv->port = port;
            return;
        }
        /* It exited: most likely the port was taken meanwhile. Retry. */
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 1))
            cr_assert_fail("ebb-server %s before answering PING", describe_status(st));
    }
    cr_assert_fail("ebb-server failed to start on %d free ports", H_PORT_TRIES);
}

int h_start_redis(pid_t *pid)
{
    int devnull = open("/dev/null", O_WRONLY);
    cr_assert(devnull >= 0);
    for (int tries = 0; tries < H_PORT_TRIES; tries++) {
        int port = h_free_port();
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        /* No config file: defaults plus these. Nothing on disk. */
        const char *argv[] = {"redis-server", "--port",      ps,   "--bind",
                              "127.0.0.1",    "--save",      "",   "--appendonly",
                              "no",           "--daemonize", "no", "--dir",
                              "/tmp",         NULL};
        pid_t p = h_spawn_argv(argv, NULL, devnull, devnull);
        int st = 0;
        if (h_wait_ready(p, port, H_START_SECONDS, &st)) {
            close(devnull);
            *pid = p;
            return port;
        }
        cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 127),
                  "redis-server is not installed (scripts/deps.sh test installs it)");
    }
    cr_assert_fail("redis-server did not start on a free port in %d tries", H_PORT_TRIES);
    return -1;
}

void h_start_server(h_server *srv, const char *const *extra)
{
    h_start_server_limited(srv, extra, 0);
}

uint64_t h_idle_vmsize(const char *const *extra)
{
    h_server s;
    h_start_server(&s, extra);
    long long vm = h_proc_bytes(s.pid, "VmSize");
    h_stop_server(&s);
    cr_assert(vm > 0, "cannot read VmSize of ebb-server (pid %d)", (int)s.pid);
    return (uint64_t)vm;
}

void h_stop_server(h_server *srv)
{
    if (!srv->owned || srv->pid <= 0)
        return;
    pid_t pid = srv->pid;
    srv->pid = 0;
    int st = h_stop_pid(pid, H_STOP_SECONDS);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "ebb-server %s (expected a clean exit 0 after SIGTERM)", describe_status(st));
}

/* ---- Fixtures ---------------------------------------------------------------------- */

/* Connect C. On a server of our own, wait until C is its only client: the
 * readiness probe's connection is closed, but the server notices that in its
 * own time, and tests count clients from here on. */
static void connect_default(void)
{
    C = h_connect();
    if (H.owned) {
        long long n = h_info_wait(C, "clients", "connected_clients", 1, 10.0);
        cr_assert_eq(n, 1, "connected_clients %lld after the readiness probe closed", n);
    }
}

void h_setup_own_args(const char *const *extra)
{
    signal(SIGPIPE, SIG_IGN);
    /* Criterion runs the suite's .init and then the test's own: replace a
     * server the suite already started (and check that it exited cleanly). */
    if (C != NULL || H.pid > 0)
        h_teardown();
    h_start_server(&H, extra);
    connect_default();
}

void h_setup_own(void)
{
    h_setup_own_args(NULL);
}

void h_setup(void)
{
    const char *addr = getenv("EBB_ADDR");
    if (addr == NULL || addr[0] == '\0') {
        h_setup_own();
        return;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&H, 0, sizeof H);
    const char *colon = strrchr(addr, ':');
    cr_assert(colon != NULL && colon != addr, "EBB_ADDR must be host:port, not '%s'", addr);
    snprintf(H.host, sizeof H.host, "%.*s", (int)(colon - addr), addr);
    H.port = atoi(colon + 1);
    H.owned = false;
    snprintf(H.ns, sizeof H.ns, "t%ld", (long)getpid());
    cr_assert(ping_once(H.port, 0), "EBB_ADDR=%s does not answer INFO", addr);
    connect_default();
}

void h_teardown(void)
{
    if (C != NULL) {
        /* The server must still be alive and answering at the end of a test. */
        redisReply *r = redisCommand(C, "PING");
        bool alive = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r != NULL)
            freeReplyObject(r);
        redisFree(C);
        C = NULL;
        if (H.owned && H.pid > 0 && !alive) {
            h_stop_server(&H);
            cr_assert_fail("the server did not answer PING at the end of the test");
        }
    }
    h_stop_server(&H);
}

/* ---- Names ---------------------------------------------------------------------------- */

const char *K(const char *id)
{
    static char bufs[32][128];
    static int next;
    char *b = bufs[next++ % 32];
    if (H.ns[0] == '\0')
        snprintf(b, sizeof bufs[0], "%s", id);
    else
        snprintf(b, sizeof bufs[0], "%s:%s", H.ns, id);
    return b;
}

const char *NS(const char *base)
{
    static char bufs[16][64];
    static int next;
    char *b = bufs[next++ % 16];
    if (H.owned)
        snprintf(b, sizeof bufs[0], "%s", base);
    else
        snprintf(b, sizeof bufs[0], "%.12s%s", base, H.ns);
    return b;
}

/* ---- hiredis ---------------------------------------------------------------------------- */

redisContext *h_connect_to(const char *host, int port)
{
    struct timeval tv = {10 * h_slow(), 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    cr_assert(c != NULL && c->err == 0, "connect %s:%d: %s", host, port,
              c != NULL ? c->errstr : "out of memory");
    /* Replies must come back within the deadline, or the test fails instead of hanging. */
    tv.tv_sec = 30 * h_slow();
    redisSetTimeout(c, tv);
    return c;
}

redisContext *h_connect(void)
{
    return h_connect_to(H.host, H.port);
}

redisReply *h_cmd(const char *file, int line, redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r != NULL, "%s:%d: command '%s' failed: %s", file, line, fmt, c->errstr);
    return r;
}

redisReply *h_cmdargv(const char *file, int line, redisContext *c, int argc, const char **argv,
                      const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    cr_assert(r != NULL, "%s:%d: command %s failed: %s", file, line, argv[0], c->errstr);
    return r;
}

const char *h_type_name(int t)
{
    switch (t) {
    case REDIS_REPLY_STRING:
        return "bulk";
    case REDIS_REPLY_ARRAY:
        return "array";
    case REDIS_REPLY_INTEGER:
        return "integer";
    case REDIS_REPLY_NIL:
        return "nil";
    case REDIS_REPLY_STATUS:
        return "status";
    case REDIS_REPLY_ERROR:
        return "error";
    default:
        return "?";
    }
}

static const char *reply_text(const redisReply *r)
{
    static char buf[2300];
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        snprintf(buf, sizeof buf, "%s \"%s\"", h_type_name(r->type), h_esc(r->str, r->len));
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(buf, sizeof buf, "integer %lld", r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        snprintf(buf, sizeof buf, "array of %zu", r->elements);
        break;
    default:
        snprintf(buf, sizeof buf, "%s", h_type_name(r->type));
    }
    return buf;
}

void h_check(const char *file, int line, redisReply *r, int type, const char *str, size_t slen,
             long long num)
{
    char got[2400];
    snprintf(got, sizeof got, "%s", reply_text(r));
    bool ok = r->type == type;
    if (ok &&
        (type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS || type == REDIS_REPLY_ERROR)) {
        size_t n = slen == (size_t)-1 ? strlen(str) : slen;
        ok = r->len == n && memcmp(r->str, str, n) == 0;
        if (!ok) {
            freeReplyObject(r);
            cr_assert_fail("%s:%d: expected %s \"%s\", got %s", file, line, h_type_name(type),
                           h_esc(str, n), got);
        }
    } else if (ok && type == REDIS_REPLY_INTEGER) {
        ok = r->integer == num;
        if (!ok) {
            freeReplyObject(r);
            cr_assert_fail("%s:%d: expected integer %lld, got %s", file, line, num, got);
        }
    }
    freeReplyObject(r);
    cr_assert(ok, "%s:%d: expected a %s reply, got %s", file, line, h_type_name(type), got);
}

redisReply *h_next_reply(redisContext *c, const char *what, long long i)
{
    void *r = NULL;
    cr_assert(redisGetReply(c, &r) == REDIS_OK && r != NULL, "%s %lld: %s", what, i, c->errstr);
    return r;
}

char *h_info(redisContext *c, const char *section)
{
    redisReply *r = section != NULL ? CMD(c, "INFO %s", section) : CMD(c, "INFO");
    cr_assert(r->type == REDIS_REPLY_STRING, "INFO: %s", reply_text(r));
    char *s = strdup(r->str);
    freeReplyObject(r);
    return s;
}

long long h_info_num(const char *info, const char *field)
{
    size_t fl = strlen(field);
    for (const char *p = info; p != NULL && *p != '\0';) {
        if (strncmp(p, field, fl) == 0 && p[fl] == ':')
            return strtoll(p + fl + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

long long h_info_wait(redisContext *c, const char *section, const char *field, long long want,
                      double seconds)
{
    double end = h_now() + seconds * h_slow();
    for (;;) {
        char *info = h_info(c, section);
        long long v = h_info_num(info, field);
        free(info);
        if (v == want || h_now() >= end)
            return v;
        usleep(2000);
    }
}

/* Unparsed input the server holds for every client but c: the sum of
 * CLIENT LIST's qbuf= fields, less the line of the client asking. */
static long long held_input(redisContext *c)
{
    redisReply *r = CMD(c, "CLIENT LIST");
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "CLIENT LIST: %s", reply_text(r));
    long long sum = 0;
    for (char *line = r->str; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        const char *q = strstr(line, " qbuf=");
        if (q != NULL && strstr(line, " cmd=client|list") == NULL)
            sum += strtoll(q + 6, NULL, 10);
        line = nl != NULL ? nl + 1 : NULL;
    }
    freeReplyObject(r);
    return sum;
}

long long h_held_input_wait(redisContext *c, long long want, double seconds)
{
    double end = h_now() + seconds * h_slow();
    long long held;
    while ((held = held_input(c)) != want && h_now() < end)
        usleep(2000);
    return held;
}

/* ---- Raw sockets ---------------------------------------------------------------------- */

/* rcvbuf > 0: SO_RCVBUF, set before connect() (the window scale is agreed
 * on then; shrinking the buffer afterwards can stall the peer's sends). */
static h_raw *raw_open(const char *host, int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    if (rcvbuf > 0)
        cr_assert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    cr_assert(inet_pton(AF_INET, host, &a.sin_addr) == 1, "bad host %s", host);
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s:%d: %s", host, port,
              strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h_raw *r = calloc(1, sizeof *r);
    cr_assert(r != NULL);
    r->fd = fd;
    return r;
}

h_raw *h_raw_open_to(const char *host, int port)
{
    return raw_open(host, port, 0);
}

h_raw *h_raw_open(void)
{
    return h_raw_open_to(H.host, H.port);
}

h_raw *h_raw_open_rcvbuf(int bytes)
{
    return raw_open(H.host, H.port, bytes);
}

void h_raw_close(h_raw *r)
{
    if (r == NULL)
        return;
    close(r->fd);
    free(r->buf);
    free(r);
}

void h_raw_send(h_raw *r, const void *p, size_t n)
{
    const char *s = p;
    double end = h_now() + 60.0 * h_slow();
    while (n > 0) {
        ssize_t k = send(r->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            s += k;
            n -= (size_t)k;
            continue;
        }
        cr_assert(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), "send: %s",
                  k == 0 ? "0 bytes" : strerror(errno));
        cr_assert(h_now() < end, "send: timed out with %zu bytes left", n);
        /* The server is not reading: keep our receive side drained meanwhile
         * would need the caller's help; just wait for room. */
        struct pollfd pf = {.fd = r->fd, .events = POLLOUT};
        poll(&pf, 1, 100);
    }
}

void h_raw_sends(h_raw *r, const char *s)
{
    h_raw_send(r, s, strlen(s));
}

void h_raw_cmd(h_raw *r, int argc, const char *const *argv)
{
    char buf[8192];
    int n = snprintf(buf, sizeof buf, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    cr_assert((size_t)n < sizeof buf);
    h_raw_send(r, buf, (size_t)n);
}

/* Read once with a deadline; returns bytes read, 0 on EOF, -1 on timeout,
 * -2 on error (errno kept). */
static ssize_t raw_read_some(h_raw *r, double end)
{
    if (r->cap - r->len < 65536) {
        size_t cap = r->cap ? r->cap * 2 : 131072;
        while (cap - r->len < 65536)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        cr_assert(nb != NULL);
        r->buf = nb;
        r->cap = cap;
    }
    for (;;) {
        double left = end - h_now();
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = r->fd, .events = POLLIN};
        int pr = poll(&pf, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1);
        if (pr < 0 && errno != EINTR)
            return -2;
        if (pr <= 0)
            continue;
        ssize_t k = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (k > 0) {
            r->len += (size_t)k;
            return k;
        }
        if (k == 0)
            return 0;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return -2;
    }
}

size_t h_raw_fill(h_raw *r, size_t n, double seconds)
{
    double end = h_now() + seconds * h_slow();
    while (r->len < n) {
        if (raw_read_some(r, end) <= 0)
            break;
    }
    return r->len;
}

static void consume(h_raw *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

void h_raw_expect_(const char *file, int line, h_raw *r, const void *want, size_t wlen)
{
    h_raw_fill(r, wlen, H_IO_SECONDS);
    size_t n = r->len < wlen ? r->len : wlen;
    bool same = r->len >= wlen && memcmp(r->buf, want, wlen) == 0;
    if (!same) {
        /* Show a little more than expected, to make extra bytes visible. */
        size_t show = r->len < wlen + 32 ? r->len : wlen + 32;
        cr_assert_fail("%s:%d: expected bytes \"%s\", got %s\"%s\"", file, line, h_esc(want, wlen),
                       r->len < wlen ? "(short) " : "", h_esc(r->buf, show));
    }
    consume(r, n);
}

/* Parse one RESP line ending at CRLF starting at p[0..n); returns the index
 * after the CRLF, or 0 if incomplete. */
static size_t line_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return i + 2;
    return 0;
}

size_t h_resp_frame_len(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    size_t le = line_end(p, n);
    if (le == 0)
        return 0;
    long long v = strtoll(p + 1, NULL, 10);
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
        return le;
    case '$':
    case '=':
    case '!':
        if (v < 0)
            return le;
        if (n < le + (size_t)v + 2)
            return 0;
        return le + (size_t)v + 2;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
        if (v < 0)
            return le;
        long long items = (p[0] == '%' || p[0] == '|') ? 2 * v : v;
        size_t off = le;
        for (long long i = 0; i < items; i++) {
            size_t k = h_resp_frame_len(p + off, n - off);
            if (k == 0)
                return 0;
            off += k;
        }
        return off;
    }
    default:
        return (size_t)-1; /* not RESP */
    }
}

char *h_raw_reply_(const char *file, int line, h_raw *r, size_t *len)
{
    double end = h_now() + H_IO_SECONDS * h_slow();
    for (;;) {
        size_t k = h_resp_frame_len(r->buf, r->len);
        cr_assert(k != (size_t)-1, "%s:%d: not a RESP reply: \"%s\"", file, line,
                  h_esc(r->buf, r->len < 64 ? r->len : 64));
        if (k > 0) {
            char *out = malloc(k + 1);
            cr_assert(out != NULL);
            memcpy(out, r->buf, k);
            out[k] = '\0';
            consume(r, k);
            if (len != NULL)
                *len = k;
            return out;
        }
        ssize_t got = raw_read_some(r, end);
        cr_assert(got > 0, "%s:%d: %s while waiting for a reply (have \"%s\")", file, line,
                  got == 0    ? "connection closed"
                  : got == -1 ? "timed out"
                              : strerror(errno),
                  h_esc(r->buf, r->len < 64 ? r->len : 64));
    }
}

void h_raw_expect_closed_(const char *file, int line, h_raw *r, bool allow_reset)
{
    cr_assert(r->len == 0, "%s:%d: unexpected bytes before close: \"%s\"", file, line,
              h_esc(r->buf, r->len));
    double end = h_now() + H_IO_SECONDS * h_slow();
    ssize_t got = raw_read_some(r, end);
    if (got == -2 && allow_reset && errno == ECONNRESET)
        return;
    cr_assert(got == 0, "%s:%d: expected the server to close the connection, got %s", file, line,
              got > 0     ? h_esc(r->buf, r->len)
              : got == -1 ? "nothing (timed out)"
                          : strerror(errno));
}

h_raw_end h_raw_read_to_close(h_raw *r, double seconds)
{
    double end = h_now() + seconds * h_slow();
    for (;;) {
        ssize_t k = raw_read_some(r, end);
        if (k == 0)
            return H_RAW_EOF;
        if (k == -1)
            return H_RAW_TIMEOUT;
        if (k == -2) {
            cr_assert(errno == ECONNRESET, "recv: %s", strerror(errno));
            return H_RAW_RESET;
        }
    }
}

long long h_proc_bytes(pid_t pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t nl = strlen(name);
    long long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            kb = strtoll(line + nl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

long long h_proc_bytes_must(pid_t pid, const char *name)
{
    long long b = h_proc_bytes(pid, name);
    cr_assert(b >= 0, "/proc/%ld/status lacks %s", (long)pid, name);
    return b;
}

uint64_t h_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void h_value_of(uint64_t i, unsigned gen, uint8_t out[H_VALUE_LEN])
{
    uint64_t x = i * 0xD1342543DE82EF95ULL + gen;
    memcpy(out, &i, sizeof i);
    out[8] = (uint8_t)gen;
    for (size_t k = 9; k < H_VALUE_LEN; k++)
        out[k] = (uint8_t)h_splitmix(&x);
}
