#define _GNU_SOURCE
#include "text.h"

#include <ctype.h>
#include <libxml/HTMLparser.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Out of memory is the one failure newswire does not try to survive. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

void nw_sbuf_putn(nw_sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void nw_sbuf_puts(nw_sbuf_t *b, const char *s)
{
    nw_sbuf_putn(b, s, strlen(s));
}

char *nw_sbuf_take(nw_sbuf_t *b)
{
    char *s = b->data ? b->data : xrealloc(NULL, 1);
    if (!b->data)
        s[0] = '\0';
    memset(b, 0, sizeof *b);
    return s;
}

void nw_sbuf_free(nw_sbuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Length of the leading run of bytes that need no look: ASCII other than
 * NUL (and, with ctl, other than the C0 controls but tab, LF and CR), eight
 * at a time. Most wire text is such runs between the odd accent or quote. */
static size_t ascii_run(const unsigned char *s, size_t n, bool ctl)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    const uint64_t low = ctl ? 0x20 * ones : ones; /* a byte below this stops the word loop */
    size_t i = 0;
    for (;;) {
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w | ((w - low) & ~w)) & high)
                break;
        }
        /* the word that stopped it (or the tail) byte by byte: a tab or a
         * line feed goes on, anything else ends the run */
        for (size_t end = i + 8 < n ? i + 8 : n; i < end; i++) {
            unsigned c = s[i];
            if (c >= 0x80 || c == 0 || (ctl && c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
                return i;
        }
        if (i == n)
            return i;
    }
}

char *nw_text_utf8_clean(const char *s, size_t len, bool drop_xml_ctl, int *invalid,
                         size_t *outlen)
{
    nw_sbuf_t b = {0};
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the pending valid stretch */
    int bad = 0;
    nw_sbuf_putn(&b, "", 0);
    while (i < len) {
        i += ascii_run(u + i, len - i, drop_xml_ctl);
        if (i == len)
            break;
        unsigned c = u[i];
        size_t n = c ? utf8_seq(u + i, len - i) : 0;
        bool ctl = drop_xml_ctl && c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != 0;
        if (n && !ctl) {
            i += n;
            continue;
        }
        nw_sbuf_putn(&b, s + run, i - run);
        if (!ctl)
            nw_sbuf_putn(&b, "\xEF\xBF\xBD", 3);
        bad++;
        i++;
        run = i;
    }
    nw_sbuf_putn(&b, s + run, i - run);
    if (invalid)
        *invalid += bad;
    if (outlen)
        *outlen = b.len;
    return nw_sbuf_take(&b);
}

bool nw_text_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = u[i] ? utf8_seq(u + i, len - i) : 0;
        if (!n)
            return false;
        i += n;
    }
    return true;
}

char *nw_text_latin1_to_utf8(const char *s, size_t len, size_t *outlen)
{
    nw_sbuf_t b = {0};
    nw_sbuf_putn(&b, "", 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            nw_sbuf_putc(&b, (char)c);
        } else {
            char two[2] = {(char)(0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
            nw_sbuf_putn(&b, two, 2);
        }
    }
    if (outlen)
        *outlen = b.len;
    return nw_sbuf_take(&b);
}

/* Every code point below U+0300 has NFC_Quick_Check=Yes and combining class
 * 0 (the combining marks start at U+0300); lead bytes up to 0xCB encode
 * U+0080..U+02FF. Wire text is mostly such text, and utf8proc_NFC decomposes
 * and recomposes every character: it was over half of newswire-ingest's CPU
 * (bench/README.md). Plain ASCII is passed over in runs (ascii_run). */
bool nw_text_nfc_trivially(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0;;) {
        i += ascii_run(p + i, n - i, false);
        if (i == n)
            return true;
        if (p[i] >= 0xCC)
            return false;
        i++;
    }
}

char *nw_text_nfc(const char *s)
{
    if (!s)
        return NULL;
    if (nw_text_nfc_trivially(s))
        return strdup(s);
    utf8proc_uint8_t *r = utf8proc_NFC((const utf8proc_uint8_t *)s);
    return r ? (char *)r : strdup(s);
}

