# finpulse: the two commands are `make run` and `make test`.
SHELL := bash
export CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/finpulse/target
# Caches (cargo target, npm) live outside the clone, so a warm run is fast.

.PHONY: run test setup-web setup-test fmt-check clippy rust-test e2e bench

## Runs finpulse on its embedded default (SQLite, in-process log and fan-out, simulator).
run: setup-web
	cargo run -p finpulse-gateway --bin finpulse -- serve

## Every check CI runs: formatting, lints, Rust tests, the graphql-http audit, browser tests.
test: setup-test fmt-check clippy rust-test e2e

setup-web:
	scripts/setup-web.sh

setup-test:
	scripts/setup-test.sh

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

rust-test:
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi

e2e:
	cargo build -p finpulse-gateway --bin finpulse
	cd e2e && node --test --test-concurrency=1 web/

## WebSocket fan-out benchmark (see BENCHMARKS.md): make bench CONNECTIONS=10000
CONNECTIONS ?= 1000
bench:
	scripts/bench-ws.sh $(CONNECTIONS) 30
