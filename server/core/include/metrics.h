/*
 * metrics.h - the server's figures in Prometheus's text exposition format
 * (version 0.0.4), for the optional HTTP port's /metrics (layer 2: libc
 * only; main.c serves the text).
 *
 * Names follow Prometheus's conventions: an `ebb_` prefix, the unit in the
 * name (`_bytes`, `_seconds`), counters end in `_total`. Every family has a
 * `# HELP` and a `# TYPE` line. The same figures as INFO, read at the same
 * moment: memory, the table, keys per namespace, commands and errors, the
 * command latency histogram, evictions, expirations, clients.
 */
#ifndef EBB_METRICS_H
#define EBB_METRICS_H

#include <stddef.h>

#include "commands.h"

/* The Content-Type /metrics is served with. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Render every metric into a malloc'd NUL-terminated text (the caller frees
 * it; *len set). NULL when out of memory. Reads s; refreshes its memory
 * peak as INFO does. */
char *metrics_render(cmd_server *s, size_t *len);

#endif
