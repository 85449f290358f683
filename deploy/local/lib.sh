# shellcheck shell=bash
# Helpers shared by the deploy/local scripts. Sourced, never executed.
#
# Everything the local stack writes lives under the project-local state dir .local/ at the
# repo root (gitignored), so several checkouts on one machine do not share state; override
# with NW_STATE_DIR.

NW_LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
NW_REPO_ROOT=$(cd "$NW_LOCAL_DIR/../.." && pwd -P)
NW_STATE_DIR=${NW_STATE_DIR:-$NW_REPO_ROOT/.local}

# Prefix for messages; each script sets its own after sourcing this file.
NW_LOG_TAG=newswire

log() { printf '%s: %s\n' "$NW_LOG_TAG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$NW_LOG_TAG" "$*" >&2
  exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1. Uses bash's /dev/tcp so it
# needs no nc; `timeout` bounds a connect that would otherwise hang on a filtered port.
tcp_open() {
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# True when any socket listens on TCP port $1 on any address (0.0.0.0, ::, 127.0.0.1...).
# A broker bound to 0.0.0.0:9092 would steal our clients even though we bind loopback only.
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Htln "sport = :$port" 2>/dev/null) ]] && return 0
  fi
  tcp_open "$port"
}

# Describe the listener on port $1 (for error messages); empty when unknown.
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Htlnp "sport = :$1" 2>/dev/null | head -n 3
  fi
}

# Print the last lines of a log file to stderr, framed, for failure diagnostics.
show_log_tail() {
  local file=$1 lines=${2:-60}
  if [[ -f $file ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf '(no log file at %s)\n' "$file" >&2
  fi
}

# True when process $1 exists and is not a zombie. kill -0 alone succeeds on a zombie, which
# is what our own just-killed child stays until we wait for it.
pid_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# Read a pid file; prints the pid only when that process is still alive.
live_pid() {
  local pidfile=$1 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  printf '%s\n' "$pid"
}
