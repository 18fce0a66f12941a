/*
 * pubsub.h - publish/subscribe (layer 2), as Redis 7.0: SUBSCRIBE,
 * UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB (the rows are
 * cmd_pubsub_rows, groups.h).
 *
 * Terms: a channel is any byte string (not a key: the key model does not
 * apply); a pattern is a glob (strbuf.h's glob_match, the matcher KEYS
 * uses: never worse than pattern length x channel length per match). A
 * subscription is one client's interest in one channel or one pattern.
 *
 * The server keeps a hash table of channels, each with its subscribers,
 * and one of patterns, each with its subscribers and also in an array that
 * PUBLISH walks: PUBLISH costs one lookup, one write per subscriber of the
 * channel, and one match per distinct pattern plus one write per
 * subscriber of a pattern that matched; never a walk of the clients. Each
 * client has its own table of its subscriptions (cmd_client.subs), so
 * SUBSCRIBE, UNSUBSCRIBE and a disconnect cost O(1) per channel whatever
 * the number of subscribers. The hashes are SipHash with a key drawn at
 * setup, so channel names cannot be chosen to collide.
 *
 * Messages and confirmations are written into the subscribers' output
 * (c->out, in each one's protocol: pushes in RESP3, arrays in RESP2) and
 * handed to the daemon with s->daemon.client_flush, which checks each
 * subscriber's output limit (the pubsub class of client-output-buffer-
 * limit): a subscriber that does not read is closed, not buffered for.
 * A client holds at most pubsub-max-subscriptions channels and patterns
 * together; a SUBSCRIBE or PSUBSCRIBE that would pass it changes nothing
 * and replies an error.
 */
#ifndef EBB_PUBSUB_H
#define EBB_PUBSUB_H

#include "cmd.h"

/* Set up and free the server's tables (cmd_server.pubsub). Free only once
 * every client has let go of its subscriptions (cmd_pubsub_forget). */
bool cmd_pubsub_init(cmd_server *s);
void cmd_pubsub_free(cmd_server *s);

/* Drop every subscription of c without a word to it (RESET, a client
 * leaving): c->nsub and c->npsub become 0 and c->subs NULL. */
void cmd_pubsub_forget(cmd_server *s, cmd_client *c);

/* Distinct channels and patterns subscribed to now (INFO pubsub_channels,
 * pubsub_patterns). */
size_t cmd_pubsub_channels(const cmd_server *s);
size_t cmd_pubsub_patterns(const cmd_server *s);

/* Messages PUBLISH delivered since start (INFO). */
uint64_t cmd_pubsub_messages(const cmd_server *s);

#endif
