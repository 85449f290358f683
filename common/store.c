#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "store_internal.h"

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
    /* The session settings the batch SQL relies on. JIT off: the batch
     * statements are index probes over many rows, which the planner's cost
     * figures rate worth compiling; compiling them took longer (40 ms per
     * similarity lookup) than it saved. */
    PQclear(PQexec(c, "SET TIME ZONE 'UTC'; SET application_name = 'newswire'; SET jit = off"));
    return c;
}

/* Stop the term statistics' refresh, if one runs, and close its connection:
 * a statement still running is cancelled (the refresh is one transaction:
 * nothing of it stays). */
static void idf_refresh_end(nw_store_t *st)
{
    PGconn *c = st->idf_refresh.conn;
    if (c && PQtransactionStatus(c) == PQTRANS_ACTIVE) {
        PGcancel *cancel = PQgetCancel(c);
        char msg[256];
        if (cancel)
            PQcancel(cancel, msg, sizeof msg);
        PQfreeCancel(cancel);
    }
    PQfinish(c);
    st->idf_refresh.conn = NULL;
}

nw_store_t *nw_store_open(const char *dsn, nw_err_t *err)
{
    PGconn *c = connect_db(dsn ? dsn : "", err);
    if (!c)
        return NULL;
    nw_store_t *st = calloc(1, sizeof *st);
    st->conn = c;
    st->dsn = strdup(dsn ? dsn : "");
    st->read_lock_timeout_ms = 10000; /* pg.read.lock.timeout.ms's default */
    st->fp_ctx = nw_fp_ctx_new();
    nw_fp_cfg_default(&st->fp_cfg);
    nw_link_cfg_default(&st->link_cfg);
    nw_simindex_cfg_default(&st->sim_cfg);
    return st;
}

void nw_store_close(nw_store_t *st)
{
    if (!st)
        return;
    PQfinish(st->conn);
    PQfinish(st->reader);
    idf_refresh_end(st);
    nw_fp_ctx_free(st->fp_ctx);
    nw_simidf_free(st->idf);
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
    nw_store_reader_reset(st);
    return true;
}

PGconn *nw_store_reader(nw_store_t *st)
{
    if (st->reader && PQstatus(st->reader) == CONNECTION_OK)
        return st->reader;
    nw_store_reader_reset(st);
    time_t now = time(NULL);
    if (now < st->reader_retry_at)
        return NULL;
    nw_err_t err;
    st->reader = connect_db(st->dsn, &err);
    /* The batch transaction waits, here in the client, for this connection's
     * read while it holds its locks: a lock wait of the read behind DDL that
     * itself waits for the batch (another replica's migration, an operator's
     * ALTER TABLE) is a cycle PostgreSQL cannot see. The read gives up
     * instead (SQLSTATE 55P03, a transient error: the batch is rolled back
     * and retried, the DDL goes first). */
    if (st->reader) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET lock_timeout = %d", st->read_lock_timeout_ms);
        if (!nw_pg_exec(st->reader, sql, "second connection's lock_timeout", &err)) {
            PQfinish(st->reader);
            st->reader = NULL;
        }
    }
    if (!st->reader) {
        nw_log_warn("no second connection for the candidate reads: for now they run in the"
                    " batch transaction, before its COPY",
                    NW_LS("reason", err.msg));
        st->reader_retry_at = now + 10;
    }
    return st->reader;
}

