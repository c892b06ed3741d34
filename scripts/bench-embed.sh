#!/usr/bin/env bash
# Embedding benchmark, finpulse beside Python: scripts/bench-embed.sh [SECONDS]
# Both run the model files of models.toml with 2 ONNX Runtime threads on the same sentences.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/finpulse/target}
scripts/setup-models.sh >/dev/null
cargo build --release -q -p finpulse-e2e --bin finpulse-embed-bench
venv="${FINPULSE_CACHE:-$HOME/.cache/finpulse}/pyref-onnx"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q "onnxruntime==1.32.0" "tokenizers==0.22.1" "numpy"
echo "== finpulse (Rust, ort + tokenizers, micro-batching)"
"$CARGO_TARGET_DIR/release/finpulse-embed-bench" --seconds "$seconds"
echo "== Python (onnxruntime + tokenizers)"
"$venv/bin/python" scripts/bench-embed.py --seconds "$seconds"
