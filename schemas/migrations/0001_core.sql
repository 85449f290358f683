-- newswire core tables: stories, their versions, links between versions, and
-- the transactional outbox of enriched events. Applied by newswire-ingest at
-- start under an advisory lock and recorded in schema_migrations.

-- One row per agency story (the version-less id all revisions share).
CREATE TABLE stories (
    story_pk            bigserial PRIMARY KEY,
    provider            text        NOT NULL,           -- ap, reuters, afp, ...
    story_id            text        NOT NULL,           -- agency's stable id (ninjs uri)
    current_version_pk  bigint,                         -- newest stored version (by version_order)
    current_order       bigint      NOT NULL DEFAULT -1,-- its version_order
    pubstatus           text        NOT NULL DEFAULT 'usable',
    cluster_id          bigint,                         -- story cluster, stable across versions and agencies
    firstcreated        timestamptz,                    -- minimum over stored versions
    first_seen          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, story_id)
);

-- One row per agency version of a story, with the normalized ninjs and the
-- payload exactly as it arrived.
CREATE TABLE item_versions (
    version_pk       bigserial PRIMARY KEY,
    story_pk         bigint      NOT NULL REFERENCES stories,
    provider         text        NOT NULL,
    story_id         text        NOT NULL,
    version          text        NOT NULL,              -- as the agency prints it ('' if none)
    version_order    bigint      NOT NULL,              -- orders versions within the story
    format           text        NOT NULL,              -- parser that read it
    edit_status      text        NOT NULL,              -- new, update, correction, kill
    pubstatus        text        NOT NULL,              -- usable, withheld, canceled
    is_news          boolean     NOT NULL,
    headline         text,
    firstcreated     timestamptz,
    versioncreated   timestamptz,
    content_hash     bytea,                             -- XXH3-128 of the normalized body text
    ninjs            jsonb       NOT NULL,              -- IPTC ninjs 2.1
    raw              bytea       NOT NULL,              -- payload as delivered
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, story_id, version)
);
CREATE INDEX item_versions_story ON item_versions (story_pk, version_order);
CREATE INDEX item_versions_content_hash ON item_versions (content_hash);

-- Typed links between versions: earlier versions, duplicates, related coverage.
CREATE TABLE links (
    from_version_pk bigint      NOT NULL REFERENCES item_versions,
    to_version_pk   bigint      NOT NULL REFERENCES item_versions,
    relation        text        NOT NULL,   -- previous_version, duplicate_of, near_duplicate_of, update_of, related
    score           real,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_version_pk, relation, to_version_pk)
);
CREATE INDEX links_to ON links (to_version_pk);

-- Transactional outbox: every event is written in the same transaction as the
-- item it describes and published from here; sent_at is set once the broker
-- acknowledged it. The body is kept as text so a re-publish is byte-identical.
CREATE TABLE outbox (
    outbox_pk   bigserial   PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,  -- CloudEvents ce_id, stable across replays
    version_pk  bigint      REFERENCES item_versions,
    event_type  text        NOT NULL,
    msg_key     text        NOT NULL,         -- Kafka key: provider:story_id
    body        text        NOT NULL,         -- JSON event body
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_version ON outbox (version_pk);
CREATE INDEX outbox_unsent ON outbox (outbox_pk) WHERE sent_at IS NULL;
