/* Unit tests for fingerprint: hashes, MinHash accuracy, bands, serialization.
 * (Its cost is measured by bench/similarity, not timed here: timings on a
 * shared 2-core machine are noise.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fingerprint.h"

static nw_fp_ctx_t *ctx;

static char *slurp(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/similarity/%s", NW_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void fp_text(const char *body, nw_fp_t *fp)
{
    nw_err_t err;
    nw_fp_input_t in = {.body = body, .language = "en"};
    assert_true(nw_fp_compute(ctx, NULL, &in, fp, &err));
}

static int setup(void **state)
{
    (void)state;
    ctx = nw_fp_ctx_new();
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nw_fp_ctx_free(ctx);
    return 0;
}

/* The distinct shingles of the text and of its lede (first 60 tokens); a
 * shingle list and its set give the same MinHash. */
static void test_shingle_counts(void **state)
{
    (void)state;
    char a[2048] = "", b[2048] = "", w[64];
    for (int i = 0; i < 30; i++)
        strcat(a, "alpha beta gamma ");
    for (int i = 0; i < 40; i++)
        strcat(b, "alpha beta gamma ");
    nw_fp_t fa, fb;
    fp_text(a, &fa);
    fp_text(b, &fb);
    assert_int_equal(fa.n_tokens, 90);
    assert_int_equal(fa.n_shingles, 3);
    assert_int_equal(fa.n_lede_shingles, 3);
    assert_memory_equal(fa.mh, fb.mh, sizeof fa.mh);
    assert_memory_equal(fa.mh_lede, fb.mh_lede, sizeof fa.mh_lede);
    a[0] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(w, sizeof w, "w%c%c ", 'a' + i / 26, 'a' + i % 26);
        strcat(a, w);
    }
    strcat(a, "wab wac wad"); /* 101 shingles, the last one seen before */
    fp_text(a, &fa);
    assert_int_equal(fa.n_tokens, 103);
    assert_int_equal(fa.n_shingles, 100);
    assert_int_equal(fa.n_lede_shingles, 58);
    fp_text("alpha beta", &fa);
    assert_int_equal(fa.n_shingles, 1);
    assert_int_equal(fa.n_lede_shingles, 1);
}

static void test_exact_and_reflowed(void **state)
{
    (void)state;
    char *a = slurp("base.txt"), *b = slurp("resend_reflowed.txt");
    nw_fp_t fa, fb, fa2;
    fp_text(a, &fa);
    fp_text(a, &fa2);
    assert_memory_equal(&fa, &fa2, sizeof fa); /* deterministic */
    fp_text(b, &fb);
    /* whitespace and punctuation do not change the normalized content */
    assert_memory_equal(fa.content_hash, fb.content_hash, 16);
    assert_true(nw_fp_jaccard(&fa, &fb) == 1.0f);
    assert_int_equal(fa.simhash, fb.simhash);
    assert_true(fa.n_tokens > 200);
    assert_false(fa.flags & (NW_FP_SHORT | NW_FP_TEMPLATED));
    free(a);
    free(b);
}

/* Ĵ must track the exact shingle Jaccard within a few standard errors. */
static void test_minhash_accuracy(void **state)
{
    (void)state;
    char *a = malloc(64 * 1000), *b = malloc(64 * 1000);
    for (int shared = 100; shared <= 900; shared += 200) {
        /* A = words 0..999, B = first `shared` words of A, then 1000-shared fresh ones */
        a[0] = b[0] = '\0';
        size_t la = 0, lb = 0;
        for (int i = 0; i < 1000; i++) {
            la += (size_t)sprintf(a + la, "w%d ", i);
            lb += (size_t)sprintf(b + lb, i < shared ? "w%d " : "x%d ", i);
        }
        nw_fp_t fa, fb;
        fp_text(a, &fa);
        fp_text(b, &fb);
        double sa = 998, inter = shared - 2, exact = inter / (2 * sa - inter);
        double est = nw_fp_jaccard(&fa, &fb);
        assert_true(est > exact - 0.15 && est < exact + 0.15);
        double c = nw_fp_containment((float)est, fa.n_shingles, fb.n_shingles);
        assert_true(c >= est - 1e-6);
    }
    free(a);
    free(b);
}

