/*
 * libFuzzer target for one format parser (NW_FUZZ_FORMAT, a format name) or,
 * with NW_FUZZ_FORMAT NULL, for sniffing + whichever parser it picks.
 * Invariants checked on every input: a failure is NW_ERR_INPUT with a code
 * and a one-line message; a success has a story id equal to the ninjs uri,
 * and its ninjs serializes, nw_item_ninjs_text giving json_dumps's bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

#ifndef NW_FUZZ_FORMAT
#define NW_FUZZ_FORMAT NULL
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nw_input_t in = {.data = (const char *)data, .len = size, .format = NW_FUZZ_FORMAT};
    nw_items_t l = {0};
    nw_err_t err;
    if (!nw_format_parse_all(&in, &l, &err)) {
        if (err.cls != NW_ERR_INPUT || !err.code[0] || strchr(err.msg, '\n') || l.n)
            abort();
        nw_items_free(&l);
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        nw_item_t *it = &l.v[i];
        const char *uri = json_string_value(json_object_get(it->ninjs, "uri"));
        if (!it->story_id || !uri || strcmp(uri, it->story_id))
            abort();
        char *s = json_dumps(it->ninjs, JSON_COMPACT);
        size_t len = 0;
        const char *text = nw_item_ninjs_text(it, &len); /* json_out.c: jansson's bytes */
        if (!s || !text || len != strlen(s) || memcmp(s, text, len))
            abort();
        free(s);
        json_t *j = nw_item_to_json(it);
        json_decref(j);
    }
    /* a metadata half merges with a body-only NITF without trouble */
    if (l.n == 1 && l.v[0].part == NW_PART_META) {
        static const char nitf[] = "<nitf><body><body.content><p>x</p></body.content></body></nitf>";
        nw_input_t b = {.data = nitf, .len = sizeof nitf - 1, .format = "ap-nitf",
                        .pair_key = l.v[0].pair_key};
        nw_item_t body, whole;
        if (nw_format_parse(&b, &body, &err)) {
            if (!nw_format_ap_merge(&l.v[0], &body, &whole, &err))
                abort();
            nw_item_free(&whole);
        }
        nw_item_free(&body);
    }
    nw_items_free(&l);
    return 0;
}
