/*
 * ninjs: IPTC ninjs 1.x, 2.x and 3.x input, re-emitted as ninjs 2.1.
 *
 * 3.x camelCase names map to their 2.1 lower-case forms (embargoedUntil ->
 * embargoed, geoJSON -> geojson); 1.x headline/body_html/body_text/byline/
 * subject[]/object-valued altids, renditions and associations map to the 2.1
 * arrays. Only schema properties survive. The provider rules apply to uri: an
 * AP Media URL (".../media/v/content/<itemid>?qt=...&et=...") becomes
 * tag:ap.org,2011:<itemid> and the raw URL goes to altids. AP's published
 * examples carry data errors that are survived, not copied: a URI in "rel",
 * a truncated or mismatched "uri" (the "literal" code wins).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* value of o[k2] or, in 3.x spelling, o[k3] */
static json_t *get2(const json_t *o, const char *k2, const char *k3)
{
    json_t *v = json_object_get(o, k2);
    return v ? v : k3 ? json_object_get(o, k3) : NULL;
}

static const char *str2(const json_t *o, const char *k2, const char *k3)
{
    const char *s = json_string_value(get2(o, k2, k3));
    return s && *s ? s : NULL;
}

static bool is_uri(const char *s)
{
    if (!s || !isalpha((unsigned char)s[0]))
        return false;
    const char *c = strchr(s, ':');
    return c && c[1] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") ==
                            (size_t)(c - s);
}

/* AP cv URIs must end in the literal code; fix truncated or mismatched ones. */
static char *concept_uri(const char *uri, const char *literal)
{
    if (uri && literal && !strncmp(uri, NW_AP_CV_URI, strlen(NW_AP_CV_URI)) &&
        strcmp(uri + strlen(NW_AP_CV_URI), literal) != 0)
        return nw_fmt_printf("%s%s", NW_AP_CV_URI, literal);
    return uri && is_uri(uri) ? nw_fmt_strdup(uri) : NULL;
}

static void concepts(json_t *o, const char *array, const json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (!json_is_object(e))
            continue;
        const char *name = nw_json_str(e, "name"), *uri = nw_json_str(e, "uri");
        const char *lit = nw_json_str(e, "literal"), *rel = nw_json_str(e, "rel");
        const char *code = nw_json_str(e, "code"); /* 1.x subject[] */
        if (!lit && code)
            lit = code;
        char *from_scheme = NULL; /* 1.x: {code, scheme} */
        const char *scheme = nw_json_str(e, "scheme");
        if (!uri && code && scheme && !strncmp(scheme, "http", 4))
            uri = from_scheme = nw_fmt_printf("%s%s", scheme, code);
        if (!uri && rel && is_uri(rel) && !strncmp(rel, "http", 4)) {
            uri = rel; /* AP example: the URI sits in rel */
            rel = NULL;
        }
        char *u = concept_uri(uri, lit);
        free(from_scheme);
        json_t *m = nw_ninjs_add_concept(o, array, name, u, lit, rel, nw_json_str(e, "creator"));
        free(u);
        json_t *geo = get2(e, "geojson", "geoJSON");
        if (m && !strcmp(array, "places") && json_is_object(geo) && json_object_get(geo, "type"))
            json_object_set(m, "geojson", geo);
        long long v;
        if (m && !strcmp(array, "subjects")) {
            if (nw_json_int(e, "relevance", &v) && v >= 0 && v <= 100)
                json_object_set_new(m, "relevance", json_integer(v));
            if (nw_json_int(e, "confidence", &v) && v >= 0 && v <= 100)
                json_object_set_new(m, "confidence", json_integer(v));
        }
    }
}

