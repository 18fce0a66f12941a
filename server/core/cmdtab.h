/*
 * cmdtab.h - the command table (layer 2): the rows of every command group,
 * registered once at start, found by name, and each row's counters
 * (INFO commandstats and latencystats, LATENCY HISTOGRAM).
 *
 * The groups do not know the table: the server registers them
 * (cmd_server_init), so the table calls no handler's file and handlers may
 * walk the table (COMMAND, LATENCY HISTOGRAM) without a cycle.
 *
 * Rows are numbered for the counters: top-level rows first, in registration
 * order, then each container's subcommands; s->cmdstats has cmdtab_rows()
 * entries.
 */
#ifndef EBB_CMDTAB_H
#define EBB_CMDTAB_H

#include <stddef.h>

#include "cmd.h"

/* Top-level commands the table can hold (the name index has twice as many
 * slots, so lookups probe short runs). */
#define CMDTAB_MAX 120

/* Register groups[0..n): each an array of top-level rows ended by a row
 * with a NULL name. Names are lowercase letters, at most 16, and unique.
 * The first call builds the table; later calls (one per cmd_server_init)
 * must pass the same groups and change nothing. */
void cmdtab_init(const cmd_def *const *groups, size_t n);

/* Top-level commands, and all rows with subcommands. */
size_t cmdtab_count(void);
size_t cmdtab_rows(void);
/* Top-level row i < cmdtab_count(). */
const cmd_def *cmdtab_at(size_t i);

/* The top-level row named name[0..len) (case-insensitive), or NULL; *row
 * is its number (-1 for none). */
const cmd_def *cmdtab_find(const char *name, size_t len, int *row);
/* The same, without the number. */
const cmd_def *cmdtab_lookup(const char *name, size_t len);

/* A container's subcommand row named by v (case-insensitive), or NULL. */
const cmd_def *cmdtab_find_sub(const cmd_def *container, const resp_view *v);
/* Subcommand rows of a container (subs != NULL). */
size_t cmdtab_count_subs(const cmd_def *subs);

/* The counters' index of top-level row i, or of sub, one of its
 * subcommands. */
size_t cmdtab_stat_index(size_t i, const cmd_def *sub);

/* Visit every row (each top-level row, then its subcommands) with its full
 * name ("get", "config|get") and its counters. */
typedef void cmdtab_visit(const cmd_def *d, const char *fullname, cmd_stat *st, void *arg);
void cmdtab_each(cmd_server *s, cmdtab_visit *fn, void *arg);

/* Per-command lines of INFO commandstats and latencystats. */
void cmd_render_commandstats(cmd_server *s, strbuf *b);
void cmd_render_latencystats(cmd_server *s, strbuf *b);
/* Visit every command with any call, rejection or failure counted, by its
 * full name, in table order. */
void cmd_each_used_stat(cmd_server *s, void (*fn)(const char *name, const cmd_stat *st, void *arg),
                        void *arg);

#endif
