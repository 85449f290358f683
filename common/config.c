#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } cfg_type_t;

typedef struct cfg_def {
    const char *name;    /* file key; env NEWSWIRE_<NAME>; flag --<name> */
    cfg_type_t type;
    const char *defval;
    long min, max;       /* bounds of an integer */
    size_t offset;       /* into nw_config_t */
    bool secret;         /* never printed */
    const char *help;
} cfg_def_t;

#define OFF(f) offsetof(nw_config_t, f)

static const cfg_def_t defs[] = {
    {"kafka.brokers", CFG_STR, "127.0.0.1:9092", 0, 0, OFF(kafka_brokers), false,
     "Kafka bootstrap servers (host:port,...)"},
    {"pg.dsn", CFG_STR, "", 0, 0, OFF(pg_dsn), true,
     "PostgreSQL connection string or URI; every libpq parameter (sslmode, sslrootcert...) "
     "works here; empty = libpq defaults (PGHOST, PGUSER...)"},
    {"group.id", CFG_STR, "newswire-ingest", 0, 0, OFF(group_id), false,
     "Kafka consumer group shared by all ingest replicas"},
    {"client.id", CFG_STR, "newswire", 0, 0, OFF(client_id), false,
     "Kafka client id of this process"},
    {"topic.raw", CFG_STR, "wire.raw", 0, 0, OFF(topic_raw), false, "topic of raw agency items"},
    {"topic.enriched", CFG_STR, "wire.enriched", 0, 0, OFF(topic_enriched), false,
     "topic of enriched events"},
    {"topic.dlq", CFG_STR, "wire.dlq", 0, 0, OFF(topic_dlq), false, "topic of dead letters"},
    {"batch.size", CFG_INT, "500", 1, 20000, OFF(batch_size), false,
     "most messages stored in one database transaction"},
    {"batch.max.bytes", CFG_INT, "16777216", 1048576, 1073741824, OFF(batch_max_bytes), false,
     "most payload bytes in one batch (with batch.size, bounds memory: the batch's messages, "
     "their parsed items and the COPY data are held together)"},
    {"event.max.bytes", CFG_INT, "900000", 4096, 1073741824, OFF(event_max_bytes), false,
     "largest event or dead letter sent to Kafka: a bigger event carries a stub of its item "
     "(item_omitted), a bigger dead letter its first bytes (the whole payload stays in the raw "
     "topic); keep it below the producer's message.max.bytes and the topics' max.message.bytes"},
    {"batch.wait.ms", CFG_INT, "0", 0, 60000, OFF(batch_wait_ms), false,
     "longest wait for more messages once a batch has its first (0: a batch takes what has "
     "arrived and goes; a backlog still fills whole batches)"},
    {"shutdown.timeout.ms", CFG_INT, "20000", 100, 600000, OFF(shutdown_timeout_ms), false,
     "deadline to drain and close after the first SIGTERM/SIGINT (a second one exits at once)"},
    {"kafka.fetch.watchdog.s", CFG_INT, "60", 0, 86400, OFF(kafka_fetch_watchdog_s), false,
     "seconds a partition of the assignment may go unfetched while a broker is up before it is "
     "assigned again (0: never); librdkafka 2.0.2 can leave a freshly assigned partition "
     "unfetched for good (librdkafka#5586)"},
    {"retry.max.ms", CFG_INT, "30000", 100, 3600000, OFF(retry_max_ms), false,
     "cap of the exponential back-off when PostgreSQL or Kafka is unavailable"},
    {"outbox.sweep.s", CFG_INT, "60", 1, 86400, OFF(outbox_sweep_s), false,
     "republish outbox events still unsent after this many seconds"},
    {"similarity.window.h", CFG_INT, "72", 1, 24 * 365, OFF(similarity_window_h), false,
     "hours back in which near-duplicates and related stories are searched"},
    {"similarity.idf.refresh.s", CFG_INT, "3600", 1, 7 * 86400, OFF(similarity_idf_refresh_s),
     false,
     "seconds between two recomputations of the term statistics (on a connection of "
     "their own, beside the batches)"},
    {"related.top.k", CFG_INT, "10", 0, 100, OFF(related_top_k), false,
     "most related-story links per event"},
    {"pg.read.connection", CFG_BOOL, "true", 0, 0, OFF(pg_read_connection), false,
     "a second PostgreSQL connection per replica reads each batch's similarity candidates "
     "while the first writes the batch's rows (false: one connection, in turn)"},
    {"pg.read.lock.timeout.ms", CFG_INT, "10000", 0, 3600000, OFF(pg_read_lock_timeout_ms), false,
     "longest wait of that read for a table lock (0: no limit); past it the batch is rolled "
     "back and retried, so DDL queued behind the batch, such as another replica's migration, "
     "goes first instead of both waiting for good"},
    {"pg.migrate.lock.timeout.ms", CFG_INT, "5000", 0, 3600000, OFF(pg_migrate_lock_timeout_ms),
     false,
     "longest wait of a migration at start for a table lock (0: no limit); past it the "
     "migration is rolled back and tried again with back-off (up to retry.max.ms), so the "
     "running replicas' batches, queued behind its lock request, wait at most this long"},
    {"http.addr", CFG_STR, "127.0.0.1:8080", 0, 0, OFF(http_addr), false,
     "address of the /metrics, /healthz and /readyz endpoint (empty = off)"},
    {"log.level", CFG_STR, "info", 0, 0, OFF(log_level), false, "debug, info, warn or error"},
    {"replica.id", CFG_STR, "", 0, 0, OFF(replica_id), false,
     "name of this replica in logs and dead letters (default: host name and pid)"},
    {"feed.agency", CFG_STR, "auto", 0, 0, OFF(agency), false,
     "agency header sent with each item (ap, reuters, afp...; auto = detect from the payload)"},
    {"feed.format", CFG_STR, "auto", 0, 0, OFF(format), false,
     "format header sent with each item (auto = detect from the payload)"},
    {"feed.rate", CFG_INT, "0", 0, 10000000, OFF(feed_rate), false,
     "messages per second, 0 = as fast as the broker takes them"},
    {"feed.progress", CFG_BOOL, "auto", 0, 0, OFF(progress), false,
     "progress line on stderr (auto = when stderr is a terminal)"},
    {"dry.run", CFG_BOOL, "false", 0, 0, OFF(dry_run), false,
     "newswire-replay: list the selected dead letters with their reasons, send nothing"},
    {"migrations.dir", CFG_STR, "", 0, 0, OFF(migrations_dir), false,
     "directory of the SQL migrations (default: the installed share directory, else the "
     "source tree's schemas/migrations)"},
    {"test.hook", CFG_STR, "", 0, 0, OFF(test_hook), false,
     "testing only: pause-after-commit stops after the first database commit, before events "
     "are produced; unfetched-partition-0 shows partition 0 as not fetched in the statistics "
     "until the fetch watchdog assigns it again"},
};
#define NDEFS (sizeof defs / sizeof defs[0])

