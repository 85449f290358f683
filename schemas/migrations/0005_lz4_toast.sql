-- The large values of a version (the raw delivery, its ninjs, the event body
-- in the outbox, the similarity fingerprint) are compressed with lz4 rather
-- than PostgreSQL's default pglz. pglz_compress was the first PostgreSQL
-- function in every profile of the write path (bench/README.md); lz4 costs a
-- fraction of its CPU for a slightly larger result. Applies to values written
-- from now on; stored ones keep their compression until rewritten.
-- A server built without lz4 (Debian's and the official images have it)
-- refuses SET COMPRESSION lz4 with feature_not_supported: it keeps pglz, with
-- a notice, rather than the service failing to start.
DO $$
BEGIN
    ALTER TABLE item_versions ALTER COLUMN raw SET COMPRESSION lz4,
                              ALTER COLUMN ninjs SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE sim_fingerprints ALTER COLUMN fp SET COMPRESSION lz4;
    ALTER TABLE pending_parts ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'newswire: this server has no lz4; large values stay pglz-compressed (%)', SQLERRM;
END $$;
