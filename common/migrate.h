/*
 * migrate: apply the SQL migrations in schemas/migrations at start.
 *
 * Files are applied in name order, each in its own transaction, and recorded
 * in schema_migrations. A session advisory lock serializes replicas that
 * start at the same moment: the second waits, then finds everything applied.
 */
#ifndef NW_MIGRATE_H
#define NW_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "err.h"

/* The directory to read: `configured` when non-empty, else the installed
 * share directory when it exists, else the source tree's. */
const char *nw_migrate_dir(const char *configured);

/* Apply every migration of `dir` not yet recorded. *applied (may be NULL)
 * receives the number applied now. Each migration's transaction waits at
 * most lock_timeout_ms for a table lock (0: no limit): a migration queued
 * behind a long transaction (an analyst's read) makes every later request
 * for that table, the running replicas' batches among them, queue behind
 * its own. Past the limit it fails with SQLSTATE 55P03, rolled back, the
 * ones before it kept; the caller tries again later. */
bool nw_migrate_run(PGconn *conn, const char *dir, int lock_timeout_ms, int *applied,
                    nw_err_t *err);

#endif
