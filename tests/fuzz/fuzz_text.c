/* libFuzzer target for the text module: sanitizer, boilerplate, datelines, times. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    char *s = nw_text_utf8_clean((const char *)data, size, false, &bad, &n);
    if (!nw_text_utf8_valid(s, n))
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
