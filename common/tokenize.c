#include "tokenize.h"

#include <libstemmer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- token list ------------------------------------------------------- */

void nw_tokens_init(nw_tokens_t *t) { memset(t, 0, sizeof *t); }

void nw_tokens_reset(nw_tokens_t *t)
{
    t->buf_len = 0;
    t->n = 0;
}

void nw_tokens_free(nw_tokens_t *t)
{
    free(t->buf);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Grow buf so that `extra` more bytes fit. */
static bool buf_reserve(nw_tokens_t *t, size_t extra)
{
    if (t->buf_len + extra <= t->buf_cap)
        return true;
    size_t cap = t->buf_cap ? t->buf_cap : 1024;
    while (cap < t->buf_len + extra)
        cap *= 2;
    char *p = realloc(t->buf, cap);
    if (!p)
        return false;
    t->buf = p;
    t->buf_cap = cap;
    return true;
}

/* Append one token (bytes already case folded) and its flags. */
static bool tok_push(nw_tokens_t *t, const char *s, size_t len, uint32_t flags)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        nw_tok_t *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return false;
        t->v = v;
        t->cap = cap;
    }
    if (!buf_reserve(t, len + 1))
        return false;
    memcpy(t->buf + t->buf_len, s, len);
    t->buf[t->buf_len + len] = '\0';
    t->v[t->n++] = (nw_tok_t){(uint32_t)t->buf_len, (uint32_t)len, flags};
    t->buf_len += len + 1;
    return true;
}

/* ---- character classes ------------------------------------------------ */

/* Scripts written without spaces between words: matched as char bigrams. */
static bool is_cjk(int32_t c)
{
    if (c < 0x0E00)
        return false;
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x2FA1F) || (c >= 0x0E00 && c <= 0x0EFF) ||
           (c >= 0x1780 && c <= 0x17FF) || (c >= 0x1000 && c <= 0x109F) ||
           (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F);
}

static bool is_letter(utf8proc_category_t k)
{
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO || k == UTF8PROC_CATEGORY_MN ||
           k == UTF8PROC_CATEGORY_MC;
}

