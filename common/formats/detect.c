/*
 * detect: which parser a payload needs (headers first, then sniffing), and
 * the public entry points that dispatch to it.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

typedef struct {
    const char *name;
    nw_fmt_parser_t parse;
} fmt_t;

static const fmt_t FORMATS[] = {
    {"ap-media-json", nw_fmt_ap_media_json},
    {"ap-nitf", nw_fmt_ap_nitf},
    {"ap-newsml-g2", nw_fmt_ap_newsml_g2},
    {"ap-anpa", nw_fmt_ap_anpa},
    {"reuters-newsml-g2", nw_fmt_reuters_newsml_g2},
    {"reuters-api-json", nw_fmt_reuters_api_json},
    {"afp-newsml-1.2", nw_fmt_afp_newsml_12},
    {"afp-newsml-2024", nw_fmt_afp_newsml_2024},
    {"afp-api-json", nw_fmt_afp_api_json},
    {"ninjs", nw_fmt_ninjs},
};
#define NFORMATS (sizeof FORMATS / sizeof FORMATS[0])

static const struct {
    const char *alias, *name;
} ALIASES[] = {
    {"ap-json", "ap-media-json"},       {"ap-media", "ap-media-json"},
    {"apmedia", "ap-media-json"},       {"ap_media", "ap-media-json"},
    {"nitf", "ap-nitf"},                {"ap-g2", "ap-newsml-g2"},
    {"anpa", "ap-anpa"},                {"anpa1312", "ap-anpa"},
    {"ap-anpa1312", "ap-anpa"},         {"reuters-g2", "reuters-newsml-g2"},
    {"reuters-json", "reuters-api-json"}, {"reuters-connect", "reuters-api-json"},
    {"afp-newsml12", "afp-newsml-1.2"}, {"newsml-1.2", "afp-newsml-1.2"},
    {"newsml12", "afp-newsml-1.2"},     {"afp-newsml-new", "afp-newsml-2024"},
    {"afp-json", "afp-api-json"},       {"afp-apicore", "afp-api-json"},
    {"ninjs-1", "ninjs"},               {"ninjs-2", "ninjs"},
    {"ninjs-3", "ninjs"},
};

/* Same order as FORMATS; a constant table keeps the call thread-safe. */
static const char *const NAMES[] = {"ap-media-json",  "ap-nitf",        "ap-newsml-g2",
                                    "ap-anpa",        "reuters-newsml-g2", "reuters-api-json",
                                    "afp-newsml-1.2", "afp-newsml-2024", "afp-api-json",
                                    "ninjs",          NULL};

const char *const *nw_format_names(void)
{
    return NAMES;
}

static const fmt_t *find_format(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (!strcasecmp(name, FORMATS[i].name))
            return &FORMATS[i];
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcasecmp(name, ALIASES[i].alias))
            return find_format(ALIASES[i].name);
    return NULL;
}

/* "ap", "reuters", "afp" from the agency header (tolerating "AP", "Reuters"...). */
static const char *agency_of(const nw_input_t *in)
{
    const char *a = in->agency;
    if (!a)
        return NULL;
    if (!strcasecmp(a, "ap") || !strcasecmp(a, "associated press") || !strcasecmp(a, "ap.org"))
        return "ap";
    if (!strncasecmp(a, "reuters", 7) || !strcasecmp(a, "thomson reuters"))
        return "reuters";
    if (!strcasecmp(a, "afp") || !strcasecmp(a, "afp.com"))
        return "afp";
    return NULL;
}

static bool contains(const char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (data[i] == needle[0] && !memcmp(data + i, needle, n))
            return true;
    return false;
}

/* The root element of an XML payload: local name (and the raw start tag text
 * for attribute checks), skipping the prolog, comments, PIs and DOCTYPE. */
static bool xml_root(const char *d, size_t len, char *local, size_t cap, const char **tag,
                     size_t *taglen)
{
    size_t i = 0;
    if (len >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3))
        i = 3;
    for (;;) {
        while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
            i++;
        if (i + 1 >= len || d[i] != '<')
            return false;
        if (d[i + 1] == '?') {
            const char *e = memmem(d + i, len - i, "?>", 2);
            if (!e)
                return false;
            i = (size_t)(e - d) + 2;
        } else if (len - i >= 4 && !memcmp(d + i, "<!--", 4)) {
            const char *e = memmem(d + i, len - i, "-->", 3);
            if (!e)
                return false;
            i = (size_t)(e - d) + 3;
        } else if (d[i + 1] == '!') {
            int br = 0;
            for (i += 2; i < len && (d[i] != '>' || br); i++)
                br += d[i] == '[' ? 1 : d[i] == ']' ? -1 : 0;
            i++;
        } else {
            break;
        }
    }
    size_t s = i + 1, e = s;
    while (e < len && d[e] != ' ' && d[e] != '>' && d[e] != '/' && d[e] != '\t' && d[e] != '\n' &&
           d[e] != '\r')
        e++;
    const char *colon = memchr(d + s, ':', e - s);
    if (colon)
        s = (size_t)(colon - d) + 1;
    if (e == s || e - s >= cap)
        return false;
    memcpy(local, d + s, e - s);
    local[e - s] = '\0';
    const char *gt = memchr(d + i, '>', len - i);
    *tag = d + i;
    *taglen = gt ? (size_t)(gt - (d + i)) : len - i;
    return true;
}

