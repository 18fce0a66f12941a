/*
 * test_worker.c - unit tests of server/storage/worker.c (worker.h): a
 * worker blocks the signals sent to the process and leaves open the ones a
 * fault raises; its creator's mask is as it was.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "worker.h"

TestSuite(worker);

static void *read_mask(void *arg)
{
    pthread_sigmask(SIG_SETMASK, NULL, (sigset_t *)arg);
    return NULL;
}

static sigset_t mask_of_worker(void)
{
    sigset_t m;
    sigemptyset(&m);
    pthread_t th;
    cr_assert_eq(worker_start(&th, read_mask, &m), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    return m;
}

Test(worker, blocks_process_signals_not_faults)
{
    sigset_t m = mask_of_worker();
    const int blocked[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                           SIGUSR2, SIGPIPE, SIGXFSZ, SIGCHLD, SIGALRM};
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        cr_expect_eq(sigismember(&m, blocked[i]), 1, "%s open in the worker",
                     strsignal(blocked[i]));
    const int open[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++)
        cr_expect_eq(sigismember(&m, open[i]), 0, "%s blocked in the worker", strsignal(open[i]));
}

Test(worker, creator_mask_unchanged)
{
    /* The creator has SIGUSR1 blocked and SIGTERM open, before and after. */
    sigset_t one, before, after;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    (void)mask_of_worker();
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    for (int sig = 1; sig < NSIG; sig++)
        cr_expect_eq(sigismember(&after, sig), sigismember(&before, sig), "%s changed",
                     strsignal(sig));
    cr_expect_eq(sigismember(&after, SIGTERM), 0);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}
