/*
 * pg: small libpq helpers shared by the modules that talk to PostgreSQL.
 *
 * - error classification: a failed result or a broken connection becomes an
 *   nw_err_t whose class says what to do (SQLSTATE classes 23/22 -> one bad
 *   row; 08, 57P0x, 40001, 40P01, 53, 58, 25006 -> transient; else fatal);
 * - a builder for COPY ... FROM STDIN (FORMAT binary) payloads, the fastest
 *   way into PostgreSQL and free of any text escaping.
 */
#ifndef NW_PG_H
#define NW_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Classify the result of a command: true when `res` has status `want`,
 * otherwise fills err (prefixed with `what`) and returns false. Does not
 * clear `res`. A NULL result means the connection failed. */
bool nw_pg_ok(PGconn *conn, const PGresult *res, ExecStatusType want, const char *what,
              nw_err_t *err);

/* Run a command that returns no rows; clears its result. */
bool nw_pg_exec(PGconn *conn, const char *sql, const char *what, nw_err_t *err);

/* Run a parameterized command (text parameters, NULL = SQL NULL) and return
 * its result, or NULL with err filled. The caller PQclear()s the result. */
PGresult *nw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      ExecStatusType want, const char *what, nw_err_t *err);

/* The constraint name of a failed result, or "" (used to tell a concurrent
 * insert of the same key from a genuinely bad row). */
const char *nw_pg_constraint(const PGresult *res);

/* Binary COPY payload builder. Rows are appended field by field. */
typedef struct nw_copybuf {
    char *data;
    size_t len;
    size_t cap;
    size_t rows;
    bool oom; /* an allocation failed: the payload must not be sent */
} nw_copybuf_t;

void nw_copy_init(nw_copybuf_t *b); /* empty buffer with the binary header */
void nw_copy_free(nw_copybuf_t *b);
/* Empty again with the header, for another COPY; the memory is kept. */
void nw_copy_reset(nw_copybuf_t *b);
void nw_copy_row(nw_copybuf_t *b, int nfields);
void nw_copy_null(nw_copybuf_t *b);
void nw_copy_bytes(nw_copybuf_t *b, const void *p, size_t n); /* bytea, or text as is */
void nw_copy_text(nw_copybuf_t *b, const char *s);            /* NULL -> SQL NULL */
void nw_copy_int8(nw_copybuf_t *b, int64_t v);
void nw_copy_int4(nw_copybuf_t *b, int32_t v);
void nw_copy_int2(nw_copybuf_t *b, int16_t v);
void nw_copy_bool(nw_copybuf_t *b, bool v);
void nw_copy_float4(nw_copybuf_t *b, float v);
void nw_copy_jsonb(nw_copybuf_t *b, const char *json, size_t n);
void nw_copy_uuid(nw_copybuf_t *b, const unsigned char uuid[16]);
/* Unix seconds (UTC) to timestamptz; 0 means unknown and writes NULL. */
void nw_copy_time(nw_copybuf_t *b, int64_t unix_seconds);
/* Unix microseconds (UTC) to timestamptz. */
void nw_copy_time_us(nw_copybuf_t *b, int64_t unix_us);
/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC,
 * this many seconds after the Unix epoch. */
#define NW_PG_EPOCH_UNIX_S 946684800LL

/* Send `COPY <table_and_columns> FROM STDIN (FORMAT binary)` with the rows of
 * b (adds the trailer; b is left empty). A buffer without rows sends
 * nothing. */
bool nw_pg_copy(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, nw_err_t *err);

/* The same COPY streamed, for payloads too large to hold whole: begin; rows
 * appended to a buffer from nw_copy_init() and handed over whenever it holds
 * min_bytes (nw_pg_copy_send: the buffer is emptied, its memory kept, and
 * PostgreSQL works on those rows while the next ones are built); then end,
 * which sends the rest. End must follow a successful begin whatever
 * happened: with ok false (err already set) it abandons the COPY and leaves
 * the connection usable for ROLLBACK. */
bool nw_pg_copy_begin(PGconn *conn, const char *table_and_columns, nw_err_t *err);
bool nw_pg_copy_send(PGconn *conn, nw_copybuf_t *b, size_t min_bytes, nw_err_t *err);
bool nw_pg_copy_end(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, bool ok,
                    nw_err_t *err);
/* nw_pg_copy_end in two steps: finish sends the rest and the end of the
 * data (or abandons the COPY, as end does, and then returns false); result
 * waits for PostgreSQL's answer. In between, the connection is PostgreSQL's
 * and the caller's thread is free: work done there overlaps the server's. */
bool nw_pg_copy_finish(PGconn *conn, const char *table_and_columns, nw_copybuf_t *b, bool ok,
                       nw_err_t *err);
bool nw_pg_copy_result(PGconn *conn, const char *table_and_columns, nw_err_t *err);

/* The parameters of one statement, owned until nw_pg_run(): array literals
 * built from C arrays (for `unnest($1::bigint[], $2::text[])`), or scalars. */
#define NW_PG_MAX_PARAMS 16
typedef struct nw_pg_params {
    char *v[NW_PG_MAX_PARAMS];
    int n;
    bool oom;
} nw_pg_params_t;

void nw_pg_add_int8s(nw_pg_params_t *p, const int64_t *v, size_t n);
void nw_pg_add_texts(nw_pg_params_t *p, const char *const *v, size_t n);
void nw_pg_add_str(nw_pg_params_t *p, const char *s); /* NULL -> SQL NULL */

void nw_pg_params_free(nw_pg_params_t *p);

/* Run `sql` with the parameters, then free them (also on failure). Returns
 * the result (caller PQclear()s) or NULL with err filled. */
PGresult *nw_pg_run(PGconn *conn, const char *sql, nw_pg_params_t *p, ExecStatusType want,
                    const char *what, nw_err_t *err);

/* PostgreSQL array literals for parameters such as `unnest($1::text[])`.
 * Both return malloc'd strings the caller frees (NULL when out of memory). */
char *nw_pg_int8_array(const int64_t *v, size_t n);
char *nw_pg_text_array(const char *const *v, size_t n);

#endif
