#include "telemetry.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "kafkastats.h"
#include "log.h"
#include "metrics.h"

#define PING_EVERY_S 2.0     /* PostgreSQL ping when nothing else talked to it */
#define BACKLOG_EVERY_S 10.0 /* outbox backlog refresh */

static nw_metric_t *m_consumed, *m_stored, *m_published, *m_dead, *m_dups, *m_republished,
    *m_batch_size, *m_stage, *m_db_errors, *m_retries, *m_backlog, *m_partitions;

static double last_db_ok, last_ping, last_backlog;
static uint64_t races_seen;

static const double batch_buckets[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                                       20000};

double nw_telemetry_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nw_telemetry_init(void)
{
    nw_kafkastats_register();
    m_consumed = nw_metric_counter("newswire_messages_consumed_total",
                                   "Raw messages taken from topic.raw into batches, by agency and "
                                   "wire format (unknown when neither parsing nor headers tell).",
                                   "agency,format");
    m_stored = nw_metric_counter(
        "newswire_items_stored_total",
        "Parsed items after their batch transaction, by outcome: stored (a new version, with an "
        "event), stored_no_event (older than the current version, or not news), redelivered "
        "(already stored: its original events are republished), refused (PostgreSQL refused the "
        "row: dead letter).",
        "agency,format,outcome");
    m_published = nw_metric_counter("newswire_events_published_total",
                                    "Enriched events acknowledged by the broker, by agency and "
                                    "event kind (new, updated, corrected, killed).",
                                    "agency,kind");
    m_dead = nw_metric_counter("newswire_dead_letters_total",
                               "Dead letters acknowledged by the broker, by agency, format, stage "
                               "(parse, store) and reason (error code).",
                               "agency,format,stage,reason");
    m_dups = nw_metric_counter("newswire_duplicates_total",
                               "Items whose version was already stored, by kind: redelivery (from "
                               "an earlier batch), in_batch (twice in one batch).",
                               "kind");
    m_republished = nw_metric_counter("newswire_outbox_republished_total",
                                      "Events the outbox sweep republished because their writer "
                                      "died before publishing them.",
                                      NULL);
    m_batch_size = nw_metric_histogram("newswire_batch_size_messages",
                                       "Messages per processed batch.", NULL, batch_buckets,
                                       sizeof batch_buckets / sizeof batch_buckets[0]);
    m_stage = nw_metric_histogram(
        "newswire_stage_duration_seconds",
        "Time per batch in each stage: parse (and serialize the ninjs), fingerprint, store (from "
        "handing the batch to the store thread to its commit, retries included; the main thread "
        "publishes the batch before and prepares the next one meanwhile), publish (until every "
        "event and dead letter is acknowledged), batch (from parsing to the last "
        "acknowledgement: batches overlap, so this includes waiting for the batch before).",
        "stage", nw_metric_buckets_seconds, nw_metric_buckets_seconds_n);
    m_db_errors = nw_metric_counter("newswire_db_errors_total",
                                    "PostgreSQL errors met by the loop, by class (transient, "
                                    "fatal, row) and code (SQLSTATE or pg-connection).",
                                    "class,code");
    m_retries = nw_metric_counter("newswire_store_retries_total",
                                  "Batch transactions retried, by reason (concurrent_insert: "
                                  "another replica inserted the same story first).",
                                  "reason");
    m_backlog = nw_metric_gauge("newswire_outbox_backlog",
                                "Events in the outbox not yet acknowledged by the broker.", NULL);
    m_partitions = nw_metric_gauge("newswire_partitions_assigned",
                                   "Partitions of topic.raw assigned to this replica.", NULL);
    nw_metric_t *info = nw_metric_gauge("newswire_build_info",
                                        "Versions of newswire and of its client libraries.",
                                        "version,librdkafka,libpq");
    char pq[16];
    snprintf(pq, sizeof pq, "%d.%d", PQlibVersion() / 10000, PQlibVersion() % 10000);
    nw_metric_set(info, NW_LV(NW_VERSION, rd_kafka_version_str(), pq), 1);
    nw_metric_t *start = nw_metric_gauge("process_start_time_seconds",
                                         "Start time of the process since the Unix epoch.", NULL);
    nw_metric_set(start, NULL, (double)time(NULL));
    /* series that should read 0 rather than be missing before the first event */
    nw_metric_add(m_dups, NW_LV("redelivery"), 0);
    nw_metric_add(m_dups, NW_LV("in_batch"), 0);
    nw_metric_add(m_retries, NW_LV("concurrent_insert"), 0);
}

