#!/usr/bin/env bash
# A real single-node Apache Kafka 3.9 broker (KRaft, combined broker+controller) for tests and
# local runs, without Docker: jars from Maven Central, `java -cp 'lib/*' kafka.Kafka`.
# Recipe and rationale: shared/docs/kafka-local.md.
#
# Usage: deploy/local/kafka.sh fetch|start [--keep]|stop|restart|status
#   fetch   resolve the broker jars into deploy/local/kafka/lib (skipped when complete)
#   start   fetch if needed, format a fresh data dir, start, wait until ready. A no-op when our
#           broker is already running (it never starts a second one); fails when another process
#           holds the port.
#   start --keep  start on the existing data dir (topics, messages, committed offsets kept), as
#           a broker restarted after an outage would; formats only when there is none yet.
#   restart stop, then start --keep (fault tests: a broker outage that loses nothing).
#   stop    SIGTERM (controlled shutdown), SIGKILL after NW_KAFKA_STOP_TIMEOUT. A no-op when not
#           running, so it is safe in a `trap ... EXIT`.
#   status  exit 0 and print the pid when running, exit 3 when stopped.
#
# Environment (defaults in brackets):
#   NW_KAFKA_PORT [9092]             client listener, 127.0.0.1 only
#   NW_KAFKA_CONTROLLER_PORT [9093]  KRaft controller listener, 127.0.0.1 only
#   NW_KAFKA_HEAP_OPTS [-Xms256m -Xmx512m]  always bounded: without -Xmx the JVM takes 1/4 of RAM
#   NW_KAFKA_JAVA_OPTS []            extra JVM flags
#   NW_KAFKA_START_TIMEOUT [120]     seconds to wait for "Kafka Server started"
#   NW_KAFKA_STOP_TIMEOUT [30]       seconds between SIGTERM and SIGKILL
#   NW_KAFKA_CLUSTER_ID [4L6g3nShT-eMCtK--X86sw]  fixed: saves a JVM start (random-uuid)
#   NW_KAFKA_WORK [.local/kafka]     run state: data/, server.properties, server.log, kafka.pid
#   NW_KAFKA_LIB [deploy/local/kafka/lib]  jar directory
#   NW_KAFKA_EXTRA_PROPERTIES []     a file appended to server.properties (a later key wins):
#                                    more listeners, TLS, SASL (tests/integration/test_security.py)
#   NW_KAFKA_SCRAM []                SCRAM credentials written at format time (kafka-storage
#                                    format --add-scram), e.g. SCRAM-SHA-512=[name=u,password=p]
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NW_LOG_TAG=kafka

