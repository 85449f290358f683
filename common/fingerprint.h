/*
 * fingerprint: everything the similarity engine needs to know about one item,
 * computed once from its text (docs similarity.md §2–§5, §7).
 *
 *   content_hash  XXH3-128 of the normalized token stream (exact re-sends)
 *   simhash       64-bit SimHash of the tokens (side column; never decides alone)
 *   mh            MinHash 128 × u32 over word 3-shingles of the body
 *   mh_lede       MinHash 64 × u32 over the shingles of the first 60 tokens
 *   n_shingles    distinct shingle counts, to turn Ĵ into containment
 *   terms         top-K stemmed salient terms, L2-normalized weights
 *   nums, ents    bottom-k hash sets of the numbers and capitalised words, for
 *                 the templated-brief guard
 *
 * MinHash: every shingle is hashed once with XXH3-64; value k is the top 32
 * bits of min over shingles of (a_k·h + c_k) mod 2^64 with odd a_k (affine
 * 64-bit permutations; not the legacy mod-prime scheme). LSH band keys:
 * bucket = XXH3_64(4 consecutive values, seed = index_no·1000 + band_no),
 * index 0 = full text (32 bands), index 1 = lede (16 bands).
 *
 * nw_fp_t is a plain value (no pointers): copy it, memset it, keep it in
 * arrays. The parameters are part of the stored format: changing any of them
 * needs a new NW_FP_FORMAT and a rebuild of the band index.
 */
#ifndef NW_FINGERPRINT_H
#define NW_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tokenize.h"

#define NW_FP_FORMAT 1
#define NW_FP_MH 128         /* full-text permutations */
#define NW_FP_MH_LEDE 64     /* lede permutations */
#define NW_FP_ROWS 4         /* values per band */
#define NW_FP_BANDS (NW_FP_MH / NW_FP_ROWS)           /* 32 */
#define NW_FP_BANDS_LEDE (NW_FP_MH_LEDE / NW_FP_ROWS) /* 16 */
#define NW_FP_LEDE_TOKENS 60
#define NW_FP_SHINGLE 3      /* words per shingle */
#define NW_FP_MAX_TERMS 32
#define NW_FP_MAX_SET 48     /* bottom-k size of the number and entity sets */
#define NW_FP_MAX_KEYS (NW_FP_BANDS + NW_FP_BANDS_LEDE)

enum {
    NW_FP_SHORT = 1u << 0,     /* fewer than nw_fp_cfg_t.short_tokens tokens */
    NW_FP_TEMPLATED = 1u << 1, /* number-heavy or brief vocabulary (qtr, shr, div...) */
    NW_FP_EMPTY = 1u << 2,     /* no tokens at all: never matched by content */
    NW_FP_NUMS_TRUNC = 1u << 3,/* more distinct numbers than NW_FP_MAX_SET */
    NW_FP_ENTS_TRUNC = 1u << 4,
};

typedef struct nw_fp_term {
    uint64_t hash; /* XXH3_64 of the stemmed, case-folded term */
    float w;       /* weight, L2-normalized over the item's terms */
} nw_fp_term_t;

typedef struct nw_fp {
    uint8_t content_hash[16];        /* XXH3-128, big-endian high then low */
    uint64_t simhash;
    uint32_t mh[NW_FP_MH];
    uint32_t mh_lede[NW_FP_MH_LEDE];
    uint32_t n_tokens;
    uint32_t n_shingles;             /* distinct full-text shingles */
    uint32_t n_lede_shingles;        /* distinct lede shingles */
    uint32_t flags;                  /* NW_FP_* */
    uint16_t n_terms, n_nums, n_ents;
    nw_fp_term_t terms[NW_FP_MAX_TERMS]; /* by weight, descending */
    uint64_t nums[NW_FP_MAX_SET];    /* sorted ascending */
    uint64_t ents[NW_FP_MAX_SET];    /* sorted ascending */
} nw_fp_t;

