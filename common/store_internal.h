/*
 * store internals shared by store.c (connection, outbox, orchestration) and
 * store_batch.c (the batch transaction). Not for other modules.
 */
#ifndef NW_STORE_INTERNAL_H
#define NW_STORE_INTERNAL_H

#include <time.h>

#include "fingerprint.h"
#include "link.h"
#include "simindex.h"
#include "store.h"

struct nw_store {
    PGconn *conn;
    PGconn *reader;         /* the batch's candidate reads (store_write.c); NULL until needed */
    bool one_connection;    /* no reader: nw_store_opts_t */
    int read_lock_timeout_ms; /* the reader's lock_timeout: nw_store_opts_t */
    time_t reader_retry_at; /* after a failed connect, not before this */
    char *dsn;
    nw_store_stats_t stats;
    /* similarity */
    nw_fp_ctx_t *fp_ctx;
    nw_fp_cfg_t fp_cfg;
    nw_simidf_t *idf;          /* term statistics, reloaded by nw_store_maintain */
    nw_link_cfg_t link_cfg;
    nw_simindex_cfg_t sim_cfg;
    int64_t idf_loaded_us;
    struct {          /* the periodic refresh of the term statistics (store.c) */
        PGconn *conn; /* its own connection while it runs, else NULL */
        int64_t started_us;
        int period_s; /* nw_store_opts_t.idf_refresh_s */
    } idf_refresh;
    int64_t parts_lo, parts_hi;  /* item times whose weekly index partitions exist */
    struct {                     /* the last backfill mark written (store.c) */
        int64_t day;             /* UTC day number it was written on, 0: none */
        int64_t oldest;          /* its item time */
    } backfill;
    int64_t maintained_us;
    struct { /* the similarity index's pruning, in steps */
        bool pending;
        int64_t started_us;
        long long rows;
        int steps;
        int64_t next_us; /* not before this (partitions left: their tables busy) */
        bool busy_logged;
    } prune;
    long event_max_bytes;      /* see nw_store_opts_t */
    /* AP halves */
    nw_store_join_fn join;
};

/* The similarity fingerprint of an item, from at most NW_STORE_FP_TEXT bytes
 * of its text (news stories are far shorter; a 10 MB body would otherwise
 * cost ~200 MB of scratch memory to fingerprint). */
#define NW_STORE_FP_TEXT (256u * 1024u)
bool nw_store_fingerprint(nw_store_t *st, const nw_item_t *it, nw_fp_t *out, nw_err_t *err);

/* The second connection, for reads outside the batch transaction, opened
 * if needed; NULL when it cannot be (logged; tried again 10 s later). */
PGconn *nw_store_reader(nw_store_t *st);
/* Close it after an error: the next nw_store_reader() opens a new one. */
void nw_store_reader_reset(nw_store_t *st);

/* One attempt at recs[0..n) in one transaction (store_batch.c). fps[i] is
 * the fingerprint of recs[i]. */
bool nw_store_try_batch(nw_store_t *st, nw_store_rec_t *recs, const nw_fp_t *fps, size_t n,
                        nw_events_t *events, nw_err_t *err);

#endif
