/*
 * simindex against a real PostgreSQL (NEWSWIRE_PG_DSN; every test is skipped
 * without it). Each run works in a schema of its own, created from the
 * migrations and dropped at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simindex.h"

static char schema[64];
static const char *dsn;
static nw_fp_ctx_t *fpctx;
static const int64_t T = 1790000000; /* a fixed "now" for item times */

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char sql[128];
    /* a failed test leaves its transaction open: later ones must not wait forever */
    snprintf(sql, sizeof sql, "SET search_path TO %s; SET lock_timeout = '20s'", schema);
    PQclear(PQexec(c, sql));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    s[n] = '\0';
    fclose(f);
    return s;
}

static int setup(void **state)
{
    (void)state;
    dsn = getenv("NEWSWIRE_PG_DSN");
    fpctx = nw_fp_ctx_new();
    if (!dsn || !*dsn)
        return 0;
    snprintf(schema, sizeof schema, "nw_simtest_%d", (int)getpid());
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    char sql[512];
    snprintf(sql, sizeof sql, "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s",
             schema, schema, schema);
    exec_ok(c, sql);
    static const char *const files[] = {"0001_core.sql",
                                        "0002_similarity.sql",
                                        "0007_prune_in_steps.sql",
                                        "0008_prune_without_waiting.sql",
                                        "0009_partitions_without_waiting.sql",
                                        "0010_backfill_marks.sql"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", NW_SOURCE_MIGRATIONS, files[i]);
        char *s = slurp(path);
        assert_non_null(s);
        exec_ok(c, "BEGIN");
        exec_ok(c, s);
        exec_ok(c, "COMMIT");
        free(s);
    }
    /* 0007's to 0009's functions run on a fixed search_path, public's: this
     * schema's instead */
    static const char *const fns[] = {"sim_drop_expired(timestamptz)",
                                      "sim_prune(timestamptz)",
                                      "sim_prune_step(timestamptz, integer)",
                                      "sim_prune_some(timestamptz, integer)",
                                      "sim_ensure_partitions(timestamptz, timestamptz)",
                                      "sim_ensure_partitions_some(timestamptz, timestamptz,"
                                      " boolean)"};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        snprintf(sql, sizeof sql, "ALTER FUNCTION %s SET search_path = %s, pg_temp", fns[i],
                 schema);
        exec_ok(c, sql);
    }
    PQfinish(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nw_fp_ctx_free(fpctx);
    if (!dsn || !*dsn)
        return 0;
    PGconn *c = PQconnectdb(dsn);
    char sql[160];
    /* a failed test may leave its transaction open: do not wait for it forever */
    snprintf(sql, sizeof sql, "SET client_min_messages TO warning; SET lock_timeout = '10s';"
             " DROP SCHEMA IF EXISTS %s CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    return 0;
}

#define NEED_PG()                                                                         \
    do {                                                                                  \
        if (!dsn || !*dsn) {                                                              \
            print_message("NEWSWIRE_PG_DSN unset: skipped\n");                            \
            skip();                                                                       \
        }                                                                                 \
    } while (0)

static void fp_fixture(const char *name, nw_fp_t *fp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/similarity/%s", NW_FIXTURES, name);
    char *s = slurp(path);
    assert_non_null(s);
    nw_fp_input_t in = {.body = s, .language = "en"};
    nw_err_t err;
    assert_true(nw_fp_compute(fpctx, NULL, &in, fp, &err));
    free(s);
}

/* A story and one version row, as the store would have written them. */
static void add_version(PGconn *c, const char *provider, const char *story_id, int64_t *story_pk,
                        int64_t *version_pk)
{
    const char *p[2] = {provider, story_id};
    PGresult *r = PQexecParams(c,
        "WITH s AS (INSERT INTO stories (provider, story_id) VALUES ($1, $2) RETURNING story_pk)"
        " INSERT INTO item_versions (story_pk, provider, story_id, version, version_order, format,"
        "   edit_status, pubstatus, is_news, ninjs, raw)"
        " SELECT story_pk, $1, $2, '1', 1, 'test', 'new', 'usable', true, '{}', '\\x00' FROM s"
        " RETURNING story_pk, version_pk", 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("add_version: %s", PQerrorMessage(c));
    *story_pk = atoll(PQgetvalue(r, 0, 0));
    *version_pk = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
}

static nw_sim_item_t sim_item(const nw_fp_t *fp, int64_t story_pk, int64_t version_pk, const char *provider,
                              const char *story_id, int64_t t)
{
    nw_sim_item_t it = {.fp = fp};
    it.meta = (nw_link_meta_t){.version_pk = version_pk, .story_pk = story_pk, .provider = provider,
                               .story_id = story_id, .versioncreated = t};
    return it;
}

static bool has_cand(const nw_sim_cands_t *c, size_t item, int64_t version_pk)
{
    for (size_t k = c->off[item]; k < c->off[item + 1]; k++)
        if (c->cand[k].meta.version_pk == version_pk)
            return true;
    return false;
}

static void test_insert_and_candidates(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t base, corr, unrel, old, upd, related;
    fp_fixture("base.txt", &base);
    fp_fixture("correction.txt", &corr);
    fp_fixture("unrelated.txt", &unrel);
    fp_fixture("base.txt", &old);
    fp_fixture("update.txt", &upd);
    fp_fixture("related.txt", &related);
    int64_t s[6], v[6];
    exec_ok(c, "BEGIN");
    add_version(c, "ap", "a-base", &s[0], &v[0]);
    add_version(c, "ap", "a-corr", &s[1], &v[1]);
    add_version(c, "ap", "a-unrel", &s[2], &v[2]);
    add_version(c, "ap", "a-old", &s[3], &v[3]);
    exec_ok(c, "UPDATE stories SET cluster_id = story_pk");
    nw_sim_item_t batch1[4] = {
        sim_item(&base, s[0], v[0], "ap", "a-base", T),
        sim_item(&corr, s[1], v[1], "ap", "a-corr", T + 60),
        sim_item(&unrel, s[2], v[2], "ap", "a-unrel", T + 120),
        sim_item(&old, s[3], v[3], "ap", "a-old", T - 5 * 86400), /* outside the 72 h window */
    };
    assert_true(nw_simindex_lock(c, batch1, 4, &err));
    assert_true(nw_simindex_insert(c, batch1, 4, &err));
    nw_sim_cands_t cands;
    assert_true(nw_simindex_candidates(c, NULL, batch1, 4, &cands, &err));
    /* items of one batch find each other; never themselves */
    assert_true(has_cand(&cands, 0, v[1]));
    assert_true(has_cand(&cands, 1, v[0]));
    assert_false(has_cand(&cands, 0, v[0]));
    assert_false(has_cand(&cands, 0, v[3]));
    nw_simindex_cands_free(&cands);
    /* redelivery: a second insert of the same versions changes nothing */
    assert_true(nw_simindex_insert(c, batch1, 4, &err));
    exec_ok(c, "COMMIT");
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM sim_fingerprints), (SELECT count(*) FROM sim_bands),"
                            " (SELECT count(*) FROM sim_bands_default)");
    assert_int_equal(atoi(PQgetvalue(r, 0, 0)), 4);
    assert_int_equal(atoi(PQgetvalue(r, 0, 1)), 4 * NW_FP_MAX_KEYS);
    PQclear(r);

    /* a later batch: an update and another agency's related story */
    exec_ok(c, "BEGIN");
    add_version(c, "ap", "a-upd", &s[4], &v[4]);
    add_version(c, "reuters", "r-rel", &s[5], &v[5]);
    nw_sim_item_t batch2[2] = {sim_item(&upd, s[4], v[4], "ap", "a-upd", T + 3600),
                               sim_item(&related, s[5], v[5], "reuters", "r-rel", T + 7200)};
    assert_true(nw_simindex_lock(c, batch2, 2, &err));
    assert_true(nw_simindex_insert(c, batch2, 2, &err));
    assert_true(nw_simindex_candidates(c, NULL, batch2, 2, &cands, &err));
    assert_true(has_cand(&cands, 0, v[0]));
    assert_false(has_cand(&cands, 0, v[3]));
    size_t k0 = cands.off[0];
    while (cands.cand[k0].meta.version_pk != v[0])
        k0++;
    assert_memory_equal(cands.cand[k0].fp->mh, base.mh, sizeof base.mh);
    assert_string_equal(cands.cand[k0].meta.story_id, "a-base");
    assert_int_equal(cands.cand[k0].meta.cluster_id, s[0]);
    assert_int_equal(cands.cand[k0].meta.versioncreated, T);
    assert_true(cands.via_band[k0]);
    /* ranking: update of the base story first; cluster joins the base's */
    nw_link_t links[16];
    size_t nl = nw_link_rank(NULL, &upd, &batch2[0].meta, cands.cand + cands.off[0],
                             cands.off[1] - cands.off[0], links, 16);
    assert_true(nl >= 1);
    assert_int_equal(links[0].r.rel, NW_REL_UPDATE);
    assert_int_equal(cands.cand[cands.off[0] + links[0].cand].meta.version_pk, v[0]);
    assert_int_equal(nw_link_cluster_id(NULL, &batch2[0].meta, cands.cand + cands.off[0], links, nl), s[0]);
    /* the related story is found through its terms */
    assert_true(has_cand(&cands, 1, v[0]));
    nw_simindex_cands_free(&cands);
    exec_ok(c, "COMMIT");

    /* maintenance and IDF */
    assert_true(nw_simindex_maintain(c, &err));
    long long pruned = 0;
    assert_true(nw_simindex_prune_step(c, 30, 1000000, &pruned, NULL, &err));
    assert_true(nw_simindex_refresh_idf(c, 10 * 365 * 86400, &err));
    nw_simidf_t *idf = nw_simidf_load(c, &err);
    assert_non_null(idf);
    nw_fp_cfg_t cfg;
    nw_fp_cfg_default(&cfg);
    nw_simidf_apply(idf, &cfg);
    nw_fp_t again;
    nw_fp_input_t in = {.body = "The harbour plan of Northbridge was approved.", .language = "en"};
    assert_true(nw_fp_compute(fpctx, &cfg, &in, &again, &err));
    nw_simidf_free(idf);
    PQfinish(c);
}

