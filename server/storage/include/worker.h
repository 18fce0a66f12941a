/*
 * worker.h - threads beside the event loop that take no process signals
 * (layer 1, libc only).
 *
 * A signal sent to the process (kill, a terminal's ^C, docker stop) goes to
 * any one thread that does not block it. The server handles SIGINT and
 * SIGTERM on the event loop's thread alone, and blocks them there while it
 * frees its handlers at exit (server/daemon/main.c); a worker that took one
 * then would get the default action, which ends the process in the middle
 * of its shutdown. So ebb's workers (the prefaulter, the walked save's
 * writer, the load's checksum) block every signal but the ones a fault
 * raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), which stay open
 * so that a crash in a worker is reported as one.
 */
#ifndef EBB_WORKER_H
#define EBB_WORKER_H

#include <pthread.h>

/* pthread_create(th, NULL, fn, arg) with the new thread's signal mask as
 * above; the caller's mask is unchanged afterwards. Returns 0, or the error
 * number pthread_create returned (then *th is unset). */
int worker_start(pthread_t *th, void *(*fn)(void *), void *arg);

#endif
