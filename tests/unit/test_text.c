/* text and timeparse: the building blocks every parser relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "text.h"
#include "timeparse.h"

static void time_is(const char *s, const char *want)
{
    int64_t t;
    if (!nw_time_parse(s, &t)) {
        fprintf(stderr, "did not parse: %s\n", s);
        fail();
    }
    char buf[NW_TIME_BUFLEN];
    nw_time_format(t, buf);
    assert_string_equal(buf, want);
}

static void test_time_forms(void **state)
{
    (void)state;
    time_is("2018-02-26T21:20:36Z", "2018-02-26T21:20:36Z");
    time_is("2017-01-31T03:47:29.000Z", "2017-01-31T03:47:29Z");
    time_is("2016-10-21T16:25:32-05:00", "2016-10-21T21:25:32Z");
    time_is("20140829T134951+0000", "2014-08-29T13:49:51Z");
    time_is("20240710T125902Z", "2024-07-10T12:59:02Z");
    time_is("2014-07-16 15:53:10 GMT+00:00", "2014-07-16T15:53:10Z");
    time_is("  2018-03-01T18:34:39.924Z\n  ", "2018-03-01T18:34:39Z");
    time_is("2024-03-31T01:30:00+05:30", "2024-03-30T20:00:00Z");
    time_is("20240101T003000+0100", "2023-12-31T23:30:00Z");
    time_is("2024-02-29T12:00:00+02", "2024-02-29T10:00:00Z");
    time_is("2024-01-01 00:00:00 UTC", "2024-01-01T00:00:00Z");
    int64_t t;
    assert_true(nw_time_parse_anpa("AP-WF-02-20-16 0337GMT<", &t));
    char buf[NW_TIME_BUFLEN];
    nw_time_format(t, buf);
    assert_string_equal(buf, "2016-02-20T03:37:00Z");
    const char *bad[] = {"", "yesterday", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                         "2024-01-01T25:00:00Z", "2024-01-01T10:00:00", "2024-01-01T10:00:00+25:00",
                         "2024-01-01T10:00:00Z trailing", "20240101", "2024-01-01T10:00:00.Z", NULL};
    for (int i = 0; bad[i]; i++)
        assert_false(nw_time_parse(bad[i], &t));
    assert_false(nw_time_parse_anpa("no trailer here", &t));
    nw_time_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    nw_time_format(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
}

static void test_utf8(void **state)
{
    (void)state;
    int bad = 0;
    size_t n;
    char *s = nw_text_utf8_clean("ok \xe9t\xc3\xa9 \xed\xa0\x80 \xf0\x9f\x98\x80", 16, false, &bad, &n);
    assert_string_equal(s, "ok \xEF\xBF\xBDt\xc3\xa9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xf0\x9f\x98\x80");
    assert_int_equal(bad, 4);
    free(s);
    bad = 0;
    s = nw_text_utf8_clean("a\x01" "b\tc", 5, true, &bad, NULL);
    assert_string_equal(s, "ab\tc");
    assert_int_equal(bad, 1);
    free(s);
    assert_true(nw_text_utf8_valid("caf\xc3\xa9", 5));
    assert_false(nw_text_utf8_valid("caf\xe9", 4));
    s = nw_text_latin1_to_utf8("D\xe9" "c\xe8s", 5, &n);
    assert_string_equal(s, "D\xc3\xa9" "c\xc3\xa8s");
    free(s);
    /* NFC: e + combining acute -> U+00E9 */
    s = nw_text_nfc("Cafe\xcc\x81");
    assert_string_equal(s, "Caf\xc3\xa9");
    free(s);
    /* NFC already when no code point reaches U+0300, wherever the first one
     * that does stands (the scan takes plain ASCII eight bytes at a time) */
    assert_true(nw_text_nfc_trivially(""));
    assert_true(nw_text_nfc_trivially("Caf\xc3\xa9 au lait, na\xc3\xafve \xca\xbb"));
    char mark[40];
    for (size_t at = 0; at < 30; at++) {
        memset(mark, 'e', sizeof mark - 1);
        mark[sizeof mark - 1] = '\0';
        assert_true(nw_text_nfc_trivially(mark));
        memcpy(mark + at, "\xcc\x81", 2);
        assert_false(nw_text_nfc_trivially(mark));
    }
    /* the fast path (every code point below U+0300) agrees with utf8proc for
     * each such code point, and text past it still gets normalized */
    for (unsigned cp = 1; cp < 0x300; cp++) {
        char in[8];
        snprintf(in, sizeof in, cp < 0x80 ? "a%c" : "a%c%c", cp < 0x80 ? (int)cp : 0xC0 | (int)(cp >> 6),
                 0x80 | (int)(cp & 0x3F));
        utf8proc_uint8_t *want = utf8proc_NFC((const utf8proc_uint8_t *)in);
        s = nw_text_nfc(in);
        assert_string_equal(s, (const char *)want);
        free(s);
        free(want);
    }
    s = nw_text_nfc("Caf\xc3\xa9 \xe2\x84\xa6"); /* U+2126 OHM SIGN -> U+03A9 */
    assert_string_equal(s, "Caf\xc3\xa9 \xce\xa9");
    free(s);
    s = nw_text_nfc("A\xcc\x8a \xe2\x80\x99"); /* A + ring above, right quote */
    assert_string_equal(s, "\xc3\x85 \xe2\x80\x99");
    free(s);
}

