/*
 * http.c - /metrics, /healthz and /readyz over evhttp (see http.h).
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics.h"

/* Limits for a port that only ever answers small GETs: requests with bigger
 * headers or any body are refused, and a connection that sends nothing for
 * HTTP_TIMEOUT_SECONDS is closed, so a stray client costs next to nothing. */
#define HTTP_MAX_HEADERS_SIZE 8192
#define HTTP_MAX_BODY_SIZE 0
#define HTTP_TIMEOUT_SECONDS 10

static struct {
    struct evhttp *http;
    cmd_server *srv;
    bool stopping;
} g;

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *type, const char *body, size_t len)
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
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "shutting down\n", 14);
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
    if (g.http == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    evhttp_set_allowed_methods(g.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(g.http, HTTP_MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(g.http, HTTP_MAX_BODY_SIZE);
    evhttp_set_timeout(g.http, HTTP_TIMEOUT_SECONDS);
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
    int bound = 0;
    for (const char *p = bind; *p != '\0';) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (n >= sizeof word) {
            snprintf(err, errlen, "metrics bind address too long");
            return false;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        p += n;
        if (evhttp_bind_socket_with_handle(g.http, word, (ev_uint16_t)port) == NULL) {
            snprintf(err, errlen, "can't listen for HTTP on %s:%d: %s", word, port,
                     strerror(errno));
            return false;
        }
        log_write(LOG_NOTICE, "Metrics on http://%s:%d/metrics", word, port);
        bound++;
    }
    if (bound == 0) {
        snprintf(err, errlen, "no metrics bind address given");
        return false;
    }
    return true;
}

void http_not_ready(void) { g.stopping = true; }

void http_teardown(void)
{
    if (g.http != NULL)
        evhttp_free(g.http);
    g.http = NULL;
}
