#!/usr/bin/env bash
# The "Evidence gathering" figures of BENCHMARKS.md (issue #11): AWS calls, sequential
# round trips and invocation time at 0, 25 and 100 ms per AWS call, for the sample events
# and two restore role shapes. Builds the release Lambda binary, then runs
# tests/fakes/gather_bench.py (moto + aws_fake.py behind tests/fakes/latency_proxy.py).
#
#   bash scripts/bench-gather.sh [RUNS]      (RUNS processes per figure, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
binary=$(release_binary restore-doctor-lambda bench-gather)
exec "$root/.venv/bin/python" tests/fakes/gather_bench.py --binary "$binary" --runs "${1:-3}"
