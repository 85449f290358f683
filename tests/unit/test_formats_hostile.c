/*
 * Hostile input: every case ends in false + NW_ERR_INPUT with a short code
 * and a one-line message (or, where the payload is still news, a clean
 * parse), never a crash, a hang or a file/network access.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/formats.h"

static void expect_error(const char *data, size_t len, const char *format, const char *code)
{
    nw_input_t in = {.data = data, .len = len, .format = format};
    nw_items_t l = {0};
    nw_err_t err;
    bool ok = nw_format_parse_all(&in, &l, &err);
    if (ok || strcmp(err.code, code) != 0) {
        fprintf(stderr, "want %s, got %s: %s\n", code, ok ? "success" : err.code, ok ? "" : err.msg);
        fail();
    }
    assert_int_equal(err.cls, NW_ERR_INPUT);
    assert_null(strchr(err.msg, '\n'));
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(l.n, 0);
    nw_items_free(&l);
}

static void expect_str_error(const char *s, const char *format, const char *code)
{
    expect_error(s, strlen(s), format, code);
}

static const char *G2_HEAD =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<newsItem xmlns=\"http://iptc.org/std/nar/2006-10-01/\" guid=\"tag:reuters.com,2024:newsml_T1\" "
    "version=\"1\"><itemMeta><versionCreated>2024-01-01T00:00:00Z</versionCreated></itemMeta>"
    "<contentMeta><headline>";
static const char *G2_MID = "</headline></contentMeta><contentSet><inlineXML contenttype=\"application/xhtml+html\">"
                            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>";
static const char *G2_TAIL = "</p></body></html></inlineXML></contentSet></newsItem>";

static char *g2_with(const char *headline, const char *body)
{
    size_t n = strlen(G2_HEAD) + strlen(headline) + strlen(G2_MID) + strlen(body) + strlen(G2_TAIL) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s%s%s", G2_HEAD, headline, G2_MID, body, G2_TAIL);
    return s;
}

static void test_xxe(void **state)
{
    (void)state;
    expect_str_error("<?xml version=\"1.0\"?><!DOCTYPE nitf [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                     "<nitf><body><body.content><p>&x;</p></body.content></body></nitf>",
                     NULL, "xml-entity");
    expect_str_error("<?xml version=\"1.0\"?><!DOCTYPE nitf [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/x\">%p;]>"
                     "<nitf/>", "ap-nitf", "xml-entity");
    /* an external DTD is never fetched: the document parses without it */
    const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE nitf SYSTEM \"http://127.0.0.1:1/nitf.dtd\">"
                      "<nitf><head><docdata><date.issue norm=\"20240101T000000Z\"/></docdata></head>"
                      "<body><body.content><p>ok</p></body.content></body></nitf>";
    nw_input_t in = {.data = dtd, .len = strlen(dtd)};
    nw_item_t it;
    nw_err_t err;
    assert_true(nw_format_parse(&in, &it, &err));
    nw_item_free(&it);
}

static void test_entity_bomb(void **state)
{
    (void)state;
    char buf[4096] = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">";
    for (int i = 1; i <= 9; i++) {
        char line[256];
        snprintf(line, sizeof line, "<!ENTITY lol%d \"", i);
        strcat(buf, line);
        for (int k = 0; k < 10; k++) {
            snprintf(line, sizeof line, "&lol%s;", i == 1 ? "" : (char[]){(char)('0' + i - 1), 0});
            strcat(buf, line);
        }
        strcat(buf, "\">");
    }
    strcat(buf, "]><NewsML Version=\"1.2\"><NewsItem a=\"&lol9;\">&lol9;</NewsItem></NewsML>");
    expect_str_error(buf, NULL, "xml-entity");
}

static void test_deep_xml(void **state)
{
    (void)state;
    size_t n = 10000;
    char *body = malloc(n * 7 + 1), *p = body;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "<b>");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "</b>");
    char *doc = g2_with("deep", body);
    expect_str_error(doc, NULL, "too-deep");
    free(doc);
    free(body);
}

