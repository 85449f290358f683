/*
 * Link quality on Reuters-21578 (weka's ReutersGrain ARFF files): labelled
 * pairs from known transformations of real items and from real pairs of
 * different stories; precision and recall per relation.
 *
 * Candidates come from an in-memory copy of the production index (the same
 * band keys and top-K term postings simindex stores), so a pair the LSH bands
 * and term lookup would not surface counts as missed.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "corpus.h"
#include "link.h"

#define T0 1700000000
#define TERM_TOP 50
#define TERM_QUERY 12
#define TERM_CAP 32

typedef struct kv {
    uint64_t key;
    uint32_t id;
    float w;
} kv_t;

static int cmp_kv(const void *x, const void *y)
{
    const kv_t *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static size_t kv_lower(const kv_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct bench {
    bench_item_t *items;
    size_t n;
    nw_fp_t *fp;
    nw_link_meta_t *meta;
    char (*sid)[16];
    kv_t *bands, *posts, *df;
    size_t n_bands, n_posts, n_df;
    float *acc;         /* term scores per item (query scratch) */
    uint32_t *stamp, cur;
    uint32_t *touched;
    nw_fp_ctx_t *ctx;
    nw_fp_cfg_t fcfg;
    nw_link_cfg_t lcfg;
} bench_t;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* IDF from document frequencies of the stored items' top-K terms, as the
 * production cache computes it from the postings table. */
static float bench_idf(void *ud, uint64_t h)
{
    bench_t *b = ud;
    size_t i = kv_lower(b->df, b->n_df, h);
    double df = (i < b->n_df && b->df[i].key == h) ? b->df[i].w : 0;
    return (float)(log((double)(b->n + 1) / (df + 1.0)) + 1.0);
}

static void fp_of(bench_t *b, const char *headline, const char *body, nw_fp_t *fp)
{
    nw_fp_input_t in = {.headline = headline, .body = body, .language = "en"};
    nw_err_t err;
    if (!nw_fp_compute(b->ctx, &b->fcfg, &in, fp, &err)) {
        fprintf(stderr, "fingerprint: %s\n", err.msg);
        exit(1);
    }
}

/* Candidate ids of a query as production finds them: any shared band key,
 * plus the TERM_TOP best term-overlap scores. */
static size_t candidates(bench_t *b, const nw_fp_t *q, uint32_t *out)
{
    size_t n = 0, nt = 0;
    b->cur++;
    uint64_t keys[NW_FP_MAX_KEYS];
    size_t nk = nw_fp_band_keys(q, keys);
    for (size_t k = 0; k < nk; k++)
        for (size_t i = kv_lower(b->bands, b->n_bands, keys[k]); i < b->n_bands && b->bands[i].key == keys[k]; i++)
            if (b->stamp[b->bands[i].id] != b->cur) {
                b->stamp[b->bands[i].id] = b->cur;
                out[n++] = b->bands[i].id;
            }
    /* as nw_simindex_candidates: the TERM_QUERY heaviest terms, TERM_CAP postings each */
    for (int t = 0; t < q->n_terms && t < TERM_QUERY; t++)
        for (size_t i = kv_lower(b->posts, b->n_posts, q->terms[t].hash), got = 0;
             i < b->n_posts && b->posts[i].key == q->terms[t].hash && got < TERM_CAP; i++, got++) {
            uint32_t id = b->posts[i].id;
            if (b->acc[id] == 0.0f)
                b->touched[nt++] = id;
            b->acc[id] += b->posts[i].w * q->terms[t].w;
        }
    /* top TERM_TOP by partial selection */
    for (size_t r = 0; r < TERM_TOP && r < nt; r++) {
        size_t best = r;
        for (size_t i = r + 1; i < nt; i++)
            if (b->acc[b->touched[i]] > b->acc[b->touched[best]])
                best = i;
        uint32_t x = b->touched[r];
        b->touched[r] = b->touched[best];
        b->touched[best] = x;
        uint32_t id = b->touched[r];
        if (b->stamp[id] != b->cur) {
            b->stamp[id] = b->cur;
            out[n++] = id;
        }
    }
    for (size_t i = 0; i < nt; i++)
        b->acc[b->touched[i]] = 0.0f;
    return n;
}

/* ---- counting --------------------------------------------------------- */

enum { L_DUP, L_UPD, L_NEAR, L_NEG, L_COUNT };
static const char *const label_names[L_COUNT] = {"duplicate", "update", "near_duplicate", "different"};

typedef struct counts {
    long conf[L_COUNT][5];          /* label x predicted nw_rel_t */
    long tx[TX_COUNT][5];           /* transformation x predicted */
    long tx_found[TX_COUNT];        /* target among the candidates */
    long neg_kind[3][5];            /* random, templated, next-period x predicted */
    long tx_class[TX_COUNT][4][5];  /* rewrites: in definition, copy-level, below, at a threshold x predicted */
} counts_t;

