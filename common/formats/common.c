/*
 * Shared plumbing for the format parsers: safe XML/JSON reading, lookups,
 * field helpers and the final normalization step (nw_fmt_finish).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "internal.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* Refuses every external entity, DTD or XInclude fetch: wire payloads are
 * untrusted and newswire never needs anything outside the payload. */
static xmlParserInputPtr no_external(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL;
}

static void xml_init(void)
{
    xmlInitParser();
    xmlSetExternalEntityLoader(no_external);
}

void nw_format_cleanup(void)
{
    xmlCleanupParser();
}

nw_item_t *nw_items_add(nw_items_t *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        nw_item_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            abort();
        l->v = v;
        l->cap = cap;
    }
    nw_item_t *it = &l->v[l->n++];
    nw_item_init(it);
    return it;
}

void nw_items_truncate(nw_items_t *l, size_t from)
{
    while (l->n > from)
        nw_item_free(&l->v[--l->n]);
}

void nw_items_free(nw_items_t *l)
{
    if (!l)
        return;
    nw_items_truncate(l, 0);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- XML ---------------------------------------------------------------- */

/* The charset parameter of a content-type header, copied into buf. */
static bool content_type_charset(const char *ct, char *buf, size_t cap)
{
    if (!ct)
        return false;
    for (const char *p = ct; *p; p++) {
        if (strncasecmp(p, "charset=", 8) != 0)
            continue;
        p += 8;
        if (*p == '"' || *p == '\'')
            p++;
        size_t n = 0;
        while (p[n] && p[n] != ';' && p[n] != '"' && p[n] != '\'' && p[n] != ' ' && n + 1 < cap)
            n++;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return n > 0;
    }
    return false;
}

/* encoding="..." of the XML declaration, when the payload starts with one. */
static bool declared_encoding(const char *data, size_t len, char *buf, size_t cap)
{
    size_t lim = len < 300 ? len : 300;
    if (lim < 5 || memcmp(data, "<?xml", 5) != 0)
        return false;
    for (size_t i = 5; i + 9 < lim && data[i] != '>'; i++) {
        if (memcmp(data + i, "encoding", 8) != 0)
            continue;
        size_t j = i + 8;
        while (j < lim && (data[j] == ' ' || data[j] == '='))
            j++;
        if (j >= lim || (data[j] != '"' && data[j] != '\''))
            return false;
        char q = data[j++];
        size_t n = 0;
        while (j + n < lim && data[j + n] != q && n + 1 < cap)
            n++;
        memcpy(buf, data + j, n);
        buf[n] = '\0';
        return n > 0;
    }
    return false;
}

static bool is_utf8_name(const char *e)
{
    return !strcasecmp(e, "utf-8") || !strcasecmp(e, "utf8");
}

static bool has_entity_decl(const char *data, size_t len)
{
    static const char pat[] = "<!ENTITY";
    for (size_t i = 0; i + sizeof pat - 1 <= len; i++) {
        const char *p = memchr(data + i, '<', len - i);
        if (!p)
            return false;
        i = (size_t)(p - data);
        if (i + sizeof pat - 1 <= len && !memcmp(p, pat, sizeof pat - 1))
            return true;
    }
    return false;
}

static bool xml_error(xmlParserCtxtPtr ctxt, nw_err_t *err)
{
    const xmlError *e = &ctxt->lastError;
    char msg[200] = "not well-formed";
    if (e->message) {
        snprintf(msg, sizeof msg, "%s", e->message);
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        size_t n = strlen(msg);
        while (n && msg[n - 1] == ' ')
            msg[--n] = '\0';
    }
    if (strstr(msg, "Excessive depth"))
        return nw_err_set(err, NW_ERR_INPUT, "too-deep", "XML nested deeper than 256 elements");
    if (e->code == XML_ERR_ENTITY_LOOP || strstr(msg, "ntity"))
        return nw_err_set(err, NW_ERR_INPUT, "xml-entity", "XML entity refused: %s", msg);
    if (strcasestr(msg, "huge") || strstr(msg, "too long"))
        return nw_err_set(err, NW_ERR_INPUT, "too-large", "XML text node too large: %s", msg);
    return nw_err_set(err, NW_ERR_INPUT, "xml-malformed", "XML line %d: %s", e->line, msg);
}

static bool xml_parse(const char *data, size_t len, const char *encoding, xmlDocPtr *doc,
                      nw_err_t *err)
{
    pthread_once(&xml_once, xml_init);
    *doc = NULL;
    if (len > NW_FORMAT_MAX_BYTES)
        return nw_err_set(err, NW_ERR_INPUT, "too-large", "payload of %zu bytes exceeds %u",
                          len, NW_FORMAT_MAX_BYTES);
    if (has_entity_decl(data, len))
        return nw_err_set(err, NW_ERR_INPUT, "xml-entity",
                          "XML declares entities (<!ENTITY>): refused");
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "libxml2 context");
    xmlDocPtr d = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, encoding,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                        XML_PARSE_NOCDATA);
    if (!d || !ctxt->wellFormed) {
        bool r = xml_error(ctxt, err);
        xmlFreeDoc(d);
        xmlFreeParserCtxt(ctxt);
        return r;
    }
    xmlFreeParserCtxt(ctxt);
    if (d->intSubset && (d->intSubset->entities || d->intSubset->pentities)) {
        xmlFreeDoc(d);
        return nw_err_set(err, NW_ERR_INPUT, "xml-entity", "XML declares entities: refused");
    }
    if (!xmlDocGetRootElement(d)) {
        xmlFreeDoc(d);
        return nw_err_set(err, NW_ERR_INPUT, "xml-malformed", "XML without a root element");
    }
    *doc = d;
    return true;
}

