/*
 * memory.h - SHRINK jobs, which the server advances between rounds of I/O
 * (layer 2; memory.c, which also holds SHRINK and MEMORY).
 */
#ifndef EBB_MEMORY_H
#define EBB_MEMORY_H

#include "cmd.h"

/* Set up the module's state (cmd_server_init); cmd_shrink_jobs_free frees
 * it. */
bool cmd_shrink_init(cmd_server *s);
/* Its figures: a job is in progress; SHRINKs completed, and the duration
 * and table bytes freed of the last one. */
bool cmd_shrink_pending(const cmd_server *s);
uint64_t cmd_shrink_commands(const cmd_server *s);
uint64_t cmd_shrink_last_us(const cmd_server *s);
int64_t cmd_shrink_last_freed(const cmd_server *s);

/* Advance SHRINK jobs for at most budget_us; reply to callers whose job is
 * done. Returns true while jobs remain. */
bool cmd_shrink_jobs_run(cmd_server *s, int64_t budget_us);
/* Forget c in any SHRINK job waiting to reply to it (it is going away). */
void cmd_shrink_jobs_forget(cmd_server *s, cmd_client *c);
/* Free every job and the module's state (server teardown). */
void cmd_shrink_jobs_free(cmd_server *s);

#endif