/* Where each setting's value came from, for --print-config. */
static char sources[sizeof defs / sizeof defs[0]][160];

static const cfg_def_t *def_find(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static bool is_used(const char *name, const char *const *used)
{
    for (; used && *used; used++)
        if (strcmp(*used, name) == 0)
            return true;
    return false;
}

/* "kafka.brokers" -> "NEWSWIRE_KAFKA_BROKERS" */
static void env_name(const char *name, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "NEWSWIRE_");
    for (const char *p = name; *p && n + 1 < cap; p++)
        out[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = 0;
}

/* "kafka.brokers" -> "kafka-brokers" */
static void flag_name(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < cap; p++)
        out[n++] = *p == '.' ? '-' : *p;
    out[n] = 0;
}

static char **slot_str(nw_config_t *cfg, const cfg_def_t *d)
{
    return (char **)((char *)cfg + d->offset);
}

/* Parse and store one value; the error names the setting and where it came from. */
static bool set_value(nw_config_t *cfg, const cfg_def_t *d, const char *value, const char *from,
                      nw_err_t *err)
{
    snprintf(sources[d - defs], sizeof sources[0], "%s", from);
    switch (d->type) {
    case CFG_STR: {
        char **slot = slot_str(cfg, d);
        free(*slot);
        *slot = strdup(value);
        if (strcmp(d->name, "log.level") == 0 && strcmp(value, "debug") && strcmp(value, "info") &&
            strcmp(value, "warn") && strcmp(value, "warning") && strcmp(value, "error"))
            return nw_err_set(err, NW_ERR_FATAL, "config",
                              "%s (%s): '%s' is not one of debug, info, warn, error", d->name,
                              from, value);
        return true;
    }
    case CFG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < d->min || v > d->max)
            return nw_err_set(err, NW_ERR_FATAL, "config",
                              "%s (%s): '%s' is not an integer in [%ld, %ld]", d->name, from,
                              d->secret ? "***" : value, d->min, d->max);
        *(long *)((char *)cfg + d->offset) = v;
        return true;
    }
    case CFG_BOOL: {
        int *slot = (int *)((char *)cfg + d->offset); /* -1 auto, 0 false, 1 true */
        if (!strcmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            *slot = 1;
        else if (!strcmp(value, "0") || !strcasecmp(value, "false") ||
                 !strcasecmp(value, "no") || !strcasecmp(value, "off"))
            *slot = 0;
        else if (!strcasecmp(value, "auto"))
            *slot = -1; /* resolved by the program */
        else
            return nw_err_set(err, NW_ERR_FATAL, "config", "%s (%s): '%s' is not a boolean",
                              d->name, from, value);
        return true;
    }
    }
    return true;
}

