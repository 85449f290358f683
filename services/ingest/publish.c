/*
 * What a stored batch sends: its events and dead letters (with the headers
 * CloudEvents and Kafka Connect tools read), then its offsets; the outbox
 * marks and sweep.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "kafka.h"
#include "log.h"
#include "telemetry.h"

static void add_event(app_t *app, nw_outmsg_t *om, const nw_event_t *e)
{
    memset(om, 0, sizeof *om);
    om->topic = app->cfg->topic_enriched;
    om->partition = RD_KAFKA_PARTITION_UA;
    om->key = e->key;
    om->key_len = strlen(e->key);
    om->value = e->body;
    om->value_len = e->body_len;
    const char *subject = strchr(e->key, ':');
    nw_outmsg_header_str(om, "ce_specversion", NW_EVENT_SPECVERSION);
    nw_outmsg_header_str(om, "ce_id", e->id);
    nw_outmsg_header_str(om, "ce_type", e->type);
    nw_outmsg_header_str(om, "ce_source", NW_EVENT_SOURCE);
    nw_outmsg_header_str(om, "ce_time", e->time);
    nw_outmsg_header_str(om, "ce_subject", subject ? subject + 1 : e->key);
    nw_outmsg_header_str(om, "content-type", "application/json");
}

/* A dead letter keeps the original key, value and headers untouched and adds
 * Kafka Connect's context headers (tools that browse DLQs read these names). */
static void add_dead_letter(app_t *app, nw_outmsg_t *om, inmsg_t *im)
{
    rd_kafka_message_t *m = im->msg;
    nw_outmsg_from(om, app->cfg->topic_dlq, m);
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0; h && rd_kafka_header_get_all(h, i, &name, &v, &n) == 0 &&
                       om->nheaders < NW_OUT_MAX_HEADERS - 13;
         i++)
        nw_outmsg_header(om, name, v, n); /* name lives as long as the message */
    /* Too big for the dead-letter topic: its first bytes, and the size; the
     * whole payload stays in the raw topic (newswire-replay reads it there).
     * Otherwise the broker would refuse it forever and stall the partition. */
    size_t max = app->cfg->event_max_bytes > 8192 ? (size_t)app->cfg->event_max_bytes - 8192 : 0;
    if (max && om->value_len > max) {
        char size[24];
        snprintf(size, sizeof size, "%zu", om->value_len);
        nw_outmsg_header_str(om, "newswire.dlq.truncated", size);
        om->value_len = max;
    }
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    nw_outmsg_header_str(om, "__connect.errors.topic", rd_kafka_topic_name(m->rkt));
    nw_outmsg_header_str(om, "__connect.errors.partition", part);
    nw_outmsg_header_str(om, "__connect.errors.offset", off);
    nw_outmsg_header_str(om, "__connect.errors.connector.name", "newswire-ingest");
    nw_outmsg_header_str(om, "__connect.errors.task.id", app->cfg->replica_id);
    nw_outmsg_header_str(om, "__connect.errors.stage", im->stage ? im->stage : "parse");
    nw_outmsg_header_str(om, "__connect.errors.class.name",
                         !strcmp(im->stage ? im->stage : "", "store") ? "store" : "formats");
    nw_outmsg_header_str(om, "__connect.errors.exception.class.name", im->err.code);
    nw_outmsg_header_str(om, "__connect.errors.exception.message", im->err.msg);
    nw_outmsg_header_str(om, "newswire.error.class", nw_err_class_name(im->err.cls));
    nw_outmsg_header_str(om, "newswire.error.code", im->err.code);
    nw_outmsg_header_str(om, "newswire.error.reason", im->err.msg);
}

static void store_offsets(app_t *app, const batch_t *b)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < b->n; i++) {
        const inmsg_t *im = &b->msgs[i];
        if (im->dropped)
            continue;
        rd_kafka_message_t *m = im->msg;
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(offs, rd_kafka_topic_name(m->rkt), m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offs, rd_kafka_topic_name(m->rkt),
                                                   m->partition);
        if (m->offset + 1 > tp->offset)
            tp->offset = m->offset + 1; /* stored as is: the next offset to read */
    }
    if (offs->cnt > 0) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(app->consumer, offs);
        if (e && e != RD_KAFKA_RESP_ERR__STATE)
            nw_log_warn("offset store failed", NW_LS("code", rd_kafka_err2name(e)));
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Mark the events published by the batch before as sent (the outbox sweep
 * would otherwise republish them). Only while the worker is idle. */
void publish_mark_sent(app_t *app)
{
    if (app->unmarked.n == 0)
        return;
    nw_err_t merr = {0};
    if (!nw_store_mark_sent(app->store, &app->unmarked, &merr)) {
        nw_log_warn("could not mark events sent (they will be republished)",
                    NW_LS("reason", merr.msg));
        nw_telemetry_db_error(app->store, &merr);
    }
    nw_events_free(&app->unmarked);
}

/* Publish a stored batch's events and dead letters, then store its offsets.
 * Returns false on a fatal error. */
