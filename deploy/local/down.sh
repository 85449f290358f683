#!/usr/bin/env bash
# Stop what deploy/local/up.sh started (listed in .local/up.started), Kafka first so clients
# still connected to PostgreSQL are not mid-way through a broker-driven batch. Services that were
# already running before up.sh, or external ones, are left alone. Harmless when nothing runs.
# Data: Kafka's is discarded on the next start anyway; PostgreSQL's is kept
# (deploy/local/postgres.sh destroy removes it).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=down

STARTED=$NW_STATE_DIR/up.started
if [[ ! -f $STARTED ]]; then
  log "nothing to stop (no $STARTED)"
  exit 0
fi
mkdir -p "$NW_STATE_DIR"
exec 8>"$NW_STATE_DIR/up.lock"
flock -w 300 8 || die "another up.sh/down.sh holds $NW_STATE_DIR/up.lock"

rc=0
if grep -qx kafka "$STARTED"; then
  bash "$NW_LOCAL_DIR/kafka.sh" stop 8>&- || rc=1
fi
if grep -qx postgres "$STARTED"; then
  bash "$NW_LOCAL_DIR/postgres.sh" stop 8>&- || rc=1
fi
# Keep the list when a stop failed, so a second down.sh retries.
if ((rc == 0)); then
  rm -f "$STARTED"
fi
exit "$rc"
