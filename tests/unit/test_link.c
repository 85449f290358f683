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
        cmocka_unit_test(test_rank_and_cluster),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
