"""The evidence-gathering bench of BENCHMARKS.md (issue #11): for each sample event and
two restore role shapes, the AWS calls one invocation makes, the sequential round trips
(the longest chain of calls each started after the previous one was answered, read from
the call log) and the invocation time with 0, 25 and 100 ms added to every AWS call.

  python gather_bench.py --binary target/release/restore-doctor-lambda [--runs 3] [--delays 0,25,100]

Starts moto (IAM, KMS, SNS, SQS) and aws_fake.py (AWS Backup restore-job reads, STS
DecodeAuthorizationMessage) as `make demo` does, puts latency_proxy.py in front of both,
creates the scenarios, and drives the release binary with lambda_timing.py's runtime API.
Role shapes:
  one-inline  the restore role (and the refused caller) with one inline policy;
  full        two inline policies, three attached customer managed policies and a
              permissions boundary on the restore roles; the same without the boundary
              on the refused caller, alice (moto implements no user boundary).
Prints a Markdown table; the invocation times are medians over --runs processes (cold:
the first invocation of a process; warm: the second). Calls and round trips are read
from the cold invocations at the largest delay, where the added latency dwarfs local
work; when runs differ, the round trips are given as a range and the longest chain
shown is the longest seen.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import boto3  # noqa: E402

import demo  # noqa: E402
import lambda_timing  # noqa: E402
from latency_proxy import Proxy, longest_chain  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
REGION, ACCOUNT = demo.REGION, demo.ACCOUNT
EVENTS = [
    "restore-job-failed-efs.json",
    "restore-job-failed-ec2-encoded.json",
    "start-restore-job-denied-user.json",
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"bench: {url} did not answer")


def start_services(tmp):
    fake = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "aws_fake.py"), "--tls-dir", os.path.join(tmp, "tls")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ports = {}
    while "TLS_PORT" not in ports:
        line = fake.stdout.readline()
        if not line:
            sys.exit("bench: the fake did not start")
        words = line.split()
        if words[0] == "PORT":
            ports["PORT"] = int(words[1])
        elif words[0] == "TLS_PORT":
            ports["TLS_PORT"], ports["CA"] = int(words[1]), words[3]
    moto_port = free_port()
    moto = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
        env=dict(os.environ, REQUESTS_CA_BUNDLE=ports["CA"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{moto_port}"
    wait_http(url + "/moto-api/", 90)
    return fake, moto, url, ports


def policy(statements):
    return demo.policy(statements)


def ec2_scenario(moto, fake_port, vault_key):
    """The encoded EC2 failure: the restore role may not pass the instance profile's role."""
    event = json.load(open(os.path.join(ROOT, "events", "restore-job-failed-ec2-encoded.json")))
    detail = event["detail"]
    role_arn = detail["iamRoleArn"]
    role_name = role_arn.rsplit("/", 1)[-1]
    iam = demo.client("iam", moto)
    trust = [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=policy(trust))
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="ec2-restore",
        PolicyDocument=policy([{"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateTags"], "Resource": "*"}]),
    )
    app_trust = [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    app_arn = iam.create_role(RoleName="AppRole", AssumeRolePolicyDocument=policy(app_trust))["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName="AppProfile")
    iam.add_role_to_instance_profile(InstanceProfileName="AppProfile", RoleName="AppRole")
    token = detail["statusMessage"].rsplit(": ", 1)[1]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/AWSBackup-{role_name}"
    decoded = {
        "allowed": False,
        "explicitDeny": False,
        "matchedStatements": {"items": []},
        "failures": {"items": []},
        "context": {
            "principal": {"id": f"AROAEXAMPLE:AWSBackup-{role_name}", "arn": session},
            "action": "iam:PassRole",
            "resource": app_arn,
            "conditions": {"items": [{"key": "aws:Service", "values": {"items": [{"value": "ec2"}]}}]},
        },
    }
    vault_arn = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:Default"
    rp_arn = event["resources"][0]
    demo.fake(
        fake_port,
        "POST",
        "/_fake/scenario",
        {
            "restoreJobs": {
                detail["restoreJobId"]: {
                    "describe": {
                        "AccountId": ACCOUNT,
                        "RestoreJobId": detail["restoreJobId"],
                        "RecoveryPointArn": rp_arn,
                        "BackupVaultArn": vault_arn,
                        "Status": "FAILED",
                        "StatusMessage": detail["statusMessage"],
                        "IamRoleArn": role_arn,
                        "ResourceType": "EC2",
                    },
                    "metadata": {
                        "IamInstanceProfileName": "AppProfile",
                        "InstanceType": "t3.micro",
                        "SubnetId": "subnet-0123456789abcdef0",
                    },
                }
            },
            "vaults": {
                "Default": {
                    "arn": vault_arn,
                    "recoveryPoints": {
                        rp_arn: {
                            "RecoveryPointArn": rp_arn,
                            "BackupVaultName": "Default",
                            "BackupVaultArn": vault_arn,
                            "ResourceType": "EC2",
                            "Status": "COMPLETED",
                            "IsEncrypted": True,
                            "EncryptionKeyArn": vault_key,
                            "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY",
                        }
                    },
                }
            },
            "tokens": {token: {"decoded": json.dumps(decoded)}},
        },
    )


def user_scenario(moto):
    """The refused StartRestoreJob's caller, alice."""
    iam = demo.client("iam", moto)
    iam.create_user(UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="backup-read",
        PolicyDocument=policy([{"Effect": "Allow", "Action": "backup:List*", "Resource": "*"}]),
    )


def set_shape(moto, full):
    """Gives the two restore roles and alice the one-inline or the full shape."""
    iam = demo.client("iam", moto)
    if not getattr(set_shape, "managed", None):
        set_shape.managed = [
            iam.create_policy(
                PolicyName=f"restore-managed-{i}",
                PolicyDocument=policy([{"Effect": "Allow", "Action": f"backup:Describe{i}*", "Resource": "*"}]),
            )["Policy"]["Arn"]
            for i in range(3)
        ]
        set_shape.boundary = iam.create_policy(
            PolicyName="restore-boundary",
            PolicyDocument=policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
        )["Policy"]["Arn"]
    extra = policy([{"Effect": "Allow", "Action": "tag:GetResources", "Resource": "*"}])
    principals = [
        ("role", "BackupRestoreRoleEFS"),
        ("role", "BackupRestoreRoleEC2"),
        ("user", "alice"),
    ]
    for kind, name in principals:
        key = {"RoleName": name} if kind == "role" else {"UserName": name}
        put = iam.put_role_policy if kind == "role" else iam.put_user_policy
        delete = iam.delete_role_policy if kind == "role" else iam.delete_user_policy
        attach = iam.attach_role_policy if kind == "role" else iam.attach_user_policy
        detach = iam.detach_role_policy if kind == "role" else iam.detach_user_policy
        put_boundary = iam.put_role_permissions_boundary if kind == "role" else iam.put_user_permissions_boundary
        del_boundary = iam.delete_role_permissions_boundary if kind == "role" else iam.delete_user_permissions_boundary
        # moto 5 implements no user permissions boundary (PutUserPermissionsBoundary):
        # alice gets the policies without it. A boundary adds no step to a chain anyway:
        # GetUser/GetRole -> GetPolicy -> GetPolicyVersion runs beside the policy lists.
        boundary = kind == "role"
        if full:
            put(PolicyName="restore-extra", PolicyDocument=extra, **key)
            for arn in set_shape.managed:
                attach(PolicyArn=arn, **key)
            if boundary:
                put_boundary(PermissionsBoundary=set_shape.boundary, **key)
        else:
            try:
                delete(PolicyName="restore-extra", **key)
                for arn in set_shape.managed:
                    detach(PolicyArn=arn, **key)
                if boundary:
                    del_boundary(**key)
            except iam.exceptions.NoSuchEntityException:
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--delays", default="0,25,100")
    args = p.parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    tmp = tempfile.mkdtemp(prefix="restore-doctor-bench.")
    fake, moto_proc, moto, ports = start_services(tmp)
    try:
        setup = SimpleNamespace(
            moto=moto,
            fake_port=ports["PORT"],
            fake_tls_port=ports["TLS_PORT"],
            event=os.path.join(ROOT, "events", EVENTS[0]),
        )
        out = os.path.join(tmp, "setup.json")
        with open(out, "w") as f:
            stdout, sys.stdout = sys.stdout, f
            try:
                demo.setup(setup)
            finally:
                sys.stdout = stdout
        topic = json.load(open(out))["topicArn"]
        kms = demo.client("kms", moto)
        vault_key = kms.create_key(Description="bench: key of the EC2 recovery point")["KeyMetadata"]["Arn"]
        ec2_scenario(moto, ports["PORT"], vault_key)
        user_scenario(moto)

        proxy = Proxy({"moto": moto, "fake": f"http://127.0.0.1:{ports['PORT']}"})
        env = {
            "TOPIC_ARN": topic,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.ports['moto']}",
            "AWS_ENDPOINT_URL_BACKUP": f"http://127.0.0.1:{proxy.ports['fake']}",
            "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{proxy.ports['fake']}",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DEDUP_CACHE_SIZE": "0",
        }
        rows = []
        for shape in ["one-inline", "full"]:
            set_shape(moto, shape == "full")
            for name in EVENTS:
                event = json.load(open(os.path.join(ROOT, "events", name)))
                row = {"event": name, "shape": shape, "times": {}}
                for delay in delays:
                    proxy.delay_ms = delay
                    cold, warm, chains = [], [], []
                    for _ in range(args.runs):
                        proxy.reset()
                        run = lambda_timing.run_once(args.binary, event, env)
                        if set(run["outcomes"].values()) != {"response"}:
                            sys.exit(f"bench: {name} failed: {run['responses']}")
                        marks = run["marks"]
                        calls = [
                            c
                            for c in proxy.calls()
                            if marks["cold:start"] <= c["start"] and c["end"] <= marks["cold:end"]
                        ]
                        chains.append(longest_chain(calls))
                        cold.append(run["cold_ms"])
                        warm.append(run["warm_ms"])
                    row["times"][delay] = (statistics.median(cold), statistics.median(warm))
                    # Chains are read where the added latency dwarfs local work.
                    if delay == max(delays):
                        row["calls"] = len(calls)
                        chain = max(chains, key=len)
                        lengths = sorted({len(c) for c in chains})
                        row["chain"] = "–".join(str(n) for n in (lengths[0], lengths[-1]) if n) if len(lengths) > 1 else str(lengths[0])
                        row["path"] = " → ".join(f"{c['service']}:{c['operation']}" for c in chain)
                        row["operations"] = sorted(f"{c['service']}:{c['operation']}" for c in calls)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        proxy.close()
    finally:
        fake.stdin.close()
        moto_proc.terminate()
        fake.wait()
        moto_proc.wait()

    head = "| event | role shape | AWS calls | sequential round trips | " + " | ".join(
        f"invocation at {d:g} ms/call (cold / warm)" for d in delays
    )
    print(head + " |")
    print("|" + " --- |" * (4 + len(delays)))
    for r in rows:
        times = " | ".join(f"{c:.0f} / {w:.0f} ms" for c, w in (r["times"][d] for d in delays))
        print(f"| `{r['event']}` | {r['shape']} | {r['calls']} | {r['chain']} | {times} |")
    print()
    print("The longest chain of each (at the largest delay):")
    print()
    for r in rows:
        print(f"- `{r['event']}`, {r['shape']}: {r['path']}")
    print()
    print("The calls of each:")
    print()
    for r in rows:
        print(f"- `{r['event']}`, {r['shape']}: " + ", ".join(r["operations"]))


if __name__ == "__main__":
    main()
