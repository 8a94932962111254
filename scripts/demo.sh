#!/usr/bin/env bash
# `make demo`: a failed EFS restore diagnosed end to end on this machine, no AWS account.
#
# Starts moto (IAM, KMS, SNS, SQS) and tests/fakes/aws_fake.py (the AWS Backup restore-job
# reads moto lacks), creates the scenario of events/restore-job-failed-efs.json (a restore
# role without any EFS or KMS permission, two KMS keys, a topic with an SQS queue, the
# Chatbot https endpoint and an email stand-in subscribed), runs the Lambda binary under
# cargo-lambda's runtime API emulator, invokes it with the event and prints the alert as
# each subscriber received it. Every process it starts is stopped on exit.
#
# `scripts/demo.sh --bench-lambda RUNS` sets up the same scenario and, instead of the
# emulator, measures the release binary with tests/fakes/lambda_timing.py (cold start,
# invocation times, peak memory: the "Lambda cold start and memory" table of
# BENCHMARKS.md).
#
# `scripts/demo.sh --org` (`make demo-org`) is the organization variant: the function in
# organization mode, a failure in member account B whose vault key is in central backup
# account C and whose OU has an SCP denying kms:CreateGrant (moto's Organizations, and
# its STS, whose AssumeRole acts in the role's account, so B and C are read through
# their reader roles); then a scheduled readiness run over this account and B, whose one
# summary finds B's file system not ready before anyone restores it again.
set -euo pipefail
bench_runs=""
org=""
if [ "${1:-}" = "--bench-lambda" ]; then bench_runs="${2:-7}"; fi
if [ "${1:-}" = "--org" ]; then org=1; fi
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"
export SAM_CLI_TELEMETRY=0
for tool in moto_server cargo-lambda python; do
  if [ ! -x "$root/.venv/bin/$tool" ]; then
    echo "demo: $root/.venv/bin/$tool is missing: run \`make setup\`" >&2
    exit 1
  fi