bool nw_xml_read(const nw_input_t *in, xmlDocPtr *doc, int *invalid, nw_err_t *err)
{
    char charset[40], declared[40];
    bool forced = content_type_charset(in->content_type, charset, sizeof charset);
    bool decl = declared_encoding(in->data, in->len, declared, sizeof declared);
    const unsigned char *u = (const unsigned char *)in->data;
    bool bom16 = in->len >= 2 && ((u[0] == 0xFE && u[1] == 0xFF) || (u[0] == 0xFF && u[1] == 0xFE));
    const char *eff = forced ? charset : decl ? declared : bom16 ? "UTF-16" : "UTF-8";
    if (in->len > NW_FORMAT_MAX_BYTES)
        return nw_err_set(err, NW_ERR_INPUT, "too-large", "payload of %zu bytes exceeds %u",
                          in->len, NW_FORMAT_MAX_BYTES);
    if (is_utf8_name(eff)) {
        size_t n;
        char *clean = nw_text_utf8_clean(in->data, in->len, true, invalid, &n);
        bool ok = xml_parse(clean, n, "UTF-8", doc, err);
        free(clean);
        return ok;
    }
    if (strncasecmp(eff, "utf-16", 6) && strncasecmp(eff, "ucs", 3) && strncasecmp(eff, "utf-32", 6)) {
        /* single-byte charsets: only the XML-illegal control bytes can be bad */
        char *copy = malloc(in->len ? in->len : 1);
        if (!copy)
            abort();
        size_t n = 0;
        for (size_t i = 0; i < in->len; i++) {
            unsigned char c = u[i];
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                if (invalid)
                    (*invalid)++;
                continue;
            }
            copy[n++] = (char)c;
        }
        bool ok = xml_parse(copy, n, forced ? charset : NULL, doc, err);
        free(copy);
        return ok;
    }
    return xml_parse(in->data, in->len, forced ? charset : NULL, doc, err);
}

bool nw_xml_read_string(const char *s, size_t len, xmlDocPtr *doc, nw_err_t *err)
{
    return xml_parse(s, len, "UTF-8", doc, err);
}

bool nw_xml_is(const xmlNode *n, const char *ns, const char *local)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local) != 0)
        return false;
    if (ns == NS_ANY)
        return true;
    const char *href = n->ns ? (const char *)n->ns->href : NULL;
    if (!ns)
        return !href;
    return href && !strcmp(href, ns);
}

