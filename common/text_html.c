/*
 * text_html: the body sanitizer. It walks a libxml2 tree (from an XML wire
 * document or from libxml2's HTML parser) and writes an allow-listed HTML
 * rendition plus its plain text in one pass, so both always agree.
 */
#define _GNU_SOURCE
#include <libxml/HTMLparser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text.h"

#define MAX_DEPTH 200 /* libxml2 itself stops XML at 256 levels */

static const char *const NS_OK[] = {
    "http://www.w3.org/1999/xhtml",
    "http://iptc.org/std/NITF/2006-10-18/",
    "http://iptc.org/std/nar/2006-10-01/", /* NITF that inherited the G2 default namespace */
    NULL,
};

typedef enum { EL_DROP, EL_UNWRAP_BLOCK, EL_UNWRAP, EL_KEEP_BLOCK, EL_KEEP, EL_VOID } el_kind_t;

typedef struct {
    el_kind_t kind;
    const char *out; /* output tag for KEEP/VOID */
} el_map_t;

static el_map_t map_element(const xmlNode *n)
{
    const char *name = (const char *)n->name;
    if (n->ns && n->ns->href) {
        bool ok = false;
        for (int i = 0; NS_OK[i]; i++)
            ok |= !strcmp((const char *)n->ns->href, NS_OK[i]);
        if (!ok)
            return (el_map_t){EL_DROP, NULL};
    }
    static const char *const drop[] = {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
        "noscript", "template", "head", "title", "meta", "link", "base", "form", "input",
        "button", "select", "textarea", "option", "svg", "math", "canvas", "audio", "video",
        "source", "track", "img", "picture", "map", "area", "media", "body.head", "body.end",
        "ed-msg", "param", "xml", NULL};
    static const char *const block[] = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul",
                                        "ol", "li", "dl", "dt", "dd", "blockquote", "pre",
                                        "table", "thead", "tbody", "tfoot", "tr", "th", "td",
                                        "caption", NULL};
    static const char *const inl[] = {"a", "b", "strong", "i", "em", "u", "s", "sub", "sup",
                                      "small", "q", "cite", "abbr", "code", NULL};
    static const char *const ublock[] = {"html", "body", "body.content", "block", "nitf",
                                         "DataContent", "section", "article", "main", "header",
                                         "footer", "figure", "center", "nitf-table", NULL};
    for (int i = 0; drop[i]; i++)
        if (!strcasecmp(name, drop[i]))
            return (el_map_t){EL_DROP, NULL};
    for (int i = 0; block[i]; i++)
        if (!strcasecmp(name, block[i]))
            return (el_map_t){EL_KEEP_BLOCK, block[i]};
    for (int i = 0; inl[i]; i++)
        if (!strcasecmp(name, inl[i]))
            return (el_map_t){EL_KEEP, inl[i]};
    for (int i = 0; ublock[i]; i++)
        if (!strcasecmp(name, ublock[i]))
            return (el_map_t){EL_UNWRAP_BLOCK, NULL};
    if (!strcasecmp(name, "br"))
        return (el_map_t){EL_VOID, "br"};
    if (!strcasecmp(name, "hr"))
        return (el_map_t){EL_VOID, "hr"};
    if (!strcasecmp(name, "hl1"))
        return (el_map_t){EL_KEEP_BLOCK, "h1"};
    if (!strcasecmp(name, "hl2"))
        return (el_map_t){EL_KEEP_BLOCK, "h2"};
    if (!strcasecmp(name, "bq"))
        return (el_map_t){EL_KEEP_BLOCK, "blockquote"};
    if (!strcasecmp(name, "tagline") || !strcasecmp(name, "dateline"))
        return (el_map_t){EL_KEEP_BLOCK, "p"};
    return (el_map_t){EL_UNWRAP, NULL};
}

