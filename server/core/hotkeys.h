/*
 * hotkeys.h - which keys are hot: HOTKEYS GET and RESET, in the shape
 * Valkey 9.1 gave them (layer 2; hotkeys.c).
 *
 * Off by default: `hotkey-top-k` K > 0 turns it on and is how many keys are
 * reported. While on, every key a command names (the key positions COMMAND
 * reports, for commands that read or write keys; a miss counts, a key that
 * does not parse does not) is sampled with probability
 * `hotkey-sampling-percentage` / 100 into a Space-Saving summary of K
 * entries (topk.h), one per namespace, so that each tenant's hottest keys
 * are found even beside a hotter tenant.
 *
 * Time is cut into windows of `hotkey-window-seconds`. When one has passed
 * (checked by the cron and by HOTKEYS GET) the live summaries are frozen and
 * new ones start; HOTKEYS GET reports the last frozen window only, so it is
 * empty until the first window ends, and after a window in which a key was
 * not used, that key is gone. A frozen count becomes a rate over the
 * window's measured length (not its nominal one: the cron closes it a
 * little late), scaled back up by the sampling percentage:
 *     qps = (count - error / 2) * 100 / percentage / seconds,
 * the middle of the band Space-Saving guarantees, rounded.
 *
 * Bounds: at most K entries per namespace per window (two windows kept;
 * a summary starts at 16 entries and doubles while it fills),
 * and summaries for at most max-namespaces + 1 namespaces, or twice that
 * counting keys of namespaces that do not exist (a miss is still a key's
 * load): past it a window's samples of further namespaces are dropped.
 * FLUSHALL and FLUSHDB forget everything, as in Valkey; RENAME and COPY are
 * not followed (the old name ages out with its window).
 */
#ifndef EBB_HOTKEYS_H
#define EBB_HOTKEYS_H

#include "cmd.h"

/* Set up and free the module's state (cmd_server_init, _deinit). */
bool cmd_hotkeys_init(cmd_server *s);
void cmd_hotkeys_free(cmd_server *s);

/* Follow the configuration (hotkey-*): turning it off frees everything;
 * a new K, percentage or window length restarts the live window and keeps
 * the frozen one, as Valkey does. */
void cmd_hotkeys_apply(cmd_server *s);

/* Sample the keys of request r, which ran as row d (dispatch.c, while
 * cmd_server.hotkeys_on). */
void cmd_hotkeys_record(cmd_server *s, const struct cmd_def *d, const cmd_request *r);

/* Close the live window if it has run its length (the cron). */
void cmd_hotkeys_cron(cmd_server *s);

/* Forget every sample (FLUSHALL, FLUSHDB, HOTKEYS RESET). */
void cmd_hotkeys_forget(cmd_server *s);

/* Figures: samples in the last frozen window, its measured length in ms
 * (0 before the first one closes), the samples dropped by the bound on
 * namespaces since start, and the bytes the summaries hold. */
uint64_t cmd_hotkeys_window_samples(const cmd_server *s);
uint64_t cmd_hotkeys_window_ms(const cmd_server *s);
uint64_t cmd_hotkeys_dropped(const cmd_server *s);
uint64_t cmd_hotkeys_bytes(const cmd_server *s);
/* CONFIG RESETSTAT: the dropped samples start from 0. */
void cmd_hotkeys_reset_stats(cmd_server *s);

#endif