/* ---- two replicas at the same moment ----------------------------------- */

typedef struct replica {
    const nw_fp_t *fp;
    const char *story_id;
    bool use_lock;
    pthread_barrier_t *start, *inserted, *looked;
    int64_t story_pk, version_pk, other_version_pk;
    bool saw_other;
} replica_t;

static void *replica_run(void *arg)
{
    replica_t *r = arg;
    PGconn *c = connect_db();
    nw_err_t err;
    exec_ok(c, "BEGIN");
    nw_sim_item_t it = sim_item(r->fp, r->story_pk, r->version_pk, "afp", r->story_id, T + 100);
    pthread_barrier_wait(r->start);
    if (r->use_lock)
        assert_true(nw_simindex_lock(c, &it, 1, &err));
    assert_true(nw_simindex_insert(c, &it, 1, &err));
    if (!r->use_lock)
        pthread_barrier_wait(r->inserted); /* both inserted, neither committed */
    usleep(200 * 1000);                    /* widen the race window */
    nw_sim_cands_t cands;
    assert_true(nw_simindex_candidates(c, NULL, &it, 1, &cands, &err));
    r->saw_other = has_cand(&cands, 0, r->other_version_pk);
    nw_simindex_cands_free(&cands);
    if (!r->use_lock)
        pthread_barrier_wait(r->looked);
    exec_ok(c, "COMMIT");
    PQfinish(c);
    return NULL;
}