static int label_of(bench_tx_t tx)
{
    switch (tx) {
    case TX_RESEND: case TX_REFLOW: case TX_HEADLINE: case TX_TRUNCATE: return L_DUP;
    case TX_ADD: case TX_EDIT: case TX_CORRECT: return L_UPD;
    case TX_LEDE: case TX_REWRITE: return L_NEAR;
    default: return L_NEG;
    }
}

static json_t *pr_json(long tp, long pred, long actual, double *p, double *r)
{
    *p = pred ? (double)tp / (double)pred : 1.0;
    *r = actual ? (double)tp / (double)actual : 1.0;
    return json_pack("{s:I,s:I,s:I,s:f,s:f}", "tp", (json_int_t)tp, "predicted", (json_int_t)pred,
                     "actual", (json_int_t)actual, "precision", *p, "recall", *r);
}

/* Exact word-3 shingle set of a text (sorted), for labelling real pairs. */
static size_t exact_shingles(const char *body, uint64_t **out)
{
    nw_tokens_t t;
    nw_tokens_init(&t);
    nw_tok_split(body, strlen(body), &t, NULL);
    uint64_t *th = malloc((t.n + 1) * sizeof *th), *sh = malloc((t.n + 1) * sizeof *sh);
    for (size_t i = 0; i < t.n; i++)
        th[i] = XXH3_64bits(nw_tok_text(&t, i), t.v[i].len);
    size_t m = 0;
    for (size_t i = 0; i + 3 <= t.n; i++)
        sh[m++] = XXH3_64bits(th + i, 24);
    kv_t *tmp = malloc((m + 1) * sizeof *tmp);
    for (size_t i = 0; i < m; i++)
        tmp[i] = (kv_t){sh[i], 0, 0};
    qsort(tmp, m, sizeof *tmp, cmp_kv);
    size_t w = 0;
    for (size_t i = 0; i < m; i++)
        if (!w || tmp[i].key != sh[w - 1])
            sh[w++] = tmp[i].key;
    free(tmp);
    free(th);
    nw_tokens_free(&t);
    *out = sh;
    return w;
}

static size_t common_sorted(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    return nw_fp_set_common(a, na, b, nb);
}

/* A labelled transformation that got another relation than its label (a
 * next-period brief: any same-story relation). */
static bool is_miss(bench_tx_t tx, nw_rel_t pred)
{
    switch (label_of(tx)) {
    case L_DUP: return pred != NW_REL_DUPLICATE;
    case L_UPD: return pred != NW_REL_UPDATE;
    case L_NEAR: return pred != NW_REL_NEAR_DUPLICATE;
    default: return pred >= NW_REL_NEAR_DUPLICATE;
    }
}

/* SIMBENCH_DEBUG=1: one line per labelled pair that got another relation and
 * per pair of different stories called a same-story relation, with the rule
 * and the scores behind it; SIMBENCH_DEBUG=all: every labelled pair and every
 * real corpus pair the bands find. SIMBENCH_DUMP=DIR also writes both
 * texts (first line headline, then body) as DIR/<tx>-<item>-{old,new}.txt,
 * for `newswire-compare --text OLD NEW`. */
static void write_text(const char *dir, const char *tx, size_t item, const char *side, const char *h,
                       const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%zu-%s.txt", dir, tx, item, side);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "%s\n%s\n", h, body);
    fclose(f);
}

static void debug_query(bench_t *b, bench_tx_t tx, nw_rel_t pred, size_t i, const char *h, const char *body,
                       const nw_fp_t *q, const nw_link_meta_t *qm)
{
    nw_link_result_t dr;
    const nw_fp_t *o = &b->fp[i];
    nw_link_decide(&b->lcfg, q, qm, o, &b->meta[i], &dr);
    fprintf(stderr,
            "%s -> %s item %zu tokens %u/%u sh %u/%u flags %x/%x rule %s J=%.2f C(new<old)=%.2f "
            "C(old<new)=%.2f lede=%.2f nums %u/%u common %zu ents %u/%u common %zu\n",
            bench_tx_name(tx), nw_rel_name(pred), i, q->n_tokens, o->n_tokens, q->n_shingles, o->n_shingles,
            q->flags, o->flags, dr.rule, dr.s.j, dr.s.c_ab, dr.s.c_ba, dr.s.lede_j, q->n_nums, o->n_nums,
            nw_fp_set_common(q->nums, q->n_nums, o->nums, o->n_nums), q->n_ents, o->n_ents,
            nw_fp_set_common(q->ents, q->n_ents, o->ents, o->n_ents));
    const char *dir = getenv("SIMBENCH_DUMP");
    if (dir && *dir) {
        write_text(dir, bench_tx_name(tx), i, "old", b->items[i].headline, b->items[i].body);
        write_text(dir, bench_tx_name(tx), i, "new", h, body);
    }
}