static const char *sniff_xml(const nw_input_t *in, const char *agency)
{
    char local[64];
    const char *tag;
    size_t taglen;
    if (!xml_root(in->data, in->len, local, sizeof local, &tag, &taglen))
        return NULL;
    size_t head = in->len < 16384 ? in->len : 16384;
    if (!strcmp(local, "newsMessage") || !strcmp(local, "newsItem") ||
        !strcmp(local, "packageItem")) {
        if (agency && !strcmp(agency, "ap"))
            return "ap-newsml-g2";
        if (agency && !strcmp(agency, "reuters"))
            return "reuters-newsml-g2";
        if (contains(in->data, head, "reuters.com"))
            return "reuters-newsml-g2";
        if (contains(in->data, head, "ap.org"))
            return "ap-newsml-g2";
        return NULL;
    }
    if (!strcmp(local, "nitf"))
        return "ap-nitf";
    if (!strcmp(local, "NewsML"))
        return contains(tag, taglen, "Version=\"1.2\"") || contains(tag, taglen, "Version='1.2'")
                   ? "afp-newsml-1.2"
                   : "afp-newsml-2024";
    return NULL;
}

static bool has_key(const json_t *o, const char *k)
{
    return json_object_get(o, k) != NULL;
}

static const char *sniff_json_object(const json_t *o)
{
    if (!json_is_object(o))
        return NULL;
    if (json_is_object(json_object_get(o, "altids")) &&
        json_object_get(json_object_get(o, "altids"), "itemid"))
        return "ap-media-json";
    if (has_key(o, "headLine") || has_key(o, "usn") || has_key(o, "versionedGuid") ||
        has_key(o, "bodyXhtml"))
        return "reuters-api-json";
    if (has_key(o, "uno") || (json_is_array(json_object_get(o, "news")) && has_key(o, "revision")))
        return "afp-api-json";
    const char *uri = nw_json_str(o, "uri");
    if (uri && !strncmp(uri, "tag:reuters.com", 15) && !has_key(o, "headlines"))
        return "reuters-api-json";
    if (uri)
        return "ninjs";
    return NULL;
}

static const char *sniff_json(const json_t *root)
{
    if (json_is_string(json_object_get(root, "nitf")) && json_is_object(json_object_get(root, "item")))
        return "ap-media-json";
    json_t *data = json_object_get(root, "data");
    if (json_is_object(data)) {
        if (json_is_array(json_object_get(data, "items")))
            return "ap-media-json";
        const char *r = sniff_json_object(json_object_get(data, "item"));
        if (r)
            return r;
        if (json_is_object(json_object_get(data, "search")))
            return "reuters-api-json";
    }
    json_t *resp = json_object_get(root, "response");
    if (json_is_object(resp) && json_is_array(json_object_get(resp, "docs")))
        return "afp-api-json";
    if (json_is_object(json_object_get(root, "item")) &&
        sniff_json_object(json_object_get(root, "item")) &&
        !strcmp(sniff_json_object(json_object_get(root, "item")), "ap-media-json"))
        return "ap-media-json";
    return sniff_json_object(root);
}

/* ANPA 1312: SYN/SOH at the start, or an STX early, and in both cases an STX
 * whose text block opens with a "^" header line, then an ETX. Control bytes
 * alone are not enough: random payloads carry STX and ETX often. */
static bool is_anpa(const char *d, size_t len)
{
    if (!len)
        return false;
    unsigned char c = (unsigned char)d[0];
    size_t head = len < 256 ? len : 256;
    const char *stx = memchr(d, 0x02, head);
    if (!stx && (c == 0x16 || c == 0x01))
        return true; /* a transmission header: let the parser explain what is missing */
    if (!stx)
        return false;
    const char *p = stx + 1, *end = d + len;
    while (p < end && (*p == '\r' || *p == '\n' || *p == ' '))
        p++;
    return p < end && *p == '^' && memchr(p, 0x03, (size_t)(end - p));
}