static void race(bool use_lock, const char *suffix, bool *saw_a, bool *saw_b)
{
    PGconn *c = connect_db();
    nw_fp_t a, b;
    fp_fixture("base.txt", &a);
    fp_fixture("resend_reflowed.txt", &b);
    b.content_hash[0] ^= 1; /* same text, but not an exact re-send: only the bands can tell */
    replica_t ra = {.fp = &a, .use_lock = use_lock}, rb = {.fp = &b, .use_lock = use_lock};
    char ida[32], idb[32];
    snprintf(ida, sizeof ida, "race-a-%s", suffix);
    snprintf(idb, sizeof idb, "race-b-%s", suffix);
    ra.story_id = ida;
    rb.story_id = idb;
    add_version(c, "afp", ida, &ra.story_pk, &ra.version_pk);
    add_version(c, "afp", idb, &rb.story_pk, &rb.version_pk);
    ra.other_version_pk = rb.version_pk;
    rb.other_version_pk = ra.version_pk;
    pthread_barrier_t start, inserted, looked;
    pthread_barrier_init(&start, NULL, 2);
    pthread_barrier_init(&inserted, NULL, 2);
    pthread_barrier_init(&looked, NULL, 2);
    ra.start = rb.start = &start;
    ra.inserted = rb.inserted = &inserted;
    ra.looked = rb.looked = &looked;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, replica_run, &ra);
    pthread_create(&tb, NULL, replica_run, &rb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&inserted);
    pthread_barrier_destroy(&looked);
    *saw_a = ra.saw_other;
    *saw_b = rb.saw_other;
    PQfinish(c);
}

/* With the band locks the second transaction waits for the first and sees
 * its rows: at least one of the two links the pair. Without them (control)
 * both look while the other is uncommitted and both miss. */
static void test_concurrent_replicas(void **state)
{
    (void)state;
    NEED_PG();
    bool a, b;
    race(false, "nolock", &a, &b);
    assert_false(a);
    assert_false(b);
    for (int round = 0; round < 3; round++) {
        char sfx[16];
        snprintf(sfx, sizeof sfx, "lock%d", round);
        race(true, sfx, &a, &b);
        assert_true(a || b);
        assert_false(a && b); /* the first to lock cannot see the later one */
    }
}

/* The one-call form: links oriented newer -> older, a pair inside the batch
 * once, cluster ids shared. */
static void test_process(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t base, upd, trunc;
    fp_fixture("base.txt", &base);
    fp_fixture("update.txt", &upd);
    fp_fixture("truncated.txt", &trunc);
    int64_t s[3], v[3];
    exec_ok(c, "BEGIN");
    add_version(c, "dpa", "p-base", &s[0], &v[0]);
    add_version(c, "dpa", "p-upd", &s[1], &v[1]);
    add_version(c, "dpa", "p-trunc", &s[2], &v[2]);
    /* the update comes first in the batch but is the newest; 40 days after
     * the other tests' items, so their windows do not meet */
    const int64_t t = T + 40 * 86400;
    nw_sim_item_t batch[3] = {sim_item(&upd, s[1], v[1], "dpa", "p-upd", t + 7200),
                              sim_item(&base, s[0], v[0], "dpa", "p-base", t),
                              sim_item(&trunc, s[2], v[2], "dpa", "p-trunc", t + 3600)};
    nw_sim_result_t res;
    assert_true(nw_simindex_process(c, NULL, NULL, batch, 3, &res, &err));
    int upd_of_base = 0, dup_of_base = 0, total = 0;
    for (size_t k = 0; k < res.n_links; k++) {
        const nw_sim_link_t *l = &res.links[k];
        total++;
        if (l->from_version_pk == v[1] && l->to_version_pk == v[0] && l->rel == NW_REL_UPDATE)
            upd_of_base++;
        if (l->from_version_pk == v[2] && l->to_version_pk == v[0] && l->rel == NW_REL_DUPLICATE)
            dup_of_base++;
        assert_true(l->from_version_pk != l->to_version_pk);
    }
    assert_int_equal(upd_of_base, 1);
    assert_int_equal(dup_of_base, 1);
    assert_int_equal(total, 3); /* upd->base, trunc->base, upd->trunc: each once */
    assert_int_equal(res.cluster_id[0], s[0]);
    assert_int_equal(res.cluster_id[1], s[0]);
    assert_int_equal(res.cluster_id[2], s[0]);
    assert_int_equal(res.off[3], res.n_links);
    nw_sim_result_free(&res);
    exec_ok(c, "ROLLBACK");
    PQfinish(c);
}

/* Every row of the three index tables for the given versions, as text in
 * one string (sorted): what a reader of the index sees. */
