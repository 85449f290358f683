#include "kafkastats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "metrics.h"

static nw_metric_t *m_errors, *m_lag, *m_lag_stored, *m_unfetched;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static atomic_int consumer_brokers_up = -1;

/* Assigned partitions seen not fetched in the latest statistics, since when. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t since_us;
} unfetched_t;
static pthread_mutex_t unfetched_mu = PTHREAD_MUTEX_INITIALIZER;
static unfetched_t *unfetched;
static size_t nunfetched;
static atomic_int pretend_unfetched = -1;

static void metrics_init(void)
{
    m_errors = nw_metric_counter("newswire_kafka_errors_total",
                                 "Kafka client errors by client (consumer, producer) and librdkafka "
                                 "error code: client errors, failed deliveries, consume errors.",
                                 "client,code");
    m_lag = nw_metric_gauge("newswire_consumer_lag",
                            "Messages between the committed offset and the high watermark, per "
                            "assigned partition (librdkafka statistics).",
                            "topic,partition");
    m_lag_stored = nw_metric_gauge("newswire_consumer_lag_stored",
                                   "Messages between the stored offset (processing finished) and "
                                   "the high watermark, per assigned partition.",
                                   "topic,partition");
    m_unfetched = nw_metric_counter("newswire_kafka_unfetched_partitions_total",
                                    "Assigned partitions found not fetched by librdkafka for "
                                    "kafka.fetch.watchdog.s with a broker up, and assigned again.",
                                    "topic");
}

void nw_kafkastats_register(void)
{
    pthread_once(&metrics_once, metrics_init);
}

static void count(const char *client, rd_kafka_resp_err_t code)
{
    pthread_once(&metrics_once, metrics_init);
    nw_metric_inc(m_errors, NW_LV(client, rd_kafka_err2name(code)));
}

void nw_kafkastats_consume_error(rd_kafka_resp_err_t code)
{
    count("consumer", code);
}

void nw_kafkastats_error(const rd_kafka_t *rk, rd_kafka_resp_err_t code)
{
    count(rd_kafka_type(rk) == RD_KAFKA_CONSUMER ? "consumer" : "producer", code);
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && rd_kafka_type(rk) == RD_KAFKA_CONSUMER)
        atomic_store(&consumer_brokers_up, 0);
}

int nw_kafkastats_brokers_up(void)
{
    return atomic_load(&consumer_brokers_up);
}

static json_int_t json_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* librdkafka reports no lag (-1) for a partition where this consumer has
 * not stored (or the group not committed) an offset yet. The position is then
 * the committed offset, or with none the low watermark, where the consumer
 * starts (auto.offset.reset=earliest): everything retained is lag. */
static json_int_t partition_lag(const json_t *p, const char *lag_key, bool stored)
{
    json_int_t lag = json_int(p, lag_key);
    if (lag >= 0)
        return lag;
    json_int_t hi = json_int(p, "hi_offset");
    json_int_t pos = stored ? json_int(p, "stored_offset") : -1;
    if (pos < 0)
        pos = json_int(p, "committed_offset");
    if (pos < 0)
        pos = json_int(p, "lo_offset");
    return hi >= 0 && pos >= 0 && pos <= hi ? hi - pos : -1;
}

/* A partition of this consumer's assignment in the statistics: -1 is
 * librdkafka's internal "unassigned" queue; desired = in our assignment. */
static bool assigned(const char *part, const json_t *p)
{
    return strcmp(part, "-1") && json_is_true(json_object_get(p, "desired"));
}

static void unfetched_free(unfetched_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].topic);
    free(v);
}

/* The assigned partitions of one statistics report that are not fetched,
 * each keeping the time it was first seen so from the previous report. No
 * broker up: none (an outage is not librdkafka forgetting a partition). */
static void unfetched_update(const json_t *st, bool up)
{
    int64_t now = nw_now_us();
    unfetched_t *next = NULL;
    size_t n = 0, cap = 0;
    const char *topic, *part;
    json_t *t, *p;
    json_object_foreach(json_object_get(st, "topics"), topic, t) {
        json_object_foreach(json_object_get(t, "partitions"), part, p) {
            if (!up || !assigned(part, p))
                continue;
            const char *state = json_string_value(json_object_get(p, "fetch_state"));
            int32_t id = (int32_t)atoi(part);
            bool fetched =
                state && !strcmp(state, "active") && id != atomic_load(&pretend_unfetched);
            if (fetched)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                unfetched_t *grown = realloc(next, cap * sizeof *next);
                if (!grown)
                    break;
                next = grown;
            }
            next[n] = (unfetched_t){strdup(topic), id, now};
            if (!next[n].topic)
                break;
            n++;
        }
    }
    pthread_mutex_lock(&unfetched_mu);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nunfetched; j++)
            if (next[i].partition == unfetched[j].partition &&
                !strcmp(next[i].topic, unfetched[j].topic))
                next[i].since_us = unfetched[j].since_us;
    unfetched_free(unfetched, nunfetched);
    unfetched = next;
    nunfetched = n;
    pthread_mutex_unlock(&unfetched_mu);
}

int nw_kafkastats_unfetched(int64_t min_age_us, rd_kafka_topic_partition_list_t *out)
{
    pthread_once(&metrics_once, metrics_init);
    int64_t now = nw_now_us();
    int added = 0;
    pthread_mutex_lock(&unfetched_mu);
    for (size_t i = 0; i < nunfetched; i++) {
        if (now - unfetched[i].since_us < min_age_us)
            continue;
        rd_kafka_topic_partition_list_add(out, unfetched[i].topic, unfetched[i].partition);
        nw_metric_inc(m_unfetched, NW_LV(unfetched[i].topic));
        unfetched[i].since_us = now;
        added++;
    }
    pthread_mutex_unlock(&unfetched_mu);
    return added;
}

void nw_kafkastats_pretend_unfetched(int partition)
{
    atomic_store(&pretend_unfetched, partition);
}

/* The statistics JSON (https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md):
 * the lag of every partition assigned to this consumer, and whether a broker
 * connection is up. The producer's statistics are not used. */
int nw_kafkastats_cb(rd_kafka_t *rk, char *text, size_t len, void *opaque)
{
    if (rd_kafka_type(rk) != RD_KAFKA_CONSUMER)
        return 0;
    pthread_once(&metrics_once, metrics_init);
    json_t *st = json_loadb(text, len, 0, NULL);
    if (!st)
        return 0;
    const char *name;
    json_t *b;
    int up = 0;
    json_object_foreach(json_object_get(st, "brokers"), name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        up |= state && !strcmp(state, "UP");
    }
    atomic_store(&consumer_brokers_up, up);
    unfetched_update(st, up);
    nw_metric_mark_stale(m_lag);
    nw_metric_mark_stale(m_lag_stored);
    const char *topic, *part;
    json_t *t, *p;
    json_object_foreach(json_object_get(st, "topics"), topic, t) {
        json_object_foreach(json_object_get(t, "partitions"), part, p) {
            if (!assigned(part, p))
                continue;
            json_int_t lag = partition_lag(p, "consumer_lag", false);
            json_int_t lag_stored = partition_lag(p, "consumer_lag_stored", true);
            if (lag >= 0)
                nw_metric_set(m_lag, NW_LV(topic, part), (double)lag);
            if (lag_stored >= 0)
                nw_metric_set(m_lag_stored, NW_LV(topic, part), (double)lag_stored);
        }
    }
    nw_metric_drop_stale(m_lag);
    nw_metric_drop_stale(m_lag_stored);
    json_decref(st);
    return 0; /* librdkafka frees text */
}
