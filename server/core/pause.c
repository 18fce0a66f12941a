/*
 * pause.c - CLIENT PAUSE and CLIENT UNPAUSE, and what the daemon asks of a
 * pause (layer 2). See pause.h and commands.h.
 */
#include "pause.h"

#include <string.h>

#include "cmdtab.h"
#include "multi.h"

/* Set the pause's kind and end, keeping keys_frozen in step. */
static void pause_set(cmd_server *s, cmd_pause_type type, int64_t end_ms)
{
    if (type < s->pause_type)
        s->pause_loosened = true;
    s->pause_type = type;
    s->pause_end_ms = type == CMD_PAUSE_OFF ? 0 : end_ms;
    s->keys_frozen = type != CMD_PAUSE_OFF;
}

static int64_t wall_ms(void)
{
    return cmd_now_us() / 1000;
}

bool cmd_pause_refresh(cmd_server *s)
{
    /* As Redis: the pause is over once its end time is passed (strictly). */
    if (s->pause_type != CMD_PAUSE_OFF && s->pause_end_ms < wall_ms())
        pause_set(s, CMD_PAUSE_OFF, 0);
    bool loosened = s->pause_loosened;
    s->pause_loosened = false;
    return loosened;
}

int64_t cmd_pause_deadline_ms(const cmd_server *s)
{
    return s->pause_type == CMD_PAUSE_OFF ? 0 : s->pause_end_ms;
}

static void notify_daemon(cmd_server *s)
{
    if (s->daemon.pause_changed != NULL)
        s->daemon.pause_changed();
}

/* CLIENT PAUSE timeout [WRITE|ALL]: timeout in ms, Redis's errors. */
void cmd_client_pause(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (req->argc > 4) {
        cmd_reply_error(s, c,
                        "ERR unknown subcommand or wrong number of arguments for 'pause'. Try "
                        "CLIENT HELP.");
        return;
    }
    cmd_pause_type type = CMD_PAUSE_ALL;
    if (req->argc == 4) {
        if (cmd_arg_is(&req->argv[3], "write")) {
            type = CMD_PAUSE_WRITE;
        } else if (!cmd_arg_is(&req->argv[3], "all")) {
            cmd_reply_error(s, c, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    long long ms;
    if (!cmd_parse_ll(req->argv[2].ptr, req->argv[2].len, &ms)) {
        cmd_reply_error(s, c, "ERR timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        cmd_reply_error(s, c, "ERR timeout is negative");
        return;
    }
    /* 0 ends at once (Redis's end time 0 is always passed). */
    int64_t now = wall_ms();
    int64_t end = ms == 0 ? 0 : (ms > INT64_MAX - now ? INT64_MAX : now + ms);
    /* A pause whose time has passed is over before the new one merges. */
    cmd_pause_refresh(s);
    s->pause_loosened = false;
    if (s->pause_type != CMD_PAUSE_OFF) {
        if (type < s->pause_type)
            type = s->pause_type;
        if (end < s->pause_end_ms)
            end = s->pause_end_ms;
    }
    if (end >= now)
        pause_set(s, type, end);
    resp_add_ok(&c->out);
    notify_daemon(s);
}

void cmd_client_unpause(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    if (s->pause_type != CMD_PAUSE_OFF)
        pause_set(s, CMD_PAUSE_OFF, 0);
    resp_add_ok(&c->out);
    notify_daemon(s);
}

static bool arity_ok(const cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

/* The checks cmd_run makes before it would run or queue r (name, auth,
 * arity, subcommand), without replying: the row that would run, or NULL
 * when r is refused first. Redis answers those at once even when paused. */
static const cmd_def *row_to_run(cmd_server *s, const cmd_client *c, const cmd_request *r)
{
    int row;
    const cmd_def *d = r->prepared ? r->cmd : cmdtab_find(r->argv[0].ptr, r->argv[0].len, &row);
    if (d == NULL)
        return NULL;
    bool authed = c->authed || s->cfg.requirepass.str == NULL || s->cfg.requirepass.str[0] == '\0';
    if ((!authed && !(d->flags & CMD_NO_AUTH)) || !arity_ok(d, r->argc))
        return NULL;
    if (d->subs != NULL && (d->fn == NULL || r->argc >= 2)) {
        const cmd_def *sub = cmdtab_find_sub(d, &r->argv[1]);
        if (sub == NULL || !arity_ok(sub, r->argc))
            return NULL;
        d = sub;
    }
    return d;
}

bool cmd_pause_holds(cmd_server *s, const cmd_client *c, const cmd_request *r)
{
    if (s->pause_type == CMD_PAUSE_OFF)
        return false;
    if (s->pause_end_ms < wall_ms()) {
        /* Over: the daemon's timer, due now, runs the held clients. */
        pause_set(s, CMD_PAUSE_OFF, 0);
        return false;
    }
    const cmd_def *d = row_to_run(s, c, r);
    if (d == NULL)
        return false;
    if (s->pause_type == CMD_PAUSE_ALL)
        return true;
    /* WRITE: what may write (or, as scripts, may propagate a write), and
     * an EXEC whose queue holds such a command. */
    if (d->flags & (CMD_WRITE | CMD_MAY_REPLICATE))
        return true;
    return cmd_in_multi(c) && strcmp(d->name, "exec") == 0 && cmd_multi_writes(c);
}
