/*
 * What the batch transaction writes for its new versions, in an order that
 * keeps every statement a single round trip:
 *   ids from the sequences; each version's fate (story state machine);
 *   new stories (COPY); the similarity step under one advisory lock (the
 *   fingerprint, band and term rows COPYed while a second connection reads
 *   the candidates); version rows (COPY, streamed; each
 *   version's links and its new story's cluster chosen as its row is
 *   built); outbox events (COPY); updates of existing stories; kills;
 *   links (COPY).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pg.h"
#include "store_batch.h"

/* Serializes the writes of concurrent batches (replicas) with new versions:
 * the second waits until the first commits, then its candidate query sees
 * the first one's items, so two near-identical items stored at the same
 * moment are still linked. A lock per LSH band key would serialize less,
 * but a batch of 500 items holds 24,000 band keys, far beyond PostgreSQL's
 * lock table (max_locks_per_transaction). Taken after the batch's story rows
 * are locked (store_batch.c, load_stories) and held until commit, before
 * the new stories take their keys: story keys then grow in the order the
 * batches commit, so the smallest key of a cluster is its earliest story
 * (nw_link_cluster_id). Taken later, after the keys, a batch could commit
 * a story with a larger key first, and the other replica's item linked to
 * it started a cluster of its own smaller key: a linked pair split in two. */
#define SIM_LOCK_KEY "7234092331209"

