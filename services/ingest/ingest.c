#include "ingest.h"
#include "ingest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "event.h"
#include "formats/formats.h"
#include "http.h"
#include "kafka.h"
#include "kafkastats.h"
#include "log.h"
#include "migrate.h"
#include "store.h"
#include "telemetry.h"
#include "worker.h"

/* ---- rebalancing --------------------------------------------------------- */

static bool in_list(const rd_kafka_topic_partition_list_t *parts, const char *topic, int32_t p)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == p && !strcmp(parts->elems[i].topic, topic))
            return true;
    return false;
}

/* Forget the unprocessed messages of partitions we no longer own: their new
 * owner reads them again from the last committed offset. */
static void drop_partitions(app_t *app, const rd_kafka_topic_partition_list_t *parts)
{
    /* A batch already submitted is stored all the same (the new owner finds
     * those versions stored and republishes their events); its offsets of
     * these partitions are not stored. */
    for (int s = 0; s < 2; s++) {
        batch_t *b = &app->slots[s];
        for (size_t i = 0; i < b->n; i++) {
            rd_kafka_message_t *m = b->msgs[i].msg;
            if (!b->msgs[i].dropped && in_list(parts, rd_kafka_topic_name(m->rkt), m->partition))
                b->msgs[i].dropped = true;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < app->nheld; i++) {
        rd_kafka_message_t *m = app->held[i];
        if (in_list(parts, rd_kafka_topic_name(m->rkt), m->partition))
            rd_kafka_message_destroy(m);
        else
            app->held[k++] = m;
    }
    app->nheld = k;
}

/* Partitions assigned now, for /metrics and /readyz. */
static void report_assignment(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *now = NULL;
    if (rd_kafka_assignment(rk, &now) == RD_KAFKA_RESP_ERR_NO_ERROR && now) {
        nw_telemetry_partitions(now->cnt);
        rd_kafka_topic_partition_list_destroy(now);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    app_t *app = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        nw_log_info("partitions assigned", NW_LI("count", parts->cnt),
                    NW_LB("cooperative", cooperative));
        app->ever_assigned = true;
        rd_kafka_error_t *e = NULL;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            nw_log_error("assign failed", NW_LS("reason", rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
        if (app->paused)
            rd_kafka_pause_partitions(rk, parts);
        report_assignment(rk);
        return;
    }
    bool lost = rd_kafka_assignment_lost(rk);
    nw_log_info(lost ? "partitions lost" : "partitions revoked", NW_LI("count", parts->cnt));
    drop_partitions(app, parts);
    if (!lost) {
        /* Commit what is done for these partitions before another member
         * takes them; nothing stored means nothing to commit. */
        rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
        if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            nw_log_warn("commit on revoke failed", NW_LS("code", rd_kafka_err2name(ce)));
    }
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
    report_assignment(rk);
}

/* ---- parsing -------------------------------------------------------------- */

/* A header's value as a NUL-terminated string in buf, or NULL. */
static const char *header_str(rd_kafka_headers_t *h, const char *name, char *buf, size_t cap)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return NULL;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
}

static void parse_one(inmsg_t *im)
{
    rd_kafka_message_t *m = im->msg;
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    char fmt[64], agency[64], ctype[128], name[256], pair[160];
    nw_input_t in = {
        .data = m->payload ? m->payload : "",
        .len = m->payload ? m->len : 0,
        .format = header_str(h, "newswire-format", fmt, sizeof fmt),
        .agency = header_str(h, "newswire-agency", agency, sizeof agency),
        .content_type = header_str(h, "content-type", ctype, sizeof ctype),
        .name = header_str(h, "newswire-source", name, sizeof name),
        .pair_key = header_str(h, "newswire-pair-key", pair, sizeof pair),
    };
    im->parsed = nw_format_parse_all(&in, &im->items, &im->err);
    if (!im->parsed) {
        im->stage = "parse";
        if (im->err.cls == NW_ERR_NONE)
            nw_err_set(&im->err, NW_ERR_INPUT, "unparseable", "item could not be parsed");
    }
}

/* Join the two halves of an AP item into the ap-media-json envelope
 * {"item": <metadata>, "nitf": "<body>"} and parse that: the stored payload
 * is then one document that re-parses to the same item. */
static bool join_halves(const char *pair_key, const void *meta, size_t meta_len, const void *body,
                        size_t body_len, nw_item_t *out, char **raw_out, size_t *raw_len,
                        nw_err_t *err)
{
    json_error_t je;
    json_t *m = json_loadb(meta, meta_len, 0, &je);
    if (!m)
        return nw_err_set(err, NW_ERR_INPUT, "json-malformed", "AP metadata half %s: %s",
                          pair_key, je.text);
    json_t *inner = json_object_get(m, "item");
    if (json_is_object(inner) && !json_object_get(m, "nitf")) {
        json_incref(inner);
        json_decref(m);
        m = inner;
    }
    json_t *env = json_pack("{s:o, s:s%}", "item", m, "nitf", (const char *)body, body_len);
    if (!env)
        return nw_err_set(err, NW_ERR_INPUT, "pair-encoding",
                          "AP body half %s is not UTF-8 text", pair_key);
    char *doc = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    nw_input_t in = {.data = doc, .len = doc ? strlen(doc) : 0, .format = "ap-media-json",
                     .agency = "ap"};
    nw_items_t items = {0};
    bool ok = doc && nw_format_parse_all(&in, &items, err);
    if (ok && (items.n != 1 || items.v[0].part != NW_PART_WHOLE))
        ok = nw_err_set(err, NW_ERR_INPUT, "pair-mismatch",
                        "AP halves %s do not make one whole item", pair_key);
    if (!ok) {
        nw_items_free(&items);
        free(doc);
        return false;
    }
    *out = items.v[0];
    free(items.v);
    *raw_out = doc;
    *raw_len = in.len;
    return true;
}

/* ---- collecting a batch ----------------------------------------------------- */

static void batch_push(app_t *app, batch_t *b, rd_kafka_message_t *m)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->msgs = realloc(b->msgs, b->cap * sizeof *b->msgs);
    }
    inmsg_t *im = &b->msgs[b->n++];
    memset(im, 0, sizeof *im);
    im->msg = m;
    app->consumed++;
}

