/*
 * http: the operator's endpoint (setting http.addr), served by libmicrohttpd
 * from its own thread:
 *
 *   GET /metrics   the metrics registry (metrics.h), Prometheus text format
 *   GET /healthz   200 while the process runs (liveness)
 *   GET /readyz    200 when every readiness check passes, else 503 with the
 *                  failing checks in a one-line text body
 *
 * Readiness is a set of flags the service loop sets (atomics: a request never
 * waits for the loop, and never queries PostgreSQL or Kafka itself). The loop
 * owns the truth: it pings PostgreSQL, reads librdkafka's broker states and
 * tracks its partition assignment, and reports here.
 */
#ifndef NW_HTTP_H
#define NW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct nw_http nw_http_t;

/* Listen on `addr`: "host:port", "[v6addr]:port", ":port" or "*:port" (every IPv4
 * interface); port 0 picks a free port (see nw_http_addr). Returns NULL with
 * err naming http.addr when the address is malformed, cannot be resolved or
 * cannot be bound. Free with nw_http_stop. */
nw_http_t *nw_http_start(const char *addr, nw_err_t *err);

/* The address actually listened on, "127.0.0.1:8080" or "[::1]:8080". */
const char *nw_http_addr(const nw_http_t *h);

/* Stop serving (waits for the requests in progress) and free h. NULL is fine. */
void nw_http_stop(nw_http_t *h);

/* ---- readiness ---------------------------------------------------------------- */

typedef enum {
    NW_READY_POSTGRES = 0, /* the database answered recently */
    NW_READY_SCHEMA,       /* the migrations are applied */
    NW_READY_KAFKA,        /* at least one broker connection is up */
    NW_READY_PARTITIONS,   /* the consumer has partitions assigned */
    NW_READY_NCHECKS,
} nw_ready_check_t;

/* Set one check (logged when it changes). All checks start failed. */
void nw_http_ready_set(nw_ready_check_t check, bool ok);
bool nw_http_ready_get(nw_ready_check_t check);

/* From now on /readyz answers 503 "shutting down", whatever the checks say. */
void nw_http_ready_stopping(void);

/* What /readyz answers: true when ready; otherwise `why` (may be NULL) gets
 * the failing checks, e.g. "postgres unreachable; no partitions assigned". */
bool nw_http_ready(char *why, size_t cap);

#endif
