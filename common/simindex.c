#include "simindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701

void nw_simindex_cfg_default(nw_simindex_cfg_t *cfg)
{
    cfg->window_s = 72 * 3600;
    cfg->term_query = 12;
    cfg->term_postings_cap = 32;
    cfg->term_top = 50;
}

/* ---- errors ------------------------------------------------------------ */

/* Map a failed result (or a dead connection) to the error classes of err.h
 * by SQLSTATE, as the store module does. */
static bool pg_fail(PGconn *conn, const PGresult *res, const char *what, nw_err_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    nw_errclass_t cls = NW_ERR_FATAL;
    if (!state || !*state) {
        state = "08000";
        cls = NW_ERR_TRANSIENT; /* no server answer: the connection is gone */
    } else if (!strncmp(state, "08", 2) || !strncmp(state, "57P0", 4) || !strcmp(state, "40001") ||
               !strcmp(state, "40P01") || !strncmp(state, "53", 2)) {
        cls = NW_ERR_TRANSIENT;
    } else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) {
        cls = NW_ERR_ROW;
    }
    size_t ml = strlen(msg ? msg : "");
    while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == ' '))
        ml--;
    return nw_err_set(err, cls, state, "simindex: %s: %.*s", what, (int)ml, msg ? msg : "");
}

/* ---- binary parameters: PostgreSQL array wire format ------------------ */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
    bool oom;
} buf_t;

