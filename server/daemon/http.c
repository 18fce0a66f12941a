/*
 * http.c - /metrics, /healthz and /readyz over evhttp (see http.h).
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "metrics.h"

/* Limits for a port that only ever answers small GETs: requests with bigger
 * headers or any body are refused, and a connection that sends nothing for
 * HTTP_TIMEOUT_SECONDS is closed, so a stray client costs next to nothing. */
#define HTTP_MAX_HEADERS_SIZE 8192
#define HTTP_MAX_BODY_SIZE 0
#define HTTP_TIMEOUT_SECONDS 10

/* Most HTTP connections at once. Scrapers and probes need a handful. At the
 * cap the listeners stop accepting (newcomers wait in the kernel's backlog)
 * until one closes, so the HTTP port can never take the file descriptors the
 * cache's own clients need. */
#define HTTP_MAX_CONNECTIONS 64

/* Longest life of a connection. evhttp's timeout restarts with every byte
 * read, so a client that trickles a header line every few seconds would keep
 * its slot for hours; once this old, a connection with no reply being
 * written is shut down (a scraper simply reconnects). */
#define HTTP_MAX_CONNECTION_SECONDS 30

/* Most input buffered per connection. While a reply is being written evhttp
 * keeps reading without parsing; a client that sends and never reads would
 * otherwise grow the input without bound. Past this, reading pauses. */
#define HTTP_MAX_INPUT_BYTES (2 * HTTP_MAX_HEADERS_SIZE)

/* How often the connections are looked at: closed ones leave the table, old
 * ones are shut down, and accepting resumes below the cap. */
#define HTTP_SWEEP_MS 200

/* Accepting pauses this long when the process is out of file descriptors
 * (else the listener would be readable forever: a busy loop). */
#define HTTP_ACCEPT_PAUSE_MS 100

/* Most bind addresses for the HTTP port. */
#define HTTP_MAX_LISTENERS 16

/* Each connection's bufferevent is created here (evhttp_set_bevcb) and held
 * by one extra reference: bufferevent_decref() returning 1 tells that evhttp
 * freed the connection, and until then the socket stays open, so shutting it
 * down can never hit a descriptor reused by someone else. */
typedef struct {
    struct bufferevent *bev;
    long long born_ms;
} http_conn;

static struct {
    struct evhttp *http;
    cmd_server *srv;
    bool stopping;
    struct evconnlistener *ls[HTTP_MAX_LISTENERS];
    size_t nls;
    bool accepting;         /* the listeners are enabled */
    long long paused_until; /* no accepting before (ms), after EMFILE */
    struct event *sweep;
    http_conn conns[HTTP_MAX_CONNECTIONS];
    size_t nconns;
} g;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Enable or disable every listener to match the cap and any pause. */
static void update_accepting(void)
{
    bool want = g.nconns < HTTP_MAX_CONNECTIONS && now_ms() >= g.paused_until;
    if (want == g.accepting)
        return;
    for (size_t i = 0; i < g.nls; i++) {
        if (want)
            evconnlistener_enable(g.ls[i]);
        else
            evconnlistener_disable(g.ls[i]);
    }
    g.accepting = want;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    long long now = now_ms();
    for (size_t i = 0; i < g.nconns;) {
        struct bufferevent *bev = g.conns[i].bev;
        if (bufferevent_decref(bev) == 1) { /* evhttp had let go: gone */
            g.conns[i] = g.conns[--g.nconns];
            continue;
        }
        bufferevent_incref(bev); /* evhttp still holds it, so it is alive */
        if (now - g.conns[i].born_ms > HTTP_MAX_CONNECTION_SECONDS * 1000LL &&
            evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            evutil_socket_t s = bufferevent_getfd(bev);
            if (s >= 0)
                shutdown(s, SHUT_RDWR); /* evhttp sees EOF and frees it */
        }
        i++;
    }
    update_accepting();
}

