/*
 * lcs.c - LCS (layer 2, the string group): the longest common subsequence
 * of two values, with Redis 7's options, errors and replies.
 *
 *   LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
 *
 * The reply is the subsequence; with LEN its length; with IDX a map
 * {"matches": ranges, "len": length} (RESP2: a flat array of the four),
 * each range [[a-start, a-end], [b-start, b-end]] (and its length with
 * WITHMATCHLEN), the last ones of the strings first, as Redis finds them.
 * Values are at most TABLE_VALUE_MAX bytes, so the table of lengths fits
 * in bytes on the stack.
 */
#include <assert.h>
#include <string.h>

#include "cmd.h"
#include "groups.h"

static_assert(TABLE_VALUE_MAX <= UINT8_MAX, "LCS lengths are kept in bytes");

#define LCS_SIDE (TABLE_VALUE_MAX + 1)

/* A run of matching bytes: a[as..ae] == b[bs..be]. */
typedef struct {
    unsigned as, ae, bs, be;
} lcs_range;

/* Copy k's value into buf (counting a hit or a miss); its length, 0 if k
 * does not exist. */
static size_t read_value(cmd_server *s, const db_key *k, uint8_t *buf)
{
    const uint8_t *val;
    size_t len;
    if (!cmd_lookup(s, k, &val, &len))
        return 0;
    memcpy(buf, val, len);
    return len;
}

static void cmd_lcs(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    db_key ka, kb;
    if (!cmd_key_arg(s, c, req, 1, &ka) || !cmd_key_arg(s, c, req, 2, &kb))
        return;
    /* As Redis: both keys are read before the options. */
    uint8_t a[TABLE_VALUE_MAX], b[TABLE_VALUE_MAX];
    size_t alen = read_value(s, &ka, a), blen = read_value(s, &kb, b);
    bool len_only = false, idx = false, with_len = false;
    long long min_len = 0;
    for (size_t i = 3; i < req->argc; i++) {
        const resp_view *o = &req->argv[i];
        if (cmd_arg_is(o, "idx")) {
            idx = true;
        } else if (cmd_arg_is(o, "len")) {
            len_only = true;
        } else if (cmd_arg_is(o, "withmatchlen")) {
            with_len = true;
        } else if (cmd_arg_is(o, "minmatchlen") && i + 1 < req->argc) {
            if (!cmd_arg_ll(s, c, &req->argv[++i], &min_len))
                return;
            if (min_len < 0)
                min_len = 0;
        } else {
            cmd_reply_error(s, c, ERR_SYNTAX);
            return;
        }
    }
    if (len_only && idx) {
        cmd_reply_error(s, c, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    /* L[i][j]: the length of the LCS of a[0..i) and b[0..j). */
    uint8_t L[LCS_SIDE][LCS_SIDE];
    for (size_t i = 0; i <= alen; i++) {
        for (size_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                L[i][j] = 0;
            else if (a[i - 1] == b[j - 1])
                L[i][j] = (uint8_t)(L[i - 1][j - 1] + 1);
            else
                L[i][j] = L[i - 1][j] > L[i][j - 1] ? L[i - 1][j] : L[i][j - 1];
        }
    }
    unsigned total = L[alen][blen];
    if (len_only) {
        resp_add_int(&c->out, total);
        return;
    }
    /* Walk back from the ends, on the path Redis takes (a match first,
     * else towards the longer of the two shorter prefixes, b's on a tie),
     * collecting the subsequence and its runs: a run ends at a step that
     * is not a match, or at the start of either string. */
    uint8_t seq[TABLE_VALUE_MAX];
    lcs_range ranges[TABLE_VALUE_MAX], cur = {0, 0, 0, 0};
    size_t nranges = 0, k = total, i = alen, j = blen;
    bool open = false;
    while (i > 0 && j > 0) {
        bool close = false;
        if (a[i - 1] == b[j - 1]) {
            seq[--k] = a[i - 1];
            if (!open) {
                cur =
                    (lcs_range){(unsigned)i - 1, (unsigned)i - 1, (unsigned)j - 1, (unsigned)j - 1};
                open = true;
            } else {
                cur.as--; /* a match right after a match extends the run */
                cur.bs--;
            }
            close = cur.as == 0 || cur.bs == 0;
            i--;
            j--;
        } else {
            if (L[i - 1][j] > L[i][j - 1])
                i--;
            else
                j--;
            close = open;
        }
        if (close) {
            if ((long long)(cur.ae - cur.as + 1) >= min_len)
                ranges[nranges++] = cur;
            open = false;
        }
    }
    if (!idx) {
        resp_add_bulk(&c->out, seq, total);
        return;
    }
    resp_add_map(&c->out, 2);
    resp_add_bulkstr(&c->out, "matches");
    resp_add_array(&c->out, nranges);
    for (size_t r = 0; r < nranges; r++) {
        resp_add_array(&c->out, with_len ? 3 : 2);
        resp_add_array(&c->out, 2);
        resp_add_int(&c->out, ranges[r].as);
        resp_add_int(&c->out, ranges[r].ae);
        resp_add_array(&c->out, 2);
        resp_add_int(&c->out, ranges[r].bs);
        resp_add_int(&c->out, ranges[r].be);
        if (with_len)
            resp_add_int(&c->out, ranges[r].ae - ranges[r].as + 1);
    }
    resp_add_bulkstr(&c->out, "len");
    resp_add_int(&c->out, total);
}

const cmd_def cmd_lcs_rows[] = {
    {"lcs", -3, CMD_READONLY, 1, 2, 1, cmd_lcs, NULL, "string", "7.0.0",
     "Finds the longest common substring.",
     "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