/* ---- labels ---------------------------------------------------------------------- */

/* A header's value into buf ("" when absent). */
static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    buf[0] = 0;
    if (rd_kafka_message_headers(m, &h) || !h ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return buf;
    snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
    return buf;
}

/* Agency and format of a message: from its first parsed item, else from the
 * headers and the format sniffer, else "unknown". */
static void labels_of(const rd_kafka_message_t *m, const nw_items_t *items, char *agency,
                      size_t acap, char *format, size_t fcap)
{
    if (items && items->n > 0) {
        snprintf(agency, acap, "%s", items->v[0].provider);
        snprintf(format, fcap, "%s", items->v[0].format);
        return;
    }
    char hfmt[64], hag[64], ctype[128];
    nw_input_t in = {.data = m->payload, .len = m->payload ? m->len : 0,
                     .format = *header(m, "newswire-format", hfmt, sizeof hfmt) ? hfmt : NULL,
                     .agency = *header(m, "newswire-agency", hag, sizeof hag) ? hag : NULL,
                     .content_type = *header(m, "content-type", ctype, sizeof ctype) ? ctype
                                                                                      : NULL};
    const char *f = nw_format_detect(&in);
    snprintf(agency, acap, "%s", in.agency ? in.agency : "unknown");
    snprintf(format, fcap, "%s", f ? f : "unknown");
}

/* ---- events ------------------------------------------------------------------------ */

void nw_telemetry_consumed(const rd_kafka_message_t *m, const nw_items_t *items, bool parsed)
{
    char agency[64], format[64];
    labels_of(m, parsed ? items : NULL, agency, sizeof agency, format, sizeof format);
    nw_metric_inc(m_consumed, NW_LV(agency, format));
}

void nw_telemetry_stored(const nw_store_t *st, const nw_store_rec_t *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const nw_store_rec_t *r = &recs[i];
        const char *outcome = r->outcome == NW_REC_STORED ? (r->kind ? "stored" : "stored_no_event")
                              : r->outcome == NW_REC_RESEND ? "redelivered"
                              : r->outcome == NW_REC_FAILED ? "refused"
                                                            : NULL;
        if (!outcome)
            continue;
        nw_metric_inc(m_stored, NW_LV(r->item->provider, r->item->format, outcome));
        if (r->outcome != NW_REC_RESEND)
            continue;
        /* the same version stored by this very batch: a repeat inside the batch */
        bool in_batch = false;
        for (size_t k = 0; k < n && !in_batch; k++)
            in_batch = recs[k].outcome == NW_REC_STORED && recs[k].version_pk == r->version_pk;
        nw_metric_inc(m_dups, NW_LV(in_batch ? "in_batch" : "redelivery"));
    }
    uint64_t races = nw_store_stats(st)->races;
    if (races > races_seen)
        nw_metric_add(m_retries, NW_LV("concurrent_insert"), (double)(races - races_seen));
    races_seen = races;
    nw_telemetry_db_ok();
}

void nw_telemetry_dead_letter(const rd_kafka_message_t *m, const nw_items_t *items,
                              const char *stage, const nw_err_t *err)
{
    char agency[64], format[64];
    labels_of(m, items, agency, sizeof agency, format, sizeof format);
    nw_metric_inc(m_dead, NW_LV(agency, format, stage ? stage : "parse",
                                *err->code ? err->code : "unknown"));
}

