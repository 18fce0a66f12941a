/*
 * expire.h - active expiry (layer 2; expire.c, which also holds the EXPIRE
 * family of commands).
 */
#ifndef EBB_EXPIRE_H
#define EBB_EXPIRE_H

#include "cmd.h"

/* Active expiry: one slice of at most budget_us over every namespace.
 * Returns true if it was cut short by the budget with many keys expiring
 * (another slice soon is worth it). */
bool cmd_expire_cycle(cmd_server *s, int64_t budget_us);
/* Once per cron tick: run the slice this tick deserves, of at most budget_us
 * (and EXPIRE_SLICE_US); returns how many extra slices to run between
 * rounds of I/O before the next tick. */
unsigned cmd_expire_tick(cmd_server *s, int64_t budget_us);

#endif
