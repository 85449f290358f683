#include "fingerprint.h"
#include "minhash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Permutation parameters: full-text values 0..127, lede 128..191. */
#define NW_FP_PERMS (NW_FP_MH + NW_FP_MH_LEDE)
#define NW_FP_PERM_SEED 0x6e65777377697265ull /* "newswire" */

typedef struct term_slot {
    uint64_t hash; /* 0 = empty */
    float tf, boost;
} term_slot_t;

struct nw_fp_ctx {
    nw_tokctx_t *tok;
    nw_tokens_t body, head;
    uint64_t *th;      /* token hashes */
    uint64_t *sh;      /* shingle hashes */
    uint64_t *set;     /* numbers / entities scratch */
    uint64_t *tmp;     /* radix sort scratch */
    uint64_t *seen;    /* distinct-count table, 2 * cap slots */
    uint64_t brief[16];/* hashes of the brief vocabulary */
    size_t cap;        /* capacity of th, sh, set */
    term_slot_t *terms;
    size_t terms_cap;     /* slots allocated */
    size_t terms_n;       /* slots of this item's map: a power of two >= 2 * its tokens */
    uint64_t (*stemc)[2]; /* (token hash, language) -> term hash (1 = skip), NW_FP_STEMC slots */
    uint64_t a[NW_FP_PERMS], c[NW_FP_PERMS];
};

/* The term cache outlives the item: stemming was a seventh of the fingerprint's
 * time, and wire text repeats its words. Direct-mapped, 2^16 slots (1 MB);
 * a slot is overwritten by the next token that maps to it. */
#define NW_FP_STEMC (1u << 16)

/* splitmix64: a fixed, portable stream for the permutation parameters. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nw_fp_cfg_default(nw_fp_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->short_tokens = 80;
    cfg->templated_nums = 0.12f;
    cfg->templated_max_tokens = 200;
    cfg->boost_cap = 1.5f;
    cfg->boost_num = 1.3f;
    cfg->boost_headline = 1.0f;
    cfg->idf_unknown = 8.0f;
}

static const char *const brief_words[] = {"qtr", "shr", "shrs", "cts", "revs", "div", "qtly",
                                          "mthly", "payout", "dividend", "oper", "avg"};

nw_fp_ctx_t *nw_fp_ctx_new(void)
{
    nw_fp_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->tok = nw_tok_ctx_new();
    if (!ctx->tok) {
        free(ctx);
        return NULL;
    }
    ctx->stemc = calloc(NW_FP_STEMC, sizeof *ctx->stemc);
    if (!ctx->stemc) {
        nw_tok_ctx_free(ctx->tok);
        free(ctx);
        return NULL;
    }
    nw_tokens_init(&ctx->body);
    nw_tokens_init(&ctx->head);
    uint64_t s = NW_FP_PERM_SEED;
    for (int k = 0; k < NW_FP_PERMS; k++) {
        ctx->a[k] = splitmix64(&s) | 1u;
        ctx->c[k] = splitmix64(&s);
    }
    for (size_t i = 0; i < sizeof brief_words / sizeof brief_words[0]; i++)
        ctx->brief[i] = XXH3_64bits(brief_words[i], strlen(brief_words[i]));
    return ctx;
}

void nw_fp_ctx_free(nw_fp_ctx_t *ctx)
{
    if (!ctx)
        return;
    nw_tok_ctx_free(ctx->tok);
    nw_tokens_free(&ctx->body);
    nw_tokens_free(&ctx->head);
    free(ctx->th);
    free(ctx->sh);
    free(ctx->set);
    free(ctx->tmp);
    free(ctx->seen);
    free(ctx->terms);
    free(ctx->stemc);
    free(ctx);
}

static bool ctx_reserve(nw_fp_ctx_t *ctx, size_t n)
{
    if (n <= ctx->cap)
        return true;
    size_t cap = ctx->cap ? ctx->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint64_t *th = realloc(ctx->th, cap * sizeof *th);
    if (th)
        ctx->th = th;
    uint64_t *sh = realloc(ctx->sh, cap * sizeof *sh);
    if (sh)
        ctx->sh = sh;
    uint64_t *set = realloc(ctx->set, cap * sizeof *set);
    if (set)
        ctx->set = set;
    uint64_t *tmp = realloc(ctx->tmp, cap * sizeof *tmp);
    if (tmp)
        ctx->tmp = tmp;
    uint64_t *seen = realloc(ctx->seen, 2 * cap * sizeof *seen);
    if (seen)
        ctx->seen = seen;
    if (!th || !sh || !set || !tmp || !seen)
        return false;
    ctx->cap = cap;
    return true;
}

/* Sort (LSD radix, 8 passes of 8 bits; tmp has room for n) and dedupe v in
 * place; returns the distinct count. qsort's callback cost dominated. */
