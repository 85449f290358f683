/*
 * Every fixture under tests/fixtures/formats/<format>/ parses to exactly its
 * <name>.expected.json, is detected as <format> by sniffing, and the AP
 * JSON + NITF halves merge in either order.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/formats.h"

#define FIX NW_FIXTURES "/formats"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t r = fread(buf, 1, (size_t)n, f);
    buf[r] = '\0';
    fclose(f);
    *len = r;
    return buf;
}

typedef struct {
    char format[64], agency[32], content_type[128], pair_key[128];
} opts_t;

static void read_opts(const char *base, opts_t *o)
{
    memset(o, 0, sizeof *o);
    char path[1100], line[256];
    snprintf(path, sizeof path, "%s.opts", base);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(line, "format"))
            snprintf(o->format, sizeof o->format, "%s", v);
        else if (!strcmp(line, "agency"))
            snprintf(o->agency, sizeof o->agency, "%s", v);
        else if (!strcmp(line, "content_type"))
            snprintf(o->content_type, sizeof o->content_type, "%s", v);
        else if (!strcmp(line, "pair_key"))
            snprintf(o->pair_key, sizeof o->pair_key, "%s", v);
    }
    fclose(f);
}

static nw_input_t input(const char *data, size_t len, const opts_t *o)
{
    nw_input_t in = {.data = data, .len = len};
    in.format = o->format[0] ? o->format : NULL;
    in.agency = o->agency[0] ? o->agency : NULL;
    in.content_type = o->content_type[0] ? o->content_type : NULL;
    in.pair_key = o->pair_key[0] ? o->pair_key : NULL;
    return in;
}

static int check_fixture(const char *dir, const char *file)
{
    char path[1024], base[1024], exp_path[1100];
    snprintf(path, sizeof path, "%s/%s/%s", FIX, dir, file);
    snprintf(base, sizeof base, "%s", path);
    char *dot = strrchr(base, '.');
    if (dot)
        *dot = '\0';
    snprintf(exp_path, sizeof exp_path, "%s.expected.json", base);
    opts_t o;
    read_opts(base, &o);
    size_t len = 0;
    char *data = slurp(path, &len);
    assert_non_null(data);
    nw_input_t in = input(data, len, &o);

    /* sniffing alone finds the format (the directory name) */
    if (!o.format[0]) {
        const char *det = nw_format_detect(&in);
        if (!det || strcmp(det, dir)) {
            fprintf(stderr, "%s: detected %s, want %s\n", path, det ? det : "(null)", dir);
            fail();
        }
    }
    nw_items_t items = {0};
    nw_err_t err;
    if (!nw_format_parse_all(&in, &items, &err)) {
        fprintf(stderr, "%s: %s: %s\n", path, err.code, err.msg);
        fail();
    }
    json_t *got = json_array();
    for (size_t i = 0; i < items.n; i++) {
        json_t *pair = json_object();
        json_object_set_new(pair, "item", nw_item_to_json(&items.v[i]));
        json_object_set(pair, "ninjs", items.v[i].ninjs);
        json_array_append_new(got, pair);
    }
    json_error_t je;
    json_t *want = json_load_file(exp_path, 0, &je);
    if (!want) {
        fprintf(stderr, "%s: %s\n", exp_path, je.text);
        fail();
    }
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        fprintf(stderr, "%s differs from %s; got:\n%s\n", path, exp_path, g);
        free(g);
        fail();
    }
    json_decref(got);
    json_decref(want);
    nw_items_free(&items);
    free(data);
    return 1;
}

static void test_all_fixtures(void **state)
{
    (void)state;
    int n = 0;
    const char *const *names = nw_format_names();
    for (size_t k = 0; names[k]; k++) {
        char d[512];
        snprintf(d, sizeof d, "%s/%s", FIX, names[k]);
        DIR *dir = opendir(d);
        assert_non_null(dir);
        int per = 0;
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.' || strstr(e->d_name, ".expected.json") ||
                strstr(e->d_name, ".opts"))
                continue;
            per += check_fixture(names[k], e->d_name);
        }
        closedir(dir);
        if (!per) {
            fprintf(stderr, "no fixture for format %s\n", names[k]);
            fail();
        }
        n += per;
    }
    assert_true(n >= 20);
}

