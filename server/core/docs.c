/*
 * docs.c - argument specs for COMMAND DOCS (layer 2), which redis-cli turns
 * into its interactive hints ("SET key value [NX|XX] ...").
 *
 * Each command's arguments are written once, in its row (cmd.h `args`), in
 * the syntax Redis's docs use:
 *   word          an argument (type "key" for `key`, `newkey`, `source` and
 *                 `destination`, "integer" for counts,
 *                 times and offsets, "string" otherwise)
 *   WORD          a pure token
 *   WORD word     an argument introduced by a token (EX seconds)
 *   a|b|c         one of (a "oneof" argument)
 *   [ ... ]       optional; several items inside form a "block"
 *   < ... >       a group that is not optional (Redis's notation): a
 *                 "oneof" or "block" where a plain sequence cannot say it,
 *                 as in `OVERFLOW <WRAP|SAT|FAIL>`, whose token then
 *                 introduces the whole group
 *   word...       may repeat ("multiple")
 * and rendered into Redis 7's COMMAND DOCS argument maps.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "docs.h"

/* A parsed argument: children are nodes[first .. first + n). */
typedef struct {
    char name[40];
    char token[40];
    const char *type;
    bool optional, multiple;
    int first, n;
} arg_node;

#define MAX_NODES 64

typedef struct {
    const char *p;
    arg_node nodes[MAX_NODES];
    int count;
    bool bad;
} parser;

static bool is_integer_name(const char *w)
{
    static const char *const ints[] = {
        "seconds",
        "milliseconds",
        "unix-time-seconds",
        "unix-time-milliseconds",
        "count",
        "offset",
        "start",
        "end",
        "increment",
        "decrement",
        "cursor",
        "index",
        "protover",
        "client-id",
        "bit",
        "len",
        "numreplicas",
        "timeout",
        "destination-db",
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(w, ints[i]) == 0)
            return true;
    return false;
}

static int new_node(parser *ps)
{
    if (ps->count == MAX_NODES) {
        ps->bad = true;
        return 0;
    }
    memset(&ps->nodes[ps->count], 0, sizeof ps->nodes[0]);
    return ps->count++;
}

/* Read one word (letters, digits, - : / _) into dst; returns its length. */
static size_t word(parser *ps, char *dst, size_t cap)
{
    size_t n = 0;
    while (*ps->p != '\0' && !strchr(" []<>|", *ps->p) && strncmp(ps->p, "...", 3) != 0) {
        if (n + 1 < cap)
            dst[n++] = *ps->p;
        ps->p++;
    }
    dst[n] = '\0';
    return n;
}

static bool is_upper_word(const char *w)
{
    bool letters = false;
    for (; *w != '\0'; w++) {
        if (islower((unsigned char)*w))
            return false;
        letters |= isupper((unsigned char)*w) != 0;
    }
    return letters;
}

static int parse_alternatives(parser *ps, char closing);

/* A group after its opening bracket, up to and past `closing`. */
static int parse_group(parser *ps, char closing)
{
    int id = parse_alternatives(ps, closing);
    if (*ps->p == closing)
        ps->p++;
    else
        ps->bad = true;
    return id;
}

/* A key argument: `key`, `destkey`, `key` and a number (`key1`), and
 * RENAME's and COPY's `newkey`, `source`, `destination`. */
static bool is_key_name(const char *w)
{
    if (strcmp(w, "destkey") == 0 || strcmp(w, "newkey") == 0 || strcmp(w, "source") == 0 ||
        strcmp(w, "destination") == 0)
        return true;
    if (strncmp(w, "key", 3) != 0)
        return false;
    for (w += 3; *w != '\0'; w++)
        if (!isdigit((unsigned char)*w))
            return false;
    return true;
}

/* One item: [group], <group>, or a word (with a following argument word when it is
 * a token), with an optional "..." after it. Returns its node. */
static int parse_item(parser *ps)
{
    int id;
    if (*ps->p == '[') {
        ps->p++;
        id = parse_group(ps, ']');
        ps->nodes[id].optional = true;
    } else if (*ps->p == '<') {
        ps->p++;
        id = parse_group(ps, '>');
    } else {
        id = new_node(ps);
        arg_node *a = &ps->nodes[id];
        char w[40];
        if (word(ps, w, sizeof w) == 0) {
            ps->bad = true;
            return id;
        }
        if (is_upper_word(w) && strncmp(ps->p, " <", 2) == 0) {
            /* "OVERFLOW <WRAP|SAT|FAIL>": the token introduces the group. */
            ps->p += 2;
            id = parse_group(ps, '>');
            snprintf(ps->nodes[id].token, sizeof ps->nodes[id].token, "%s", w);
        } else if (is_upper_word(w)) {
            snprintf(a->token, sizeof a->token, "%s", w);
            /* "EX seconds": the token introduces the next word's value. */
            const char *save = ps->p;
            if (*ps->p == ' ' && islower((unsigned char)ps->p[1])) {
                ps->p++;
                char v[40];
                word(ps, v, sizeof v);
                snprintf(a->name, sizeof a->name, "%s", v);
                a->type = is_integer_name(v) ? "integer" : "string";
            } else {
                ps->p = save;
                for (size_t i = 0; w[i] != '\0'; i++)
                    a->name[i] = (char)tolower((unsigned char)w[i]);
                a->type = "pure-token";
            }
        } else {
            snprintf(a->name, sizeof a->name, "%s", w);
            a->type = is_key_name(w) ? "key" : is_integer_name(w) ? "integer" : "string";
        }
    }
    if (strncmp(ps->p, "...", 3) == 0) {
        ps->p += 3;
        ps->nodes[id].multiple = true;
    }
    return id;
}

