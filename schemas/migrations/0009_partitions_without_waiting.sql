-- sim_ensure_partitions() attaches each new week with an ACCESS EXCLUSIVE
-- lock on the DEFAULT partition (its rows of that week move into the new
-- partition). Waiting for that lock is the deadlock of 0008 in another place:
-- when another replica's batch holds the DEFAULT partition (its rows of a
-- week that has no partition yet, as in an archive replayed by several
-- replicas) and that batch's candidate read then queues behind the request.
--
-- sim_ensure_partitions_some() takes the lock without waiting, or leaves the
-- week for a later call: its rows stay in the DEFAULT partition, where every
-- read finds them. It returns the partitions made and those left. The
-- service uses it; sim_ensure_partitions() stays, for operators and tools,
-- and waits as before: it is the same function with nowait false.
CREATE FUNCTION sim_ensure_partitions_some(from_ts timestamptz, to_ts timestamptz,
                                           nowait boolean DEFAULT true,
                                           OUT made integer, OUT partitions_left integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    wk   timestamptz := date_trunc('week', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    nxt  timestamptz;
    t    text;
    part text;
BEGIN
    made := 0;
    partitions_left := 0;
    WHILE wk < to_ts LOOP
        nxt := wk + interval '7 days';
        FOREACH t IN ARRAY ARRAY['sim_bands', 'sim_terms'] LOOP
            part := t || '_' || to_char(wk AT TIME ZONE 'UTC', 'IYYY"w"IW');
            IF to_regclass(part) IS NULL THEN
                BEGIN
                    IF nowait THEN
                        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE NOWAIT',
                                       t || '_default');
                    END IF;
                    EXECUTE format('CREATE TABLE %I (LIKE %I)', part, t);
                    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *) '
                                   'INSERT INTO %I SELECT * FROM moved', t || '_default', part)
                        USING wk, nxt;
                    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                                   t, part, wk, nxt);
                    made := made + 1;
                EXCEPTION WHEN lock_not_available THEN
                    IF NOT nowait THEN
                        RAISE; -- a lock_timeout of the caller's: its error, as before
                    END IF;
                    partitions_left := partitions_left + 1; -- busy: a later call
                END;
            END IF;
        END LOOP;
        wk := nxt;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION sim_ensure_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT made FROM sim_ensure_partitions_some(from_ts, to_ts, false));
END $$;
