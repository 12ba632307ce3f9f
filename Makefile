# engine-slots — build, test, demo, bench.
#   make demo    the production scenario, three strategies side by side
#   make demo-cluster  the same incident, three proxy processes on one
#                remote table, the Redis primary killed halfway (Sentinel)
#   make test    installs what is missing (make deps), then everything: Rust
#                unit/property/stress tests (remote tables against throw-away
#                local redis-servers), loom models,
#                header freshness, C/C++ under sanitizers, Go with -race
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 600
export LOOM_MAX_PREEMPTIONS ?= 2
# Remote-table tests skip (loudly) without redis-server, except here.
export ES_REQUIRE_REDIS ?= 1

.PHONY: all build deps demo demo-cluster test test-rust test-c test-cpp test-install test-go fuzz fuzz-smoke install loom lint bench bench-go clean header

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --quiet --example demo

# Needs redis-server (installed by make deps when missing).
demo-cluster:
	@command -v redis-server >/dev/null || scripts/deps.sh
	$(CARGO) run --release --quiet --example demo_cluster

test: deps lint test-rust loom test-c test-cpp test-install fuzz-smoke test-go
	@echo "make test: all green"

# What a fresh machine lacks (clang, libFuzzer, GoogleTest, cmake, redis...),
# from apt; a no-op when all is there.
deps:
	scripts/deps.sh

test-rust:
	$(CARGO) test --release

loom:
	scripts/loom.sh

# C ABI: header alone as C11/C++17, C tests under ASan+UBSan.
test-c:
	scripts/test-c.sh

# C++ RAII layer (GoogleTest) and the README's C/C++ examples, ASan+UBSan.
test-cpp:
	scripts/test-cpp.sh

# make install into a temporary prefix; build C/C++ programs via pkg-config
# and via the CMake package (tests/install/cmake.sh).
test-install:
	tests/install/run.sh

# libFuzzer over the C ABI against a model: 60 s in make test, longer here.
fuzz-smoke:
	tests/fuzz/run.sh 60

fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

install:
	scripts/install.sh $(PREFIX)

# Go binding: vet, gofmt, tests with -race (and again with GOGC=1); then
# the reference proxy (examples/goproxy): gofmt, tidy, vet, tests with
# -race, its 300-client end-to-end test included.
test-go:
	bindings/engineslots/run-tests.sh
	examples/goproxy/run-tests.sh --no-build

# Regenerate include/engine_slots.h (tests/header_fresh.rs fails when stale).
header:
	scripts/gen-header.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --document-private-items --quiet
	bindings/engineslots/run-tests.sh --lint

# Rust and C benchmarks (scripts/bench.sh): criterion cycle table, contention
# table at 1/2/8/32 threads, CAS retries, C-ABI vs Rust cycle, 1-thread
# regression against the base commit; target/bench/summary.txt and the plots;
# then the Go binding against a pure-Go port of the seed design.
bench:
	scripts/bench.sh
	$(MAKE) bench-go

bench-go:
	bindings/engineslots/bench.sh

clean:
	$(CARGO) clean

# Crash safety at length (tests/crash.rs): a 20 s chaos run of six processes
# and a kill loop of 1000 SIGKILLs; then a Sentinel failover under 30 s of
# load on each side of the kill (tests/remote_failover.rs); `make test` runs
# the short versions.
.PHONY: soak
soak:
	ES_CHAOS_SECS=20 ES_KILLS=1000 $(CARGO) test --release --test crash -- --nocapture
	ES_FAILOVER_SECS=30 $(CARGO) test --release --test remote_failover -- --nocapture
