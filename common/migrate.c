#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "pg.h"

/* An arbitrary constant naming newswire's migration lock ("nwmigr"). */
#define MIGRATION_LOCK_KEY "121506186438514"

const char *nw_migrate_dir(const char *configured)
{
    struct stat sb;
    if (configured && *configured)
        return configured;
    if (stat(NW_INSTALLED_MIGRATIONS, &sb) == 0 && S_ISDIR(sb.st_mode))
        return NW_INSTALLED_MIGRATIONS;
    return NW_SOURCE_MIGRATIONS;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

/* Apply one file unless recorded; the check runs under the lock, so it is
 * exact. */
static bool apply_one(PGconn *conn, const char *dir, const char *name, int lock_timeout_ms,
                      int *applied, nw_err_t *err)
{
    const char *params[1] = {name};
    PGresult *res = nw_pg_query(conn, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
                                params, PGRES_TUPLES_OK, "migration check", err);
    if (!res)
        return false;
    bool done = PQntuples(res) > 0;
    PQclear(res);
    if (done)
        return true;

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *sql = read_file(path);
    if (!sql)
        return nw_err_set(err, NW_ERR_FATAL, "migration", "cannot read %s: %s", path,
                          strerror(errno));
    bool ok = nw_pg_exec(conn, "BEGIN", "migration begin", err);
    if (ok && lock_timeout_ms > 0) {
        char set[64];
        snprintf(set, sizeof set, "SET LOCAL lock_timeout = %d", lock_timeout_ms);
        ok = nw_pg_exec(conn, set, "migration lock_timeout", err);
    }
    if (ok) {
        res = PQexec(conn, sql); /* a file may hold many statements */
        ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        ok = nw_pg_ok(conn, res, status == PGRES_TUPLES_OK ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
                      name, err);
        PQclear(res);
    }
    free(sql);
    if (ok) {
        res = nw_pg_query(conn, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, params,
                          PGRES_COMMAND_OK, "migration record", err);
        ok = res != NULL;
        PQclear(res);
    }
    if (ok)
        ok = nw_pg_exec(conn, "COMMIT", "migration commit", err);
    if (!ok) {
        PQclear(PQexec(conn, "ROLLBACK"));
        nw_err_prefix(err, "migration %s", name);
        return false;
    }
    nw_log_info("migration applied", NW_LS("name", name));
    if (applied)
        (*applied)++;
    return true;
}

bool nw_migrate_run(PGconn *conn, const char *dir, int lock_timeout_ms, int *applied, nw_err_t *err)
{
    if (applied)
        *applied = 0;
    DIR *d = opendir(dir);
    if (!d)
        return nw_err_set(err, NW_ERR_FATAL, "migration", "cannot open migrations directory %s: %s",
                          dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".sql") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);

    PGresult *lock = nw_pg_query(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL,
                                 PGRES_TUPLES_OK, "migration lock", err);
    bool ok = lock != NULL;
    PQclear(lock);
    /* Created only when missing: CREATE TABLE IF NOT EXISTS needs the CREATE
     * right on the schema even when the table exists, and the least-privilege
     * runtime role (deploy/postgres-roles.sql) has none. */
    PGresult *have = ok ? nw_pg_query(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL",
                                      0, NULL, PGRES_TUPLES_OK, "migration table", err)
                        : NULL;
    ok = have != NULL;
    bool exists = ok && PQntuples(have) == 1 && PQgetvalue(have, 0, 0)[0] == 't';
    PQclear(have);
    if (ok && !exists)
        ok = nw_pg_exec(conn,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " name text PRIMARY KEY,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        "migration table", err);
    for (size_t i = 0; ok && i < n; i++)
        ok = apply_one(conn, dir, names[i], lock_timeout_ms, applied, err);
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ok;
}
