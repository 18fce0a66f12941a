/*
 * persist.c - snapshots: writing, the BGSAVE child, loading, and the
 * SAVE, BGSAVE and LASTSAVE commands (persist.h).
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rdb.h"
#include "strbuf.h"
#include "worker.h"

/* After a failed background save, the save points wait this long before
 * trying again (Redis's CONFIG_BGSAVE_RETRY_DELAY): a full disk must not
 * fork a child every cron tick. */
#define PERSIST_RETRY_MS 5000

/* Loading runs in slices of at least this long: nothing but INFO and the
 * like is served meanwhile, so a slice may be long, and a long slice loads
 * faster (the loop's overhead per slice is paid less often). */
#define PERSIST_LOAD_SLICE_US 20000

/* Keys loaded between checks of the clock and of maxmemory. */
#define PERSIST_LOAD_BATCH 1024

/* Why a key of the file was not loaded (INFO rdb_last_load_skipped_*). */
typedef enum {
    SKIP_TYPE,  /* not a string: a list, a set, a hash, a stream... */
    SKIP_NAME,  /* its name is not a canonical ebb key */
    SKIP_VALUE, /* its value is longer than TABLE_VALUE_MAX */
    SKIP_DB,    /* a database other than 0 */
    SKIP_LIMIT, /* maxmemory, the namespace cap, or out of memory */
    SKIP_KINDS
} skip_reason;

static const char *const skip_names[SKIP_KINDS] = {"types", "names", "values", "dbs", "limit"};

typedef struct {
    const uint8_t *map;
    size_t size;
    rdb_reader rd;
    char path[PATH_MAX];
    int64_t start_us;
    int64_t next_log_us;
    uint64_t loaded, expired, skipped[SKIP_KINDS], other; /* other: functions, module aux */
    bool full;                                            /* maxmemory reached: skip the rest */
    /* The checksum, computed by a thread of its own while the loop reads
     * the keys (rdb_reader.defer_crc): a tenth of the load's time. */
    pthread_t crc_th;
    bool crc_running;
    atomic_bool crc_stop; /* the load ends early (shutdown): stop summing */
    uint64_t crc;
    uint64_t reserved; /* bucket array bytes load_reserve mapped ahead */
} load_state;

/* A background save without fork (the default; bgsave-fork no): the walk
 * (table_snap_*) hands each key to an RDB writer on the loop's thread,
 * between rounds of I/O; the writer's 64 KiB blocks go to a thread that
 * sums them (the CRC), writes them to the temporary file, then syncs and
 * renames it. */
/* Blocks of the file on their way to the thread: mmap'd (not the heap's,
 * which the cron trims and measures), filled by the writer's sink, and
 * recycled by the thread once written. */
#define SAVE_BLOCK_BYTES (1u << 20)

typedef struct save_block {
    _Atomic(struct save_block *) next; /* in the queue, or in the spares */
    size_t len;
    uint8_t data[];
} save_block;

#define SAVE_BLOCK_CAP (SAVE_BLOCK_BYTES - sizeof(save_block))

/* The thread syncs the file each time this much more is written, as
 * Redis's rdb-save-incremental-fsync does: the disk takes the snapshot as
 * it comes, not in one burst of gigabytes at the end (a burst that slows
 * every process sharing the disk, and the machine's I/O path). */
#define SAVE_SYNC_BYTES (8u << 20)

typedef struct walk_save walk_save;

/* One namespace's snapshot: whom its table hands keys to. */
typedef struct {
    walk_save *sv;
    size_t namelen;
    char name[DB_NS_NAME_MAX + 1];
} save_ns;

