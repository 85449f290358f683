-- The service creates the weekly similarity partitions ahead of the items it
-- stores and drops the expired ones. Those are DDL, which the least-privilege
-- runtime role of deploy/postgres-roles.sql may not run: both functions run
-- with the rights of their owner (the role that applied the migrations), on a
-- fixed search_path so that a caller cannot substitute its own objects. The
-- partitions they create belong to that owner, so the owner's default
-- privileges grant the runtime role its DML on them.
ALTER FUNCTION sim_ensure_partitions(timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION sim_prune(timestamptz)
    SECURITY DEFINER SET search_path = public, pg_temp;