static void buf_put(buf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *d = realloc(b->d, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_be32(buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_put(b, x, 4);
}

static void put_be64(buf_t *b, uint64_t v)
{
    put_be32(b, (uint32_t)(v >> 32));
    put_be32(b, (uint32_t)v);
}

/* A one-dimensional array: header now, element count patched by arr_end. */
typedef struct arr {
    buf_t b;
    uint32_t count;
    bool nulls;
} arr_t;

static void arr_begin(arr_t *a, uint32_t oid)
{
    memset(a, 0, sizeof *a);
    put_be32(&a->b, 1);   /* ndim */
    put_be32(&a->b, 0);   /* has nulls, patched */
    put_be32(&a->b, oid);
    put_be32(&a->b, 0);   /* dimension size, patched */
    put_be32(&a->b, 1);   /* lower bound */
}

static void arr_val(arr_t *a, const void *p, size_t n)
{
    put_be32(&a->b, (uint32_t)n);
    buf_put(&a->b, p, n);
    a->count++;
}

static void arr_null(arr_t *a)
{
    put_be32(&a->b, 0xffffffffu);
    a->nulls = true;
    a->count++;
}

static void arr_i8(arr_t *a, int64_t v)
{
    put_be32(&a->b, 8);
    put_be64(&a->b, (uint64_t)v);
    a->count++;
}

static void arr_i4(arr_t *a, int32_t v)
{
    put_be32(&a->b, 4);
    put_be32(&a->b, (uint32_t)v);
    a->count++;
}

static void arr_f8(arr_t *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_be32(&a->b, 8);
    put_be64(&a->b, u);
    a->count++;
}

static void arr_f4(arr_t *a, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_be32(&a->b, 4);
    put_be32(&a->b, u);
    a->count++;
}

static void arr_text(arr_t *a, const char *s)
{
    if (s)
        arr_val(a, s, strlen(s));
    else
        arr_null(a);
}

static void arr_end(arr_t *a)
{
    if (a->b.oom || a->b.n < 20)
        return;
    uint8_t *d = a->b.d;
    uint32_t hn = a->nulls ? 1u : 0u;
    uint8_t h[4] = {(uint8_t)(hn >> 24), (uint8_t)(hn >> 16), (uint8_t)(hn >> 8), (uint8_t)hn};
    memcpy(d + 4, h, 4);
    uint32_t c = a->count;
    uint8_t x[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    memcpy(d + 12, x, 4);
}

/* Run a statement whose parameters are all binary arrays/scalars, asking for
 * binary results. Frees the arrays. Returns the result or NULL (err set). */
static PGresult *exec_bin(PGconn *conn, const char *sql, arr_t *arrs, int n, ExecStatusType want,
                          const char *what, nw_err_t *err)
{
    const char *vals[24];
    int lens[24], fmts[24];
    bool oom = false;
    for (int i = 0; i < n; i++) {
        arr_end(&arrs[i]);
        oom = oom || arrs[i].b.oom;
        vals[i] = (const char *)arrs[i].b.d;
        lens[i] = (int)arrs[i].b.n;
        fmts[i] = 1;
    }
    PGresult *res = NULL;
    if (!oom)
        res = PQexecParams(conn, sql, n, NULL, vals, lens, fmts, 1);
    for (int i = 0; i < n; i++)
        free(arrs[i].b.d);
    if (oom) {
        nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: %s: out of memory", what);
        return NULL;
    }
    if (!res || PQresultStatus(res) != want) {
        pg_fail(conn, res, what, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- binary results ---------------------------------------------------- */

static uint32_t get_be32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static int64_t get_i8(const PGresult *r, int row, int col)
{
    const char *p = PQgetvalue(r, row, col);
    return (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));
}

static int32_t get_i4(const PGresult *r, int row, int col)
{
    return (int32_t)get_be32(PQgetvalue(r, row, col));
}

static float get_f4(const PGresult *r, int row, int col)
{
    uint32_t u = get_be32(PQgetvalue(r, row, col));
    float f;
    memcpy(&f, &u, 4);
    return f;
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
    arr_t a;
    arr_begin(&a, OID_INT8);
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            arr_i8(&a, keys[i]);
    free(keys);
    PGresult *res = exec_bin(conn,
                             "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY "
                             "AS u(k, i) ORDER BY i",
                             &a, 1, PGRES_TUPLES_OK, "lock", err);
    PQclear(res);
    return res != NULL;
}

/* ---- step 2: insert ---------------------------------------------------- */

static double item_time(const nw_sim_item_t *it, double now)
{
    return it->meta.versioncreated ? (double)it->meta.versioncreated : now;
}

bool nw_simindex_insert(PGconn *conn, const nw_sim_item_t *items, size_t n, nw_err_t *err)
{
    if (!n)
        return true;
    enum { F_V, F_S, F_P, F_SID, F_T, F_H, F_CH, F_SH, F_NS, F_FP, B_K, B_V, B_T, T_H, T_V, T_W, T_T, N_ARR };
    static const uint32_t oids[N_ARR] = {OID_INT8, OID_INT8, OID_TEXT, OID_TEXT, OID_FLOAT8, OID_TEXT,
                                         OID_BYTEA, OID_INT8, OID_INT4, OID_BYTEA, OID_INT8, OID_INT8,
                                         OID_FLOAT8, OID_INT8, OID_INT8, OID_FLOAT4, OID_FLOAT8};
    arr_t a[N_ARR];
    for (int i = 0; i < N_ARR; i++)
        arr_begin(&a[i], oids[i]);
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
        double t = item_time(it, now);
        arr_i8(&a[F_V], it->meta.version_pk);
        arr_i8(&a[F_S], it->meta.story_pk);
        arr_text(&a[F_P], it->meta.provider ? it->meta.provider : "");
        arr_text(&a[F_SID], it->meta.story_id ? it->meta.story_id : "");
        arr_f8(&a[F_T], t);
        arr_text(&a[F_H], it->meta.headline);
        arr_val(&a[F_CH], fp->content_hash, 16);
        arr_i8(&a[F_SH], (int64_t)fp->simhash);
        arr_i4(&a[F_NS], (int32_t)fp->n_shingles);
        arr_val(&a[F_FP], ser, nw_fp_serialize(fp, ser, NW_FP_SER_MAX));
        uint64_t k[NW_FP_MAX_KEYS];
        size_t m = nw_fp_band_keys(fp, k);
        for (size_t j = 0; j < m; j++) {
            arr_i8(&a[B_K], (int64_t)k[j]);
            arr_i8(&a[B_V], it->meta.version_pk);
            arr_f8(&a[B_T], t);
        }
        for (int j = 0; j < fp->n_terms; j++) {
            arr_i8(&a[T_H], (int64_t)fp->terms[j].hash);
            arr_i8(&a[T_V], it->meta.version_pk);
            arr_f4(&a[T_W], fp->terms[j].w);
            arr_f8(&a[T_T], t);
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
    PGresult *res = exec_bin(conn, sql, a, N_ARR, PGRES_TUPLES_OK, "insert", err);
    PQclear(res);
    return res != NULL;
}

/* ---- step 3: candidates ------------------------------------------------ */

void nw_simindex_cands_free(nw_sim_cands_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_strs; i++)
        free(c->strs[i]);
    free(c->strs);
    free(c->off);
    free(c->cand);
    free(c->fps);
    free(c->term_score);
    free(c->via_band);
    memset(c, 0, sizeof *c);
}

static const char *own_str(nw_sim_cands_t *c, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    int len = PQgetlength(r, row, col);
    char *s = malloc((size_t)len + 1);
    if (!s)
        return NULL;
    memcpy(s, PQgetvalue(r, row, col), (size_t)len);
    s[len] = '\0';
    c->strs[c->n_strs++] = s;
    return s;
}

/* One statement for the whole batch: band-key hits and the best term
 * overlaps (the item's term_query heaviest terms, each reading at most
 * term_postings_cap postings of the window, in index order: a common term
 * cannot make the lookup grow with the table or the window's density, and
 * such a term weighs little in the score anyway), joined to
 * the fingerprints and the stories' cluster ids. The batch-wide time bounds
 * ($12, $13) let the planner prune partitions outside the window. */
bool nw_simindex_candidates(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_item_t *items,
                            size_t n, nw_sim_cands_t *out, nw_err_t *err)
{
    nw_simindex_cfg_t def;
    if (!cfg) {
        nw_simindex_cfg_default(&def);
        cfg = &def;
    }
    memset(out, 0, sizeof *out);
    out->n_items = n;
    out->off = calloc(n + 1, sizeof *out->off);
    if (!out->off)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: candidates: out of memory");
    if (!n)
        return true;
    enum { QB_K, QB_I, QB_T, QT_H, QT_W, QT_I, QT_T, SELF, WIN, CAP, TOP, LO, HI, N_ARR };
    static const uint32_t oids[N_ARR] = {OID_INT8, OID_INT4, OID_FLOAT8, OID_INT8, OID_FLOAT4,
                                         OID_INT4, OID_FLOAT8, OID_INT8};
    arr_t a[N_ARR];
    for (int i = 0; i < SELF + 1; i++)
        arr_begin(&a[i], oids[i]);
    double now = (double)time(NULL), lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const nw_fp_t *fp = items[i].fp;
        double t = item_time(&items[i], now);
        lo = (i == 0 || t < lo) ? t : lo;
        hi = (i == 0 || t > hi) ? t : hi;
        uint64_t k[NW_FP_MAX_KEYS];
        size_t m = nw_fp_band_keys(fp, k);
        for (size_t j = 0; j < m; j++) {
            arr_i8(&a[QB_K], (int64_t)k[j]);
            arr_i4(&a[QB_I], (int32_t)i);
            arr_f8(&a[QB_T], t);
        }
        for (int j = 0; j < fp->n_terms && j < cfg->term_query; j++) {
            arr_i8(&a[QT_H], (int64_t)fp->terms[j].hash);
            arr_f4(&a[QT_W], fp->terms[j].w);
            arr_i4(&a[QT_I], (int32_t)i);
            arr_f8(&a[QT_T], t);
        }
        arr_i8(&a[SELF], items[i].meta.version_pk);
    }
    /* scalars: binary float8 / int4 values (no array header) */
    double win = cfg->window_s, blo = lo - win, bhi = hi + win;
    const double scal_d[3] = {win, blo, bhi};
    const int scal_idx[3] = {WIN, LO, HI};
    for (int s = 0; s < 3; s++) {
        memset(&a[scal_idx[s]], 0, sizeof a[0]);
        uint64_t u;
        memcpy(&u, &scal_d[s], 8);
        put_be64(&a[scal_idx[s]].b, u);
    }
    memset(&a[CAP], 0, sizeof a[0]);
    put_be32(&a[CAP].b, (uint32_t)cfg->term_postings_cap);
    memset(&a[TOP], 0, sizeof a[0]);
    put_be32(&a[TOP].b, (uint32_t)cfg->term_top);
    static const char sql[] =
        "WITH qb AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::float8[]) AS q(bucket, item_no, t)),"
        " band AS (SELECT DISTINCT qb.item_no, b.version_pk FROM qb JOIN sim_bands b"
        "   ON b.bucket = qb.bucket AND b.ts >= to_timestamp(qb.t - $9::float8) AND b.ts <= to_timestamp(qb.t + $9::float8)"
        "   AND b.ts >= to_timestamp($12::float8) AND b.ts <= to_timestamp($13::float8)),"
        " qt AS (SELECT * FROM unnest($4::bigint[], $5::real[], $6::int[], $7::float8[])"
        "   AS q(term_hash, w, item_no, t)),"
        " term AS (SELECT item_no, version_pk, score FROM ("
        "   SELECT qt.item_no, p.version_pk, sum(p.w * qt.w) AS score,"
        "     row_number() OVER (PARTITION BY qt.item_no ORDER BY sum(p.w * qt.w) DESC, p.version_pk) AS rn"
        "   FROM qt CROSS JOIN LATERAL (SELECT t.version_pk, t.w FROM sim_terms t"
        "     WHERE t.term_hash = qt.term_hash AND t.ts >= to_timestamp(qt.t - $9::float8)"
        "     AND t.ts <= to_timestamp(qt.t + $9::float8) AND t.ts >= to_timestamp($12::float8)"
        "     AND t.ts <= to_timestamp($13::float8) LIMIT $10::int) p"
        "   GROUP BY qt.item_no, p.version_pk) x WHERE rn <= $11::int),"
        " c AS (SELECT item_no, version_pk, max(score) AS score, bool_or(via_band) AS via_band FROM ("
        "   SELECT item_no, version_pk, NULL::real AS score, true AS via_band FROM band"
        "   UNION ALL SELECT item_no, version_pk, score::real, false FROM term) u"
        "   GROUP BY item_no, version_pk)"
        " SELECT c.item_no, c.version_pk, coalesce(c.score, 0)::real, c.via_band, f.story_pk,"
        "   f.provider, f.story_id, extract(epoch FROM f.versioncreated)::bigint, f.headline,"
        "   coalesce(s.cluster_id, 0)::bigint, f.fp"
        " FROM c JOIN sim_fingerprints f ON f.version_pk = c.version_pk"
        " LEFT JOIN stories s ON s.story_pk = f.story_pk"
        " WHERE f.version_pk <> ($8::bigint[])[c.item_no + 1]"
        " ORDER BY c.item_no, c.version_pk";
    const char *vals[N_ARR];
    int lens[N_ARR], fmts[N_ARR];
    bool oom = false;
    for (int i = 0; i < N_ARR; i++) {
        if (i <= SELF)
            arr_end(&a[i]);
        oom = oom || a[i].b.oom;
        vals[i] = (const char *)a[i].b.d;
        lens[i] = (int)a[i].b.n;
        fmts[i] = 1;
    }
    PGresult *res = oom ? NULL : PQexecParams(conn, sql, N_ARR, NULL, vals, lens, fmts, 1);
    for (int i = 0; i < N_ARR; i++)
        free(a[i].b.d);
    if (oom)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: candidates: out of memory");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(conn, res, "candidates", err);
        PQclear(res);
        nw_simindex_cands_free(out);
        return false;
    }
    int rows = PQntuples(res);
    out->cand = calloc((size_t)rows + 1, sizeof *out->cand);
    out->fps = calloc((size_t)rows + 1, sizeof *out->fps);
    out->term_score = calloc((size_t)rows + 1, sizeof *out->term_score);
    out->via_band = calloc((size_t)rows + 1, sizeof *out->via_band);
    out->strs = calloc((size_t)rows * 3 + 1, sizeof *out->strs);
    if (!out->cand || !out->fps || !out->term_score || !out->via_band || !out->strs) {
        PQclear(res);
        nw_simindex_cands_free(out);
        return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: candidates: out of memory");
    }
    for (int r = 0; r < rows; r++) {
        size_t k = out->n;
        int32_t item = get_i4(res, r, 0);
        if (item < 0 || (size_t)item >= n)
            continue;
        nw_err_t ferr;
        if (!nw_fp_deserialize((const uint8_t *)PQgetvalue(res, r, 10), (size_t)PQgetlength(res, r, 10),
                               &out->fps[k], &ferr))
            continue; /* a fingerprint of another format version: not comparable */
        nw_link_meta_t *m = &out->cand[k].meta;
        out->cand[k].fp = &out->fps[k];
        m->version_pk = get_i8(res, r, 1);
        out->term_score[k] = get_f4(res, r, 2);
        out->via_band[k] = *PQgetvalue(res, r, 3) != 0;
        m->story_pk = get_i8(res, r, 4);
        m->provider = own_str(out, res, r, 5);
        m->story_id = own_str(out, res, r, 6);
        m->versioncreated = get_i8(res, r, 7);
        m->headline = own_str(out, res, r, 8);
        m->cluster_id = get_i8(res, r, 9);
        out->off[item + 1]++;
        out->n++;
    }
    PQclear(res);
    for (size_t i = 0; i < n; i++)
        out->off[i + 1] += out->off[i];
    return true;
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

static bool exec_int_param(PGconn *conn, const char *sql, int v, const char *what, nw_err_t *err)
{
    char num[24];
    snprintf(num, sizeof num, "%d", v);
    const char *vals[1] = {num};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, vals, NULL, NULL, 0);
    bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        pg_fail(conn, res, what, err);
    PQclear(res);
    return ok;
}

bool nw_simindex_maintain(PGconn *conn, int retention_days, nw_err_t *err)
{
    return exec_int_param(conn,
                          "SELECT sim_ensure_partitions(now() - interval '7 days', now() + interval '28 days'),"
                          " sim_prune(now() - make_interval(days => $1::int))",
                          retention_days, "maintain", err);
}

bool nw_simindex_refresh_idf(PGconn *conn, int window_s, nw_err_t *err)
{
    return exec_int_param(conn, "SELECT sim_refresh_idf(make_interval(secs => $1::int))", window_s,
                          "refresh idf", err);
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
    PGresult *res = PQexecParams(conn,
                                 "SELECT i.term_hash, i.df, m.n_docs FROM sim_idf i"
                                 " CROSS JOIN sim_idf_meta m",
                                 0, NULL, NULL, NULL, NULL, 1);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(conn, res, "load idf", err);
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
    double ndocs = rows ? (double)get_i8(res, 0, 2) : 0;
    t->unknown = (float)(log(ndocs + 1.0) + 1.0);
    for (int r = 0; r < rows; r++) {
        uint64_t h = (uint64_t)get_i8(res, r, 0);
        double df = get_i4(res, r, 1);
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
