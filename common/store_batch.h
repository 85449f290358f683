/*
 * The state of one batch transaction, shared by store_batch.c (reading the
 * batch's stories and versions, deciding each new version's fate) and
 * store_write.c (similarity, then writing rows and events). Internal to the
 * store module.
 */
#ifndef NW_STORE_BATCH_H
#define NW_STORE_BATCH_H

#include <jansson.h>

#include "store_internal.h"

typedef struct story {
    const char *provider;     /* borrowed from the first rec of the story */
    const char *story_id;
    int64_t story_pk;
    bool exists;              /* row found in PostgreSQL */
    bool dirty;               /* existing row changed: UPDATE it */
    bool kill;                /* a kill arrived in this batch */
    bool cluster_set;         /* a new story whose cluster the similarity step chose */
    int64_t current_pk;
    int64_t current_order;
    char *current_version;    /* owned */
    char pubstatus[16];
    int64_t cluster_id;
    int64_t firstcreated;
    json_t *versions;         /* every known version [{version_pk, version}] when killed */
} story_t;

/* What the transaction decided for one new version. */
typedef struct recstate {
    bool is_new;              /* stored by this transaction */
    const char *kind;         /* event kind, NULL for none */
    json_t *previous;         /* {version_pk, version} of the version it replaced, or NULL */
    bool link_prev;           /* write a previous_version link to it */
    nw_link_t *links;         /* similarity links, best first (owned) */
    size_t nlinks;
    size_t cand_off;          /* this rec's candidates: cands.cand + cand_off */
    int64_t cluster;
} recstate_t;

typedef struct batch {
    nw_store_t *st;
    nw_store_rec_t *recs;
    size_t n;
    const nw_fp_t *fps;       /* fps[i] of recs[i] */
    story_t *stories;
    size_t nstories;
    int *rec_story;           /* rec index -> story index, -1 when not stored (held...) */
    int *dup_of;              /* rec index -> earlier rec with the same version, or -1 */
    recstate_t *rs;
    nw_sim_cands_t cands;     /* similarity candidates of the new versions */
} batch_t;

typedef struct pending_event {
    int64_t version_pk;
    size_t seq;
    char id[37];
    char type[48];
    char time[32];
    char *key;
    char *body;
    size_t body_len;
} pending_event_t;

typedef struct pending_events {
    pending_event_t *v;
    size_t n, cap;
} pending_events_t;

/* Takes ownership of key and body. */
void nw_pending_push(pending_events_t *p, int64_t version_pk, const char *id, const char *type,
                     const char *time, char *key, char *body, size_t body_len);

const char *nw_batch_ver(const nw_item_t *it);
int64_t nw_batch_order(const nw_item_t *it);

/* store_write.c: everything the transaction writes for the new versions:
 * ids, stories, similarity, version rows, links, outbox, story updates. */
bool nw_batch_write(batch_t *b, pending_events_t *pend, nw_err_t *err);

#endif