static size_t sort_unique(uint64_t *v, size_t n, uint64_t *tmp)
{
    if (n < 2)
        return n;
    uint64_t *src = v, *dst = tmp;
    for (int pass = 0; pass < 8; pass++) {
        size_t cnt[257] = {0};
        int sh = pass * 8;
        for (size_t i = 0; i < n; i++)
            cnt[((src[i] >> sh) & 0xff) + 1]++;
        if (cnt[((src[0] >> sh) & 0xff) + 1] == n)
            continue; /* all equal in this byte */
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> sh) & 0xff]++] = src[i];
        uint64_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[w - 1])
            v[w++] = v[i];
    return w;
}

/* Hash the word 3-shingles of token hashes th[0..n) into sh, in text order
 * and with their repeats (a MinHash of the list is that of its set); a text
 * of fewer than three tokens is one shingle. Returns their number. */
static size_t shingles(const uint64_t *th, size_t n, uint64_t *sh)
{
    if (n == 0)
        return 0;
    if (n < NW_FP_SHINGLE) {
        sh[0] = XXH3_64bits(th, n * sizeof *th);
        return 1;
    }
    size_t m = 0;
    for (size_t i = 0; i + NW_FP_SHINGLE <= n; i++)
        sh[m++] = XXH3_64bits(th + i, NW_FP_SHINGLE * sizeof *th);
    return m;
}

/* Number of distinct values in v[0..n) and, in *first, in v[0..k): one pass
 * through an open-addressing set (the hashes are uniform: their low bits
 * index it), where sorting took eight radix passes. */
static size_t count_distinct(nw_fp_ctx_t *ctx, const uint64_t *v, size_t n, size_t k, size_t *first)
{
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    uint64_t *seen = ctx->seen, mask = slots - 1;
    memset(seen, 0, slots * sizeof *seen);
    size_t d = 0;
    bool zero = false; /* 0 marks a free slot: the value 0 is counted apart */
    *first = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == k)
            *first = d;
        uint64_t x = v[i];
        if (!x) {
            d += !zero;
            zero = true;
            continue;
        }
        size_t j = x & mask;
        while (seen[j] && seen[j] != x)
            j = (j + 1) & mask;
        d += !seen[j];
        seen[j] = x;
    }
    if (k >= n)
        *first = d;
    return d;
}

/* Affine permutations a·h + c (mod 2^64), top 32 bits of each minimum
 * (minhash.c). */
static void minhash(const nw_fp_ctx_t *ctx, int first, int count, const uint64_t *sh, size_t n,
                    uint32_t *out)
{
    nw_minhash(ctx->a + first, ctx->c + first, count, sh, n, out);
}

/* Keep the numbers as written minus thousands separators, so "2,529,000"
 * and "2529000" agree. */
static uint64_t number_hash(const char *s, size_t len)
{
    char b[128];
    size_t w = 0;
    for (size_t i = 0; i < len && w < sizeof b; i++)
        if (s[i] != ',')
            b[w++] = s[i];
    return XXH3_64bits(b, w);
}

/* Sorted, distinct, bottom-k set of hashes into dst; returns its size. */
static uint16_t bottom_k(uint64_t *v, size_t n, uint64_t *tmp, uint64_t *dst, bool *trunc)
{
    n = sort_unique(v, n, tmp);
    *trunc = n > NW_FP_MAX_SET;
    if (n > NW_FP_MAX_SET)
        n = NW_FP_MAX_SET;
    memcpy(dst, v, n * sizeof *v);
    return (uint16_t)n;
}

static bool is_brief_word(const nw_fp_ctx_t *ctx, uint64_t th)
{
    for (size_t i = 0; i < sizeof brief_words / sizeof brief_words[0]; i++)
        if (ctx->brief[i] == th)
            return true;
    return false;
}

/* Add one term occurrence to the open-addressing term map. */
static void term_add(nw_fp_ctx_t *ctx, uint64_t h, float tf, float boost)
{
    h |= 1;
    size_t mask = ctx->terms_n - 1, j = h & mask;
    while (ctx->terms[j].hash && ctx->terms[j].hash != h)
        j = (j + 1) & mask;
    ctx->terms[j].hash = h;
    ctx->terms[j].tf += tf;
    if (boost > ctx->terms[j].boost)
        ctx->terms[j].boost = boost;
}

