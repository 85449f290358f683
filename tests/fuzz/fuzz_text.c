/* libFuzzer target for the text module (sanitizer, boilerplate, datelines,
 * times) and the fingerprint of any text. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "text.h"
#include "timeparse.h"

/* true when some tag (text has '<' escaped, so every '<' opens one) carries an
 * on* attribute, or a script/style element survived */
static bool executable(const char *html)
{
    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        const char *end = strchr(p, '>');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!strncmp(p, "<script", 7) || !strncmp(p, "<style", 6))
            return true;
        for (size_t i = 0; i + 3 < n; i++)
            if (p[i] == ' ' && p[i + 1] == 'o' && p[i + 2] == 'n')
                return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int bad = 0;
    size_t n;
    char *s = nw_text_utf8_clean((const char *)data, size, true, &bad, &n);
    if (!nw_text_utf8_valid(s, n))
        abort();
    for (size_t i = 0; i < n; i++) /* no XML-illegal control left */
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            abort();
    free(s);
    s = nw_text_utf8_clean((const char *)data, size, false, &bad, &n);
    if (!nw_text_utf8_valid(s, n))
        abort();
    static nw_fp_ctx_t *fp_ctx;
    if (!fp_ctx && !(fp_ctx = nw_fp_ctx_new()))
        abort();
    nw_fp_t fp;
    nw_fp_input_t in = {.headline = "Fuzzed", .body = s, .body_len = n, .language = "en"};
    nw_err_t err = {0};
    if (!nw_fp_compute(fp_ctx, NULL, &in, &fp, &err) || fp.n_lede_shingles > fp.n_shingles)
        abort();
    nw_body_t b;
    nw_text_body_from_html(s, n, NW_HTML_SPLIT_LINES, &b);
    if (b.html && executable(b.html))
        abort();
    char *t = nw_text_strip_boilerplate(b.text);
    free(t);
    nw_body_free(&b);
    nw_text_body_from_plain(s, &b);
    nw_body_free(&b);
    char *p = nw_text_dateline_place(s);
    free(p);
    p = nw_text_body_dateline(s, "Reuters");
    free(p);
    p = nw_text_field(s);
    free(p);
    p = nw_text_nfc(s);
    free(p);
    int64_t ts;
    if (nw_time_parse(s, &ts)) {
        char buf[NW_TIME_BUFLEN];
        nw_time_format(ts, buf);
        int64_t back;
        if (!nw_time_parse(buf, &back) || back != ts)
            abort();
    }
    (void)nw_time_parse_anpa(s, &ts);
    (void)nw_text_word_count(s);
    free(s);
    return 0;
}