KAFKA_DIR=$NW_LOCAL_DIR/kafka
PORT=${NW_KAFKA_PORT:-9092}
CONTROLLER_PORT=${NW_KAFKA_CONTROLLER_PORT:-9093}
HEAP_OPTS=${NW_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
JAVA_OPTS=${NW_KAFKA_JAVA_OPTS:-}
START_TIMEOUT=${NW_KAFKA_START_TIMEOUT:-120}
STOP_TIMEOUT=${NW_KAFKA_STOP_TIMEOUT:-30}
CLUSTER_ID=${NW_KAFKA_CLUSTER_ID:-4L6g3nShT-eMCtK--X86sw}
WORK=${NW_KAFKA_WORK:-$NW_STATE_DIR/kafka}
LIB=${NW_KAFKA_LIB:-$KAFKA_DIR/lib}

PIDFILE=$WORK/kafka.pid
LOGFILE=$WORK/server.log
CONF=$WORK/server.properties
DATA=$WORK/data
# Written by fetch after a successful copy: pom hash + jar list. "Complete" means the pom did not
# change since and every listed jar is still there.
MANIFEST=$LIB/.manifest

for v in PORT CONTROLLER_PORT START_TIMEOUT STOP_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "NW_KAFKA_$v must be a number, got '${!v}'"
done
[[ $PORT != "$CONTROLLER_PORT" ]] || die "NW_KAFKA_PORT and NW_KAFKA_CONTROLLER_PORT are both $PORT"

pom_hash() { sha256sum "$KAFKA_DIR/pom.xml" | cut -d' ' -f1; }

jars_complete() {
  [[ -f $MANIFEST ]] || return 1
  local first=1 line
  while IFS= read -r line; do
    if ((first)); then
      [[ $line == "pom $(pom_hash)" ]] || return 1
      first=0
    else
      [[ -f $LIB/$line ]] || return 1
    fi
  done <"$MANIFEST"
  ((!first))
}

cmd_fetch() {
  if jars_complete; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found; run deploy/local/install-deps.sh"
  command -v java >/dev/null || die "java not found; run deploy/local/install-deps.sh"
  log "resolving Kafka jars with Maven into $LIB"
  # Copy into a temporary sibling and swap it in, so an interrupted fetch never leaves a
  # half-filled lib/ that looks usable.
  local tmp
  tmp=$(mktemp -d "$KAFKA_DIR/.lib.XXXXXX")
  if ! mvn -B -q -f "$KAFKA_DIR/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp/.mvn.log" 2>&1; then
    cat "$tmp/.mvn.log" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (see above)"
  fi
  rm -f "$tmp/.mvn.log"
  {
    echo "pom $(pom_hash)"
    (cd "$tmp" && ls -1 -- *.jar)
  } >"$tmp/.manifest"
  local n
  n=$(($(wc -l <"$tmp/.manifest") - 1))
  ((n > 0)) || die "Maven resolved no jars"
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing from the resolved set"
  ls "$tmp"/slf4j-reload4j-*.jar >/dev/null 2>&1 || die "SLF4J binding missing: the broker would log nothing"
  rm -rf "$LIB"
  mv "$tmp" "$LIB"
  log "fetched $n jars"
}

# Our broker's pid, only when the pid file points at a live kafka.Kafka using our config
# (guards against a recycled pid after a crash or reboot).
broker_pid() {
  local pid
  pid=$(live_pid "$PIDFILE") || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $CONF" || return 1
  printf '%s\n' "$pid"
}

java_base() {
  # Serial GC: no parallel GC threads on 2 cores; C1 only: faster warm-up (doc §6).
  # shellcheck disable=SC2086  # HEAP_OPTS/JAVA_OPTS are flag lists, split on purpose
  printf '%s\n' java $HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
    -Djava.awt.headless=true $JAVA_OPTS
}

cmd_start() {
  local keep=${1:-} pid
  if pid=$(broker_pid); then
    log "already running (pid $pid) on 127.0.0.1:$PORT; not starting another"
    return 0
  fi
  cmd_fetch
  command -v java >/dev/null || die "java not found; run deploy/local/install-deps.sh"
  mkdir -p "$WORK"

  # One start at a time per work dir. fd 9 is closed for the broker below, or the JVM would
  # hold the lock for its whole life.
  exec 9>"$WORK/.lock"
  flock -n 9 || die "another kafka.sh start is running for $WORK"

  # Another broker (or anything) on our ports would answer our readiness probe and our clients.
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_in_use "$p"; then
      port_owner "$p" >&2
      die "port $p is already in use by another process; stop it or set NW_KAFKA_PORT/NW_KAFKA_CONTROLLER_PORT"
    fi
  done

  # A fresh data dir per start: a formatted dir cannot be formatted again, and tests must not
  # see the previous run's topics or offsets. --keep reuses a formatted one (meta.properties is
  # what format writes).
  local format=1
  if [[ $keep == --keep && -f $DATA/meta.properties ]]; then
    format=0
    log "keeping the data in $DATA"
  else
    rm -rf "$DATA"
    mkdir -p "$DATA"
  fi
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@LOG_DIRS@|$DATA|g" \
    "$KAFKA_DIR/server.properties.in" >"$CONF"
  if [[ -n ${NW_KAFKA_EXTRA_PROPERTIES:-} ]]; then
    [[ -r $NW_KAFKA_EXTRA_PROPERTIES ]] || die "NW_KAFKA_EXTRA_PROPERTIES: cannot read $NW_KAFKA_EXTRA_PROPERTIES"
    { echo; echo "# from $NW_KAFKA_EXTRA_PROPERTIES"; cat "$NW_KAFKA_EXTRA_PROPERTIES"; } >>"$CONF"
  fi
  [[ -f $LOGFILE ]] && mv -f "$LOGFILE" "$LOGFILE.prev"

  local -a java_cmd
  mapfile -t java_cmd < <(java_base)

  # Format with a fixed cluster id (static voter => no --standalone). Tools log to stderr.
  local -a scram=()
  [[ -n ${NW_KAFKA_SCRAM:-} ]] && scram=(--add-scram "$NW_KAFKA_SCRAM")
  if ((format)) && ! "${java_cmd[@]}" -Dlog4j.configuration="file:$KAFKA_DIR/tools-log4j.properties" \
    -cp "$LIB/*" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONF" "${scram[@]}" \
    >"$WORK/format.log" 2>&1 9>&-; then
    show_log_tail "$WORK/format.log"
    die "kafka-storage format failed"
  fi

  local t0=$SECONDS
  # stdin/stdout/stderr all detached: a caller running us inside $(...) or a pipe must not wait
  # for the broker to exit. Background jobs of a non-interactive shell ignore SIGINT, so Ctrl-C
  # in the caller's terminal does not kill the broker; `stop` does.
  "${java_cmd[@]}" -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
    -cp "$LIB/*" kafka.Kafka "$CONF" </dev/null >"$LOGFILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"

  # Ready = this run's log says "Kafka Server started" (logged after the broker is unfenced and
  # its acceptors run) and the client port accepts connections.
  while :; do
    if ! pid_alive "$pid"; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      rm -f "$PIDFILE"
      show_log_tail "$LOGFILE"
      die "broker exited during startup (exit code $rc)"
    fi
    if grep -q 'Kafka Server started' "$LOGFILE" 2>/dev/null && tcp_open "$PORT"; then
      break
    fi
    if ((SECONDS - t0 >= START_TIMEOUT)); then
      show_log_tail "$LOGFILE"
      cmd_stop
      die "broker not ready after ${START_TIMEOUT}s (NW_KAFKA_START_TIMEOUT)"
    fi
    sleep 0.2
  done
  log "started (pid $pid) on 127.0.0.1:$PORT in $((SECONDS - t0))s; log: $LOGFILE"
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$PIDFILE"
    return 0
  fi
  # SIGTERM runs the JVM shutdown hook: controlled shutdown of broker and controller.
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while pid_alive "$pid" && ((waited < STOP_TIMEOUT * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if pid_alive "$pid"; then
    log "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    echo "kafka: running (pid $pid) on 127.0.0.1:$PORT, data $DATA"
    return 0
  fi
  echo "kafka: stopped"
  return 3
}

case ${1:-} in
  fetch) cmd_fetch ;;
  start)
    [[ -z ${2:-} || ${2:-} == --keep ]] || die "usage: $0 start [--keep]"
    cmd_start "${2:-}"
    ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start --keep
    ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 fetch|start [--keep]|stop|restart|status" >&2
    exit 2
    ;;
esac
