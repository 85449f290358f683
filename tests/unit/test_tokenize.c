/* Unit tests for tokenize: normalization, token classes, stemming, stop words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tokenize.h"

/* Split s and return the tokens joined by '|' into out. */
static const char *split_join(const char *s, nw_tokens_t *t, char *out, size_t cap)
{
    nw_err_t err;
    nw_tokens_reset(t);
    assert_true(nw_tok_split(s, strlen(s), t, &err));
    out[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        if (i)
            strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, nw_tok_text(t, i), cap - strlen(out) - 1);
    }
    return out;
}

static void test_normalization(void **state)
{
    (void)state;
    nw_tokens_t t;
    char buf[512];
    nw_tokens_init(&t);
    /* accents, case, dashes and typographic quotes, NFKC full-width forms */
    assert_string_equal(split_join("Café DÉJÀ-vu — “Quoted” ＡＢＣ１２３ Straße", &t, buf, sizeof buf),
                        "cafe|deja|vu|quoted|abc123|strasse");
    assert_true(t.v[0].flags & NW_TOKF_CAP);
    assert_true(t.v[1].flags & NW_TOKF_UPPER);
    assert_false(t.v[2].flags & NW_TOKF_CAP);
    assert_true(t.v[4].flags & NW_TOKF_DIGIT);
    /* decomposed input composes to the same tokens as precomposed */
    assert_string_equal(split_join("Cafe\xcc\x81 re\xcc\x81sume\xcc\x81", &t, buf, sizeof buf), "cafe|resume");
    nw_tokens_free(&t);
}

static void test_numbers_and_sentences(void **state)
{
    (void)state;
    nw_tokens_t t;
    char buf[512];
    nw_tokens_init(&t);
    assert_string_equal(split_join("Net profit 2,529,000 vs 12.1 mln. Revs rose 5.", &t, buf, sizeof buf),
                        "net|profit|2,529,000|vs|12.1|mln|revs|rose|5");
    assert_true(t.v[0].flags & NW_TOKF_INITIAL);
    assert_false(t.v[1].flags & NW_TOKF_INITIAL);
    assert_true(t.v[6].flags & NW_TOKF_INITIAL); /* after "mln." */
    assert_true(t.v[2].flags & NW_TOKF_DIGIT);
    /* a comma after a number is not part of it */
    assert_string_equal(split_join("in 1986, profit", &t, buf, sizeof buf), "in|1986|profit");
    nw_tokens_free(&t);
}

static void test_cjk_thai_bigrams(void **state)
{
    (void)state;
    nw_tokens_t t;
    char buf[512];
    nw_tokens_init(&t);
    assert_string_equal(split_join("東京都知事 Tokyo", &t, buf, sizeof buf), "東京|京都|都知|知事|tokyo");
    assert_true(t.v[0].flags & NW_TOKF_CJK);
    assert_string_equal(split_join("ไทย", &t, buf, sizeof buf), "ไท|ทย");
    assert_string_equal(split_join("中", &t, buf, sizeof buf), "中");
    nw_tokens_free(&t);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    nw_tokens_t t;
    char buf[512];
    nw_tokens_init(&t);
    assert_string_equal(split_join("abc\xff\xfe" "def \xc3", &t, buf, sizeof buf), "abc|def");
    nw_tokens_free(&t);
}

static void test_stem_and_stop(void **state)
{
    (void)state;
    nw_tokctx_t *ctx = nw_tok_ctx_new();
    assert_non_null(ctx);
    nw_lang_t *en = nw_tok_lang(ctx, "en-GB");
    assert_string_equal(nw_tok_lang_name(en), "english");
    assert_true(nw_tok_is_stop(en, "the", 3));
    assert_false(nw_tok_is_stop(en, "harbour", 7));
    size_t n;
    const char *s = nw_tok_stem(en, "running", 7, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "run", 3);
    nw_lang_t *fr = nw_tok_lang(ctx, "fr");
    assert_string_equal(nw_tok_lang_name(fr), "french");
    s = nw_tok_stem(fr, "continuellement", 15, &n);
    assert_true(n < 15);
    /* unknown or missing language: English */
    assert_ptr_equal(nw_tok_lang(ctx, "xx"), en);
    assert_ptr_equal(nw_tok_lang(ctx, NULL), en);
    nw_tok_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_numbers_and_sentences),
        cmocka_unit_test(test_cjk_thai_bigrams),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_stem_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
