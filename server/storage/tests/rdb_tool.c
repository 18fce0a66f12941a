/*
 * rdb-tool - the RDB codec from the command line, for tests and timing.
 *
 *   rdb-tool read FILE    one line per item the reader returns:
 *                           KIND TYPE DB KEY VAL EXPIRE_MS IDLE FREQ
 *                         KIND is string, other, aux or skip; KEY and VAL in
 *                         hex ("-" when absent); then "end". Exit 0 at
 *                         RDB_END; on RDB_ERROR, "error OFFSET MESSAGE" and
 *                         exit 1.
 *   rdb-tool write FILE   a file from stdin's lines "KEYHEX VALHEX EXPIRE_MS"
 *                         (EXPIRE_MS -1: none; "-" for an empty value), all
 *                         in database 0.
 *   rdb-tool dump HEX     the DUMP payload of the string HEX ("-": empty),
 *                         in hex
 *   rdb-tool restore HEX  decode the DUMP payload HEX: "ok VALHEX",
 *                         "not-string" or "bad" (exit 0 for all three)
 *   rdb-tool bench N [FILE]  write N string keys (20-byte keys, 100-byte
 *                         values, a third with TTLs) into memory, then time
 *                         the writer and the reader over them; with FILE,
 *                         the file is written and read mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rdb.h"

static void hex(const uint8_t *p, size_t n)
{
    if (!p) {
        fputc('-', stdout);
        return;
    }
    if (n == 0)
        fputc('=', stdout); /* present, empty */
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned b;
        if (sscanf(s, "%2x", &b) != 1)
            break;
        out[n++] = (uint8_t)b;
    }
    return n;
}

static int cmd_dump(const char *h)
{
    size_t n = strlen(h) / 2;
    uint8_t *v = malloc(n + 1), *out = malloc(RDB_DUMP_MAX(n));
    n = unhex(h, v);
    size_t len = rdb_dump_string(v, n, out);
    hex(out, len);
    fputc('\n', stdout);
    free(v);
    free(out);
    return 0;
}

static int cmd_restore(const char *h)
{
    uint8_t *p = malloc(strlen(h) / 2 + 1), *scratch = NULL;
    size_t n = unhex(h, p), cap = 0, vlen = 0;
    const uint8_t *val = NULL;
    switch (rdb_restore_string(p, n, &scratch, &cap, &val, &vlen)) {
    case RDB_RESTORE_OK:
        printf("ok ");
        hex(val, vlen);
        fputc('\n', stdout);
        break;
    case RDB_RESTORE_NOT_STRING:
        printf("not-string\n");
        break;
    case RDB_RESTORE_BAD:
        printf("bad\n");
        break;
    }
    free(p);
    free(scratch);
    return 0;
}

static int cmd_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 2;
    }
    size_t n = (size_t)st.st_size;
    const uint8_t *p = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : (const uint8_t *)"";
    if (p == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    static const char *kinds[] = {"string", "other", "aux", "skip"};
    rdb_reader r;
    rdb_item it;
    rdb_status s = rdb_reader_init(&r, p, n);
    while (s == RDB_NEXT && (s = rdb_next(&r, &it)) == RDB_NEXT) {
        printf("%s %d %u ", kinds[it.kind], it.type, it.db);
        hex(it.key, it.klen);
        fputc(' ', stdout);
        hex(it.val, it.vlen);
        printf(" %lld %lld %d\n", (long long)it.expire_ms, (long long)it.idle, it.freq);
    }
    if (s == RDB_END)
        printf("end\n");
    else
        printf("error %zu %s\n", r.offset, r.error);
    rdb_reader_deinit(&r);
    if (n)
        munmap((void *)p, n);
    close(fd);
    return s == RDB_END ? 0 : 1;
}

static int sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : EIO;
}