static bool is_digit(utf8proc_category_t k)
{
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Append the case fold of c (UTF-8) to tmp; returns bytes written. */
static size_t fold_cp(int32_t c, uint8_t *out)
{
    if (c < 0x80) {
        out[0] = (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        return 1;
    }
    utf8proc_int32_t seq[8];
    int bc = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(c, seq, 8, UTF8PROC_CASEFOLD, &bc);
    size_t w = 0;
    if (n < 1 || n > 8)
        return (size_t)utf8proc_encode_char(c, out);
    for (utf8proc_ssize_t i = 0; i < n; i++)
        w += (size_t)utf8proc_encode_char(seq[i], out + w);
    return w;
}

/* ---- tokenizer -------------------------------------------------------- */

/* Tokenizer state carried across normalization segments. */
typedef struct tok_state {
    nw_tokens_t *out;
    uint8_t word[1024];  /* current letter/digit token, folded */
    size_t wl;
    uint32_t wflags;
    int n_letters, n_lower;
    int32_t cjk[256];    /* current CJK run (flushed in chunks) */
    size_t cl;
    int32_t pending_sep; /* '.' or ',' seen right after a digit: joins if a digit follows */
    bool sentence_start, ok;
} tok_state_t;

static void flush_word(tok_state_t *st)
{
    if (st->wl) {
        if (st->n_letters > 1 && st->n_lower == 0)
            st->wflags |= NW_TOKF_UPPER;
        if (st->sentence_start)
            st->wflags |= NW_TOKF_INITIAL;
        st->ok = st->ok && tok_push(st->out, (const char *)st->word, st->wl, st->wflags);
        st->sentence_start = false;
    }
    st->wl = 0;
    st->wflags = 0;
    st->n_letters = st->n_lower = 0;
}

static void flush_cjk(tok_state_t *st)
{
    if (!st->cl)
        return;
    uint8_t b[64];
    if (st->cl == 1) {
        size_t k = fold_cp(st->cjk[0], b);
        st->ok = st->ok && tok_push(st->out, (const char *)b, k, NW_TOKF_CJK);
    }
    for (size_t q = 0; st->cl > 1 && q + 1 < st->cl; q++) {
        size_t k = fold_cp(st->cjk[q], b);
        k += fold_cp(st->cjk[q + 1], b + k);
        st->ok = st->ok && tok_push(st->out, (const char *)b, k, NW_TOKF_CJK);
    }
    if (st->cl)
        st->sentence_start = false;
    st->cl = 0;
}

/* A separator ends the current token; sentence punctuation marks the next
 * token as sentence-initial. */
static void feed_sep(tok_state_t *st, int32_t c)
{
    flush_word(st);
    flush_cjk(st);
    if (c == '.' || c == '!' || c == '?' || c == ':' || c == ';' || c == 0x3002)
        st->sentence_start = true;
}

/* Feed one normalized code point (cat = its category). */
static void feed_cp(tok_state_t *st, int32_t c, utf8proc_category_t cat)
{
    bool letter = is_letter(cat), digit = is_digit(cat);
    if (st->pending_sep) {
        int32_t sep = st->pending_sep;
        st->pending_sep = 0;
        if (digit && !is_cjk(c))
            st->word[st->wl++] = (uint8_t)sep; /* 2,529,000 and 12.1 stay one token */
        else
            feed_sep(st, sep);
    }
    if ((letter || digit) && is_cjk(c)) {
        flush_word(st);
        if (st->cl == sizeof st->cjk / sizeof st->cjk[0]) {
            int32_t last = st->cjk[st->cl - 1];
            flush_cjk(st);
            st->cjk[st->cl++] = last; /* keep the bigram across the chunk edge */
        }
        st->cjk[st->cl++] = c;
    } else if (letter || digit) {
        flush_cjk(st);
        if (st->wl + 40 > sizeof st->word)
            flush_word(st); /* absurdly long run: split it */
        if (digit) {
            st->wflags |= NW_TOKF_DIGIT;
        } else if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC) {
            if (st->n_letters == 0 && st->wl == 0 &&
                (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT))
                st->wflags |= NW_TOKF_CAP;
            st->n_letters++;
            if (cat == UTF8PROC_CATEGORY_LL)
                st->n_lower++;
        }
        st->wl += fold_cp(c, st->word + st->wl);
    } else if ((c == '.' || c == ',') && st->wl && st->n_letters == 0 &&
               st->word[st->wl - 1] >= '0' && st->word[st->wl - 1] <= '9') {
        st->pending_sep = c;
    } else {
        feed_sep(st, c);
    }
}

static utf8proc_category_t ascii_cat(int32_t c)
{
    if (c >= 'a' && c <= 'z')
        return UTF8PROC_CATEGORY_LL;
    if (c >= 'A' && c <= 'Z')
        return UTF8PROC_CATEGORY_LU;
    if (c >= '0' && c <= '9')
        return UTF8PROC_CATEGORY_ND;
    return UTF8PROC_CATEGORY_PO;
}

/* Feed an ASCII segment: what feed_cp does for a letter or digit inside a
 * word, inline, and feed_cp itself for the rest (separators, a pending
 * number separator, a CJK run to end, a word at its length limit). */
static void feed_ascii(tok_state_t *st, const uint8_t *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned c = s[k];
        bool lower = c - 'a' < 26u, upper = c - 'A' < 26u, digit = c - '0' < 10u;
        if (!(lower || upper || digit) || st->pending_sep || st->cl ||
            st->wl + 40 > sizeof st->word) {
            feed_cp(st, (int32_t)c, ascii_cat((int32_t)c));
            continue;
        }
        if (digit) {
            st->wflags |= NW_TOKF_DIGIT;
        } else {
            if (upper && st->n_letters == 0 && st->wl == 0)
                st->wflags |= NW_TOKF_CAP;
            st->n_letters++;
            st->n_lower += lower;
        }
        st->word[st->wl++] = (uint8_t)(upper ? c + 32 : c);
    }
}

/* Normalize one whitespace-free segment with utf8proc and feed it. A segment
 * with invalid UTF-8 has its bad bytes blanked first. */
static void feed_segment(tok_state_t *st, const uint8_t *s, size_t len)
{
    const int opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_STRIPMARK |
                     UTF8PROC_LUMP | UTF8PROC_IGNORE;
    utf8proc_uint8_t *norm = NULL;
    utf8proc_ssize_t nl = utf8proc_map(s, (utf8proc_ssize_t)len, &norm, (utf8proc_option_t)opts);
    if (nl < 0) {
        uint8_t *copy = malloc(len);
        if (!copy) {
            st->ok = false;
            return;
        }
        for (size_t i = 0; i < len;) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
            if (k < 1) {
                copy[i++] = ' ';
                continue;
            }
            memcpy(copy + i, s + i, (size_t)k);
            i += (size_t)k;
        }
        nl = utf8proc_map(copy, (utf8proc_ssize_t)len, &norm, (utf8proc_option_t)opts);
        free(copy);
        if (nl < 0) {
            feed_sep(st, ' ');
            return;
        }
    }
    for (utf8proc_ssize_t i = 0; i < nl;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(norm + i, nl - i, &c);
        if (k < 1) {
            i++;
            continue;
        }
        i += k;
        feed_cp(st, c, c < 0x80 ? ascii_cat(c) : utf8proc_category(c));
    }
    free(norm);
}

