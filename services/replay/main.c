/*
 * newswire-replay: send chosen dead letters back to the raw topic once their
 * cause is fixed (a parser bug, a database constraint, a wrong header...).
 *
 * It reads the dead-letter topic from the start (or the given offsets) up to
 * its end at the time it starts, keeps the records the selectors choose, and
 * produces each to the raw topic with its original key, value and headers,
 * minus the error context newswire-ingest added (__connect.errors.*,
 * newswire.error.*), plus newswire-replayed-from: <dlq topic>/<partition>/<offset>.
 * The ingest service then treats it as any other raw item: stored once,
 * event published, or dead-lettered again with its new reason.
 *
 * Selectors (a record is replayed when it matches every kind given):
 *   all                 everything (required when no other selector is given)
 *   [P:]FROM[-[TO]]     DLQ offsets FROM..TO inclusive (TO omitted: to the end),
 *                       on partition P or on every partition; repeatable
 *   code=CODE           newswire.error.code, e.g. xml-malformed, 23514; repeatable
 *   class=CLASS         newswire.error.class: input or row; repeatable
 * --dry-run lists the selected records with their reasons and sends nothing.
 *
 * It never commits consumer offsets: replaying the same range twice sends
 * the records twice (harmless: a re-sent version republishes its event).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "log.h"

static const char *const settings[] = {"kafka.brokers", "client.id", "topic.dlq", "topic.raw",
                                       "dry.run", "retry.max.ms", "log.level", NULL};

#define MAX_SEL 32
#define CHUNK 500

typedef struct range {
    int32_t partition; /* -1 = every partition */
    int64_t from, to;  /* inclusive; to = INT64_MAX for "to the end" */
} range_t;

typedef struct selection {
    bool all;
    range_t ranges[MAX_SEL];
    int nranges;
    const char *codes[MAX_SEL];
    int ncodes;
    const char *classes[MAX_SEL];
    int nclasses;
} selection_t;

static bool parse_i64(const char *s, const char *end, int64_t *out)
{
    if (s == end)
        return false;
    int64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* [P:]FROM[-[TO]] */
static bool parse_range(const char *a, range_t *r)
{
    r->partition = -1;
    const char *colon = strchr(a, ':');
    if (colon) {
        int64_t p;
        if (!parse_i64(a, colon, &p) || p > INT32_MAX)
            return false;
        r->partition = (int32_t)p;
        a = colon + 1;
    }
    const char *dash = strchr(a, '-');
    const char *end = a + strlen(a);
    if (!parse_i64(a, dash ? dash : end, &r->from))
        return false;
    if (!dash) {
        r->to = r->from;
        return true;
    }
    if (dash + 1 == end) {
        r->to = INT64_MAX;
        return true;
    }
    return parse_i64(dash + 1, end, &r->to) && r->to >= r->from;
}

static bool parse_selection(char **args, int n, selection_t *sel)
{
    memset(sel, 0, sizeof *sel);
    for (int i = 0; i < n; i++) {
        const char *a = args[i];
        if (!strcmp(a, "all")) {
            sel->all = true;
        } else if (!strncmp(a, "code=", 5) && a[5] && sel->ncodes < MAX_SEL) {
            sel->codes[sel->ncodes++] = a + 5;
        } else if (!strncmp(a, "class=", 6) && a[6] && sel->nclasses < MAX_SEL) {
            sel->classes[sel->nclasses++] = a + 6;
        } else if (sel->nranges < MAX_SEL && parse_range(a, &sel->ranges[sel->nranges])) {
            sel->nranges++;
        } else {
            fprintf(stderr, "newswire-replay: bad selector '%s' (all, [P:]FROM[-[TO]], "
                            "code=CODE, class=CLASS)\n", a);
            return false;
        }
    }
    if (!sel->all && !sel->nranges && !sel->ncodes && !sel->nclasses) {
        fprintf(stderr, "newswire-replay: choose what to replay: all, offsets, code= or class= "
                        "(see --help)\n");
        return false;
    }
    return true;
}

/* A header's value as a NUL-terminated string in buf ("" when absent). */
static const char *header(rd_kafka_headers_t *h, const char *name, char *buf, size_t cap)
{
    const void *v;
    size_t n;
    buf[0] = 0;
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        if (n >= cap)
            n = cap - 1;
        memcpy(buf, v, n);
        buf[n] = 0;
    }
    return buf;
}