static void test_fields(void **state)
{
    (void)state;
    char *s = nw_text_field("  Smith &amp; Sons &eacute;t&#233; &#x2014; &bogus; &#0; \n end ");
    assert_string_equal(s, "Smith & Sons \xc3\xa9t\xc3\xa9 \xe2\x80\x94 &bogus; \xEF\xBF\xBD end");
    free(s);
    assert_null(nw_text_squash(" \t\n "));
    s = nw_text_squash("a\xc2\xa0\xc2\xa0 b");
    assert_string_equal(s, "a b");
    free(s);
}

static void place_is(const char *dateline, const char *want)
{
    char *p = nw_text_dateline_place(dateline);
    if (!want)
        assert_null(p);
    else
        assert_string_equal(p, want);
    free(p);
}

static void test_dateline(void **state)
{
    (void)state;
    place_is("STOCKHOLM, Aug 29, 2014 (AFP) -", "STOCKHOLM");
    place_is("Gaza City, Palestinian Territories, May 16, 2021 (AFP) -",
             "Gaza City, Palestinian Territories");
    place_is("Strasbourg, 10 juil 2024 (AFP)", "Strasbourg");
    place_is("Jan 30 (Reuters) -", NULL);
    place_is("FORT WASHINGTON, Pa.", "FORT WASHINGTON, Pa.");
    place_is("", NULL);
    char *p = nw_text_body_dateline("By Someone\nLIMA, Jan 21 (Reuters) - Text", "Reuters");
    assert_string_equal(p, "LIMA");
    free(p);
    p = nw_text_body_dateline("NEW YORK (AP) \xe2\x80\x94 The gas", "AP");
    assert_string_equal(p, "NEW YORK");
    free(p);
    p = nw_text_body_dateline("ATLANTA (AP) _ Luol", "AP");
    assert_string_equal(p, "ATLANTA");
    free(p);
    assert_null(nw_text_body_dateline("April 14 (Reuters) - Liverpool", "Reuters"));
    assert_null(nw_text_body_dateline("He said (Reuters) reported it.", "Reuters"));
}

static void strip_is(const char *in, const char *want)
{
    char *s = nw_text_strip_boilerplate(in);
    if (!want)
        assert_null(s);
    else if (!s || strcmp(s, want)) {
        fprintf(stderr, "got: [%s]\nwant: [%s]\n", s ? s : "(null)", want);
        fail();
    }
    free(s);
}

static void test_boilerplate(void **state)
{
    (void)state;
    strip_is("(Adds quotes)\nBy Jo Bloggs\nLIMA, Jan 21 (Reuters) - Text one.\nText two.\n"
             "(Reporting by Jo Bloggs; Editing by Al Smith)",
             "Text one.\nText two.");
    strip_is("STOCKHOLM, Aug 29, 2014 (AFP) - First.\nSecond.\nhh/ph/ts/hd", "First.\nSecond.");
    strip_is("Para.\nbur-dar-gl/fz", "Para.");
    strip_is("KNOXVILLE, Tenn. (AP) _ Earnings.\n_____\nThis story was generated by X.", "Earnings.");
    strip_is("NEW YORK (AP) \xe2\x80\x94 Story.\n___\nJane can be reached at x", "Story.");
    strip_is("Game.\n___\nTIP-INS\nNotes.", "Game.\nTIP-INS\nNotes.");
    strip_is("Body.\n\xc2\xa9 2024 AFP", "Body.");
    strip_is("(Additional reporting by A in B; Writing by C; Editing by D)", NULL);
    /* the words themselves are kept */
    strip_is("Prices rose (Reuters data showed) by 2%.", "Prices rose (Reuters data showed) by 2%.");
    strip_is("By the end of the day, prices rose.", "By the end of the day, prices rose.");
}