/* Items up to `closing` (or '|' at this level): one node, or a block. */
static int parse_sequence(parser *ps, char closing)
{
    int items[16], n = 0;
    while (*ps->p != '\0' && *ps->p != closing && *ps->p != '|' && !ps->bad) {
        while (*ps->p == ' ')
            ps->p++;
        if (*ps->p == '\0' || *ps->p == closing || *ps->p == '|')
            break;
        if (n == 16) {
            ps->bad = true;
            break;
        }
        items[n++] = parse_item(ps);
    }
    if (n == 1)
        return items[0];
    int id = new_node(ps);
    arg_node *b = &ps->nodes[id];
    b->type = "block";
    if (n > 0)
        memcpy(b->name, ps->nodes[items[0]].name, sizeof b->name);
    /* Children must be contiguous: copy them to the end. */
    b->first = ps->count;
    for (int i = 0; i < n; i++) {
        int c = new_node(ps);
        ps->nodes[c] = ps->nodes[items[i]];
    }
    b->n = n;
    return id;
}

static int parse_alternatives(parser *ps, char closing)
{
    int alts[16], n = 0;
    for (;;) {
        if (n == 16) {
            ps->bad = true;
            break;
        }
        alts[n++] = parse_sequence(ps, closing);
        if (*ps->p != '|' || ps->bad)
            break;
        ps->p++;
    }
    if (n == 1)
        return alts[0];
    int id = new_node(ps);
    arg_node *o = &ps->nodes[id];
    o->type = "oneof";
    memcpy(o->name, ps->nodes[alts[0]].name, sizeof o->name);
    o->first = ps->count;
    for (int i = 0; i < n; i++) {
        int c = new_node(ps);
        ps->nodes[c] = ps->nodes[alts[i]];
    }
    o->n = n;
    return id;
}

static void emit(resp_out *o, const parser *ps, int id)
{
    const arg_node *a = &ps->nodes[id];
    size_t fields = 2 + (a->token[0] != '\0') + (a->optional || a->multiple) + (a->n > 0);
    resp_add_map(o, fields);
    resp_add_bulkstr(o, "name");
    resp_add_bulkstr(o, a->name);
    resp_add_bulkstr(o, "type");
    resp_add_bulkstr(o, a->type);
    if (a->token[0] != '\0') {
        resp_add_bulkstr(o, "token");
        resp_add_bulkstr(o, a->token);
    }
    if (a->optional || a->multiple) {
        resp_add_bulkstr(o, "flags");
        resp_add_set(o, (size_t)a->optional + (size_t)a->multiple);
        if (a->optional)
            resp_add_simple(o, "optional");
        if (a->multiple)
            resp_add_simple(o, "multiple");
    }
    if (a->n > 0) {
        resp_add_bulkstr(o, "arguments");
        resp_add_array(o, (size_t)a->n);
        for (int i = 0; i < a->n; i++)
            emit(o, ps, a->first + i);
    }
}

/* Parse a whole spec: top-level items. Returns how many (in tops[]). */
static int parse_spec(parser *ps, const char *spec, int *tops, int cap)
{
    memset(ps, 0, sizeof *ps);
    ps->p = spec;
    int id = parse_alternatives(ps, '\0');
    if (ps->bad || *ps->p != '\0')
        return -1;
    const arg_node *a = &ps->nodes[id];
    /* The whole spec parses as one sequence: its items are the arguments. */
    if (strcmp(a->type, "block") == 0 && !a->optional && !a->multiple) {
        if (a->n > cap)
            return -1;
        for (int i = 0; i < a->n; i++)
            tops[i] = a->first + i;
        return a->n;
    }
    tops[0] = id;
    return 1;
}

void cmd_docs_add_args(resp_out *o, const char *spec)
{
    static parser ps; /* big; replies are built one at a time */
    int tops[16];
    int n = parse_spec(&ps, spec, tops, 16);
    if (n < 0) {
        resp_add_array(o, 0); /* a bad spec is a bug; the unit test catches it */
        return;
    }
    resp_add_array(o, (size_t)n);
    for (int k = 0; k < n; k++)
        emit(o, &ps, tops[k]);
}

bool cmd_docs_spec_valid(const char *spec)
{
    static parser ps;
    int tops[16];
    return parse_spec(&ps, spec, tops, 16) > 0;
}