static bool matches(const selection_t *sel, const rd_kafka_message_t *m, const char *code,
                    const char *cls)
{
    if (sel->nranges) {
        bool in = false;
        for (int i = 0; i < sel->nranges && !in; i++) {
            const range_t *r = &sel->ranges[i];
            in = (r->partition < 0 || r->partition == m->partition) && m->offset >= r->from &&
                 m->offset <= r->to;
        }
        if (!in)
            return false;
    }
    if (sel->ncodes) {
        bool in = false;
        for (int i = 0; i < sel->ncodes && !in; i++)
            in = !strcmp(sel->codes[i], code);
        if (!in)
            return false;
    }
    if (sel->nclasses) {
        bool in = false;
        for (int i = 0; i < sel->nclasses && !in; i++)
            in = !strcmp(sel->classes[i], cls);
        if (!in)
            return false;
    }
    return true;
}

/* The context newswire-ingest added to the dead letter, and an earlier replay's mark. */
static bool added_header(const char *name)
{
    return !strncmp(name, "__connect.errors.", 17) || !strncmp(name, "newswire.error.", 15) ||
           !strcmp(name, "newswire-replayed-from") || !strcmp(name, "newswire.dlq.truncated");
}

/* JSON string body (for the --dry-run listing, one JSON object per line). */
static void print_json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

typedef struct replay {
    const nw_config_t *cfg;
    rd_kafka_t *producer;
    rd_kafka_t *fetcher;             /* reads originals of truncated dead letters (lazily) */
    rd_kafka_message_t *held[CHUNK]; /* the records being sent: their headers are borrowed */
    rd_kafka_message_t *orig[CHUNK]; /* the original raw message when the dead letter was cut */
    nw_outmsg_t out[CHUNK];
    char from[CHUNK][300];
    size_t n;
    size_t sent;
    size_t lost;                     /* cut dead letters whose original is gone */
} replay_t;

static bool flush_out(replay_t *r)
{
    nw_err_t err = {0};
    bool ok = r->n == 0 || nw_kafka_send_all(r->producer, r->out, r->n,
                                              nw_now_us() + 120 * 1000000LL, NULL,
                                              (int)r->cfg->retry_max_ms, &err);
    if (!ok)
        nw_log_error("replay not acknowledged", NW_LS("reason", err.msg));
    else
        r->sent += r->n;
    for (size_t i = 0; i < r->n; i++) {
        nw_outmsg_clear(&r->out[i]);
        rd_kafka_message_destroy(r->held[i]);
        if (r->orig[i])
            rd_kafka_message_destroy(r->orig[i]);
        r->orig[i] = NULL;
    }
    r->n = 0;
    return ok;
}

/* A dead letter too big for the DLQ topic carries only the first bytes of its
 * payload (header newswire.dlq.truncated); the whole one is still in the raw
 * topic, at the position its context headers name. NULL when it is gone
 * (retention) or unreadable. */
static rd_kafka_message_t *fetch_original(replay_t *r, rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    char topic[256], part[32], off[32];
    if (!*header(h, "__connect.errors.topic", topic, sizeof topic) ||
        !*header(h, "__connect.errors.partition", part, sizeof part) ||
        !*header(h, "__connect.errors.offset", off, sizeof off))
        return NULL;
    nw_err_t err = {0};
    if (!r->fetcher && !(r->fetcher = nw_kafka_consumer_new(r->cfg, NULL, NULL, &err)))
        return NULL;
    int32_t p = (int32_t)atoi(part);
    int64_t o = atoll(off);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, p)->offset = o;
    rd_kafka_assign(r->fetcher, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    rd_kafka_message_t *got = NULL;
    int64_t until = nw_now_us() + 15000000;
    while (!got && nw_now_us() < until) {
        rd_kafka_message_t *x = rd_kafka_consumer_poll(r->fetcher, 200);
        if (!x)
            continue;
        if (!x->err && x->partition == p && x->offset == o) {
            got = x;
            break;
        }
        bool past = !x->err && x->offset > o; /* compacted or deleted */
        rd_kafka_message_destroy(x);
        if (past)
            break;
    }
    rd_kafka_assign(r->fetcher, NULL);
    return got;
}