void nw_store_reader_reset(nw_store_t *st)
{
    PQfinish(st->reader);
    st->reader = NULL;
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

void nw_store_set_opts(nw_store_t *st, const nw_store_opts_t *opts)
{
    if (opts->window_h > 0)
        st->sim_cfg.window_s = opts->window_h * 3600;
    if (opts->related_top_k >= 0)
        st->link_cfg.top_k_related = opts->related_top_k;
    st->event_max_bytes = opts->event_max_bytes;
    st->idf_refresh.period_s = opts->idf_refresh_s;
    st->one_connection = opts->one_connection;
    if (st->one_connection || st->read_lock_timeout_ms != opts->read_lock_timeout_ms)
        nw_store_reader_reset(st); /* connected again, with these settings, when needed */
    st->read_lock_timeout_ms = opts->read_lock_timeout_ms;
}

void nw_store_set_join(nw_store_t *st, nw_store_join_fn join)
{
    st->join = join;
}

bool nw_store_migrate(nw_store_t *st, const char *dir, int lock_timeout_ms, nw_err_t *err)
{
    int applied = 0;
    if (!nw_migrate_run(st->conn, dir, lock_timeout_ms, &applied, err))
        return false;
    nw_log_info("database schema ready", NW_LS("migrations", dir), NW_LI("applied_now", applied));
    return true;
}

#define HOUR_US (3600LL * 1000000LL)

/* Expired rows deleted per step: 16-67 ms with 1,000,000 expired on the bench
 * machine, 8-33 µs a row (bench/README.md). */
#define PRUNE_STEP_ROWS 2000

/* One bounded step of the similarity index's pruning: an archive older than
 * the retention, or a long outage, expires a million rows at once, which in
 * one statement held the batch connection for half a minute. */
static bool prune_step(nw_store_t *st, nw_err_t *err)
{
    /* retention: four times the window, at least 30 days */
    int days = st->sim_cfg.window_s * 4 / 86400;
    if (days < 30)
        days = 30;
    int64_t now = nw_now_us();
    if (now < st->prune.next_us)
        return true;
    long long deleted = 0;
    int left = 0;
    if (!nw_simindex_prune_step(st->conn, days, PRUNE_STEP_ROWS, &deleted, &left, err)) {
        st->prune.pending = false;
        st->maintained_us = 0; /* all of it again at the next turn, a minute later */
        return false;
    }
    st->parts_lo = st->parts_hi = 0; /* old weeks may be gone: check again */
    st->prune.rows += deleted;
    st->prune.steps++;
    if (left > 0) {
        /* their tables in use (another replica's batch): again in 5 s */
        st->prune.next_us = now + 5000000LL;
        if (!st->prune.busy_logged)
            nw_log_info("expired similarity partitions left for a later step: another"
                        " transaction holds their tables",
                        NW_LI("partitions", left));
        st->prune.busy_logged = true;
    }
    if (deleted >= PRUNE_STEP_ROWS || left > 0) {
        if (st->prune.steps == 1)
            nw_log_info("pruning the similarity index in steps between batches",
                        NW_LI("retention_days", days), NW_LI("rows_per_step", PRUNE_STEP_ROWS));
        return true;
    }
    st->prune.pending = false;
    if (st->prune.rows > 0)
        nw_log_info("similarity index pruned", NW_LI("rows", st->prune.rows),
                    NW_LI("steps", st->prune.steps),
                    NW_LD("seconds", (double)(nw_now_us() - st->prune.started_us) / 1e6));
    return true;
}

bool nw_store_maintenance_pending(const nw_store_t *st)
{
    return st->prune.pending || st->idf_refresh.conn != NULL;
}

/* New term statistics for the fingerprints from now on (never while the
 * store thread or a fingerprint uses the settings). */
static void idf_use(nw_store_t *st, nw_simidf_t *idf, int64_t now)
{
    nw_simidf_free(st->idf);
    st->idf = idf;
    nw_fp_cfg_default(&st->fp_cfg);
    nw_simidf_apply(st->idf, &st->fp_cfg);
    st->idf_loaded_us = now;
}

/* The term statistics, refreshed and loaded now (the first time: fingerprints
 * wait for them). */
static bool idf_load_now(nw_store_t *st, int64_t now, nw_err_t *err)
{
    if (!nw_simindex_refresh_idf(st->conn, st->sim_cfg.window_s, err))
        return false;
    nw_simidf_t *idf = nw_simidf_load(st->conn, err);
    if (!idf)
        return false;
    idf_use(st, idf, now);
    return true;
}

static void idf_refresh_failed(nw_store_t *st, const nw_err_t *err)
{
    nw_log_warn("term statistics refresh failed; tried again at the next maintenance",
                NW_LS("reason", err->msg));
    idf_refresh_end(st);
}

/* Longest wait of the load of refreshed term statistics for a lock. */
#define IDF_LOAD_LOCK_TIMEOUT_MS "1000"

/* The periodic refresh of the term statistics (hourly by default), on a
 * connection of its own and without waiting for it: it aggregates every
 * posting of the window (~0.6 us each: seconds for a heavy feed), which on
 * the batch connection held up the batches that long. Each call looks at it
 * once; once done, its result is loaded and swapped in here, between two
 * batches (the store is this thread's then), so a batch's fingerprints use
 * one set. */
static void idf_refresh_step(nw_store_t *st, int64_t now)
{
    nw_err_t err = {0};
    int period = st->idf_refresh.period_s > 0 ? st->idf_refresh.period_s : 3600;
    PGconn *c = st->idf_refresh.conn; /* set while one runs */
    if (!c) {
        if (now - st->idf_loaded_us < period * 1000000LL)
            return;
        st->idf_refresh.conn = c = connect_db(st->dsn, &err);
        if (!c || !nw_simindex_send_refresh_idf(c, st->sim_cfg.window_s, &err))
            idf_refresh_failed(st, &err);
        else
            st->idf_refresh.started_us = now;
        return;
    }
    if (!PQconsumeInput(c)) {
        nw_pg_ok(c, NULL, PGRES_TUPLES_OK, "term statistics", &err); /* the connection's error */
        idf_refresh_failed(st, &err);
        return;
    }
    if (PQisBusy(c))
        return;
    PGresult *r = PQgetResult(c);
    PGresult *extra;
    while ((extra = PQgetResult(c)))
        PQclear(extra);
    bool ok = nw_pg_ok(c, r, PGRES_TUPLES_OK, "refresh idf", &err);
    PQclear(r);
    /* The load waits: one row per term seen twice in the window, read in one
     * go (polled, a large result would come a socket buffer a turn). It must
     * not wait for a lock, though: this thread runs the batches. A lock taken
     * on sim_idf between the refresh's commit and the load held them up for
     * as long; now the load gives up (55P03) and the refresh is tried again
     * at the next turn, waiting for that lock on its own connection. */
    ok = ok &&
         nw_pg_exec(c, "SET lock_timeout = " IDF_LOAD_LOCK_TIMEOUT_MS, "term statistics", &err);
    nw_simidf_t *idf = ok ? nw_simidf_load(c, &err) : NULL;
    if (!idf) {
        idf_refresh_failed(st, &err);
        return;
    }
    idf_use(st, idf, now);
    nw_log_info("term statistics refreshed",
                NW_LD("seconds", (double)(now - st->idf_refresh.started_us) / 1e6));
    idf_refresh_end(st);
}

bool nw_store_maintain(nw_store_t *st, nw_err_t *err)
{
    int64_t now = nw_now_us();
    if (!st->maintained_us || now - st->maintained_us > 24 * HOUR_US) {
        if (!nw_simindex_maintain(st->conn, err))
            return false;
        st->maintained_us = now;
        st->prune.pending = true;
        st->prune.started_us = now;
        st->prune.rows = 0;
        st->prune.steps = 0;
        st->prune.next_us = 0;
        st->prune.busy_logged = false;
    }
    if (st->prune.pending && !prune_step(st, err))
        return false;
    if (!st->idf_loaded_us)
        return idf_load_now(st, now, err);
    idf_refresh_step(st, now);
    return true;
}

/* ---- batches --------------------------------------------------------------- */

static bool fingerprint_with(nw_store_t *st, nw_fp_ctx_t *ctx, const nw_item_t *it, nw_fp_t *out,
                             nw_err_t *err)
{
    size_t len = it->body_text ? strlen(it->body_text) : 0;
    if (len > NW_STORE_FP_TEXT) {
        len = NW_STORE_FP_TEXT;
        while (len > 0 && ((unsigned char)it->body_text[len] & 0xC0) == 0x80)
            len--; /* cut on a UTF-8 character boundary */
    }
    nw_fp_input_t in = {.headline = it->headline,
                        .body = len ? it->body_text : NULL,
                        .body_len = len,
                        .language = it->language};
    if (!ctx)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "store: no fingerprint context");
    return nw_fp_compute(ctx, &st->fp_cfg, &in, out, err);
}

