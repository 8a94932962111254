#!/usr/bin/env python3
"""Generates data/operations.json: API operation name -> IAM action, per IAM action prefix.

Reads botocore's service models (installed with moto in the project's venv):
  botocore/data/<model>/<version>/service-2.json(.gz)
and writes, for each service a restore path uses, every operation name under the IAM
action prefix that authorizes it. A model is mapped only when its IAM prefix is known
(the `PREFIXES` table says how); S3 is listed but not mapped, because its operation
names are not its action names (HeadObject is authorized as s3:GetObject, ListObjectsV2
as s3:ListBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).

Usage: .venv/bin/python scripts/gen-operations.py > data/operations.json
       (run from the repository root; --check compares with the committed file)
"""

import gzip
import json
import os
import sys

import botocore

MANAGED = [
    "tests/data/AWSBackupServiceRolePolicyForRestores.json",
    "tests/data/AWSBackupServiceRolePolicyForS3Restore.json",
]

# botocore model -> (IAM action prefix or None, how the prefix is known).
# "managed policy" means AWSBackupServiceRolePolicyForRestores (or the S3 restore policy)
# grants actions with this prefix (checked below: the script fails if not).
PREFIXES = {
    "efs": ("elasticfilesystem", "managed policy; endpointPrefix elasticfilesystem"),
    "ec2": ("ec2", "managed policy"),
    "ebs": ("ebs", "managed policy (EBS direct APIs)"),
    "rds": ("rds", "managed policy"),
    # DocumentDB and Neptune management APIs are signed as and authorized by `rds`
    # (their models' signingName is rds; Neptune: "Neptune uses the rds: prefix for
    # management actions", https://docs.aws.amazon.com/neptune/latest/userguide/iam-admin-policies.html;
    # DocumentDB: https://docs.aws.amazon.com/documentdb/latest/developerguide/UsingWithRDS.IAM.AccessControl.IdentityBased.html).
    "docdb": ("rds", "signingName rds; DocumentDB IAM docs"),
    "neptune": ("rds", "signingName rds; Neptune IAM docs"),
    "dynamodb": ("dynamodb", "managed policy"),
    "fsx": ("fsx", "managed policy"),
    "ds": ("ds", "managed policy"),
    "redshift": ("redshift", "managed policy"),
    "redshift-serverless": ("redshift-serverless", "managed policy"),
    # endpointPrefix ingest.timestream / query.timestream, signingName timestream.
    "timestream-write": ("timestream", "managed policy; signingName timestream"),
    "timestream-query": ("timestream", "managed policy; signingName timestream"),
    "backup-gateway": ("backup-gateway", "managed policy"),
    "storagegateway": ("storagegateway", "managed policy"),
    "cloudformation": ("cloudformation", "managed policy"),
    "eks": ("eks", "managed policy"),
    "dsql": ("dsql", "managed policy"),
    "kms": ("kms", "managed policy"),
    "iam": ("iam", "managed policy"),
    "backup": ("backup", "managed policy"),
    "sts": ("sts", "IAM docs: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html"),
    "s3": (None, "not mapped: S3 operation names differ from its IAM actions (HeadObject -> s3:GetObject, ListObjectsV2 -> s3:ListBucket)"),
}

def model_path(root, model):
    base = os.path.join(root, model)
    versions = sorted(v for v in os.listdir(base) if os.path.isdir(os.path.join(base, v)))
    for v in reversed(versions):
        for name in ("service-2.json", "service-2.json.gz"):
            p = os.path.join(base, v, name)
            if os.path.exists(p):
                return v, p
    raise SystemExit(f"no service model for {model}")


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def managed_actions():
    actions = set()
    for path in MANAGED:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        stmts = doc.get("Statement", doc.get("PolicyVersion", {}).get("Document", {}).get("Statement", []))
        for s in stmts:
            a = s.get("Action", [])
            actions.update([a] if isinstance(a, str) else a)
    return actions


def main():
    root = os.path.join(os.path.dirname(botocore.__file__), "data")
    managed = managed_actions()
    services = {}
    for model, (prefix, how) in PREFIXES.items():
        version, path = model_path(root, model)
        m = load(path)
        meta = m["metadata"]
        ops = sorted(m["operations"])
        key = prefix or model
        entry = services.setdefault(key, {"iamPrefix": prefix, "models": [], "operations": []})
        entry["models"].append({
            "model": f"{model} {version}",
            "endpointPrefix": meta.get("endpointPrefix"),
            "signingName": meta.get("signingName"),
            "prefixKnownFrom": how,
        })
        if prefix is None:
            continue
        if how.startswith("managed policy") and not any(a.startswith(prefix + ":") for a in managed):
            raise SystemExit(f"{model}: the managed policies grant no `{prefix}:` action")
        entry["operations"] = sorted(set(entry["operations"]) | set(ops))
    out = {
        "source": f"botocore {botocore.__version__} service models, generated by scripts/gen-operations.py; IAM prefixes per model as listed (AWSBackupServiceRolePolicyForRestores, AWS service documentation)",
        "services": services,
    }
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        with open("data/operations.json", encoding="utf-8") as f:
            if f.read() != text:
                raise SystemExit("data/operations.json is out of date: regenerate it")
        return
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
