#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resp.h"

const config_option config_options[] = {
#define CFG_WORD(id, word) word,
#define CFG_ROW(field, name, type, def, min, max, flags, words, desc)                              \
    {name,                                                                                         \
     type,                                                                                         \
     def,                                                                                          \
     min,                                                                                          \
     max,                                                                                          \
     flags,                                                                                        \
     (const char *const[]){words(CFG_WORD) NULL},                                                  \
     desc,                                                                                         \
     offsetof(config, field)},
    CONFIG_OPTIONS(CFG_ROW)
#undef CFG_ROW
#undef CFG_WORD
};
const size_t config_option_count = sizeof config_options / sizeof config_options[0];

static config_value *slot(config *c, const config_option *o)
{
    return (config_value *)((char *)c + o->offset);
}

static const config_value *cslot(const config *c, const config_option *o)
{
    return (const config_value *)((const char *)c + o->offset);
}

bool config_init(config *c)
{
    memset(c, 0, sizeof *c);
    char err[128];
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option *o = &config_options[i];
        if (!config_set(c, o->name, strlen(o->name), o->def, strlen(o->def), false, err,
                        sizeof err)) {
            config_deinit(c);
            return false;
        }
        slot(c, o)->user = false;
    }
    return true;
}

void config_deinit(config *c)
{
    for (size_t i = 0; i < config_option_count; i++) {
        config_value *v = slot(c, &config_options[i]);
        free(v->str);
        v->str = NULL;
    }
}

const config_alias config_aliases[] = {{"lua-time-limit", "busy-reply-threshold"}};
const size_t config_alias_count = sizeof config_aliases / sizeof config_aliases[0];

const config_option *config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < config_alias_count; i++)
        if (strlen(config_aliases[i].alias) == len &&
            strncasecmp(config_aliases[i].alias, name, len) == 0) {
            name = config_aliases[i].name;
            len = strlen(name);
        }
    for (size_t i = 0; i < config_option_count; i++) {
        const char *n = config_options[i].name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0)
            return &config_options[i];
    }
    return NULL;
}

/* Strict decimal integer: optional '-', digits, no spaces, no overflow. */
static bool parse_ll(const char *s, size_t len, long long *out)
{
    if (len == 0 || len > 20)
        return false;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || buf[0] == '+' || buf[0] == ' ')
        return false;
    *out = v;
    return true;
}

bool config_parse_memory(const char *s, size_t len, long long *out)
{
    static const struct {
        const char *suffix;
        long long mul;
    } units[] = {
        {"gb", 1024LL * 1024 * 1024},
        {"mb", 1024LL * 1024},
        {"kb", 1024},
        {"g", 1000LL * 1000 * 1000},
        {"m", 1000LL * 1000},
        {"k", 1000},
        {"b", 1},
    };
    long long mul = 1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t sl = strlen(units[i].suffix);
        if (len > sl && strncasecmp(s + len - sl, units[i].suffix, sl) == 0) {
            mul = units[i].mul;
            len -= sl;
            break;
        }
    }
    long long v;
    if (!parse_ll(s, len, &v) || v < 0 || (mul > 1 && v > LLONG_MAX / mul))
        return false;
    *out = v * mul;
    return true;
}

bool config_parse_save(const char *text, long long secs[], long long changes[], size_t *n)
{
    *n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return true;
        char a[32], b[32];
        int used = 0;
        long long s, c;
        if (*n == CONFIG_SAVE_MAX || sscanf(p, "%31s %31s%n", a, b, &used) != 2 ||
            !parse_ll(a, strlen(a), &s) || !parse_ll(b, strlen(b), &c) || s < 0 || c < 0)
            return false;
        secs[*n] = s;
        changes[*n] = c;
        (*n)++;
        p += used;
    }
}

static const char *const obl_class_names[CONFIG_OBL_CLASSES] = {"normal", "slave", "pubsub"};