/* Term hash of token k (hash th of its text): stop words and one-letter
 * words are skipped (returns 1), numbers keep their digits, words are
 * stemmed. Each depends only on the text and the language, so the result is
 * cached under both across items (see NW_FP_STEMC). */
static uint64_t term_of(nw_fp_ctx_t *ctx, nw_lang_t *lang, const nw_tokens_t *t, size_t i, uint64_t th)
{
    uint64_t key = (th ^ ((uint64_t)(uintptr_t)lang * 0x9e3779b97f4a7c15ull)) | 1;
    size_t j = (size_t)(key >> 17) & (NW_FP_STEMC - 1);
    if (ctx->stemc[j][0] == key)
        return ctx->stemc[j][1];
    const nw_tok_t *k = &t->v[i];
    const char *s = t->buf + k->off;
    uint64_t h;
    if (!(k->flags & (NW_TOKF_DIGIT | NW_TOKF_CJK)) && k->len < 2) {
        h = 1;
    } else if (nw_tok_is_stop(lang, s, k->len)) {
        h = 1;
    } else if (k->flags & NW_TOKF_DIGIT) {
        h = number_hash(s, k->len) | 2;
    } else if (k->flags & NW_TOKF_CJK) {
        h = XXH3_64bits(s, k->len) | 2;
    } else {
        size_t sl;
        const char *st = nw_tok_stem(lang, s, k->len, &sl);
        h = XXH3_64bits(st, sl) | 2;
    }
    ctx->stemc[j][0] = key;
    ctx->stemc[j][1] = h;
    return h;
}

/* Feed the salient-term candidates of a token list (hashes th) into the term map. */
static void terms_collect(nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg, nw_lang_t *lang,
                          const nw_tokens_t *t, const uint64_t *th, float tf, bool body)
{
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = term_of(ctx, lang, t, i, th[i]);
        if (h == 1)
            continue;
        uint32_t f = t->v[i].flags;
        float boost = 1.0f;
        if (f & NW_TOKF_DIGIT)
            boost = cfg->boost_num;
        else if (body && (f & NW_TOKF_CAP) && !(f & NW_TOKF_INITIAL))
            boost = cfg->boost_cap;
        term_add(ctx, h, tf, boost);
    }
}

static int cmp_term(const void *x, const void *y)
{
    const nw_fp_term_t *a = x, *b = y;
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Top-K terms by (1 + ln tf) · idf · boost, L2-normalized. */
static bool terms_select(nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg, nw_fp_t *out)
{
    size_t n = 0;
    nw_fp_term_t *all = malloc(ctx->terms_n * sizeof *all);
    if (!all)
        return false;
    for (size_t j = 0; j < ctx->terms_n; j++) {
        const term_slot_t *s = &ctx->terms[j];
        if (!s->hash)
            continue;
        float idf = cfg->idf ? cfg->idf(cfg->idf_ud, s->hash) : 0.0f;
        if (idf <= 0.0f)
            idf = cfg->idf_unknown;
        all[n].hash = s->hash;
        all[n].w = (1.0f + logf(s->tf)) * idf * s->boost;
        n++;
    }
    /* keep the best NW_FP_MAX_TERMS in front (one pass; the worst of them
     * is looked for again only when it was replaced), then sort only those */
    size_t keep = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep < NW_FP_MAX_TERMS) {
            all[keep] = all[i];
            if (keep == 0 || cmp_term(&all[keep], &all[worst]) > 0)
                worst = keep;
            keep++;
            continue;
        }
        if (cmp_term(&all[i], &all[worst]) >= 0)
            continue;
        all[worst] = all[i];
        for (size_t j = 0; j < keep; j++)
            if (cmp_term(&all[j], &all[worst]) > 0)
                worst = j;
    }
    n = keep;
    qsort(all, n, sizeof *all, cmp_term);
    double norm = 0;
    for (size_t i = 0; i < n; i++)
        norm += (double)all[i].w * all[i].w;
    norm = norm > 0 ? sqrt(norm) : 1.0;
    for (size_t i = 0; i < n; i++) {
        out->terms[i].hash = all[i].hash;
        out->terms[i].w = (float)(all[i].w / norm);
    }
    out->n_terms = (uint16_t)n;
    free(all);
    return true;
}

/* One pass builds everything from the tokens; the only allocations are the
 * context's reusable buffers. */
