/*
 * config: every setting of every newswire program, from one table.
 *
 * Sources, lowest precedence first: built-in default, config file
 * (`--config FILE` or NEWSWIRE_CONFIG; `name = value` lines), environment
 * (NEWSWIRE_<NAME>, with `.` and `-` as `_`; NEWSWIRE_<NAME>_FILE reads the
 * value from a file, for secrets), command-line flag (--<name with . as ->).
 *
 * librdkafka properties pass through untouched: `--kafka-opt key=value`,
 * NEWSWIRE_KAFKA__<KEY> (`__` then the property with `.` as `_`), or a
 * `kafka.opt.<key> = value` line in the file. libpq options ride in the
 * DSN (`pg.dsn`), which takes every libpq connection parameter.
 */
#ifndef NW_CONFIG_H
#define NW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define NW_CONFIG_MAX_PASSTHROUGH 64

typedef struct nw_kv {
    char *key;
    char *value;
} nw_kv_t;

typedef struct nw_config {
    /* connections */
    char *kafka_brokers;       /* kafka.brokers: bootstrap servers */
    char *pg_dsn;              /* pg.dsn: libpq connection string or URI (secret) */
    char *group_id;            /* group.id: consumer group of the ingest replicas */
    char *client_id;           /* client.id: names this replica to the broker */
    char *topic_raw;           /* topic.raw: raw agency items */
    char *topic_enriched;      /* topic.enriched: enriched events */
    char *topic_dlq;           /* topic.dlq: dead letters */
    /* processing */
    long batch_size;           /* batch.size: most messages in one database transaction */
    long batch_max_bytes;      /* batch.max.bytes: most payload bytes in one batch */
    long event_max_bytes;      /* event.max.bytes: largest event or dead letter produced */
    long batch_wait_ms;        /* batch.wait.ms: longest wait to fill a batch */
    long shutdown_timeout_ms;  /* shutdown.timeout.ms: drain deadline after SIGTERM */
    long kafka_fetch_watchdog_s; /* kafka.fetch.watchdog.s: unfetched partition reassigned */
    long retry_max_ms;         /* retry.max.ms: cap of the exponential back-off */
    long outbox_sweep_s;       /* outbox.sweep.s: republish unsent events older than this */
    long similarity_window_h;  /* similarity.window.h: candidate window */
    long similarity_idf_refresh_s; /* similarity.idf.refresh.s: term statistics period */
    long related_top_k;        /* related.top.k: related links per event */
    int pg_read_connection;    /* pg.read.connection: candidate reads beside the batch (0, 1) */
    long pg_read_lock_timeout_ms; /* pg.read.lock.timeout.ms: their lock_timeout (0: none) */
    long pg_migrate_lock_timeout_ms; /* pg.migrate.lock.timeout.ms: migrations' (0: none) */
    char *http_addr;           /* http.addr: host:port of /metrics, /healthz, /readyz ("" = off) */
    char *log_level;           /* log.level */
    char *replica_id;          /* replica.id: names this replica in dead letters and logs */
    char *migrations_dir;      /* migrations.dir: where the SQL migrations are ("" = auto) */
    /* feed */
    char *agency;              /* feed.agency: agency header for fed files ("auto" = detect) */
    char *format;              /* feed.format: format header for fed files ("auto" = detect) */
    long feed_rate;            /* feed.rate: messages per second, 0 = as fast as possible */
    int progress;              /* feed.progress: progress line on stderr (-1 auto, 0, 1) */
    /* replay */
    int dry_run;               /* dry.run: newswire-replay lists, sends nothing (0, 1) */
    /* test hooks (documented, off by default) */
    char *test_hook;           /* test.hook: "pause-after-commit" stops before producing events */
    /* librdkafka passthrough */
    nw_kv_t kafka_opts[NW_CONFIG_MAX_PASSTHROUGH];
    size_t n_kafka_opts;
    char *config_file;
} nw_config_t;

/* Fill cfg from defaults, file, environment and argv for the settings of the
 * program `prog` (NULL-terminated list of setting names it uses). Leaves the
 * remaining (non-option) arguments in *rest / *nrest.
 * Returns 0 on success, 1 after printing --help or --version (exit 0),
 * -1 on a bad setting (err names it; exit non-zero). */
int nw_config_load(nw_config_t *cfg, const char *prog, const char *summary,
                   const char *const *used, int argc, char **argv, char ***rest, int *nrest,
                   nw_err_t *err);

/* Release what nw_config_load allocated. */
void nw_config_free(nw_config_t *cfg);

/* Print the help of `prog` (every setting it uses, with env, flag and default). */
void nw_config_help(const char *prog, const char *summary, const char *const *used);

/* The DSN with any password replaced by "***", for logs. Caller frees. */
char *nw_config_redact_dsn(const char *dsn);

#endif
