#include "link.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

const char *nw_rel_name(nw_rel_t r)
{
    switch (r) {
    case NW_REL_NONE: return "none";
    case NW_REL_RELATED: return "related";
    case NW_REL_NEAR_DUPLICATE: return "near_duplicate";
    case NW_REL_UPDATE: return "update";
    case NW_REL_DUPLICATE: return "duplicate";
    }
    return "none";
}

const char *nw_rel_link_name(nw_rel_t r)
{
    switch (r) {
    case NW_REL_NONE: return NULL;
    case NW_REL_RELATED: return "related";
    case NW_REL_NEAR_DUPLICATE: return "near_duplicate_of";
    case NW_REL_UPDATE: return "update_of";
    case NW_REL_DUPLICATE: return "duplicate_of";
    }
    return NULL;
}

void nw_link_cfg_default(nw_link_cfg_t *cfg)
{
    cfg->dup_j = 0.80f;
    cfg->dup_c = 0.85f;
    cfg->near_j = 0.50f;
    cfg->near_c = 0.80f;
    cfg->grow_min = 0.08f;
    cfg->grow_min_shingles = 8;
    cfg->subset_min_eq = 16;
    cfg->cut_min_tokens = 5;
    cfg->lede_j = 0.70f;
    cfg->lede_max_dt = 48 * 3600;
    cfg->guard_num_c = 0.50f;
    cfg->guard_num_slack = 2;
    cfg->correction_j = 0.30f;
    cfg->correction_slack = 2;
    cfg->short_ent_slack = 1;
    cfg->related_min = 0.25f;
    cfg->tau_hours = 36.0f;
    cfg->other_provider_bonus = 0.15f;
    cfg->top_k_related = 10;
    cfg->cluster_min_cos = 0.50f;
}

