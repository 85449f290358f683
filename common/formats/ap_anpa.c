/*
 * ap-anpa: AP's ANPA 1312 (legacy, Latin-1 with control codes).
 *
 *   SYN SYN SOH <svc+seq> US <selector> LF <pri> <cat> DC3 DC1 <keyword> <take> <date> <words> CRLF
 *   STX ^<slug>,<words>< ^<headline>< ^Eds: ...< ^By NAME= ... TAB-indented paragraphs
 *   ETX <trailer "AP-WF-02-20-16 0337GMT"> EOT
 *
 * ANPA has no story id, version or language (wire-formats.md 11.8): the item
 * gets a content hash of the text between STX and ETX as its id
 * (synthetic_id), which catches exact re-sends only; chaining updates is
 * left to the similarity stage (keyword + take key). versioncreated is the
 * ETX trailer time (GMT). Bytes are Latin-1 unless they are valid UTF-8 with
 * multi-byte sequences or a content-type charset says otherwise.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* AP editorial priority letters -> urgency (CP's PRIORITY_MAP) */
static int urgency_of(char c)
{
    static const char letters[] = "fburdwas";
    const char *p = c ? strchr(letters, c) : NULL;
    return p ? (int)(p - letters) + 1 : 0;
}

/* slug desk -> IPTC subject code, as Superdesk's ap_anpa parser does for sports */
static const char *desk_iptc(const char *desk)
{
    static const char *const map[][2] = {
        {"BKN", "15008000"}, {"BKC", "15008000"}, {"BKW", "15008000"}, {"BKL", "15008000"},
        {"BBN", "15007000"}, {"BBA", "15007000"}, {"BBC", "15007000"}, {"BBO", "15007000"},
        {"FBN", "15003000"}, {"FBC", "15003000"}, {"FBO", "15003000"}, {"HKN", "15031000"},
        {"HKO", "15031000"}, {"SOC", "15054000"}, {"GLF", "15027000"}, {"GLO", "15027000"},
        {"TEN", "15065000"}, {"CAR", "15039000"}, {"BOX", "15014000"}, {"RAC", "15030000"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(desk, map[i][0]))
            return map[i][1];
    return NULL;
}

/* Text of one ANPA line without control bytes and the <, = terminators. */
static char *clean_line(const char *s, size_t n)
{
    nw_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t')
            continue;
        nw_sbuf_putc(&b, (char)c);
    }
    char *raw = nw_sbuf_take(&b);
    size_t len = strlen(raw);
    while (len && (raw[len - 1] == ' ' || raw[len - 1] == '\t'))
        raw[--len] = '\0';
    if (len && (raw[len - 1] == '<' || raw[len - 1] == '='))
        raw[--len] = '\0';
    char *r = nw_text_squash(raw);
    free(raw);
    return r;
}

/* An ANPA slug line: "^" then printable ASCII, ending in "<" or "=" (before
 * any CR or trailing blanks). What random bytes practically never are. */
static bool is_slug_line(const char *p, size_t n)
{
    while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n < 3 || p[0] != '^' || (p[n - 1] != '<' && p[n - 1] != '='))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7E)
            return false;
    return true;
}

static char *decode(const nw_input_t *in, int *invalid)
{
    const char *cs = in->content_type ? strcasestr(in->content_type, "charset=") : NULL;
    bool utf8 = cs ? !strncasecmp(cs + 8, "utf-8", 5) || !strncasecmp(cs + 8, "utf8", 4)
                   : nw_text_utf8_valid(in->data, in->len);
    if (utf8)
        return nw_text_utf8_clean(in->data, in->len, false, invalid, NULL);
    return nw_text_latin1_to_utf8(in->data, in->len, NULL);
}

