/* Unit tests for the bitmap group (bitmap.c), INCRBYFLOAT, SUBSTR and LCS
 * against an in-memory client: exact reply bytes, ebb's 1024-bit rule
 * (refused, nothing changed), TTLs kept or dropped as Redis does, and the
 * keyspace hit and miss counts. Every other reply is compared with
 * redis-server by the differential test. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core_testlib.h"

static cmd_server bsrv;
static cmd_client bcli;

static void bsetup(void)
{
    tl_server_start(&bsrv);
    cmd_client_init(&bsrv, &bcli);
}

static void bteardown(void)
{
    cmd_client_deinit(&bsrv, &bcli);
    cmd_server_deinit(&bsrv);
}

TestSuite(bitmap, .init = bsetup, .fini = bteardown);

/* Run one command given as NULL-terminated C strings; the reply bytes. */
static const char *run(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    resp_out_reset(&bcli.out);
    tl_execv(&bsrv, &bcli, first, ap);
    va_end(ap);
    return tl_take(&bcli);
}

#define R(expect, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), expect)

Test(bitmap, setbit_getbit)
{
    R(":0\r\n", "setbit", "1", "7", "1");
    R("$1\r\n\x01\r\n", "get", "1");
    R(":1\r\n", "setbit", "1", "7", "0");
    R(":0\r\n", "getbit", "1", "7");
    R(":0\r\n", "getbit", "1", "100000");
    R(":0\r\n", "getbit", "2", "0");
    R("-ERR bit is not an integer or out of range\r\n", "setbit", "1", "0", "2");
    R("-ERR bit is not an integer or out of range\r\n", "setbit", "1", "0", "x");
    R("-ERR bit offset is not an integer or out of range\r\n", "setbit", "1", "-1", "1");
    R("-ERR bit offset is not an integer or out of range\r\n", "getbit", "1", "4294967296");
    R(":0\r\n", "getbit", "1", "4294967295");
}

Test(bitmap, writes_past_bit_1023_are_refused_and_change_nothing)
{
    R(":0\r\n", "setbit", "1", "1023", "1");
    R(":128\r\n", "strlen", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "setbit", "1", "1024", "1");
    R("-ERR value is 536870912 bytes; the maximum is 128\r\n", "setbit", "1", "4294967295", "0");
    R(":0\r\n", "setbit", "2", "0", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "setbit", "3", "1024", "0");
    R(":0\r\n", "exists", "3");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "setbit", "ns:3", "1024", "0");
    R("*1\r\n:0\r\n", "bitfield", "4", "set", "u8", "1016", "255");
    R(":128\r\n", "strlen", "4");
    /* Any write past the end refuses the whole command: the first SET is
     * not done either. */
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "bitfield", "4", "set", "u8", "0", "1",
      "incrby", "u2", "1023", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "bitfield", "4", "set", "i8", "#127", "1",
      "set", "i8", "#128", "1");
    R("*1\r\n:0\r\n", "bitfield", "4", "get", "u8", "0");
    R(":8\r\n", "bitcount", "4");
    /* Reads past the end are zeros, as in Redis. */
    R("*1\r\n:0\r\n", "bitfield", "4", "get", "i64", "100000");
    R("*1\r\n:0\r\n", "bitfield_ro", "4", "get", "u8", "#9999");
}

Test(bitmap, ttl_kept_by_setbit_bitfield_incrbyfloat_dropped_by_bitop)
{
    R("+OK\r\n", "set", "1", "a", "EX", "1000");
    R(":0\r\n", "setbit", "1", "15", "1");
    R(":1000\r\n", "ttl", "1");
    R("*1\r\n:5\r\n", "bitfield", "1", "incrby", "u8", "16", "5");
    R(":1000\r\n", "ttl", "1");
    R("+OK\r\n", "set", "2", "1.5", "EX", "1000");
    R("$1\r\n3\r\n", "incrbyfloat", "2", "1.5");
    R(":1000\r\n", "ttl", "2");
    R("+OK\r\n", "set", "3", "x", "EX", "1000");
    R(":3\r\n", "bitop", "or", "3", "1", "2");
    R(":-1\r\n", "ttl", "3");
    /* Only empty sources: the destination goes. */
    R(":0\r\n", "bitop", "and", "3", "9", "10");
    R(":0\r\n", "exists", "3");
}

Test(bitmap, bitop_results_up_to_128_bytes)
{
    char v[129];
    memset(v, 'a', 128);
    v[128] = '\0';
    R("+OK\r\n", "set", "1", v);
    R("+OK\r\n", "set", "2", "b");
    R(":128\r\n", "bitop", "xor", "3", "1", "2");
    R(":128\r\n", "bitop", "not", "4", "1");
    R("-ERR BITOP NOT must be called with a single source key.\r\n", "bitop", "not", "4", "1", "2");
    R("-ERR syntax error\r\n", "bitop", "nand", "4", "1");
}

