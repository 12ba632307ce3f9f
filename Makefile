# engine-slots — build, test, demo, bench.
#   make demo    the production scenario, three strategies side by side
#   make test    everything: Rust unit/property/stress tests, loom models,
#                header freshness, C/C++ under sanitizers, Go with -race
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
export LOOM_MAX_PREEMPTIONS ?= 2

.PHONY: all build demo test test-rust test-c test-go loom lint bench bench-go clean header

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --quiet --example demo

test: lint test-rust loom test-c test-go
	@echo "make test: all green"

test-rust:
	$(CARGO) test --release

loom:
	scripts/loom.sh

# C ABI: header alone as C11/C++17, C tests under ASan+UBSan.
test-c:
	scripts/test-c.sh

# Go binding: vet, gofmt, tests with -race (and again with GOGC=1).
test-go:
	bindings/go/run-tests.sh

# Regenerate include/engine_slots.h (tests/header_fresh.rs fails when stale).
header:
	scripts/gen-header.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	cd bindings/go && test -z "$$(gofmt -l .)" && go vet ./...

bench: bench-go
	$(CARGO) bench

bench-go:
	bindings/go/bench.sh

clean:
	$(CARGO) clean
