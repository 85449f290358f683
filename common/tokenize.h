/*
 * tokenize: the text view the similarity engine matches on.
 *
 * Normalization (docs similarity.md §2): NFKC, case fold, accents stripped,
 * dashes and quotes folded (utf8proc STABLE|COMPOSE|COMPAT|STRIPMARK|LUMP|
 * IGNORE, then CASEFOLD per letter). Tokens are runs of Unicode letters and
 * digits; a digit run keeps inner '.' and ',' ("2,529,000", "12.1") so numbers
 * stay whole for the templated-brief guard. Han, kana, Thai, Lao, Khmer and
 * Myanmar runs become overlapping character bigrams (no word breaker).
 *
 * Dedup shingles use the tokens as they are (no stemming, no stop words);
 * related-story terms go through a per-language nw_lang_t (Snowball stemmer
 * via libstemmer plus a stop-word list). Stop words come from PostgreSQL's
 * tsearch_data/<language>.stop when that file exists (directory overridable
 * with NEWSWIRE_STOPWORDS_DIR), else from a small built-in English list; other
 * languages then go without stop words.
 */
#ifndef NW_TOKENIZE_H
#define NW_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    NW_TOKF_DIGIT = 1u << 0,   /* contains a digit */
    NW_TOKF_CAP = 1u << 1,     /* first letter upper/title case in the source */
    NW_TOKF_UPPER = 1u << 2,   /* every letter upper case in the source (and >1 letter) */
    NW_TOKF_CJK = 1u << 3,     /* a character bigram (or single char) of a CJK/Thai run */
    NW_TOKF_INITIAL = 1u << 4, /* first token of a sentence */
};

typedef struct nw_tok {
    uint32_t off;   /* offset of the token text in nw_tokens_t.buf */
    uint32_t len;   /* bytes, without the terminating NUL */
    uint32_t flags; /* NW_TOKF_* */
} nw_tok_t;

/* A token list. buf holds each token's case-folded text, NUL-terminated, in
 * order; v indexes it. Owned by the struct: release with nw_tokens_free(). */
typedef struct nw_tokens {
    char *buf;
    size_t buf_len, buf_cap;
    nw_tok_t *v;
    size_t n, cap;
} nw_tokens_t;

void nw_tokens_init(nw_tokens_t *t);
void nw_tokens_reset(nw_tokens_t *t); /* keep the memory, drop the tokens */
void nw_tokens_free(nw_tokens_t *t);

/* Text of token i (NUL-terminated, owned by t). */
static inline const char *nw_tok_text(const nw_tokens_t *t, size_t i) { return t->buf + t->v[i].off; }

/* Normalize and tokenize `len` bytes of UTF-8 `text`, appending to `out`.
 * Invalid UTF-8 bytes act as separators. Fails only on memory exhaustion
 * (NW_ERR_FATAL). */
bool nw_tok_split(const char *text, size_t len, nw_tokens_t *out, nw_err_t *err);

/* Per-language stemmer and stop words. Not thread-safe (the Snowball stemmer
 * keeps state): use one nw_tokctx_t per thread. */
typedef struct nw_lang nw_lang_t;
typedef struct nw_tokctx nw_tokctx_t;

/* Create a context; NULL on memory exhaustion. Free with nw_tok_ctx_free(). */
nw_tokctx_t *nw_tok_ctx_new(void);
void nw_tok_ctx_free(nw_tokctx_t *ctx);

/* Language data for a BCP 47 tag ("en", "fr-FR", NULL): the Snowball stemmer
 * of the primary subtag, English when unknown or NULL. Loaded on first use and
 * owned by ctx. Never NULL unless memory runs out. */
nw_lang_t *nw_tok_lang(nw_tokctx_t *ctx, const char *bcp47);

/* Snowball algorithm name in use ("english", ...). */
const char *nw_tok_lang_name(const nw_lang_t *lang);

/* Is the case-folded token a stop word of this language? */
bool nw_tok_is_stop(const nw_lang_t *lang, const char *tok, size_t len);

/* Stem a case-folded token. The result points into stemmer-owned memory,
 * valid until the next call on the same lang; *out_len gets its length. */
const char *nw_tok_stem(nw_lang_t *lang, const char *tok, size_t len, size_t *out_len);

#endif