typedef struct {
    nw_sbuf_t html, text;
    size_t content;      /* characters of text written to html so far */
    size_t paragraphs;
    bool para_open;      /* the current text paragraph has content */
    bool space_pending;  /* whitespace seen since the last text character */
    bool html_space;     /* same, for the HTML stream */
    bool at_block_start; /* nothing written since the last block tag */
    int pre;
    bool too_deep;
} ctx_t;

static void text_break(ctx_t *c)
{
    if (c->para_open) {
        nw_sbuf_putc(&c->text, '\n');
        c->paragraphs++;
    }
    c->para_open = false;
    c->space_pending = false;
}

static void html_block_edge(ctx_t *c)
{
    c->at_block_start = true;
    c->html_space = false;
}

static void put_escaped(nw_sbuf_t *b, const char *s, size_t n, bool attr)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i; /* copied whole up to the next character to escape */
        while (run < n && s[run] != '&' && s[run] != '<' && s[run] != '>' &&
               !(attr && s[run] == '"'))
            run++;
        nw_sbuf_putn(b, s + i, run - i);
        if (run == n)
            break;
        switch (s[run]) {
        case '&': nw_sbuf_puts(b, "&amp;"); break;
        case '<': nw_sbuf_puts(b, "&lt;"); break;
        case '>': nw_sbuf_puts(b, "&gt;"); break;
        default: nw_sbuf_puts(b, "&quot;");
        }
        i = run + 1;
    }
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

/* Append a text node's characters to both streams, collapsing whitespace
 * (kept verbatim inside <pre>). Outside <pre>, words separated by single
 * spaces (what collapsing leaves as it is) are appended as one run. */
static void add_text(ctx_t *c, const char *s)
{
    const char *p = s;
    while (*p) {
        if (c->pre) {
            put_escaped(&c->html, p, 1, false);
            if (*p == '\n') {
                text_break(c);
                p++;
                continue;
            }
        }
        if (is_space(*p)) {
            c->space_pending = c->para_open;
            c->html_space = !c->at_block_start;
            p++;
            continue;
        }
        size_t n = 1;
        while (!c->pre) { /* words, and the single spaces between them */
            while (p[n] && !is_space(p[n]))
                n++;
            if (p[n] != ' ' || !p[n + 1] || is_space(p[n + 1]))
                break;
            n += 2;
        }
        if (!c->pre) {
            if (c->html_space)
                nw_sbuf_putc(&c->html, ' ');
            put_escaped(&c->html, p, n, false);
        }
        c->html_space = false;
        c->at_block_start = false;
        if (c->space_pending)
            nw_sbuf_putc(&c->text, ' ');
        c->space_pending = false;
        nw_sbuf_putn(&c->text, p, n);
        c->para_open = true;
        c->content += n;
        p += n;
    }
}

static bool safe_href(const char *v)
{
    while (*v == ' ')
        v++;
    return !strncasecmp(v, "http://", 7) || !strncasecmp(v, "https://", 8) ||
           !strncasecmp(v, "mailto:", 7);
}

static void open_tag(ctx_t *c, const xmlNode *n, const char *tag)
{
    nw_sbuf_putc(&c->html, '<');
    nw_sbuf_puts(&c->html, tag);
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *an = (const char *)a->name;
        bool keep = (!strcmp(tag, "a") && !strcasecmp(an, "href")) ||
                    ((!strcmp(tag, "td") || !strcmp(tag, "th")) &&
                     (!strcasecmp(an, "colspan") || !strcasecmp(an, "rowspan")));
        if (!keep || a->ns)
            continue;
        xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
        if (!v)
            continue;
        bool ok = !strcmp(tag, "a") ? safe_href((const char *)v)
                                    : strspn((const char *)v, "0123456789") == strlen((char *)v) &&
                                          strlen((char *)v) > 0 && strlen((char *)v) < 4;
        if (ok) {
            nw_sbuf_putc(&c->html, ' ');
            nw_sbuf_puts(&c->html, an);
            nw_sbuf_puts(&c->html, "=\"");
            put_escaped(&c->html, (const char *)v, strlen((char *)v), true);
            nw_sbuf_putc(&c->html, '"');
        }
        xmlFree(v);
    }
    nw_sbuf_putc(&c->html, '>');
}