static void test_containment_and_lede(void **state)
{
    (void)state;
    char *base = slurp("base.txt"), *upd = slurp("update.txt");
    nw_fp_t fb, fu;
    fp_text(base, &fb);
    fp_text(upd, &fu);
    float j = nw_fp_jaccard(&fb, &fu);
    assert_true(j > 0.6f && j < 0.95f);
    assert_true(nw_fp_containment(j, fb.n_shingles, fu.n_shingles) > 0.85f);
    assert_true(nw_fp_lede_jaccard(&fb, &fu) == 1.0f); /* same first 60 tokens */
    assert_true(nw_fp_term_cosine(&fb, &fu) > 0.6f);
    free(base);
    free(upd);
}

static void test_bands(void **state)
{
    (void)state;
    char *a = slurp("base.txt"), *c = slurp("correction.txt");
    nw_fp_t fa, fc;
    fp_text(a, &fa);
    fp_text(c, &fc);
    uint64_t ka[NW_FP_MAX_KEYS], kc[NW_FP_MAX_KEYS];
    assert_int_equal(nw_fp_band_keys(&fa, ka), NW_FP_MAX_KEYS);
    assert_int_equal(nw_fp_band_keys(&fc, kc), NW_FP_MAX_KEYS);
    int shared = 0;
    for (int i = 0; i < NW_FP_MAX_KEYS; i++)
        shared += ka[i] == kc[i];
    assert_true(shared > 0); /* a two-number correction still shares bands */
    /* band keys of different indexes never coincide for the same values */
    nw_fp_t e;
    fp_text("", &e);
    assert_true(e.flags & NW_FP_EMPTY);
    assert_int_equal(nw_fp_band_keys(&e, ka), 0);
    free(a);
    free(c);
}

static void test_templated_and_sets(void **state)
{
    (void)state;
    char *a = slurp("brief_a.txt"), *b = slurp("brief_b.txt");
    nw_fp_t fa, fb;
    fp_text(a, &fa);
    fp_text(b, &fb);
    assert_true(fa.flags & NW_FP_TEMPLATED);
    assert_true(fa.flags & NW_FP_SHORT);
    assert_int_equal(fa.n_nums, fb.n_nums);
    assert_int_equal(nw_fp_set_common(fa.nums, fa.n_nums, fb.nums, fb.n_nums), fa.n_nums);
    assert_true(nw_fp_set_common(fa.ents, fa.n_ents, fb.ents, fb.n_ents) < fa.n_ents);
    free(a);
    free(b);
}

static void test_serialization(void **state)
{
    (void)state;
    char *a = slurp("update.txt");
    nw_fp_t fa, back;
    nw_err_t err;
    fp_text(a, &fa);
    uint8_t buf[NW_FP_SER_MAX];
    size_t n = nw_fp_serialize(&fa, buf, sizeof buf);
    assert_int_equal(n, nw_fp_serialized_size(&fa));
    assert_true(nw_fp_deserialize(buf, n, &back, &err));
    assert_memory_equal(&fa, &back, sizeof fa);
    assert_false(nw_fp_deserialize(buf, n - 1, &back, &err));
    assert_int_equal(err.cls, NW_ERR_ROW);
    buf[2] = 99;
    assert_false(nw_fp_deserialize(buf, n, &back, &err));
    assert_int_equal(nw_fp_serialize(&fa, buf, 10), 0);
    free(a);
}

/* Stems are cached across items, per language: an item's fingerprint must
 * not depend on what the context fingerprinted before it. */
static void fp_lang(nw_fp_ctx_t *c, const char *body, const char *lang, nw_fp_t *fp)
{
    nw_err_t err;
    nw_fp_input_t in = {.body = body, .language = lang};
    assert_true(nw_fp_compute(c, NULL, &in, fp, &err));
}

