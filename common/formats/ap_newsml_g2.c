/*
 * ap-newsml-g2: AP NewsML-G2 (legacy WebFeeds; Media API format=newsmlg2).
 *
 * Story id = tag:ap.org,2011:<altId type=ap:itemId> (the guid may carry a
 * "-text" suffix); version = newsItem@version (= ap:recordSequenceNumber + 1,
 * so it is the AP JSON version + 1). The body is NITF inside inlineXML;
 * located comes from contentMeta/dateline (the G2 <located> element is a
 * machine-tagged place and goes to places[]). AP subjects are AP taxonomy,
 * not IPTC codes.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static bool identify(nw_item_t *it, xmlNode *x, nw_err_t *err)
{
    json_t *o = it->ninjs;
    char *guid = nw_xml_attr(x, "guid"), *itemid = NULL, *seq = NULL;
    xmlNode *cm = nw_xml_child(x, NS_NAR, "contentMeta");
    for (xmlNode *a = nw_xml_child(cm, NS_NAR, "altId"); a; a = nw_xml_next(a, NS_NAR, "altId")) {
        char *type = nw_xml_attr(a, "type"), *v = nw_xml_text(a);
        if (type && v) {
            const char *role = nw_g2_code(type);
            if (!strcmp(type, "ap:itemId") && !itemid)
                itemid = nw_fmt_strdup(v);
            if (!strcmp(type, "ap:itemIdSequence") && !seq)
                seq = nw_fmt_strdup(v);
            if (!strcmp(type, "ap:itemId") || !strcmp(type, "ap:itemIdSequence") ||
                !strcmp(type, "ap:recordSequenceNumber") || !strcmp(type, "ap:friendlyKey"))
                nw_ninjs_add_altid(o, role, v);
        }
        free(type);
        free(v);
    }
    if (!itemid && guid && !strncmp(guid, "tag:ap.org,", 11) && strrchr(guid, ':')) {
        itemid = nw_fmt_strdup(strrchr(guid, ':') + 1);
        char *dash = strchr(itemid, '-');
        if (dash)
            *dash = '\0';
    }
    nw_ninjs_add_altid(o, "guid", guid);
    if (!itemid || !*itemid) {
        free(guid);
        free(itemid);
        free(seq);
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "AP G2 item without ap:itemId");
    }
    it->story_id = nw_ap_uri(itemid);
    it->version = nw_xml_attr(x, "version");
    if (it->version && !nw_fmt_u64(it->version, &it->version_order)) {
        free(guid);
        free(itemid);
        free(seq);
        return nw_err_set(err, NW_ERR_INPUT, "bad-version", "AP G2 version \"%.30s\" is not a number",
                          it->version);
    }
    /* one scale per agency: G2 @version is the JSON version + 1 */
    if (it->version_order > 0)
        it->version_order--;
    if (it->version_order > 0)
        it->edit = NW_EDIT_UPDATE;
    it->version_id = seq ? seq : guid && it->version ? nw_fmt_printf("%s:%s", guid, it->version) : NULL;
    if (seq && it->version_id != seq)
        free(seq);
    /* advisories and daybooks are stored, not published as news */
    xmlNode *meta = nw_xml_child(x, NS_NAR, "itemMeta");
    char *profile = nw_xml_text(nw_xml_child(meta, NS_NAR, "profile"));
    if (profile && (strcasestr(profile, "advisory") || strcasestr(profile, "daybook")))
        it->is_news = false;
    free(profile);
    for (xmlNode *g = nw_xml_child(cm, NS_NAR, "genre"); g; g = nw_xml_next(g, NS_NAR, "genre")) {
        char *q = nw_xml_attr(g, "qcode");
        if (q && (strcasestr(q, "advisory") || strcasestr(q, "daybook")))
            it->is_news = false;
        free(q);
    }
    free(guid);
    free(itemid);
    return true;
}

static void subject(nw_item_t *it, xmlNode *s)
{
    char *q = nw_xml_attr(s, "qcode"), *type = nw_xml_attr(s, "type");
    char *name = nw_xml_text(nw_xml_child(s, NS_NAR, "name"));
    char *why = nw_xml_attr(s, "why"), *creator = nw_xml_attr(s, "creator");
    const char *code = nw_g2_code(q);
    const char *array = "subjects";
    if (type && !strcmp(type, "cpnat:organisation"))
        array = "organisations";
    else if (type && !strcmp(type, "cpnat:geoArea"))
        array = "places";
    else if (type && !strcmp(type, "cpnat:person"))
        array = "people";
    else if (type && !strcmp(type, "cpnat:event"))
        array = "events";
    if (q && !strncmp(q, "apcategorycode:", 15)) {
        nw_ninjs_add_concept(it->ninjs, "subjects", name, NULL, code, NULL, NULL);
    } else if (q && code && code != q) {
        char *uri = NULL;
        if (strlen(code) == 32 && strspn(code, "0123456789abcdef") == 32)
            uri = nw_fmt_printf("%s%s", NW_AP_CV_URI, code);
        nw_ninjs_add_concept(it->ninjs, array, name, uri, code, why ? nw_g2_code(why) : NULL,
                             creator ? nw_g2_code(creator) : NULL);
        free(uri);
    }
    free(q);
    free(type);
    free(name);
    free(why);
    free(creator);
}

static void located(nw_item_t *it, xmlNode *cm)
{
    char *d = nw_xml_text(nw_xml_child(cm, NS_NAR, "dateline"));
    char *place = nw_text_dateline_place(d);
    nw_ninjs_set_str(it->ninjs, "located", place);
    free(place);
    free(d);
    char *geo = nw_xml_text(nw_xml_path(cm, NS_NAR, "located/name"));
    if (geo)
        nw_ninjs_add_concept(it->ninjs, "places", geo, NULL, NULL, "located", NULL);
    free(geo);
}

static const nw_g2_agency_t AP = {
    .provider = "ap",
    .body_flags = 0,
    .dateline_tag = "AP",
    .identify = identify,
    .subject = subject,
    .located = located,
};

bool nw_fmt_ap_newsml_g2(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    return nw_g2_parse(in, &AP, out, err);
}
