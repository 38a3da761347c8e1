#!/usr/bin/env bash
# A scaled-out topology on one machine: 2 storage daemons sharing one PostgreSQL,
# 4 processing instances, 1 ingest (watching examples/logs/), 1 analytics, 1 monitor.
#   LOGCTL_STORE=postgresql://postgres@127.0.0.1:5432/test examples/scale.sh
# Data other than metrics (tokens, checkpoints, spools) goes to ${LOGCTL_HOME:-.scale}.
# Ctrl-C stops everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
store="${LOGCTL_STORE:-postgresql://postgres@127.0.0.1:5432/test}"
exec "${LOGCTL:-logctl}" serve --all --config "$here/scale.toml" --store "$store" \
  --home "${LOGCTL_HOME:-.scale}" --watch "$here/logs" --glob '*.log' --glob '*.jsonl' \
  --glob '*.logfmt' --workers 1