xmlNode *nw_xml_child(const xmlNode *n, const char *ns, const char *local)
{
    if (!n)
        return NULL;
    for (xmlNode *c = n->children; c; c = c->next)
        if (nw_xml_is(c, ns, local))
            return c;
    return NULL;
}

xmlNode *nw_xml_next(const xmlNode *n, const char *ns, const char *local)
{
    if (!n)
        return NULL;
    for (xmlNode *c = n->next; c; c = c->next)
        if (nw_xml_is(c, ns, local))
            return c;
    return NULL;
}

xmlNode *nw_xml_path(const xmlNode *n, const char *ns, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    xmlNode *cur = (xmlNode *)n;
    char *save = NULL;
    for (char *seg = strtok_r(buf, "/", &save); seg && cur; seg = strtok_r(NULL, "/", &save))
        cur = nw_xml_child(cur, ns, seg);
    return cur;
}

char *nw_xml_text(const xmlNode *n)
{
    return nw_text_xml_content(n);
}

void nw_xml_set_text(json_t *o, const char *key, const xmlNode *n)
{
    char *s = nw_xml_text(n);
    nw_ninjs_set_str(o, key, s);
    free(s);
}

char *nw_xml_attr(const xmlNode *n, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *r = nw_text_squash((const char *)v);
    xmlFree(v);
    return r;
}

char *nw_xml_attr_ns(const xmlNode *n, const char *ns, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns);
    if (!v)
        return NULL;
    char *r = nw_text_squash((const char *)v);
    xmlFree(v);
    return r;
}

static xmlNode *find_rec(const xmlNode *n, const char *ns, const char *local, int depth)
{
    if (depth > 300)
        return NULL;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (nw_xml_is(c, ns, local))
            return c;
        xmlNode *r = find_rec(c, ns, local, depth + 1);
        if (r)
            return r;
    }
    return NULL;
}

xmlNode *nw_xml_find(const xmlNode *n, const char *ns, const char *local)
{
    return n ? find_rec(n, ns, local, 0) : NULL;
}

/* ---- JSON --------------------------------------------------------------- */

/* Nesting depth of a JSON text without parsing it: jansson recurses, and a
 * hostile 10,000-deep payload must fail here, clearly, before it does. */
static size_t json_depth(const char *s, size_t len)
{
    size_t depth = 0, max = 0;
    bool str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                str = false;
            continue;
        }
        if (c == '"')
            str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth)
            depth--;
    }
    return max;
}

static bool json_parse(const char *data, size_t len, json_t **root, int *invalid, nw_err_t *err)
{
    *root = NULL;
    if (len > NW_FORMAT_MAX_BYTES)
        return nw_err_set(err, NW_ERR_INPUT, "too-large", "payload of %zu bytes exceeds %u", len,
                          NW_FORMAT_MAX_BYTES);
    size_t d = json_depth(data, len);
    if (d > NW_FORMAT_MAX_JSON_DEPTH)
        return nw_err_set(err, NW_ERR_INPUT, "too-deep", "JSON nested %zu deep (limit %d)", d,
                          NW_FORMAT_MAX_JSON_DEPTH);
    size_t n;
    char *clean = nw_text_utf8_clean(data, len, false, invalid, &n);
    json_error_t je;
    json_t *r = json_loadb(clean, n, JSON_DECODE_ANY, &je);
    free(clean);
    if (!r)
        return nw_err_set(err, NW_ERR_INPUT, "json-malformed", "JSON line %d column %d: %s",
                          je.line, je.column, je.text);
    if (!json_is_object(r)) {
        json_decref(r);
        return nw_err_set(err, NW_ERR_INPUT, "json-malformed", "JSON payload is not an object");
    }
    *root = r;
    return true;
}

bool nw_json_read(const nw_input_t *in, json_t **root, int *invalid, nw_err_t *err)
{
    return json_parse(in->data, in->len, root, invalid, err);
}

