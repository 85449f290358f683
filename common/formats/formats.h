/*
 * formats: turn one raw agency payload into a normalized nw_item_t.
 *
 * The format comes from the message headers when present (newswire-format,
 * newswire-agency, content-type), else from sniffing the payload. Every
 * parser fills the ninjs 2.1 object and the pipeline fields of nw_item_t;
 * bad input returns false with an NW_ERR_INPUT error whose message is a
 * one-line reason fit for a dead-letter header.
 */
#ifndef NW_FORMATS_H
#define NW_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "item.h"

/* Largest payload any parser accepts (bytes); larger is bad input. */
#define NW_FORMAT_MAX_BYTES (16u * 1024u * 1024u)

typedef struct nw_input {
    const char *data;          /* payload bytes, not necessarily NUL-terminated */
    size_t len;
    const char *format;        /* header newswire-format, or NULL */
    const char *agency;        /* header newswire-agency, or NULL */
    const char *content_type;  /* header content-type, or NULL */
    const char *name;          /* file name or other hint for messages, or NULL */
} nw_input_t;

/* Name of the format of `in` ("ap-media-json", "reuters-newsml-g2", ...), from
 * the headers first, then from the payload; NULL when unknown. */
const char *nw_format_detect(const nw_input_t *in);

/* Parse and normalize `in` into `out` (which the function initializes).
 * On failure `out` is left empty and err says why. */
bool nw_format_parse(const nw_input_t *in, nw_item_t *out, nw_err_t *err);

/* NULL-terminated list of the format names nw_format_parse() accepts. */
const char *const *nw_format_names(void);

#endif
