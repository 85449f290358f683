/* Unit tests for link: relation rules, guard, symmetry, ranking, cluster id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "link.h"

static nw_fp_ctx_t *ctx;

static void fp_file(const char *name, nw_fp_t *fp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/similarity/%s", NW_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    nw_err_t err;
    nw_fp_input_t in = {.body = buf, .language = "en"};
    assert_true(nw_fp_compute(ctx, NULL, &in, fp, &err));
}

static nw_link_meta_t meta(int64_t pk, const char *provider, const char *sid, int64_t t)
{
    nw_link_meta_t m = {.version_pk = pk, .story_pk = pk, .provider = provider, .story_id = sid,
                        .versioncreated = t};
    return m;
}

/* Decide (a newer than b) and check the relation is the same from both sides. */
static nw_rel_t rel_of(const char *newer, const char *older, const char *pn, const char *po,
                       nw_link_result_t *r)
{
    nw_fp_t a, b;
    fp_file(newer, &a);
    fp_file(older, &b);
    nw_link_meta_t ma = meta(2, pn, "s2", 1700003600), mb = meta(1, po, "s1", 1700000000);
    nw_link_result_t r2;
    nw_rel_t rel = nw_link_decide(NULL, &a, &ma, &b, &mb, r);
    assert_int_equal(nw_link_decide(NULL, &b, &mb, &a, &ma, &r2), rel);
    assert_true(r->a_is_newer);
    assert_false(r2.a_is_newer);
    return rel;
}

