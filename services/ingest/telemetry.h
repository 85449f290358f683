/*
 * telemetry: the ingest service's metrics and readiness, apart from the loop
 * (ingest.c calls one function per event; the names and labels live here).
 *
 * Metrics (all prefixed newswire_; see docs/newswire-ingest.1 for the list):
 *   messages_consumed_total{agency,format}        raw messages taken into batches
 *   items_stored_total{agency,format,outcome}     items after the transaction: stored,
 *                                                 stored_no_event, redelivered, refused
 *   events_published_total{agency,type}           events the broker acknowledged
 *   dead_letters_total{agency,format,stage,reason}  dead letters acknowledged
 *   duplicates_total{kind}                        redelivery, in_batch
 *   outbox_republished_total                      events republished by the outbox sweep
 *   batch_size_messages                           histogram
 *   stage_duration_seconds{stage}                 histogram: parse, store, publish, batch
 *   db_errors_total{class,code}                   PostgreSQL errors: transient, fatal, row
 *   store_retries_total{reason}                   batches retried (concurrent_insert)
 *   outbox_backlog                                events not yet acknowledged (every 10 s)
 *   partitions_assigned                           partitions of topic.raw assigned here
 *   build_info{version,librdkafka,libpq}          1
 * plus kafkastats.h's lag and Kafka error metrics and http.h's readiness.
 *
 * Readiness: PostgreSQL is pinged every 2 s while the loop is idle (and
 * reconnected when it does not answer); every database error of the loop
 * marks it unreachable, every success reachable.
 */
#ifndef NW_TELEMETRY_H
#define NW_TELEMETRY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "event.h"
#include "formats/formats.h"
#include "store.h"

/* Register every metric (values at 0) and the build information. */
void nw_telemetry_init(void);

/* Seconds since an arbitrary start (CLOCK_MONOTONIC), for stage timings. */
double nw_telemetry_now(void);

/* A message taken into a batch, after parsing (items valid when parsed). */
void nw_telemetry_consumed(const rd_kafka_message_t *m, const nw_items_t *items, bool parsed);

/* The outcome of every item of a stored batch (and the store's retries). */
void nw_telemetry_stored(const nw_store_t *st, const nw_store_rec_t *recs, size_t n);

/* A dead letter the broker acknowledged; items may hold the message's parsed
 * items (a row PostgreSQL refused) or none (bad input). */
void nw_telemetry_dead_letter(const rd_kafka_message_t *m, const nw_items_t *items,
                              const char *stage, const nw_err_t *err);

/* Events the broker acknowledged. */
void nw_telemetry_published(const nw_events_t *events, bool republished);

/* One batch done: its size and stage durations in seconds. */
void nw_telemetry_batch(size_t messages, double parse_s, double fingerprint_s, double store_s,
                        double publish_s, double total_s);

/* A PostgreSQL error the loop met; the database counts as unreachable when
 * the error left the connection broken. */
void nw_telemetry_db_error(nw_store_t *st, const nw_err_t *err);

/* The database answered (marks it reachable). */
void nw_telemetry_db_ok(void);

/* The consumer's assignment changed: n partitions now. */
void nw_telemetry_partitions(int n);

/* Housekeeping between batches: ping PostgreSQL (every 2 s; reconnect when it
 * does not answer), refresh the outbox backlog (every 10 s) and the Kafka
 * readiness. With query_db false only the Kafka state is refreshed. */
void nw_telemetry_tick(nw_store_t *st, bool query_db);

#endif