static void walk(ctx_t *c, const xmlNode *parent, int depth);

static void element(ctx_t *c, const xmlNode *n, int depth)
{
    el_map_t m = map_element(n);
    bool block = m.kind == EL_KEEP_BLOCK || m.kind == EL_UNWRAP_BLOCK;
    bool cell = m.out && (!strcmp(m.out, "td") || !strcmp(m.out, "th"));
    switch (m.kind) {
    case EL_DROP: return;
    case EL_VOID:
        nw_sbuf_putc(&c->html, '<');
        nw_sbuf_puts(&c->html, m.out);
        nw_sbuf_puts(&c->html, "/>");
        html_block_edge(c);
        c->content++;
        text_break(c);
        return;
    case EL_UNWRAP:
    case EL_UNWRAP_BLOCK:
        if (block)
            text_break(c);
        walk(c, n, depth + 1);
        if (block)
            text_break(c);
        return;
    case EL_KEEP:
    case EL_KEEP_BLOCK: break;
    }
    size_t mark = c->html.len, before = c->content;
    bool was_space = c->html_space;
    if (block) {
        if (cell)
            c->space_pending = c->para_open;
        else
            text_break(c);
        c->html_space = false;
    } else if (c->html_space) {
        nw_sbuf_putc(&c->html, ' ');
        c->html_space = false;
    }
    open_tag(c, n, m.out);
    if (block)
        html_block_edge(c);
    bool pre = !strcmp(m.out, "pre");
    c->pre += pre;
    walk(c, n, depth + 1);
    c->pre -= pre;
    if (c->content == before && !cell) {
        /* nothing inside: leave no empty element behind */
        c->html.len = mark;
        c->html.data[mark] = '\0';
        c->html_space = was_space;
        return;
    }
    nw_sbuf_puts(&c->html, "</");
    nw_sbuf_puts(&c->html, m.out);
    nw_sbuf_putc(&c->html, '>');
    if (block) {
        html_block_edge(c);
        if (cell)
            c->space_pending = c->para_open;
        else
            text_break(c);
    }
}

static void walk(ctx_t *c, const xmlNode *parent, int depth)
{
    if (depth > MAX_DEPTH) {
        c->too_deep = true;
        return;
    }
    for (const xmlNode *n = parent->children; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE: element(c, n, depth); break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (n->content)
                add_text(c, (const char *)n->content);
            break;
        case XML_ENTITY_REF_NODE: break; /* never expanded: documents with entities are refused */
        default: break;
        }
    }
}

/* Calls emit(paragraph) for each paragraph of wire text laid out as lines:
 * a line that starts indented, or follows a blank line, opens a paragraph;
 * any other line continues the current one (a soft wrap). */
static void split_lines(const char *s, void (*emit)(void *, const char *), void *arg)
{
    nw_sbuf_t cur = {0};
    bool blank_before = true;
    const char *p = s;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char *line = strndup(p, n);
        char *sq = nw_text_squash(line);
        bool indented = n && (line[0] == ' ' || line[0] == '\t');
        free(line);
        if (!sq) {
            blank_before = true;
        } else {
            if ((indented || blank_before) && cur.len) {
                emit(arg, cur.data);
                cur.len = 0;
                cur.data[0] = '\0';
            }
            if (cur.len)
                nw_sbuf_putc(&cur, ' ');
            nw_sbuf_puts(&cur, sq);
            free(sq);
            blank_before = false;
        }
        p = eol ? eol + 1 : p + n;
    }
    if (cur.len)
        emit(arg, cur.data);
    nw_sbuf_free(&cur);
}

typedef struct {
    xmlNode *ref;
} split_arg_t;

static void emit_p_node(void *arg, const char *para)
{
    split_arg_t *a = arg;
    xmlNode *p = xmlNewDocNode(a->ref->doc, a->ref->ns, (const xmlChar *)"p", NULL);
    xmlNodeAddContent(p, (const xmlChar *)para);
    xmlAddPrevSibling(a->ref, p);
}

