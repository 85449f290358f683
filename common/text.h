/*
 * text: Unicode hygiene, HTML sanitizing and plain-text extraction for wire
 * bodies, dateline places and the boilerplate that must not reach matching.
 *
 * All functions that return char * return a NUL-terminated UTF-8 string the
 * caller frees with free(); they return NULL only when the input was NULL or
 * (where stated) when nothing is left. None of them keeps global state except
 * compiled regular expressions, built once and read-only afterwards.
 */
#ifndef NW_TEXT_H
#define NW_TEXT_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* A growable string; zero-initialize, append, then take (or free) the data. */
typedef struct nw_sbuf {
    char *data;
    size_t len, cap;
} nw_sbuf_t;

void nw_sbuf_putn(nw_sbuf_t *b, const char *s, size_t n);
void nw_sbuf_puts(nw_sbuf_t *b, const char *s);
/* Called per character by the text cleaners: the common case inline. */
static inline void nw_sbuf_putc(nw_sbuf_t *b, char c)
{
    if (b->len + 2 <= b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
    } else {
        nw_sbuf_putn(b, &c, 1);
    }
}
/* The NUL-terminated data (caller frees); the buffer is reset. Never NULL. */
char *nw_sbuf_take(nw_sbuf_t *b);
void nw_sbuf_free(nw_sbuf_t *b);

/* Copy len bytes of s into valid UTF-8: every invalid or overlong sequence,
 * surrogate and NUL byte becomes U+FFFD and adds one to *invalid (may be NULL).
 * When drop_xml_ctl is set, C0 controls other than TAB, LF and CR (illegal in
 * XML 1.0) are dropped and counted too. The result is NUL-terminated; *outlen
 * (may be NULL) gets its length. */
char *nw_text_utf8_clean(const char *s, size_t len, bool drop_xml_ctl, int *invalid,
                         size_t *outlen);

/* True when len bytes of s are valid UTF-8 without NUL bytes. */
bool nw_text_utf8_valid(const char *s, size_t len);

/* ISO-8859-1 bytes to UTF-8 (every byte is a code point; no failure). */
char *nw_text_latin1_to_utf8(const char *s, size_t len, size_t *outlen);

/* Unicode NFC of a valid UTF-8 string (a copy when utf8proc refuses it). */
char *nw_text_nfc(const char *s);
/* True when s is NFC already because no code point reaches U+0300 (most wire
 * text); false does not mean it is not NFC. */
bool nw_text_nfc_trivially(const char *s);

/* Trim and collapse every run of whitespace (ASCII and U+00A0) to one space;
 * NULL when nothing is left. */
char *nw_text_squash(const char *s);

/* Decode HTML character references (&amp; &eacute; &#8212; &#x2014;) in plain
 * text taken from JSON; unknown references stay as written. */
char *nw_text_decode_entities(const char *s);

/* A one-line field (headline, byline, slug...): entities decoded, whitespace
 * squashed. NULL when empty. */
char *nw_text_field(const char *s);

/* The dateline *place as printed* (wire-formats.md section 11, rule `located`):
 * the comma-separated segments before the first one containing a digit, with
 * the agency tag "(AFP)" and what follows removed.
 *   "STOCKHOLM, Aug 29, 2014 (AFP) -" -> "STOCKHOLM"; "Jan 30 (Reuters) -" -> NULL */
char *nw_text_dateline_place(const char *dateline);

/* The place from a body dateline "<place> (<tag>) -" in one of the first
 * paragraphs of plain text (paragraphs separated by '\n'), e.g. tag "Reuters":
 * "DAMASCUS (Reuters) - ..." -> "DAMASCUS"; NULL when there is none. */
char *nw_text_body_dateline(const char *plain, const char *tag);

/* Words in plain text: runs of non-space characters holding a letter or digit. */
size_t nw_text_word_count(const char *plain);

/* Plain text for matching: removes editorial notes "(Adds ...)", byline
 * paragraphs, the dateline prefix, trailers "(Reporting by ...; Editing by ...)",
 * copyright lines, AFP desk initials ("hh/ph/ts/hd") and AP "___" separators
 * with the generated-story / contact notes after them. Paragraphs stay
 * separated by '\n'. NULL when nothing is left. */
char *nw_text_strip_boilerplate(const char *plain);

/* Result of sanitizing one body. */
typedef struct nw_body {
    char *html;        /* sanitized HTML, NULL when the body is empty */
    char *text;        /* plain text, paragraphs separated by '\n'; NULL when empty */
    size_t paragraphs; /* block-level paragraphs with text */
    bool too_deep;     /* markup nested deeper than the sanitizer follows */
} nw_body_t;

enum {
    NW_HTML_SPLIT_LINES = 1, /* Reuters: one <p> of "\n    "-indented lines -> paragraphs */
    NW_HTML_TEXT_ONLY = 2,   /* the source is text, not markup: newline-separated paragraphs */
};

/* Sanitize the children of `container` (an XHTML body, NITF body.content or a
 * DataContent element) into HTML without scripts, styles, event attributes or
 * foreign namespaces, plus its plain text. NITF elements map to HTML (hl2 ->
 * h2, block unwrapped). NW_HTML_SPLIT_LINES rewrites the tree in place when the whole
 * body is one text-only <p> of lines: one <p> per indented line. Fills *out (caller
 * frees with nw_body_free). */
void nw_text_body_from_xml(xmlNode *container, int flags, nw_body_t *out);

/* Same for an HTML or XHTML string (Reuters API bodyXhtml, ninjs bodies,
 * AFP API paragraphs): parsed with libxml2's HTML parser, network off. */
void nw_text_body_from_html(const char *html, size_t len, int flags, nw_body_t *out);

/* Plain text paragraphs (one per '\n'-separated line) as a body. */
void nw_text_body_from_plain(const char *plain, nw_body_t *out);

void nw_body_free(nw_body_t *b);

/* libxml2 element text with entities decoded, squashed (NULL when empty). */
char *nw_text_xml_content(const xmlNode *n);

#endif