static char *index_rows(PGconn *c, int64_t v0, int64_t v1)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(r, E'\\n' ORDER BY r) FROM ("
             " SELECT format('f %%s %%s %%s %%s %%s %%s %%s %%s %%s %%s', version_pk, story_pk,"
             "   provider, story_id, versioncreated, headline, content_hash, simhash, n_shingles,"
             "   md5(fp)) FROM sim_fingerprints WHERE version_pk BETWEEN %lld AND %lld"
             " UNION ALL SELECT format('b %%s %%s %%s %%s', tableoid::regclass, bucket,"
             "   version_pk, ts) FROM sim_bands WHERE version_pk BETWEEN %lld AND %lld"
             " UNION ALL SELECT format('t %%s %%s %%s %%s %%s', tableoid::regclass, term_hash,"
             "   version_pk, w, ts) FROM sim_terms WHERE version_pk BETWEEN %lld AND %lld) x(r)",
             (long long)v0, (long long)v1, (long long)v0, (long long)v1, (long long)v0,
             (long long)v1);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("index_rows: %s", PQerrorMessage(c));
    char *out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

/* The store's COPY path writes exactly the rows of the INSERT path (same
 * values, same partitions); a version written twice is a unique violation
 * rather than a silent skip. */
static void test_copy_same_rows(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t base, upd;
    fp_fixture("base.txt", &base);
    fp_fixture("update.txt", &upd);
    int64_t s[2], v[2];
    exec_ok(c, "BEGIN"); /* rolled back at the end, the partitions too */
    exec_ok(c, "SELECT sim_ensure_partitions(to_timestamp(1790000000) - interval '1 week',"
               " to_timestamp(1790000000) + interval '1 week')");
    add_version(c, "ap", "copy-a", &s[0], &v[0]);
    add_version(c, "afp", "copy-b", &s[1], &v[1]);
    nw_sim_item_t items[2] = {sim_item(&base, s[0], v[0], "ap", "copy-a", T),
                              sim_item(&upd, s[1], v[1], "afp", "copy-b", T + 3600)};
    items[0].meta.headline = "A headline, with \"quotes\"";
    assert_true(nw_simindex_insert(c, items, 2, &err));
    char *via_insert = index_rows(c, v[0], v[1]);
    exec_ok(c, "DELETE FROM sim_bands WHERE version_pk IN (SELECT version_pk FROM item_versions"
               " WHERE story_id LIKE 'copy-%')");
    exec_ok(c, "DELETE FROM sim_terms WHERE version_pk IN (SELECT version_pk FROM item_versions"
               " WHERE story_id LIKE 'copy-%')");
    exec_ok(c, "DELETE FROM sim_fingerprints WHERE story_id LIKE 'copy-%'");
    char *none = index_rows(c, v[0], v[1]);
    assert_string_equal(none, "");
    assert_true(nw_simindex_copy(c, items, 2, &err));
    char *via_copy = index_rows(c, v[0], v[1]);
    assert_true(strlen(via_copy) > 1000); /* 2 fingerprints, 92 band rows, the terms */
    assert_string_equal(via_copy, via_insert);
    assert_non_null(strstr(via_copy, "sim_bands_2026w")); /* a weekly partition */
    assert_null(strstr(via_copy, "sim_bands_default"));
    /* the items found by the candidate lookup, through the copied rows */
    nw_sim_cands_t cands;
    assert_true(nw_simindex_candidates(c, NULL, items, 2, &cands, &err));
    assert_true(has_cand(&cands, 1, v[0]));
    nw_simindex_cands_free(&cands);
    exec_ok(c, "SAVEPOINT again");
    assert_false(nw_simindex_copy(c, items, 1, &err));
    assert_string_equal(err.code, "23505");
    exec_ok(c, "ROLLBACK");
    free(via_insert);
    free(none);
    free(via_copy);
    PQfinish(c);
}

/* The eight text fixtures' fingerprints: versions of one story, related,
 * unrelated and brief items. */
enum { NF = 8 };
static void all_fixtures(nw_fp_t fps[NF])
{
    static const char *const names[NF] = {"base.txt",    "correction.txt", "update.txt",
                                          "related.txt", "unrelated.txt",  "truncated.txt",
                                          "brief_a.txt", "brief_b.txt"};
    for (int i = 0; i < NF; i++)
        fp_fixture(names[i], &fps[i]);
}

/* Item i's candidates as text: "pk score band" per candidate. */
static void cands_text(const nw_sim_cands_t *c, size_t i, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = c->off[i]; k < c->off[i + 1] && len + 64 < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%lld %.9g %d;",
                                (long long)c->cand[k].meta.version_pk, (double)c->term_score[k],
                                (int)c->via_band[k]);
}

/* The term postings are read once per distinct term of the batch and
 * filtered by each item's window: the candidates must be exactly those of a
 * read per item and term, also when newer postings fill a read before an
 * item's window ends (those items are read again on their own). */