/* evhttp's bufferevent factory: one per accepted connection. */
static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL; /* evhttp tries its own, then gives up on the connection */
    bufferevent_setwatermark(bev, EV_READ, 0, HTTP_MAX_INPUT_BYTES);
    if (g.nconns < HTTP_MAX_CONNECTIONS) {
        bufferevent_incref(bev);
        g.conns[g.nconns++] = (http_conn){bev, now_ms()};
    }
    update_accepting();
    return bev;
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (now_ms() >= g.paused_until)
            log_write(LOG_WARNING, "HTTP accept: %s; pausing HTTP accepts for %d ms", strerror(err),
                      HTTP_ACCEPT_PAUSE_MS);
        g.paused_until = now_ms() + HTTP_ACCEPT_PAUSE_MS;
        update_accepting();
        return;
    }
    log_write(LOG_WARNING, "HTTP accept: %s", strerror(err));
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *type,
                       const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* evhttp would send the body after a HEAD's headers: send none, and
         * the length a GET would have. */
        char n[24];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_add_header(h, "Content-Length", n);
        evhttp_send_reply(req, code, reason, NULL);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    size_t len;
    char *text = metrics_render(g.srv, &len);
    if (text == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
        return;
    }
    reply_text(req, HTTP_OK, "OK", METRICS_CONTENT_TYPE, text, len);
    free(text);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
    if (g.stopping)
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8", "shutting down\n",
                   14);
    else if (g.srv->loading)
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "loading the snapshot\n", 21);
    else
        reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", "ready\n", 6);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    reply_text(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8",
               "not found: try /metrics, /healthz or /readyz\n", 45);
}

bool http_setup(struct event_base *base, cmd_server *srv, char *err, size_t errlen)
{
    int port = (int)srv->cfg.metrics_port.num;
    if (port == 0)
        return true;
    g.srv = srv;
    g.http = evhttp_new(base);
    g.sweep = event_new(base, -1, EV_PERSIST, on_sweep, NULL);
    struct timeval sweep_tv = {0, HTTP_SWEEP_MS * 1000};
    if (g.http == NULL || g.sweep == NULL || event_add(g.sweep, &sweep_tv) != 0) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    evhttp_set_allowed_methods(g.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(g.http, HTTP_MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(g.http, HTTP_MAX_BODY_SIZE);
    evhttp_set_timeout(g.http, HTTP_TIMEOUT_SECONDS);
    evhttp_set_bevcb(g.http, new_conn_bev, NULL);
    if (evhttp_set_cb(g.http, "/metrics", on_metrics, NULL) != 0 ||
        evhttp_set_cb(g.http, "/healthz", on_healthz, NULL) != 0 ||
        evhttp_set_cb(g.http, "/readyz", on_readyz, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    evhttp_set_gencb(g.http, on_other, NULL);

    const char *bind = srv->cfg.metrics_bind.str;
    if (bind == NULL || bind[0] == '\0')
        bind = srv->cfg.bind.str;
    char word[256];
    int n;
    for (const char *p = bind; (n = config_next_word(&p, word, sizeof word)) != 0;) {
        if (n < 0) {
            snprintf(err, errlen, "metrics bind address too long");
            return false;
        }
        if (g.nls == HTTP_MAX_LISTENERS) {
            snprintf(err, errlen, "too many metrics bind addresses (at most %d)",
                     HTTP_MAX_LISTENERS);
            return false;
        }
        struct evhttp_bound_socket *b =
            evhttp_bind_socket_with_handle(g.http, word, (ev_uint16_t)port);
        if (b == NULL) {
            snprintf(err, errlen, "can't listen for HTTP on %s:%d: %s", word, port,
                     strerror(errno));
            return false;
        }
        struct evconnlistener *l = evhttp_bound_socket_get_listener(b);
        evconnlistener_set_error_cb(l, on_accept_error);
        g.ls[g.nls++] = l;
        log_write(LOG_NOTICE, "Metrics on http://%s:%d/metrics", word, port);
    }
    if (g.nls == 0) {
        snprintf(err, errlen, "no metrics bind address given");
        return false;
    }
    g.accepting = true;
    return true;
}

void http_not_ready(void)
{
    g.stopping = true;
}

void http_teardown(void)
{
    /* evhttp_free closes the listeners and lets go of every connection; the
     * references held here are the last ones. */
    if (g.http != NULL)
        evhttp_free(g.http);
    g.http = NULL;
    g.nls = 0;
    for (size_t i = 0; i < g.nconns; i++)
        bufferevent_decref(g.conns[i].bev);
    g.nconns = 0;
    if (g.sweep != NULL)
        event_free(g.sweep);
    g.sweep = NULL;
}
