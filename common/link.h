/*
 * link: decide how two items relate, from their fingerprints and metadata,
 * and rank the links of one item (docs similarity.md §5, §7).
 *
 * Relations (stored in links.relation as "<name>_of", from the newer item to
 * the older one):
 *   duplicate       nothing new for a subscriber: equal content hash; or the
 *                   newer item is a cut of the older one (Ĉ(newer ⊂ older) ≥
 *                   dup_c and grow_min smaller, or shown wholly inside it by
 *                   the MinHash values and cut_min_tokens shorter; its numbers
 *                   and capitalised words a subset); or, from another
 *                   provider, Ĵ ≥ dup_j with the same numbers and capitalised
 *                   words (the same copy in another product)
 *   update          the newer item contains the older one and adds to it
 *                   (Ĉ(older ⊂ newer) ≥ near_c and grow_min, grow_min_shingles more
 *                   shingles; or, from the same provider and however little it
 *                   adds, the older item shown wholly inside it by the MinHash
 *                   values, its numbers and names a subset); or
 *                   the same provider's revised copy under a new id: Ĵ ≥ near_j,
 *                   Ĉ ≥ near_c, lede Ĵ ≥ lede_j within lede_max_dt, or a
 *                   flagged correction with Ĵ ≥ correction_j
 *   near_duplicate  another provider's rewrite: Ĵ ≥ near_j or Ĉ ≥ near_c
 *   related         otherwise, term cosine ≥ related_min
 *   none            below that
 * Guards, for every relation above `related`: the number sets must agree
 * (half of the smaller set shared, or at most guard_num_slack figures
 * differ), so a market report or brief of another day is not a version; and
 * for short or templated items (earnings and dividend briefs of different
 * companies share most shingles) the capitalised-word sets must be equal
 * (subset when one item is a cut/growth of the other, or is shown wholly
 * inside it; short_ent_slack differences allowed when neither is templated),
 * and templated items' headlines, which name the issuer that the brief's
 * body may not, must share half of the shorter one's words. A same-provider
 * correction (meta.correction) may differ in correction_slack more figures
 * or names.
 *
 * The decision is symmetric: the pair is ordered by (versioncreated, provider,
 * story_id, id) before any rule that has a direction, so two replicas that
 * compare the same pair from either side reach the same answer.
 */
#ifndef NW_LINK_H
#define NW_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fingerprint.h"

typedef enum {
    NW_REL_NONE = 0,
    NW_REL_RELATED,
    NW_REL_NEAR_DUPLICATE,
    NW_REL_UPDATE,
    NW_REL_DUPLICATE,
} nw_rel_t;

/* "none", "related", "near_duplicate", "update", "duplicate". */
const char *nw_rel_name(nw_rel_t r);
/* links.relation value: "related", "near_duplicate_of", "update_of", "duplicate_of"; NULL for none. */
const char *nw_rel_link_name(nw_rel_t r);

typedef struct nw_link_cfg {
    float dup_j;             /* 0.80 */
    float dup_c;             /* 0.85: newer cut from older */
    float near_j;            /* 0.50 */
    float near_c;            /* 0.80 */
    float grow_min;          /* 0.08: share of extra shingles that makes "adds to it" */
    int grow_min_shingles;   /* 8: ... and at least this many (about a sentence) */
    int subset_min_eq;       /* 16: shared MinHash minima that, with no value of one item
                                below the other's, show it wholly inside the other */
    int cut_min_tokens;      /* 5: tokens a cut shown whole must drop (a short sentence) */
    float lede_j;            /* 0.70 */
    int64_t lede_max_dt;     /* 48 h, seconds */
    float guard_num_c;       /* 0.50: share of the smaller number set the larger must hold */
    int guard_num_slack;     /* 2 figures may differ anyway */
    float correction_j;      /* 0.30: Ĵ enough for a flagged same-provider correction */
    int correction_slack;    /* 2 more figures or names may differ in a correction */
    int short_ent_slack;     /* 1 name may differ between short items that are not templated */
    float related_min;       /* 0.25 term cosine */
    float tau_hours;         /* 36: time decay of the related score */
    float other_provider_bonus; /* 0.15 */
    int top_k_related;       /* 10 */
    float cluster_min_cos;   /* 0.50: related this strongly joins the cluster */
} nw_link_cfg_t;

void nw_link_cfg_default(nw_link_cfg_t *cfg);

/* What link needs to know about an item besides its fingerprint. Strings are
 * borrowed and may be NULL. */
typedef struct nw_link_meta {
    int64_t version_pk;     /* 0 if not stored yet */
    int64_t story_pk;
    int64_t cluster_id;     /* 0 if none */
    const char *provider;
    const char *story_id;
    int64_t versioncreated; /* epoch seconds; 0 = unknown */
    const char *headline;
    bool correction;        /* the agency flagged this version a correction (nw_item_t.edit) */
} nw_link_meta_t;

typedef struct nw_link_scores {
    float j;          /* Ĵ full text */
    float c_ab, c_ba; /* Ĉ(a ⊂ b), Ĉ(b ⊂ a) */
    float lede_j;
    float cos;        /* term cosine */
    int simhash_hd;   /* Hamming distance of the SimHashes */
    bool same_hash;   /* equal content hashes */
    bool guarded;     /* the guard applied (short or templated) */
    bool guard_ok;    /* ... and passed */
} nw_link_scores_t;

typedef struct nw_link_result {
    nw_rel_t rel;
    float score;      /* the figure that decided: Ĵ, Ĉ, lede Ĵ or cosine */
    bool a_is_newer;  /* direction of the link: newer -> older */
    const char *rule; /* short name of the rule that fired, static string */
    nw_link_scores_t s;
} nw_link_result_t;

/* Compare two items. cfg may be NULL for the defaults. */
nw_rel_t nw_link_decide(const nw_link_cfg_t *cfg, const nw_fp_t *a, const nw_link_meta_t *ma,
                        const nw_fp_t *b, const nw_link_meta_t *mb, nw_link_result_t *out);

/* A stored candidate, as nw_simindex_candidates returns it. */
typedef struct nw_link_cand {
    const nw_fp_t *fp;
    nw_link_meta_t meta;
} nw_link_cand_t;

typedef struct nw_link {
    size_t cand;      /* index into the candidate array */
    nw_link_result_t r;
    float rank;       /* ordering key: relation first, then score (related: cos · decay · bonus) */
} nw_link_t;

/* Decide every candidate of one item and keep the links worth storing, best
 * first: all duplicate/update/near_duplicate links, then at most
 * cfg->top_k_related related ones. Candidates of the item's own story are
 * skipped (versions are the store's business). Writes at most max_out
 * entries to out; returns the count. */
size_t nw_link_rank(const nw_link_cfg_t *cfg, const nw_fp_t *fp, const nw_link_meta_t *meta,
                    const nw_link_cand_t *cands, size_t n, nw_link_t *out, size_t max_out);

/* Cluster id of an item: the smallest of its own (meta->cluster_id, else
 * story_pk) and the cluster ids of the candidates it is linked to by a
 * duplicate/update/near_duplicate link or a related link with cosine ≥
 * cluster_min_cos. Smallest = earliest story (bigserial, its keys taken
 * under the store's write lock, so in commit order: store_write.c), so every
 * replica and every later version reaches the same id. */
int64_t nw_link_cluster_id(const nw_link_cfg_t *cfg, const nw_link_meta_t *meta,
                           const nw_link_cand_t *cands, const nw_link_t *links, size_t n_links);

#endif
