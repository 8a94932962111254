#!/usr/bin/env bash
# The "Restore readiness" figures of BENCHMARKS.md (issue #13): `restore-doctor readiness`
# (the release CLI) on an account with 1,000 and 10,000 recovery points across the same 50
# restore roles, 10 keys and 5 vaults: AWS calls by operation, wall time, peak RSS. Builds
# the release CLI, then runs tests/fakes/readiness_bench.py (moto: IAM, KMS; aws_fake.py:
# every AWS Backup read and STS GetCallerIdentity; tests/fakes/latency_proxy.py in front
# of both counts the calls and adds the latency asked).
#
#   bash scripts/bench-readiness.sh [SIZES [DELAYS_MS]]   (default: 1000,10000 and 0)
#   e.g. bash scripts/bench-readiness.sh 1000 25           (1,000 at 25 ms per AWS call)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
binary=$(release_binary restore-doctor bench-readiness)
exec "$root/.venv/bin/python" tests/fakes/readiness_bench.py --binary "$binary" \
  --sizes "${1:-1000,10000}" --delays "${2:-0}"