static void hold(app_t *app, rd_kafka_message_t *m)
{
    if (app->nheld == app->capheld) {
        app->capheld = app->capheld ? app->capheld * 2 : 64;
        app->held = realloc(app->held, app->capheld * sizeof *app->held);
    }
    app->held[app->nheld++] = m;
}

/* Consumer errors are informational (librdkafka retries); the message is not data. */
static bool consumer_error(rd_kafka_message_t *m)
{
    if (!m->err)
        return false;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        nw_log_warn("consumer error", NW_LS("code", rd_kafka_err2name(m->err)),
                    NW_LS("reason", rd_kafka_message_errstr(m)));
        nw_kafkastats_consume_error(m->err);
    }
    rd_kafka_message_destroy(m);
    return true;
}

/* Up to batch.size messages and batch.max.bytes of payload (the batch, its
 * parsed items and its COPY data live together: a count alone would let 500
 * messages of 10 MB take gigabytes). A message over the byte cap still makes
 * a batch of its own. */
static void collect(app_t *app, batch_t *b)
{
    long max = app->cfg->batch_size;
    size_t bytes = 0, max_bytes = (size_t)app->cfg->batch_max_bytes;
    while (app->nheld > 0 && (long)b->n < max && bytes < max_bytes) {
        bytes += app->held[0]->len;
        batch_push(app, b, app->held[0]);
        memmove(app->held, app->held + 1, --app->nheld * sizeof *app->held);
    }
    int64_t deadline = 0;
    while ((long)b->n < max && bytes < max_bytes && !*app->stop) {
        /* Nothing new and the batch in flight is stored: go and publish it. */
        if (b->n == 0 && app->fly && nw_worker_done(app->worker))
            return;
        int timeout = 200;
        if (b->n > 0) {
            /* Wait up to batch.wait.ms for more; past it, still take what
             * has arrived already (batch.wait.ms=0: what is there now). */
            if (!deadline)
                deadline = nw_now_us() + app->cfg->batch_wait_ms * 1000;
            int64_t left = (deadline - nw_now_us()) / 1000;
            timeout = left > 0 ? (int)left : 0;
        }
        if (app->fly && b->n == 0 && timeout > 5)
            timeout = 5; /* keep an eye on the worker */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(app->consumer, timeout);
        if (!m) {
            if (b->n == 0 && !app->fly)
                return; /* idle: let the caller do housekeeping */
            if (b->n > 0 && timeout == 0)
                return; /* past the wait and nothing more has arrived */
            continue;
        }
        if (!consumer_error(m)) {
            bytes += m->len;
            batch_push(app, b, m);
        }
    }
}

