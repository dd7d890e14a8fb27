#!/usr/bin/env bash
# Runs the issue-2 scenarios against a fresh server and prints RESULT lines.
#   load-tests/bench.sh sqlite            # embedded default
#   load-tests/bench.sh postgres URL      # e.g. postgres://postgres@127.0.0.1:5432/saluran_bench
# Loopback only; every scenario is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/saluran-target}"
# SKIP_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/release (e.g. to compare two builds).
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p saluran -p saluran-load
BIN="$CARGO_TARGET_DIR/release"
BACKEND="${1:-sqlite}"
PORT="${PORT:-18080}"
DURATION="${DURATION:-20}"
case "$BACKEND" in
  sqlite) DB="sqlite:///tmp/saluran-bench-$$.db" ;;
  postgres) DB="${2:?postgres URL}" ;;
  *) echo "usage: $0 sqlite|postgres [URL]"; exit 2 ;;
esac
"$BIN/saluran" migrate --database-url "$DB" >/dev/null
TOKEN=$("$BIN/saluran" token create --role admin --database-url "$DB" | tail -n1)
RUST_LOG=warn "$BIN/saluran" serve --listen "127.0.0.1:$PORT" --database-url "$DB" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -f /tmp/saluran-bench-$$.db*' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
L="$BIN/saluran-load"
COMMON=(--base "http://127.0.0.1:$PORT" --token "$TOKEN" --prefix BENCH --room-types 5 --rate-plans 3 --rooms-per-type 20)
echo "== setup: 50 properties, 5 room types x 3 rate plans, 730 days ($BACKEND)"
"$L" setup "${COMMON[@]}" --properties 50 --days 730 --concurrency 4
echo "== full 730-day ARI update, 5 room types x 3 rate plans, one at a time"
"$L" ari "${COMMON[@]}" --properties 50 --count 30
echo "== availability search, 7 nights, concurrency 32"
"$L" search "${COMMON[@]}" --properties 50 --concurrency 32 --duration "$DURATION" --nights 7 --warmup 3 --server-pid "$SERVER"
echo "== direct reservations, 500/s over 50 properties"
"$L" reserve "${COMMON[@]}" --properties 50 --rate 500 --duration "$DURATION" --max-in-flight 256 --server-pid "$SERVER"
