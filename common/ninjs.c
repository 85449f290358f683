#include "ninjs.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "timeparse.h"

void nw_ninjs_set_str(json_t *o, const char *key, const char *val)
{
    if (o && val && *val)
        json_object_set_new(o, key, json_string(val));
}

void nw_ninjs_set_field(json_t *o, const char *key, const char *raw)
{
    char *v = nw_text_field(raw);
    nw_ninjs_set_str(o, key, v);
    free(v);
}

void nw_ninjs_set_time(json_t *o, const char *key, int64_t t)
{
    if (!t)
        return;
    char buf[NW_TIME_BUFLEN];
    nw_time_format(t, buf);
    json_object_set_new(o, key, json_string(buf));
}

/* The array o[name], created on first use. */
static json_t *array_of(json_t *o, const char *name)
{
    json_t *a = json_object_get(o, name);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(o, name, a);
    }
    return a;
}

static void add_text_member(json_t *o, const char *array, const char *role, const char *value)
{
    char *v = nw_text_field(value);
    if (!v)
        return;
    json_t *a = array_of(o, array);
    size_t i;
    json_t *m;
    if (json_array_size(a) >= NW_NINJS_MAX_MEMBERS) {
        free(v);
        return;
    }
    json_array_foreach(a, i, m)
    {
        const char *r = json_string_value(json_object_get(m, "role"));
        if (!strcmp(json_string_value(json_object_get(m, "value")), v) &&
            ((!r && !role) || (r && role && !strcmp(r, role)))) {
            free(v);
            return;
        }
    }
    json_t *h = json_object();
    nw_ninjs_set_str(h, "role", role);
    json_object_set_new(h, "value", json_string(v));
    json_array_append_new(a, h);
    free(v);
}

void nw_ninjs_add_headline(json_t *o, const char *role, const char *value)
{
    add_text_member(o, "headlines", role, value);
}

void nw_ninjs_add_description(json_t *o, const char *role, const char *value)
{
    add_text_member(o, "descriptions", role, value);
}

void nw_ninjs_add_body(json_t *o, const char *role, const char *contenttype, const char *value,
                       long long wordcount)
{
    if (!value || !*value)
        return;
    json_t *b = json_object();
    nw_ninjs_set_str(b, "role", role);
    nw_ninjs_set_str(b, "contenttype", contenttype);
    if (wordcount >= 0)
        json_object_set_new(b, "wordcount", json_integer(wordcount));
    json_object_set_new(b, "value", json_string(value));
    json_array_append_new(array_of(o, "bodies"), b);
}

static bool same_str(json_t *m, const char *key, const char *v)
{
    const char *s = json_string_value(json_object_get(m, key));
    return s && v && !strcmp(s, v);
}

json_t *nw_ninjs_add_concept(json_t *o, const char *array, const char *name, const char *uri,
                             const char *literal, const char *rel, const char *creator)
{
    char *n = nw_text_field(name), *u = nw_text_squash(uri), *l = nw_text_squash(literal);
    json_t *m = NULL;
    if (!n && !u && !l)
        goto out;
    json_t *a = array_of(o, array);
    size_t i;
    json_t *e;
    if (json_array_size(a) >= NW_NINJS_MAX_MEMBERS)
        goto out;
    json_array_foreach(a, i, e)
    {
        if ((u && same_str(e, "uri", u)) || (!u && l && same_str(e, "literal", l) &&
                                              !json_object_get(e, "uri")) ||
            (!u && !l && n && same_str(e, "name", n) && !json_object_get(e, "uri") &&
             !json_object_get(e, "literal")))
            goto out;
    }
    m = json_object();
    nw_ninjs_set_str(m, "name", n);
    bool genre = !strcmp(array, "genres");
    if (!genre)
        nw_ninjs_set_str(m, "rel", rel);
    nw_ninjs_set_str(m, "uri", u);
    nw_ninjs_set_str(m, "literal", l);
    if (!strcmp(array, "subjects"))
        nw_ninjs_set_str(m, "creator", creator);
    json_array_append_new(a, m);
out:
    free(n);
    free(u);
    free(l);
    return m;
}

void nw_ninjs_add_iptc_subject(json_t *o, const char *code, const char *name)
{
    if (!code || strlen(code) != 8 || strspn(code, "0123456789") != 8)
        return;
    char uri[sizeof NW_IPTC_SUBJECT_URI + 8];
    snprintf(uri, sizeof uri, "%s%s", NW_IPTC_SUBJECT_URI, code);
    nw_ninjs_add_concept(o, "subjects", name, uri, NULL, NULL, NULL);
}

void nw_ninjs_add_infosource(json_t *o, const char *name, const char *role, const char *uri,
                             const char *literal)
{
    char *n = nw_text_field(name);
    if (!n && !uri && !literal)
        return;
    json_t *a = array_of(o, "infosources");
    size_t i;
    json_t *e;
    if (json_array_size(a) >= NW_NINJS_MAX_MEMBERS) {
        free(n);
        return;
    }
    json_array_foreach(a, i, e)
    {
        const char *r = json_string_value(json_object_get(e, "role"));
        if (((n && same_str(e, "name", n)) || (!n && literal && same_str(e, "literal", literal))) &&
            ((!r && !role) || (r && role && !strcmp(r, role)))) {
            free(n);
            return;
        }
    }
    json_t *m = json_object();
    nw_ninjs_set_str(m, "name", n);
    nw_ninjs_set_str(m, "role", role);
    nw_ninjs_set_str(m, "uri", uri);
    nw_ninjs_set_str(m, "literal", literal);
    json_array_append_new(a, m);
    free(n);
}

void nw_ninjs_add_altid(json_t *o, const char *role, const char *value)
{
    char *v = nw_text_squash(value);
    if (!v)
        return;
    json_t *a = array_of(o, "altids");
    size_t i;
    json_t *e;
    if (json_array_size(a) >= NW_NINJS_MAX_MEMBERS) {
        free(v);
        return;
    }
    json_array_foreach(a, i, e)
    {
        if (same_str(e, "value", v) && same_str(e, "role", role)) {
            free(v);
            return;
        }
    }
    json_t *m = json_object();
    nw_ninjs_set_str(m, "role", role);
    json_object_set_new(m, "value", json_string(v));
    json_array_append_new(a, m);
    free(v);
}

json_t *nw_ninjs_canonical(json_t *o)
{
    static const char *const order[] = {
        "uri", "type", "representationtype", "profile", "version", "versioncreated",
        "firstcreated", "contentcreated", "embargoed", "expires", "pubstatus", "urgency",
        "language", "headlines", "by", "slugline", "title", "located", "ednote", "descriptions",
        "bodies", "subjects", "genres", "people", "organisations", "places", "events", "objects",
        "infosources", "copyrightholder", "copyrightnotice", "usageterms", "rightsinfo",
        "renditions", "associations", "altids", "trustindicators", "standard", NULL};
    json_t *r = json_object();
    for (int i = 0; order[i]; i++) {
        json_t *v = json_object_get(o, order[i]);
        if (v && !(json_is_array(v) && json_array_size(v) == 0))
            json_object_set(r, order[i], v);
    }
    return r;
}

void nw_ninjs_nfc(json_t *v)
{
    if (json_is_string(v)) {
        if (nw_text_nfc_trivially(json_string_value(v)))
            return;
        char *n = nw_text_nfc(json_string_value(v));
        if (n && strcmp(n, json_string_value(v)))
            json_string_set(v, n);
        free(n);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) nw_ninjs_nfc(e);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) nw_ninjs_nfc(e);
    }
}