static void test_term_reads_grouped(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    enum { NS = 40, NB = 9 };
    nw_fp_t fps[NF];
    all_fixtures(fps);
    exec_ok(c, "BEGIN"); /* rolled back at the end */
    int64_t s[NS], v[NS];
    char id[32];
    nw_sim_item_t stored[NS];
    for (int i = 0; i < NS; i++) { /* every 10 hours from 8 days before T */
        snprintf(id, sizeof id, "grp-%d", i);
        add_version(c, "ap", id, &s[i], &v[i]);
        stored[i] = sim_item(&fps[i % NF], s[i], v[i], "ap", strdup(id), T - 8 * 86400 + i * 36000);
    }
    assert_true(nw_simindex_insert(c, stored, NS, &err));
    nw_sim_item_t batch[NB];
    static const int64_t dt[NB] = {-7 * 86400, -5 * 86400, -3 * 86400, -86400,   0,
                                   60,         3600,       2 * 86400,  9 * 86400};
    for (int i = 0; i < NB; i++)
        batch[i] = sim_item(&fps[(i * 3) % NF], 0, 900000000 + i, "afp", "grp-batch", T + dt[i]);
    for (int cap = 3; cap <= 32; cap += 29) {
        nw_simindex_cfg_t each, grouped;
        nw_simindex_cfg_default(&each);
        each.term_postings_cap = cap;
        grouped = each;
        each.term_probe_each = true;
        nw_sim_cands_t a, b;
        assert_true(nw_simindex_candidates(c, &each, batch, NB, &a, &err));
        assert_true(nw_simindex_candidates(c, &grouped, batch, NB, &b, &err));
        size_t total = 0;
        for (size_t i = 0; i < NB; i++) {
            char ta[8192], tb[8192];
            cands_text(&a, i, ta, sizeof ta);
            cands_text(&b, i, tb, sizeof tb);
            assert_string_equal(ta, tb);
            total += a.off[i + 1] - a.off[i];
        }
        assert_true(total > 20); /* the comparison compared something */
        if (cap == 3)            /* reads filled by postings newer than some items' windows */
            assert_true(b.term_rereads > 0);
        else /* the batch's 9 items share terms: fewer reads */
            assert_true(b.term_reads < a.term_reads);
        nw_simindex_cands_free(&a);
        nw_simindex_cands_free(&b);
    }
    exec_ok(c, "ROLLBACK");
    for (int i = 0; i < NS; i++)
        free((char *)stored[i].meta.story_id);
    PQfinish(c);
}

/* nw_simindex_copy_candidates reads the band keys before it writes the
 * batch's rows and matches the bands the batch's items share in memory: the
 * same rows and the same candidates as nw_simindex_copy() then
 * nw_simindex_candidates(), also for an item whose twin in the batch is
 * outside its window. */
static void test_copy_candidates_same(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    enum { NS = 16, NB = 10 };
    nw_fp_t fps[NF];
    all_fixtures(fps);
    exec_ok(c, "BEGIN"); /* rolled back at the end */
    int64_t s[NS + NB], v[NS + NB];
    char id[32];
    nw_sim_item_t stored[NS], batch[NB];
    for (int i = 0; i < NS; i++) { /* every 10 hours from 5 days before T */
        snprintf(id, sizeof id, "cc-%d", i);
        add_version(c, "ap", id, &s[i], &v[i]);
        stored[i] = sim_item(&fps[i % NF], s[i], v[i], "ap", strdup(id), T - 5 * 86400 + i * 36000);
    }
    assert_true(nw_simindex_insert(c, stored, NS, &err));
    for (int i = 0; i < NB; i++) { /* items i and i + 8 are twins; 9 is 4 days after 1 */
        snprintf(id, sizeof id, "cc-batch-%d", i);
        add_version(c, "afp", id, &s[NS + i], &v[NS + i]);
        int64_t t = i == NB - 1 ? T + 4 * 86400 : T + i * 600;
        batch[i] = sim_item(&fps[i % NF], s[NS + i], v[NS + i], "afp", strdup(id), t);
    }
    int64_t v0 = v[NS], v1 = v[NS + NB - 1];
    nw_sim_cands_t a, b;
    exec_ok(c, "SAVEPOINT plain");
    assert_true(nw_simindex_copy(c, batch, NB, &err));
    assert_true(nw_simindex_candidates(c, NULL, batch, NB, &a, &err));
    char *rows_a = index_rows(c, v0, v1);
    exec_ok(c, "ROLLBACK TO SAVEPOINT plain");
    char *none = index_rows(c, v0, v1);
    assert_string_equal(none, "");
    assert_true(nw_simindex_copy_candidates(c, NULL, batch, NB, &b, &err));
    char *rows_b = index_rows(c, v0, v1);
    assert_true(strlen(rows_a) > 1000);
    assert_string_equal(rows_b, rows_a);
    size_t in_batch = 0;
    for (size_t i = 0; i < NB; i++) {
        char ta[8192], tb[8192];
        cands_text(&a, i, ta, sizeof ta);
        cands_text(&b, i, tb, sizeof tb);
        assert_string_equal(tb, ta);
        for (size_t k = a.off[i]; k < a.off[i + 1]; k++)
            in_batch +=
                a.via_band[k] && a.cand[k].meta.version_pk >= v0 && a.cand[k].meta.version_pk <= v1;
    }
    assert_true(in_batch >= 4);               /* twins and near twins found each other */
    assert_true(has_cand(&a, 0, v[NS + 8]));  /* the twin in the window */
    assert_false(has_cand(&a, 9, v[NS + 1])); /* the twin outside it */
    assert_true(b.n > 20);
    nw_simindex_cands_free(&a);
    nw_simindex_cands_free(&b);
    exec_ok(c, "ROLLBACK");
    for (int i = 0; i < NS; i++)
        free((char *)stored[i].meta.story_id);
    for (int i = 0; i < NB; i++)
        free((char *)batch[i].meta.story_id);
    free(rows_a);
    free(rows_b);
    free(none);
    PQfinish(c);
}

/* Item i's candidates' metadata as text. */
static void cands_meta_text(const nw_sim_cands_t *c, size_t i, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = c->off[i]; k < c->off[i + 1] && len + 256 < cap; k++) {
        const nw_link_meta_t *m = &c->cand[k].meta;
        len += (size_t)snprintf(
            buf + len, cap - len, "%lld %lld %s %s %lld %s %lld %d;", (long long)m->version_pk,
            (long long)m->story_pk, m->provider, m->story_id, (long long)m->versioncreated,
            m->headline ? m->headline : "(null)", (long long)m->cluster_id, c->cand[k].fp->n_terms);
    }
}