void nw_telemetry_published(const nw_events_t *events, bool republished)
{
    for (size_t i = 0; i < events->n; i++) {
        const nw_event_t *e = &events->v[i];
        char agency[32];
        const char *colon = strchr(e->key, ':');
        snprintf(agency, sizeof agency, "%.*s", colon ? (int)(colon - e->key) : 0, e->key);
        const char *kind = !strncmp(e->type, NW_EVENT_TYPE_PREFIX, strlen(NW_EVENT_TYPE_PREFIX))
                               ? e->type + strlen(NW_EVENT_TYPE_PREFIX)
                               : e->type;
        nw_metric_inc(m_published, NW_LV(*agency ? agency : "unknown", kind));
    }
    if (republished)
        nw_metric_add(m_republished, NULL, (double)events->n);
}

void nw_telemetry_batch(size_t messages, double parse_s, double fingerprint_s, double store_s,
                        double publish_s, double total_s)
{
    nw_metric_observe(m_batch_size, NULL, (double)messages);
    nw_metric_observe(m_stage, NW_LV("parse"), parse_s);
    nw_metric_observe(m_stage, NW_LV("fingerprint"), fingerprint_s);
    nw_metric_observe(m_stage, NW_LV("store"), store_s);
    nw_metric_observe(m_stage, NW_LV("publish"), publish_s);
    nw_metric_observe(m_stage, NW_LV("batch"), total_s);
}

void nw_telemetry_db_error(nw_store_t *st, const nw_err_t *err)
{
    nw_metric_inc(m_db_errors, NW_LV(nw_err_class_name(err->cls), *err->code ? err->code : "unknown"));
    if (err->cls != NW_ERR_ROW && PQstatus(nw_store_conn(st)) != CONNECTION_OK)
        nw_http_ready_set(NW_READY_POSTGRES, false);
}

void nw_telemetry_db_ok(void)
{
    last_db_ok = nw_telemetry_now();
    nw_http_ready_set(NW_READY_POSTGRES, true);
}

void nw_telemetry_partitions(int n)
{
    nw_metric_set(m_partitions, NULL, n);
    nw_http_ready_set(NW_READY_PARTITIONS, n > 0);
}

/* ---- housekeeping ------------------------------------------------------------------- */

static void ping_db(nw_store_t *st)
{
    if (nw_store_ping(st)) {
        nw_telemetry_db_ok();
        return;
    }
    nw_err_t err = {0};
    if (nw_store_reconnect(st, &err) && nw_store_ping(st)) {
        nw_log_info("reconnected to PostgreSQL");
        nw_telemetry_db_ok();
        return;
    }
    if (!err.cls)
        nw_err_set(&err, NW_ERR_TRANSIENT, "pg-connection", "ping failed");
    if (nw_http_ready_get(NW_READY_POSTGRES))
        nw_log_warn("PostgreSQL does not answer", NW_LS("code", err.code),
                    NW_LS("reason", err.msg));
    nw_telemetry_db_error(st, &err);
    nw_http_ready_set(NW_READY_POSTGRES, false);
}

void nw_telemetry_tick(nw_store_t *st, bool query_db)
{
    int up = nw_kafkastats_brokers_up();
    if (up >= 0) /* before the first statistics, the start-up check stands */
        nw_http_ready_set(NW_READY_KAFKA, up == 1);
    if (!query_db || !st)
        return;
    double now = nw_telemetry_now();
    if (now - last_ping >= PING_EVERY_S && now - last_db_ok >= PING_EVERY_S) {
        last_ping = now;
        ping_db(st);
    }
    if (now - last_backlog >= BACKLOG_EVERY_S && nw_http_ready_get(NW_READY_POSTGRES)) {
        last_backlog = now;
        long backlog = nw_store_outbox_backlog(st);
        if (backlog >= 0) {
            nw_metric_set(m_backlog, NULL, (double)backlog);
        } else {
            nw_err_t err;
            nw_err_set(&err, NW_ERR_TRANSIENT, "outbox-backlog", "%s",
                       PQerrorMessage(nw_store_conn(st)));
            nw_telemetry_db_error(st, &err);
        }
    }
}
