#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLSTATE -> what the caller should do. See PostgreSQL's Appendix A. */
static nw_errclass_t classify_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return NW_ERR_TRANSIENT; /* no SQLSTATE: the connection broke */
    if (!strncmp(st, "08", 2) || !strncmp(st, "53", 2) || !strncmp(st, "58", 2) ||
        !strncmp(st, "57P", 3) || !strcmp(st, "40001") || !strcmp(st, "40P01") ||
        !strcmp(st, "25006") || !strcmp(st, "55P03") || !strcmp(st, "57014") ||
        !strcmp(st, "42501"))
        return NW_ERR_TRANSIENT; /* connection, resources, shutdown, serialization,
                                    read-only, lock timeout, cancel, revoked rights:
                                    nothing to do with the data */
    if (!strcmp(st, "22P03"))
        return NW_ERR_FATAL; /* invalid binary representation: our COPY encoding is wrong */
    if (!strncmp(st, "23", 2) || !strncmp(st, "22", 2))
        return NW_ERR_ROW;
    return NW_ERR_FATAL;
}

bool nw_pg_ok(PGconn *conn, const PGresult *res, ExecStatusType want, const char *what,
              nw_err_t *err)
{
    if (res && PQresultStatus(res) == want)
        return true;
    if (!res) {
        const char *m = conn ? PQerrorMessage(conn) : "no connection";
        return nw_err_set(err, NW_ERR_TRANSIENT, "pg-connection", "%s: %.*s", what,
                          (int)strcspn(m, "\n"), m);
    }
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!m)
        m = PQresultErrorMessage(res);
    nw_errclass_t cls = classify_sqlstate(st);
    if (conn && PQstatus(conn) != CONNECTION_OK)
        cls = NW_ERR_TRANSIENT;
    if (PQresultStatus(res) != PGRES_FATAL_ERROR && PQresultStatus(res) != PGRES_NONFATAL_ERROR &&
        st == NULL) {
        return nw_err_set(err, NW_ERR_FATAL, "pg-status", "%s: unexpected result %s", what,
                          PQresStatus(PQresultStatus(res)));
    }
    return nw_err_set(err, cls, st ? st : "pg-connection", "%s: %.*s", what,
                      (int)strcspn(m ? m : "", "\n"), m ? m : "");
}

bool nw_pg_exec(PGconn *conn, const char *sql, const char *what, nw_err_t *err)
{
    PGresult *res = PQexec(conn, sql);
    bool ok = nw_pg_ok(conn, res, PGRES_COMMAND_OK, what, err);
    PQclear(res);
    return ok;
}

PGresult *nw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      ExecStatusType want, const char *what, nw_err_t *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!nw_pg_ok(conn, res, want, what, err)) {
        PQclear(res);
        return NULL;
    }
    return res;
}

const char *nw_pg_constraint(const PGresult *res)
{
    const char *c = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    return c ? c : "";
}

/* ---- binary COPY ------------------------------------------------------- */

static void put(nw_copybuf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_be16(nw_copybuf_t *b, uint16_t v)
{
    unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(b, c, 2);
}

static void put_be32(nw_copybuf_t *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, c, 4);
}

static void put_be64(nw_copybuf_t *b, uint64_t v)
{
    put_be32(b, (uint32_t)(v >> 32));
    put_be32(b, (uint32_t)v);
}

static void copy_header(nw_copybuf_t *b)
{
    static const char sig[11] = "PGCOPY\n\377\r\n\0";
    put(b, sig, sizeof sig);
    put_be32(b, 0); /* flags */
    put_be32(b, 0); /* header extension length */
}

void nw_copy_init(nw_copybuf_t *b)
{
    memset(b, 0, sizeof *b);
    copy_header(b);
}

void nw_copy_reset(nw_copybuf_t *b)
{
    b->len = b->rows = 0;
    b->oom = false;
    copy_header(b);
}

void nw_copy_free(nw_copybuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void nw_copy_row(nw_copybuf_t *b, int nfields)
{
    put_be16(b, (uint16_t)nfields);
    b->rows++;
}

void nw_copy_null(nw_copybuf_t *b)
{
    put_be32(b, 0xFFFFFFFFu);
}

void nw_copy_bytes(nw_copybuf_t *b, const void *p, size_t n)
{
    put_be32(b, (uint32_t)n);
    put(b, p, n);
}

void nw_copy_text(nw_copybuf_t *b, const char *s)
{
    if (!s)
        nw_copy_null(b);
    else
        nw_copy_bytes(b, s, strlen(s));
}

void nw_copy_int8(nw_copybuf_t *b, int64_t v)
{
    put_be32(b, 8);
    put_be64(b, (uint64_t)v);
}

void nw_copy_int4(nw_copybuf_t *b, int32_t v)
{
    put_be32(b, 4);
    put_be32(b, (uint32_t)v);
}

void nw_copy_int2(nw_copybuf_t *b, int16_t v)
{
    put_be32(b, 2);
    put_be16(b, (uint16_t)v);
}

void nw_copy_bool(nw_copybuf_t *b, bool v)
{
    put_be32(b, 1);
    unsigned char c = v ? 1 : 0;
    put(b, &c, 1);
}

void nw_copy_float4(nw_copybuf_t *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_be32(b, 4);
    put_be32(b, u);
}

void nw_copy_jsonb(nw_copybuf_t *b, const char *json, size_t n)
{
    put_be32(b, (uint32_t)(n + 1));
    unsigned char version = 1;
    put(b, &version, 1);
    put(b, json, n);
}

void nw_copy_uuid(nw_copybuf_t *b, const unsigned char uuid[16])
{
    put_be32(b, 16);
    put(b, uuid, 16);
}

void nw_copy_time_us(nw_copybuf_t *b, int64_t unix_us)
{
    put_be32(b, 8);
    put_be64(b, (uint64_t)(unix_us - NW_PG_EPOCH_UNIX_S * 1000000LL));
}

void nw_copy_time(nw_copybuf_t *b, int64_t unix_seconds)
{
    if (unix_seconds == 0)
        nw_copy_null(b);
    else
        nw_copy_time_us(b, unix_seconds * 1000000LL);
}

bool nw_pg_copy_begin(PGconn *conn, const char *table_and_columns, nw_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "COPY %s FROM STDIN (FORMAT binary)", table_and_columns);
    PGresult *res = PQexec(conn, sql);
    bool ok = nw_pg_ok(conn, res, PGRES_COPY_IN, "COPY start", err);
    PQclear(res);
    return ok;
}

