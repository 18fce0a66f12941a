/*
 * log.h - server log lines in Redis's one-line format (layer 2, libc only).
 *
 *   12345:M 23 Nov 2026 21:50:32.123 * Ready to accept connections
 *
 * pid, role (always M), day month year time with milliseconds, a level mark
 * ('.' debug, '-' verbose, '*' notice, '#' warning) and the message.
 * One process-wide sink: stderr by default, or a file opened in append mode.
 */
#ifndef EBB_LOG_H
#define EBB_LOG_H

#include "config.h"

#include <stdbool.h>

/* The levels, least important first: generated from the loglevel option's
 * values (config.h), so its index is the level. */
typedef enum {
#define LOG_LEVEL(id, word) id,
    CONFIG_LOGLEVELS(LOG_LEVEL)
#undef LOG_LEVEL
} log_level;

/* Set the minimum level and the sink. path NULL or "" means stderr. Returns
 * false (and keeps the previous sink) if the file cannot be opened. */
bool log_setup(log_level min, const char *path);
/* Change only the minimum level. */
void log_set_level(log_level min);
/* Close a file sink (back to stderr). */
void log_teardown(void);
/* Write one line if level >= the minimum. */
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