static int cmd_write(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 2;
    }
    /* Lines are kept to count the keys for RESIZEDB first. */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    size_t got;
    while ((got = fread(text + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap)
            text = realloc(text, cap *= 2);
    }
    text = realloc(text, len + 1);
    text[len] = '\0';
    uint64_t keys = 0, expires = 0;
    for (char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        long long e;
        if (sscanf(l, "%*s %*s %lld", &e) == 1) {
            keys++;
            expires += e >= 0;
        }
    }
    rdb_writer *w = malloc(sizeof *w);
    rdb_writer_init(w, sink_file, f);
    rdb_write_header(w, "7.0.15", (int64_t)time(NULL), 1000000);
    rdb_write_db(w, 0, keys, expires);
    uint8_t *k = malloc(len / 2 + 1), *v = malloc(len / 2 + 1);
    char *save;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *vh = strchr(l, ' ');
        char *eh = vh ? strchr(vh + 1, ' ') : NULL;
        if (!eh)
            continue;
        *vh++ = '\0';
        *eh++ = '\0';
        size_t kl = unhex(l, k), vl = unhex(vh, v);
        rdb_write_string(w, k, kl, v, vl, strtoll(eh, NULL, 10));
    }
    int err = rdb_write_end(w);
    if (fclose(f) != 0 && !err)
        err = errno;
    free(w);
    free(k);
    free(v);
    free(text);
    if (err) {
        fprintf(stderr, "write: %s\n", strerror(err));
        return 1;
    }
    return 0;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} mem;

static int sink_mem(void *ctx, const void *p, size_t n)
{
    mem *m = ctx;
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p)
            return ENOMEM;
    }
    memcpy(m->p + m->n, p, n);
    m->n += n;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sink_null(void *ctx, const void *p, size_t n)
{
    return 0;
}

/* n keys of about 20 bytes with 100-byte values, a third with a TTL. */
static void bench_write(rdb_writer *w, long n)
{
    uint8_t val[100];
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (uint8_t)('a' + i % 26);
    rdb_write_header(w, "7.0.15", 0, 0);
    rdb_write_db(w, 0, (uint64_t)n, (uint64_t)n / 3);
    for (long i = 0; i < n; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "customer:%011ld", i);
        rdb_write_string(w, key, (size_t)kl, val, sizeof val, i % 3 ? -1 : 1700000000000 + i);
    }
}

static int cmd_bench(long n, const char *path)
{
    mem m = {0};
    rdb_writer *w = malloc(sizeof *w);
    /* The writer alone (a sink that drops the bytes), then into memory for
     * the reader. */
    double t0 = now();
    rdb_writer_init(w, sink_null, NULL);
    bench_write(w, n);
    if (rdb_write_end(w) != 0)
        return 1;
    double tw = now() - t0;
    printf("write: %ld keys, %llu bytes in %.3f s: %.2f M keys/s (checksum included)\n", n,
           (unsigned long long)w->bytes, tw, n / tw / 1e6);
    rdb_writer_init(w, sink_mem, &m);
    bench_write(w, n);
    if (rdb_write_end(w) != 0)
        return 1;
    const uint8_t *data = m.p;
    int fd = -1;
    if (path) {
        /* Read from the file, mapped, as the loader will. */
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(m.p, 1, m.n, f) != m.n || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        fd = open(path, O_RDONLY);
        data = fd < 0 ? MAP_FAILED : mmap(NULL, m.n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            perror(path);
            return 1;
        }
    }
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        rdb_reader r;
        rdb_item it;
        long keys = 0;
        t0 = now();
        rdb_status s = rdb_reader_init(&r, data, m.n);
        while (s == RDB_NEXT && (s = rdb_next(&r, &it)) == RDB_NEXT)
            keys += it.kind == RDB_ITEM_STRING;
        double t = now() - t0;
        rdb_reader_deinit(&r);
        if (s != RDB_END || keys != n) {
            fprintf(stderr, "read: %s\n", r.error);
            return 1;
        }
        if (t < best)
            best = t;
    }
    printf("read%s: %ld keys in %.3f s: %.2f M keys/s (checksum included)\n",
           path ? " (mapped file)" : "", n, best, n / best / 1e6);
    if (path) {
        munmap((void *)data, m.n);
        close(fd);
    }
    free(w);
    free(m.p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return cmd_read(argv[2]);
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return cmd_write(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return cmd_dump(argv[2]);
    if (argc == 3 && strcmp(argv[1], "restore") == 0)
        return cmd_restore(argv[2]);
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "bench") == 0)
        return cmd_bench(atol(argv[2]), argc == 4 ? argv[3] : NULL);
    fprintf(stderr, "usage: rdb-tool read FILE | write FILE | dump HEX | restore HEX | bench N\n");
    return 2;
}