bool config_parse_obl(const char *text, config_obl out[CONFIG_OBL_CLASSES])
{
    config_obl next[CONFIG_OBL_CLASSES];
    memcpy(next, out, sizeof next);
    const char *p = text;
    int groups = 0;
    for (;;) {
        char cls[16], hard[32], soft[32], secs[32];
        int used = 0;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (sscanf(p, "%15s %31s %31s %31s%n", cls, hard, soft, secs, &used) != 4)
            return false;
        p += used;
        long long h, sf, sec;
        if (!config_parse_memory(hard, strlen(hard), &h) ||
            !config_parse_memory(soft, strlen(soft), &sf) || !parse_ll(secs, strlen(secs), &sec) ||
            sec < 0)
            return false;
        int k;
        if (strcasecmp(cls, "normal") == 0)
            k = CONFIG_OBL_NORMAL;
        else if (strcasecmp(cls, "replica") == 0 || strcasecmp(cls, "slave") == 0)
            k = CONFIG_OBL_REPLICA;
        else if (strcasecmp(cls, "pubsub") == 0)
            k = CONFIG_OBL_PUBSUB;
        else
            return false;
        next[k] = (config_obl){h, sf, sec};
        groups++;
    }
    if (groups == 0)
        return false;
    memcpy(out, next, sizeof next);
    return true;
}

const char *config_format_obl(const config_obl out[CONFIG_OBL_CLASSES], char *dst, size_t dstlen)
{
    size_t w = 0;
    dst[0] = '\0';
    for (int k = 0; k < CONFIG_OBL_CLASSES && w < dstlen; k++) {
        int n = snprintf(dst + w, dstlen - w, "%s%s %lld %lld %lld", k > 0 ? " " : "",
                         obl_class_names[k], out[k].hard, out[k].soft, out[k].secs);
        if (n < 0)
            break;
        w += (size_t)n;
    }
    return dst;
}

/* Namespace characters, as db.c accepts them. */
static bool ns_name_char(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '.' || ch == '-';
}

