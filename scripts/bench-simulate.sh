#!/usr/bin/env bash
# Throughput and peak memory of `restore-doctor simulate` on many cases at once: the
# input is streamed, so memory should follow the largest case, not the number of cases.
#
# Usage: scripts/bench-simulate.sh [path/to/restore-doctor] [cases ...]
#   (default binary: $CARGO_TARGET_DIR or target, release build, built first when
#   missing; default case counts: 1000 5000 20000)
# Each case is one decision in the shape of the public IAM simulator corpora: a request
# with context, two identity policies, a permissions boundary, an SCP level and a
# resource policy (about 1.9 KB of JSON), cycling through allow, implicit deny and
# explicit deny. Prints one Markdown table row per count: input size, exit code, peak
# RSS, wall time, and decisions per second.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-${CARGO_TARGET_DIR:-target}/release/restore-doctor}"
shift || true
counts=("$@")
if [ ${#counts[@]} -eq 0 ]; then counts=(1000 5000 20000); fi
if [ ! -x "$bin" ]; then
  cargo build --release --locked --no-default-features --bin restore-doctor >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "| cases | input | exit | peak RSS | wall time | decisions/s |"
echo "| --- | --- | --- | --- | --- | --- |"
for n in "${counts[@]}"; do
  python3 - "$work/cases.json" "$n" <<'PY'
import json, sys

path, n = sys.argv[1], int(sys.argv[2])
ACCOUNT = "111122223333"


def case(i):
    bucket = f"bucket-{i % 97}"
    action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"][i % 3]
    return {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/role-{i % 13}/session",
            "action": action,
            "resource": {"resource": f"arn:aws:s3:::{bucket}/key-{i}", "accountId": ACCOUNT},
            "context": {"aws:SourceIp": f"10.0.{i % 250}.{i % 200}", "aws:PrincipalTag/team": ["a", "b", "c"][i % 3]},
        },
        "identityPolicies": [
            {"Version": "2012-10-17", "Statement": [
                {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::bucket-{i % 97}/*", f"arn:aws:s3:::bucket-{i % 97}"]},
                {"Sid": "WriteFromOffice", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket-*/*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/16"}}}]},
            {"Version": "2012-10-17", "Statement": [
                {"Sid": "NoDeleteButTeamA", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*",
                 "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "a"}}}]},
        ],
        "permissionBoundaries": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}],
        "serviceControlPolicies": [{"orgIdentifier": "r-root", "policies": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]}],
        "resourcePolicy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
    }


with open(path, "w") as f:
    f.write("[")
    for i in range(n):
        if i:
            f.write(",")
        json.dump(case(i), f)
    f.write("]")
PY
  size=$(stat -c %s "$work/cases.json")
  set +e
  /usr/bin/time -v -o "$work/time" "$bin" simulate --input "$work/cases.json" --format json \
    >"$work/out" 2>"$work/err"
  code=$?
  set -e
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
  python3 - "$n" "$size" "$code" "$rss_kb" "$wall" <<'PY'
import sys

n, size, code, rss_kb, wall = sys.argv[1:]
parts = [float(p) for p in wall.split(":")]
seconds = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
rate = f"{int(n) / seconds:,.0f}" if seconds > 0 else "n/a"
print(f"| {int(n):,} | {int(size) / 1e6:.1f} MB | {code} | {int(rss_kb) / 1024:.1f} MiB | {wall} | {rate} |")
PY
done
