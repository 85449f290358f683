/*
 * newswire-compare: the relation and similarity scores of two items, offline.
 *
 * Parses both files with the wire-format parsers (or, with --text, reads
 * plain text: first line headline, the rest body), fingerprints them and
 * applies the same decision rules as the pipeline (link.h). Prints a
 * human-readable report, or one JSON object with --json.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"
#include "link.h"

typedef struct opts {
    const char *format, *agency, *provider, *language;
    bool text, json;
} opts_t;

/* One side of the comparison; strings owned. */
typedef struct side {
    const char *path;
    nw_item_t item;
    bool parsed;        /* item filled by a parser (else plain text) */
    char *headline, *body, *provider, *story_id, *language;
    int64_t versioncreated;
    bool correction;
    nw_fp_t fp;
} side_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: newswire-compare [options] A B\n"
               "Print how item B relates to item A (duplicate, update, near_duplicate,\n"
               "related, none) and every score behind the decision.\n\n"
               "  --text             A and B are plain text: first line headline, rest body\n"
               "  --provider NAME    provider of --text items (default: text; same for both)\n"
               "  --language TAG     language of --text items (default: en)\n"
               "  --format NAME      force the wire format of both files (default: sniff)\n"
               "  --agency NAME      agency hint, as the newswire-agency header\n"
               "  --json             one JSON object instead of the report\n"
               "  --help             this text\n\n"
               "Exit status: 0 compared, 1 a file could not be read or parsed, 2 usage error.\n");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap || n > NW_FORMAT_MAX_BYTES)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static char *dup0(const char *s) { return s ? strdup(s) : NULL; }

/* Read and fingerprint one side; false with a message on stderr. */
static bool load_side(side_t *s, const opts_t *o, nw_fp_ctx_t *ctx)
{
    size_t len;
    char *data = slurp(s->path, &len);
    if (!data) {
        fprintf(stderr, "%s: io: cannot read file\n", s->path);
        return false;
    }
    if (o->text) {
        char *nl = strchr(data, '\n');
        s->headline = nl ? strndup(data, (size_t)(nl - data)) : strdup(data);
        s->body = strdup(nl ? nl + 1 : "");
        s->provider = strdup(o->provider ? o->provider : "text");
        s->story_id = strdup(s->path);
        s->language = strdup(o->language ? o->language : "en");
        struct stat st;
        s->versioncreated = stat(s->path, &st) == 0 ? (int64_t)st.st_mtime : 0;
    } else {
        nw_input_t in = {.data = data, .len = len, .format = o->format, .agency = o->agency, .name = s->path};
        nw_err_t err;
        nw_items_t items = {0};
        if (!nw_format_parse_all(&in, &items, &err) || items.n == 0) {
            fprintf(stderr, "%s: %s: %s\n", s->path, items.n ? err.code : "empty", items.n ? err.msg : "no item");
            nw_items_free(&items);
            free(data);
            return false;
        }
        if (items.n > 1)
            fprintf(stderr, "%s: %zu items, comparing the first\n", s->path, items.n);
        nw_item_t *it = &items.v[0];
        s->headline = dup0(it->headline);
        s->body = dup0(it->body_text);
        s->provider = strdup(it->provider);
        s->story_id = dup0(it->story_id);
        s->language = dup0(it->language);
        s->versioncreated = it->versioncreated;
        s->correction = it->edit == NW_EDIT_CORRECTION;
        nw_items_free(&items);
    }
    free(data);
    nw_fp_input_t in = {.headline = s->headline, .body = s->body, .language = s->language};
    nw_err_t err;
    if (!nw_fp_compute(ctx, NULL, &in, &s->fp, &err)) {
        fprintf(stderr, "%s: %s\n", s->path, err.msg);
        return false;
    }
    return true;
}

static void side_free(side_t *s)
{
    free(s->headline);
    free(s->body);
    free(s->provider);
    free(s->story_id);
    free(s->language);
}