bool nw_pg_copy_send(PGconn *conn, nw_copybuf_t *b, size_t min_bytes, nw_err_t *err)
{
    if (b->len < min_bytes || b->len == 0)
        return true;
    if (b->oom)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "COPY: out of memory");
    if (PQputCopyData(conn, b->data, (int)b->len) != 1)
        return nw_err_set(err, NW_ERR_TRANSIENT, "pg-connection", "COPY: %s", PQerrorMessage(conn));
    b->len = 0;
    return true;
}

bool nw_pg_copy_finish(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, bool ok,
                       nw_err_t *err)
{
    if (ok) {
        put_be16(b, 0xFFFF); /* trailer */
        ok = nw_pg_copy_send(conn, b, 0, err);
    }
    if (!ok) { /* err says why: the server is told, and its answer drained */
        PQputCopyEnd(conn, "newswire: COPY abandoned");
        PGresult *res;
        while ((res = PQgetResult(conn)))
            PQclear(res);
        return false;
    }
    if (PQputCopyEnd(conn, NULL) != 1)
        return nw_err_set(err, NW_ERR_TRANSIENT, "pg-connection", "COPY %s end: %s",
                          table_and_columns, PQerrorMessage(conn));
    return true;
}

bool nw_pg_copy_result(PGconn *conn, const char *table_and_columns, nw_err_t *err)
{
    char what[300];
    snprintf(what, sizeof what, "COPY %s", table_and_columns);
    bool ok = true;
    PGresult *res;
    while ((res = PQgetResult(conn))) {
        if (ok && !nw_pg_ok(conn, res, PGRES_COMMAND_OK, what, err)) {
            ok = false;
            if (err) {
                const char *c = nw_pg_constraint(res);
                if (*c) {
                    snprintf(err->detail, sizeof err->detail, "%s", c);
                    size_t l = strlen(err->msg);
                    snprintf(err->msg + l, sizeof err->msg - l, " (constraint %s)", c);
                }
            }
        }
        PQclear(res);
    }
    return ok;
}

bool nw_pg_copy_end(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, bool ok,
                    nw_err_t *err)
{
    return nw_pg_copy_finish(conn, table_and_columns, b, ok, err) &&
           nw_pg_copy_result(conn, table_and_columns, err);
}

bool nw_pg_copy(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, nw_err_t *err)
{
    if (b->rows == 0)
        return true;
    if (b->oom)
        return nw_err_set(err, NW_ERR_FATAL, "oom", "COPY %s: out of memory", table_and_columns);
    return nw_pg_copy_begin(conn, table_and_columns, err) &&
           nw_pg_copy_end(conn, table_and_columns, b, true, err);
}

static void add_param(nw_pg_params_t *p, char *v, bool is_null)
{
    if (p->n == NW_PG_MAX_PARAMS || (!v && !is_null)) {
        free(v);
        p->oom = true;
        return;
    }
    p->v[p->n++] = v;
}

void nw_pg_add_int8s(nw_pg_params_t *p, const int64_t *v, size_t n)
{
    add_param(p, nw_pg_int8_array(v, n), false);
}

void nw_pg_add_texts(nw_pg_params_t *p, const char *const *v, size_t n)
{
    add_param(p, nw_pg_text_array(v, n), false);
}

void nw_pg_add_str(nw_pg_params_t *p, const char *s)
{
    add_param(p, s ? strdup(s) : NULL, s == NULL);
}

void nw_pg_params_free(nw_pg_params_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    p->n = 0;
    p->oom = false;
}

PGresult *nw_pg_run(PGconn *conn, const char *sql, nw_pg_params_t *p, ExecStatusType want,
                    const char *what, nw_err_t *err)
{
    PGresult *r = NULL;
    if (p->oom)
        nw_err_set(err, NW_ERR_FATAL, "oom", "%s: out of memory building parameters", what);
    else
        r = nw_pg_query(conn, sql, p->n, (const char *const *)p->v, want, what, err);
    nw_pg_params_free(p);
    return r;
}

char *nw_pg_int8_array(const int64_t *v, size_t n)
{
    char *out = malloc(n * 21 + 3);
    if (!out)
        return NULL;
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(out + len, "%s%lld", i ? "," : "", (long long)v[i]);
    out[len++] = '}';
    out[len] = 0;
    return out;
}

char *nw_pg_text_array(const char *const *v, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += v[i] ? 2 * strlen(v[i]) + 3 : 5;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = ',';
        if (!v[i]) {
            memcpy(out + len, "NULL", 4);
            len += 4;
            continue;
        }
        out[len++] = '"';
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                out[len++] = '\\';
            out[len++] = *p;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = 0;
    return out;
}