static bool is_kill(const nw_item_t *it)
{
    return it->edit == NW_EDIT_KILL || it->pubstatus != NW_PUB_USABLE;
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
        nw_pg_params_t pp = {0};
        nw_pg_add_int8s(&pp, pks, m);
        PGresult *r = nw_pg_run(conn,
                                "SELECT story_pk, version_pk, version FROM item_versions"
                                " WHERE story_pk = ANY($1::bigint[])"
                                " ORDER BY story_pk, version_order, version_pk",
                                &pp, PGRES_TUPLES_OK, "load kill versions", err);
        ok = r != NULL;
        for (int row = 0; ok && row < PQntuples(r); row++) {
            int64_t spk = atoll(PQgetvalue(r, row, 0));
            for (size_t i = 0; i < b->nstories; i++) {
                story_t *s = &b->stories[i];
                if (s->exists && s->story_pk == spk && s->versions) {
                    json_array_append_new(s->versions,
                                          json_pack("{s:I, s:s}", "version_pk",
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
static const char *transition(story_t *s, const nw_store_rec_t *rec, json_t **previous,
                              bool *link_prev)
{
    const nw_item_t *it = rec->item;
    int64_t order = nw_batch_order(it);
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
        s->current_version = strdup(nw_batch_ver(it));
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

static bool is_new_rec(const batch_t *b, size_t i)
{
    return b->rec_story[i] >= 0 && b->recs[i].outcome == NW_REC_PENDING && b->dup_of[i] < 0;
}

/* Ids for the new stories and versions, the version lists of killed stories,
 * and each new version's transition, in batch order. */
static bool decide(batch_t *b, nw_err_t *err)
{
    PGconn *conn = b->st->conn;
    size_t new_stories = 0, new_versions = 0;
    for (size_t i = 0; i < b->nstories; i++)
        new_stories += !b->stories[i].exists;
    for (size_t i = 0; i < b->n; i++)
        new_versions += is_new_rec(b, i);
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
        if (b->rec_story[i] < 0)
            continue;
        nw_store_rec_t *rec = &b->recs[i];
        rec->story_pk = b->stories[b->rec_story[i]].story_pk;
        if (is_new_rec(b, i)) {
            rec->version_pk = version_ids[k++];
            b->rs[i].is_new = true;
            if (is_kill(rec->item))
                b->stories[b->rec_story[i]].kill = true;
        }
    }
    free(story_ids);
    free(version_ids);
    if (!ok || !load_kill_versions(conn, b, err))
        return false;
    for (size_t i = 0; i < b->n; i++) {
        if (!b->rs[i].is_new)
            continue;
        nw_store_rec_t *rec = &b->recs[i];
        story_t *s = &b->stories[b->rec_story[i]];
        if (s->versions)
            json_array_append_new(s->versions,
                                  json_pack("{s:I, s:s}", "version_pk", (json_int_t)rec->version_pk,
                                            "version", nw_batch_ver(rec->item)));
        b->rs[i].kind = transition(s, rec, &b->rs[i].previous, &b->rs[i].link_prev);
        rec->outcome = NW_REC_STORED;
        b->st->stats.stored++;
    }
    return true;
}

static bool copy_new_stories(batch_t *b, nw_err_t *err)
{
    nw_copybuf_t sbuf;
    nw_copy_init(&sbuf);
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
    bool ok = nw_pg_copy(b->st->conn,
                         "stories (story_pk, provider, story_id, current_version_pk, current_order,"
                         " pubstatus, cluster_id, firstcreated)",
                         &sbuf, err);
    nw_copy_free(&sbuf);
    return ok;
}

static nw_link_meta_t meta_of(const batch_t *b, size_t i)
{
    const nw_store_rec_t *rec = &b->recs[i];
    const story_t *s = &b->stories[b->rec_story[i]];
    return (nw_link_meta_t){.version_pk = rec->version_pk,
                            .story_pk = s->story_pk,
                            .cluster_id = s->exists || s->cluster_set ? s->cluster_id : 0,
                            .provider = rec->item->provider,
                            .story_id = rec->item->story_id,
                            .versioncreated = rec->item->versioncreated,
                            .headline = rec->item->headline,
                            .correction = rec->item->edit == NW_EDIT_CORRECTION};
}

/* The kind of a story's first version, from its strongest content link. */
static const char *first_version_kind(const nw_link_t *l)
{
    if (!l->r.a_is_newer)
        return "new";
    switch (l->r.rel) {
    case NW_REL_DUPLICATE: return "duplicate";
    case NW_REL_UPDATE: return "update_of";
    case NW_REL_NEAR_DUPLICATE: return "near_duplicate";
    default: return "new";
    }
}

/* The candidate read of a batch on the store's second connection. */
typedef struct sim_read {
    PGconn *reader;
    const nw_simindex_cfg_t *cfg;
    const nw_sim_batch_t *sb;
    nw_sim_cands_t *out;
    nw_err_t err;
    bool ok;
} sim_read_t;

static void *read_candidates(void *arg)
{
    sim_read_t *r = arg;
    r->ok = nw_simindex_read_candidates(r->reader, r->cfg, r->sb, r->out, &r->err);
    return NULL;
}

/* The batch's similarity rows are COPYed here while a thread reads their
 * candidates on the second connection, so PostgreSQL runs the reads beside
 * the COPY rather than before and after it (one connection: bands, COPY,
 * terms, versions in turn). The read starts after the lock was granted, so
 * it sees every batch committed before; it cannot see this batch's rows and
 * finds them in memory (nw_simindex_read_candidates). */
static bool copy_and_read(batch_t *b, PGconn *reader, const nw_sim_item_t *items, size_t m,
                          nw_err_t *err)
{
    nw_store_t *st = b->st;
    nw_sim_batch_t sb;
    if (!nw_sim_batch_init(&sb, items, m, (double)time(NULL), err))
        return false;
    sim_read_t rd = {.reader = reader, .cfg = &st->sim_cfg, .sb = &sb, .out = &b->cands};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, read_candidates, &rd) == 0;
    if (!threaded) /* the read does not need the COPY: one after the other then */
        read_candidates(&rd);
    bool copied = nw_simindex_copy_batch(st->conn, &sb, err);
    if (threaded)
        pthread_join(th, NULL);
    nw_sim_batch_free(&sb);
    if (!rd.ok) {
        if (copied)
            *err = rd.err;
        if (PQstatus(reader) != CONNECTION_OK || PQtransactionStatus(reader) != PQTRANS_IDLE)
            nw_store_reader_reset(st);
    } else if (!copied) {
        nw_simindex_cands_free(&b->cands);
    }
    return copied && rd.ok;
}

/* Fingerprints, bands and terms of the new versions, and their candidates
 * (the links worth keeping are chosen later, a version at a time: rank). */
static bool similarity(batch_t *b, nw_err_t *err)
{
    nw_store_t *st = b->st;
    size_t m = 0;
    nw_sim_item_t *items = malloc((b->n + 1) * sizeof *items);
    for (size_t i = 0; i < b->n; i++) {
        if (!b->rs[i].is_new)
            continue;
        items[m] = (nw_sim_item_t){.fp = &b->fps[i], .meta = meta_of(b, i)};
        /* what its story row holds now: a new story's own id (decide) */
        items[m++].meta.cluster_id = b->stories[b->rec_story[i]].cluster_id;
    }
    bool ok = true;
    if (m > 0) { /* under the write lock (write_lock) */
        PGconn *reader = !st->one_connection ? nw_store_reader(st) : NULL;
        if (reader)
            ok = copy_and_read(b, reader, items, m, err);
        else
            ok = nw_simindex_copy_candidates(st->conn, &st->sim_cfg, items, m, &b->cands, err);
    }
    free(items);
    return ok;
}

/* The links of new version i, the k-th new version of the batch (its
 * candidates: b->cands), and what follows from them: its story's cluster
 * when the story is new, and the kind of its event. */
static void rank(batch_t *b, size_t i, size_t k)
{
    nw_store_t *st = b->st;
    recstate_t *rs = &b->rs[i];
    story_t *s = &b->stories[b->rec_story[i]];
    nw_link_meta_t meta = meta_of(b, i);
    size_t off = b->cands.off[k], nc = b->cands.off[k + 1] - off;
    rs->cand_off = off;
    rs->links = malloc((nc + 1) * sizeof *rs->links);
    rs->nlinks =
        nw_link_rank(&st->link_cfg, &b->fps[i], &meta, b->cands.cand + off, nc, rs->links, nc);
    if (!s->exists && !s->cluster_set) {
        s->cluster_id =
            nw_link_cluster_id(&st->link_cfg, &meta, b->cands.cand + off, rs->links, rs->nlinks);
        s->cluster_set = true;
    }
    rs->cluster = s->cluster_id;
    if (rs->nlinks && rs->kind && !strcmp(rs->kind, "new"))
        rs->kind = first_version_kind(&rs->links[0]);
    for (size_t l = 0; l < rs->nlinks; l++) {
        nw_rel_t rel = rs->links[l].r.rel;
        st->stats.duplicates += rel == NW_REL_DUPLICATE && l == 0;
        st->stats.near_duplicates +=
            (rel == NW_REL_NEAR_DUPLICATE || rel == NW_REL_UPDATE) && l == 0;
    }
}

/* Relation of a similarity link as this version sees it. */
static const char *relation_seen(const nw_link_t *l)
{
    if (l->r.a_is_newer || l->r.rel == NW_REL_RELATED)
        return nw_rel_link_name(l->r.rel);
    switch (l->r.rel) {
    case NW_REL_DUPLICATE: return "duplicated_by";
    case NW_REL_UPDATE: return "updated_by";
    case NW_REL_NEAR_DUPLICATE: return "near_duplicated_by";
    default: return nw_rel_link_name(l->r.rel);
    }
}

/* Link rows of the batch, written with one binary COPY. Every row names a
 * version created in this transaction, so no stored row can collide with
 * it; two new versions of one batch find each other and would write their
 * pair twice, so a pair already added is skipped (the first one stays, as
 * INSERT ... ON CONFLICT DO NOTHING kept it). */
typedef struct linkrow {
    int64_t from, to;
    const char *rel;
    float score;
} linkrow_t;

typedef struct linkrows {
    linkrow_t *r;
    size_t n, cap;
    uint32_t *slot; /* open addressing over r: index + 1, 0 = empty */
    size_t nslot;
    bool oom;
} linkrows_t;

static uint64_t linkrow_hash(int64_t from, int64_t to, const char *rel)
{
    uint64_t h = (uint64_t)from * 0x9E3779B97F4A7C15u ^ (uint64_t)to * 0xC2B2AE3D27D4EB4Fu;
    for (const char *c = rel; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001B3u;
    return h ^ (h >> 29);
}

static bool linkrows_grow(linkrows_t *lr)
{
    size_t cap = lr->cap ? lr->cap * 2 : 256, nslot = cap * 2;
    linkrow_t *r = realloc(lr->r, cap * sizeof *r);
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!r || !slot) {
        if (r)
            lr->r = r;
        free(slot);
        return false;
    }
    lr->r = r;
    lr->cap = cap;
    free(lr->slot);
    lr->slot = slot;
    lr->nslot = nslot;
    for (size_t i = 0; i < lr->n; i++) {
        size_t j = linkrow_hash(r[i].from, r[i].to, r[i].rel) & (nslot - 1);
        while (slot[j])
            j = (j + 1) & (nslot - 1);
        slot[j] = (uint32_t)(i + 1);
    }
    return true;
}

static void linkrows_add(linkrows_t *lr, int64_t from, int64_t to, const char *rel, float score)
{
    if (lr->oom || (lr->n == lr->cap && !linkrows_grow(lr))) {
        lr->oom = true;
        return;
    }
    size_t j = linkrow_hash(from, to, rel) & (lr->nslot - 1);
    for (; lr->slot[j]; j = (j + 1) & (lr->nslot - 1)) {
        const linkrow_t *o = &lr->r[lr->slot[j] - 1];
        if (o->from == from && o->to == to && !strcmp(o->rel, rel))
            return;
    }
    lr->r[lr->n] = (linkrow_t){.from = from, .to = to, .rel = rel, .score = score};
    lr->slot[j] = (uint32_t)++lr->n;
}

/* Write the rows (unless !run: the transaction already failed) and free them. */
static bool linkrows_write(PGconn *conn, linkrows_t *lr, bool run, nw_err_t *err)
{
    bool ok = true;
    if (run && lr->oom)
        ok = nw_err_set(err, NW_ERR_FATAL, "oom", "write links: out of memory");
    else if (run && lr->n > 0) {
        nw_copybuf_t buf;
        nw_copy_init(&buf);
        for (size_t i = 0; i < lr->n; i++) {
            nw_copy_row(&buf, 4);
            nw_copy_int8(&buf, lr->r[i].from);
            nw_copy_int8(&buf, lr->r[i].to);
            nw_copy_text(&buf, lr->r[i].rel);
            nw_copy_float4(&buf, lr->r[i].score);
        }
        ok = nw_pg_copy(conn, "links (from_version_pk, to_version_pk, relation, score)", &buf, err);
        nw_copy_free(&buf);
    }
    free(lr->r);
    free(lr->slot);
    return ok;
}

/* Event links: the version this one replaced, then the similarity links. */
static json_t *event_links(const batch_t *b, size_t i)
{
    const recstate_t *rs = &b->rs[i];
    const nw_store_rec_t *rec = &b->recs[i];
    json_t *links = json_array();
    if (rs->link_prev && rs->previous) {
        json_t *l = json_deep_copy(rs->previous);
        json_object_set_new(l, "relation", json_string("previous_version"));
        json_object_set_new(l, "provider", json_string(rec->item->provider));
        json_object_set_new(l, "story_id", json_string(rec->item->story_id));
        json_object_set_new(l, "score", json_real(1.0));
        json_array_append_new(links, l);
    }
    for (size_t l = 0; l < rs->nlinks; l++) {
        const nw_link_t *lk = &rs->links[l];
        const nw_link_cand_t *c = &b->cands.cand[rs->cand_off + lk->cand];
        json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:f, s:I}", "relation", relation_seen(lk),
                              "version_pk", (json_int_t)c->meta.version_pk, "provider",
                              c->meta.provider ? c->meta.provider : "", "story_id",
                              c->meta.story_id ? c->meta.story_id : "", "score",
                              (double)(lk->r.score < 0   ? 0
                                       : lk->r.score > 1 ? 1
                                                         : lk->r.score),
                              "cluster_id", (json_int_t)c->meta.cluster_id);
        if (c->meta.headline)
            json_object_set_new(o, "headline", json_string(c->meta.headline));
        json_array_append_new(links, o);
    }
    return links;
}

/* One outbox row (and its pending event) for new version i. */
static void add_event(batch_t *b, size_t i, nw_copybuf_t *obuf, pending_events_t *pend)
{
    const recstate_t *rs = &b->rs[i];
    nw_store_rec_t *rec = &b->recs[i];
    const nw_item_t *it = rec->item;
    story_t *s = &b->stories[b->rec_story[i]];
    char id[37], now[32], type[48];
    unsigned char uuid[16];
    nw_event_id(it->provider, it->story_id, nw_batch_ver(it), rs->kind, uuid, id);
    int64_t now_us = nw_event_now(now);
    json_t *links = event_links(b, i);
    nw_event_in_t in = {.kind = rs->kind,
                        .id = id,
                        .time = now,
                        .item = it,
                        .story_pk = s->story_pk,
                        .version_pk = rec->version_pk,
                        .cluster_id = rs->cluster,
                        .topic = rec->topic,
                        .partition = rec->partition,
                        .offset = rec->offset,
                        .previous = rs->previous,
                        .links = links,
                        .removed = !strcmp(rs->kind, "killed") ? s->versions : NULL};
    size_t blen = 0;
    char *body = nw_event_body(&in, &blen);
    long max = b->st->event_max_bytes;
    if (body && max > 0 && blen + 4096 > (size_t)max) { /* + headers and key */
        free(body);
        in.omit_item = true;
        body = nw_event_body(&in, &blen);
    }
    json_decref(links);
    snprintf(type, sizeof type, NW_EVENT_TYPE_PREFIX "%s", rs->kind);
    char *key = story_key(it);
    nw_copy_row(obuf, 7);
    nw_copy_uuid(obuf, uuid);
    nw_copy_int8(obuf, rec->version_pk);
    nw_copy_text(obuf, type);
    nw_copy_text(obuf, key);
    nw_copy_text(obuf, body ? body : "{}");
    nw_copy_time_us(obuf, now_us);
    nw_copy_null(obuf);
    nw_pending_push(pend, rec->version_pk, id, type, now, key, body, blen);
    rec->kind = rs->kind;
    b->st->stats.events++;
}

static void add_version_row(batch_t *b, size_t i, nw_copybuf_t *vbuf)
{
    const nw_store_rec_t *rec = &b->recs[i];
    nw_item_t *it = rec->item;
    size_t ninjs_len = 0;
    const char *ninjs = nw_item_ninjs_text(it, &ninjs_len);
    nw_copy_row(vbuf, 20);
    nw_copy_int8(vbuf, rec->version_pk);
    nw_copy_int8(vbuf, rec->story_pk);
    nw_copy_text(vbuf, it->provider);
    nw_copy_text(vbuf, it->story_id);
    nw_copy_text(vbuf, nw_batch_ver(it));
    nw_copy_int8(vbuf, nw_batch_order(it));
    nw_copy_text(vbuf, it->format);
    nw_copy_text(vbuf, nw_edit_name(it->edit));
    nw_copy_text(vbuf, nw_pubstatus_name(it->pubstatus));
    nw_copy_bool(vbuf, it->is_news);
    nw_copy_text(vbuf, it->headline);
    nw_copy_time(vbuf, it->firstcreated);
    nw_copy_time(vbuf, it->versioncreated);
    nw_copy_bytes(vbuf, b->fps[i].content_hash, 16);
    nw_copy_jsonb(vbuf, ninjs ? ninjs : "{}", ninjs ? ninjs_len : 2);
    nw_copy_bytes(vbuf, rec->raw, rec->raw_len);
    nw_copy_text(vbuf, rec->topic);
    if (rec->topic) {
        nw_copy_int4(vbuf, rec->partition);
        nw_copy_int8(vbuf, rec->offset);
    } else {
        nw_copy_null(vbuf);
        nw_copy_null(vbuf);
    }
    nw_copy_int8(vbuf, b->rs[i].cluster);
}

static void add_link_rows(batch_t *b, size_t i, linkrows_t *lr)
{
    const recstate_t *rs = &b->rs[i];
    const nw_store_rec_t *rec = &b->recs[i];
    if (rs->link_prev && rs->previous)
        linkrows_add(lr, rec->version_pk,
                     json_integer_value(json_object_get(rs->previous, "version_pk")),
                     "previous_version", 1.0f);
    for (size_t l = 0; l < rs->nlinks; l++) {
        const nw_link_t *lk = &rs->links[l];
        int64_t other = b->cands.cand[rs->cand_off + lk->cand].meta.version_pk;
        const char *rel = nw_rel_link_name(lk->r.rel);
        if (!rel)
            continue;
        /* stored from the newer version to the older one */
        if (lk->r.a_is_newer)
            linkrows_add(lr, rec->version_pk, other, rel, lk->r.score);
        else
            linkrows_add(lr, other, rec->version_pk, rel, lk->r.score);
        b->st->stats.links++;
    }
}

/* Existing stories that changed, new stories whose cluster the similarity
 * step chose, and kills applied to every version. */
static bool update_stories(batch_t *b, nw_err_t *err)
{
    PGconn *conn = b->st->conn;
    size_t ns = b->nstories + 1, m = 0, mk = 0;
    int64_t *pk = malloc(ns * sizeof *pk), *cur = malloc(ns * sizeof *cur),
            *ord = malloc(ns * sizeof *ord), *fc = malloc(ns * sizeof *fc),
            *cl = malloc(ns * sizeof *cl), *kpk = malloc(ns * sizeof *kpk);
    const char **ps = malloc(ns * sizeof *ps), **kps = malloc(ns * sizeof *kps);
    for (size_t i = 0; i < b->nstories; i++) {
        story_t *s = &b->stories[i];
        if (s->kill) {
            kpk[mk] = s->story_pk;
            kps[mk++] = s->pubstatus;
        }
        if (!(s->exists && s->dirty) && !(!s->exists && s->cluster_id != s->story_pk))
            continue;
        pk[m] = s->story_pk;
        cur[m] = s->current_pk;
        ord[m] = s->current_order;
        fc[m] = s->firstcreated;
        cl[m] = s->cluster_id;
        ps[m++] = s->pubstatus;
    }
    bool ok = true;
    if (m > 0) {
        nw_pg_params_t pp = {0};
        nw_pg_add_int8s(&pp, pk, m);
        nw_pg_add_int8s(&pp, cur, m);
        nw_pg_add_int8s(&pp, ord, m);
        nw_pg_add_texts(&pp, ps, m);
        nw_pg_add_int8s(&pp, fc, m);
        nw_pg_add_int8s(&pp, cl, m);
        PGresult *r = nw_pg_run(
            conn,
            "UPDATE stories s SET current_version_pk = NULLIF(u.cv, 0), current_order = u.co,"
            "       pubstatus = u.ps, updated_at = now(), cluster_id = u.cl,"
            "       firstcreated = LEAST(s.firstcreated,"
            "                            CASE WHEN u.fc = 0 THEN NULL ELSE to_timestamp(u.fc) END)"
            "  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],"
            "              $6::bigint[]) AS u(pk, cv, co, ps, fc, cl)"
            " WHERE s.story_pk = u.pk",
            &pp, PGRES_COMMAND_OK, "update stories", err);
        ok = r != NULL;
        PQclear(r);
    }
    if (ok && mk > 0) {
        nw_pg_params_t pp = {0};
        nw_pg_add_int8s(&pp, kpk, mk);
        nw_pg_add_texts(&pp, kps, mk);
        PGresult *r = nw_pg_run(conn,
                                "UPDATE item_versions v SET pubstatus = u.ps,"
                                "       ninjs = jsonb_set(v.ninjs, '{pubstatus}', to_jsonb(u.ps))"
                                "  FROM unnest($1::bigint[], $2::text[]) AS u(pk, ps)"
                                " WHERE v.story_pk = u.pk AND v.pubstatus IS DISTINCT FROM u.ps",
                                &pp, PGRES_COMMAND_OK, "apply kill", err);
        ok = r != NULL;
        PQclear(r);
    }
    free(pk);
    free(cur);
    free(ord);
    free(fc);
    free(cl);
    free(kpk);
    free(ps);
    free(kps);
    return ok;
}

/* The version rows are streamed (nw_pg_copy_send): the buffer is handed
 * over every COPY_CHUNK bytes, so PostgreSQL stores rows while the next ones
 * are built, and the batch's payloads (tens of MB) are never held a second
 * time. */
#define COPY_CHUNK (1u << 20)

static const char versions_table[] =
    "item_versions (version_pk, story_pk, provider, story_id, version, version_order, format,"
    " edit_status, pubstatus, is_news, headline, firstcreated, versioncreated, content_hash,"
    " ninjs, raw, source_topic, source_partition, source_offset, cluster_id)";

/* The new versions' rows, one streamed COPY. Each version's links are
 * chosen (rank) just before its row is built, while PostgreSQL stores the
 * rows before it; and while it stores the last ones, the events are built
 * into ebuf (a few KB each), so the store thread's work overlaps the
 * server's instead of alternating with it. */
static bool copy_versions(batch_t *b, nw_copybuf_t *vbuf, nw_copybuf_t *ebuf,
                          pending_events_t *pend, nw_err_t *err)
{
    PGconn *conn = b->st->conn;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->rs[i].is_new;
    if (!n)
        return true;
    if (!nw_pg_copy_begin(conn, versions_table, err))
        return false;
    bool ok = true;
    for (size_t i = 0, k = 0; ok && i < b->n; i++) {
        if (!b->rs[i].is_new)
            continue;
        rank(b, i, k++);
        add_version_row(b, i, vbuf);
        ok = nw_pg_copy_send(conn, vbuf, COPY_CHUNK, err);
    }
    if (!nw_pg_copy_finish(conn, versions_table, vbuf, ok, err))
        return false;
    for (size_t i = 0; i < b->n; i++)
        if (b->rs[i].is_new && b->rs[i].kind)
            add_event(b, i, ebuf, pend);
    return nw_pg_copy_result(conn, versions_table, err);
}

/* The write lock (SIM_LOCK_KEY), when the batch has a new version. */
static bool write_lock(batch_t *b, nw_err_t *err)
{
    size_t i = 0;
    while (i < b->n && !is_new_rec(b, i))
        i++;
    if (i == b->n)
        return true;
    PGresult *r = nw_pg_query(b->st->conn, "SELECT pg_advisory_xact_lock(" SIM_LOCK_KEY ")", 0,
                              NULL, PGRES_TUPLES_OK, "similarity lock", err);
    PQclear(r);
    return r != NULL;
}

bool nw_batch_write(batch_t *b, pending_events_t *pend, nw_err_t *err)
{
    if (!write_lock(b, err) || !decide(b, err) || !copy_new_stories(b, err) || !similarity(b, err))
        return false;
    nw_copybuf_t vbuf, ebuf;
    nw_copy_init(&vbuf);
    nw_copy_init(&ebuf);
    bool ok = copy_versions(b, &vbuf, &ebuf, pend, err) &&
              nw_pg_copy(b->st->conn,
                         "outbox (event_id, version_pk, event_type, msg_key, body, created_at,"
                         " sent_at)",
                         &ebuf, err) &&
              update_stories(b, err);
    nw_copy_free(&vbuf);
    nw_copy_free(&ebuf);
    linkrows_t lr = {0};
    for (size_t i = 0; ok && i < b->n; i++)
        if (b->rs[i].is_new)
            add_link_rows(b, i, &lr);
    return linkrows_write(b->st->conn, &lr, ok, err) && ok;
}
