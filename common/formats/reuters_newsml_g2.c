/*
 * reuters-newsml-g2: Reuters NewsML-G2 (RMD REST, Reuters Connect NewsML).
 *
 * Story id = newsItem@guid taken literally; version = @version, which is a
 * small counter or a 9-10 digit number: ordered as an unsigned 64-bit
 * integer. edStat signals drive the edit status (N new, U update,
 * C correction, D deletion). The G2 <located> is the editing hub and
 * <dateline> a timestamp: the place comes from the body's
 * "<PLACE> (Reuters) -" dateline. Bodies are XHTML (contenttype
 * "application/xhtml+html"), sometimes one <p> of indented lines.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool identify(nw_item_t *it, xmlNode *x, nw_err_t *err)
{
    json_t *o = it->ninjs;
    it->story_id = nw_xml_attr(x, "guid");
    if (!it->story_id)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "Reuters G2 item without @guid");
    it->version = nw_xml_attr(x, "version");
    if (it->version && !nw_fmt_u64(it->version, &it->version_order))
        return nw_err_set(err, NW_ERR_INPUT, "bad-version", "Reuters version \"%.30s\" is not a number",
                          it->version);
    xmlNode *meta = nw_xml_child(x, NS_NAR, "itemMeta");
    it->version_id = nw_xml_attr(nw_xml_child(meta, NS_RTR, "versionedId"), "guid");
    if (!it->version_id && it->version)
        it->version_id = nw_fmt_printf("%s:%s", it->story_id, it->version);
    nw_ninjs_add_altid(o, "versionedid", it->version_id);
    xmlNode *cm = nw_xml_child(x, NS_NAR, "contentMeta");
    for (xmlNode *a = nw_xml_child(cm, NS_NAR, "altId"); a; a = nw_xml_next(a, NS_NAR, "altId")) {
        char *type = nw_xml_attr(a, "type"), *v = nw_xml_text(a);
        if (type && !strcmp(type, "idType:USN"))
            nw_ninjs_add_altid(o, "usn", v);
        free(type);
        free(v);
    }
    for (xmlNode *s = nw_xml_child(meta, NS_NAR, "signal"); s; s = nw_xml_next(s, NS_NAR, "signal")) {
        char *q = nw_xml_attr(s, "qcode");
        nw_edit_t e = NW_EDIT_NEW;
        if (q && !strcmp(q, "edStat:U"))
            e = NW_EDIT_UPDATE;
        else if (q && !strcmp(q, "edStat:C"))
            e = NW_EDIT_CORRECTION;
        else if (q && !strcmp(q, "edStat:D"))
            e = NW_EDIT_KILL;
        if (e > it->edit)
            it->edit = e;
        free(q);
    }
    return true;
}

static void subject(nw_item_t *it, xmlNode *s)
{
    char *q = nw_xml_attr(s, "qcode"), *name = nw_xml_text(nw_xml_child(s, NS_NAR, "name"));
    if (q && !strncmp(q, "subj:", 5))
        nw_ninjs_add_iptc_subject(it->ninjs, q + 5, name);
    else if (q)
        nw_ninjs_add_concept(it->ninjs, "subjects", name, NULL, q, NULL, NULL);
    free(q);
    free(name);
}

static const nw_g2_agency_t REUTERS = {
    .provider = "reuters",
    .body_flags = NW_HTML_SPLIT_LINES,
    .dateline_tag = "Reuters",
    .identify = identify,
    .subject = subject,
    .located = NULL,
};

bool nw_fmt_reuters_newsml_g2(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    return nw_g2_parse(in, &REUTERS, out, err);
}