static void test_deep_json(void **state)
{
    (void)state;
    size_t n = 10000;
    char *s = malloc(n * 2 + 64), *p = s;
    p += sprintf(p, "{\"uri\":\"urn:x:1\",\"a\":");
    for (size_t i = 0; i < n; i++)
        *p++ = '[';
    for (size_t i = 0; i < n; i++)
        *p++ = ']';
    *p++ = '}';
    *p = '\0';
    expect_str_error(s, NULL, "too-deep");
    expect_str_error(s, "ninjs", "too-deep");
    free(s);
}

/* deep markup inside a JSON string (ninjs body_html): the HTML parser builds
 * the tree, the sanitizer stops at its depth limit */
static void test_deep_html_in_json(void **state)
{
    (void)state;
    size_t n = 10000;
    char *s = malloc(n * 7 + 128), *p = s;
    p += sprintf(p, "{\"uri\":\"urn:x:2\",\"body_html\":\"");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "<i>");
    p += sprintf(p, "x\"}");
    nw_input_t in = {.data = s, .len = strlen(s)};
    nw_items_t l = {0};
    nw_err_t err;
    (void)nw_format_parse_all(&in, &l, &err); /* either outcome, but no crash */
    nw_items_free(&l);
    free(s);
}

static void test_sizes(void **state)
{
    (void)state;
    /* a 10 MB body in many paragraphs parses */
    size_t n = 10u * 1024 * 1024;
    char *body = malloc(n + 1), *p = body;
    const char *para = "Words of a very long wire story.</p><p>";
    size_t pl = strlen(para);
    while ((size_t)(p - body) + pl < n - 16) {
        memcpy(p, para, pl);
        p += pl;
    }
    strcpy(p, "End.");
    char *doc = g2_with("big", body);
    nw_input_t in = {.data = doc, .len = strlen(doc)};
    nw_item_t it;
    nw_err_t err;
    assert_true(nw_format_parse(&in, &it, &err));
    assert_non_null(it.body_text);
    assert_true(strlen(it.body_text) > 5u * 1024 * 1024);
    nw_item_free(&it);
    free(doc);
    /* one 10 MB text node: libxml2's own limit, reported as too large */
    memset(body, 'a', n);
    body[n] = '\0';
    doc = g2_with("node", body);
    expect_str_error(doc, NULL, "too-large");
    free(doc);
    free(body);
    /* beyond NW_FORMAT_MAX_BYTES: refused before parsing */
    size_t big = NW_FORMAT_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    expect_error(huge, big, NULL, "too-large");
    expect_error(huge, big, "ninjs", "too-large");
    free(huge);
}

static void test_truncated(void **state)
{
    (void)state;
    char *doc = g2_with("t", "cut here");
    size_t full = strlen(doc);
    /* every prefix of a valid document: refused or parsed, never a crash */
    for (size_t k = 0; k < full; k += 7) {
        nw_input_t in = {.data = doc, .len = k};
        nw_items_t l = {0};
        nw_err_t err;
        if (!nw_format_parse_all(&in, &l, &err))
            assert_int_equal(err.cls, NW_ERR_INPUT);
        nw_items_free(&l);
    }
    expect_error(doc, full / 2, "reuters-newsml-g2", "xml-malformed");
    free(doc);
    const char *js = "{\"uri\": \"urn:x:1\", \"headlines\": [{\"value\": \"cut";
    expect_str_error(js, "ninjs", "json-malformed");
    expect_error("\x16\x16\x01z1\x1f", 6, NULL, "bad-format");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    /* XML declared UTF-8 with Latin-1 bytes: replaced and counted */
    char *doc = g2_with("Caf\xe9 \xff\xfe ok", "na\xefve \xc3(");
    nw_input_t in = {.data = doc, .len = strlen(doc)};
    nw_item_t it;
    nw_err_t err;
    assert_true(nw_format_parse(&in, &it, &err));
    assert_int_equal(it.invalid_bytes, 5);
    assert_string_equal(it.headline, "Caf\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD ok");
    nw_item_free(&it);
    free(doc);
    /* JSON with an overlong encoding and a lone continuation byte */
    const char *js = "{\"uri\":\"urn:x:3\",\"headline\":\"a\xc0\xaf b\x80\"}";
    in = (nw_input_t){.data = js, .len = strlen(js)};
    assert_true(nw_format_parse(&in, &it, &err));
    assert_int_equal(it.invalid_bytes, 3);
    nw_item_free(&it);
    /* control characters illegal in XML are dropped, not fatal */
    doc = g2_with("bell\x07here", "x");
    in = (nw_input_t){.data = doc, .len = strlen(doc)};
    assert_true(nw_format_parse(&in, &it, &err));
    assert_string_equal(it.headline, "bellhere");
    nw_item_free(&it);
    free(doc);
}