done
py="$root/.venv/bin/python"
event="$root/events/restore-job-failed-efs.json"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/restore-doctor-demo.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  exec 9>&- 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "demo: failed; logs were in $tmp:" >&2
    tail -n 20 "$tmp"/*.log "$tmp"/*.err 2>/dev/null >&2 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url seconds
  "$py" - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2); sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(f"demo: {url} did not answer")
PY
}
wait_port() { # port seconds
  "$py" - "$1" "$2" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(f"demo: nothing listens on {port}")
PY
}

profile=debug
[ -n "$bench_runs" ] && profile=release
echo "== building the Lambda binary (cargo build --$profile --bin restore-doctor-lambda)"
if [ "$profile" = release ]; then
  cargo build --quiet --release --bin restore-doctor-lambda
else
  cargo build --quiet --bin restore-doctor-lambda
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | "$py" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
binary="$target_dir/$profile/restore-doctor-lambda"

echo "== starting the fake (AWS Backup restore-job reads, STS) and moto"
mkfifo "$tmp/keep"
"$py" tests/fakes/aws_fake.py --tls-dir "$tmp/tls" <"$tmp/keep" >"$tmp/fake.out" 2>"$tmp/fake.err" &
pids+=($!)
exec 9>"$tmp/keep" # the fake exits when this script does, whatever happens
for _ in $(seq 1 300); do grep -q '^TLS_PORT' "$tmp/fake.out" 2>/dev/null && break; sleep 0.1; done
fake_port=$(awk '/^PORT /{print $2}' "$tmp/fake.out")
fake_tls_port=$(awk '/^TLS_PORT /{print $2}' "$tmp/fake.out")
ca=$(awk '/^TLS_PORT /{print $4}' "$tmp/fake.out")
[ -n "$fake_port" ] && [ -n "$fake_tls_port" ] || { echo "demo: the fake did not start" >&2; exit 1; }

moto_port=$(free_port)
REQUESTS_CA_BUNDLE="$ca" moto_server -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 &
pids+=($!)
moto="http://127.0.0.1:$moto_port"
wait_http "$moto/moto-api/" 90

org_env=()
if [ -n "$org" ]; then
  echo "== creating the organization: member account B in an OU with an SCP denying kms:CreateGrant, B's restore role, the vault key in central account C"
  "$py" tests/fakes/demo.py setup-org --moto "$moto" --fake-port "$fake_port" --fake-tls-port "$fake_tls_port" \
    --event "$event" --out "$tmp/org-event.json" >"$tmp/setup.json"
  event="$tmp/org-event.json"
  member=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["member"])' "$tmp/setup.json")
  # AssumeRole goes to the fake, which hands the member stack's and organization.yaml's
  # roles to moto (its credentials act in the role's account) and refuses any other.
  # Readiness is on, for this account and member account B (READINESS_ACCOUNTS).
  org_env=(MEMBER_READER_ROLE=RestoreDoctorReader ORGANIZATION_ID=o-a1b2c3d4e5
    ORGANIZATION_READ_ROLE_ARN=arn:aws:iam::123456789012:role/RestoreDoctorOrganizationReader
    READINESS_TABLE=restore-doctor-readiness READINESS_ACCOUNTS="$member")
else
  echo "== creating the scenario: role without EFS/KMS permissions, KMS keys, topic and queue"
  "$py" tests/fakes/demo.py setup --moto "$moto" --fake-port "$fake_port" --fake-tls-port "$fake_tls_port" \
    --event "$event" >"$tmp/setup.json"
fi
topic_arn=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["topicArn"])' "$tmp/setup.json")
queue_url=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["queueUrl"])' "$tmp/setup.json")

if [ -n "$bench_runs" ]; then
  echo "== timing $binary ($bench_runs fresh processes, a cold and a warm invocation each)"
  "$py" tests/fakes/lambda_timing.py --binary "$binary" --event "$event" --runs "$bench_runs" \
    --env TOPIC_ARN="$topic_arn" --env AWS_REGION=eu-west-1 --env AWS_ACCESS_KEY_ID=testing \
    --env AWS_SECRET_ACCESS_KEY=testing --env AWS_ENDPOINT_URL="$moto" \
    --env AWS_ENDPOINT_URL_BACKUP="http://127.0.0.1:$fake_port" \
    --env AWS_ENDPOINT_URL_STS="http://127.0.0.1:$fake_port" --env AWS_MAX_ATTEMPTS=1 \
    --env AWS_EC2_METADATA_DISABLED=true --env DEDUP_CACHE_SIZE=0
  exit 0
fi

echo "== starting the Lambda runtime API emulator (cargo-lambda lambda watch --only-lambda-apis)"
rt_port=$(free_port)
cargo-lambda lambda watch --only-lambda-apis -A 127.0.0.1 -P "$rt_port" >"$tmp/watch.log" 2>&1 &
pids+=($!)
wait_port "$rt_port" 120

AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$rt_port/.rt" TOPIC_ARN="$topic_arn" \
AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
AWS_ENDPOINT_URL="$moto" AWS_ENDPOINT_URL_BACKUP="http://127.0.0.1:$fake_port" \
AWS_ENDPOINT_URL_STS="http://127.0.0.1:$fake_port" AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true \
  env ${org_env[@]+"${org_env[@]}"} "$binary" >"$tmp/function.log" 2>"$tmp/function.err" &
pids+=($!)

echo "== invoking the function with ${event#"$root"/}"
cargo-lambda lambda invoke -A 127.0.0.1 -P "$rt_port" --data-file "$event" --output-format json _ | tee "$tmp/outcome.json"
echo

"$py" tests/fakes/demo.py show --moto "$moto" --fake-port "$fake_port" --queue-url "$queue_url"

if [ -n "$org" ]; then
  echo
  echo "== invoking the function with events/readiness-scheduled.json (EventBridge Scheduler's input): readiness of this account and B"
  cargo-lambda lambda invoke -A 127.0.0.1 -P "$rt_port" --data-file "$root/events/readiness-scheduled.json" \
    --output-format json _ | tee "$tmp/readiness.json"
  echo
  "$py" tests/fakes/demo.py show-readiness --moto "$moto" --fake-port "$fake_port" --queue-url "$queue_url"
fi

echo
echo "== the function's log (Powertools-style JSON; the evidence line reproduces the alert offline)"
grep -o '"message":"[^"]*"' "$tmp/function.log" | sort | uniq -c