struct walk_save {
    rdb_writer w;
    save_ns *ns;
    size_t nns;
    uint64_t keys;        /* handed to the writer */
    uint64_t walked_keys; /* of which by the walk (the rest: by changes, early) */
    uint64_t total;       /* keys at the start */
    bool walked;          /* every table walked; the thread finishes the file */
    int64_t start_us;
    uint64_t changes_at_start;
    int64_t tick_used_us; /* walked since the last cron tick */
    /* The queue to the thread: a list with no lock (one producer, one
     * consumer), so that the loop never waits for the thread, which runs
     * at the lowest priority. head is a block already written (at first a
     * dummy): the thread's; tail is the loop's. The semaphore counts blocks
     * and wake-ups. */
    pthread_t th;
    sem_t sem;
    save_block *head, *tail;
    save_block *fill; /* the loop's block being filled, NULL if none */
    /* Written blocks back from the thread: a stack only the thread pushes
     * and only the loop pops (so no ABA). */
    _Atomic(save_block *) spares;
    uint64_t blocks; /* mapped, all told */
    atomic_uint_fast64_t bytes_in, bytes_out;
    uint64_t queued_peak;
    atomic_bool closing; /* no more blocks: finish the file */
    atomic_bool cancel;  /* stop, remove the file */
    /* Who frees the save: whichever of the loop (stopping it without
     * waiting) and the thread (at its end) comes second (WALK_*). */
    atomic_int owner;
    atomic_int thread_err; /* the thread's first write error, at once */
    /* The thread's own, read by the loop once owner is WALK_DONE. */
    int err;
    int fd;
    uint64_t crc;
    char tmp[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
};

enum {
    WALK_SHARED,    /* both hold it */
    WALK_DONE,      /* the thread has ended: the loop reaps and frees */
    WALK_ABANDONED, /* the loop let go (FLUSHALL, an error): the thread frees */
};

#define STOPPED_MAX 8

struct cmd_persist {
    /* The background save without fork, NULL if none. */
    walk_save *walk;
    uint64_t last_early, last_buffer_peak;
    /* The BGSAVE child, 0 if none. */
    pid_t child;
    int child_report; /* read end of the pipe the child reports on */
    int64_t child_start_us;
    char child_tmp[PATH_MAX];
    uint64_t changes_at_fork;
    bool scheduled; /* BGSAVE SCHEDULE while one ran */
    /* Figures (INFO # Persistence). */
    int64_t lastsave; /* unix seconds of the last good save (start: startup) */
    bool last_ok;
    int64_t last_bgsave_secs; /* -1: none yet */
    int64_t last_try_ms;      /* the last failed background save began */
    uint64_t saves;
    uint64_t last_cow;
    int64_t last_fork_us;
    uint64_t last_keys; /* keys the last save wrote */
    /* The last load (or the one in progress, while s->loading). */
    load_state *load;
    uint64_t last_loaded, last_expired, last_skipped[SKIP_KINDS];
    int64_t last_load_us;
    /* Temporary files of stopped walks whose threads were still running
     * (they remove the files themselves): removed again at exit, in case
     * the process ends first. A ring; names are unique to the process. */
    char stopped_tmp[STOPPED_MAX][PATH_MAX];
    unsigned stopped_n;
};

typedef struct cmd_persist cmd_persist;

bool cmd_persist_init(cmd_server *s)
{
    s->persist = calloc(1, sizeof *s->persist);
    if (s->persist == NULL)
        return false;
    s->persist->lastsave = cmd_now_us() / 1000000;
    s->persist->last_ok = true;
    s->persist->last_bgsave_secs = -1;
    s->persist->child_report = -1;
    return true;
}

static void load_end(cmd_server *s);
static void walk_free(cmd_server *s, bool cancel, bool wait);

static void kill_child(cmd_persist *p)
{
    if (p->child <= 0)
        return;
    kill(p->child, SIGKILL);
    waitpid(p->child, NULL, 0);
    unlink(p->child_tmp);
    close(p->child_report);
    p->child = 0;
    p->child_report = -1;
}

void cmd_persist_free(cmd_server *s)
{
    if (s->persist == NULL)
        return;
    kill_child(s->persist);
    if (s->persist->walk != NULL)
        walk_free(s, true, true);
    if (s->persist->load != NULL)
        load_end(s);
    for (unsigned i = 0; i < s->persist->stopped_n && i < STOPPED_MAX; i++)
        unlink(s->persist->stopped_tmp[i]);
    free(s->persist);
    s->persist = NULL;
}

/* dir + "/" + name into dst; false if it does not fit. */
static bool join_path(char *dst, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(dst, cap, "%s/%s", dir != NULL && dir[0] != '\0' ? dir : ".", name);
    return n > 0 && (size_t)n < cap;
}

/* ---- writing ---- */

static int fd_sink(void *ctx, const void *p, size_t n)
{
    int fd = *(int *)ctx;
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One key of namespace ns (nslen bytes) as a string key under its
 * canonical name: every snapshot writes its keys through this. */
static void put_key(rdb_writer *w, const char *ns, size_t nslen, int64_t key, const uint8_t *val,
                    size_t len, int64_t expire_at)
{
    char name[DB_KEY_TEXT_MAX];
    size_t n = db_format_key(ns, nslen, key, name);
    rdb_write_string(w, name, n, val, len, expire_at != 0 ? expire_at : -1);
}

/* A foreground or forked save's walk (table_foreach_record). */
typedef struct {
    rdb_writer *w;
    const db_ns *ns;
    uint64_t keys;
} dump_state;

static bool write_record(int64_t key, const uint8_t *val, size_t len, int64_t expire_at, void *arg)
{
    dump_state *ds = arg;
    put_key(ds->w, ds->ns->name, ds->ns->namelen, key, val, len, expire_at);
    ds->keys++;
    return ds->w->err == 0;
}

/* The aux field that gives each namespace's keys, so that loading sizes
 * each table once instead of growing it (table_reserve): one token per
 * namespace, separated by spaces, spelled as the key of that namespace
 * whose number is the count ("customer:1200", "5000" for the default). */
#define NS_KEYS_AUX "ebb-ns-keys"

/* The file's head, at one moment: Redis's header, ebb's aux fields, then
 * SELECTDB 0 with RESIZEDB. Returns the keys. */
static uint64_t write_head(cmd_server *s, rdb_writer *w)
{
    rdb_write_header(w, EBB_REDIS_VERSION, cmd_now_us() / 1000000, cmd_used_memory(s));
    rdb_write_aux(w, "ebb-ver", EBB_VERSION, strlen(EBB_VERSION));
    uint64_t total = 0, expires = 0;
    strbuf sizes = {0};
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        total += table_count(n->t);
        expires += table_expires(n->t);
        if (table_count(n->t) > 0) {
            char tok[DB_KEY_TEXT_MAX];
            size_t tl = db_format_key(n->name, n->namelen, (int64_t)table_count(n->t), tok);
            strbuf_printf(&sizes, "%s%.*s", sizes.len > 0 ? " " : "", (int)tl, tok);
        }
    }
    if (sizes.len > 0 && !sizes.oom)
        rdb_write_aux(w, NS_KEYS_AUX, sizes.buf, sizes.len);
    strbuf_deinit(&sizes);
    rdb_write_db(w, 0, total, expires);
    return total;
}

/* Write every key to fd as an RDB file (not synced). 0 or an errno. */
static int write_rdb(cmd_server *s, int fd, uint64_t *keys)
{
    rdb_writer *w = malloc(sizeof *w);
    if (w == NULL)
        return ENOMEM;
    rdb_writer_init(w, fd_sink, &fd);
    (void)write_head(s, w);
    dump_state ds = {w, NULL, 0};
    for (size_t i = 0; i < db_ns_count(s->db) && w->err == 0; i++) {
        ds.ns = db_ns_at(s->db, i);
        table_foreach_record(ds.ns->t, write_record, &ds);
    }
    int err = rdb_write_end(w);
    free(w);
    *keys = ds.keys;
    return err;
}

/* Make the temporary file a snapshot goes to first, temp-<pid>.rdb, or
 * temp-<pid>-<seq>.rdb for seq > 0 (a save without fork: a stopped one's
 * thread may still be removing its own file). -1 with errno. */
static int open_tmp(const cmd_server *s, pid_t pid, unsigned seq, char *tmp, size_t cap)
{
    char name[64];
    if (seq > 0)
        snprintf(name, sizeof name, "temp-%d-%u.rdb", (int)pid, seq);
    else
        snprintf(name, sizeof name, "temp-%d.rdb", (int)pid);
    if (!join_path(tmp, cap, s->cfg.dir.str, name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* fsync fd, close it and rename tmp over path, then fsync dir so the
 * rename itself survives a crash. 0 or an errno (err if not 0; ECANCELED
 * if *cancel was set before the rename); tmp is removed on failure.
 * Touches no server state (the save thread runs it). */
static int finish_paths(int fd, const char *tmp, const char *path, const char *dir, int err,
                        const atomic_bool *cancel)
{
    if (err == 0 && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    /* A stop asked meanwhile wins, up to the rename. */
    if (err == 0 && cancel != NULL && atomic_load(cancel))
        err = ECANCELED;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return err;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            err = errno;
        close(dfd);
    }
    return err;
}

/* The snapshot's path and directory. False if the path does not fit. */
static bool snapshot_paths(const cmd_server *s, char *path, char *dir)
{
    snprintf(dir, PATH_MAX, "%s", s->cfg.dir.str[0] != '\0' ? s->cfg.dir.str : ".");
    return join_path(path, PATH_MAX, s->cfg.dir.str, s->cfg.dbfilename.str);
}

/* finish_paths to the configured snapshot. */
static int finish_file(const cmd_server *s, int fd, const char *tmp, int err)
{
    char path[PATH_MAX], dir[PATH_MAX];
    if (!snapshot_paths(s, path, dir) && err == 0)
        err = ENAMETOOLONG;
    return finish_paths(fd, tmp, path, dir, err, NULL);
}

/* SAVE, and the snapshot at shutdown: in the foreground. */
static int save_now(cmd_server *s)
{
    cmd_persist *p = s->persist;
    char tmp[PATH_MAX];
    int64_t start = cmd_now_us();
    int fd = open_tmp(s, getpid(), 0, tmp, sizeof tmp);
    if (fd < 0) {
        int err = errno;
        log_write(LOG_WARNING, "Failed opening the temp RDB file %s (in server root dir %s): %s",
                  tmp, s->cfg.dir.str, strerror(err));
        return err;
    }
    uint64_t keys = 0;
    int err = finish_file(s, fd, tmp, write_rdb(s, fd, &keys));
    if (err != 0) {
        log_write(LOG_WARNING, "Failed saving the snapshot: %s", strerror(err));
        p->last_ok = false;
        return err;
    }
    log_write(LOG_NOTICE, "DB saved on disk: %" PRIu64 " keys in %.3f s", keys,
              (double)(cmd_now_us() - start) / 1e6);
    p->lastsave = cmd_now_us() / 1000000;
    p->last_ok = true;
    p->saves++;
    p->last_keys = keys;
    s->changes = 0;
    return 0;
}

/* The child's report to its parent, through a pipe. */
typedef struct {
    int err;
    uint64_t keys;
    uint64_t cow; /* bytes the parent's writes made private meanwhile */
} child_report;

/* Private_Dirty of this process (smaps_rollup): in a child that only reads,
 * the pages its parent wrote since the fork (each then has two copies). */
static uint64_t private_dirty(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Private_Dirty: %" SCNu64 " kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* Bytes a snapshot of the keys will take, about: each key's name and
 * value, plus a few bytes of framing. */
static uint64_t snapshot_estimate(const cmd_server *s)
{
    uint64_t bytes = 4096;
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        const db_ns *n = db_ns_at(s->db, i);
        table_stats st;
        table_get_stats(n->t, &st);
        bytes += st.payload_bytes + table_count(n->t) * (uint64_t)(n->namelen + 1 + 12);
    }
    return bytes;
}

/* A disk that cannot hold the snapshot is an error now, not a save
 * failing a minute later. False with *why set for the reply if so; *why is
 * NULL otherwise. */
static bool disk_has_room(const cmd_server *s, const char **why)
{
    *why = NULL;
    struct statvfs vfs;
    const char *dir = s->cfg.dir.str[0] != '\0' ? s->cfg.dir.str : ".";
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < snapshot_estimate(s)) {
        *why = "not enough free disk space in dir for the snapshot";
        return false;
    }
    return true;
}

/* Start a background save by fork. 0, or an errno with *why set for the
 * reply. */
static int bgsave_fork(cmd_server *s, const char **why)
{
    cmd_persist *p = s->persist;
    if (!disk_has_room(s, why))
        return ENOSPC;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return errno;
    char tmp[PATH_MAX];
    int64_t start = cmd_now_us();
    /* The child's pid names the file, as in Redis; it is not known before
     * the fork, so the parent's names it and the child writes into it. */
    int fd = open_tmp(s, getpid(), 0, tmp, sizeof tmp);
    if (fd < 0) {
        int err = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return err;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        close(pipefd[0]);
        close(pipefd[1]);
        return err;
    }
    if (pid == 0) {
        /* The child: write, report, leave without running the parent's
         * exit handlers (they would flush and free the parent's state). A
         * stop signal sent to it ends it (its parent reports a failed
         * save), rather than going through libevent's handler into the
         * pipe it shares with its parent, which would stop the parent. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(pipefd[0]);
        child_report rep = {0, 0, 0};
        rep.err = finish_file(s, fd, tmp, write_rdb(s, fd, &rep.keys));
        rep.cow = private_dirty();
        if (write(pipefd[1], &rep, sizeof rep) != (ssize_t)sizeof rep)
            _exit(2);
        _exit(rep.err == 0 ? 0 : 1);
    }
    close(fd);
    close(pipefd[1]);
    p->last_fork_us = cmd_now_us() - start;
    p->child = pid;
    p->child_report = pipefd[0];
    p->child_start_us = start;
    p->changes_at_fork = s->changes;
    snprintf(p->child_tmp, sizeof p->child_tmp, "%s", tmp);
    log_write(LOG_NOTICE, "Background saving started by pid %d (fork took %" PRId64 " us)",
              (int)pid, p->last_fork_us);
    return 0;
}

/* Reap the child if it has ended. */
static void bgsave_reap(cmd_server *s)
{
    cmd_persist *p = s->persist;
    int status;
    pid_t r = waitpid(p->child, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return;
    child_report rep = {EIO, 0, 0};
    bool got = read(p->child_report, &rep, sizeof rep) == (ssize_t)sizeof rep;
    close(p->child_report);
    p->child_report = -1;
    bool ok = got && r == p->child && WIFEXITED(status) && WEXITSTATUS(status) == 0 && rep.err == 0;
    p->last_bgsave_secs = (cmd_now_us() - p->child_start_us) / 1000000;
    p->last_cow = rep.cow;
    if (ok) {
        log_write(LOG_NOTICE,
                  "Background saving terminated with success: %" PRIu64 " keys, %" PRIu64
                  " MB of memory used by copy-on-write",
                  rep.keys, rep.cow >> 20);
        p->lastsave = cmd_now_us() / 1000000;
        p->last_ok = true;
        p->saves++;
        p->last_keys = rep.keys;
        s->changes = s->changes >= p->changes_at_fork ? s->changes - p->changes_at_fork : 0;
    } else {
        log_write(LOG_WARNING, "Background saving error: %s",
                  got && rep.err != 0 ? strerror(rep.err) : "the child did not finish");
        unlink(p->child_tmp);
        p->last_ok = false;
        p->last_try_ms = p->child_start_us / 1000;
    }
    p->child = 0;
}

/* ---- background save without fork ---- */

/* Snapshot bytes waiting for the thread above which the walk pauses until
 * the next cron tick (changes still hand their old records over: those
 * cannot wait, and each key is handed over once at most). */
#define WALK_QUEUE_MAX (16u << 20)

/* Longest slice of the walk between two rounds of I/O, and records walked
 * between looks at the clock (~40 µs of them). */
#define WALK_SLICE_US 500
#define WALK_BATCH 256

/* The walk's share of the loop: at most this much per cron tick (10 ms),
 * so that the loop sleeps in its poll the rest of the time. A loop busy
 * without pause competes with everything else for the CPUs, and its
 * clients' round trips grow by whole scheduler slices. */
#define WALK_TICK_US 4000

/* Unmap a list of blocks (linked by next, or just b if !linked). */
static void block_unmap_list(save_block *b, bool linked)
{
    while (b != NULL) {
        save_block *next = linked ? atomic_load(&b->next) : NULL;
        munmap(b, SAVE_BLOCK_BYTES);
        b = next;
    }
}

static save_block *block_map(walk_save *sv)
{
    save_block *b = atomic_load(&sv->spares);
    while (b != NULL && !atomic_compare_exchange_weak(&sv->spares, &b, atomic_load(&b->next))) {
    }
    if (b == NULL) {
        void *m = mmap(NULL, SAVE_BLOCK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        b = m;
        sv->blocks++;
    }
    atomic_init(&b->next, NULL);
    b->len = 0;
    return b;
}

/* Hand the block being filled to the thread. */
static void block_push(walk_save *sv)
{
    save_block *b = sv->fill;
    if (b == NULL || b->len == 0)
        return;
    sv->fill = NULL;
    uint64_t in = atomic_load_explicit(&sv->bytes_in, memory_order_relaxed) + b->len;
    atomic_store_explicit(&sv->bytes_in, in, memory_order_relaxed);
    atomic_store_explicit(&sv->tail->next, b, memory_order_release);
    sv->tail = b;
    uint64_t q = in - atomic_load_explicit(&sv->bytes_out, memory_order_relaxed);
    if (q > sv->queued_peak)
        sv->queued_peak = q;
    sem_post(&sv->sem);
}

/* The writer's sink: into the block being filled, handed over when full. */
static int walk_sink(void *ctx, const void *p, size_t n)
{
    walk_save *sv = ctx;
    const uint8_t *c = p;
    while (n > 0) {
        if (sv->fill == NULL && (sv->fill = block_map(sv)) == NULL)
            return ENOMEM;
        size_t k = SAVE_BLOCK_CAP - sv->fill->len;
        if (k > n)
            k = n;
        memcpy(sv->fill->data + sv->fill->len, c, k);
        sv->fill->len += k;
        c += k;
        n -= k;
        if (sv->fill->len == SAVE_BLOCK_CAP)
            block_push(sv);
    }
    return 0;
}

/* Free a save whose thread has ended (its blocks are unmapped). */
static void walk_destroy(walk_save *sv)
{
    sem_destroy(&sv->sem);
    free(sv->ns);
    free(sv);
}

/* The thread: sum and write the blocks as they come, then the checksum,
 * fsync and rename. */
static void *walk_thread(void *arg)
{
    walk_save *sv = arg;
    int err = 0;
    uint64_t unsynced = 0;
    /* The loop serves clients; this thread only has to keep up with the
     * walk, and the walk waits for it (WALK_QUEUE_MAX). So it runs when a
     * CPU is idle (SCHED_IDLE), never in the loop's way; nice 19 where that
     * is refused. */
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    for (;;) {
        while (sem_wait(&sv->sem) != 0 && errno == EINTR) {
        }
        if (atomic_load(&sv->cancel))
            break;
        save_block *b = atomic_load_explicit(&sv->head->next, memory_order_acquire);
        if (b == NULL) {
            if (atomic_load(&sv->closing))
                break; /* the loop posts closing after its last block */
            continue;
        }
        if (err == 0) {
            sv->crc = rdb_crc64(sv->crc, b->data, b->len);
            err = fd_sink(&sv->fd, b->data, b->len);
            unsynced += b->len;
            if (err == 0 && unsynced >= SAVE_SYNC_BYTES) {
                unsynced = 0;
                if (fdatasync(sv->fd) != 0)
                    err = errno;
            }
            if (err != 0)
                atomic_store(&sv->thread_err, err); /* the loop stops walking */
        }
        save_block *done = sv->head;
        sv->head = b;
        atomic_fetch_add_explicit(&sv->bytes_out, b->len, memory_order_relaxed);
        save_block *top = atomic_load(&sv->spares);
        do
            atomic_store(&done->next, top);
        while (!atomic_compare_exchange_weak(&sv->spares, &top, done));
    }
    if (atomic_load(&sv->cancel)) {
        close(sv->fd);
        unlink(sv->tmp);
        err = ECANCELED;
    } else {
        uint8_t t[8];
        for (int i = 0; i < 8; i++)
            t[i] = (uint8_t)(sv->crc >> (8 * i));
        if (err == 0)
            err = fd_sink(&sv->fd, t, sizeof t);
        err = finish_paths(sv->fd, sv->tmp, sv->path, sv->dir, err, &sv->cancel);
    }
    /* The loop adds nothing any more (closing or cancel is only set once
     * it is done): the blocks go here, not in the loop's time. */
    block_unmap_list(sv->head, true);
    sv->head = NULL;
    block_unmap_list(atomic_exchange(&sv->spares, NULL), true);
    sv->err = err;
    if (atomic_exchange(&sv->owner, WALK_DONE) == WALK_ABANDONED)
        walk_destroy(sv);
    return NULL;
}

/* A key handed over by a table's snapshot (walk or change). */
static void walk_record(void *arg, int64_t key, const uint8_t *val, size_t len, int64_t expire_at)
{
    save_ns *n = arg;
    put_key(&n->sv->w, n->name, n->namelen, key, val, len, expire_at);
    n->sv->keys++;
}

/* End every table's snapshot and let go of the save: stopped (cancel:
 * its file removed) or reaped. With wait, the thread is waited for (at
 * its normal priority again, so that it is not starved meanwhile): at
 * shutdown. Without, a thread still writing or syncing is left to end by
 * itself and free the save: the loop does not wait for a disk. */
static void walk_free(cmd_server *s, bool cancel, bool wait)
{
    walk_save *sv = s->persist->walk;
    s->persist->walk = NULL;
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        table *t = db_ns_at(s->db, i)->t;
        if (table_snap_active(t))
            table_snap_end(t);
    }
    block_unmap_list(sv->fill, false); /* the thread unmaps the rest */
    sv->fill = NULL;
    if (cancel)
        atomic_store(&sv->cancel, true);
    atomic_store(&sv->closing, true);
    sem_post(&sv->sem);
    if (!wait) {
        /* Copied before the exchange: after it the thread may free sv. */
        char tmp[sizeof sv->tmp];
        memcpy(tmp, sv->tmp, sizeof tmp);
        if (atomic_exchange(&sv->owner, WALK_ABANDONED) == WALK_SHARED) {
            cmd_persist *p = s->persist;
            memcpy(p->stopped_tmp[p->stopped_n++ % STOPPED_MAX], tmp, sizeof tmp);
            pthread_detach(sv->th);
            return;
        }
    }
    if (wait) {
        struct sched_param sp = {0};
        (void)pthread_setschedparam(sv->th, SCHED_OTHER, &sp);
    }
    pthread_join(sv->th, NULL);
    walk_destroy(sv);
}

/* Stop a save in progress (fork or walk) and remove its file. */
static void save_cancel(cmd_server *s, const char *why)
{
    cmd_persist *p = s->persist;
    if (p->child > 0) {
        log_write(LOG_WARNING, "%s: killing the background save child", why);
        kill_child(p);
    }
    if (p->walk != NULL) {
        log_write(LOG_WARNING, "%s: background save stopped", why);
        walk_free(s, true, false);
    }
}

/* Start a background save without fork. 0, or an errno with *why set. */
static int bgsave_walk(cmd_server *s, const char **why)
{
    cmd_persist *p = s->persist;
    if (!disk_has_room(s, why))
        return ENOSPC;
    walk_save *sv = calloc(1, sizeof *sv);
    size_t nns = db_ns_count(s->db);
    if (sv == NULL || (sv->ns = calloc(nns, sizeof *sv->ns)) == NULL) {
        free(sv);
        return ENOMEM;
    }
    if (!snapshot_paths(s, sv->path, sv->dir)) {
        free(sv->ns);
        free(sv);
        return ENAMETOOLONG;
    }
    static unsigned seq;
    sv->fd = open_tmp(s, getpid(), ++seq != 0 ? seq : ++seq, sv->tmp, sizeof sv->tmp);
    if (sv->fd < 0) {
        int err = errno;
        free(sv->ns);
        free(sv);
        return err;
    }
    atomic_init(&sv->spares, NULL);
    sv->head = sv->tail = block_map(sv); /* the dummy */
    int err = sv->head == NULL ? ENOMEM : 0;
    if (err == 0 && sem_init(&sv->sem, 0, 0) != 0)
        err = errno;
    atomic_init(&sv->owner, WALK_SHARED);
    atomic_init(&sv->thread_err, 0);
    atomic_init(&sv->closing, false);
    atomic_init(&sv->cancel, false);
    atomic_init(&sv->bytes_in, 0);
    atomic_init(&sv->bytes_out, 0);
    if (err == 0 && (err = worker_start(&sv->th, walk_thread, sv)) != 0)
        sem_destroy(&sv->sem);
    if (err != 0) {
        close(sv->fd);
        unlink(sv->tmp);
        if (sv->head != NULL)
            munmap(sv->head, SAVE_BLOCK_BYTES);
        free(sv->ns);
        free(sv);
        return err;
    }
    p->walk = sv;
    sv->start_us = cmd_now_us();
    sv->changes_at_start = s->changes;
    rdb_writer_init(&sv->w, walk_sink, sv);
    sv->w.sink_sums = true;
    sv->total = write_head(s, &sv->w);
    for (size_t i = 0; i < nns; i++) {
        const db_ns *n = db_ns_at(s->db, i);
        save_ns *sn = &sv->ns[i];
        sn->sv = sv;
        sn->namelen = n->namelen;
        memcpy(sn->name, n->name, n->namelen);
        if (!table_snap_begin(n->t, walk_record, sn)) {
            walk_free(s, true, false);
            return ENOMEM;
        }
    }
    sv->nns = nns;
    p->last_fork_us = 0;
    log_write(LOG_NOTICE,
              "Background saving started: %" PRIu64 " keys, walked between rounds of I/O",
              sv->total);
    return 0;
}

bool cmd_persist_save_step(cmd_server *s, int64_t budget_us)
{
    walk_save *sv = s->persist->walk;
    if (sv == NULL || sv->walked)
        return false;
    bool full = atomic_load_explicit(&sv->bytes_in, memory_order_relaxed) -
                    atomic_load_explicit(&sv->bytes_out, memory_order_relaxed) >
                WALK_QUEUE_MAX;
    if (full || sv->w.err != 0 || atomic_load(&sv->thread_err) != 0 ||
        sv->tick_used_us >= WALK_TICK_US)
        return false; /* the cron looks again (and reports an error) */
    if (budget_us > WALK_SLICE_US)
        budget_us = WALK_SLICE_US;
    if (budget_us > WALK_TICK_US - sv->tick_used_us)
        budget_us = WALK_TICK_US - sv->tick_used_us;
    int64_t start = cmd_now_us(), end = start + budget_us;
    uint64_t before = sv->keys;
    for (size_t i = 0; i < db_ns_count(s->db); i++) {
        table *t = db_ns_at(s->db, i)->t;
        if (!table_snap_active(t))
            continue;
        bool more;
        while ((more = table_snap_step(t, WALK_BATCH)) && cmd_now_us() < end && sv->w.err == 0) {
        }
        if (table_snap_failed(t) && sv->w.err == 0)
            sv->w.err = ENOMEM;
        if (more) {
            sv->walked_keys += sv->keys - before;
            sv->tick_used_us += cmd_now_us() - start;
            return sv->w.err == 0 && sv->tick_used_us < WALK_TICK_US;
        }
        table_snap_end(t);
    }
    sv->walked_keys += sv->keys - before;
    if (sv->w.err != 0)
        return false; /* not a whole file: the cron stops the save */
    /* Every table walked: nothing more can be handed over. The last bytes
     * need a block too: if that fails, no EOF goes out and the cron stops
     * the save. */
    if (rdb_write_end(&sv->w) != 0)
        return false;
    block_push(sv);
    sv->walked = true;
    atomic_store(&sv->closing, true);
    sem_post(&sv->sem);
    return false;
}

/* The cron's look at a save without fork: an error stops it; a finished
 * thread is reaped. True while the walk has more to do. */
static bool walk_cron(cmd_server *s)
{
    cmd_persist *p = s->persist;
    walk_save *sv = p->walk;
    int werr = sv->w.err != 0 ? sv->w.err : atomic_load(&sv->thread_err);
    if (werr != 0 && atomic_load(&sv->owner) != WALK_DONE) {
        /* A failed block, the snapshot's bits, or the disk: stop now, not
         * at the end of the walk. */
        log_write(LOG_WARNING, "Background saving error: %s", strerror(werr));
        p->last_ok = false;
        p->last_try_ms = sv->start_us / 1000;
        walk_free(s, true, false);
        return false;
    }
    sv->tick_used_us = 0;
    if (atomic_load(&sv->owner) != WALK_DONE)
        return !sv->walked;
    int err = sv->err != 0 ? sv->err : sv->w.err;
    p->last_bgsave_secs = (cmd_now_us() - sv->start_us) / 1000000;
    p->last_cow = 0;
    p->last_early = sv->keys - sv->walked_keys;
    p->last_buffer_peak = sv->queued_peak;
    if (err == 0) {
        log_write(LOG_NOTICE,
                  "Background saving terminated with success: %" PRIu64 " keys in %.3f s, %" PRIu64
                  " of them copied before a write, %" PRIu64 " KB buffered at most",
                  sv->keys, (double)(cmd_now_us() - sv->start_us) / 1e6, p->last_early,
                  sv->queued_peak >> 10);
        p->lastsave = cmd_now_us() / 1000000;
        p->last_ok = true;
        p->saves++;
        p->last_keys = sv->keys;
        s->changes = s->changes >= sv->changes_at_start ? s->changes - sv->changes_at_start : 0;
    } else {
        log_write(LOG_WARNING, "Background saving error: %s", strerror(err));
        p->last_ok = false;
        p->last_try_ms = sv->start_us / 1000;
    }
    walk_free(s, false, true);
    return false;
}

uint64_t cmd_persist_buffer_bytes(const cmd_server *s)
{
    const walk_save *sv = s->persist != NULL ? s->persist->walk : NULL;
    return sv != NULL ? sv->blocks * (uint64_t)SAVE_BLOCK_BYTES : 0;
}

/* A background save is in progress (fork or walk). */
static bool saving(const cmd_persist *p)
{
    return p->child > 0 || p->walk != NULL;
}

/* Start a background save the way bgsave-fork says. */
static int bgsave_start(cmd_server *s, const char **why)
{
    return s->cfg.bgsave_fork.num ? bgsave_fork(s, why) : bgsave_walk(s, why);
}

void cmd_persist_flushed(cmd_server *s)
{
    /* As Redis: a snapshot of what was flushed is of no use, and with
     * save points the empty keyspace is saved at once. */
    save_cancel(s, "FLUSHALL");
    if (s->cfg.save.str != NULL && s->cfg.save.str[0] != '\0')
        (void)save_now(s);
}

static bool save_points_due(cmd_server *s)
{
    cmd_persist *p = s->persist;
    long long secs[CONFIG_SAVE_MAX], changes[CONFIG_SAVE_MAX];
    size_t n;
    if (!config_parse_save(s->cfg.save.str != NULL ? s->cfg.save.str : "", secs, changes, &n))
        return false;
    int64_t now_s = cmd_now_us() / 1000000;
    if (!p->last_ok && cmd_now_us() / 1000 - p->last_try_ms < PERSIST_RETRY_MS)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((long long)s->changes >= changes[i] && now_s - p->lastsave > secs[i] && changes[i] > 0)
            return true;
    return false;
}

bool cmd_persist_cron(cmd_server *s)
{
    cmd_persist *p = s->persist;
    if (p->child > 0)
        bgsave_reap(s);
    if (p->walk != NULL && walk_cron(s))
        return true;
    if (saving(p) || s->loading)
        return false;
    if (p->scheduled || save_points_due(s)) {
        const char *why;
        p->scheduled = false;
        int err = bgsave_start(s, &why);
        if (err != 0) {
            log_write(LOG_WARNING, "Can't save in background: %s",
                      why != NULL ? why : strerror(err));
            p->last_ok = false;
            p->last_try_ms = cmd_now_us() / 1000;
        }
    }
    return p->walk != NULL;
}

bool cmd_persist_shutdown(cmd_server *s, bool force_save, bool no_save)
{
    cmd_persist *p = s->persist;
    if (p->child > 0) {
        log_write(LOG_WARNING, "There is a child saving an .rdb. Killing it!");
        kill_child(p);
    }
    if (p->walk != NULL) {
        log_write(LOG_WARNING, "There is a background save in progress. Stopping it!");
        walk_free(s, true, true);
    }
    if (no_save || s->loading)
        return true;
    bool points = s->cfg.save.str != NULL && s->cfg.save.str[0] != '\0';
    if (!force_save && !points && !s->cfg.shutdown_save.num)
        return true;
    log_write(LOG_NOTICE, "Saving the final RDB snapshot before exiting.");
    if (save_now(s) != 0) {
        log_write(LOG_WARNING, "Error trying to save the DB, can't exit.");
        return false;
    }
    return true;
}

/* ---- loading ---- */

/* The load's checksum thread: the CRC of all but the 8-byte trailer. */
static void *load_crc_thread(void *arg)
{
    load_state *l = arg;
    uint64_t crc = 0;
    /* In steps, so that a shutdown while loading need not wait for the
     * whole file to be read. */
    const size_t step = 8u << 20;
    for (size_t at = 0, n = l->size - 8; at < n && !atomic_load(&l->crc_stop); at += step)
        crc = rdb_crc64(crc, l->map + at, n - at < step ? n - at : step);
    l->crc = crc;
    return NULL;
}

/* Wait for the checksum thread, if it runs; with stop, tell it to stop
 * first (its sum is then of no use). */
static void load_crc_join(load_state *l, bool stop)
{
    if (stop)
        atomic_store(&l->crc_stop, true);
    if (l->crc_running)
        pthread_join(l->crc_th, NULL);
    l->crc_running = false;
}

static void load_end(cmd_server *s)
{
    load_state *l = s->persist->load;
    load_crc_join(l, true);
    rdb_reader_deinit(&l->rd);
    if (l->map != NULL)
        munmap((void *)l->map, l->size);
    free(l);
    s->persist->load = NULL;
    s->loading = false;
}

bool cmd_persist_load_begin(cmd_server *s)
{
    cmd_persist *p = s->persist;
    load_state *l = calloc(1, sizeof *l);
    if (l == NULL)
        return false;
    if (!join_path(l->path, sizeof l->path, s->cfg.dir.str, s->cfg.dbfilename.str)) {
        log_write(LOG_WARNING, "The snapshot's path is too long");
        free(l);
        return false;
    }
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err != ENOENT)
            log_write(LOG_WARNING, "Can't open the snapshot %s: %s", l->path, strerror(err));
        free(l);
        return err == ENOENT; /* ENOENT: nothing to load */
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        log_write(LOG_WARNING, "The snapshot %s is not a regular file", l->path);
        close(fd);
        free(l);
        return false;
    }
    l->size = (size_t)st.st_size;
    if (l->size > 0) {
        void *m = mmap(NULL, l->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            log_write(LOG_WARNING, "Can't map the snapshot %s: %s", l->path, strerror(errno));
            close(fd);
            free(l);
            return false;
        }
        l->map = m;
        madvise(m, l->size, MADV_SEQUENTIAL);
    }
    close(fd);
    p->load = l;
    if (rdb_reader_init(&l->rd, l->map, l->size) != RDB_NEXT) {
        log_write(LOG_WARNING, "Bad snapshot %s at offset %zu: %s", l->path, l->rd.offset,
                  l->rd.error);
        load_end(s);
        return false;
    }
    atomic_init(&l->crc_stop, false);
    if (l->rd.version >= 5 && l->size > 8 && worker_start(&l->crc_th, load_crc_thread, l) == 0) {
        l->crc_running = true;
        l->rd.defer_crc = true;
    }
    l->start_us = l->next_log_us = cmd_now_us();
    s->loading = true;
    log_write(LOG_NOTICE, "Loading RDB produced by version %d: %s, %zu bytes", l->rd.version,
              l->path, l->size);
    return true;
}

static void load_key(cmd_server *s, load_state *l, const rdb_item *it)
{
    if (it->db != 0) {
        l->skipped[SKIP_DB]++;
        return;
    }
    db_key k;
    char canon[DB_KEY_TEXT_MAX];
    if (!db_parse_key((const char *)it->key, it->klen, &k) ||
        db_format_key(k.ns, k.nslen, k.id, canon) != it->klen ||
        memcmp(canon, it->key, it->klen) != 0) {
        l->skipped[SKIP_NAME]++;
        return;
    }
    if (it->vlen > TABLE_VALUE_MAX) {
        l->skipped[SKIP_VALUE]++;
        return;
    }
    if (it->expire_ms >= 0 && it->expire_ms <= s->now_ms) {
        l->expired++;
        return;
    }
    table *t;
    if (l->full || db_table(s->db, k.ns, k.nslen, true, &t) != DB_OK ||
        table_put(t, k.id, it->val, it->vlen, it->expire_ms > 0 ? it->expire_ms : 0, false, NULL) !=
            TABLE_OK) {
        l->skipped[SKIP_LIMIT]++;
        return;
    }
    l->loaded++;
}

/* NS_KEYS_AUX: size each namespace's table for its keys before they come,
 * while the arrays, all told, fit well within maxmemory (an eighth of it:
 * the counts include keys that may have expired since, and what does not
 * fit is skipped anyway). Anything malformed is ignored: the tables then
 * grow as usual. */
static void load_reserve(cmd_server *s, load_state *l, const char *p, size_t n)
{
    /* A key takes at least 4 bytes of the file (type, two lengths, one
     * digit): a count past that is not this file's. */
    uint64_t most = l->size / 4;
    const char *end = p + n;
    while (p < end) {
        const char *tok = p;
        while (p < end && *p != ' ')
            p++;
        db_key k;
        table *t;
        if (db_parse_key(tok, (size_t)(p - tok), &k) && k.id > 0 && (uint64_t)k.id <= most &&
            (s->maxmemory == 0 ||
             l->reserved + table_reserve_bytes((uint64_t)k.id) <= s->maxmemory / 8) &&
            db_table(s->db, k.ns, k.nslen, true, &t) == DB_OK && table_reserve(t, (uint64_t)k.id))
            l->reserved += table_reserve_bytes((uint64_t)k.id);
        while (p < end && *p == ' ')
            p++;
    }
}

static void load_done(cmd_server *s, load_state *l)
{
    cmd_persist *p = s->persist;
    uint64_t skipped = 0;
    char detail[160];
    size_t w = 0;
    for (int i = 0; i < SKIP_KINDS; i++) {
        skipped += l->skipped[i];
        if (l->skipped[i] > 0)
            w += (size_t)snprintf(detail + w, sizeof detail - w, "%s%" PRIu64 " %s",
                                  w > 0 ? ", " : " (", l->skipped[i], skip_names[i]);
    }
    snprintf(detail + w, sizeof detail - w, "%s", w > 0 ? ")" : "");
    int64_t us = cmd_now_us() - l->start_us;
    log_write(LOG_NOTICE,
              "DB loaded from disk: %.3f seconds, %" PRIu64 " keys loaded, %" PRIu64
              " expired, %" PRIu64 " skipped%s",
              (double)us / 1e6, l->loaded, l->expired, skipped, detail);
    if (skipped > 0)
        log_write(LOG_WARNING,
                  "%" PRIu64 " keys of %s were not loaded: ebb holds strings of up to %u "
                  "bytes under integer keys (types: other types, names: keys that are not "
                  "canonical integers, values: too long, dbs: databases other than 0, limit: "
                  "maxmemory or max-namespaces)",
                  skipped, l->path, (unsigned)TABLE_VALUE_MAX);
    p->last_loaded = l->loaded;
    p->last_expired = l->expired;
    memcpy(p->last_skipped, l->skipped, sizeof p->last_skipped);
    p->last_load_us = us;
    load_end(s);
}

bool cmd_persist_load_step(cmd_server *s, int64_t budget_us)
{
    load_state *l = s->persist->load;
    if (!s->loading || l == NULL)
        return false;
    if (budget_us < PERSIST_LOAD_SLICE_US)
        budget_us = PERSIST_LOAD_SLICE_US;
    int64_t start = cmd_now_us();
    for (;;) {
        for (int i = 0; i < PERSIST_LOAD_BATCH; i++) {
            rdb_item it;
            rdb_status st = rdb_next(&l->rd, &it);
            if (st == RDB_END) {
                load_crc_join(l, false);
                if (l->rd.defer_crc && l->rd.stored_crc != 0 &&
                    (l->rd.crc_len != l->size - 8 || l->crc != l->rd.stored_crc)) {
                    log_write(LOG_WARNING,
                              "Bad snapshot %s at offset %zu: checksum mismatch: stored "
                              "%016" PRIx64 ", computed %016" PRIx64
                              ". Refusing to start with it: move it away, or restore a good copy.",
                              l->path, l->rd.crc_len, l->rd.stored_crc, l->crc);
                    exit(1);
                }
                load_done(s, l);
                return false;
            }
            if (st == RDB_ERROR) {
                log_write(LOG_WARNING,
                          "Bad snapshot %s at offset %zu: %s. Refusing to start with it: "
                          "move it away, or restore a good copy.",
                          l->path, l->rd.offset, l->rd.error);
                exit(1);
            }
            if (it.kind == RDB_ITEM_STRING)
                load_key(s, l, &it);
            else if (it.kind == RDB_ITEM_AUX && it.klen == strlen(NS_KEYS_AUX) &&
                     memcmp(it.key, NS_KEYS_AUX, it.klen) == 0)
                load_reserve(s, l, (const char *)it.val, it.vlen);
            else if (it.kind == RDB_ITEM_OTHER)
                l->skipped[it.db == 0 ? SKIP_TYPE : SKIP_DB]++;
            else if (it.kind == RDB_ITEM_SKIP)
                l->other++;
        }
        if (s->maxmemory > 0 && !l->full && cmd_used_memory(s) >= s->maxmemory) {
            l->full = true;
            log_write(LOG_WARNING, "maxmemory reached while loading: the rest of the keys are "
                                   "skipped");
        }
        int64_t now = cmd_now_us();
        if (now >= l->next_log_us + 1000000) {
            l->next_log_us = now;
            log_write(LOG_NOTICE, "Loading: %.0f%%, %" PRIu64 " keys",
                      l->size > 0 ? 100.0 * (double)l->rd.pos / (double)l->size : 100.0, l->loaded);
        }
        if (now - start >= budget_us)
            return true;
    }
}

/* ---- INFO ---- */

void cmd_persist_info(cmd_server *s, strbuf *b)
{
    cmd_persist *p = s->persist;
    load_state *l = p->load;
    int64_t now_us = cmd_now_us();
    strbuf_printf(b, "loading:%d\r\nasync_loading:0\r\n", s->loading ? 1 : 0);
    if (s->loading && l != NULL) {
        double perc = l->size > 0 ? 100.0 * (double)l->rd.pos / (double)l->size : 100.0;
        double secs = (double)(now_us - l->start_us) / 1e6;
        double eta = perc > 0 ? secs * (100.0 - perc) / perc : 1;
        strbuf_printf(b,
                      "loading_start_time:%" PRId64 "\r\nloading_total_bytes:%zu\r\n"
                      "loading_rdb_used_mem:0\r\nloading_loaded_bytes:%zu\r\n"
                      "loading_loaded_perc:%.2f\r\nloading_eta_seconds:%.0f\r\n",
                      l->start_us / 1000000, l->size, l->rd.pos, perc, eta);
    }
    walk_save *sv = p->walk;
    strbuf_printf(b,
                  "current_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\n"
                  "current_fork_perc:%.2f\r\ncurrent_save_keys_processed:%" PRIu64 "\r\n"
                  "current_save_keys_total:%" PRIu64 "\r\n",
                  sv != NULL && sv->total > 0 ? 100.0 * (double)sv->keys / (double)sv->total : 0.0,
                  sv != NULL ? sv->keys : 0, sv != NULL ? sv->total : 0);
    strbuf_printf(b,
                  "rdb_changes_since_last_save:%" PRIu64 "\r\n"
                  "rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%" PRId64 "\r\n"
                  "rdb_last_bgsave_status:%s\r\nrdb_last_bgsave_time_sec:%" PRId64 "\r\n"
                  "rdb_current_bgsave_time_sec:%" PRId64 "\r\nrdb_saves:%" PRIu64 "\r\n"
                  "rdb_last_cow_size:%" PRIu64 "\r\nrdb_last_save_keys:%" PRIu64 "\r\n"
                  "rdb_last_load_keys_expired:%" PRIu64 "\r\n"
                  "rdb_last_load_keys_loaded:%" PRIu64 "\r\n",
                  s->changes, saving(p) ? 1 : 0, p->lastsave, p->last_ok ? "ok" : "err",
                  p->last_bgsave_secs,
                  p->child > 0 ? (now_us - p->child_start_us) / 1000000
                  : sv != NULL ? (now_us - sv->start_us) / 1000000
                               : (int64_t)-1,
                  p->saves, p->last_cow, p->last_keys, p->last_expired, p->last_loaded);
    uint64_t skipped = 0;
    for (int i = 0; i < SKIP_KINDS; i++)
        skipped += p->last_skipped[i];
    strbuf_printf(b,
                  "rdb_bgsave_mode:%s\r\nrdb_last_bgsave_keys_early:%" PRIu64 "\r\n"
                  "rdb_last_bgsave_buffer_peak:%" PRIu64 "\r\n",
                  /* the running save's way, else the next one's */
                  p->child > 0             ? "fork"
                  : sv != NULL             ? "walk"
                  : s->cfg.bgsave_fork.num ? "fork"
                                           : "walk",
                  p->last_early, p->last_buffer_peak);
    strbuf_printf(b, "rdb_last_load_keys_skipped:%" PRIu64 "\r\n", skipped);
    for (int i = 0; i < SKIP_KINDS; i++)
        strbuf_printf(b, "rdb_last_load_skipped_%s:%" PRIu64 "\r\n", skip_names[i],
                      p->last_skipped[i]);
    strbuf_printf(b,
                  "rdb_last_load_time_ms:%" PRId64 "\r\nrdb_latest_fork_usec:%" PRId64 "\r\n"
                  "aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n"
                  "aof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\n"
                  "aof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n"
                  "aof_last_write_status:ok\r\naof_last_cow_size:0\r\n"
                  "module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                  p->last_load_us / 1000, p->last_fork_us);
}

/* ---- SAVE, BGSAVE, LASTSAVE ---- */

static void cmd_save(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)req;
    if (saving(s->persist)) {
        cmd_reply_error(s, c, "ERR Background save already in progress");
        return;
    }
    int err = save_now(s);
    if (err != 0) {
        cmd_reply_errorf(s, c, "ERR Snapshot failed: %s", strerror(err));
        return;
    }
    resp_add_ok(&c->out);
}

static void cmd_bgsave(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    cmd_persist *p = s->persist;
    bool schedule = false;
    if (req->argc == 2 && cmd_arg_is(&req->argv[1], "schedule")) {
        schedule = true;
    } else if (req->argc > 1) {
        cmd_reply_error(s, c, ERR_SYNTAX);
        return;
    }
    if (saving(p)) {
        if (schedule) {
            p->scheduled = true;
            resp_add_simple(&c->out, "Background saving scheduled");
        } else {
            cmd_reply_error(s, c, "ERR Background save already in progress");
        }
        return;
    }
    const char *why;
    int err = bgsave_start(s, &why);
    if (err != 0) {
        p->last_ok = false;
        p->last_try_ms = cmd_now_us() / 1000;
        cmd_reply_errorf(s, c, "ERR Background save failed: %s", why != NULL ? why : strerror(err));
        return;
    }
    resp_add_simple(&c->out, "Background saving started");
}

static void cmd_lastsave(cmd_server *s, cmd_client *c, const cmd_request *req)
{
    (void)req;
    resp_add_int(&c->out, s->persist->lastsave);
}

const cmd_def cmd_persist_rows[] = {
    {"save", 1, CMD_ADMIN | CMD_NO_SCRIPT | CMD_NO_MULTI, 0, 0, 0, cmd_save, NULL, "server",
     "1.0.0", "Synchronously saves the database(s) to disk.", NULL, NULL},
    {"bgsave", -1, CMD_ADMIN | CMD_NO_SCRIPT, 0, 0, 0, cmd_bgsave, NULL, "server", "1.0.0",
     "Asynchronously saves the database(s) to disk.", "[SCHEDULE]", NULL},
    {"lastsave", 1, CMD_FAST | CMD_STALE | CMD_LOADING, 0, 0, 0, cmd_lastsave, NULL, "server",
     "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", NULL, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
