/* Unit tests for event: stable ids, body shape, item stub. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

static void test_ids_are_stable_and_distinct(void **state)
{
    (void)state;
    unsigned char a[16], b[16];
    char ta[37], tb[37];
    nw_event_id("reuters", "tag:x", "5", "new", a, ta);
    nw_event_id("reuters", "tag:x", "5", "new", b, tb);
    assert_memory_equal(a, b, 16);
    assert_string_equal(ta, tb);
    assert_int_equal(strlen(ta), 36);
    assert_int_equal(ta[14], '8');                  /* UUID version 8 */
    assert_true(strchr("89ab", ta[19]) != NULL);    /* RFC 9562 variant */
    /* every field matters, and field boundaries too */
    const char *variants[][4] = {{"ap", "tag:x", "5", "new"},
                                 {"reuters", "tag:y", "5", "new"},
                                 {"reuters", "tag:x", "6", "new"},
                                 {"reuters", "tag:x", "5", "updated"},
                                 {"reuters", "tag:x5", "", "new"}};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        nw_event_id(variants[i][0], variants[i][1], variants[i][2], variants[i][3], b, tb);
        assert_string_not_equal(ta, tb);
    }
}

static nw_item_t make_item(void)
{
    nw_item_t it;
    nw_item_init(&it);
    snprintf(it.provider, sizeof it.provider, "afp");
    snprintf(it.format, sizeof it.format, "afp-newsml-1.2");
    it.story_id = strdup("urn:newsml:afp.com:1:X");
    it.version = strdup("2");
    it.versioncreated = 1700000000;
    json_object_set_new(it.ninjs, "uri", json_string(it.story_id));
    json_object_set_new(it.ninjs, "version", json_string("2"));
    json_object_set_new(it.ninjs, "headlines",
                        json_pack("[{s:s, s:s}]", "role", "main", "value", "Headline"));
    json_object_set_new(it.ninjs, "bodies",
                        json_pack("[{s:s, s:s}]", "role", "main", "value", "<p>long body</p>"));
    return it;
}

static void test_body(void **state)
{
    (void)state;
    nw_item_t it = make_item();
    json_t *prev = json_pack("{s:I, s:s}", "version_pk", (json_int_t)4, "version", "1");
    nw_event_in_t in = {.kind = "updated", .id = "x", .time = "2026-01-01T00:00:00.000Z",
                        .item = &it, .story_pk = 3, .version_pk = 5, .cluster_id = 2,
                        .topic = "wire.raw", .partition = 1, .offset = 9, .previous = prev};
    size_t len = 0;
    char *s = nw_event_body(&in, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "newswire.item.updated");
    assert_int_equal(json_integer_value(json_object_get(o, "cluster_id")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "versioncreated")),
                        "2023-11-14T22:13:20Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "source"), "offset")), 9);
    assert_true(json_equal(json_object_get(o, "item"), it.ninjs));
    assert_null(json_object_get(o, "item_omitted"));
    assert_true(json_is_array(json_object_get(o, "links")));
    json_decref(o);

    /* with the item's text made once (nw_item_ninjs_text, as the store does):
     * the same bytes, and the item is that text */
    size_t tlen = 0;
    const char *text = nw_item_ninjs_text(&it, &tlen);
    assert_non_null(text);
    assert_int_equal(tlen, strlen(text));
    assert_ptr_equal(nw_item_ninjs_text(&it, NULL), text); /* made once */
    size_t len2 = 0;
    char *s2 = nw_event_body(&in, &len2);
    assert_int_equal(len2, len);
    assert_string_equal(s2, s);
    char *tail = s2 + len2 - tlen - 1;
    assert_memory_equal(tail, text, tlen);
    assert_string_equal(tail + tlen, "}");
    free(s2);
    free(s);

    /* too big for the broker: a stub that still names the story */
    in.omit_item = true;
    s = nw_event_body(&in, &len);
    o = json_loads(s, 0, &je);
    assert_true(json_is_true(json_object_get(o, "item_omitted")));
    json_t *stub = json_object_get(o, "item");
    assert_string_equal(json_string_value(json_object_get(stub, "uri")), it.story_id);
    assert_null(json_object_get(stub, "bodies"));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(stub, "headlines"), 0),
                                          "value")),
        "Headline");
    json_decref(o);
    free(s);
    json_decref(prev);
    nw_item_free(&it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_stable_and_distinct),
        cmocka_unit_test(test_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
