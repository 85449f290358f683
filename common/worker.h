/*
 * worker: one background thread that runs one job at a time.
 *
 * The ingest loop hands a batch's database transaction to the worker and
 * prepares the next batch (poll, parse, fingerprint) and publishes the
 * previous one while it runs. Whatever a job touches belongs to the worker
 * from nw_worker_submit() until nw_worker_wait() or nw_worker_done() says it
 * is finished; the submitter must not touch it in between.
 */
#ifndef NW_WORKER_H
#define NW_WORKER_H

#include <stdbool.h>

typedef struct nw_worker nw_worker_t;
typedef void (*nw_job_fn)(void *arg);

/* Start the thread, named `name` (at most 15 bytes; signals stay with the
 * calling thread). NULL when a thread cannot be created. */
nw_worker_t *nw_worker_start(const char *name);

/* Run fn(arg) on the worker. The worker must be idle (no job, or the last
 * one waited for). */
void nw_worker_submit(nw_worker_t *w, nw_job_fn fn, void *arg);

/* True when no job is running (the last one is finished); never blocks. */
bool nw_worker_done(nw_worker_t *w);

/* Block until the job submitted last has finished (at once when idle). */
void nw_worker_wait(nw_worker_t *w);

/* Wait for the job in hand, stop and join the thread, free. NULL is fine. */
void nw_worker_stop(nw_worker_t *w);

#endif
