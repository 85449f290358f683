/*
 * formats: turn one raw agency payload into normalized nw_item_t values.
 *
 * The format comes from the message headers when present (newswire-format,
 * newswire-agency, content-type), else from sniffing the payload. Every
 * parser fills the ninjs 2.1 object and the pipeline fields of nw_item_t;
 * bad input returns false with an NW_ERR_INPUT error whose code is short
 * (xml-malformed, json-malformed, unknown-format, missing-id, bad-timestamp,
 * too-large, too-deep, xml-entity, bad-format, empty) and whose message is a
 * one-line reason fit for a dead-letter header.
 *
 * Thread safety: parsers keep no state; libxml2 is initialized once
 * (pthread_once) and never loads external entities or DTDs. Payloads are
 * read-only. See common/formats/README.md for the accepted shapes.
 */
#ifndef NW_FORMATS_H
#define NW_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "item.h"

/* Largest payload any parser accepts (bytes); larger is bad input. */
#define NW_FORMAT_MAX_BYTES (16u * 1024u * 1024u)

/* Deepest JSON nesting accepted (real wire JSON stays below 12). */
#define NW_FORMAT_MAX_JSON_DEPTH 64

typedef struct nw_input {
    const char *data;          /* payload bytes, not necessarily NUL-terminated */
    size_t len;
    const char *format;        /* header newswire-format, or NULL */
    const char *agency;        /* header newswire-agency, or NULL */
    const char *content_type;  /* header content-type, or NULL; a charset parameter
                                  overrides the encoding the payload declares */
    const char *name;          /* file name or other hint for messages, or NULL */
    const char *pair_key;      /* header newswire-pair-key, or NULL: the AP "<itemid>.<version>"
                                  a bare NITF rendition belongs to */
} nw_input_t;

/* Items from one payload (a NewsML-G2 newsMessage or an AP feed page may hold
 * several). Zero-initialize; release with nw_items_free(). */
typedef struct nw_items {
    nw_item_t *v;
    size_t n, cap;
} nw_items_t;

/* Name of the format of `in` ("ap-media-json", "reuters-newsml-g2", ...), from
 * the headers first, then from the payload; NULL when unknown. */
const char *nw_format_detect(const nw_input_t *in);

/* Parse and normalize `in` into `out` (which the function initializes: free it
 * with nw_item_free() whatever the result). On failure `out` is left empty and
 * err says why. A payload that holds more than one item fails with code
 * "multi-item": use nw_format_parse_all(). */
bool nw_format_parse(const nw_input_t *in, nw_item_t *out, nw_err_t *err);

/* Parse every item of `in`, appending to `out`. On failure nothing is
 * appended (a payload is accepted or refused as a whole). */
bool nw_format_parse_all(const nw_input_t *in, nw_items_t *out, nw_err_t *err);

/* NULL-terminated list of the format names nw_format_parse() accepts. */
const char *const *nw_format_names(void);

/* Merge the two halves of an AP item into one NW_PART_WHOLE item:
 * `meta` (from ap-media-json, part NW_PART_META) and `body` (from ap-nitf,
 * part NW_PART_BODY), in whichever order they arrived. The metadata wins for
 * every field it has; the NITF gives the body and fills by, located, ednote
 * and headline where the JSON lacks them. Inputs are not modified; `out` is
 * initialized by the function. */
bool nw_format_ap_merge(const nw_item_t *meta, const nw_item_t *body, nw_item_t *out,
                        nw_err_t *err);

/* The same from the two raw payloads (either order: the function tells the
 * JSON from the NITF). */
bool nw_format_ap_merge_raw(const nw_input_t *a, const nw_input_t *b, nw_item_t *out,
                            nw_err_t *err);

void nw_items_free(nw_items_t *items);

/* Release libxml2's global state; call once at process exit, after the last
 * parse (tools and tests, for leak checkers). */
void nw_format_cleanup(void);

#endif
