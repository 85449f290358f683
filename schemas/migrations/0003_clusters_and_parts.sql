-- Story clusters on every version row, the similarity rows written before
-- their version row inside one transaction, and AP halves waiting for their
-- partner.

-- The cluster a version belongs to when it was stored (stories.cluster_id is
-- the story's; both are the same id unless clusters merged later).
ALTER TABLE item_versions ADD COLUMN cluster_id bigint;

-- The batch transaction decides links and clusters before it writes the
-- version rows (which carry the cluster); the foreign key is checked at commit.
ALTER TABLE sim_fingerprints
    ALTER CONSTRAINT sim_fingerprints_version_pk_fkey DEFERRABLE INITIALLY DEFERRED;

-- AP delivers an item's metadata (Media API JSON) and its body (NITF) apart.
-- The first half to arrive waits here, in the same transaction that commits
-- its offset's work, until the other one comes.
CREATE TABLE pending_parts (
    pair_key    text        NOT NULL,   -- "<itemid>.<version>"
    part        smallint    NOT NULL,   -- 1 metadata, 2 body
    raw         bytea       NOT NULL,   -- the payload as delivered
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pair_key, part)
);
