/*
 * busypoll.h - when the event loop polls for work instead of sleeping
 * (layer 2, libc only).
 *
 * A loop that sleeps in epoll_wait whenever it runs out of work must be
 * woken for the next request, and the client's send pays for that wake (an
 * interrupt to the sleeping CPU; on a virtual machine, exits to the
 * hypervisor). A server faster than the client feeding it sleeps more often
 * and so makes the client pay more per request. With redis-benchmark -P 1
 * and 50 clients on this 2-core virtual machine, ebb slept 7.5 times per 100
 * requests against Redis's 3.9 (it was idle more often because it did less
 * per request), the client spent about 8 % more CPU per request, and since
 * the client was the bottleneck ebb served about 9 % fewer requests per
 * second. Polling for 50 microseconds before sleeping cut ebb's sleeps to
 * under 1 per 100 requests and closed that gap.
 *
 * Polling burns CPU, so it is done only while serving requests keeps the
 * loop busy anyway: the decision is taken once per cron tick from the share
 * of the tick the loop spent serving (its thread's CPU time, minus what
 * polling itself cost and what the server's own background work took:
 * expiry, migrations, SHRINK, eviction, which make no request come sooner).
 * It turns on at BUSYPOLL_ON_LOAD and off below BUSYPOLL_OFF_LOAD (the gap
 * keeps it from flapping on the saving polling itself brings). Polling fills
 * at most the idle share of the loop's time, so it costs at most 1.5 times
 * the CPU of the work it serves (at the 40 % floor), and nothing when the
 * server is idle or serves few requests.
 *
 * Terms: "window": how long the loop polls after a round before it sleeps
 * (the busy-poll-us option; 0 turns polling off). "empty poll": a poll that
 * found no work; its (wall-clock) time is what polling cost.
 */
#ifndef EBB_BUSYPOLL_H
#define EBB_BUSYPOLL_H

#include <stdbool.h>
#include <stdint.h>

/* Percent of a tick the loop must have worked to start (ON) or keep (OFF)
 * polling. At redis-benchmark -P 1 ebb's loop worked about 75 % of the
 * time (its CPU time over the run, about 4.6 µs per request); at that
 * cost a sidecar serving 5000 requests a second works 2-3 %. */
#define BUSYPOLL_ON_LOAD 50u
#define BUSYPOLL_OFF_LOAD 40u
/* The shortest span a decision is taken over (half a 10 ms cron tick). */
#define BUSYPOLL_MIN_SPAN_NS 5000000u

typedef struct busypoll {
    bool on;                     /* poll after each round until the next tick */
    bool started;                /* a tick has set the marks below */
    uint64_t tick_wall_ns;       /* monotonic time at the last tick */
    uint64_t tick_cpu_ns;        /* the loop thread's CPU time at the last tick */
    uint64_t tick_empty_ns;      /* empty poll time since the last tick */
    uint64_t tick_background_ns; /* background work since the last tick */
    uint64_t empty_ns;           /* empty poll time since start (INFO busy_poll_usec) */
} busypoll;

/* Start off, with no tick seen. */
void busypoll_init(busypoll *bp);

/* Once per cron tick: wall_ns is the monotonic clock (never going back),
 * cpu_ns the loop thread's CPU time. Decides whether to poll until the next
 * tick from the work share since the previous decision; window_us is the
 * configured window (0: never poll). The first call only sets the marks; a
 * call less than BUSYPOLL_MIN_SPAN_NS after the last decision changes
 * nothing. */
void busypoll_tick(busypoll *bp, uint64_t wall_ns, uint64_t cpu_ns, uint32_t window_us);

/* The window to poll for after a round, in ns: 0 unless polling is on. */
uint64_t busypoll_window_ns(const busypoll *bp, uint32_t window_us);

/* Count ns spent polling without finding work. */
void busypoll_empty(busypoll *bp, uint64_t ns);

/* Count ns the loop spent on background work (not serving requests). */
void busypoll_background(busypoll *bp, uint64_t ns);

#endif
