/*
 * afp-newsml-1.2 and afp-newsml-2024: AFP's NewsML 1.2 (no namespace) and the
 * 2024 feed (no Version attribute, nested NewsComponent, declares
 * ISO-8859-1, which is honoured unless a content-type charset overrides it).
 *
 * Story id = PublicIdentifier without its final ":<RevisionId>"
 * (urn:newsml:afp.com:<DateId>:<NewsItemId>); version = RevisionId, larger is
 * newer; the full PublicIdentifier is the version id. Urgency comes from
 * NewsManagement/Urgency, never from NewsEnvelope/Priority (Superdesk's bug).
 * Bodies end with desk initials ("hh/ph/ts/hd"): kept in the HTML, stripped
 * from the matching text.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static char *formal(const xmlNode *n)
{
    return nw_xml_attr(n, "FormalName");
}

static bool identify(nw_item_t *it, xmlNode *ni, nw_err_t *err)
{
    xmlNode *id = nw_xml_path(ni, NS_NONE, "Identification/NewsIdentifier");
    char *pub = nw_xml_text(nw_xml_child(id, NS_NONE, "PublicIdentifier"));
    char *rev = nw_xml_text(nw_xml_child(id, NS_NONE, "RevisionId"));
    char *prov = nw_xml_text(nw_xml_child(id, NS_NONE, "ProviderId"));
    char *date = nw_xml_text(nw_xml_child(id, NS_NONE, "DateId"));
    char *nid = nw_xml_text(nw_xml_child(id, NS_NONE, "NewsItemId"));
    bool ok = true;
    if (rev && !nw_fmt_u64(rev, &it->version_order)) {
        ok = nw_err_set(err, NW_ERR_INPUT, "bad-version", "AFP RevisionId \"%.30s\" is not a number",
                        rev);
        goto out;
    }
    if (pub && rev) {
        size_t n = strlen(pub), r = strlen(rev);
        if (n > r + 1 && pub[n - r - 1] == ':' && !strcmp(pub + n - r, rev))
            it->story_id = strndup(pub, n - r - 1);
    }
    if (!it->story_id && prov && date && nid)
        it->story_id = nw_fmt_printf("urn:newsml:%s:%s:%s", prov, date, nid);
    if (!it->story_id && pub)
        it->story_id = nw_fmt_strdup(pub);
    if (!it->story_id) {
        ok = nw_err_set(err, NW_ERR_INPUT, "missing-id", "AFP item without PublicIdentifier");
        goto out;
    }
    it->version = rev;
    rev = NULL;
    it->version_id = pub ? nw_fmt_strdup(pub)
                         : it->version ? nw_fmt_printf("%s:%s", it->story_id, it->version) : NULL;
    nw_ninjs_add_altid(it->ninjs, "publicidentifier", pub);
    nw_ninjs_add_altid(it->ninjs, "newsitemid", nid);
    char *upd = nw_xml_attr(nw_xml_child(id, NS_NONE, "RevisionId"), "Update");
    if (it->version_order > 1 || (upd && (!strcmp(upd, "U") || !strcmp(upd, "A"))))
        it->edit = NW_EDIT_UPDATE;
    free(upd);
out:
    free(pub);
    free(rev);
    free(prov);
    free(date);
    free(nid);
    return ok;
}

static bool management(nw_item_t *it, xmlNode *nm, nw_err_t *err)
{
    json_t *o = it->ninjs;
    static const char *const tk[] = {"FirstCreated", "ThisRevisionCreated"};
    int64_t *dst[] = {&it->firstcreated, &it->versioncreated};
    for (int i = 0; i < 2; i++) {
        char *s = nw_xml_text(nw_xml_child(nm, NS_NONE, tk[i]));
        bool ok = !s || nw_fmt_time(s, tk[i], dst[i], err);
        free(s);
        if (!ok)
            return false;
    }
    char *st = formal(nw_xml_child(nm, NS_NONE, "Status"));
    if (st) {
        if (!strcasecmp(st, "Canceled") || !strcasecmp(st, "Cancelled"))
            it->pubstatus = NW_PUB_CANCELED;
        else if (!strcasecmp(st, "Withheld") || !strcasecmp(st, "Embargoed"))
            it->pubstatus = NW_PUB_WITHHELD;
        json_object_set_new(o, "pubstatus", json_string(nw_pubstatus_name(it->pubstatus)));
    }
    /* NewsML 1.2: StatusWillChange/FutureStatus + DateAndTime ends an embargo */
    xmlNode *swc = nw_xml_child(nm, NS_NONE, "StatusWillChange");
    char *when = nw_xml_text(nw_xml_child(swc, NS_NONE, "DateAndTime"));
    bool ok = true;
    if (when && st && !strcasecmp(st, "Embargoed"))
        ok = nw_fmt_time(when, "StatusWillChange/DateAndTime", &it->embargoed, err);
    free(when);
    free(st);
    char *u = formal(nw_xml_child(nm, NS_NONE, "Urgency"));
    if (u && strlen(u) == 1 && u[0] >= '1' && u[0] <= '9')
        json_object_set_new(o, "urgency", json_integer(u[0] - '0'));
    free(u);
    return ok;
}