bool nw_store_fingerprint(nw_store_t *st, const nw_item_t *it, nw_fp_t *out, nw_err_t *err)
{
    return fingerprint_with(st, st->fp_ctx, it, out, err);
}

bool nw_store_ready(const nw_store_t *st)
{
    return st->idf_loaded_us != 0;
}

bool nw_store_fingerprints(nw_store_t *st, nw_fp_ctx_t *ctx, nw_item_t *const *items, size_t n,
                           nw_fp_t *fps, nw_err_t *err)
{
    if (!st->idf_loaded_us)
        return nw_err_set(err, NW_ERR_TRANSIENT, "not-ready",
                          "store: term statistics not loaded yet");
    for (size_t i = 0; i < n; i++)
        if (!fingerprint_with(st, ctx, items[i], &fps[i], err))
            return false;
    return true;
}

static bool is_race(const nw_err_t *err)
{
    return err->cls == NW_ERR_ROW && !strcmp(err->code, "23505") &&
           (!strcmp(err->detail, "stories_provider_story_id_key") ||
            !strcmp(err->detail, "item_versions_provider_story_id_version_key") ||
            !strcmp(err->detail, "stories_pkey") || !strcmp(err->detail, "item_versions_pkey") ||
            !strcmp(err->detail, "pending_parts_pkey"));
}

