/*
 * memlimit.c - maxmemory from the cgroup, and the OOM guard (see
 * memlimit.h).
 */
#include "memlimit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evict.h"
#include "log.h"

/* Limits at or past this mean none: cgroup v1 writes "unlimited" as the
 * largest page-aligned 63-bit value (9223372036854771712). */
#define MEMLIMIT_UNLIMITED (1ull << 62)
#define MIB (1024ull * 1024ull)
/* How often the cgroup is read again. */
#define MEMLIMIT_REREAD_US 1000000
/* Keys the guard evicts per cron tick at most (about 1 ms of work). */
#define MEMLIMIT_GUARD_EVICT_MAX 2000u
/* A client is closed by the guard only when it holds at least this much
 * buffer memory: closing small ones would not bring RSS back. */
#define MEMLIMIT_GUARD_CLIENT_MIN (1u * 1024u * 1024u)

struct cmd_memlimit {
    memlimit_source source;
    uint64_t cgroup_limit;
    memlimit_source cgroup_source;
    uint64_t headroom;
    int64_t next_read_us;
    uint64_t guard_evictions, guard_client_closes;
};

const char *memlimit_source_name(memlimit_source src)
{
    switch (src) {
    case MEMLIMIT_CONFIG:
        return "config";
    case MEMLIMIT_CGROUP_V1:
        return "cgroup-v1";
    case MEMLIMIT_CGROUP_V2:
        return "cgroup-v2";
    case MEMLIMIT_NONE:
        break;
    }
    return "none";
}

/* ---- Reading the cgroup ------------------------------------------------------------ */

/* root + path into buf (NUL-terminated); false if it cannot be read. */
static bool read_text(const char *root, const char *path, char *buf, size_t cap)
{
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s%s", root, path) >= sizeof full)
        return false;
    FILE *f = fopen(full, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return true;
}

/* A limit file's value: bytes, or 0 for "max" / unlimited / unreadable. */
static uint64_t limit_value(const char *text)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || v >= MEMLIMIT_UNLIMITED)
        return 0;
    return (uint64_t)v;
}

/* The lowest limit in `files` from mount+rel up to mount (0: none).
 * *found: some file existed (the controller is there). */
static uint64_t lowest_up(const char *root, const char *mount, const char *rel,
                          const char *const *files, size_t nfiles, bool *found)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel) >=
        sizeof dir)
        return 0;
    size_t base = strlen(mount);
    uint64_t best = 0;
    *found = false;
    for (;;) {
        for (size_t i = 0; i < nfiles; i++) {
            char path[PATH_MAX + 64], text[64];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            if (!read_text(root, path, text, sizeof text))
                continue;
            *found = true;
            uint64_t v = limit_value(text);
            if (v != 0 && (best == 0 || v < best))
                best = v;
        }
        if (strlen(dir) <= base)
            return best;
        char *slash = strrchr(dir, '/');
        if (slash == NULL || (size_t)(slash - dir) < base)
            dir[base] = '\0';
        else
            *slash = '\0';
    }
}

/* The mount point of a cgroup hierarchy and the part of it mounted there
 * (mountinfo's fields 5 and 4), for cgroup2 (v2) or the v1 hierarchy with
 * the memory controller. */
static bool find_mount(const char *mountinfo, bool v2, char *mount, size_t mcap, char *mroot,
                       size_t rcap)
{
    for (const char *line = mountinfo; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        char l[1024];
        if (len < sizeof l) {
            memcpy(l, line, len);
            l[len] = '\0';
            char *sep = strstr(l, " - ");
            char fstype[32] = "", opts[256] = "", r[512] = "", m[512] = "";
            if (sep != NULL && sscanf(l, "%*s %*s %*s %511s %511s", r, m) == 2 &&
                sscanf(sep + 3, "%31s %*s %255s", fstype, opts) >= 1) {
                bool match =
                    v2 ? strcmp(fstype, "cgroup2") == 0
                       : strcmp(fstype, "cgroup") == 0 &&
                             (strstr(opts, ",memory") != NULL || strncmp(opts, "memory", 6) == 0);
                if (match) {
                    snprintf(mount, mcap, "%s", m);
                    snprintf(mroot, rcap, "%s", r);
                    return true;
                }
            }
        }
        line = nl != NULL ? nl + 1 : line + len;
    }
    return false;
}

