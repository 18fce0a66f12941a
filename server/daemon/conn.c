#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"

/* Pending output past which a client's input is left unread (backpressure).
 * 4 MiB holds ~28k pipelined 128-byte GET replies: far more than any client
 * keeps in flight, small enough that 10k slow readers stay bounded. */
#define CONN_OUTPUT_HIGH (4u * 1024u * 1024u)

/* Replies are sent in batches; a batch is cut at this size so a huge
 * pipeline does not build one giant reply buffer first. */
#define CONN_FLUSH_AT (64u * 1024u)

/* Initial query buffer and argv sizes: one read of a typical pipeline. */
#define CONN_QBUF_INIT (16u * 1024u)
#define CONN_ARGV_INIT 16u

/* Requests parsed ahead and prefetched together (see process_input): a
 * -P 16 client sends 16 per read; 32 covers that with room, and 32 keys'
 * cache lines (~4 each) sit comfortably in L1 until they are used. argv
 * grows to CONN_BATCH_ARGV views for batches and no further (16 bytes each;
 * below CONN_ARGV_KEEP, so the idle shrink leaves it). */
#define CONN_BATCH_MAX 32u
#define CONN_BATCH_ARGV 256u

/* conn_cron gives back a connection's buffers grown past these sizes once
 * it has been idle for CONN_IDLE_SHRINK_US: a pipelining loader leaves
 * megabytes behind otherwise. Not done per request, which would free and
 * re-allocate a large buffer for every batch. */
#define CONN_QBUF_KEEP (64u * 1024u)
#define CONN_OUT_KEEP (64u * 1024u)
#define CONN_ARGV_KEEP 1024u
#define CONN_IDLE_SHRINK_US 2000000

/*
 * Closing a connection that is owed replies (QUIT, a protocol error,
 * SHUTDOWN or a signal, the output limit): close() on a TCP socket with
 * unread input makes the kernel send RST, and RST throws away every reply
 * still in the send queue. So a closing connection
 *   1. flushes what it owes (its output buffer, through libevent);
 *   2. shuts down its write side (FIN after the last reply) and lingers,
 *      reading and dropping input, until the peer closes, or until the
 *      peer has acknowledged every byte sent (the send queue, SIOCOUTQ, is
 *      empty: a reset can no longer lose anything);
 * and is closed at once, replies dropped, once CONN_CLOSE_STALL_MS pass
 * with none of its output leaving (a peer that does not read), or
 * CONN_KILL_STALL_MS during a stop and for a killed connection (the output
 * limit, out of memory, CLIENT KILL). A peer that closes by QUIT or a
 * protocol error and then stalls may only be slow (a pause in its process,
 * a congested link, where TCP's retransmissions back off to seconds), and
 * dropping the replies it asked for would lose them. During a stop the
 * process's exit waits for it, and a supervisor's SIGKILL may follow
 * (docker stop waits 10 s); a killed connection's output and socket are
 * held for a peer already known not to keep up, or its replies are cut
 * anyway. The check runs on a timer while any connection is closing: no
 * event tells when the peer acknowledges data. A lingering connection is
 * no longer a client of the commands layer, but its socket counts against
 * maxclients.
 */
#define CONN_CLOSE_STALL_MS 10000
#define CONN_KILL_STALL_MS 900
/* The check's interval: CONN_CLOSE_TICK_MS when a connection starts
 * closing (most peers acknowledge within a tick), then doubling up to
 * CONN_CLOSE_TICK_MAX_MS, so that thousands of closing connections (a stop
 * with many idle clients) cost an ioctl each 20 times a second, not 200. */
#define CONN_CLOSE_TICK_MS 5
#define CONN_CLOSE_TICK_MAX_MS 50

/* Most listening sockets (bind addresses). */
#define CONN_MAX_LISTENERS 16

/* After accept() fails for lack of file descriptors, stop accepting for this
 * long instead of spinning on a listener that stays readable. */
#define CONN_EMFILE_PAUSE_MS 100

/*
 * A connection's life, one way only:
 *
 *   OPEN ------> CLOSING ------> LINGERING ---> freed
 *     \            |   ^            ^
 *      `--> DOOMED -'   '- (reaper) -'
 *
 *   CONN_OPEN       requests are read and run
 *   CONN_CLOSING    nothing more runs; what it owes is flushed, then it
 *                   lingers (close_when_flushed; on the close list once
 *                   closing_begin ran)
 *   CONN_DOOMED     killed (output limit, out of memory, CLIENT KILL): on
 *                   the reaper's list, which moves it on outside any walk of
 *                   the client list: to CLOSING with keep_output, else
 *                   straight to LINGERING with its output dropped
 *   CONN_LINGERING  FIN sent, the commands layer has let go of cl (deinit);
 *                   waits on the close list for the peer's acknowledgement
 *
 * A connection may be freed in any state (the peer reset it, an idle
 * timeout, the close tick).
 */
typedef enum { CONN_OPEN, CONN_CLOSING, CONN_DOOMED, CONN_LINGERING } conn_state;

typedef struct conn {
    cmd_client cl;           /* the commands layer's view; first member */
    struct bufferevent *bev; /* the socket, for output (and closing it) */
    struct event *rev;       /* readable: input is read straight into qbuf */
    char *qbuf;              /* unparsed input */
    size_t qlen, qcap;
    size_t qneed; /* don't re-parse before qlen reaches this */
    /* Where the reader stopped in the unfinished request at the front of
     * qbuf (see resp_request.resume_*), and where that request started when
     * argv's views were made, so they can follow qbuf when it moves. */
    size_t resume_off, resume_argc;
    uintptr_t resume_base;
    resp_view *argv;
    size_t argv_cap;
    int64_t soft_since_us; /* output over the soft limit since then (0: not over) */
    conn_state state;
    bool peer_eof;          /* the peer closed its write side */
    size_t close_left;      /* output not yet acknowledged at the last check */
    int64_t close_moved_us; /* when close_left last went down (monotonic) */
    bool close_listed;      /* on g.closing */
    struct conn *next_closing;
    bool keep_output; /* CONN_DOOMED: deliver the output buffer first */
    bool killed;      /* by kill_later: CONN_KILL_STALL_MS applies */
    struct conn *next_doomed;
    bool flush_queued; /* on the flush list: replies go out this round */
    struct conn *next_flush;
    struct conn *next_held; /* on g.held while cl.held (a pause holds its input) */
    struct conn *next_all, *prev_all;
} conn;