static bool add_kafka_opt(nw_config_t *cfg, const char *key, const char *value, nw_err_t *err)
{
    for (size_t i = 0; i < cfg->n_kafka_opts; i++) {
        if (strcmp(cfg->kafka_opts[i].key, key) == 0) {
            free(cfg->kafka_opts[i].value);
            cfg->kafka_opts[i].value = strdup(value);
            return true;
        }
    }
    if (cfg->n_kafka_opts == NW_CONFIG_MAX_PASSTHROUGH)
        return nw_err_set(err, NW_ERR_FATAL, "config", "too many kafka options (max %d)",
                          NW_CONFIG_MAX_PASSTHROUGH);
    cfg->kafka_opts[cfg->n_kafka_opts].key = strdup(key);
    cfg->kafka_opts[cfg->n_kafka_opts].value = strdup(value);
    cfg->n_kafka_opts++;
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* Read a whole small file (a secret or the config file); NULL on error. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    return buf;
}

static bool load_file(nw_config_t *cfg, const char *path, const char *const *used, nw_err_t *err)
{
    char *text = read_small_file(path);
    if (!text)
        return nw_err_set(err, NW_ERR_FATAL, "config", "config file %s: %s", path,
                          strerror(errno));
    int lineno = 0;
    bool ok = true;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && ok;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            ok = nw_err_set(err, NW_ERR_FATAL, "config", "%s:%d: expected name = value", path,
                            lineno);
            break;
        }
        *eq = 0;
        char *key = trim(l), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && ((value[0] == '"' && value[vl - 1] == '"') ||
                        (value[0] == '\'' && value[vl - 1] == '\''))) {
            value[vl - 1] = 0;
            value++;
        }
        char from[300];
        snprintf(from, sizeof from, "%s:%d", path, lineno);
        if (strncmp(key, "kafka.opt.", 10) == 0) {
            ok = add_kafka_opt(cfg, key + 10, value, err);
            continue;
        }
        const cfg_def_t *d = def_find(key);
        if (!d || !is_used(key, used)) {
            ok = nw_err_set(err, NW_ERR_FATAL, "config", "%s: unknown setting '%s'", from, key);
            break;
        }
        ok = set_value(cfg, d, value, from, err);
    }
    free(text);
    return ok;
}

