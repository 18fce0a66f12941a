/*
 * expire.h - active expiry (layer 2; expire.c, which also holds the EXPIRE
 * family of commands).
 */
#ifndef EBB_EXPIRE_H
#define EBB_EXPIRE_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_expire_init(cmd_server *s);
void cmd_expire_free(cmd_server *s);
/* Its figures for INFO and /metrics: the share of expired keys the last
 * slice found (%), and the slices cut short by their budget (reset by
 * CONFIG RESETSTAT). */
double cmd_expire_stale_perc(const cmd_server *s);
uint64_t cmd_expire_cycles_cut(const cmd_server *s);
void cmd_expire_reset_stats(cmd_server *s);

/* Active expiry: one slice of at most budget_us over every namespace.
 * Returns true if it was cut short by the budget with many keys expiring
 * (another slice soon is worth it). */
bool cmd_expire_cycle(cmd_server *s, int64_t budget_us);
/* Once per cron tick: run the slice this tick deserves, of at most budget_us
 * (and EXPIRE_SLICE_US); returns how many extra slices to run between
 * rounds of I/O before the next tick. */
unsigned cmd_expire_tick(cmd_server *s, int64_t budget_us);

#endif
