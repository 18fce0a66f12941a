/*
 * main.c - ebb-server: options, setup, the event loop, signals, timers and
 * teardown (layer 3).
 *
 *   ebb-server [configfile] [--option value ...]
 *   ebb-server --ping [host:port] [configfile] [--option value ...]
 *
 * As with redis-server, the optional config file comes first and flags
 * override it. Every option of config.h is also a flag (--port 7000) and an
 * environment variable (EBB_PORT=7000), which overrides the file and is
 * overridden by flags: containers configure by environment, and a flag
 * given by hand still wins.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "commands.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "ping.h"

/* Background work (table migrations, memory peak) runs at this rate: 100 Hz
 * keeps each slice small (see CRON_MIGRATE_BUCKETS) yet finishes a migration
 * of millions of keys in seconds when no client write drives it. */
#define MAIN_CRON_HZ 100

static cmd_server srv;
static struct event_base *base;
static struct event *ev_sigint, *ev_sigterm, *ev_cron, *ev_urgent;

/* Longest slice of urgent work (a SHRINK someone waits for) between two
 * rounds of I/O; slices run back to back until the work is done. */
#define MAIN_URGENT_SLICE_US 1000
static char config_path[PATH_MAX];
static char exe_path[PATH_MAX];

static void usage(FILE *f)
{
    fprintf(f, "Usage: ebb-server [/path/to/ebb.conf] [--option value ...]\n"
               "       ebb-server --ping [host:port] [same options]\n"
               "       ebb-server --help | --version\n"
               "\n"
               "A Redis-protocol cache for integer keys and values of up to 128 bytes.\n"
               "The config file uses redis.conf syntax. Each option can also be set by\n"
               "an environment variable, EBB_ and its name in upper case with '_' for\n"
               "'-' (EBB_MAXMEMORY_POLICY); the environment overrides the file, flags\n"
               "override both.\n"
               "\n"
               "--ping checks a running server (AUTH with requirepass if set, PING) and\n"
               "exits 0 on PONG within 2 s, else 1: a health probe for containers.\n"
               "\n"
               "Options (default in brackets):\n");
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option *o = &config_options[i];
        if (o->type == CFG_FIXED)
            continue;
        char flag[64];
        snprintf(flag, sizeof flag, "--%s <%s>", o->name,
                 o->type == CFG_BOOL    ? "yes|no"
                 : o->type == CFG_MEM   ? "bytes"
                 : o->type == CFG_LIMIT ? "auto|n%|bytes"
                 : o->type == CFG_NSMEM ? "ns bytes ..."
                 : o->type == CFG_INT   ? "n"
                                        : "value");
        char words[256];
        if (o->type == CFG_ENUM)
            fprintf(f, "  %-38s %s: %s [%s]\n", flag, config_words(o, words, sizeof words), o->desc,
                    o->def);
        else
            fprintf(f, "  %-38s %s [%s]\n", flag, o->desc, o->def);
    }
    fprintf(f, "\nExamples:\n"
               "  ebb-server\n"
               "  ebb-server --port 7000 --loglevel verbose\n"
               "  ebb-server /etc/ebb/ebb.conf --port 7001\n"
               "  EBB_PORT=7002 EBB_MAXMEMORY=1gb ebb-server --maxmemory-policy allkeys-lru\n"
               "  ebb-server --ping 127.0.0.1:7002\n");
}

static void stop_loop(void)
{
    event_base_loopexit(base, NULL);
}

static bool shutting_down;

static void begin_shutdown(const char *why)
{
    if (shutting_down)
        return;
    shutting_down = true;
    log_write(LOG_NOTICE, "%s, shutting down...", why);
    http_not_ready();
    conn_shutdown(stop_loop);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    const char *why = sig == SIGINT ? "Received SIGINT" : "Received SIGTERM";
    /* A stop already under way (a signal, or SHUTDOWN whose snapshot is
     * written) has nothing left to save. */
    if (shutting_down || srv.shutdown_asked)
        return;
    /* The snapshot first, when one is due (persist.h); if it cannot be
     * written the server stays up, as Redis does, rather than lose it. */
    if (!cmd_persist_shutdown(&srv, false, false)) {
        log_write(LOG_WARNING,
                  "%s, but the snapshot failed: not shutting down. Check the "
                  "logs, or send SHUTDOWN NOSAVE.",
                  why);
        return;
    }
    begin_shutdown(why);
}

