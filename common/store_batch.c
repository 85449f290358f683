/*
 * One batch in one transaction: read what PostgreSQL knows of the batch's
 * stories and versions, decide and write (store_write.c), read back the
 * original events of redelivered versions, commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pg.h"
#include "store_batch.h"
#include "store_parts.h"

const char *nw_batch_ver(const nw_item_t *it)
{
    return it->version ? it->version : "";
}

int64_t nw_batch_order(const nw_item_t *it)
{
    return it->version_order > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)it->version_order;
}

/* ---- a small string-keyed hash index ------------------------------------- */

typedef struct strmap {
    uint64_t *hash;
    int *val; /* -1 = empty */
    size_t cap;
} strmap_t;

static void strmap_init(strmap_t *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->hash = calloc(m->cap, sizeof *m->hash);
    m->val = malloc(m->cap * sizeof *m->val);
    for (size_t i = 0; i < m->cap; i++)
        m->val[i] = -1;
}

static void strmap_free(strmap_t *m)
{
    free(m->hash);
    free(m->val);
}

/* Key of up to three NUL-separated strings. */
static uint64_t key3(const char *a, const char *b, const char *c)
{
    XXH3_state_t s;
    memset(&s, 0, sizeof s);
    XXH3_64bits_reset(&s);
    XXH3_64bits_update(&s, a, strlen(a) + 1);
    XXH3_64bits_update(&s, b, strlen(b) + 1);
    if (c)
        XXH3_64bits_update(&s, c, strlen(c) + 1);
    return XXH3_64bits_digest(&s);
}

/* Find the slot of hash h; `eq` confirms a candidate (64-bit hashes of
 * distinct keys can collide, so the caller checks the strings). */
static int strmap_get(const strmap_t *m, uint64_t h, bool (*eq)(int, const void *), const void *ctx)
{
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->val[i] < 0)
            return -1;
        if (m->hash[i] == h && eq(m->val[i], ctx))
            return m->val[i];
    }
}

static void strmap_put(strmap_t *m, uint64_t h, int v)
{
    size_t i = h & (m->cap - 1);
    while (m->val[i] >= 0)
        i = (i + 1) & (m->cap - 1);
    m->hash[i] = h;
    m->val[i] = v;
}

/* ---- one batch transaction ----------------------------------------------- */

void nw_pending_push(pending_events_t *p, int64_t version_pk, const char *id, const char *type,
                     const char *time, char *key, char *body, size_t body_len)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
    }
    pending_event_t *e = &p->v[p->n];
    e->version_pk = version_pk;
    e->seq = p->n++;
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->time, sizeof e->time, "%s", time);
    e->key = key;
    e->body = body;
    e->body_len = body_len;
}

static void pending_free(pending_events_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].body);
    }
    free(p->v);
}

static int cmp_pending(const void *a, const void *b)
{
    const pending_event_t *x = a, *y = b;
    if (x->version_pk != y->version_pk)
        return x->version_pk < y->version_pk ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->nstories; i++) {
        free(b->stories[i].current_version);
        json_decref(b->stories[i].versions);
    }
    for (size_t i = 0; b->rs && i < b->n; i++) {
        json_decref(b->rs[i].previous);
        free(b->rs[i].links);
    }
    nw_simindex_cands_free(&b->cands);
    free(b->stories);
    free(b->rec_story);
    free(b->dup_of);
    free(b->rs);
}

typedef struct eqctx {
    const batch_t *b;
    const char *p, *id, *ver;
} eqctx_t;

static bool story_eq(int si, const void *vctx)
{
    const eqctx_t *c = vctx;
    const story_t *s = &c->b->stories[si];
    return !strcmp(s->provider, c->p) && !strcmp(s->story_id, c->id);
}

static bool version_eq(int ri, const void *vctx)
{
    const eqctx_t *c = vctx;
    const nw_item_t *it = c->b->recs[ri].item;
    return !strcmp(it->provider, c->p) && !strcmp(it->story_id, c->id) &&
           !strcmp(it->version ? it->version : "", c->ver);
}

/* Group the batch by story, find duplicates of a version inside the batch. */
static void batch_index(batch_t *b)
{
    b->stories = calloc(b->n ? b->n : 1, sizeof *b->stories);
    b->rec_story = malloc((b->n ? b->n : 1) * sizeof *b->rec_story);
    b->dup_of = malloc((b->n ? b->n : 1) * sizeof *b->dup_of);
    b->rs = calloc(b->n ? b->n : 1, sizeof *b->rs);
    strmap_t sm, vm;
    strmap_init(&sm, b->n);
    strmap_init(&vm, b->n);
    for (size_t i = 0; i < b->n; i++) {
        const nw_item_t *it = b->recs[i].item;
        b->rec_story[i] = b->dup_of[i] = -1;
        if (b->recs[i].outcome != NW_REC_PENDING)
            continue; /* an AP half held or joined, or refused */
        eqctx_t c = {b, it->provider, it->story_id, nw_batch_ver(it)};
        uint64_t hs = key3(it->provider, it->story_id, NULL);
        int si = strmap_get(&sm, hs, story_eq, &c);
        if (si < 0) {
            si = (int)b->nstories++;
            story_t *s = &b->stories[si];
            s->provider = it->provider;
            s->story_id = it->story_id;
            s->current_order = -1;
            snprintf(s->pubstatus, sizeof s->pubstatus, "usable");
            strmap_put(&sm, hs, si);
        }
        b->rec_story[i] = si;
        uint64_t hv = key3(it->provider, it->story_id, nw_batch_ver(it));
        int first = strmap_get(&vm, hv, version_eq, &c);
        b->dup_of[i] = first;
        if (first < 0)
            strmap_put(&vm, hv, (int)i);
    }
    strmap_free(&sm);
    strmap_free(&vm);
}

