#!/usr/bin/env bash
# Server memory under oversized OTA answers (issue 8 item 9): starts a fresh
# `saluran serve` on loopback with the load-tests presets, runs the
# `oversized-answers` scenario against it, stops it. Usage:
#   load-tests/scripts/oversized-rss.sh SALURAN_BIN SALURAN_LOAD_BIN [BYTES] [SECONDS]
set -euo pipefail
bin=$1 load=$2 bytes=${3:-209715200} secs=${4:-60}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
db="sqlite://$dir/load.db"
export SALURAN_PRESETS_DIR=load-tests/presets
"$bin" serve --listen "127.0.0.1:$port" --database-url "$db" >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
token=$("$bin" token create --role admin --database-url "$db" | tail -n 1)
"$load" oversized-answers --base "http://127.0.0.1:$port" --token "$token" --server-pid "$pid" --bytes "$bytes" --duration "$secs"
