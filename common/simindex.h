/*
 * simindex: the similarity index in PostgreSQL that every replica shares
 * (schemas/migrations/0002_similarity.sql; docs similarity.md §9).
 *
 * Every function takes a connection that is already inside the caller's open
 * transaction (READ COMMITTED) and works on a whole batch in one statement;
 * none commits or rolls back. Call order inside the batch transaction, after
 * the item rows exist (version_pk known):
 *
 *   1. nw_simindex_lock()        sorted pg_advisory_xact_lock over the batch's
 *                                band keys (first statement after BEGIN is best)
 *   2. nw_simindex_insert()      fingerprints, band keys, term postings
 *      (or nw_simindex_copy() for versions new in this transaction)
 *   3. nw_simindex_candidates()  stored items sharing a band key or salient
 *                                terms, within the window, with fingerprints
 *      (for versions new in this transaction, nw_simindex_copy_candidates()
 *      does 2 and 3 in one call)
 *   4. nw_link_rank() / nw_link_cluster_id() per item (link.h), then the
 *      caller writes links, stories.cluster_id and the outbox; COMMIT.
 *   (nw_simindex_process() does 1-4 and hands back the links to write.)
 *
 * Why two replicas cannot both miss a concurrent near-duplicate: items whose
 * signatures share a band key take the same advisory lock, held until commit.
 * The second transaction waits in step 1 until the first commits; its step-3
 * statement then runs with a fresh READ COMMITTED snapshot and sees the first
 * one's rows. Keys are locked in ascending order in one statement, so two
 * batches never deadlock on them. (Related-story links through terms take no
 * locks: they are best effort for items committed at the same moment.)
 * Items of one batch find each other too, because step 2 precedes step 3
 * (or, in nw_simindex_copy_candidates(), in memory for the band keys).
 *
 * Errors: SQLSTATE classes 08, 57P0x, 40001, 40P01, 53 -> NW_ERR_TRANSIENT
 * (retry the batch); 22, 23 -> NW_ERR_ROW; anything else NW_ERR_FATAL.
 */
#ifndef NW_SIMINDEX_H
#define NW_SIMINDEX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fingerprint.h"
#include "link.h"
#include "radix.h"

typedef struct nw_simindex_cfg {
    int window_s;          /* candidates within +- this of the item's time (72 h) */
    int term_query;        /* highest-weight terms of an item that are looked up (12) */
    int term_postings_cap; /* postings read per looked-up term, at most (32) */
    int term_top;          /* best term-overlap candidates kept per item (50) */
    bool term_probe_each;  /* tests: read every query term's postings on its own
                              rather than once per distinct term (false) */
} nw_simindex_cfg_t;

void nw_simindex_cfg_default(nw_simindex_cfg_t *cfg);

/* One item of the batch. Borrowed: fp and the meta strings must outlive the
 * call. meta.version_pk and story_pk must be set; versioncreated 0 = now. */
typedef struct nw_sim_item {
    const nw_fp_t *fp;
    nw_link_meta_t meta;
} nw_sim_item_t;

/* Candidates of a batch. Owned by the struct (nw_simindex_cands_free):
 * cand[off[i] .. off[i+1]) are item i's, ordered by version_pk; each
 * cand[k].fp points into fps and its meta strings into the struct. */
typedef struct nw_sim_cands {
    size_t n_items;
    size_t *off;           /* n_items + 1 offsets */
    size_t n;
    nw_link_cand_t *cand;
    nw_fp_t *fps;
    float *term_score;     /* term overlap score (0 when found by bands only) */
    bool *via_band;        /* shares at least one band key */
    char **strs;           /* owned strings behind the metas */
    size_t n_strs;
    size_t term_reads;   /* postings reads of the term lookup (distinct terms + rereads) */
    size_t term_rereads; /* query terms read again on their own (see simindex_cands.c) */
} nw_sim_cands_t;

