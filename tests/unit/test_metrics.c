/* Unit tests for metrics: the exact text exposition, escaping, histograms,
 * label-set handling and concurrent updates while rendering. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static int reset(void **state)
{
    (void)state;
    nw_metrics_reset();
    return 0;
}

static void assert_render(const char *want)
{
    size_t len = 0;
    char *got = nw_metrics_render(&len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
}

static void test_counter_and_gauge_exposition(void **state)
{
    (void)state;
    nw_metric_t *c = nw_metric_counter("nw_items_total", "Items seen.", "agency,outcome");
    nw_metric_t *g = nw_metric_gauge("nw_backlog", "Rows waiting.", NULL);
    assert_non_null(c);
    assert_non_null(g);
    nw_metric_inc(c, NW_LV("ap", "stored"));
    nw_metric_add(c, NW_LV("ap", "stored"), 2);
    nw_metric_inc(c, NW_LV("afp", "dead"));
    nw_metric_add(c, NW_LV("afp", "dead"), -5); /* a counter never goes down */
    nw_metric_set(g, NULL, 0.25);
    assert_render("# HELP nw_items_total Items seen.\n"
                  "# TYPE nw_items_total counter\n"
                  "nw_items_total{agency=\"ap\",outcome=\"stored\"} 3\n"
                  "nw_items_total{agency=\"afp\",outcome=\"dead\"} 1\n"
                  "# HELP nw_backlog Rows waiting.\n"
                  "# TYPE nw_backlog gauge\n"
                  "nw_backlog 0.25\n");
    assert_true(nw_metric_value(c, NW_LV("ap", "stored")) == 3);
    assert_true(nw_metric_value(c, NW_LV("reuters", "stored")) == 0);
    /* registering again returns the same family; another shape is refused */
    assert_ptr_equal(nw_metric_counter("nw_items_total", "x", "agency,outcome"), c);
    assert_null(nw_metric_gauge("nw_items_total", "x", "agency,outcome"));
    assert_null(nw_metric_counter("nw_items_total", "x", "agency"));
}

static void test_label_less_family_starts_at_zero(void **state)
{
    (void)state;
    nw_metric_counter("nw_dead_letters_total", "Dead letters.", NULL);
    nw_metric_gauge("nw_lag", "Lag.", "topic,partition"); /* no series until set */
    assert_render("# HELP nw_dead_letters_total Dead letters.\n"
                  "# TYPE nw_dead_letters_total counter\n"
                  "nw_dead_letters_total 0\n"
                  "# HELP nw_lag Lag.\n"
                  "# TYPE nw_lag gauge\n");
}