static void news_lines(nw_item_t *it, xmlNode *nl)
{
    json_t *o = it->ninjs;
    char *s = nw_xml_text(nw_xml_child(nl, NS_NONE, "HeadLine"));
    nw_ninjs_add_headline(o, "main", s); /* may be empty: then omitted */
    free(s);
    s = nw_xml_text(nw_xml_child(nl, NS_NONE, "SubHeadLine"));
    nw_ninjs_add_headline(o, "sub", s);
    free(s);
    nw_xml_set_text(o, "slugline", nw_xml_child(nl, NS_NONE, "SlugLine"));
    nw_xml_set_text(o, "by", nw_xml_child(nl, NS_NONE, "ByLine"));
    s = nw_xml_text(nw_xml_child(nl, NS_NONE, "DateLine"));
    char *place = nw_text_dateline_place(s);
    nw_ninjs_set_str(o, "located", place);
    free(place);
    free(s);
    nw_xml_set_text(o, "copyrightnotice", nw_xml_child(nl, NS_NONE, "CopyrightLine"));
    for (xmlNode *l = nw_xml_child(nl, NS_NONE, "NewsLine"); l; l = nw_xml_next(l, NS_NONE, "NewsLine")) {
        char *type = formal(nw_xml_child(l, NS_NONE, "NewsLineType"));
        if (type && !strcmp(type, "AdvisoryLine") && !json_object_get(o, "ednote")) {
            nw_xml_set_text(o, "ednote", nw_xml_child(l, NS_NONE, "NewsLineText"));
        }
        free(type);
    }
}

static void metadata(nw_item_t *it, xmlNode *nc)
{
    json_t *o = it->ninjs;
    nw_xml_set_text(o, "usageterms",
                    nw_xml_path(nc, NS_NONE, "RightsMetadata/UsageRights/UsageType"));
    xmlNode *am = nw_xml_child(nc, NS_NONE, "AdministrativeMetadata");
    char *s = formal(nw_xml_path(am, NS_NONE, "Provider/Party"));
    nw_ninjs_add_infosource(o, s, NULL, NULL, NULL);
    free(s);
    if (!json_object_get(o, "by")) {
        s = formal(nw_xml_path(am, NS_NONE, "Creator/Party"));
        nw_ninjs_set_str(o, "by", s);
        free(s);
    }
    xmlNode *dm = nw_xml_child(nc, NS_NONE, "DescriptiveMetadata");
    s = formal(nw_xml_child(dm, NS_NONE, "Language"));
    nw_ninjs_set_str(o, "language", s);
    free(s);
    for (xmlNode *sc = nw_xml_child(dm, NS_NONE, "SubjectCode"); sc;
         sc = nw_xml_next(sc, NS_NONE, "SubjectCode"))
        for (xmlNode *c = sc->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            char *code = formal(c);
            nw_ninjs_add_iptc_subject(o, code, NULL);
            free(code);
        }
    for (xmlNode *g = nw_xml_child(dm, NS_NONE, "Genre"); g; g = nw_xml_next(g, NS_NONE, "Genre")) {
        char *name = formal(g);
        nw_ninjs_add_concept(o, "genres", name, NULL, NULL, NULL, NULL);
        if (name && !strcasecmp(name, "Update") && it->edit < NW_EDIT_UPDATE)
            it->edit = NW_EDIT_UPDATE;
        if (name && (!strcasecmp(name, "Correction") || !strcasecmp(name, "Rectification")) &&
            it->edit < NW_EDIT_CORRECTION)
            it->edit = NW_EDIT_CORRECTION;
        free(name);
    }
}

