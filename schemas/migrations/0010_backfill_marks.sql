-- The similarity index keeps four windows (at least 30 days) back from its
-- newest item. An archive older than that, backfilled beside live traffic,
-- would lose its index rows at any replica's start (every start prunes) or
-- daily run while it is being written, and its next items their links. A
-- batch that stores items more than a day old notes the oldest of them here,
-- under the day it was stored (newswire-ingest does, at most once a day per
-- replica unless an older one comes); the pruning keeps the retention before
-- the oldest item noted today or yesterday. The daily maintenance deletes
-- the marks of past weeks.
CREATE TABLE sim_backfill_marks (
    day    date        PRIMARY KEY,  -- UTC day the items were stored
    oldest timestamptz NOT NULL      -- the oldest item time stored that day
);
