/*
 * newswire-ingest: raw agency items from Kafka -> ninjs in PostgreSQL ->
 * enriched events on Kafka.
 *
 * One loop, one batch at a time:
 *   collect up to batch.size messages (what has arrived, or batch.wait.ms)
 *   parse each (bad input -> dead letter)
 *   store the batch in one PostgreSQL transaction, events in the outbox
 *   publish the events and dead letters, wait for every acknowledgement
 *   store the input offsets (the auto-committer commits them)
 * Offsets are stored only once an item is in PostgreSQL and its event (or
 * its dead letter) is acknowledged: at-least-once, and the outbox makes a
 * replay republish exactly the events of the first attempt.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "event.h"
#include "formats/formats.h"
#include "ingest.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "store.h"

/* clang-format off */
static const char *const settings[] = {
    "kafka.brokers", "pg.dsn", "group.id", "client.id", "topic.raw", "topic.enriched",
    "topic.dlq", "batch.size", "batch.max.bytes", "event.max.bytes", "batch.wait.ms",
    "shutdown.timeout.ms", "kafka.fetch.watchdog.s", "retry.max.ms", "outbox.sweep.s", "similarity.window.h",
    "similarity.idf.refresh.s",
    "related.top.k", "pg.read.connection", "pg.read.lock.timeout.ms", "http.addr", "log.level",
    "pg.migrate.lock.timeout.ms", "replica.id",
    "migrations.dir", "test.hook", NULL};
/* clang-format on */

static volatile sig_atomic_t stop_requested;
/* Set once the loop returned: the watchdog ends and is joined, so nothing of
 * it is left at exit (valgrind flagged its thread's TLS block). */
static volatile sig_atomic_t run_finished;

/* First signal: drain and exit. Second: exit at once (nothing acknowledged
 * is lost either way: offsets are stored only after acknowledgements). */
static void on_signal(int sig)
{
    if (stop_requested) {
        static const char msg[] = "{\"level\":\"warn\",\"msg\":\"second signal, exiting now\"}\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    stop_requested = 1;
}

/* librdkafka's close and destroy can block forever when the broker is gone
 * (librdkafka#4519, present in 2.0.2): after the first signal a watchdog
 * ends the process once the drain deadline has passed. */
static volatile sig_atomic_t give_up_sending;

static void *watchdog(void *arg)
{
    long timeout_ms = *(long *)arg;
    while (!stop_requested && !run_finished)
        usleep(50000);
    int64_t start = nw_now_us(), until = start + timeout_ms * 1000;
    while (nw_now_us() < until && !run_finished) {
        /* half the deadline gone: a send still waiting for the broker gives
         * up (offsets not stored: the batch is replayed later), so the rest
         * of the shutdown gets the other half */
        if (nw_now_us() > start + timeout_ms * 500)
            give_up_sending = 1;
        usleep(50000);
    }
    if (run_finished)
        return NULL;
    nw_log_error("shutdown deadline passed, exiting", NW_LI("deadline_ms", timeout_ms));
    _exit(3);
    return NULL;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* Buffers of 512 KB and more (COPY data, fetched and parsed batches)
     * straight from mmap and back to the system when freed. glibc otherwise
     * raises this threshold each time such a buffer is freed, after which
     * they come from the heaps of two threads and stay there: peak RSS of a
     * 20,000-item replay 140 MB with the default, 118 MB with this, at the
     * same speed. */
    if (!getenv("MALLOC_MMAP_THRESHOLD_")) /* glibc's own setting wins */
        mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
    nw_config_t cfg;
    nw_err_t err = {0};
    nw_log_set_service("newswire-ingest");
    int rc = nw_config_load(&cfg, "newswire-ingest",
                            "Consume raw wire items from Kafka, normalize them to IPTC ninjs 2.1,\n"
                            "store them in PostgreSQL and publish enriched events.",
                            settings, argc, argv, NULL, NULL, &err);
    if (rc > 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "newswire-ingest: %s\n", err.msg);
        return 2;
    }
    nw_log_set_level(cfg.log_level);
    if (!*cfg.replica_id) {
        char host[128] = "localhost";
        gethostname(host, sizeof host - 1);
        char id[200];
        snprintf(id, sizeof id, "%s-%d", host, (int)getpid());
        free(cfg.replica_id);
        cfg.replica_id = strdup(id);
    }
    install_signals();
    pthread_t wd;
    long deadline = cfg.shutdown_timeout_ms;
    bool have_wd = pthread_create(&wd, NULL, watchdog, &deadline) == 0;

    rc = nw_ingest_run(&cfg, &stop_requested, &give_up_sending);
    run_finished = 1;
    if (have_wd)
        pthread_join(wd, NULL);
    nw_config_free(&cfg);
    return rc;
}