static struct {
    struct event_base *base;
    cmd_server *srv;
    struct evconnlistener *ls[CONN_MAX_LISTENERS];
    size_t nls;
    struct event *resume_accept;
    conn *all;
    bool stopping;
    void (*on_drained)(void);
    conn *doomed; /* connections to free from the reaper */
    struct event *reaper;
    conn *flush; /* connections with replies to send (flush_later) */
    struct event *flusher;
    conn *closing; /* connections flushing or lingering (see above) */
    struct event *close_tick;
    int close_tick_ms; /* its current interval */
    size_t lingering;  /* lingering connections: they count in maxclients */
    /* Connections whose next request a pause holds (cl.held), in the order
     * they were held, which is the order they resume in; and the timer that
     * ends the pause (CLIENT PAUSE's deadline, or at once after UNPAUSE). */
    conn *held, *held_tail;
    struct event *pause_tick;
} g;

/* Unescaped inline arguments; shared because one request is handled at a
 * time and its views die before the next parse. */
static char scratch[RESP_INLINE_MAX];

static void conn_free(conn *c);
static void process_input(conn *c);
static void linger(conn *c);
static void close_when_flushed(conn *c);

/* Bytes sent to the socket that the peer has not acknowledged yet. */
static size_t unacked(const conn *c)
{
    int n = 0;
    if (ioctl(c->cl.fd, SIOCOUTQ, &n) != 0 || n < 0)
        return 0;
    return (size_t)n;
}