const char *nw_json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

bool nw_json_int(const json_t *o, const char *key, long long *v)
{
    json_t *j = json_object_get(o, key);
    if (json_is_integer(j)) {
        *v = json_integer_value(j);
        return true;
    }
    if (json_is_real(j)) {
        *v = (long long)json_real_value(j);
        return true;
    }
    const char *s = json_string_value(j);
    if (s && *s) {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (!*end) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* ---- fields ------------------------------------------------------------- */

void nw_fmt_pubstatus(nw_item_t *it, const char *value)
{
    if (!value)
        return;
    const char *c = strrchr(value, ':') ? strrchr(value, ':') + 1 : value;
    if (!strcasecmp(c, "canceled") || !strcasecmp(c, "cancelled"))
        it->pubstatus = NW_PUB_CANCELED;
    else if (!strcasecmp(c, "withheld") || !strcasecmp(c, "embargoed"))
        it->pubstatus = NW_PUB_WITHHELD;
    json_object_set_new(it->ninjs, "pubstatus", json_string(nw_pubstatus_name(it->pubstatus)));
}

bool nw_fmt_time(const char *s, const char *field, int64_t *out, nw_err_t *err)
{
    if (nw_time_parse(s, out))
        return true;
    char shown[64];
    snprintf(shown, sizeof shown, "%s", s ? s : "");
    return nw_err_set(err, NW_ERR_INPUT, "bad-timestamp", "%s: unparseable timestamp \"%s\"",
                      field, shown);
}

bool nw_fmt_u64(const char *s, uint64_t *v)
{
    if (!s || !*s)
        return false;
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    return true;
}

char *nw_fmt_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *r = strdup(s);
    if (!r)
        abort();
    return r;
}

char *nw_fmt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = NULL;
    if (vasprintf(&r, fmt, ap) < 0)
        abort();
    va_end(ap);
    return r;
}

void nw_fmt_set_string(char **dst, const char *s)
{
    free(*dst);
    *dst = nw_fmt_strdup(s);
}

void nw_fmt_set_body(nw_item_t *it, nw_body_t *b, long long wordcount)
{
    if (b->html) {
        if (wordcount < 0)
            wordcount = (long long)nw_text_word_count(b->text);
        nw_ninjs_add_body(it->ninjs, "main", "text/html", b->html, wordcount);
        free(it->body_text);
        it->body_text = b->text;
        b->text = NULL;
    }
    nw_body_free(b);
}

enum { TX_HL_UPDATE, TX_HL_CORR, TX_SLUG_UPDATE, TX_SLUG_CORR, TX_NOTE_UPDATE, TX_NOTE_CORR, TX_N };
static regex_t tx[TX_N];
static pthread_once_t tx_once = PTHREAD_ONCE_INIT;

static void tx_init(void)
{
    static const char *const pats[TX_N] = {
        [TX_HL_UPDATE] = "^(UPDATE [0-9]+ ?-|REFILE-|REFILE ?[0-9]* ?-|UPDATE-)",
        [TX_HL_CORR] = "^(CORRECTED|CORRECTION|CORRECTS|Correction:|Corrected:|RECTIFICATIF|"
                       "CORRECTIF)",
        [TX_SLUG_UPDATE] = "(\\((.*, *)?UPDATE [0-9]+|UPDATE [0-9]+[,)]|[0-9](st|nd|rd|th) ?Ld|"
                           "writethru|Ld-Writethru)",
        [TX_SLUG_CORR] = "(\\((.*, *)?CORRECTED|CORRECTED[,)]|^CORRECTED|[-, ]Correction|"
                         "Correction$)",
        [TX_NOTE_UPDATE] = "(^|[^A-Za-z])(updates?|recasts?|adds|rewrites?|writethru|"
                           "new throughout|refiles?)([^A-Za-z]|$)",
        [TX_NOTE_CORR] = "(^|[^A-Za-z])(corrects|correction|corrected|rectificatif)([^A-Za-z]|$)",
    };
    for (int i = 0; i < TX_N; i++) {
        int flags = REG_EXTENDED | REG_NOSUB;
        if (i == TX_SLUG_UPDATE || i >= TX_NOTE_UPDATE)
            flags |= REG_ICASE;
        if (regcomp(&tx[i], pats[i], flags) != 0)
            abort();
    }
}

