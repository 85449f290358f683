/*
 * g2: the NewsML-G2 walker both G2 parsers share (IPTC NewsML-G2 2.x,
 * https://iptc.org/standards/newsml-g2/). Elements are matched by namespace
 * URI, never by prefix: Reuters files use the default namespace in some
 * deliveries and ns0:/ns1:/html: prefixes in others.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const char *nw_g2_code(const char *q)
{
    const char *c = q ? strchr(q, ':') : NULL;
    return c ? c + 1 : q;
}

static void set_type(json_t *o, const char *qcode)
{
    static const char *const types[] = {"text", "picture", "graphic", "audio", "video",
                                        "composite", NULL};
    const char *t = nw_g2_code(qcode);
    for (int i = 0; t && types[i]; i++)
        if (!strcmp(t, types[i]))
            nw_ninjs_set_str(o, "type", t);
}

static bool item_meta(nw_item_t *it, xmlNode *meta, nw_err_t *err)
{
    json_t *o = it->ninjs;
    char *q = nw_xml_attr(nw_xml_child(meta, NS_NAR, "itemClass"), "qcode");
    set_type(o, q);
    free(q);
    static const char *const tk[] = {"versionCreated", "firstCreated", "embargoed"};
    int64_t *dst[] = {&it->versioncreated, &it->firstcreated, &it->embargoed};
    for (int i = 0; i < 3; i++) {
        char *s = nw_xml_text(nw_xml_child(meta, NS_NAR, tk[i]));
        bool ok = !s || nw_fmt_time(s, tk[i], dst[i], err);
        free(s);
        if (!ok)
            return false;
    }
    char *ps = nw_xml_attr(nw_xml_child(meta, NS_NAR, "pubStatus"), "qcode");
    nw_fmt_pubstatus(it, ps);
    free(ps);
    nw_xml_set_text(o, "ednote", nw_xml_child(meta, NS_NAR, "edNote"));
    nw_xml_set_text(o, "title", nw_xml_child(meta, NS_NAR, "title"));
    nw_xml_set_text(o, "profile", nw_xml_child(meta, NS_NAR, "profile"));
    for (xmlNode *l = nw_xml_child(meta, NS_NAR, "link"); l; l = nw_xml_next(l, NS_NAR, "link")) {
        char *rel = nw_xml_attr(l, "rel");
        if (rel && !strcmp(rel, "irel:derivedFrom") && !it->derived_from)
            it->derived_from = nw_xml_attr(l, "residref");
        free(rel);
    }
    return true;
}

static void content_meta(nw_item_t *it, xmlNode *cm, const nw_g2_agency_t *ag)
{
    json_t *o = it->ninjs;
    char *s = nw_xml_text(nw_xml_child(cm, NS_NAR, "urgency"));
    if (s && strlen(s) == 1 && s[0] >= '1' && s[0] <= '9')
        json_object_set_new(o, "urgency", json_integer(s[0] - '0'));
    free(s);
    s = nw_xml_attr(nw_xml_child(cm, NS_NAR, "language"), "tag");
    nw_ninjs_set_str(o, "language", s);
    free(s);
    for (xmlNode *h = nw_xml_child(cm, NS_NAR, "headline"); h; h = nw_xml_next(h, NS_NAR, "headline")) {
        char *role = nw_xml_attr(h, "role"), *t = nw_xml_text(h);
        nw_ninjs_add_headline(o, json_object_get(o, "headlines") ? nw_g2_code(role) : "main", t);
        free(role);
        free(t);
    }
    static const char *const simple[][2] = {{"slugline", "slugline"}, {"by", "by"}};
    for (int i = 0; i < 2; i++) {
        nw_xml_set_text(o, simple[i][1], nw_xml_child(cm, NS_NAR, simple[i][0]));
    }
    for (xmlNode *d = nw_xml_child(cm, NS_NAR, "description"); d;
         d = nw_xml_next(d, NS_NAR, "description")) {
        char *role = nw_xml_attr(d, "role"), *t = nw_xml_text(d);
        nw_ninjs_add_description(o, role ? nw_g2_code(role) : NULL, t);
        free(role);
        free(t);
    }
    for (xmlNode *g = nw_xml_child(cm, NS_NAR, "genre"); g; g = nw_xml_next(g, NS_NAR, "genre")) {
        char *qc = nw_xml_attr(g, "qcode"), *name = nw_xml_text(nw_xml_child(g, NS_NAR, "name"));
        nw_ninjs_add_concept(o, "genres", name, NULL, qc, NULL, NULL);
        free(qc);
        free(name);
    }
    for (xmlNode *n = nw_xml_child(cm, NS_NAR, "infoSource"); n;
         n = nw_xml_next(n, NS_NAR, "infoSource")) {
        char *lit = nw_xml_attr(n, "literal"), *name = nw_xml_text(nw_xml_child(n, NS_NAR, "name"));
        char *role = nw_xml_attr(n, "role");
        nw_ninjs_add_infosource(o, name ? name : lit, role, NULL, NULL);
        free(lit);
        free(name);
        free(role);
    }
    for (xmlNode *n = nw_xml_child(cm, NS_NAR, "subject"); n; n = nw_xml_next(n, NS_NAR, "subject"))
        ag->subject(it, n);
    if (ag->located)
        ag->located(it, cm);
}

static void rights(json_t *o, xmlNode *ri)
{
    xmlNode *h = nw_xml_child(ri, NS_NAR, "copyrightHolder");
    char *s = nw_xml_attr(h, "literal");
    if (!s)
        s = nw_xml_text(nw_xml_child(h, NS_NAR, "name"));
    nw_ninjs_set_str(o, "copyrightholder", s);
    free(s);
    nw_xml_set_text(o, "copyrightnotice", nw_xml_child(ri, NS_NAR, "copyrightNotice"));
    nw_xml_set_text(o, "usageterms", nw_xml_child(ri, NS_NAR, "usageTerms"));
}

static bool content_set(nw_item_t *it, xmlNode *cs, const nw_g2_agency_t *ag, nw_err_t *err)
{
    xmlNode *ix = nw_xml_child(cs, NS_NAR, "inlineXML");
    xmlNode *id = nw_xml_child(cs, NS_NAR, "inlineData");
    long long wc = -1;
    char *w = nw_xml_attr(ix ? ix : id, "wordcount");
    uint64_t wv;
    if (w && nw_fmt_u64(w, &wv) && wv < 100000000)
        wc = (long long)wv;
    free(w);
    nw_body_t b = {0};
    if (ix) {
        xmlNode *nitf = nw_xml_find(ix, NS_ANY, "nitf");
        if (nitf) {
            bool ok = nw_ap_nitf_fill(it, nitf, false, wc, err);
            return ok;
        }
        xmlNode *body = nw_xml_find(ix, NS_ANY, "body");
        nw_text_body_from_xml(body ? body : ix, ag->body_flags, &b);
    } else if (id) {
        xmlChar *t = xmlNodeGetContent(id);
        nw_text_body_from_plain((const char *)t, &b);
        xmlFree(t);
    } else {
        return true;
    }
    if (b.too_deep) {
        nw_body_free(&b);
        return nw_err_set(err, NW_ERR_INPUT, "too-deep", "G2 body nested too deep");
    }
    if (!json_object_get(it->ninjs, "located") && b.text && ag->dateline_tag) {
        char *place = nw_text_body_dateline(b.text, ag->dateline_tag);
        nw_ninjs_set_str(it->ninjs, "located", place);
        free(place);
    }
    nw_fmt_set_body(it, &b, wc);
    return true;
}

/* Package groups: every itemRef becomes an association named after its group. */
static void groups(json_t *o, xmlNode *gs)
{
    json_t *assoc = json_array();
    for (xmlNode *g = nw_xml_child(gs, NS_NAR, "group"); g; g = nw_xml_next(g, NS_NAR, "group")) {
        char *role = nw_xml_attr(g, "role");
        char *name = nw_fmt_strdup(role ? nw_g2_code(role) : "group");
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        for (xmlNode *r = nw_xml_child(g, NS_NAR, "itemRef"); r; r = nw_xml_next(r, NS_NAR, "itemRef")) {
            char *ref = nw_xml_attr(r, "residref");
            if (!ref)
                continue;
            json_t *a = json_object();
            json_object_set_new(a, "name", json_string(name));
            json_object_set_new(a, "uri", json_string(ref));
            char *q = nw_xml_attr(nw_xml_child(r, NS_NAR, "itemClass"), "qcode");
            set_type(a, q);
            free(q);
            char *v = nw_xml_attr(r, "version");
            nw_ninjs_set_str(a, "version", v);
            free(v);
            char *t = nw_xml_text(nw_xml_child(r, NS_NAR, "versionCreated"));
            int64_t ts;
            if (t && nw_time_parse(t, &ts))
                nw_ninjs_set_time(a, "versioncreated", ts);
            free(t);
            char *h = nw_xml_text(nw_xml_child(r, NS_NAR, "headline"));
            nw_ninjs_add_headline(a, "main", h);
            free(h);
            json_array_append_new(assoc, a);
            free(ref);
        }
        free(role);
        free(name);
    }
    json_object_set_new(o, "associations", assoc);
}

