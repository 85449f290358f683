#!/usr/bin/env bash
# Placeholder test runner (to be refined by the tests owner): build, bring up PostgreSQL and
# Kafka locally, run ctest against them, always stop what was started.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

# Installed before up.sh so a half-finished start is cleaned up too; down.sh stops only what
# up.sh started.
trap 'bash deploy/local/down.sh' EXIT
bash deploy/local/up.sh
# shellcheck source=/dev/null
source .local/env

ctest --test-dir build --output-on-failure