/* IDF of a term hash; return <= 0 for "unknown" (then cfg.idf_unknown is used). */
typedef float (*nw_fp_idf_fn)(void *ud, uint64_t term_hash);

typedef struct nw_fp_cfg {
    int short_tokens;     /* below this many tokens an item is NW_FP_SHORT (80) */
    float templated_nums; /* numeric share of tokens that makes an item templated (0.12), */
    int templated_max_tokens; /* or >= 2 brief words (qtr, shr, cts...), below this length (200) */
    float boost_cap;      /* weight factor of capitalised, non-initial words (1.5) */
    float boost_num;      /* weight factor of numbers (1.3) */
    float boost_headline; /* term frequency added per headline occurrence (1.0) */
    float idf_unknown;    /* IDF when idf() has no figure (log of a large corpus: 8.0) */
    nw_fp_idf_fn idf;     /* may be NULL: every term then gets idf_unknown */
    void *idf_ud;
} nw_fp_cfg_t;

void nw_fp_cfg_default(nw_fp_cfg_t *cfg);

/* What the fingerprint is computed from; language is BCP 47 or NULL. */
typedef struct nw_fp_input {
    const char *headline; /* may be NULL */
    const char *body;     /* may be NULL: the headline is then the body */
    size_t body_len;      /* strlen(body) if 0 and body != NULL */
    const char *language;
} nw_fp_input_t;

/* Scratch space reused across items (one per thread). */
typedef struct nw_fp_ctx nw_fp_ctx_t;
nw_fp_ctx_t *nw_fp_ctx_new(void); /* NULL on memory exhaustion; free with nw_fp_ctx_free */
void nw_fp_ctx_free(nw_fp_ctx_t *ctx);

/* Compute the fingerprint of one item into *out (fully overwritten).
 * cfg may be NULL for the defaults. Fails only on memory exhaustion. */
bool nw_fp_compute(nw_fp_ctx_t *ctx, const nw_fp_cfg_t *cfg, const nw_fp_input_t *in, nw_fp_t *out,
                   nw_err_t *err);

/* LSH band keys of fp: full[NW_FP_BANDS] and lede[NW_FP_BANDS_LEDE]. Returns
 * the number of keys written to `keys` (full bands then lede bands; 0 for an
 * empty item, NW_FP_BANDS only when the lede signature is empty). */
size_t nw_fp_band_keys(const nw_fp_t *fp, uint64_t keys[NW_FP_MAX_KEYS]);

/* Ĵ estimates (share of equal MinHash values); 0 when either side is empty. */
float nw_fp_jaccard(const nw_fp_t *a, const nw_fp_t *b);
float nw_fp_lede_jaccard(const nw_fp_t *a, const nw_fp_t *b);

/* Ĉ(A ⊂ B) from Ĵ and the shingle counts: Ĵ(|A|+|B|) / ((1+Ĵ)|A|), capped at 1. */
float nw_fp_containment(float j, uint32_t na, uint32_t nb);

/* Cosine of the two truncated term vectors. */
float nw_fp_term_cosine(const nw_fp_t *a, const nw_fp_t *b);

/* Bytes needed by nw_fp_serialize (at most NW_FP_SER_MAX). */
#define NW_FP_SER_MAX (4 + 16 + 8 + 4 * NW_FP_MH + 4 * NW_FP_MH_LEDE + 16 + 6 + 12 * NW_FP_MAX_TERMS + 16 * NW_FP_MAX_SET)
size_t nw_fp_serialized_size(const nw_fp_t *fp);

/* Write fp as portable little-endian bytes (versioned by NW_FP_FORMAT) into
 * buf (cap bytes). Returns the size written, 0 if cap is too small. */
size_t nw_fp_serialize(const nw_fp_t *fp, uint8_t *buf, size_t cap);

/* Read bytes written by nw_fp_serialize. NW_ERR_ROW on a bad or foreign blob. */
bool nw_fp_deserialize(const uint8_t *buf, size_t len, nw_fp_t *out, nw_err_t *err);

/* Number of hashes two sorted sets share. */
size_t nw_fp_set_common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb);

#endif