/* Reuters: "<p>(Adds ...)\n    * bullet\n    Jan 30 (Reuters) - ...</p>" becomes
 * one <p> per paragraph. Only text-only <p> elements are rewritten. */
static void split_text_paragraphs(xmlNode *parent, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    xmlNode *next;
    for (xmlNode *n = parent->children; n; n = next) {
        next = n->next;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcasecmp((const char *)n->name, "p") != 0) {
            split_text_paragraphs(n, depth + 1);
            continue;
        }
        bool text_only = true, newline = false;
        for (const xmlNode *k = n->children; k; k = k->next) {
            text_only &= k->type == XML_TEXT_NODE;
            newline |= k->type == XML_TEXT_NODE && k->content && strchr((char *)k->content, '\n');
        }
        if (!text_only || !newline)
            continue;
        xmlChar *t = xmlNodeGetContent(n);
        split_arg_t a = {n};
        split_lines((const char *)t, emit_p_node, &a);
        xmlFree(t);
        xmlUnlinkNode(n);
        xmlFreeNode(n);
    }
}

static void finish(ctx_t *c, nw_body_t *out)
{
    text_break(c);
    memset(out, 0, sizeof *out);
    out->too_deep = c->too_deep;
    out->paragraphs = c->paragraphs;
    if (c->content) {
        out->html = nw_sbuf_take(&c->html);
        size_t n = c->text.len;
        while (n && c->text.data[n - 1] == '\n')
            c->text.data[--n] = '\0';
        c->text.len = n;
        out->text = nw_sbuf_take(&c->text);
    } else {
        nw_sbuf_free(&c->html);
        nw_sbuf_free(&c->text);
    }
}

static size_t count_p(const xmlNode *n, int depth)
{
    size_t k = 0;
    for (const xmlNode *c = n->children; c && depth < MAX_DEPTH; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            k += !strcasecmp((const char *)c->name, "p") + count_p(c, depth + 1);
    return k;
}

void nw_text_body_from_xml(xmlNode *container, int flags, nw_body_t *out)
{
    ctx_t c = {.at_block_start = true};
    /* only the documented Reuters shape: the whole body is one <p> of lines */
    if (container && (flags & NW_HTML_SPLIT_LINES) && count_p(container, 0) == 1)
        split_text_paragraphs(container, 0);
    if (container)
        walk(&c, container, 0);
    finish(&c, out);
}

void nw_text_body_from_html(const char *html, size_t len, int flags, nw_body_t *out)
{
    htmlDocPtr doc = NULL;
    if (html && len) {
        htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
        if (ctxt) {
            doc = htmlCtxtReadMemory(ctxt, html, (int)(len > 0x7fffffff ? 0x7fffffff : len),
                                     NULL, "UTF-8",
                                     HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                         HTML_PARSE_COMPACT);
            htmlFreeParserCtxt(ctxt);
        }
    }
    if (!doc) {
        memset(out, 0, sizeof *out);
        return;
    }
    nw_text_body_from_xml((xmlNode *)doc, flags, out);
    xmlFreeDoc(doc);
}

typedef struct {
    ctx_t *c;
} plain_arg_t;

static void emit_plain(void *arg, const char *para)
{
    ctx_t *c = ((plain_arg_t *)arg)->c;
    nw_sbuf_puts(&c->html, "<p>");
    html_block_edge(c);
    add_text(c, para);
    nw_sbuf_puts(&c->html, "</p>");
    text_break(c);
}

void nw_text_body_from_plain(const char *plain, nw_body_t *out)
{
    ctx_t c = {.at_block_start = true};
    plain_arg_t a = {&c};
    if (plain)
        split_lines(plain, emit_plain, &a);
    finish(&c, out);
}

void nw_body_free(nw_body_t *b)
{
    if (!b)
        return;
    free(b->html);
    free(b->text);
    memset(b, 0, sizeof *b);
}