static void test_escaping(void **state)
{
    (void)state;
    nw_metric_t *g = nw_metric_gauge("nw_info", "A \\ backslash\nand a newline \"kept\".", "v");
    nw_metric_set(g, NW_LV("a\"b\\c\nd"), 1);
    assert_render("# HELP nw_info A \\\\ backslash\\nand a newline \"kept\".\n"
                  "# TYPE nw_info gauge\n"
                  "nw_info{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

static void test_numbers(void **state)
{
    (void)state;
    nw_metric_t *g = nw_metric_gauge("nw_n", "n", "k");
    nw_metric_set(g, NW_LV("a"), 0.1);
    nw_metric_set(g, NW_LV("b"), -3);
    nw_metric_set(g, NW_LV("c"), 1e20);
    nw_metric_set(g, NW_LV("d"), INFINITY);
    nw_metric_set(g, NW_LV("e"), NAN);
    nw_metric_set(g, NW_LV("f"), 1.0 / 3);
    assert_render("# HELP nw_n n\n# TYPE nw_n gauge\n"
                  "nw_n{k=\"a\"} 0.1\n"
                  "nw_n{k=\"b\"} -3\n"
                  "nw_n{k=\"c\"} 1e+20\n"
                  "nw_n{k=\"d\"} +Inf\n"
                  "nw_n{k=\"e\"} NaN\n"
                  "nw_n{k=\"f\"} 0.33333333333333331\n");
}

static void test_histogram(void **state)
{
    (void)state;
    static const double b[] = {0.01, 0.1, 1};
    nw_metric_t *h = nw_metric_histogram("nw_stage_seconds", "Stage time.", "stage", b, 3);
    assert_non_null(h);
    nw_metric_observe(h, NW_LV("store"), 0.005);
    nw_metric_observe(h, NW_LV("store"), 0.01); /* upper bounds are inclusive */
    nw_metric_observe(h, NW_LV("store"), 0.5);
    nw_metric_observe(h, NW_LV("store"), 7);
    assert_render("# HELP nw_stage_seconds Stage time.\n"
                  "# TYPE nw_stage_seconds histogram\n"
                  "nw_stage_seconds_bucket{stage=\"store\",le=\"0.01\"} 2\n"
                  "nw_stage_seconds_bucket{stage=\"store\",le=\"0.1\"} 2\n"
                  "nw_stage_seconds_bucket{stage=\"store\",le=\"1\"} 3\n"
                  "nw_stage_seconds_bucket{stage=\"store\",le=\"+Inf\"} 4\n"
                  "nw_stage_seconds_sum{stage=\"store\"} 7.515\n"
                  "nw_stage_seconds_count{stage=\"store\"} 4\n");
    assert_true(nw_metric_value(h, NW_LV("store")) == 4);
    /* a histogram without labels */
    static const double sizes[] = {1, 10};
    nw_metric_t *s = nw_metric_histogram("nw_batch_size_messages", "Batch sizes.", NULL, sizes, 2);
    nw_metric_observe(s, NULL, 3);
    char *text = nw_metrics_render(NULL);
    assert_non_null(strstr(text, "nw_batch_size_messages_bucket{le=\"1\"} 0\n"
                                 "nw_batch_size_messages_bucket{le=\"10\"} 1\n"
                                 "nw_batch_size_messages_bucket{le=\"+Inf\"} 1\n"
                                 "nw_batch_size_messages_sum 3\n"
                                 "nw_batch_size_messages_count 1\n"));
    free(text);
}

static void test_misuse_is_ignored(void **state)
{
    (void)state;
    static const double b[] = {1, 0.5};
    assert_null(nw_metric_counter("9starts_with_digit", "x", NULL));
    assert_null(nw_metric_counter("nw_x_total", "x", "bad-label"));
    assert_null(nw_metric_counter("nw_x_total", "x", "__reserved"));
    assert_null(nw_metric_histogram("nw_h", "x", "le", b, 1));
    assert_null(nw_metric_histogram("nw_h", "x", NULL, b, 2)); /* bounds must increase */
    nw_metric_t *c = nw_metric_counter("nw_y_total", "y", "a,b");
    nw_metric_inc(c, NW_LV("only-one"));           /* wrong number of values: dropped */
    nw_metric_inc(c, NW_LV("1", "2", "3"));
    nw_metric_set(c, NW_LV("1", "2"), 5);          /* set is for gauges */
    nw_metric_observe(c, NW_LV("1", "2"), 5);      /* observe is for histograms */
    nw_metric_inc(NULL, NULL);                     /* a failed registration stays harmless */
    assert_render("# HELP nw_y_total y\n# TYPE nw_y_total counter\n");
}

static void test_series_cap(void **state)
{
    (void)state;
    nw_metric_t *c = nw_metric_counter("nw_agency_total", "by agency", "agency");
    char v[32];
    for (int i = 0; i < NW_METRIC_MAX_SERIES + 50; i++) {
        snprintf(v, sizeof v, "a%d", i);
        nw_metric_inc(c, NW_LV(v));
    }
    assert_true(nw_metric_value(c, NW_LV("a0")) == 1);
    snprintf(v, sizeof v, "a%d", NW_METRIC_MAX_SERIES - 1);
    assert_true(nw_metric_value(c, NW_LV(v)) == 1);
    snprintf(v, sizeof v, "a%d", NW_METRIC_MAX_SERIES);
    assert_true(nw_metric_value(c, NW_LV(v)) == 0); /* beyond the cap: dropped */
}

static void test_stale_series_are_replaced(void **state)
{
    (void)state;
    nw_metric_t *g = nw_metric_gauge("nw_lag", "lag", "partition");
    nw_metric_set(g, NW_LV("0"), 5);
    nw_metric_set(g, NW_LV("1"), 7);
    nw_metric_mark_stale(g);
    nw_metric_set(g, NW_LV("1"), 2);
    nw_metric_set(g, NW_LV("2"), 0);
    nw_metric_drop_stale(g);
    assert_render("# HELP nw_lag lag\n# TYPE nw_lag gauge\n"
                  "nw_lag{partition=\"1\"} 2\n"
                  "nw_lag{partition=\"2\"} 0\n");
    nw_metric_mark_stale(g);
    nw_metric_drop_stale(g);
    assert_render("# HELP nw_lag lag\n# TYPE nw_lag gauge\n");
}

static nw_metric_t *race_counter;
static nw_metric_t *race_hist;

static void *hammer(void *arg)
{
    const char *who = arg;
    for (int i = 0; i < 20000; i++) {
        nw_metric_inc(race_counter, NW_LV(who));
        nw_metric_inc(race_counter, NW_LV("shared"));
        nw_metric_observe(race_hist, NULL, i % 3);
    }
    return NULL;
}

static void test_concurrent_updates_and_renders(void **state)
{
    (void)state;
    static const double b[] = {0, 1, 2};
    race_counter = nw_metric_counter("nw_race_total", "r", "who");
    race_hist = nw_metric_histogram("nw_race_value", "r", NULL, b, 3);
    pthread_t t[3];
    pthread_create(&t[0], NULL, hammer, "a");
    pthread_create(&t[1], NULL, hammer, "b");
    pthread_create(&t[2], NULL, hammer, "c");
    for (int i = 0; i < 50; i++) /* render while the others write, as the HTTP thread does */
        free(nw_metrics_render(NULL));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_true(nw_metric_value(race_counter, NW_LV("shared")) == 60000);
    assert_true(nw_metric_value(race_counter, NW_LV("b")) == 20000);
    assert_true(nw_metric_value(race_hist, NULL) == 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_and_gauge_exposition, reset),
        cmocka_unit_test_setup(test_label_less_family_starts_at_zero, reset),
        cmocka_unit_test_setup(test_escaping, reset),
        cmocka_unit_test_setup(test_numbers, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_misuse_is_ignored, reset),
        cmocka_unit_test_setup(test_series_cap, reset),
        cmocka_unit_test_setup(test_stale_series_are_replaced, reset),
        cmocka_unit_test_setup(test_concurrent_updates_and_renders, reset),
    };
    return cmocka_run_group_tests(tests, NULL, reset);
}