bool config_parse_ns_quotas(const char *text, size_t len, config_ns_quota **out, size_t *n,
                            char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    config_ns_quota *q = NULL;
    size_t count = 0, cap = 0;
    size_t i = 0;
    for (;;) {
        /* The next two words: a name and its bytes. */
        const char *w[2];
        size_t wl[2];
        int got = 0;
        for (; got < 2; got++) {
            while (i < len && (text[i] == ' ' || text[i] == '\t'))
                i++;
            if (i == len)
                break;
            w[got] = text + i;
            while (i < len && text[i] != ' ' && text[i] != '\t')
                i++;
            wl[got] = (size_t)(text + i - w[got]);
        }
        if (got == 0)
            break;
        if (got == 1) {
            snprintf(err, errlen, "namespace '%.*s' has no size: give <namespace> <bytes> pairs",
                     (int)(wl[0] > 64 ? 64 : wl[0]), w[0]);
            goto fail;
        }
        bool dflt =
            wl[0] == strlen(CONFIG_NS_DEFAULT) && memcmp(w[0], CONFIG_NS_DEFAULT, wl[0]) == 0;
        bool valid = dflt || (wl[0] >= 1 && wl[0] <= CONFIG_NS_NAME_MAX);
        for (size_t k = 0; valid && !dflt && k < wl[0]; k++)
            valid = ns_name_char((unsigned char)w[0][k]);
        if (!valid) {
            snprintf(err, errlen,
                     "'%.*s' is not a namespace: 1 to %d of [A-Za-z0-9_.-], or " CONFIG_NS_DEFAULT
                     " for the default one",
                     (int)(wl[0] > 64 ? 64 : wl[0]), w[0], CONFIG_NS_NAME_MAX);
            goto fail;
        }
        long long bytes;
        if (!config_parse_memory(w[1], wl[1], &bytes)) {
            snprintf(err, errlen, "'%.*s' (for namespace '%.*s') is not a memory value",
                     (int)(wl[1] > 64 ? 64 : wl[1]), w[1], (int)wl[0], w[0]);
            goto fail;
        }
        size_t nl = dflt ? 0 : wl[0];
        for (size_t k = 0; k < count; k++)
            if (q[k].len == nl && memcmp(q[k].name, w[0], nl) == 0) {
                snprintf(err, errlen, "namespace '%.*s' is given twice", (int)wl[0], w[0]);
                goto fail;
            }
        /* A name with 0 is remembered (a later duplicate is still an
         * error) and dropped at the end. */
        if (count == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            config_ns_quota *nq = realloc(q, ncap * sizeof *nq);
            if (nq == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            q = nq;
            cap = ncap;
        }
        memset(&q[count], 0, sizeof q[count]);
        memcpy(q[count].name, w[0], nl);
        q[count].len = (unsigned char)nl;
        q[count].bytes = bytes;
        count++;
    }
    size_t kept = 0;
    for (size_t k = 0; k < count; k++)
        if (q[k].bytes != 0)
            q[kept++] = q[k];
    if (kept == 0) {
        free(q);
        q = NULL;
    }
    *out = q;
    *n = kept;
    return true;
fail:
    free(q);
    return false;
}

/* The canonical text of a namespace-maxmemory list: `name bytes` pairs in
 * the order given, bytes in decimal, pairs of 0 left out. malloc'd; NULL on
 * failure (err set). */
static char *ns_quotas_canonical(const char *value, size_t len, char *err, size_t errlen)
{
    config_ns_quota *q;
    size_t n;
    if (!config_parse_ns_quotas(value, len, &q, &n, err, errlen))
        return NULL;
    size_t cap = n * (CONFIG_NS_NAME_MAX + 24) + 1, used = 0;
    char *text = malloc(cap);
    if (text == NULL) {
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    text[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s%s %lld", i > 0 ? " " : "",
                                 q[i].len > 0 ? q[i].name : CONFIG_NS_DEFAULT, q[i].bytes);
    free(q);
    return text;
}

int config_enum_index(const config_option *o, const char *word, size_t len)
{
    for (int i = 0; o->words[i] != NULL; i++)
        if (strlen(o->words[i]) == len && strncasecmp(o->words[i], word, len) == 0)
            return i;
    return -1;
}

const char *config_words(const config_option *o, char *dst, size_t dstlen)
{
    size_t n = 0;
    dst[0] = '\0';
    for (size_t i = 0; o->words[i] != NULL && n < dstlen; i++) {
        int w = snprintf(dst + n, dstlen - n, "%s%s", i > 0 ? "|" : "", o->words[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return dst;
}

static void enum_name(const config_option *o, long long idx, char *dst, size_t dstlen)
{
    for (long long i = 0; o->words[i] != NULL; i++) {
        if (i == idx) {
            snprintf(dst, dstlen, "%s", o->words[i]);
            return;
        }
    }
    snprintf(dst, dstlen, "?");
}

bool config_set(config *c, const char *name, size_t namelen, const char *value, size_t valuelen,
                bool runtime, char *err, size_t errlen)
{
    const config_option *o = config_find(name, namelen);
    if (o == NULL) {
        snprintf(err, errlen, "unknown option");
        return false;
    }
    if (runtime && !(o->flags & CFG_RUNTIME)) {
        snprintf(err, errlen, "can't set immutable config");
        return false;
    }
    config_value *v = slot(c, o);
    long long num = 0;
    switch (o->type) {
    case CFG_INT:
        if (!parse_ll(value, valuelen, &num)) {
            snprintf(err, errlen, "argument couldn't be parsed into an integer");
            return false;
        }
        break;
    case CFG_MEM:
        if (!config_parse_memory(value, valuelen, &num)) {
            snprintf(err, errlen, "argument must be a memory value");
            return false;
        }
        break;
    case CFG_LIMIT:
        if (valuelen == 4 && strncasecmp(value, "auto", 4) == 0) {
            num = CFG_LIMIT_AUTO;
        } else if (valuelen >= 1 && value[valuelen - 1] == '%') {
            long long p;
            if (!parse_ll(value, valuelen - 1, &p) || p < 1 || p > 100) {
                snprintf(err, errlen, "argument must be a percentage from 1%% to 100%%");
                return false;
            }
            num = CFG_LIMIT_PERCENT(p);
        } else if (!config_parse_memory(value, valuelen, &num)) {
            snprintf(err, errlen, "argument must be a memory value");
            return false;
        } else if (num < o->min || num > o->max) {
            snprintf(err, errlen, "argument must be between %lld and %lld inclusive", o->min,
                     o->max);
            return false;
        }
        v->num = num;
        v->user = true;
        return true;
    case CFG_BOOL:
        if (valuelen == 3 && strncasecmp(value, "yes", 3) == 0)
            num = 1;
        else if (valuelen == 2 && strncasecmp(value, "no", 2) == 0)
            num = 0;
        else {
            snprintf(err, errlen, "argument must be 'yes' or 'no'");
            return false;
        }
        break;
    case CFG_ENUM:
        num = config_enum_index(o, value, valuelen);
        if (num < 0) {
            char words[256];
            snprintf(err, errlen, "argument(s) must be one of the following: %s",
                     config_words(o, words, sizeof words));
            return false;
        }
        break;
    case CFG_OBL: {
        /* Redis's semantics: the classes named are set, the others stay. */
        char buf[512];
        config_obl lim[CONFIG_OBL_CLASSES] = {{0, 0, 0}};
        if (valuelen >= sizeof buf) {
            snprintf(err, errlen, "argument too long");
            return false;
        }
        if (v->str != NULL && !config_parse_obl(v->str, lim))
            memset(lim, 0, sizeof lim);
        memcpy(buf, value, valuelen);
        buf[valuelen] = '\0';
        if (!config_parse_obl(buf, lim)) {
            snprintf(err, errlen,
                     "argument must be groups of <normal|replica|pubsub> <hard> "
                     "<soft> <soft-seconds>");
            return false;
        }
        char *text = strdup(config_format_obl(lim, buf, sizeof buf));
        if (text == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        free(v->str);
        v->str = text;
        v->user = true;
        return true;
    }
    case CFG_SAVE: {
        char buf[512];
        long long secs[CONFIG_SAVE_MAX], changes[CONFIG_SAVE_MAX];
        size_t n;
        if (valuelen >= sizeof buf) {
            snprintf(err, errlen, "argument too long");
            return false;
        }
        memcpy(buf, value, valuelen);
        buf[valuelen] = '\0';
        if (!config_parse_save(buf, secs, changes, &n)) {
            snprintf(err, errlen, "Invalid save parameters");
            return false;
        }
        /* Stored canonical: the numbers as decimals, single spaces. */
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            w += (size_t)snprintf(buf + w, sizeof buf - w, "%s%lld %lld", i > 0 ? " " : "", secs[i],
                                  changes[i]);
        buf[w] = '\0';
        char *text = strdup(buf);
        if (text == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        free(v->str);
        v->str = text;
        v->user = true;
        return true;
    }
    case CFG_NSMEM: {
        char *text = ns_quotas_canonical(value, valuelen, err, errlen);
        if (text == NULL)
            return false;
        free(v->str);
        v->str = text;
        v->user = true;
        return true;
    }
    case CFG_FIXED:
        if (valuelen != strlen(o->def) || strncasecmp(value, o->def, valuelen) != 0) {
            snprintf(err, errlen, "ebb keeps no data on disk; only '%s' is accepted", o->def);
            return false;
        }
        __attribute__((fallthrough)); /* stored as text, like CFG_STR */
    case CFG_STR: {
        char *s = malloc(valuelen + 1);
        if (s == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        memcpy(s, value, valuelen);
        s[valuelen] = '\0';
        free(v->str);
        v->str = s;
        v->user = true;
        return true;
    }
    }
    if ((o->type == CFG_INT || o->type == CFG_MEM) && (num < o->min || num > o->max)) {
        snprintf(err, errlen, "argument must be between %lld and %lld inclusive", o->min, o->max);
        return false;
    }
    v->num = num;
    v->user = true;
    return true;
}

const char *config_format(const config *c, const config_option *o, char *dst, size_t dstlen)
{
    const config_value *v = cslot(c, o);
    switch (o->type) {
    case CFG_INT:
    case CFG_MEM:
        snprintf(dst, dstlen, "%lld", v->num);
        break;
    case CFG_LIMIT:
        if (v->num == CFG_LIMIT_AUTO)
            snprintf(dst, dstlen, "auto");
        else if (config_limit_percent(v->num) != 0)
            snprintf(dst, dstlen, "%d%%", config_limit_percent(v->num));
        else
            snprintf(dst, dstlen, "%lld", v->num);
        break;
    case CFG_BOOL:
        snprintf(dst, dstlen, "%s", v->num ? "yes" : "no");
        break;
    case CFG_ENUM:
        enum_name(o, v->num, dst, dstlen);
        break;
    case CFG_STR:
    case CFG_FIXED:
    case CFG_OBL:
    case CFG_NSMEM:
    case CFG_SAVE:
        snprintf(dst, dstlen, "%s", v->str != NULL ? v->str : "");
        break;
    }
    return dst;
}

/* Join argv[1..argc) with single spaces into dst. */
static size_t join_args(const resp_view *argv, size_t argc, char *dst, size_t cap)
{
    size_t n = 0;
    for (size_t i = 1; i < argc; i++) {
        if (i > 1 && n < cap)
            dst[n++] = ' ';
        size_t k = argv[i].len < cap - n ? argv[i].len : cap - n;
        memcpy(dst + n, argv[i].ptr, k);
        n += k;
    }
    return n;
}

bool config_load_text(config *c, const char *text, size_t len, char *err, size_t errlen)
{
    enum { MAX_WORDS = 64 };
    static char scratch[RESP_INLINE_MAX];
    static char line[RESP_INLINE_MAX + 1];
    static char joined[RESP_INLINE_MAX];
    resp_view argv[MAX_WORDS];
    size_t lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        if (ll >= RESP_INLINE_MAX) {
            snprintf(err, errlen, "line %zu: line too long", lineno);
            return false;
        }
        memcpy(line, text + pos, ll);
        pos += ll + (nl != NULL);
        /* Skip leading blanks; comments and blank lines carry nothing. */
        size_t s = 0;
        while (s < ll && (line[s] == ' ' || line[s] == '\t' || line[s] == '\r'))
            s++;
        if (s == ll || line[s] == '#')
            continue;
        /* A '*' would be read as a multibulk frame; no option starts with one. */
        if (line[s] == '*') {
            snprintf(err, errlen, "line %zu: bad directive or wrong number of arguments", lineno);
            return false;
        }
        line[ll] = '\n';
        resp_request req = {.argv = argv, .argv_cap = MAX_WORDS, .scratch = scratch};
        resp_status st = resp_read(line + s, ll - s + 1, &req);
        if (st == RESP_ARGV_SMALL) {
            snprintf(err, errlen, "line %zu: too many arguments", lineno);
            return false;
        }
        if (st != RESP_OK) {
            char why[128];
            snprintf(err, errlen, "line %zu: %s", lineno,
                     st == RESP_INCOMPLETE ? "incomplete line"
                                           : resp_strerror(st, &req, why, sizeof why));
            return false;
        }
        if (req.argc == 0)
            continue;
        if (req.argc < 2) {
            snprintf(err, errlen, "line %zu: '%.*s' needs a value", lineno, (int)argv[0].len,
                     argv[0].ptr);
            return false;
        }
        size_t jl = join_args(argv, req.argc, joined, sizeof joined);
        char why[160];
        if (!config_set(c, argv[0].ptr, argv[0].len, joined, jl, false, why, sizeof why)) {
            snprintf(err, errlen, "line %zu: '%.*s': %s", lineno, (int)argv[0].len, argv[0].ptr,
                     why);
            return false;
        }
    }
    return true;
}

bool config_load_file(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "can't open config file '%s': %s", path, strerror(errno));
        return false;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            size_t ncap = (len + n) * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading '%s'", path);
                return false;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    bool ferr = ferror(f);
    fclose(f);
    if (ferr) {
        free(buf);
        snprintf(err, errlen, "can't read config file '%s'", path);
        return false;
    }
    char why[256];
    bool ok = config_load_text(c, buf != NULL ? buf : "", len, why, sizeof why);
    free(buf);
    if (!ok)
        snprintf(err, errlen, "%s: %s", path, why);
    return ok;
}

const char *config_env_name(const config_option *o, char *dst, size_t dstlen)
{
    size_t n = (size_t)snprintf(dst, dstlen, CONFIG_ENV_PREFIX "%s", o->name);
    if (n >= dstlen)
        n = dstlen - 1;
    for (size_t i = sizeof CONFIG_ENV_PREFIX - 1; i < n; i++)
        dst[i] = dst[i] == '-' ? '_' : (char)toupper((unsigned char)dst[i]);
    return dst;
}

bool config_load_env(config *c, const char *(*lookup)(const char *name), char *err, size_t errlen)
{
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option *o = &config_options[i];
        char var[64], why[256];
        config_env_name(o, var, sizeof var);
        const char *value = lookup(var);
        if (value == NULL)
            continue;
        if (!config_set(c, o->name, strlen(o->name), value, strlen(value), false, why,
                        sizeof why)) {
            snprintf(err, errlen, "%s: invalid value '%s': %s", var, value, why);
            return false;
        }
    }
    return true;
}

int config_next_word(const char **p, char *word, size_t cap)
{
    const char *q = *p;
    while (*q == ' ')
        q++;
    size_t n = strcspn(q, " ");
    if (n >= cap)
        return -1;
    memcpy(word, q, n);
    word[n] = '\0';
    *p = q + n;
    return (int)n;
}
