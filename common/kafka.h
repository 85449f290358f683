/*
 * kafka: librdkafka clients configured the way newswire needs them, and a
 * sender that does not give up on a message until the broker acknowledged it.
 *
 * Consumer: consumer group, cooperative-sticky assignment, offsets stored by
 * the application only after a message's results are durable
 * (enable.auto.offset.store=false) and committed by the auto-committer.
 * Producer: idempotent (acks=all, ordered, no duplicates from retries),
 * lz4-compressed, delivery reports per message.
 *
 * Written against librdkafka 2.0.2 (Debian 12): no rd_kafka_offset_store_message.
 */
#ifndef NW_KAFKA_H
#define NW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef void (*nw_rebalance_fn)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque);

/* Create the producer. Returns NULL with err on a bad configuration. */
rd_kafka_t *nw_kafka_producer_new(const nw_config_t *cfg, nw_err_t *err);

/* Create the consumer of `cfg->group_id`; `rebalance` (may be NULL) is called
 * from rd_kafka_consumer_poll() with `opaque`. */
rd_kafka_t *nw_kafka_consumer_new(const nw_config_t *cfg, nw_rebalance_fn rebalance,
                                  void *opaque, nw_err_t *err);

/* Ask the cluster for its metadata: fails (transient) when no broker answers
 * within timeout_ms, so a program can refuse to start against nothing. */
bool nw_kafka_check(rd_kafka_t *rk, int timeout_ms, nw_err_t *err);

/* Partition count of a topic, or -1 when it does not exist or no broker answers. */
int nw_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

/* ---- reliable sending --------------------------------------------------- */

#define NW_OUT_MAX_HEADERS 24

typedef struct nw_header {
    const char *name;  /* borrowed: a literal or kept alive by the caller */
    char *value;       /* owned (NULL value = header without value) */
    size_t len;
} nw_header_t;

typedef enum {
    NW_OUT_UNSENT = 0,
    NW_OUT_IN_FLIGHT,
    NW_OUT_ACKED,
    NW_OUT_FAILED,
} nw_outstate_t;

/* A message to send; the sender keeps it until the broker acknowledges it. */
typedef struct nw_outmsg {
    const char *topic;          /* borrowed */
    const void *key;            /* borrowed */
    size_t key_len;
    const void *value;          /* borrowed */
    size_t value_len;
    int32_t partition;          /* RD_KAFKA_PARTITION_UA = by key */
    nw_header_t headers[NW_OUT_MAX_HEADERS];
    int nheaders;
    volatile nw_outstate_t state;
    rd_kafka_resp_err_t last_err;
} nw_outmsg_t;

/* Add a header; the value is copied. Returns false when full. */
bool nw_outmsg_header(nw_outmsg_t *m, const char *name, const void *value, size_t len);
bool nw_outmsg_header_str(nw_outmsg_t *m, const char *name, const char *value);
void nw_outmsg_clear(nw_outmsg_t *m);

/* Start *om (wholly overwritten) as a send of consumed message m's key and
 * value (borrowed: m must outlive the send) to `topic`, partitioned by key,
 * no headers yet. */
void nw_outmsg_from(nw_outmsg_t *om, const char *topic, const rd_kafka_message_t *m);

/* Send every message and wait until all are acknowledged, re-sending those
 * whose delivery failed, with back-off. Gives up (false, transient) only when
 * `deadline_us` (CLOCK_MONOTONIC microseconds, 0 = none) passes or *stop
 * becomes non-zero; messages already acknowledged keep state NW_OUT_ACKED. */
bool nw_kafka_send_all(rd_kafka_t *producer, nw_outmsg_t *msgs, size_t n, int64_t deadline_us,
                       volatile sig_atomic_t *stop, int retry_max_ms, nw_err_t *err);

/* CLOCK_MONOTONIC in microseconds. */
int64_t nw_now_us(void);

#endif