/* Whitespace for squashing: ASCII space class and U+00A0 (C2 A0). Returns the
 * byte length of the whitespace character at p, 0 when none. */
static size_t ws_len(const char *p)
{
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
        return 1;
    if ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0)
        return 2;
    return 0;
}

char *nw_text_squash(const char *s)
{
    if (!s)
        return NULL;
    nw_sbuf_t b = {0};
    bool pending = false;
    for (const char *p = s; *p;) {
        size_t w = ws_len(p);
        if (w) {
            pending = b.len > 0;
            p += w;
            continue;
        }
        if (pending)
            nw_sbuf_putc(&b, ' ');
        pending = false;
        nw_sbuf_putc(&b, *p++);
    }
    if (!b.len) {
        nw_sbuf_free(&b);
        return NULL;
    }
    return nw_sbuf_take(&b);
}

static void put_codepoint(nw_sbuf_t *b, int32_t cp)
{
    utf8proc_uint8_t tmp[4];
    if (cp <= 0 || !utf8proc_codepoint_valid(cp) || (cp < 0x20 && cp != '\t' && cp != '\n'))
        cp = 0xFFFD;
    utf8proc_ssize_t n = utf8proc_encode_char(cp, tmp);
    nw_sbuf_putn(b, (const char *)tmp, (size_t)n);
}

/* Uses libxml2's HTML entity table rather than a hand-written one. */
char *nw_text_decode_entities(const char *s)
{
    if (!s)
        return NULL;
    nw_sbuf_t b = {0};
    nw_sbuf_putn(&b, "", 0);
    for (const char *p = s; *p;) {
        const char *semi;
        if (*p != '&' || !(semi = strchr(p, ';')) || semi - p > 32 || semi - p < 2) {
            nw_sbuf_putc(&b, *p++);
            continue;
        }
        if (p[1] == '#') {
            char *end;
            bool hex = p[2] == 'x' || p[2] == 'X';
            long v = strtol(p + (hex ? 3 : 2), &end, hex ? 16 : 10);
            if (end == semi && end > p + (hex ? 3 : 2)) {
                put_codepoint(&b, v > 0x10FFFF ? 0xFFFD : (int32_t)v);
                p = semi + 1;
                continue;
            }
        } else {
            char name[40];
            size_t n = (size_t)(semi - p - 1);
            memcpy(name, p + 1, n);
            name[n] = '\0';
            const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
            if (e) {
                put_codepoint(&b, (int32_t)e->value);
                p = semi + 1;
                continue;
            }
        }
        nw_sbuf_putc(&b, *p++);
    }
    return nw_sbuf_take(&b);
}

char *nw_text_field(const char *s)
{
    if (!s)
        return NULL;
    char *d = nw_text_decode_entities(s);
    char *r = nw_text_squash(d);
    free(d);
    return r;
}

char *nw_text_xml_content(const xmlNode *n)
{
    if (!n)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    if (!c)
        return NULL;
    char *r = nw_text_squash((const char *)c);
    xmlFree(c);
    return r;
}

/* Trim spaces and the dash/underscore separators agencies put after a tag. */
static void rtrim_sep(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '-' || s[n - 1] == '_' || s[n - 1] == ','))
        s[--n] = '\0';
    /* em and en dashes */
    while (n >= 3 && (unsigned char)s[n - 3] == 0xE2 && (unsigned char)s[n - 2] == 0x80 &&
           ((unsigned char)s[n - 1] == 0x94 || (unsigned char)s[n - 1] == 0x93)) {
        n -= 3;
        s[n] = '\0';
        while (n && s[n - 1] == ' ')
            s[--n] = '\0';
    }
}