/* NFKC/strip-marks/lump runs per whitespace-delimited segment so that
 * combining sequences compose before classification, and is skipped for
 * pure-ASCII segments (where it is the identity; most wire text). Case
 * folding is done per letter afterwards so the source case survives for the
 * entity flags. */
bool nw_tok_split(const char *text, size_t len, nw_tokens_t *out, nw_err_t *err)
{
    if (!text || !len)
        return true;
    tok_state_t *st = malloc(sizeof *st);
    if (!st)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "tokenize: out of memory");
    st->wl = st->cl = 0;
    st->wflags = 0;
    st->n_letters = st->n_lower = 0;
    st->pending_sep = 0;
    st->out = out;
    st->sentence_start = true;
    st->ok = true;
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len && st->ok) {
        uint8_t b = s[i];
        if (b == ' ' || b == '\n' || b == '\t' || b == '\r' || b == '\f' || b == '\v') {
            feed_sep(st, ' ');
            i++;
            continue;
        }
        size_t j = i;
        bool ascii = true;
        while (j < len && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r') {
            ascii = ascii && s[j] < 0x80;
            j++;
        }
        if (ascii) {
            feed_ascii(st, s + i, j - i);
        } else {
            feed_segment(st, s + i, j - i);
        }
        i = j;
    }
    if (st->pending_sep)
        feed_sep(st, st->pending_sep);
    flush_word(st);
    flush_cjk(st);
    bool ok = st->ok;
    free(st);
    if (!ok)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "tokenize: out of memory");
    return true;
}

/* ---- languages: stemmer and stop words -------------------------------- */

#define NW_LANG_MAX 32

struct nw_lang {
    char code[8];               /* primary subtag, "en" */
    char algo[32];              /* Snowball name, "english" */
    struct sb_stemmer *stemmer; /* NULL when the algorithm is missing: identity */
    uint64_t *stop;             /* open-addressing set of XXH3 hashes; 0 = empty */
    size_t stop_cap, stop_n;
};

struct nw_tokctx {
    nw_lang_t langs[NW_LANG_MAX];
    size_t n;
};

static const struct {
    const char *code, *algo;
} lang_map[] = {
    {"en", "english"},   {"fr", "french"},     {"de", "german"},    {"es", "spanish"},
    {"it", "italian"},   {"pt", "portuguese"}, {"nl", "dutch"},     {"sv", "swedish"},
    {"no", "norwegian"}, {"nb", "norwegian"},  {"nn", "norwegian"}, {"da", "danish"},
    {"fi", "finnish"},   {"ru", "russian"},    {"hu", "hungarian"}, {"tr", "turkish"},
    {"ro", "romanian"},  {"ar", "arabic"},     {"el", "greek"},     {"id", "indonesian"},
    {"ga", "irish"},     {"lt", "lithuanian"}, {"ne", "nepali"},    {"sr", "serbian"},
    {"ta", "tamil"},     {"hy", "armenian"},   {"eu", "basque"},    {"ca", "catalan"},
    {"yi", "yiddish"},
};

/* PostgreSQL's english.stop (the Snowball list) for machines without it. */
static const char *const english_stop[] = {
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
    "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself",
    "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which",
    "who", "whom", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be",
    "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an",
    "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for",
    "with", "about", "against", "between", "into", "through", "during", "before", "after",
    "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under",
    "again", "further", "then", "once", "here", "there", "when", "where", "why", "how", "all",
    "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
    "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
    "should", "now",
};

static bool stop_add(nw_lang_t *l, const char *w, size_t len)
{
    if ((l->stop_n + 1) * 2 > l->stop_cap) {
        size_t cap = l->stop_cap ? l->stop_cap * 2 : 512;
        uint64_t *s = calloc(cap, sizeof *s);
        if (!s)
            return false;
        for (size_t i = 0; i < l->stop_cap; i++)
            if (l->stop[i]) {
                size_t j = l->stop[i] & (cap - 1);
                while (s[j])
                    j = (j + 1) & (cap - 1);
                s[j] = l->stop[i];
            }
        free(l->stop);
        l->stop = s;
        l->stop_cap = cap;
    }
    uint64_t h = XXH3_64bits(w, len) | 1;
    size_t j = h & (l->stop_cap - 1);
    while (l->stop[j] && l->stop[j] != h)
        j = (j + 1) & (l->stop_cap - 1);
    if (!l->stop[j]) {
        l->stop[j] = h;
        l->stop_n++;
    }
    return true;
}