bool nw_fp_compute(nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg, const nw_fp_input_t *in, nw_fp_t *out,
                   nw_err_t *err)
{
    nw_fp_cfg_t defcfg;
    if (!cfg) {
        nw_fp_cfg_default(&defcfg);
        cfg = &defcfg;
    }
    memset(out, 0, sizeof *out);
    nw_tokens_reset(&ctx->body);
    nw_tokens_reset(&ctx->head);
    const char *body = in->body;
    size_t blen = body ? (in->body_len ? in->body_len : strlen(body)) : 0;
    if (!blen && in->headline) {
        body = in->headline;
        blen = strlen(body);
    }
    if (!nw_tok_split(body, blen, &ctx->body, err))
        return false;
    if (in->headline && body != in->headline &&
        !nw_tok_split(in->headline, strlen(in->headline), &ctx->head, err))
        return false;
    const nw_tokens_t *t = &ctx->body;
    size_t n = t->n;
    if (!ctx_reserve(ctx, n + ctx->head.n + 1))
        return nw_err_set(err, NW_ERR_FATAL, "oom", "fingerprint: out of memory");
    nw_lang_t *lang = nw_tok_lang(ctx->tok, in->language);
    if (!lang)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "fingerprint: out of memory");

    out->n_tokens = (uint32_t)n;
    XXH128_hash_t ch = XXH3_128bits(t->buf, t->buf_len);
    for (int i = 0; i < 8; i++) {
        out->content_hash[i] = (uint8_t)(ch.high64 >> (56 - 8 * i));
        out->content_hash[8 + i] = (uint8_t)(ch.low64 >> (56 - 8 * i));
    }
    if (n == 0) {
        out->flags = NW_FP_EMPTY | NW_FP_SHORT;
        memset(out->mh, 0xff, sizeof out->mh);
        memset(out->mh_lede, 0xff, sizeof out->mh_lede);
        return true;
    }

    /* Token hashes, SimHash, numbers, entities, brief vocabulary. */
    int ones[64] = {0};
    uint64_t lanes[8] = {0};
    int in_lanes = 0;
    size_t n_digit = 0, n_brief = 0, nn = 0;
    bool short_text = (int)n < cfg->templated_max_tokens; /* only there the brief words count */
    for (size_t i = 0; i < n; i++) {
        const char *s = nw_tok_text(t, i);
        uint64_t h = XXH3_64bits(s, t->v[i].len);
        ctx->th[i] = h;
        /* SimHash bit counts, eight bits per add: lane j counts bits j, j+8, ... */
        for (int j = 0; j < 8; j++)
            lanes[j] += (h >> j) & 0x0101010101010101ull;
        if (++in_lanes == 255 || i + 1 == n) {
            for (int j = 0; j < 8; j++) {
                for (int byte = 0; byte < 8; byte++)
                    ones[byte * 8 + j] += (int)((lanes[j] >> (8 * byte)) & 0xff);
                lanes[j] = 0;
            }
            in_lanes = 0;
        }
        if (t->v[i].flags & NW_TOKF_DIGIT) {
            n_digit++;
            ctx->set[nn++] = number_hash(s, t->v[i].len);
        } else if (short_text && is_brief_word(ctx, h)) {
            n_brief++;
        }
    }
    for (int b = 0; b < 64; b++)
        if (2 * ones[b] > (int)n)
            out->simhash |= 1ull << b;
    bool trunc;
    out->n_nums = bottom_k(ctx->set, nn, ctx->tmp, out->nums, &trunc);
    if (trunc)
        out->flags |= NW_FP_NUMS_TRUNC;
    nn = 0;
    for (size_t i = 0; i < n; i++) {
        const nw_tok_t *k = &t->v[i];
        if ((k->flags & NW_TOKF_CAP) && !(k->flags & NW_TOKF_DIGIT) && k->len >= 2 &&
            !nw_tok_is_stop(lang, t->buf + k->off, k->len))
            ctx->set[nn++] = ctx->th[i];
    }
    out->n_ents = bottom_k(ctx->set, nn, ctx->tmp, out->ents, &trunc);
    if (trunc)
        out->flags |= NW_FP_ENTS_TRUNC;
    if ((int)n < cfg->short_tokens)
        out->flags |= NW_FP_SHORT;
    if (short_text && (n_brief >= 2 || (float)n_digit >= cfg->templated_nums * (float)n))
        out->flags |= NW_FP_TEMPLATED;

    /* Shingles and MinHash: full text, then the lede, whose shingles are
     * the first of the full text's. */
    size_t ns = shingles(ctx->th, n, ctx->sh);
    size_t nl = n < NW_FP_LEDE_TOKENS ? n : NW_FP_LEDE_TOKENS;
    size_t nls = nl < NW_FP_SHINGLE ? 1 : nl - NW_FP_SHINGLE + 1, lede_distinct;
    out->n_shingles = (uint32_t)count_distinct(ctx, ctx->sh, ns, nls, &lede_distinct);
    out->n_lede_shingles = (uint32_t)lede_distinct;
    minhash(ctx, 0, NW_FP_MH, ctx->sh, ns, out->mh);
    minhash(ctx, NW_FP_MH, NW_FP_MH_LEDE, ctx->sh, nls, out->mh_lede);

    /* Salient terms over body and headline. */
    size_t want = 1;
    while (want < 2 * (n + ctx->head.n) + 16)
        want *= 2;
    if (want > ctx->terms_cap) {
        term_slot_t *ts = realloc(ctx->terms, want * sizeof *ts);
        if (!ts)
            return nw_err_set(err, NW_ERR_FATAL, "oom", "fingerprint: out of memory");
        ctx->terms = ts;
        ctx->terms_cap = want;
    }
    ctx->terms_n = want;
    memset(ctx->terms, 0, want * sizeof *ctx->terms);
    for (size_t i = 0; i < ctx->head.n; i++)
        ctx->set[i] = XXH3_64bits(nw_tok_text(&ctx->head, i), ctx->head.v[i].len);
    terms_collect(ctx, cfg, lang, &ctx->body, ctx->th, 1.0f, true);
    terms_collect(ctx, cfg, lang, &ctx->head, ctx->set, cfg->boost_headline, false);
    if (!terms_select(ctx, cfg, out))
        return nw_err_set(err, NW_ERR_FATAL, "oom", "fingerprint: out of memory");
    return true;
}