static size_t pending_output(const conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* What a closing connection still has to deliver: its output buffer (unless
 * it was dropped) and the kernel's unacknowledged bytes. */
static size_t close_left(const conn *c)
{
    return (c->state == CONN_LINGERING ? 0 : pending_output(c)) + unacked(c);
}

/* Monotonic microseconds: a stall is measured in elapsed time, whatever
 * the wall clock does meanwhile. */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void close_tick_arm(int ms)
{
    g.close_tick_ms = ms;
    struct timeval tv = {0, ms * 1000};
    evtimer_add(g.close_tick, &tv);
}

/* Put c on the closing list, which the close tick watches (see
 * CONN_CLOSE_STALL_MS). Input is read and dropped from now on. */
static void closing_begin(conn *c)
{
    if (!c->peer_eof)
        event_add(c->rev, NULL); /* again, if kill_later took it away */
    if (c->close_listed)
        return;
    c->close_listed = true;
    if (c->state != CONN_LINGERING)
        cmd_client_closing(g.srv, &c->cl);
    if (c->state == CONN_OPEN)
        c->state = CONN_CLOSING;
    c->close_left = close_left(c);
    c->close_moved_us = mono_us();
    c->next_closing = g.closing;
    g.closing = c;
    /* Not re-armed when pending: closes arriving faster than a tick would
     * otherwise push the check back forever. */
    if (!evtimer_pending(g.close_tick, NULL))
        close_tick_arm(CONN_CLOSE_TICK_MS);
}

/* Close a connection: it runs nothing more, and the reaper callback closes
 * it (callers may be walking the client list or be in the middle of
 * serving another client). keep_output: its output buffer, which holds
 * whole replies (batches are queued whole), is delivered first if the peer
 * reads it, as for QUIT. Otherwise that output is dropped, its memory too
 * (this may be an out-of-memory close), and only what the kernel already
 * holds is delivered (the reaper lingers). */
static void kill_later(conn *c, bool keep_output)
{
    assert(c->state != CONN_LINGERING); /* the commands layer let go of it */
    if (c->state == CONN_DOOMED)
        return;
    c->state = CONN_DOOMED;
    c->cl.closing = true; /* cmd_client_closing once outside the caller's walk */
    c->keep_output = keep_output;
    c->killed = true;
    if (!keep_output) {
        bufferevent_disable(c->bev, EV_WRITE);
        /* A socket bufferevent keeps the start of its output frozen (only
         * its own writes take from it): thaw it to drop what is left. */
        struct evbuffer *out = bufferevent_get_output(c->bev);
        evbuffer_unfreeze(out, 1);
        evbuffer_drain(out, evbuffer_get_length(out));
        evbuffer_freeze(out, 1);
    }
    event_del(c->rev);
    c->next_doomed = g.doomed;
    g.doomed = c;
    event_active(g.reaper, EV_TIMEOUT, 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    while (g.doomed != NULL) {
        conn *c = g.doomed;
        g.doomed = c->next_doomed;
        cmd_client_closing(g.srv, &c->cl);
        c->state = CONN_CLOSING;
        if (c->keep_output)
            close_when_flushed(c);
        else
            linger(c); /* output writes stay disabled: its buffer is dropped */
    }
}

static void check_drained(void)
{
    if (g.stopping && g.all == NULL && g.on_drained != NULL) {
        void (*done)(void) = g.on_drained;
        g.on_drained = NULL;
        done();
    }
}

/* client-output-buffer-limit, in the client's class (normal, or pubsub for
 * one with subscriptions): a client whose pending output (queued in
 * libevent, plus replies not handed to it yet) passes the hard limit, or
 * stays over the soft one for the soft time, is closed. It runs nothing
 * more; the whole replies already queued go out if it reads them (never
 * stalling for CONN_KILL_STALL_MS), then EOF. now: the clock in µs, or 0
 * to read it only if needed. */
static void check_output_limits(conn *c, int64_t now)
{
    const config_obl *lim = cmd_client_obl(g.srv, &c->cl);
    if (c->state != CONN_OPEN || (lim->hard == 0 && lim->soft == 0))
        return;
    size_t pending = pending_output(c) + c->cl.out.len;
    bool over_hard = lim->hard > 0 && pending > (size_t)lim->hard;
    bool over_soft = lim->soft > 0 && pending > (size_t)lim->soft;
    if (!over_soft) {
        c->soft_since_us = 0;
    } else {
        if (now == 0)
            now = cmd_now_us();
        if (c->soft_since_us == 0)
            c->soft_since_us = now;
    }
    bool soft_expired = over_soft && now - c->soft_since_us >= lim->secs * 1000000;
    if (!over_hard && !soft_expired)
        return;
    log_write(LOG_WARNING,
              "Client id=%llu addr=%s closed for overcoming of output buffer limits "
              "(%zu bytes pending, class %s)",
              (unsigned long long)c->cl.id, c->cl.addr, pending,
              cmd_client_subscribed(&c->cl) ? "pubsub" : "normal");
    STAT_INC(&g.srv->st, client_output_limit_closes);
    kill_later(c, true);
}

/* Hand the replies accumulated in the client's resp_out to libevent. */
static void flush_replies(conn *c)
{
    resp_out *o = &c->cl.out;
    if (c->state == CONN_DOOMED || c->state == CONN_LINGERING) {
        resp_out_reset(o); /* nobody will read it */
        return;
    }
    if (o->oom) {
        /* A reply could not be built: the stream is no longer valid RESP.
         * Closed at once, not once its output drains: memory is short, and
         * a client that is not reading would keep what it holds. */
        log_write(LOG_WARNING, "Out of memory building replies for client id=%llu; closing it",
                  (unsigned long long)c->cl.id);
        resp_out_reset(o);
        kill_later(c, false);
        return;
    }
    if (o->len == 0)
        return;
    /* With nothing queued, hand the replies to the socket at once. Queued in
     * the bufferevent, they would make libevent add the socket to the epoll
     * set for writing and, once written, take it out again: two epoll_ctl
     * calls and an extra round of the loop for every batch (strace of a -P 16
     * GET run: 2 epoll_ctl per writev). What the socket does not take (it is
     * full, or failed: libevent will see the error on its own write) is
     * queued as before, so replies stay in order. */
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t sent = 0;
    if (evbuffer_get_length(out) == 0) {
        ssize_t w = send(c->cl.fd, o->buf, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            sent = (size_t)w;
    }
    if (sent < o->len && evbuffer_add(out, o->buf + sent, o->len - sent) != 0) {
        /* Out of memory for pending output: as above (this client is the
         * one whose output cannot grow; a hole in its replies cannot be
         * sent around). */
        log_write(LOG_WARNING, "Out of memory for output of client id=%llu; closing it",
                  (unsigned long long)c->cl.id);
        kill_later(c, false);
    }
    STAT_ADD(&g.srv->st, total_net_output_bytes, o->len);
    resp_out_reset(o);
    check_output_limits(c, 0);
}

/* Stop taking requests and close once every reply owed has been sent (see
 * CONN_CLOSE_STALL_MS): linger at once if nothing is left to send,
 * otherwise when the output drains (on_write). */
static void close_when_flushed(conn *c)
{
    if (c->state == CONN_DOOMED || c->state == CONN_LINGERING)
        return;       /* the reaper or the close tick ends it */
    flush_replies(c); /* what a deferred flush would have sent */
    if (c->state == CONN_DOOMED)
        return; /* the flush passed an output limit */
    c->cl.obuf = pending_output(c);
    closing_begin(c);
    if (pending_output(c) == 0)
        linger(c);
}

/* Every reply has left the output buffer (or it was dropped): send FIN
 * after them and wait, reading and dropping input, for the peer to close
 * or to acknowledge the last byte. */
static void linger(conn *c)
{
    closing_begin(c);
    if (c->peer_eof) {
        conn_free(c); /* nothing unread can follow: close() sends no reset */
        return;
    }
    c->state = CONN_LINGERING;
    g.lingering++;
    shutdown(c->cl.fd, SHUT_WR);
    /* For the commands layer the client is gone now (CLIENT LIST,
     * connected_clients): what is left is the socket's close. Nothing is
     * parsed any more, so its input buffers go too. */
    log_write(LOG_VERBOSE, "Client id=%llu addr=%s closed", (unsigned long long)c->cl.id,
              c->cl.addr);
    cmd_client_deinit(g.srv, &c->cl);
    free(c->qbuf);
    free(c->argv);
    c->qbuf = NULL;
    c->argv = NULL;
    c->qlen = c->qcap = c->argv_cap = 0;
}

/* Read and drop what the socket holds now (up to 1 MiB: a peer that
 * sends faster than this reads cannot keep the loop here). */
static void drop_input(conn *c)
{
    char sink[16384];
    for (int i = 0; i < 64 && recv(c->cl.fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
}

/* While any connection is closing (every CONN_CLOSE_TICK_MS at first, then
 * less often): free those the peer has acknowledged everything from, and
 * drop those whose output has not moved for CONN_CLOSE_STALL_MS (or
 * CONN_KILL_STALL_MS). */
static void on_close_tick(evutil_socket_t fd, short what, void *arg)
{
    int64_t now = mono_us();
    conn **pp = &g.closing;
    while (*pp != NULL) {
        conn *c = *pp;
        size_t left = close_left(c);
        int stall_ms = g.stopping || c->killed ? CONN_KILL_STALL_MS : CONN_CLOSE_STALL_MS;
        bool stalled = false;
        if (left < c->close_left) {
            c->close_left = left;
            c->close_moved_us = now;
        } else if (now - c->close_moved_us >= (int64_t)stall_ms * 1000) {
            stalled = true;
        }
        if (c->state != CONN_DOOMED && ((c->state == CONN_LINGERING && left == 0) || stalled)) {
            drop_input(c); /* what arrived since the last read: no reset for it */
            if (stalled)
                log_write(LOG_VERBOSE,
                          "Client id=%llu addr=%s read nothing for %d ms while closing; "
                          "%zu bytes of replies dropped",
                          (unsigned long long)c->cl.id, c->cl.addr, stall_ms, left);
            conn_free(c); /* unlinks c: *pp is now the next one */
            continue;
        }
        pp = &c->next_closing;
    }
    if (g.closing != NULL && !evtimer_pending(g.close_tick, NULL)) {
        int ms = g.close_tick_ms * 2;
        close_tick_arm(ms < CONN_CLOSE_TICK_MAX_MS ? ms : CONN_CLOSE_TICK_MAX_MS);
    }
}

/*
 * Replies wait for the end of the event loop's round: flush_later queues
 * the connection and activates g.flusher, which libevent runs after the
 * callbacks already active, i.e. after every client that was readable in
 * this round has been served. As Redis does (replies written before the
 * loop sleeps): sent as soon as each client's batch was run, the replies
 * woke the client (sharing the 2 cores) once per connection and it sent its
 * next requests while the server still had others to read, which cost
 * -P 1 about 3 % of its throughput here. A connection that is about to
 * close is flushed at once (close_when_flushed).
 */
static void flush_later(conn *c)
{
    /* A reply that could not be built may have left nothing in out: the
     * flush is what closes the connection then. */
    if (c->flush_queued || c->state == CONN_DOOMED || (c->cl.out.len == 0 && !c->cl.out.oom))
        return;
    c->flush_queued = true;
    c->next_flush = g.flush;
    g.flush = c;
    event_active(g.flusher, EV_TIMEOUT, 0);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    while (g.flush != NULL) {
        conn *c = g.flush;
        g.flush = c->next_flush;
        c->flush_queued = false;
        flush_replies(c);
        c->cl.obuf = pending_output(c);
    }
}

static bool grow_argv(conn *c, size_t need)
{
    size_t cap = c->argv_cap;
    while (cap < need)
        cap *= 2;
    resp_view *nv = realloc(c->argv, cap * sizeof *nv);
    if (nv == NULL)
        return false;
    c->argv = nv;
    c->argv_cap = cap;
    return true;
}

static bool runnable(const conn *c)
{
    return c->state == CONN_OPEN && !c->cl.close_after_reply && !c->cl.blocked && !c->cl.held;
}

/* A pause holds c's next request: nothing more of its input runs until
 * resume_held. Its input is still read (and bounded by the query buffer
 * limit), and it costs nothing meanwhile: no timer, no polling. */
static void hold(conn *c)
{
    c->cl.held = true;
    c->next_held = NULL;
    if (g.held_tail != NULL)
        g.held_tail->next_held = c;
    else
        g.held = c;
    g.held_tail = c;
}

static void unhold(conn *c)
{
    if (!c->cl.held)
        return;
    c->cl.held = false;
    conn *prev = NULL;
    for (conn *x = g.held; x != NULL; prev = x, x = x->next_held) {
        if (x != c)
            continue;
        if (prev != NULL)
            prev->next_held = c->next_held;
        else
            g.held = c->next_held;
        if (g.held_tail == c)
            g.held_tail = prev;
        break;
    }
    c->next_held = NULL;
}

/* The pause ended or loosened: run the held clients' input, in the order
 * they were held. One held again goes back to the end of the list, so only
 * as many as were held are taken. */
static void resume_held(void)
{
    size_t n = 0;
    for (conn *x = g.held; x != NULL; x = x->next_held)
        n++;
    while (n-- > 0 && g.held != NULL) {
        conn *c = g.held;
        unhold(c);
        if (c->state == CONN_OPEN && !c->cl.close_after_reply)
            process_input(c); /* may hold it again, or free it */
    }
}

/* One request of a batch: its views are c->argv[argv_off .. argv_off+argc)
 * (offsets, not pointers: argv may move when it grows mid-batch), and it
 * ends at qbuf offset `end`. */
typedef struct {
    size_t argv_off, argc;
    size_t end;
} batch_req;

/* Parse and run every complete request in the query buffer, unless output
 * backpressure says stop. Frees the connection if it ends up closing.
 *
 * Requests are taken in batches: first up to CONN_BATCH_MAX complete
 * requests are parsed (all of one read, typically), then cmd_prepare looks
 * up their commands and starts loading the table memory of all their keys
 * at once, then they run one by one, in order. In a table far bigger than the CPU caches each
 * lookup waits twice for memory (bucket, then record); a batch waits about
 * twice in all. Parsing ahead changes nothing a client can see, because:
 *   - a request's parse depends only on its bytes and the client's limits,
 *     and the limits can change only until the client has authenticated,
 *     so an unauthenticated client is served one request per batch;
 *   - inline requests are unescaped into the shared `scratch`, so one ends
 *     its batch (the next parse would overwrite its views);
 *   - every check the one-at-a-time loop made before a request (closing,
 *     QUIT, blocked, output backpressure) is made before running it, and
 *     input is consumed only up to the last request run: what was parsed
 *     but not run stays in qbuf and is parsed again later;
 *   - a request the reader could not finish (INCOMPLETE, an error, too
 *     many arguments for the room left in argv) ends the batch and is
 *     parsed again as the first of the next one, which then handles it
 *     exactly as before (and keeps the resume state for a big request). */
/* A batch: up to CONN_BATCH_MAX complete requests parsed from qbuf. */
typedef struct {
    batch_req reqs[CONN_BATCH_MAX];
    size_t n;
    resp_status st;   /* how the parse that ended the batch went */
    resp_request req; /* ... and its details (need, error) */
} batch;

/* Go on with the request a previous read left unfinished at the front of
 * qbuf: its views move by as much as qbuf did. */
static void resume_views(conn *c, resp_request *req)
{
    uintptr_t now = (uintptr_t)c->qbuf;
    if (now != c->resume_base) {
        size_t k = c->resume_argc < c->argv_cap ? c->resume_argc : c->argv_cap;
        for (size_t i = 0; i < k; i++)
            c->argv[i].ptr = (const char *)((uintptr_t)c->argv[i].ptr - c->resume_base + now);
    }
    req->resume_off = c->resume_off;
    req->resume_argc = c->resume_argc;
}

/* Parse the complete requests from qbuf offset pos into b (b->n of them,
 * possibly 0), with the client's limits as of now. */
static void parse_batch(conn *c, size_t pos, batch *b)
{
    cmd_server *srv = g.srv;
    bool ahead = c->cl.authed; /* may parse ahead (see process_input) */
    size_t max_args = cmd_client_max_args(srv, &c->cl);
    size_t max_bulk = cmd_client_max_bulk(srv, &c->cl);
    size_t used = 0, at = pos;
    b->n = 0;
    for (;;) {
        b->req = (resp_request){.argv = c->argv + used,
                                .argv_cap = c->argv_cap - used,
                                .scratch = scratch,
                                .max_args = max_args,
                                .max_bulk = max_bulk,
                                .resumable = true};
        if (at == 0 && c->resume_argc > 0)
            resume_views(c, &b->req);
        b->st = resp_read(c->qbuf + at, c->qlen - at, &b->req);
        c->resume_off = b->req.resume_off;
        c->resume_argc = b->req.resume_argc;
        c->resume_base = (uintptr_t)(c->qbuf + at);
        if (b->st == RESP_ARGV_SMALL) {
            /* Grow argv for this request, up to CONN_BATCH_ARGV views for a
             * batch; past that the batch runs first. */
            if (b->n > 0 && used + b->req.argc > CONN_BATCH_ARGV)
                break;
            if (grow_argv(c, used + b->req.argc))
                continue;
            if (b->n > 0)
                break; /* run the batch; alone, the request needs less */
            log_write(LOG_WARNING, "Out of memory for %zu arguments from client id=%llu",
                      b->req.argc, (unsigned long long)c->cl.id);
            c->state = CONN_CLOSING;
            break;
        }
        if (b->st != RESP_OK)
            break;
        bool inline_req = c->qbuf[at] != '*';
        b->reqs[b->n++] =
            (batch_req){.argv_off = used, .argc = b->req.argc, .end = at + b->req.consumed};
        used += b->req.argc;
        at += b->req.consumed;
        if (b->n == CONN_BATCH_MAX || at == c->qlen || inline_req || !ahead)
            break;
    }
    if (b->n > 0 && b->st == RESP_INCOMPLETE)
        c->resume_argc = 0; /* its views are not at argv[0]: parse it anew */
}

/* Nothing could be parsed at pos: wait for more input, or reply the
 * protocol error. Returns how far input is consumed. */
static size_t parse_failed(conn *c, size_t pos, const batch *b)
{
    if (b->st == RESP_INCOMPLETE) {
        c->qneed = pos + b->req.need;
        return pos;
    }
    if (b->st == RESP_ARGV_SMALL)
        return pos; /* out of memory: the connection is closing */
    cmd_protocol_error(g.srv, &c->cl, b->st, &b->req);
    char why[128];
    log_write(LOG_VERBOSE, "Protocol error (%s) from client id=%llu addr=%s",
              resp_strerror(b->st, &b->req, why, sizeof why), (unsigned long long)c->cl.id,
              c->cl.addr);
    return c->qlen;
}

/* Output backpressure: stop reading c while it has this much to send. */
static bool over_output_high(conn *c, size_t pending)
{
    if (g.stopping || pending + c->cl.out.len <= CONN_OUTPUT_HIGH)
        return false;
    c->cl.paused = true;
    event_del(c->rev);
    return true;
}

/* Run the requests of b in order, while c may run them and backpressure
 * allows. *pos advances past each request run; *pending follows our own
 * flushes. Returns false when backpressure stopped the batch. */
static bool run_batch(conn *c, const batch *b, size_t *pos, size_t *pending)
{
    cmd_server *srv = g.srv;
    cmd_request creq[CONN_BATCH_MAX];
    size_t nc = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->reqs[i].argc > 0)
            creq[nc++] =
                (cmd_request){.argv = c->argv + b->reqs[i].argv_off, .argc = b->reqs[i].argc};
    cmd_prepare(srv, creq, nc);
    /* One clock read per request: each one's end is the next one's start. */
    int64_t clock_ns = cmd_now_ns();
    for (size_t i = 0, j = 0; i < b->n; i++) {
        if (!runnable(c))
            return true;
        if (i > 0 && over_output_high(c, *pending))
            return false;
        /* A pause holds this request and everything after it (unread: it
         * is parsed again when the client resumes). A stop ends pauses. */
        if (b->reqs[i].argc > 0 && cmd_pause_on(srv) && !g.stopping &&
            cmd_pause_holds(srv, &c->cl, &creq[j])) {
            hold(c);
            return false;
        }
        if (b->reqs[i].argc > 0)
            cmd_run(srv, &c->cl, &creq[j++], &clock_ns);
        *pos = b->reqs[i].end;
        /* Out of memory for a reply: flush_replies closes the client
         * (nothing after it runs: its replies could not be sent). */
        if (c->cl.out.len >= CONN_FLUSH_AT || c->cl.out.oom) {
            flush_replies(c);
            *pending = pending_output(c);
        }
    }
    return true;
}

/* Drop the input run (before pos) from qbuf, and close c or queue its
 * replies. */
static void input_done(conn *c, size_t pos)
{
    if (pos > 0) {
        memmove(c->qbuf, c->qbuf + pos, c->qlen - pos);
        c->qlen -= pos;
        c->qneed = c->qneed > pos ? c->qneed - pos : 0;
    }
    if (c->qlen == 0)
        c->qneed = 0;
    c->cl.qbuf = c->qlen;
    /* While stopping, or once the peer has closed its side, a connection
     * closes once what it sent is answered. */
    if (c->state != CONN_OPEN || c->cl.close_after_reply ||
        ((g.stopping || c->peer_eof) && !c->cl.blocked)) {
        close_when_flushed(c);
        return;
    }
    flush_later(c);
    /* Replies waiting for the flush count as pending output too. */
    c->cl.obuf = pending_output(c) + c->cl.out.len;
}

static void process_input(conn *c)
{
    size_t pos = 0;                     /* input before pos has been run */
    size_t pending = pending_output(c); /* only our own flushes change it */
    c->qneed = 0;
    while (pos < c->qlen && runnable(c) && !over_output_high(c, pending)) {
        batch b;
        parse_batch(c, pos, &b);
        if (b.n == 0) {
            pos = parse_failed(c, pos, &b);
            break;
        }
        if (!run_batch(c, &b, &pos, &pending))
            break;
    }
    input_done(c, pos);
}

/* The peer closed its side (or the socket failed): deliver what it asked
 * for if it may still read, else close now. */
static void input_ended(conn *c, bool error)
{
    event_del(c->rev);
    c->peer_eof = true;
    if (c->state == CONN_DOOMED)
        return; /* the reaper lingers, and closes it at once */
    /* Held by a pause: gone with what it sent, as Redis frees it. */
    if (error || c->state == CONN_LINGERING || c->cl.held)
        conn_free(c);
    else if (!c->cl.blocked)
        close_when_flushed(c);
    /* else: its reply comes (on_client_ready), then process_input closes it */
}

/*
 * Input is read here, straight into qbuf, not through the bufferevent: its
 * read path asks the kernel how much is readable (an ioctl per read),
 * copies into a chain of its own (allocated per read) and then, for the
 * reader to see contiguous bytes, into qbuf again. Reading with recv into
 * qbuf's free space makes one syscall per read and no copy; the parser's
 * views point at the bytes as the kernel left them. The bufferevent keeps
 * the output side (and owns the socket).
 */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->state != CONN_OPEN || c->cl.close_after_reply) {
        /* Nothing more is parsed; drop what arrives, so that closing the
         * socket finds no unread input (which would reset the connection). */
        char sink[16384];
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            input_ended(c, n < 0);
        return;
    }
    size_t limit = (size_t)g.srv->cfg.query_buffer_limit.num;
    if (c->qlen == c->qcap) {
        if (!cmd_buffer_may_grow(g.srv, c->qcap)) {
            log_write(LOG_WARNING,
                      "Closing client id=%llu addr=%s: its input buffer would take memory past "
                      "the cgroup's limit",
                      (unsigned long long)c->cl.id, c->cl.addr);
            conn_free(c);
            return;
        }
        char *nb = realloc(c->qbuf, c->qcap * 2);
        if (nb == NULL) {
            log_write(LOG_WARNING, "Out of memory for input of client id=%llu; closing it",
                      (unsigned long long)c->cl.id);
            conn_free(c);
            return;
        }
        c->qbuf = nb;
        c->qcap *= 2;
    }
    /* One byte past the limit is enough to know it would be passed (the
     * limit may also have been lowered below qlen meanwhile). */
    size_t room = c->qcap - c->qlen;
    if (c->qlen <= limit && room > limit + 1 - c->qlen)
        room = limit + 1 - c->qlen;
    ssize_t n = recv(fd, c->qbuf + c->qlen, room, MSG_DONTWAIT);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        input_ended(c, n < 0);
        return;
    }
    c->qlen += (size_t)n;
    STAT_ADD(&g.srv->st, total_net_input_bytes, (size_t)n);
    if (c->qlen > limit) {
        log_write(LOG_WARNING,
                  "Closing client id=%llu addr=%s: query buffer would exceed "
                  "client-query-buffer-limit (%zu bytes)",
                  (unsigned long long)c->cl.id, c->cl.addr, limit);
        STAT_INC(&g.srv->st, client_query_limit_closes);
        conn_free(c);
        return;
    }
    if (c->qlen < c->qneed || c->cl.held)
        return; /* incomplete yet, or waiting for a pause to end */
    process_input(c);
}

/* Called by libevent when the output buffer has drained (low watermark 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->state == CONN_DOOMED || c->state == CONN_LINGERING)
        return; /* the reaper or the close tick ends it */
    c->cl.obuf = 0;
    if (c->state != CONN_OPEN || c->cl.close_after_reply) {
        linger(c);
        return;
    }
    if (c->cl.paused) {
        c->cl.paused = false;
        event_add(c->rev, NULL);
        process_input(c);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (c->state == CONN_DOOMED)
        return; /* the reaper frees it */
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && pending_output(c) > 0 &&
        c->state != CONN_LINGERING) {
        /* The peer stopped sending but may still read: deliver what it asked for. */
        close_when_flushed(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free(c);
}

static void conn_free(conn *c)
{
    if (c->prev_all != NULL)
        c->prev_all->next_all = c->next_all;
    else
        g.all = c->next_all;
    if (c->next_all != NULL)
        c->next_all->prev_all = c->prev_all;
    if (c->flush_queued) {
        conn **pp = &g.flush;
        while (*pp != c)
            pp = &(*pp)->next_flush;
        *pp = c->next_flush;
    }
    unhold(c);
    if (c->close_listed) {
        conn **pp = &g.closing;
        while (*pp != c)
            pp = &(*pp)->next_closing;
        *pp = c->next_closing;
    }
    if (c->state == CONN_LINGERING) {
        g.lingering--;
    } else {
        log_write(LOG_VERBOSE, "Client id=%llu addr=%s closed", (unsigned long long)c->cl.id,
                  c->cl.addr);
        cmd_client_deinit(g.srv, &c->cl);
    }
    event_free(c->rev);
    bufferevent_free(c->bev);
    free(c->qbuf);
    free(c->argv);
    free(c);
    check_drained();
}

static void format_addr(const struct sockaddr *sa, char *dst, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(dst, cap, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(dst, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(dst, cap, "?:0");
    }
}

static void reject(evutil_socket_t fd, const char *msg)
{
    /* Best effort: the socket is fresh, so a short write fits its buffer. */
    ssize_t w = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    cmd_server *srv = g.srv;
    if (g.stopping) {
        evutil_closesocket(fd);
        return;
    }
    STAT_INC(&srv->st, total_connections_received);
    /* Lingering sockets count: a client that quits and comes back while its
     * old socket still drains must not hold more than maxclients open. */
    if (srv->clients.count + g.lingering >= (uint64_t)srv->cfg.maxclients.num) {
        STAT_INC(&srv->st, rejected_connections);
        reject(fd, "-ERR max number of clients reached\r\n");
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->qbuf = malloc(CONN_QBUF_INIT);
        c->argv = malloc(CONN_ARGV_INIT * sizeof *c->argv);
        c->bev = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
        c->rev = event_new(g.base, fd, EV_READ | EV_PERSIST, on_readable, c);
    }
    if (c == NULL || c->qbuf == NULL || c->argv == NULL || c->bev == NULL || c->rev == NULL) {
        log_write(LOG_WARNING, "Out of memory accepting a connection");
        if (c != NULL) {
            free(c->qbuf);
            free(c->argv);
            if (c->rev != NULL)
                event_free(c->rev);
            if (c->bev != NULL)
                bufferevent_free(c->bev);
            else
                evutil_closesocket(fd);
            free(c);
        } else {
            evutil_closesocket(fd);
        }
        return;
    }
    c->qcap = CONN_QBUF_INIT;
    c->argv_cap = CONN_ARGV_INIT;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int ka = (int)srv->cfg.tcp_keepalive.num;
    if (ka > 0) {
        /* As Redis: probe after ka seconds idle, then every ka/3, 3 times. */
        int intvl = ka / 3 > 0 ? ka / 3 : 1, cnt = 3;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &ka, sizeof ka);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    }
    cmd_client_init(srv, &c->cl);
    c->cl.fd = (int)fd;
    format_addr(sa, c->cl.addr, sizeof c->cl.addr);
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
        format_addr((struct sockaddr *)&local, c->cl.laddr, sizeof c->cl.laddr);
    c->next_all = g.all;
    if (g.all != NULL)
        g.all->prev_all = c;
    g.all = c;
    bufferevent_setcb(c->bev, NULL, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_WRITE);
    event_add(c->rev, NULL);
    log_write(LOG_VERBOSE, "Accepted %s (client id=%llu)", c->cl.addr,
              (unsigned long long)c->cl.id);
}

/* The commands layer finished a blocked client's reply (SHRINK): flush it
 * and go on with the input that was waiting. */
static void on_client_ready(cmd_client *cl)
{
    conn *c = (conn *)cl; /* cl is the first member */
    process_input(c);
}

/* A MONITOR feed or pub/sub messages for a client other than the one
 * being served. Sent with that client's replies at the end of the round
 * (one send for all the messages a batch of PUBLISHes gave it), or at once
 * once CONN_FLUSH_AT bytes wait; either way its output limit is checked
 * now, with what waits counted, so a subscriber that does not read is
 * closed at its limit, not after a batch of big messages. */
static void on_client_flush(cmd_client *cl)
{
    /* Called while the commands layer walks the client list: nothing here
     * may free a connection (flush_replies and check_output_limits only
     * doom one for the reaper). */
    conn *c = (conn *)cl;
    if (c->state != CONN_OPEN || cl->out.len >= CONN_FLUSH_AT || cl->out.oom) {
        flush_replies(c);
    } else {
        flush_later(c);
        check_output_limits(c, 0);
    }
    if (c->state != CONN_LINGERING)
        cl->obuf = pending_output(c) + cl->out.len;
}

/*
 * A script past busy-reply-threshold (commands.h, serve_while_busy). The
 * event loop is inside the script and cannot be entered again, so this
 * polls the sockets itself, once, without waiting: new connections are
 * accepted, readable clients are read and answered (-BUSY, but for the few
 * commands allowed then, SCRIPT KILL among them), and the replies written
 * at once. Timers (the cron, the close tick) wait for the loop. The
 * script's caller is left alone: its input must not move under the batch
 * that is running the script.
 */
#define CONN_BUSY_ACCEPTS 16u   /* accepted per listener per call */
#define CONN_BUSY_POLL_MAX 512u /* clients looked at per call (the rest: next call) */
static void on_serve_while_busy(cmd_client *running)
{
    for (size_t i = 0; i < g.nls && !g.stopping; i++) {
        evutil_socket_t lfd = evconnlistener_get_fd(g.ls[i]);
        for (unsigned k = 0; k < CONN_BUSY_ACCEPTS; k++) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
                break;
            on_accept(g.ls[i], fd, (struct sockaddr *)&ss, (int)sl, NULL);
        }
    }
    static unsigned start; /* where the last call stopped, for fairness */
    struct pollfd fds[CONN_BUSY_POLL_MAX];
    conn *cs[CONN_BUSY_POLL_MAX];
    size_t n = 0, seen = 0;
    for (conn *c = g.all; c != NULL && n < CONN_BUSY_POLL_MAX; c = c->next_all) {
        if (seen++ < start || &c->cl == running || c->state != CONN_OPEN || c->cl.paused ||
            c->cl.close_after_reply)
            continue;
        fds[n] = (struct pollfd){.fd = c->cl.fd, .events = POLLIN};
        cs[n++] = c;
    }
    start = n == CONN_BUSY_POLL_MAX ? start + (unsigned)seen : 0;
    if (n > 0 && poll(fds, n, 0) > 0) {
        /* on_readable may free the connection it reads (and only that
         * one): each is read once, and not looked at afterwards. */
        for (size_t i = 0; i < n; i++)
            if (fds[i].revents != 0)
                on_readable(fds[i].fd, EV_READ, cs[i]);
    }
    /* The replies, now: the flusher is a loop event too. */
    for (conn **pp = &g.flush; *pp != NULL;) {
        conn *c = *pp;
        if (&c->cl == running) {
            pp = &c->next_flush;
            continue;
        }
        *pp = c->next_flush;
        c->flush_queued = false;
        flush_replies(c);
        c->cl.obuf = pending_output(c);
    }
}

/* CLIENT KILL of another client. */
static void on_client_kill(cmd_client *cl)
{
    conn *c = (conn *)cl;
    log_write(LOG_VERBOSE, "Client id=%llu addr=%s killed by CLIENT KILL",
              (unsigned long long)c->cl.id, c->cl.addr);
    kill_later(c, false);
}

/* The pause's timer: ends a pause whose time has passed, runs the held
 * input once the pause ended or loosened, and waits for the next deadline. */
static void on_pause_tick(evutil_socket_t fd, short what, void *arg)
{
    if (cmd_pause_refresh(g.srv))
        resume_held();
    int64_t end = cmd_pause_deadline_ms(g.srv);
    if (end == 0)
        return;
    /* The pause is over once its end is passed: 1 ms after it. */
    int64_t ms = end + 1 - cmd_now_us() / 1000;
    if (ms < 0)
        ms = 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(g.pause_tick, &tv);
}

/* CLIENT PAUSE or UNPAUSE ran: look at the pause once the current
 * callback is over (the command's client is being served). */
static void on_pause_changed(void)
{
    struct timeval now = {0, 0};
    evtimer_add(g.pause_tick, &now);
}

void conn_cron(void)
{
    int64_t now = cmd_now_us();
    int64_t timeout_us = g.srv->cfg.timeout.num * 1000000;
    conn *next;
    for (conn *c = g.all; c != NULL; c = next) {
        next = c->next_all;
        if (c->state != CONN_OPEN || c->cl.close_after_reply)
            continue;
        /* Subscribers wait for messages: no timeout, as in Redis. */
        if (timeout_us > 0 && !c->cl.blocked && !c->cl.held && !cmd_client_subscribed(&c->cl) &&
            now - c->cl.last_us > timeout_us && pending_output(c) == 0) {
            log_write(LOG_VERBOSE, "Closing idle client id=%llu addr=%s",
                      (unsigned long long)c->cl.id, c->cl.addr);
            STAT_INC(&g.srv->st, client_idle_closes);
            conn_free(c);
            continue;
        }
        check_output_limits(c, now);
        if (c->state != CONN_OPEN) {
            close_when_flushed(c);
            continue;
        }
        if (now - c->cl.last_us < CONN_IDLE_SHRINK_US || c->cl.blocked || c->cl.held)
            continue;
        if (c->qlen == 0 && c->qcap > CONN_QBUF_KEEP) {
            char *nb = malloc(CONN_QBUF_INIT);
            if (nb != NULL) {
                free(c->qbuf);
                c->qbuf = nb;
                c->qcap = CONN_QBUF_INIT;
            }
        }
        if (c->cl.out.len == 0 && c->cl.out.cap > CONN_OUT_KEEP) {
            int proto = c->cl.out.proto;
            resp_out_deinit(&c->cl.out);
            resp_out_init(&c->cl.out);
            c->cl.out.proto = proto;
        }
        if (c->argv_cap > CONN_ARGV_KEEP && c->qlen == 0 && c->resume_argc == 0) {
            resp_view *nv = malloc(CONN_ARGV_INIT * sizeof *nv);
            if (nv != NULL) {
                free(c->argv);
                c->argv = nv;
                c->argv_cap = CONN_ARGV_INIT;
            }
        }
    }
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
    for (size_t i = 0; i < g.nls; i++)
        evconnlistener_enable(g.ls[i]);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        log_write(LOG_WARNING, "accept: %s; pausing accepts for %d ms", strerror(err),
                  CONN_EMFILE_PAUSE_MS);
        for (size_t i = 0; i < g.nls; i++)
            evconnlistener_disable(g.ls[i]);
        struct timeval tv = {0, CONN_EMFILE_PAUSE_MS * 1000};
        event_add(g.resume_accept, &tv);
        return;
    }
    log_write(LOG_WARNING, "accept: %s", strerror(err));
}