static bool tx_match(int i, const char *s)
{
    return s && regexec(&tx[i], s, 0, NULL, 0) == 0;
}

nw_edit_t nw_fmt_edit_from_text(const char *headline, const char *slugline, const char *ednote)
{
    pthread_once(&tx_once, tx_init);
    if (tx_match(TX_HL_CORR, headline) || tx_match(TX_SLUG_CORR, slugline) ||
        tx_match(TX_NOTE_CORR, ednote))
        return NW_EDIT_CORRECTION;
    if (tx_match(TX_HL_UPDATE, headline) || tx_match(TX_SLUG_UPDATE, slugline) ||
        tx_match(TX_NOTE_UPDATE, ednote))
        return NW_EDIT_UPDATE;
    return NW_EDIT_NEW;
}

char *nw_fmt_hash_id(const char *provider, const char *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    return nw_fmt_printf("urn:newswire:%s:sha-xxh128:%016llx%016llx", provider,
                         (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static char *first_headline(json_t *o)
{
    json_t *a = json_object_get(o, "headlines"), *h, *first = NULL;
    size_t i;
    json_array_foreach(a, i, h)
    {
        const char *r = json_string_value(json_object_get(h, "role"));
        if (!first)
            first = h;
        if (r && !strcmp(r, "main"))
            return nw_fmt_strdup(json_string_value(json_object_get(h, "value")));
    }
    return first ? nw_fmt_strdup(json_string_value(json_object_get(first, "value"))) : NULL;
}

static char *nfc_owned(char *s)
{
    if (!s || nw_text_nfc_trivially(s))
        return s;
    char *n = nw_text_nfc(s);
    free(s);
    return n;
}

bool nw_fmt_finish(nw_item_t *it, nw_err_t *err)
{
    json_t *o = it->ninjs;
    if (!it->story_id || !*it->story_id)
        return nw_err_set(err, NW_ERR_INPUT, "missing-id", "%s item has no story id", it->format);
    it->story_id = nfc_owned(it->story_id);
    json_object_set_new(o, "uri", json_string(it->story_id));
    if (!it->version)
        it->version = nw_fmt_strdup("");
    if (*it->version)
        json_object_set_new(o, "version", json_string(it->version));
    nw_ninjs_set_time(o, "versioncreated", it->versioncreated);
    nw_ninjs_set_time(o, "firstcreated", it->firstcreated);
    nw_ninjs_set_time(o, "embargoed", it->embargoed);
    if (it->pubstatus != NW_PUB_USABLE || json_object_get(o, "pubstatus"))
        json_object_set_new(o, "pubstatus", json_string(nw_pubstatus_name(it->pubstatus)));
    json_t *u = json_object_get(o, "urgency");
    if (u && (!json_is_number(u) || json_number_value(u) < 1 || json_number_value(u) > 9))
        json_object_del(o, "urgency");

    nw_ninjs_nfc(o);
    free(it->headline);
    it->headline = first_headline(o);
    nw_fmt_set_string(&it->slugline, json_string_value(json_object_get(o, "slugline")));
    nw_fmt_set_string(&it->language, json_string_value(json_object_get(o, "language")));

    nw_edit_t t = nw_fmt_edit_from_text(it->headline, it->slugline,
                                        json_string_value(json_object_get(o, "ednote")));
    if (t > it->edit)
        it->edit = t;
    if (it->pubstatus == NW_PUB_CANCELED)
        it->edit = NW_EDIT_KILL;

    char *stripped = nw_text_strip_boilerplate(it->body_text);
    free(it->body_text);
    it->body_text = nfc_owned(stripped);

    json_t *c = nw_ninjs_canonical(o);
    json_decref(it->ninjs);
    it->ninjs = c;
    return true;
}
