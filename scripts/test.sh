#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
export RESTORE_DOCTOR_TOOLS="$PWD/.venv/bin"

echo "== lint"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --no-default-features -- -D warnings
bash scripts/lint-template.sh

echo "== tests"
cargo test --locked --all-targets --no-fail-fast