/* Store recs[0..n): retry races, split the batch around bad rows. */
static bool put_range(nw_store_t *st, nw_store_rec_t *recs, const nw_fp_t *fps, size_t n,
                      nw_events_t *events, nw_err_t *err)
{
    if (n == 0)
        return true;
    for (int attempt = 0;; attempt++) {
        nw_err_t e = {0};
        if (nw_store_try_batch(st, recs, fps, n, events, &e))
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
            nw_log_warn("row refused by PostgreSQL", NW_LS("code", e.code), NW_LS("reason", e.msg),
                        NW_LS("story_id", recs[0].item->story_id));
            return true;
        }
        size_t half = n / 2;
        return put_range(st, recs, fps, half, events, err) &&
               put_range(st, recs + half, fps + half, n - half, events, err);
    }
}

/* The oldest and newest item time of a batch, an item without one counting
 * as now (as the index stores it); INT64_MAX and INT64_MIN when empty. */
static void item_times(const nw_store_rec_t *recs, size_t n, int64_t now, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MAX;
    *hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t t = recs[i].item->versioncreated ? recs[i].item->versioncreated : now;
        *lo = t < *lo ? t : *lo;
        *hi = t > *hi ? t : *hi;
    }
}

/* The similarity index is partitioned by week of the item's time. A batch
 * whose items fall outside the weeks already made (an archive replay, a
 * clock far ahead) gets its partitions first, in its own statement: rows
 * left in the DEFAULT partition are out of reach of partition pruning, and
 * every candidate query would scan them. lo, hi: item_times(). */
static bool ensure_partitions(nw_store_t *st, size_t n, int64_t lo, int64_t hi, nw_err_t *err)
{
    if (n == 0 || (st->parts_hi && lo >= st->parts_lo && hi < st->parts_hi))
        return true;
    lo -= 7 * 86400;
    hi += 7 * 86400;
    if (st->parts_hi) { /* keep one contiguous covered range */
        lo = lo < st->parts_lo ? lo : st->parts_lo;
        hi = hi > st->parts_hi ? hi : st->parts_hi;
    }
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)lo);
    snprintf(b, sizeof b, "%lld", (long long)hi);
    const char *params[2] = {a, b};
    PGresult *r = nw_pg_query(st->conn,
                              "SELECT partitions_left FROM sim_ensure_partitions_some("
                              "to_timestamp($1::bigint), to_timestamp($2::bigint))",
                              2, params, PGRES_TUPLES_OK, "similarity partitions", err);
    if (!r)
        return false;
    /* A week left (its DEFAULT partition busy: migration 0009) keeps its rows
     * in DEFAULT for now; the next batch tries again. */
    bool all = PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) == 0;
    PQclear(r);
    if (all) {
        st->parts_lo = lo;
        st->parts_hi = hi;
    }
    return true;
}

/* Items more than a day old (an archive backfilled, a long outage caught up)
 * are noted before they are stored (migration 0010): every replica's start
 * prunes the similarity index, and the pruning keeps the retention before
 * the oldest item noted today or yesterday, so that a backfill beside live
 * traffic keeps what its next items link to. One statement a day per replica
 * unless an older item comes; live traffic writes none. */
