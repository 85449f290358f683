#!/usr/bin/env bash
# Similarity bench: link quality on Reuters-21578 and the cost of the similarity
# step against a real PostgreSQL. Results: bench/out/similarity-*.json (gitignored).
#
#   bench/similarity/run.sh            quality, then cost at 10k and 1M stored items (~15 min)
#   SIMBENCH_SKIP_COST=1 ...           quality only
#   SIMBENCH_LARGE=200000 ...          a smaller "large" index (quicker)
#   SIMBENCH_COLD=1 ...                no prewarm of the window (-> similarity-cost-cold.json)
#   SIMBENCH_BUILD=DIR ...             build dir (default build-bench)
#   SIMBENCH_DEBUG=1|all ...           why pairs got their relation, on stderr
#                                      (SIMBENCH_DUMP=DIR also writes their texts there)
#
# The Reuters text comes from Debian's weka package (apt-get download, never
# installed) and is extracted under bench/out/work at run time: it is
# "for research purposes only" and must never be committed.
# Cost: uses NEWSWIRE_PG_DSN when set (schemas simbench_small/_large are
# created there and dropped; without superuser rights the pages are measured
# cold, see README); otherwise starts a throwaway cluster of its own with
# deploy/local/postgres.sh (port 55499, shared_buffers 1GB, state in a temp
# dir) and destroys it after.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$root/bench/out
work=$out/work
mkdir -p "$out" "$work"

data=$work/reuters
if [[ ! -s $data/ReutersGrain-train.arff || ! -s $data/ReutersGrain-test.arff ]]; then
  dl=$(mktemp -d)
  (cd "$dl" && { apt-get download weka 2>/dev/null || { apt-get update -qq && apt-get download weka; }; } \
     && dpkg-deb -x weka_*.deb x)
  mkdir -p "$data"
  cp "$dl"/x/usr/share/doc/weka/examples/ReutersGrain-{train,test}.arff "$data"/
  rm -rf "$dl"
fi

build=${SIMBENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNW_TESTS=OFF >/dev/null
cmake --build "$build" --target newswire -j"$(nproc)" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# shellcheck disable=SC2046
cc -O2 -g -Wall -Wextra -Wshadow -I"$root/common" "$root"/bench/similarity/*.c -o "$build/simbench" \
  "$build/libnewswire.a" $(pkg-config --cflags --libs jansson libutf8proc libpq libxxhash) -lstemmer -lm

"$build/simbench" quality "$data/ReutersGrain-train.arff" "$data/ReutersGrain-test.arff" \
  "$out/similarity-quality.json"

[[ -n ${SIMBENCH_SKIP_COST:-} ]] && exit 0
if [[ -z ${NEWSWIRE_PG_DSN:-} ]]; then
  state=$(mktemp -d /tmp/simbench-pg.XXXXXX)
  chmod 755 "$state"
  export NW_STATE_DIR=$state NW_PG_PORT=${SIMBENCH_PG_PORT:-55499} NW_PG_FSYNC=off
  trap 'bash "$root/deploy/local/postgres.sh" destroy >/dev/null 2>&1 || true; rm -rf "$state"' EXIT
  bash "$root/deploy/local/postgres.sh" start
  # Shared buffers sized for the window's working set (the current partitions'
  # band/term indexes and the newest fingerprints), as a production server
  # would be; the bench connects as the cluster's superuser over its socket so
  # that it may CHECKPOINT after the bulk load and pg_prewarm the window.
  sock=$state/pg/run
  as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }
  pg_user=$( ((EUID == 0)) && echo postgres || id -un)
  as_pg psql -h "$sock" -p "$NW_PG_PORT" -d postgres -qc \
    "ALTER SYSTEM SET shared_buffers = '${SIMBENCH_SHARED_BUFFERS:-1GB}'"
  bash "$root/deploy/local/postgres.sh" stop
  bash "$root/deploy/local/postgres.sh" start
  NEWSWIRE_PG_DSN="host=$sock port=$NW_PG_PORT user=$pg_user dbname=newswire"
fi
NW_MIGRATIONS_DIR=$root/schemas/migrations "$build/simbench" cost "$NEWSWIRE_PG_DSN" "$data/ReutersGrain-train.arff" "$data/ReutersGrain-test.arff" \
  "$out/similarity-cost${SIMBENCH_COLD:+-cold}.json" "${SIMBENCH_SMALL:-10000}" "${SIMBENCH_LARGE:-1000000}" "${SIMBENCH_FRESH:-1000}"
