/*
 * ap-media-json: AP Media API item JSON, alone or with its NITF rendition.
 *
 * Accepted shapes (common/formats/README.md):
 *   {"item": <item or /content response>, "nitf": "<NITF XML>"}  envelope: one whole item
 *   {"data": {"item": {...}}}                                     /content response
 *   {"data": {"items": [{"item": {...}}, ...]}}                   /content/feed page: one item each
 *   {"meta": {...}, "item": {...}}                                one feed entry
 *   {...}                                                         a bare item (altids.itemid)
 * A text item without its NITF is the metadata half (part NW_PART_META,
 * pair_key "<itemid>.<version>"); nw_format_ap_merge() joins it to the body.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const AP_TYPES[] = {"text", "picture", "graphic", "audio", "video",
                                       "composite", NULL};

static void add_concepts(json_t *o, const char *array, json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *code = nw_json_str(e, "code"), *name = nw_json_str(e, "name");
        const char *scheme = nw_json_str(e, "scheme"), *creator = nw_json_str(e, "creator");
        json_t *rels = json_object_get(e, "rels");
        const char *rel = json_string_value(json_array_get(rels, 0));
        bool category = false;
        size_t k;
        json_t *r;
        json_array_foreach(rels, k, r)
        {
            const char *s = json_string_value(r);
            category |= s && (!strcmp(s, "category") || !strcmp(s, "suppcategory"));
        }
        char *uri = NULL;
        if (code && scheme && !category && !strncmp(scheme, "http", 4))
            uri = nw_fmt_printf("%s%s", scheme, code);
        json_t *m = nw_ninjs_add_concept(o, array, name, uri, code, rel,
                                         !strcmp(array, "subjects") ? creator : NULL);
        json_t *geo = json_object_get(e, "geometry_geojson");
        if (m && !strcmp(array, "places") && json_is_object(geo) && json_object_get(geo, "type"))
            json_object_set(m, "geojson", geo);
        free(uri);
    }
}

static bool has_string(json_t *arr, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *s = json_string_value(e);
        if (s && !strcasecmp(s, v))
            return true;
    }
    return false;
}

/* Map one AP item object (data.item) into a fresh item. */
static bool map_item(const json_t *j, int invalid, nw_item_t *it, nw_err_t *err)
{
    json_t *o = it->ninjs;
    snprintf(it->provider, sizeof it->provider, "ap");
    snprintf(it->format, sizeof it->format, "ap-media-json");
    it->invalid_bytes = invalid;
    json_t *alt = json_object_get(j, "altids");
    const char *itemid = nw_json_str(alt, "itemid");
    if (!itemid)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "AP item without altids.itemid");
    it->story_id = nw_ap_uri(itemid);
    long long ver = 0;
    bool has_ver = nw_json_int(j, "version", &ver) && ver >= 0;
    if (has_ver) {
        it->version = nw_fmt_printf("%lld", ver);
        it->version_order = (uint64_t)ver;
        it->pair_key = nw_fmt_printf("%s.%lld", itemid, ver);
        if (ver > 0)
            it->edit = NW_EDIT_UPDATE;
    }
    const char *etag = nw_json_str(alt, "etag");
    it->version_id = etag ? nw_fmt_strdup(etag)
                          : has_ver ? nw_fmt_printf("%s:%lld", itemid, ver) : NULL;

    const char *type = nw_json_str(j, "type");
    for (int i = 0; type && AP_TYPES[i]; i++)
        if (!strcmp(type, AP_TYPES[i]))
            nw_ninjs_set_str(o, "type", type);
    nw_ninjs_set_field(o, "profile", nw_json_str(j, "profile"));
    static const char *const tkeys[] = {"versioncreated", "firstcreated", "embargoed"};
    int64_t *tdst[] = {&it->versioncreated, &it->firstcreated, &it->embargoed};
    for (int i = 0; i < 3; i++) {
        const char *s = nw_json_str(j, tkeys[i]);
        if (s && !nw_fmt_time(s, tkeys[i], tdst[i], err))
            return false;
    }
    nw_fmt_pubstatus(it, nw_json_str(j, "pubstatus"));
    long long urg;
    if (nw_json_int(j, "urgency", &urg) && urg >= 1 && urg <= 9)
        json_object_set_new(o, "urgency", json_integer(urg));
    nw_ninjs_set_field(o, "language", nw_json_str(j, "language"));
    nw_ninjs_add_headline(o, "main", nw_json_str(j, "headline"));
    nw_ninjs_add_headline(o, "extended", nw_json_str(j, "headline_extended"));
    nw_ninjs_add_headline(o, "seo", nw_json_str(j, "headline_seo"));

    nw_sbuf_t by = {0};
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "bylines"), i, e)
    {
        char *b = nw_text_field(nw_json_str(e, "by"));
        if (b) {
            if (by.len)
                nw_sbuf_puts(&by, ", ");
            nw_sbuf_puts(&by, b);
            free(b);
        }
    }
    if (!by.len && json_is_object(json_object_get(j, "photographer")))
        nw_sbuf_puts(&by, nw_json_str(json_object_get(j, "photographer"), "name") ?: "");
    char *bys = nw_sbuf_take(&by);
    nw_ninjs_set_field(o, "by", bys);
    free(bys);
    nw_ninjs_set_field(o, "slugline", nw_json_str(j, "slugline"));
    nw_ninjs_set_field(o, "title", nw_json_str(j, "title"));
    nw_ninjs_set_field(o, "located", nw_json_str(j, "located"));
    nw_ninjs_set_field(o, "ednote", nw_json_str(j, "ednote"));
    const char *cap = nw_json_str(j, "description_caption");
    if (cap)
        nw_ninjs_add_description(o, "caption", cap);
    const char *sum = nw_json_str(j, "description_summary");
    if (sum)
        nw_ninjs_add_description(o, "summary", sum);

    add_concepts(o, "subjects", json_object_get(j, "subject"));
    add_concepts(o, "people", json_object_get(j, "person"));
    add_concepts(o, "organisations", json_object_get(j, "organisation"));
    add_concepts(o, "places", json_object_get(j, "place"));
    add_concepts(o, "events", json_object_get(j, "event"));
    json_array_foreach(json_object_get(j, "infosource"), i, e)
        nw_ninjs_add_infosource(o, nw_json_str(e, "name"), nw_json_str(e, "type"), NULL, NULL);
    nw_ninjs_set_field(o, "copyrightnotice", nw_json_str(j, "copyrightnotice"));
    json_t *ut = json_object_get(j, "usageterms");
    if (json_is_string(ut)) {
        nw_ninjs_set_field(o, "usageterms", json_string_value(ut));
    } else if (json_is_array(ut)) {
        nw_sbuf_t b = {0};
        json_array_foreach(ut, i, e)
        {
            if (!json_is_string(e))
                continue;
            if (b.len)
                nw_sbuf_putc(&b, ' ');
            nw_sbuf_puts(&b, json_string_value(e));
        }
        char *s = nw_sbuf_take(&b);
        nw_ninjs_set_field(o, "usageterms", s);
        free(s);
    }
    const char *key;
    json_t *r, *rends = json_array();
    json_object_foreach(json_object_get(j, "renditions"), key, r)
    {
        const char *href = nw_json_str(r, "href");
        if (!json_is_object(r) || !href)
            continue;
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(key));
        json_object_set_new(m, "href", json_string(href));
        nw_ninjs_set_str(m, "contenttype", nw_json_str(r, "mimetype"));
        nw_ninjs_set_str(m, "format", nw_json_str(r, "format"));
        json_array_append_new(rends, m);
    }
    json_object_set_new(o, "renditions", rends);
    nw_ninjs_add_altid(o, "itemid", itemid);
    nw_ninjs_add_altid(o, "etag", etag);
    nw_ninjs_add_altid(o, "friendlykey", nw_json_str(alt, "friendlykey"));
    nw_ninjs_add_altid(o, "transref", nw_json_str(alt, "transref"));
    nw_ninjs_add_altid(o, "uri", nw_json_str(j, "uri"));

    /* advisories and daybooks: stored, never published as news */
    const char *profile = nw_json_str(j, "profile");
    it->is_news = has_string(json_object_get(j, "signals"), "newscontent") &&
                  !(profile && (!strcasecmp(profile, "Advisory") || !strcasecmp(profile, "Daybook")));
    bool text = type && !strcmp(type, "text");
    bool nitf = json_object_get(json_object_get(j, "renditions"), "nitf") != NULL;
    it->part = text || nitf ? NW_PART_META : NW_PART_WHOLE;
    return true;
}

