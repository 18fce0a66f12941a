/*
 * cmd_internal.h - what the files of the commands layer share among
 * themselves (commands.c, memory.c): reply and argument helpers, and the
 * handlers each file contributes to the command table. Not for other layers.
 */
#ifndef EBB_CMD_INTERNAL_H
#define EBB_CMD_INTERNAL_H

#include "commands.h"

extern const char ERR_SYNTAX[];
extern const char ERR_NOT_INT[];
extern const char ERR_OOM[];

/* Reply an error and count it in total_error_replies. */
void cmd_reply_error(cmd_server *s, cmd_client *c, const char *msg);
void cmd_reply_errorf(cmd_server *s, cmd_client *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Argument helpers. cmd_arg_* reply the error themselves on failure. */
bool cmd_arg_is(const resp_view *v, const char *word);     /* case-insensitive */
bool cmd_parse_ll(const char *p, size_t len, long long *out); /* Redis's string2ll */
bool cmd_arg_ll(cmd_server *s, cmd_client *c, const resp_view *v, long long *out);
bool cmd_parse_key(cmd_server *s, cmd_client *c, const resp_view *v, db_key *k);
/* The table holding k, or NULL if its namespace does not exist. */
table *cmd_read_table(cmd_server *s, const db_key *k);

/* Resident set size of this process, from /proc/self/statm. */
uint64_t cmd_rss_bytes(void);

/* memory.c */
void cmd_shrink(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_usage(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_stats(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_purge(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_doctor(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
void cmd_memory_help(cmd_server *s, cmd_client *c, const resp_view *argv, size_t argc);
/* Advance SHRINK jobs for at most budget_us; reply to callers whose job is
 * done. Returns true while jobs remain. */
bool cmd_shrink_jobs_run(cmd_server *s, int64_t budget_us);
/* Forget c in any SHRINK job waiting to reply to it (it is going away). */
void cmd_shrink_jobs_forget(cmd_server *s, cmd_client *c);
/* Free every job (server teardown). */
void cmd_shrink_jobs_free(cmd_server *s);

#endif
