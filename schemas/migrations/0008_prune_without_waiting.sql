-- Dropping an expired weekly partition takes an ACCESS EXCLUSIVE lock on its
-- parent (sim_bands, sim_terms). Waiting for that lock makes every later
-- request for the parent wait behind it, and with two replicas that is a
-- deadlock no server sees: replica B's batch transaction holds sim_bands (its
-- COPY) while B's second connection reads sim_bands for the same batch; that
-- read queues behind replica A's request, which waits for B's batch, which
-- waits for its read. (A fresh-clone CI run caught it: a replica starting
-- beside a busy one, its daily pruning at start.)
--
-- sim_prune_some() takes both parents at once without waiting, or leaves the
-- expired partitions for a later call: every candidate read is bounded by
-- the window, so until then they cost only disk. It replaces sim_prune_step()
-- for the service (which keeps it for operators, with sim_prune(), both of
-- which wait for the lock). The three share what they do through
-- sim_expired_partitions() and sim_delete_expired(), which run with their
-- caller's rights and search_path.

-- The weekly partitions of sim_bands and sim_terms that end before older_than.
CREATE FUNCTION sim_expired_partitions(older_than timestamptz)
RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
        SELECT c.relname::text
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent IN ('sim_bands'::regclass, 'sim_terms'::regclass)
           AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
               <= older_than;
END $$;

-- At most max_rows expired rows of sim_fingerprints and of each DEFAULT
-- partition, oldest first; returns how many were deleted.
CREATE FUNCTION sim_delete_expired(older_than timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n     bigint;
    total bigint := 0;
BEGIN
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

-- 0007's two, unchanged in what they do, on the shared pieces.
CREATE OR REPLACE FUNCTION sim_drop_expired(older_than timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    part    text;
    dropped integer := 0;
BEGIN
    FOR part IN SELECT sim_expired_partitions(older_than) LOOP
        EXECUTE format('DROP TABLE %I', part);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

CREATE OR REPLACE FUNCTION sim_prune_step(older_than timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM sim_drop_expired(older_than);
    RETURN sim_delete_expired(older_than, max_rows);
END $$;

CREATE FUNCTION sim_prune_some(older_than timestamptz, max_rows integer,
                               OUT deleted bigint, OUT partitions_left integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT count(*) INTO partitions_left FROM sim_expired_partitions(older_than);
    IF partitions_left > 0 THEN
        BEGIN
            -- the parents only: whoever holds a partition holds its parent too
            LOCK TABLE ONLY sim_bands, ONLY sim_terms IN ACCESS EXCLUSIVE MODE NOWAIT;
            partitions_left := partitions_left - sim_drop_expired(older_than);
        EXCEPTION WHEN lock_not_available THEN
            NULL; -- busy: left for a later call
        END;
    END IF;
    deleted := sim_delete_expired(older_than, max_rows);
END $$;
