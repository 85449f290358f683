/*
 * corpus: Reuters-21578 records from weka's ARFF files, and the synthetic
 * transformations the similarity bench labels pairs with.
 *
 * The ARFF text is read at run time from files run.sh extracts from Debian's
 * weka package; nothing of it is stored in the repository.
 */
#ifndef NW_BENCH_CORPUS_H
#define NW_BENCH_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_item {
    char *headline;  /* leading upper-case words of the record */
    char *body;      /* the rest, trailer "Reuter" removed; paragraphs split by "\n\n" */
    int src;         /* 0 = train file, 1 = test file */
    int rec;         /* 0-based record number within its file */
    size_t n_words;  /* whitespace words of the body */
    size_t n_paras;
} bench_item_t;

/* Append the records of an ARFF file to *items (realloc'ed). */
bool bench_load_arff(const char *path, int src, bench_item_t **items, size_t *n);
void bench_items_free(bench_item_t *items, size_t n);

/* Deterministic PRNG (xorshift64*). */
uint64_t bench_rand(uint64_t *s);

typedef enum {
    TX_RESEND = 0,  /* byte-identical re-send under a new id */
    TX_REFLOW,      /* re-send with other whitespace, quotes and line breaks */
    TX_HEADLINE,    /* headline-only change */
    TX_TRUNCATE,    /* newer keeps the first half of the paragraphs */
    TX_ADD,         /* version adds paragraphs (real text of another item) */
    TX_EDIT,        /* version edits words and a figure in a later paragraph */
    TX_CORRECT,     /* CORRECTED re-send: one figure or name changed */
    TX_LEDE,        /* lede rewritten, rest unchanged */
    TX_REWRITE,     /* another agency's light rewrite of two paragraphs */
    TX_NEXT_BRIEF,  /* same company's brief for another period: every figure changed */
    TX_COUNT
} bench_tx_t;

const char *bench_tx_name(bench_tx_t tx);

/* Apply tx to item (other = a donor item for TX_ADD / TX_EDIT words). On
 * success *headline and *body are malloc'ed. Returns false when the item is
 * not eligible (too short, no paragraphs, no figures...). */
bool bench_transform(bench_tx_t tx, const bench_item_t *item, const bench_item_t *other,
                     uint64_t *rng, char **headline, char **body);

#endif
