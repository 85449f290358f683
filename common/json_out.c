#include "json_out.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *data;
    size_t len, cap;
    bool oom;
} out_t;

static bool reserve(out_t *o, size_t n)
{
    if (o->len + n + 1 <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n + 1)
        cap *= 2;
    char *d = realloc(o->data, cap);
    if (!d) {
        o->oom = true;
        return false;
    }
    o->data = d;
    o->cap = cap;
    return true;
}

static void put(out_t *o, const char *s, size_t n)
{
    if (!o->oom && reserve(o, n)) {
        memcpy(o->data + o->len, s, n);
        o->len += n;
    }
}

static void putc1(out_t *o, char c)
{
    if (!o->oom && reserve(o, 1))
        o->data[o->len++] = c;
}

/* 1: the byte must be escaped (jansson: '"', '\\' and every code point
 * below 0x20; the bytes of other UTF-8 sequences are copied as they are). */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1,
};

static void put_string(out_t *o, const char *s, size_t n)
{
    putc1(o, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && !needs_escape[(unsigned char)s[run]])
            run++;
        put(o, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char seq[8];
        const char *e = seq;
        size_t el = 2;
        switch (c) {
        case '\\': e = "\\\\"; break;
        case '"': e = "\\\""; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: el = (size_t)snprintf(seq, sizeof seq, "\\u%04X", (unsigned)c);
        }
        put(o, e, el);
        i = run + 1;
    }
    putc1(o, '"');
}

static void put_value(out_t *o, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        putc1(o, '{');
        const char *key;
        const json_t *val;
        bool first = true;
        void *it = json_object_iter((json_t *)v);
        for (; it; it = json_object_iter_next((json_t *)v, it)) {
            key = json_object_iter_key(it);
            val = json_object_iter_value(it);
            if (!first)
                putc1(o, ',');
            first = false;
            put_string(o, key, json_object_iter_key_len(it));
            putc1(o, ':');
            put_value(o, val);
        }
        putc1(o, '}');
        break;
    }
    case JSON_ARRAY: {
        putc1(o, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                putc1(o, ',');
            put_value(o, json_array_get(v, i));
        }
        putc1(o, ']');
        break;
    }
    case JSON_STRING: put_string(o, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: {
        char n[32];
        int l = snprintf(n, sizeof n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(o, n, (size_t)l);
        break;
    }
    case JSON_TRUE: put(o, "true", 4); break;
    case JSON_FALSE: put(o, "false", 5); break;
    case JSON_NULL: put(o, "null", 4); break;
    case JSON_REAL: { /* rare here: jansson's own formatting, exactly */
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            put(o, s, strlen(s));
        else
            o->oom = true;
        free(s);
        break;
    }
    }
}

char *nw_json_compact(const json_t *v, size_t *len)
{
    if (!v)
        return NULL;
    out_t o = {0};
    put_value(&o, v);
    if (o.oom || !reserve(&o, 0)) {
        free(o.data);
        return NULL;
    }
    o.data[o.len] = '\0';
    if (len)
        *len = o.len;
    return o.data;
}
