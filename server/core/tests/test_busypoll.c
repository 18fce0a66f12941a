/* Unit tests for busypoll.c: when the loop polls, from its work share. */
#include <criterion/criterion.h>

#include "busypoll.h"

#define MS 1000000ull /* ns */

/* A tick wall_ns after the last one, the loop's thread on the CPU for
 * cpu_ns of them (window 50 us). */
static void tick_after(busypoll *bp, uint64_t *wall, uint64_t *cpu, uint64_t wall_ns,
                       uint64_t cpu_ns)
{
    *wall += wall_ns;
    *cpu += cpu_ns;
    busypoll_tick(bp, *wall, *cpu, 50);
}

/* One 10 ms tick in which the loop worked work_ms and polled empty_ms. */
static void tick(busypoll *bp, uint64_t *wall, uint64_t *cpu, uint64_t work_ms, uint64_t empty_ms,
                 uint32_t window_us)
{
    busypoll_empty(bp, empty_ms * MS);
    *wall += 10 * MS;
    *cpu += (work_ms + empty_ms) * MS;
    busypoll_tick(bp, *wall, *cpu, window_us);
}

/* A poller past its first tick (which only sets the marks) at wall = cpu = 0. */
static busypoll started(void)
{
    busypoll bp;
    busypoll_init(&bp);
    busypoll_tick(&bp, 0, 0, 50);
    return bp;
}

Test(busypoll, off_until_a_tick_has_measured)
{
    busypoll bp;
    busypoll_init(&bp);
    cr_assert_not(bp.on);
    cr_assert_eq(busypoll_window_ns(&bp, 50), 0);
    /* The first tick only sets the marks, however busy the clocks say. */
    busypoll_tick(&bp, 5000 * MS, 5000 * MS, 50);
    cr_assert_not(bp.on);
    busypoll_tick(&bp, 5010 * MS, 5020 * MS, 50);
    cr_assert(bp.on, "a full tick of work turns polling on");
    cr_assert_eq(busypoll_window_ns(&bp, 50), 50000);
    cr_assert_eq(busypoll_window_ns(&bp, 7), 7000, "the window follows the option");
}

Test(busypoll, on_at_half_busy_off_below_forty_percent)
{
    busypoll bp = started();
    uint64_t wall = 0, cpu = 0;
    tick(&bp, &wall, &cpu, 4, 0, 50);
    cr_assert_not(bp.on, "40 %% busy does not start polling");
    tick(&bp, &wall, &cpu, 5, 0, 50);
    cr_assert(bp.on, "50 %% busy does");
    tick(&bp, &wall, &cpu, 4, 0, 50);
    cr_assert(bp.on, "40 %% busy keeps it");
    tick(&bp, &wall, &cpu, 3, 0, 50);
    cr_assert_not(bp.on, "30 %% busy stops it");
    tick(&bp, &wall, &cpu, 4, 0, 50);
    cr_assert_not(bp.on, "and 40 %% does not start it again");
}

Test(busypoll, polling_does_not_count_as_work)
{
    busypoll bp = started();
    uint64_t wall = 0, cpu = 0;
    tick(&bp, &wall, &cpu, 6, 0, 50);
    cr_assert(bp.on);
    /* The thread was on the CPU the whole tick, but 7 ms of it polled for
     * nothing: 30 % work, which must not keep polling alive. */
    tick(&bp, &wall, &cpu, 3, 7, 50);
    cr_assert_not(bp.on);
    cr_assert_eq(bp.empty_ns, 7 * MS, "empty polls add up");
    tick(&bp, &wall, &cpu, 3, 0, 50);
    cr_assert_eq(bp.empty_ns, 7 * MS);
}

Test(busypoll, zero_window_never_polls)
{
    busypoll bp = started();
    uint64_t wall = 0, cpu = 0;
    tick(&bp, &wall, &cpu, 10, 0, 0);
    cr_assert_not(bp.on);
    cr_assert_eq(busypoll_window_ns(&bp, 0), 0);
    tick(&bp, &wall, &cpu, 10, 0, 50);
    cr_assert(bp.on, "turned on again by CONFIG SET");
    tick(&bp, &wall, &cpu, 10, 0, 0);
    cr_assert_not(bp.on, "and off by CONFIG SET busy-poll-us 0");
}

Test(busypoll, clock_oddities_turn_it_off)
{
    busypoll bp;
    busypoll_init(&bp);
    busypoll_tick(&bp, 100 * MS, 50 * MS, 50);
    busypoll_tick(&bp, 110 * MS, 60 * MS, 50);
    cr_assert(bp.on);
    /* No time passed: nothing measured (and no division by zero); the
     * decision stands. */
    busypoll_tick(&bp, 110 * MS, 70 * MS, 50);
    cr_assert(bp.on);
    busypoll_tick(&bp, 120 * MS, 80 * MS, 50);
    cr_assert(bp.on);
    /* More empty polling than CPU time (clocks read at different moments):
     * no work, not a wrapped-around huge one. */
    busypoll_empty(&bp, 5 * MS);
    busypoll_tick(&bp, 130 * MS, 81 * MS, 50);
    cr_assert_not(bp.on);
}

Test(busypoll, background_work_is_not_load)
{
    busypoll bp = started();
    uint64_t wall = 0, cpu = 0;
    /* 8 ms of a 10 ms tick on the CPU, 6 of them expiry or a SHRINK: 20 %
     * serving requests, which would not come any sooner for polling. */
    busypoll_background(&bp, 6 * MS);
    tick(&bp, &wall, &cpu, 8, 0, 50);
    cr_assert_not(bp.on);
    /* Counted for one tick only. */
    tick(&bp, &wall, &cpu, 8, 0, 50);
    cr_assert(bp.on);
    busypoll_background(&bp, 9 * MS);
    busypoll_empty(&bp, 2 * MS);
    tick(&bp, &wall, &cpu, 8, 2, 50);
    cr_assert_not(bp.on, "background and empty polls together leave no work");
}

Test(busypoll, a_tick_right_after_a_late_one_decides_nothing)
{
    busypoll bp = started();
    uint64_t wall = 0, cpu = 0;
    /* Idle, then a tick 30 ms late: still off. */
    tick(&bp, &wall, &cpu, 0, 0, 50);
    tick_after(&bp, &wall, &cpu, 30 * MS, 0);
    cr_assert_not(bp.on);
    /* The timer catches up 200 us later, and one INFO took 150 us of them:
     * 75 % of that span, but too short a span to start polling on. */
    tick_after(&bp, &wall, &cpu, 200000, 150000);
    cr_assert_not(bp.on, "a 200 us span decided");
    /* The span goes on: the next tick judges the whole 10.2 ms, 1.5 % busy. */
    tick_after(&bp, &wall, &cpu, 10 * MS, 0);
    cr_assert_not(bp.on);
    /* And a real 5 ms of a 10 ms span counts, however the ticks fell. */
    tick_after(&bp, &wall, &cpu, 3 * MS, 3 * MS);
    cr_assert_not(bp.on, "3 ms is still too short to decide on");
    tick_after(&bp, &wall, &cpu, 7 * MS, 2 * MS);
    cr_assert(bp.on, "5 ms of work over the 10 ms since the last decision");
}