/* The cleaning, one byte at a time, as the definition to hold the word-wide
 * scan of ASCII runs to: valid sequences kept, each bad byte a U+FFFD, the
 * XML-illegal controls (with ctl) and NUL dropped or replaced alike. */
static size_t ref_clean(const unsigned char *s, size_t len, bool ctl, char *out, int *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        int n = 0;
        if (c) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
            n = k > 0 ? (int)k : 0;
        }
        if (n && !(ctl && c < 0x20 && c != '\t' && c != '\n' && c != '\r')) {
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
            continue;
        }
        if (!(ctl && c && c < 0x20)) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        (*bad)++;
        i++;
    }
    return o;
}

static void test_utf8_runs(void **state)
{
    (void)state;
    /* one odd byte or sequence at every offset of a 40-byte ASCII run (the
     * scan takes 8 bytes at a time), with and without the control rule */
    static const char *const odd[] = {"\x01",
                                      "\t",
                                      "\n",
                                      "\r",
                                      "\x1f",
                                      "",
                                      "\x7f",
                                      "\xc3\xa9",
                                      "\xe9",
                                      "\xed\xa0\x80",
                                      "\xf0\x9f\x98\x80",
                                      "\xf0\x9f"};
    char in[64], want[256];
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        size_t ol = strlen(odd[k]) ? strlen(odd[k]) : 1; /* "" stands for a NUL byte */
        for (size_t at = 0; at <= 40; at++) {
            for (int ctl = 0; ctl < 2; ctl++) {
                memset(in, 'a' + (int)(at % 26), 40);
                memmove(in + at + ol, in + at, 40 - at);
                memcpy(in + at, strlen(odd[k]) ? odd[k] : "\0", ol);
                size_t len = 40 + ol, n;
                int bad = 0, want_bad = 0;
                size_t wl = ref_clean((const unsigned char *)in, len, ctl, want, &want_bad);
                char *got = nw_text_utf8_clean(in, len, ctl, &bad, &n);
                assert_int_equal(n, wl);
                assert_memory_equal(got, want, wl);
                assert_int_equal(bad, want_bad);
                free(got);
            }
        }
    }
}

static void test_words(void **state)
{
    (void)state;
    assert_int_equal(nw_text_word_count("One two, three -- four\nfive"), 5);
    assert_int_equal(nw_text_word_count(""), 0);
    assert_int_equal(nw_text_word_count(NULL), 0);
    /* every white space of the C locale ends a word; a word needs a letter
     * or a digit (any byte of a multibyte character is one) */
    assert_int_equal(nw_text_word_count("a\tb\vc\fd\re  f\n"), 6);
    assert_int_equal(nw_text_word_count(" -- ... 42 \xc3\xa9t\xc3\xa9 \xe2\x80\x94 x-y "), 4);
    assert_int_equal(nw_text_word_count("\x01\x02 _ ~"), 0);
}

static void test_sanitize(void **state)
{
    (void)state;
    const char *html = "<div onclick=\"x()\"><p style=\"a\">A <b>b</b> <a href=\"javascript:x\">l</a> "
                       "<a href=\"https://e.org/?a=1&amp;b=2\">m</a></p><script>bad()</script>"
                       "<style>p{}</style><p></p><ul><li>one</li><li>two</li></ul>"
                       "<iframe src=\"x\">f</iframe><p>x &lt; y</p></div>";
    nw_body_t b;
    nw_text_body_from_html(html, strlen(html), 0, &b);
    assert_string_equal(b.html, "<div><p>A <b>b</b> <a>l</a> <a href=\"https://e.org/?a=1&amp;b=2\">m</a></p>"
                                "<ul><li>one</li><li>two</li></ul><p>x &lt; y</p></div>");
    assert_string_equal(b.text, "A b l m\none\ntwo\nx < y");
    nw_body_free(&b);
    nw_text_body_from_plain("\tFirst para\ncontinued.\n\tSecond & last.", &b);
    assert_string_equal(b.html, "<p>First para continued.</p><p>Second &amp; last.</p>");
    assert_string_equal(b.text, "First para continued.\nSecond & last.");
    assert_int_equal(b.paragraphs, 2);
    nw_body_free(&b);
    nw_text_body_from_html("", 0, 0, &b);
    assert_null(b.html);
    nw_body_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_forms), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_runs),  cmocka_unit_test(test_fields),
        cmocka_unit_test(test_dateline),   cmocka_unit_test(test_boilerplate),
        cmocka_unit_test(test_words),      cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
