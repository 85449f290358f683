/*
 * ninjs: building the IPTC ninjs 2.1 object of an item
 * (https://www.iptc.org/std/ninjs/, schema ninjs-schema_2.1.json).
 *
 * The top level of ninjs 2.1 admits no property outside the schema
 * (unevaluatedProperties: false), so every helper here writes only schema
 * properties, with the shapes the schema wants. Helpers skip NULL or empty
 * values (a missing source field is omitted, never invented) and
 * deduplicate array members. Strings passed in are copied.
 */
#ifndef NW_NINJS_H
#define NW_NINJS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define NW_IPTC_SUBJECT_URI "http://cv.iptc.org/newscodes/subjectcode/"
#define NW_AP_CV_URI "http://cv.ap.org/id/"

/* Members kept per array (subjects, altids...): deduplication is quadratic,
 * and no real item comes near this; a hostile one is cut here. */
#define NW_NINJS_MAX_MEMBERS 1000

/* o[key] = val when val is a non-empty string. */
void nw_ninjs_set_str(json_t *o, const char *key, const char *val);

/* o[key] = nw_text_field(raw) (entities decoded, whitespace squashed). */
void nw_ninjs_set_field(json_t *o, const char *key, const char *raw);

/* o[key] = "YYYY-MM-DDTHH:MM:SSZ" when t is not 0. */
void nw_ninjs_set_time(json_t *o, const char *key, int64_t t);

/* headlines[] += {role, value} (value squashed; skipped when empty). */
void nw_ninjs_add_headline(json_t *o, const char *role, const char *value);

/* descriptions[] += {role, value}. */
void nw_ninjs_add_description(json_t *o, const char *role, const char *value);

/* bodies[] += {role, contenttype, wordcount (when >= 0), value}. */
void nw_ninjs_add_body(json_t *o, const char *role, const char *contenttype, const char *value,
                       long long wordcount);

/* <array>[] += {name, rel, uri, literal, creator} for subjects, people,
 * organisations, places, events, objects and genres (genres take name, uri,
 * literal only). A member with the same uri, or (without uri) the same
 * literal, or (without both) the same name, is not added twice. Returns the
 * member (owned by o) or NULL when skipped. */
json_t *nw_ninjs_add_concept(json_t *o, const char *array, const char *name, const char *uri,
                             const char *literal, const char *rel, const char *creator);

/* subjects[] += {uri: http://cv.iptc.org/newscodes/subjectcode/<code>} for an
 * 8-digit IPTC subject code; anything else is ignored. */
void nw_ninjs_add_iptc_subject(json_t *o, const char *code, const char *name);

/* infosources[] += {name, role, uri, literal}. */
void nw_ninjs_add_infosource(json_t *o, const char *name, const char *role, const char *uri,
                             const char *literal);

/* altids[] += {role, value}, once per (role, value). */
void nw_ninjs_add_altid(json_t *o, const char *role, const char *value);

/* A new object with o's top-level ninjs 2.1 properties in one fixed,
 * readable order; empty arrays and names the schema does not define are
 * dropped. The caller owns the result. */
json_t *nw_ninjs_canonical(json_t *o);

/* Apply Unicode NFC to every string (keys excluded) in v, recursively. */
void nw_ninjs_nfc(json_t *v);

#endif
