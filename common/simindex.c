#include "simindex.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "radix.h"
#include "simindex_wire.h"

void nw_simindex_cfg_default(nw_simindex_cfg_t *cfg)
{
    cfg->window_s = 72 * 3600;
    cfg->term_query = 12;
    cfg->term_postings_cap = 32;
    cfg->term_top = 50;
    cfg->term_probe_each = false;
}

/* ---- step 1: locks ----------------------------------------------------- */

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The band keys are random 64-bit values; as advisory lock keys they share
 * the bigint key space with other users of pg_advisory_*lock(bigint), where a
 * collision costs only a short wait. Sorted and deduplicated here, locked in
 * that order by the statement (target lists are evaluated after ORDER BY). */
bool nw_simindex_lock(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err)
{
    int64_t *keys = malloc((n * NW_FP_MAX_KEYS + 1) * sizeof *keys);
    if (!keys)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: lock: out of memory");
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k[NW_FP_MAX_KEYS];
        size_t m = nw_fp_band_keys(items[i].fp, k);
        for (size_t j = 0; j < m; j++)
            keys[nk++] = (int64_t)k[j];
    }
    if (!nk) {
        free(keys);
        return true;
    }
    qsort(keys, nk, sizeof *keys, cmp_i64);
    nw_simw_arr_t a;
    nw_simw_arr_begin(&a, NW_OID_INT8);
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            nw_simw_arr_i8(&a, keys[i]);
    free(keys);
    PGresult *res = nw_simw_exec(conn,
                             "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY "
                             "AS u(k, i) ORDER BY i",
                             &a, 1, PGRES_TUPLES_OK, "lock", err);
    PQclear(res);
    return res != NULL;
}

/* ---- step 2: insert ---------------------------------------------------- */

bool nw_simindex_insert(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err)
{
    if (!n)
        return true;
    enum { F_V, F_S, F_P, F_SID, F_T, F_H, F_CH, F_SH, F_NS, F_FP, B_K, B_V, B_T, T_H, T_V, T_W, T_T, N_ARR };
    static const uint32_t oids[N_ARR] = {NW_OID_INT8, NW_OID_INT8, NW_OID_TEXT, NW_OID_TEXT, NW_OID_FLOAT8, NW_OID_TEXT,
                                         NW_OID_BYTEA, NW_OID_INT8, NW_OID_INT4, NW_OID_BYTEA, NW_OID_INT8, NW_OID_INT8,
                                         NW_OID_FLOAT8, NW_OID_INT8, NW_OID_INT8, NW_OID_FLOAT4, NW_OID_FLOAT8};
    nw_simw_arr_t a[N_ARR];
    for (int i = 0; i < N_ARR; i++)
        nw_simw_arr_begin(&a[i], oids[i]);
    double now = (double)time(NULL);
    uint8_t *ser = malloc(NW_FP_SER_MAX);
    if (!ser) {
        for (int i = 0; i < N_ARR; i++)
            free(a[i].b.d);
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: insert: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const nw_sim_item_t *it = &items[i];
        const nw_fp_t *fp = it->fp;
        double t = nw_simw_item_time(it, now);
        nw_simw_arr_i8(&a[F_V], it->meta.version_pk);
        nw_simw_arr_i8(&a[F_S], it->meta.story_pk);
        nw_simw_arr_text(&a[F_P], it->meta.provider ? it->meta.provider : "");
        nw_simw_arr_text(&a[F_SID], it->meta.story_id ? it->meta.story_id : "");
        nw_simw_arr_f8(&a[F_T], t);
        nw_simw_arr_text(&a[F_H], it->meta.headline);
        nw_simw_arr_val(&a[F_CH], fp->content_hash, 16);
        nw_simw_arr_i8(&a[F_SH], (int64_t)fp->simhash);
        nw_simw_arr_i4(&a[F_NS], (int32_t)fp->n_shingles);
        nw_simw_arr_val(&a[F_FP], ser, nw_fp_serialize(fp, ser, NW_FP_SER_MAX));
        uint64_t k[NW_FP_MAX_KEYS];
        size_t m = nw_fp_band_keys(fp, k);
        for (size_t j = 0; j < m; j++) {
            nw_simw_arr_i8(&a[B_K], (int64_t)k[j]);
            nw_simw_arr_i8(&a[B_V], it->meta.version_pk);
            nw_simw_arr_f8(&a[B_T], t);
        }
        for (int j = 0; j < fp->n_terms; j++) {
            nw_simw_arr_i8(&a[T_H], (int64_t)fp->terms[j].hash);
            nw_simw_arr_i8(&a[T_V], it->meta.version_pk);
            nw_simw_arr_f4(&a[T_W], fp->terms[j].w);
            nw_simw_arr_f8(&a[T_T], t);
        }
    }
    free(ser);
    static const char sql[] =
        "WITH f AS ("
        " INSERT INTO sim_fingerprints (version_pk, story_pk, provider, story_id, versioncreated,"
        "   headline, content_hash, simhash, n_shingles, fp)"
        " SELECT v, s, p, sid, to_timestamp(t), h, ch, sh, ns, fp FROM unnest($1::bigint[],"
        "   $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::bytea[], $8::bigint[],"
        "   $9::int[], $10::bytea[]) AS u(v, s, p, sid, t, h, ch, sh, ns, fp)"
        " ON CONFLICT (version_pk) DO NOTHING RETURNING version_pk),"
        " ins_bands AS ("
        " INSERT INTO sim_bands (bucket, version_pk, ts)"
        " SELECT k, v, to_timestamp(t) FROM unnest($11::bigint[], $12::bigint[], $13::float8[])"
        "   AS u(k, v, t) WHERE v IN (SELECT version_pk FROM f) RETURNING 1),"
        " ins_terms AS ("
        " INSERT INTO sim_terms (term_hash, version_pk, w, ts)"
        " SELECT h, v, w, to_timestamp(t) FROM unnest($14::bigint[], $15::bigint[], $16::real[],"
        "   $17::float8[]) AS u(h, v, w, t) WHERE v IN (SELECT version_pk FROM f) RETURNING 1)"
        " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM ins_bands),"
        "   (SELECT count(*) FROM ins_terms)";
    PGresult *res = nw_simw_exec(conn, sql, a, N_ARR, PGRES_TUPLES_OK, "insert", err);
    PQclear(res);
    return res != NULL;
}

