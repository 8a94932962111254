#!/usr/bin/env bash
# The "Evidence gathering" figures of BENCHMARKS.md (issue #11): AWS calls, sequential
# round trips and invocation time at 0, 25 and 100 ms per AWS call, for the sample events
# and two restore role shapes. Builds the release Lambda binary, then runs
# tests/fakes/gather_bench.py (moto + aws_fake.py behind tests/fakes/latency_proxy.py).
#
#   bash scripts/bench-gather.sh [RUNS]      (RUNS processes per figure, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"
if [ ! -x "$root/.venv/bin/moto_server" ]; then
  echo "bench-gather: $root/.venv/bin/moto_server is missing: run \`make setup\`" >&2
  exit 1
fi
cargo build --quiet --release --locked --bin restore-doctor-lambda
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$root/.venv/bin/python" tests/fakes/gather_bench.py --binary "$target_dir/release/restore-doctor-lambda" --runs "${1:-3}"
