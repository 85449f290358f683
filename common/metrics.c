#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } mtype_t;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* One label set of a family and its value(s). */
typedef struct series {
    char **lv;          /* label values, one per label name (owned) */
    double value;       /* counter, gauge */
    double sum;         /* histogram */
    uint64_t count;     /* histogram */
    uint64_t *buckets;  /* histogram: per-bucket (not cumulative) counts, nbounds (owned) */
    bool stale;         /* see nw_metric_mark_stale */
} series_t;

struct nw_metric {
    char *name;
    char *help;
    mtype_t type;
    char *labels[NW_METRIC_MAX_LABELS];
    size_t nlabels;
    double bounds[NW_METRIC_MAX_BUCKETS];
    size_t nbounds;
    series_t *s;
    size_t n, cap;
    bool warned;        /* a misuse or the series cap was logged already */
    nw_metric_t *next;
};

/* One lock for the whole registry: updates come from the service loop,
 * renders from the HTTP thread, and both are short. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nw_metric_t *families, *families_last;

const double nw_metric_buckets_seconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,   0.5,   1,      2.5,   5,    10,   30,    60};
const size_t nw_metric_buckets_seconds_n =
    sizeof nw_metric_buckets_seconds / sizeof nw_metric_buckets_seconds[0];

/* ---- registration ----------------------------------------------------------- */

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (colon_ok && c == ':');
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static void family_free(nw_metric_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = 0; k < m->nlabels; k++)
            free(m->s[i].lv[k]);
        free(m->s[i].lv);
        free(m->s[i].buckets);
    }
    free(m->s);
    for (size_t k = 0; k < m->nlabels; k++)
        free(m->labels[k]);
    free(m->name);
    free(m->help);
    free(m);
}

/* Split "a,b" into m->labels; false when a name is invalid or reserved. */
static bool parse_labels(nw_metric_t *m, const char *labels)
{
    if (!labels || !*labels)
        return true;
    char *copy = strdup(labels);
    bool ok = copy != NULL;
    for (char *save = NULL, *t = ok ? strtok_r(copy, ",", &save) : NULL; t && ok;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        ok = m->nlabels < NW_METRIC_MAX_LABELS && valid_name(t, false) && strncmp(t, "__", 2) &&
             !(m->type == M_HISTOGRAM && !strcmp(t, "le"));
        if (ok)
            m->labels[m->nlabels++] = strdup(t);
    }
    free(copy);
    return ok;
}

