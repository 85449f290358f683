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
-- which wait for the lock).
CREATE FUNCTION sim_prune_some(older_than timestamptz, max_rows integer,
                               OUT deleted bigint, OUT partitions_left integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO partitions_left
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent IN ('sim_bands'::regclass, 'sim_terms'::regclass)
       AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
           <= older_than;
    IF partitions_left > 0 THEN
        BEGIN
            -- the parents only: whoever holds a partition holds its parent too
            LOCK TABLE ONLY sim_bands, ONLY sim_terms IN ACCESS EXCLUSIVE MODE NOWAIT;
            partitions_left := partitions_left - sim_drop_expired(older_than);
        EXCEPTION WHEN lock_not_available THEN
            NULL; -- busy: left for a later call
        END;
    END IF;
    DELETE FROM sim_fingerprints WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_fingerprints WHERE versioncreated < older_than
        ORDER BY versioncreated LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := n;
    DELETE FROM sim_bands_default WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_bands_default WHERE ts < older_than ORDER BY ts LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
    DELETE FROM sim_terms_default WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM sim_terms_default WHERE ts < older_than ORDER BY ts LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
END $$;
