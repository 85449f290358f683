#include "corpus.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t bench_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- a growable string -------------------------------------------------- */

typedef struct sb {
    char *s;
    size_t n, cap;
} sb_t;

static void sb_addn(sb_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2 + 64;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
static void sb_add(sb_t *b, const char *s) { sb_addn(b, s, strlen(s)); }
static char *sb_take(sb_t *b)
{
    if (!b->s)
        sb_add(b, "");
    return b->s;
}

/* ---- ARFF --------------------------------------------------------------- */

/* Unescape one ARFF string value and decode the SGML entities left in the
 * Reuters text; paragraph breaks ("\n" + indent) become "\n\n", line wraps
 * become spaces. */
static char *decode_record(const char *p, const char *end)
{
    sb_t raw = {0};
    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            sb_addn(&raw, &c, 1);
        } else {
            sb_addn(&raw, p, 1);
        }
    }
    sb_t out = {0};
    const char *s = sb_take(&raw);
    for (size_t i = 0; s[i];) {
        if (s[i] == '&') {
            if (!strncmp(s + i, "&lt;", 4)) { sb_add(&out, "<"); i += 4; continue; }
            if (!strncmp(s + i, "&gt;", 4)) { sb_add(&out, ">"); i += 4; continue; }
            if (!strncmp(s + i, "&amp;", 5)) { sb_add(&out, "&"); i += 5; continue; }
            if (s[i + 1] == '#') {
                size_t j = i + 2;
                while (isdigit((unsigned char)s[j]))
                    j++;
                if (s[j] == ';') { i = j + 1; continue; }
            }
        }
        if (s[i] == '\n') {
            size_t j = i + 1, sp = 0;
            while (s[j] == ' ') { j++; sp++; }
            sb_add(&out, sp >= 2 ? "\n\n" : " ");
            i = j;
            continue;
        }
        sb_addn(&out, s + i, 1);
        i++;
    }
    free(raw.s);
    return sb_take(&out);
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    bool in = false;
    for (; *s; s++) {
        bool w = !isspace((unsigned char)*s);
        if (w && !in)
            n++;
        in = w;
    }
    return n;
}

static size_t count_paras(const char *s)
{
    size_t n = *s ? 1 : 0;
    for (const char *p = s; (p = strstr(p, "\n\n")); p += 2)
        n++;
    return n;
}

/* Headline = leading words without a lower-case letter; the trailer
 * "Reuter" and what follows is agency boilerplate and is dropped. */
static void split_record(char *text, bench_item_t *it)
{
    char *p = text, *body = text;
    while (*p) {
        while (*p == ' ')
            p++;
        char *w = p;
        bool lower = false;
        while (*p && !isspace((unsigned char)*p)) {
            lower = lower || islower((unsigned char)*p);
            p++;
        }
        if (lower || w == p) {
            body = w;
            break;
        }
        body = p;
    }
    it->headline = strndup(text, (size_t)(body - text));
    size_t hl = strlen(it->headline);
    while (hl && isspace((unsigned char)it->headline[hl - 1]))
        it->headline[--hl] = '\0';
    char *b = strdup(body);
    char *tr = NULL;
    for (char *q = b; *q; q++)
        if (strncasecmp(q, "reuter", 6) == 0 && (q == b || isspace((unsigned char)q[-1])))
            tr = q;
    if (tr && strlen(tr) < 16)
        *tr = '\0';
    size_t bl = strlen(b);
    while (bl && isspace((unsigned char)b[bl - 1]))
        b[--bl] = '\0';
    it->body = b;
    it->n_words = count_words(b);
    it->n_paras = count_paras(b);
}

bool bench_load_arff(const char *path, int src, bench_item_t **items, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 16;
    char *line = malloc(cap);
    bool data = false;
    int rec = 0;
    size_t len;
    while (fgets(line, (int)cap, f)) {
        len = strlen(line);
        while (len == cap - 1 && line[len - 1] != '\n') {
            cap *= 2;
            line = realloc(line, cap);
            if (!fgets(line + len, (int)(cap - len), f))
                break;
            len = strlen(line);
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!data) {
            data = strncmp(line, "@data", 5) == 0;
            continue;
        }
        if (!len || line[0] != '\'')
            continue;
        char *end = strrchr(line, '\''); /* the closing quote before ",<label>" */
        if (!end || end == line)
            continue;
        char *text = decode_record(line + 1, end);
        *items = realloc(*items, (*n + 1) * sizeof **items);
        bench_item_t *it = &(*items)[*n];
        memset(it, 0, sizeof *it);
        it->src = src;
        it->rec = rec++;
        split_record(text, it);
        free(text);
        (*n)++;
    }
    free(line);
    fclose(f);
    return data;
}

