/*
 * cmdtab.c - the command table: registration, the name index and the
 * per-row counters. See cmdtab.h.
 */
#include "cmdtab.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Top-level lookup runs for every request (in cmd_prepare or cmd_execute),
 * so it is a hash index over the top-level rows instead of a scan.
 *
 * For a name of lowercase letters only, OR-ing 0x20 into each input byte is
 * an exact case-insensitive compare: a byte b gives letter L exactly when b
 * is L or its uppercase (L - 0x20). So the input is folded into two 64-bit
 * words (bytes 0-7 and 8-15, zero-padded, then | 0x20 on every byte,
 * padding included) and compared with the row's words built the same way;
 * equal words and equal lengths mean equal names. The few names with
 * another byte (the '_' of BITFIELD_RO, which 0x7F folds to as well) are
 * confirmed byte by byte after the words match. The words also give the hash
 * (a multiply, top bits), so the lookup is one pass over the name, no call.
 * The index is open-addressed with linear probing; a slot holds row + 1 (0:
 * empty).
 */
#define CMD_INDEX_BITS 8u
#define CMD_INDEX_SLOTS (1u << CMD_INDEX_BITS)
#define CMD_NAME_MAX 16u /* two words */
#define BYTES_20 0x2020202020202020ull

static_assert(CMDTAB_MAX * 2 <= CMD_INDEX_SLOTS, "command index too full");
static_assert(CMDTAB_MAX < UINT8_MAX, "index slots hold row + 1 in a byte");

static struct {
    const cmd_def *top[CMDTAB_MAX];
    size_t subbase[CMDTAB_MAX]; /* counter index of each row's first subcommand */
    size_t ntop, nrows;
    uint8_t slot[CMD_INDEX_SLOTS];
    uint64_t w0[CMDTAB_MAX], w1[CMDTAB_MAX]; /* each row's folded words */
    uint8_t len[CMDTAB_MAX];
    bool letters[CMDTAB_MAX]; /* the name is lowercase letters only */
    bool ready;
} tab;

/* name[0..len) (len <= CMD_NAME_MAX) as two folded little-endian words. */
static inline void name_words(const char *name, size_t len, uint64_t *w0, uint64_t *w1)
{
    uint64_t a = 0, b = 0;
    size_t i = 0;
    for (; i < len && i < 8; i++)
        a |= (uint64_t)(unsigned char)name[i] << (8 * i);
    for (; i < len; i++)
        b |= (uint64_t)(unsigned char)name[i] << (8 * (i - 8));
    *w0 = a | BYTES_20;
    *w1 = b | BYTES_20;
}

static inline uint32_t words_slot(uint64_t w0, uint64_t w1, size_t len)
{
    uint64_t h = (w0 ^ (w1 * 0xff51afd7ed558ccdull) ^ len) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> (64 - CMD_INDEX_BITS));
}

size_t cmdtab_count_subs(const cmd_def *subs)
{
    size_t n = 0;
    while (subs[n].name != NULL)
        n++;
    return n;
}

