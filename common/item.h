/*
 * item: one normalized wire item, as the parsers hand it to the pipeline.
 *
 * The IPTC ninjs 2.1 object (https://www.iptc.org/std/ninjs/) is the item's
 * public form and lives in `ninjs` as a jansson object; the struct fields are
 * what the pipeline needs to decide identity, order and status without
 * reading the JSON back, plus provider facts that ninjs has no place for
 * (Reuters edStat, AP's newscontent signal).
 *
 * Ownership: every pointer field is owned by the item and released by
 * nw_item_free(); strings are NUL-terminated UTF-8.
 */
#ifndef NW_ITEM_H
#define NW_ITEM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    NW_PUB_USABLE = 0,
    NW_PUB_WITHHELD,
    NW_PUB_CANCELED,
} nw_pubstatus_t;

/* The editorial status of this version, from the agency's signals or, when
 * those are missing, from the slug and headline (`UPDATE 2`, `CORRECTED-`). */
typedef enum {
    NW_EDIT_NEW = 0,
    NW_EDIT_UPDATE,
    NW_EDIT_CORRECTION,
    NW_EDIT_KILL,
} nw_edit_t;

/* AP delivers an item's metadata (Media API JSON) and its body (the NITF
 * rendition) separately. A half is parsed on its own, held by the pipeline and
 * merged with nw_format_ap_merge() when the other half arrives. */
typedef enum {
    NW_PART_WHOLE = 0, /* a complete item */
    NW_PART_META = 1,  /* metadata only: wait for the body with the same pair_key */
    NW_PART_BODY = 2,  /* body only: wait for the metadata with the same pair_key */
} nw_part_t;

typedef struct nw_item {
    json_t *ninjs;           /* the ninjs 2.1 object; owned */
    char provider[16];       /* "ap", "reuters", "afp" or the ninjs provider slug */
    char format[32];         /* parser that produced it: "ap-media-json", "reuters-newsml-g2"... */
    char *story_id;          /* agency's version-less id; also ninjs "uri" */
    char *version;           /* agency's version as printed ("" when the format has none) */
    uint64_t version_order;  /* orders versions of one story: larger is newer */
    int64_t firstcreated;    /* seconds since the epoch, UTC; 0 = unknown */
    int64_t versioncreated;  /* seconds since the epoch, UTC; 0 = unknown */
    nw_pubstatus_t pubstatus;
    nw_edit_t edit;
    bool is_news;            /* false for AP advisories and daybooks: stored, not published as news */
    char *headline;          /* main headline, plain text (may be NULL) */
    char *slugline;          /* may be NULL */
    char *language;          /* BCP 47, may be NULL */
    char *body_text;         /* plain text of the body, for matching (boilerplate stripped); may be NULL */
    int invalid_bytes;       /* invalid UTF-8 sequences replaced while decoding */

    /* Added by the format parsers (issue 3). */
    char *version_id;        /* the agency's id of this revision, for exact re-send dedupe:
                                AP etag (G2: itemIdSequence), Reuters versionedId, AFP
                                PublicIdentifier, ninjs uri:version; NULL when none */
    char *derived_from;      /* story id this one evolved from (Reuters API evolvedFrom,
                                G2 link rel=irel:derivedFrom); NULL when none */
    int64_t embargoed;       /* embargo end, epoch seconds UTC; 0 = none */
    bool synthetic_id;       /* the format has no id (ANPA, bare NITF): story_id is a
                                content hash that only catches exact re-sends */
    nw_part_t part;          /* AP JSON + NITF pairs: which half this is */
    char *pair_key;          /* halves with equal pair_key belong together: "<itemid>.<version>" */

    /* ninjs serialized (compact), made once by nw_item_ninjs_text; NULL until then */
    char *ninjs_text;
    size_t ninjs_len;
} nw_item_t;

/* Initialize an empty item (ninjs = new empty object). */
void nw_item_init(nw_item_t *it);

/* Release everything the item owns and reset it to an empty state. */
void nw_item_free(nw_item_t *it);

/* The ninjs object as compact JSON text, serialized on the first call and
 * kept (the stored row and the event carry the same bytes). The ninjs must
 * not change after the first call. NULL when out of memory. */
const char *nw_item_ninjs_text(nw_item_t *it, size_t *len);

const char *nw_pubstatus_name(nw_pubstatus_t s);   /* "usable", "withheld", "canceled" */
const char *nw_edit_name(nw_edit_t e);             /* "new", "update", "correction", "kill" */
const char *nw_part_name(nw_part_t p);             /* "whole", "meta", "body" */

/* The pipeline fields of it (not the ninjs) as a new JSON object, for tools,
 * logs and tests: {"provider", "format", "story_id", "version", "version_order"
 * (a decimal string: uint64 does not fit JSON numbers), ...}. Caller owns it. */
json_t *nw_item_to_json(const nw_item_t *it);

#endif