/* Run the next urgent slice after the loop has polled I/O once more. Not
 * event_active(): libevent 2.1 runs its active queue until it is empty
 * before it polls again, so slices activated from a callback would run
 * back to back and starve every client for the whole job. A timer that is
 * already due goes through the timer heap instead, which the loop only
 * looks at after its next (non-blocking) poll. */
static void schedule_urgent(void)
{
    static const struct timeval now = {0, 0};
    event_add(ev_urgent, &now);
}

static void on_urgent(evutil_socket_t fd, short what, void *arg)
{
    if (cmd_server_urgent(&srv, MAIN_URGENT_SLICE_US))
        schedule_urgent();
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts = {0, 0};
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    static unsigned ticks;
    /* The cron runs on the loop's thread: its CPU clock is the loop's. */
    busypoll_tick(&srv.poll, clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_THREAD_CPUTIME_ID),
                  (uint32_t)srv.cfg.busy_poll_us.num);
    if (cmd_server_cron(&srv) && !event_pending(ev_urgent, EV_TIMEOUT, NULL))
        schedule_urgent();
    if (++ticks % MAIN_CRON_HZ == 0)
        conn_cron();
    if (srv.shutdown_asked)
        begin_shutdown("Shutdown requested by a client");
}

/*
 * The event loop. While busypoll.h says the loop is busy, a round that
 * read requests is followed by non-blocking rounds (epoll_wait with a zero
 * timeout; timers and callbacks run as usual) until more requests arrive or
 * busy-poll-us passes; only then does the loop sleep in a blocking round.
 * Requests are seen arriving in total_net_input_bytes, which every read from
 * a client adds to. Rounds in which no event at all was active (libevent's
 * count of active events, cleared before each) are timed as polling (INFO
 * busy_poll_usec); rounds that ran a timer, a write or an accept are work.
 * The loop ends as event_base_dispatch would.
 */
static void run_loop(void)
{
    uint64_t seen = srv.st.total_net_input_bytes;
    bool served = false; /* the last round read requests */
    for (;;) {
        uint64_t window =
            served ? busypoll_window_ns(&srv.poll, (uint32_t)srv.cfg.busy_poll_us.num) : 0;
        if (window > 0) {
            uint64_t start = clock_ns(CLOCK_MONOTONIC), now = start;
            while (srv.st.total_net_input_bytes == seen && now - start < window) {
                uint64_t before = now;
                (void)event_base_get_max_events(base, EVENT_BASE_COUNT_ACTIVE, 1);
                if (event_base_loop(base, EVLOOP_NONBLOCK) != 0 || event_base_got_exit(base) ||
                    event_base_got_break(base))
                    return;
                now = clock_ns(CLOCK_MONOTONIC);
                if (event_base_get_max_events(base, EVENT_BASE_COUNT_ACTIVE, 0) == 0)
                    busypoll_empty(&srv.poll, now - before);
            }
            if (srv.st.total_net_input_bytes != seen) {
                seen = srv.st.total_net_input_bytes;
                continue;
            }
        }
        if (event_base_loop(base, EVLOOP_ONCE) != 0 || event_base_got_exit(base) ||
            event_base_got_break(base))
            return;
        served = srv.st.total_net_input_bytes != seen;
        seen = srv.st.total_net_input_bytes;
    }
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

/* Parse argv[i..] into srv.cfg: optional config file first, then the
 * environment, then --name values. Exits with status 1 and one line on
 * stderr for anything invalid. */
static void parse_args(int argc, char **argv, int i)
{
    char err[512];
    if (i < argc && argv[i][0] != '-') {
        if (!config_load_file(&srv.cfg, argv[i], err, sizeof err)) {
            fprintf(stderr, "ebb-server: %s\n", err);
            exit(1);
        }
        if (realpath(argv[i], config_path) == NULL)
            snprintf(config_path, sizeof config_path, "%s", argv[i]);
        i++;
    }
    if (!config_load_env(&srv.cfg, env_lookup, err, sizeof err)) {
        fprintf(stderr, "ebb-server: %s\n", err);
        exit(1);
    }
    while (i < argc) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            fprintf(stderr, "ebb-server: unexpected argument '%s' (options are --name value)\n", a);
            exit(1);
        }
        const char *name = a + 2;
        if (config_find(name, strlen(name)) == NULL) {
            fprintf(stderr, "ebb-server: unknown option '--%s' (see ebb-server --help)\n", name);
            exit(1);
        }
        /* The value is every following word up to the next --option. */
        char value[4096];
        size_t vl = 0;
        int j = i + 1;
        for (; j < argc && strncmp(argv[j], "--", 2) != 0; j++) {
            size_t n = strlen(argv[j]);
            if (vl + n + 1 >= sizeof value) {
                fprintf(stderr, "ebb-server: value of '--%s' is too long\n", name);
                exit(1);
            }
            if (vl > 0)
                value[vl++] = ' ';
            memcpy(value + vl, argv[j], n);
            vl += n;
        }
        value[vl] = '\0';
        if (j == i + 1) {
            fprintf(stderr, "ebb-server: option '--%s' needs a value\n", name);
            exit(1);
        }
        if (!config_set(&srv.cfg, name, strlen(name), value, vl, false, err, sizeof err)) {
            fprintf(stderr, "ebb-server: invalid value '%s' for option '--%s': %s\n", value, name,
                    err);
            exit(1);
        }
        i = j;
    }
}

