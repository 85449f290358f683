/* Unit tests for worker: one job at a time, on another thread, waited for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <cmocka.h>

#include "worker.h"

typedef struct job {
    atomic_int started, finished;
    atomic_bool release;   /* the job spins until set */
    pthread_t thread;      /* the thread that ran it */
    int blocked_sigterm;   /* SIGTERM was blocked on that thread */
} job_t;

static void run(void *arg)
{
    job_t *j = arg;
    j->thread = pthread_self();
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    j->blocked_sigterm = sigismember(&cur, SIGTERM);
    atomic_fetch_add(&j->started, 1);
    while (!atomic_load(&j->release)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&j->finished, 1);
}

static void test_runs_on_another_thread_and_waits(void **state)
{
    (void)state;
    nw_worker_t *w = nw_worker_start("nw-test");
    assert_non_null(w);
    assert_true(nw_worker_done(w)); /* idle */
    nw_worker_wait(w);              /* returns at once when idle */
    job_t j = {0};
    nw_worker_submit(w, run, &j);
    while (!atomic_load(&j.started)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_false(nw_worker_done(w)); /* running, not finished */
    assert_int_equal(atomic_load(&j.finished), 0);
    atomic_store(&j.release, true);
    nw_worker_wait(w);
    assert_true(nw_worker_done(w));
    assert_int_equal(atomic_load(&j.finished), 1);
    assert_false(pthread_equal(j.thread, pthread_self()));
    assert_true(j.blocked_sigterm); /* signals stay with the submitter */

    /* the next job runs on the same thread, once */
    job_t k = {0};
    atomic_store(&k.release, true);
    nw_worker_submit(w, run, &k);
    nw_worker_wait(w);
    assert_int_equal(atomic_load(&k.finished), 1);
    assert_true(pthread_equal(k.thread, j.thread));
    assert_int_equal(atomic_load(&j.finished), 1);
    nw_worker_stop(w);
}

static void *release_later(void *arg)
{
    job_t *j = arg;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    atomic_store(&j->release, true);
    return NULL;
}

static void test_stop_finishes_the_job_in_hand(void **state)
{
    (void)state;
    nw_worker_t *w = nw_worker_start(NULL);
    assert_non_null(w);
    job_t j = {0};
    nw_worker_submit(w, run, &j);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &j), 0);
    nw_worker_stop(w); /* joins only after the job has run to its end */
    assert_int_equal(atomic_load(&j.started), 1);
    assert_int_equal(atomic_load(&j.finished), 1);
    pthread_join(t, NULL);
    nw_worker_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_on_another_thread_and_waits),
        cmocka_unit_test(test_stop_finishes_the_job_in_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
