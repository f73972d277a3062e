# flowlens — `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
BIN := $(or $(CARGO_TARGET_DIR),target)/release/flowlens
PYTHON ?= python3

.PHONY: help build release test test-rust test-python lint fmt bench demo fuzz fixtures clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Debug build
	$(CARGO) build

release: ## Optimized build (target/release/flowlens)
	$(CARGO) build --release

test: test-rust test-python ## All tests: Rust unit + CLI tests, then Python interop tests

test-rust: ## Rust unit, property and CLI tests
	$(CARGO) test --release

test-python: release ## pyarrow / pandas / Polars / DuckDB read our Parquet; SQL reports match flowlens
	FLOWLENS=$(BIN) $(PYTHON) -m pytest -q tests/python

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --release -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench: release ## Criterion benches and the end-to-end comparison with DuckDB (writes BENCHMARKS.md)
	$(CARGO) bench --bench parse
	$(CARGO) bench --bench ports
	$(CARGO) bench --bench formats
	$(PYTHON) scripts/bench.py
	$(PYTHON) scripts/bench_ports.py
	$(PYTHON) scripts/bench_servers.py --write
	$(PYTHON) scripts/bench_daily.py --write
	$(PYTHON) scripts/bench_formats.py --write

demo: release ## Run the nightly job (daily) on the sample archive in data/ and show the reports
	@bash scripts/demo.sh

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := nfdump argus binetflow zeek nfcapd

fuzz: ## Fuzz each exporter parser for FUZZ_SECONDS seconds (nightly toolchain + cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		$(CARGO) +nightly fuzz run -O $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

fixtures: ## Regenerate tests/data/formats from real traffic (root; nfdump softflowd argus tcpdump ssh)
	bash scripts/make-fixtures.sh

clean: ## Remove build outputs
	$(CARGO) clean