static void renditions(json_t *o, const json_t *r)
{
    json_t *out = json_array();
    const char *key;
    json_t *e;
    size_t i;
    json_t *list = json_array();
    if (json_is_array(r)) {
        json_array_foreach(r, i, e) json_array_append(list, e);
    } else if (json_is_object(r)) { /* 1.x: keyed by name */
        json_object_foreach((json_t *)r, key, e)
        {
            if (!json_is_object(e))
                continue;
            json_t *c = json_copy(e);
            if (!json_object_get(c, "name"))
                json_object_set_new(c, "name", json_string(key));
            json_array_append_new(list, c);
        }
    }
    json_array_foreach(list, i, e)
    {
        const char *name = nw_json_str(e, "name"), *href = nw_json_str(e, "href");
        if (!name)
            continue;
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(name));
        if (href && is_uri(href))
            json_object_set_new(m, "href", json_string(href));
        nw_ninjs_set_str(m, "contenttype", str2(e, "contenttype", "contentType"));
        if (!json_object_get(m, "contenttype"))
            nw_ninjs_set_str(m, "contenttype", nw_json_str(e, "mimetype"));
        nw_ninjs_set_str(m, "format", nw_json_str(e, "format"));
        static const char *const nums[][2] = {{"height", NULL}, {"width", NULL},
                                              {"sizeinbytes", "sizeInBytes"}, {"duration", NULL}};
        for (int k = 0; k < 4; k++) {
            json_t *v = get2(e, nums[k][0], nums[k][1]);
            if (json_is_number(v))
                json_object_set(m, nums[k][0], v);
        }
        json_array_append_new(out, m);
    }
    json_decref(list);
    json_object_set_new(o, "renditions", out);
}

static void text_array(json_t *o, const char *array, const json_t *in, const char *k3)
{
    (void)k3;
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e)
    {
        const char *v = nw_json_str(e, "value");
        if (!v)
            continue;
        if (!strcmp(array, "headlines"))
            nw_ninjs_add_headline(o, nw_json_str(e, "role"), v);
        else
            nw_ninjs_add_description(o, nw_json_str(e, "role"), v);
    }
}

static void bodies(nw_item_t *it, const json_t *j)
{
    json_t *list = get2(j, "bodies", NULL);
    size_t i;
    json_t *e;
    bool done = false;
    json_array_foreach(list, i, e)
    {
        const char *v = nw_json_str(e, "value");
        const char *ct = str2(e, "contenttype", "contentType");
        if (!v || done)
            continue;
        nw_body_t b;
        if (ct && (strstr(ct, "html") || strstr(ct, "xml")))
            nw_text_body_from_html(v, strlen(v), 0, &b);
        else
            nw_text_body_from_plain(v, &b);
        long long wc = -1;
        nw_json_int(e, "wordcount", &wc);
        nw_fmt_set_body(it, &b, wc);
        done = true;
    }
    if (done)
        return;
    const char *html = nw_json_str(j, "body_html"), *text = nw_json_str(j, "body_text");
    nw_body_t b;
    if (html)
        nw_text_body_from_html(html, strlen(html), 0, &b);
    else if (text)
        nw_text_body_from_plain(text, &b);
    else
        return;
    nw_fmt_set_body(it, &b, -1);
}

/* provider slug from the uri ("tag:ap.org,..." -> ap) */
static void set_provider(nw_item_t *it, const char *uri)
{
    const char *p = "ninjs";
    if (strstr(uri, "ap.org"))
        p = "ap";
    else if (strstr(uri, "reuters.com"))
        p = "reuters";
    else if (strstr(uri, "afp.com"))
        p = "afp";
    snprintf(it->provider, sizeof it->provider, "%s", p);
}