const char *nw_format_detect(const nw_input_t *in)
{
    const char *agency = agency_of(in);
    if (in->format && *in->format) {
        const fmt_t *f = find_format(in->format);
        if (f)
            return f->name;
        /* generic names made specific by the agency header */
        if (!strcasecmp(in->format, "newsml-g2") || !strcasecmp(in->format, "newsml2") ||
            !strcasecmp(in->format, "g2")) {
            if (agency && !strcmp(agency, "ap"))
                return "ap-newsml-g2";
            if (agency && !strcmp(agency, "reuters"))
                return "reuters-newsml-g2";
        }
        return NULL; /* a header naming an unknown format is not overridden by sniffing */
    }
    if (!in->data || !in->len)
        return NULL;
    if (is_anpa(in->data, in->len))
        return "ap-anpa";
    size_t i = 0;
    if (in->len >= 3 && !memcmp(in->data, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < in->len && (in->data[i] == ' ' || in->data[i] == '\n' || in->data[i] == '\r' ||
                           in->data[i] == '\t'))
        i++;
    if (i < in->len && in->data[i] == '<')
        return sniff_xml(in, agency);
    if (i < in->len && in->data[i] == '{') {
        json_t *root = NULL;
        nw_err_t e;
        if (!nw_json_read(in, &root, NULL, &e))
            return NULL;
        const char *r = sniff_json(root);
        json_decref(root);
        return r;
    }
    return NULL;
}

/* Dead-letter reasons travel in one header line: no control characters. */
static bool one_line(nw_err_t *err)
{
    if (err)
        for (char *p = err->msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    return false;
}

static bool parse_all(const nw_input_t *in, nw_items_t *out, nw_err_t *err);

bool nw_format_parse_all(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    return parse_all(in, out, err) || one_line(err);
}

static bool parse_all(const nw_input_t *in, nw_items_t *out, nw_err_t *err)
{
    nw_err_clear(err);
    if (!in || !in->data || !in->len)
        return nw_err_set(err, NW_ERR_INPUT, "empty", "empty payload");
    if (in->len > NW_FORMAT_MAX_BYTES)
        return nw_err_set(err, NW_ERR_INPUT, "too-large", "payload of %zu bytes exceeds %u",
                          in->len, NW_FORMAT_MAX_BYTES);
    const char *name = nw_format_detect(in);
    if (!name && !(in->format && *in->format)) {
        /* say why sniffing failed when the payload is broken JSON or XML */
        size_t i = 0;
        while (i < in->len && (in->data[i] == ' ' || in->data[i] == '\n' || in->data[i] == '\r' ||
                               in->data[i] == '\t'))
            i++;
        if (i < in->len && in->data[i] == '{') {
            json_t *root;
            if (!nw_json_read(in, &root, NULL, err))
                return false;
            json_decref(root);
        } else if (i < in->len && in->data[i] == '<') {
            xmlDocPtr doc;
            if (!nw_xml_read(in, &doc, NULL, err))
                return false;
            xmlFreeDoc(doc);
        }
    }
    if (!name) {
        if (in->format && *in->format)
            return nw_err_set(err, NW_ERR_INPUT, "unknown-format",
                              "unknown format \"%.40s\" in header newswire-format", in->format);
        return nw_err_set(err, NW_ERR_INPUT, "unknown-format",
                          "payload is not a known wire format (no header, sniffing failed)");
    }
    const fmt_t *f = find_format(name);
    size_t from = out->n;
    if (!f->parse(in, out, err)) {
        nw_items_truncate(out, from);
        nw_err_prefix(err, "%s", name);
        return false;
    }
    if (out->n == from)
        return nw_err_set(err, NW_ERR_INPUT, "empty", "%s: payload holds no item", name);
    for (size_t i = from; i < out->n; i++) {
        nw_item_t *it = &out->v[i];
        if (!it->format[0])
            snprintf(it->format, sizeof it->format, "%s", name);
        if (!nw_fmt_finish(it, err)) {
            nw_items_truncate(out, from);
            nw_err_prefix(err, "%s", name);
            return false;
        }
    }
    return true;
}

bool nw_format_parse(const nw_input_t *in, nw_item_t *out, nw_err_t *err)
{
    nw_items_t l = {0};
    memset(out, 0, sizeof *out);
    if (!nw_format_parse_all(in, &l, err)) {
        nw_item_init(out);
        nw_items_free(&l);
        return false;
    }
    if (l.n > 1) {
        size_t n = l.n;
        nw_items_free(&l);
        nw_item_init(out);
        return nw_err_set(err, NW_ERR_INPUT, "multi-item",
                          "payload holds %zu items: use nw_format_parse_all", n);
    }
    *out = l.v[0];
    free(l.v);
    return true;
}