static bool same_shape(const nw_metric_t *a, const nw_metric_t *b)
{
    if (a->type != b->type || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
        return false;
    for (size_t k = 0; k < a->nlabels; k++)
        if (strcmp(a->labels[k], b->labels[k]))
            return false;
    for (size_t k = 0; k < a->nbounds; k++)
        if (a->bounds[k] != b->bounds[k])
            return false;
    return true;
}

static series_t *series_add(nw_metric_t *m, const char *const *lv);

static nw_metric_t *family_register(mtype_t type, const char *name, const char *help,
                                    const char *labels, const double *bounds, size_t nbounds)
{
    nw_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = type;
    bool ok = valid_name(name, true) && parse_labels(m, labels) && nbounds <= NW_METRIC_MAX_BUCKETS;
    for (size_t i = 0; ok && i < nbounds; i++) {
        ok = !isnan(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]);
        m->bounds[i] = bounds[i];
    }
    m->nbounds = nbounds;
    if (!ok) {
        nw_log_error("metrics: invalid metric definition", NW_LS("name", name),
                     NW_LS("labels", labels ? labels : ""));
        family_free(m);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    for (nw_metric_t *f = families; f; f = f->next) {
        if (strcmp(f->name, name))
            continue;
        bool same = same_shape(f, m);
        pthread_mutex_unlock(&lock);
        family_free(m);
        if (!same)
            nw_log_error("metrics: registered twice with another type or labels",
                         NW_LS("name", name));
        return same ? f : NULL;
    }
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (m->nlabels == 0)
        series_add(m, NULL); /* a family without labels always shows its value */
    if (families_last)
        families_last->next = m;
    else
        families = m;
    families_last = m;
    pthread_mutex_unlock(&lock);
    return m;
}

nw_metric_t *nw_metric_counter(const char *name, const char *help, const char *labels)
{
    return family_register(M_COUNTER, name, help, labels, NULL, 0);
}

nw_metric_t *nw_metric_gauge(const char *name, const char *help, const char *labels)
{
    return family_register(M_GAUGE, name, help, labels, NULL, 0);
}

nw_metric_t *nw_metric_histogram(const char *name, const char *help, const char *labels,
                                 const double *bounds, size_t nbounds)
{
    return family_register(M_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---- series ------------------------------------------------------------------ */

/* Called with the lock held. */
static series_t *series_add(nw_metric_t *m, const char *const *lv)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        series_t *s = realloc(m->s, cap * sizeof *s);
        if (!s)
            return NULL;
        m->s = s;
        m->cap = cap;
    }
    series_t *s = &m->s[m->n];
    memset(s, 0, sizeof *s);
    s->lv = calloc(m->nlabels ? m->nlabels : 1, sizeof *s->lv);
    if (m->type == M_HISTOGRAM)
        s->buckets = calloc(m->nbounds ? m->nbounds : 1, sizeof *s->buckets);
    if (!s->lv || (m->type == M_HISTOGRAM && !s->buckets)) {
        free(s->lv);
        free(s->buckets);
        return NULL;
    }
    for (size_t k = 0; k < m->nlabels; k++)
        s->lv[k] = strdup(lv[k]);
    m->n++;
    return s;
}

/* Called with the lock held; `warn` is filled with a message to log after
 * unlocking (the log must not be written under the registry lock). */
static series_t *series_get(nw_metric_t *m, const char *const *lv, const char **warn)
{
    size_t n = 0;
    while (lv && lv[n])
        n++;
    if (n != m->nlabels) {
        *warn = "metrics: wrong number of label values";
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++) {
        size_t k = 0;
        while (k < n && !strcmp(m->s[i].lv[k], lv[k]))
            k++;
        if (k == n)
            return &m->s[i];
    }
    if (m->n >= NW_METRIC_MAX_SERIES) {
        *warn = "metrics: too many label sets, new ones are dropped";
        return NULL;
    }
    return series_add(m, lv);
}

static void warn_once(nw_metric_t *m, const char *warn)
{
    bool first;
    pthread_mutex_lock(&lock);
    first = !m->warned;
    m->warned = true;
    pthread_mutex_unlock(&lock);
    if (first)
        nw_log_error(warn, NW_LS("metric", m->name));
}

typedef enum { OP_ADD, OP_SET, OP_OBSERVE } op_t;

static void update(nw_metric_t *m, const char *const *lv, op_t op, double v)
{
    if (!m)
        return;
    const char *warn = NULL;
    pthread_mutex_lock(&lock);
    bool fits = (op == OP_OBSERVE) == (m->type == M_HISTOGRAM) &&
                !(op == OP_SET && m->type != M_GAUGE);
    series_t *s = fits ? series_get(m, lv, &warn) : NULL;
    if (!fits)
        warn = "metrics: operation does not fit the metric type";
    if (s) {
        s->stale = false;
        if (op == OP_SET)
            s->value = v;
        else if (op == OP_ADD && (m->type == M_GAUGE || v >= 0))
            s->value += v;
        else if (op == OP_OBSERVE) {
            s->count++;
            s->sum += v;
            for (size_t i = 0; i < m->nbounds; i++) {
                if (v <= m->bounds[i]) {
                    s->buckets[i]++;
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (warn)
        warn_once(m, warn);
}

void nw_metric_add(nw_metric_t *m, const char *const *lv, double v)
{
    update(m, lv, OP_ADD, v);
}

void nw_metric_inc(nw_metric_t *m, const char *const *lv)
{
    update(m, lv, OP_ADD, 1);
}

void nw_metric_set(nw_metric_t *m, const char *const *lv, double v)
{
    update(m, lv, OP_SET, v);
}

void nw_metric_observe(nw_metric_t *m, const char *const *lv, double v)
{
    update(m, lv, OP_OBSERVE, v);
}

void nw_metric_mark_stale(nw_metric_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < m->n; i++)
        m->s[i].stale = m->nlabels > 0;
    pthread_mutex_unlock(&lock);
}

void nw_metric_drop_stale(nw_metric_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&lock);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        series_t *s = &m->s[i];
        if (!s->stale) {
            m->s[k++] = *s;
            continue;
        }
        for (size_t j = 0; j < m->nlabels; j++)
            free(s->lv[j]);
        free(s->lv);
        free(s->buckets);
    }
    m->n = k;
    pthread_mutex_unlock(&lock);
}

double nw_metric_value(nw_metric_t *m, const char *const *lv)
{
    if (!m)
        return 0;
    double v = 0;
    pthread_mutex_lock(&lock);
    size_t n = 0;
    while (lv && lv[n])
        n++;
    for (size_t i = 0; n == m->nlabels && i < m->n; i++) {
        size_t k = 0;
        while (k < n && !strcmp(m->s[i].lv[k], lv[k]))
            k++;
        if (k == n) {
            v = m->type == M_HISTOGRAM ? (double)m->s[i].count : m->s[i].value;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return v;
}

/* ---- exposition ----------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->n + len + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void sb_escaped(sbuf_t *b, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            sb_str(b, "\\\\");
        else if (*p == '\n')
            sb_str(b, "\\n");
        else if (quote && *p == '"')
            sb_str(b, "\\\"");
        else
            sb_put(b, p, 1);
    }
}

/* The shortest form that reads back as the same double; Go-style specials. */
static void sb_number(sbuf_t *b, double v)
{
    char tmp[40];
    if (isnan(v))
        snprintf(tmp, sizeof tmp, "NaN");
    else if (isinf(v))
        snprintf(tmp, sizeof tmp, "%sInf", v > 0 ? "+" : "-");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(tmp, sizeof tmp, "%.0f", v);
    else {
        snprintf(tmp, sizeof tmp, "%.15g", v);
        if (strtod(tmp, NULL) != v)
            snprintf(tmp, sizeof tmp, "%.17g", v);
    }
    sb_str(b, tmp);
}

/* name{l1="v1",l2="v2"[,le="x"]} */
static void sb_series_name(sbuf_t *b, const nw_metric_t *m, const series_t *s, const char *suffix,
                           const double *le)
{
    sb_str(b, m->name);
    sb_str(b, suffix);
    if (m->nlabels == 0 && !le)
        return;
    sb_str(b, "{");
    for (size_t k = 0; k < m->nlabels; k++) {
        if (k)
            sb_str(b, ",");
        sb_str(b, m->labels[k]);
        sb_str(b, "=\"");
        sb_escaped(b, s->lv[k], true);
        sb_str(b, "\"");
    }
    if (le) {
        sb_str(b, m->nlabels ? ",le=\"" : "le=\"");
        sb_number(b, *le);
        sb_str(b, "\"");
    }
    sb_str(b, "}");
}

static void render_family(sbuf_t *b, const nw_metric_t *m)
{
    sb_str(b, "# HELP ");
    sb_str(b, m->name);
    sb_str(b, " ");
    sb_escaped(b, m->help, false);
    sb_str(b, "\n# TYPE ");
    sb_str(b, m->name);
    sb_str(b, " ");
    sb_str(b, type_names[m->type]);
    sb_str(b, "\n");
    for (size_t i = 0; i < m->n; i++) {
        const series_t *s = &m->s[i];
        if (m->type != M_HISTOGRAM) {
            sb_series_name(b, m, s, "", NULL);
            sb_str(b, " ");
            sb_number(b, s->value);
            sb_str(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= m->nbounds; k++) {
            double le = k < m->nbounds ? m->bounds[k] : INFINITY;
            cum = k < m->nbounds ? cum + s->buckets[k] : s->count;
            sb_series_name(b, m, s, "_bucket", &le);
            sb_str(b, " ");
            sb_number(b, (double)cum);
            sb_str(b, "\n");
        }
        sb_series_name(b, m, s, "_sum", NULL);
        sb_str(b, " ");
        sb_number(b, s->sum);
        sb_str(b, "\n");
        sb_series_name(b, m, s, "_count", NULL);
        sb_str(b, " ");
        sb_number(b, (double)s->count);
        sb_str(b, "\n");
    }
}

char *nw_metrics_render(size_t *len)
{
    sbuf_t b = {0};
    sb_put(&b, "", 0); /* an empty registry still renders as "" */
    pthread_mutex_lock(&lock);
    for (const nw_metric_t *m = families; m; m = m->next)
        render_family(&b, m);
    pthread_mutex_unlock(&lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.p;
}

void nw_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    nw_metric_t *m = families;
    families = families_last = NULL;
    pthread_mutex_unlock(&lock);
    while (m) {
        nw_metric_t *next = m->next;
        family_free(m);
        m = next;
    }
}
