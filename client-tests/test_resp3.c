/*
 * test_resp3.c - a RESP3 session over a raw socket (the Debian hiredis 0.14
 * speaks only RESP2): HELLO 3, then every reply type byte for byte, then
 * HELLO 2 back to RESP2.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h" /* the option list only: no server code is linked */
#include "harness.h"

TestSuite(resp3, .init = h_setup, .fini = h_teardown, .timeout = 120);

static void send_words(h_raw *r, const char *line)
{
    /* Split a simple space-separated line into a multibulk command. */
    char copy[512];
    snprintf(copy, sizeof copy, "%s", line);
    const char *argv[32];
    int argc = 0;
    for (char *t = strtok(copy, " "); t != NULL && argc < 32; t = strtok(NULL, " "))
        argv[argc++] = t;
    h_raw_cmd(r, argc, argv);
}

/* Read one reply and require it to be exactly `want`. */
#define EXPECT_R3(r, want)                                                                         \
    do {                                                                                           \
        size_t n_;                                                                                 \
        char *got_ = RAW_REPLY(r, &n_);                                                            \
        cr_assert(n_ == sizeof(want) - 1 && memcmp(got_, want, n_) == 0,                           \
                  "expected \"%s\", got \"%s\"", h_esc(want, sizeof(want) - 1), h_esc(got_, n_));  \
        free(got_);                                                                                \
    } while (0)

static void hello3(h_raw *r, long long *id_out)
{
    send_words(r, "HELLO 3");
    size_t n;
    char *rep = RAW_REPLY(r, &n);
    /* A map of 7 pairs, in Redis's order. */
    const char *head = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n";
    cr_assert(strncmp(rep, head, strlen(head)) == 0, "HELLO 3: %s", h_esc(rep, n));
    char *p = strstr(rep, "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:");
    cr_assert(p != NULL, "HELLO 3 proto/id: %s", h_esc(rep, n));
    long long id = atoll(p + strlen("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"));
    cr_assert(id > 0);
    const char *tail = "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                       "$7\r\nmodules\r\n*0\r\n";
    cr_assert(n > strlen(tail) && strcmp(rep + n - strlen(tail), tail) == 0, "HELLO 3 tail: %s",
              h_esc(rep, n));
    free(rep);
    if (id_out != NULL)
        *id_out = id;
}

ITEST(resp3, session_byte_for_byte)
{
    h_raw *r = h_raw_open();
    long long id;
    hello3(r, &id);
    char line[256];

    /* Nulls. */
    snprintf(line, sizeof line, "GET %s", K("1"));
    send_words(r, line);
    EXPECT_R3(r, "_\r\n");
    send_words(r, "CLIENT GETNAME");
    EXPECT_R3(r, "_\r\n");
    /* Plain types are unchanged. */
    snprintf(line, sizeof line, "SET %s v", K("1"));
    send_words(r, line);
    EXPECT_R3(r, "+OK\r\n");
    snprintf(line, sizeof line, "GET %s", K("1"));
    send_words(r, line);
    EXPECT_R3(r, "$1\r\nv\r\n");
    snprintf(line, sizeof line, "INCR %s", K("2"));
    send_words(r, line);
    EXPECT_R3(r, ":1\r\n");
    /* MGET with a missing key: an array holding a RESP3 null. */
    snprintf(line, sizeof line, "MGET %s %s", K("1"), K("3"));
    send_words(r, line);
    EXPECT_R3(r, "*2\r\n$1\r\nv\r\n_\r\n");
    /* SET ... NX that did not set, SET GET of nothing. */
    snprintf(line, sizeof line, "SET %s w NX", K("1"));
    send_words(r, line);
    EXPECT_R3(r, "_\r\n");
    /* Errors are the same as in RESP2. */
    send_words(r, "GET");
    EXPECT_R3(r, "-ERR wrong number of arguments for 'get' command\r\n");
    send_words(r, "HELLO 4");
    EXPECT_R3(r, "-NOPROTO unsupported protocol version\r\n");
    /* COMMAND INFO: flags and ACL categories are sets; unknown is a null. */
    send_words(r, "COMMAND INFO get nosuch");
    {
        size_t n;
        char *rep = RAW_REPLY(r, &n);
        const char *head = "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n"
                           ":1\r\n:1\r\n:1\r\n~";
        cr_assert(strncmp(rep, head, strlen(head)) == 0, "COMMAND INFO: %s", h_esc(rep, n));
        cr_assert(n > 3 && strcmp(rep + n - 3, "_\r\n") == 0, "COMMAND INFO: %s", h_esc(rep, n));
        free(rep);
    }
    /* COMMAND DOCS: a map. */
    send_words(r, "COMMAND DOCS get");
    EXPECT_R3(
        r, "%1\r\n$3\r\nget\r\n%4\r\n$7\r\nsummary\r\n$27\r\nReturns the value of a key."
           "\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n"
           "$9\r\narguments\r\n*1\r\n%2\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n");
    /* TIME stays an array of two bulks. */
    send_words(r, "TIME");
    size_t n;
    char *rep = RAW_REPLY(r, &n);
    cr_assert(strncmp(rep, "*2\r\n$", 5) == 0, "%s", h_esc(rep, n));
    free(rep);
    h_raw_close(r);
}

