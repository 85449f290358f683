#!/usr/bin/env bash
# Every test of newswire, against a real Kafka broker and a real PostgreSQL:
#   1. build (warnings are errors), an ASan/UBSan build and a Release (-O3) build;
#   2. start the local Kafka and PostgreSQL (deploy/local/up.sh), unless
#      NEWSWIRE_KAFKA_BROKERS / NEWSWIRE_PG_DSN point at others;
#   3. unit tests (all three builds), integration and fault tests (release build),
#      the integration tests again on the ASan build, short fuzz runs of every
#      parser, and the deploy checks (docker-compose config, linters).
# Stops what it started. NW_TEST_QUICK=1 skips the ASan integration pass and fuzzing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/local/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNW_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNW_SANITIZE=ON -DNW_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
# -O3 finds warnings (maybe-uninitialized) the other two builds do not
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DNW_WERROR=ON >/dev/null
cmake --build build-release -j"$jobs"

trap 'bash deploy/local/down.sh' EXIT
bash deploy/local/up.sh
# shellcheck source=/dev/null
source .local/env
export NEWSWIRE_KAFKA_BROKERS NEWSWIRE_PG_DSN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
run() { echo "== $*"; "$@" || status=1; }

run ctest --test-dir build -L unit --output-on-failure -j"$jobs"
run ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"
run ctest --test-dir build-release -L unit --output-on-failure -j"$jobs"
run ctest --test-dir build -L integration --output-on-failure
run ctest --test-dir build -L faults --output-on-failure
if [[ -z ${NW_TEST_QUICK:-} ]]; then
  run ctest --test-dir build-asan -L integration --output-on-failure
  if [[ -x tests/fuzz/run.sh ]]; then
    run bash tests/fuzz/run.sh "${NW_FUZZ_SECONDS:-15}"
  fi
fi
run bash deploy/check.sh
exit $status
