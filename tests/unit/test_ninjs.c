/* ninjs builders: schema shapes, dedupe, canonical order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ninjs.h"

static void test_builders(void **state)
{
    (void)state;
    json_t *o = json_object();
    nw_ninjs_set_str(o, "by", "");
    assert_null(json_object_get(o, "by"));
    nw_ninjs_set_field(o, "by", "  By  JANE &amp; JOE ");
    assert_string_equal(json_string_value(json_object_get(o, "by")), "By JANE & JOE");
    nw_ninjs_set_time(o, "versioncreated", 1700000000);
    assert_string_equal(json_string_value(json_object_get(o, "versioncreated")),
                        "2023-11-14T22:13:20Z");
    nw_ninjs_set_time(o, "embargoed", 0);
    assert_null(json_object_get(o, "embargoed"));
    nw_ninjs_add_headline(o, "main", "Head");
    nw_ninjs_add_headline(o, "main", "Head");
    nw_ninjs_add_headline(o, "main", "   ");
    assert_int_equal(json_array_size(json_object_get(o, "headlines")), 1);
    nw_ninjs_add_iptc_subject(o, "04008024", NULL);
    nw_ninjs_add_iptc_subject(o, "04008024", NULL);
    nw_ninjs_add_iptc_subject(o, "4008024", NULL);
    nw_ninjs_add_iptc_subject(o, "abcdefgh", NULL);
    nw_ninjs_add_concept(o, "subjects", "f", NULL, "f", "category", NULL);
    nw_ninjs_add_concept(o, "subjects", "f", NULL, "f", "category", NULL);
    json_t *subj = json_object_get(o, "subjects");
    assert_int_equal(json_array_size(subj), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(subj, 0), "uri")),
                        "http://cv.iptc.org/newscodes/subjectcode/04008024");
    json_t *g = nw_ninjs_add_concept(o, "genres", "Update", NULL, NULL, "ignored", "ignored");
    assert_null(json_object_get(g, "rel"));
    assert_null(json_object_get(g, "creator"));
    nw_ninjs_add_altid(o, "etag", "x_1");
    nw_ninjs_add_altid(o, "etag", "x_1");
    assert_int_equal(json_array_size(json_object_get(o, "altids")), 1);
    nw_ninjs_add_body(o, "main", "text/html", "<p>x</p>", 1);
    nw_ninjs_add_body(o, "main", "text/html", "", 1);
    assert_int_equal(json_array_size(json_object_get(o, "bodies")), 1);
    json_object_set_new(o, "uri", json_string("urn:x"));
    json_object_set_new(o, "x-private", json_string("dropped"));
    json_object_set_new(o, "places", json_array());
    json_t *c = nw_ninjs_canonical(o);
    const char *first = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(c, k, v)
    {
        if (!first)
            first = k;
    }
    assert_string_equal(first, "uri");
    assert_null(json_object_get(c, "x-private"));
    assert_null(json_object_get(c, "places"));
    json_decref(c);
    json_decref(o);
}

static void test_nfc(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:[{s:s}]}", "by", "Jose\xcc\x81", "headlines", "value", "Ame\xcc\x81lie");
    nw_ninjs_nfc(o);
    assert_string_equal(json_string_value(json_object_get(o, "by")), "Jos\xc3\xa9");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "headlines"), 0), "value")),
        "Am\xc3\xa9lie");
    json_decref(o);
}

/* a hostile item with half a million subjects must not take quadratic time */
static void test_member_cap(void **state)
{
    (void)state;
    json_t *o = json_object();
    char code[16];
    for (int i = 0; i < 200000; i++) {
        snprintf(code, sizeof code, "N2:X%d", i);
        nw_ninjs_add_concept(o, "subjects", NULL, NULL, code, NULL, NULL);
        nw_ninjs_add_altid(o, "x", code);
    }
    assert_int_equal(json_array_size(json_object_get(o, "subjects")), NW_NINJS_MAX_MEMBERS);
    assert_int_equal(json_array_size(json_object_get(o, "altids")), NW_NINJS_MAX_MEMBERS);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_builders), cmocka_unit_test(test_nfc),
                                       cmocka_unit_test(test_member_cap)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
