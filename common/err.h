/*
 * err: an error value with a class and a message.
 *
 * Every fallible function in newswire returns a status (bool or an enum) and
 * fills a caller-owned nw_err_t. The class decides what the caller does:
 *   NW_ERR_INPUT     bad input: the record goes to the dead letters, never retried
 *   NW_ERR_ROW       a database constraint or data error for one row of a batch:
 *                    the batch is split so only that row is dead-lettered
 *   NW_ERR_TRANSIENT infrastructure (connection lost, timeout, disk full):
 *                    retry with back-off, never a dead letter
 *   NW_ERR_FATAL     a bug or a broken setup: orderly shutdown
 */
#ifndef NW_ERR_H
#define NW_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    NW_ERR_NONE = 0,
    NW_ERR_INPUT,
    NW_ERR_ROW,
    NW_ERR_TRANSIENT,
    NW_ERR_FATAL,
} nw_errclass_t;

typedef struct nw_err {
    nw_errclass_t cls; /* what the caller should do about it */
    char code[32];     /* short machine-readable code: "xml-malformed", SQLSTATE... */
    char msg[512];     /* human-readable, names the field or the cause */
    char detail[64];   /* machine-readable subject: a constraint name, a field... */
} nw_err_t;

/* Fill err (may be NULL) with a class, a code and a printf-style message.
 * Always returns false so that callers can write `return nw_err_set(...)`. */
bool nw_err_set(nw_err_t *err, nw_errclass_t cls, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix the message of an already filled error with context ("store: ..."). */
void nw_err_prefix(nw_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void nw_err_clear(nw_err_t *err);

/* "input", "row", "transient", "fatal" or "none". */
const char *nw_err_class_name(nw_errclass_t cls);

#endif