/* The store reads a batch's candidates on a second connection while the
 * batch transaction COPYs its rows: that read sees none of them, and must
 * still return exactly the candidates of nw_simindex_copy_candidates() (the
 * batch's own band and term matches found in memory, its own postings
 * merged into each term's capped newest ones, its own versions described
 * from the items), with a cap that forces the merge to drop postings. */
static void test_read_candidates_same(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db(), *reader = connect_db();
    nw_err_t err;
    enum { NS = 24, NB = 10 };
    nw_fp_t fps[NF];
    all_fixtures(fps);
    int64_t s[NS + NB], v[NS + NB];
    char id[32];
    nw_sim_item_t stored[NS], batch[NB];
    /* the earlier tests' rows (the same fixtures, near T) would fill the
     * capped term reads instead of the batch's own postings counted below */
    exec_ok(c, "TRUNCATE sim_fingerprints, sim_bands, sim_terms");
    exec_ok(c, "BEGIN");           /* committed: the reader must see them */
    for (int i = 0; i < NS; i++) { /* every 10 hours from 5 days before T */
        snprintf(id, sizeof id, "rc-%d", i);
        add_version(c, "ap", id, &s[i], &v[i]);
        stored[i] = sim_item(&fps[i % NF], s[i], v[i], "ap", strdup(id), T - 5 * 86400 + i * 36000);
    }
    exec_ok(c, "UPDATE stories SET cluster_id = story_pk + 7 WHERE story_id LIKE 'rc-%'");
    assert_true(nw_simindex_insert(c, stored, NS, &err));
    exec_ok(c, "COMMIT");
    exec_ok(c, "BEGIN");           /* the batch: rolled back at the end */
    for (int i = 0; i < NB; i++) { /* items i and i + 8 are twins; 9 is 4 days after 1 */
        snprintf(id, sizeof id, "rc-batch-%d", i);
        add_version(c, "afp", id, &s[NS + i], &v[NS + i]);
        int64_t t = i == NB - 1 ? T + 4 * 86400 : T + i * 600;
        batch[i] = sim_item(&fps[i % NF], s[NS + i], v[NS + i], "afp", strdup(id), t);
        batch[i].meta.headline = i % 3 ? "A batch headline" : NULL;
        batch[i].meta.cluster_id = i < 5 ? s[NS + i] : 0; /* what its story row holds */
    }
    exec_ok(c, "UPDATE stories SET cluster_id = story_pk WHERE story_id IN ('rc-batch-0',"
               " 'rc-batch-1', 'rc-batch-2', 'rc-batch-3', 'rc-batch-4')");
    int64_t v0 = v[NS], v1 = v[NS + NB - 1];
    for (int cap = 3; cap <= 32; cap += 29) {
        nw_simindex_cfg_t cfg;
        nw_simindex_cfg_default(&cfg);
        cfg.term_postings_cap = cap;
        nw_sim_cands_t a, b;
        exec_ok(c, "SAVEPOINT one");
        assert_true(nw_simindex_copy_candidates(c, &cfg, batch, NB, &a, &err));
        char *rows_a = index_rows(c, v0, v1);
        exec_ok(c, "ROLLBACK TO SAVEPOINT one");
        nw_sim_batch_t sb;
        assert_true(nw_sim_batch_init(&sb, batch, NB, (double)time(NULL), &err));
        assert_true(
            nw_simindex_copy_batch(c, &sb, &err)); /* uncommitted: the reader cannot see it */
        assert_true(nw_simindex_read_candidates(reader, &cfg, &sb, &b, &err));
        char *rows_b = index_rows(c, v0, v1);
        assert_true(strlen(rows_a) > 1000);
        assert_string_equal(rows_b, rows_a);
        exec_ok(c, "ROLLBACK TO SAVEPOINT one");
        size_t own_band = 0, own_term = 0;
        for (size_t i = 0; i < NB; i++) {
            char ta[8192], tb[8192];
            cands_text(&a, i, ta, sizeof ta);
            cands_text(&b, i, tb, sizeof tb);
            assert_string_equal(tb, ta);
            cands_meta_text(&a, i, ta, sizeof ta);
            cands_meta_text(&b, i, tb, sizeof tb);
            assert_string_equal(tb, ta);
            for (size_t k = a.off[i]; k < a.off[i + 1]; k++) {
                bool own = a.cand[k].meta.version_pk >= v0 && a.cand[k].meta.version_pk <= v1;
                own_band += own && a.via_band[k];
                own_term += own && a.term_score[k] > 0;
            }
        }
        assert_true(own_band >= 4); /* twins found each other by their bands */
        assert_true(own_term >= 4); /* and the batch's items by their terms */
        assert_true(b.n > 20);
        assert_int_equal(b.term_reads, a.term_reads);
        assert_int_equal(b.term_rereads, a.term_rereads);
        if (cap == 3)
            assert_true(a.term_rereads > 0);
        nw_simindex_cands_free(&a);
        nw_simindex_cands_free(&b);
        nw_sim_batch_free(&sb);
        free(rows_a);
        free(rows_b);
    }
    exec_ok(c, "ROLLBACK");
    for (int i = 0; i < NS; i++)
        free((char *)stored[i].meta.story_id);
    for (int i = 0; i < NB; i++)
        free((char *)batch[i].meta.story_id);
    PQfinish(reader);
    PQfinish(c);
}

static void test_errors(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t fp;
    fp_fixture("base.txt", &fp);
    nw_sim_item_t it = sim_item(&fp, 1, 987654321, "ap", "missing", T);
    exec_ok(c, "BEGIN");
    /* a version_pk with no item_versions row violates the foreign key: one bad row */
    assert_false(nw_simindex_insert(c, &it, 1, &err));
    assert_int_equal(err.cls, NW_ERR_ROW);
    assert_string_equal(err.code, "23503");
    exec_ok(c, "ROLLBACK");
    PQfinish(c);
}

