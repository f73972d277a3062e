# flowlens — `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
BIN := $(or $(CARGO_TARGET_DIR),target)/release/flowlens
# The Python that creates the virtual environment; the tests and benchmarks run in .venv.
PYTHON ?= python3
VENV_PYTHON := .venv/bin/python
REQUIREMENTS := tests/python/requirements.txt

.PHONY: help build release install test test-rust test-python venv lint fmt bench demo fuzz fixtures clean screenshots sql

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## Debug build
	$(CARGO) build

release: ## Optimized build (target/release/flowlens)
	$(CARGO) build --release

# Where `make install` puts bin/flowlens: cargo's own root (~/.cargo, whose bin rustup puts on
# PATH) unless PREFIX is given, e.g. PREFIX=/usr/local.
PREFIX ?=

install: ## Put flowlens on PATH: cargo install into ~/.cargo/bin, or PREFIX/bin (make install PREFIX=/usr/local)
	$(CARGO) install --path . --locked $(if $(PREFIX),--root $(PREFIX))

test: test-rust test-python ## All tests: Rust unit + CLI tests, then Python interop tests

# The tests that need dnsmasq (tests/ports.rs, `dnsmasq` in their names) are #[ignore]d, so that
# `cargo test` reports them as ignored where it is missing; test-rust runs them when it is
# installed. DNS_TESTS=yes runs them in any case, so that a missing dnsmasq fails (.ci/run, which
# installs it, says so); DNS_TESTS=no leaves them out.
DNSMASQ := $(shell PATH="$$PATH:/usr/sbin:/sbin:/usr/local/sbin" command -v dnsmasq)
DNS_TESTS ?= $(if $(DNSMASQ),yes,no)

test-rust: ## Rust unit, property and CLI tests (the reverse DNS test when dnsmasq is installed)
	$(CARGO) test --release
ifeq ($(DNS_TESTS),yes)
	$(CARGO) test --release --test ports dnsmasq -- --ignored
else
	@echo "make test-rust: NOT RUN: the reverse DNS test (tests/ports.rs, ignored above) needs dnsmasq: apt-get install dnsmasq"
endif

# tests/python/test_report.py opens the report page in headless Chromium. BROWSER_TESTS=yes (the
# default when chromium is installed; .ci/run, which installs it, sets it) makes a missing
# chromium a failure; BROWSER_TESTS=no skips it. UPDATE_SCREENSHOTS=1 writes the README's
# screenshots (docs/report.png, docs/report-phone.png) from that test: make screenshots.
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
BROWSER_TESTS ?= $(if $(CHROMIUM),yes,no)

test-python: release venv ## pyarrow / pandas / Polars / DuckDB read our Parquet; SQL reports match flowlens; the report page in Chromium
	FLOWLENS=$(BIN) BROWSER_TESTS=$(BROWSER_TESTS) $(VENV_PYTHON) -m pytest -q -rs tests/python

screenshots: release venv ## Write docs/report.png and docs/report-phone.png (the report page in headless Chromium)
	FLOWLENS=$(BIN) BROWSER_TESTS=yes UPDATE_SCREENSHOTS=1 $(VENV_PYTHON) -m pytest -q -rs tests/python/test_report.py -k chromium

# .venv/requirements.txt is the stamp: a copy of the requirements the environment was made from.
# The environment is made again when they differ or its Python no longer runs; pip is told to
# refuse to install outside a virtual environment.
venv: ## Python virtual environment .venv from tests/python/requirements.txt (re-created when that file changes)
	@if cmp -s $(REQUIREMENTS) .venv/requirements.txt && $(VENV_PYTHON) -c '' 2>/dev/null; then exit 0; fi; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
		echo "make venv: $(PYTHON) cannot create a virtual environment (Debian: apt-get install python3-venv; .ci/run does)" >&2; exit 1; }; \
	echo "make venv: creating .venv from $(REQUIREMENTS)"; \
	rm -rf .venv && $(PYTHON) -m venv .venv && \
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check --require-virtualenv -r $(REQUIREMENTS) && \
	cp $(REQUIREMENTS) .venv/requirements.txt

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --release -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench: release venv ## Criterion benches, the end-to-end comparison with DuckDB (writes BENCHMARKS.md), nfcapd vs nfdump, SiLK rw vs rwcut text
	$(CARGO) bench --bench parse
	$(CARGO) bench --bench ports
	$(CARGO) bench --bench formats
	$(VENV_PYTHON) scripts/bench.py
	$(VENV_PYTHON) scripts/bench_ports.py
	$(VENV_PYTHON) scripts/bench_servers.py --write
	$(VENV_PYTHON) scripts/bench_daily.py --write
	$(VENV_PYTHON) scripts/bench_formats.py --write
	$(VENV_PYTHON) scripts/bench_bigdays.py --write
	scripts/bench-nfcapd.sh 1300000 3   # nfcapd → Parquet vs nfdump -r FILE -o csv (≥1M flows)
	scripts/bench-silk.sh 1700 3        # SiLK rw → Parquet vs rwcut text → Parquet (1M rows)

demo: release ## Run the nightly job (daily) on the sample archive in data/ and show the reports
	@bash scripts/demo.sh

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := nfdump argus binetflow zeek nfcapd silk

fuzz: ## Fuzz each exporter parser for FUZZ_SECONDS seconds (nightly toolchain + cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		$(CARGO) +nightly fuzz run -O $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

sql: release ## Rewrite the checked-in queries sql/DIALECT/REPORT.sql (the defaults of `flowlens sql`)
	@for d in duckdb spark trino; do for r in ports servers findings; do \
		mkdir -p sql/$$d && $(BIN) sql $$r --dialect $$d > sql/$$d/$$r.sql || exit 1; \
	done; done

fixtures: ## Regenerate tests/data/formats from real traffic (root; nfdump softflowd argus tcpdump ssh)
	bash scripts/make-fixtures.sh

clean: ## Remove build outputs and the Python virtual environment
	$(CARGO) clean
	rm -rf .venv
