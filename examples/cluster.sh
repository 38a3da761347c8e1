#!/usr/bin/env bash
# Start a realistic local topology, one daemon per service instance:
#   1 storage, 2 processing, 1 analytics, 1 ingest (watching examples/logs/), 1 monitor.
# Addresses come from examples/cluster.toml; data goes to ${LOGCTL_HOME:-.cluster}.
# Ctrl-C stops them all (storage last, so the others drain into it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
home="${LOGCTL_HOME:-.cluster}"
logctl="${LOGCTL:-logctl}"
flags=(--home "$home" --config "$here/cluster.toml" --workers 1)
pids=()

start() {  # start NAME URL [ARGS...]: one daemon, waiting until URL's health check answers
  local name="$1" url="$2"
  shift 2
  "$logctl" serve "$name" "$@" "${flags[@]}" &
  pids+=("$!")
  for _ in $(seq 100); do
    curl -fsS "$url/v1/health" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "cluster: $name did not start" >&2
  exit 1
}

stop() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null && wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop EXIT INT TERM

mkdir -p "$home"
start storage http://127.0.0.1:7403
start processing http://127.0.0.1:7402 --instance 0
start processing http://127.0.0.1:7412 --instance 1
start analytics http://127.0.0.1:7404
start ingest http://127.0.0.1:7401 --watch "$here/logs" --glob '*.log' --glob '*.jsonl' \
  --glob '*.logfmt'
start monitor http://127.0.0.1:7405
echo "cluster up; try: $logctl metrics --remote http://127.0.0.1 --by source --home $home"
wait