static bool map(nw_item_t *it, const json_t *j, nw_err_t *err)
{
    json_t *o = it->ninjs;
    const char *uri = nw_json_str(j, "uri");
    if (!uri)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "ninjs object without uri");
    const char *m = strstr(uri, "/media/v/content/");
    if (m && strstr(uri, "ap.org")) {
        const char *id = m + strlen("/media/v/content/");
        size_t n = strcspn(id, "?#./");
        char *itemid = strndup(id, n);
        it->story_id = nw_ap_uri(itemid);
        nw_ninjs_add_altid(o, "itemid", itemid);
        nw_ninjs_add_altid(o, "uri", uri);
        free(itemid);
    } else {
        it->story_id = nw_fmt_strdup(uri);
    }
    set_provider(it, uri);
    json_t *v = json_object_get(j, "version");
    if (json_is_string(v))
        it->version = nw_fmt_strdup(json_string_value(v));
    else if (json_is_integer(v))
        it->version = nw_fmt_printf("%lld", (long long)json_integer_value(v));
    if (it->version && !nw_fmt_u64(it->version, &it->version_order))
        it->version_order = 0;
    if (it->version)
        it->version_id = nw_fmt_printf("%s:%s", it->story_id, it->version);
    static const char *const types[] = {"text", "audio", "video", "picture", "graphic",
                                        "composite", "component", NULL};
    const char *t = nw_json_str(j, "type");
    for (int i = 0; t && types[i]; i++)
        if (!strcmp(t, types[i]))
            nw_ninjs_set_str(o, "type", t);
    static const char *const times[][3] = {{"versioncreated", "versionCreated", NULL},
                                           {"firstcreated", "firstCreated", NULL},
                                           {"embargoed", "embargoedUntil", NULL},
                                           {"contentcreated", "contentCreated", NULL},
                                           {"expires", NULL, NULL}};
    int64_t tv[5] = {0};
    for (int i = 0; i < 5; i++) {
        const char *s = str2(j, times[i][0], times[i][1]);
        if (s && !nw_fmt_time(s, times[i][0], &tv[i], err))
            return false;
    }
    it->versioncreated = tv[0];
    it->firstcreated = tv[1];
    it->embargoed = tv[2];
    nw_ninjs_set_time(o, "contentcreated", tv[3]);
    nw_ninjs_set_time(o, "expires", tv[4]);
    nw_fmt_pubstatus(it, str2(j, "pubstatus", "pubStatus"));
    json_t *u = json_object_get(j, "urgency");
    if (json_is_number(u) && json_number_value(u) >= 1 && json_number_value(u) <= 9)
        json_object_set(o, "urgency", u);
    static const char *const strs[][2] = {
        {"profile", NULL},           {"language", NULL},
        {"by", NULL},                {"slugline", NULL},
        {"title", NULL},             {"located", NULL},
        {"ednote", "edNote"},        {"copyrightholder", "copyrightHolder"},
        {"copyrightnotice", "copyrightNotice"}, {"representationtype", "representationType"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        nw_ninjs_set_field(o, strs[i][0], str2(j, strs[i][0], strs[i][1]));
    if (!json_object_get(o, "by"))
        nw_ninjs_set_field(o, "by", nw_json_str(j, "byline"));
    json_t *ut = get2(j, "usageterms", "usageTerms");
    if (json_is_string(ut))
        nw_ninjs_set_field(o, "usageterms", json_string_value(ut));
    text_array(o, "headlines", json_object_get(j, "headlines"), NULL);
    if (!json_object_get(o, "headlines"))
        nw_ninjs_add_headline(o, "main", nw_json_str(j, "headline"));
    text_array(o, "descriptions", json_object_get(j, "descriptions"), NULL);
    concepts(o, "subjects", json_object_get(j, "subjects"));
    concepts(o, "subjects", json_object_get(j, "subject"));
    concepts(o, "people", json_object_get(j, "people"));
    concepts(o, "organisations", json_object_get(j, "organisations"));
    concepts(o, "places", json_object_get(j, "places"));
    concepts(o, "places", json_object_get(j, "place"));
    concepts(o, "events", json_object_get(j, "events"));
    concepts(o, "objects", json_object_get(j, "objects"));
    concepts(o, "genres", json_object_get(j, "genres"));
    size_t i;
    json_t *e;
    json_array_foreach(get2(j, "infosources", "infoSources"), i, e)
        nw_ninjs_add_infosource(o, nw_json_str(e, "name"), nw_json_str(e, "role"),
                                is_uri(nw_json_str(e, "uri")) ? nw_json_str(e, "uri") : NULL,
                                nw_json_str(e, "literal"));
    json_t *alt = get2(j, "altids", "altIds");
    if (json_is_array(alt)) {
        json_array_foreach(alt, i, e) nw_ninjs_add_altid(o, nw_json_str(e, "role"), nw_json_str(e, "value"));
    } else if (json_is_object(alt)) {
        const char *k;
        json_object_foreach(alt, k, e) nw_ninjs_add_altid(o, k, json_string_value(e));
    }
    if (get2(j, "renditions", NULL))
        renditions(o, json_object_get(j, "renditions"));
    bodies(it, j);
    return true;
}

bool nw_fmt_ninjs(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    json_t *root;
    int invalid = 0;
    if (!nw_json_read(in, &root, &invalid, err))
        return false;
    nw_item_t *it = nw_items_add(out);
    snprintf(it->format, sizeof it->format, "ninjs");
    it->invalid_bytes = invalid;
    bool ok = map(it, root, err);
    json_decref(root);
    return ok;
}