/* First word of the company a brief's headline names: the headline up to the
 * first ticker or period figure, after "CORRECTED - " and the "<" Reuters
 * puts around unlisted names ("<FRANKLIN ... FUND> PAYOUT"). *len = 0 when
 * the headline names none (an empty headline of a lower-case flash). */
static const char *company_of(const char *headline, size_t *len)
{
    const char *p = headline;
    if (!strncmp(p, "CORRECTED - ", 12))
        p += 12;
    while (*p == '<' || *p == ' ')
        p++;
    size_t n = strcspn(p, "<>0123456789");
    size_t w = strcspn(p, " ");
    *len = w < n ? w : n;
    return p;
}

/* A pair of different stored stories called a same-story relation. */
static void debug_pair(const bench_t *b, const char *kind, nw_rel_t p, size_t x, size_t y, const nw_link_result_t *r)
{
    const nw_fp_t *fx = &b->fp[x], *fy = &b->fp[y];
    fprintf(stderr,
            "%s %zu/%zu -> %s tokens %u/%u sh %u/%u flags %x/%x rule %s J=%.2f C(x<y)=%.2f C(y<x)=%.2f "
            "lede=%.2f nums %u/%u common %zu ents %u/%u common %zu | %s | %s\n",
            kind, x, y, nw_rel_name(p), fx->n_tokens, fy->n_tokens, fx->n_shingles, fy->n_shingles, fx->flags,
            fy->flags, r->rule, r->s.j, r->s.c_ab, r->s.c_ba, r->s.lede_j, fx->n_nums, fy->n_nums,
            nw_fp_set_common(fx->nums, fx->n_nums, fy->nums, fy->n_nums), fx->n_ents, fy->n_ents,
            nw_fp_set_common(fx->ents, fx->n_ents, fy->ents, fy->n_ents), b->items[x].headline,
            b->items[y].headline);
    const char *dir = getenv("SIMBENCH_DUMP");
    if (dir && *dir) {
        write_text(dir, kind, x, "x", b->items[x].headline, b->items[x].body);
        write_text(dir, kind, y, "y", b->items[y].headline, b->items[y].body);
    }
}

int bench_quality(const char *train, const char *test, const char *out_path);