/* As rel_of, for inline text with headlines (newer a, older b). */
static nw_rel_t rel_text(const char *hn, const char *bn, const char *ho, const char *bo, const char *pn,
                         const char *po, bool correction, nw_link_result_t *r)
{
    nw_fp_t a, b;
    nw_err_t err;
    nw_fp_input_t in = {.headline = hn, .body = bn, .language = "en"};
    assert_true(nw_fp_compute(ctx, NULL, &in, &a, &err));
    in = (nw_fp_input_t){.headline = ho, .body = bo, .language = "en"};
    assert_true(nw_fp_compute(ctx, NULL, &in, &b, &err));
    nw_link_meta_t ma = meta(2, pn, "s2", 1700003600), mb = meta(1, po, "s1", 1700000000);
    ma.headline = hn;
    mb.headline = ho;
    ma.correction = correction;
    nw_link_result_t r2;
    nw_rel_t rel = nw_link_decide(NULL, &a, &ma, &b, &mb, r);
    assert_int_equal(nw_link_decide(NULL, &b, &mb, &a, &ma, &r2), rel);
    assert_true(r->a_is_newer);
    return rel;
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

static void test_relations(void **state)
{
    (void)state;
    nw_link_result_t r;
    assert_int_equal(rel_of("resend_reflowed.txt", "base.txt", "ap", "ap", &r), NW_REL_DUPLICATE);
    assert_string_equal(r.rule, "same-content");
    assert_int_equal(rel_of("update.txt", "base.txt", "ap", "ap", &r), NW_REL_UPDATE);
    assert_string_equal(r.rule, "adds-to");
    /* newer is a cut of the older: nothing new for subscribers */
    assert_int_equal(rel_of("truncated.txt", "base.txt", "ap", "ap", &r), NW_REL_DUPLICATE);
    assert_string_equal(r.rule, "cut");
    /* the older item is a cut of the newer: the newer adds to it */
    assert_int_equal(rel_of("base.txt", "truncated.txt", "ap", "ap", &r), NW_REL_UPDATE);
    /* changed figures are never a duplicate; same provider with the same lede is an update */
    assert_int_equal(rel_of("correction.txt", "base.txt", "ap", "ap", &r), NW_REL_UPDATE);
    /* ... and from another agency a near-duplicate */
    assert_int_equal(rel_of("correction.txt", "base.txt", "afp", "ap", &r), NW_REL_NEAR_DUPLICATE);
    assert_int_equal(rel_of("related.txt", "base.txt", "reuters", "ap", &r), NW_REL_RELATED);
    assert_true(r.s.cos >= 0.25f);
    assert_int_equal(rel_of("unrelated.txt", "base.txt", "ap", "ap", &r), NW_REL_NONE);
}

static void test_templated_guard(void **state)
{
    (void)state;
    nw_link_result_t r;
    /* two companies' briefs with the same figures share most shingles */
    nw_rel_t rel = rel_of("brief_b.txt", "brief_a.txt", "reuters", "reuters", &r);
    assert_true(r.s.j >= 0.5f);
    assert_true(r.s.guarded);
    assert_false(r.s.guard_ok);
    assert_true(rel == NW_REL_RELATED || rel == NW_REL_NONE);
    /* a corrected figure of the same company's brief still links */
    rel = rel_of("brief_a_corrected.txt", "brief_a.txt", "reuters", "reuters", &r);
    assert_true(r.s.guard_ok);
    assert_true(rel == NW_REL_UPDATE || rel == NW_REL_NEAR_DUPLICATE);
}

/* A short results brief whose next version adds one line (fewer shingles
 * than grow_min): the whole older brief is in the newer one, so the name the
 * line brings ("Figures") may be new; the numbers and other names are kept. */
static void test_short_brief_small_addition(void **state)
{
    (void)state;
    static const char *h = "NORTHWIND MARINE <NWM> 2ND QTR NET";
    static const char *old_body = "Qtr ended June 30\n\n"
                                  "Shr 41 cts vs 33 cts\n\nNet 2,480,000 vs 1,960,000\n\n"
                                  "Revs 31.7 mln vs 28.2 mln\n\nSix mths\n\n"
                                  "Shr 77 cts vs 61 cts\n\nNet 4,630,000 vs 3,700,000\n\n"
                                  "Revs 60.9 mln vs 54.4 mln";
    char new_body[512];
    snprintf(new_body, sizeof new_body, "%s\n\nFigures unaudited.", old_body);
    nw_link_result_t r;
    assert_int_equal(rel_text(h, new_body, h, old_body, "reuters", "reuters", false, &r), NW_REL_UPDATE);
    assert_true(r.s.guarded);
    assert_true(r.s.guard_ok);
    assert_string_equal(r.rule, "extends");
    /* another agency's copy with a line more is its copy, not a version */
    assert_int_equal(rel_text(h, new_body, h, old_body, "ap", "reuters", false, &r), NW_REL_NEAR_DUPLICATE);
    /* the line dropped again: two words are no cut, the brief changed */
    assert_int_equal(rel_text(h, old_body, h, new_body, "reuters", "reuters", false, &r), NW_REL_UPDATE);
}

/* A short story cut by its last sentence (fewer shingles than grow_min,
 * because it repeats an earlier one) is a duplicate; one word dropped from
 * the middle ("not") is an edit. */
static void test_short_cut(void **state)
{
    (void)state;
    static const char *h = "HARBOUR AUTHORITY DELAYS DREDGING";
    static const char *full = "The Port of Kellerby said it would delay the dredging of its main channel "
                              "until the autumn because the contractor had not secured a second vessel.\n\n"
                              "The channel handles about 40 pct of the port's container traffic, the "
                              "authority said, and ships would keep using it at reduced draught.\n\n"
                              "Ships would keep using it at reduced draught, the port said.";
    static const char *cut = "The Port of Kellerby said it would delay the dredging of its main channel "
                             "until the autumn because the contractor had not secured a second vessel.\n\n"
                             "The channel handles about 40 pct of the port's container traffic, the "
                             "authority said, and ships would keep using it at reduced draught.";
    static const char *edited = "The Port of Kellerby said it would delay the dredging of its main channel "
                                "until the autumn because the contractor had secured a second vessel.\n\n"
                                "The channel handles about 40 pct of the port's container traffic, the "
                                "authority said, and ships would keep using it at reduced draught.\n\n"
                                "Ships would keep using it at reduced draught, the port said.";
    nw_link_result_t r;
    assert_int_equal(rel_text(h, cut, h, full, "afp", "afp", false, &r), NW_REL_DUPLICATE);
    assert_string_equal(r.rule, "cut");
    assert_int_equal(rel_text(h, edited, h, full, "afp", "afp", false, &r), NW_REL_UPDATE);
}

/* Dividend briefs name the company in the headline only: two companies'
 * briefs with the same payout and close dates share the whole body. */
static void test_brief_headlines(void **state)
{
    (void)state;
    static const char *ha = "HOLLOWAY FOODS <HLF> SETS QUARTERLY";
    static const char *hb = "KESTREL ENERGY CORP <KEC> QTLY DIVIDEND";
    static const char *ba = "Qtly div 14 cts vs 14 cts prior\n\nPay May 15\n\nRecord April 30";
    static const char *bb = "Qtly div 14 cts vs 14 cts prior\n\nPay May 15\n\nRecord April 28";
    nw_link_result_t r;
    nw_rel_t rel = rel_text(hb, bb, ha, ba, "reuters", "reuters", false, &r);
    assert_true(r.s.j >= 0.5f); /* the body alone looks like a version */
    assert_true(r.s.guarded);
    assert_false(r.s.guard_ok);
    assert_true(rel == NW_REL_RELATED || rel == NW_REL_NONE);
    /* the same company's corrected brief keeps its headline and still links */
    char hc[96];
    snprintf(hc, sizeof hc, "CORRECTED - %s", ha);
    assert_int_equal(rel_text(hc, bb, ha, ba, "reuters", "reuters", true, &r), NW_REL_UPDATE);
    assert_true(r.s.guard_ok);
    /* no headline on one side: the body decides, as before */
    rel = rel_text(NULL, bb, ha, ba, "reuters", "reuters", false, &r);
    assert_true(r.s.guard_ok);
    assert_int_equal(rel, NW_REL_UPDATE);
}

static void test_rank_and_cluster(void **state)
{
    (void)state;
    nw_fp_t item, c[4];
    fp_file("update.txt", &item);
    fp_file("base.txt", &c[0]);
    fp_file("related.txt", &c[1]);
    fp_file("unrelated.txt", &c[2]);
    fp_file("truncated.txt", &c[3]);
    nw_link_meta_t mi = meta(50, "ap", "s50", 1700100000);
    nw_link_cand_t cands[4] = {
        {&c[0], meta(10, "ap", "s10", 1700000000)},
        {&c[1], meta(11, "reuters", "s11", 1700050000)},
        {&c[2], meta(12, "ap", "s12", 1700090000)},
        {&c[3], meta(50, "ap", "s50", 1700000000)}, /* own story: skipped */
    };
    cands[0].meta.cluster_id = 7;
    cands[1].meta.cluster_id = 9;
    nw_link_t links[8];
    size_t n = nw_link_rank(NULL, &item, &mi, cands, 4, links, 8);
    assert_int_equal(n, 2);
    assert_int_equal(links[0].cand, 0);
    assert_int_equal(links[0].r.rel, NW_REL_UPDATE);
    assert_int_equal(links[1].cand, 1);
    assert_int_equal(links[1].r.rel, NW_REL_RELATED);
    assert_int_equal(nw_link_cluster_id(NULL, &mi, cands, links, n), 7);
    /* no links: own story */
    assert_int_equal(nw_link_cluster_id(NULL, &mi, cands, links, 0), 50);
    assert_string_equal(nw_rel_link_name(NW_REL_DUPLICATE), "duplicate_of");
    assert_null(nw_rel_link_name(NW_REL_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_templated_guard),
        cmocka_unit_test(test_short_brief_small_addition),
        cmocka_unit_test(test_short_cut),
        cmocka_unit_test(test_brief_headlines),
        cmocka_unit_test(test_rank_and_cluster),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