static bool load_env(nw_config_t *cfg, const char *const *used, nw_err_t *err)
{
    extern char **environ;
    for (size_t i = 0; i < NDEFS; i++) {
        const cfg_def_t *d = &defs[i];
        if (!is_used(d->name, used))
            continue;
        char env[128], envf[140];
        env_name(d->name, env, sizeof env);
        snprintf(envf, sizeof envf, "%s_FILE", env);
        const char *v = getenv(env);
        if (v) {
            if (!set_value(cfg, d, v, env, err))
                return false;
        } else if ((v = getenv(envf))) {
            char *text = read_small_file(v);
            if (!text)
                return nw_err_set(err, NW_ERR_FATAL, "config", "%s: cannot read %s: %s", envf,
                                  v, strerror(errno));
            bool ok = set_value(cfg, d, trim(text), envf, err);
            free(text);
            if (!ok)
                return false;
        }
    }
    /* NEWSWIRE_KAFKA__SECURITY_PROTOCOL=SSL -> security.protocol=SSL */
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "NEWSWIRE_KAFKA__", 16) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[128];
        size_t n = 0;
        for (const char *p = *e + 16; p < eq && n + 1 < sizeof key; p++)
            key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[n] = 0;
        if (!add_kafka_opt(cfg, key, eq + 1, err))
            return false;
    }
    return true;
}

/* Effective settings, secrets redacted, with their source. */
static void print_config(const nw_config_t *cfg, const char *const *used)
{
    for (size_t i = 0; i < NDEFS; i++) {
        const cfg_def_t *d = &defs[i];
        if (!is_used(d->name, used))
            continue;
        const void *slot = (const char *)cfg + d->offset;
        char value[1024];
        if (d->type == CFG_STR) {
            const char *v = *(char *const *)slot;
            if (d->secret && v && *v) {
                char *r = nw_config_redact_dsn(v);
                snprintf(value, sizeof value, "%s", r ? r : "***");
                free(r);
            } else {
                snprintf(value, sizeof value, "%s", v ? v : "");
            }
        } else if (d->type == CFG_INT) {
            snprintf(value, sizeof value, "%ld", *(const long *)slot);
        } else {
            int b = *(const int *)slot;
            snprintf(value, sizeof value, "%s", b < 0 ? "auto" : b ? "true" : "false");
        }
        printf("%s = %s  # %s\n", d->name, value, sources[i]);
    }
    for (size_t i = 0; i < cfg->n_kafka_opts; i++)
        printf("kafka.opt.%s = %s\n", cfg->kafka_opts[i].key,
               strstr(cfg->kafka_opts[i].key, "password") || strstr(cfg->kafka_opts[i].key, "secret")
                   ? "***"
                   : cfg->kafka_opts[i].value);
}

void nw_config_help(const char *prog, const char *summary, const char *const *used)
{
    printf("Usage: %s [OPTION]...%s\n%s\n\n", prog,
           strcmp(prog, "newswire-ingest") ? " [FILE]..." : "", summary);
    printf("Settings (flag / environment variable / default). Precedence: flag > environment >\n"
           "config file > default. NEWSWIRE_<NAME>_FILE reads a value from a file.\n\n");
    for (size_t i = 0; i < NDEFS; i++) {
        const cfg_def_t *d = &defs[i];
        if (!is_used(d->name, used))
            continue;
        char env[128], flag[128];
        env_name(d->name, env, sizeof env);
        flag_name(d->name, flag, sizeof flag);
        printf("  --%s=%s\n      %s\n      env %s, file key %s, default: %s\n", flag,
               d->type == CFG_INT ? "N" : d->type == CFG_BOOL ? "BOOL" : "VALUE", d->help, env,
               d->name, *d->defval ? d->defval : "(empty)");
    }
    printf("  --kafka-opt=KEY=VALUE\n      any librdkafka property, repeatable (security.protocol,"
           " ssl.ca.location,\n      sasl.mechanisms...); env NEWSWIRE_KAFKA__<KEY> with . as _, "
           "file key kafka.opt.<key>\n");
    printf("  --config=FILE\n      read settings from FILE (name = value lines); env "
           "NEWSWIRE_CONFIG\n");
    printf("  --print-config\n      print the effective settings and where each came from, "
           "then exit\n");
    printf("  --help      print this help and exit\n  --version   print the version and exit\n");
}

