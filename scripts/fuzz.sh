#!/usr/bin/env bash
# Fuzz the policy parser (and the evaluator on whatever parses).
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
# Crashes land in fuzz/artifacts/policy_parse/; the growing corpus in fuzz/corpus/.
set -euo pipefail

seconds="${1:-60}"
cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

mkdir -p fuzz/corpus/policy_parse
# cargo-fuzz needs nightly flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
RUSTC_BOOTSTRAP=1 cargo fuzz run policy_parse \
  fuzz/corpus/policy_parse fuzz/seeds/policy_parse \
  -- -max_total_time="$seconds" -dict=fuzz/policy.dict