static int strcmp0(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

/* Total order on items so that every rule with a direction sees the same
 * "newer" item whichever side the caller put it on. */
static bool a_newer(const nw_link_meta_t *a, const nw_link_meta_t *b)
{
    if (a->versioncreated != b->versioncreated)
        return a->versioncreated > b->versioncreated;
    int c = strcmp0(a->provider, b->provider);
    if (c)
        return c > 0;
    c = strcmp0(a->story_id, b->story_id);
    if (c)
        return c > 0;
    return a->version_pk > b->version_pk;
}

static bool set_equal(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    return na == nb && nw_fp_set_common(a, na, b, nb) == na;
}

/* Is sorted set a (bottom-k) contained in b? With b truncated, only the
 * hashes below b's largest kept one can be checked. */
static bool set_sub(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, bool b_trunc)
{
    size_t check = na;
    if (b_trunc && nb) {
        check = 0;
        while (check < na && a[check] <= b[nb - 1])
            check++;
    }
    return nw_fp_set_common(a, check, b, nb) == check;
}

static int popcount64(uint64_t v) { return __builtin_popcountll(v); }

#define SET_RESULT(r_, sc_, rule_)                                                        \
    do {                                                                                  \
        out->rel = (r_);                                                                  \
        out->score = (sc_);                                                               \
        out->rule = (rule_);                                                              \
        return out->rel;                                                                  \
    } while (0)

/* Compare two bottom-k hash sets. When either was truncated only hashes up to
 * the smaller of the truncated maxima are comparable (the bottom-k sketch
 * rule). Fills the count of each side's comparable members and the common
 * count. */
static void sketch_cmp(const uint64_t *a, size_t na, bool ta, const uint64_t *b, size_t nb, bool tb,
                       size_t *ca, size_t *cb, size_t *common)
{
    uint64_t lim = UINT64_MAX;
    if (ta && na)
        lim = a[na - 1];
    if (tb && nb && b[nb - 1] < lim)
        lim = b[nb - 1];
    size_t i = 0, j = 0;
    while (i < na && a[i] <= lim)
        i++;
    while (j < nb && b[j] <= lim)
        j++;
    *ca = i;
    *cb = j;
    *common = nw_fp_set_common(a, i, b, j);
}

/* Numbers agree enough for a same-story relation: half of the smaller set is
 * in the larger one, or at most `slack` figures differ. */
static bool nums_agree(const nw_link_cfg_t *cfg, const nw_fp_t *x, const nw_fp_t *y, int slack)
{
    size_t cx, cy, c;
    sketch_cmp(x->nums, x->n_nums, x->flags & NW_FP_NUMS_TRUNC, y->nums, y->n_nums,
               y->flags & NW_FP_NUMS_TRUNC, &cx, &cy, &c);
    size_t mn = cx < cy ? cx : cy;
    if (!mn)
        return true;
    return (float)c >= cfg->guard_num_c * (float)mn || cx + cy - 2 * c <= (size_t)slack;
}

/* Capitalised words of the smaller item are all in the larger one (sizes
 * differ), or both sets are equal (sizes alike), up to `slack` differences. */
static bool ents_agree(const nw_fp_t *small, const nw_fp_t *large, bool alike, int slack)
{
    size_t cs, cl, c;
    sketch_cmp(small->ents, small->n_ents, small->flags & NW_FP_ENTS_TRUNC, large->ents, large->n_ents,
               large->flags & NW_FP_ENTS_TRUNC, &cs, &cl, &c);
    size_t diff = alike ? cs + cl - 2 * c : cs - c;
    return diff <= (size_t)slack;
}

/* Is x's shingle set inside y's? For each MinHash value where x holds the
 * minimum of the union (x_k <= y_k) the shingle is shared when y_k is equal,
 * and x_k < y_k proves that x has a shingle y lacks. No proof over at least
 * subset_min_eq shared minima shows x inside y: a true subset always passes,
 * a set with d shingles outside y, out of u in the union, with probability
 * about (1 - d/u)^NW_FP_MH. Unlike Ĉ from Ĵ, whose noise near 1 blurs "the
 * whole item" into "most of it", this is exact at containment 1, which is
 * what a cut or an addition is; but only for small items: up to NW_FP_MH
 * shingles in y, one replaced word (d = 3) is seen with 95 % probability,
 * in a 1,000-shingle item with 32 %. Larger items are left to Ĉ. */
static bool subset_shown(const nw_link_cfg_t *cfg, const nw_fp_t *x, const nw_fp_t *y)
{
    if (y->n_shingles > NW_FP_MH)
        return false;
    int eq = 0;
    for (int k = 0; k < NW_FP_MH; k++) {
        if (x->mh[k] < y->mh[k])
            return false;
        eq += x->mh[k] == y->mh[k];
    }
    return eq >= cfg->subset_min_eq;
}

/* Distinct hashes of a headline's normalized words, sorted; at most `cap`. */
static size_t headline_words(const char *h, uint64_t *out, size_t cap, nw_tokens_t *t)
{
    nw_tokens_reset(t);
    if (!nw_tok_split(h, strlen(h), t, NULL))
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < t->n && n < cap; i++) {
        uint64_t v = XXH3_64bits(nw_tok_text(t, i), t->v[i].len);
        size_t j = n;
        while (j > 0 && out[j - 1] > v)
            j--;
        if (j > 0 && out[j - 1] == v)
            continue;
        memmove(out + j + 1, out + j, (n - j) * sizeof *out);
        out[j] = v;
        n++;
    }
    return n;
}

/* A templated brief may name its issuer in the headline only ("<CO> <TICKER>
 * SETS QUARTERLY" over "Qtly div 14 cts vs 14 cts prior / Pay May 15 / Record
 * April 30"): two companies' briefs then share every name and most figures
 * of the body. Headlines that share less than half of the shorter one's
 * words are another issuer's brief; versions keep their headline or add to
 * it ("CORRECTED - ..."), and another agency's headline for the same brief
 * keeps the company and the brief's words. A missing headline tells nothing. */
