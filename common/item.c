#include "item.h"

#include <stdlib.h>
#include <string.h>

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
    memset(it, 0, sizeof *it);
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
