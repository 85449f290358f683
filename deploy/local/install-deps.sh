#!/usr/bin/env bash
# Install what building, testing and running newswire locally needs, if missing:
#   1. Debian 12 packages (apt-get; `apt-get update` only when something must be installed),
#   2. the Kafka broker jars into deploy/local/kafka/lib (Maven; skipped when complete).
# Idempotent and quiet when everything is there. Runs as root (CI); as another user it uses
# sudo when available, else it names the missing packages and stops.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=install-deps

PACKAGES=(
  # build
  build-essential cmake pkg-config
  librdkafka-dev libpq-dev libjansson-dev libxml2-dev libutf8proc-dev libxxhash-dev
  libmicrohttpd-dev libstemmer-dev
  # tests, sanitizers, fuzzing
  libcmocka-dev clang libclang-rt-14-dev valgrind
  python3-pytest python3-jsonschema python3-confluent-kafka python3-psycopg2
  python3-prometheus-client
  # local services and their clients
  postgresql-15 postgresql-contrib kcat
  # deploy/check.sh (promtool: prometheus.yml and the alert rules' unit tests)
  docker-compose prometheus
)
# Java and Maven may come from elsewhere (e.g. a Temurin JDK); only install Debian's when absent.
command -v java >/dev/null 2>&1 || PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || PACKAGES+=(maven)

missing=()
for p in "${PACKAGES[@]}"; do
  # "ii " = wanted install, state installed, no error flags.
  if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) != "ii " ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if ((EUID == 0)); then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "missing Debian packages: ${missing[*]}
  not root and no password-less sudo; install them as root with:
  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  log "installing ${#missing[@]} Debian package(s): ${missing[*]}"
  aptlog=$(mktemp)
  # --no-install-recommends: docker-compose would otherwise pull in the whole docker.io engine.
  # Lock timeout: another apt run (unattended upgrades, a parallel job) may hold the lock.
  if ! {
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "${missing[@]}"
  } >"$aptlog" 2>&1; then
    tail -n 40 "$aptlog" >&2
    rm -f "$aptlog"
    die "apt-get failed (last lines above)"
  fi
  rm -f "$aptlog"
fi

# Kafka 3.9 runs on Java 11+; the project standardises on 17.
java_major=$(java -XshowSettings:properties -version 2>&1 |
  sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | head -n 1)
java_major=${java_major#1.}
java_major=${java_major%%.*}
if [[ -z $java_major ]] || ((java_major < 17)); then
  log "warning: java on PATH is version '${java_major:-unknown}'; Kafka is tested here with 17"
fi

bash "$NW_LOCAL_DIR/kafka.sh" fetch