static bool one_item(const nw_g2_agency_t *ag, xmlNode *x, int invalid, nw_items_t *out,
                     nw_err_t *err)
{
    nw_item_t *it = nw_items_add(out);
    snprintf(it->provider, sizeof it->provider, "%s", ag->provider);
    it->invalid_bytes = invalid;
    if (!ag->identify(it, x, err))
        return false;
    if (!item_meta(it, nw_xml_child(x, NS_NAR, "itemMeta"), err))
        return false;
    rights(it->ninjs, nw_xml_child(x, NS_NAR, "rightsInfo"));
    content_meta(it, nw_xml_child(x, NS_NAR, "contentMeta"), ag);
    if (!content_set(it, nw_xml_child(x, NS_NAR, "contentSet"), ag, err))
        return false;
    if (nw_xml_child(x, NS_NAR, "groupSet"))
        groups(it->ninjs, nw_xml_child(x, NS_NAR, "groupSet"));
    return true;
}

bool nw_g2_parse(const nw_input_t *in, const nw_g2_agency_t *ag, nw_items_t *out, nw_err_t *err)
{
    xmlDocPtr doc;
    int invalid = 0;
    if (!nw_xml_read(in, &doc, &invalid, err))
        return false;
    xmlNode *root = xmlDocGetRootElement(doc);
    bool ok = true;
    if (nw_xml_is(root, NS_NAR, "newsItem") || nw_xml_is(root, NS_NAR, "packageItem")) {
        ok = one_item(ag, root, invalid, out, err);
    } else if (nw_xml_is(root, NS_NAR, "newsMessage")) {
        xmlNode *set = nw_xml_child(root, NS_NAR, "itemSet");
        for (xmlNode *x = set ? set->children : NULL; x && ok; x = x->next)
            if (nw_xml_is(x, NS_NAR, "newsItem") || nw_xml_is(x, NS_NAR, "packageItem"))
                ok = one_item(ag, x, invalid, out, err);
    } else {
        ok = nw_err_set(err, NW_ERR_INPUT, "bad-format",
                        "root element <%s> is not a NewsML-G2 newsMessage/newsItem/packageItem",
                        (const char *)root->name);
    }
    xmlFreeDoc(doc);
    return ok;
}
