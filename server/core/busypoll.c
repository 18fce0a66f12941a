/*
 * busypoll.c - the polling decision (see busypoll.h).
 */
#include "busypoll.h"

#include <string.h>

void busypoll_init(busypoll *bp)
{
    memset(bp, 0, sizeof *bp);
}

void busypoll_tick(busypoll *bp, uint64_t wall_ns, uint64_t cpu_ns, uint32_t window_us)
{
    /* A tick right after a late one (timers catch up) measures too short a
     * span to say anything: a single request's work can fill it. The
     * decision stands and the span goes on to the next tick. */
    if (bp->started && window_us != 0 && wall_ns < bp->tick_wall_ns + BUSYPOLL_MIN_SPAN_NS)
        return;
    bool measured = bp->started;
    uint64_t wall = wall_ns - bp->tick_wall_ns;
    uint64_t cpu = cpu_ns > bp->tick_cpu_ns ? cpu_ns - bp->tick_cpu_ns : 0;
    uint64_t other = bp->tick_empty_ns + bp->tick_background_ns;
    bp->started = true;
    bp->tick_wall_ns = wall_ns;
    bp->tick_cpu_ns = cpu_ns;
    bp->tick_empty_ns = 0;
    bp->tick_background_ns = 0;
    if (!measured || window_us == 0) {
        bp->on = false;
        return;
    }
    /* Empty polls and background work ran on the CPU: what is left of the
     * CPU time is serving requests. Both are timed by the wall clock, which
     * also counts time the thread was preempted, so the difference can come
     * out below zero. */
    uint64_t work = cpu > other ? cpu - other : 0;
    uint64_t load = work >= wall ? 100u : work * 100u / wall;
    bp->on = load >= (bp->on ? BUSYPOLL_OFF_LOAD : BUSYPOLL_ON_LOAD);
}

uint64_t busypoll_window_ns(const busypoll *bp, uint32_t window_us)
{
    return bp->on ? (uint64_t)window_us * 1000u : 0;
}

void busypoll_empty(busypoll *bp, uint64_t ns)
{
    bp->tick_empty_ns += ns;
    bp->empty_ns += ns;
}

void busypoll_background(busypoll *bp, uint64_t ns)
{
    bp->tick_background_ns += ns;
}
