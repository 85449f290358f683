/*
 * kafkastats: what librdkafka tells about itself, as metrics and readiness.
 *
 * kafka.c registers nw_kafkastats_cb as every client's statistics callback
 * (the consumer sets statistics.interval.ms = 5000 unless passed through) and
 * counts errors here. Exported:
 *   newswire_consumer_lag{topic,partition}         high watermark - committed offset
 *   newswire_consumer_lag_stored{topic,partition}  high watermark - stored offset
 *       (what processing has finished: the lag to alert on)
 *   newswire_kafka_errors_total{client,code}       client errors (error_cb), failed
 *       deliveries, consume errors; code = librdkafka's error name
 * Only partitions assigned to this consumer have lag series; a revoked
 * partition's series disappear with the next statistics.
 */
#ifndef NW_KAFKASTATS_H
#define NW_KAFKASTATS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Register the metrics now (they appear at 0 before the first error). */
void nw_kafkastats_register(void);

/* rd_kafka_conf_set_stats_cb() callback (runs on the polling thread). */
int nw_kafkastats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* Count an error of client rk in newswire_kafka_errors_total. */
void nw_kafkastats_error(const rd_kafka_t *rk, rd_kafka_resp_err_t code);

/* Count an error the consumer returned in place of a message. */
void nw_kafkastats_consume_error(rd_kafka_resp_err_t code);

/* Whether the consumer has a broker connection up, from its latest
 * statistics: 1 yes, 0 no (also after an all-brokers-down error), -1 not
 * known yet (no statistics received). */
int nw_kafkastats_brokers_up(void);

/* Partitions of the consumer's assignment that librdkafka has not been
 * fetching for at least min_age_us while a broker connection was up (its
 * statistics: desired, fetch_state not "active"). librdkafka 2.0.2 can leave
 * a freshly assigned partition so for good (librdkafka#5586: a request-level
 * error of the committed-offset fetch, as after a broker restart); a new
 * assignment recovers it. Appends them to out and restarts their clocks, so
 * a partition is reported again only after another min_age_us. Returns how
 * many were appended. */
int nw_kafkastats_unfetched(int64_t min_age_us, rd_kafka_topic_partition_list_t *out);

/* Testing only: statistics show partition `partition` of every topic as not
 * fetched while it is assigned (-1: off). */
void nw_kafkastats_pretend_unfetched(int partition);

#endif