/* Step 1: take the transaction-scoped advisory locks of every band key of the
 * batch (full and lede bands), in ascending order, in one statement. Blocks
 * while another transaction holds one of them. */
bool nw_simindex_lock(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err);

/* Step 2: store the batch's fingerprints, band keys and term postings. A
 * version already stored (redelivery) is left as it is. One statement. */
bool nw_simindex_insert(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err);

/* Step 2 for versions created in the caller's transaction (the store's
 * batches): the same rows with binary COPY, three statements (PostgreSQL's
 * multi-row insert path: 122 -> 86 ms for a 500-item batch in the bench's
 * profile). A version already stored is an error (23505). */
bool nw_simindex_copy(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err);

/* Step 3: stored candidates of every item of the batch (itself excluded;
 * other versions of the same story included, nw_link_rank skips them), with
 * their fingerprints and metadata, cluster_id from stories. One statement.
 * cfg may be NULL for the defaults. On success *out must be freed. */
bool nw_simindex_candidates(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_item_t *items,
                            size_t n, nw_sim_cands_t *out, nw_err_t *err);

/* Steps 2 (by COPY) and 3 together, for versions created in the caller's
 * transaction: the band keys are read before the batch's rows are written,
 * so the read does not return each item's own 48 rows (23,000 a batch of
 * 500), and the bands the batch's items share among themselves are matched
 * in memory. The same rows and the same candidates as nw_simindex_copy()
 * then nw_simindex_candidates(). */
bool nw_simindex_copy_candidates(PGconn *conn, const nw_simindex_cfg_t *cfg,
                                 const nw_sim_item_t *items, size_t n, nw_sim_cands_t *out,
                                 nw_err_t *err);

void nw_simindex_cands_free(nw_sim_cands_t *c);

/* The store's way (store_write.c): the batch's rows are written on the batch
 * transaction's connection (nw_simindex_copy_batch) while its candidates are
 * read on a second connection (nw_simindex_read_candidates), so PostgreSQL
 * runs the reads on the other core during the COPY instead of before and
 * after it. A batch holds what both use: the band keys and term postings,
 * sorted once (the COPY writes its rows in that order, the read matches the
 * batch's own items through them), and the time items without
 * versioncreated are indexed under (both sides must agree on it). */
typedef struct nw_sim_batch {
    const nw_sim_item_t *items; /* borrowed */
    size_t n;
    double now;
    nw_keyidx_t *bands; /* (band key, item), sorted by key, then item */
    size_t nbands;
    nw_keyidx_t *terms; /* (term hash, item * NW_FP_MAX_TERMS + term index), sorted so */
    size_t nterms;
} nw_sim_batch_t;

bool nw_sim_batch_init(nw_sim_batch_t *b, const nw_sim_item_t *items, size_t n, double now,
                       nw_err_t *err);
void nw_sim_batch_free(nw_sim_batch_t *b);

/* nw_simindex_copy() of a batch. */
bool nw_simindex_copy_batch(PGconn *conn, const nw_sim_batch_t *b, nw_err_t *err);

/* Step 3 for a batch whose rows another connection is writing at the same
 * time, in its transaction, which already holds the similarity lock: reader
 * is a connection of its own with no transaction open; the read is one
 * read-only REPEATABLE READ transaction on it, begun after that lock was
 * taken, so it sees every batch committed before (the guarantee of step 1).
 * The batch's own rows are not visible to it: the band keys and the term
 * postings the batch's items share are matched in memory, merged into each
 * term's newest postings as the index would have returned them, and the
 * batch's own versions described from the items (meta.cluster_id: the
 * cluster their story row holds at this point). The same candidates as
 * nw_simindex_copy_candidates(). */
bool nw_simindex_read_candidates(PGconn *reader, const nw_simindex_cfg_t *cfg,
                                 const nw_sim_batch_t *b, nw_sim_cands_t *out, nw_err_t *err);