/* data.item of a /content response, or the object itself */
static const json_t *unwrap(const json_t *j)
{
    json_t *d = json_object_get(j, "data");
    if (json_is_object(json_object_get(d, "item")))
        return json_object_get(d, "item");
    if (json_is_object(json_object_get(j, "item")) && !json_object_get(j, "altids"))
        return json_object_get(j, "item");
    return j;
}

static bool merge_into(nw_item_t *meta, const nw_item_t *body, nw_err_t *err);

bool nw_fmt_ap_media_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    json_t *root;
    int invalid = 0;
    if (!nw_json_read(in, &root, &invalid, err))
        return false;
    bool ok = true;
    json_t *items = json_object_get(json_object_get(root, "data"), "items");
    const char *nitf = nw_json_str(root, "nitf");
    if (json_is_array(items)) {
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            if (!json_is_object(e))
                continue;
            if (!(ok = map_item(unwrap(e), invalid, nw_items_add(out), err)))
                break;
        }
    } else {
        nw_item_t *it = nw_items_add(out);
        ok = map_item(unwrap(unwrap(json_object_get(root, "item") ?: root)), invalid, it, err);
        if (ok && nitf) {
            nw_input_t nin = {.data = nitf, .len = strlen(nitf), .format = "ap-nitf"};
            nw_items_t tmp = {0};
            ok = nw_fmt_ap_nitf(&nin, &tmp, err);
            if (ok)
                ok = merge_into(it, &tmp.v[0], err);
            else
                nw_err_prefix(err, "envelope nitf");
            nw_items_free(&tmp);
        }
    }
    json_decref(root);
    return ok;
}

