#define _GNU_SOURCE /* pthread_setname_np */
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct nw_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    nw_job_fn fn; /* the job waiting or running; NULL when idle */
    void *arg;
    bool quit;
};

static void *worker_main(void *vw)
{
    nw_worker_t *w = vw;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->fn && !w->quit)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->fn)
            break; /* quit, nothing left to do */
        nw_job_fn fn = w->fn;
        void *arg = w->arg;
        pthread_mutex_unlock(&w->lock);
        fn(arg);
        pthread_mutex_lock(&w->lock);
        w->fn = NULL;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

nw_worker_t *nw_worker_start(const char *name)
{
    nw_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    /* The new thread inherits this mask: every signal stays with the caller,
     * whose loop reads the flags its handlers set. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0 && name)
        pthread_setname_np(w->thread, name); /* top -H, perf, gdb show it */
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void nw_worker_submit(nw_worker_t *w, nw_job_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    while (w->fn) /* the contract says idle; never run two jobs at once */
        pthread_cond_wait(&w->cond, &w->lock);
    w->fn = fn;
    w->arg = arg;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

bool nw_worker_done(nw_worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    bool done = !w->fn;
    pthread_mutex_unlock(&w->lock);
    return done;
}

void nw_worker_wait(nw_worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->fn)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void nw_worker_stop(nw_worker_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->quit = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL); /* it finishes the job in hand first */
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
