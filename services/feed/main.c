/*
 * newswire-feed: push wire files to the raw topic, the way an agency feed
 * would. Each file (folders are walked, NDJSON/JSON-lines files give one
 * message per line, `-` reads NDJSON from stdin) becomes one Kafka message
 * with headers naming the agency and format. When the item parses, the key
 * is provider:story_id, so every version of a story lands in one partition
 * and keeps its order; otherwise the key is the file name and the ingest
 * service dead-letters it.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "formats/formats.h"
#include "kafka.h"
#include "log.h"

static const char *const settings[] = {"kafka.brokers", "client.id", "topic.raw", "feed.agency",
                                       "feed.format", "feed.rate", "feed.progress",
                                       "retry.max.ms", "log.level", NULL};

/* Messages in flight at once: bounded memory whatever the size of the feed. */
#define CHUNK 5000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct payload {
    char *data;
    size_t len;
    char *name;
    char *key;
    char format[32];
    char agency[16];
    char pair_key[128];
} payload_t;

typedef struct feed {
    const nw_config_t *cfg;
    rd_kafka_t *rk;
    payload_t chunk[CHUNK];
    size_t n;
    size_t sent, failed, total_bytes;
    int64_t started_us, last_progress_us, next_send_us;
    bool progress;
} feed_t;

static const char *content_type_of(const payload_t *p)
{
    const char *d = p->data;
    size_t i = 0;
    while (i < p->len && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t'))
        i++;
    if (i < p->len && (d[i] == '{' || d[i] == '['))
        return "application/json";
    if (i < p->len && d[i] == '<')
        return "application/xml";
    return "application/octet-stream";
}

/* Look at the item to choose its headers and key. */
static void describe(feed_t *f, payload_t *p)
{
    nw_input_t in = {.data = p->data, .len = p->len, .name = p->name};
    bool auto_fmt = !strcmp(f->cfg->format, "auto");
    if (!auto_fmt)
        in.format = f->cfg->format;
    if (strcmp(f->cfg->agency, "auto"))
        in.agency = f->cfg->agency;
    const char *fmt = auto_fmt ? nw_format_detect(&in) : f->cfg->format;
    snprintf(p->format, sizeof p->format, "%s", fmt ? fmt : "");
    if (in.agency)
        snprintf(p->agency, sizeof p->agency, "%s", in.agency);
    /* A payload may hold several items (a G2 newsMessage): the first one names it. */
    nw_items_t items = {0};
    nw_err_t err = {0};
    if (fmt && nw_format_parse_all(&in, &items, &err) && items.n > 0) {
        const nw_item_t *it = &items.v[0];
        if (!*p->agency)
            snprintf(p->agency, sizeof p->agency, "%s", it->provider);
        if (it->pair_key)
            snprintf(p->pair_key, sizeof p->pair_key, "%s", it->pair_key);
        size_t n = strlen(it->provider) + strlen(it->story_id) + 2;
        p->key = malloc(n);
        snprintf(p->key, n, "%s:%s", it->provider, it->story_id);
    } else {
        p->key = strdup(p->name);
    }
    nw_items_free(&items);
}

static void progress_line(feed_t *f, bool final)
{
    int64_t now = nw_now_us();
    if (!f->progress || (!final && now - f->last_progress_us < 1000000))
        return;
    f->last_progress_us = now;
    double secs = (double)(now - f->started_us) / 1e6;
    fprintf(stderr, "\r%zu sent, %zu failed, %.1f MB, %.0f msg/s%s", f->sent, f->failed,
            (double)f->total_bytes / 1e6, secs > 0 ? (double)f->sent / secs : 0.0,
            final ? "\n" : "");
    fflush(stderr);
}

/* Send the chunk and wait until the broker acknowledged all of it. */
static void flush_chunk(feed_t *f)
{
    if (f->n == 0)
        return;
    nw_outmsg_t *out = calloc(f->n, sizeof *out);
    for (size_t i = 0; i < f->n; i++) {
        payload_t *p = &f->chunk[i];
        nw_outmsg_t *m = &out[i];
        m->topic = f->cfg->topic_raw;
        m->partition = RD_KAFKA_PARTITION_UA;
        m->key = p->key;
        m->key_len = strlen(p->key);
        m->value = p->data;
        m->value_len = p->len;
        if (*p->agency)
            nw_outmsg_header_str(m, "newswire-agency", p->agency);
        if (*p->format)
            nw_outmsg_header_str(m, "newswire-format", p->format);
        if (*p->pair_key)
            nw_outmsg_header_str(m, "newswire-pair-key", p->pair_key);
        nw_outmsg_header_str(m, "content-type", content_type_of(p));
        nw_outmsg_header_str(m, "newswire-source", p->name);
    }
    nw_err_t err = {0};
    nw_kafka_send_all(f->rk, out, f->n, nw_now_us() + 120000000LL, &stop_requested,
                      (int)f->cfg->retry_max_ms, &err);
    for (size_t i = 0; i < f->n; i++) {
        if (out[i].state == NW_OUT_ACKED)
            f->sent++;
        else
            f->failed++;
        nw_outmsg_clear(&out[i]);
        free(f->chunk[i].data);
        free(f->chunk[i].name);
        free(f->chunk[i].key);
    }
    free(out);
    if (f->failed)
        fprintf(stderr, "%snewswire-feed: %s\n", f->progress ? "\n" : "", err.msg);
    f->n = 0;
}

/* Queue one message (takes ownership of data). */
static void add(feed_t *f, char *data, size_t len, const char *name)
{
    if (stop_requested) {
        free(data);
        return;
    }
    if (f->cfg->feed_rate > 0) {
        int64_t now = nw_now_us();
        if (f->next_send_us > now) {
            flush_chunk(f); /* what is queued goes out before we wait */
            usleep((useconds_t)(f->next_send_us - now));
        }
        f->next_send_us = (f->next_send_us > now ? f->next_send_us : now) +
                          1000000 / f->cfg->feed_rate;
    }
    payload_t *p = &f->chunk[f->n++];
    memset(p, 0, sizeof *p);
    p->data = data;
    p->len = len;
    p->name = strdup(name);
    describe(f, p);
    f->total_bytes += len;
    if (f->n == CHUNK || f->cfg->feed_rate > 0)
        flush_chunk(f);
    progress_line(f, false);
}

static bool is_ndjson(const char *path)
{
    size_t n = strlen(path);
    return (n > 7 && !strcmp(path + n - 7, ".ndjson")) ||
           (n > 6 && !strcmp(path + n - 6, ".jsonl"));
}

static int feed_lines(feed_t *f, FILE *in, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, in)) > 0 && !stop_requested) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        char label[512];
        snprintf(label, sizeof label, "%s:%ld", name, lineno);
        char *copy = malloc((size_t)n);
        memcpy(copy, line, (size_t)n);
        add(f, copy, (size_t)n, label);
    }
    free(line);
    return 0;
}

