-- newswire's PostgreSQL roles: a migration owner and a least-privilege runtime role.
-- See docs/SECURITY.md. Run once, as a superuser (or a role with CREATEROLE and CREATEDB):
--
--   psql -v db=newswire -v owner=newswire_owner -v app=newswire_app \
--        -v owner_password="$(cat owner.pw)" -v app_password="$(cat app.pw)" \
--        -f deploy/postgres-roles.sql
--
-- Then apply the migrations as the owner (newswire-ingest applies them at start; run it once
-- with pg.dsn for newswire_owner, or apply schemas/migrations/*.sql with psql), and run the
-- service with pg.dsn for newswire_app. A runtime role finds the migrations applied and only
-- reads schema_migrations.
\set ON_ERROR_STOP on

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
-- The service: no DDL, no ownership; CONNECT and DML only.
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE :"db" OWNER :"owner";

\connect :"db"
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
-- Only the owner creates objects in the schema (PostgreSQL 15 already revokes CREATE from
-- PUBLIC on a new database's public schema; said again for older clusters).
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- What the service does at run time, on every table and sequence the owner creates now and in
-- later migrations (including the weekly sim_* partitions):
--   SELECT, INSERT (binary COPY FROM needs INSERT), UPDATE (stories, outbox.sent_at,
--   kills, clusters), DELETE (pending_parts once an item's halves are joined);
--   USAGE + SELECT on sequences: nextval() for story and version ids.
-- Not granted: TRUNCATE, REFERENCES, TRIGGER, CREATE, ownership.
-- pg_advisory_lock / pg_advisory_xact_lock (migrations, similarity index) need no grant;
-- functions are executable by PUBLIC by default.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
-- Objects that exist already (roles set up after the first migrations):
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