/* Edit distance between a and b (short option names), capped at 9. */
static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 9;
    unsigned row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 9 ? row[lb] : 9;
}

/* A misspelt variable (EBB_REQUIRE_PASS) would leave its option at the
 * default without a word. Name every EBB_* variable that is no option but
 * is within two edits of one; others are left alone, since tools and
 * orchestrators use the prefix for their own (a Kubernetes Service named
 * ebb sets EBB_SERVICE_HOST). */
static void warn_misspelt_env(void)
{
    extern char **environ;
    size_t plen = strlen(CONFIG_ENV_PREFIX);
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, CONFIG_ENV_PREFIX, plen) != 0)
            continue;
        size_t n = strcspn(*e, "=");
        char var[64];
        if (n >= sizeof var)
            continue;
        memcpy(var, *e, n);
        var[n] = '\0';
        const config_option *near = NULL;
        unsigned best = 3;
        for (size_t i = 0; i < config_option_count; i++) {
            char name[64];
            config_env_name(&config_options[i], name, sizeof name);
            unsigned d = edit_distance(var + plen, name + plen);
            if (d == 0) {
                near = NULL;
                break;
            }
            if (d < best) {
                best = d;
                near = &config_options[i];
            }
        }
        if (near != NULL) {
            char name[64];
            fprintf(stderr,
                    "ebb-server: warning: ignoring %s, which names no option; did you "
                    "mean %s?\n",
                    var, config_env_name(near, name, sizeof name));
        }
    }
}