/* Normalize a stop word like the tokenizer does (accents, case) and add it. */
static void stop_add_word(nw_lang_t *l, const char *w)
{
    nw_tokens_t t;
    nw_tokens_init(&t);
    if (nw_tok_split(w, strlen(w), &t, NULL) && t.n == 1)
        stop_add(l, nw_tok_text(&t, 0), t.v[0].len);
    nw_tokens_free(&t);
}

static void stop_load(nw_lang_t *l)
{
    const char *dir = getenv("NEWSWIRE_STOPWORDS_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s.stop", dir && *dir ? dir : "/usr/share/postgresql/15/tsearch_data",
             l->algo);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0])
                stop_add_word(l, line);
        }
        fclose(f);
    } else if (strcmp(l->algo, "english") == 0) {
        for (size_t i = 0; i < sizeof english_stop / sizeof english_stop[0]; i++)
            stop_add_word(l, english_stop[i]);
    }
}

nw_tokctx_t *nw_tok_ctx_new(void) { return calloc(1, sizeof(nw_tokctx_t)); }

void nw_tok_ctx_free(nw_tokctx_t *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->n; i++) {
        if (ctx->langs[i].stemmer)
            sb_stemmer_delete(ctx->langs[i].stemmer);
        free(ctx->langs[i].stop);
    }
    free(ctx);
}

/* Languages are few, so a linear cache keyed by the primary subtag is enough. */
nw_lang_t *nw_tok_lang(nw_tokctx_t *ctx, const char *bcp47)
{
    char code[8] = "en";
    if (bcp47 && *bcp47) {
        size_t i = 0;
        while (i < sizeof code - 1 && bcp47[i] && bcp47[i] != '-' && bcp47[i] != '_') {
            char c = bcp47[i];
            code[i++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        code[i] = '\0';
    }
    const char *algo = "english";
    for (size_t i = 0; i < sizeof lang_map / sizeof lang_map[0]; i++)
        if (strcmp(lang_map[i].code, code) == 0)
            algo = lang_map[i].algo;
    for (size_t i = 0; i < ctx->n; i++)
        if (strcmp(ctx->langs[i].algo, algo) == 0)
            return &ctx->langs[i];
    if (ctx->n == NW_LANG_MAX)
        return &ctx->langs[0];
    nw_lang_t *l = &ctx->langs[ctx->n];
    memset(l, 0, sizeof *l);
    snprintf(l->code, sizeof l->code, "%s", code);
    snprintf(l->algo, sizeof l->algo, "%s", algo);
    l->stemmer = sb_stemmer_new(algo, NULL);
    if (!l->stemmer && strcmp(algo, "english") != 0) {
        snprintf(l->algo, sizeof l->algo, "english");
        for (size_t i = 0; i < ctx->n; i++)
            if (strcmp(ctx->langs[i].algo, "english") == 0)
                return &ctx->langs[i];
        l->stemmer = sb_stemmer_new("english", NULL);
    }
    stop_load(l);
    ctx->n++;
    return l;
}

const char *nw_tok_lang_name(const nw_lang_t *lang) { return lang->algo; }

bool nw_tok_is_stop(const nw_lang_t *lang, const char *tok, size_t len)
{
    if (!lang->stop_cap)
        return false;
    uint64_t h = XXH3_64bits(tok, len) | 1;
    size_t j = h & (lang->stop_cap - 1);
    while (lang->stop[j]) {
        if (lang->stop[j] == h)
            return true;
        j = (j + 1) & (lang->stop_cap - 1);
    }
    return false;
}

const char *nw_tok_stem(nw_lang_t *lang, const char *tok, size_t len, size_t *out_len)
{
    const sb_symbol *s = NULL;
    if (lang->stemmer)
        s = sb_stemmer_stem(lang->stemmer, (const sb_symbol *)tok, (int)len);
    if (!s) {
        *out_len = len;
        return tok;
    }
    *out_len = (size_t)sb_stemmer_length(lang->stemmer);
    return (const char *)s;
}
