#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafkastats.h"
#include "log.h"

int64_t nw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* librdkafka logs through us, so stderr stays one JSON object per line. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    nw_loglevel_t l = level <= 3 ? NW_LOG_ERROR : level <= 5 ? NW_LOG_WARN
                    : level == 6 ? NW_LOG_INFO : NW_LOG_DEBUG;
    NW_LOG_(l, "librdkafka", NW_LS("client", rd_kafka_name(rk)), NW_LS("facility", fac),
            NW_LS("detail", buf));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    nw_kafkastats_error(rk, (rd_kafka_resp_err_t)err);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, why, sizeof why);
        nw_log_error("kafka fatal error", NW_LS("client", rd_kafka_name(rk)),
                     NW_LS("code", rd_kafka_err2name(ferr)), NW_LS("reason", why));
        return;
    }
    /* Broker down, transport errors: librdkafka reconnects by itself. */
    nw_log_warn("kafka error", NW_LS("client", rd_kafka_name(rk)),
                NW_LS("code", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
                NW_LS("reason", reason));
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    nw_outmsg_t *om = m->_private;
    if (!om)
        return;
    om->last_err = m->err;
    om->state = m->err ? NW_OUT_FAILED : NW_OUT_ACKED;
    if (m->err)
        nw_kafkastats_error(rk, m->err);
}

static bool conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, nw_err_t *err)
{
    char why[512];
    if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK)
        return nw_err_set(err, NW_ERR_FATAL, "kafka-config", "kafka setting %s: %s", k, why);
    return true;
}

/* Passthrough options: "producer.x" only for the producer, "consumer.x" only
 * for the consumer, anything else for both. */
static bool apply_passthrough(rd_kafka_conf_t *conf, const nw_config_t *cfg, bool producer,
                              nw_err_t *err)
{
    for (size_t i = 0; i < cfg->n_kafka_opts; i++) {
        const char *k = cfg->kafka_opts[i].key;
        if (!strncmp(k, "producer.", 9)) {
            if (!producer)
                continue;
            k += 9;
        } else if (!strncmp(k, "consumer.", 9)) {
            if (producer)
                continue;
            k += 9;
        }
        if (!conf_set(conf, k, cfg->kafka_opts[i].value, err))
            return false;
    }
    return true;
}

static rd_kafka_conf_t *base_conf(const nw_config_t *cfg, const char *role, nw_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char cid[256];
    snprintf(cid, sizeof cid, "%s-%s", cfg->client_id ? cfg->client_id : "newswire", role);
    if (!conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err) ||
        !conf_set(conf, "client.id", cid, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, nw_kafkastats_cb);
    return conf;
}

rd_kafka_t *nw_kafka_producer_new(const nw_config_t *cfg, nw_err_t *err)
{
    rd_kafka_conf_t *conf = base_conf(cfg, "producer", err);
    if (!conf)
        return NULL;
    if (!conf_set(conf, "enable.idempotence", "true", err) ||
        !conf_set(conf, "compression.codec", "lz4", err) ||
        !conf_set(conf, "linger.ms", "5", err) ||
        !conf_set(conf, "message.timeout.ms", "60000", err) ||
        !apply_passthrough(conf, cfg, true, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        nw_err_set(err, NW_ERR_FATAL, "kafka-config", "kafka producer: %s", why);
        return NULL;
    }
    return rk;
}

rd_kafka_t *nw_kafka_consumer_new(const nw_config_t *cfg, nw_rebalance_fn rebalance,
                                  void *opaque, nw_err_t *err)
{
    rd_kafka_conf_t *conf = base_conf(cfg, "consumer", err);
    if (!conf)
        return NULL;
    if (!conf_set(conf, "group.id", cfg->group_id, err) ||
        !conf_set(conf, "enable.auto.commit", "true", err) ||
        !conf_set(conf, "enable.auto.offset.store", "false", err) ||
        !conf_set(conf, "auto.offset.reset", "earliest", err) ||
        !conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err) ||
        !conf_set(conf, "enable.partition.eof", "false", err) ||
        !conf_set(conf, "statistics.interval.ms", "5000", err) || /* lag metrics, readiness */
        /* Prefetch at most 16 MB (librdkafka's default is 64 MB): four
         * batches of 500 typical items, and the peak RSS of a 20,000-item
         * replay drops from 155 MB to 102 MB at the same speed (bench/). */
        !conf_set(conf, "queued.max.messages.kbytes", "16384", err) ||
        !apply_passthrough(conf, cfg, false, err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (rebalance)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, opaque);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        nw_err_set(err, NW_ERR_FATAL, "kafka-config", "kafka consumer: %s", why);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

bool nw_kafka_check(rd_kafka_t *rk, int timeout_ms, nw_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return nw_err_set(err, NW_ERR_TRANSIENT, "kafka-unreachable",
                          "no Kafka broker answered within %d ms: %s", timeout_ms,
                          rd_kafka_err2str(e));
    rd_kafka_metadata_destroy(md);
    return true;
}

int nw_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

/* ---- reliable sending ---------------------------------------------------- */

bool nw_outmsg_header(nw_outmsg_t *m, const char *name, const void *value, size_t len)
{
    if (m->nheaders == NW_OUT_MAX_HEADERS)
        return false;
    nw_header_t *h = &m->headers[m->nheaders++];
    h->name = name;
    h->len = len;
    h->value = NULL;
    if (value) {
        h->value = malloc(len + 1);
        memcpy(h->value, value, len);
        h->value[len] = 0;
    }
    return true;
}

bool nw_outmsg_header_str(nw_outmsg_t *m, const char *name, const char *value)
{
    return nw_outmsg_header(m, name, value, value ? strlen(value) : 0);
}

void nw_outmsg_clear(nw_outmsg_t *m)
{
    for (int i = 0; i < m->nheaders; i++)
        free(m->headers[i].value);
    memset(m, 0, sizeof *m);
}

void nw_outmsg_from(nw_outmsg_t *om, const char *topic, const rd_kafka_message_t *m)
{
    memset(om, 0, sizeof *om);
    om->topic = topic;
    om->partition = RD_KAFKA_PARTITION_UA;
    om->key = m->key;
    om->key_len = m->key_len;
    om->value = m->payload;
    om->value_len = m->len;
}

static rd_kafka_resp_err_t produce_one(rd_kafka_t *rk, nw_outmsg_t *m)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)m->nheaders);
    for (int i = 0; i < m->nheaders; i++)
        rd_kafka_header_add(hdrs, m->headers[i].name, -1, m->headers[i].value,
                            m->headers[i].value ? (ssize_t)m->headers[i].len : 0);
    m->state = NW_OUT_IN_FLIGHT;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_PARTITION(m->partition),
        RD_KAFKA_V_KEY((void *)m->key, m->key_len),
        RD_KAFKA_V_VALUE((void *)m->value, m->value_len), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
    if (e) {
        m->state = NW_OUT_FAILED;
        m->last_err = e;
        rd_kafka_headers_destroy(hdrs); /* ownership passes only on success */
    }
    return e;
}

