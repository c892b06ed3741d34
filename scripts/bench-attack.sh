#!/usr/bin/env bash
# What one hostile client does to the others: scripts/bench-attack.sh [SECONDS] [ATTACKERS]
#
# Builds release binaries and starts finpulse with the simulator at wall-clock speed (one tick
# per second per symbol) and the per-client rate limits raised out of the way, so the hostile
# documents reach the query limits themselves (the worst case: an attack spread over many
# addresses). Two phases of SECONDS each, on the same server:
#   quiet  — finpulse-attack only probes /healthz; finpulse-load measures tick latency on 200
#            sockets;
#   attack — the same, while ATTACKERS clients send fragment bombs, 2 000-deep lists and
#            500-alias documents as fast as they are answered.
# Everything stays on 127.0.0.1. Results go to stdout; copy them into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
attackers=${2:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
port=17$(printf '%03d' $((RANDOM % 1000)))
data=$(mktemp -d)
FINPULSE_LISTEN=127.0.0.1:$port FINPULSE_DATA_DIR="$data" FINPULSE_LOG_LEVEL=warn \
  FINPULSE_INFERENCE__ENABLED=false \
  FINPULSE_MARKET__SIMULATOR__SPEED=1 FINPULSE_MARKET__SIMULATOR__TICK_INTERVAL_SECS=1 FINPULSE_MARKET__SIMULATOR__WARMUP_MINUTES=0 \
  FINPULSE_LIMITS__REQUESTS_PER_SECOND_PER_IP=1000000 FINPULSE_LIMITS__REQUEST_BURST_PER_IP=1000000 \
  "$bin/finpulse" serve &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
for phase in quiet attack; do
  n=0; [[ $phase == attack ]] && n=$attackers
  echo "== $phase: $n attackers, ${seconds}s"
  "$bin/finpulse-load" --server 127.0.0.1:$port --connections 200 --duration-secs "$seconds" \
      --server-pid $pid > "$data/load.txt" &
  load=$!
  "$bin/finpulse-attack" --server "http://127.0.0.1:$port" --attackers "$n" \
      --duration-secs "$((seconds + 2))"
  wait $load
  grep -Ei "latency|delivered|CPU" "$data/load.txt" || cat "$data/load.txt"
done
kill -TERM $pid; wait $pid || true
