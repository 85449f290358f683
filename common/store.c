#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "log.h"
#include "migrate.h"
#include "pg.h"

struct nw_store {
    PGconn *conn;
    char *dsn;
    nw_store_stats_t stats;
};

/* ---- connection ---------------------------------------------------------- */

static PGconn *connect_db(const char *dsn, nw_err_t *err)
{
    PGconn *c = PQconnectdb(dsn);
    if (!c) {
        nw_err_set(err, NW_ERR_TRANSIENT, "pg-connection", "out of memory connecting");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c);
        nw_err_set(err, NW_ERR_TRANSIENT, "pg-connection", "cannot connect to PostgreSQL: %.*s",
                   (int)strcspn(m, "\n"), m);
        PQfinish(c);
        return NULL;
    }
    /* The session settings the batch SQL relies on. */
    PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'; SET application_name = 'newswire'");
    PQclear(r);
    return c;
}

nw_store_t *nw_store_open(const char *dsn, nw_err_t *err)
{
    PGconn *c = connect_db(dsn ? dsn : "", err);
    if (!c)
        return NULL;
    nw_store_t *st = calloc(1, sizeof *st);
    st->conn = c;
    st->dsn = strdup(dsn ? dsn : "");
    return st;
}

void nw_store_close(nw_store_t *st)
{
    if (!st)
        return;
    PQfinish(st->conn);
    free(st->dsn);
    free(st);
}

bool nw_store_reconnect(nw_store_t *st, nw_err_t *err)
{
    PGconn *c = connect_db(st->dsn, err);
    if (!c)
        return false;
    PQfinish(st->conn);
    st->conn = c;
    return true;
}

