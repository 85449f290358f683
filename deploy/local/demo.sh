#!/usr/bin/env bash
# The main job, end to end on this machine: build newswire, start a local
# Kafka and PostgreSQL (or use NEWSWIRE_KAFKA_BROKERS / NEWSWIRE_PG_DSN when
# set), run newswire-ingest, replay the bundled sample feed
# (tests/fixtures/sample-feed: AP, Reuters and AFP items, an update, a
# redelivery and a truncated item), print the enriched events and dead
# letters, and a summary of what PostgreSQL holds.
#
# The services stay up afterwards so you can look around (psql, kcat);
# `bash deploy/local/down.sh` stops them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=demo
cd "$NW_REPO_ROOT"

bash deploy/local/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
log "built build/bin/newswire-*"

bash deploy/local/up.sh >/dev/null
# shellcheck source=/dev/null
source "$NW_STATE_DIR/env"
export NEWSWIRE_KAFKA_BROKERS NEWSWIRE_PG_DSN
export NEWSWIRE_HTTP_ADDR=${NEWSWIRE_HTTP_ADDR:-127.0.0.1:8080}
export NEWSWIRE_BATCH_WAIT_MS=${NEWSWIRE_BATCH_WAIT_MS:-50}

ingest_log=$NW_STATE_DIR/demo-ingest.log
build/bin/newswire-ingest >"$ingest_log" 2>&1 &
ingest_pid=$!
trap 'kill -TERM $ingest_pid 2>/dev/null; wait $ingest_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q '"partitions assigned"' "$ingest_log" 2>/dev/null && break
  kill -0 "$ingest_pid" 2>/dev/null || { cat "$ingest_log" >&2; die "newswire-ingest exited"; }
  sleep 0.2
done
log "newswire-ingest running (log: $ingest_log)"

mark=$NW_STATE_DIR/demo.mark
/usr/bin/python3 deploy/local/show_events.py mark "$mark"
build/bin/newswire-feed --feed-progress=false tests/fixtures/sample-feed
# 5 stored versions make 5 events; the redelivered item republishes its
# original event (same ce_id); the truncated item is a dead letter.
/usr/bin/python3 deploy/local/show_events.py show "$mark" 5 1

echo
echo "=== PostgreSQL ($NEWSWIRE_PG_DSN) ==="
psql -X -q "$NEWSWIRE_PG_DSN" -c "
  SELECT s.provider, s.story_id, v.version AS current_version, s.pubstatus,
         (SELECT count(*) FROM item_versions x WHERE x.story_pk = s.story_pk) AS versions
    FROM stories s LEFT JOIN item_versions v ON v.version_pk = s.current_version_pk
   ORDER BY s.story_pk DESC LIMIT 10;" \
  -c "SELECT count(*) AS events, count(*) FILTER (WHERE sent_at IS NULL) AS unsent FROM outbox;"
echo "Try: psql \"$NEWSWIRE_PG_DSN\"   kcat -C -b $NEWSWIRE_KAFKA_BROKERS -t wire.enriched -e"
echo "Stop the local services with: bash deploy/local/down.sh"