size_t nw_fp_band_keys(const nw_fp_t *fp, uint64_t keys[NW_FP_MAX_KEYS])
{
    size_t k = 0;
    if (fp->n_shingles == 0)
        return 0;
    for (int b = 0; b < NW_FP_BANDS; b++)
        keys[k++] = XXH3_64bits_withSeed(fp->mh + b * NW_FP_ROWS, NW_FP_ROWS * sizeof(uint32_t),
                                         (uint64_t)(0 * 1000 + b));
    if (fp->n_lede_shingles == 0)
        return k;
    for (int b = 0; b < NW_FP_BANDS_LEDE; b++)
        keys[k++] = XXH3_64bits_withSeed(fp->mh_lede + b * NW_FP_ROWS,
                                         NW_FP_ROWS * sizeof(uint32_t), (uint64_t)(1 * 1000 + b));
    return k;
}

static float share_equal(const uint32_t *a, const uint32_t *b, int n)
{
    int eq = 0;
    for (int i = 0; i < n; i++)
        eq += a[i] == b[i];
    return (float)eq / (float)n;
}

float nw_fp_jaccard(const nw_fp_t *a, const nw_fp_t *b)
{
    if (!a->n_shingles || !b->n_shingles)
        return 0.0f;
    return share_equal(a->mh, b->mh, NW_FP_MH);
}

float nw_fp_lede_jaccard(const nw_fp_t *a, const nw_fp_t *b)
{
    if (!a->n_lede_shingles || !b->n_lede_shingles)
        return 0.0f;
    return share_equal(a->mh_lede, b->mh_lede, NW_FP_MH_LEDE);
}

float nw_fp_containment(float j, uint32_t na, uint32_t nb)
{
    if (!na || j <= 0.0f)
        return 0.0f;
    float c = j * (float)(na + nb) / ((1.0f + j) * (float)na);
    return c > 1.0f ? 1.0f : c;
}

float nw_fp_term_cosine(const nw_fp_t *a, const nw_fp_t *b)
{
    /* A 256-bit filter of b's term hashes spares the scan of b for most of
     * a's terms (two fingerprints share few); the sum keeps a's order. */
    uint64_t filt[4] = {0};
    for (int j = 0; j < b->n_terms; j++) {
        uint64_t h = b->terms[j].hash;
        filt[h >> 62] |= 1ull << (h >> 56 & 63);
    }
    double s = 0;
    for (int i = 0; i < a->n_terms; i++) {
        uint64_t h = a->terms[i].hash;
        if (!(filt[h >> 62] & (1ull << (h >> 56 & 63))))
            continue;
        for (int j = 0; j < b->n_terms; j++)
            if (h == b->terms[j].hash) {
                s += (double)a->terms[i].w * b->terms[j].w;
                break;
            }
    }
    return (float)s;
}

