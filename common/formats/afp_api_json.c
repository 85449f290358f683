/*
 * afp-api-json: AFP API ("apicore") documents. The field list is unofficial
 * (from a third-party client): uno, publicIdentifier, revision, created,
 * published, embargoed, status, urgency, lang, headline/title, news[] (one
 * string per paragraph), slug[], iptc[], mediatopic[], genre[], city,
 * country, advisory, creator, signal.
 *
 * Accepted: {"response": {"docs": [...]}} (search/get answers) or one doc.
 * Story id = publicIdentifier without ":<revision>", else derived from
 * uno "newsml.afp.com.<DateId>.<NewsItemId>" -> urn:newsml:afp.com:<DateId>:<NewsItemId>.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static char *story_from(const char *pub, const char *rev, const char *uno)
{
    if (pub && rev) {
        size_t n = strlen(pub), r = strlen(rev);
        if (n > r + 1 && pub[n - r - 1] == ':' && !strcmp(pub + n - r, rev))
            return strndup(pub, n - r - 1);
    }
    if (pub)
        return nw_fmt_strdup(pub);
    if (uno && !strncmp(uno, "newsml.afp.com.", 15)) {
        const char *d = uno + 15, *dot = strchr(d, '.');
        if (dot && dot[1])
            return nw_fmt_printf("urn:newsml:afp.com:%.*s:%s", (int)(dot - d), d, dot + 1);
    }
    return uno ? nw_fmt_printf("urn:afp:uno:%s", uno) : NULL;
}

static void join_strings(json_t *o, const char *key, const json_t *v, const char *sep)
{
    if (json_is_string(v)) {
        nw_ninjs_set_field(o, key, json_string_value(v));
        return;
    }
    nw_sbuf_t b = {0};
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || !*json_string_value(e))
            continue;
        if (b.len)
            nw_sbuf_puts(&b, sep);
        nw_sbuf_puts(&b, json_string_value(e));
    }
    char *s = nw_sbuf_take(&b);
    nw_ninjs_set_field(o, key, s);
    free(s);
}

static bool map(nw_item_t *it, const json_t *j, int invalid, nw_err_t *err)
{
    json_t *o = it->ninjs;
    snprintf(it->provider, sizeof it->provider, "afp");
    snprintf(it->format, sizeof it->format, "afp-api-json");
    it->invalid_bytes = invalid;
    long long rev = 0;
    bool has_rev = nw_json_int(j, "revision", &rev) && rev >= 0;
    char revs[24] = "";
    if (has_rev)
        snprintf(revs, sizeof revs, "%lld", rev);
    const char *pub = nw_json_str(j, "publicIdentifier"), *uno = nw_json_str(j, "uno");
    it->story_id = story_from(pub, has_rev ? revs : NULL, uno);
    if (!it->story_id)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "AFP document without uno");
    if (has_rev) {
        it->version = nw_fmt_strdup(revs);
        it->version_order = (uint64_t)rev;
        if (rev > 1)
            it->edit = NW_EDIT_UPDATE;
    }
    it->version_id = pub ? nw_fmt_strdup(pub)
                         : has_rev ? nw_fmt_printf("%s:%s", it->story_id, revs) : NULL;
    nw_ninjs_add_altid(o, "uno", uno);
    nw_ninjs_add_altid(o, "publicidentifier", pub);
    const char *cls = nw_json_str(j, "class");
    static const char *const map_cls[][2] = {{"text", "text"},       {"factcheck", "text"},
                                             {"multimedia", "text"}, {"picture", "picture"},
                                             {"graphic", "graphic"}, {"video", "video"},
                                             {"videography", "video"}};
    for (size_t i = 0; cls && i < sizeof map_cls / sizeof map_cls[0]; i++)
        if (!strcmp(cls, map_cls[i][0]))
            nw_ninjs_set_str(o, "type", map_cls[i][1]);
    static const char *const tk[] = {"published", "created", "embargoed"};
    int64_t *dst[] = {&it->versioncreated, &it->firstcreated, &it->embargoed};
    for (int i = 0; i < 3; i++) {
        const char *s = nw_json_str(j, tk[i]);
        if (s && !nw_fmt_time(s, tk[i], dst[i], err))
            return false;
    }
    const char *st = nw_json_str(j, "status");
    if (st) {
        if (!strcasecmp(st, "Canceled") || !strcasecmp(st, "Cancelled"))
            it->pubstatus = NW_PUB_CANCELED;
        else if (!strcasecmp(st, "Withheld") || !strcasecmp(st, "Embargoed"))
            it->pubstatus = NW_PUB_WITHHELD;
        json_object_set_new(o, "pubstatus", json_string(nw_pubstatus_name(it->pubstatus)));
    }
    long long urg;
    if (nw_json_int(j, "urgency", &urg) && urg >= 1 && urg <= 9)
        json_object_set_new(o, "urgency", json_integer(urg));
    nw_ninjs_set_field(o, "language", nw_json_str(j, "lang"));
    const char *hl = nw_json_str(j, "headline");
    nw_ninjs_add_headline(o, "main", hl ? hl : nw_json_str(j, "title"));
    nw_ninjs_set_field(o, "title", nw_json_str(j, "title"));
    nw_ninjs_set_field(o, "by", nw_json_str(j, "creator"));
    join_strings(o, "slugline", json_object_get(j, "slug"), "-");
    nw_ninjs_set_field(o, "located", nw_json_str(j, "city"));
    nw_ninjs_set_field(o, "ednote", nw_json_str(j, "advisory"));
    nw_ninjs_set_field(o, "copyrightnotice", nw_json_str(j, "copyright"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "iptc"), i, e)
        nw_ninjs_add_iptc_subject(o, json_string_value(e), NULL);
    json_array_foreach(json_object_get(j, "mediatopic"), i, e)
    {
        const char *c = json_string_value(e);
        if (!c || strspn(c, "0123456789") != strlen(c) || !*c)
            continue;
        char *uri = nw_fmt_printf("http://cv.iptc.org/newscodes/mediatopic/%s", c);
        nw_ninjs_add_concept(o, "subjects", NULL, uri, NULL, NULL, NULL);
        free(uri);
    }
    json_t *g = json_object_get(j, "genre");
    if (json_is_string(g))
        nw_ninjs_add_concept(o, "genres", json_string_value(g), NULL, NULL, NULL, NULL);
    json_array_foreach(g, i, e) nw_ninjs_add_concept(o, "genres", json_string_value(e), NULL, NULL,
                                                     NULL, NULL);
    json_t *sig = json_object_get(j, "signal");
    json_t *sigs = json_is_array(sig) ? sig : NULL;
    const char *one = json_string_value(sig);
    json_array_foreach(sigs, i, e)
    {
        const char *s = json_string_value(e);
        if (s && !strcmp(s, "correction") && it->edit < NW_EDIT_CORRECTION)
            it->edit = NW_EDIT_CORRECTION;
        if (s && !strcmp(s, "update") && it->edit < NW_EDIT_UPDATE)
            it->edit = NW_EDIT_UPDATE;
    }
    if (one && !strcmp(one, "correction") && it->edit < NW_EDIT_CORRECTION)
        it->edit = NW_EDIT_CORRECTION;
    if (one && !strcmp(one, "update") && it->edit < NW_EDIT_UPDATE)
        it->edit = NW_EDIT_UPDATE;
    /* news[]: one plain-text paragraph per string */
    nw_sbuf_t text = {0};
    json_array_foreach(json_object_get(j, "news"), i, e)
    {
        char *p = nw_text_field(json_string_value(e));
        if (!p)
            continue;
        nw_sbuf_puts(&text, "\n\n"); /* a blank line: every string is its own paragraph */
        nw_sbuf_puts(&text, p);
        free(p);
    }
    if (text.len) {
        nw_body_t b;
        nw_text_body_from_plain(text.data, &b);
        long long wc = -1;
        nw_json_int(j, "wordCount", &wc);
        nw_fmt_set_body(it, &b, wc);
    }
    nw_sbuf_free(&text);
    return true;
}

bool nw_fmt_afp_api_json(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    json_t *root;
    int invalid = 0;
    if (!nw_json_read(in, &root, &invalid, err))
        return false;
    json_t *docs = json_object_get(json_object_get(root, "response"), "docs");
    bool ok = true;
    if (json_is_array(docs)) {
        size_t i;
        json_t *e;
        json_array_foreach(docs, i, e) if (ok && json_is_object(e)) ok =
            map(nw_items_add(out), e, invalid, err);
    } else {
        ok = map(nw_items_add(out), root, invalid, err);
    }
    json_decref(root);
    return ok;
}
