/*
 * evict.c - maxmemory: evicting keys to stay under it (layer 2).
 *
 * The figure compared with maxmemory is cmd_evict_used(): every table's
 * index and side arrays, 136 bytes per record (so that each eviction is seen
 * at once, not a chunk of 2048 records later) and the allocator's bytes in
 * use as of the last cron tick. It tracks used_memory to within a chunk per
 * namespace.
 *
 * Policies, as Redis names them: noeviction (writes that may add memory get
 * -OOM; reads and deletes still work), allkeys-random, allkeys-lru,
 * allkeys-lfu, volatile-random, volatile-lru, volatile-lfu, volatile-ttl
 * (volatile-*: only keys with a TTL are candidates; none left means -OOM).
 *
 * LRU is approximate, as in Redis: maxmemory-samples keys are picked at
 * random and the one least recently used goes. The cost is a 4-byte access
 * stamp per key (10 ms resolution), kept only while an LRU policy is set.
 * LFU samples the same way and evicts the key whose access counter, decayed
 * to now, is lowest; its stamps are Redis's LFU fields (table.h), in the
 * same 4 bytes per key, kept only while an LFU policy is set.
 * volatile-ttl picks, among the samples, the key that expires soonest.
 *
 * Before each command that may add memory, up to EVICT_PER_WRITE keys are
 * evicted; if that is not enough the command still runs as long as some key
 * could be evicted (the cron keeps evicting in 1 ms slices), so lowering
 * maxmemory at runtime drains incrementally instead of stalling one client.
 */
#include <stdlib.h>

#include "evict.h"
#include "tracking.h"

/* Eviction's own state (cmd_server.evict). */
struct cmd_evict {
    uint64_t rng;   /* xorshift state for sampling */
    uint64_t *sums; /* per namespace, candidates summed */
    size_t sums_cap;
    uint64_t evicted_keys; /* INFO evicted_keys */
};

bool cmd_evict_init(cmd_server *s)
{
    s->evict = calloc(1, sizeof *s->evict);
    return s->evict != NULL;
}

void cmd_evict_free(cmd_server *s)
{
    if (s->evict != NULL)
        free(s->evict->sums);
    free(s->evict);
    s->evict = NULL;
}

uint64_t cmd_evict_evicted_keys(const cmd_server *s)
{
    return s->evict->evicted_keys;
}

void cmd_evict_reset_stats(cmd_server *s)
{
    s->evict->evicted_keys = 0;
}

/* Keys evicted at most before one write: enough to absorb the write itself
 * many times over, small enough (a few µs each) to keep the write fast. */
#define EVICT_PER_WRITE 64u
/* Keys evicted between clock checks in the background cycle. */
#define EVICT_STEP 64u

static const char ERR_OOM_MAXMEMORY[] = EVICT_ERR_OOM;

uint64_t cmd_evict_used(const cmd_server *s)
{
    uint64_t sum = s->heap_used;
    for (size_t i = 0; i < db_ns_count(s->db); i++)
        sum += table_memory(db_ns_at(s->db, i)->t);
    return sum;
}

