/*
 * reuters-api-json: Reuters Connect (GraphQL) item JSON.
 *
 * Accepted: {"data": {"item": {...}}}, {"data": {"search": {"items": [...]}}}
 * or a bare item. uri is the version-less story id (same form as the G2
 * guid); version and versionedGuid identify the revision; bodyXhtml is a
 * whole XHTML document in a string, parsed as XML (HTML parser as fallback).
 * Absent pubStatus means usable. evolvedFrom/derivedFrom link the story it
 * evolved from (a Reuters "UPDATE n" under a new USN).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static void body(nw_item_t *it, const char *xhtml, nw_err_t *err)
{
    nw_body_t b = {0};
    xmlDocPtr doc = NULL;
    nw_err_t ignored;
    if (nw_xml_read_string(xhtml, strlen(xhtml), &doc, &ignored)) {
        xmlNode *bd = nw_xml_find(xmlDocGetRootElement(doc), NS_ANY, "body");
        nw_text_body_from_xml(bd ? bd : xmlDocGetRootElement(doc), NW_HTML_SPLIT_LINES, &b);
        xmlFreeDoc(doc);
    } else {
        nw_text_body_from_html(xhtml, strlen(xhtml), NW_HTML_SPLIT_LINES, &b);
    }
    (void)err;
    if (!json_object_get(it->ninjs, "located") && b.text) {
        char *place = nw_text_body_dateline(b.text, "Reuters");
        nw_ninjs_set_str(it->ninjs, "located", place);
        free(place);
    }
    nw_fmt_set_body(it, &b, -1);
}

static const char *link_uri(const json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    return nw_json_str(v, "uri");
}

static bool map(nw_item_t *it, const json_t *j, int invalid, nw_err_t *err)
{
    json_t *o = it->ninjs;
    snprintf(it->provider, sizeof it->provider, "reuters");
    snprintf(it->format, sizeof it->format, "reuters-api-json");
    it->invalid_bytes = invalid;
    const char *uri = nw_json_str(j, "uri"), *usn = nw_json_str(j, "usn");
    if (!uri)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "Reuters API item without uri");
    it->story_id = nw_fmt_strdup(uri);
    json_t *v = json_object_get(j, "version");
    if (json_is_integer(v))
        it->version = nw_fmt_printf("%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && *json_string_value(v))
        it->version = nw_fmt_strdup(json_string_value(v));
    if (it->version && !nw_fmt_u64(it->version, &it->version_order))
        return nw_err_set(err, NW_ERR_INPUT, "bad-version", "Reuters version \"%.30s\" is not a number",
                          it->version);
    const char *vg = nw_json_str(j, "versionedGuid");
    it->version_id = vg ? nw_fmt_strdup(vg) : it->version ? nw_fmt_printf("%s:%s", uri, it->version) : NULL;
    nw_ninjs_add_altid(o, "versionedid", vg);
    nw_ninjs_add_altid(o, "usn", usn);
    const char *t = nw_json_str(j, "type");
    static const char *const types[] = {"text", "picture", "graphic", "audio", "video", "composite", NULL};
    for (int i = 0; t && types[i]; i++)
        if (!strcmp(t, types[i]))
            nw_ninjs_set_str(o, "type", t);
    static const char *const tk[] = {"versionCreated", "firstCreated", "embargoed"};
    int64_t *dst[] = {&it->versioncreated, &it->firstcreated, &it->embargoed};
    for (int i = 0; i < 3; i++) {
        const char *s = nw_json_str(j, tk[i]);
        if (s && !nw_fmt_time(s, tk[i], dst[i], err))
            return false;
    }
    nw_fmt_pubstatus(it, nw_json_str(j, "pubStatus"));
    long long urg;
    if (nw_json_int(j, "urgency", &urg) && urg >= 1 && urg <= 9)
        json_object_set_new(o, "urgency", json_integer(urg));
    nw_ninjs_set_field(o, "language", nw_json_str(j, "language"));
    nw_ninjs_add_headline(o, "main", nw_json_str(j, "headLine"));
    nw_ninjs_set_field(o, "by", nw_json_str(j, "byLine"));
    nw_ninjs_set_field(o, "slugline", nw_json_str(j, "slug"));
    nw_ninjs_set_field(o, "ednote", nw_json_str(j, "editorNote"));
    char *place = nw_text_dateline_place(nw_json_str(j, "dateLine"));
    nw_ninjs_set_str(o, "located", place);
    free(place);
    const char *cap = nw_json_str(j, "caption");
    if (cap)
        nw_ninjs_add_description(o, "caption", cap);
    nw_ninjs_set_field(o, "copyrightnotice", nw_json_str(j, "copyrightNotice"));
    nw_ninjs_set_field(o, "usageterms", nw_json_str(j, "usageTerms"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "subject"), i, e)
    {
        const char *code = nw_json_str(e, "code"), *name = nw_json_str(e, "name");
        if (code && !strncmp(code, "subj:", 5))
            nw_ninjs_add_iptc_subject(o, code + 5, name);
        else if (code)
            nw_ninjs_add_concept(o, "subjects", name, NULL, code, nw_json_str(e, "rel"), NULL);
    }
    json_array_foreach(json_object_get(j, "genre"), i, e)
        nw_ninjs_add_concept(o, "genres", nw_json_str(e, "name"), NULL, nw_json_str(e, "code"),
                             NULL, NULL);
    json_t *sig = json_object_get(j, "signal");
    json_array_foreach(sig, i, e)
    {
        const char *s = json_is_string(e) ? json_string_value(e) : nw_json_str(e, "code");
        nw_edit_t ed = !s ? NW_EDIT_NEW
                       : !strcmp(s, "edStat:U") ? NW_EDIT_UPDATE
                       : !strcmp(s, "edStat:C") ? NW_EDIT_CORRECTION
                       : !strcmp(s, "edStat:D") ? NW_EDIT_KILL
                                                : NW_EDIT_NEW;
        if (ed > it->edit)
            it->edit = ed;
    }
    const char *from = link_uri(j, "evolvedFrom");
    if (!from)
        from = link_uri(j, "derivedFrom");
    it->derived_from = nw_fmt_strdup(from);
    const char *xhtml = nw_json_str(j, "bodyXhtml");
    if (!xhtml)
        xhtml = nw_json_str(j, "bodyXhtmlRich");
    if (xhtml)
        body(it, xhtml, err);
    return true;
}

bool nw_fmt_reuters_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    json_t *root;
    int invalid = 0;
    if (!nw_json_read(in, &root, &invalid, err))
        return false;
    json_t *data = json_object_get(root, "data");
    json_t *items = json_object_get(json_object_get(data, "search"), "items");
    bool ok = true;
    if (json_is_array(items)) {
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e) if (ok && json_is_object(e)) ok =
            map(nw_items_add(out), e, invalid, err);
    } else {
        json_t *item = json_object_get(data, "item");
        ok = map(nw_items_add(out), json_is_object(item) ? item : root, invalid, err);
    }
    json_decref(root);
    return ok;
}