ITEST(resp3, config_get_is_a_map)
{
    h_raw *r = h_raw_open();
    hello3(r, NULL);
    send_words(r, "CONFIG GET appendonly");
    EXPECT_R3(r, "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    send_words(r, "CONFIG GET save");
    EXPECT_R3(r, "%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
    send_words(r, "CONFIG GET nosuch");
    EXPECT_R3(r, "%0\r\n");
    send_words(r, "CONFIG GET *");
    size_t n;
    char *rep = RAW_REPLY(r, &n);
    char head[16];
    /* The options and the one alias, lua-time-limit. */
    int hl = snprintf(head, sizeof head, "%%%d\r\n", (int)CONFIG_OPTION_COUNT + 1);
    cr_assert(strncmp(rep, head, (size_t)hl) == 0, "%s", h_esc(rep, n));
    free(rep);
    h_raw_close(r);
}

ITEST(resp3, info_and_client_are_verbatim)
{
    h_raw *r = h_raw_open();
    hello3(r, NULL);
    const char *cmds[] = {"INFO", "INFO keyspace", "CLIENT INFO", "CLIENT LIST"};
    for (size_t i = 0; i < 4; i++) {
        send_words(r, cmds[i]);
        size_t n;
        char *rep = RAW_REPLY(r, &n);
        cr_assert(rep[0] == '=', "%s: %s", cmds[i], h_esc(rep, n < 80 ? n : 80));
        long long len = atoll(rep + 1);
        char *body = strstr(rep, "\r\n") + 2;
        cr_assert(strncmp(body, "txt:", 4) == 0, "%s: %s", cmds[i], h_esc(rep, 40));
        /* The length counts "txt:" and the text, and CRLF follows. */
        cr_assert_eq((size_t)(body - rep) + (size_t)len + 2, n);
        cr_assert(rep[n - 2] == '\r' && rep[n - 1] == '\n');
        if (i == 0)
            cr_assert(strncmp(body, "txt:# Server\r\n", 14) == 0);
        if (i == 2)
            cr_assert(strstr(body, " resp=3") != NULL, "%s", body);
        free(rep);
    }
    h_raw_close(r);
}

ITEST(resp3, hello_2_switches_back)
{
    h_raw *r = h_raw_open();
    hello3(r, NULL);
    char line[256];
    snprintf(line, sizeof line, "GET %s", K("1"));
    send_words(r, line);
    EXPECT_R3(r, "_\r\n");
    send_words(r, "HELLO 2");
    size_t n;
    char *rep = RAW_REPLY(r, &n);
    cr_assert(strncmp(rep, "*14\r\n$6\r\nserver\r\n", 17) == 0, "%s", h_esc(rep, n));
    cr_assert(strstr(rep, "$5\r\nproto\r\n:2\r\n") != NULL, "%s", h_esc(rep, n));
    free(rep);
    send_words(r, line);
    EXPECT_R3(r, "$-1\r\n");
    send_words(r, "CONFIG GET appendonly");
    EXPECT_R3(r, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    /* Redis 7 answers an unknown name with a null bulk in RESP2. */
    send_words(r, "COMMAND INFO nosuch");
    EXPECT_R3(r, "*1\r\n$-1\r\n");
    send_words(r, "CLIENT GETNAME");
    EXPECT_R3(r, "$-1\r\n");
    /* A failed HELLO 3 SETNAME leaves the protocol as it was. */
    send_words(r, "HELLO 3 SETNAME");
    rep = RAW_REPLY(r, &n);
    cr_assert(rep[0] == '-', "%s", h_esc(rep, n));
    free(rep);
    send_words(r, line);
    EXPECT_R3(r, "$-1\r\n");
    /* HELLO 3 SETNAME sets the name and switches. */
    send_words(r, "HELLO 3 SETNAME r3");
    rep = RAW_REPLY(r, &n);
    cr_assert(rep[0] == '%', "%s", h_esc(rep, n));
    free(rep);
    send_words(r, "CLIENT GETNAME");
    EXPECT_R3(r, "$2\r\nr3\r\n");
    h_raw_close(r);
}

ITEST(resp3, protocol_is_per_connection)
{
    h_raw *a = h_raw_open(), *b = h_raw_open();
    hello3(a, NULL);
    char line[256];
    snprintf(line, sizeof line, "GET %s", K("9"));
    send_words(b, line);
    EXPECT_R3(b, "$-1\r\n");
    send_words(a, line);
    EXPECT_R3(a, "_\r\n");
    h_raw_close(a);
    h_raw_close(b);
}