/* xorshift64*: fast, and good enough to pick keys. */
uint64_t cmd_random(cmd_server *s)
{
    uint64_t x = s->evict->rng != 0 ? s->evict->rng : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->evict->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t candidates(const table *t, bool with_ttl)
{
    return with_ttl ? table_expires(t) : table_count(t);
}

/* A namespace picked with probability proportional to its candidates. */
table *cmd_pick_table(cmd_server *s, bool with_ttl)
{
    uint64_t total = 0;
    size_t n = db_ns_count(s->db);
    for (size_t i = 0; i < n; i++)
        total += candidates(db_ns_at(s->db, i)->t, with_ttl);
    if (total == 0)
        return NULL;
    uint64_t r = cmd_random(s) % total;
    for (size_t i = 0; i < n; i++) {
        table *t = db_ns_at(s->db, i)->t;
        uint64_t w = candidates(t, with_ttl);
        if (r < w)
            return t;
        r -= w;
    }
    return NULL;
}

/* Running sums of every namespace's candidates in s->evict->sums, so that the
 * samples of one eviction each find their namespace by binary search
 * instead of walking every namespace twice: with 64 namespaces, SETs that
 * each evicted a key ran at 88k/s against 753k/s with one namespace. The
 * total; UINT64_MAX if the array could not grow (sample with
 * cmd_pick_table then). */
static uint64_t candidate_sums(cmd_server *s, bool with_ttl)
{
    size_t n = db_ns_count(s->db);
    if (n > s->evict->sums_cap) {
        uint64_t *a = realloc(s->evict->sums, n * sizeof *a);
        if (a == NULL)
            return UINT64_MAX;
        s->evict->sums = a;
        s->evict->sums_cap = n;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += candidates(db_ns_at(s->db, i)->t, with_ttl);
        s->evict->sums[i] = total;
    }
    return total;
}

/* The namespace holding candidate r (< the total) of candidate_sums. */
static table *table_of_candidate(cmd_server *s, uint64_t r)
{
    size_t lo = 0, hi = db_ns_count(s->db) - 1;
    while (lo < hi) { /* the first i with sums[i] > r */
        size_t mid = lo + (hi - lo) / 2;
        if (s->evict->sums[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return db_ns_at(s->db, lo)->t;
}

/* Evict one key by the policy, from any namespace or, with `only`, from
 * that table alone (a namespace over its quota); *freed is how much
 * cmd_evict_used() went down (less than zero when the delete started a
 * shrink, whose new index is mapped before the old one goes). False when
 * there is nothing to evict. */
static bool evict_one(cmd_server *s, table *only, int64_t *freed)
{
    int policy = s->maxmemory_policy;
    if (policy == POLICY_NOEVICTION)
        return false;
    bool with_ttl = policy >= POLICY_VOLATILE_LRU;
    bool random = policy == POLICY_ALLKEYS_RANDOM || policy == POLICY_VOLATILE_RANDOM;
    bool lfu = policy == POLICY_ALLKEYS_LFU || policy == POLICY_VOLATILE_LFU;
    uint32_t lfu_now = table_lfu_minutes(s->now_ms);
    unsigned lfu_decay = (unsigned)s->cfg.lfu_decay_time.num;
    unsigned samples = random ? 1 : (unsigned)s->cfg.maxmemory_samples.num;
    uint64_t total = only != NULL ? candidates(only, with_ttl) : candidate_sums(s, with_ttl);
    if (total == 0)
        return false;
    table *best_t = NULL;
    table_sample_t best = {0};
    /* Ages, not stamps, are compared: 32-bit stamps of 10 ms wrap every
     * 497 days, and unsigned subtraction stays right across the wrap. */
    uint32_t now = (uint32_t)(s->now_ms / TABLE_LRU_UNIT_MS);
    for (unsigned k = 0; k < samples; k++) {
        table *t = only != NULL          ? only
                   : total == UINT64_MAX ? cmd_pick_table(s, with_ttl)
                                         : table_of_candidate(s, cmd_random(s) % total);
        table_sample_t smp;
        if (t == NULL || !table_sample(t, cmd_random(s), with_ttl, &smp))
            continue;
        bool better =
            best_t == NULL || (policy == POLICY_VOLATILE_TTL ? smp.expire_at < best.expire_at
                               : lfu ? table_lfu_decayed(smp.lru, lfu_now, lfu_decay) <
                                           table_lfu_decayed(best.lru, lfu_now, lfu_decay)
                                     : (uint32_t)(now - smp.lru) > (uint32_t)(now - best.lru));
        if (better) {
            best_t = t;
            best = smp;
        }
    }
    if (best_t == NULL)
        return false;
    uint64_t before = table_memory(best_t);
    if (table_evict(best_t, best.key) == TABLE_OK) {
        s->evict->evicted_keys++;
        if (s->tracking_clients > 0) {
            const db_ns *n = db_find_table(s->db, best_t);
            if (n != NULL)
                cmd_tracking_invalidate(s, n->name, n->namelen, best.key);
        }
    }
    *freed = (int64_t)before - (int64_t)table_memory(best_t);
    return true;
}

/* used - freed, at 0 at least. */
static uint64_t less(uint64_t used, int64_t freed)
{
    if (freed >= 0)
        return used > (uint64_t)freed ? used - (uint64_t)freed : 0;
    return used + (uint64_t)-freed;
}

bool cmd_evict_before_write(cmd_server *s, cmd_client *c)
{
    if (cmd_evict_room(s))
        return true;
    cmd_reply_error(s, c, ERR_OOM_MAXMEMORY);
    return false;
}

bool cmd_evict_room(cmd_server *s)
{
    uint64_t max = s->maxmemory;
    /* During a pause nothing is evicted, and the write goes on as if there
     * were room (Redis's performEvictions then answers EVICT_OK): only
     * what the pause lets through writes, which is little. */
    if (max == 0 || s->keys_frozen)
        return true;
    /* Summed once; each eviction then takes off what it freed. */
    uint64_t used = cmd_evict_used(s);
    if (used <= max)
        return true;
    unsigned n = 0;
    int64_t freed;
    while (n < EVICT_PER_WRITE && used > max && evict_one(s, NULL, &freed)) {
        used = less(used, freed);
        n++;
    }
    return n > 0 || used <= max;
}

unsigned cmd_evict_bytes(cmd_server *s, uint64_t bytes, unsigned max_keys)
{
    unsigned n = 0;
    int64_t freed, total = 0;
    while (n < max_keys && total < (int64_t)bytes && evict_one(s, NULL, &freed)) {
        total += freed;
        n++;
    }
    return n;
}

bool cmd_evict_cycle(cmd_server *s, int64_t budget_us)
{
    uint64_t max = s->maxmemory;
    if (max == 0 || s->keys_frozen)
        return false; /* a pause keeps every key, as in Redis */
    int64_t deadline = cmd_now_us() + budget_us;
    uint64_t used = cmd_evict_used(s);
    int64_t freed;
    while (used > max) {
        for (unsigned k = 0; k < EVICT_STEP && used > max; k++) {
            if (!evict_one(s, NULL, &freed))
                return false; /* nothing evictable: writes get -OOM */
            used = less(used, freed);
        }
        if (cmd_now_us() >= deadline)
            return used > max;
    }
    return false;
}

unsigned cmd_evict_table(cmd_server *s, table *t, uint64_t max, unsigned max_keys)
{
    uint64_t used = table_memory(t);
    unsigned n = 0;
    int64_t freed;
    while (n < max_keys && used > max && evict_one(s, t, &freed)) {
        used = less(used, freed);
        n++;
    }
    return n;
}