bool nw_store_ping(nw_store_t *st)
{
    if (!st || PQstatus(st->conn) != CONNECTION_OK)
        return false;
    PGresult *r = PQexec(st->conn, "SELECT 1");
    bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

PGconn *nw_store_conn(nw_store_t *st)
{
    return st->conn;
}

const nw_store_stats_t *nw_store_stats(const nw_store_t *st)
{
    return &st->stats;
}

bool nw_store_migrate(nw_store_t *st, const char *dir, nw_err_t *err)
{
    int applied = 0;
    if (!nw_migrate_run(st->conn, dir, &applied, err))
        return false;
    nw_log_info("database schema ready", NW_LS("migrations", dir), NW_LI("applied_now", applied));
    return true;
}

/* ---- a small string-keyed hash index ------------------------------------- */

typedef struct strmap {
    uint64_t *hash;
    int *val;   /* -1 = empty */
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
static int strmap_get(const strmap_t *m, uint64_t h, bool (*eq)(int, const void *),
                      const void *ctx)
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

typedef struct story {
    const char *provider;     /* borrowed from the first rec of the story */
    const char *story_id;
    int64_t story_pk;
    bool exists;              /* row found in PostgreSQL */
    bool dirty;               /* existing row changed: UPDATE it */
    bool kill;                /* a kill arrived in this batch */
    int64_t current_pk;
    int64_t current_order;
    char *current_version;    /* owned */
    char pubstatus[16];
    int64_t cluster_id;
    int64_t firstcreated;
    json_t *versions;         /* every known version [{version_pk, version}] when killed */
} story_t;

typedef struct batch {
    nw_store_rec_t *recs;
    size_t n;
    story_t *stories;
    size_t nstories;
    int *rec_story;           /* rec index -> story index */
    int *dup_of;              /* rec index -> earlier rec index with the same version, or -1 */
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

static void pending_push(pending_events_t *p, int64_t version_pk, const char *id,
                         const char *type, const char *time, char *key, char *body,
                         size_t body_len)
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
    free(b->stories);
    free(b->rec_story);
    free(b->dup_of);
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

static const char *ver_of(const nw_item_t *it)
{
    return it->version ? it->version : "";
}

static int64_t order_of(const nw_item_t *it)
{
    return it->version_order > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)it->version_order;
}

static bool is_kill(const nw_item_t *it)
{
    return it->edit == NW_EDIT_KILL || it->pubstatus != NW_PUB_USABLE;
}

/* Group the batch by story, find duplicates of a version inside the batch. */
static void batch_index(batch_t *b)
{
    b->stories = calloc(b->n ? b->n : 1, sizeof *b->stories);
    b->rec_story = malloc((b->n ? b->n : 1) * sizeof *b->rec_story);
    b->dup_of = malloc((b->n ? b->n : 1) * sizeof *b->dup_of);
    strmap_t sm, vm;
    strmap_init(&sm, b->n);
    strmap_init(&vm, b->n);
    for (size_t i = 0; i < b->n; i++) {
        const nw_item_t *it = b->recs[i].item;
        eqctx_t c = {b, it->provider, it->story_id, ver_of(it)};
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
        uint64_t hv = key3(it->provider, it->story_id, ver_of(it));
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
    char *a1 = nw_pg_text_array(ps, b->nstories), *a2 = nw_pg_text_array(ids, b->nstories);
    free(ps);
    free(ids);
    const char *params[2] = {a1, a2};
    PGresult *r = nw_pg_query(
        conn,
        "SELECT k.i - 1, s.story_pk, s.current_version_pk, s.current_order, s.pubstatus,"
        "       s.cluster_id, v.version"
        "  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, id, i)"
        "  JOIN stories s ON s.provider = k.p AND s.story_id = k.id"
        "  LEFT JOIN item_versions v ON v.version_pk = s.current_version_pk"
        " ORDER BY s.story_pk FOR UPDATE OF s",
        2, params, PGRES_TUPLES_OK, "load stories", err);
    free(a1);
    free(a2);
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
        if (b->dup_of[i] >= 0 || !b->stories[b->rec_story[i]].exists)
            continue;
        const nw_item_t *it = b->recs[i].item;
        ps[m] = it->provider;
        ids[m] = it->story_id;
        vs[m] = ver_of(it);
        which[m++] = (int)i;
    }
    bool ok = true;
    if (m > 0) {
        char *a1 = nw_pg_text_array(ps, m), *a2 = nw_pg_text_array(ids, m),
             *a3 = nw_pg_text_array(vs, m);
        const char *params[3] = {a1, a2, a3};
        PGresult *r = nw_pg_query(
            conn,
            "SELECT k.i - 1, v.version_pk"
            "  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(p, id, ver, i)"
            "  JOIN item_versions v ON v.provider = k.p AND v.story_id = k.id AND v.version = k.ver",
            3, params, PGRES_TUPLES_OK, "load versions", err);
        free(a1);
        free(a2);
        free(a3);
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

/* Take `count` values of a sequence in one round trip. */
static bool alloc_ids(PGconn *conn, const char *seq, size_t count, int64_t *out, nw_err_t *err)
{
    if (count == 0)
        return true;
    char n[24], sql[160];
    snprintf(n, sizeof n, "%zu", count);
    snprintf(sql, sizeof sql, "SELECT nextval('%s') FROM generate_series(1, $1::int)", seq);
    const char *params[1] = {n};
    PGresult *r = nw_pg_query(conn, sql, 1, params, PGRES_TUPLES_OK, "allocate ids", err);
    if (!r)
        return false;
    for (size_t i = 0; i < count && (int)i < PQntuples(r); i++)
        out[i] = atoll(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    return true;
}

/* Every stored version of the stories killed in this batch: the kill event
 * names them all so subscribers can remove each. */
static bool load_kill_versions(PGconn *conn, batch_t *b, nw_err_t *err)
{
    int64_t *pks = malloc((b->nstories ? b->nstories : 1) * sizeof *pks);
    size_t m = 0;
    for (size_t i = 0; i < b->nstories; i++) {
        story_t *s = &b->stories[i];
        if (s->kill)
            s->versions = json_array();
        if (s->kill && s->exists)
            pks[m++] = s->story_pk;
    }
    bool ok = true;
    if (m > 0) {
        char *a = nw_pg_int8_array(pks, m);
        const char *params[1] = {a};
        PGresult *r = nw_pg_query(conn,
                                  "SELECT story_pk, version_pk, version FROM item_versions"
                                  " WHERE story_pk = ANY($1::bigint[])"
                                  " ORDER BY story_pk, version_order, version_pk",
                                  1, params, PGRES_TUPLES_OK, "load kill versions", err);
        free(a);
        ok = r != NULL;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            int64_t spk = atoll(PQgetvalue(r, row, 0));
            for (size_t i = 0; i < b->nstories; i++) {
                story_t *s = &b->stories[i];
                if (s->exists && s->story_pk == spk && s->versions) {
                    json_array_append_new(
                        s->versions, json_pack("{s:I, s:s}", "version_pk",
                                               (json_int_t)atoll(PQgetvalue(r, row, 1)),
                                               "version", PQgetvalue(r, row, 2)));
                    break;
                }
            }
        }
        PQclear(r);
    }
    free(pks);
    return ok;
}

static char *story_key(const nw_item_t *it)
{
    size_t n = strlen(it->provider) + strlen(it->story_id) + 2;
    char *k = malloc(n);
    snprintf(k, n, "%s:%s", it->provider, it->story_id);
    return k;
}

/* Decide, for one new version, what happens to its story and which event it
 * makes. Returns the event kind or NULL for none. */
static const char *transition(story_t *s, nw_store_rec_t *rec, json_t **previous, bool *link_prev)
{
    const nw_item_t *it = rec->item;
    int64_t order = order_of(it);
    const char *kind = NULL;
    *previous = NULL;
    *link_prev = false;
    if (s->current_pk) {
        *previous = json_pack("{s:I, s:s}", "version_pk", (json_int_t)s->current_pk, "version",
                              s->current_version ? s->current_version : "");
    }
    bool newest = order > s->current_order;
    if (is_kill(it)) {
        kind = "killed";
        snprintf(s->pubstatus, sizeof s->pubstatus, "%s",
                 it->pubstatus == NW_PUB_WITHHELD ? "withheld" : "canceled");
        s->kill = true;
    } else if (newest) {
        kind = !s->current_pk ? "new" : it->edit == NW_EDIT_CORRECTION ? "corrected" : "updated";
        snprintf(s->pubstatus, sizeof s->pubstatus, "usable");
    }
    if (newest) {
        *link_prev = s->current_pk != 0;
        s->current_pk = rec->version_pk;
        s->current_order = order;
        free(s->current_version);
        s->current_version = strdup(ver_of(it));
    } else if (!is_kill(it)) {
        json_decref(*previous);
        *previous = NULL;
    }
    if (it->firstcreated && (!s->firstcreated || it->firstcreated < s->firstcreated))
        s->firstcreated = it->firstcreated;
    s->dirty = true;
    if (!it->is_news && kind && strcmp(kind, "killed") != 0)
        kind = NULL; /* advisories and daybooks are stored, never published as news */
    return kind;
}

/* Write the new versions, their links and outbox events; update the stories. */
static bool write_batch(PGconn *conn, batch_t *b, pending_events_t *pend, nw_store_stats_t *stats,
                        nw_err_t *err)
{
    size_t new_stories = 0, new_versions = 0;
    for (size_t i = 0; i < b->nstories; i++)
        new_stories += !b->stories[i].exists;
    for (size_t i = 0; i < b->n; i++)
        new_versions += b->recs[i].outcome == NW_REC_PENDING && b->dup_of[i] < 0;

    int64_t *story_ids = malloc((new_stories + 1) * sizeof *story_ids);
    int64_t *version_ids = malloc((new_versions + 1) * sizeof *version_ids);
    bool ok = alloc_ids(conn, "stories_story_pk_seq", new_stories, story_ids, err) &&
              alloc_ids(conn, "item_versions_version_pk_seq", new_versions, version_ids, err);
    for (size_t i = 0, k = 0; ok && i < b->nstories; i++) {
        story_t *s = &b->stories[i];
        if (!s->exists)
            s->story_pk = s->cluster_id = story_ids[k++];
    }
    for (size_t i = 0, k = 0; ok && i < b->n; i++) {
        nw_store_rec_t *rec = &b->recs[i];
        rec->story_pk = b->stories[b->rec_story[i]].story_pk;
        if (rec->outcome == NW_REC_PENDING && b->dup_of[i] < 0)
            rec->version_pk = version_ids[k++];
        if (is_kill(rec->item) && rec->outcome == NW_REC_PENDING)
            b->stories[b->rec_story[i]].kill = true;
    }
    free(story_ids);
    free(version_ids);
    ok = ok && load_kill_versions(conn, b, err);
    if (!ok)
        return false;

    nw_copybuf_t vbuf, lbuf, obuf, sbuf;
    nw_copy_init(&vbuf);
    nw_copy_init(&lbuf);
    nw_copy_init(&obuf);
    nw_copy_init(&sbuf);
    for (size_t i = 0; i < b->n; i++) {
        nw_store_rec_t *rec = &b->recs[i];
        if (rec->outcome != NW_REC_PENDING || b->dup_of[i] >= 0)
            continue;
        story_t *s = &b->stories[b->rec_story[i]];
        nw_item_t *it = rec->item;
        if (s->versions)
            json_array_append_new(s->versions,
                                  json_pack("{s:I, s:s}", "version_pk",
                                            (json_int_t)rec->version_pk, "version", ver_of(it)));
        json_t *previous;
        bool link_prev;
        const char *kind = transition(s, rec, &previous, &link_prev);
        rec->kind = kind;
        rec->outcome = NW_REC_STORED;
        stats->stored++;

        char *ninjs = json_dumps(it->ninjs, JSON_COMPACT);
        nw_copy_row(&vbuf, 19);
        nw_copy_int8(&vbuf, rec->version_pk);
        nw_copy_int8(&vbuf, s->story_pk);
        nw_copy_text(&vbuf, it->provider);
        nw_copy_text(&vbuf, it->story_id);
        nw_copy_text(&vbuf, ver_of(it));
        nw_copy_int8(&vbuf, order_of(it));
        nw_copy_text(&vbuf, it->format);
        nw_copy_text(&vbuf, nw_edit_name(it->edit));
        nw_copy_text(&vbuf, nw_pubstatus_name(it->pubstatus));
        nw_copy_bool(&vbuf, it->is_news);
        nw_copy_text(&vbuf, it->headline);
        nw_copy_time(&vbuf, it->firstcreated);
        nw_copy_time(&vbuf, it->versioncreated);
        if (it->body_text) {
            XXH128_canonical_t c;
            XXH128_canonicalFromHash(&c, XXH3_128bits(it->body_text, strlen(it->body_text)));
            nw_copy_bytes(&vbuf, c.digest, 16);
        } else {
            nw_copy_null(&vbuf);
        }
        nw_copy_jsonb(&vbuf, ninjs ? ninjs : "{}", ninjs ? strlen(ninjs) : 2);
        nw_copy_bytes(&vbuf, rec->raw, rec->raw_len);
        nw_copy_text(&vbuf, rec->topic);
        if (rec->topic) {
            nw_copy_int4(&vbuf, rec->partition);
            nw_copy_int8(&vbuf, rec->offset);
        } else {
            nw_copy_null(&vbuf);
            nw_copy_null(&vbuf);
        }
        free(ninjs);

        if (link_prev && previous) {
            nw_copy_row(&lbuf, 4);
            nw_copy_int8(&lbuf, rec->version_pk);
            nw_copy_int8(&lbuf, json_integer_value(json_object_get(previous, "version_pk")));
            nw_copy_text(&lbuf, "previous_version");
            nw_copy_float4(&lbuf, 1.0f);
        }

        if (kind) {
            char id[37], now[32];
            unsigned char uuid[16];
            nw_event_id(it->provider, it->story_id, ver_of(it), kind, uuid, id);
            int64_t now_us = nw_event_now(now);
            json_t *links = json_array();
            if (link_prev && previous) {
                json_t *l = json_deep_copy(previous);
                json_object_set_new(l, "relation", json_string("previous_version"));
                json_object_set_new(l, "provider", json_string(it->provider));
                json_object_set_new(l, "story_id", json_string(it->story_id));
                json_object_set_new(l, "score", json_real(1.0));
                json_array_append_new(links, l);
            }
            nw_event_in_t in = {
                .kind = kind, .id = id, .time = now, .item = it, .story_pk = s->story_pk,
                .version_pk = rec->version_pk, .cluster_id = s->cluster_id, .topic = rec->topic,
                .partition = rec->partition, .offset = rec->offset, .previous = previous,
                .links = links, .removed = !strcmp(kind, "killed") ? s->versions : NULL};
            size_t blen = 0;
            char *body = nw_event_body(&in, &blen);
            json_decref(links);
            char type[48];
            snprintf(type, sizeof type, NW_EVENT_TYPE_PREFIX "%s", kind);
            char *key = story_key(it);
            nw_copy_row(&obuf, 7);
            nw_copy_uuid(&obuf, uuid);
            nw_copy_int8(&obuf, rec->version_pk);
            nw_copy_text(&obuf, type);
            nw_copy_text(&obuf, key);
            nw_copy_text(&obuf, body ? body : "{}");
            nw_copy_time_us(&obuf, now_us);
            nw_copy_null(&obuf);
            pending_push(pend, rec->version_pk, id, type, now, key, body, blen);
            stats->events++;
        }
        json_decref(previous);
    }

    /* New stories go in before their versions (foreign key). */
    for (size_t i = 0; i < b->nstories; i++) {
        story_t *s = &b->stories[i];
        if (s->exists)
            continue;
        nw_copy_row(&sbuf, 8);
        nw_copy_int8(&sbuf, s->story_pk);
        nw_copy_text(&sbuf, s->provider);
        nw_copy_text(&sbuf, s->story_id);
        if (s->current_pk)
            nw_copy_int8(&sbuf, s->current_pk);
        else
            nw_copy_null(&sbuf);
        nw_copy_int8(&sbuf, s->current_order);
        nw_copy_text(&sbuf, s->pubstatus);
        nw_copy_int8(&sbuf, s->cluster_id);
        nw_copy_time(&sbuf, s->firstcreated);
    }
    ok = nw_pg_copy(conn,
                    "stories (story_pk, provider, story_id, current_version_pk, current_order,"
                    " pubstatus, cluster_id, firstcreated)",
                    &sbuf, err) &&
         nw_pg_copy(conn,
                    "item_versions (version_pk, story_pk, provider, story_id, version,"
                    " version_order, format, edit_status, pubstatus, is_news, headline,"
                    " firstcreated, versioncreated, content_hash, ninjs, raw, source_topic,"
                    " source_partition, source_offset)",
                    &vbuf, err) &&
         nw_pg_copy(conn, "links (from_version_pk, to_version_pk, relation, score)", &lbuf,
                    err) &&
         nw_pg_copy(conn,
                    "outbox (event_id, version_pk, event_type, msg_key, body, created_at,"
                    " sent_at)",
                    &obuf, err);
    nw_copy_free(&sbuf);
    nw_copy_free(&vbuf);
    nw_copy_free(&lbuf);
    nw_copy_free(&obuf);
    if (!ok)
        return false;

    /* Existing stories that changed, and kills applied to every version. */
    size_t m = 0, mk = 0;
    int64_t *pk = malloc((b->nstories + 1) * sizeof *pk), *cur = malloc((b->nstories + 1) * sizeof *cur),
            *ord = malloc((b->nstories + 1) * sizeof *ord), *fc = malloc((b->nstories + 1) * sizeof *fc),
            *kpk = malloc((b->nstories + 1) * sizeof *kpk);
    const char **ps = malloc((b->nstories + 1) * sizeof *ps), **kps = malloc((b->nstories + 1) * sizeof *kps);
    for (size_t i = 0; i < b->nstories; i++) {
        story_t *s = &b->stories[i];
        if (s->kill) {
            kpk[mk] = s->story_pk;
            kps[mk++] = s->pubstatus;
        }
        if (!s->exists || !s->dirty)
            continue;
        pk[m] = s->story_pk;
        cur[m] = s->current_pk;
        ord[m] = s->current_order;
        fc[m] = s->firstcreated;
        ps[m++] = s->pubstatus;
    }
    if (m > 0) {
        char *a1 = nw_pg_int8_array(pk, m), *a2 = nw_pg_int8_array(cur, m),
             *a3 = nw_pg_int8_array(ord, m), *a4 = nw_pg_text_array(ps, m),
             *a5 = nw_pg_int8_array(fc, m);
        const char *params[5] = {a1, a2, a3, a4, a5};
        PGresult *r = nw_pg_query(
            conn,
            "UPDATE stories s SET current_version_pk = NULLIF(u.cv, 0), current_order = u.co,"
            "       pubstatus = u.ps, updated_at = now(),"
            "       firstcreated = LEAST(s.firstcreated,"
            "                            CASE WHEN u.fc = 0 THEN NULL ELSE to_timestamp(u.fc) END)"
            "  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])"
            "       AS u(pk, cv, co, ps, fc)"
            " WHERE s.story_pk = u.pk",
            5, params, PGRES_COMMAND_OK, "update stories", err);
        ok = r != NULL;
        PQclear(r);
        free(a1);
        free(a2);
        free(a3);
        free(a4);
        free(a5);
    }
    if (ok && mk > 0) {
        char *a1 = nw_pg_int8_array(kpk, mk), *a2 = nw_pg_text_array(kps, mk);
        const char *params[2] = {a1, a2};
        PGresult *r = nw_pg_query(
            conn,
            "UPDATE item_versions v SET pubstatus = u.ps,"
            "       ninjs = jsonb_set(v.ninjs, '{pubstatus}', to_jsonb(u.ps))"
            "  FROM unnest($1::bigint[], $2::text[]) AS u(pk, ps)"
            " WHERE v.story_pk = u.pk AND v.pubstatus IS DISTINCT FROM u.ps",
            2, params, PGRES_COMMAND_OK, "apply kill", err);
        ok = r != NULL;
        PQclear(r);
        free(a1);
        free(a2);
    }
    free(pk);
    free(cur);
    free(ord);
    free(fc);
    free(kpk);
    free(ps);
    free(kps);
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
        char *a = nw_pg_int8_array(pks, m);
        const char *params[1] = {a};
        PGresult *r = nw_pg_query(
            conn,
            "SELECT version_pk, event_id, event_type, msg_key, body,"
            "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            "  FROM outbox WHERE version_pk = ANY($1::bigint[]) ORDER BY outbox_pk",
            1, params, PGRES_TUPLES_OK, "load original events", err);
        free(a);
        ok = r != NULL;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            size_t blen = (size_t)PQgetlength(r, row, 4);
            char *body = malloc(blen + 1);
            memcpy(body, PQgetvalue(r, row, 4), blen + 1);
            pending_push(pend, atoll(PQgetvalue(r, row, 0)), PQgetvalue(r, row, 1),
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

static bool is_race(const nw_err_t *err)
{
    return err->cls == NW_ERR_ROW && !strcmp(err->code, "23505") &&
           (!strcmp(err->detail, "stories_provider_story_id_key") ||
            !strcmp(err->detail, "item_versions_provider_story_id_version_key") ||
            !strcmp(err->detail, "stories_pkey") || !strcmp(err->detail, "item_versions_pkey"));
}

/* One attempt at the whole batch in one transaction. */
static bool try_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_events_t *events,
                      nw_err_t *err)
{
    PGconn *conn = st->conn;
    for (size_t i = 0; i < n; i++) {
        recs[i].outcome = NW_REC_PENDING;
        recs[i].kind = NULL;
        recs[i].story_pk = recs[i].version_pk = 0;
    }
    batch_t b = {.recs = recs, .n = n};
    batch_index(&b);
    pending_events_t pend = {0};
    nw_store_stats_t stats = {0};
    bool ok = nw_pg_exec(conn, "BEGIN", "begin", err) && load_stories(conn, &b, err) &&
              load_existing_versions(conn, &b, err) && write_batch(conn, &b, &pend, &stats, err) &&
              load_resend_events(conn, &b, &pend, err) && nw_pg_exec(conn, "COMMIT", "commit", err);
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            int d = b.dup_of[i];
            if (d >= 0) {
                recs[i].outcome = NW_REC_RESEND;
                recs[i].version_pk = recs[d].version_pk;
                recs[i].story_pk = recs[d].story_pk;
            }
            stats.resends += recs[i].outcome == NW_REC_RESEND;
        }
        emit_events(&b, &pend, events);
        st->stats.stored += stats.stored;
        st->stats.resends += stats.resends;
        st->stats.events += stats.events;
    } else if (PQstatus(conn) == CONNECTION_OK) {
        PQclear(PQexec(conn, "ROLLBACK"));
    }
    pending_free(&pend);
    batch_free(&b);
    return ok;
}

/* Store recs[0..n): retry races, split the batch around bad rows. */
static bool put_range(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_events_t *events,
                      nw_err_t *err)
{
    if (n == 0)
        return true;
    for (int attempt = 0;; attempt++) {
        nw_err_t e = {0};
        if (try_batch(st, recs, n, events, &e))
            return true;
        if (is_race(&e) && attempt < 8) {
            st->stats.races++;
            nw_log_info("concurrent insert of the same story, retrying batch",
                        NW_LS("constraint", e.detail), NW_LI("items", n));
            continue;
        }
        if (e.cls != NW_ERR_ROW) {
            if (err)
                *err = e;
            return false;
        }
        if (n == 1) {
            recs[0].outcome = NW_REC_FAILED;
            recs[0].err = e;
            st->stats.failed_rows++;
            nw_log_warn("row refused by PostgreSQL", NW_LS("code", e.code),
                        NW_LS("reason", e.msg), NW_LS("story_id", recs[0].item->story_id));
            return true;
        }
        size_t half = n / 2;
        return put_range(st, recs, half, events, err) &&
               put_range(st, recs + half, n - half, events, err);
    }
}

bool nw_store_put_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, nw_events_t *events,
                        nw_err_t *err)
{
    size_t before = events->n;
    bool ok = put_range(st, recs, n, events, err);
    if (ok)
        st->stats.batches++;
    else {
        /* nothing of a failed call may be published: a retry redoes it all */
        for (size_t i = before; i < events->n; i++) {
            free(events->v[i].key);
            free(events->v[i].body);
        }
        events->n = before;
    }
    return ok;
}

bool nw_store_mark_sent(nw_store_t *st, const nw_events_t *events, nw_err_t *err)
{
    if (events->n == 0)
        return true;
    const char **ids = malloc(events->n * sizeof *ids);
    for (size_t i = 0; i < events->n; i++)
        ids[i] = events->v[i].id;
    char *a = nw_pg_text_array(ids, events->n);
    free(ids);
    const char *params[1] = {a};
    PGresult *r = nw_pg_query(st->conn,
                              "UPDATE outbox SET sent_at = now()"
                              " WHERE event_id = ANY($1::uuid[]) AND sent_at IS NULL",
                              1, params, PGRES_COMMAND_OK, "mark events sent", err);
    free(a);
    PQclear(r);
    return r != NULL;
}

bool nw_store_outbox_unsent(nw_store_t *st, int older_than_s, int limit, nw_events_t *out,
                            nw_err_t *err)
{
    char age[16], lim[16];
    snprintf(age, sizeof age, "%d", older_than_s);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[2] = {age, lim};
    PGresult *r = nw_pg_query(
        st->conn,
        "SELECT event_id, event_type, msg_key, body,"
        "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        "  FROM outbox WHERE sent_at IS NULL"
        "   AND created_at < now() - make_interval(secs => $1::int)"
        " ORDER BY outbox_pk LIMIT $2::int",
        2, params, PGRES_TUPLES_OK, "read unsent events", err);
    if (!r)
        return false;
    for (int row = 0; row < PQntuples(r); row++) {
        size_t blen = (size_t)PQgetlength(r, row, 3);
        char *body = malloc(blen + 1);
        memcpy(body, PQgetvalue(r, row, 3), blen + 1);
        nw_events_push(out, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 4),
                       strdup(PQgetvalue(r, row, 2)), body, blen);
    }
    PQclear(r);
    return true;
}

long nw_store_outbox_backlog(nw_store_t *st)
{
    PGresult *r = PQexec(st->conn, "SELECT count(*) FROM outbox WHERE sent_at IS NULL");
    long n = (r && PQresultStatus(r) == PGRES_TUPLES_OK) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}
