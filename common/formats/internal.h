/*
 * Shared plumbing of the format parsers (not a public header): safe XML and
 * JSON reading, namespace-aware lookups, and the final normalization step
 * every parser ends with.
 */
#ifndef NW_FORMATS_INTERNAL_H
#define NW_FORMATS_INTERNAL_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stdint.h>

#include "formats.h"
#include "ninjs.h"
#include "text.h"
#include "timeparse.h"

#define NS_NAR "http://iptc.org/std/nar/2006-10-01/"
#define NS_RTR "http://www.reuters.com/ns/2003/08/content"
#define NS_XHTML "http://www.w3.org/1999/xhtml"
#define NS_NITF "http://iptc.org/std/NITF/2006-10-18/"
#define NS_ANY ((const char *)1) /* match the local name in any namespace */
#define NS_NONE NULL             /* match only elements without a namespace */

/* One parser: appends the items of `in` to out (items are initialized by it). */
typedef bool (*nw_fmt_parser_t)(const nw_input_t *in, nw_items_t *out, nw_err_t *err);

bool nw_fmt_ap_media_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_ap_nitf(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_ap_newsml_g2(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_ap_anpa(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_reuters_newsml_g2(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_reuters_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_afp_newsml_12(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_afp_newsml_2024(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_afp_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err);
bool nw_fmt_ninjs(const nw_input_t *in, nw_items_t *out, nw_err_t *err);

/* Initialized item appended to l (owned by l). */
nw_item_t *nw_items_add(nw_items_t *l);
/* Drop items from index `from` on (used to undo a partial parse). */
void nw_items_truncate(nw_items_t *l, size_t from);

/* ---- XML ---------------------------------------------------------------- */

/* Read an XML payload safely: size cap, no DTD/entity declarations, no network
 * or file access, invalid UTF-8 replaced (counted in *invalid), encoding from
 * the content-type charset when given, else as declared. The caller frees
 * *doc with xmlFreeDoc. */
bool nw_xml_read(const nw_input_t *in, xmlDocPtr *doc, int *invalid, nw_err_t *err);

/* Same for an XML document embedded in a JSON string (AP envelope NITF,
 * Reuters API bodyXhtml): already valid UTF-8. */
bool nw_xml_read_string(const char *s, size_t len, xmlDocPtr *doc, nw_err_t *err);

bool nw_xml_is(const xmlNode *n, const char *ns, const char *local);
xmlNode *nw_xml_child(const xmlNode *n, const char *ns, const char *local);
xmlNode *nw_xml_next(const xmlNode *n, const char *ns, const char *local);
/* Follow a '/'-separated path of local names (all in namespace ns). */
xmlNode *nw_xml_path(const xmlNode *n, const char *ns, const char *path);
/* Element text, squashed; NULL when absent or empty. Caller frees. */
char *nw_xml_text(const xmlNode *n);
/* o[key] = the element's text (nw_xml_text); nothing when absent or empty. */
void nw_xml_set_text(json_t *o, const char *key, const xmlNode *n);
/* Attribute without namespace, squashed; NULL when absent or empty. */
char *nw_xml_attr(const xmlNode *n, const char *name);
/* Attribute in namespace ns (any prefix). */
char *nw_xml_attr_ns(const xmlNode *n, const char *ns, const char *name);
/* First descendant element (depth-first, bounded) with that local name. */
xmlNode *nw_xml_find(const xmlNode *n, const char *ns, const char *local);

/* ---- JSON --------------------------------------------------------------- */

/* Parse a JSON payload: size and depth caps, invalid UTF-8 replaced (counted). */
bool nw_json_read(const nw_input_t *in, json_t **root, int *invalid, nw_err_t *err);
const char *nw_json_str(const json_t *o, const char *key);
/* Integer value of o[key] given as a number or a numeric string. */
bool nw_json_int(const json_t *o, const char *key, long long *v);

/* ---- fields ------------------------------------------------------------- */

/* Parse a timestamp field; on failure fills err (bad-timestamp, naming field). */
bool nw_fmt_time(const char *s, const char *field, int64_t *out, nw_err_t *err);
/* The item's status from an agency's value, any case, after any scheme
 * prefix ("stat:canceled"): canceled/cancelled, withheld/embargoed, else
 * usable; set in it->pubstatus and the ninjs. NULL: nothing set. */
void nw_fmt_pubstatus(nw_item_t *it, const char *value);
bool nw_fmt_u64(const char *s, uint64_t *v);
char *nw_fmt_strdup(const char *s);
char *nw_fmt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nw_fmt_set_string(char **dst, const char *s);

/* Add the body to it->ninjs (bodies[0]) and keep its plain text in
 * it->body_text (boilerplate is stripped by nw_fmt_finish). wordcount < 0:
 * count the words of the text. Takes ownership of b's strings. */
void nw_fmt_set_body(nw_item_t *it, nw_body_t *b, long long wordcount);

/* Edit status signalled by the text: "UPDATE 2-", "(UPDATE 1, ...)",
 * "CORRECTED-", "Ld-Writethru", "Correction:" ... */
nw_edit_t nw_fmt_edit_from_text(const char *headline, const char *slugline, const char *ednote);

/* A content-hash story id for formats without ids: "urn:newswire:<provider>:<hex>". */
char *nw_fmt_hash_id(const char *provider, const char *data, size_t len);

/* Common last step: checks the id, writes uri/version/times/pubstatus into
 * the ninjs object, derives edit from text, strips boilerplate into
 * body_text, applies NFC everywhere and orders the ninjs properties. */
bool nw_fmt_finish(nw_item_t *it, nw_err_t *err);

#endif

/* ---- shared by several parsers ----------------------------------------- */

/* Fill it from a NITF document element: body (body.content, block unwrapped),
 * hl1/hl2 headlines, byline (without byttl), dateline/location or the body's
 * "(AP)" dateline, ed-msg, copyright; with `meta`, also date.issue times and
 * management-status. wordcount < 0: count words. */
bool nw_ap_nitf_fill(nw_item_t *it, xmlNode *nitf, bool meta, long long wordcount,
                     nw_err_t *err);

/* "tag:ap.org,2011:<itemid>" */
char *nw_ap_uri(const char *itemid);

/* NewsML-G2, shared by AP and Reuters: the agency hooks decide identity,
 * versions, subjects and the dateline; g2.c does everything else. */
typedef struct nw_g2_agency {
    const char *provider;     /* "ap", "reuters" */
    int body_flags;           /* NW_HTML_* for XHTML bodies */
    const char *dateline_tag; /* "AP", "Reuters": body dateline tag */
    /* identity, version, altids, edit signals; item is newsItem/packageItem */
    bool (*identify)(nw_item_t *it, xmlNode *item, nw_err_t *err);
    /* one contentMeta/subject element */
    void (*subject)(nw_item_t *it, xmlNode *subj);
    /* located before the body is read (AP: the G2 dateline); may be NULL */
    void (*located)(nw_item_t *it, xmlNode *contentMeta);
} nw_g2_agency_t;

bool nw_g2_parse(const nw_input_t *in, const nw_g2_agency_t *ag, nw_items_t *out, nw_err_t *err);
/* qcode without its scheme prefix ("stat:usable" -> "usable"); points into q */
const char *nw_g2_code(const char *q);