static bool add_replay(replay_t *r, rd_kafka_message_t *m)
{
    nw_outmsg_t *om = &r->out[r->n];
    nw_outmsg_from(om, r->cfg->topic_raw, m);
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    char cut[32];
    r->orig[r->n] = NULL;
    if (*header(h, "newswire.dlq.truncated", cut, sizeof cut)) {
        rd_kafka_message_t *o = fetch_original(r, m);
        if (!o || o->len != (size_t)atoll(cut)) {
            nw_log_error("dead letter was cut and its original is no longer in the raw topic",
                         NW_LI("partition", m->partition), NW_LI("offset", m->offset));
            if (o)
                rd_kafka_message_destroy(o);
            r->lost++;
            rd_kafka_message_destroy(m);
            return true; /* skip it; the run ends with a non-zero status */
        }
        r->orig[r->n] = o;
        om->value = o->payload;
        om->value_len = o->len;
    }
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0; h && rd_kafka_header_get_all(h, i, &name, &v, &n) == 0; i++) {
        if (added_header(name))
            continue;
        if (om->nheaders == NW_OUT_MAX_HEADERS - 1) {
            nw_log_error("dead letter has too many headers to replay",
                         NW_LI("partition", m->partition), NW_LI("offset", m->offset));
            nw_outmsg_clear(om);
            return false;
        }
        nw_outmsg_header(om, name, v, n);
    }
    snprintf(r->from[r->n], sizeof r->from[0], "%s/%d/%" PRId64, r->cfg->topic_dlq,
             (int)m->partition, m->offset);
    nw_outmsg_header_str(om, "newswire-replayed-from", r->from[r->n]);
    r->held[r->n++] = m;
    return r->n < CHUNK || flush_out(r);
}

/* Read every partition of the DLQ from its first wanted offset to its end
 * as of now; returns the process exit code. */
static int run(const nw_config_t *cfg, const selection_t *sel, rd_kafka_t *consumer,
               replay_t *r)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(consumer, cfg->topic_dlq, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(consumer, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "newswire-replay: topic %s: %s\n", cfg->topic_dlq,
                rd_kafka_err2str(e ? e : md->topics[0].err));
        if (md)
            rd_kafka_metadata_destroy(md);
        return 1;
    }
    int nparts = md->topics[0].partition_cnt;
    int64_t *end = calloc((size_t)nparts + 1, sizeof *end);
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(nparts);
    int active = 0;
    for (int i = 0; i < nparts; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(consumer, cfg->topic_dlq, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "newswire-replay: offsets of %s/%d: %s\n", cfg->topic_dlq, (int)p,
                    rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(assign);
            rd_kafka_metadata_destroy(md);
            free(end);
            return 1;
        }
        int64_t start = lo;
        if (sel->nranges && !sel->all) {
            int64_t first = INT64_MAX;
            for (int k = 0; k < sel->nranges; k++)
                if (sel->ranges[k].partition < 0 || sel->ranges[k].partition == p)
                    first = sel->ranges[k].from < first ? sel->ranges[k].from : first;
            start = first > lo ? first : lo;
        }
        end[p < nparts ? p : 0] = hi;
        if (start < hi) {
            rd_kafka_topic_partition_list_add(assign, cfg->topic_dlq, p)->offset = start;
            active++;
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_assign(consumer, assign);
    rd_kafka_topic_partition_list_destroy(assign);

    size_t seen = 0, chosen = 0;
    int rc = 0;
    int idle = 0;
    while (active > 0 && rc == 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 1000);
        if (!m) {
            if (++idle > 60) {
                fprintf(stderr, "newswire-replay: no record for 60 s before the end of %s\n",
                        cfg->topic_dlq);
                rc = 1;
            }
            continue;
        }
        idle = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                nw_log_warn("consumer error", NW_LS("reason", rd_kafka_message_errstr(m)));
            rd_kafka_message_destroy(m);
            continue;
        }
        int32_t p = m->partition;
        bool last = p < nparts && m->offset + 1 >= end[p];
        if (p < nparts && m->offset >= end[p]) { /* written after we started */
            rd_kafka_message_destroy(m);
            continue;
        }
        seen++;
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        char code[64], cls[32], reason[512], stage[32];
        header(h, "newswire.error.code", code, sizeof code);
        header(h, "newswire.error.class", cls, sizeof cls);
        if (!matches(sel, m, code, cls)) {
            rd_kafka_message_destroy(m);
        } else {
            chosen++;
            if (cfg->dry_run) {
                header(h, "newswire.error.reason", reason, sizeof reason);
                header(h, "__connect.errors.stage", stage, sizeof stage);
                char key[256];
                size_t kl = m->key_len < sizeof key - 1 ? m->key_len : sizeof key - 1;
                memcpy(key, m->key ? m->key : "", m->key ? kl : 0);
                key[m->key ? kl : 0] = 0;
                printf("{\"partition\":%d,\"offset\":%" PRId64 ",\"class\":", (int)p, m->offset);
                print_json_str(cls);
                printf(",\"code\":");
                print_json_str(code);
                printf(",\"stage\":");
                print_json_str(stage);
                printf(",\"reason\":");
                print_json_str(reason);
                printf(",\"key\":");
                print_json_str(key);
                printf(",\"bytes\":%zu}\n", m->len);
                rd_kafka_message_destroy(m);
            } else if (!add_replay(r, m)) {
                rc = 1;
            }
        }
        if (last)
            active--;
    }
    if (rc == 0 && !flush_out(r))
        rc = 1;
    fflush(stdout);
    fprintf(stderr, "newswire-replay: %zu dead letters read, %zu selected, %zu %s %s\n", seen,
            chosen, cfg->dry_run ? chosen : r->sent, cfg->dry_run ? "listed (dry run)" : "sent to",
            cfg->dry_run ? "" : cfg->topic_raw);
    free(end);
    return rc;
}

