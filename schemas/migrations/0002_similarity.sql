-- Similarity index shared by every replica (docs similarity.md §4, §7, §9):
-- fingerprints of stored versions, their LSH band keys and their salient-term
-- postings. Written by common/simindex.c inside the pipeline's batch
-- transaction; candidate lookups are index probes within a time window
-- (72 h by default), so their cost follows the window, not the table size.
--
-- sim_bands and sim_terms are append-only and partitioned by week on ts (the
-- item's versioncreated). sim_ensure_partitions() creates weekly partitions
-- ahead of time (this migration: 2 weeks back to 6 weeks ahead;
-- nw_simindex_maintain() keeps it going), the DEFAULT partitions catch
-- anything outside, and sim_prune() drops whole weeks past the retention.

CREATE TABLE sim_fingerprints (
    version_pk     bigint      PRIMARY KEY REFERENCES item_versions ON DELETE CASCADE,
    story_pk       bigint      NOT NULL,
    provider       text        NOT NULL,
    story_id       text        NOT NULL,
    versioncreated timestamptz NOT NULL,
    headline       text,
    content_hash   bytea       NOT NULL,  -- XXH3-128 of the normalized tokens
    simhash        bigint      NOT NULL,  -- side column, never decides alone
    n_shingles     integer     NOT NULL,
    fp             bytea       NOT NULL   -- nw_fp_serialize(): MinHash 128 + lede 64, terms, guard sets
);
CREATE INDEX sim_fingerprints_time ON sim_fingerprints (versioncreated);

-- Layout A of similarity.md §9: one row per (band key, version).
CREATE TABLE sim_bands (
    bucket     bigint      NOT NULL,      -- XXH3_64(4 MinHash values, seed index*1000 + band)
    version_pk bigint      NOT NULL,
    ts         timestamptz NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX sim_bands_bucket ON sim_bands (bucket, ts) INCLUDE (version_pk);
CREATE TABLE sim_bands_default PARTITION OF sim_bands DEFAULT;

-- Top-K salient terms per version (similarity.md §7).
CREATE TABLE sim_terms (
    term_hash  bigint      NOT NULL,      -- XXH3_64 of the stemmed term
    version_pk bigint      NOT NULL,
    w          real        NOT NULL,      -- weight, L2-normalized over the version's terms
    ts         timestamptz NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX sim_terms_term ON sim_terms (term_hash, ts) INCLUDE (version_pk, w);
CREATE TABLE sim_terms_default PARTITION OF sim_terms DEFAULT;

-- Document frequencies for the IDF of salient terms: recomputed in bulk by
-- sim_refresh_idf() (hourly or so) from the postings, never counted per item,
-- so replicas never contend on shared counter rows. Terms seen once are left
-- out (their IDF is the "unknown" figure).
CREATE TABLE sim_idf (
    term_hash bigint  PRIMARY KEY,
    df        integer NOT NULL
);
CREATE TABLE sim_idf_meta (
    one         boolean     PRIMARY KEY DEFAULT true CHECK (one),
    n_docs      bigint      NOT NULL,
    computed_at timestamptz NOT NULL
);

-- Weekly partitions (ISO weeks, UTC) of sim_bands and sim_terms covering
-- [from_ts, to_ts). Rows already in a DEFAULT partition for a new week are
-- moved into it. Returns the number of partitions created.
CREATE FUNCTION sim_ensure_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    wk   timestamptz := date_trunc('week', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    nxt  timestamptz;
    t    text;
    part text;
    made integer := 0;
BEGIN
    WHILE wk < to_ts LOOP
        nxt := wk + interval '7 days';
        FOREACH t IN ARRAY ARRAY['sim_bands', 'sim_terms'] LOOP
            part := t || '_' || to_char(wk AT TIME ZONE 'UTC', 'IYYY"w"IW');
            IF to_regclass(part) IS NULL THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I)', part, t);
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *) '
                               'INSERT INTO %I SELECT * FROM moved', t || '_default', part)
                    USING wk, nxt;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               t, part, wk, nxt);
                made := made + 1;
            END IF;
        END LOOP;
        wk := nxt;
    END LOOP;
    RETURN made;
END $$;

-- Drop the weekly partitions that end before older_than, delete older rows
-- from the DEFAULT partitions and the fingerprints table. Returns the number
-- of partitions dropped.
CREATE FUNCTION sim_prune(older_than timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
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
    DELETE FROM sim_bands_default WHERE ts < older_than;
    DELETE FROM sim_terms_default WHERE ts < older_than;
    DELETE FROM sim_fingerprints WHERE versioncreated < older_than;
    RETURN dropped;
END $$;

-- Recompute document frequencies over the postings of the last `win`.
CREATE FUNCTION sim_refresh_idf(win interval)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('newswire.sim_refresh_idf'));
    SELECT count(*) INTO n FROM sim_fingerprints WHERE versioncreated > now() - win;
    DELETE FROM sim_idf;
    INSERT INTO sim_idf (term_hash, df)
        SELECT term_hash, count(*) FROM sim_terms WHERE ts > now() - win
        GROUP BY term_hash HAVING count(*) > 1;
    INSERT INTO sim_idf_meta (one, n_docs, computed_at) VALUES (true, n, now())
        ON CONFLICT (one) DO UPDATE SET n_docs = excluded.n_docs, computed_at = excluded.computed_at;
    RETURN n;
END $$;

SELECT sim_ensure_partitions(now() - interval '14 days', now() + interval '42 days');