static long long count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

/* The pruning deletes what is past the retention in bounded steps: the
 * expired weeks' partitions at the first, then at most max_rows rows of the
 * fingerprints and of each DEFAULT partition a step, until a step deletes
 * fewer; what is within the retention stays. */
static void test_prune_in_steps(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t fp[3];
    fp_fixture("base.txt", &fp[0]);
    fp_fixture("related.txt", &fp[1]);
    fp_fixture("unrelated.txt", &fp[2]);
    int64_t now = (int64_t)time(NULL);
    /* 0-2: a week with its own partition, 60 days old; 3-4: 90 days old, in
     * the DEFAULT partitions (no partition for that week); 5-6: yesterday */
    static const int age_days[7] = {60, 60, 60, 90, 90, 1, 1};
    int64_t s[7], v[7];
    nw_sim_item_t items[7];
    char ids[7][24];
    exec_ok(c, "BEGIN");
    for (int i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof ids[i], "prune-%d", i);
        add_version(c, "afp", ids[i], &s[i], &v[i]);
        items[i] = sim_item(&fp[i % 3], s[i], v[i], "afp", ids[i], now - age_days[i] * 86400);
    }
    char sql[256];
    snprintf(
        sql, sizeof sql,
        "SELECT sim_ensure_partitions(to_timestamp(%lld), to_timestamp(%lld) + interval '1 day')",
        (long long)items[0].meta.versioncreated, (long long)items[0].meta.versioncreated);
    exec_ok(c, sql);
    assert_true(nw_simindex_maintain(c, &err)); /* this week's partitions */
    assert_true(nw_simindex_lock(c, items, 7, &err));
    assert_true(nw_simindex_insert(c, items, 7, &err));
    exec_ok(c, "COMMIT");
    char old_part[128];
    time_t old_t = (time_t)items[0].meta.versioncreated;
    struct tm tm;
    gmtime_r(&old_t, &tm);
    char week[16];
    strftime(week, sizeof week, "%GW%V", &tm);
    week[4] = 'w';
    snprintf(old_part, sizeof old_part, "SELECT (to_regclass('sim_bands_%s') IS NOT NULL)::int",
             week);
    assert_int_equal(count(c, old_part), 1);
    long long in_default = count(c, "SELECT count(*) FROM sim_bands_default");
    assert_true(in_default >= 2 * NW_FP_MAX_KEYS - 4); /* items 3-4's band keys */

    const int max_rows = 40;
    long long deleted = 0, total = 0;
    int steps = 0, left = 0;

    /* Another transaction holds sim_bands (a replica's batch, its COPY): the
     * step does not wait for the lock a drop needs (a wait would queue every
     * later reader of sim_bands behind it, that batch's own read included)
     * and leaves the expired partitions; they go once it is free. */
    PGconn *busy = connect_db();
    exec_ok(busy, "BEGIN");
    exec_ok(busy, "LOCK TABLE sim_bands IN ROW EXCLUSIVE MODE");
    exec_ok(c, "SET statement_timeout = '5s'"); /* a wait for the lock fails the step */
    assert_true(nw_simindex_prune_step(c, 30, max_rows, &deleted, &left, &err));
    assert_int_equal(left, 2); /* the old week of sim_bands and of sim_terms */
    assert_int_equal(count(c, old_part), 1);
    total += deleted;
    steps++;
    exec_ok(busy, "ROLLBACK");
    PQfinish(busy);
    exec_ok(c, "SET statement_timeout = 0");
    do {
        assert_true(nw_simindex_prune_step(c, 30, max_rows, &deleted, &left, &err));
        assert_true(deleted <= 3 * max_rows);
        assert_int_equal(left, 0);
        if (steps++ == 1)
            assert_int_equal(count(c, old_part), 0); /* the expired week: dropped at once */
        total += deleted;
        assert_true(steps < 100);
    } while (deleted >= max_rows);
    assert_true(steps >= 4); /* ~96 band rows in DEFAULT at 40 a step, after the busy one */
    assert_true(total >= in_default + 5);
    assert_int_equal(count(c, "SELECT count(*) FROM sim_fingerprints"
                              " WHERE versioncreated < now() - interval '30 days'"),
                     0);
    assert_int_equal(
        count(c, "SELECT count(*) FROM sim_bands WHERE ts < now() - interval '30 days'"), 0);
    assert_int_equal(
        count(c, "SELECT count(*) FROM sim_terms WHERE ts < now() - interval '30 days'"), 0);
    /* yesterday's two versions keep their rows */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sim_fingerprints WHERE version_pk IN (%lld, %lld)",
             (long long)v[5], (long long)v[6]);
    assert_int_equal(count(c, sql), 2);
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT version_pk) FROM sim_terms WHERE version_pk IN (%lld, %lld)",
             (long long)v[5], (long long)v[6]);
    assert_int_equal(count(c, sql), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sim_bands WHERE version_pk IN (%lld, %lld)",
             (long long)v[5], (long long)v[6]);
    assert_true(count(c, sql) >= 2 * NW_FP_MAX_KEYS - 4);
    /* nothing left: the next step deletes nothing */
    assert_true(nw_simindex_prune_step(c, 30, max_rows, &deleted, &left, &err));
    assert_int_equal(deleted, 0);
    PQfinish(c);
}

/* Which of the n versions still have their fingerprint and band rows: bit i
 * for v[i]. */