size_t nw_fp_set_common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            c++;
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    return c;
}

/* ---- serialization: little-endian, versioned -------------------------- */

#define FP_HDR 4
#define FP_FIXED (FP_HDR + 4 * 4 + 16 + 8 + 4 * NW_FP_MH + 4 * NW_FP_MH_LEDE + 3 * 2)

size_t nw_fp_serialized_size(const nw_fp_t *fp)
{
    return FP_FIXED + 12u * fp->n_terms + 8u * fp->n_nums + 8u * fp->n_ents;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

size_t nw_fp_serialize(const nw_fp_t *fp, uint8_t *buf, size_t cap)
{
    size_t need = nw_fp_serialized_size(fp);
    if (cap < need)
        return 0;
    uint8_t *p = buf;
    *p++ = 'N';
    *p++ = 'F';
    *p++ = NW_FP_FORMAT;
    *p++ = 0;
    p = put_u32(p, fp->flags);
    p = put_u32(p, fp->n_tokens);
    p = put_u32(p, fp->n_shingles);
    p = put_u32(p, fp->n_lede_shingles);
    memcpy(p, fp->content_hash, 16);
    p += 16;
    p = put_u64(p, fp->simhash);
    for (int i = 0; i < NW_FP_MH; i++)
        p = put_u32(p, fp->mh[i]);
    for (int i = 0; i < NW_FP_MH_LEDE; i++)
        p = put_u32(p, fp->mh_lede[i]);
    p = put_u16(p, fp->n_terms);
    p = put_u16(p, fp->n_nums);
    p = put_u16(p, fp->n_ents);
    for (int i = 0; i < fp->n_terms; i++) {
        uint32_t w;
        memcpy(&w, &fp->terms[i].w, 4);
        p = put_u64(p, fp->terms[i].hash);
        p = put_u32(p, w);
    }
    for (int i = 0; i < fp->n_nums; i++)
        p = put_u64(p, fp->nums[i]);
    for (int i = 0; i < fp->n_ents; i++)
        p = put_u64(p, fp->ents[i]);
    return (size_t)(p - buf);
}

bool nw_fp_deserialize(const uint8_t *buf, size_t len, nw_fp_t *out, nw_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (len < FP_FIXED || buf[0] != 'N' || buf[1] != 'F')
        return nw_err_set(err, NW_ERR_ROW, "fp-format", "fingerprint: not a fingerprint (%zu bytes)", len);
    if (buf[2] != NW_FP_FORMAT)
        return nw_err_set(err, NW_ERR_ROW, "fp-format", "fingerprint: format %u, expected %u",
                          buf[2], NW_FP_FORMAT);
    const uint8_t *p = buf + FP_HDR;
    out->flags = get_u32(p);
    out->n_tokens = get_u32(p + 4);
    out->n_shingles = get_u32(p + 8);
    out->n_lede_shingles = get_u32(p + 12);
    p += 16;
    memcpy(out->content_hash, p, 16);
    p += 16;
    out->simhash = get_u64(p);
    p += 8;
    for (int i = 0; i < NW_FP_MH; i++, p += 4)
        out->mh[i] = get_u32(p);
    for (int i = 0; i < NW_FP_MH_LEDE; i++, p += 4)
        out->mh_lede[i] = get_u32(p);
    uint16_t nt = get_u16(p), nn = get_u16(p + 2), ne = get_u16(p + 4);
    p += 6;
    if (nt > NW_FP_MAX_TERMS || nn > NW_FP_MAX_SET || ne > NW_FP_MAX_SET ||
        len != FP_FIXED + 12u * nt + 8u * nn + 8u * ne) {
        memset(out, 0, sizeof *out);
        return nw_err_set(err, NW_ERR_ROW, "fp-format", "fingerprint: bad lengths (%zu bytes)", len);
    }
    out->n_terms = nt;
    out->n_nums = nn;
    out->n_ents = ne;
    for (int i = 0; i < nt; i++, p += 12) {
        uint32_t w = get_u32(p + 8);
        out->terms[i].hash = get_u64(p);
        memcpy(&out->terms[i].w, &w, 4);
    }
    for (int i = 0; i < nn; i++, p += 8)
        out->nums[i] = get_u64(p);
    for (int i = 0; i < ne; i++, p += 8)
        out->ents[i] = get_u64(p);
    return true;
}
