-- The similarity index is pruned in bounded steps. sim_prune() deletes every
-- expired fingerprint in one statement: when the service starts on an archive
-- older than its retention, or after a long outage, that was a million rows
-- (30-38 s on the bench machine) on the batch connection, with ingestion
-- stopped meanwhile. sim_prune_step() drops the expired weekly partitions
-- (cheap) and deletes at most max_rows expired rows from each of the tables
-- that are not partitioned by week; the service calls it between batches
-- until it deletes fewer than max_rows. sim_prune() stays, for operators.
--
-- The DEFAULT partitions get an index on ts so that a step finds its rows
-- without scanning past the ones earlier steps deleted. They hold rows only
-- for weeks that have no partition of their own (the service makes the
-- partitions of every week it stores): normally none.
CREATE INDEX sim_bands_default_ts ON sim_bands_default (ts);
CREATE INDEX sim_terms_default_ts ON sim_terms_default (ts);

-- Drop the weekly partitions that end before older_than; returns how many.
CREATE FUNCTION sim_drop_expired(older_than timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r       record;
    dropped integer := 0;
BEGIN
    FOR r IN
        SELECT c.relname,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('sim_bands'::regclass, 'sim_terms'::regclass)
    LOOP
        IF r.upper IS NOT NULL AND r.upper <= older_than THEN
            EXECUTE format('DROP TABLE %I', r.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

CREATE OR REPLACE FUNCTION sim_prune(older_than timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    dropped integer;
BEGIN
    dropped := sim_drop_expired(older_than);
    DELETE FROM sim_bands_default WHERE ts < older_than;
    DELETE FROM sim_terms_default WHERE ts < older_than;
    DELETE FROM sim_fingerprints WHERE versioncreated < older_than;
    RETURN dropped;
END $$;

-- One step: the expired partitions, then at most max_rows expired rows of
-- sim_fingerprints and of each DEFAULT partition, oldest first. Returns the
-- number of rows deleted: fewer than max_rows means nothing expired is left.
CREATE FUNCTION sim_prune_step(older_than timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n     bigint;
    total bigint := 0;
BEGIN
    PERFORM sim_drop_expired(older_than);
    DELETE FROM sim_fingerprints WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_fingerprints WHERE versioncreated < older_than
        ORDER BY versioncreated LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM sim_bands_default WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_bands_default WHERE ts < older_than ORDER BY ts LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM sim_terms_default WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_terms_default WHERE ts < older_than ORDER BY ts LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END $$;