void bench_items_free(bench_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].headline);
        free(items[i].body);
    }
    free(items);
}

/* ---- transformations ---------------------------------------------------- */

const char *bench_tx_name(bench_tx_t tx)
{
    static const char *const names[TX_COUNT] = {"exact_resend", "reflowed_resend", "headline_only",
                                                "truncation",   "adds_paragraphs", "edits_paragraph",
                                                "correction",   "lede_rewrite",    "agency_rewrite",
                                                "next_period_brief"};
    return tx < TX_COUNT ? names[tx] : "?";
}

/* Paragraphs of a body as a malloc'ed array of malloc'ed strings. */
static char **paras_of(const char *body, size_t *n)
{
    char **v = NULL;
    *n = 0;
    const char *p = body;
    for (;;) {
        const char *e = strstr(p, "\n\n");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        v = realloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = strndup(p, l);
        if (!e)
            break;
        p = e + 2;
    }
    return v;
}

static char *paras_join(char **v, size_t n, const char *sep)
{
    sb_t b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_add(&b, sep);
        sb_add(&b, v[i]);
    }
    return sb_take(&b);
}

static void paras_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool has_digit(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isdigit((unsigned char)w[i]))
            return true;
    return false;
}

/* Rebuild paragraph s word by word: op decides per word (0 keep, 1 replace
 * by a donor word, 2 drop, 3 change a digit). Returns a new string. */
static char *rewrite_words(const char *s, const char *donor, uint64_t *rng, int rate_pct, int figures,
                           int *changed)
{
    sb_t b = {0};
    const char *p = s;
    size_t dl = strlen(donor);
    while (*p) {
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t wl = (size_t)(p - w);
        char word[128];
        snprintf(word, sizeof word, "%.*s", (int)(wl < 127 ? wl : 127), w);
        if (figures > 0 && has_digit(word, strlen(word))) {
            /* the last digit of every digit run ("1986/87" has two) */
            for (size_t i = strlen(word); i-- > 0 && figures > 0;)
                if (isdigit((unsigned char)word[i]) && !isdigit((unsigned char)word[i + 1])) {
                    word[i] = (char)('0' + (word[i] - '0' + 3) % 10);
                    (*changed)++;
                    figures--;
                }
        } else if (has_digit(word, strlen(word))) {
            /* figures survive a rewrite */
        } else if ((int)(bench_rand(rng) % 100) < rate_pct && dl > 10 && islower((unsigned char)word[0]) &&
                   !has_digit(word, strlen(word))) {
            /* a donor word from a random position */
            size_t at = bench_rand(rng) % dl;
            while (at && !isspace((unsigned char)donor[at - 1]))
                at--;
            size_t e = at;
            while (donor[e] && !isspace((unsigned char)donor[e]))
                e++;
            /* rewrites change wording, not names or figures: lower-case donor words only */
            bool plain = e > at;
            for (size_t k = at; k < e; k++)
                plain = plain && islower((unsigned char)donor[k]);
            if (plain) {
                snprintf(word, sizeof word, "%.*s", (int)(e - at < 127 ? e - at : 127), donor + at);
                (*changed)++;
            }
        }
        sb_add(&b, word);
        while (*p && isspace((unsigned char)*p))
            sb_addn(&b, p++, 1);
    }
    return sb_take(&b);
}

/* Change the first figure of the body, else the first capitalised word that
 * does not start a paragraph. */
static bool correct_one(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (char *p = v[i]; *p; p++)
            if (isdigit((unsigned char)*p) && (p == v[i] || isspace((unsigned char)p[-1]))) {
                char *e = p;
                while (*e && !isspace((unsigned char)*e))
                    e++;
                for (char *q = e; q-- > p;)
                    if (isdigit((unsigned char)*q)) {
                        *q = (char)('0' + (*q - '0' + 1) % 10);
                        return true;
                    }
            }
    for (size_t i = 0; i < n; i++)
        for (char *p = v[i][0] ? v[i] + 1 : v[i]; *p; p++)
            if (isupper((unsigned char)*p) && isspace((unsigned char)p[-1]) && islower((unsigned char)p[1]) &&
                (p - v[i] < 2 || p[-2] != '.')) {
                char *e = p;
                while (isalpha((unsigned char)*e))
                    e++;
                char *nv = malloc(strlen(v[i]) + 16);
                sprintf(nv, "%.*sHartwell%s", (int)(p - v[i]), v[i], e);
                free(v[i]);
                v[i] = nv;
                return true;
            }
    return false;
}