static bool note_backfill(nw_store_t *st, int64_t oldest, int64_t now, nw_err_t *err)
{
    if (oldest > now - 86400) /* also an empty batch: INT64_MAX */
        return true;
    int64_t day = now / 86400;
    if (st->backfill.day == day && oldest >= st->backfill.oldest)
        return true;
    if (!nw_simindex_note_backfill(st->conn, oldest, err))
        return false;
    st->backfill.day = day;
    st->backfill.oldest = oldest;
    return true;
}

bool nw_store_put_batch(nw_store_t *st, nw_store_rec_t *recs, size_t n, const nw_fp_t *fps,
                        nw_events_t *events, nw_err_t *err)
{
    int64_t now = (int64_t)time(NULL), lo, hi;
    item_times(recs, n, now, &lo, &hi);
    if (!ensure_partitions(st, n, lo, hi, err) || !note_backfill(st, lo, now, err))
        return false;
    if (!st->idf_loaded_us) {
        nw_err_t merr = {0};
        if (!nw_store_maintain(st, &merr)) {
            if (err)
                *err = merr;
            return false;
        }
    }
    /* Fingerprints once per batch, outside the transaction: retries and
     * splits reuse them. */
    nw_fp_t *own = NULL;
    if (!fps) {
        own = malloc((n ? n : 1) * sizeof *own);
        if (!own)
            return nw_err_set(err, NW_ERR_FATAL, "oom", "store: out of memory");
        for (size_t i = 0; i < n; i++) {
            if (!nw_store_fingerprint(st, recs[i].item, &own[i], err)) {
                free(own);
                return false;
            }
        }
        fps = own;
    }
    size_t before = events->n;
    bool ok = put_range(st, recs, fps, n, events, err);
    free(own);
    if (ok) {
        st->stats.batches++;
        return true;
    }
    /* nothing of a failed call may be published: a retry redoes it all */
    for (size_t i = before; i < events->n; i++) {
        free(events->v[i].key);
        free(events->v[i].body);
    }
    events->n = before;
    return false;
}

/* ---- outbox -------------------------------------------------------------- */

/* The ids of events (NULL: none) as a text[] parameter (uuid[] in SQL). */
static void add_event_ids(nw_pg_params_t *pp, const nw_events_t *events)
{
    size_t n = events ? events->n : 0;
    const char **ids = malloc((n + 1) * sizeof *ids);
    if (!ids) {
        pp->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = events->v[i].id;
    nw_pg_add_texts(pp, ids, n);
    free(ids);
}

bool nw_store_mark_sent(nw_store_t *st, const nw_events_t *events, nw_err_t *err)
{
    if (events->n == 0)
        return true;
    nw_pg_params_t pp = {0};
    add_event_ids(&pp, events);
    PGresult *r = nw_pg_run(st->conn,
                            "UPDATE outbox SET sent_at = now()"
                            " WHERE event_id = ANY($1::uuid[]) AND sent_at IS NULL",
                            &pp, PGRES_COMMAND_OK, "mark events sent", err);
    PQclear(r);
    return r != NULL;
}

bool nw_store_outbox_unsent(nw_store_t *st, int older_than_s, int limit, const nw_events_t *skip,
                            nw_events_t *out, nw_err_t *err)
{
    char age[16], lim[16];
    snprintf(age, sizeof age, "%d", older_than_s);
    snprintf(lim, sizeof lim, "%d", limit);
    nw_pg_params_t pp = {0};
    nw_pg_add_str(&pp, age);
    nw_pg_add_str(&pp, lim);
    add_event_ids(&pp, skip);
    PGresult *r = nw_pg_run(
        st->conn,
        "SELECT event_id, event_type, msg_key, body,"
        "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        "  FROM outbox WHERE sent_at IS NULL"
        "   AND created_at < now() - make_interval(secs => $1::int)"
        "   AND NOT (event_id = ANY($3::uuid[]))"
        " ORDER BY outbox_pk LIMIT $2::int",
        &pp, PGRES_TUPLES_OK, "read unsent events", err);
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