bool nw_fmt_ap_anpa(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    int invalid = 0;
    const char *stx = memchr(in->data, 0x02, in->len);
    const char *etx = stx ? memchr(stx, 0x03, in->len - (size_t)(stx - in->data)) : NULL;
    if (!stx || !etx)
        return nw_err_set(err, NW_ERR_INPUT, "bad-format", "ANPA without STX/ETX text block");
    char *text = decode(in, &invalid);
    /* positions stay aligned only for ASCII; re-find the markers in the decoded text */
    char *s = strchr(text, 0x02), *e = s ? strchr(s, 0x03) : NULL;
    if (!s || !e) {
        free(text);
        return nw_err_set(err, NW_ERR_INPUT, "bad-format", "ANPA without STX/ETX text block");
    }
    nw_item_t *it = nw_items_add(out);
    json_t *o = it->ninjs;
    snprintf(it->provider, sizeof it->provider, "ap");
    it->invalid_bytes = invalid;
    it->synthetic_id = true;
    it->story_id = nw_fmt_hash_id("ap", s, (size_t)(e - s));
    it->version = nw_fmt_strdup("");

    /* header line before STX: "<pri> <cat>\x13\x11 <keyword> <take> <date> <words>" */
    char pri = 0, cat = 0;
    const char *hdr = strchr(text, '\n');
    if (hdr && hdr < s) {
        const char *h = hdr + 1;
        if (isalpha((unsigned char)h[0]) && h[1] == ' ' && isalpha((unsigned char)h[2])) {
            pri = h[0];
            cat = h[2];
        }
    }
    if (urgency_of(pri))
        json_object_set_new(o, "urgency", json_integer(urgency_of(pri)));
    if (cat) {
        char lit[2] = {cat, 0};
        nw_ninjs_add_concept(o, "subjects", NULL, NULL, lit, "category", NULL);
    }
    int64_t t;
    if (nw_time_parse_anpa(e, &t))
        it->versioncreated = t;

    /* the text block, line by line */
    nw_sbuf_t body = {0};
    bool have_slug = false, have_hl = false;
    for (char *p = s + 1; p < e;) {
        char *eol = memchr(p, '\n', (size_t)(e - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(e - p);
        while (n && (unsigned char)*p < 0x20 && *p != '\t') {
            p++;
            n--;
        }
        if (n && *p == '^' && (have_slug || is_slug_line(p, n))) {
            char *line = clean_line(p + 1, n - 1);
            if (!line) {
            } else if (!have_slug) {
                /* "BC-BKN--Heat-Hawks, 1st Ld-Writethru,416": drop the word count */
                char *c = strrchr(line, ',');
                if (c && c[1] && strspn(c + 1, "0123456789") == strlen(c + 1))
                    *c = '\0';
                nw_ninjs_set_str(o, "slugline", line);
                char desk[8] = "";
                const char *d = !strncmp(line, "BC-", 3) || !strncmp(line, "AP-", 3) ? line + 3 : line;
                size_t dl = strcspn(d, "-");
                if (dl > 0 && dl < sizeof desk && d[dl] == '-' && d[dl + 1] == '-') {
                    memcpy(desk, d, dl);
                    desk[dl] = '\0';
                    nw_ninjs_add_concept(o, "subjects", NULL, NULL, desk, "desk", NULL);
                    nw_ninjs_add_iptc_subject(o, desk_iptc(desk), NULL);
                }
                have_slug = true;
            } else if (!strncmp(line, "Eds:", 4)) {
                nw_ninjs_set_str(o, "ednote", line);
            } else if (!strncmp(line, "By ", 3) && !json_object_get(o, "by")) {
                nw_ninjs_set_str(o, "by", line);
            } else if (!have_hl && strncmp(line, "AP Photo", 8) != 0) {
                nw_ninjs_add_headline(o, "main", line);
                have_hl = true;
            }
            free(line);
        } else if (n && *p == '\t') {
            char *line = clean_line(p, n);
            if (line) {
                nw_sbuf_puts(&body, "\t");
                nw_sbuf_puts(&body, line);
                nw_sbuf_puts(&body, "\n");
                free(line);
            }
        }
        p = eol ? eol + 1 : e;
    }
    if (!have_slug) {
        /* STX and ETX alone are not ANPA: random bytes carry them often enough */
        nw_sbuf_free(&body);
        free(text);
        nw_items_truncate(out, out->n - 1);
        return nw_err_set(err, NW_ERR_INPUT, "bad-format",
                          "ANPA text block without a ^slug line");
    }
    if (body.len) {
        nw_body_t b;
        nw_text_body_from_plain(body.data, &b);
        char *place = nw_text_body_dateline(b.text, "AP");
        nw_ninjs_set_str(o, "located", place);
        free(place);
        nw_fmt_set_body(it, &b, -1);
    }
    nw_sbuf_free(&body);
    free(text);
    return true;
}
