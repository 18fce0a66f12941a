/*
 * strbuf.h - a growable NUL-terminated text buffer for multi-line replies
 * (INFO, CLIENT LIST) and a glob matcher (layer 2 helpers, libc only).
 */
#ifndef EBB_STRBUF_H
#define EBB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *buf; /* owned, always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
    bool oom; /* an append failed: contents are truncated */
} strbuf;

/* Append formatted text. */
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append raw bytes. */
void strbuf_add(strbuf *b, const char *p, size_t n);
/* Hand the buffer to the caller (who frees it) and reset b. NULL on oom. */
char *strbuf_take(strbuf *b, size_t *len);
void strbuf_deinit(strbuf *b);

/* Redis-style glob: * ? [abc] [^a] [a-z] and \x escapes. Never recursive
 * and never exponential: at most (plen + 1) * (slen + 1) steps, and
 * O(plen + slen) for the patterns that make a backtracking matcher
 * exponential (`a*a*a*...b`). */
bool glob_match(const char *pat, size_t plen, const char *str, size_t slen, bool nocase);
/* The same, also saying how many steps (characters of str looked at,
 * retries included) the match took: the work PSUBSCRIBE patterns cost,
 * for tests that bound it. */
bool glob_match_steps(const char *pat, size_t plen, const char *str, size_t slen, bool nocase,
                      size_t *steps);

#endif