bool bench_transform(bench_tx_t tx, const bench_item_t *it, const bench_item_t *other, uint64_t *rng,
                     char **headline, char **body)
{
    size_t np;
    char **v = paras_of(it->body, &np);
    char *h = strdup(it->headline);
    char *b = NULL;
    int changed = 0;
    switch (tx) {
    case TX_RESEND:
        b = strdup(it->body);
        break;
    case TX_REFLOW: {
        b = paras_join(v, np, "\n    \n");
        for (char *p = b; *p; p++)
            if (*p == '"')
                *p = '\'';
        break;
    }
    case TX_HEADLINE: {
        if (it->n_words < 5)
            break;
        free(h);
        h = malloc(strlen(it->headline) + 32);
        sprintf(h, "UPDATED: %s - OFFICIALS", it->headline);
        b = strdup(it->body);
        break;
    }
    case TX_TRUNCATE:
        if (np < 3 || it->n_words < 60)
            break;
        b = paras_join(v, (np + 1) / 2, "\n\n");
        break;
    case TX_ADD: {
        if (it->n_words < 20 || other->n_words < 20)
            break;
        size_t onp;
        char **ov = paras_of(other->body, &onp);
        sb_t s = {0};
        sb_add(&s, it->body);
        size_t added = 0;
        for (size_t i = onp > 1 ? 1 : 0; i < onp && added < it->n_words * 3 / 10 + 20; i++) {
            sb_add(&s, "\n\n");
            sb_add(&s, ov[i]);
            added += count_words(ov[i]);
        }
        paras_free(ov, onp);
        b = sb_take(&s);
        break;
    }
    case TX_EDIT: {
        if (np < 3 || it->n_words < 80)
            break;
        size_t i = 1 + bench_rand(rng) % (np - 1);
        char *nv = rewrite_words(v[i], other->body, rng, 12, 1, &changed);
        free(v[i]);
        v[i] = nv;
        if (!changed)
            break;
        b = paras_join(v, np, "\n\n");
        break;
    }
    case TX_REWRITE: {
        /* another agency's light rewrite: words replaced all through, figures kept */
        if (np < 2 || it->n_words < 60)
            break;
        for (size_t i = 0; i < np; i++) {
            char *nv = rewrite_words(v[i], other->body, rng, 15, 0, &changed);
            free(v[i]);
            v[i] = nv;
        }
        if (!changed)
            break;
        b = paras_join(v, np, "\n\n");
        break;
    }
    case TX_CORRECT: {
        if (it->n_words < 15 || !correct_one(v, np))
            break;
        free(h);
        h = malloc(strlen(it->headline) + 16);
        sprintf(h, "CORRECTED - %s", it->headline);
        b = paras_join(v, np, "\n\n");
        break;
    }
    case TX_LEDE: {
        size_t lw = count_words(v[0]);
        if (np < 3 || it->n_words < 80 || lw * 100 > it->n_words * 40)
            break;
        /* drop every fourth word, swap neighbours, add an attribution */
        sb_t s = {0};
        sb_add(&s, "In a statement, officials said that");
        const char *p = v[0];
        int k = 0;
        char prev[128] = "";
        while (*p) {
            while (*p && isspace((unsigned char)*p))
                p++;
            const char *w = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (p == w)
                break;
            char word[128];
            snprintf(word, sizeof word, "%.*s", (int)(p - w < 127 ? p - w : 127), w);
            if (++k % 4 == 0 && islower((unsigned char)word[0]))
                continue;
            if (prev[0]) {
                sb_add(&s, " ");
                sb_add(&s, word);
                sb_add(&s, " ");
                sb_add(&s, prev);
                prev[0] = '\0';
            } else {
                snprintf(prev, sizeof prev, "%s", word);
            }
        }
        if (prev[0]) {
            sb_add(&s, " ");
            sb_add(&s, prev);
        }
        free(v[0]);
        v[0] = sb_take(&s);
        b = paras_join(v, np, "\n\n");
        break;
    }
    case TX_NEXT_BRIEF: {
        sb_t s = {0};
        for (size_t i = 0; i < np; i++) {
            char *nv = rewrite_words(v[i], "", rng, 0, 1000, &changed);
            if (i)
                sb_add(&s, "\n\n");
            sb_add(&s, nv);
            free(nv);
        }
        b = sb_take(&s);
        if (changed < 3) {
            free(b);
            b = NULL;
        }
        break;
    }
    case TX_COUNT:
        break;
    }
    paras_free(v, np);
    if (!b) {
        free(h);
        return false;
    }
    *headline = h;
    *body = b;
    return true;
}