int bench_quality(const char *train, const char *test, const char *out_path)
{
    bench_t B = {0}, *b = &B;
    if (!bench_load_arff(train, 0, &b->items, &b->n) || !bench_load_arff(test, 1, &b->items, &b->n)) {
        fprintf(stderr, "cannot read %s / %s\n", train, test);
        return 1;
    }
    const char *dbg = getenv("SIMBENCH_DEBUG");
    bool debug = dbg && *dbg && strcmp(dbg, "0") != 0, debug_all = debug && strcmp(dbg, "all") == 0;
    b->ctx = nw_fp_ctx_new();
    nw_fp_cfg_default(&b->fcfg);
    nw_link_cfg_default(&b->lcfg);
    b->fp = calloc(b->n, sizeof *b->fp);
    b->meta = calloc(b->n, sizeof *b->meta);
    b->sid = calloc(b->n, sizeof *b->sid);
    b->acc = calloc(b->n, sizeof *b->acc);
    b->stamp = calloc(b->n, sizeof *b->stamp);
    b->touched = calloc(b->n, sizeof *b->touched);
    uint32_t *cand = calloc(b->n, sizeof *cand);

    /* Pass 1 (no IDF) gives the top-K terms the IDF is counted over, as in
     * production; pass 2 recomputes every fingerprint with that IDF. */
    for (size_t i = 0; i < b->n; i++)
        fp_of(b, b->items[i].headline, b->items[i].body, &b->fp[i]);
    kv_t *all = malloc(b->n * NW_FP_MAX_TERMS * sizeof *all);
    size_t na = 0;
    for (size_t i = 0; i < b->n; i++)
        for (int t = 0; t < b->fp[i].n_terms; t++)
            all[na++] = (kv_t){b->fp[i].terms[t].hash, (uint32_t)i, 0};
    qsort(all, na, sizeof *all, cmp_kv);
    b->df = malloc((na + 1) * sizeof *b->df);
    for (size_t i = 0; i < na; i++) {
        if (b->n_df && b->df[b->n_df - 1].key == all[i].key)
            b->df[b->n_df - 1].w += 1;
        else
            b->df[b->n_df++] = (kv_t){all[i].key, 0, 1};
    }
    free(all);
    b->fcfg.idf = bench_idf;
    b->fcfg.idf_ud = b;
    b->fcfg.idf_unknown = (float)(log((double)(b->n + 1)) + 1.0);
    double t_fp = now_us();
    size_t tokens = 0;
    for (size_t i = 0; i < b->n; i++) {
        fp_of(b, b->items[i].headline, b->items[i].body, &b->fp[i]);
        tokens += b->fp[i].n_tokens;
    }
    t_fp = now_us() - t_fp;
    /* the doc's budget: a 1,500-word item well under 1 ms (distinct real text) */
    char *big = calloc(1, 64 * 1024);
    size_t big_words = 0;
    for (size_t i = 0; i < b->n && big_words < 1500; i++)
        if (b->items[i].n_words > 50 && strlen(big) + strlen(b->items[i].body) + 4 < 64 * 1024) {
            strcat(big, b->items[i].body);
            strcat(big, "\n\n");
            big_words += b->items[i].n_words;
        }
    nw_fp_t bigfp;
    double t_big = now_us();
    for (int k = 0; k < 200; k++)
        fp_of(b, NULL, big, &bigfp);
    t_big = (now_us() - t_big) / 200;
    for (size_t i = 0; i < b->n; i++) {
        snprintf(b->sid[i], sizeof b->sid[i], "R%u", (unsigned)i);
        b->meta[i] = (nw_link_meta_t){.version_pk = (int64_t)i + 1, .story_pk = (int64_t)i + 1,
                                      .provider = "reuters", .story_id = b->sid[i],
                                      .versioncreated = T0, .headline = b->items[i].headline};
    }

    /* The stored index: band keys and top-K term postings. */
    b->bands = malloc(b->n * NW_FP_MAX_KEYS * sizeof *b->bands);
    b->posts = malloc(b->n * NW_FP_MAX_TERMS * sizeof *b->posts);
    for (size_t i = 0; i < b->n; i++) {
        uint64_t keys[NW_FP_MAX_KEYS];
        size_t nk = nw_fp_band_keys(&b->fp[i], keys);
        for (size_t k = 0; k < nk; k++)
            b->bands[b->n_bands++] = (kv_t){keys[k], (uint32_t)i, 0};
        for (int t = 0; t < b->fp[i].n_terms; t++)
            b->posts[b->n_posts++] = (kv_t){b->fp[i].terms[t].hash, (uint32_t)i, b->fp[i].terms[t].w};
    }
    qsort(b->bands, b->n_bands, sizeof *b->bands, cmp_kv);
    qsort(b->posts, b->n_posts, sizeof *b->posts, cmp_kv);

    counts_t C;
    memset(&C, 0, sizeof C);
    uint64_t rng = 0x5eed5eed12345ull;
    nw_link_cand_t *lc = malloc(b->n * sizeof *lc);
    nw_link_t *links = malloc(b->n * sizeof *links);
    double t_query = 0;
    long n_query = 0;

    /* Exact shingle sets, to label rewrites and keep real near-duplicates out of
     * the negatives. */
    uint64_t **ex = malloc(b->n * sizeof *ex);
    size_t *nex = malloc(b->n * sizeof *nex);
    for (size_t i = 0; i < b->n; i++)
        nex[i] = exact_shingles(b->items[i].body, &ex[i]);

    /* Positives: every eligible item under every transformation. Rewrites
     * (lede, agency) are labelled by their exact word-3 Jaccard/containment
     * against the doc's near-duplicate definition: in range -> near_duplicate;
     * J >= 0.8 ("copy-level") and below range are reported apart. */
    for (size_t i = 0; i < b->n; i++) {
        for (int tx = 0; tx < TX_COUNT; tx++) {
            size_t other = (i + 1 + bench_rand(&rng) % (b->n - 1)) % b->n;
            char *h, *body;
            if (!bench_transform((bench_tx_t)tx, &b->items[i], &b->items[other], &rng, &h, &body))
                continue;
            double t1 = now_us();
            nw_fp_t q;
            fp_of(b, h, body, &q);
            nw_link_meta_t qm = {.version_pk = 1000000 + (int64_t)i, .story_pk = 1000000 + (int64_t)i,
                                 .provider = tx == TX_REWRITE ? "ap" : tx == TX_LEDE ? "afp" : "reuters",
                                 .story_id = "Q", .correction = strncmp(h, "CORRECTED", 9) == 0,
                                 .versioncreated = T0 + 3600, .headline = h};
            size_t nc = candidates(b, &q, cand);
            for (size_t k = 0; k < nc; k++)
                lc[k] = (nw_link_cand_t){&b->fp[cand[k]], b->meta[cand[k]]};
            size_t nl = nw_link_rank(&b->lcfg, &q, &qm, lc, nc, links, b->n);
            t_query += now_us() - t1;
            n_query++;
            nw_rel_t pred = NW_REL_NONE;
            bool found = false;
            for (size_t k = 0; k < nc; k++)
                found = found || cand[k] == i;
            for (size_t k = 0; k < nl; k++)
                if (cand[links[k].cand] == i)
                    pred = links[k].r.rel;
            int cls = 0;
            if (tx == TX_LEDE || tx == TX_REWRITE) {
                uint64_t *qs;
                size_t nq = exact_shingles(body, &qs);
                size_t c = common_sorted(qs, nq, ex[i], nex[i]);
                double jx = nq + nex[i] - c ? (double)c / (double)(nq + nex[i] - c) : 1.0;
                size_t mn = nq < nex[i] ? nq : nex[i];
                double cx = mn ? (double)c / (double)mn : 1.0;
                /* 0 near-duplicate by definition, 1 copy-level (J > 0.85), 2 below
                 * (J < 0.45, C < 0.75), 3 within +-0.05 of a threshold */
                if (jx > 0.85)
                    cls = 1;
                else if ((jx >= 0.55 && jx <= 0.75) || (jx < 0.45 && cx >= 0.85))
                    cls = 0;
                else if (jx < 0.45 && cx < 0.75)
                    cls = 2;
                else
                    cls = 3;
                free(qs);
            }
            C.tx_class[tx][cls][pred]++;
            if ((debug && cls == 0 && is_miss((bench_tx_t)tx, pred)) || debug_all)
                debug_query(b, (bench_tx_t)tx, pred, i, h, body, &q, &qm);
            if (cls == 0) {
                C.tx[tx][pred]++;
                C.tx_found[tx] += found;
                C.conf[label_of((bench_tx_t)tx)][pred]++;
            }
            if (tx == TX_NEXT_BRIEF)
                C.neg_kind[2][pred]++;
            free(h);
            free(body);
        }
    }


    /* Negatives 1: random pairs of different stories. */
    nw_link_result_t r;
    long excluded = 0;
    for (int k = 0; k < 20000; k++) {
        size_t x = bench_rand(&rng) % b->n, y = bench_rand(&rng) % b->n;
        if (x == y)
            continue;
        size_t c = common_sorted(ex[x], nex[x], ex[y], nex[y]);
        double jx = nex[x] + nex[y] - c ? (double)c / (double)(nex[x] + nex[y] - c) : 1.0;
        size_t mn = nex[x] < nex[y] ? nex[x] : nex[y];
        if (jx >= 0.2 || (mn && (double)c / (double)mn >= 0.5) || !mn) {
            excluded++;
            continue;
        }
        nw_rel_t p = nw_link_decide(&b->lcfg, &b->fp[x], &b->meta[x], &b->fp[y], &b->meta[y], &r);
        if (debug && p >= NW_REL_NEAR_DUPLICATE)
            debug_pair(b, "random", p, x, y, &r);
        C.conf[L_NEG][p]++;
        C.neg_kind[0][p]++;
    }
    /* Negatives 2: briefs of different companies (templated, hard). */
    long brief_pairs = 0, brief_dup = 0;
    json_t *brief_fp = json_array();
    for (size_t x = 0; x < b->n; x++) {
        if (!(b->fp[x].flags & NW_FP_TEMPLATED))
            continue;
        for (size_t y = x + 1; y < b->n; y++) {
            if (!(b->fp[y].flags & NW_FP_TEMPLATED))
                continue;
            size_t lx, ly;
            const char *px = company_of(b->items[x].headline, &lx), *py = company_of(b->items[y].headline, &ly);
            if (!lx || !ly)
                continue; /* a headline without a company word: which company is unknown */
            if (lx == ly && !strncasecmp(px, py, lx))
                continue; /* same first company word: maybe the same company */
            size_t c = common_sorted(ex[x], nex[x], ex[y], nex[y]);
            double jx = nex[x] + nex[y] - c ? (double)c / (double)(nex[x] + nex[y] - c) : 1.0;
            if (jx >= 0.9)
                continue; /* a re-send under another headline */
            nw_rel_t p = nw_link_decide(&b->lcfg, &b->fp[x], &b->meta[x], &b->fp[y], &b->meta[y], &r);
            brief_pairs++;
            if (debug && p >= NW_REL_NEAR_DUPLICATE)
                debug_pair(b, "brief", p, x, y, &r);
            C.conf[L_NEG][p]++;
            C.neg_kind[1][p]++;
            if (p == NW_REL_DUPLICATE) {
                brief_dup++;
                json_array_append_new(brief_fp, json_pack("{s:s,s:s,s:f}", "a", b->items[x].headline,
                                                          "b", b->items[y].headline, "j", r.s.j));
            }
        }
    }

    /* Real pairs in the corpus (LSH candidates), binned by exact Jaccard. */
    static const double bins[] = {0.9, 0.7, 0.5, 0.3, 0.0};
    long real[6][5];
    memset(real, 0, sizeof real);
    for (size_t x = 0; x < b->n; x++) {
        size_t nc = candidates(b, &b->fp[x], cand);
        for (size_t k = 0; k < nc; k++) {
            size_t y = cand[k];
            if (y <= x || !nex[x] || !nex[y])
                continue;
            size_t c = common_sorted(ex[x], nex[x], ex[y], nex[y]);
            double jx = (double)c / (double)(nex[x] + nex[y] - c);
            double cx = (double)c / (double)(nex[x] < nex[y] ? nex[x] : nex[y]);
            int bin = 5;
            for (int q = 0; q < 5; q++)
                if (jx >= bins[q]) { bin = q; break; }
            if (bin == 4 && cx >= 0.8)
                bin = 5; /* growth: low J, high containment */
            else if (bin == 4)
                continue;
            nw_rel_t p = nw_link_decide(&b->lcfg, &b->fp[x], &b->meta[x], &b->fp[y], &b->meta[y], &r);
            if (debug_all)
                debug_pair(b, "real", p, x, y, &r);
            real[bin][p]++;
        }
    }

    /* The doc's reference pairs (record ids only). The longer item of a
     * growth pair is the newer version. */
    static const struct { int src_a, rec_a, src_b, rec_b; const char *kind; nw_rel_t want_min, want_max; } refs[] = {
        {0, 524, 0, 470, "growth update", NW_REL_NEAR_DUPLICATE, NW_REL_UPDATE},
        {1, 327, 1, 336, "growth update", NW_REL_NEAR_DUPLICATE, NW_REL_UPDATE},
        {1, 327, 1, 322, "growth update", NW_REL_NEAR_DUPLICATE, NW_REL_UPDATE},
        {0, 1125, 0, 1165, "correction re-send", NW_REL_NEAR_DUPLICATE, NW_REL_UPDATE},
        {1, 299, 1, 333, "exact re-send", NW_REL_DUPLICATE, NW_REL_DUPLICATE},
        {0, 343, 0, 355, "different funds' payouts", NW_REL_NONE, NW_REL_RELATED},
    };
    json_t *jrefs = json_array();
    int refs_ok = 0;
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) {
        size_t x = (refs[k].src_a ? 1554 : 0) + (size_t)refs[k].rec_a;
        size_t y = (refs[k].src_b ? 1554 : 0) + (size_t)refs[k].rec_b;
        if (x >= b->n || y >= b->n)
            continue;
        nw_link_meta_t mx = b->meta[x], my = b->meta[y];
        mx.correction = strncmp(b->items[x].headline, "CORRECTED", 9) == 0;
        my.correction = strncmp(b->items[y].headline, "CORRECTED", 9) == 0;
        mx.versioncreated = T0 + 60;
        my.versioncreated = T0 + 60;
        if (b->fp[x].n_shingles > b->fp[y].n_shingles) mx.versioncreated += 3600; else my.versioncreated += 3600;
        nw_rel_t p = nw_link_decide(&b->lcfg, &b->fp[x], &mx, &b->fp[y], &my, &r);
        bool ok = p >= refs[k].want_min && p <= refs[k].want_max;
        refs_ok += ok;
        json_array_append_new(jrefs, json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:b}", "pair",
            (char[64]){0}, "kind", refs[k].kind, "relation", nw_rel_name(p), "rule", r.rule, "j", r.s.j,
            "c_ab", r.s.c_ab, "c_ba", r.s.c_ba, "lede_j", r.s.lede_j, "ok", ok));
        char name[64];
        snprintf(name, sizeof name, "%s %d <-> %s %d", refs[k].src_a ? "test" : "train", refs[k].rec_a,
                 refs[k].src_b ? "test" : "train", refs[k].rec_b);
        json_object_set_new(json_array_get(jrefs, json_array_size(jrefs) - 1), "pair", json_string(name));
    }

    /* ---- report ------------------------------------------------------- */
    json_t *root = json_object(), *rel = json_object();
    double p, rc;
    printf("\nReuters-21578 (weka ReutersGrain): %zu items, %zu tokens; fingerprint %.1f us/item\n", b->n, tokens,
           t_fp / (double)b->n);
    printf("fingerprint of a %zu-word item (%u tokens): %.0f us\n", big_words, bigfp.n_tokens, t_big);
    printf("query (fingerprint + candidates + decide, in memory): %.1f us/item over %ld queries\n\n",
           t_query / (double)n_query, n_query);
    printf("%-28s %8s %8s %8s %9s %7s\n", "relation", "actual", "pred", "tp", "precision", "recall");
    for (int l = 0; l < 3; l++) {
        int pr = l == L_DUP ? NW_REL_DUPLICATE : l == L_UPD ? NW_REL_UPDATE : NW_REL_NEAR_DUPLICATE;
        long tp = C.conf[l][pr], pred = 0, act = 0;
        for (int x = 0; x < L_COUNT; x++) pred += C.conf[x][pr];
        for (int x = 0; x < 5; x++) act += C.conf[l][x];
        json_object_set_new(rel, label_names[l], pr_json(tp, pred, act, &p, &rc));
        printf("%-28s %8ld %8ld %8ld %9.4f %7.4f\n", label_names[l], act, pred, tp, p, rc);
    }
    {   /* near-duplicate detection: update and near_duplicate together */
        long tp = 0, pred = 0, act = 0;
        for (int x = 0; x < L_COUNT; x++) pred += C.conf[x][NW_REL_UPDATE] + C.conf[x][NW_REL_NEAR_DUPLICATE];
        for (int l = L_UPD; l <= L_NEAR; l++) {
            tp += C.conf[l][NW_REL_UPDATE] + C.conf[l][NW_REL_NEAR_DUPLICATE];
            for (int x = 0; x < 5; x++) act += C.conf[l][x];
        }
        json_object_set_new(rel, "near_duplicate_or_update", pr_json(tp, pred, act, &p, &rc));
        printf("%-28s %8ld %8ld %8ld %9.4f %7.4f\n", "near_duplicate or update", act, pred, tp, p, rc);
        tp = pred = act = 0;
        for (int x = 0; x < L_COUNT; x++)
            for (int q = NW_REL_NEAR_DUPLICATE; q <= NW_REL_DUPLICATE; q++) pred += C.conf[x][q];
        for (int l = 0; l < L_NEG; l++)
            for (int x = 0; x < 5; x++) {
                act += C.conf[l][x];
                if (x >= NW_REL_NEAR_DUPLICATE) tp += C.conf[l][x];
            }
        json_object_set_new(rel, "same_story_any", pr_json(tp, pred, act, &p, &rc));
        printf("%-28s %8ld %8ld %8ld %9.4f %7.4f\n", "same story (any of the 3)", act, pred, tp, p, rc);
    }
    json_object_set_new(root, "relations", rel);

    printf("\n%-20s %6s %6s %6s %6s %6s %6s %7s\n", "transformation", "n", "none", "rel", "near", "update", "dup", "found");
    json_t *jtx = json_object();
    for (int tx = 0; tx < TX_COUNT; tx++) {
        long n = 0;
        for (int x = 0; x < 5; x++) n += C.tx[tx][x];
        printf("%-20s %6ld %6ld %6ld %6ld %6ld %6ld %7ld\n", bench_tx_name((bench_tx_t)tx), n, C.tx[tx][0], C.tx[tx][1],
               C.tx[tx][2], C.tx[tx][3], C.tx[tx][4], C.tx_found[tx]);
        json_object_set_new(jtx, bench_tx_name((bench_tx_t)tx),
            json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "n", (json_int_t)n, "expected",
                      tx == TX_NEXT_BRIEF ? "none_or_related" : label_names[label_of((bench_tx_t)tx)],
                      "none", (json_int_t)C.tx[tx][0], "related", (json_int_t)C.tx[tx][1], "near_duplicate",
                      (json_int_t)C.tx[tx][2], "update", (json_int_t)C.tx[tx][3], "duplicate",
                      (json_int_t)C.tx[tx][4], "candidate_found", (json_int_t)C.tx_found[tx]));
    }
    json_object_set_new(root, "transformations", jtx);
    json_t *jcls = json_object();
    for (int tx = TX_LEDE; tx <= TX_REWRITE; tx++)
        for (int k = 1; k < 4; k++) {
            long *v = C.tx_class[tx][k];
            char name[64];
            snprintf(name, sizeof name, "%s_%s", bench_tx_name((bench_tx_t)tx), k == 1 ? "copy_level_J_gt_0.85" : k == 2 ? "below_J_0.45_C_0.75" : "within_0.05_of_a_threshold");
            printf("%-36s n=%ld none %ld rel %ld near %ld update %ld dup %ld\n", name, v[0] + v[1] + v[2] + v[3] + v[4],
                   v[0], v[1], v[2], v[3], v[4]);
            json_object_set_new(jcls, name, json_pack("{s:I,s:I,s:I,s:I,s:I}", "none", (json_int_t)v[0], "related",
                (json_int_t)v[1], "near_duplicate", (json_int_t)v[2], "update", (json_int_t)v[3], "duplicate", (json_int_t)v[4]));
        }
    json_object_set_new(root, "rewrites_outside_definition", jcls);
    static const char *const negn[3] = {"random_pairs", "different_company_briefs", "next_period_briefs"};
    json_t *jneg = json_object();
    printf("\n%-26s %6s %6s %6s %6s %6s\n", "different stories", "none", "rel", "near", "update", "dup");
    for (int k = 0; k < 3; k++) {
        printf("%-26s %6ld %6ld %6ld %6ld %6ld\n", negn[k], C.neg_kind[k][0], C.neg_kind[k][1], C.neg_kind[k][2],
               C.neg_kind[k][3], C.neg_kind[k][4]);
        json_object_set_new(jneg, negn[k], json_pack("{s:I,s:I,s:I,s:I,s:I}", "none", (json_int_t)C.neg_kind[k][0],
            "related", (json_int_t)C.neg_kind[k][1], "near_duplicate", (json_int_t)C.neg_kind[k][2],
            "update", (json_int_t)C.neg_kind[k][3], "duplicate", (json_int_t)C.neg_kind[k][4]));
    }
    json_object_set_new(jneg, "random_pairs_excluded_as_real_overlap", json_integer(excluded));
    json_object_set_new(jneg, "brief_pairs", json_integer(brief_pairs));
    json_object_set_new(jneg, "brief_pairs_called_duplicate", json_integer(brief_dup));
    json_object_set_new(jneg, "brief_duplicates", brief_fp);
    json_object_set_new(root, "different_stories", jneg);
    printf("different-company brief pairs: %ld, called duplicate: %ld\n", brief_pairs, brief_dup);

    static const char *const binn[6] = {">=0.9", "0.7-0.9", "0.5-0.7", "0.3-0.5", "unused", "<0.3,C>=0.8"};
    json_t *jreal = json_object();
    printf("\nreal corpus pairs found by LSH, by exact word-3 J: none/rel/near/update/dup\n");
    for (int k = 0; k < 6; k++) {
        if (k == 4) continue;
        printf("  %-12s %5ld %5ld %5ld %5ld %5ld\n", binn[k], real[k][0], real[k][1], real[k][2], real[k][3], real[k][4]);
        json_object_set_new(jreal, binn[k], json_pack("[I,I,I,I,I]", (json_int_t)real[k][0], (json_int_t)real[k][1],
                                                      (json_int_t)real[k][2], (json_int_t)real[k][3], (json_int_t)real[k][4]));
    }
    json_object_set_new(root, "real_pairs_by_exact_jaccard", jreal);
    printf("\nreference pairs (similarity.md §11): %d/%zu as expected\n", refs_ok, json_array_size(jrefs));
    size_t ri;
    json_t *jr;
    json_array_foreach(jrefs, ri, jr)
        printf("  %-24s %-26s -> %-15s (%s) J=%.2f C=%.2f/%.2f lede=%.2f\n", json_string_value(json_object_get(jr, "pair")),
               json_string_value(json_object_get(jr, "kind")), json_string_value(json_object_get(jr, "relation")),
               json_string_value(json_object_get(jr, "rule")), json_real_value(json_object_get(jr, "j")),
               json_real_value(json_object_get(jr, "c_ab")), json_real_value(json_object_get(jr, "c_ba")),
               json_real_value(json_object_get(jr, "lede_j")));
    json_object_set_new(root, "reference_pairs", jrefs);
    json_object_set_new(root, "items", json_integer((json_int_t)b->n));
    json_object_set_new(root, "fingerprint_us_per_item", json_real(t_fp / (double)b->n));
    json_object_set_new(root, "fingerprint_us_1500_words",
                        json_pack("{s:I,s:I,s:f}", "words", (json_int_t)big_words, "tokens",
                                  (json_int_t)bigfp.n_tokens, "us", t_big));
    free(big);
    json_object_set_new(root, "query_us_per_item_in_memory", json_real(t_query / (double)n_query));
    if (out_path && json_dump_file(root, out_path, JSON_INDENT(2)) != 0)
        fprintf(stderr, "cannot write %s\n", out_path);
    json_decref(root);

    for (size_t i = 0; i < b->n; i++)
        free(ex[i]);
    free(ex); free(nex); free(lc); free(links); free(cand);
    free(b->fp); free(b->meta); free(b->sid); free(b->acc); free(b->stamp); free(b->touched);
    free(b->bands); free(b->posts); free(b->df);
    nw_fp_ctx_free(b->ctx);
    bench_items_free(b->items, b->n);
    return 0;
}
