/*
 * store_parts: joining the two halves of AP items inside the batch
 * transaction (see store_parts.c). Internal to the store module.
 */
#ifndef NW_STORE_PARTS_H
#define NW_STORE_PARTS_H

#include "store_internal.h"

/* Joined items and what the recs pointed at before (restored on release). */
typedef struct nw_store_parts {
    nw_item_t **items;         /* joined items (owned) */
    char **raws;               /* their envelope payloads (owned) */
    nw_store_rec_t **recs;     /* the rec carrying each */
    nw_item_t **saved_items;
    const void **saved_raws;
    size_t *saved_lens;
    size_t n;
} nw_store_parts_t;

/* Resolve the batch's AP halves (outcomes NW_REC_HELD / NW_REC_JOINED /
 * NW_REC_FAILED, or a rec now carrying a joined item). Inside the open
 * transaction; false on a database error. */
bool nw_store_parts_resolve(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_store_parts_t *pj,
                            nw_err_t *err);

/* Point the recs back at their own items and free the joined ones. */
void nw_store_parts_release(nw_store_parts_t *pj);

#endif
