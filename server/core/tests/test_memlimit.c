/* Unit tests for memlimit.c: the cgroup's memory limit read from a
 * directory laid out as /proc and /sys are (v1, v2, hybrid, containers
 * with and without a cgroup namespace, limits along the path, "max" and
 * v1's unlimited), and the headroom. Real cgroups are tests.cgroup's. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memlimit.h"

#define MIB (1024ull * 1024ull)
#define V1_UNLIMITED "9223372036854771712"

static char root[PATH_MAX];

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/ebb-memlimit-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void remove_root(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(memlimit, .init = make_root, .fini = remove_root);

/* Write text to root/path, making the directories. */
static void put(const char *path, const char *text)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s", root, path);
    for (char *p = full + strlen(root) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(full, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(full, "w");
    cr_assert_not_null(f, "%s", full);
    fputs(text, f);
    fclose(f);
}

static void expect(uint64_t want, memlimit_source want_src)
{
    uint64_t limit = 12345;
    memlimit_source src = MEMLIMIT_CONFIG;
    memlimit_read_cgroup(root, &limit, &src);
    cr_assert_eq(limit, want, "limit %llu, want %llu", (unsigned long long)limit,
                 (unsigned long long)want);
    cr_assert_eq(src, want_src, "source %s", memlimit_source_name(src));
}

Test(memlimit, v1_lowest_limit_up_the_path)
{
    put("/proc/self/cgroup", "5:devices:/\n4:memory:/a/b\n0::/\n");
    put("/proc/self/mountinfo",
        "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    put("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", V1_UNLIMITED "\n");
    put("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "104857600\n");
    put("/sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED "\n");
    /* The unified hierarchy has no memory controller here: v1 it is. */
    put("/sys/fs/cgroup/unified/cgroup.controllers", "\n");
    expect(100 * MIB, MEMLIMIT_CGROUP_V1);
    /* A lower limit deeper down wins. */
    put("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "52428800\n");
    expect(50 * MIB, MEMLIMIT_CGROUP_V1);
}

Test(memlimit, v1_unlimited_everywhere_is_no_limit)
{
    put("/proc/self/cgroup", "4:memory:/process_api/x\n");
    put("/proc/self/mountinfo",
        "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n");
    put("/sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes", V1_UNLIMITED);
    put("/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes", V1_UNLIMITED);
    put("/sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED);
    expect(0, MEMLIMIT_NONE);
}

Test(memlimit, v1_container_without_cgroup_namespace)
{
    /* Docker on v1: the process's path is the container's, and the
     * container's cgroup is what is mounted. */
    put("/proc/self/cgroup", "9:memory:/docker/abc\n");
    put("/proc/self/mountinfo", "600 590 0:31 /docker/abc /sys/fs/cgroup/memory ro,nosuid - "
                                "cgroup cgroup rw,memory\n");
    put("/sys/fs/cgroup/memory/memory.limit_in_bytes", "104857600");
    expect(100 * MIB, MEMLIMIT_CGROUP_V1);
}

Test(memlimit, v2_max_and_high_along_the_path)
{
    put("/proc/self/cgroup", "0::/kubepods/pod1/c1\n");
    put("/proc/self/mountinfo", "40 30 0:37 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n");
    put("/sys/fs/cgroup/kubepods/pod1/c1/memory.max", "max\n");
    put("/sys/fs/cgroup/kubepods/pod1/c1/memory.high", "max\n");
    put("/sys/fs/cgroup/kubepods/pod1/memory.max", "209715200\n");
    put("/sys/fs/cgroup/kubepods/pod1/memory.high", "max\n");
    put("/sys/fs/cgroup/kubepods/memory.max", "max\n");
    expect(200 * MIB, MEMLIMIT_CGROUP_V2);
    /* memory.high where lower. */
    put("/sys/fs/cgroup/kubepods/pod1/c1/memory.high", "157286400\n");
    expect(150 * MIB, MEMLIMIT_CGROUP_V2);
}

Test(memlimit, v2_container_with_cgroup_namespace)
{
    put("/proc/self/cgroup", "0::/\n");
    put("/proc/self/mountinfo", "700 690 0:40 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n");
    put("/sys/fs/cgroup/memory.max", "52428800\n");
    put("/sys/fs/cgroup/memory.high", "max\n");
    expect(50 * MIB, MEMLIMIT_CGROUP_V2);
    put("/sys/fs/cgroup/memory.max", "max\n");
    expect(0, MEMLIMIT_NONE);
}

Test(memlimit, nothing_readable_is_no_limit)
{
    expect(0, MEMLIMIT_NONE);
    put("/proc/self/cgroup", "0::/\n");
    put("/proc/self/mountinfo", "garbage\n\n - \n");
    expect(0, MEMLIMIT_NONE);
}

Test(memlimit, headroom)
{
    cr_assert_eq(memlimit_headroom(100 * MIB), 16 * MIB);
    cr_assert_eq(memlimit_headroom(1024 * MIB), 64 * MIB);
    cr_assert_eq(memlimit_headroom(20 * MIB), 10 * MIB); /* at most half */
    cr_assert_eq(memlimit_headroom(16384 * MIB), 1024 * MIB);
}
