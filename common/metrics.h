/*
 * metrics: a small Prometheus registry (counters, gauges, histograms with
 * fixed buckets, label sets) and its text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Debian 12 has no C client library (prometheus-cpp is C++), so this is the
 * least a service needs: one process-wide registry, one mutex, rendered on
 * demand by the HTTP server's thread while the service loop updates it.
 *
 *   static nw_metric_t *consumed;
 *   consumed = nw_metric_counter("newswire_items_consumed_total",
 *                                "Raw items consumed.", "agency,format");
 *   nw_metric_inc(consumed, NW_LV("ap", "ap-media-json"));
 *
 * Names follow the Prometheus conventions: base units (`_seconds`,
 * `_bytes`), counters end in `_total`. Label values may be any UTF-8; the
 * renderer escapes them. A family keeps at most NW_METRIC_MAX_SERIES label
 * sets: values that come from input (an agency header) cannot grow the
 * registry without bound; the overflow is dropped and logged once.
 */
#ifndef NW_METRICS_H
#define NW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#define NW_METRIC_MAX_LABELS 6
#define NW_METRIC_MAX_SERIES 1000
#define NW_METRIC_MAX_BUCKETS 32

typedef struct nw_metric nw_metric_t; /* one metric family: name, help, type, label names */

/* Label values in the order of the family's label names, NULL-terminated:
 * NW_LV("ap", "stored"). A family without labels takes NULL. */
#define NW_LV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Register a family, or return the one already registered under `name`
 * (NULL, logged, when that one has another type or other labels; every
 * update function accepts NULL and does nothing). `labels` is a
 * comma-separated list of label names ("agency,format"), or NULL. A family
 * without labels starts with its one series at 0. */
nw_metric_t *nw_metric_counter(const char *name, const char *help, const char *labels);
nw_metric_t *nw_metric_gauge(const char *name, const char *help, const char *labels);

/* `bounds`: the upper bounds of the buckets, increasing, without +Inf (added
 * by the renderer); at most NW_METRIC_MAX_BUCKETS. */
nw_metric_t *nw_metric_histogram(const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds);

/* Counter or gauge: add v (a counter ignores negative v). */
void nw_metric_add(nw_metric_t *m, const char *const *lv, double v);
void nw_metric_inc(nw_metric_t *m, const char *const *lv);

/* Gauge: set to v. */
void nw_metric_set(nw_metric_t *m, const char *const *lv, double v);

/* Histogram: count one observation of v. */
void nw_metric_observe(nw_metric_t *m, const char *const *lv, double v);

/* Replace a gauge's whole set of series (the lag of the partitions assigned
 * now): mark every series stale, set the current ones (which unmarks them),
 * then drop those still stale. A scrape in between sees the old set or the
 * new one, never an empty family. */
void nw_metric_mark_stale(nw_metric_t *m);
void nw_metric_drop_stale(nw_metric_t *m);

/* The current value of one series (counter or gauge; a histogram's count),
 * or 0 when it does not exist. For tests and for the service's own logs. */
double nw_metric_value(nw_metric_t *m, const char *const *lv);

/* Every family in the text format, in registration order. Returns a malloc'd
 * NUL-terminated string (caller frees) and its length in *len (may be NULL). */
char *nw_metrics_render(size_t *len);

/* Content-Type of the text format. */
#define NW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Forget every family (unit tests). Pointers returned earlier become invalid:
 * never call it while anything may still update or render. */
void nw_metrics_reset(void);

/* Buckets for durations in seconds, 0.5 ms .. 60 s. */
extern const double nw_metric_buckets_seconds[];
extern const size_t nw_metric_buckets_seconds_n;

#endif
