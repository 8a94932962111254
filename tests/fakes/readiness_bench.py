"""The readiness bench of BENCHMARKS.md (issue #13): `restore-doctor readiness` (the release
CLI) on an account with N recovery points across 50 restore roles, counting its AWS calls
by operation, its wall time and its peak resident memory, for each N.

  python readiness_bench.py --binary target/release/restore-doctor [--sizes 1000,10000]
      [--delays 0] [--roles 50] [--keys 10] [--vaults 5] [--combinations 500]

Where each operation is served:
  moto (IAM, KMS): the 50 restore roles (one inline policy each, one customer managed
    policy attached to all), five instance profiles for the EC2 restores and their roles,
    the KMS keys and their policies, iam:ListAccountAliases;
  tests/fakes/aws_fake.py (moto 5.2 implements none of these): every AWS Backup read
    (ListProtectedResources, ListBackupVaults, ListRecoveryPointsByBackupVault,
    ListRecoveryPointsByResource, GetRecoveryPointRestoreMetadata,
    DescribeRecoveryPoint, GetBackupVaultAccessPolicy, ListRestoreTestingPlans,
    ListRestoreTestingSelections, GetRestoreTestingSelection) and STS GetCallerIdentity.
    Its listings answer pages of 1,000 (the most AWS Backup returns per page).
tests/fakes/latency_proxy.py sits in front of both, adds --delays ms to every call and
logs each one (service, operation).

The account, for N recovery points (one protected resource each, its only recovery point,
in one of the vaults): five resource types (EFS, EBS, EC2, RDS, DynamoDB) in turn; resource
i uses combination c = i mod --combinations, with role c mod 50 (the role's type is the
resource's), key (c div 50) mod 10, and a vault that mixes both; each role is the role of
one restore testing selection (five plans of ten selections) that names its resources.
So every N >= --combinations has the same 50 roles, 10 keys, 5 vaults and 500 distinct
(role, key, vault) combinations: only the recovery points grow. Every seventh role (all
five types among them) may only kms:DescribeKey of the keys, so its restores that need the
key are not ready.

Prints a Markdown table (one row per N and delay) and the calls by operation. A fresh fake
(and proxy) per row; moto keeps the roles and keys for every row.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import demo  # noqa: E402
import gather_bench  # noqa: E402
from latency_proxy import Proxy  # noqa: E402

REGION, ACCOUNT = demo.REGION, demo.ACCOUNT
TYPES = ["EFS", "EBS", "EC2", "RDS", "DynamoDB"]
PROFILES = 5
# What each type's restore role may do when it is complete (broad on purpose: the bench
# measures calls and time, not the requirements).
ACTIONS = {
    "EFS": ["elasticfilesystem:*"],
    "EBS": ["ec2:*"],
    "EC2": ["ec2:*", "iam:PassRole"],
    "RDS": ["rds:*"],
    "DynamoDB": ["dynamodb:*"],
}
KMS = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def start_fake(tmp):
    fake = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "aws_fake.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    words = (fake.stdout.readline() or "x").split()
    if words[0] != "PORT":
        sys.exit("readiness bench: the fake did not start")
    return fake, int(words[1])


def start_moto():
    port = gather_bench.free_port()
    moto = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    gather_bench.wait_http(url + "/moto-api/", 90)
    return moto, url


def setup_moto(moto, roles, keys):
    """The restore roles, the EC2 instance profiles and the keys, once for every row."""
    iam = demo.client("iam", moto)
    kms = demo.client("kms", moto)
    trust = [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    shared = iam.create_policy(
        PolicyName="bench-restore-tagging",
        PolicyDocument=demo.policy([{"Effect": "Allow", "Action": ["tag:GetResources"], "Resource": "*"}]),
    )["Policy"]["Arn"]
    role_arns = []
    for r in range(roles):
        kind = TYPES[r % len(TYPES)]
        name = f"bench-restore-{kind.lower()}-{r:02d}"
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=demo.policy(trust))["Role"]["Arn"]
        actions = ACTIONS[kind] + (KMS if r % 7 else ["kms:DescribeKey"])
        iam.put_role_policy(
            RoleName=name,
            PolicyName="restore",
            PolicyDocument=demo.policy([{"Effect": "Allow", "Action": actions, "Resource": "*"}]),
        )
        iam.attach_role_policy(RoleName=name, PolicyArn=shared)
        role_arns.append(arn)
    ec2_trust = [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    for p in range(PROFILES):
        iam.create_role(RoleName=f"bench-app-{p}", AssumeRolePolicyDocument=demo.policy(ec2_trust))
        iam.create_instance_profile(InstanceProfileName=f"bench-profile-{p}")
        iam.add_role_to_instance_profile(InstanceProfileName=f"bench-profile-{p}", RoleName=f"bench-app-{p}")
    key_arns = [kms.create_key(Description=f"bench key {k}")["KeyMetadata"]["Arn"] for k in range(keys)]
    return role_arns, key_arns


def resource(kind, i):
    """(resource ARN, recovery point ARN, restore metadata) of resource i, shaped as AWS
    Backup names them for the type."""
    h = f"{i:017x}"
    a = f"{REGION}:{ACCOUNT}"
    uid = f"{i:08x}-0000-4000-8000-{i:012x}"
    if kind == "EFS":
        return (
            f"arn:aws:elasticfilesystem:{a}:file-system/fs-{h}",
            f"arn:aws:backup:{a}:recovery-point:{uid}",
            {"file-system-id": f"fs-{h}", "Encrypted": "true", "PerformanceMode": "generalPurpose",
             "newFileSystem": "true", "CreationToken": f"bench-{i}"},
        )
    if kind == "EBS":
        return (
            f"arn:aws:ec2:{a}:volume/vol-{h}",
            f"arn:aws:ec2:{REGION}::snapshot/snap-{h}",
            {"volumeId": f"vol-{h}", "encrypted": "true", "volumeType": "gp3",
             "availabilityZone": f"{REGION}a", "volumeSize": "8"},
        )
    if kind == "EC2":
        return (
            f"arn:aws:ec2:{a}:instance/i-{h}",
            f"arn:aws:ec2:{REGION}::image/ami-{h}",
            {"InstanceType": "t3.micro", "IamInstanceProfileName": f"bench-profile-{(i // len(TYPES)) % PROFILES}",
             "SubnetId": "subnet-0123456789abcdef0", "RequireIMDSv2": "true"},
        )
    if kind == "RDS":
        return (
            f"arn:aws:rds:{a}:db:db-{i}",
            f"arn:aws:rds:{a}:snapshot:awsbackup:job-{uid}",
            {"DBInstanceIdentifier": f"db-{i}-restored", "DBInstanceClass": "db.t3.micro", "Engine": "postgres"},
        )
    return (
        f"arn:aws:dynamodb:{a}:table/t{i}",
        f"arn:aws:dynamodb:{a}:table/t{i}/backup/0{1_700_000_000_000 + i}-{i:08x}",
        {"targetTableName": f"t{i}-restored", "encryptionType": "KMS"},
    )


def scenario(n, args, role_arns, key_arns):
    """The fake's state for n recovery points, and the distinct (role, key, vault) used."""
    vaults = {
        f"bench-vault-{v}": {
            "arn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:bench-vault-{v}",
            "policy": demo.policy(
                [{"Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}]
            ),
            "recoveryPoints": {},
        }
        for v in range(args.vaults)
    }
    protected = {}
    selected = collections.defaultdict(list)
    combinations = set()
    for i in range(n):
        c = i % args.combinations
        r = c % args.roles
        k = (c // args.roles) % args.keys
        v = (r + c // args.roles) % args.vaults
        kind = TYPES[r % len(TYPES)]
        arn, rp, metadata = resource(kind, i)
        key = key_arns[k]
        # The restore would encrypt with the same key: the target key is read once too.
        if kind == "EFS":
            metadata["KmsKeyId"] = key
        elif kind == "EBS":
            metadata["kmsKeyId"] = key
        elif kind == "DynamoDB":
            metadata["kmsMasterKeyArn"] = key
        vault = f"bench-vault-{v}"
        vaults[vault]["recoveryPoints"][rp] = {
            "RecoveryPointArn": rp,
            "BackupVaultName": vault,
            "BackupVaultArn": vaults[vault]["arn"],
            "ResourceArn": arn,
            "ResourceType": kind,
            "Status": "COMPLETED",
            "IsEncrypted": True,
            "EncryptionKeyArn": key,
            "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY",
            "CreationDate": 1_772_000_000.0 + i,
            "restoreMetadata": metadata,
        }
        protected[arn] = {"ResourceType": kind}
        selected[r].append(arn)
        combinations.add((r, k, v))
    plans = collections.defaultdict(dict)
    for r, arns in selected.items():
        plans[f"bench_plan_{r // 10}"][f"sel_{r:02d}"] = {
            "ProtectedResourceType": TYPES[r % len(TYPES)],
            "IamRoleArn": role_arns[r],
            "ProtectedResourceArns": arns,
        }
    state = {
        "vaults": vaults,
        "protectedResources": protected,
        "restoreTestingPlans": {p: {"selections": s} for p, s in plans.items()},
        "listPageSize": 1000,
        "callerAccount": ACCOUNT,
    }
    return state, combinations


def run_cli(binary, proxy, tmp):
    """The CLI once; (wall seconds, peak RSS KiB, exit code, headline)."""
    home = tempfile.mkdtemp(prefix="home.", dir=tmp)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, "none"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.ports['moto']}",
        "AWS_ENDPOINT_URL_BACKUP": f"http://127.0.0.1:{proxy.ports['fake']}",
        "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{proxy.ports['fake']}",
    }
    out_path = os.path.join(tmp, "readiness.txt")
    with open(out_path, "w") as out, open(os.path.join(tmp, "readiness.err"), "w") as err:
        start = time.monotonic()
        proc = subprocess.Popen([binary, "readiness"], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        headline = f.readline().strip()
    if code not in (0, 2):
        sys.exit(f"readiness bench: the CLI exited {code}: {open(os.path.join(tmp, 'readiness.err')).read()}")
    # ru_maxrss is in KiB on Linux.
    return wall, usage.ru_maxrss, code, headline


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--delays", default="0")
    p.add_argument("--roles", type=int, default=50)
    p.add_argument("--keys", type=int, default=10)
    p.add_argument("--vaults", type=int, default=5)
    p.add_argument("--combinations", type=int, default=500)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    delays = [float(d) for d in args.delays.split(",")]
    if args.roles % 10 or args.combinations % args.roles:
        sys.exit("readiness bench: --roles must be a multiple of 10 and divide --combinations")
    tmp = tempfile.mkdtemp(prefix="restore-doctor-readiness-bench.")
    moto_proc, moto = start_moto()
    rows = []
    try:
        role_arns, key_arns = setup_moto(moto, args.roles, args.keys)
        for n in sizes:
            state, combinations = scenario(n, args, role_arns, key_arns)
            for delay in delays:
                fake, fake_port = start_fake(tmp)
                try:
                    demo.fake(fake_port, "POST", "/_fake/scenario", state)
                    proxy = Proxy({"moto": moto, "fake": f"http://127.0.0.1:{fake_port}"}, delay)
                    try:
                        wall, rss, code, headline = run_cli(args.binary, proxy, tmp)
                        calls = collections.Counter(f"{c['service']}:{c['operation']}" for c in proxy.calls())
                    finally:
                        proxy.close()
                finally:
                    fake.stdin.close()
                    fake.wait()
                row = {
                    "recovery_points": n,
                    "delay_ms": delay,
                    "combinations": len(combinations),
                    "roles": len({c[0] for c in combinations}),
                    "keys": len({c[1] for c in combinations}),
                    "vaults": len({c[2] for c in combinations}),
                    "calls": dict(sorted(calls.items())),
                    "total": sum(calls.values()),
                    "wall_s": wall,
                    "peak_rss_kib": rss,
                    "exit": code,
                    "headline": headline,
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        moto_proc.terminate()
        moto_proc.wait()

    ops = sorted({op for r in rows for op in r["calls"]})
    print(
        "| recovery points | distinct (role, key, vault) | roles / keys / vaults | added latency | AWS calls | "
        "calls per recovery point | wall time | peak RSS | result |"
    )
    print("|" + " --- |" * 9)
    for r in rows:
        print(
            f"| {r['recovery_points']:,} | {r['combinations']:,} | {r['roles']} / {r['keys']} / {r['vaults']} | "
            f"{r['delay_ms']:g} ms | {r['total']:,} | {r['total'] / r['recovery_points']:.2f} | "
            f"{r['wall_s']:.1f} s | {r['peak_rss_kib'] / 1024:.1f} MiB | {r['headline'].split(': ', 1)[-1]} |"
        )
    print()
    print("AWS calls by operation:")
    print()
    print("| operation | " + " | ".join(f"{r['recovery_points']:,} RPs, {r['delay_ms']:g} ms" for r in rows) + " |")
    print("|" + " --- |" * (1 + len(rows)))
    for op in ops:
        print(f"| {op} | " + " | ".join(f"{r['calls'].get(op, 0):,}" for r in rows) + " |")


if __name__ == "__main__":
    main()
