#!/usr/bin/env bash
# WebSocket fan-out benchmark: scripts/bench-ws.sh CONNECTIONS [SECONDS]
#
# Builds release binaries, then runs two phases against a fresh finpulse each:
#   idle — simulator off: time to ack and subscribe CONNECTIONS sockets, server RSS per
#          subscription;
#   live — simulator at wall-clock speed, one tick per second per symbol: every subscription
#          (one symbol each) receives one event a second; delivered events/s and
#          publish-to-client latency over SECONDS.
# SYMBOLS=N simulates N symbols instead of the default 8, and spreads subscriptions over them:
# the same 1 event/s per subscription, in N smaller bursts a second instead of 8 large ones.
# The per-address limits are raised: the load comes from 8 addresses (see README, Limits).
# Results go to stdout; copy them into BENCHMARKS.md with the command line.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:?usage: scripts/bench-ws.sh CONNECTIONS [SECONDS]}
seconds=${2:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
port=18$(printf '%03d' $((RANDOM % 1000)))
sources=$(( connections / 20000 + 8 ))
config_env=()
load_symbols=()
if [[ -n ${SYMBOLS:-} ]]; then
  config=$(mktemp --suffix .toml)
  list=""
  {
    echo "[market.simulator]"
    for i in $(seq 1 "$SYMBOLS"); do
      name=$(printf 'SYM%04d' "$i")
      list+="${list:+,}$name"
      printf '[[market.simulator.symbols]]\nsymbol = "%s"\nprice = 100.0\ndrift = 0.05\nvolatility = 0.3\nmean_size = 100.0\n' "$name"
    done
  } > "$config"
  config_env=(FINPULSE_CONFIG="$config")
  load_symbols=(--symbols "$list")
fi

run_phase() {
  local name=$1; shift
  local data; data=$(mktemp -d)
  env "${config_env[@]}" FINPULSE_LISTEN=127.0.0.1:$port FINPULSE_DATA_DIR="$data" FINPULSE_LOG_LEVEL=warn \
      FINPULSE_WEBSOCKET__MAX_SUBSCRIPTIONS=1000 FINPULSE_LIMITS__SOCKETS_PER_IP=100000 \
      FINPULSE_LIMITS__CONNECTIONS_PER_IP=100000 FINPULSE_LIMITS__REQUESTS_PER_SECOND_PER_IP=1000000 \
      FINPULSE_LIMITS__REQUEST_BURST_PER_IP=1000000 "$@" "$bin/finpulse" serve &
  local pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
  echo "== $name: $connections connections × 1 subscription, ${SYMBOLS:-8} symbols"
  "$bin/finpulse-load" --server 127.0.0.1:$port --connections "$connections" --sources "$sources" \
      --server-pid $pid "${load_symbols[@]}" --duration-secs "$( [[ $name == idle ]] && echo 0 || echo "$seconds" )"
  kill -TERM $pid; wait $pid || true
  trap - EXIT
  rm -rf "$data"
}

run_phase idle FINPULSE_MARKET__SIMULATOR__ENABLED=false
run_phase live FINPULSE_MARKET__SIMULATOR__SPEED=1 FINPULSE_MARKET__SIMULATOR__TICK_INTERVAL_SECS=1 \
    FINPULSE_MARKET__SIMULATOR__WARMUP_MINUTES=0