/* Step 2 for versions new in the caller's transaction: the same rows as
 * nw_simindex_insert(), written with binary COPY (PostgreSQL's multi-row
 * insert path: one heap WAL record per page rather than per row, no
 * per-row executor). No conflict handling: a version that already has a
 * fingerprint fails the batch (unique violation). */
bool nw_simindex_copy(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err)
{
    nw_sim_batch_t b;
    if (!nw_sim_batch_init(&b, items, n, (double)time(NULL), err))
        return false;
    bool ok = nw_simindex_copy_batch(conn, &b, err);
    nw_sim_batch_free(&b);
    return ok;
}

bool nw_sim_batch_init(nw_sim_batch_t *b, const nw_sim_item_t *items, size_t n, double now,
                       nw_err_t *err)
{
    *b = (nw_sim_batch_t){.items = items, .n = n, .now = now};
    size_t nk = n * NW_FP_MAX_KEYS + 1, nt = n * NW_FP_MAX_TERMS + 1;
    b->bands = malloc(nk * sizeof *b->bands);
    b->terms = malloc(nt * sizeof *b->terms);
    nw_keyidx_t *tmp = malloc((nk > nt ? nk : nt) * sizeof *tmp);
    if (!b->bands || !b->terms || !tmp) {
        free(tmp);
        nw_sim_batch_free(b);
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: band and term keys: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const nw_fp_t *fp = items[i].fp;
        uint64_t keys[NW_FP_MAX_KEYS];
        size_t nkeys = nw_fp_band_keys(fp, keys);
        for (size_t j = 0; j < nkeys; j++)
            b->bands[b->nbands++] = (nw_keyidx_t){(int64_t)keys[j], (uint32_t)i};
        for (int j = 0; j < fp->n_terms; j++)
            b->terms[b->nterms++] = (nw_keyidx_t){(int64_t)fp->terms[j].hash,
                                                  (uint32_t)(i * NW_FP_MAX_TERMS + (size_t)j)};
    }
    nw_keyidx_sort(b->bands, b->nbands, tmp);
    nw_keyidx_sort(b->terms, b->nterms, tmp);
    free(tmp);
    return true;
}

void nw_sim_batch_free(nw_sim_batch_t *b)
{
    free(b->bands);
    free(b->terms);
    b->bands = b->terms = NULL;
}

