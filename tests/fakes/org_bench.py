"""The organization-mode bench of BENCHMARKS.md (issue #12): 1,000 failed-EFS-restore
events across 100 member accounts, served one after the other to one process of the
Lambda binary (one warm container) through a minimal Lambda runtime API, every AWS call
counted on its way to moto or the fake.

  python org_bench.py --binary target/release/restore-doctor-lambda [--accounts 100] [--per-account 10]

Starts moto (STS, IAM, KMS, SNS) and aws_fake.py (AWS Backup restore-job reads) as the
gathering bench does, with tests/fakes/latency_proxy.py in front of both (no added
latency: it only counts). Each member account gets a restore role (moto's AssumeRole acts
in the role's account, so the function reads each account through its
RestoreDoctorReader) and an account alias; the events go round the accounts (account 1
to N, then again), so every account's second failure comes after every other account's
first. The function runs in organization mode (MEMBER_READER_ROLE), propose-only.

Prints the figures for BENCHMARKS.md: sts:AssumeRole calls, iam:ListAccountAliases calls,
AWS calls per event by service and operation, events per second and milliseconds per
event (wall clock from the first event handed out to the last answer).
"""

import argparse
import collections
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import demo  # noqa: E402
import gather_bench  # noqa: E402
from latency_proxy import Proxy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
REGION, ACCOUNT = demo.REGION, demo.ACCOUNT
PREFIX = "/2018-06-01/runtime/invocation/"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:restore-doctor"


def serve(binary, events, env, timeout):
    """Runs `binary` under a runtime API that hands out `events` in order; returns
    (seconds from the first event handed out to the last answer, the answers)."""
    work = queue.Queue()
    for i, event in enumerate(events):
        work.put((f"bench-{i}", event))
    answers = {}
    marks = {}
    finished = threading.Event()

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != PREFIX + "next":
                self.send_error(404)
                return
            request_id, body = work.get()  # blocks once every event is out
            marks.setdefault("first", time.monotonic())
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path[len(PREFIX):].split("/") if self.path.startswith(PREFIX) else []
            if len(parts) == 2:
                answers[parts[0]] = (parts[1], body.decode("utf-8", "replace"))
                if len(answers) == len(events):
                    marks["last"] = time.monotonic()
                    finished.set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    # The binary is killed while it waits on `next`: that reset is expected.
    server.handle_error = lambda request, address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": "restore-doctor",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        }
    )
    proc = subprocess.Popen([binary], env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not finished.wait(timeout):
            sys.exit(f"org bench: {len(answers)} of {len(events)} events answered within {timeout} s")
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    return marks["last"] - marks["first"], answers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--per-account", type=int, default=10)
    p.add_argument("--timeout", type=int, default=1800)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="restore-doctor-org-bench.")
    fake, moto_proc, moto, ports = gather_bench.start_services(tmp)
    try:
        topic = demo.client("sns", moto).create_topic(Name="restore-doctor-org-bench")["TopicArn"]
        template = json.load(open(os.path.join(ROOT, "events", "restore-job-failed-efs.json")))
        trust = [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        read = [{"Effect": "Allow", "Action": "backup:DescribeRestoreJob", "Resource": "*"}]
        roles = []
        for i in range(args.accounts):
            account = f"7000000{i:05d}"
            iam = demo.client("iam", moto, demo.acting_in(account, moto))
            arn = iam.create_role(RoleName="BenchRestoreRole", AssumeRolePolicyDocument=demo.policy(trust))["Role"]["Arn"]
            iam.put_role_policy(RoleName="BenchRestoreRole", PolicyName="backup-read", PolicyDocument=demo.policy(read))
            iam.create_account_alias(AccountAlias=f"bench-member-{i:03d}")
            roles.append((account, arn))
        jobs, events = {}, []
        for round_ in range(args.per_account):
            for account, arn in roles:
                job_id = f"BE{round_:06d}-{account[-4:]}-4000-8000-{account}"
                jobs[job_id] = {
                    "describe": {
                        "AccountId": account,
                        "RestoreJobId": job_id,
                        "Status": "FAILED",
                        "StatusMessage": "Insufficient privileges to perform this action",
                        "IamRoleArn": arn,
                        "ResourceType": "EFS",
                    },
                    "metadata": {"file-system-id": "fs-0123456789abcdef0", "newFileSystem": "true"},
                }
                event = json.loads(json.dumps(template))
                event["id"] = f"bench-event-{round_}-{account}"
                event["account"] = account
                event["region"] = REGION
                event["detail"]["restoreJobId"] = job_id
                event["detail"]["iamRoleArn"] = arn
                events.append(event)
        demo.fake(ports["PORT"], "POST", "/_fake/scenario", {"restoreJobs": jobs})

        proxy = Proxy({"moto": moto, "fake": f"http://127.0.0.1:{ports['PORT']}"})
        moto_url = f"http://127.0.0.1:{proxy.ports['moto']}"
        env = {
            "TOPIC_ARN": topic,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_BACKUP": f"http://127.0.0.1:{proxy.ports['fake']}",
            # moto's AssumeRole acts in the role's account (the fake refuses every role).
            "AWS_ENDPOINT_URL_STS": moto_url,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "MEMBER_READER_ROLE": "RestoreDoctorReader",
            "ORGANIZATION_ID": "o-a1b2c3d4e5",
        }
        seconds, answers = serve(args.binary, events, env, args.timeout)
        calls = proxy.calls()
        proxy.close()
    finally:
        fake.stdin.close()
        moto_proc.terminate()
        fake.wait()
        moto_proc.wait()

    statuses = collections.Counter(
        json.loads(body).get("status", kind) if kind == "response" else kind for kind, body in answers.values()
    )
    if statuses != {"published": len(events)}:
        sys.exit(f"org bench: not every event was published: {dict(statuses)}")
    n = len(events)
    by_operation = collections.Counter(f"{c['service']}:{c['operation']}" for c in calls)
    by_service = collections.Counter(c["service"] for c in calls)
    build = "release" if f"{os.sep}release{os.sep}" in args.binary else "debug"
    print(f"{n} events, {args.accounts} accounts, {args.per_account} per account, {build} build")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| `sts:AssumeRole` calls | {by_operation['sts:AssumeRole']} |")
    print(f"| `iam:ListAccountAliases` calls | {by_operation['iam:ListAccountAliases']} |")
    print(f"| AWS calls per event, all services | {len(calls) / n:.2f} |")
    for service, count in sorted(by_service.items()):
        print(f"| AWS calls per event, {service} | {count / n:.2f} |")
    print(f"| events per second, sequential | {n / seconds:.1f} ({seconds * 1000 / n:.1f} ms per event) |")
    print()
    print("Calls by operation (total over the run):")
    print()
    for op, count in sorted(by_operation.items()):
        print(f"- {op}: {count}")


if __name__ == "__main__":
    main()
