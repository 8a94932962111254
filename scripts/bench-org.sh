#!/usr/bin/env bash
# The "Organization mode" figures of BENCHMARKS.md (issue #12): 1,000 failed restores
# across 100 member accounts, one warm container of the release Lambda binary, every AWS
# call counted. Builds the release binary (whole-program LTO: slow the first time), then
# runs tests/fakes/org_bench.py (moto + aws_fake.py behind tests/fakes/latency_proxy.py).
#
#   bash scripts/bench-org.sh [ACCOUNTS [PER_ACCOUNT]]     (default 100 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"
if [ ! -x "$root/.venv/bin/moto_server" ]; then
  echo "bench-org: $root/.venv/bin/moto_server is missing: run \`make setup\`" >&2
  exit 1
fi
cargo build --quiet --release --locked --bin restore-doctor-lambda
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$root/.venv/bin/python" tests/fakes/org_bench.py --binary "$target_dir/release/restore-doctor-lambda" \
  --accounts "${1:-100}" --per-account "${2:-10}"
