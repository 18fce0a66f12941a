/*
 * core_testlib.h - what the command layer's unit tests share: a server
 * started as the daemon starts one (but with no memory limit from the
 * machine's cgroup), requests given as C strings, and a client's output
 * taken as a NUL-terminated string.
 */
#ifndef EBB_CORE_TESTLIB_H
#define EBB_CORE_TESTLIB_H

#include <criterion/criterion.h>

#include <stdarg.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"

/* cmd_server_init and cmd_server_start, with maxmemory 0: the tests must
 * not depend on the cgroup they run in. */
static inline void tl_server_start(cmd_server *s)
{
    cr_assert(cmd_server_init(s));
    s->cfg.maxmemory.num = 0;
    cr_assert(cmd_server_start(s));
}

/* Run the request made of first and the words in ap (ended by NULL) for
 * client c; its replies are appended to c->out. */
static inline void tl_execv(cmd_server *s, cmd_client *c, const char *first, va_list ap)
{
    resp_view argv[64];
    size_t argc = 0;
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        cr_assert(argc < sizeof argv / sizeof argv[0], "too many words");
        argv[argc++] = (resp_view){a, strlen(a)};
    }
    cmd_execute(s, c, argv, argc);
}

/* What c has been sent since its output was last emptied, as a string in
 * a buffer valid until the next call; c's output is emptied. */
static inline const char *tl_take(cmd_client *c)
{
    static char buf[1 << 20];
    cr_assert(c->out.len < sizeof buf, "reply of %zu bytes", c->out.len);
    memcpy(buf, c->out.buf, c->out.len);
    buf[c->out.len] = '\0';
    resp_out_reset(&c->out);
    return buf;
}

#endif