/* This process's path in the v2 hierarchy ("0::/path") or in the v1
 * hierarchy holding the memory controller ("N:...memory...:/path"). */
static bool find_path(const char *cgroups, bool v2, char *path, size_t cap)
{
    for (const char *line = cgroups; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2 != NULL) {
            size_t clen = (size_t)(c2 - c1 - 1);
            bool match = false;
            if (v2) {
                match = clen == 0 && c1 - line == 1 && line[0] == '0';
            } else {
                for (const char *w = c1 + 1; w < c2;) {
                    const char *comma = memchr(w, ',', (size_t)(c2 - w));
                    const char *we = comma != NULL ? comma : c2;
                    if (we - w == 6 && memcmp(w, "memory", 6) == 0)
                        match = true;
                    w = comma != NULL ? comma + 1 : c2;
                }
            }
            size_t plen = len - (size_t)(c2 + 1 - line);
            if (match && plen < cap) {
                memcpy(path, c2 + 1, plen);
                path[plen] = '\0';
                return true;
            }
        }
        line = nl != NULL ? nl + 1 : line + len;
    }
    return false;
}

/* The part of path below the mounted root (all of it when the root is
 * "/"; "/" when the process is at or outside the mounted part, as in a
 * container that sees only its own cgroup). */
static const char *below_root(const char *path, const char *mroot)
{
    if (strcmp(mroot, "/") == 0)
        return path;
    size_t n = strlen(mroot);
    if (strncmp(path, mroot, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return path[n] == '\0' ? "/" : path + n;
    return "/";
}

void memlimit_read_cgroup(const char *root, uint64_t *limit, memlimit_source *src)
{
    *limit = 0;
    *src = MEMLIMIT_NONE;
    static char cgroups[8192], mountinfo[65536];
    if (!read_text(root, "/proc/self/cgroup", cgroups, sizeof cgroups) ||
        !read_text(root, "/proc/self/mountinfo", mountinfo, sizeof mountinfo))
        return;
    char path[1024], mount[512], mroot[512];
    if (find_path(cgroups, true, path, sizeof path) &&
        find_mount(mountinfo, true, mount, sizeof mount, mroot, sizeof mroot)) {
        static const char *const v2files[] = {"memory.max", "memory.high"};
        bool found = false;
        uint64_t l = lowest_up(root, mount, below_root(path, mroot), v2files, 2, &found);
        if (found) {
            *limit = l;
            *src = l != 0 ? MEMLIMIT_CGROUP_V2 : MEMLIMIT_NONE;
            return;
        }
    }
    if (find_path(cgroups, false, path, sizeof path) &&
        find_mount(mountinfo, false, mount, sizeof mount, mroot, sizeof mroot)) {
        static const char *const v1files[] = {"memory.limit_in_bytes"};
        bool found = false;
        uint64_t l = lowest_up(root, mount, below_root(path, mroot), v1files, 1, &found);
        *limit = l;
        *src = l != 0 ? MEMLIMIT_CGROUP_V1 : MEMLIMIT_NONE;
    }
}

uint64_t memlimit_headroom(uint64_t limit)
{
    uint64_t h = limit / 16;
    if (h < 16 * MIB)
        h = 16 * MIB;
    if (h > limit / 2)
        h = limit / 2;
    return h;
}

/* ---- The limit in force -------------------------------------------------------------- */

bool cmd_memlimit_init(cmd_server *s)
{
    s->memlimit = calloc(1, sizeof *s->memlimit);
    return s->memlimit != NULL;
}

void cmd_memlimit_free(cmd_server *s)
{
    free(s->memlimit);
    s->memlimit = NULL;
}

/* Recompute; true when the policy in force changed. */
static bool refresh(cmd_server *s)
{
    struct cmd_memlimit *m = s->memlimit;
    memlimit_read_cgroup("", &m->cgroup_limit, &m->cgroup_source);
    long long v = s->cfg.maxmemory.num;
    uint64_t cg = m->cgroup_limit, max = 0;
    memlimit_source src = MEMLIMIT_NONE;
    m->headroom = 0;
    if (v == CFG_LIMIT_AUTO || config_limit_percent(v) != 0) {
        if (cg != 0) {
            m->headroom = memlimit_headroom(cg);
            max = v == CFG_LIMIT_AUTO ? cg - m->headroom
                                      : cg / 100 * (uint64_t)config_limit_percent(v);
            src = m->cgroup_source;
        }
    } else if (v > 0) {
        max = (uint64_t)v;
        src = MEMLIMIT_CONFIG;
    }
    /* What the operator did not set themselves goes to the log. */
    if ((src != m->source || max != s->maxmemory) && (m->cgroup_limit != 0 || cg != 0) &&
        src != MEMLIMIT_CONFIG)
        log_write(LOG_NOTICE, "maxmemory is now %llu bytes (%s, cgroup limit %llu)",
                  (unsigned long long)max, memlimit_source_name(src), (unsigned long long)cg);
    m->source = src;
    s->maxmemory = max;
    /* A cache under a limit it did not choose empties itself rather than
     * refusing writes, unless a policy was asked for. */
    int policy = (int)s->cfg.maxmemory_policy.num;
    if ((src == MEMLIMIT_CGROUP_V1 || src == MEMLIMIT_CGROUP_V2) && !s->cfg.maxmemory_policy.user)
        policy = POLICY_ALLKEYS_LRU;
    bool changed = policy != s->maxmemory_policy;
    s->maxmemory_policy = policy;
    return changed;
}

void cmd_memlimit_refresh(cmd_server *s)
{
    refresh(s);
    s->memlimit->next_read_us = cmd_now_us() + MEMLIMIT_REREAD_US;
}

static bool from_cgroup(const struct cmd_memlimit *m)
{
    return m->cgroup_limit != 0 &&
           (m->source == MEMLIMIT_CGROUP_V1 || m->source == MEMLIMIT_CGROUP_V2);
}

/* RSS must stay under these under a cgroup limit L with headroom H. */
static uint64_t evict_line(const struct cmd_memlimit *m)
{
    return m->cgroup_limit - m->headroom / 2;
}

static uint64_t close_line(const struct cmd_memlimit *m)
{
    return m->cgroup_limit - m->headroom / 4;
}

bool cmd_memlimit_cron(cmd_server *s)
{
    struct cmd_memlimit *m = s->memlimit;
    bool changed = false;
    int64_t now = cmd_now_us();
    if (now >= m->next_read_us) {
        changed = refresh(s);
        m->next_read_us = now + MEMLIMIT_REREAD_US;
    }
    if (!from_cgroup(m))
        return changed;
    uint64_t rss = cmd_rss_bytes();
    if (rss > evict_line(m) && !s->keys_frozen) {
        unsigned n = cmd_evict_bytes(s, rss - evict_line(m), MEMLIMIT_GUARD_EVICT_MAX);
        m->guard_evictions += n;
    }
    if (rss > close_line(m) && s->daemon.client_kill != NULL) {
        cmd_client *worst = NULL;
        size_t most = MEMLIMIT_GUARD_CLIENT_MIN;
        for (cmd_client *c = s->clients.head; c != NULL; c = c->next)
            if (c->qbuf + c->obuf >= most) {
                most = c->qbuf + c->obuf;
                worst = c;
            }
        if (worst != NULL) {
            log_write(LOG_WARNING,
                      "Closing client id=%llu addr=%s: RSS %llu bytes is near the cgroup's "
                      "limit of %llu and it holds %zu bytes of buffers",
                      (unsigned long long)worst->id, worst->addr, (unsigned long long)rss,
                      (unsigned long long)m->cgroup_limit, most);
            m->guard_client_closes++;
            s->daemon.client_kill(worst);
        }
    }
    return changed;
}

bool cmd_buffer_may_grow(cmd_server *s, size_t bytes)
{
    struct cmd_memlimit *m = s->memlimit;
    if (!from_cgroup(m))
        return true;
    if (cmd_rss_bytes() + bytes <= close_line(m))
        return true;
    m->guard_client_closes++;
    return false;
}

void cmd_memlimit_figures(const cmd_server *s, memlimit_figures *f)
{
    const struct cmd_memlimit *m = s->memlimit;
    *f = (memlimit_figures){.source = m->source,
                            .cgroup_limit = m->cgroup_limit,
                            .headroom = m->headroom,
                            .guard_evictions = m->guard_evictions,
                            .guard_client_closes = m->guard_client_closes};
}
