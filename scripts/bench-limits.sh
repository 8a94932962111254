#!/usr/bin/env bash
# Peak memory and wall time of `restore-doctor simulate` on the crafted inputs of
# issue #8, section 6 (and their neighbours at AWS's limits), under /usr/bin/time -v.
#
# Usage: scripts/bench-limits.sh [path/to/restore-doctor]
#   (default: $CARGO_TARGET_DIR or target, release build; built first when missing)
# Prints one Markdown table row per shape: input size, exit code, peak RSS, wall time,
# and the first line of the answer (the decision, or the error that refused it).
# The goal (issue #8): every shape under 100 MB and 1 s, and past a limit a clear
# error with exit code 1.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-${CARGO_TARGET_DIR:-target}/release/restore-doctor}"
if [ ! -x "$bin" ]; then
  cargo build --release --locked --no-default-features --bin restore-doctor >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, os, sys

out = sys.argv[1]
ROLE = "arn:aws:sts::111122223333:assumed-role/restore/job"


def sim(resource, statements, context=None, principal=ROLE, action="s3:GetObject"):
    request = {
        "principal": principal,
        "action": action,
        "resource": {"resource": resource, "accountId": "111122223333"},
    }
    if context:
        request["context"] = context
    return {
        "request": request,
        "identityPolicies": [{"Version": "2012-10-17", "Statement": statements}],
    }


def write(name, value):
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(value, f, separators=(",", ":"))


def overlap(policy_chars, request_chars):
    # Long overlapping wildcards on both sides: the request resource stands for a set
    # of resources (`*` read as a pattern), the policy's resources are patterns too.
    # The Allow asks "do they overlap", the Deny "does it cover all of them".
    pattern = "arn:aws:s3:::" + "a*" * (policy_chars // 3)
    request = "arn:aws:s3:::" + "*a" * (request_chars // 2)
    return sim(request, [
        {"Effect": "Allow", "Action": "s3:*", "Resource": pattern},
        {"Effect": "Deny", "Action": "s3:*", "Resource": pattern[: len(pattern) // 2] + "b*"},
    ])


def glob(pattern_chars, text_chars):
    # `*aaa…b` against `aaa…a`: the worst case of a backtracking `*`, in a resource and
    # in a StringLike condition.
    pattern = "*" + "a" * pattern_chars + "b"
    return sim("arn:aws:s3:::" + "a" * text_chars, [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::" + pattern},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringLike": {"aws:UserAgent": pattern}}},
    ], context={"aws:UserAgent": "a" * min(text_chars, 4096)})


def for_any_value(patterns, values):
    # ForAnyValue:StringLike with many patterns against many request values, none
    # matching, so every pair is tried.
    return sim("arn:aws:s3:::b/k", [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": [f"p{i}*q" for i in range(patterns)]}}},
    ], context={"aws:TagKeys": [f"v{j}" for j in range(values)]})


def variables(count, name_chars):
    # Policy variables each standing for a long user name.
    user = "arn:aws:iam::111122223333:user/" + "u" * name_chars
    return sim("arn:aws:s3:::b/k", [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/" + "${aws:username}" * count},
    ], principal=user)


write("overlap-1k", overlap(1_000, 1_000))
write("overlap-10k", overlap(10_000, 2_000))
write("overlap-80k", overlap(80_000, 2_000))
write("overlap-240k", overlap(240_000, 2_000))
write("overlap-request-80k", overlap(1_000, 80_000))
write("glob-1k", glob(1_000, 2_000))
write("glob-60k", glob(60_000, 2_000))
write("glob-250k", glob(250_000, 250_000))
write("foranyvalue-100x100", for_any_value(100, 100))
write("foranyvalue-10kx1k", for_any_value(10_000, 1_000))
write("foranyvalue-10kx10k", for_any_value(10_000, 10_000))
write("variables-8kx2k", variables(8_000, 1_900))
PY

printf '| shape | input | exit | peak RSS | wall time | answer |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for f in "$work"/*.json; do
  name="$(basename "$f" .json)"
  size="$(wc -c <"$f")"
  set +e
  /usr/bin/time -v -o "$work/time" "$bin" simulate --input "$f" --format json \
    >"$work/out" 2>"$work/err"
  code=$?
  set -e
  rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")"
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")"
  if [ "$code" -eq 0 ]; then
    answer="$(grep -m1 '"result"' "$work/out" | tr -d ' ,')"
  else
    answer="$(head -c 160 "$work/err" | tr '\n' ' ')"
  fi
  printf '| %s | %s B | %s | %s MB | %s | %s |\n' \
    "$name" "$size" "$code" "$(awk "BEGIN {printf \"%.1f\", $rss_kb / 1024}")" "$wall" "$answer"
done