/* While PostgreSQL is away: keep serving the consumer (group membership,
 * rebalances) without taking new work. */
static void set_paused(app_t *app, bool pause)
{
    if (app->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(app->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (pause)
            rd_kafka_pause_partitions(app->consumer, parts);
        else
            rd_kafka_resume_partitions(app->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    app->paused = pause;
}

static void wait_serving(app_t *app, int ms)
{
    int64_t until = nw_now_us() + (int64_t)ms * 1000;
    while (!*app->stop && nw_now_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(app->consumer, 100);
        if (m && !consumer_error(m))
            hold(app, m);
        rd_kafka_poll(app->producer, 0);
        nw_telemetry_tick(app->store, false);
    }
}

/* ---- one batch --------------------------------------------------------------- */

static void batch_release(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        nw_items_free(&b->msgs[i].items);
        rd_kafka_message_destroy(b->msgs[i].msg);
    }
    if (b->rec_fps != b->fps)
        free(b->rec_fps);
    free(b->fps);
    free(b->recs);
    nw_events_free(&b->events);
    inmsg_t *msgs = b->msgs;
    size_t cap = b->cap;
    memset(b, 0, sizeof *b);
    b->msgs = msgs; /* the message array is reused */
    b->cap = cap;
}

/* Parse the batch's messages and fingerprint their items: CPU only, done
 * while the worker stores the batch before. */
static void prepare(app_t *app, batch_t *b)
{
    b->t0 = nw_telemetry_now();
    size_t nitems = 0;
    for (size_t i = 0; i < b->n; i++) {
        inmsg_t *im = &b->msgs[i];
        if (im->dropped)
            continue;
        parse_one(im);
        nw_telemetry_consumed(im->msg, &im->items, im->parsed);
        if (!im->parsed)
            continue;
        nitems += im->items.n;
        for (size_t j = 0; j < im->items.n; j++) /* the text the row and the event carry */
            nw_item_ninjs_text(&im->items.v[j], NULL);
    }
    b->t_parsed = nw_telemetry_now();
    /* Term statistics not loaded yet (the first batch, or PostgreSQL was
     * away at the start): the worker loads them and fingerprints itself. */
    b->t_prepared = b->t_parsed;
    if (nitems == 0 || !app->store_ready)
        return;
    nw_item_t **items = malloc(nitems * sizeof *items);
    b->fps = malloc(nitems * sizeof *b->fps);
    size_t k = 0;
    for (size_t i = 0; items && i < b->n; i++)
        for (size_t j = 0; b->msgs[i].parsed && !b->msgs[i].dropped && j < b->msgs[i].items.n; j++)
            items[k++] = &b->msgs[i].items.v[j];
    nw_err_t err = {0};
    if (!items || !b->fps ||
        !nw_store_fingerprints(app->store, app->fp_ctx, items, nitems, b->fps, &err)) {
        free(b->fps); /* the worker tries again, and reports what fails */
        b->fps = NULL;
    }
    free(items);
    b->t_prepared = nw_telemetry_now();
}

static void store_job(void *arg)
{
    batch_t *b = arg;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    nw_err_clear(&b->err);
    b->ok = b->nrecs == 0 ||
            nw_store_put_batch(b->store, b->recs, b->nrecs, b->rec_fps, &b->events, &b->err);
    b->t_stored = nw_telemetry_now();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    b->store_cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
}

/* Hand one attempt at storing b to the worker: the items of the messages
 * that are still ours (a rebalance may have taken some since the last). */
static void submit(app_t *app, batch_t *b)
{
    if (!b->t_submitted)
        b->t_submitted = nw_telemetry_now();
    size_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->msgs[i].parsed)
            total += b->msgs[i].items.n;
    free(b->recs);
    if (b->rec_fps != b->fps)
        free(b->rec_fps);
    b->recs = calloc(total + 1, sizeof *b->recs);
    b->rec_fps = b->fps ? malloc((total + 1) * sizeof *b->rec_fps) : NULL;
    size_t n = 0, f = 0;
    bool dropped = false;
    for (size_t i = 0; i < b->n; i++) {
        inmsg_t *im = &b->msgs[i];
        if (!im->parsed)
            continue;
        if (im->dropped) {
            f += im->items.n;
            dropped = true;
            continue;
        }
        rd_kafka_message_t *m = im->msg;
        for (size_t k = 0; k < im->items.n; k++, f++) {
            if (b->rec_fps)
                b->rec_fps[n] = b->fps[f];
            b->recs[n++] = (nw_store_rec_t){.item = &im->items.v[k],
                                            .raw = m->payload ? m->payload : "",
                                            .raw_len = m->len,
                                            .topic = rd_kafka_topic_name(m->rkt),
                                            .partition = m->partition, .offset = m->offset};
        }
    }
    if (b->rec_fps && !dropped) { /* the common case: no copy */
        free(b->rec_fps);
        b->rec_fps = b->fps;
    }
    b->nrecs = n;
    b->store = app->store;
    nw_worker_submit(app->worker, store_job, b);
}

/* What a transient failure of a batch was, for its log line: the database
 * being unreachable, read-only or out of resources, or the batch losing to
 * another transaction (the same retry; a different thing to look into). */
static const char *retry_message(const char *code)
{
    if (!strcmp(code, "55P03"))
        return "batch gave up waiting for a lock, retrying";
    if (!strcmp(code, "40P01"))
        return "batch deadlocked with another transaction, retrying";
    if (!strcmp(code, "40001"))
        return "batch lost a serialization conflict, retrying";
    return "database unavailable, retrying";
}

/* Wait for the worker to store b, retrying transient failures with capped
 * exponential back-off while consumption is paused. False: give up (stop
 * requested, or a fatal error: *fatal). */
static bool finish_store(app_t *app, batch_t *b, bool *fatal)
{
    int backoff = 100;
    for (;;) {
        nw_worker_wait(app->worker);
        if (b->ok) {
            set_paused(app, false);
            nw_telemetry_stored(app->store, b->recs, b->nrecs);
            return true;
        }
        nw_err_t err = b->err;
        nw_telemetry_db_error(app->store, &err);
        if (err.cls == NW_ERR_FATAL) {
            nw_log_error("database error, stopping", NW_LS("code", err.code),
                         NW_LS("reason", err.msg));
            *fatal = true;
            return false;
        }
        nw_log_warn(retry_message(err.code), NW_LS("code", err.code), NW_LS("reason", err.msg),
                    NW_LI("backoff_ms", backoff));
        set_paused(app, true);
        wait_serving(app, backoff);
        if (*app->stop)
            return false;
        /* A read-only session (25006: an old primary after a failover) stays
         * read-only: a new connection lets libpq's target_session_attrs=read-write
         * find the writable server of the DSN's host list. */
        if (PQstatus(nw_store_conn(app->store)) != CONNECTION_OK || !strcmp(err.code, "25006")) {
            nw_err_t re = {0};
            if (nw_store_reconnect(app->store, &re))
                nw_log_info("reconnected to PostgreSQL");
        }
        backoff = backoff * 2 > app->cfg->retry_max_ms ? (int)app->cfg->retry_max_ms : backoff * 2;
        submit(app, b);
    }
}

/* Test hook: stop between the database commit and the events, so a test can
 * SIGKILL the process at exactly that point. */
static void test_hook_after_commit(app_t *app, size_t nevents)
{
    if (strcmp(app->cfg->test_hook, "pause-after-commit") || nevents == 0)
        return;
    nw_log_warn("test hook: paused after commit, before publishing",
                NW_LI("events", nevents));
    for (;;)
        pause();
}

/* The fetch watchdog: a partition of the assignment that librdkafka has not
 * fetched for kafka.fetch.watchdog.s while a broker was up (librdkafka#5586)
 * is assigned again, which fetches its committed offset anew. Nothing of it
 * is in flight (it was not fetched); were it, its messages would come again
 * and be found stored. Looked at once a second. */
static void watch_fetching(app_t *app)
{
    int64_t now = nw_now_us();
    if (app->cfg->kafka_fetch_watchdog_s <= 0 || now - app->last_watchdog_us < 1000000)
        return;
    app->last_watchdog_us = now;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    if (nw_kafkastats_unfetched(app->cfg->kafka_fetch_watchdog_s * 1000000LL, parts) > 0) {
        for (int i = 0; i < parts->cnt; i++)
            nw_log_warn("partition assigned but not fetched; assigning it again",
                        NW_LS("topic", parts->elems[i].topic),
                        NW_LI("partition", parts->elems[i].partition),
                        NW_LI("after_s", app->cfg->kafka_fetch_watchdog_s));
        rd_kafka_error_t *e = NULL;
        if (!strcmp(rd_kafka_rebalance_protocol(app->consumer), "COOPERATIVE")) {
            e = rd_kafka_incremental_unassign(app->consumer, parts);
            if (!e)
                e = rd_kafka_incremental_assign(app->consumer, parts);
        } else {
            rd_kafka_topic_partition_list_t *all = NULL;
            if (rd_kafka_assignment(app->consumer, &all) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_assign(app->consumer, NULL);
                rd_kafka_assign(app->consumer, all);
                rd_kafka_topic_partition_list_destroy(all);
            }
        }
        if (e) {
            nw_log_warn("assigning again failed", NW_LS("reason", rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
        if (app->paused) /* a new assignment is fetched: keep it paused like the rest */
            rd_kafka_pause_partitions(app->consumer, parts);
        if (!strcmp(app->cfg->test_hook, "unfetched-partition-0"))
            nw_kafkastats_pretend_unfetched(-1); /* recovered, as a real one would */
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Similarity index partitions, pruning and term statistics (cheap when not
 * due): looked at every minute (or every similarity.idf.refresh.s if
 * shorter), and while the pruning has steps left or the term statistics'
 * refresh runs, every step_us. On an idle turn step_us is 0. Under sustained
 * load (a replay, a busy hour) the loop is never idle, so the maintenance
 * also runs between two batches while the store is free, with step_us 5 s:
 * what is due hourly or daily stays so, and a pruning step (16-67 ms
 * measured) every 5 s costs the batches ~1 % while a catch-up lasts. */
static void maintain(app_t *app, int64_t step_us)
{
    int64_t now = nw_now_us();
    int64_t every = 60000000LL;
    if (app->cfg->similarity_idf_refresh_s * 1000000LL < every)
        every = app->cfg->similarity_idf_refresh_s * 1000000LL;
    if (nw_store_maintenance_pending(app->store))
        every = step_us;
    if (now - app->last_maintain_us < every)
        return;
    app->last_maintain_us = now;
    nw_err_t err = {0};
    if (!nw_store_maintain(app->store, &err))
        nw_log_warn("maintenance failed", NW_LS("reason", err.msg));
}

/* ---- start and stop ----------------------------------------------------------- */

/* The migrations, tried again with capped back-off while one gives up
 * waiting for a table lock (pg.migrate.lock.timeout.ms): during a rolling
 * upgrade the running replicas' batches queue behind a migration's lock
 * request, so it must not wait for long behind a long transaction. False:
 * another error, or stopping. */
static bool migrate(app_t *app)
{
    const nw_config_t *cfg = app->cfg;
    const char *dir = nw_migrate_dir(cfg->migrations_dir);
    int backoff = 1000;
    for (;;) {
        nw_err_t err = {0};
        if (nw_store_migrate(app->store, dir, (int)cfg->pg_migrate_lock_timeout_ms, &err))
            return true;
        bool lock = !strcmp(err.code, "55P03") || !strcmp(err.code, "40P01");
        if (!lock) {
            nw_log_error("migrations failed", NW_LS("code", err.code), NW_LS("reason", err.msg));
            return false;
        }
        if (*app->stop) {
            nw_log_warn("stopped before the migrations could be applied", NW_LS("reason", err.msg));
            return false;
        }
        nw_log_warn("migration waiting for a table lock, retrying", NW_LS("code", err.code),
                    NW_LS("reason", err.msg), NW_LI("backoff_ms", backoff));
        for (int64_t until = nw_now_us() + (int64_t)backoff * 1000;
             !*app->stop && nw_now_us() < until;)
            usleep(50000);
        backoff = backoff * 2 > cfg->retry_max_ms ? (int)cfg->retry_max_ms : backoff * 2;
    }
}

static int start(app_t *app)
{
    const nw_config_t *cfg = app->cfg;
    nw_err_t err = {0};
    char *safe_dsn = nw_config_redact_dsn(cfg->pg_dsn);
    nw_log_info("starting", NW_LS("version", NW_VERSION), NW_LS("kafka", cfg->kafka_brokers),
                NW_LS("postgres", safe_dsn), NW_LS("group", cfg->group_id),
                NW_LS("topic_raw", cfg->topic_raw), NW_LS("replica", cfg->replica_id));
    free(safe_dsn);

    app->store = nw_store_open(cfg->pg_dsn, &err);
    if (!app->store) {
        nw_log_error("PostgreSQL unreachable at start", NW_LS("reason", err.msg));
        return 2;
    }
    nw_telemetry_db_ok();
    if (!migrate(app))
        return 2;
    nw_http_ready_set(NW_READY_SCHEMA, true);
    nw_store_opts_t opts = {.window_h = (int)cfg->similarity_window_h,
                            .related_top_k = (int)cfg->related_top_k,
                            .one_connection = cfg->pg_read_connection == 0,
                            .event_max_bytes = cfg->event_max_bytes,
                            .idf_refresh_s = (int)cfg->similarity_idf_refresh_s,
                            .read_lock_timeout_ms = (int)cfg->pg_read_lock_timeout_ms};
    nw_store_set_opts(app->store, &opts);
    nw_store_set_join(app->store, join_halves);
    app->producer = nw_kafka_producer_new(cfg, &err);
    if (app->producer)
        app->consumer = nw_kafka_consumer_new(cfg, rebalance_cb, app, &err);
    if (!app->producer || !app->consumer) {
        nw_log_error("bad Kafka configuration", NW_LS("reason", err.msg));
        return 2;
    }
    if (!nw_kafka_check(app->producer, 10000, &err)) {
        nw_log_error("Kafka unreachable at start", NW_LS("reason", err.msg));
        return 2;
    }
    nw_http_ready_set(NW_READY_KAFKA, true);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_raw, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(app->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        nw_log_error("cannot subscribe", NW_LS("topic", cfg->topic_raw),
                     NW_LS("reason", rd_kafka_err2str(e)));
        return 2;
    }
    if (!strcmp(cfg->test_hook, "unfetched-partition-0"))
        nw_kafkastats_pretend_unfetched(0);
    nw_log_info("consuming", NW_LS("topic", cfg->topic_raw));
    return 0;
}

/* librdkafka 2.0.2 aborts in rd_kafka_destroy() when a cooperative-sticky
 * consumer is destroyed before its first assignment (librdkafka#4312, fixed
 * in 2.3.0). Give the group a moment to assign; if it never did, close the
 * consumer (leave the group) but do not destroy it: the process is exiting,
 * and the handle stays reachable so leak checkers do not flag it. */
static rd_kafka_t *unassigned_consumer;

/* How long the shutdown serves rebalance callbacks after unsubscribing. */
#define LEAVE_WAIT_US (3 * 1000000LL)

static bool safe_to_destroy(app_t *app)
{
    int64_t until = nw_now_us() + 5000000;
    while (!app->ever_assigned && nw_now_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(app->consumer, 100);
        if (m && !consumer_error(m))
            rd_kafka_message_destroy(m); /* never processed: not committed, read again later */
    }
    return app->ever_assigned;
}

/* librdkafka 2.0.2 can hang in rd_kafka_consumer_close() when the group
 * hands this member partitions while it closes (librdkafka#4527, fixed in
 * 2.4.0): a replica stopping while another leaves or joins waited for the
 * shutdown deadline, exited 3 without leaving the group, and the group's
 * next rebalance waited for its session to time out. Unsubscribe first and
 * serve the rebalance callbacks until nothing is assigned; then close.
 * Messages polled meanwhile are not processed: their offsets stay where the
 * last commit put them, and the next owner reads them. */
static void leave_group(app_t *app)
{
    rd_kafka_resp_err_t e = rd_kafka_unsubscribe(app->consumer);
    if (e) {
        nw_log_warn("unsubscribe failed", NW_LS("code", rd_kafka_err2name(e)));
        return;
    }
    int64_t until = nw_now_us() + LEAVE_WAIT_US;
    while (nw_now_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(app->consumer, 50);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *now = NULL;
        bool empty = rd_kafka_assignment(app->consumer, &now) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     now && now->cnt == 0;
        if (now)
            rd_kafka_topic_partition_list_destroy(now);
        if (empty)
            return;
    }
    nw_log_warn("partitions still assigned after unsubscribing; closing anyway");
}

static void shutdown_app(app_t *app)
{
    nw_log_info("shutting down");
    if (app->consumer && !safe_to_destroy(app)) {
        nw_log_info("consumer never assigned; closing without destroy (librdkafka#4312)");
        for (size_t i = 0; i < app->nheld; i++)
            rd_kafka_message_destroy(app->held[i]);
        app->nheld = 0;
        rd_kafka_consumer_close(app->consumer);
        unassigned_consumer = app->consumer;
        app->consumer = NULL;
    }
    if (app->consumer) {
        rd_kafka_resp_err_t ce = rd_kafka_commit(app->consumer, NULL, 0);
        if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            nw_log_warn("final commit failed", NW_LS("code", rd_kafka_err2name(ce)));
        for (size_t i = 0; i < app->nheld; i++)
            rd_kafka_message_destroy(app->held[i]);
        app->nheld = 0;
        leave_group(app);
        rd_kafka_consumer_close(app->consumer);
        rd_kafka_destroy(app->consumer);
    }
    if (app->producer) {
        rd_kafka_flush(app->producer, 5000);
        rd_kafka_destroy(app->producer);
    }
    nw_worker_stop(app->worker);
    nw_store_close(app->store);
    nw_fp_ctx_free(app->fp_ctx);
    nw_events_free(&app->unmarked);
    free(app->slots[0].msgs);
    free(app->slots[1].msgs);
    free(app->held);
    nw_log_info("stopped", NW_LI("consumed", app->consumed), NW_LI("published", app->published),
                NW_LI("dead_letters", app->dead_letters));
}

int nw_ingest_run(const nw_config_t *cfg, volatile sig_atomic_t *stop,
                  volatile sig_atomic_t *give_up)
{
    app_t app = {.cfg = cfg, .stop = stop, .give_up = give_up};
    /* The endpoint comes first: /healthz answers (and /readyz says why not
     * ready) while the connections are being made. */
    nw_telemetry_init();
    nw_http_t *http = NULL;
    nw_err_t herr = {0};
    if (*cfg->http_addr && !(http = nw_http_start(cfg->http_addr, &herr))) {
        nw_log_error("cannot serve http", NW_LS("reason", herr.msg));
        return 2;
    }
    int rc = start(&app);
    if (rc != 0) {
        nw_http_ready_stopping();
        shutdown_app(&app);
        nw_http_stop(http);
        return rc;
    }
    app.next = &app.slots[0];
    app.worker = nw_worker_start("nw-store");
    app.fp_ctx = nw_fp_ctx_new();
    if (!app.worker || !app.fp_ctx) {
        nw_log_error("cannot start the store thread");
        rc = 2;
    }
    while (rc == 0) {
        batch_t *b = app.next;
        watch_fetching(&app);
        if (!*stop)
            collect(&app, b);
        if (b->n == 0 && !app.fly) {
            if (*stop)
                break;
            publish_mark_sent(&app);
            publish_sweep_outbox(&app, NULL);
            maintain(&app, 0);
            app.store_ready = nw_store_ready(app.store);
            rd_kafka_poll(app.producer, 0); /* idle: serve its callbacks */
            nw_telemetry_tick(app.store, true);
            continue;
        }
        if (b->n > 0)
            prepare(&app, b);
        bool fatal = false;
        if (app.fly && !finish_store(&app, app.fly, &fatal)) {
            rc = fatal ? 1 : 0;
            break; /* stopping (or fatal): nothing of it acknowledged, offsets not stored */
        }
        /* The worker is idle: the store is this thread's until the next submit. */
        app.store_ready = nw_store_ready(app.store);
        batch_t *stored = app.fly;
        if (stored)
            test_hook_after_commit(&app, stored->events.n);
        publish_mark_sent(&app);
        nw_telemetry_tick(app.store, true);
        app.fly = NULL;
        maintain(&app, 5000000LL);
        /* The sweep too, or a dead writer's events would wait for the end of
         * a replay: not the events of the batch just committed, which are
         * published right after (a slow transaction can make them old
         * enough to be swept). */
        publish_sweep_outbox(&app, stored ? &stored->events : NULL);
        if (b->n > 0) {
            submit(&app, b);
            app.fly = b;
            app.next = &app.slots[b == &app.slots[0]];
        }
        if (stored) {
            bool ok = publish_batch(&app, stored);
            batch_release(stored);
            if (!app.fly) /* nothing submitted: the store is free, mark now */
                publish_mark_sent(&app);
            nw_telemetry_tick(app.store, false);
            if (!ok)
                rc = 1;
        }
    }
    if (app.worker) {
        nw_worker_wait(app.worker); /* a batch submitted before a fatal error */
        publish_mark_sent(&app);
    }
    batch_release(&app.slots[0]);
    batch_release(&app.slots[1]);
    nw_http_ready_stopping();
    shutdown_app(&app);
    nw_http_stop(http);
    return rc;
}
