/*
 * test_resp_write.c - exact wire bytes of every writer function in RESP2 and
 * RESP3, growth across many appends, and the out-of-memory latch.
 */
#include "resp.h"

#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static resp_out out;

static void setup(void)
{
    resp_out_init(&out);
}

static void teardown(void)
{
    resp_out_deinit(&out);
}

TestSuite(resp_write, .init = setup, .fini = teardown);

/* The buffer holds exactly the literal `want` (which may contain NULs);
 * then empty it for the next check. */
#define EXPECT(want)                                                                               \
    do {                                                                                           \
        size_t wn_ = sizeof(want) - 1;                                                             \
        cr_assert(!out.oom);                                                                       \
        cr_assert_eq(out.len, wn_, "len %zu want %zu: got '%.*s'", out.len, wn_, (int)out.len,     \
                     out.buf ? out.buf : "");                                                      \
        cr_assert(wn_ == 0 || memcmp(out.buf, want, wn_) == 0, "got '%.*s' want '%s'",             \
                  (int)out.len, out.buf, want);                                                    \
        resp_out_reset(&out);                                                                      \
    } while (0)

Test(resp_write, init_is_empty_resp2)
{
    cr_assert_eq(out.proto, 2);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(out.buf, NULL);
    cr_assert(!out.oom);
    resp_add_raw(&out, "", 0);
    EXPECT("");
}

Test(resp_write, same_in_both_protocols)
{
    for (int proto = 2; proto <= 3; proto++) {
        out.proto = proto;
        resp_add_raw(&out, "+x\r\n\0", 5);
        EXPECT("+x\r\n\0");
        resp_add_simple(&out, "PONG");
        EXPECT("+PONG\r\n");
        resp_add_simplen(&out, "PONGxx", 4);
        EXPECT("+PONG\r\n");
        resp_add_simple(&out, "");
        EXPECT("+\r\n");
        resp_add_ok(&out);
        EXPECT("+OK\r\n");
        resp_add_error(&out, "ERR unknown command 'x'");
        EXPECT("-ERR unknown command 'x'\r\n");
        resp_add_error(&out, "ERR a\r\nb\nc\rd");
        EXPECT("-ERR a  b c d\r\n");
        resp_add_errorf(&out, "ERR wrong number of arguments for '%s' command", "get");
        EXPECT("-ERR wrong number of arguments for 'get' command\r\n");
        resp_add_errorf(&out, "ERR %s", "line\r\nbreak");
        EXPECT("-ERR line  break\r\n");
        resp_add_int(&out, 0);
        EXPECT(":0\r\n");
        resp_add_int(&out, 7);
        EXPECT(":7\r\n");
        resp_add_int(&out, -1);
        EXPECT(":-1\r\n");
        resp_add_int(&out, 1234567890123LL);
        EXPECT(":1234567890123\r\n");
        resp_add_int(&out, LLONG_MAX);
        EXPECT(":9223372036854775807\r\n");
        resp_add_int(&out, LLONG_MIN);
        EXPECT(":-9223372036854775808\r\n");
        resp_add_bulk(&out, "a\0b\r\n", 5);
        EXPECT("$5\r\na\0b\r\n\r\n");
        resp_add_bulk(&out, "", 0);
        EXPECT("$0\r\n\r\n");
        resp_add_bulk(&out, NULL, 0);
        EXPECT("$0\r\n\r\n");
        resp_add_bulkstr(&out, "hello");
        EXPECT("$5\r\nhello\r\n");
        resp_add_bulk_ll(&out, 0);
        EXPECT("$1\r\n0\r\n");
        resp_add_bulk_ll(&out, -42);
        EXPECT("$3\r\n-42\r\n");
        resp_add_bulk_ll(&out, LLONG_MIN);
        EXPECT("$20\r\n-9223372036854775808\r\n");
        resp_add_array(&out, 0);
        EXPECT("*0\r\n");
        resp_add_array(&out, 12);
        EXPECT("*12\r\n");
    }
}

Test(resp_write, every_integer_width)
{
    /* 10^k - 1, 10^k and their negatives, for every k: the digit counting
     * and pair table must agree with printf. */
    long long p = 1;
    for (int k = 0; k <= 18; k++) {
        long long vals[] = {p - 1, p, -p, -(p - 1), p + 1};
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            char want[64];
            int wn = snprintf(want, sizeof want, ":%lld\r\n", vals[i]);
            resp_add_int(&out, vals[i]);
            cr_assert_eq(out.len, (size_t)wn);
            cr_assert(memcmp(out.buf, want, (size_t)wn) == 0, "%lld", vals[i]);
            resp_out_reset(&out);
        }
        if (k < 18)
            p *= 10;
    }
}

