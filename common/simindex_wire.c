#include "simindex_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* ---- errors ------------------------------------------------------------ */

bool nw_simw_ok(PGconn *conn, const PGresult *res, ExecStatusType want, const char *what,
                nw_err_t *err)
{
    char w[96];
    snprintf(w, sizeof w, "simindex: %s", what);
    return nw_pg_ok(conn, res, want, w, err);
}

/* ---- binary parameters: PostgreSQL array wire format ------------------ */

void nw_simw_put(nw_simw_buf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *d = realloc(b->d, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

void nw_simw_put_be32(nw_simw_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    nw_simw_put(b, x, 4);
}

void nw_simw_put_be64(nw_simw_buf_t *b, uint64_t v)
{
    nw_simw_put_be32(b, (uint32_t)(v >> 32));
    nw_simw_put_be32(b, (uint32_t)v);
}

/* A one-dimensional array: header now, element count patched by arr_end. */
void nw_simw_arr_begin(nw_simw_arr_t *a, uint32_t oid)
{
    memset(a, 0, sizeof *a);
    nw_simw_put_be32(&a->b, 1);   /* ndim */
    nw_simw_put_be32(&a->b, 0);   /* has nulls, patched */
    nw_simw_put_be32(&a->b, oid);
    nw_simw_put_be32(&a->b, 0);   /* dimension size, patched */
    nw_simw_put_be32(&a->b, 1);   /* lower bound */
}

void nw_simw_arr_val(nw_simw_arr_t *a, const void *p, size_t n)
{
    nw_simw_put_be32(&a->b, (uint32_t)n);
    nw_simw_put(&a->b, p, n);
    a->count++;
}

void nw_simw_arr_null(nw_simw_arr_t *a)
{
    nw_simw_put_be32(&a->b, 0xffffffffu);
    a->nulls = true;
    a->count++;
}

void nw_simw_arr_i8(nw_simw_arr_t *a, int64_t v)
{
    nw_simw_put_be32(&a->b, 8);
    nw_simw_put_be64(&a->b, (uint64_t)v);
    a->count++;
}

void nw_simw_arr_i4(nw_simw_arr_t *a, int32_t v)
{
    nw_simw_put_be32(&a->b, 4);
    nw_simw_put_be32(&a->b, (uint32_t)v);
    a->count++;
}

void nw_simw_arr_f8(nw_simw_arr_t *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    nw_simw_put_be32(&a->b, 8);
    nw_simw_put_be64(&a->b, u);
    a->count++;
}

void nw_simw_arr_f4(nw_simw_arr_t *a, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    nw_simw_put_be32(&a->b, 4);
    nw_simw_put_be32(&a->b, u);
    a->count++;
}

void nw_simw_arr_text(nw_simw_arr_t *a, const char *s)
{
    if (s)
        nw_simw_arr_val(a, s, strlen(s));
    else
        nw_simw_arr_null(a);
}

void nw_simw_arr_bool(nw_simw_arr_t *a, bool v)
{
    uint8_t x = v ? 1 : 0;
    nw_simw_arr_val(a, &x, 1);
}

void nw_simw_scalar_f8(nw_simw_arr_t *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    memset(a, 0, sizeof *a);
    a->scalar = true;
    nw_simw_put_be64(&a->b, u);
}

void nw_simw_scalar_i4(nw_simw_arr_t *a, int32_t v)
{
    memset(a, 0, sizeof *a);
    a->scalar = true;
    nw_simw_put_be32(&a->b, (uint32_t)v);
}

static void arr_end(nw_simw_arr_t *a)
{
    if (a->scalar || a->b.oom || a->b.n < 20)
        return;
    uint8_t *d = a->b.d;
    uint32_t hn = a->nulls ? 1u : 0u;
    uint8_t h[4] = {(uint8_t)(hn >> 24), (uint8_t)(hn >> 16), (uint8_t)(hn >> 8), (uint8_t)hn};
    memcpy(d + 4, h, 4);
    uint32_t c = a->count;
    uint8_t x[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    memcpy(d + 12, x, 4);
}

/* Run a statement whose parameters are all binary arrays/scalars, asking for
 * binary results. Frees the arrays. Returns the result or NULL (err set). */
PGresult *nw_simw_exec(PGconn *conn, const char *sql, nw_simw_arr_t *arrs, int n, ExecStatusType want,
                          const char *what, nw_err_t *err)
{
    const char *vals[24] = {0};
    int lens[24] = {0}, fmts[24] = {0};
    bool oom = n > 24; /* more parameters than any statement here has */
    for (int i = 0; i < n && i < 24; i++) {
        arr_end(&arrs[i]);
        oom = oom || arrs[i].b.oom;
        vals[i] = (const char *)arrs[i].b.d;
        lens[i] = (int)arrs[i].b.n;
        fmts[i] = 1;
    }
    PGresult *res = NULL;
    if (!oom)
        res = PQexecParams(conn, sql, n, NULL, vals, lens, fmts, 1);
    for (int i = 0; i < n; i++)
        free(arrs[i].b.d);
    if (oom) {
        nw_err_set(err, NW_ERR_FATAL, "oom", "simindex: %s: out of memory", what);
        return NULL;
    }
    if (!nw_simw_ok(conn, res, want, what, err)) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- binary results ---------------------------------------------------- */

uint32_t nw_simw_be32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

uint64_t nw_simw_be64(const char *p)
{
    return (uint64_t)nw_simw_be32(p) << 32 | nw_simw_be32(p + 4);
}

int64_t nw_simw_i8(const PGresult *r, int row, int col)
{
    return (int64_t)nw_simw_be64(PQgetvalue(r, row, col));
}

int32_t nw_simw_i4(const PGresult *r, int row, int col)
{
    return (int32_t)nw_simw_be32(PQgetvalue(r, row, col));
}

float nw_simw_f4(const PGresult *r, int row, int col)
{
    uint32_t u = nw_simw_be32(PQgetvalue(r, row, col));
    float f;
    memcpy(&f, &u, 4);
    return f;
}


bool nw_simw_aiter_init(nw_simw_aiter_t *it, const PGresult *r, int row, int col)
{
    memset(it, 0, sizeof *it);
    if (PQgetisnull(r, row, col))
        return true;
    const char *p = PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    if (len < 12)
        return false;
    uint32_t ndim = nw_simw_be32(p);
    if (ndim == 0)
        return true;
    if (ndim != 1 || len < 20)
        return false;
    it->n = nw_simw_be32(p + 12);
    it->p = p + 20;
    it->end = p + len;
    return true;
}

const char *nw_simw_aiter_next(nw_simw_aiter_t *it, int *elen)
{
    *elen = 0;
    if (!it->p || it->end - it->p < 4)
        return NULL;
    int32_t n = (int32_t)nw_simw_be32(it->p);
    it->p += 4;
    if (n < 0)
        return NULL;
    if (it->end - it->p < n) {
        it->p = it->end;
        return NULL;
    }
    const char *v = it->p;
    it->p += n;
    *elen = n;
    return v;
}