static bool listen_on(const char *host, int port, char *err, size_t errlen)
{
    if (g.nls == CONN_MAX_LISTENERS) {
        snprintf(err, errlen, "too many bind addresses (at most %d)", CONN_MAX_LISTENERS);
        return false;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "can't resolve bind address '%s': %s", host, gai_strerror(rc));
        return false;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        g.base, on_accept, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        511, res->ai_addr, (int)res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (l == NULL) {
        snprintf(err, errlen, "can't listen on %s:%d: %s", host, port, strerror(e));
        return false;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    g.ls[g.nls++] = l;
    return true;
}

bool conn_setup(struct event_base *base, cmd_server *srv, char *err, size_t errlen)
{
    g.base = base;
    g.srv = srv;
    srv->daemon.client_ready = on_client_ready;
    srv->daemon.client_flush = on_client_flush;
    srv->daemon.client_kill = on_client_kill;
    srv->daemon.serve_while_busy = on_serve_while_busy;
    srv->daemon.pause_changed = on_pause_changed;
    g.resume_accept = evtimer_new(base, on_resume_accept, NULL);
    g.reaper = event_new(base, -1, 0, on_reap, NULL);
    g.flusher = event_new(base, -1, 0, on_flush, NULL);
    g.close_tick = evtimer_new(base, on_close_tick, NULL);
    g.pause_tick = evtimer_new(base, on_pause_tick, NULL);
    if (g.resume_accept == NULL || g.reaper == NULL || g.flusher == NULL || g.close_tick == NULL ||
        g.pause_tick == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    const char *bind = srv->cfg.bind.str;
    int port = (int)srv->cfg.port.num;
    char word[256];
    int n;
    for (const char *p = bind; (n = config_next_word(&p, word, sizeof word)) != 0;) {
        if (n < 0) {
            snprintf(err, errlen, "bind address too long");
            return false;
        }
        if (!listen_on(word, port, err, errlen))
            return false;
        log_write(LOG_NOTICE, "Listening on %s port %d", word, port);
    }
    if (g.nls == 0) {
        snprintf(err, errlen, "no bind address given");
        return false;
    }
    srv->proc.tcp_port = port;
    return true;
}

void conn_shutdown(void (*done)(void))
{
    g.stopping = true;
    g.on_drained = done;
    for (size_t i = 0; i < g.nls; i++)
        evconnlistener_free(g.ls[i]);
    g.nls = 0;
    /* A stop ends pauses: held clients run what they sent, like the others. */
    while (g.held != NULL)
        unhold(g.held);
    /* Run what was already read, flush, close: process_input closes each
     * connection once stopping is set (and may free it, so c is not touched
     * afterwards; kills of other connections are deferred to the reaper, so
     * next stays valid). MONITOR clients go last, so that they see the
     * commands the others run now. */
    for (int monitors = 0; monitors <= 1; monitors++) {
        conn *next;
        for (conn *c = g.all; c != NULL; c = next) {
            next = c->next_all;
            /* A blocked client (SHRINK) gets its reply when the job ends,
             * the loop running on meanwhile; process_input then runs the
             * rest of what it sent and closes it. */
            if (c->cl.monitor == (monitors == 1) && c->state == CONN_OPEN &&
                !c->cl.close_after_reply && !c->cl.blocked)
                process_input(c);
        }
    }
    check_drained();
}

void conn_teardown(void)
{
    g.doomed = NULL; /* all freed below */
    while (g.all != NULL)
        conn_free(g.all);
    if (g.reaper != NULL)
        event_free(g.reaper);
    g.reaper = NULL;
    if (g.flusher != NULL)
        event_free(g.flusher);
    g.flusher = NULL;
    if (g.close_tick != NULL)
        event_free(g.close_tick);
    g.close_tick = NULL;
    if (g.pause_tick != NULL)
        event_free(g.pause_tick);
    g.pause_tick = NULL;
    for (size_t i = 0; i < g.nls; i++)
        evconnlistener_free(g.ls[i]);
    g.nls = 0;
    if (g.resume_accept != NULL)
        event_free(g.resume_accept);
    g.resume_accept = NULL;
}
