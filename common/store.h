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
#include "fingerprint.h"
#include "item.h"

typedef enum {
    NW_REC_PENDING = 0,
    NW_REC_STORED,    /* a new version, stored now */
    NW_REC_RESEND,    /* already stored (redelivery, or twice in the batch) */
    NW_REC_FAILED,    /* refused (PostgreSQL, or a half that cannot be joined): err says why */
    NW_REC_HELD,      /* half of an AP item: kept in pending_parts until its partner comes */
    NW_REC_JOINED,    /* half of an AP item: joined with its partner into another rec's item */
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

/* Join the two halves of a split AP item (metadata JSON, NITF body) from
 * their payloads into one item, and give the payload to store for it (the
 * ap-media-json envelope {"item": ..., "nitf": "..."}, malloc'd). */
typedef bool (*nw_store_join_fn)(const char *pair_key, const void *meta, size_t meta_len,
                                 const void *body, size_t body_len, nw_item_t *out,
                                 char **raw_out, size_t *raw_len, nw_err_t *err);

/* Similarity settings. */
typedef struct nw_store_opts {
    int window_h;        /* candidates within this many hours of an item (72) */
    int related_top_k;   /* related links per item (10) */
    long event_max_bytes;/* events larger than this carry a stub of their item (0 = no limit) */
    bool one_connection; /* candidate reads in the batch transaction, not on a second
                            connection beside it (store_write.c) */
    int idf_refresh_s;   /* term statistics recomputed this often (0: hourly) */
    int read_lock_timeout_ms; /* the second connection's lock_timeout (0: none) */
} nw_store_opts_t;

typedef struct nw_store_stats {
    uint64_t batches;
    uint64_t stored;         /* new versions */
    uint64_t resends;        /* redeliveries */
    uint64_t failed_rows;    /* rows refused by PostgreSQL */
    uint64_t races;          /* batches retried after a concurrent insert of the same key */
    uint64_t events;         /* events written to the outbox */
    uint64_t duplicates;     /* new ids whose content was already stored */
    uint64_t near_duplicates;/* rewrites and updates under a new id */
    uint64_t links;          /* similarity links written */
    uint64_t parts_held;     /* AP halves waiting for their partner */
    uint64_t parts_joined;   /* AP halves joined */
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

/* Similarity settings (defaults until called) and the joiner of AP halves
 * (without one, a half is stored as it is). */
void nw_store_set_opts(nw_store_t *st, const nw_store_opts_t *opts);
void nw_store_set_join(nw_store_t *st, nw_store_join_fn join);

/* Housekeeping outside the batch transaction, cheap to call often: creates
 * the similarity index's partitions (daily) and prunes what is past its
 * retention, one bounded step a call (tens of ms) until nothing expired is left;
 * refreshes and reloads the term statistics (hourly, idf_refresh_s: on a
 * connection of its own, looked at once a call; the first time at once). */
bool nw_store_maintain(nw_store_t *st, nw_err_t *err);
/* True while the pruning has steps left or the term statistics' refresh
 * runs: call nw_store_maintain again. */
bool nw_store_maintenance_pending(const nw_store_t *st);
const nw_store_stats_t *nw_store_stats(const nw_store_t *st);

/* Apply the migrations of `dir` (see migrate.h, lock_timeout_ms too). */
bool nw_store_migrate(nw_store_t *st, const char *dir, int lock_timeout_ms, nw_err_t *err);

/* Store a batch in one transaction and append to `events` every event the
 * batch must publish, in batch order (new events for new versions, the
 * original events for redeliveries). Rows PostgreSQL refuses as bad data
 * (SQLSTATE classes 22 and 23) are isolated by splitting the batch and come
 * back with outcome NW_REC_FAILED; the rest is stored. Returns false only for
 * transient or fatal errors, with nothing stored. fps[i] is the fingerprint
 * of recs[i] computed beforehand (nw_store_fingerprints), or fps is NULL and
 * they are computed here. */
bool nw_store_put_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, const nw_fp_t *fps,
                        nw_events_t *events, nw_err_t *err);

/* True once the term statistics the fingerprints weigh terms by are loaded
 * (the first nw_store_maintain or batch loads them). */
bool nw_store_ready(const nw_store_t *st);

/* Fingerprints of items[0..n) into fps, with a caller's scratch context:
 * CPU only, no database, so a thread may compute a batch's while another
 * runs a transaction on the store; nothing may change the store's settings
 * (nw_store_maintain) meanwhile. Fails (transient, "not-ready") before
 * nw_store_ready(). */
bool nw_store_fingerprints(nw_store_t *st, nw_fp_ctx_t *ctx, nw_item_t *const *items, size_t n,
                           nw_fp_t *fps, nw_err_t *err);

/* Record that the broker acknowledged these events. */
bool nw_store_mark_sent(nw_store_t *st, const nw_events_t *events, nw_err_t *err);

/* Events still unsent `older_than_s` seconds after they were written (the
 * process that wrote them died before publishing them, and their input will
 * not come back): at most `limit`, oldest first, appended to `out`. Events
 * whose ids are in `skip` (NULL: none) are left out: a batch this process
 * committed and is about to publish. */
bool nw_store_outbox_unsent(nw_store_t *st, int older_than_s, int limit, const nw_events_t *skip,
                            nw_events_t *out, nw_err_t *err);

/* Number of unsent events (outbox backlog), or -1 on error. */
long nw_store_outbox_backlog(nw_store_t *st);

#endif
