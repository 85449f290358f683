/*
 * simindex_cands: step 3 of the similarity index (simindex.h), the stored
 * candidates of every item of a batch, in three or four statements:
 *
 *   1. the raw hits: (a) every version sharing a band key with an item of
 *      the batch, in one scan of the batch's sorted keys, each item's own
 *      window applied here; (b) for each of the item's term_query heaviest
 *      terms the term_postings_cap newest postings of the window, read once
 *      per distinct term of the batch (and again alone for an item whose
 *      window that read did not reach: see term_hits). The posting scan runs
 *      backwards on the (term_hash, ts) index, so it stops at the cap: a
 *      common term costs the same as a rare one, however dense the window.
 *   2. the metadata and cluster of each distinct version found, and its
 *      fingerprint unless it belongs to the batch itself (the caller has it).
 *
 * In between, the term scores are summed and the term_top best kept per item
 * here, in C: a hash aggregate and a window function over ~200,000 postings
 * per batch of 500 cost PostgreSQL more than the lookups themselves. And a
 * fingerprint travels once per distinct version, not once per (item,
 * candidate) pair: the items of a batch share most of their candidates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radix.h"
#include "simindex.h"
#include "simindex_wire.h"

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

/* One hit of statement 1: a band-key match or a term posting. */
typedef struct hit {
    int64_t pk;
    float score; /* term posting: stored weight x query weight */
    bool band;
} hit_t;

/* A kept (item, version) pair. */
typedef struct pair {
    int32_t item;
    int64_t pk;
    float score; /* summed term score if among the item's term_top, else 0 */
    bool band;
} pair_t;

/* A distinct version among the pairs, as statement 2 describes it. */
typedef struct vers {
    int64_t pk;
    bool found;
    size_t fp; /* index into out->fps */
    nw_link_meta_t meta;
} vers_t;

typedef struct pkidx {
    int64_t pk;
    size_t i;
} pkidx_t;

/* term score descending, then version ascending (the old SQL's order) */
static int cmp_pair_score(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->pk < b->pk ? -1 : a->pk > b->pk;
}

static void swap_pair(pair_t *a, pair_t *b)
{
    pair_t t = *a;
    *a = *b;
    *b = t;
}

/* Reorder v[0..n) so that v[0..k) holds its k first pairs in cmp_pair_score's
 * order (a total order: the versions differ), in any order among themselves:
 * quickselect, three-way partitions around a median of three. */
static void select_best(pair_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        pair_t m[3] = {v[lo], v[lo + (hi - lo) / 2], v[hi - 1]};
        if (cmp_pair_score(&m[1], &m[0]) < 0)
            swap_pair(&m[0], &m[1]);
        if (cmp_pair_score(&m[2], &m[1]) < 0)
            swap_pair(&m[1], &m[2]);
        if (cmp_pair_score(&m[1], &m[0]) < 0)
            swap_pair(&m[0], &m[1]);
        pair_t pivot = m[1];
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) better, [lt,gt) equal, [gt,hi) worse */
        while (i < gt) {
            int c = cmp_pair_score(&v[i], &pivot);
            if (c < 0)
                swap_pair(&v[lt++], &v[i++]);
            else if (c > 0)
                swap_pair(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k > gt)
            lo = gt;
        else
            return;
    }
}

static int cmp_pair_pk(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;
    return a->pk < b->pk ? -1 : a->pk > b->pk;
}