/* Lock the batch's existing stories (in story_pk order, so two replicas
 * never deadlock) and read their current state. */
static bool load_stories(PGconn *conn, batch_t *b, nw_err_t *err)
{
    const char **ps = malloc(b->nstories * sizeof *ps), **ids = malloc(b->nstories * sizeof *ids);
    for (size_t i = 0; i < b->nstories; i++) {
        ps[i] = b->stories[i].provider;
        ids[i] = b->stories[i].story_id;
    }
    nw_pg_params_t pp = {0};
    nw_pg_add_texts(&pp, ps, b->nstories);
    nw_pg_add_texts(&pp, ids, b->nstories);
    free(ps);
    free(ids);
    PGresult *r =
        nw_pg_run(conn,
                  "SELECT k.i - 1, s.story_pk, s.current_version_pk, s.current_order, s.pubstatus,"
                  "       s.cluster_id, v.version"
                  "  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, i)"
                  "  JOIN stories s ON s.provider = k.p AND s.story_id = k.id"
                  "  LEFT JOIN item_versions v ON v.version_pk = s.current_version_pk"
                  " ORDER BY s.story_pk FOR UPDATE OF s",
                  &pp, PGRES_TUPLES_OK, "load stories", err);
    if (!r)
        return false;
    for (int row = 0; row < PQntuples(r); row++) {
        long si = atol(PQgetvalue(r, row, 0));
        if (si < 0 || (size_t)si >= b->nstories)
            continue;
        story_t *s = &b->stories[si];
        s->exists = true;
        s->story_pk = atoll(PQgetvalue(r, row, 1));
        s->current_pk = PQgetisnull(r, row, 2) ? 0 : atoll(PQgetvalue(r, row, 2));
        s->current_order = atoll(PQgetvalue(r, row, 3));
        snprintf(s->pubstatus, sizeof s->pubstatus, "%s", PQgetvalue(r, row, 4));
        s->cluster_id = PQgetisnull(r, row, 5) ? s->story_pk : atoll(PQgetvalue(r, row, 5));
        s->current_version = PQgetisnull(r, row, 6) ? NULL : strdup(PQgetvalue(r, row, 6));
    }
    PQclear(r);
    return true;
}

/* Versions of the batch that are already stored: redeliveries. */
static bool load_existing_versions(PGconn *conn, batch_t *b, nw_err_t *err)
{
    size_t m = 0;
    const char **ps = malloc(b->n * sizeof *ps), **ids = malloc(b->n * sizeof *ids),
               **vs = malloc(b->n * sizeof *vs);
    int *which = malloc(b->n * sizeof *which);
    for (size_t i = 0; i < b->n; i++) {
        if (b->rec_story[i] < 0 || b->dup_of[i] >= 0 || !b->stories[b->rec_story[i]].exists)
            continue;
        const nw_item_t *it = b->recs[i].item;
        ps[m] = it->provider;
        ids[m] = it->story_id;
        vs[m] = nw_batch_ver(it);
        which[m++] = (int)i;
    }
    bool ok = true;
    if (m > 0) {
        nw_pg_params_t pp = {0};
        nw_pg_add_texts(&pp, ps, m);
        nw_pg_add_texts(&pp, ids, m);
        nw_pg_add_texts(&pp, vs, m);
        PGresult *r = nw_pg_run(
            conn,
            "SELECT k.i - 1, v.version_pk"
            "  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(p, id, ver, i)"
            "  JOIN item_versions v ON v.provider = k.p AND v.story_id = k.id AND v.version = "
            "k.ver",
            &pp, PGRES_TUPLES_OK, "load versions", err);
        ok = r != NULL;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            long k = atol(PQgetvalue(r, row, 0));
            if (k < 0 || (size_t)k >= m)
                continue;
            nw_store_rec_t *rec = &b->recs[which[k]];
            rec->outcome = NW_REC_RESEND;
            rec->version_pk = atoll(PQgetvalue(r, row, 1));
            rec->story_pk = b->stories[b->rec_story[which[k]]].story_pk;
        }
        PQclear(r);
    }
    free(ps);
    free(ids);
    free(vs);
    free(which);
    return ok;
}

