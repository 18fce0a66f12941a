/*
 * worker.c - see worker.h.
 *
 * A new thread inherits its creator's signal mask, so the creator sets the
 * worker's mask around pthread_create and puts its own back: the worker
 * never runs a moment with a signal open that it should not take.
 */
#include "worker.h"

#include <signal.h>

/* Raised by a fault in the thread itself; blocking these is undefined
 * (Linux unblocks them and resets their handler to the default). */
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

int worker_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    sigset_t mask, old;
    sigfillset(&mask);
    for (size_t i = 0; i < sizeof fault_signals / sizeof fault_signals[0]; i++)
        sigdelset(&mask, fault_signals[i]);
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    int err = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}