static void parse_file(const char *rel, const char *pair_key, nw_item_t *it)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIX, rel);
    size_t len = 0;
    char *data = slurp(path, &len);
    assert_non_null(data);
    nw_input_t in = {.data = data, .len = len, .pair_key = pair_key};
    nw_err_t err;
    if (!nw_format_parse(&in, it, &err))
        fprintf(stderr, "%s: %s %s\n", rel, err.code, err.msg);
    free(data);
}

/* The pipeline's path: halves parsed separately, held, then merged. */
static void test_ap_merge(void **state)
{
    (void)state;
    nw_item_t meta, body, whole;
    nw_err_t err;
    parse_file("ap-media-json/item_text.json", NULL, &meta);
    parse_file("ap-nitf/story_ns.xml", "0f1e2d3c4b5a69788796a5b4c3d2e1f0.2", &body);
    assert_int_equal(meta.part, NW_PART_META);
    assert_int_equal(body.part, NW_PART_BODY);
    assert_string_equal(meta.pair_key, body.pair_key);
    assert_true(nw_format_ap_merge(&meta, &body, &whole, &err));
    assert_int_equal(whole.part, NW_PART_WHOLE);
    assert_string_equal(whole.story_id, "tag:ap.org,2011:0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    assert_string_equal(whole.version, "2");
    json_t *b = json_array_get(json_object_get(whole.ninjs, "bodies"), 0);
    assert_non_null(b);
    assert_non_null(strstr(json_string_value(json_object_get(b, "value")), "Residents stacked"));
    /* the JSON's fields win over the NITF's */
    assert_string_equal(json_string_value(json_object_get(whole.ninjs, "by")),
                        "By JANE ROWE, By OMAR PIKE");
    assert_string_equal(whole.headline, "Harbor town braces as storm & tide converge");
    assert_non_null(whole.body_text);
    assert_null(strstr(whole.body_text, "(AP)"));
    assert_null(strstr(whole.body_text, "can be reached"));
    assert_int_equal(whole.edit, NW_EDIT_UPDATE);

    /* wrong order of arguments and mismatched halves are refused */
    nw_item_t bad;
    assert_false(nw_format_ap_merge(&body, &meta, &bad, &err));
    assert_string_equal(err.code, "bad-pair");
    nw_item_free(&bad);
    nw_item_t other;
    parse_file("ap-nitf/story_ns.xml", "ffffffffffffffffffffffffffffffff.0", &other);
    assert_false(nw_format_ap_merge(&meta, &other, &bad, &err));
    assert_string_equal(err.code, "pair-mismatch");
    nw_item_free(&bad);
    nw_item_free(&other);
    nw_item_free(&whole);
    nw_item_free(&meta);
    nw_item_free(&body);
}

static void test_ap_merge_raw_either_order(void **state)
{
    (void)state;
    size_t lj = 0, ln = 0;
    char *j = slurp(FIX "/ap-media-json/item_text.json", &lj);
    char *x = slurp(FIX "/ap-nitf/story_ns.xml", &ln);
    nw_input_t ij = {.data = j, .len = lj}, ix = {.data = x, .len = ln};
    nw_item_t a, b;
    nw_err_t err;
    assert_true(nw_format_ap_merge_raw(&ij, &ix, &a, &err));
    assert_true(nw_format_ap_merge_raw(&ix, &ij, &b, &err));
    assert_true(json_equal(a.ninjs, b.ninjs));
    assert_string_equal(a.body_text, b.body_text);
    nw_item_free(&a);
    nw_item_free(&b);
    free(j);
    free(x);
}

static void test_parse_multi_item(void **state)
{
    (void)state;
    nw_item_t it;
    nw_err_t err;
    size_t len = 0;
    char *data = slurp(FIX "/ap-newsml-g2/message.xml", &len);
    nw_input_t in = {.data = data, .len = len};
    assert_false(nw_format_parse(&in, &it, &err));
    assert_string_equal(err.code, "multi-item");
    nw_item_free(&it);
    free(data);
}

/* Agencies spell the status their own way: any case, "cancelled", a scheme
 * prefix (G2 qcodes, Reuters' API), "embargoed"; anything else is usable. */
static void test_pubstatus_values(void **state)
{
    (void)state;
    static const struct {
        const char *value, *want;
    } cases[] = {{"usable", "usable"},          {"Canceled", "canceled"},
                 {"cancelled", "canceled"},     {"stat:canceled", "canceled"},
                 {"stat:WITHHELD", "withheld"}, {"embargoed", "withheld"},
                 {"stat:usable", "usable"},     {"draft", "usable"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[256];
        snprintf(doc, sizeof doc,
                 "{\"uri\": \"urn:test:ps\", \"version\": \"1\", \"type\": \"text\","
                 " \"pubstatus\": \"%s\", \"bodies\": [{\"role\": \"main\","
                 " \"contenttype\": \"text/plain\", \"value\": \"Text.\"}]}",
                 cases[i].value);
        nw_input_t in = {.data = doc, .len = strlen(doc), .format = "ninjs"};
        nw_item_t it;
        nw_err_t err;
        assert_true(nw_format_parse(&in, &it, &err));
        assert_string_equal(nw_pubstatus_name(it.pubstatus), cases[i].want);
        assert_string_equal(json_string_value(json_object_get(it.ninjs, "pubstatus")),
                            cases[i].want);
        nw_item_free(&it);
    }
}

static void test_headers(void **state)
{
    (void)state;
    const char *g2 = "<newsItem xmlns=\"http://iptc.org/std/nar/2006-10-01/\" guid=\"x:1\"/>";
    nw_input_t in = {.data = g2, .len = strlen(g2)};
    assert_null(nw_format_detect(&in)); /* generic G2: no agency to tell */
    in.agency = "Reuters";
    assert_string_equal(nw_format_detect(&in), "reuters-newsml-g2");
    in.agency = "AP";
    assert_string_equal(nw_format_detect(&in), "ap-newsml-g2");
    in.agency = NULL;
    in.format = "newsml-g2";
    assert_null(nw_format_detect(&in));
    in.agency = "reuters";
    assert_string_equal(nw_format_detect(&in), "reuters-newsml-g2");
    in.format = "NITF";
    assert_string_equal(nw_format_detect(&in), "ap-nitf");
    in.format = "anpa1312";
    assert_string_equal(nw_format_detect(&in), "ap-anpa");
    in.format = "no-such-format";
    assert_null(nw_format_detect(&in));
    nw_items_t l = {0};
    nw_err_t err;
    assert_false(nw_format_parse_all(&in, &l, &err));
    assert_string_equal(err.code, "unknown-format");
    assert_null(strchr(err.msg, '\n'));
    /* a header naming the wrong format: a clear reason, not a crash */
    in.format = "ap-anpa";
    assert_false(nw_format_parse_all(&in, &l, &err));
    assert_string_equal(err.code, "bad-format");
    in.format = "afp-api-json";
    assert_false(nw_format_parse_all(&in, &l, &err));
    assert_string_equal(err.code, "json-malformed");
    in.format = "ninjs";
    const char *js = "{\"headline\": \"no uri\"}";
    in.data = js;
    in.len = strlen(js);
    assert_false(nw_format_parse_all(&in, &l, &err));
    assert_string_equal(err.code, "missing-id");
    assert_int_equal(l.n, 0);
    nw_items_free(&l);
}

static void test_names(void **state)
{
    (void)state;
    const char *want[] = {"ap-media-json", "ap-nitf", "ap-newsml-g2", "ap-anpa",
                          "reuters-newsml-g2", "reuters-api-json", "afp-newsml-1.2",
                          "afp-newsml-2024", "afp-api-json", "ninjs", NULL};
    const char *const *got = nw_format_names();
    for (int i = 0; want[i]; i++)
        assert_string_equal(got[i], want[i]);
    assert_null(got[10]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fixtures),
        cmocka_unit_test(test_ap_merge),
        cmocka_unit_test(test_ap_merge_raw_either_order),
        cmocka_unit_test(test_parse_multi_item),
        cmocka_unit_test(test_pubstatus_values),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_names),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    nw_format_cleanup();
    return r;
}
