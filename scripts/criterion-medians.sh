#!/usr/bin/env bash
# Prints the median of every criterion benchmark last run (target/criterion/**/new/
# estimates.json), one Markdown table row per benchmark: the figures BENCHMARKS.md
# quotes. Run `make bench` (or `cargo bench --no-default-features --bench NAME`) first.
#
# Usage: scripts/criterion-medians.sh [filter]   (filter: a substring of the benchmark id)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${CARGO_TARGET_DIR:-target}/criterion"
python3 - "$root" "${1:-}" <<'PY'
import json, os, sys

root, needle = sys.argv[1], sys.argv[2]
rows = []
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        bench = json.load(f)
    full = bench.get("full_id") or bench.get("title")
    if needle and needle not in full:
        continue
    with open(os.path.join(dirpath, "estimates.json")) as f:
        ns = json.load(f)["median"]["point_estimate"]
    if ns >= 1e6:
        shown = f"{ns / 1e6:.2f} ms"
    elif ns >= 1e3:
        shown = f"{ns / 1e3:.1f} µs"
    else:
        shown = f"{ns:.0f} ns"
    rows.append((full, shown))
print("| benchmark | median |")
print("| --- | --- |")
for full, shown in sorted(rows):
    print(f"| {full} | {shown} |")
PY
