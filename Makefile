# restore-doctor: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build test lint bench demo demo-org fuzz conformance clean

## setup: install the pinned test tools (moto, cfn-lint, SAM CLI, cargo-lambda) into .venv
setup:
	@bash scripts/setup.sh

build:
	cargo build --release --locked

## test: every test: unit, property, snapshot, moto integration, Lambda emulator, template lint
test: setup
	bash scripts/test.sh

## lint: formatting, clippy (warnings are errors) and the SAM template checks
lint: setup
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --all-targets --no-default-features -- -D warnings
	bash scripts/lint-template.sh

## bench: criterion benchmarks (figures go to BENCHMARKS.md)
bench:
	cargo bench --locked --no-default-features --bench evaluate --bench diagnose --bench limits

## demo: moto + the Lambda under a local runtime emulator + a sample failed EFS restore
demo: setup
	bash scripts/demo.sh

## demo-org: the organization variant: a member account's failure, the central key, an OU's SCP
demo-org: setup
	bash scripts/demo.sh --org

## fuzz: the policy parser fuzz target (nightly features via RUSTC_BOOTSTRAP, not in CI)
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	cargo clean
