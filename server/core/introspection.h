/*
 * introspection.h - the slow log and MONITOR feeds, which the dispatcher
 * fills (layer 2; introspection.c, which also holds SLOWLOG, MONITOR and
 * LATENCY).
 */
#ifndef EBB_INTROSPECTION_H
#define EBB_INTROSPECTION_H

#include "cmd.h"

/* Set up the slow log (cmd_server_init); cmd_slowlog_free frees it. */
bool cmd_slowlog_init(cmd_server *s);
/* Log a command if it was slow enough (redact: keep only its name). */
void cmd_slowlog_add(cmd_server *s, const cmd_client *c, const resp_view *argv, size_t argc,
                     int64_t duration_us, bool redact);
void cmd_slowlog_free(cmd_server *s);
/* Forget c as a monitor (it is going away). */
void cmd_monitor_forget(cmd_server *s, cmd_client *c);
/* Send one command line to every monitor but `from` (redact: hide the
 * arguments, for AUTH and HELLO). */
void cmd_monitor_feed(cmd_server *s, const cmd_client *from, const resp_view *argv, size_t argc,
                      bool redact);

#endif
