#!/usr/bin/env bash
# Fan-out memory under subscription churn: scripts/bench-churn.sh [CYCLES] [SYMBOLS] [ROUNDS]
#
# Starts a release finpulse (simulator off) that knows SYMBOLS instruments, then, ROUNDS times
# on the same server, finpulse-churn subscribes and completes CYCLES times on a fresh socket,
# 20 at a time, each to a random one of them, and prints the server's RSS and fan-out channel
# count before, at the peak, after the last cycle and once the socket is gone. Memory that
# returns to where the previous round left it shows nothing accumulates. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-100000}
symbols=${2:-1000}
rounds=${3:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
port=16$(printf '%03d' $((RANDOM % 1000)))
data=$(mktemp -d)
list=$(seq -f 'SYM%04g' 1 "$symbols" | paste -sd, -)
printf '[market]\ninstruments = [%s]\n' "$(seq -f '"SYM%04g"' 1 "$symbols" | paste -sd, -)" > "$data/finpulse.toml"
FINPULSE_CONFIG="$data/finpulse.toml" FINPULSE_LISTEN=127.0.0.1:$port FINPULSE_DATA_DIR="$data" \
  FINPULSE_LOG_LEVEL=warn FINPULSE_MARKET__SIMULATOR__ENABLED=false FINPULSE_INFERENCE__ENABLED=false \
  FINPULSE_LIMITS__SOCKET_MESSAGES_PER_SECOND=1000000 FINPULSE_LIMITS__SOCKET_MESSAGE_BURST=1000000 \
  "$bin/finpulse" serve &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
for round in $(seq 1 "$rounds"); do
  echo "== round $round: $cycles subscribe/complete cycles over $symbols symbols"
  "$bin/finpulse-churn" --server 127.0.0.1:$port --cycles "$cycles" --symbols "$list" --server-pid $pid
done
kill -TERM $pid; wait $pid || true
