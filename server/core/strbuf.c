#include "strbuf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(strbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *nb = realloc(b->buf, ncap);
    if (nb == NULL) {
        b->oom = true;
        return false;
    }
    b->buf = nb;
    b->cap = ncap;
    return true;
}

void strbuf_add(strbuf *b, const char *p, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf *b, size_t *len)
{
    if (b->oom) {
        strbuf_deinit(b);
        return NULL;
    }
    if (!reserve(b, 0))
        return NULL;
    b->buf[b->len] = '\0';
    char *out = b->buf;
    *len = b->len;
    memset(b, 0, sizeof *b);
    return out;
}

void strbuf_deinit(strbuf *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static int fold(int c, bool nocase)
{
    return nocase ? tolower(c) : c;
}

bool glob_match(const char *pat, size_t plen, const char *str, size_t slen, bool nocase)
{
    return glob_match_steps(pat, plen, str, slen, nocase, NULL);
}

bool glob_match_steps(const char *pat, size_t plen, const char *str, size_t slen, bool nocase,
                      size_t *steps)
{
    /* Iterative with one backtrack point, the last '*' seen: a '*' matches
     * any run, so when what follows it fails, only that star needs to take
     * one more character; earlier stars never need to give any back (the
     * greedy choice is safe for atoms of one character: literals, '?',
     * classes). No recursion, so a hostile pattern cannot blow the stack,
     * and no exponential blowup (`a*a*a*...b` takes O(plen + slen)). A
     * retry after the last star costs at most the rest of the pattern, so
     * the worst case is O(plen * slen) steps (`*aaaa...ab` against
     * `aaaa...a`). */
    size_t p = 0, s = 0, star_p = (size_t)-1, star_s = 0, n = 0;
    bool matched = false;
    /* Redis 7.0 matches nothing but the empty pattern against an empty
     * string (its loop ends before a trailing '*' is looked at): "*" does
     * not match "". Channel names may be empty; keys never are. */
    if (slen == 0) {
        matched = plen == 0;
        goto done;
    }
    while (s < slen) {
        n++;
        if (p < plen) {
            char pc = pat[p];
            if (pc == '*') {
                while (p < plen && pat[p] == '*')
                    p++;
                if (p == plen) {
                    matched = true;
                    goto done;
                }
                star_p = p;
                star_s = s;
                continue;
            }
            if (pc == '?') {
                p++;
                s++;
                continue;
            }
            if (pc == '[') {
                size_t q = p + 1;
                bool neg = false, hit = false;
                if (q < plen && pat[q] == '^') {
                    neg = true;
                    q++;
                }
                int c = fold((unsigned char)str[s], nocase);
                while (q < plen && pat[q] != ']') {
                    if (pat[q] == '\\' && q + 1 < plen) {
                        q++;
                        if (fold((unsigned char)pat[q], nocase) == c)
                            hit = true;
                        q++;
                    } else if (q + 2 < plen && pat[q + 1] == '-') {
                        /* As Redis: `[a-]` is the range from 'a' to ']',
                         * and the class then runs on to the next ']'. */
                        int lo = fold((unsigned char)pat[q], nocase);
                        int hi = fold((unsigned char)pat[q + 2], nocase);
                        if (lo > hi) {
                            int t = lo;
                            lo = hi;
                            hi = t;
                        }
                        if (c >= lo && c <= hi)
                            hit = true;
                        q += 3;
                    } else {
                        if (fold((unsigned char)pat[q], nocase) == c)
                            hit = true;
                        q++;
                    }
                }
                if (q < plen)
                    q++; /* the ']' */
                if (hit != neg) {
                    p = q;
                    s++;
                    continue;
                }
            } else {
                if (pc == '\\' && p + 1 < plen)
                    pc = pat[++p];
                if (fold((unsigned char)pc, nocase) == fold((unsigned char)str[s], nocase)) {
                    p++;
                    s++;
                    continue;
                }
            }
        }
        if (star_p == (size_t)-1)
            goto done;
        p = star_p;
        s = ++star_s;
    }
    while (p < plen && pat[p] == '*')
        p++;
    matched = p == plen;
done:
    if (steps != NULL)
        *steps = n;
    return matched;
}