bool nw_simindex_copy_batch(PGconn *conn, const nw_sim_batch_t *b, nw_err_t *err)
{
    const nw_sim_item_t *items = b->items;
    size_t n = b->n;
    if (!n)
        return true;
    nw_copybuf_t fb, bb, tb;
    nw_copy_init(&fb);
    nw_copy_init(&bb);
    nw_copy_init(&tb);
    /* band and term rows in the batch's key order (b->bands, b->terms):
     * PostgreSQL then inserts them into the (bucket, ts) and (term_hash, ts)
     * indexes a leaf page after the other (about a fifth cheaper than in item
     * order); equal keys stay in item order, so the heap order among them is
     * what it was */
    int64_t *us = malloc(n * sizeof *us);
    uint8_t *ser = malloc(NW_FP_SER_MAX);
    if (!ser || !us) {
        free(ser), free(us);
        nw_copy_free(&fb);
        nw_copy_free(&bb);
        nw_copy_free(&tb);
        return nw_err_set(err, NW_ERR_FATAL, "oom", "similarity rows: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const nw_sim_item_t *it = &items[i];
        const nw_fp_t *fp = it->fp;
        us[i] = nw_simw_item_us(it, b->now);
        nw_copy_row(&fb, 10);
        nw_copy_int8(&fb, it->meta.version_pk);
        nw_copy_int8(&fb, it->meta.story_pk);
        nw_copy_text(&fb, it->meta.provider ? it->meta.provider : "");
        nw_copy_text(&fb, it->meta.story_id ? it->meta.story_id : "");
        nw_copy_time_us(&fb, us[i]);
        nw_copy_text(&fb, it->meta.headline);
        nw_copy_bytes(&fb, fp->content_hash, 16);
        nw_copy_int8(&fb, (int64_t)fp->simhash);
        nw_copy_int4(&fb, (int32_t)fp->n_shingles);
        nw_copy_bytes(&fb, ser, nw_fp_serialize(fp, ser, NW_FP_SER_MAX));
    }
    for (size_t j = 0; j < b->nbands; j++) {
        const nw_keyidx_t *k = &b->bands[j];
        nw_copy_row(&bb, 3);
        nw_copy_int8(&bb, k->key);
        nw_copy_int8(&bb, items[k->idx].meta.version_pk);
        nw_copy_time_us(&bb, us[k->idx]);
    }
    for (size_t j = 0; j < b->nterms; j++) {
        const nw_keyidx_t *k = &b->terms[j];
        size_t i = k->idx / NW_FP_MAX_TERMS, t = k->idx % NW_FP_MAX_TERMS;
        nw_copy_row(&tb, 4);
        nw_copy_int8(&tb, k->key);
        nw_copy_int8(&tb, items[i].meta.version_pk);
        nw_copy_float4(&tb, items[i].fp->terms[t].w);
        nw_copy_time_us(&tb, us[i]);
    }
    free(ser), free(us);
    bool ok = nw_pg_copy(conn,
                         "sim_fingerprints (version_pk, story_pk, provider, story_id,"
                         " versioncreated, headline, content_hash, simhash, n_shingles, fp)",
                         &fb, err) &&
              nw_pg_copy(conn, "sim_bands (bucket, version_pk, ts)", &bb, err) &&
              nw_pg_copy(conn, "sim_terms (term_hash, version_pk, w, ts)", &tb, err);
    nw_copy_free(&fb);
    nw_copy_free(&bb);
    nw_copy_free(&tb);
    return ok;
}

/* ---- steps 1-4 together -------------------------------------------------- */

void nw_sim_result_free(nw_sim_result_t *r)
{
    if (!r)
        return;
    free(r->links);
    free(r->off);
    free(r->cluster_id);
    memset(r, 0, sizeof *r);
}

static bool in_batch(const nw_sim_item_t *items, size_t n, int64_t version_pk)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].meta.version_pk == version_pk)
            return true;
    return false;
}

/* A pair inside the batch is seen from both of its items; it is emitted only
 * from the newer one, so each link appears once. */