int main(int argc, char **argv)
{
    nw_config_t cfg;
    nw_err_t err = {0};
    char **args = NULL;
    int nargs = 0;
    nw_log_set_service("newswire-replay");
    int rc = nw_config_load(
        &cfg, "newswire-replay",
        "Send chosen dead letters back to the raw topic, once their cause is fixed.\n"
        "Selectors: all | [P:]FROM[-[TO]] (DLQ offsets) | code=CODE | class=CLASS;\n"
        "a record is replayed when it matches every kind of selector given.\n"
        "Headers: the original ones, minus __connect.errors.* and newswire.error.*,\n"
        "plus newswire-replayed-from: <dlq topic>/<partition>/<offset>.",
        settings, argc, argv, &args, &nargs, &err);
    if (rc > 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "newswire-replay: %s\n", err.msg);
        return 2;
    }
    nw_log_set_level(cfg.log_level);
    selection_t sel;
    if (!parse_selection(args, nargs, &sel)) {
        free(args);
        nw_config_free(&cfg);
        return 2;
    }
    /* A private group id: offsets are never committed, and the ingest
     * group's must never move because of a replay. */
    char group[96];
    snprintf(group, sizeof group, "newswire-replay-%d", (int)getpid());
    free(cfg.group_id);
    cfg.group_id = strdup(group);
    replay_t *r = calloc(1, sizeof *r);
    r->cfg = &cfg;
    rd_kafka_t *consumer = nw_kafka_consumer_new(&cfg, NULL, NULL, &err);
    if (consumer && !cfg.dry_run)
        r->producer = nw_kafka_producer_new(&cfg, &err);
    if (!consumer || (!cfg.dry_run && !r->producer) ||
        !nw_kafka_check(consumer, 10000, &err)) {
        fprintf(stderr, "newswire-replay: %s\n", err.msg);
        rc = 2;
    } else {
        rc = run(&cfg, &sel, consumer, r);
    }
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (r->producer) {
        rd_kafka_flush(r->producer, 10000);
        rd_kafka_destroy(r->producer);
    }
    if (r->fetcher) {
        rd_kafka_consumer_close(r->fetcher);
        rd_kafka_destroy(r->fetcher);
    }
    if (rc == 0 && r->lost)
        rc = 1;
    free(r);
    free(args);
    nw_config_free(&cfg);
    return rc;
}
