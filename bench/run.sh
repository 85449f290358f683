#!/usr/bin/env bash
# Speed of newswire vs PostgreSQL's COPY ceiling and two hand-rolled Python
# peers, on the local Kafka broker and PostgreSQL (deploy/local). One command:
#
#   bash bench/run.sh                 # N = 200,000 (about 25 min on the 2-core machine)
#   bash bench/run.sh --quick         # N = 20,000 smoke run (about 5 min)
#   bash bench/run.sh --items 50000 --skip profile --skip naive
#
# Every run uses its own databases (nwb_<run>_*) and topics (nwb_<run>.*) and
# drops them at the end (--keep keeps them). Results: bench/out/latest.json and
# bench/out/results-<run>.json, plus a printed table. bench/README.md explains
# the figures. `bash bench/run.sh --help` lists every option.
#
# Builds newswire in build-perf/ (RelWithDebInfo) unless NW_BIN points at a
# bin/ folder with newswire-ingest and newswire-feed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
  exec /usr/bin/python3 "$ROOT/bench/bench.py" --help
fi

if [[ -z ${NW_BIN:-} ]]; then
  cmake -S "$ROOT" -B "$ROOT/build-perf" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNW_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-perf" -j2 --target newswire-ingest newswire-feed >/dev/null
  export NW_BIN=$ROOT/build-perf/bin
fi

# The local services (idempotent: a no-op when they run already).
if [[ -z ${NEWSWIRE_PG_DSN:-} || -z ${NEWSWIRE_KAFKA_BROKERS:-} ]]; then
  bash "$ROOT/deploy/local/up.sh" >/dev/null
  # shellcheck source=/dev/null
  source "$ROOT/.local/env"
fi

# Debian's python3-confluent-kafka and python3-psycopg2 (not a pyenv python).
exec /usr/bin/python3 "$ROOT/bench/bench.py" --bin "$NW_BIN" "$@"