bool nw_simindex_process(PGconn *conn, const nw_simindex_cfg_t *scfg, const nw_link_cfg_t *lcfg,
                         const nw_sim_item_t *items, size_t n, nw_sim_result_t *out, nw_err_t *err)
{
    memset(out, 0, sizeof *out);
    nw_sim_cands_t cands;
    if (!nw_simindex_lock(conn, items, n, err) || !nw_simindex_insert(conn, items, n, err) ||
        !nw_simindex_candidates(conn, scfg, items, n, &cands, err))
        return false;
    out->off = calloc(n + 1, sizeof *out->off);
    out->cluster_id = calloc(n + 1, sizeof *out->cluster_id);
    out->links = calloc(cands.n + 1, sizeof *out->links);
    nw_link_t *ranked = calloc(cands.n + 1, sizeof *ranked);
    if (!out->off || !out->cluster_id || !out->links || !ranked) {
        free(ranked);
        nw_simindex_cands_free(&cands);
        nw_sim_result_free(out);
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: process: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const nw_link_cand_t *c = cands.cand + cands.off[i];
        size_t nc = cands.off[i + 1] - cands.off[i];
        size_t nl = nw_link_rank(lcfg, items[i].fp, &items[i].meta, c, nc, ranked, nc);
        out->cluster_id[i] = nw_link_cluster_id(lcfg, &items[i].meta, c, ranked, nl);
        out->off[i] = out->n_links;
        for (size_t k = 0; k < nl; k++) {
            const nw_link_meta_t *cm = &c[ranked[k].cand].meta;
            const nw_link_result_t *r = &ranked[k].r;
            if (!r->a_is_newer && in_batch(items, n, cm->version_pk))
                continue; /* the batch's newer item emits it */
            nw_sim_link_t *l = &out->links[out->n_links++];
            l->item = i;
            l->from_version_pk = r->a_is_newer ? items[i].meta.version_pk : cm->version_pk;
            l->to_version_pk = r->a_is_newer ? cm->version_pk : items[i].meta.version_pk;
            l->rel = r->rel;
            l->score = r->score;
            l->rank = ranked[k].rank;
            l->s = r->s;
        }
    }
    out->off[n] = out->n_links;
    free(ranked);
    nw_simindex_cands_free(&cands);
    return true;
}

/* ---- maintenance and IDF ----------------------------------------------- */

static bool exec_int_param(PGconn *conn, const char *sql, long long v, ExecStatusType want,
                           const char *what, nw_err_t *err)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    const char *vals[1] = {num};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, vals, NULL, NULL, 0);
    bool ok = nw_simw_ok(conn, res, want, what, err);
    PQclear(res);
    return ok;
}

bool nw_simindex_maintain(PGconn *conn, nw_err_t *err)
{
    PGresult *res = PQexec(conn, "SELECT made FROM sim_ensure_partitions_some("
                                 "now() - interval '7 days', now() + interval '28 days')");
    bool ok = nw_simw_ok(conn, res, PGRES_TUPLES_OK, "maintain", err);
    PQclear(res);
    if (!ok)
        return false;
    res = PQexec(conn, "DELETE FROM sim_backfill_marks"
                       " WHERE day < (now() AT TIME ZONE 'UTC')::date - 7");
    ok = nw_simw_ok(conn, res, PGRES_COMMAND_OK, "maintain", err);
    PQclear(res);
    return ok;
}

bool nw_simindex_note_backfill(PGconn *conn, int64_t oldest, nw_err_t *err)
{
    return exec_int_param(conn,
                          "INSERT INTO sim_backfill_marks AS m (day, oldest)"
                          " VALUES ((now() AT TIME ZONE 'UTC')::date, to_timestamp($1::bigint))"
                          " ON CONFLICT (day) DO UPDATE SET oldest = excluded.oldest"
                          "  WHERE excluded.oldest < m.oldest",
                          (long long)oldest, PGRES_COMMAND_OK, "backfill mark", err);
}

