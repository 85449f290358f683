#!/bin/bash
# Container HEALTHCHECK for newswire services: GET /healthz (or $1) on the service's own HTTP
# port and succeed only on status 200. Plain bash /dev/tcp, so the runtime image needs no curl.
# The port comes from NEWSWIRE_HTTP_ADDR (host:port, default 0.0.0.0:8080); a wildcard host is
# probed on 127.0.0.1.
set -euo pipefail

addr=${NEWSWIRE_HTTP_ADDR:-0.0.0.0:8080}
path=${1:-/healthz}
port=${addr##*:}
host=${addr%:*}
case $host in
  '' | 0.0.0.0 | '*' | '[::]' | '::') host=127.0.0.1 ;;
esac
host=${host#[}
host=${host%]}

exec 3<>"/dev/tcp/$host/$port"
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
IFS= read -r -t 5 status <&3
status=${status%$'\r'}
if [[ $status =~ ^HTTP/1\.[01]\ 200 ]]; then
  exit 0
fi
echo "unhealthy: GET http://$host:$port$path -> ${status:-no response}" >&2
exit 1
