/*
 * newswire-normalize: print the ninjs 2.1 form of wire files, offline.
 *
 * One JSON object per line per item (a NewsML-G2 newsMessage or an AP feed
 * page may hold several). Bad input: one line "FILE: code: reason" on
 * stderr, the other files are still processed, and the exit status is 1.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

typedef struct {
    const char *format, *agency, *content_type, *pair_key;
    bool pretty, with_item, merge;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: newswire-normalize [options] FILE...\n"
            "Print one IPTC ninjs 2.1 JSON object per wire item in each FILE ('-' = stdin).\n\n"
            "  --format NAME        force the format (see --list-formats); default: sniff\n"
            "  --agency NAME        agency hint (ap, reuters, afp), as the newswire-agency header\n"
            "  --content-type CT    as the content-type header; its charset overrides the\n"
            "                       encoding the file declares\n"
            "  --charset NAME       shorthand for --content-type 'application/octet-stream; charset=NAME'\n"
            "  --pair-key KEY       AP \"<itemid>.<version>\" a bare NITF body belongs to\n"
            "  --merge              FILEs are AP pairs (Media API JSON and NITF, either order):\n"
            "                       print one merged item per pair\n"
            "  --with-item          wrap each object: {\"item\": {pipeline fields}, \"ninjs\": {...}}\n"
            "  --pretty             indent the JSON\n"
            "  --list-formats       print the format names and exit\n"
            "  --help               this text\n\n"
            "Exit status: 0 all files parsed, 1 some file was bad input, 2 usage error.\n");
}

/* Whole file (or stdin) in memory; stops one byte past the parser's cap so
 * that a huge file is refused without reading all of it. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0, lim = (size_t)NW_FORMAT_MAX_BYTES + 1;
    char *buf = malloc(cap);
    while (buf && n < lim) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t want = cap - n < lim - n ? cap - n : lim - n;
        size_t r = fread(buf + n, 1, want, f);
        n += r;
        if (r < want)
            break;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static void print_item(const nw_item_t *it, const opts_t *o)
{
    json_t *out;
    if (o->with_item) {
        out = json_object();
        json_object_set_new(out, "item", nw_item_to_json(it));
        json_object_set(out, "ninjs", it->ninjs);
    } else {
        out = json_incref(it->ninjs);
    }
    size_t flags = (o->pretty ? JSON_INDENT(2) : JSON_COMPACT);
    char *s = json_dumps(out, flags);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(out);
}

static nw_input_t input_for(const char *path, const char *data, size_t len, const opts_t *o)
{
    nw_input_t in = {.data = data, .len = len, .format = o->format, .agency = o->agency,
                     .content_type = o->content_type, .name = path, .pair_key = o->pair_key};
    return in;
}

static bool one_file(const char *path, const opts_t *o)
{
    size_t len;
    char *data = slurp(path, &len);
    if (!data) {
        fprintf(stderr, "%s: io: cannot read file\n", path);
        return false;
    }
    nw_input_t in = input_for(path, data, len, o);
    nw_items_t items = {0};
    nw_err_t err;
    bool ok = nw_format_parse_all(&in, &items, &err);
    if (ok)
        for (size_t i = 0; i < items.n; i++)
            print_item(&items.v[i], o);
    else
        fprintf(stderr, "%s: %s: %s\n", path, err.code, err.msg);
    nw_items_free(&items);
    free(data);
    return ok;
}

static bool one_pair(const char *a, const char *b, const opts_t *o)
{
    size_t la, lb;
    char *da = slurp(a, &la), *db = slurp(b, &lb);
    bool ok = false;
    if (!da || !db) {
        fprintf(stderr, "%s: io: cannot read file\n", da ? b : a);
    } else {
        opts_t plain = *o;
        plain.format = NULL;
        nw_input_t ia = input_for(a, da, la, &plain), ib = input_for(b, db, lb, &plain);
        nw_item_t it;
        nw_err_t err;
        ok = nw_format_ap_merge_raw(&ia, &ib, &it, &err);
        if (ok)
            print_item(&it, o);
        else
            fprintf(stderr, "%s + %s: %s: %s\n", a, b, err.code, err.msg);
        nw_item_free(&it);
    }
    free(da);
    free(db);
    return ok;
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    char ctbuf[128];
    static const struct option lo[] = {
        {"format", required_argument, 0, 'f'},   {"agency", required_argument, 0, 'a'},
        {"content-type", required_argument, 0, 'c'}, {"charset", required_argument, 0, 'C'},
        {"pair-key", required_argument, 0, 'k'}, {"merge", no_argument, 0, 'm'},
        {"with-item", no_argument, 0, 'i'},      {"pretty", no_argument, 0, 'p'},
        {"list-formats", no_argument, 0, 'l'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "f:a:c:C:k:miplh", lo, NULL)) != -1) {
        switch (c) {
        case 'f': o.format = optarg; break;
        case 'a': o.agency = optarg; break;
        case 'c': o.content_type = optarg; break;
        case 'C':
            snprintf(ctbuf, sizeof ctbuf, "application/octet-stream; charset=%s", optarg);
            o.content_type = ctbuf;
            break;
        case 'k': o.pair_key = optarg; break;
        case 'm': o.merge = true; break;
        case 'i': o.with_item = true; break;
        case 'p': o.pretty = true; break;
        case 'l':
            for (const char *const *n = nw_format_names(); *n; n++)
                puts(*n);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || (o.merge && (argc - optind) % 2)) {
        usage(stderr);
        return 2;
    }
    if (o.format) {
        bool known = false;
        nw_input_t probe = {.format = o.format};
        known = nw_format_detect(&probe) != NULL;
        if (!known) {
            fprintf(stderr, "newswire-normalize: unknown format \"%s\" (see --list-formats)\n",
                    o.format);
            return 2;
        }
    }
    bool all = true;
    if (o.merge)
        for (int i = optind; i + 1 < argc; i += 2)
            all &= one_pair(argv[i], argv[i + 1], &o);
    else
        for (int i = optind; i < argc; i++)
            all &= one_file(argv[i], &o);
    nw_format_cleanup();
    return all ? 0 : 1;
}
