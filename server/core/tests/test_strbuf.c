/* Unit tests for strbuf.c: the text buffer and glob matching. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static bool g(const char *p, const char *s)
{
    return glob_match(p, strlen(p), s, strlen(s), false);
}

Test(glob, redis_patterns)
{
    cr_assert(g("*", "anything"));
    cr_assert_not(g("*", "")); /* as Redis 7.0: only "" matches "" */
    cr_assert(g("", ""));
    cr_assert(g("[a-]", "]")); /* the range a..], as Redis reads it */
    cr_assert_not(g("[a-]", "-"));
    cr_assert(g("max*", "maxclients"));
    cr_assert_not(g("max*", "port"));
    cr_assert(g("h?llo", "hello"));
    cr_assert_not(g("h?llo", "hllo"));
    cr_assert(g("h[ae]llo", "hallo"));
    cr_assert_not(g("h[ae]llo", "hillo"));
    cr_assert(g("h[^e]llo", "hallo"));
    cr_assert_not(g("h[^e]llo", "hello"));
    cr_assert(g("h[a-b]llo", "hbllo"));
    cr_assert(g("a\\*b", "a*b"));
    cr_assert_not(g("a\\*b", "axb"));
    cr_assert(g("*a*b*c*", "xxaxxbxxcxx"));
    cr_assert_not(g("*a*b*c*", "xxaxxcxxbxx"));
    cr_assert(glob_match("PORT", 4, "port", 4, true));
    cr_assert_not(glob_match("PORT", 4, "port", 4, false));
}

Test(glob, hostile_pattern_is_fast)
{
    /* Exponential for a naive recursive matcher; linear-ish here. */
    char pat[200], str[200];
    memset(pat, 0, sizeof pat);
    for (int i = 0; i < 60; i++) {
        pat[2 * i] = 'a';
        pat[2 * i + 1] = '*';
    }
    pat[120] = 'b';
    memset(str, 'a', 150);
    str[150] = '\0';
    cr_assert_not(g(pat, str));
}

Test(strbuf, printf_and_take)
{
    strbuf b = {0};
    strbuf_printf(&b, "%s:%d\r\n", "port", 6379);
    for (int i = 0; i < 1000; i++)
        strbuf_add(&b, "x", 1);
    size_t len;
    char *s = strbuf_take(&b, &len);
    cr_assert_eq(len, 11 + 1000);
    cr_assert(strncmp(s, "port:6379\r\nxxx", 14) == 0);
    cr_assert_eq(s[len], '\0');
    cr_assert_null(b.buf);
    free(s);
}
