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
 * receives the number applied now. */
bool nw_migrate_run(PGconn *conn, const char *dir, int *applied, nw_err_t *err);

#endif
