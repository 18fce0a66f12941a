/* Unit tests for config.c: defaults, types, limits, files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static config c;
static char err[256];

static void setup(void)
{
    cr_assert(config_init(&c));
}
static void teardown(void)
{
    config_deinit(&c);
}

TestSuite(config, .init = setup, .fini = teardown);

static bool set(const char *name, const char *value, bool runtime)
{
    return config_set(&c, name, strlen(name), value, strlen(value), runtime, err, sizeof err);
}

static const char *get(const char *name)
{
    static char buf[256];
    return config_format(&c, config_find(name, strlen(name)), buf, sizeof buf);
}

Test(config, defaults)
{
    cr_assert_eq(c.port.num, 6379);
    cr_assert_str_eq(c.bind.str, "127.0.0.1");
    cr_assert_str_eq(get("loglevel"), "notice");
    cr_assert_str_eq(get("auto-shrink"), "yes");
    cr_assert_str_eq(get("save"), "");
    cr_assert_str_eq(get("appendonly"), "no");
    cr_assert_eq(c.max_namespaces.num, 64);
    cr_assert_str_eq(get("huge-pages"), "yes");
    cr_assert_eq(CONFIG_OPTION_COUNT, config_option_count);
}

Test(config, integers_and_ranges)
{
    cr_assert(set("port", "7000", false));
    cr_assert_eq(c.port.num, 7000);
    cr_assert_not(set("port", "70000", false));
    cr_assert(strstr(err, "between") != NULL);
    cr_assert_not(set("port", "abc", false));
    cr_assert_not(set("port", "12 ", false));
    cr_assert_not(set("port", "", false));
    cr_assert_eq(c.port.num, 7000, "failed sets leave the value alone");
    cr_assert_not(set("maxclients", "0", true));
}

Test(config, memory_suffixes)
{
    long long v;
    cr_assert(config_parse_memory("100mb", 5, &v));
    cr_assert_eq(v, 100LL * 1024 * 1024);
    cr_assert(config_parse_memory("1GB", 3, &v));
    cr_assert_eq(v, 1024LL * 1024 * 1024);
    cr_assert(config_parse_memory("2k", 2, &v));
    cr_assert_eq(v, 2000);
    cr_assert(config_parse_memory("4096", 4, &v));
    cr_assert_eq(v, 4096);
    cr_assert_not(config_parse_memory("mb", 2, &v));
    cr_assert_not(config_parse_memory("-1mb", 4, &v));
    cr_assert_not(config_parse_memory("99999999999gb", 13, &v));
    cr_assert(set("client-query-buffer-limit", "64mb", true));
    cr_assert_str_eq(get("client-query-buffer-limit"), "67108864");
}

Test(config, bools_enums_fixed)
{
    cr_assert(set("auto-shrink", "NO", true));
    cr_assert_str_eq(get("auto-shrink"), "no");
    cr_assert_not(set("auto-shrink", "maybe", true));
    cr_assert(set("loglevel", "warning", true));
    cr_assert_str_eq(get("loglevel"), "warning");
    cr_assert_not(set("loglevel", "loud", true));
    cr_assert(strstr(err, "debug|verbose|notice|warning") != NULL);
    cr_assert(set("appendonly", "no", true));
    cr_assert_not(set("appendonly", "yes", true));
    cr_assert(set("save", "", true));
    cr_assert_str_eq(get("save"), "");
    /* Save points: pairs, stored canonical. */
    cr_assert(set("save", " 900  1 0300 10 ", true));
    cr_assert_str_eq(get("save"), "900 1 300 10");
    cr_assert_not(set("save", "900", true));
    cr_assert_str_eq(err, "Invalid save parameters");
    cr_assert_not(set("save", "900 x", true));
    cr_assert_not(set("save", "-1 1", true));
    cr_assert_str_eq(get("save"), "900 1 300 10");
    cr_assert(set("dbfilename", "snap.rdb", true));
    cr_assert_str_eq(get("dbfilename"), "snap.rdb");
    cr_assert(set("shutdown-save", "yes", true));
    cr_assert_str_eq(get("shutdown-save"), "yes");
}

Test(config, immutable_at_runtime_and_unknown)
{
    cr_assert_not(set("port", "7000", true));
    cr_assert_str_eq(err, "can't set immutable config");
    cr_assert(set("port", "7000", false));
    cr_assert_not(set("nosuch", "1", false));
    cr_assert_not_null(config_find("MaxClients", 10));
}

