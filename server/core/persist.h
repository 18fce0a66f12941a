/*
 * persist.h - snapshots in Redis's RDB format (layer 2; persist.c): SAVE,
 * BGSAVE, LASTSAVE, save points, the snapshot written at shutdown, and the
 * snapshot loaded at start. The format itself is rdb.h's.
 *
 * Where: `dir`/`dbfilename` (default ./dump.rdb). What: every key of every
 * namespace, under its canonical name (`customer:42`), with its value and
 * TTL, as string keys of database 0.
 *
 * Writing is crash-safe: a temporary file `temp-<pid>.rdb` in dir is
 * written, fsync'ed and renamed over the snapshot, then dir is fsync'ed; a
 * crash or kill -9 at any point leaves the previous snapshot whole. SAVE
 * writes in the foreground. BGSAVE and the save points write in the
 * background, one of two ways:
 *   - bgsave-fork no (the default): the loop walks the keys between rounds
 *     of I/O, in slices of at most WALK_SLICE_US, and a write to a key the
 *     walk has not reached hands its old state over first (table.h,
 *     "snapshots"): the file holds the keys as they were at the start,
 *     as a fork's would, without a fork's stall or copy-on-write. A
 *     thread checksums, writes and syncs the file; the walk waits for it
 *     past WALK_QUEUE_MAX bytes queued.
 *   - bgsave-fork yes: Redis's way, a child that writes while the parent
 *     goes on (copy-on-write: the child sees the keys as at the fork).
 * The temporary file is created before either starts, so that a bad dir
 * is an error reply, not a failed save. FLUSHALL stops a save in progress.
 *
 * Loading: at start, if dir/dbfilename exists, the server reads it in
 * slices between rounds of I/O; meanwhile commands other than those Redis
 * allows while loading (INFO, CONFIG, PING is not one) get -LOADING, and
 * /readyz answers 503. A key is loaded when it is a string of database 0
 * whose name is a canonical ebb key and whose value fits (128 bytes);
 * everything else is skipped, counted by reason, and logged; nothing is
 * aliased (`007` is not loaded as 7). Keys already expired are dropped, as
 * Redis drops them. Past maxmemory, or the namespace cap, the rest is
 * skipped too (counted: a cache under a container's limit must not be
 * killed by its own snapshot). A file that is not valid RDB (truncated, a
 * flipped bit: the checksum) stops the server with the offset and reason
 * in the log, as Redis refuses one.
 */
#ifndef EBB_PERSIST_H
#define EBB_PERSIST_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). A child
 * still writing is killed and its temporary file removed. */
bool cmd_persist_init(cmd_server *s);
void cmd_persist_free(cmd_server *s);

/* cmd_persist_load_begin and cmd_persist_shutdown, the daemon's, are in
 * commands.h. */

/* Load for about budget_us more. True while loading goes on. A file found
 * bad midway is logged and ends the process (exit status 1). */
bool cmd_persist_load_step(cmd_server *s, int64_t budget_us);

/* The cron: reap a finished BGSAVE child or save thread, start a
 * scheduled save, and one due by the save points. True while a save
 * without fork has keys left to walk (cmd_persist_save_step). */
bool cmd_persist_cron(cmd_server *s);

/* Walk a save without fork for about budget_us more (at most
 * WALK_SLICE_US). True while keys remain and the walk can go on now
 * (false too while the thread is behind: the cron resumes it). */
bool cmd_persist_save_step(cmd_server *s, int64_t budget_us);

/* Bytes a save without fork holds mapped for its file on the way to the
 * disk (1 MiB blocks: the queue to the thread, recycled; INFO
 * used_memory_snapshot, part of used_memory). 0 when none runs. */
uint64_t cmd_persist_buffer_bytes(const cmd_server *s);

/* FLUSHALL happened: a save in progress is stopped (its file removed), and
 * with save points the empty keyspace is saved, as Redis does. */
void cmd_persist_flushed(cmd_server *s);

/* INFO # Persistence. */
void cmd_persist_info(cmd_server *s, strbuf *b);

#endif
