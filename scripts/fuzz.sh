#!/usr/bin/env bash
# Fuzz the parsers: the policy parser (and the evaluator on whatever parses), the
# diagnosis on arbitrary evidence, failure messages and decoded messages, and the alert
# rendering on arbitrary reports (size limit, escaping).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET]   (default 60 seconds, every target)
# Crashes land in fuzz/artifacts/<target>/; the growing corpora in fuzz/corpus/<target>/.
set -euo pipefail

seconds="${1:-60}"
targets="${2:-policy_parse policy_evaluate diagnose_evidence alert_render event_parse}"
cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

for target in $targets; do
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  # The diagnosis starts from the case corpus's evidence files.
  [ "$target" = diagnose_evidence ] && seeds=(tests/cases/*/)
  dict=()
  case "$target" in
    policy_*) dict=(-dict=fuzz/policy.dict) ;;
    alert_render) dict=(-dict=fuzz/alert.dict -max_len=300000) ;;
  esac
  # cargo-fuzz needs nightly flags (-Z sanitizer); RUSTC_BOOTSTRAP lets stable accept them.
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" \
    -- -max_total_time="$seconds" "${dict[@]}"
done