bool nw_simindex_prune_step(PGconn *conn, int retention_days, int max_rows, long long *deleted,
                            int *partitions_left, nw_err_t *err)
{
    char days[24], rows[24];
    snprintf(days, sizeof days, "%d", retention_days);
    snprintf(rows, sizeof rows, "%d", max_rows);
    const char *vals[2] = {days, rows};
    /* The retention runs back from the newest item indexed, not from now():
     * a backfill of an archive older than the retention keeps its last days
     * (the ones its next items link to) through a restart or a replica
     * joining, each of which prunes at start. Items dated in the future (a
     * wrong clock) are not counted, so one cannot expire the present; with
     * live traffic the newest item is minutes old and this is now(). A
     * backfill beside live traffic is kept by its marks (migration 0010):
     * the retention before the oldest item stored today or yesterday. */
    PGresult *res = PQexecParams(
        conn,
        "SELECT deleted, partitions_left"
        "  FROM sim_prune_some(least(coalesce((SELECT max(versioncreated) FROM sim_fingerprints"
        "                                       WHERE versioncreated <= now()), now()),"
        "                            coalesce((SELECT min(oldest) FROM sim_backfill_marks"
        "                                       WHERE day >= (now() AT TIME ZONE 'UTC')::date - 1),"
        "                                     'infinity'))"
        "                      - make_interval(days => $1::int), $2::int)",
        2, NULL, vals, NULL, NULL, 0);
    bool ok = nw_simw_ok(conn, res, PGRES_TUPLES_OK, "prune", err);
    if (ok) {
        *deleted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (partitions_left)
            *partitions_left = atoi(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return ok;
}

static const char refresh_idf_sql[] = "SELECT sim_refresh_idf(make_interval(secs => $1::int))";
static const char load_idf_sql[] = "SELECT i.term_hash, i.df, m.n_docs FROM sim_idf i"
                                   " CROSS JOIN sim_idf_meta m";

bool nw_simindex_refresh_idf(PGconn *conn, int window_s, nw_err_t *err)
{
    return exec_int_param(conn, refresh_idf_sql, window_s, PGRES_TUPLES_OK, "refresh idf", err);
}

bool nw_simindex_send_refresh_idf(PGconn *conn, int window_s, nw_err_t *err)
{
    char secs[24];
    snprintf(secs, sizeof secs, "%d", window_s);
    const char *vals[1] = {secs};
    return PQsendQueryParams(conn, refresh_idf_sql, 1, NULL, vals, NULL, NULL, 0) ||
           nw_simw_ok(conn, NULL, PGRES_TUPLES_OK, "refresh idf", err); /* the connection's error */
}

struct nw_simidf {
    uint64_t *keys; /* open addressing; 0 = empty (term hashes have a low bit set) */
    float *idf;
    size_t cap;
    float unknown;
};

static float simidf_lookup(void *ud, uint64_t h)
{
    const nw_simidf_t *t = ud;
    if (!t->cap)
        return 0.0f;
    size_t j = (h * 0x9e3779b97f4a7c15ull) >> 20 & (t->cap - 1);
    while (t->keys[j]) {
        if (t->keys[j] == h)
            return t->idf[j];
        j = (j + 1) & (t->cap - 1);
    }
    return 0.0f;
}

nw_simidf_t *nw_simidf_load(PGconn *conn, nw_err_t *err)
{
    PGresult *res = PQexecParams(conn, load_idf_sql, 0, NULL, NULL, NULL, NULL, 1);
    if (!nw_simw_ok(conn, res, PGRES_TUPLES_OK, "load idf", err)) {
        PQclear(res);
        return NULL;
    }
    int rows = PQntuples(res);
    nw_simidf_t *t = calloc(1, sizeof *t);
    size_t cap = 16;
    while (cap < (size_t)rows * 2)
        cap *= 2;
    if (t) {
        t->keys = calloc(cap, sizeof *t->keys);
        t->idf = calloc(cap, sizeof *t->idf);
        t->cap = cap;
    }
    if (!t || !t->keys || !t->idf) {
        PQclear(res);
        nw_simidf_free(t);
        nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: load idf: out of memory");
        return NULL;
    }
    double ndocs = rows ? (double)nw_simw_i8(res, 0, 2) : 0;
    t->unknown = (float)(log(ndocs + 1.0) + 1.0);
    for (int r = 0; r < rows; r++) {
        uint64_t h = (uint64_t)nw_simw_i8(res, r, 0);
        double df = nw_simw_i4(res, r, 1);
        size_t j = (h * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1);
        while (t->keys[j])
            j = (j + 1) & (cap - 1);
        t->keys[j] = h;
        t->idf[j] = (float)(log((ndocs + 1.0) / (df + 1.0)) + 1.0);
    }
    PQclear(res);
    return t;
}

void nw_simidf_free(nw_simidf_t *idf)
{
    if (!idf)
        return;
    free(idf->keys);
    free(idf->idf);
    free(idf);
}

void nw_simidf_apply(const nw_simidf_t *idf, nw_fp_cfg_t *cfg)
{
    cfg->idf = simidf_lookup;
    cfg->idf_ud = (void *)idf;
    if (idf->cap && idf->unknown > 1.0f)
        cfg->idf_unknown = idf->unknown;
}