bool publish_batch(app_t *app, batch_t *b)
{
    /* Rows PostgreSQL refused make their message a dead letter too (the
     * message's other items, if any, stay stored). */
    size_t nstored = 0, nheld = 0;
    for (size_t r = 0; r < b->nrecs; r++) {
        nstored += b->recs[r].outcome == NW_REC_STORED;
        nheld += b->recs[r].outcome == NW_REC_HELD;
    }
    for (size_t i = 0, r = 0; i < b->n && r < b->nrecs; i++) {
        inmsg_t *im = &b->msgs[i];
        if (!im->parsed || im->items.n == 0 || b->recs[r].item != &im->items.v[0])
            continue; /* not in the last attempt (dropped before it) */
        for (size_t k = 0; k < im->items.n; k++, r++) {
            if (b->recs[r].outcome == NW_REC_FAILED && im->parsed) {
                im->err = b->recs[r].err;
                im->stage = "store";
                im->parsed = false;
            }
        }
    }
    double t_publish = nw_telemetry_now();
    nw_events_t *events = &b->events;
    size_t ndead = 0;
    for (size_t i = 0; i < b->n; i++)
        ndead += !b->msgs[i].dropped && !b->msgs[i].parsed;
    size_t nout = events->n + ndead;
    nw_outmsg_t *out = calloc(nout + 1, sizeof *out);
    for (size_t i = 0; i < events->n; i++)
        add_event(app, &out[i], &events->v[i]);
    size_t k = events->n;
    for (size_t i = 0; i < b->n; i++) {
        inmsg_t *im = &b->msgs[i];
        if (im->dropped || im->parsed)
            continue;
        nw_log_warn("dead letter", NW_LS("stage", im->stage), NW_LS("code", im->err.code),
                    NW_LS("reason", im->err.msg), NW_LS("topic", rd_kafka_topic_name(im->msg->rkt)),
                    NW_LI("partition", im->msg->partition), NW_LI("offset", im->msg->offset));
        add_dead_letter(app, &out[k++], im);
    }
    nw_err_t err = {0};
    int64_t deadline = *app->stop ? nw_now_us() + app->cfg->shutdown_timeout_ms * 1000 / 2 : 0;
    bool sent = nw_kafka_send_all(app->producer, out, nout, deadline, app->give_up,
                                  (int)app->cfg->retry_max_ms, &err);
    for (size_t i = 0; i < nout; i++)
        nw_outmsg_clear(&out[i]);
    free(out);
    if (!sent) {
        nw_log_error("events not acknowledged; offsets not stored, the batch will be replayed",
                     NW_LS("code", err.code), NW_LS("reason", err.msg));
        return err.cls != NW_ERR_FATAL;
    }
    double t_published = nw_telemetry_now();
    nw_telemetry_published(events, false);
    for (size_t i = 0; i < b->n; i++)
        if (!b->msgs[i].dropped && !b->msgs[i].parsed)
            nw_telemetry_dead_letter(b->msgs[i].msg, &b->msgs[i].items, b->msgs[i].stage,
                                     &b->msgs[i].err);
    /* Marked sent before the next batch is submitted (ids are enough). */
    for (size_t i = 0; i < events->n; i++)
        nw_events_push(&app->unmarked, events->v[i].id, events->v[i].type, events->v[i].time,
                       NULL, NULL, 0);
    store_offsets(app, b);
    /* Commit now (async) rather than at the auto-committer's next tick (5 s):
     * a crash then redoes at most the batches in hand, and a replica that
     * keeps crashing still makes progress. */
    rd_kafka_commit(app->consumer, NULL, 1);
    app->published += events->n;
    app->dead_letters += ndead;
    /* store: from the first submission to the worker's end of the last
     * attempt (it overlaps the next batch's parse and this one's wait) */
    double store_s = b->t_stored - b->t_submitted;
    nw_telemetry_batch(b->n, b->t_parsed - b->t0, b->t_prepared - b->t_parsed, store_s,
                       t_published - t_publish, t_published - b->t0);
    nw_log_info("batch done", NW_LI("messages", b->n), NW_LI("stored", nstored),
                NW_LI("held_halves", nheld), NW_LI("events", events->n),
                NW_LI("dead_letters", ndead), NW_LI("parse_ms", (b->t_parsed - b->t0) * 1000),
                NW_LI("fingerprint_ms", (b->t_prepared - b->t_parsed) * 1000),
                NW_LI("store_ms", store_s * 1000), NW_LI("store_cpu_ms", b->store_cpu_s * 1000),
                NW_LI("publish_ms", (t_published - t_publish) * 1000));
    return true;
}

/* Republish events whose writer died before publishing them and whose input
 * will not come back (see nw_store_outbox_unsent). */
void publish_sweep_outbox(app_t *app, const nw_events_t *unpublished)
{
    /* Stopping: a successor sweeps. (Its sends would be given up at once,
     * their queue purged under the batch being drained.) */
    if (*app->stop)
        return;
    int64_t now = nw_now_us();
    if (now - app->last_sweep_us < app->cfg->outbox_sweep_s * 1000000LL / 2)
        return;
    app->last_sweep_us = now;
    nw_events_t ev = {0};
    nw_err_t err = {0};
    if (!nw_store_outbox_unsent(app->store, (int)app->cfg->outbox_sweep_s, 1000, unpublished, &ev,
                                &err)) {
        nw_log_warn("outbox sweep failed", NW_LS("reason", err.msg));
        nw_telemetry_db_error(app->store, &err);
        if (PQstatus(nw_store_conn(app->store)) != CONNECTION_OK)
            nw_store_reconnect(app->store, &err);
        return;
    }
    if (ev.n == 0)
        return;
    nw_outmsg_t *out = calloc(ev.n, sizeof *out);
    for (size_t i = 0; i < ev.n; i++)
        add_event(app, &out[i], &ev.v[i]);
    if (nw_kafka_send_all(app->producer, out, ev.n, nw_now_us() + 30000000, app->stop,
                          (int)app->cfg->retry_max_ms, &err) &&
        nw_store_mark_sent(app->store, &ev, &err)) {
        nw_log_info("outbox sweep republished events", NW_LI("events", ev.n));
        nw_telemetry_published(&ev, true);
    }
    for (size_t i = 0; i < ev.n; i++)
        nw_outmsg_clear(&out[i]);
    free(out);
    nw_events_free(&ev);
}

