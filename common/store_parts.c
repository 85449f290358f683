/*
 * AP items whose metadata (Media API JSON) and body (NITF) arrive as two
 * messages, in either order. Inside the batch transaction, before anything
 * else: halves whose partner is in the batch are joined; a half whose
 * partner waits in pending_parts is joined with it (and the row deleted); a
 * half without partner is written to pending_parts and its message is done.
 * Everything happens in the batch's transaction, so a crash never loses a
 * half that was acknowledged, and a joined item is stored exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "store_parts.h"

static bool is_half(const nw_store_t *st, const nw_store_rec_t *r)
{
    return st->join && r->outcome == NW_REC_PENDING && r->item->part != NW_PART_WHOLE &&
           r->item->pair_key && *r->item->pair_key;
}

/* Join meta and body payloads into a new item owned by `pj`; point rec at
 * it (and at its envelope payload). */
static bool join_into(nw_store_t *st, nw_store_parts_t *pj, nw_store_rec_t *rec, const char *key,
                      const void *meta, size_t meta_len, const void *body, size_t body_len,
                      nw_err_t *err)
{
    size_t k = pj->n++;
    pj->items = realloc(pj->items, pj->n * sizeof *pj->items); /* pointers: recs keep them */
    pj->raws = realloc(pj->raws, pj->n * sizeof *pj->raws);
    pj->recs = realloc(pj->recs, pj->n * sizeof *pj->recs);
    pj->saved_items = realloc(pj->saved_items, pj->n * sizeof *pj->saved_items);
    pj->saved_raws = realloc(pj->saved_raws, pj->n * sizeof *pj->saved_raws);
    pj->saved_lens = realloc(pj->saved_lens, pj->n * sizeof *pj->saved_lens);
    pj->raws[k] = NULL;
    pj->items[k] = calloc(1, sizeof *pj->items[k]);
    size_t raw_len = 0;
    if (!st->join(key, meta, meta_len, body, body_len, pj->items[k], &pj->raws[k], &raw_len, err)) {
        nw_item_free(pj->items[k]);
        free(pj->items[k]);
        free(pj->raws[k]);
        pj->n--;
        return false;
    }
    pj->recs[k] = rec;
    pj->saved_items[k] = rec->item;
    pj->saved_raws[k] = rec->raw;
    pj->saved_lens[k] = rec->raw_len;
    rec->item = pj->items[k];
    rec->raw = pj->raws[k];
    rec->raw_len = raw_len;
    st->stats.parts_joined += 2;
    return true;
}

static void fail(nw_store_rec_t *r, const nw_err_t *e)
{
    r->outcome = NW_REC_FAILED;
    r->err = *e;
    r->err.cls = NW_ERR_INPUT;
}

/* Halves of the batch joined with each other. Returns the indices of halves
 * still alone in `alone` (count in *nalone). */
static void join_in_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_store_parts_t *pj,
                          size_t *alone, size_t *nalone)
{
    *nalone = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_half(st, &recs[i]))
            continue;
        /* a later half with the same key and the other part */
        size_t j = n;
        for (size_t k = i + 1; k < n && j == n; k++)
            if (is_half(st, &recs[k]) && recs[k].item->part != recs[i].item->part &&
                !strcmp(recs[k].item->pair_key, recs[i].item->pair_key))
                j = k;
        if (j == n) {
            alone[(*nalone)++] = i;
            continue;
        }
        nw_store_rec_t *m = recs[i].item->part == NW_PART_META ? &recs[i] : &recs[j];
        nw_store_rec_t *b = m == &recs[i] ? &recs[j] : &recs[i];
        const char *key = recs[i].item->pair_key;
        nw_err_t e = {0};
        /* the later message carries the joined item; the earlier is done */
        if (join_into(st, pj, &recs[j], key, m->raw, m->raw_len, b->raw, b->raw_len, &e)) {
            recs[i].outcome = NW_REC_JOINED;
        } else {
            fail(&recs[i], &e);
            fail(&recs[j], &e);
        }
    }
    /* drop from `alone` the halves that a later one joined */
    size_t k = 0;
    for (size_t a = 0; a < *nalone; a++)
        if (recs[alone[a]].outcome == NW_REC_PENDING && recs[alone[a]].item->part != NW_PART_WHOLE)
            alone[k++] = alone[a];
    *nalone = k;
}