static int feed_file(feed_t *f, const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "newswire-feed: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (is_ndjson(path)) {
        feed_lines(f, in, path);
        fclose(in);
        return 0;
    }
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *data = malloc(len > 0 ? (size_t)len : 1);
    size_t got = len > 0 ? fread(data, 1, (size_t)len, in) : 0;
    fclose(in);
    add(f, data, got, path);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a folder in name order, so a feed replays deterministically. */
static int feed_path(feed_t *f, const char *path)
{
    struct stat sb;
    if (strcmp(path, "-") == 0)
        return feed_lines(f, stdin, "stdin");
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "newswire-feed: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(sb.st_mode))
        return feed_file(f, path);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "newswire-feed: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
        }
        size_t l = strlen(path) + strlen(de->d_name) + 2;
        names[n] = malloc(l);
        snprintf(names[n++], l, "%s/%s", path, de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!stop_requested)
            rc |= feed_path(f, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    nw_config_t cfg;
    nw_err_t err = {0};
    char **paths = NULL;
    int npaths = 0;
    nw_log_set_service("newswire-feed");
    int rc = nw_config_load(&cfg, "newswire-feed",
                            "Send wire items (files, folders, NDJSON files, or NDJSON on stdin "
                            "with -)\nto the raw topic, with headers naming agency and format.",
                            settings, argc, argv, &paths, &npaths, &err);
    if (rc > 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "newswire-feed: %s\n", err.msg);
        return 2;
    }
    nw_log_set_level(cfg.log_level);
    if (npaths == 0) {
        fprintf(stderr, "newswire-feed: nothing to send (give files, folders or -; see --help)\n");
        free(paths);
        nw_config_free(&cfg);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    feed_t *f = calloc(1, sizeof *f);
    f->cfg = &cfg;
    f->progress = cfg.progress < 0 ? isatty(2) : cfg.progress;
    f->rk = nw_kafka_producer_new(&cfg, &err);
    if (!f->rk || !nw_kafka_check(f->rk, 10000, &err)) {
        fprintf(stderr, "newswire-feed: %s\n", err.msg);
        if (f->rk)
            rd_kafka_destroy(f->rk);
        free(f);
        free(paths);
        nw_config_free(&cfg);
        return 2;
    }
    f->started_us = nw_now_us();
    for (int i = 0; i < npaths; i++)
        rc |= feed_path(f, paths[i]);
    flush_chunk(f);
    progress_line(f, true);
    rd_kafka_flush(f->rk, 10000);
    rd_kafka_destroy(f->rk);
    double secs = (double)(nw_now_us() - f->started_us) / 1e6;
    printf("delivered %zu of %zu messages to %s (%zu failed) in %.2f s\n", f->sent,
           f->sent + f->failed, cfg.topic_raw, f->failed, secs);
    rc = rc || f->failed || stop_requested;
    free(f);
    free(paths);
    nw_format_cleanup();
    nw_config_free(&cfg);
    return rc ? 1 : 0;
}
