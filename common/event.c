#include "event.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "json_out.h"

void nw_events_push(nw_events_t *ev, const char *id, const char *type, const char *time,
                    char *key, char *body, size_t body_len)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 64;
        nw_event_t *v = realloc(ev->v, cap * sizeof *v);
        if (!v) {
            free(key);
            free(body);
            return;
        }
        ev->v = v;
        ev->cap = cap;
    }
    nw_event_t *e = &ev->v[ev->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->time, sizeof e->time, "%s", time);
    e->key = key;
    e->body = body;
    e->body_len = body_len;
}

void nw_events_free(nw_events_t *ev)
{
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->v[i].key);
        free(ev->v[i].body);
    }
    free(ev->v);
    memset(ev, 0, sizeof *ev);
}

/* Hash the fields with separators that cannot occur inside them (NUL), so
 * that ("a","bc") and ("ab","c") differ; set the RFC 9562 version 8 and
 * variant bits so the result is a well-formed UUID. */
void nw_event_id(const char *provider, const char *story_id, const char *version,
                 const char *kind, unsigned char uuid[16], char text[37])
{
    XXH3_state_t st;
    memset(&st, 0, sizeof st); /* silences gcc's inlined-reset false positive */
    XXH3_128bits_reset_withSeed(&st, 0x6e657773776972ULL);
    const char *parts[] = {"newswire-event", provider, story_id, version, kind};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const char *p = parts[i] ? parts[i] : "";
        XXH3_128bits_update(&st, p, strlen(p) + 1);
    }
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(uuid, c.digest, 16);
    uuid[6] = (unsigned char)((uuid[6] & 0x0F) | 0x80);
    uuid[8] = (unsigned char)((uuid[8] & 0x3F) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            text[k++] = '-';
        text[k++] = hex[uuid[i] >> 4];
        text[k++] = hex[uuid[i] & 15];
    }
    text[k] = 0;
}

int64_t nw_event_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int ms = (int)(ts.tv_nsec / 1000000);
    size_t w = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + w, 32 - w, ".%03dZ", ms);
    return (int64_t)ts.tv_sec * 1000000 + ms * 1000;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void set_time(json_t *o, const char *k, int64_t t)
{
    if (!t)
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(o, k, json_string(buf));
}

char *nw_event_body(const nw_event_in_t *in, size_t *len)
{
    const nw_item_t *it = in->item;
    json_t *o = json_object();
    json_object_set_new(o, "schema_version", json_integer(NW_EVENT_SCHEMA_VERSION));
    set_str(o, "id", in->id);
    char type[64];
    snprintf(type, sizeof type, NW_EVENT_TYPE_PREFIX "%s", in->kind);
    set_str(o, "type", type);
    set_str(o, "kind", in->kind);
    set_str(o, "time", in->time);
    set_str(o, "provider", it->provider);
    set_str(o, "story_id", it->story_id);
    set_str(o, "version", it->version ? it->version : "");
    json_object_set_new(o, "story_pk", json_integer(in->story_pk));
    json_object_set_new(o, "version_pk", json_integer(in->version_pk));
    json_object_set_new(o, "cluster_id", json_integer(in->cluster_id));
    set_str(o, "edit_status", nw_edit_name(it->edit));
    set_str(o, "pubstatus", nw_pubstatus_name(it->pubstatus));
    set_str(o, "format", it->format);
    set_time(o, "versioncreated", it->versioncreated);
    json_object_set(o, "previous_version", in->previous ? in->previous : json_null());
    json_object_set_new(o, "links", in->links ? json_incref(in->links) : json_array());
    if (in->removed)
        json_object_set(o, "removed_versions", in->removed);
    json_t *src = json_object();
    set_str(src, "topic", in->topic);
    json_object_set_new(src, "partition", json_integer(in->partition));
    json_object_set_new(src, "offset", json_integer(in->offset));
    json_object_set_new(o, "source", src);
    if (in->omit_item) {
        /* the identity, times, status and main headline: enough to show the
         * story and fetch the rest from PostgreSQL (item_versions.ninjs) */
        static const char *const keep[] = {"uri", "type", "version", "versioncreated",
                                           "firstcreated", "pubstatus", "language", "urgency",
                                           "slugline", NULL};
        json_t *stub = json_object();
        for (int k = 0; keep[k]; k++) {
            json_t *v = json_object_get(it->ninjs, keep[k]);
            if (v)
                json_object_set(stub, keep[k], v);
        }
        json_t *h = json_array_get(json_object_get(it->ninjs, "headlines"), 0);
        if (h)
            json_object_set_new(stub, "headlines", json_pack("[O]", h));
        json_object_set_new(o, "item", stub);
        json_object_set_new(o, "item_omitted", json_true());
        size_t n = 0;
        char *s = nw_json_compact(o, &n);
        json_decref(o);
        if (s && len)
            *len = n;
        return s;
    }
    /* The item last, spliced in as text: its serialization (made once, see
     * nw_item_ninjs_text) is the largest part of the event. */
    size_t item_len = it->ninjs_len, head_len = 0;
    char *own = it->ninjs_text ? NULL : nw_json_compact(it->ninjs, &item_len);
    const char *item = it->ninjs_text ? it->ninjs_text : own;
    char *head = nw_json_compact(o, &head_len);
    json_decref(o);
    char *s = NULL;
    if (head && item && head_len >= 2 && head[head_len - 1] == '}') {
        static const char key[] = ",\"item\":";
        size_t n = head_len - 1 + sizeof key - 1 + item_len + 1;
        s = malloc(n + 1);
        if (s) {
            char *w = s;
            memcpy(w, head, head_len - 1), w += head_len - 1;
            memcpy(w, key, sizeof key - 1), w += sizeof key - 1;
            memcpy(w, item, item_len), w += item_len;
            *w++ = '}';
            *w = '\0';
            if (len)
                *len = n;
        }
    }
    free(head);
    free(own);
    return s;
}