/* The original events of versions that were already stored. */
static bool load_resend_events(PGconn *conn, batch_t *b, pending_events_t *pend, nw_err_t *err)
{
    int64_t *pks = malloc((b->n + 1) * sizeof *pks);
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->recs[i].outcome == NW_REC_RESEND && b->dup_of[i] < 0)
            pks[m++] = b->recs[i].version_pk;
    bool ok = true;
    if (m > 0) {
        nw_pg_params_t pp = {0};
        nw_pg_add_int8s(&pp, pks, m);
        PGresult *r = nw_pg_run(
            conn,
            "SELECT version_pk, event_id, event_type, msg_key, body,"
            "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            "  FROM outbox WHERE version_pk = ANY($1::bigint[]) ORDER BY outbox_pk",
            &pp, PGRES_TUPLES_OK, "load original events", err);
        ok = r != NULL;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            size_t blen = (size_t)PQgetlength(r, row, 4);
            char *body = malloc(blen + 1);
            memcpy(body, PQgetvalue(r, row, 4), blen + 1);
            nw_pending_push(pend, atoll(PQgetvalue(r, row, 0)), PQgetvalue(r, row, 1),
                            PQgetvalue(r, row, 2), PQgetvalue(r, row, 5),
                            strdup(PQgetvalue(r, row, 3)), body, blen);
        }
        PQclear(r);
    }
    free(pks);
    return ok;
}

/* Append the events of each rec, in batch order, to `out`. */
static void emit_events(batch_t *b, pending_events_t *pend, nw_events_t *out)
{
    if (pend->n > 1)
        qsort(pend->v, pend->n, sizeof *pend->v, cmp_pending);
    for (size_t i = 0; i < b->n; i++) {
        const nw_store_rec_t *rec = &b->recs[i];
        if (rec->outcome != NW_REC_STORED && rec->outcome != NW_REC_RESEND)
            continue;
        /* lower bound of version_pk */
        size_t lo = 0, hi = pend->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pend->v[mid].version_pk < rec->version_pk)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < pend->n && pend->v[k].version_pk == rec->version_pk; k++) {
            const pending_event_t *e = &pend->v[k];
            char *body = malloc(e->body_len + 1);
            memcpy(body, e->body, e->body_len + 1);
            nw_events_push(out, e->id, e->type, e->time, strdup(e->key), body, e->body_len);
        }
    }
}

/* Fingerprints of the recs now carrying a joined AP item (computed from the
 * joined body); the others keep the caller's. */
static nw_fp_t *batch_fps(nw_store_t *st, nw_store_rec_t *recs, const nw_fp_t *fps, size_t n,
                          const nw_store_parts_t *pj, nw_err_t *err)
{
    if (pj->n == 0)
        return (nw_fp_t *)fps;
    nw_fp_t *own = malloc(n * sizeof *own);
    if (!own) {
        nw_err_set(err, NW_ERR_FATAL, "oom", "store: out of memory");
        return NULL;
    }
    memcpy(own, fps, n * sizeof *own);
    for (size_t k = 0; k < pj->n; k++) {
        size_t i = (size_t)(pj->recs[k] - recs);
        if (!nw_store_fingerprint(st, recs[i].item, &own[i], err)) {
            free(own);
            return NULL;
        }
    }
    return own;
}

bool nw_store_try_batch(nw_store_t *st, nw_store_rec_t *recs, const nw_fp_t *fps, size_t n,
                        nw_events_t *events, nw_err_t *err)
{
    PGconn *conn = st->conn;
    for (size_t i = 0; i < n; i++) {
        recs[i].outcome = NW_REC_PENDING;
        recs[i].kind = NULL;
        recs[i].story_pk = recs[i].version_pk = 0;
    }
    nw_store_parts_t pj = {0};
    pending_events_t pend = {0};
    nw_store_stats_t before = st->stats;
    batch_t b = {.st = st, .recs = recs, .n = n};
    bool ok =
        nw_pg_exec(conn, "BEGIN", "begin", err) && nw_store_parts_resolve(st, recs, n, &pj, err);
    nw_fp_t *own = ok ? batch_fps(st, recs, fps, n, &pj, err) : NULL;
    ok = ok && own;
    if (ok) {
        b.fps = own;
        batch_index(&b);
        ok = load_stories(conn, &b, err) && load_existing_versions(conn, &b, err) &&
             nw_batch_write(&b, &pend, err) && load_resend_events(conn, &b, &pend, err) &&
             nw_pg_exec(conn, "COMMIT", "commit", err);
    }
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            int d = b.dup_of[i];
            if (d >= 0) {
                recs[i].outcome = NW_REC_RESEND;
                recs[i].version_pk = recs[d].version_pk;
                recs[i].story_pk = recs[d].story_pk;
            }
            st->stats.resends += recs[i].outcome == NW_REC_RESEND;
        }
        emit_events(&b, &pend, events);
    } else {
        st->stats = before; /* nothing of this attempt happened */
        if (PQstatus(conn) == CONNECTION_OK)
            PQclear(PQexec(conn, "ROLLBACK"));
    }
    if (own != fps)
        free(own);
    pending_free(&pend);
    batch_free(&b);
    nw_store_parts_release(&pj);
    return ok;
}