/* Steps 1-4 in one call: lock, insert, candidates, then per item
 * nw_link_rank() and nw_link_cluster_id(). The links to write, already
 * oriented newer -> older (links.from_version_pk = from, to = to) and
 * deduplicated (a pair inside the batch appears once): */
typedef struct nw_sim_link {
    size_t item;             /* index of the batch item the link was found for */
    int64_t from_version_pk; /* the newer of the two */
    int64_t to_version_pk;   /* the older */
    nw_rel_t rel;            /* links.relation = nw_rel_link_name(rel) */
    float score;             /* decisive score (related: cosine) */
    float rank;              /* ordering within the item, higher first */
    nw_link_scores_t s;      /* every score, for the event */
} nw_sim_link_t;

typedef struct nw_sim_result {
    nw_sim_link_t *links;    /* item i's: links[off[i] .. off[i+1]), best first */
    size_t n_links;
    size_t *off;             /* n + 1 offsets */
    int64_t *cluster_id;     /* per item: stories.cluster_id to store */
} nw_sim_result_t;

/* Owned by *out: free with nw_sim_result_free(). scfg/lcfg may be NULL. */
bool nw_simindex_process(PGconn *conn, const nw_simindex_cfg_t *scfg, const nw_link_cfg_t *lcfg,
                         const nw_sim_item_t *items, size_t n, nw_sim_result_t *out, nw_err_t *err);
void nw_sim_result_free(nw_sim_result_t *r);

/* Maintenance, outside the batch transaction (own transaction or autocommit):
 * create the weekly partitions from a week back to four weeks ahead; delete
 * the backfill marks of past weeks. */
bool nw_simindex_maintain(PGconn *conn, nw_err_t *err);

/* Note that items as old as `oldest` (epoch seconds) are being stored today:
 * the pruning keeps the retention before the oldest noted today or yesterday
 * (migration 0010), so that an archive backfilled beside live traffic keeps
 * what its next items link to. In autocommit, outside the batch. */
bool nw_simindex_note_backfill(PGconn *conn, int64_t oldest, nw_err_t *err);

/* One bounded step of the pruning, in autocommit: drops the weekly partitions
 * older than retention_days (> window; 30 is a fair default) before the newest
 * indexed item not dated in the future (now() with live traffic; an archive's
 * last days while it is backfilled; now() when the index is empty), or before
 * the oldest item noted by nw_simindex_note_backfill() today or yesterday if
 * that is older, and deletes at
 * most max_rows expired rows from each table that is not partitioned by week,
 * oldest first. *deleted is the number of rows deleted. Never waits for the
 * lock a partition's drop needs (migration 0008): when another transaction
 * holds sim_bands or sim_terms the expired partitions are left, and
 * *partitions_left (if not NULL) says how many. Nothing expired is left when
 * *deleted < max_rows and *partitions_left == 0. */
bool nw_simindex_prune_step(PGconn *conn, int retention_days, int max_rows, long long *deleted,
                            int *partitions_left, nw_err_t *err);

/* Recompute the document frequencies behind the IDF over the last window_s
 * seconds of postings (hourly is plenty). */
bool nw_simindex_refresh_idf(PGconn *conn, int window_s, nw_err_t *err);
/* The same, sent without waiting (PQsendQueryParams): its one result is
 * read with PQgetResult like any other. */
bool nw_simindex_send_refresh_idf(PGconn *conn, int window_s, nw_err_t *err);

/* An in-memory IDF table loaded from sim_idf, for nw_fp_cfg_t. Read-only once
 * loaded, so threads may share it. Free with nw_simidf_free(). */
typedef struct nw_simidf nw_simidf_t;
nw_simidf_t *nw_simidf_load(PGconn *conn, nw_err_t *err);
void nw_simidf_free(nw_simidf_t *idf);
/* Point cfg's idf callback at the table (and set idf_unknown from its size). */
void nw_simidf_apply(const nw_simidf_t *idf, nw_fp_cfg_t *cfg);

#endif
