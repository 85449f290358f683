/*
 * store: newswire's PostgreSQL state — stories, versions, links and the
 * transactional outbox of events.
 *
 * nw_store_put_batch() writes a whole batch of parsed items in one
 * transaction: versions that are new are stored and their events written to
 * the outbox in the same transaction; versions already stored (a redelivery)
 * change nothing and give back their original events, so that an event can
 * never be lost between the database commit and the broker's acknowledgement
 * (the "dedupe trap" of docs/delivery-and-performance.md §8).
 */
#ifndef NW_STORE_H
#define NW_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "item.h"

typedef enum {
    NW_REC_PENDING = 0,
    NW_REC_STORED,    /* a new version, stored now */
    NW_REC_RESEND,    /* already stored (redelivery, or twice in the batch) */
    NW_REC_FAILED,    /* PostgreSQL refused the row: err says why (a dead letter) */
} nw_rec_outcome_t;

/* One parsed message of a batch. */
typedef struct nw_store_rec {
    /* in (borrowed) */
    nw_item_t *item;
    const void *raw;
    size_t raw_len;
    const char *topic;
    int32_t partition;
    int64_t offset;
    /* out */
    nw_rec_outcome_t outcome;
    const char *kind;    /* event kind written for it, or NULL (none: older version, not news) */
    int64_t story_pk;
    int64_t version_pk;
    nw_err_t err;        /* when FAILED */
} nw_store_rec_t;

typedef struct nw_store_stats {
    uint64_t batches;
    uint64_t stored;         /* new versions */
    uint64_t resends;        /* redeliveries */
    uint64_t failed_rows;    /* rows refused by PostgreSQL */
    uint64_t races;          /* batches retried after a concurrent insert of the same key */
    uint64_t events;         /* events written to the outbox */
} nw_store_stats_t;

typedef struct nw_store nw_store_t;

/* Connect to PostgreSQL. Returns NULL with err filled (transient when the
 * server is unreachable). */
nw_store_t *nw_store_open(const char *dsn, nw_err_t *err);
void nw_store_close(nw_store_t *st);

/* Reconnect after a transient failure. */
bool nw_store_reconnect(nw_store_t *st, nw_err_t *err);

/* True when the connection answers a trivial query now. */
bool nw_store_ping(nw_store_t *st);

PGconn *nw_store_conn(nw_store_t *st);
const nw_store_stats_t *nw_store_stats(const nw_store_t *st);

/* Apply the migrations of `dir` (see migrate.h). */
bool nw_store_migrate(nw_store_t *st, const char *dir, nw_err_t *err);

/* Store a batch in one transaction and append to `events` every event the
 * batch must publish, in batch order (new events for new versions, the
 * original events for redeliveries). Rows PostgreSQL refuses as bad data
 * (SQLSTATE classes 22 and 23) are isolated by splitting the batch and come
 * back with outcome NW_REC_FAILED; the rest is stored. Returns false only for
 * transient or fatal errors, with nothing stored. */
bool nw_store_put_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_events_t *events,
                        nw_err_t *err);

/* Record that the broker acknowledged these events. */
bool nw_store_mark_sent(nw_store_t *st, const nw_events_t *events, nw_err_t *err);

/* Events still unsent `older_than_s` seconds after they were written (the
 * process that wrote them died before publishing them, and their input will
 * not come back): at most `limit`, oldest first, appended to `out`. */
bool nw_store_outbox_unsent(nw_store_t *st, int older_than_s, int limit, nw_events_t *out,
                            nw_err_t *err);

/* Number of unsent events (outbox backlog), or -1 on error. */
long nw_store_outbox_backlog(nw_store_t *st);

#endif