void cmdtab_init(const cmd_def *const *groups, size_t n)
{
    if (tab.ready)
        return;
    for (size_t g = 0; g < n; g++) {
        for (const cmd_def *d = groups[g]; d->name != NULL; d++) {
            size_t r = tab.ntop++;
            assert(r < CMDTAB_MAX);
            const char *name = d->name;
            size_t len = strlen(name);
            assert(len > 0 && len <= CMD_NAME_MAX);
            tab.letters[r] = true;
            for (size_t i = 0; i < len; i++) {
                assert((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_');
                tab.letters[r] &= name[i] >= 'a' && name[i] <= 'z';
            }
            tab.top[r] = d;
            name_words(name, len, &tab.w0[r], &tab.w1[r]);
            tab.len[r] = (uint8_t)len;
            uint32_t i = words_slot(tab.w0[r], tab.w1[r], len);
            while (tab.slot[i] != 0) {
                assert(!(tab.w0[tab.slot[i] - 1] == tab.w0[r] &&
                         tab.w1[tab.slot[i] - 1] == tab.w1[r] && tab.len[tab.slot[i] - 1] == len));
                i = (i + 1) & (CMD_INDEX_SLOTS - 1);
            }
            tab.slot[i] = (uint8_t)(r + 1);
        }
    }
    tab.nrows = tab.ntop;
    for (size_t r = 0; r < tab.ntop; r++) {
        tab.subbase[r] = tab.nrows;
        if (tab.top[r]->subs != NULL)
            tab.nrows += cmdtab_count_subs(tab.top[r]->subs);
    }
    tab.ready = true;
}

size_t cmdtab_count(void)
{
    return tab.ntop;
}

size_t cmdtab_rows(void)
{
    return tab.nrows;
}

const cmd_def *cmdtab_at(size_t i)
{
    assert(i < tab.ntop);
    return tab.top[i];
}

static bool name_eq(const char *cn, const char *name, size_t len);

const cmd_def *cmdtab_find(const char *name, size_t len, int *row)
{
    *row = -1;
    if (len == 0 || len > CMD_NAME_MAX)
        return NULL;
    assert(tab.ready);
    uint64_t w0, w1;
    name_words(name, len, &w0, &w1);
    for (uint32_t i = words_slot(w0, w1, len); tab.slot[i] != 0;
         i = (i + 1) & (CMD_INDEX_SLOTS - 1)) {
        size_t r = tab.slot[i] - 1u;
        if (tab.w0[r] == w0 && tab.w1[r] == w1 && tab.len[r] == len &&
            (tab.letters[r] || name_eq(tab.top[r]->name, name, len))) {
            *row = (int)r;
            return tab.top[r];
        }
    }
    return NULL;
}

const cmd_def *cmdtab_lookup(const char *name, size_t len)
{
    int row;
    return cmdtab_find(name, len, &row);
}

/* ASCII lowercase, as strncasecmp folds in the C locale (no other byte
 * changes). */
static inline unsigned char fold(unsigned char ch)
{
    return (unsigned char)((unsigned)(ch - 'A') < 26u ? ch + ('a' - 'A') : ch);
}

/* Case-insensitive match of name[0..len) against a lowercase row name. */
static bool name_eq(const char *cn, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (cn[i] == '\0' || (unsigned char)cn[i] != fold((unsigned char)name[i]))
            return false;
    return cn[len] == '\0';
}

/* A linear scan: subcommand tables are short (CLIENT, the longest, has 14
 * rows), and only container commands look in them. */
const cmd_def *cmdtab_find_sub(const cmd_def *container, const resp_view *v)
{
    if (v->len == 0)
        return NULL;
    unsigned char first = fold((unsigned char)v->ptr[0]);
    for (const cmd_def *d = container->subs; d->name != NULL; d++)
        if ((unsigned char)d->name[0] == first && name_eq(d->name, v->ptr, v->len))
            return d;
    return NULL;
}

size_t cmdtab_stat_index(size_t i, const cmd_def *sub)
{
    assert(i < tab.ntop);
    if (sub == NULL || sub == tab.top[i])
        return i;
    assert(sub >= tab.top[i]->subs);
    return tab.subbase[i] + (size_t)(sub - tab.top[i]->subs);
}

void cmdtab_each(cmd_server *s, cmdtab_visit *fn, void *arg)
{
    char name[64];
    for (size_t i = 0; i < tab.ntop; i++) {
        const cmd_def *d = tab.top[i];
        fn(d, d->name, &s->cmdstats[i], arg);
        if (d->subs == NULL)
            continue;
        for (size_t j = 0; d->subs[j].name != NULL; j++) {
            snprintf(name, sizeof name, "%s|%s", d->name, d->subs[j].name);
            fn(&d->subs[j], name, &s->cmdstats[tab.subbase[i] + j], arg);
        }
    }
}

static void render_cmdstat(const cmd_def *d, const char *name, cmd_stat *st, void *arg)
{
    if (st->calls == 0 && st->rejected == 0 && st->failed == 0)
        return;
    strbuf_printf(arg,
                  "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                  "failed_calls=%llu\r\n",
                  name, (unsigned long long)st->calls, (unsigned long long)(st->hist.sum_ns / 1000),
                  st->calls > 0 ? (double)st->hist.sum_ns / 1000.0 / (double)st->calls : 0.0,
                  (unsigned long long)st->rejected, (unsigned long long)st->failed);
}

void cmd_render_commandstats(cmd_server *s, strbuf *b)
{
    cmdtab_each(s, render_cmdstat, b);
}

typedef struct {
    void (*fn)(const char *name, const cmd_stat *st, void *arg);
    void *arg;
} named_visit;

static void visit_named(const cmd_def *d, const char *name, cmd_stat *st, void *arg)
{
    const named_visit *v = arg;
    if (st->calls == 0 && st->rejected == 0 && st->failed == 0)
        return;
    v->fn(name, st, v->arg);
}

void cmd_each_used_stat(cmd_server *s, void (*fn)(const char *name, const cmd_stat *st, void *arg),
                        void *arg)
{
    named_visit v = {fn, arg};
    cmdtab_each(s, visit_named, &v);
}

static void render_latency(const cmd_def *d, const char *name, cmd_stat *st, void *arg)
{
    if (st->calls == 0)
        return;
    strbuf_printf(arg, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", name,
                  (double)latency_percentile(&st->hist, 0.50) / 1000.0,
                  (double)latency_percentile(&st->hist, 0.99) / 1000.0,
                  (double)latency_percentile(&st->hist, 0.999) / 1000.0);
}

void cmd_render_latencystats(cmd_server *s, strbuf *b)
{
    cmdtab_each(s, render_latency, b);
}