char *nw_text_dateline_place(const char *dateline)
{
    char *s = nw_text_squash(dateline);
    if (!s)
        return NULL;
    char *paren = strchr(s, '(');
    if (paren)
        *paren = '\0';
    rtrim_sep(s);
    nw_sbuf_t b = {0};
    char *save = NULL;
    for (char *seg = strtok_r(s, ",", &save); seg; seg = strtok_r(NULL, ",", &save)) {
        while (*seg == ' ')
            seg++;
        bool digit = false;
        for (const char *q = seg; *q; q++)
            digit |= isdigit((unsigned char)*q) != 0;
        if (digit)
            break;
        rtrim_sep(seg);
        if (!*seg)
            break;
        if (b.len)
            nw_sbuf_puts(&b, ", ");
        nw_sbuf_puts(&b, seg);
    }
    free(s);
    if (!b.len || b.len > 120) {
        nw_sbuf_free(&b);
        return NULL;
    }
    return nw_sbuf_take(&b);
}

char *nw_text_body_dateline(const char *plain, const char *tag)
{
    if (!plain || !tag)
        return NULL;
    char pat[64];
    snprintf(pat, sizeof pat, "(%s)", tag);
    const char *p = plain;
    for (int para = 0; para < 4 && *p; para++) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *hit = NULL;
        for (const char *q = p; q + strlen(pat) <= p + n && q - p < 160; q++)
            if (!strncmp(q, pat, strlen(pat))) {
                hit = q;
                break;
            }
        if (hit) {
            const char *after = hit + strlen(pat);
            while (*after == ' ')
                after++;
            /* a dash, en/em dash or AP's underscore must follow the tag */
            bool sep = *after == '-' || *after == '_' || !strncmp(after, "\xE2\x80\x94", 3) ||
                       !strncmp(after, "\xE2\x80\x93", 3) || after >= p + n;
            if (!sep)
                return NULL;
            char *pre = strndup(p, (size_t)(hit - p));
            char *place = nw_text_dateline_place(pre);
            free(pre);
            return place;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return NULL;
}

/* Byte classes of nw_text_word_count: bit 0 a letter or digit (any byte of a
 * multibyte character counts as one), bit 1 white space (the C locale's). */
static const uint8_t wc_class[256] = {
    ['\t'] = 2, ['\n'] = 2,        ['\v'] = 2,        ['\f'] = 2,        ['\r'] = 2,
    [' '] = 2,  ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, [0x80 ... 0xFF] = 1,
};

/* Without a branch per byte: a word ends (and counts if it had a letter or
 * digit) at each white space. */
size_t nw_text_word_count(const char *plain)
{
    size_t n = 0;
    unsigned in = 0, alnum = 0;
    for (const unsigned char *p = (const unsigned char *)plain; p && *p; p++) {
        unsigned k = wc_class[*p], sp = k >> 1;
        n += sp & in & alnum;
        in = sp ^ 1;
        alnum = (alnum | (k & 1)) & in;
    }
    return n + (in & alnum);
}

/* ---- boilerplate ---------------------------------------------------------- */

enum { RX_NOTE, RX_BYLINE, RX_DATELINE, RX_TRAILER, RX_COPYRIGHT, RX_DESK, RX_RULE, RX_APNOTE,
       RX_COUNT };

static regex_t rx[RX_COUNT];
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

/* Patterns are ASCII and compiled once; POSIX ERE is enough for line shapes. */
static void rx_init(void)
{
    static const struct {
        const char *pat;
        int flags;
    } defs[RX_COUNT] = {
        [RX_NOTE] = {"^\\((adds|updates|recasts|corrects|changes|repeats|refiles|rewrites|"
                     "fixes|removes|inserts|deletes|advances|moves|releases|re-?issues|"
                     "in [^)]* stor(y|ies)|this (story|version))[^)]*\\)$",
                     REG_ICASE},
        [RX_BYLINE] = {"^by [A-Z][^.!?]{0,80}$", REG_ICASE},
        [RX_DATELINE] = {"^[^()]{0,100}\\((reuters|ap|afp|dpa|ansa|efe|aap|cp|bloomberg)\\) *"
                         "(-+|_+|\xE2\x80\x94|\xE2\x80\x93) *",
                         REG_ICASE},
        [RX_TRAILER] = {"^\\(?(additional |compiled |writing |graphics )?(reporting|writing|editing"
                        "|compiled|compiling|graphic|research|additional reporting) by .*\\)?$",
                        REG_ICASE},
        [RX_COPYRIGHT] = {"^(\xC2\xA9|\\(c\\) |copyright |our standards:)", REG_ICASE},
        [RX_DESK] = {"^[a-z]{1,6}([-/][a-z0-9]{1,8})*/[a-z0-9]{1,8}([-/][a-z0-9]{1,8})*$", 0},
        [RX_RULE] = {"^ *_{3,} *$", 0},
        [RX_APNOTE] = {"(this story was (generated|partially generated)|can be reached at|"
                       "^follow .* (on twitter|at http)|contributed to this report|^online:|"
                       "^more ap |^ap .* contributed|zacks|^https?://)",
                       REG_ICASE},
    };
    for (int i = 0; i < RX_COUNT; i++)
        if (regcomp(&rx[i], defs[i].pat, REG_EXTENDED | REG_NOSUB | defs[i].flags) != 0)
            abort(); /* a bug in the pattern above */
}

static bool rx_match(int which, const char *s)
{
    pthread_once(&rx_once, rx_init);
    return regexec(&rx[which], s, 0, NULL, 0) == 0;
}

char *nw_text_strip_boilerplate(const char *plain)
{
    if (!plain)
        return NULL;
    pthread_once(&rx_once, rx_init);
    /* split into paragraphs */
    char *copy = strdup(plain);
    size_t n = 0, cap = 16;
    char **para = xrealloc(NULL, cap * sizeof *para);
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        while (*l == ' ')
            l++;
        if (!*l)
            continue;
        if (n == cap)
            para = xrealloc(para, (cap *= 2) * sizeof *para);
        para[n++] = l;
    }
    /* AP "___" rule: drop it, and everything after when a generated-story or
     * contact note follows */
    for (size_t i = 0; i < n; i++) {
        if (!rx_match(RX_RULE, para[i]))
            continue;
        if (i + 1 < n && rx_match(RX_APNOTE, para[i + 1])) {
            n = i;
            break;
        }
        para[i] = NULL;
    }
    /* trailing desk initials, trailers, copyright lines */
    while (n && (!para[n - 1] || rx_match(RX_DESK, para[n - 1]) ||
                 rx_match(RX_TRAILER, para[n - 1]) || rx_match(RX_COPYRIGHT, para[n - 1])))
        n--;
    for (size_t i = 0; i < n; i++)
        if (para[i] && (rx_match(RX_TRAILER, para[i]) || rx_match(RX_COPYRIGHT, para[i])))
            para[i] = NULL;
    /* leading notes, bylines and the dateline prefix */
    bool dateline_done = false;
    for (size_t i = 0; i < n && i < 6; i++) {
        if (!para[i])
            continue;
        if (rx_match(RX_NOTE, para[i]) || rx_match(RX_BYLINE, para[i])) {
            para[i] = NULL;
            continue;
        }
        if (!dateline_done && rx_match(RX_DATELINE, para[i])) {
            /* the prefix has no parentheses, so the first ')' closes the tag */
            char *q = strchr(para[i], ')') + 1;
            for (;;) {
                while (*q == ' ' || *q == '-' || *q == '_')
                    q++;
                if (strncmp(q, "\xE2\x80\x94", 3) && strncmp(q, "\xE2\x80\x93", 3))
                    break;
                q += 3;
            }
            para[i] = *q ? q : NULL;
            dateline_done = true;
        }
    }
    nw_sbuf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        if (!para[i])
            continue;
        if (b.len)
            nw_sbuf_putc(&b, '\n');
        nw_sbuf_puts(&b, para[i]);
    }
    free(para);
    free(copy);
    if (!b.len) {
        nw_sbuf_free(&b);
        return NULL;
    }
    return nw_sbuf_take(&b);
}
