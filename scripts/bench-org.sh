#!/usr/bin/env bash
# The "Organization mode" figures of BENCHMARKS.md (issue #12): 1,000 failed restores
# across 100 member accounts, one warm container of the release Lambda binary, every AWS
# call counted. Builds the release binary (whole-program LTO: slow the first time), then
# runs tests/fakes/org_bench.py (moto + aws_fake.py behind tests/fakes/latency_proxy.py).
#
#   bash scripts/bench-org.sh [ACCOUNTS [PER_ACCOUNT]]     (default 100 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
binary=$(release_binary restore-doctor-lambda bench-org)
exec "$root/.venv/bin/python" tests/fakes/org_bench.py --binary "$binary" \
  --accounts "${1:-100}" --per-account "${2:-10}"
