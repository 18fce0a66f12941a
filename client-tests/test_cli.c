/*
 * test_cli.c - ebb-server's command line: --help, --version, bad options, a
 * redis.conf-style config file with flags overriding it, a graceful stop
 * on SIGTERM/SIGINT that delivers replies already requested, and exit status
 * 0 however many stop signals follow the first. These always start their
 * own server, whatever EBB_ADDR says.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(cli, .timeout = 120);

/* Run ebb-server with args to completion; capture stdout and stderr. */
typedef struct {
    int status;
    char out[16384];
    char err[16384];
} run_result;

static void slurp(int fd, char *dst, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, dst + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == cap - 1)
            break;
    }
    dst[n] = '\0';
}

static void run(run_result *res, const char *const *args)
{
    char outp[] = "/tmp/ebb-cli-out-XXXXXX", errp[] = "/tmp/ebb-cli-err-XXXXXX";
    int of = mkstemp(outp), ef = mkstemp(errp);
    cr_assert(of >= 0 && ef >= 0);
    unlink(outp);
    unlink(errp);
    pid_t pid = h_spawn(args, of, ef);
    /* These runs must end by themselves, promptly. */
    double end = h_now() + 10.0 * h_slow();
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (h_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            cr_assert_fail("ebb-server did not exit by itself");
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    res->status = st;
    lseek(of, 0, SEEK_SET);
    lseek(ef, 0, SEEK_SET);
    slurp(of, res->out, sizeof res->out);
    slurp(ef, res->err, sizeof res->err);
    close(of);
    close(ef);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void expect_usage_error(const char *const *args, const char *mention)
{
    run_result res;
    run(&res, args);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 1,
              "%s: expected exit status 1, status %#x", args[0], res.status);
    cr_assert_eq(lines(res.err), 1, "one line on stderr, got:\n%s", res.err);
    cr_assert(strstr(res.err, mention) != NULL, "stderr should name '%s': %s", mention, res.err);
    cr_assert_str_eq(res.out, "", "nothing on stdout");
}

ITEST(cli, help_and_version)
{
    run_result res;
    const char *help[] = {"--help", NULL};
    run(&res, help);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
    cr_assert(strstr(res.out, "Usage") != NULL, "%s", res.out);
    const char *opts[] = {"--port", "--bind", "--maxclients", "--loglevel", "--logfile"};
    for (size_t i = 0; i < 5; i++)
        cr_assert(strstr(res.out, opts[i]) != NULL, "--help lacks %s", opts[i]);
    const char *ver[] = {"--version", NULL};
    run(&res, ver);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
    cr_assert(strncmp(res.out, "ebb-server ", 11) == 0, "%s", res.out);
    cr_assert_eq(lines(res.out), 1);
}

ITEST(cli, bad_options)
{
    const char *a1[] = {"--nope", "1", NULL};
    expect_usage_error(a1, "nope");
    const char *a2[] = {"--port", "abc", NULL};
    expect_usage_error(a2, "port");
    expect_usage_error(a2, "abc");
    const char *a3[] = {"--maxclients", "0", NULL};
    expect_usage_error(a3, "maxclients");
    const char *a4[] = {"--port", "70000", NULL};
    expect_usage_error(a4, "port");
    const char *a5[] = {"--loglevel", "loud", NULL};
    expect_usage_error(a5, "loglevel");
    const char *a6[] = {"--port", NULL};
    expect_usage_error(a6, "port");
    const char *a7[] = {"/nonexistent/ebb.conf", NULL};
    expect_usage_error(a7, "/nonexistent/ebb.conf");
}

static char *write_conf(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ebb-cli-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

ITEST(cli, config_file_and_overrides)
{
    int fport = h_free_port();
    char text[1024];
    snprintf(text, sizeof text,
             "# ebb test configuration\n"
             "\n"
             "   # an indented comment\n"
             "port %d\n"
             "bind \"127.0.0.1\"\n"
             "maxclients 77\n"
             "loglevel 'warning'\n"
             "max-namespaces 9\n"
             "client-query-buffer-limit 2mb\n"
             "auto-shrink no\n",
             fport);
    char *path = write_conf(text);
    /* Flags override the file: port and maxclients. */
    h_server s;
    char ps[16];
    int port = 0;
    pid_t pid = 0;
    for (int attempt = 0; attempt < 5 && pid == 0; attempt++) {
        port = h_free_port();
        snprintf(ps, sizeof ps, "%d", port);
        const char *args[] = {path, "--port", ps, "--maxclients", "33", NULL};
        pid_t p = h_spawn(args, -1, -1);
        int st = 0;
        if (h_wait_ready(p, port, H_START_SECONDS, &st))
            pid = p;
        else
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x", st);
    }
    cr_assert(pid > 0);
    memset(&s, 0, sizeof s);
    s.pid = pid;
    s.port = port;
    s.owned = true;
    snprintf(s.host, sizeof s.host, "127.0.0.1");
    H = s;
    C = h_connect();
    const char *want[][2] = {{"port", ps},
                             {"maxclients", "33"},
                             {"max-namespaces", "9"},
                             {"loglevel", "warning"},
                             {"client-query-buffer-limit", "2097152"},
                             {"auto-shrink", "no"},
                             {"bind", "127.0.0.1"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        redisReply *r = CMD(C, "CONFIG GET %s", want[i][0]);
        cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s", want[i][0]);
        cr_assert_str_eq(r->element[1]->str, want[i][1], "CONFIG GET %s", want[i][0]);
        freeReplyObject(r);
    }
    char *info = h_info(C, "server");
    char line[128];
    snprintf(line, sizeof line, "config_file:%s\r\n", path);
    cr_assert(strstr(info, line) != NULL, "INFO should name the config file:\n%s", info);
    free(info);
    h_teardown();
    unlink(path);
}

ITEST(cli, bad_config_file_line)
{
    char *path = write_conf("# fine\nport 7001\nmaxclients abc\n");
    const char *args[] = {path, NULL};
    expect_usage_error(args, "line 3");
    unlink(path);
    path = write_conf("nosuchdirective 1\n");
    const char *args2[] = {path, NULL};
    expect_usage_error(args2, "line 1");
    expect_usage_error(args2, "nosuchdirective");
    unlink(path);
    path = write_conf("port 7001\nbind \"127.0.0.1\n");
    const char *args3[] = {path, NULL};
    expect_usage_error(args3, "line 2");
    unlink(path);
}

ITEST(cli, logfile_option)
{
    char path[] = "/tmp/ebb-cli-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    const char *args[] = {"--logfile", path, "--loglevel", "notice", NULL};
    h_setup_own_args(args);
    h_teardown();
    FILE *f = fopen(path, "r");
    char buf[8192] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    cr_assert(n > 0, "the log file is empty");
    cr_assert(strstr(buf, "SIGTERM") != NULL, "log should record the SIGTERM:\n%s", buf);
}

/* SIGTERM with clients connected: replies already computed and waiting in
 * the server's buffers (the client had not read them) are delivered, idle
 * clients are closed, and the server exits 0 promptly. */
static void graceful_stop(int sig)
{
    h_setup_own();
    char val[129];
    memset(val, 'g', 128);
    val[128] = '\0';
    EXPECT_OK(C, "SET 1 %s", val);
    redisReply *r = CMD(C, "INFO stats");
    long long before = h_info_num(r->str, "total_commands_processed");
    freeReplyObject(r);

    /* One round trip on `idle`: the server has accepted it (a connection
     * still in the listener's backlog would be reset, not closed). */
    h_raw *idle = h_raw_open();
    h_raw_sends(idle, "PING\r\n");
    RAW_EXPECT(idle, "+PONG\r\n");
    h_raw *busy = h_raw_open();
    int n = 5000;
    const char one[] = "*2\r\n$3\r\nGET\r\n$1\r\n1\r\n";
    size_t ol = sizeof one - 1;
    char *req = malloc(ol * (size_t)n);
    for (int i = 0; i < n; i++)
        memcpy(req + (size_t)i * ol, one, ol);
    h_raw_send(busy, req, ol * (size_t)n);
    free(req);
    /* Poll until the server has run all of them (the replies now wait in
     * its buffers, since `busy` reads nothing yet). */
    double end = h_now() + 20.0 * h_slow();
    long long done = 0, polls = 0;
    while (h_now() < end) {
        r = CMD(C, "INFO stats");
        polls++;
        done = h_info_num(r->str, "total_commands_processed") - before - polls;
        freeReplyObject(r);
        if (done >= n)
            break;
    }
    cr_assert(done >= n, "the server ran only %lld of %d commands", done, n);
    redisFree(C);
    C = NULL;

    double t0 = h_now();
    kill(H.pid, sig);
    size_t rl = 6 + 128 + 2;
    size_t got = h_raw_fill(busy, (size_t)n * rl, H_IO_SECONDS);
    cr_assert_eq(got, (size_t)n * rl, "got %zu of %zu reply bytes after the signal", got,
                 (size_t)n * rl);
    for (int i = 0; i < n; i++)
        cr_assert(memcmp(busy->buf + (size_t)i * rl, "$128\r\nggg", 9) == 0, "reply %d", i);
    busy->len = 0;
    RAW_EXPECT_CLOSED(busy);
    RAW_EXPECT_CLOSED(idle);
    h_raw_close(busy);
    h_raw_close(idle);
    /* It exits by itself: no second signal. */
    int st = h_wait_exit(H.pid, 10.0);
    if (st == -1)
        h_stop_pid(H.pid, 1.0);
    H.pid = 0;
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    double took = h_now() - t0;
    cr_assert(took < 5.0 * h_slow(), "shutdown took %.2f s", took);
}

ITEST(cli, sigterm_delivers_pending_replies_and_exits_0)
{
    graceful_stop(SIGTERM);
}

ITEST(cli, sigint_exits_0)
{
    graceful_stop(SIGINT);
}

ITEST(cli, sigterm_with_unfinished_request)
{
    /* A client in the middle of a command does not hold the server up. */
    h_setup_own();
    h_raw *r = h_raw_open();
    const char part[] = "*2\r\n$3\r\nGET\r\n$1\r\n";
    h_raw_sends(r, part);
    /* The server has read the partial request (unread bytes would make
     * its close a reset). */
    long long held = h_held_input_wait(C, (long long)sizeof part - 1, 10.0);
    cr_assert_eq(held, (long long)sizeof part - 1, "the server holds %lld bytes of input", held);
    redisFree(C);
    C = NULL;
    double t0 = h_now();
    int st = h_stop_pid(H.pid, 5.0);
    H.pid = 0;
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
    cr_assert(h_now() - t0 < 5.0 * h_slow(), "shutdown took %.2f s", h_now() - t0);
    RAW_EXPECT_CLOSED(r);
    h_raw_close(r);
}

/* Send sig to pid every STOP_FIRE_GAP_US until it exits (at most 10 s,
 * scaled); returns its waitpid status, or -1 (then it is killed). The gap
 * is a spin, not a sleep (a sleep's timer slack would make it 50 us or
 * more): short enough that some signal lands within a few microseconds of
 * any point of the shutdown, long enough that the server runs between two of
 * them rather than only its signal handler. The pid stays ours until
 * waitpid reaps it, so no kill can reach another process. */
#define STOP_FIRE_GAP_US 5.0
static int stop_under_fire(pid_t pid, int sig, long *sent)
{
    double end = h_now() + 10.0 * h_slow();
    int st = 0;
    pid_t w = 0;
    *sent = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && h_now() < end) {
        kill(pid, sig);
        (*sent)++;
        for (double next = h_now() + STOP_FIRE_GAP_US / 1e6; h_now() < next;)
            ;
    }
    cr_assert(w == pid || w == 0, "waitpid: %s", strerror(errno));
    if (w == 0) {
        h_stop_pid(pid, 1.0);
        return -1;
    }
    return st;
}

/* Stop signals keep coming while the server shuts down (a supervisor that
 * repeats its SIGTERM, a user pressing ^C again): each is ignored, from the
 * first until the process ends, and the exit status stays 0. The signals
 * come every few microseconds for the whole shutdown, so they land in
 * every part of it, the cleanup after the event loop included. */
ITEST(cli, repeated_stop_signals_exit_0)
{
    for (int round = 0; round < 60; round++) {
        h_server s;
        h_start_server(&s, NULL);
        int sig = round % 2 ? SIGINT : SIGTERM;
        long sent;
        int st = stop_under_fire(s.pid, sig, &sent);
        cr_assert(st != -1, "round %d: still running %ld signals later", round, sent);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "round %d: exit status %#x after %ld signals %d", round, st, sent, sig);
    }
}

/* A stop signal that comes while the server starts (docker stop right
 * after docker run) waits until its handlers are in place, then stops it
 * gracefully: exit status 0. The signals are blocked in the child from
 * before its exec (the mask survives exec), so the ones that come before
 * the server's own block are held as well. */
ITEST(cli, stop_signals_during_start_exit_0)
{
    int devnull = open("/dev/null", O_WRONLY);
    cr_assert(devnull >= 0);
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    for (int round = 0; round < 20; round++) {
        int sig = round % 2 ? SIGINT : SIGTERM;
        long sent;
        int st = 0;
        /* Exit status 1 is a port another test took between h_free_port
         * and the server's bind (h_start_server retries the same way). */
        for (int tries = 0;; tries++) {
            char ps[16];
            snprintf(ps, sizeof ps, "%d", h_free_port());
            const char *args[] = {"--port", ps, "--maxmemory", "0", "--loglevel", "warning", NULL};
            pthread_sigmask(SIG_BLOCK, &stops, NULL);
            pid_t pid = h_spawn(args, devnull, devnull);
            pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
            st = stop_under_fire(pid, sig, &sent);
            if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 1 || tries == 4)
                break;
        }
        cr_assert(st != -1, "round %d: still running %ld signals later", round, sent);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "round %d: exit status %#x after %ld signals %d", round, st, sent, sig);
    }
    close(devnull);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* With shutdown-save, the first SIGTERM writes the snapshot; the ones that
 * follow it do not write it again. Some rounds, since whether a second
 * signal reaches the loop before it ends depends on the scheduler. */
ITEST(cli, repeated_sigterm_saves_once)
{
    char dir[] = "/tmp/ebb-cli-save-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char log[64], rdb[64];
    snprintf(log, sizeof log, "%s/ebb.log", dir);
    snprintf(rdb, sizeof rdb, "%s/dump.rdb", dir);
    const char *args[] = {"--dir", dir,          "--shutdown-save", "yes", "--logfile",
                          log,     "--loglevel", "notice",          NULL};
    static char buf[65536];
    for (int round = 0; round < 5; round++) {
        h_setup_own_args(args);
        EXPECT_OK(C, "SET 1 one");
        redisFree(C);
        C = NULL;
        long sent;
        int st = stop_under_fire(H.pid, SIGTERM, &sent);
        H.pid = 0;
        cr_assert(st != -1, "still running %ld signals later", sent);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %#x", st);
        FILE *f = fopen(log, "r");
        cr_assert(f != NULL);
        buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
        fclose(f);
        cr_assert_eq(count(buf, "DB saved on disk"), 1, "round %d, %ld signals, one save:\n%s",
                     round, sent, buf);
        cr_assert(access(rdb, F_OK) == 0, "no snapshot written");
        unlink(rdb);
        unlink(log);
    }
    rmdir(dir);
}