static bool expired(int64_t deadline_us, volatile sig_atomic_t *stop)
{
    return (stop && *stop) || (deadline_us && nw_now_us() > deadline_us);
}

/* Give up on what is still in flight: purge it so that no delivery report
 * can reach the caller's messages after they are freed. */
static void abandon(rd_kafka_t *rk, nw_outmsg_t *msgs, size_t n)
{
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int spins = 0; spins < 100; spins++) {
        bool busy = false;
        for (size_t i = 0; i < n && !busy; i++)
            busy = msgs[i].state == NW_OUT_IN_FLIGHT;
        if (!busy)
            return;
        rd_kafka_poll(rk, 50);
    }
    /* Still not reported: detach them rather than risk a write into freed memory. */
    rd_kafka_flush(rk, 1000);
}

bool nw_kafka_send_all(rd_kafka_t *rk, nw_outmsg_t *msgs, size_t n, int64_t deadline_us,
                       volatile sig_atomic_t *stop, int retry_max_ms, nw_err_t *err)
{
    int backoff_ms = 100;
    for (;;) {
        size_t failed = 0;
        for (size_t i = 0; i < n; i++) {
            nw_outmsg_t *m = &msgs[i];
            if (m->state != NW_OUT_UNSENT && m->state != NW_OUT_FAILED)
                continue;
            rd_kafka_resp_err_t e;
            while ((e = produce_one(rk, m)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 20); /* back pressure: let delivery reports drain */
                if (expired(deadline_us, stop))
                    break;
            }
            if (e && e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                nw_log_warn("produce refused", NW_LS("topic", m->topic),
                            NW_LS("code", rd_kafka_err2name(e)));
            if (expired(deadline_us, stop))
                break;
        }
        for (;;) {
            size_t in_flight = 0;
            failed = 0;
            for (size_t i = 0; i < n; i++) {
                in_flight += msgs[i].state == NW_OUT_IN_FLIGHT;
                failed += msgs[i].state == NW_OUT_FAILED || msgs[i].state == NW_OUT_UNSENT;
            }
            if (in_flight == 0)
                break;
            /* flush, not poll: it sends what linger.ms would hold back (all
             * of the batch is queued) and serves the delivery reports */
            rd_kafka_flush(rk, 50);
            if (expired(deadline_us, stop)) {
                abandon(rk, msgs, n);
                return nw_err_set(err, NW_ERR_TRANSIENT, "kafka-timeout",
                                  "%zu messages not acknowledged before the deadline", in_flight);
            }
        }
        if (failed == 0)
            return true;
        char why[512];
        if (rd_kafka_fatal_error(rk, why, sizeof why))
            return nw_err_set(err, NW_ERR_FATAL, "kafka-fatal", "producer: %s", why);
        rd_kafka_resp_err_t last = 0;
        for (size_t i = 0; i < n && !last; i++)
            if (msgs[i].state == NW_OUT_FAILED)
                last = msgs[i].last_err;
        nw_log_warn("delivery failed, retrying", NW_LI("messages", failed),
                    NW_LS("code", rd_kafka_err2name(last)), NW_LI("backoff_ms", backoff_ms));
        int64_t until = nw_now_us() + (int64_t)backoff_ms * 1000;
        while (nw_now_us() < until) {
            rd_kafka_poll(rk, 50);
            if (expired(deadline_us, stop))
                return nw_err_set(err, NW_ERR_TRANSIENT, "kafka-unavailable",
                                  "%zu messages not delivered: %s", failed,
                                  rd_kafka_err2str(last));
        }
        backoff_ms = backoff_ms * 2 > retry_max_ms ? retry_max_ms : backoff_ms * 2;
    }
}
