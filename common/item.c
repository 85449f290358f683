#include "item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

void nw_item_init(nw_item_t *it)
{
    memset(it, 0, sizeof *it);
    it->ninjs = json_object();
    it->is_news = true;
}

void nw_item_free(nw_item_t *it)
{
    if (!it)
        return;
    json_decref(it->ninjs);
    free(it->story_id);
    free(it->version);
    free(it->headline);
    free(it->slugline);
    free(it->language);
    free(it->body_text);
    free(it->version_id);
    free(it->derived_from);
    free(it->pair_key);
    free(it->ninjs_text);
    memset(it, 0, sizeof *it);
}

const char *nw_item_ninjs_text(nw_item_t *it, size_t *len)
{
    if (!it->ninjs_text) {
        it->ninjs_len = 0;
        it->ninjs_text = nw_json_compact(it->ninjs, &it->ninjs_len);
    }
    if (len)
        *len = it->ninjs_len;
    return it->ninjs_text;
}

const char *nw_pubstatus_name(nw_pubstatus_t s)
{
    switch (s) {
    case NW_PUB_USABLE: return "usable";
    case NW_PUB_WITHHELD: return "withheld";
    case NW_PUB_CANCELED: return "canceled";
    }
    return "usable";
}

const char *nw_edit_name(nw_edit_t e)
{
    switch (e) {
    case NW_EDIT_NEW: return "new";
    case NW_EDIT_UPDATE: return "update";
    case NW_EDIT_CORRECTION: return "correction";
    case NW_EDIT_KILL: return "kill";
    }
    return "new";
}

const char *nw_part_name(nw_part_t p)
{
    switch (p) {
    case NW_PART_WHOLE: return "whole";
    case NW_PART_META: return "meta";
    case NW_PART_BODY: return "body";
    }
    return "whole";
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *nw_item_to_json(const nw_item_t *it)
{
    json_t *o = json_object();
    char order[24];
    snprintf(order, sizeof order, "%llu", (unsigned long long)it->version_order);
    json_object_set_new(o, "provider", json_string(it->provider));
    json_object_set_new(o, "format", json_string(it->format));
    json_object_set_new(o, "story_id", json_string(it->story_id ? it->story_id : ""));
    json_object_set_new(o, "version", json_string(it->version ? it->version : ""));
    json_object_set_new(o, "version_order", json_string(order));
    json_object_set_new(o, "version_id", str_or_null(it->version_id));
    json_object_set_new(o, "firstcreated", json_integer(it->firstcreated));
    json_object_set_new(o, "versioncreated", json_integer(it->versioncreated));
    json_object_set_new(o, "embargoed", json_integer(it->embargoed));
    json_object_set_new(o, "pubstatus", json_string(nw_pubstatus_name(it->pubstatus)));
    json_object_set_new(o, "edit", json_string(nw_edit_name(it->edit)));
    json_object_set_new(o, "is_news", json_boolean(it->is_news));
    json_object_set_new(o, "headline", str_or_null(it->headline));
    json_object_set_new(o, "slugline", str_or_null(it->slugline));
    json_object_set_new(o, "language", str_or_null(it->language));
    json_object_set_new(o, "body_text", str_or_null(it->body_text));
    json_object_set_new(o, "invalid_bytes", json_integer(it->invalid_bytes));
    json_object_set_new(o, "synthetic_id", json_boolean(it->synthetic_id));
    json_object_set_new(o, "part", json_string(nw_part_name(it->part)));
    json_object_set_new(o, "pair_key", str_or_null(it->pair_key));
    json_object_set_new(o, "derived_from", str_or_null(it->derived_from));
    return o;
}
