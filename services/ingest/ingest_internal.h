/*
 * The ingest loop's shared state (services/ingest): ingest.c collects,
 * parses and stores batches; publish.c sends what a stored batch produced
 * (events, dead letters), stores its offsets and keeps the outbox marked.
 * Not for other programs.
 */
#ifndef NW_INGEST_INTERNAL_H
#define NW_INGEST_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "event.h"
#include "fingerprint.h"
#include "formats/formats.h"
#include "item.h"
#include "store.h"
#include "worker.h"

/* One consumed message and what became of it. */
typedef struct inmsg {
    rd_kafka_message_t *msg;  /* owned until the batch is done */
    nw_items_t items;         /* a payload may carry several items (a G2 newsMessage) */
    bool parsed;              /* items are valid */
    bool dropped;             /* its partition was revoked: leave it to the new owner */
    nw_err_t err;             /* why it is a dead letter */
    const char *stage;        /* "parse" or "store" when dead-lettered */
} inmsg_t;

/* A batch of messages, from collecting to publishing. Two are in hand at
 * once: while the worker thread runs one's transaction, the main thread
 * publishes the one before and collects, parses and fingerprints the next. */
typedef struct batch {
    inmsg_t *msgs;
    size_t n, cap;
    nw_fp_t *fps;            /* every parsed item's, in message order; NULL: the store makes them */
    /* one attempt at storing it: what the worker reads and writes */
    nw_store_t *store;
    nw_store_rec_t *recs;    /* the items of messages still ours */
    size_t nrecs;
    nw_fp_t *rec_fps;        /* fps of recs: fps itself, a copy without the dropped, or NULL */
    nw_events_t events;
    nw_err_t err;
    bool ok;
    double t0, t_parsed, t_prepared, t_submitted, t_stored;
    double store_cpu_s;
} batch_t;

typedef struct app {
    const nw_config_t *cfg;
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t *give_up; /* abandon sends still waiting (shutdown) */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    nw_store_t *store;       /* the worker's while a batch is submitted */
    nw_worker_t *worker;
    nw_fp_ctx_t *fp_ctx;     /* the main thread's fingerprint scratch */
    bool store_ready;        /* nw_store_ready(), read while the worker was idle */
    batch_t slots[2];
    batch_t *next;           /* being collected and prepared */
    batch_t *fly;            /* submitted to the worker, or stored: to publish; NULL when none */
    nw_events_t unmarked;    /* published, not yet marked sent in the outbox (ids only) */
    rd_kafka_message_t **held;   /* received while paused: first in the next batch */
    size_t nheld, capheld;
    bool paused;
    bool ever_assigned;          /* a rebalance gave us partitions at least once */
    int64_t last_sweep_us;
    int64_t last_maintain_us;
    int64_t last_watchdog_us; /* the fetch watchdog's last look */
    /* counters */
    uint64_t consumed, dead_letters, published;
} app_t;

/* Publish a stored batch's events and dead letters, wait for every
 * acknowledgement, then store its offsets and commit them (async); its event
 * ids join app->unmarked. False on a fatal error. */
bool publish_batch(app_t *app, batch_t *b);

/* Mark app->unmarked sent in the outbox (the sweep would otherwise republish
 * them). Only while the store thread is idle. */
void publish_mark_sent(app_t *app);

/* Republish events whose writer died before publishing them and whose input
 * will not come back (see nw_store_outbox_unsent); at most every half
 * outbox.sweep.s. Only while the store thread is idle, and never the events
 * of `unpublished` (NULL: none), the batch this process committed and has
 * still to publish. */
void publish_sweep_outbox(app_t *app, const nw_events_t *unpublished);

#endif
