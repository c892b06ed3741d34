"""Python side of the embedding benchmark (see BENCHMARKS.md): onnxruntime + tokenizers on the
same model files, the same 256 sentences and the same thread count as finpulse-embed-bench.

single: one sentence per run, back to back; batched: runs of 32; rate: one sentence per call at a
fixed rate, open loop (latency counts from when a call was due), processed one at a time as a
Python service would.
"""
import argparse
import pathlib
import time

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "minilm-l6-v2"


def sentences():
    subjects = ["The central bank", "Apple", "My account", "The customer", "Bitcoin", "The fund", "Our support team", "The bond market"]
    verbs = ["raised", "cut", "reported", "questioned", "reviewed", "blocked", "confirmed", "delayed"]
    objects = ["interest rates by a quarter point", "its quarterly revenue forecast", "a duplicate card payment", "the wire transfer to Germany", "the overnight funding costs", "a refund for the failed order", "the password reset request", "dividend payments for next year"]
    tails = ["after a long meeting on Wednesday.", "despite warnings from analysts.", "and markets reacted quickly.", "which surprised most investors."]
    return [f"{subjects[i % 8]} {verbs[(i // 8) % 8]} {objects[(i // 64 + i) % 8]} {tails[(i // 2) % 4]}" for i in range(256)]


class Embedder:
    def __init__(self, threads):
        self.tokenizer = Tokenizer.from_file(str(MODELS / "tokenizer.json"))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer.enable_truncation(max_length=256)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(MODELS / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def embed(self, texts):
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (states,) = self.session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    texts = sentences()
    embedder = Embedder(args.threads)
    embedder.embed(texts[:32])

    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        embedder.embed([texts[done % len(texts)]])
        done += 1
    elapsed = time.perf_counter() - start
    print(f"single   {done:>7} texts in {elapsed:.1f} s: {done / elapsed:.1f} texts/s")

    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        batch = [texts[(done + j) % len(texts)] for j in range(32)]
        embedder.embed(batch)
        done += 32
    elapsed = time.perf_counter() - start
    print(f"batched  {done:>7} texts in {elapsed:.1f} s: {done / elapsed:.1f} texts/s (runs of 32)")

    calls = int(args.seconds * args.rate)
    interval = 1.0 / args.rate
    latencies = []
    start = time.perf_counter()
    for i in range(calls):
        due = start + i * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        embedder.embed([texts[i % len(texts)]])
        latencies.append((time.perf_counter() - due) * 1000.0)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"rate     {calls} calls at {args.rate:.0f}/s: p50 {p(0.5):.2f} ms  p99 {p(0.99):.2f} ms  max {latencies[-1]:.2f} ms")


if __name__ == "__main__":
    main()