static int cmp_pkidx(const void *x, const void *y)
{
    const pkidx_t *a = x, *b = y;
    return a->pk < b->pk ? -1 : a->pk > b->pk;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static const pkidx_t *find_pk(const pkidx_t *v, size_t n, int64_t pk)
{
    pkidx_t key = {.pk = pk};
    return bsearch(&key, v, n, sizeof *v, cmp_pkidx);
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

/* A band key of an item, and the item's window in PostgreSQL's timestamptz
 * (microseconds since 2000-01-01, rounded as to_timestamp() rounds). */
typedef struct qband {
    int64_t bucket;
    int32_t item;
    int64_t lo, hi;
} qband_t;

static int64_t pg_time(double epoch_s)
{
    return (int64_t)rint((epoch_s - (double)NW_PG_EPOCH_UNIX_S) * 1e6);
}

/* The batch's band keys (sorted by bucket, then item) with each item's
 * window, and the batch's time bounds. */
static qband_t *band_keys(const nw_simindex_cfg_t *cfg, const nw_sim_batch_t *sb, double *lo,
                          double *hi)
{
    size_t n = sb->n;
    qband_t *k = malloc((sb->nbands + 1) * sizeof *k);
    int64_t(*win_of)[2] = malloc((n + 1) * sizeof *win_of);
    if (!k || !win_of) {
        free(k), free(win_of);
        return NULL;
    }
    double win = cfg->window_s;
    for (size_t i = 0; i < n; i++) {
        double t = nw_simw_item_time(&sb->items[i], sb->now);
        *lo = (i == 0 || t < *lo) ? t : *lo;
        *hi = (i == 0 || t > *hi) ? t : *hi;
        win_of[i][0] = pg_time(t - win);
        win_of[i][1] = pg_time(t + win);
    }
    for (size_t j = 0; j < sb->nbands; j++) {
        uint32_t i = sb->bands[j].idx;
        k[j] = (qband_t){sb->bands[j].key, (int32_t)i, win_of[i][0], win_of[i][1]};
    }
    free(win_of);
    return k;
}

/* Statement 1a: every band row of the batch's keys within the batch's
 * bounds, (bucket, version_pk, ts), in one index scan per partition: the
 * scan takes the sorted keys in one pass (= ANY), where a lateral probe per
 * key paid the executor's per-row costs 23,000 times a batch. Each item's
 * own window is applied here, in C (group_hits).
 *
 * The keys reach the scan through a sub-select, so the planner sees a value
 * known only at run time: given the array itself, it estimated the
 * selectivity of each of its 23,000 elements against the column's
 * statistics, in every partition, and the bind took 20-75 ms of the batch's
 * critical path (the read runs beside the COPY and ended after it). The
 * plan is the same index-only scan (set_probes_only), and the time bounds
 * stay plain parameters, so the partitions outside them are still pruned
 * when planning. */
static PGresult *query_bands(PGconn *conn, const nw_simindex_cfg_t *cfg, const qband_t *k,
                             size_t nk, double lo, double hi, nw_err_t *err)
{
    nw_simw_arr_t a[3];
    nw_simw_arr_begin(&a[0], NW_OID_INT8);
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || k[i].bucket != k[i - 1].bucket)
            nw_simw_arr_i8(&a[0], k[i].bucket);
    nw_simw_scalar_f8(&a[1], lo - cfg->window_s);
    nw_simw_scalar_f8(&a[2], hi + cfg->window_s);
    static const char sql[] = "SELECT b.bucket, b.version_pk, b.ts FROM sim_bands b"
                              " WHERE b.bucket = ANY((SELECT $1::bigint[])::bigint[])"
                              "   AND b.ts >= to_timestamp($2::float8)"
                              "   AND b.ts <= to_timestamp($3::float8)";
    return nw_simw_exec(conn, sql, a, 3, PGRES_TUPLES_OK, "candidate bands", err);
}

/* A query term of an item: statement 1b answers "the term_postings_cap
 * newest postings of term within [t - window, t + window]". */
typedef struct qterm {
    int64_t term;
    double t;
    int32_t item;
    float w;      /* the term's weight in the item */
    size_t group; /* its entry in the grouped statement */
} qterm_t;

/* One posting read for a query term, in the order the index gave it
 * (newest first within each query term). */
typedef struct thit {
    size_t q;
    int64_t pk;
    float w;
} thit_t;

typedef struct posting {
    int64_t pk, ts; /* ts in PostgreSQL's timestamptz units */
    float w;
} posting_t;

/* The term statement: for each term[g], the cap newest postings within
 * [gmin[g] - window, gmax[g] + window], as (ordinal, versions[], weights[],
 * times[]). The batch-wide bounds ($5, $6) let the planner prune the
 * partitions outside every item's window. LATERAL with the terms outside:
 * one backward index probe per term, whatever the statistics say. As a plain
 * join, a partition whose statistics still said "empty" (made during this
 * replay, not yet analyzed) was put on the outside and the query keys
 * rescanned for each of its rows (146 s instead of 0.3 s for one batch). */
static PGresult *probe_groups(PGconn *conn, const nw_simindex_cfg_t *cfg, const int64_t *term,
                              const double *gmin, const double *gmax, size_t ng, double lo,
                              double hi, nw_err_t *err)
{
    enum { G_H, G_LO, G_HI, WIN, LO, HI, CAP, N_ARR };
    nw_simw_arr_t a[N_ARR];
    nw_simw_arr_begin(&a[G_H], NW_OID_INT8);
    nw_simw_arr_begin(&a[G_LO], NW_OID_FLOAT8);
    nw_simw_arr_begin(&a[G_HI], NW_OID_FLOAT8);
    for (size_t g = 0; g < ng; g++) {
        nw_simw_arr_i8(&a[G_H], term[g]);
        nw_simw_arr_f8(&a[G_LO], gmin[g]);
        nw_simw_arr_f8(&a[G_HI], gmax[g]);
    }
    double win = cfg->window_s;
    nw_simw_scalar_f8(&a[WIN], win);
    nw_simw_scalar_f8(&a[LO], lo - win);
    nw_simw_scalar_f8(&a[HI], hi + win);
    nw_simw_scalar_i4(&a[CAP], cfg->term_postings_cap);
    static const char sql[] =
        "SELECT g.i::int, p.pks, p.ws, p.tss"
        "  FROM unnest($1::bigint[], $2::float8[], $3::float8[]) WITH ORDINALITY"
        "       AS g(term_hash, lo, hi, i)"
        " CROSS JOIN LATERAL ("
        "   SELECT array_agg(z.version_pk) AS pks, array_agg(z.w) AS ws, array_agg(z.ts) AS tss"
        "     FROM ("
        "     SELECT t.version_pk, t.w, t.ts FROM sim_terms t"
        "      WHERE t.term_hash = g.term_hash AND t.ts >= to_timestamp(g.lo - $4::float8)"
        "        AND t.ts <= to_timestamp(g.hi + $4::float8) AND t.ts >= to_timestamp($5::float8)"
        "        AND t.ts <= to_timestamp($6::float8)"
        "      ORDER BY t.ts DESC LIMIT $7::int) z) p";
    return nw_simw_exec(conn, sql, a, N_ARR, PGRES_TUPLES_OK, "candidate terms", err);
}

/* The rows of the term statement, (ordinal, versions[], weights[],
 * times[]), into *pool: ordinal k's postings (of n) at
 * pool[off[k] .. off[k+1]), in their order. False on a malformed result or
 * out of memory. */
static bool read_probe(const PGresult *r, size_t n, posting_t **pool, size_t *off)
{
    int rows = PQntuples(r);
    for (int pass = 0; pass < 2; pass++) { /* 1: count per ordinal; 2: fill */
        size_t *fill = NULL;
        if (pass) {
            for (size_t k = 0; k < n; k++)
                off[k + 1] += off[k];
            *pool = malloc((off[n] + 1) * sizeof **pool);
            fill = malloc((n + 1) * sizeof *fill);
            if (!*pool || !fill) {
                free(fill);
                return false;
            }
            memcpy(fill, off, (n + 1) * sizeof *fill);
        }
        for (int row = 0; row < rows; row++) {
            int32_t k = nw_simw_i4(r, row, 0) - 1;
            nw_simw_aiter_t pi, wi, ti;
            if (k < 0 || (size_t)k >= n)
                continue;
            if (!nw_simw_aiter_init(&pi, r, row, 1) || !nw_simw_aiter_init(&wi, r, row, 2) ||
                pi.n != wi.n || !nw_simw_aiter_init(&ti, r, row, 3) || ti.n != pi.n) {
                free(fill);
                return false;
            }
            if (!pass) {
                off[k + 1] += pi.n;
                continue;
            }
            for (size_t e = 0; e < pi.n; e++) {
                int pl, wl, tl;
                const char *pv = nw_simw_aiter_next(&pi, &pl), *wv = nw_simw_aiter_next(&wi, &wl);
                const char *tv = nw_simw_aiter_next(&ti, &tl);
                if (!pv || !wv || !tv || pl != 8 || wl != 4 || tl != 8) {
                    free(fill); /* NULL or of another width: not what was asked for */
                    return false;
                }
                uint32_t u = nw_simw_be32(wv);
                posting_t *p = &(*pool)[fill[k]++];
                p->pk = (int64_t)nw_simw_be64(pv);
                memcpy(&p->w, &u, 4);
                p->ts = (int64_t)nw_simw_be64(tv);
            }
        }
        free(fill);
    }
    return true;
}

/* A detached read's view of the batch's own term postings, which the
 * index does not hold yet: every term of every item as (term hash, item *
 * NW_FP_MAX_TERMS + term index), sorted by term, then item (the batch's
 * terms, nw_sim_batch_t). */
typedef struct own_terms {
    const nw_keyidx_t *post;
    size_t n;
    const nw_sim_item_t *items;
    const int64_t *ts; /* the items' stored times */
} own_terms_t;

/* newest first; among equal times the later stored (higher version) first */
static int cmp_posting_newest(const void *x, const void *y)
{
    const posting_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts > b->ts ? -1 : 1;
    return a->pk > b->pk ? -1 : a->pk < b->pk;
}

/* Read k's postings (pool[off[k] .. off[k+1]), newest first, at most cap, of
 * term[k] within [lo[k] - win, hi[k] + win]) with the batch's own postings of
 * that term in that window merged in, as the read would have returned them
 * after the batch's rows were stored: newest first, at most cap, and among
 * equal times the batch's own first (stored last, they come first in the
 * backward index scan). Replaces *pool. False when out of memory. */
static bool merge_own(const own_terms_t *own, const int64_t *term, const double *lo,
                      const double *hi, size_t nk, double win, int cap, posting_t **pool,
                      size_t *off)
{
    size_t c = cap > 0 ? (size_t)cap : 0;
    posting_t *np = malloc((nk * c + 1) * sizeof *np);
    posting_t *mine = malloc((own->n + 1) * sizeof *mine);
    size_t *noff = malloc((nk + 1) * sizeof *noff);
    if (!np || !mine || !noff) {
        free(np), free(mine), free(noff);
        return false;
    }
    size_t m = 0;
    noff[0] = 0;
    for (size_t k = 0; k < nk; k++) {
        int64_t wlo = pg_time(lo[k] - win), whi = pg_time(hi[k] + win);
        size_t a = 0, b = own->n; /* the first own posting of term[k] */
        while (a < b) {
            size_t mid = (a + b) / 2;
            if (own->post[mid].key < term[k])
                a = mid + 1;
            else
                b = mid;
        }
        size_t nm = 0;
        for (size_t e = a; e < own->n && own->post[e].key == term[k]; e++) {
            size_t i = own->post[e].idx / NW_FP_MAX_TERMS, j = own->post[e].idx % NW_FP_MAX_TERMS;
            if (own->ts[i] < wlo || own->ts[i] > whi)
                continue;
            mine[nm++] = (posting_t){.pk = own->items[i].meta.version_pk,
                                     .ts = own->ts[i],
                                     .w = own->items[i].fp->terms[j].w};
        }
        qsort(mine, nm, sizeof *mine, cmp_posting_newest);
        const posting_t *db = *pool ? *pool + off[k] : NULL;
        size_t nd = off[k + 1] - off[k], x = 0, y = 0;
        while (m - noff[k] < c && (x < nm || y < nd))
            np[m++] = x < nm && (y == nd || mine[x].ts >= db[y].ts) ? mine[x++] : db[y++];
        noff[k + 1] = m;
    }
    free(*pool);
    *pool = np;
    memcpy(off, noff, (nk + 1) * sizeof *off);
    free(noff);
    free(mine);
    return true;
}

/* Statement 1b: for each of the items' term_query heaviest terms, the
 * term_postings_cap newest postings within the item's window, into th[]
 * (query term order, newest first within each). The items of a batch share
 * many terms, so the postings are read once per distinct term over the
 * union of its items' windows and filtered here by each item's window. That
 * is the same answer for an item unless the read was full and began after
 * the item's window ended (postings newer than its window took places the
 * item's own would have had): those query terms are read again on their
 * own, in a second statement. With cfg->term_probe_each every query term
 * is read on its own. Sets qs[].group. */
static bool term_hits(PGconn *conn, const nw_simindex_cfg_t *cfg, qterm_t *qs, size_t nq, double lo,
                      double hi, const own_terms_t *own, thit_t **th_out, size_t *nth_out,
                      nw_sim_cands_t *stats, nw_err_t *err)
{
    bool ok = false, failed = false;
    size_t *again = malloc((nq + 1) * sizeof *again);
    size_t *goff = NULL;
    int64_t *gterm = malloc((nq + 1) * sizeof *gterm);
    double *gmin = malloc((nq + 1) * sizeof *gmin), *gmax = malloc((nq + 1) * sizeof *gmax);
    posting_t *gp = NULL, *ep = NULL;
    size_t ng = 0, nagain = 0;
    size_t *eoff = NULL;
    thit_t *th = NULL;
    PGresult *r = NULL;
    if (!again || !gterm || !gmin || !gmax)
        goto out;
    double win = cfg->window_s;
    if (!cfg->term_probe_each) {
        /* by term, then query order */
        nw_keyidx_t *tq = malloc((nq + 1) * sizeof *tq), *tmp = malloc((nq + 1) * sizeof *tmp);
        if (!tq || !tmp) {
            free(tq), free(tmp);
            goto out;
        }
        for (size_t q = 0; q < nq; q++)
            tq[q] = (nw_keyidx_t){qs[q].term, (uint32_t)q};
        nw_keyidx_sort(tq, nq, tmp);
        free(tmp);
        for (size_t k = 0; k < nq; k++) {
            qterm_t *q = &qs[tq[k].idx];
            if (k == 0 || q->term != gterm[ng - 1]) {
                gterm[ng] = q->term;
                gmin[ng] = gmax[ng] = q->t;
                ng++;
            }
            gmin[ng - 1] = q->t < gmin[ng - 1] ? q->t : gmin[ng - 1];
            gmax[ng - 1] = q->t > gmax[ng - 1] ? q->t : gmax[ng - 1];
            q->group = ng - 1;
        }
        free(tq);
        goff = calloc(ng + 1, sizeof *goff);
        if (!goff)
            goto out;
        if (ng) {
            r = probe_groups(conn, cfg, gterm, gmin, gmax, ng, lo, hi, err);
            if (!r) {
                failed = true;
                goto out;
            }
        }
        if (r && !read_probe(r, ng, &gp, goff))
            goto out;
        PQclear(r);
        r = NULL;
        if (own && !merge_own(own, gterm, gmin, gmax, ng, win, cfg->term_postings_cap, &gp, goff))
            goto out;
        /* ... whose read filled up before the item's window ended */
        for (size_t q = 0; q < nq; q++) {
            size_t g = qs[q].group, len = goff[g + 1] - goff[g];
            if (len > 0 && (int)len >= cfg->term_postings_cap &&
                gp[goff[g]].ts > pg_time(qs[q].t + win))
                again[nagain++] = q;
        }
    } else {
        for (size_t q = 0; q < nq; q++)
            again[nagain++] = q;
    }
    eoff = calloc(nagain + 1, sizeof *eoff);
    if (!eoff)
        goto out;
    if (nagain) {
        for (size_t k = 0; k < nagain; k++) {
            gterm[k] = qs[again[k]].term;
            gmin[k] = gmax[k] = qs[again[k]].t;
        }
        r = probe_groups(conn, cfg, gterm, gmin, gmax, nagain, lo, hi, err);
        if (!r) {
            failed = true;
            goto out;
        }
        if (!read_probe(r, nagain, &ep, eoff))
            goto out;
    }
    if (own && !merge_own(own, gterm, gmin, gmax, nagain, win, cfg->term_postings_cap, &ep, eoff))
        goto out;
    stats->term_reads = ng + nagain;
    stats->term_rereads = cfg->term_probe_each ? 0 : nagain;
    /* every query term's postings, in query order */
    size_t cap = cfg->term_postings_cap > 0 ? (size_t)cfg->term_postings_cap : 0;
    th = malloc((eoff[nagain] + nq * cap + 1) * sizeof *th);
    if (!th)
        goto out;
    size_t nth = 0, ka = 0;
    for (size_t q = 0; q < nq; q++) {
        if (ka < nagain && again[ka] == q) {
            for (size_t e = eoff[ka]; e < eoff[ka + 1]; e++)
                th[nth++] = (thit_t){.q = q, .pk = ep[e].pk, .w = ep[e].w};
            ka++;
            continue;
        }
        size_t g = qs[q].group;
        int64_t wlo = pg_time(qs[q].t - win), whi = pg_time(qs[q].t + win);
        int taken = 0;
        for (size_t e = goff[g]; e < goff[g + 1] && taken < cfg->term_postings_cap; e++) {
            if (gp[e].ts < wlo || gp[e].ts > whi)
                continue;
            th[nth++] = (thit_t){.q = q, .pk = gp[e].pk, .w = gp[e].w};
            taken++;
        }
    }
    *th_out = th;
    *nth_out = nth;
    th = NULL;
    ok = true;
out:
    if (!ok && !failed)
        nw_err_set(err, NW_ERR_FATAL, "oom",
                   "simindex: candidate terms: out of memory or a malformed result");
    PQclear(r);
    free(again), free(goff), free(gterm), free(gmin), free(gmax);
    free(gp), free(ep), free(eoff), free(th);
    return ok;
}

/* The band matches among the batch's own items, for a read made before
 * their rows were stored: what statement 1a would have returned for them
 * afterwards (a row per band key of the other item, its stored time within
 * the item's window), counted (hits NULL) or filled in. */
static void batch_band_hits(const qband_t *qb, size_t nqb, const int64_t *own_ts,
                            const nw_sim_item_t *items, hit_t *hits, size_t *fill, size_t *hoff)
{
    for (size_t a = 0, e; a < nqb; a = e) {
        for (e = a + 1; e < nqb && qb[e].bucket == qb[a].bucket; e++)
            ;
        for (size_t x = a; e - a > 1 && x < e; x++)
            for (size_t y = a; y < e; y++) {
                int32_t item = qb[x].item, other = qb[y].item;
                if (other == item || own_ts[other] < qb[x].lo || own_ts[other] > qb[x].hi)
                    continue;
                if (hits)
                    hits[fill[item]++] = (hit_t){.pk = items[other].meta.version_pk, .band = true};
                else
                    hoff[item + 1]++;
            }
    }
}

/* The hits of statements 1a and 1b grouped by item (item i's: hits[hoff[i]
 * .. hoff[i+1])), the item itself left out; own_ts (the items' stored times)
 * when statement 1a ran before the batch's rows were stored. Returns false
 * on a malformed result or out of memory. */
static bool group_hits(const PGresult *rb, const qband_t *qb, size_t nqb, const int64_t *own_ts,
                       const thit_t *th, size_t nth, const qterm_t *qs, const nw_sim_item_t *items,
                       size_t n, hit_t **hits_out, size_t *hoff)
{
    int brows = PQntuples(rb);
    /* pass 1: count per item; pass 2: fill */
    for (int pass = 0; pass < 2; pass++) {
        hit_t *hits = pass ? *hits_out : NULL;
        size_t *fill = NULL;
        if (pass) {
            fill = malloc((n + 1) * sizeof *fill);
            if (!fill)
                return false;
            memcpy(fill, hoff, (n + 1) * sizeof *fill);
        }
        for (int row = 0; row < brows; row++) {
            int64_t bucket = nw_simw_i8(rb, row, 0), pk = nw_simw_i8(rb, row, 1),
                    ts = nw_simw_i8(rb, row, 2);
            size_t lo = 0, hi = nqb; /* the first key of this bucket */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (qb[mid].bucket < bucket)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (size_t k = lo; k < nqb && qb[k].bucket == bucket; k++) {
                int32_t item = qb[k].item;
                if (ts < qb[k].lo || ts > qb[k].hi || pk == items[item].meta.version_pk)
                    continue;
                if (pass)
                    hits[fill[item]++] = (hit_t){.pk = pk, .band = true};
                else
                    hoff[item + 1]++;
            }
        }
        if (own_ts)
            batch_band_hits(qb, nqb, own_ts, items, hits, fill, hoff);
        for (size_t k = 0; k < nth; k++) {
            const qterm_t *q = &qs[th[k].q];
            if (th[k].pk == items[q->item].meta.version_pk)
                continue;
            if (pass)
                hits[fill[q->item]++] = (hit_t){.pk = th[k].pk, .score = th[k].w * q->w};
            else
                hoff[q->item + 1]++;
        }
        free(fill);
        if (!pass) {
            for (size_t i = 0; i < n; i++)
                hoff[i + 1] += hoff[i];
            *hits_out = malloc((hoff[n] + 1) * sizeof **hits_out);
            if (!*hits_out)
                return false;
        }
    }
    return true;
}

/* Item i's pairs: every version sharing a band key, and the term_top best
 * term scores. Appended to *pairs (room for the item's hits is there). The
 * hits are summed per version through tab (an open-addressing table of
 * ntab slots, ntab a power of two >= 2 nh, all zero on entry and on return),
 * in the order they came, so each score is the same sum whatever the order
 * of the other versions' hits. */
static size_t item_pairs(const hit_t *h, size_t nh, int32_t item, int term_top, pair_t *out,
                         uint32_t *tab, size_t ntab)
{
    size_t m = 0;
    for (size_t k = 0; k < nh; k++) {
        uint64_t x = (uint64_t)h[k].pk * 0x9E3779B97F4A7C15u;
        size_t j = (size_t)(x >> 32) & (ntab - 1);
        while (tab[j] && out[tab[j] - 1].pk != h[k].pk)
            j = (j + 1) & (ntab - 1);
        if (!tab[j]) {
            out[m] = (pair_t){.item = item, .pk = h[k].pk, .score = -1};
            tab[j] = (uint32_t)++m;
        }
        pair_t *p = &out[tab[j] - 1];
        if (h[k].band) {
            p->band = true;
        } else {
            p->score = p->score < 0 ? h[k].score : p->score + h[k].score;
        }
    }
    memset(tab, 0, ntab * sizeof *tab); /* empty for the next item */
    /* keep the term_top best term scores (score descending, then version
     * ascending); the rest stays only by its bands, with a score of 0 */
    size_t ns = 0;
    for (size_t k = 0; k < m; k++)
        if (out[k].score >= 0)
            swap_pair(&out[ns++], &out[k]);
    size_t top = term_top > 0 ? (size_t)term_top : 0;
    if (ns <= top)
        top = ns;
    else if (top > 0)
        select_best(out, ns, top);
    size_t w = top;
    for (size_t k = top; k < m; k++) {
        if (!out[k].band)
            continue;
        out[w] = out[k];
        out[w].score = 0;
        w++;
    }
    qsort(out, w, sizeof *out, cmp_pair_pk);
    return w;
}

/* Statement 2: metadata, cluster and (for versions outside the batch)
 * fingerprint of the distinct versions pks[0..n), sorted ascending; when
 * detached, of those outside the batch only. */
static PGresult *query_versions(PGconn *conn, const int64_t *pks, size_t n, const pkidx_t *self,
                                size_t nself, bool detached, nw_err_t *err)
{
    nw_simw_arr_t a[2];
    nw_simw_arr_begin(&a[0], NW_OID_INT8);
    nw_simw_arr_begin(&a[1], NW_OID_BOOL);
    for (size_t i = 0; i < n; i++) {
        bool mine = find_pk(self, nself, pks[i]) != NULL;
        if (mine && detached)
            continue; /* not stored yet: described from the items */
        nw_simw_arr_i8(&a[0], pks[i]);
        nw_simw_arr_bool(&a[1], !mine);
    }
    /* the cluster by an index probe per version: a join could choose a scan
     * of the whole stories table */
    static const char sql[] = "SELECT f.version_pk, f.story_pk, f.provider, f.story_id,"
                              "   extract(epoch FROM f.versioncreated)::bigint, f.headline,"
                              "   coalesce((SELECT s.cluster_id FROM stories s WHERE s.story_pk = "
                              "f.story_pk), 0)::bigint,"
                              "   CASE WHEN v.need THEN f.fp END"
                              " FROM unnest($1::bigint[], $2::bool[]) AS v(pk, need)"
                              " JOIN sim_fingerprints f ON f.version_pk = v.pk";
    return nw_simw_exec(conn, sql, a, 2, PGRES_TUPLES_OK, "candidate versions", err);
}

static bool oom(nw_sim_cands_t *out, nw_err_t *err)
{
    nw_simindex_cands_free(out);
    return nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: candidates: out of memory");
}

static const char *dup_str(nw_sim_cands_t *c, const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (d)
        c->strs[c->n_strs++] = d;
    return d;
}

/* The batch's own versions among vers[] when the read cannot see their rows:
 * what statement 2 returns for them once stored (simindex.c writes
 * sim_fingerprints from the same meta; the time to whole seconds, as
 * extract(epoch)::bigint gives it). */
static void own_versions(const nw_sim_item_t *items, const pkidx_t *self, size_t nself, double now,
                         const int64_t *pks, vers_t *vers, size_t nv, nw_sim_cands_t *out)
{
    for (size_t k = 0; k < nself; k++) {
        int64_t *at = bsearch(&self[k].pk, pks, nv, sizeof *pks, cmp_i64);
        if (!at)
            continue;
        vers_t *v = &vers[at - pks];
        const nw_sim_item_t *it = &items[self[k].i];
        out->fps[v->fp] = *it->fp;
        v->meta = (nw_link_meta_t){
            .version_pk = it->meta.version_pk,
            .story_pk = it->meta.story_pk,
            .provider = dup_str(out, it->meta.provider ? it->meta.provider : ""),
            .story_id = dup_str(out, it->meta.story_id ? it->meta.story_id : ""),
            .versioncreated = (int64_t)llround(nw_simw_item_time(it, now)),
            .headline = dup_str(out, it->meta.headline),
            .cluster_id = it->meta.cluster_id,
        };
        v->found = true;
    }
}

/* Fill vers[] (sorted like pks) from statement 2; fingerprints of the batch's
 * own versions are copied from the items. */
static bool read_versions(const PGresult *r, const nw_sim_item_t *items, const pkidx_t *self,
                          size_t nself, const int64_t *pks, vers_t *vers, size_t nv,
                          nw_sim_cands_t *out)
{
    int rows = PQntuples(r);
    out->fps = calloc(nv + 1, sizeof *out->fps);
    out->strs = calloc(nv * 3 + 1, sizeof *out->strs);
    if (!out->fps || !out->strs)
        return false;
    for (size_t i = 0; i < nv; i++)
        vers[i] = (vers_t){.pk = pks[i], .fp = i};
    for (int row = 0; row < rows; row++) {
        int64_t pk = nw_simw_i8(r, row, 0);
        int64_t *at = bsearch(&pk, pks, nv, sizeof *pks, cmp_i64);
        if (!at)
            continue;
        vers_t *v = &vers[at - pks];
        nw_fp_t *fp = &out->fps[v->fp];
        if (PQgetisnull(r, row, 7)) {
            const pkidx_t *s = find_pk(self, nself, pk);
            if (!s)
                continue;
            *fp = *items[s->i].fp;
        } else {
            nw_err_t ferr;
            if (!nw_fp_deserialize((const uint8_t *)PQgetvalue(r, row, 7),
                                   (size_t)PQgetlength(r, row, 7), fp, &ferr))
                continue; /* a fingerprint of another format version: not comparable */
        }
        nw_link_meta_t *m = &v->meta;
        m->version_pk = pk;
        m->story_pk = nw_simw_i8(r, row, 1);
        m->provider = own_str(out, r, row, 2);
        m->story_id = own_str(out, r, row, 3);
        m->versioncreated = nw_simw_i8(r, row, 4);
        m->headline = own_str(out, r, row, 5);
        m->cluster_id = nw_simw_i8(r, row, 6);
        v->found = true;
    }
    return true;
}

/* The three statements are index probes by design, and their cost must follow
 * the number of probes, never the size of the window. Partitions made during
 * a replay have no statistics until autovacuum reaches them (minutes), and
 * the planner then reads every posting of a term with a bitmap scan and sorts
 * them (0.9 ms instead of 0.02 ms per probe), or sorts and merges a whole
 * week of band rows, or hands the probes to parallel workers. So the other
 * strategies are switched off for these statements (SET LOCAL: until the
 * settings are reset after them, or the transaction ends). */
static bool set_probes_only(PGconn *conn, bool on, nw_err_t *err)
{
    static const char *const sql[2] = {
        "RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort;"
        " RESET enable_hashjoin; RESET enable_mergejoin; RESET max_parallel_workers_per_gather",
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;"
        " SET LOCAL enable_sort = off; SET LOCAL enable_hashjoin = off;"
        " SET LOCAL enable_mergejoin = off; SET LOCAL max_parallel_workers_per_gather = 0"};
    PGresult *r = PQexec(conn, sql[on]);
    bool ok = nw_simw_ok(conn, r, PGRES_COMMAND_OK, "planner settings", err);
    PQclear(r);
    return ok;
}

/* How the batch's own rows relate to the read:
 *   READ      they are stored already (or not wanted);
 *   COPY      they are written here (nw_simindex_copy_batch) after statement 1a,
 *             which then need not read them back, and before 1b and 2, which
 *             find them as before;
 *   DETACHED  another connection writes them; the read never sees them, and
 *             what it would have found of them is found in memory. */
typedef enum { CANDS_READ, CANDS_COPY, CANDS_DETACHED } cands_mode_t;

static bool candidates(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_batch_t *sb,
                       cands_mode_t mode, nw_sim_cands_t *out, nw_err_t *err)
{
    nw_simindex_cfg_t def;
    if (!cfg) {
        nw_simindex_cfg_default(&def);
        cfg = &def;
    }
    const nw_sim_item_t *items = sb->items;
    size_t n = sb->n;
    memset(out, 0, sizeof *out);
    out->n_items = n;
    out->off = calloc(n + 1, sizeof *out->off);
    if (!out->off)
        return oom(out, err);
    if (!n)
        return true;
    size_t nqmax = n * (size_t)(cfg->term_query > 0 ? cfg->term_query : 0) + 1;
    qterm_t *qs = malloc(nqmax * sizeof *qs);
    size_t *hoff = calloc(n + 1, sizeof *hoff);
    pkidx_t *self = malloc(n * sizeof *self);
    int64_t *own_ts = mode != CANDS_READ ? malloc(n * sizeof *own_ts) : NULL;
    own_terms_t own = {.post = sb->terms, .n = sb->nterms, .items = items, .ts = own_ts};
    if (!qs || !hoff || !self || (mode != CANDS_READ && !own_ts)) {
        free(qs), free(hoff), free(self), free(own_ts);
        return oom(out, err);
    }
    size_t nq = 0;
    double now = sb->now;
    for (size_t i = 0; i < n; i++) {
        self[i] = (pkidx_t){items[i].meta.version_pk, i};
        if (own_ts)
            own_ts[i] = nw_simw_stored_ts(&items[i], now);
        const nw_fp_t *fp = items[i].fp;
        double t = nw_simw_item_time(&items[i], now);
        for (int j = 0; j < fp->n_terms && j < cfg->term_query; j++)
            qs[nq++] = (qterm_t){.term = (int64_t)fp->terms[j].hash,
                                 .t = t,
                                 .item = (int32_t)i,
                                 .w = fp->terms[j].w};
    }
    qsort(self, n, sizeof *self, cmp_pkidx);

    size_t nth = 0;
    double lo = 0, hi = 0;
    thit_t *th = NULL;
    qband_t *qb = band_keys(cfg, sb, &lo, &hi);
    size_t nqb = sb->nbands;
    PGresult *rb = qb ? query_bands(conn, cfg, qb, nqb, lo, hi, err) : NULL;
    bool stored = rb && (mode != CANDS_COPY || nw_simindex_copy_batch(conn, sb, err));
    bool termed = stored && term_hits(conn, cfg, qs, nq, lo, hi,
                                      mode == CANDS_DETACHED ? &own : NULL, &th, &nth, out, err);
    hit_t *hits = NULL;
    bool grouped = termed && group_hits(rb, qb, nqb, own_ts, th, nth, qs, items, n, &hits, hoff);
    bool failed = !qb ? false : !termed;
    PQclear(rb);
    free(qb);
    free(qs);
    free(th);
    free(own_ts);
    if (!grouped) {
        free(hits), free(hoff), free(self);
        if (!failed)
            return oom(out, err);
        nw_simindex_cands_free(out);
        return false;
    }

    /* pairs per item, then the distinct versions among them */
    pair_t *pairs = malloc((hoff[n] + 1) * sizeof *pairs);
    int64_t *pks = malloc((hoff[n] + 1) * sizeof *pks);
    if (!pairs || !pks) {
        free(pairs), free(pks), free(hits), free(hoff), free(self);
        return oom(out, err);
    }
    size_t np = 0, ntab = 16;
    for (size_t i = 0; i < n; i++)
        while (ntab < 2 * (hoff[i + 1] - hoff[i]))
            ntab *= 2;
    uint32_t *tab = calloc(ntab, sizeof *tab);
    if (!tab) {
        free(pairs), free(pks), free(hits), free(hoff), free(self);
        return oom(out, err);
    }
    for (size_t i = 0; i < n; i++) {
        size_t m = item_pairs(hits + hoff[i], hoff[i + 1] - hoff[i], (int32_t)i, cfg->term_top,
                              pairs + np, tab, ntab);
        np += m;
    }
    free(tab);
    free(hits);
    free(hoff);
    for (size_t k = 0; k < np; k++)
        pks[k] = pairs[k].pk;
    qsort(pks, np, sizeof *pks, cmp_i64);
    size_t nv = 0;
    for (size_t k = 0; k < np; k++)
        if (nv == 0 || pks[k] != pks[nv - 1])
            pks[nv++] = pks[k];

    vers_t *vers = calloc(nv + 1, sizeof *vers);
    PGresult *r = vers ? query_versions(conn, pks, nv, self, n, mode == CANDS_DETACHED, err) : NULL;
    failed = vers && !r;
    bool ok = r && read_versions(r, items, self, n, pks, vers, nv, out);
    if (ok && mode == CANDS_DETACHED)
        own_versions(items, self, n, now, pks, vers, nv, out);
    PQclear(r);
    free(self);
    if (ok) {
        out->cand = calloc(np + 1, sizeof *out->cand);
        out->term_score = calloc(np + 1, sizeof *out->term_score);
        out->via_band = calloc(np + 1, sizeof *out->via_band);
        ok = out->cand && out->term_score && out->via_band;
    }
    if (!ok) {
        free(pairs), free(pks), free(vers);
        if (!failed)
            return oom(out, err);
        nw_simindex_cands_free(out);
        return false;
    }
    /* pairs are in (item, version) order already */
    for (size_t k = 0; k < np; k++) {
        const pair_t *p = &pairs[k];
        int64_t *at = bsearch(&p->pk, pks, nv, sizeof *pks, cmp_i64);
        const vers_t *v = at ? &vers[at - pks] : NULL;
        if (!v || !v->found)
            continue;
        out->cand[out->n] = (nw_link_cand_t){.fp = &out->fps[v->fp], .meta = v->meta};
        out->term_score[out->n] = p->score;
        out->via_band[out->n] = p->band;
        out->off[p->item + 1]++;
        out->n++;
    }
    for (size_t i = 0; i < n; i++)
        out->off[i + 1] += out->off[i];
    free(pairs);
    free(pks);
    free(vers);
    return true;
}

static bool find(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_batch_t *sb,
                 cands_mode_t mode, nw_sim_cands_t *out, nw_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (sb->n && !set_probes_only(conn, true, err))
        return false;
    if (!candidates(conn, cfg, sb, mode, out, err))
        return false;
    if (sb->n && !set_probes_only(conn, false, err)) {
        nw_simindex_cands_free(out);
        return false;
    }
    return true;
}

static bool find_items(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_item_t *items,
                       size_t n, cands_mode_t mode, nw_sim_cands_t *out, nw_err_t *err)
{
    memset(out, 0, sizeof *out);
    nw_sim_batch_t sb;
    if (!nw_sim_batch_init(&sb, items, n, (double)time(NULL), err))
        return false;
    bool ok = find(conn, cfg, &sb, mode, out, err);
    nw_sim_batch_free(&sb);
    return ok;
}

bool nw_simindex_candidates(PGconn *conn, const nw_simindex_cfg_t *cfg, const nw_sim_item_t *items,
                            size_t n, nw_sim_cands_t *out, nw_err_t *err)
{
    return find_items(conn, cfg, items, n, CANDS_READ, out, err);
}

bool nw_simindex_copy_candidates(PGconn *conn, const nw_simindex_cfg_t *cfg,
                                 const nw_sim_item_t *items, size_t n, nw_sim_cands_t *out,
                                 nw_err_t *err)
{
    return find_items(conn, cfg, items, n, CANDS_COPY, out, err);
}

bool nw_simindex_read_candidates(PGconn *reader, const nw_simindex_cfg_t *cfg,
                                 const nw_sim_batch_t *b, nw_sim_cands_t *out, nw_err_t *err)
{
    memset(out, 0, sizeof *out);
    PGresult *r = PQexec(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    bool ok = nw_simw_ok(reader, r, PGRES_COMMAND_OK, "candidate read", err);
    PQclear(r);
    if (!ok)
        return false;
    ok = find(reader, cfg, b, CANDS_DETACHED, out, err);
    r = PQexec(reader, ok ? "COMMIT" : "ROLLBACK");
    if (ok && !nw_simw_ok(reader, r, PGRES_COMMAND_OK, "candidate read", err)) {
        nw_simindex_cands_free(out);
        ok = false;
    }
    PQclear(r);
    return ok;
}