/* Is every address in `bind` a loopback one? */
static bool bind_is_loopback(const char *bind)
{
    char word[256];
    int n;
    for (const char *p = bind; (n = config_next_word(&p, word, sizeof word)) != 0;) {
        if (n < 0) /* too long to be a loopback address */
            return false;
        if (strncmp(word, "127.", 4) != 0 && strcmp(word, "::1") != 0 &&
            strcmp(word, "localhost") != 0 && strcmp(word, "-::1") != 0)
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
            printf("ebb-server %s\n", EBB_VERSION);
            return 0;
        }
    }
    if (!cmd_server_init(&srv)) {
        fprintf(stderr, "ebb-server: out of memory\n");
        return 1;
    }
    /* --ping [host:port] first: probe a running server and exit. */
    if (argc > 1 && strcmp(argv[1], "--ping") == 0) {
        int first = 2;
        const char *target = NULL;
        struct stat st;
        /* The word after --ping is the target unless it names a file: then
         * it is the config file, as in `ebb-server --ping /etc/ebb.conf`. */
        if (argc > 2 && strncmp(argv[2], "--", 2) != 0 &&
            !(stat(argv[2], &st) == 0 && S_ISREG(st.st_mode))) {
            target = argv[2];
            first = 3;
        }
        parse_args(argc, argv, first);
        int status = ping_run(&srv.cfg, target);
        cmd_server_deinit(&srv);
        return status;
    }
    parse_args(argc, argv, 1);
    warn_misspelt_env();
    if (!log_setup((log_level)srv.cfg.loglevel.num, srv.cfg.logfile.str)) {
        fprintf(stderr, "ebb-server: can't open log file '%s': %s\n", srv.cfg.logfile.str,
                strerror(errno));
        return 1;
    }
    srv.proc.config_file = config_path;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n > 0)
        exe_path[n] = '\0';
    srv.proc.executable = exe_path;

    bool nopass = srv.cfg.requirepass.str == NULL || srv.cfg.requirepass.str[0] == '\0';
    if (srv.cfg.protected_mode.num && nopass && !bind_is_loopback(srv.cfg.bind.str)) {
        char why[512];
        snprintf(why, sizeof why,
                 "refusing to listen on '%s' without a password: anyone who can reach it "
                 "could read and change every key. Set requirepass, or bind to 127.0.0.1, or "
                 "start with --protected-mode no if the network is trusted",
                 srv.cfg.bind.str);
        fprintf(stderr, "ebb-server: %s\n", why);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A write past RLIMIT_FSIZE fails with EFBIG, which a save reports as an
     * error (persist.h), instead of ending the process. */
    signal(SIGXFSZ, SIG_IGN);
    /* SIGINT and SIGTERM wait (pending) until the loop handles them: a stop
     * during the start is a graceful one, and the threads started until
     * then inherit the block (every worker blocks them anyway: worker.h). */
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stops, NULL);
    base = event_base_new();
    if (base == NULL || !cmd_server_start(&srv)) {
        fprintf(stderr, "ebb-server: can't initialise the event loop or the keyspace\n");
        return 1;
    }
    srv.proc.event_api = event_base_get_method(base);
    log_write(LOG_NOTICE, "ebb %s starting, pid=%d", EBB_VERSION, (int)getpid());
    /* The snapshot, if there is one, loads in slices once the loop runs;
     * until then commands get -LOADING and /readyz 503 (persist.h). */
    if (!cmd_persist_load_begin(&srv)) {
        fprintf(stderr, "ebb-server: can't load the snapshot (see the log)\n");
        return 1;
    }

    char err[512];
    if (!conn_setup(base, &srv, err, sizeof err)) {
        log_write(LOG_WARNING, "%s", err);
        fprintf(stderr, "ebb-server: %s\n", err);
        return 1;
    }
    if (!http_setup(base, &srv, err, sizeof err)) {
        log_write(LOG_WARNING, "%s", err);
        fprintf(stderr, "ebb-server: %s\n", err);
        return 1;
    }
    ev_sigint = evsignal_new(base, SIGINT, on_signal, NULL);
    ev_sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
    ev_cron = event_new(base, -1, EV_PERSIST, on_cron, NULL);
    ev_urgent = event_new(base, -1, 0, on_urgent, NULL);
    struct timeval cron_tv = {0, 1000000 / MAIN_CRON_HZ};
    if (ev_sigint == NULL || ev_sigterm == NULL || ev_cron == NULL || ev_urgent == NULL ||
        event_add(ev_sigint, NULL) != 0 || event_add(ev_sigterm, NULL) != 0 ||
        event_add(ev_cron, &cron_tv) != 0) {
        fprintf(stderr, "ebb-server: can't set up signals and timers\n");
        return 1;
    }
    pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
    log_write(LOG_NOTICE, "Ready to accept connections tcp");

    run_loop();
    /* A second SIGTERM during the cleanup must not end the process by its
     * default action instead of exit status 0. Freeing the signal events
     * puts back the handler libevent found when they were added (the
     * default), so the signals are blocked first (the workers never take
     * them: worker.h) and ignored after, which discards one that came in
     * between. */
    pthread_sigmask(SIG_BLOCK, &stops, NULL);
    /* Free in reverse order of creation. */
    http_teardown();
    conn_teardown();
    event_free(ev_urgent);
    event_free(ev_cron);
    event_free(ev_sigterm);
    event_free(ev_sigint);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    cmd_server_deinit(&srv);
    event_base_free(base);
    log_write(LOG_NOTICE, "ebb is now ready to exit, bye bye...");
    log_teardown();
    return 0;
}
