/*
 * simindex_wire: PostgreSQL's binary wire format for the similarity index
 * (simindex.c, simindex_cands.c). Its statements carry whole batches as
 * binary arrays (no text escaping, no number formatting) and read binary
 * results. Internal to the simindex module.
 */
#ifndef NW_SIMINDEX_WIRE_H
#define NW_SIMINDEX_WIRE_H

#include <libpq-fe.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pg.h"
#include "simindex.h"

#define NW_OID_BOOL 16
#define NW_OID_BYTEA 17
#define NW_OID_INT8 20
#define NW_OID_INT4 23
#define NW_OID_TEXT 25
#define NW_OID_FLOAT4 700
#define NW_OID_FLOAT8 701

/* nw_pg_ok() (pg.h: the error classes of every other statement, by
 * SQLSTATE) with "simindex: " before what. */
bool nw_simw_ok(PGconn *conn, const PGresult *res, ExecStatusType want, const char *what,
                nw_err_t *err);

/* A growing byte buffer; oom set once an allocation failed. */
typedef struct nw_simw_buf {
    uint8_t *d;
    size_t n, cap;
    bool oom;
} nw_simw_buf_t;

void nw_simw_put(nw_simw_buf_t *b, const void *p, size_t n);
void nw_simw_put_be32(nw_simw_buf_t *b, uint32_t v);
void nw_simw_put_be64(nw_simw_buf_t *b, uint64_t v);

/* A binary parameter: a one-dimensional array (begin, values, end), or a
 * scalar (nw_simw_scalar_*: the value alone). */
typedef struct nw_simw_arr {
    nw_simw_buf_t b;
    uint32_t count;
    bool nulls;
    bool scalar;
} nw_simw_arr_t;

void nw_simw_arr_begin(nw_simw_arr_t *a, uint32_t oid);
void nw_simw_arr_val(nw_simw_arr_t *a, const void *p, size_t n);
void nw_simw_arr_null(nw_simw_arr_t *a);
void nw_simw_arr_i8(nw_simw_arr_t *a, int64_t v);
void nw_simw_arr_i4(nw_simw_arr_t *a, int32_t v);
void nw_simw_arr_f8(nw_simw_arr_t *a, double v);
void nw_simw_arr_f4(nw_simw_arr_t *a, float v);
void nw_simw_arr_bool(nw_simw_arr_t *a, bool v);
void nw_simw_arr_text(nw_simw_arr_t *a, const char *s); /* NULL -> SQL NULL */
void nw_simw_scalar_f8(nw_simw_arr_t *a, double v);
void nw_simw_scalar_i4(nw_simw_arr_t *a, int32_t v);

/* Run a statement whose parameters are all binary (arrays finished here),
 * asking for binary results. Frees the parameters. Returns the result, or
 * NULL with err set. */
PGresult *nw_simw_exec(PGconn *conn, const char *sql, nw_simw_arr_t *arrs, int n,
                       ExecStatusType want, const char *what, nw_err_t *err);

/* Binary result values. */
uint32_t nw_simw_be32(const char *p);
uint64_t nw_simw_be64(const char *p);
int64_t nw_simw_i8(const PGresult *r, int row, int col);
int32_t nw_simw_i4(const PGresult *r, int row, int col);
float nw_simw_f4(const PGresult *r, int row, int col);

/* A one-dimensional binary array value of fixed-size elements (int8, int4,
 * float4): its element count and a cursor over the elements. NULL elements
 * read as absent (nw_simw_aiter_next returns NULL for them). */
typedef struct nw_simw_aiter {
    const char *p, *end;
    size_t n;
} nw_simw_aiter_t;

/* False for a malformed or multi-dimensional value. A NULL or empty array
 * gives n = 0. */
bool nw_simw_aiter_init(nw_simw_aiter_t *it, const PGresult *r, int row, int col);
/* The next element's bytes (elen set), or NULL when it is SQL NULL. Call at
 * most n times. */
const char *nw_simw_aiter_next(nw_simw_aiter_t *it, int *elen);

/* The time an item is indexed under (its versioncreated, else now): the
 * insert and the candidate lookup must agree on it, or an item would look
 * for its neighbours in another window than the one it was stored in. */
static inline double nw_simw_item_time(const nw_sim_item_t *it, double now)
{
    return it->meta.versioncreated ? (double)it->meta.versioncreated : now;
}

/* That time in Unix microseconds, as the index rows store it. */
static inline int64_t nw_simw_item_us(const nw_sim_item_t *it, double now)
{
    return (int64_t)llround(nw_simw_item_time(it, now) * 1e6);
}

/* The ts column an item's rows get as a binary read returns it:
 * microseconds since PostgreSQL's epoch. */
static inline int64_t nw_simw_stored_ts(const nw_sim_item_t *it, double now)
{
    return nw_simw_item_us(it, now) - NW_PG_EPOCH_UNIX_S * 1000000LL;
}

#endif