static void test_term_cache(void **state)
{
    (void)state;
    static const char *const names[] = {"base.txt", "update.txt", "brief_a.txt", "brief_b.txt",
                                        "resend_reflowed.txt"};
    enum { NN = sizeof names / sizeof names[0] };
    char *texts[NN];
    for (size_t i = 0; i < NN; i++)
        texts[i] = slurp(names[i]);
    nw_fp_ctx_t *warm = nw_fp_ctx_new();
    assert_non_null(warm);
    nw_fp_t cold, hot;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < NN; i++) {
            nw_fp_ctx_t *fresh = nw_fp_ctx_new();
            assert_non_null(fresh);
            fp_lang(fresh, texts[i], "en", &cold);
            fp_lang(warm, texts[i], "en", &hot);
            assert_memory_equal(&cold, &hot, sizeof cold);
            nw_fp_ctx_free(fresh);
        }
    /* The same words in two languages stem differently ("chantaient" is
     * "chant" in French, itself in English; "les" is a French stop word). */
    const char *fr = "Les chanteurs chantaient les chansons des chanteuses dans les "
                     "salles pleines, et les chanteurs chantaient encore.";
    nw_fp_t en_fresh, fr_fresh, en_warm, fr_warm;
    nw_fp_ctx_t *a = nw_fp_ctx_new(), *b = nw_fp_ctx_new();
    assert_non_null(a);
    assert_non_null(b);
    fp_lang(a, fr, "en", &en_fresh);
    fp_lang(b, fr, "fr", &fr_fresh);
    assert_true(en_fresh.n_terms != fr_fresh.n_terms ||
                memcmp(en_fresh.terms, fr_fresh.terms, sizeof en_fresh.terms) != 0);
    fp_lang(warm, fr, "fr", &fr_warm);
    fp_lang(warm, fr, "en", &en_warm);
    assert_memory_equal(&en_fresh, &en_warm, sizeof en_fresh);
    assert_memory_equal(&fr_fresh, &fr_warm, sizeof fr_fresh);
    nw_fp_ctx_free(a);
    nw_fp_ctx_free(b);
    nw_fp_ctx_free(warm);
    for (size_t i = 0; i < NN; i++)
        free(texts[i]);
}

/* The term cosine against a plain scan of both term lists, over every pair
 * of the fixtures (related ones share terms, others share few). */
static float cosine_plain(const nw_fp_t *a, const nw_fp_t *b)
{
    double s = 0;
    for (int i = 0; i < a->n_terms; i++)
        for (int j = 0; j < b->n_terms; j++)
            if (a->terms[i].hash == b->terms[j].hash)
                s += (double)a->terms[i].w * b->terms[j].w;
    return (float)s;
}

static void test_term_cosine(void **state)
{
    (void)state;
    static const char *const names[] = {
        "base.txt",      "update.txt",         "brief_a.txt", "brief_a_corrected.txt",
        "brief_b.txt",   "correction.txt",     "related.txt", "truncated.txt",
        "unrelated.txt", "resend_reflowed.txt"};
    enum { NN = sizeof names / sizeof names[0] };
    nw_fp_t fp[NN];
    for (size_t i = 0; i < NN; i++) {
        char *t = slurp(names[i]);
        fp_text(t, &fp[i]);
        free(t);
    }
    int shared = 0;
    for (size_t i = 0; i < NN; i++)
        for (size_t j = 0; j < NN; j++) {
            float c = nw_fp_term_cosine(&fp[i], &fp[j]);
            assert_true(c == cosine_plain(&fp[i], &fp[j]));
            shared += i != j && c > 0.0f;
        }
    assert_true(shared > 0);
    assert_true(nw_fp_term_cosine(&fp[0], &fp[0]) > 0.99f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shingle_counts),
        cmocka_unit_test(test_exact_and_reflowed),
        cmocka_unit_test(test_minhash_accuracy),
        cmocka_unit_test(test_containment_and_lede),
        cmocka_unit_test(test_bands),
        cmocka_unit_test(test_templated_and_sets),
        cmocka_unit_test(test_serialization),
        cmocka_unit_test(test_term_cache),
        cmocka_unit_test(test_term_cosine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