static bool headlines_agree(const char *ha, const char *hb)
{
    if (!ha || !hb || !*ha || !*hb)
        return true;
    enum { CAP = 64 };
    uint64_t wa[CAP], wb[CAP];
    nw_tokens_t t;
    nw_tokens_init(&t);
    size_t na = headline_words(ha, wa, CAP, &t), nb = headline_words(hb, wb, CAP, &t);
    nw_tokens_free(&t);
    size_t mn = na < nb ? na : nb;
    return mn == 0 || 2 * nw_fp_set_common(wa, na, wb, nb) >= mn;
}

/* The rules in link.h, in the order that lets the stronger relation win. */
nw_rel_t nw_link_decide(const nw_link_cfg_t *cfg, const nw_fp_t *a, const nw_link_meta_t *ma,
                        const nw_fp_t *b, const nw_link_meta_t *mb, nw_link_result_t *out)
{
    nw_link_cfg_t def;
    if (!cfg) {
        nw_link_cfg_default(&def);
        cfg = &def;
    }
    memset(out, 0, sizeof *out);
    out->a_is_newer = a_newer(ma, mb);
    const nw_fp_t *n = out->a_is_newer ? a : b, *o = out->a_is_newer ? b : a;
    const nw_link_meta_t *mn = out->a_is_newer ? ma : mb, *mo = out->a_is_newer ? mb : ma;

    nw_link_scores_t *s = &out->s;
    s->j = nw_fp_jaccard(a, b);
    s->c_ab = nw_fp_containment(s->j, a->n_shingles, b->n_shingles);
    s->c_ba = nw_fp_containment(s->j, b->n_shingles, a->n_shingles);
    s->lede_j = nw_fp_lede_jaccard(a, b);
    s->cos = nw_fp_term_cosine(a, b);
    s->simhash_hd = popcount64(a->simhash ^ b->simhash);
    s->same_hash = !(a->flags & NW_FP_EMPTY) && !(b->flags & NW_FP_EMPTY) &&
                   memcmp(a->content_hash, b->content_hash, 16) == 0;
    float c_no = out->a_is_newer ? s->c_ab : s->c_ba; /* newer inside older */
    float c_on = out->a_is_newer ? s->c_ba : s->c_ab; /* older inside newer */
    float c_max = c_no > c_on ? c_no : c_on;

    if ((a->flags & NW_FP_EMPTY) || (b->flags & NW_FP_EMPTY))
        SET_RESULT(NW_REL_NONE, 0.0f, "empty");
    if (s->same_hash)
        SET_RESULT(NW_REL_DUPLICATE, 1.0f, "same-content");

    bool same_src = mn->provider && mo->provider && strcmp(mn->provider, mo->provider) == 0;
    bool corr = same_src && mn->correction;
    int slack = corr ? cfg->correction_slack : 0;
    bool grows = (float)n->n_shingles >= (float)o->n_shingles * (1.0f + cfg->grow_min) &&
                 n->n_shingles >= o->n_shingles + (uint32_t)cfg->grow_min_shingles;
    bool shrinks = (float)o->n_shingles >= (float)n->n_shingles * (1.0f + cfg->grow_min) &&
                   o->n_shingles >= n->n_shingles + (uint32_t)cfg->grow_min_shingles;
    /* The whole older item inside a larger newer one (it adds, however
     * little), or the newer one wholly inside a larger older one. */
    bool extends = n->n_shingles > o->n_shingles && subset_shown(cfg, o, n);
    bool cut = !extends && n->n_shingles < o->n_shingles && subset_shown(cfg, n, o);
    const nw_fp_t *small = n->n_shingles <= o->n_shingles ? n : o, *large = small == n ? o : n;
    bool templated = ((a->flags | b->flags) & NW_FP_TEMPLATED) != 0;
    s->guarded = templated || ((a->flags | b->flags) & NW_FP_SHORT) != 0;
    int ent_slack = slack + (templated ? 0 : cfg->short_ent_slack);
    /* When one item holds the other, the smaller one's names must be in the
     * larger one (a sentence added may name someone new); otherwise both
     * sets must match. */
    bool alike = !grows && !shrinks && !extends && !cut;
    s->guard_ok = nums_agree(cfg, n, o, cfg->guard_num_slack + slack) &&
                  (!s->guarded || ents_agree(small, large, alike, ent_slack)) &&
                  (!templated || headlines_agree(mn->headline, mo->headline));
    bool nums_same = set_equal(n->nums, n->n_nums, o->nums, o->n_nums);
    bool ents_same = set_equal(n->ents, n->n_ents, o->ents, o->n_ents);

    if (s->guard_ok) {
        /* A short older item fits in the newer one's lede: the lede signature
         * estimates its containment with less noise than the full one. */
        float c_on_lede = o->n_tokens < NW_FP_LEDE_TOKENS
                              ? nw_fp_containment(s->lede_j, o->n_lede_shingles, n->n_lede_shingles)
                              : 0.0f;
        if (grows && (c_on >= cfg->near_c || c_on_lede >= cfg->near_c))
            SET_RESULT(NW_REL_UPDATE, c_on > c_on_lede ? c_on : c_on_lede, "adds-to");
        /* Below grow_min: the older item whole, with a few words more. Only
         * the same agency's copy is its next version; another agency's copy
         * with a line more is left to the duplicate/near-duplicate rules. */
        if (extends && same_src && set_sub(o->nums, o->n_nums, n->nums, n->n_nums, n->flags & NW_FP_NUMS_TRUNC) &&
            set_sub(o->ents, o->n_ents, n->ents, n->n_ents, n->flags & NW_FP_ENTS_TRUNC))
            SET_RESULT(NW_REL_UPDATE, c_on, "extends");
        /* A cut keeps the lede: an identical lede lets a noisier Ĉ count, and a
         * short cut fits in the older item's lede. */
        float c_no_lede = n->n_tokens < NW_FP_LEDE_TOKENS
                              ? nw_fp_containment(s->lede_j, n->n_lede_shingles, o->n_lede_shingles)
                              : 0.0f;
        /* A cut shown whole may be smaller than grow_min (a last sentence
         * dropped, whose words repeat earlier ones), but it drops at least a
         * short sentence: a word or two gone is an edit whose weight the
         * fingerprint cannot judge (one dropped mid-text leaves new shingles
         * at the seam and is no subset anyway). */
        bool cut_whole = cut && o->n_tokens >= n->n_tokens + (uint32_t)cfg->cut_min_tokens;
        if (((shrinks && (c_no >= cfg->dup_c || c_no_lede >= cfg->dup_c || (s->lede_j >= 0.9f && c_no >= cfg->near_c))) ||
             cut_whole) &&
            set_sub(n->nums, n->n_nums, o->nums, o->n_nums, o->flags & NW_FP_NUMS_TRUNC) &&
            set_sub(n->ents, n->n_ents, o->ents, o->n_ents, o->flags & NW_FP_ENTS_TRUNC))
            SET_RESULT(NW_REL_DUPLICATE, c_no, "cut");
        if (same_src) {
            /* Another version of the same agency's copy under a new id. */
            int64_t dt = mn->versioncreated - mo->versioncreated;
            if (s->j >= cfg->near_j)
                SET_RESULT(NW_REL_UPDATE, s->j, "same-source");
            if (c_max >= cfg->near_c)
                SET_RESULT(NW_REL_UPDATE, c_max, "same-source-containment");
            if (s->lede_j >= cfg->lede_j && dt <= cfg->lede_max_dt)
                SET_RESULT(NW_REL_UPDATE, s->lede_j, "lede");
            if (corr && s->j >= cfg->correction_j)
                SET_RESULT(NW_REL_UPDATE, s->j, "correction");
        } else {
            if (s->j >= cfg->dup_j && nums_same && ents_same)
                SET_RESULT(NW_REL_DUPLICATE, s->j, "jaccard");
            if (s->j >= cfg->near_j)
                SET_RESULT(NW_REL_NEAR_DUPLICATE, s->j, "jaccard");
            if (c_max >= cfg->near_c)
                SET_RESULT(NW_REL_NEAR_DUPLICATE, c_max, "containment");
        }
    }
    if (s->cos >= cfg->related_min)
        SET_RESULT(NW_REL_RELATED, s->cos, s->guard_ok ? "terms" : "terms-guarded");
    SET_RESULT(NW_REL_NONE, s->cos, s->guard_ok ? "below" : "guard");
}