static void set_defaults(nw_config_t *cfg)
{
    for (size_t i = 0; i < NDEFS; i++)
        set_value(cfg, &defs[i], defs[i].defval, "default", NULL);
}

static int config_load(nw_config_t *cfg, const char *prog, const char *summary,
                       const char *const *used, int argc, char **argv, char ***rest, int *nrest,
                       nw_err_t *err);

/* Everything allocated is released again unless the program goes on (0). */
int nw_config_load(nw_config_t *cfg, const char *prog, const char *summary,
                   const char *const *used, int argc, char **argv, char ***rest, int *nrest,
                   nw_err_t *err)
{
    if (rest)
        *rest = NULL;
    int rc = config_load(cfg, prog, summary, used, argc, argv, rest, nrest, err);
    if (rc != 0) {
        nw_config_free(cfg);
        if (rest) {
            free(*rest);
            *rest = NULL;
        }
    }
    return rc;
}

static int config_load(nw_config_t *cfg, const char *prog, const char *summary,
                       const char *const *used, int argc, char **argv, char ***rest, int *nrest,
                       nw_err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    set_defaults(cfg);

    /* The config file first: flags and environment override it. */
    const char *file = getenv("NEWSWIRE_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            nw_config_help(prog, summary, used);
            return 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, NW_VERSION);
            return 1;
        } else if (strcmp(argv[i], "--") == 0)
            break;
    }
    bool print = false;
    if (file) {
        cfg->config_file = strdup(file);
        if (!load_file(cfg, file, used, err))
            return -1;
    }
    if (!load_env(cfg, used, err))
        return -1;

    char **out = calloc((size_t)argc + 1, sizeof *out);
    int nout = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
            out[nout++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            free(out);
            return nw_err_set(err, NW_ERR_FATAL, "config", "unknown option '%s' (see --help)", a),
                   -1;
        }
        char name[128];
        const char *value = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        if (eq)
            value = eq + 1;
        if (strcmp(name, "config") == 0) {
            if (!eq)
                i++;
            continue;
        }
        if (strcmp(name, "print-config") == 0) {
            print = true;
            continue;
        }
        /* flags name settings with '-' for '.': map back through the table */
        const cfg_def_t *d = NULL;
        for (size_t k = 0; k < NDEFS && !d; k++) {
            char fl[128];
            flag_name(defs[k].name, fl, sizeof fl);
            if (strcmp(fl, name) == 0 && is_used(defs[k].name, used))
                d = &defs[k];
        }
        bool is_kafka_opt = strcmp(name, "kafka-opt") == 0;
        if (!d && !is_kafka_opt) {
            free(out);
            return nw_err_set(err, NW_ERR_FATAL, "config", "unknown option '--%s' (see --help)",
                              name),
                   -1;
        }
        if (!value) {
            if (d && d->type == CFG_BOOL) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                free(out);
                return nw_err_set(err, NW_ERR_FATAL, "config", "option '--%s' needs a value",
                                  name),
                       -1;
            }
        }
        bool ok;
        if (is_kafka_opt) {
            const char *kv_eq = strchr(value, '=');
            if (!kv_eq) {
                free(out);
                return nw_err_set(err, NW_ERR_FATAL, "config",
                                  "--kafka-opt '%s': expected KEY=VALUE", value),
                       -1;
            }
            char key[128];
            size_t kl = (size_t)(kv_eq - value);
            if (kl >= sizeof key)
                kl = sizeof key - 1;
            memcpy(key, value, kl);
            key[kl] = 0;
            ok = add_kafka_opt(cfg, key, kv_eq + 1, err);
        } else {
            char from[160];
            snprintf(from, sizeof from, "flag --%s", name);
            ok = set_value(cfg, d, value, from, err);
        }
        if (!ok) {
            free(out);
            return -1;
        }
    }
    if (rest) {
        *rest = out;
        *nrest = nout;
    } else {
        free(out);
    }
    if (print) {
        print_config(cfg, used);
        return 1;
    }
    return 0;
}