static json_t *side_json(const side_t *s)
{
    char hash[33];
    for (int i = 0; i < 16; i++)
        snprintf(hash + 2 * i, 3, "%02x", s->fp.content_hash[i]);
    return json_pack("{s:s,s:s?,s:s?,s:s?,s:I,s:I,s:I,s:I,s:s,s:b,s:b,s:I,s:I}", "file", s->path, "provider",
                     s->provider, "story_id", s->story_id, "headline", s->headline, "versioncreated",
                     (json_int_t)s->versioncreated, "tokens", (json_int_t)s->fp.n_tokens, "shingles",
                     (json_int_t)s->fp.n_shingles, "lede_shingles", (json_int_t)s->fp.n_lede_shingles,
                     "content_hash", hash, "short", (s->fp.flags & NW_FP_SHORT) != 0, "templated",
                     (s->fp.flags & NW_FP_TEMPLATED) != 0, "numbers", (json_int_t)s->fp.n_nums, "names",
                     (json_int_t)s->fp.n_ents);
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    static const struct option lo[] = {
        {"text", no_argument, NULL, 't'},         {"json", no_argument, NULL, 'j'},
        {"provider", required_argument, NULL, 'p'}, {"language", required_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'f'}, {"agency", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 't': o.text = true; break;
        case 'j': o.json = true; break;
        case 'p': o.provider = optarg; break;
        case 'l': o.language = optarg; break;
        case 'f': o.format = optarg; break;
        case 'a': o.agency = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    nw_fp_ctx_t *ctx = nw_fp_ctx_new();
    side_t a = {.path = argv[optind]}, b = {.path = argv[optind + 1]};
    int rc = 0;
    if (!ctx || !load_side(&a, &o, ctx) || !load_side(&b, &o, ctx)) {
        rc = 1;
        goto out;
    }
    nw_link_meta_t ma = {.version_pk = 1, .story_pk = 1, .provider = a.provider, .story_id = a.story_id,
                         .versioncreated = a.versioncreated, .headline = a.headline, .correction = a.correction};
    nw_link_meta_t mb = {.version_pk = 2, .story_pk = 2, .provider = b.provider, .story_id = b.story_id,
                         .versioncreated = b.versioncreated, .headline = b.headline, .correction = b.correction};
    nw_link_result_t r;
    nw_rel_t rel = nw_link_decide(NULL, &a.fp, &ma, &b.fp, &mb, &r);
    const side_t *newer = r.a_is_newer ? &a : &b, *older = r.a_is_newer ? &b : &a;
    if (o.json) {
        json_t *j = json_pack("{s:s,s:s?,s:s,s:f,s:s,s:s,s:{s:f,s:f,s:f,s:f,s:f,s:i,s:b,s:b,s:b},s:o,s:o}",
                              "relation", nw_rel_name(rel), "link", nw_rel_link_name(rel), "rule", r.rule,
                              "score", r.score, "newer", newer->path, "older", older->path, "scores", "jaccard",
                              r.s.j, "containment_a_in_b", r.s.c_ab, "containment_b_in_a", r.s.c_ba, "lede_jaccard",
                              r.s.lede_j, "term_cosine", r.s.cos, "simhash_distance", r.s.simhash_hd,
                              "same_content", r.s.same_hash, "guarded", r.s.guarded, "guard_ok", r.s.guard_ok, "a",
                              side_json(&a), "b", side_json(&b));
        char *s = json_dumps(j, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
        json_decref(j);
    } else {
        printf("relation        %s (rule %s, score %.3f)\n", nw_rel_name(rel), r.rule, r.score);
        if (nw_rel_link_name(rel))
            printf("link            %s -[%s]-> %s\n", newer->path, nw_rel_link_name(rel), older->path);
        printf("jaccard         %.3f   (MinHash 128, word 3-shingles)\n", r.s.j);
        printf("containment     A in B %.3f, B in A %.3f\n", r.s.c_ab, r.s.c_ba);
        printf("lede jaccard    %.3f   (first %d tokens)\n", r.s.lede_j, NW_FP_LEDE_TOKENS);
        printf("term cosine     %.3f\n", r.s.cos);
        printf("simhash         %d bits apart\n", r.s.simhash_hd);
        printf("same content    %s\n", r.s.same_hash ? "yes" : "no");
        printf("guard           %s\n", !r.s.guarded ? "n/a" : r.s.guard_ok ? "passed" : "failed (numbers/names differ)");
        for (int i = 0; i < 2; i++) {
            const side_t *s = i ? &b : &a;
            printf("%s: %s\n   provider %s, story %s, %u tokens, %u shingles%s%s, %u numbers, %u names\n   %s\n",
                   i ? "B" : "A", s->path, s->provider, s->story_id ? s->story_id : "-", s->fp.n_tokens,
                   s->fp.n_shingles, s->fp.flags & NW_FP_SHORT ? ", short" : "",
                   s->fp.flags & NW_FP_TEMPLATED ? ", templated" : "", s->fp.n_nums, s->fp.n_ents,
                   s->headline ? s->headline : "");
        }
    }
out:
    side_free(&a);
    side_free(&b);
    nw_fp_ctx_free(ctx);
    return rc;
}