/* The text ContentItem: the first DataContent in document order. */
static bool body(nw_item_t *it, xmlNode *nc, nw_err_t *err)
{
    xmlNode *dc = nw_xml_find(nc, NS_NONE, "DataContent");
    if (!dc)
        return true;
    xmlNode *content = nw_xml_find(dc, NS_ANY, "body.content");
    long long wc = -1;
    xmlNode *ci = dc->parent;
    for (xmlNode *p = nw_xml_child(nw_xml_child(ci, NS_NONE, "Characteristics"), NS_NONE, "Property");
         p; p = nw_xml_next(p, NS_NONE, "Property")) {
        char *name = formal(p), *v = nw_xml_attr(p, "Value");
        uint64_t w;
        if (name && !strcmp(name, "Words") && v && nw_fmt_u64(v, &w) && w < 100000000)
            wc = (long long)w;
        free(name);
        free(v);
    }
    nw_body_t b;
    nw_text_body_from_xml(content ? content : dc, 0, &b);
    if (b.too_deep) {
        nw_body_free(&b);
        return nw_err_set(err, NW_ERR_INPUT, "too-deep", "AFP body nested too deep");
    }
    nw_fmt_set_body(it, &b, wc);
    return true;
}

static bool parse(const nw_input_t *in, nw_items_t *out, nw_err_t *err, const char *fmt)
{
    xmlDocPtr doc;
    int invalid = 0;
    if (!nw_xml_read(in, &doc, &invalid, err))
        return false;
    xmlNode *root = xmlDocGetRootElement(doc);
    bool ok = true;
    if (!nw_xml_is(root, NS_NONE, "NewsML")) {
        ok = nw_err_set(err, NW_ERR_INPUT, "bad-format", "root element <%s> is not <NewsML>",
                        (const char *)root->name);
    }
    for (xmlNode *ni = ok ? nw_xml_child(root, NS_NONE, "NewsItem") : NULL; ni && ok;
         ni = nw_xml_next(ni, NS_NONE, "NewsItem")) {
        nw_item_t *it = nw_items_add(out);
        snprintf(it->provider, sizeof it->provider, "afp");
        snprintf(it->format, sizeof it->format, "%s", fmt);
        it->invalid_bytes = invalid;
        xmlNode *nc = nw_xml_child(ni, NS_NONE, "NewsComponent");
        nw_xml_set_text(it->ninjs, "title", nw_xml_path(ni, NS_NONE, "Identification/NameLabel"));
        ok = identify(it, ni, err) && management(it, nw_xml_child(ni, NS_NONE, "NewsManagement"), err);
        if (ok) {
            news_lines(it, nw_xml_child(nc, NS_NONE, "NewsLines"));
            metadata(it, nc);
            ok = body(it, nc, err);
        }
        if (!json_object_get(it->ninjs, "language")) {
            xmlChar *lang = xmlNodeGetLang(ni);
            nw_ninjs_set_str(it->ninjs, "language", (const char *)lang);
            xmlFree(lang);
        }
    }
    xmlFreeDoc(doc);
    return ok;
}

bool nw_fmt_afp_newsml_12(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    return parse(in, out, err, "afp-newsml-1.2");
}

bool nw_fmt_afp_newsml_2024(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    return parse(in, out, err, "afp-newsml-2024");
}
