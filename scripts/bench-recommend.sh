#!/usr/bin/env bash
# Interaction → pushed recommendations under load (BENCHMARKS.md, "Recommender: real time"):
# scripts/bench-recommend.sh [--distributed] [RATE] [SECONDS] [USERS] [WARMUP]
#
# Embedded (default): builds release binaries, starts the embedded default (market simulator
# off, behaviour simulator seeding the catalogue and history but sending nothing live), and
# runs finpulse-recommend-load against it.
#
# --distributed: starts the local stack (Kafka-compatible broker; PostgreSQL and Redis must be
# running), then one worker and two gateways on a fresh PostgreSQL database with their own
# Kafka namespace and Redis prefixes. Each customer subscribes on one gateway and sends its
# interactions to the other: gateway → Kafka → the worker's recommend processor (PostgreSQL
# write, fold-in, ranking) → Redis pub/sub → the other gateway → the socket.
set -euo pipefail
cd "$(dirname "$0")/.."
distributed=false
if [[ ${1:-} == --distributed ]]; then distributed=true; shift; fi
rate=${1:-500}
seconds=${2:-30}
users=${3:-200}
warmup=${4:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
cargo build --release -q -p finpulse-gateway -p finpulse-e2e
bin=$CARGO_TARGET_DIR/release
limits=(FINPULSE_LIMITS__SOCKETS_PER_IP=100000 FINPULSE_LIMITS__CONNECTIONS_PER_IP=100000
        FINPULSE_LIMITS__REQUESTS_PER_SECOND_PER_IP=1000000 FINPULSE_LIMITS__REQUEST_BURST_PER_IP=1000000)
quiet=(FINPULSE_LOG_LEVEL=warn FINPULSE_MARKET__SIMULATOR__ENABLED=false FINPULSE_INFERENCE__ENABLED=false
       FINPULSE_RECOMMEND__SIMULATOR__RATE_PER_SEC=0)

if [[ $distributed == false ]]; then
  port=18$(printf '%03d' $((RANDOM % 1000)))
  data=$(mktemp -d)
  trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
  env "${quiet[@]}" "${limits[@]}" FINPULSE_DATA_DIR="$data" FINPULSE_LISTEN=127.0.0.1:$port \
    "$bin/finpulse" serve &
  server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  "$bin/finpulse-recommend-load" --server "127.0.0.1:$port" --rate "$rate" --seconds "$seconds" --users "$users" --warmup "$warmup"
  echo "server RSS: $(grep VmRSS /proc/$server/status)"
  exit 0
fi

scripts/stack up >/dev/null
id=benchrec$RANDOM$RANDOM
secret=bench-secret-$id-of-at-least-32-bytes
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
  env "${quiet[@]}" "${limits[@]}" \
      FINPULSE_KAFKA_BROKERS=${FP_TEST_KAFKA_BROKERS:-127.0.0.1:19092} \
      FINPULSE_REDIS_URL=${FP_TEST_REDIS_URL:-redis://127.0.0.1:6379} \
      FINPULSE_DATABASE_URL="${admin%/*}/$id" \
      FINPULSE_LOG__NAMESPACE=$id FINPULSE_FANOUT__CHANNEL_PREFIX=$id: \
      FINPULSE_CACHE__KEY_PREFIX=$id:cache: FINPULSE_RECOMMEND__ONLINE_FEATURES_PREFIX=$id:features: \
      FINPULSE_AUTH__JWT_SECRET=$secret \
      FINPULSE_LISTEN=127.0.0.1:$2 FINPULSE_DATA_DIR="$data" \
      "$bin/finpulse" serve --role "$1" &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$2/readyz" >/dev/null; do sleep 0.2; done
}
start worker $base
start gateway $((base + 1))
start gateway $((base + 2))
echo "== distributed: 1 worker, 2 gateways; pids: worker ${pids[0]}, gateways ${pids[1]} ${pids[2]}"
FP_JWT_SECRET=$secret "$bin/finpulse-recommend-load" \
  --server "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" \
  --rate "$rate" --seconds "$seconds" --users "$users" --warmup "$warmup"
for pid in "${pids[@]}"; do echo "pid $pid RSS: $(grep VmRSS /proc/$pid/status)"; done