Test(bitmap, bitfield_parsing_and_ro)
{
    R("*0\r\n", "bitfield", "1");
    R("-ERR syntax error\r\n", "bitfield", "1", "get", "u8");
    R("-ERR Invalid OVERFLOW type specified\r\n", "bitfield", "1", "overflow", "x");
    R("-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but "
      "i64 is.\r\n",
      "bitfield", "1", "get", "u64", "0");
    R("-ERR BITFIELD_RO only supports the GET subcommand\r\n", "bitfield_ro", "1", "set", "u8", "0",
      "1");
    R(":0\r\n", "exists", "1");
    R("*3\r\n:0\r\n$-1\r\n:255\r\n", "bitfield", "1", "overflow", "fail", "set", "u8", "0", "255",
      "incrby", "u8", "0", "1", "get", "u8", "0");
    /* A write that failed still creates the key, grown to its field. */
    R("*1\r\n$-1\r\n", "bitfield", "2", "overflow", "fail", "incrby", "u8", "8", "300");
    R(":2\r\n", "strlen", "2");
    R(":0\r\n", "bitcount", "2");
}

Test(bitmap, reads_count_hits_and_misses)
{
    R(":0\r\n", "setbit", "1", "0", "1");
    uint64_t h = bsrv.st.keyspace_hits, m = bsrv.st.keyspace_misses;
    run("getbit", "1", "0", NULL);
    run("bitcount", "2", NULL);
    run("bitpos", "1", "1", NULL);
    run("bitfield_ro", "1", "get", "u1", "0", NULL);
    run("lcs", "1", "2", NULL);
    run("bitop", "and", "3", "1", "2", NULL);
    cr_assert_eq(bsrv.st.keyspace_hits - h, 5);
    cr_assert_eq(bsrv.st.keyspace_misses - m, 3);
    /* Writes do not count (Redis's write lookups do not). */
    run("setbit", "1", "1", "1", NULL);
    run("bitfield", "1", "incrby", "u2", "0", "1", NULL);
    run("incrbyfloat", "5", "1", NULL);
    cr_assert_eq(bsrv.st.keyspace_hits - h, 5);
    cr_assert_eq(bsrv.st.keyspace_misses - m, 3);
}

Test(bitmap, incrbyfloat)
{
    R("$3\r\n1.5\r\n", "incrbyfloat", "1", "1.5");
    R("$4\r\n3.75\r\n", "incrbyfloat", "1", "2.25");
    R("$4\r\n5200\r\n", "incrbyfloat", "1", "5196.25");
    R("-ERR value is not a valid float\r\n", "incrbyfloat", "1", "abc");
    R("-ERR increment would produce NaN or Infinity\r\n", "incrbyfloat", "1", "inf");
    R("+OK\r\n", "set", "2", "x");
    R("-ERR value is not a valid float\r\n", "incrbyfloat", "2", "1");
    /* Fixed notation: a number needing more than 128 characters is a value
     * too long for ebb, and nothing changes. */
    R("-ERR value is 201 bytes; the maximum is 128\r\n", "incrbyfloat", "1", "1e200");
    R("$4\r\n5200\r\n", "get", "1");
    R("-ERR value is 129 bytes; the maximum is 128\r\n", "incrbyfloat", "3", "1e128");
    R(":0\r\n", "exists", "3");
}

Test(bitmap, substr_is_getrange)
{
    R("+OK\r\n", "set", "1", "Hello World");
    R("$5\r\nHello\r\n", "substr", "1", "0", "4");
    R("$5\r\nWorld\r\n", "substr", "1", "-5", "-1");
    R("-ERR wrong number of arguments for 'substr' command\r\n", "substr", "1", "0");
}

Test(bitmap, lcs_replies_in_resp2_and_resp3)
{
    R("+OK\r\n", "mset", "1", "ohmytext", "2", "mynewtext");
    R("$6\r\nmytext\r\n", "lcs", "1", "2");
    R(":6\r\n", "lcs", "1", "2", "len");
    R("*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:"
      "3\r\n"
      "*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
      "lcs", "1", "2", "idx");
    R("*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:"
      "6\r\n",
      "lcs", "1", "2", "idx", "minmatchlen", "4", "withmatchlen");
    R("-ERR If you want both the length and indexes, please just use IDX.\r\n", "lcs", "1", "2",
      "len", "idx");
    R("-ERR syntax error\r\n", "lcs", "1", "2", "minmatchlen");
    R("$0\r\n\r\n", "lcs", "1", "9");
    bcli.out.proto = 3;
    R("%2\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n$3\r\nlen\r\n:6\r\n",
      "lcs", "1", "2", "idx", "minmatchlen", "3");
    R("*1\r\n_\r\n", "bitfield", "3", "overflow", "fail", "incrby", "i8", "0", "-129");
}
