#!/usr/bin/env bash
# Interaction → pushed recommendations under load (BENCHMARKS.md, "Recommender: real time"):
# scripts/bench-recommend.sh [RATE] [SECONDS] [USERS]
# Builds release binaries, starts the embedded default (market simulator off, behaviour
# simulator seeding the catalogue and history but sending nothing live), and runs
# finpulse-recommend-load against it.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}
seconds=${2:-30}
users=${3:-200}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
port=18$(printf '%03d' $((RANDOM % 1000)))
data=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
FINPULSE_DATA_DIR=$data FINPULSE_LISTEN=127.0.0.1:$port FINPULSE_LOG_LEVEL=warn \
  FINPULSE_SIMULATOR__ENABLED=false FINPULSE_INFERENCE__ENABLED=false \
  FINPULSE_RECOMMEND__SIMULATOR__RATE_PER_SEC=0 \
  FINPULSE_LIMITS__SOCKETS_PER_IP=100000 FINPULSE_LIMITS__CONNECTIONS_PER_IP=100000 \
  FINPULSE_LIMITS__REQUESTS_PER_SECOND_PER_IP=1000000 FINPULSE_LIMITS__REQUEST_BURST_PER_IP=1000000 \
  "$bin/finpulse" serve &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
"$bin/finpulse-recommend-load" --server "127.0.0.1:$port" --rate "$rate" --seconds "$seconds" --users "$users"
echo "server RSS: $(grep VmRSS /proc/$server/status)"
