/*
 * Cost of the similarity step per item (fingerprint + advisory locks +
 * insert + candidate lookup + ranking) against a real PostgreSQL, with 10k
 * and then 1M items stored. Stored items are synthetic: runs of 8-15 words
 * cut from the Reuters-21578 text and strung together, so shingles, band keys
 * and terms have real-text statistics without repeating items. They are
 * spread at 20k items a day ending now (10k = the last 12 hours; 1M = 50
 * days), loaded with COPY into two schemas; the same fresh batches are run
 * alternately against both (so both see the same background load) inside
 * transactions that are rolled back, so every measurement sees the same
 * index. See README.md for the warm/cold question.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "simindex.h"

#define PER_DAY 20000.0

typedef struct words {
    char **w;
    size_t n;
} words_t;

typedef struct df_map {
    uint64_t *k;
    float *idf;
    size_t cap;
} df_map_t;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die_pg(PGconn *c, PGresult *r, const char *what)
{
    fprintf(stderr, "simbench cost: %s: %s\n", what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    exit(1);
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die_pg(c, r, sql);
    PQclear(r);
}

static float idf_of(void *ud, uint64_t h)
{
    const df_map_t *m = ud;
    size_t j = (h >> 7) & (m->cap - 1);
    while (m->k[j]) {
        if (m->k[j] == h)
            return m->idf[j];
        j = (j + 1) & (m->cap - 1);
    }
    return 0.0f;
}

/* A synthetic item: runs of 8-15 consecutive corpus words from random places. */
static char *synth_text(const words_t *w, uint64_t *rng, size_t n_words)
{
    size_t cap = n_words * 12 + 64, len = 0;
    char *s = malloc(cap);
    size_t done = 0;
    while (done < n_words) {
        size_t run = 8 + bench_rand(rng) % 8, at = bench_rand(rng) % (w->n - run);
        for (size_t i = 0; i < run && done < n_words; i++, done++) {
            size_t l = strlen(w->w[at + i]);
            if (len + l + 2 >= cap) {
                cap *= 2;
                s = realloc(s, cap);
            }
            memcpy(s + len, w->w[at + i], l);
            len += l;
            s[len++] = (done + 1) % 40 ? ' ' : '\n';
        }
    }
    s[len] = '\0';
    return s;
}

static void ts_text(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S+00", &tm);
}

typedef struct copy {
    PGconn *c;
    char *buf;
    size_t len, cap;
} copy_t;

static void copy_start(copy_t *cp, PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die_pg(c, r, sql);
    PQclear(r);
    cp->c = c;
    cp->len = 0;
    if (!cp->buf) {
        cp->cap = 1 << 20;
        cp->buf = malloc(cp->cap);
    }
}

static void copy_flush(copy_t *cp)
{
    if (cp->len && PQputCopyData(cp->c, cp->buf, (int)cp->len) != 1)
        die_pg(cp->c, NULL, "copy data");
    cp->len = 0;
}

static void copy_printf(copy_t *cp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void copy_printf(copy_t *cp, const char *fmt, ...)
{
    if (cp->cap - cp->len < 8192)
        copy_flush(cp);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cp->buf + cp->len, cp->cap - cp->len, fmt, ap);
    va_end(ap);
    cp->len += (size_t)n;
}