bool nw_store_parts_resolve(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_store_parts_t *pj,
                            nw_err_t *err)
{
    memset(pj, 0, sizeof *pj);
    if (!st->join)
        return true;
    size_t *alone = malloc((n ? n : 1) * sizeof *alone), nalone;
    join_in_batch(st, recs, n, pj, alone, &nalone);
    bool ok = true;
    if (nalone > 0) {
        /* One query: the partner waiting in pending_parts (locked), or for a
         * metadata half, whether its version is already stored (then the
         * half is a redelivery and goes through as one). */
        const char **keys = malloc(nalone * sizeof *keys), **ps = malloc(nalone * sizeof *ps),
                   **ids = malloc(nalone * sizeof *ids), **vs = malloc(nalone * sizeof *vs);
        int64_t *parts = malloc(nalone * sizeof *parts);
        for (size_t a = 0; a < nalone; a++) {
            const nw_item_t *it = recs[alone[a]].item;
            keys[a] = it->pair_key;
            parts[a] = it->part == NW_PART_META ? 2 : 1; /* the partner's part */
            ps[a] = it->provider;
            ids[a] = it->part == NW_PART_META ? it->story_id : "";
            vs[a] = it->version ? it->version : "";
        }
        /* Two halves of one pair may arrive on two replicas at once: a lock
         * per pair key (sorted, taken before any other lock of the batch)
         * makes the second wait and then see the first one's row. */
        nw_pg_params_t pp = {0};
        nw_pg_add_texts(&pp, keys, nalone);
        PGresult *r = nw_pg_run(st->conn,
                                "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT"
                                " hashtextextended(k, 1112) AS h FROM unnest($1::text[]) k) s"
                                " ORDER BY h",
                                &pp, PGRES_TUPLES_OK, "lock AP halves", err);
        ok = r != NULL;
        PQclear(r);
        r = NULL;
        if (ok) {
            nw_pg_add_texts(&pp, keys, nalone);
            nw_pg_add_int8s(&pp, parts, nalone);
            nw_pg_add_texts(&pp, ps, nalone);
            nw_pg_add_texts(&pp, ids, nalone);
            nw_pg_add_texts(&pp, vs, nalone);
            r = nw_pg_run(
                st->conn,
                "SELECT k.i - 1, p.raw,"
                "       EXISTS (SELECT 1 FROM item_versions v WHERE v.provider = k.pv"
                "                  AND v.story_id = k.sid AND v.version = k.ver)"
                "  FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[])"
                "       WITH ORDINALITY AS k(key, part, pv, sid, ver, i)"
                "  LEFT JOIN LATERAL (SELECT raw FROM pending_parts q"
                "                      WHERE q.pair_key = k.key AND q.part = k.part FOR UPDATE) p"
                "    ON true"
                " ORDER BY k.i",
                &pp, PGRES_TUPLES_OK, "find AP halves", err);
        }
        ok = ok && r != NULL;
        nw_copybuf_t hold;
        nw_copy_init(&hold);
        const char **del = malloc(nalone * sizeof *del);
        int64_t *delpart = malloc(nalone * sizeof *delpart);
        size_t ndel = 0;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            size_t a = (size_t)atol(PQgetvalue(r, row, 0));
            if (a >= nalone)
                continue;
            nw_store_rec_t *rec = &recs[alone[a]];
            bool stored = PQgetvalue(r, row, 2)[0] == 't';
            if (PQgetisnull(r, row, 1)) {
                if (stored)
                    continue; /* a metadata half redelivered after the join */
                nw_copy_row(&hold, 3);
                nw_copy_text(&hold, rec->item->pair_key);
                nw_copy_int2(&hold, rec->item->part == NW_PART_META ? 1 : 2);
                nw_copy_bytes(&hold, rec->raw, rec->raw_len);
                rec->outcome = NW_REC_HELD;
                st->stats.parts_held++;
                continue;
            }
            size_t plen = 0;
            unsigned char *partner =
                PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, 1), &plen);
            bool meta = rec->item->part == NW_PART_META;
            nw_err_t e = {0};
            if (partner && join_into(st, pj, rec, rec->item->pair_key, meta ? rec->raw : partner,
                                     meta ? rec->raw_len : plen, meta ? partner : rec->raw,
                                     meta ? plen : rec->raw_len, &e)) {
                del[ndel] = rec->item->pair_key;
                delpart[ndel++] = parts[a];
            } else {
                fail(rec, &e);
            }
            PQfreemem(partner);
        }
        PQclear(r);
        ok = ok && nw_pg_copy(st->conn, "pending_parts (pair_key, part, raw)", &hold, err);
        nw_copy_free(&hold);
        if (ok && ndel > 0) {
            nw_pg_params_t dp = {0};
            nw_pg_add_texts(&dp, del, ndel);
            nw_pg_add_int8s(&dp, delpart, ndel);
            PGresult *dr = nw_pg_run(st->conn,
                                     "DELETE FROM pending_parts p USING unnest($1::text[],"
                                     " $2::smallint[]) AS d(key, part)"
                                     " WHERE p.pair_key = d.key AND p.part = d.part",
                                     &dp, PGRES_COMMAND_OK, "take AP halves", err);
            ok = dr != NULL;
            PQclear(dr);
        }
        free(del);
        free(delpart);
        free(keys);
        free(ps);
        free(ids);
        free(vs);
        free(parts);
    }
    free(alone);
    return ok;
}

void nw_store_parts_release(nw_store_parts_t *pj)
{
    for (size_t k = 0; k < pj->n; k++) {
        pj->recs[k]->item = pj->saved_items[k];
        pj->recs[k]->raw = pj->saved_raws[k];
        pj->recs[k]->raw_len = pj->saved_lens[k];
        nw_item_free(pj->items[k]);
        free(pj->items[k]);
        free(pj->raws[k]);
    }
    free(pj->items);
    free(pj->raws);
    free(pj->recs);
    free(pj->saved_items);
    free(pj->saved_raws);
    free(pj->saved_lens);
    memset(pj, 0, sizeof *pj);
}
