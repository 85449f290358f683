/*
 * radix: sort (key, index) pairs by a signed 64-bit key, stably, in linear
 * time: the similarity rows of a batch (tens of thousands of hashes) are
 * sorted before each COPY, so PostgreSQL inserts them into their indexes in
 * key order, and the batch's band keys before their probe.
 */
#ifndef NW_RADIX_H
#define NW_RADIX_H

#include <stddef.h>
#include <stdint.h>

typedef struct nw_keyidx {
    int64_t key;
    uint32_t idx; /* what the key belongs to, the caller's numbering */
} nw_keyidx_t;

/* v[0..n) by key, signed order; equal keys keep their order. tmp has room
 * for n. LSD radix, a byte a pass; passes where every key has the same byte
 * are skipped. */
void nw_keyidx_sort(nw_keyidx_t *v, size_t n, nw_keyidx_t *tmp);

#endif
