/*
 * memory.h - SHRINK jobs, which the server advances between rounds of I/O
 * (layer 2; memory.c, which also holds SHRINK and MEMORY).
 */
#ifndef EBB_MEMORY_H
#define EBB_MEMORY_H

#include "cmd.h"

/* Advance SHRINK jobs for at most budget_us; reply to callers whose job is
 * done. Returns true while jobs remain. */
bool cmd_shrink_jobs_run(cmd_server *s, int64_t budget_us);
/* Forget c in any SHRINK job waiting to reply to it (it is going away). */
void cmd_shrink_jobs_forget(cmd_server *s, cmd_client *c);
/* Free every job (server teardown). */
void cmd_shrink_jobs_free(cmd_server *s);

#endif