static void test_bad_fields(void **state)
{
    (void)state;
    expect_str_error("{\"uri\":\"urn:x:4\",\"versioncreated\":\"yesterday\"}", NULL, "bad-timestamp");
    expect_str_error("{\"uri\":\"urn:x:4\",\"versioncreated\":\"2024-02-30T10:00:00Z\"}", NULL,
                     "bad-timestamp");
    expect_str_error("{\"altids\":{\"itemid\":\"\"},\"version\":1}", "ap-media-json", "missing-id");
    expect_str_error("<NewsML Version=\"1.2\"><NewsItem><Identification><NewsIdentifier>"
                     "<RevisionId>x</RevisionId></NewsIdentifier></Identification></NewsItem></NewsML>",
                     NULL, "bad-version");
    expect_str_error("<newsItem xmlns=\"http://iptc.org/std/nar/2006-10-01/\" guid=\"tag:reuters.com,1:x\" "
                     "version=\"99999999999999999999999\"/>", NULL, "bad-version");
    expect_str_error("", NULL, "empty");
    expect_str_error("just some text", NULL, "unknown-format");
    expect_str_error("<html><body>not news</body></html>", NULL, "unknown-format");
    expect_str_error("[1,2,3]", "ninjs", "json-malformed");
    expect_error("{\"uri\":\"a\0b\"}", 12, "ninjs", "json-malformed");
}

/* Random bytes that happen to hold STX and ETX are not an ANPA item: 50,000
 * random messages once gave 14 "empty ANPA items" that were stored and
 * published. Seeded, so the test is repeatable. */
static void test_random_bytes_not_anpa(void **state)
{
    (void)state;
    unsigned int seed = 12345;
    char buf[512];
    int parsed = 0;
    for (int k = 0; k < 20000; k++) {
        size_t n = 16 + (size_t)(rand_r(&seed) % (sizeof buf - 16));
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rand_r(&seed) & 0xFF);
        if (k % 4 == 0) { /* make sure the control bytes are there */
            buf[rand_r(&seed) % 64] = 0x02;
            buf[n / 2 + (size_t)rand_r(&seed) % (n / 2)] = 0x03;
        }
        nw_input_t in = {.data = buf, .len = n};
        nw_items_t items = {0};
        nw_err_t err = {0};
        parsed += nw_format_parse_all(&in, &items, &err);
        nw_items_free(&items);
    }
    assert_int_equal(parsed, 0);
    expect_str_error("\x01\x02junk\x03", NULL, "unknown-format");
    expect_str_error("\x16\x16\x01 r a\n\x02 \t\x03", NULL, "unknown-format");
    expect_str_error("\x16\x16\x01 r a\n", NULL, "bad-format"); /* a header, no text block */
    expect_str_error("\x02^not a slug\n\tbody\n\x03", "ap-anpa", "bad-format");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xxe),          cmocka_unit_test(test_entity_bomb),
        cmocka_unit_test(test_deep_xml),     cmocka_unit_test(test_deep_json),
        cmocka_unit_test(test_deep_html_in_json), cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_truncated),    cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_fields),   cmocka_unit_test(test_random_bytes_not_anpa),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    nw_format_cleanup();
    return r;
}