void nw_config_free(nw_config_t *cfg)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (defs[i].type == CFG_STR)
            free(*slot_str(cfg, &defs[i]));
    for (size_t i = 0; i < cfg->n_kafka_opts; i++) {
        free(cfg->kafka_opts[i].key);
        free(cfg->kafka_opts[i].value);
    }
    free(cfg->config_file);
    memset(cfg, 0, sizeof *cfg);
}

/* A libpq parameter whose value is secret: password, sslpassword, ... */
static bool secret_param(const char *k, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i++)
        if (!strncasecmp(k + i, "password", 8))
            return true;
    return false;
}

/* Hide every password of a key=value DSN or a postgresql:// URI: the user
 * info's and any parameter named *password* (key=value, or ?k=v in a URI,
 * which libpq accepts as well). */
char *nw_config_redact_dsn(const char *dsn)
{
    size_t n = strlen(dsn);
    char *out = malloc(3 * n + 16); /* a value of 0-2 chars grows to "***" */
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = dsn;
    const char *scheme = strstr(dsn, "://");
    if (scheme && (size_t)(scheme - dsn) < 16 && !memchr(dsn, '=', (size_t)(scheme - dsn))) {
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *q = auth; q < auth + alen; q++)
            if (*q == '@')
                at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            memcpy(out, dsn, (size_t)(colon + 1 - dsn));
            o = (size_t)(colon + 1 - dsn);
            memcpy(out + o, "***", 3);
            o += 3;
            p = at;
        }
        const char *query = strchr(p, '?');
        size_t head = query ? (size_t)(query + 1 - p) : strlen(p);
        memcpy(out + o, p, head);
        o += head;
        p += head;
        while (query && *p) {
            size_t plen = strcspn(p, "&");
            const char *eq = memchr(p, '=', plen);
            if (eq && secret_param(p, (size_t)(eq - p))) {
                memcpy(out + o, p, (size_t)(eq + 1 - p));
                o += (size_t)(eq + 1 - p);
                memcpy(out + o, "***", 3);
                o += 3;
            } else {
                memcpy(out + o, p, plen);
                o += plen;
            }
            p += plen;
            if (*p == '&')
                out[o++] = *p++;
        }
        out[o] = 0;
        return out;
    }
    /* key = value pairs; a value is 'quoted' (with \ escapes) or runs to a space */
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            out[o++] = *p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - k);
        while (*p == ' ')
            p++;
        if (*p != '=') { /* not a pair: copy what we skipped and go on */
            memcpy(out + o, k, (size_t)(p - k));
            o += (size_t)(p - k);
            continue;
        }
        p++;
        while (*p == ' ')
            p++;
        const char *v = p;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'')
                p += (*p == '\\' && p[1]) ? 2 : 1;
            if (*p)
                p++;
        } else {
            while (*p && *p != ' ' && *p != '\t' && *p != '\n')
                p += (*p == '\\' && p[1]) ? 2 : 1;
        }
        memcpy(out + o, k, (size_t)(v - k));
        o += (size_t)(v - k);
        if (secret_param(k, klen)) {
            memcpy(out + o, "***", 3);
            o += 3;
        } else {
            memcpy(out + o, v, (size_t)(p - v));
            o += (size_t)(p - v);
        }
    }
    out[o] = 0;
    return out;
}