Test(resp_write, resp2_shapes)
{
    out.proto = 2;
    resp_add_null(&out);
    EXPECT("$-1\r\n");
    resp_add_null_array(&out);
    EXPECT("*-1\r\n");
    resp_add_map(&out, 3);
    EXPECT("*6\r\n");
    resp_add_map(&out, 0);
    EXPECT("*0\r\n");
    resp_add_set(&out, 4);
    EXPECT("*4\r\n");
    resp_add_push(&out, 3);
    EXPECT("*3\r\n");
    resp_add_bool(&out, true);
    EXPECT(":1\r\n");
    resp_add_bool(&out, false);
    EXPECT(":0\r\n");
    resp_add_double(&out, 1.5);
    EXPECT("$3\r\n1.5\r\n");
    resp_add_double(&out, 3.0);
    EXPECT("$1\r\n3\r\n");
    resp_add_double(&out, 0.1);
    EXPECT("$19\r\n0.10000000000000001\r\n");
    resp_add_double(&out, INFINITY);
    EXPECT("$3\r\ninf\r\n");
    resp_add_double(&out, -INFINITY);
    EXPECT("$4\r\n-inf\r\n");
    resp_add_double(&out, NAN);
    EXPECT("$3\r\nnan\r\n");
    resp_add_double(&out, -NAN);
    EXPECT("$3\r\nnan\r\n");
    resp_add_verbatim(&out, "txt", "hello", 5);
    EXPECT("$5\r\nhello\r\n");
}

Test(resp_write, resp3_shapes)
{
    out.proto = 3;
    resp_add_null(&out);
    EXPECT("_\r\n");
    resp_add_null_array(&out);
    EXPECT("_\r\n");
    resp_add_map(&out, 3);
    EXPECT("%3\r\n");
    resp_add_set(&out, 4);
    EXPECT("~4\r\n");
    resp_add_push(&out, 3);
    EXPECT(">3\r\n");
    resp_add_bool(&out, true);
    EXPECT("#t\r\n");
    resp_add_bool(&out, false);
    EXPECT("#f\r\n");
    resp_add_double(&out, 1.5);
    EXPECT(",1.5\r\n");
    resp_add_double(&out, -2.0);
    EXPECT(",-2\r\n");
    resp_add_double(&out, 0.1);
    EXPECT(",0.10000000000000001\r\n");
    resp_add_double(&out, 1e300);
    EXPECT(",1.0000000000000001e+300\r\n");
    resp_add_double(&out, INFINITY);
    EXPECT(",inf\r\n");
    resp_add_double(&out, -INFINITY);
    EXPECT(",-inf\r\n");
    resp_add_double(&out, NAN);
    EXPECT(",nan\r\n");
    resp_add_verbatim(&out, "txt", "hello", 5);
    EXPECT("=9\r\ntxt:hello\r\n");
    resp_add_verbatim(&out, "mkd", "", 0);
    EXPECT("=4\r\nmkd:\r\n");
}

Test(resp_write, elements_append_in_order)
{
    out.proto = 2;
    resp_add_array(&out, 2);
    resp_add_bulkstr(&out, "save");
    resp_add_bulkstr(&out, "");
    EXPECT("*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
}

Test(resp_write, growth_keeps_every_byte)
{
    /* Enough appends to force many reallocations; compare with a model. */
    static char model[1 << 20];
    size_t mlen = 0;
    char val[300];
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (char)i;
    for (int i = 0; mlen + 400 < sizeof model; i++) {
        size_t n = (size_t)(i * 37) % sizeof val;
        resp_add_bulk(&out, val, n);
        mlen += (size_t)snprintf(model + mlen, sizeof model - mlen, "$%zu\r\n", n);
        memcpy(model + mlen, val, n);
        mlen += n;
        memcpy(model + mlen, "\r\n", 2);
        mlen += 2;
        resp_add_int(&out, -i);
        mlen += (size_t)snprintf(model + mlen, sizeof model - mlen, ":%d\r\n", -i);
    }
    cr_assert(!out.oom);
    cr_assert_eq(out.len, mlen);
    cr_assert(out.cap >= out.len);
    cr_assert(memcmp(out.buf, model, mlen) == 0);

    /* reset keeps the allocation and the protocol */
    size_t cap = out.cap;
    out.proto = 3;
    resp_out_reset(&out);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(out.cap, cap);
    cr_assert_eq(out.proto, 3);
}

Test(resp_write, long_errorf_is_formatted_whole)
{
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[500] = '\n';
    resp_add_ok(&out);
    resp_add_errorf(&out, "ERR %s!", big);
    cr_assert_eq(out.len, 5 + 1 + 4 + 999 + 1 + 2);
    cr_assert(memcmp(out.buf, "+OK\r\n-ERR zz", 12) == 0);
    cr_assert_eq(out.buf[5 + 1 + 4 + 500], ' ');
    cr_assert(memcmp(out.buf + out.len - 4, "z!\r\n", 4) == 0);
    cr_assert_null(memchr(out.buf + 5, '\n', out.len - 6));
}

Test(resp_write, oom_latches_until_reset)
{
    resp_add_ok(&out);
    /* A length that cannot fit the address space fails without touching
     * the (bogus) data pointer and without a huge malloc. */
    resp_add_bulk(&out, (const void *)1, SIZE_MAX - 8);
    cr_assert(out.oom);
    cr_assert_eq(out.len, 5, "a failed element leaves nothing behind");
    resp_add_int(&out, 1);
    resp_add_bulkstr(&out, "x");
    resp_add_error(&out, "ERR x");
    resp_add_errorf(&out, "ERR %d", 1);
    resp_add_null(&out);
    resp_add_raw(&out, (const void *)1, SIZE_MAX);
    cr_assert_eq(out.len, 5, "appends after oom are no-ops");
    cr_assert(memcmp(out.buf, "+OK\r\n", 5) == 0);
    resp_out_reset(&out);
    cr_assert(!out.oom);
    resp_add_int(&out, 1);
    EXPECT(":1\r\n");
}
