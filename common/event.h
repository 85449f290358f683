/*
 * event: the enriched events newswire publishes, and their identity.
 *
 * An event is published to Kafka with the CloudEvents Kafka protocol binding
 * in binary mode: the body is the JSON document described by
 * schemas/enriched-event.schema.json and the attributes travel as headers
 * (ce_specversion, ce_id, ce_type, ce_source, ce_time, ce_subject,
 * content-type). The id is derived from what the event says (provider, story,
 * version, kind), so a replay produces the same id and subscribers can drop
 * repeats.
 */
#ifndef NW_EVENT_H
#define NW_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

#define NW_EVENT_SPECVERSION "1.0"
#define NW_EVENT_SOURCE "/newswire/ingest"
#define NW_EVENT_TYPE_PREFIX "newswire.item."
#define NW_EVENT_SCHEMA_VERSION 1

typedef struct nw_event {
    char id[37];        /* UUID, text form */
    char type[48];      /* newswire.item.<kind> */
    char time[32];      /* RFC 3339 UTC, milliseconds */
    char *key;          /* Kafka key: provider:story_id (owned) */
    char *body;         /* JSON body (owned) */
    size_t body_len;
} nw_event_t;

typedef struct nw_events {
    nw_event_t *v;
    size_t n;
    size_t cap;
} nw_events_t;

/* Append a copy of the given fields; takes ownership of key and body. */
void nw_events_push(nw_events_t *ev, const char *id, const char *type, const char *time,
                    char *key, char *body, size_t body_len);
void nw_events_free(nw_events_t *ev);

/* Deterministic event id (UUID version 8 layout over XXH3-128) and its text. */
void nw_event_id(const char *provider, const char *story_id, const char *version,
                 const char *kind, unsigned char uuid[16], char text[37]);

/* The current time as RFC 3339 UTC with milliseconds, and as microseconds. */
int64_t nw_event_now(char out[32]);

/* Everything an event body says. Pointers are borrowed. */
typedef struct nw_event_in {
    const char *kind;          /* new, updated, corrected, killed, duplicate... */
    const char *id;
    const char *time;
    const nw_item_t *item;
    int64_t story_pk;
    int64_t version_pk;
    int64_t cluster_id;
    const char *topic;         /* where the item came from */
    int32_t partition;
    int64_t offset;
    json_t *previous;          /* previous current version {version_pk, version}, or NULL */
    json_t *links;             /* array of link objects, or NULL */
    json_t *removed;           /* kill: array of {version_pk, version} to remove, or NULL */
    bool omit_item;            /* carry a stub of the item (the event would be too large) */
} nw_event_in_t;

/* Serialize the event body. Returns a malloc'd JSON string (caller frees)
 * and its length in *len, or NULL when out of memory. */
char *nw_event_body(const nw_event_in_t *in, size_t *len);

#endif
