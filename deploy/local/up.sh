#!/usr/bin/env bash
# Bring up what newswire needs locally, without Docker: PostgreSQL 15 + Kafka 3.9 + topics.
# Writes .local/env (source it) with NEWSWIRE_KAFKA_BROKERS and NEWSWIRE_PG_DSN, and prints it.
#
# External services: when NEWSWIRE_PG_DSN / NEWSWIRE_KAFKA_BROKERS are already set to something
# other than the local stack's own address, that service is not started, only checked for
# reachability (topics are still created on an external Kafka). Values equal to the local
# stack's (e.g. after `source .local/env`) count as local, so up.sh after down.sh in the same
# shell starts things again.
#
# Idempotent: running services are left alone, existing topics are fine. down.sh stops only what
# an up.sh started (recorded in .local/up.started).
#
# Environment: NW_RAW_PARTITIONS [4], NW_ENRICHED_PARTITIONS [4], NW_DLQ_PARTITIONS [1],
# NEWSWIRE_TOPIC_RAW/_ENRICHED/_DLQ [wire.raw/wire.enriched/wire.dlq], plus the NW_KAFKA_* and
# NW_PG_* settings of kafka.sh and postgres.sh.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=up

KAFKA_PORT=${NW_KAFKA_PORT:-9092}
PG_PORT=${NW_PG_PORT:-55432}
LOCAL_BROKERS=127.0.0.1:$KAFKA_PORT
LOCAL_DSN=postgresql://newswire:newswire@127.0.0.1:$PG_PORT/newswire
RAW_PARTITIONS=${NW_RAW_PARTITIONS:-4}
ENRICHED_PARTITIONS=${NW_ENRICHED_PARTITIONS:-4}
DLQ_PARTITIONS=${NW_DLQ_PARTITIONS:-1}
TOPIC_RAW=${NEWSWIRE_TOPIC_RAW:-wire.raw}
TOPIC_ENRICHED=${NEWSWIRE_TOPIC_ENRICHED:-wire.enriched}
TOPIC_DLQ=${NEWSWIRE_TOPIC_DLQ:-wire.dlq}
STARTED=$NW_STATE_DIR/up.started
ENV_FILE=$NW_STATE_DIR/env

mkdir -p "$NW_STATE_DIR"
# Two up.sh at once would race on ports and the started-list.
exec 8>"$NW_STATE_DIR/up.lock"
flock -w 300 8 || die "another up.sh/down.sh holds $NW_STATE_DIR/up.lock"

# Remember that we started $1, so down.sh stops it (and nothing else).
mark_started() {
  grep -qx "$1" "$STARTED" 2>/dev/null || echo "$1" >>"$STARTED"
}

t0=${EPOCHREALTIME/./}

# --- PostgreSQL -------------------------------------------------------------------------------
PG_DSN=${NEWSWIRE_PG_DSN:-$LOCAL_DSN}
if [[ $PG_DSN == "$LOCAL_DSN" ]]; then
  was_running=0
  bash "$NW_LOCAL_DIR/postgres.sh" status >/dev/null && was_running=1
  # Also when running: start then only re-checks the role/db and readiness.
  bash "$NW_LOCAL_DIR/postgres.sh" start 8>&-
  ((was_running)) || mark_started postgres
else
  log "using external PostgreSQL from NEWSWIRE_PG_DSN"
fi
if ! out=$(psql -X -qAt -d "$PG_DSN" -c 'select 1' 2>&1); then
  die "PostgreSQL not reachable with NEWSWIRE_PG_DSN: $out"
fi

# --- Kafka ------------------------------------------------------------------------------------
BROKERS=${NEWSWIRE_KAFKA_BROKERS:-$LOCAL_BROKERS}
if [[ $BROKERS == "$LOCAL_BROKERS" ]]; then
  if ! bash "$NW_LOCAL_DIR/kafka.sh" status >/dev/null; then
    # 8>&-: the broker must not inherit (and hold) our lock.
    bash "$NW_LOCAL_DIR/kafka.sh" start 8>&-
    mark_started kafka
  fi
else
  log "using external Kafka from NEWSWIRE_KAFKA_BROKERS"
fi

# Topics: also checks that the brokers answer (list_topics before create).
/usr/bin/python3 "$NW_LOCAL_DIR/create-topics.py" "$BROKERS" \
  "$TOPIC_RAW:$RAW_PARTITIONS" "$TOPIC_ENRICHED:$ENRICHED_PARTITIONS" "$TOPIC_DLQ:$DLQ_PARTITIONS" ||
  die "could not create topics on $BROKERS"

# --- env file ---------------------------------------------------------------------------------
tmp=$(mktemp "$NW_STATE_DIR/.env.XXXXXX")
{
  echo "# Written by deploy/local/up.sh; source it: . .local/env"
  printf 'export NEWSWIRE_KAFKA_BROKERS=%q\n' "$BROKERS"
  printf 'export NEWSWIRE_PG_DSN=%q\n' "$PG_DSN"
} >"$tmp"
chmod 0644 "$tmp" # mktemp makes it 0600; tests may run as another user
mv -f "$tmp" "$ENV_FILE"

ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
log "ready in $((ms / 1000)).$((ms % 1000 / 100))s; environment in $ENV_FILE:"
grep '^export' "$ENV_FILE"
