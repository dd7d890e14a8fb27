#!/usr/bin/env bash
# Runs the channel scenarios, each against a fresh server (fresh database), and
# prints their RESULT lines:
#   load-tests/bench-channels.sh sqlite
#   load-tests/bench-channels.sh postgres postgres://postgres@127.0.0.1:5432/test
# With postgres the URL is only used to create one fresh database per server
# (saluran_chbench_<pid>_<n>), dropped again at the end.
# Choose scenarios with ONLY (default: all of them, in this order):
#   latency   channel-latency, load presets (load-tests/presets, 100 ms debounce)
#   stock     channel-latency, shipped presets (booking, tiketcom, traveloka)
#   fullsync  full-sync-count for opentravel, alpinebits, jsonrest
#   webhook   webhook, 200 deliveries/s for 20 s
#   peak      webhook --find-peak
#   e.g. ONLY="webhook peak" load-tests/bench-channels.sh postgres postgres://postgres@127.0.0.1:5432/test
# KEEP=1 keeps the server logs (and SQLite files) in /tmp/saluran-chbench.*.
# The server runs with SALURAN_PRESETS_DIR=load-tests/presets (adds the load-*
# presets; the shipped ones stay as they are). Loopback only; every scenario is
# bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/saluran-target}"
# SKIP_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/release.
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p saluran -p saluran-load
BIN="$CARGO_TARGET_DIR/release"
L="$BIN/saluran-load"
BACKEND="${1:-sqlite}"
ADMIN_URL="${2:-}"
PORT="${PORT:-18090}"
PROPERTIES="${PROPERTIES:-100}"
UPDATES="${UPDATES:-3000}"
RATE="${RATE:-50}"
HOOK_PROPERTIES="${HOOK_PROPERTIES:-50}"
ONLY="${ONLY:-latency stock fullsync webhook peak}"
case "$BACKEND" in
  sqlite) ;;
  postgres) [ -n "$ADMIN_URL" ] || { echo "usage: $0 postgres URL"; exit 2; } ;;
  *) echo "usage: $0 sqlite|postgres [URL]"; exit 2 ;;
esac
WORK=$(mktemp -d /tmp/saluran-chbench.XXXXXX)
SERVER=""
DBS=()
N=0

stop_server() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
cleanup() {
  stop_server
  for db in "${DBS[@]}"; do psql "$ADMIN_URL" -qc "drop database if exists $db" >/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "server logs and databases kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_server() {
  N=$((N + 1))
  if [ "$BACKEND" = sqlite ]; then
    DB="sqlite://$WORK/saluran-$N.db"
  else
    local name="saluran_chbench_$$_$N"
    psql "$ADMIN_URL" -qc "create database $name" >/dev/null
    DBS+=("$name")
    DB="${ADMIN_URL%/*}/$name"
  fi
  "$BIN/saluran" migrate --database-url "$DB" >/dev/null
  TOKEN=$("$BIN/saluran" token create --role admin --database-url "$DB" | tail -n1)
  SALURAN_PRESETS_DIR=load-tests/presets SALURAN_SECRET_KEY_FILE="$WORK/secret.key" RUST_LOG=warn \
    "$BIN/saluran" serve --listen "127.0.0.1:$PORT" --database-url "$DB" >"$WORK/server-$N.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  COMMON=(--base "http://127.0.0.1:$PORT" --token "$TOKEN" --server-pid "$SERVER")
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

if want latency; then
  echo "== channel-latency: $PROPERTIES properties x 3 OTAs, load presets, $UPDATES changes at $RATE/s ($BACKEND)"
  start_server
  "$L" channel-latency "${COMMON[@]}" --properties "$PROPERTIES" --prefix CHLAT --updates "$UPDATES" --rate "$RATE" --presets load
  stop_server
fi
if want stock; then
  echo "== channel-latency: $PROPERTIES properties x 3 OTAs, shipped presets, $UPDATES changes at $RATE/s ($BACKEND)"
  start_server
  "$L" channel-latency "${COMMON[@]}" --properties "$PROPERTIES" --prefix CHSTK --updates "$UPDATES" --rate "$RATE" --presets stock
  stop_server
fi
if want fullsync; then
  echo "== full-sync-count: 5 room types x 3 rate plans, 730 days ($BACKEND)"
  start_server
  for p in opentravel alpinebits jsonrest; do
    "$L" full-sync-count "${COMMON[@]}" --profile "$p"
  done
  stop_server
fi
if want webhook; then
  echo "== webhook: OTA_HotelResNotifRQ, 200/s for 20 s over $HOOK_PROPERTIES properties ($BACKEND)"
  start_server
  "$L" webhook "${COMMON[@]}" --properties "$HOOK_PROPERTIES" --prefix HOOK --rate 200 --duration 20 --backend-note "$BACKEND"
  stop_server
fi
if want peak; then
  echo "== webhook --find-peak: 200, 400, 800, ... per second, 5 s steps, p99 <= 25 ms ($BACKEND)"
  start_server
  "$L" webhook "${COMMON[@]}" --properties "$HOOK_PROPERTIES" --prefix HOOK --rate 200 --find-peak --step-duration 5 --p99-ms 25 --refine 3 --backend-note "$BACKEND"
  stop_server
fi
