/*
 * ap-nitf: AP's NITF 3.4 story rendition (with the NITF namespace or none).
 *
 * On its own a NITF rendition carries no story id or version (doc-id has no
 * id-string in AP's deliveries): the item gets a content-hash id
 * (synthetic_id) unless doc-id@id-string holds an AP item id. With a pair
 * key (header newswire-pair-key) it is the body half of an AP Media API item
 * (part NW_PART_BODY) to merge with nw_format_ap_merge().
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *nw_ap_uri(const char *itemid)
{
    return nw_fmt_printf("tag:ap.org,2011:%s", itemid);
}

/* byline text without its <byttl> title ("By BERNARD CONDON") */
static char *byline_text(const xmlNode *byline)
{
    nw_sbuf_t b = {0};
    for (const xmlNode *c = byline->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "byttl"))
            continue;
        xmlChar *t = xmlNodeGetContent(c);
        if (t) {
            nw_sbuf_puts(&b, (const char *)t);
            nw_sbuf_putc(&b, ' ');
            xmlFree(t);
        }
    }
    char *raw = nw_sbuf_take(&b);
    char *r = nw_text_squash(raw);
    free(raw);
    return r;
}

bool nw_ap_nitf_fill(nw_item_t *it, xmlNode *nitf, bool meta, long long wordcount, nw_err_t *err)
{
    json_t *o = it->ninjs;
    xmlNode *docdata = nw_xml_path(nitf, NS_ANY, "head/docdata");
    if (meta && docdata) {
        char *norm = nw_xml_attr(nw_xml_child(docdata, NS_ANY, "date.issue"), "norm");
        if (norm) {
            int64_t t;
            bool ok = nw_fmt_time(norm, "date.issue@norm", &t, err);
            free(norm);
            if (!ok)
                return false;
            it->versioncreated = it->firstcreated = t;
        }
        char *ms = nw_xml_attr(docdata, "management-status");
        nw_fmt_pubstatus(it, ms);
        free(ms);
        char *urg = nw_xml_attr(nw_xml_child(docdata, NS_ANY, "urgency"), "ed-urg");
        if (urg && strlen(urg) == 1 && isdigit((unsigned char)urg[0]) && urg[0] != '0')
            json_object_set_new(o, "urgency", json_integer(urg[0] - '0'));
        free(urg);
    }
    if (docdata) {
        char *ed = nw_xml_attr(nw_xml_child(docdata, NS_ANY, "ed-msg"), "info");
        if (ed && !json_object_get(o, "ednote"))
            nw_ninjs_set_str(o, "ednote", ed);
        free(ed);
        char *holder = nw_xml_attr(nw_xml_child(docdata, NS_ANY, "doc.copyright"), "holder");
        if (holder && !json_object_get(o, "copyrightholder"))
            nw_ninjs_set_str(o, "copyrightholder", holder);
        free(holder);
    }
    xmlNode *body = nw_xml_child(nitf, NS_ANY, "body");
    xmlNode *head = nw_xml_child(body, NS_ANY, "body.head");
    xmlNode *hed = nw_xml_child(head, NS_ANY, "hedline");
    if (!hed)
        hed = nw_xml_child(head, NS_ANY, "headline"); /* AP G2's inline NITF */
    if (!json_object_get(o, "headlines")) {
        char *hl1 = nw_xml_text(nw_xml_child(hed, NS_ANY, "hl1"));
        nw_ninjs_add_headline(o, "main", hl1);
        free(hl1);
        for (xmlNode *h2 = nw_xml_child(hed, NS_ANY, "hl2"); h2; h2 = nw_xml_next(h2, NS_ANY, "hl2")) {
            char *id = nw_xml_attr(h2, "id"), *t = nw_xml_text(h2);
            nw_ninjs_add_headline(o, id && !strcmp(id, "originalHeadline") ? "original" : "sub", t);
            free(id);
            free(t);
        }
    }
    xmlNode *by = nw_xml_child(head, NS_ANY, "byline");
    if (by && !json_object_get(o, "by")) {
        char *b = byline_text(by);
        nw_ninjs_set_str(o, "by", b);
        free(b);
    }
    char *loc = nw_xml_text(nw_xml_path(head, NS_ANY, "dateline/location"));
    if (loc && !json_object_get(o, "located"))
        nw_ninjs_set_str(o, "located", loc);
    free(loc);

    nw_body_t bd;
    nw_text_body_from_xml(nw_xml_child(body, NS_ANY, "body.content"), 0, &bd);
    if (bd.too_deep) {
        nw_body_free(&bd);
        return nw_err_set(err, NW_ERR_INPUT, "too-deep", "NITF body nested too deep");
    }
    if (!json_object_get(o, "located") && bd.text) {
        char *place = nw_text_body_dateline(bd.text, "AP");
        nw_ninjs_set_str(o, "located", place);
        free(place);
    }
    nw_fmt_set_body(it, &bd, wordcount);
    return true;
}

static bool hex32(const char *s)
{
    return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

bool nw_fmt_ap_nitf(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    xmlDocPtr doc;
    int invalid = 0;
    if (!nw_xml_read(in, &doc, &invalid, err))
        return false;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!nw_xml_is(root, NS_ANY, "nitf")) {
        nw_err_set(err, NW_ERR_INPUT, "bad-format", "root element is <%.60s>, not <nitf>",
                   (const char *)root->name);
        xmlFreeDoc(doc);
        return false;
    }
    nw_item_t *it = nw_items_add(out);
    snprintf(it->provider, sizeof it->provider, "ap");
    it->invalid_bytes = invalid;
    bool ok = nw_ap_nitf_fill(it, root, true, -1, err);
    if (ok) {
        char *idstr = nw_xml_attr(nw_xml_path(root, NS_ANY, "head/docdata/doc-id"), "id-string");
        char itemid[33] = "";
        if (idstr && strlen(idstr) >= 32) {
            memcpy(itemid, idstr, 32);
            if (!hex32(itemid))
                itemid[0] = '\0';
        }
        if (itemid[0]) {
            it->story_id = nw_ap_uri(itemid);
        } else {
            it->story_id = nw_fmt_hash_id("ap", in->data, in->len);
            it->synthetic_id = true;
        }
        if (in->pair_key && *in->pair_key) {
            it->pair_key = nw_fmt_strdup(in->pair_key);
            it->part = NW_PART_BODY;
        } else if (idstr && itemid[0] && strchr(idstr, '.')) {
            it->pair_key = nw_fmt_strdup(idstr); /* "<itemid>.<version>" */
        }
        free(idstr);
    }
    xmlFreeDoc(doc);
    return ok;
}