Test(config, text_file_syntax)
{
    const char *text = "# a comment\n"
                       "\n"
                       "   port 7001\r\n"
                       "bind 127.0.0.1 ::1\n"
                       "logfile \"/tmp/ebb log.txt\"\n"
                       "maxclients 50 # not a comment: an error\n";
    cr_assert_not(config_load_text(&c, text, strlen(text), err, sizeof err));
    cr_assert(strstr(err, "line 6") != NULL, "%s", err);
    cr_assert_eq(c.port.num, 7001);
    cr_assert_str_eq(c.bind.str, "127.0.0.1 ::1");
    cr_assert_str_eq(c.logfile.str, "/tmp/ebb log.txt");

    const char *good = "maxclients 50\nmax-namespaces 3";
    cr_assert(config_load_text(&c, good, strlen(good), err, sizeof err), "%s", err);
    cr_assert_eq(c.maxclients.num, 50);
    cr_assert_eq(c.max_namespaces.num, 3);

    const char *bad[] = {"nosuch 1\n", "port\n", "port \"unterminated\n", "port 1 2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(config_load_text(&c, bad[i], strlen(bad[i]), err, sizeof err),
                      "'%s' should fail", bad[i]);
}

Test(config, file_errors)
{
    cr_assert_not(config_load_file(&c, "/nonexistent/ebb.conf", err, sizeof err));
    cr_assert(strstr(err, "can't open") != NULL);
    char path[] = "/tmp/ebb-test-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("port 7100\nloglevel debug\n", f);
    fclose(f);
    cr_assert(config_load_file(&c, path, err, sizeof err), "%s", err);
    cr_assert_eq(c.port.num, 7100);
    cr_assert_str_eq(get("loglevel"), "debug");
    remove(path);
}

/* A fake environment for config_load_env: NAME=value pairs. */
static const char *const *fake_env;

static const char *fake_lookup(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = fake_env; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

Test(config, env_names)
{
    char var[64];
    cr_assert_str_eq(config_env_name(config_find("port", 4), var, sizeof var), "EBB_PORT");
    cr_assert_str_eq(config_env_name(config_find("maxmemory-policy", 16), var, sizeof var),
                     "EBB_MAXMEMORY_POLICY");
    cr_assert_str_eq(
        config_env_name(config_find("client-output-buffer-limit", 26), var, sizeof var),
        "EBB_CLIENT_OUTPUT_BUFFER_LIMIT");
}

Test(config, env_sets_present_options_only)
{
    static const char *const env[] = {"EBB_PORT=7200",
                                      "EBB_MAXMEMORY=64mb",
                                      "EBB_MAXMEMORY_POLICY=allkeys-lru",
                                      "EBB_BIND=0.0.0.0",
                                      "EBB_REQUIREPASS=",
                                      "PORT=1",
                                      "ebb_loglevel=debug",
                                      NULL};
    cr_assert(set("requirepass", "old", false));
    fake_env = env;
    cr_assert(config_load_env(&c, fake_lookup, err, sizeof err), "%s", err);
    cr_assert_eq(c.port.num, 7200);
    cr_assert_eq(c.maxmemory.num, 64LL << 20);
    cr_assert_str_eq(get("maxmemory-policy"), "allkeys-lru");
    cr_assert_str_eq(c.bind.str, "0.0.0.0");
    cr_assert_str_eq(c.requirepass.str, "", "an empty variable clears the option");
    cr_assert_str_eq(get("loglevel"), "notice", "names are upper case only");
    cr_assert_eq(c.metrics_port.num, 0);
}

Test(config, env_invalid_value_names_the_variable)
{
    static const char *const env[] = {"EBB_TIMEOUT=5", "EBB_PORT=99999", NULL};
    fake_env = env;
    cr_assert_not(config_load_env(&c, fake_lookup, err, sizeof err));
    cr_assert(strstr(err, "EBB_PORT") != NULL && strstr(err, "99999") != NULL, "%s", err);
    cr_assert_eq(c.port.num, 6379, "the invalid value is not applied");
}

Test(config, next_word_splits_lists)
{
    char w[8];
    const char *p = "  127.0.0.1 ::1  x ";
    cr_assert_eq(config_next_word(&p, w, sizeof w), -1, "127.0.0.1 does not fit in 8 bytes");
    char big[32];
    cr_assert_eq(config_next_word(&p, big, sizeof big), 9);
    cr_assert_str_eq(big, "127.0.0.1");
    cr_assert_eq(config_next_word(&p, w, sizeof w), 3);
    cr_assert_str_eq(w, "::1");
    cr_assert_eq(config_next_word(&p, w, sizeof w), 1);
    cr_assert_str_eq(w, "x");
    cr_assert_eq(config_next_word(&p, w, sizeof w), 0);
    cr_assert_eq(config_next_word(&p, w, sizeof w), 0, "stays at the end");
}