static void copy_end(copy_t *cp)
{
    copy_flush(cp);
    if (PQputCopyEnd(cp->c, NULL) != 1)
        die_pg(cp->c, NULL, "copy end");
    PGresult *r;
    while ((r = PQgetResult(cp->c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die_pg(cp->c, r, "copy");
        PQclear(r);
    }
}

/* Store items [from, to) of the synthetic sequence: item k is at time
 * t_now - k / PER_DAY days, so the newest are the first ones. */
static void load_items(PGconn *c, const char *schema, const words_t *w, nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg,
                       int64_t t_now, long from, long to)
{
    copy_t st = {0}, iv = {0}, fp = {0}, bd = {0}, tm = {0};
    PGconn *cs[5];
    /* the streams run side by side, so the foreign keys between them are
     * dropped for the load and validated again after it */
    exec_ok(c, "ALTER TABLE item_versions DROP CONSTRAINT item_versions_story_pk_fkey");
    exec_ok(c, "ALTER TABLE sim_fingerprints DROP CONSTRAINT sim_fingerprints_version_pk_fkey");
    /* one connection per COPY stream so they run side by side */
    for (int i = 0; i < 5; i++) {
        cs[i] = PQconnectdb(getenv("SIMBENCH_DSN"));
        if (PQstatus(cs[i]) != CONNECTION_OK)
            die_pg(cs[i], NULL, "connect");
        char sp[128];
        snprintf(sp, sizeof sp, "SET search_path TO %s", schema);
        exec_ok(cs[i], sp);
    }
    copy_start(&st, cs[0], "COPY stories (story_pk, provider, story_id) FROM STDIN");
    copy_start(&iv, cs[1], "COPY item_versions (version_pk, story_pk, provider, story_id, version, version_order,"
                           " format, edit_status, pubstatus, is_news, ninjs, raw) FROM STDIN");
    copy_start(&fp, cs[2], "COPY sim_fingerprints (version_pk, story_pk, provider, story_id, versioncreated,"
                           " headline, content_hash, simhash, n_shingles, fp) FROM STDIN");
    copy_start(&bd, cs[3], "COPY sim_bands (bucket, version_pk, ts) FROM STDIN");
    copy_start(&tm, cs[4], "COPY sim_terms (term_hash, version_pk, w, ts) FROM STDIN");
    uint64_t rng = 0xC0FFEEull + (uint64_t)from;
    uint8_t ser[NW_FP_SER_MAX];
    char hex[2 * NW_FP_SER_MAX + 1], ts[40];
    static const char *const prov[3] = {"reuters", "ap", "afp"};
    double t0 = now_us();
    for (long k = from; k < to; k++) {
        int64_t id = k + 1, t = t_now - (int64_t)((double)k * 86400.0 / PER_DAY);
        char *text = synth_text(w, &rng, 60 + bench_rand(&rng) % 340);
        nw_fp_input_t in = {.body = text, .language = "en"};
        nw_fp_t f;
        nw_err_t err;
        if (!nw_fp_compute(ctx, cfg, &in, &f, &err)) {
            fprintf(stderr, "fingerprint: %s\n", err.msg);
            exit(1);
        }
        free(text);
        ts_text(t, ts, sizeof ts);
        const char *p = prov[k % 3];
        copy_printf(&st, "%lld\t%s\ts%lld\n", (long long)id, p, (long long)id);
        copy_printf(&iv, "%lld\t%lld\t%s\ts%lld\t1\t1\tsynthetic\tnew\tusable\tt\t{}\t\\\\x00\n", (long long)id,
                    (long long)id, p, (long long)id);
        size_t n = nw_fp_serialize(&f, ser, sizeof ser);
        for (size_t i = 0; i < n; i++)
            sprintf(hex + 2 * i, "%02x", ser[i]);
        char ch[33];
        for (int i = 0; i < 16; i++)
            sprintf(ch + 2 * i, "%02x", f.content_hash[i]);
        copy_printf(&fp, "%lld\t%lld\t%s\ts%lld\t%s\tsynthetic %lld\t\\\\x%s\t%lld\t%u\t\\\\x", (long long)id,
                    (long long)id, p, (long long)id, ts, (long long)id, ch, (long long)f.simhash, f.n_shingles);
        for (size_t off = 0; off < 2 * n; off += 4096) {
            size_t l = 2 * n - off < 4096 ? 2 * n - off : 4096;
            copy_printf(&fp, "%.*s", (int)l, hex + off);
        }
        copy_printf(&fp, "\n");
        uint64_t keys[NW_FP_MAX_KEYS];
        size_t nk = nw_fp_band_keys(&f, keys);
        for (size_t i = 0; i < nk; i++)
            copy_printf(&bd, "%lld\t%lld\t%s\n", (long long)(int64_t)keys[i], (long long)id, ts);
        for (int i = 0; i < f.n_terms; i++)
            copy_printf(&tm, "%lld\t%lld\t%.6g\t%s\n", (long long)(int64_t)f.terms[i].hash, (long long)id,
                        (double)f.terms[i].w, ts);
        if ((k - from) % 100000 == 99999)
            fprintf(stderr, "  loaded %ld items (%.0f s)\n", k + 1, (now_us() - t0) / 1e6);
    }
    copy_end(&st);
    copy_end(&iv);
    copy_end(&fp);
    copy_end(&bd);
    copy_end(&tm);
    for (int i = 0; i < 5; i++)
        PQfinish(cs[i]);
    exec_ok(c, "ALTER TABLE item_versions ADD CONSTRAINT item_versions_story_pk_fkey"
               " FOREIGN KEY (story_pk) REFERENCES stories");
    exec_ok(c, "ALTER TABLE sim_fingerprints ADD CONSTRAINT sim_fingerprints_version_pk_fkey"
               " FOREIGN KEY (version_pk) REFERENCES item_versions ON DELETE CASCADE");
    free(st.buf);
    free(iv.buf);
    free(fp.buf);
    free(bd.buf);
    free(tm.buf);
}

typedef struct stage_t {
    double fp, lock, insert, cands, rank;
    long cands_n;
    double *per_item;
} stage_t;

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* One batch on one index: the item rows are written first (the store's
 * part, untimed), then the similarity step is timed stage by stage, and the
 * transaction is rolled back so the index stays as loaded. */
static double one_batch(PGconn *c, char **texts, int batch, nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg,
                        int64_t t_now, nw_fp_t *fps, nw_sim_item_t *items, nw_link_t *links, stage_t *st)
{
    exec_ok(c, "BEGIN");
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH s AS (INSERT INTO stories (story_pk, provider, story_id) SELECT 900000000 + g, 'ap', 'f' || g"
             " FROM generate_series(1, %d) g RETURNING story_pk) SELECT count(*) FROM s", batch);
    exec_ok(c, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO item_versions (version_pk, story_pk, provider, story_id, version, version_order,"
             " format, edit_status, pubstatus, is_news, ninjs, raw) SELECT 900000000 + g, 900000000 + g,"
             " 'ap', 'f' || g, '1', 1, 'synthetic', 'new', 'usable', true, '{}', '\\x00'"
             " FROM generate_series(1, %d) g", batch);
    exec_ok(c, sql);
    nw_err_t err;
    double t0 = now_us();
    for (int i = 0; i < batch; i++) {
        nw_fp_input_t in = {.body = texts[i], .language = "en"};
        nw_fp_compute(ctx, cfg, &in, &fps[i], &err);
        items[i].fp = &fps[i];
        items[i].meta = (nw_link_meta_t){.version_pk = 900000001 + i, .story_pk = 900000001 + i,
                                         .provider = "ap", .story_id = "fresh", .versioncreated = t_now};
    }
    double t1 = now_us();
    if (!nw_simindex_lock(c, items, (size_t)batch, &err))
        die_pg(c, NULL, err.msg);
    double t2 = now_us();
    if (!nw_simindex_insert(c, items, (size_t)batch, &err))
        die_pg(c, NULL, err.msg);
    double t3 = now_us();
    nw_sim_cands_t cands;
    nw_simindex_cfg_t scfg;
    nw_simindex_cfg_default(&scfg);
    if (getenv("SIMBENCH_TERM_QUERY"))
        scfg.term_query = atoi(getenv("SIMBENCH_TERM_QUERY"));
    if (getenv("SIMBENCH_TERM_CAP"))
        scfg.term_postings_cap = atoi(getenv("SIMBENCH_TERM_CAP"));
    if (!nw_simindex_candidates(c, &scfg, items, (size_t)batch, &cands, &err))
        die_pg(c, NULL, err.msg);
    double t4 = now_us();
    for (int i = 0; i < batch; i++)
        nw_link_rank(NULL, &fps[i], &items[i].meta, cands.cand + cands.off[i], cands.off[i + 1] - cands.off[i],
                     links, 4096);
    double t5 = now_us();
    long nc = (long)cands.n;
    nw_simindex_cands_free(&cands);
    exec_ok(c, "ROLLBACK");
    if (st) {
        st->fp += t1 - t0;
        st->lock += t2 - t1;
        st->insert += t3 - t2;
        st->cands += t4 - t3;
        st->rank += t5 - t4;
        st->cands_n += nc;
    }
    return (t5 - t0) / batch;
}

/* The same fresh batches on both indexes, alternating, so that both see the
 * same background load; the first round warms the caches and is not timed. */
static void measure_pair(PGconn *c[2], const words_t *w, nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg,
                         int64_t t_now, int fresh, int batch, uint64_t seed, json_t *out[2])
{
    uint64_t rng = seed;
    int rounds = (fresh + batch - 1) / batch;
    stage_t st[2];
    memset(st, 0, sizeof st);
    for (int k = 0; k < 2; k++)
        st[k].per_item = calloc((size_t)rounds, sizeof(double));
    nw_fp_t *fps = malloc((size_t)batch * sizeof *fps);
    nw_sim_item_t *items = calloc((size_t)batch, sizeof *items);
    char **texts = calloc((size_t)batch, sizeof *texts);
    nw_link_t *links = malloc(4096 * sizeof *links);
    for (int r = -1; r < rounds; r++) {
        for (int i = 0; i < batch; i++)
            texts[i] = synth_text(w, &rng, 60 + bench_rand(&rng) % 340);
        for (int k = 0; k < 2; k++) {
            int which = (r & 1) ? 1 - k : k; /* alternate which index goes first */
            double v = one_batch(c[which], texts, batch, ctx, cfg, t_now, fps, items, links, r < 0 ? NULL : &st[which]);
            if (r >= 0)
                st[which].per_item[r] = v;
        }
        for (int i = 0; i < batch; i++)
            free(texts[i]);
    }
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    double n = (double)rounds * batch;
    for (int k = 0; k < 2; k++) {
        qsort(st[k].per_item, (size_t)rounds, sizeof(double), cmp_d);
        out[k] = json_pack("{s:f,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "loadavg_1min_after", load[0],
                           "batch", batch, "items", rounds * batch, "us_per_item_median",
                           st[k].per_item[rounds / 2], "us_per_item_p90",
                           st[k].per_item[(rounds * 9) / 10 < rounds ? (rounds * 9) / 10 : rounds - 1],
                           "fingerprint_us", st[k].fp / n, "lock_us", st[k].lock / n, "insert_us",
                           st[k].insert / n, "candidates_us", st[k].cands / n, "rank_us", st[k].rank / n,
                           "candidates_per_item", (double)st[k].cands_n / n, "us_per_item_mean",
                           (st[k].fp + st[k].lock + st[k].insert + st[k].cands + st[k].rank) / n);
        free(st[k].per_item);
    }
    free(fps);
    free(items);
    free(texts);
    free(links);
}

static void print_row(const char *name, long stored, json_t *j)
{
    printf("%-10s %9ld %5lld %9.0f %9.0f %8.0f %8.0f %8.0f %8.0f %8.0f %7.1f\n", name, stored,
           (long long)json_integer_value(json_object_get(j, "batch")),
           json_real_value(json_object_get(j, "us_per_item_median")),
           json_real_value(json_object_get(j, "us_per_item_p90")), json_real_value(json_object_get(j, "fingerprint_us")),
           json_real_value(json_object_get(j, "lock_us")), json_real_value(json_object_get(j, "insert_us")),
           json_real_value(json_object_get(j, "candidates_us")), json_real_value(json_object_get(j, "rank_us")),
           json_real_value(json_object_get(j, "candidates_per_item")));
}

/* A fresh schema with the migrations and partitions for `days` back. */
static PGconn *setup_schema(const char *dsn, const char *schema, long days)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK)
        die_pg(c, NULL, "connect");
    char sql[512];
    exec_ok(c, "SET client_min_messages TO warning");
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    exec_ok(c, sql);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    exec_ok(c, sql);
    snprintf(sql, sizeof sql, "SET search_path TO %s", schema);
    exec_ok(c, sql);
    const char *mdir = getenv("NW_MIGRATIONS_DIR") ? getenv("NW_MIGRATIONS_DIR") : "schemas/migrations";
    static const char *const files[] = {"0001_core.sql", "0002_similarity.sql"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", mdir, files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "cannot read %s\n", path);
            exit(1);
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = calloc(1, (size_t)len + 1);
        if (fread(text, 1, (size_t)len, f) != (size_t)len)
            exit(1);
        fclose(f);
        exec_ok(c, text);
        free(text);
    }
    snprintf(sql, sizeof sql, "SELECT sim_ensure_partitions(now() - interval '%ld days', now() + interval '14 days')",
             days + 8);
    exec_ok(c, sql);
    return c;
}

static void bulk_load(PGconn *c, const char *schema, const words_t *w, nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg,
                      int64_t t_now, long n)
{
    /* without the band/term indexes, rebuilt after the load */
    exec_ok(c, "DROP INDEX sim_bands_bucket");
    exec_ok(c, "DROP INDEX sim_terms_term");
    load_items(c, schema, w, ctx, cfg, t_now, 0, n);
    exec_ok(c, "SET maintenance_work_mem = '512MB'");
    exec_ok(c, "CREATE INDEX sim_bands_bucket ON sim_bands (bucket, ts) INCLUDE (version_pk)");
    exec_ok(c, "CREATE INDEX sim_terms_term ON sim_terms (term_hash, ts) INCLUDE (version_pk, w)");
    exec_ok(c, "VACUUM ANALYZE stories, item_versions, sim_fingerprints, sim_bands, sim_terms");
    /* Flush the load's dirty buffers, or the first lookups pay for writing
     * them out; needs a superuser or pg_checkpoint (run.sh's own cluster). */
    PGresult *r = PQexec(c, "CHECKPOINT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "note: CHECKPOINT not allowed for this role; the first measurements may pay for the load\n");
    PQclear(r);
}

/* Steady state: a running service keeps the pages a lookup can touch (the
 * band/term index partitions inside the window, the newest fingerprints) in
 * shared buffers; a freshly loaded index has them cold. pg_prewarm (contrib,
 * superuser) loads them; returns false when it is not available. */
static bool prewarm(PGconn *c, const char *schema, long window_items)
{
    char sql[1024];
    (void)schema;
    PGresult *r = PQexec(c, "CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA public");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return false;
    snprintf(sql, sizeof sql,
             "SELECT sum(public.pg_prewarm(ix.indexrelid)) FROM pg_inherits i JOIN pg_index ix ON ix.indrelid = i.inhrelid"
             " JOIN pg_class c ON c.oid = i.inhrelid"
             " WHERE i.inhparent IN ('sim_bands'::regclass, 'sim_terms'::regclass)"
             "   AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'"
             "   AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz"
             "       > now() - interval '4 days'"
             "   AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz"
             "       < now() + interval '1 day'");
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "prewarm: %s", PQresultErrorMessage(r));
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT public.pg_prewarm('sim_fingerprints_pkey'), public.pg_prewarm('stories_pkey'),"
             " public.pg_prewarm('sim_fingerprints', 'buffer', 'main', 0,"
             "   least(pg_relation_size('sim_fingerprints') / 8192 - 1, %ld))", window_items / 4 + 1);
    r = PQexec(c, sql);
    ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "prewarm: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

int bench_cost(const char *dsn, const char *train, const char *test, const char *out_path, long small, long large,
               int fresh);

int bench_cost(const char *dsn, const char *train, const char *test, const char *out_path, long small, long large,
               int fresh)
{
    setenv("SIMBENCH_DSN", dsn, 1);
    bench_item_t *items = NULL;
    size_t n_items = 0;
    if (!bench_load_arff(train, 0, &items, &n_items) || !bench_load_arff(test, 1, &items, &n_items))
        return 1;
    /* the word stream, and a corpus IDF (top-K document frequencies, as in production) */
    words_t w = {0};
    nw_fp_ctx_t *ctx = nw_fp_ctx_new();
    nw_fp_cfg_t cfg;
    nw_fp_cfg_default(&cfg);
    df_map_t df = {0};
    df.cap = 1 << 16;
    df.k = calloc(df.cap, sizeof *df.k);
    df.idf = calloc(df.cap, sizeof *df.idf);
    for (size_t i = 0; i < n_items; i++) {
        char *save = NULL, *body = strdup(items[i].body);
        for (char *t = strtok_r(body, " \n\t", &save); t; t = strtok_r(NULL, " \n\t", &save)) {
            w.w = (w.n & (w.n - 1)) == 0 ? realloc(w.w, (w.n ? w.n * 2 : 1) * sizeof *w.w) : w.w;
            w.w[w.n++] = strdup(t);
        }
        free(body);
        nw_fp_t f;
        nw_fp_input_t in = {.headline = items[i].headline, .body = items[i].body, .language = "en"};
        nw_err_t err;
        nw_fp_compute(ctx, &cfg, &in, &f, &err);
        for (int t = 0; t < f.n_terms; t++) {
            size_t j = (f.terms[t].hash >> 7) & (df.cap - 1);
            while (df.k[j] && df.k[j] != f.terms[t].hash)
                j = (j + 1) & (df.cap - 1);
            df.k[j] = f.terms[t].hash;
            df.idf[j] += 1.0f;
        }
    }
    for (size_t j = 0; j < df.cap; j++)
        if (df.k[j])
            df.idf[j] = (float)(log((double)(n_items + 1) / (df.idf[j] + 1.0)) + 1.0);
    cfg.idf = idf_of;
    cfg.idf_ud = &df;
    cfg.idf_unknown = (float)(log((double)(n_items + 1)) + 1.0);

    int64_t t_now = (int64_t)time(NULL);
    PGconn *c[2];
    double t0 = now_us();
    c[0] = setup_schema(dsn, "simbench_small", (long)((double)small / PER_DAY) + 1);
    bulk_load(c[0], "simbench_small", &w, ctx, &cfg, t_now, small);
    double load_small = (now_us() - t0) / 1e6;
    t0 = now_us();
    c[1] = setup_schema(dsn, "simbench_large", (long)((double)large / PER_DAY) + 1);
    bulk_load(c[1], "simbench_large", &w, ctx, &cfg, t_now, large);
    double load_large = (now_us() - t0) / 1e6;
    bool warm = !getenv("SIMBENCH_COLD") && prewarm(c[0], "simbench_small", small) &&
                prewarm(c[1], "simbench_large", (long)(PER_DAY * 3) < large ? (long)(PER_DAY * 3) : large);
    for (int k = 0; k < 2 && getenv("SIMBENCH_EXPLAIN"); k++) /* superuser only: plans go to the server log */
        exec_ok(c[k], "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
                      " SET auto_explain.log_buffers = on; SET application_name = 'simbench'");

    printf("\ncost of the similarity step per item (us), PostgreSQL at %s, %d fresh items per batch size,\n"
           "the same batches alternating between the two indexes; window pages %s\n", PQport(c[0]), fresh,
           warm ? "prewarmed (steady state)" : "cold (as loaded)");
    printf("%-10s %9s %5s %9s %9s %8s %8s %8s %8s %8s %7s\n", "index", "stored", "batch", "median", "p90", "fprint",
           "lock", "insert", "lookup", "rank", "cands");
    json_t *m50[2], *m1[2];
    measure_pair(c, &w, ctx, &cfg, t_now, fresh, 50, 42, m50);
    measure_pair(c, &w, ctx, &cfg, t_now, fresh / 5, 1, 43, m1);
    print_row("small", small, m50[0]);
    print_row("large", large, m50[1]);
    print_row("small", small, m1[0]);
    print_row("large", large, m1[1]);
    double r50 = json_real_value(json_object_get(m50[1], "us_per_item_median")) /
                 json_real_value(json_object_get(m50[0], "us_per_item_median"));
    double r1 = json_real_value(json_object_get(m1[1], "us_per_item_median")) /
                json_real_value(json_object_get(m1[0], "us_per_item_median"));
    printf("ratio large/small (median per item): batch 50 %.2f, batch 1 %.2f (target <= 1.5)\n", r50, r1);
    PGresult *r = PQexec(c[1], "SELECT (SELECT pg_size_pretty(sum(pg_indexes_size(inhrelid))) FROM pg_inherits"
                               " WHERE inhparent = 'sim_bands'::regclass),"
                               " (SELECT count(*) FROM sim_bands), pg_size_pretty(pg_database_size(current_database()))");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        printf("large: band indexes %s, %s band rows; database %s; load %.0f s + %.0f s\n", PQgetvalue(r, 0, 0),
               PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), load_small, load_large);
    PQclear(r);
    json_t *root = json_object();
    json_object_set_new(root, "small", json_pack("{s:I,s:o,s:o,s:f}", "stored", (json_int_t)small, "batch50", m50[0],
                                                 "batch1", m1[0], "load_s", load_small));
    json_object_set_new(root, "large", json_pack("{s:I,s:o,s:o,s:f}", "stored", (json_int_t)large, "batch50", m50[1],
                                                 "batch1", m1[1], "load_s", load_large));
    json_object_set_new(root, "ratio_batch50", json_real(r50));
    json_object_set_new(root, "ratio_batch1", json_real(r1));
    json_object_set_new(root, "items_per_day", json_real(PER_DAY));
    json_object_set_new(root, "window_pages_prewarmed", json_boolean(warm));
    if (json_dump_file(root, out_path, JSON_INDENT(2)) != 0)
        fprintf(stderr, "cannot write %s\n", out_path);
    json_decref(root);
    for (int k = 0; k < 2; k++) {
        if (!getenv("SIMBENCH_KEEP"))
            exec_ok(c[k], k ? "DROP SCHEMA simbench_large CASCADE" : "DROP SCHEMA simbench_small CASCADE");
        PQfinish(c[k]);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.w[i]);
    free(w.w);
    free(df.k);
    free(df.idf);
    nw_fp_ctx_free(ctx);
    bench_items_free(items, n_items);
    return 0;
}
