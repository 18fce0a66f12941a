/*
 * groups.h - the command groups, one file each, as Redis groups them. Each
 * array holds the group's top-level rows (cmd.h), ended by a row with a
 * NULL name; the server registers them all (server.c).
 */
#ifndef EBB_GROUPS_H
#define EBB_GROUPS_H

#include "cmd.h"

extern const cmd_def cmd_connection_rows[];    /* connection.c: PING ... HELLO, AUTH, CLIENT */
extern const cmd_def cmd_admin_rows[];         /* admin.c: COMMAND, CONFIG, INFO, FLUSHALL ... */
extern const cmd_def cmd_keyspace_rows[];      /* keyspace.c: DEL ... SCAN, KEYS, OBJECT */
extern const cmd_def cmd_rename_rows[];        /* rename.c: RENAME, RENAMENX, COPY */
extern const cmd_def cmd_string_rows[];        /* strings.c: GET, SET ... INCR, INCRBYFLOAT */
extern const cmd_def cmd_lcs_rows[];           /* lcs.c: LCS */
extern const cmd_def cmd_bitmap_rows[];        /* bitmap.c: SETBIT ... BITFIELD */
extern const cmd_def cmd_expire_rows[];        /* expire.c: EXPIRE ... TTL, PERSIST */
extern const cmd_def cmd_introspection_rows[]; /* introspection.c: SLOWLOG, LATENCY, MONITOR */
extern const cmd_def cmd_memory_rows[];        /* memory.c: MEMORY, SHRINK */
extern const cmd_def cmd_multi_rows[];         /* multi.c: MULTI, EXEC, DISCARD, WATCH, UNWATCH */
extern const cmd_def cmd_scripting_rows[];     /* scripting.c: EVAL ... EVALSHA_RO, SCRIPT */
extern const cmd_def cmd_hotkeys_rows[];       /* hotkeys.c: HOTKEYS */
extern const cmd_def cmd_persist_rows[];       /* persist.c: SAVE, BGSAVE, LASTSAVE */
extern const cmd_def cmd_dump_rows[];          /* dump.c: DUMP, RESTORE */
extern const cmd_def cmd_pubsub_rows[];        /* pubsub.c: SUBSCRIBE ... PUBLISH, PUBSUB */

#endif
