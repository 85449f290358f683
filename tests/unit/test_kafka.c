/* Unit tests for nw_kafka_send_all's control flow on librdkafka's mock
 * cluster (the real broker is exercised by the integration and fault
 * tests): every message acknowledged despite injected broker errors; a
 * broker that never answers ends at the deadline with nothing left in
 * flight. And the fetch watchdog's reading of the consumer's statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "kafka.h"
#include "kafkastats.h"
#include "log.h"

static rd_kafka_t *mock_producer(const char *timeout_ms)
{
    nw_config_t cfg;
    nw_err_t err = {0};
    char *argv[] = {"test", "--kafka-opt", "test.mock.num.brokers=1", "--kafka-opt",
                    "message.timeout.ms", NULL};
    char opt[64];
    snprintf(opt, sizeof opt, "message.timeout.ms=%s", timeout_ms);
    argv[4] = opt;
    static const char *const used[] = {"kafka.brokers", "client.id", NULL};
    assert_int_equal(nw_config_load(&cfg, "test", "test", used, 5, argv, NULL, NULL, &err), 0);
    rd_kafka_t *rk = nw_kafka_producer_new(&cfg, &err);
    nw_config_free(&cfg);
    assert_non_null(rk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(mc);
    rd_kafka_mock_topic_create(mc, "t", 2, 1);
    return rk;
}

static void fill(nw_outmsg_t *m, size_t n, char (*vals)[32])
{
    for (size_t i = 0; i < n; i++) {
        memset(&m[i], 0, sizeof m[i]);
        snprintf(vals[i], 32, "value-%zu", i);
        m[i].topic = "t";
        m[i].partition = RD_KAFKA_PARTITION_UA;
        m[i].key = vals[i];
        m[i].key_len = strlen(vals[i]);
        m[i].value = vals[i];
        m[i].value_len = strlen(vals[i]);
        nw_outmsg_header_str(&m[i], "h", "v");
    }
}

static void test_acked_despite_errors(void **state)
{
    (void)state;
    rd_kafka_t *rk = mock_producer("5000");
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    /* the first produce requests fail with retriable errors */
    rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 3,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    enum { N = 200 };
    static nw_outmsg_t m[N];
    static char vals[N][32];
    fill(m, N, vals);
    nw_err_t err = {0};
    assert_true(nw_kafka_send_all(rk, m, N, nw_now_us() + 60000000LL, NULL, 200, &err));
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(m[i].state, NW_OUT_ACKED);
        nw_outmsg_clear(&m[i]);
    }
    rd_kafka_destroy(rk);
}

static void test_deadline_when_broker_is_gone(void **state)
{
    (void)state;
    rd_kafka_t *rk = mock_producer("1000");
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    rd_kafka_mock_broker_set_down(mc, 1);
    enum { N = 20 };
    static nw_outmsg_t m[N];
    static char vals[N][32];
    fill(m, N, vals);
    nw_err_t err = {0};
    int64_t t0 = nw_now_us();
    assert_false(nw_kafka_send_all(rk, m, N, t0 + 3000000LL, NULL, 200, &err));
    assert_int_equal(err.cls, NW_ERR_TRANSIENT);
    for (size_t i = 0; i < N; i++) {
        assert_int_not_equal(m[i].state, NW_OUT_ACKED);
        assert_int_not_equal(m[i].state, NW_OUT_IN_FLIGHT); /* no report can arrive later */
        nw_outmsg_clear(&m[i]);
    }
    rd_kafka_destroy(rk);
}

static void test_stop_flag(void **state)
{
    (void)state;
    rd_kafka_t *rk = mock_producer("60000");
    rd_kafka_mock_broker_set_down(rd_kafka_handle_mock_cluster(rk), 1);
    static nw_outmsg_t m[5];
    static char vals[5][32];
    fill(m, 5, vals);
    volatile sig_atomic_t stop = 1; /* already asked to give up */
    nw_err_t err = {0};
    assert_false(nw_kafka_send_all(rk, m, 5, 0, &stop, 200, &err));
    for (size_t i = 0; i < 5; i++) {
        assert_int_not_equal(m[i].state, NW_OUT_IN_FLIGHT);
        nw_outmsg_clear(&m[i]);
    }
    rd_kafka_destroy(rk);
}

/* One statistics report of a consumer: the broker's state and, for topic
 * "t", partition 0's fetch state (1 and 2 are active; 2 is not ours). */
static void report(rd_kafka_t *rk, const char *broker, const char *p0)
{
    char json[512];
    int n = snprintf(json, sizeof json,
                     "{\"brokers\": {\"b:1/1\": {\"state\": \"%s\"}},"
                     " \"topics\": {\"t\": {\"partitions\": {"
                     "\"0\": {\"desired\": true, \"fetch_state\": \"%s\"},"
                     "\"1\": {\"desired\": true, \"fetch_state\": \"active\"},"
                     "\"2\": {\"desired\": false, \"fetch_state\": \"none\"},"
                     "\"-1\": {\"desired\": false, \"fetch_state\": \"none\"}}}}}",
                     broker, p0);
    assert_int_equal(nw_kafkastats_cb(rk, json, (size_t)n, NULL), 0);
}

static int unfetched(int64_t min_age_us, int32_t *partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int n = nw_kafkastats_unfetched(min_age_us, l);
    assert_int_equal(n, l->cnt);
    if (n == 1) {
        assert_string_equal(l->elems[0].topic, "t");
        *partition = l->elems[0].partition;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

/* The fetch watchdog's input: an assigned partition librdkafka does not
 * fetch while a broker is up, from when it was first seen so. */
static void test_unfetched_partitions(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "g", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    int32_t part = -1;
    /* AGE against sleeps of 0.4 + 0.7 s: a check made at once after a report
     * fails only if this process stalls for a whole second in between. */
    const int64_t AGE = 1000000;
    const useconds_t PAST_AGE = 1100000;
    report(rk, "UP", "offset-query");
    assert_int_equal(unfetched(AGE, &part), 0); /* not for long enough yet */
    usleep(400000);
    report(rk, "UP", "offset-query"); /* still: its clock runs from the first report */
    usleep(700000);
    assert_int_equal(unfetched(AGE, &part), 1);
    assert_int_equal(part, 0);
    assert_int_equal(unfetched(AGE, &part), 0); /* reported: its clock starts again */
    report(rk, "DOWN", "offset-query");         /* an outage is not a stuck partition */
    usleep(PAST_AGE);
    assert_int_equal(unfetched(AGE, &part), 0);
    report(rk, "UP", "active");
    usleep(PAST_AGE);
    assert_int_equal(unfetched(AGE, &part), 0);
    nw_kafkastats_pretend_unfetched(1); /* the test hook: active, shown as not fetched */
    report(rk, "UP", "active");
    usleep(PAST_AGE);
    assert_int_equal(unfetched(AGE, &part), 1);
    assert_int_equal(part, 1);
    nw_kafkastats_pretend_unfetched(-1);
    report(rk, "UP", "active");
    usleep(PAST_AGE);
    assert_int_equal(unfetched(0, &part), 0);
    rd_kafka_destroy(rk);
}

int main(void)
{
    nw_log_set_level("error"); /* the mock cluster's chatter */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acked_despite_errors),
        cmocka_unit_test(test_deadline_when_broker_is_gone),
        cmocka_unit_test(test_stop_flag),
        cmocka_unit_test(test_unfetched_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