static unsigned indexed(PGconn *c, const int64_t *v, int n)
{
    unsigned bits = 0;
    char sql[256];
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT (SELECT count(*) FROM sim_fingerprints WHERE version_pk = %lld)"
                 "     * (SELECT count(*) FROM sim_bands WHERE version_pk = %lld)",
                 (long long)v[i], (long long)v[i]);
        if (count(c, sql) > 0)
            bits |= 1u << i;
    }
    return bits;
}

static void prune_all(PGconn *c)
{
    nw_err_t err;
    long long deleted = 0;
    int left = 0, steps = 0;
    do {
        assert_true(nw_simindex_prune_step(c, 30, 1000, &deleted, &left, &err));
        assert_true(++steps < 100);
    } while (deleted >= 1000 || left > 0);
}

/* The retention runs back from the newest indexed item, not from now(): an
 * archive backfilled into a new deployment keeps the days its next items
 * link to, however old, when a replica starts (and prunes) in the middle of
 * it. An item dated in the future does not move that point. Beside live
 * traffic, the newest item is today's: the backfill's mark (the oldest item
 * stored today or yesterday) keeps the retention before it, until the mark
 * is two days old. */
static void test_prune_keeps_an_archive_backfill(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    nw_err_t err;
    nw_fp_t fp;
    fp_fixture("base.txt", &fp);
    exec_ok(c, "TRUNCATE sim_fingerprints, sim_bands, sim_terms, sim_backfill_marks");
    int64_t now = (int64_t)time(NULL);
    /* 0-2: the archive so far, its newest 200 days old; 3: a wrong clock, ten
     * years ahead; 4: live traffic, added later */
    static const int64_t age_days[5] = {260, 225, 200, -3650, 0};
    int64_t s[5], v[5];
    nw_sim_item_t items[5];
    char ids[5][24];
    exec_ok(c, "BEGIN");
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "backfill-%d", i);
        add_version(c, "reuters", ids[i], &s[i], &v[i]);
        items[i] = sim_item(&fp, s[i], v[i], "reuters", ids[i], now - age_days[i] * 86400 - 60);
    }
    assert_true(nw_simindex_lock(c, items, 4, &err));
    assert_true(nw_simindex_insert(c, items, 4, &err));
    exec_ok(c, "COMMIT");
    assert_int_equal(indexed(c, v, 5), 0xf);

    /* more than 30 days before the archive's newest: only the 260-day one */
    prune_all(c);
    assert_int_equal(indexed(c, v, 5), 0xe);

    /* live traffic beside the backfill, which noted its oldest item today
     * (only an older one moves the mark) */
    assert_true(nw_simindex_note_backfill(c, items[1].meta.versioncreated, &err));
    assert_true(nw_simindex_note_backfill(c, items[2].meta.versioncreated, &err));
    assert_int_equal(count(c, "SELECT count(*) FROM sim_backfill_marks"), 1);
    exec_ok(c, "BEGIN");
    assert_true(nw_simindex_lock(c, items + 4, 1, &err));
    assert_true(nw_simindex_insert(c, items + 4, 1, &err));
    exec_ok(c, "COMMIT");
    prune_all(c);
    assert_int_equal(indexed(c, v, 5), 0x1e);

    /* the same mark yesterday still holds; two days old it does not, and the
     * archive is past the retention of the live items */
    exec_ok(c, "UPDATE sim_backfill_marks SET day = day - 1");
    prune_all(c);
    assert_int_equal(indexed(c, v, 5), 0x1e);
    exec_ok(c, "UPDATE sim_backfill_marks SET day = day - 1");
    prune_all(c);
    assert_int_equal(indexed(c, v, 5), 0x18);

    /* the daily maintenance deletes the marks of past weeks */
    exec_ok(c, "UPDATE sim_backfill_marks SET day = day - 6");
    assert_true(nw_simindex_maintain(c, &err));
    assert_int_equal(count(c, "SELECT count(*) FROM sim_backfill_marks"), 0);
    PQfinish(c);
}

/* A new week is attached with an ACCESS EXCLUSIVE lock on the DEFAULT
 * partition; while another transaction holds it (a replica's batch with rows
 * of a week that has no partition yet), the week is left for a later call
 * instead of waited for (migration 0009), and made once it is free. */
static void test_partitions_never_wait(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *c = connect_db();
    static const char week[] = "to_timestamp(1790000000) + interval '20 weeks'";
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT made * 10 + partitions_left"
             "  FROM sim_ensure_partitions_some(%s, %s + interval '1 day')",
             week, week);
    PGconn *busy = connect_db();
    exec_ok(busy, "BEGIN");
    exec_ok(busy, "LOCK TABLE sim_bands_default IN ROW EXCLUSIVE MODE");
    exec_ok(c, "SET statement_timeout = '5s'"); /* a wait for the lock fails the call */
    assert_int_equal(count(c, sql), 11);        /* sim_terms' week made, sim_bands' left */
    exec_ok(busy, "ROLLBACK");
    PQfinish(busy);
    assert_int_equal(count(c, sql), 10); /* sim_bands' now (sim_terms' is there) */
    assert_int_equal(count(c, sql), 0);
    exec_ok(c, "SET statement_timeout = 0");
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_and_candidates),
        cmocka_unit_test(test_concurrent_replicas),
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_copy_same_rows),
        cmocka_unit_test(test_term_reads_grouped),
        cmocka_unit_test(test_copy_candidates_same),
        cmocka_unit_test(test_read_candidates_same),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_prune_in_steps),
        cmocka_unit_test(test_prune_keeps_an_archive_backfill),
        cmocka_unit_test(test_partitions_never_wait),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
