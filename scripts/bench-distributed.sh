#!/usr/bin/env bash
# Distributed path benchmark: scripts/bench-distributed.sh CONNECTIONS [SECONDS]
#
# Starts the local stack (Kafka-compatible broker; PostgreSQL and Redis must be running), then
# one worker and two gateways on a fresh PostgreSQL database, their own Kafka namespace and
# Redis prefixes. finpulse-load spreads CONNECTIONS graphql-ws connections (one `ticks`
# subscription each, over 8 symbols) over both gateways, produces one tick per symbol per second
# to Kafka itself, and reports Kafka-produce→client latency and each replica's memory and CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:?usage: scripts/bench-distributed.sh CONNECTIONS [SECONDS]}
seconds=${2:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
scripts/stack up >/dev/null

id=bench$RANDOM$RANDOM
admin=${FP_TEST_POSTGRES_URL:-postgres://127.0.0.1:5432/postgres}
psql -q "$admin" -c "CREATE DATABASE $id"
pids=()
dirs=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $id WITH (FORCE)" || true
  rm -rf "${dirs[@]}"
}
trap cleanup EXIT

base=$((18000 + RANDOM % 900))
start() { # role port
  local data; data=$(mktemp -d); dirs+=("$data")
  env FINPULSE_KAFKA_BROKERS=${FP_TEST_KAFKA_BROKERS:-127.0.0.1:19092} \
      FINPULSE_REDIS_URL=${FP_TEST_REDIS_URL:-redis://127.0.0.1:6379} \
      FINPULSE_DATABASE_URL="${admin%/*}/$id" \
      FINPULSE_LOG__NAMESPACE=$id FINPULSE_FANOUT__CHANNEL_PREFIX=$id: \
      FINPULSE_CACHE__KEY_PREFIX=$id:cache: FINPULSE_AUTH__JWT_SECRET=bench-secret-$id-of-at-least-32-bytes \
      FINPULSE_MARKET__SIMULATOR__ENABLED=false FINPULSE_LOG_LEVEL=warn \
      FINPULSE_WEBSOCKET__MAX_SUBSCRIPTIONS=1000 FINPULSE_LIMITS__SOCKETS_PER_IP=100000 \
      FINPULSE_LIMITS__CONNECTIONS_PER_IP=100000 FINPULSE_LIMITS__REQUESTS_PER_SECOND_PER_IP=1000000 \
      FINPULSE_LIMITS__REQUEST_BURST_PER_IP=1000000 \
      FINPULSE_LISTEN=127.0.0.1:$2 FINPULSE_DATA_DIR="$data" \
      "$bin/finpulse" serve --role "$1" &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$2/readyz" >/dev/null; do sleep 0.1; done
}
start worker $base
start gateway $((base + 1))
start gateway $((base + 2))
echo "== distributed: 1 worker, 2 gateways, $connections connections × 1 subscription, 8 symbols"
echo "   pids: worker ${pids[0]}, gateways ${pids[1]} ${pids[2]}"
"$bin/finpulse-load" --server "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" \
    --connections "$connections" --sources $(( connections / 20000 + 8 )) \
    --server-pid "${pids[1]},${pids[2]},${pids[0]}" \
    --kafka-brokers "${FP_TEST_KAFKA_BROKERS:-127.0.0.1:19092}" --kafka-topic "$id.market.ticks" \
    --duration-secs "$seconds"