/* Give `meta` the body-side fields of `body` (both unfinished or finished). */
static bool merge_into(nw_item_t *meta, const nw_item_t *body, nw_err_t *err)
{
    json_t *o = meta->ninjs, *b = body->ninjs;
    if (meta->pair_key && body->pair_key && strcmp(meta->pair_key, body->pair_key) != 0)
        return nw_err_set(err, NW_ERR_INPUT, "pair-mismatch",
                          "AP halves differ: metadata %s, body %s", meta->pair_key, body->pair_key);
    static const char *const fill[] = {"headlines", "by", "located", "ednote", "copyrightholder",
                                       NULL};
    for (int i = 0; fill[i]; i++)
        if (!json_object_get(o, fill[i]) && json_object_get(b, fill[i]))
            json_object_set_new(o, fill[i], json_deep_copy(json_object_get(b, fill[i])));
    if (json_object_get(b, "bodies"))
        json_object_set_new(o, "bodies", json_deep_copy(json_object_get(b, "bodies")));
    nw_fmt_set_string(&meta->body_text, body->body_text);
    meta->invalid_bytes += body->invalid_bytes;
    if (!meta->versioncreated)
        meta->versioncreated = body->versioncreated;
    if (!meta->firstcreated)
        meta->firstcreated = body->firstcreated;
    meta->part = NW_PART_WHOLE;
    return true;
}

bool nw_format_ap_merge(const nw_item_t *meta, const nw_item_t *body, nw_item_t *out,
                        nw_err_t *err)
{
    nw_item_init(out);
    if (!meta || !body || meta->part != NW_PART_META || strcmp(meta->format, "ap-media-json") ||
        strcmp(body->format, "ap-nitf"))
        return nw_err_set(err, NW_ERR_INPUT, "bad-pair",
                          "nw_format_ap_merge wants an ap-media-json metadata half and an ap-nitf");
    json_decref(out->ninjs);
    out->ninjs = json_deep_copy(meta->ninjs);
    memcpy(out->provider, meta->provider, sizeof out->provider);
    memcpy(out->format, meta->format, sizeof out->format);
    out->story_id = nw_fmt_strdup(meta->story_id);
    out->version = nw_fmt_strdup(meta->version);
    out->version_order = meta->version_order;
    out->versioncreated = meta->versioncreated;
    out->firstcreated = meta->firstcreated;
    out->embargoed = meta->embargoed;
    out->pubstatus = meta->pubstatus;
    out->edit = meta->edit;
    out->is_news = meta->is_news;
    out->invalid_bytes = meta->invalid_bytes;
    out->version_id = nw_fmt_strdup(meta->version_id);
    out->derived_from = nw_fmt_strdup(meta->derived_from);
    out->pair_key = nw_fmt_strdup(meta->pair_key);
    out->synthetic_id = meta->synthetic_id;
    bool ok = merge_into(out, body, err);
    /* body_text of a finished half is already stripped: keep it out of finish */
    char *text = out->body_text;
    out->body_text = NULL;
    if (ok)
        ok = nw_fmt_finish(out, err);
    out->body_text = text;
    if (!ok) {
        nw_item_free(out);
        nw_item_init(out);
    }
    return ok;
}

bool nw_format_ap_merge_raw(const nw_input_t *a, const nw_input_t *b, nw_item_t *out,
                            nw_err_t *err)
{
    nw_item_t x, y;
    nw_item_init(out);
    if (!nw_format_parse(a, &x, err)) {
        nw_item_free(&x);
        return false;
    }
    if (!nw_format_parse(b, &y, err)) {
        nw_item_free(&x);
        nw_item_free(&y);
        return false;
    }
    bool x_meta = !strcmp(x.format, "ap-media-json");
    nw_item_free(out);
    bool ok = nw_format_ap_merge(x_meta ? &x : &y, x_meta ? &y : &x, out, err);
    nw_item_free(&x);
    nw_item_free(&y);
    return ok;
}
