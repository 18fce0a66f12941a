/*
 * topk.c - the Space-Saving summary (topk.h).
 *
 * heap[0..n) is a min-heap by count; slots[] is an open-addressed hash
 * (linear probing, 2K..4K positions) from an id to 1 + its heap index, 0
 * for an empty position; where[i] is the hash position of heap[i], so a
 * swap in the heap can fix both sides in O(1).
 */
#include "topk.h"

#include <stdlib.h>
#include <string.h>

static uint32_t probe(const struct topk *t, int64_t id, bool *found);

struct topk {
    uint32_t cap, n;
    uint32_t mask; /* hash positions - 1 */
    uint64_t total;
    topk_entry *heap;
    uint32_t *where;
    uint32_t *slots;
};

static uint32_t slot_count(uint32_t cap)
{
    uint32_t n = 2;
    while (n < 2 * cap)
        n *= 2;
    return n;
}

size_t topk_bytes(uint32_t cap)
{
    return sizeof(topk) + (size_t)cap * (sizeof(topk_entry) + sizeof(uint32_t)) +
           (size_t)slot_count(cap) * sizeof(uint32_t);
}

topk *topk_new(uint32_t cap)
{
    if (cap == 0 || cap > TOPK_CAP_MAX)
        return NULL;
    topk *t = calloc(1, topk_bytes(cap));
    if (t == NULL)
        return NULL;
    t->cap = cap;
    t->mask = slot_count(cap) - 1;
    t->heap = (topk_entry *)(t + 1);
    t->where = (uint32_t *)(t->heap + cap);
    t->slots = t->where + cap;
    return t;
}

topk *topk_grow(topk *t, uint32_t cap)
{
    if (cap < t->n)
        return NULL;
    topk *g = topk_new(cap);
    if (g == NULL)
        return NULL;
    /* The heap order carries over as it is; only the hash is new. */
    for (uint32_t i = 0; i < t->n; i++) {
        bool found;
        uint32_t s = probe(g, t->heap[i].id, &found);
        g->heap[i] = t->heap[i];
        g->slots[s] = i + 1;
        g->where[i] = s;
    }
    g->n = t->n;
    g->total = t->total;
    topk_free(t);
    return g;
}

void topk_free(topk *t)
{
    free(t);
}

void topk_clear(topk *t)
{
    t->n = 0;
    t->total = 0;
    memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof *t->slots);
}

uint32_t topk_cap(const topk *t)
{
    return t->cap;
}

uint32_t topk_size(const topk *t)
{
    return t->n;
}

uint64_t topk_total(const topk *t)
{
    return t->total;
}

const topk_entry *topk_at(const topk *t, uint32_t i)
{
    return &t->heap[i];
}

static uint32_t home(const topk *t, int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x & t->mask;
}

/* The hash position holding id, or the empty one where it would go. */
static uint32_t probe(const topk *t, int64_t id, bool *found)
{
    uint32_t i = home(t, id);
    while (t->slots[i] != 0) {
        if (t->heap[t->slots[i] - 1].id == id) {
            *found = true;
            return i;
        }
        i = (i + 1) & t->mask;
    }
    *found = false;
    return i;
}

/* Empty hash position i, moving later entries of its probe run back so
 * that every id stays reachable from its home (no tombstones). */
static void slot_delete(topk *t, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j] == 0)
            break;
        uint32_t k = home(t, t->heap[t->slots[j] - 1].id);
        /* The entry at j may move to i unless its home lies cyclically in
         * (i, j]: then it would sit before its home. */
        bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!between) {
            t->slots[i] = t->slots[j];
            t->where[t->slots[i] - 1] = i;
            i = j;
        }
    }
    t->slots[i] = 0;
}

static void heap_swap(topk *t, uint32_t a, uint32_t b)
{
    topk_entry e = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = e;
    uint32_t w = t->where[a];
    t->where[a] = t->where[b];
    t->where[b] = w;
    t->slots[t->where[a]] = a + 1;
    t->slots[t->where[b]] = b + 1;
}

static void sift_up(topk *t, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (t->heap[p].count <= t->heap[i].count)
            break;
        heap_swap(t, p, i);
        i = p;
    }
}

static void sift_down(topk *t, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < t->n && t->heap[l].count < t->heap[m].count)
            m = l;
        if (l + 1 < t->n && t->heap[l + 1].count < t->heap[m].count)
            m = l + 1;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

void topk_add(topk *t, int64_t id)
{
    t->total++;
    bool found;
    uint32_t s = probe(t, id, &found);
    if (found) {
        uint32_t e = t->slots[s] - 1;
        t->heap[e].count++;
        sift_down(t, e);
        return;
    }
    if (t->n < t->cap) {
        uint32_t e = t->n++;
        t->heap[e] = (topk_entry){.id = id, .count = 1, .error = 0};
        t->slots[s] = e + 1;
        t->where[e] = s;
        sift_up(t, e);
        return;
    }
    /* Full: id takes over the entry with the fewest counts. Its old id
     * leaves the hash first (which may move other positions), so id's
     * position is looked for again. */
    uint64_t m = t->heap[0].count;
    slot_delete(t, t->where[0]);
    s = probe(t, id, &found);
    t->heap[0] = (topk_entry){.id = id, .count = m + 1, .error = m};
    t->slots[s] = 1;
    t->where[0] = s;
    sift_down(t, 0);
}

bool topk_check(const topk *t)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const topk_entry *e = &t->heap[i];
        sum += e->count;
        if (e->error >= e->count || t->where[i] > t->mask || t->slots[t->where[i]] != i + 1)
            return false;
        if (i > 0 && t->heap[(i - 1) / 2].count > e->count)
            return false;
        bool found;
        if (probe(t, e->id, &found) != t->where[i] || !found)
            return false;
    }
    uint32_t used = 0;
    for (uint32_t i = 0; i <= t->mask; i++)
        used += t->slots[i] != 0;
    return used == t->n && sum == t->total;
}