static int cmp_link(const void *x, const void *y)
{
    const nw_link_t *a = x, *b = y;
    if (a->rank != b->rank)
        return a->rank > b->rank ? -1 : 1;
    return a->cand < b->cand ? -1 : a->cand > b->cand;
}

/* Same-story relations outrank any related link; related links are ordered
 * by cosine with time decay and a bonus for another agency's coverage. */
size_t nw_link_rank(const nw_link_cfg_t *cfg, const nw_fp_t *fp, const nw_link_meta_t *meta,
                    const nw_link_cand_t *cands, size_t n, nw_link_t *out, size_t max_out)
{
    nw_link_cfg_t def;
    if (!cfg) {
        nw_link_cfg_default(&def);
        cfg = &def;
    }
    nw_link_t *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const nw_link_meta_t *cm = &cands[i].meta;
        if ((meta->story_pk && cm->story_pk == meta->story_pk) ||
            (meta->version_pk && cm->version_pk == meta->version_pk))
            continue;
        nw_link_t *l = &all[m];
        l->cand = i;
        if (nw_link_decide(cfg, fp, meta, cands[i].fp, cm, &l->r) == NW_REL_NONE)
            continue;
        if (l->r.rel == NW_REL_RELATED) {
            double dt = fabs((double)(meta->versioncreated - cm->versioncreated)) / 3600.0;
            double bonus = strcmp0(meta->provider, cm->provider) ? 1.0 + cfg->other_provider_bonus : 1.0;
            l->rank = (float)(l->r.s.cos * exp(-dt / cfg->tau_hours) * bonus);
        } else {
            l->rank = 10.0f * (float)l->r.rel + l->r.score;
        }
        m++;
    }
    qsort(all, m, sizeof *all, cmp_link);
    size_t w = 0, related = 0;
    for (size_t i = 0; i < m && w < max_out; i++) {
        if (all[i].r.rel == NW_REL_RELATED && (int)related++ >= cfg->top_k_related)
            continue;
        out[w++] = all[i];
    }
    free(all);
    return w;
}

int64_t nw_link_cluster_id(const nw_link_cfg_t *cfg, const nw_link_meta_t *meta,
                           const nw_link_cand_t *cands, const nw_link_t *links, size_t n_links)
{
    nw_link_cfg_t def;
    if (!cfg) {
        nw_link_cfg_default(&def);
        cfg = &def;
    }
    int64_t id = meta->cluster_id > 0 ? meta->cluster_id : meta->story_pk;
    for (size_t i = 0; i < n_links; i++) {
        const nw_link_result_t *r = &links[i].r;
        if (r->rel == NW_REL_RELATED && r->s.cos < cfg->cluster_min_cos)
            continue;
        const nw_link_meta_t *cm = &cands[links[i].cand].meta;
        int64_t cid = cm->cluster_id > 0 ? cm->cluster_id : cm->story_pk;
        if (cid > 0 && (id <= 0 || cid < id))
            id = cid;
    }
    return id;
}
