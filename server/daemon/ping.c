/*
 * ping.c - the --ping health probe (see ping.h).
 */
#include "ping.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest part of an unexpected reply quoted on stderr. */
#define PING_QUOTE_MAX 200

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, at least 0. */
static int left_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

/* Split target into host and port; missing parts come from the config. */
static bool parse_target(const config *cfg, const char *target, char *host, size_t hostcap,
                         char *port, size_t portcap)
{
    /* Default host: the first bind address; a wildcard means "this host". */
    size_t n = strcspn(cfg->bind.str, " ");
    snprintf(host, hostcap, "%.*s", (int)n, cfg->bind.str);
    if (host[0] == '-')
        memmove(host, host + 1, strlen(host));
    snprintf(port, portcap, "%lld", cfg->port.num);
    if (target != NULL && target[0] != '\0') {
        const char *colon = strrchr(target, ':');
        if (target[0] == '[') {
            const char *close = strchr(target, ']');
            if (close == NULL || (close[1] != '\0' && close[1] != ':'))
                return false;
            snprintf(host, hostcap, "%.*s", (int)(close - target - 1), target + 1);
            if (close[1] == ':')
                snprintf(port, portcap, "%s", close + 2);
        } else if (strspn(target, "0123456789") == strlen(target)) {
            snprintf(port, portcap, "%s", target);
        } else if (colon != NULL && strchr(target, ':') == colon) {
            snprintf(host, hostcap, "%.*s", (int)(colon - target), target);
            snprintf(port, portcap, "%s", colon + 1);
        } else {
            snprintf(host, hostcap, "%s", target);
        }
    }
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 || host[0] == '\0')
        snprintf(host, hostcap, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, hostcap, "::1");
    char *end;
    long p = strtol(port, &end, 10);
    return port[0] != '\0' && *end == '\0' && p > 0 && p <= 65535;
}

static int connect_to(const char *host, const char *port, long long deadline, char *why,
                      size_t whycap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whycap, "can't resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, left_ms(deadline)) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            errno = err != 0 ? err : ETIMEDOUT;
        }
        snprintf(why, whycap, "can't connect to %s:%s: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Append one RESP array of bulk strings to buf. */
static size_t put_command(char *buf, size_t cap, size_t at, const char *const *argv, int argc)
{
    at += (size_t)snprintf(buf + at, cap - at, "*%d\r\n", argc);
    for (int i = 0; i < argc && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    return at;
}

int ping_run(const config *cfg, const char *target)
{
    char host[256], port[16], why[512] = "";
    if (!parse_target(cfg, target, host, sizeof host, port, sizeof port)) {
        fprintf(stderr, "ebb-server --ping: invalid address '%s' (host:port)\n",
                target != NULL ? target : "");
        return 1;
    }
    long long deadline = now_ms() + PING_TIMEOUT_MS;
    int fd = connect_to(host, port, deadline, why, sizeof why);
    if (fd < 0) {
        fprintf(stderr, "ebb-server --ping: %s\n", why);
        return 1;
    }
    /* AUTH first when a password is configured, then PING: one write. */
    char req[8192];
    size_t len = 0;
    int replies = 1;
    const char *pass = cfg->requirepass.str;
    if (pass != NULL && pass[0] != '\0') {
        if (strlen(pass) > sizeof req - 64) {
            fprintf(stderr, "ebb-server --ping: requirepass too long\n");
            close(fd);
            return 1;
        }
        const char *auth[] = {"AUTH", pass};
        len = put_command(req, sizeof req, len, auth, 2);
        replies = 2;
    }
    const char *ping[] = {"PING"};
    len = put_command(req, sizeof req, len, ping, 1);

    size_t sent = 0, got = 0;
    char in[1024];
    int status = 1;
    snprintf(why, sizeof why, "no reply within %d ms", PING_TIMEOUT_MS);
    while (left_ms(deadline) > 0) {
        struct pollfd p = {fd, sent < len ? POLLOUT : POLLIN, 0};
        if (poll(&p, 1, left_ms(deadline)) != 1)
            continue;
        if (sent < len) {
            ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(why, sizeof why, "write: %s", strerror(errno));
                break;
            }
            sent += w > 0 ? (size_t)w : 0;
            continue;
        }
        ssize_t r = recv(fd, in + got, sizeof in - 1 - got, 0);
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(why, sizeof why, "read: %s", strerror(errno));
            break;
        }
        bool closed = r == 0;
        got += r > 0 ? (size_t)r : 0;
        in[got] = '\0';
        /* Each reply expected here is one line; judge once all are in, the
         * server closed, or the buffer is full (no reply to these is that
         * long). */
        int lines = 0;
        for (const char *q = in; (q = strstr(q, "\r\n")) != NULL; q += 2)
            lines++;
        if (!closed && lines < replies && got < sizeof in - 1)
            continue;
        /* The reply to PING decides: an AUTH error does not matter when PING
         * still answers PONG (the server has no password any more); when it
         * does not, the AUTH error is the one worth reporting. */
        const char *auth = replies == 2 ? in : NULL;
        const char *eol = strstr(in, "\r\n");
        const char *pong = auth == NULL ? in : eol != NULL ? eol + 2 : "";
        if (strncmp(pong, "+PONG\r\n", 7) == 0) {
            status = 0;
            break;
        }
        /* Loading a snapshot is alive: a liveness probe that failed here
         * would restart the server and start the load over. Readiness is
         * /readyz's (503 while loading). */
        if (strncmp(pong, "-LOADING ", 9) == 0) {
            fprintf(stderr, "ebb-server --ping: %s:%s: alive, loading the snapshot\n", host, port);
            status = 0;
            break;
        }
        const char *bad = auth != NULL && (auth[0] == '-' || eol == NULL) ? auth : pong;
        size_t n = strcspn(bad, "\r\n");
        if (n == 0 && closed)
            snprintf(why, sizeof why, "connection closed before the reply");
        else
            snprintf(why, sizeof why, "unexpected reply '%.*s%s'",
                     (int)(n < PING_QUOTE_MAX ? n : PING_QUOTE_MAX), bad,
                     n > PING_QUOTE_MAX ? "..." : "");
        break;
    }
    close(fd);
    if (status != 0)
        fprintf(stderr, "ebb-server --ping: %s:%s: %s\n", host, port, why);
    return status;
}
