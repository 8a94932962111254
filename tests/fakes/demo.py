"""The `make demo` scenario: a failed EFS restore whose role lacks every EFS and KMS
permission, set up in moto (IAM, KMS, SNS, SQS) and in aws_fake.py (Backup restore-job
reads), and the alert read back afterwards.

  python demo.py setup --moto URL --fake-port N --fake-tls-port N --event FILE
      prints {"topicArn": ..., "queueUrl": ...}
  python demo.py setup-org --moto URL --fake-port N --fake-tls-port N --event FILE --out FILE
      the organization variant (`make demo-org`): an organization in moto (this account
      its management and central account), member account B in an OU whose SCP denies
      kms:CreateGrant, B's restore role, the vault key in central backup account C
      (shared with B by its key policy); writes B's event to --out, prints as setup
  python demo.py show --moto URL --fake-port N --queue-url URL
      prints the alert as each kind of subscriber got it

Uses boto3 (installed with moto) with fake credentials; talks to nothing but 127.0.0.1.
"""

import argparse
import json
import sys
import time
import urllib.request

import boto3

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def client(service, moto, credentials=None):
    keys = credentials or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
    )


def acting_in(account, moto):
    """Credentials acting in `account` of moto (its AssumeRole acts in the role's account)."""
    out = client("sts", moto).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/demo-setup", RoleSessionName="demo-setup"
    )
    return out["Credentials"]


def fake(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def setup(args):
    event = json.load(open(args.event))
    detail = event["detail"]
    job_id = detail["restoreJobId"]
    role_arn = detail["iamRoleArn"]
    role_name = role_arn.rsplit("/", 1)[-1]
    path = "/" + "".join(p + "/" for p in role_arn.split(":role/", 1)[1].split("/")[:-1])

    iam = client("iam", args.moto)
    iam.create_role(
        RoleName=role_name,
        Path=path,
        AssumeRolePolicyDocument=policy(
            [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        ),
        Description="Restore role of the demo: can read AWS Backup, nothing of EFS or KMS",
    )
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="backup-read",
        PolicyDocument=policy(
            [{"Effect": "Allow", "Action": ["backup:DescribeRestoreJob", "backup:ListRestoreJobs"], "Resource": "*"}]
        ),
    )

    kms = client("kms", args.moto)
    target_key = kms.create_key(Description="demo: key of the restored file system")["KeyMetadata"]["Arn"]
    vault_key = kms.create_key(Description="demo: key of the backup vault")["KeyMetadata"]["Arn"]

    vault = "Default"
    vault_arn = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{vault}"
    rp_arn = event["resources"][0]
    fs_id = "fs-0123456789abcdef0"
    fs_arn = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{fs_id}"
    fake(
        args.fake_port,
        "POST",
        "/_fake/scenario",
        {
            "restoreJobs": {
                job_id: {
                    "describe": {
                        "AccountId": ACCOUNT,
                        "RestoreJobId": job_id,
                        "RecoveryPointArn": rp_arn,
                        "BackupVaultArn": vault_arn,
                        "SourceResourceArn": fs_arn,
                        "CreationDate": time.time() - 60,
                        "Status": "FAILED",
                        "StatusMessage": detail["statusMessage"],
                        "PercentDone": "0.00",
                        "BackupSizeInBytes": int(detail["backupSizeInBytes"]),
                        "IamRoleArn": role_arn,
                        "ResourceType": "EFS",
                    },
                    "metadata": {
                        "file-system-id": fs_id,
                        "Encrypted": "true",
                        "KmsKeyId": target_key,
                        "PerformanceMode": "generalPurpose",
                        "CreationToken": "restore-doctor-demo",
                        "newFileSystem": "true",
                    },
                }
            },
            "vaults": {
                vault: {
                    "arn": vault_arn,
                    "recoveryPoints": {
                        rp_arn: {
                            "RecoveryPointArn": rp_arn,
                            "BackupVaultName": vault,
                            "BackupVaultArn": vault_arn,
                            "ResourceArn": fs_arn,
                            "ResourceType": "EFS",
                            "Status": "COMPLETED",
                            "EncryptionKeyArn": vault_key,
                            "IsEncrypted": True,
                            "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY",
                        }
                    },
                }
            },
        },
    )

    sns = client("sns", args.moto)
    sqs = client("sqs", args.moto)
    topic_arn = sns.create_topic(Name="restore-doctor-demo")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="restore-doctor-demo")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:restore-doctor-demo",
    )
    # Where AWS Chatbot would be (https) and a plain endpoint standing in for email
    # (http gets the `default` key, which is the email text).
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="https",
        Endpoint=f"https://127.0.0.1:{args.fake_tls_port}/_fake/sns/chatbot",
    )
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="http",
        Endpoint=f"http://127.0.0.1:{args.fake_port}/_fake/sns/email",
    )
    json.dump({"topicArn": topic_arn, "queueUrl": queue_url}, sys.stdout)
    print()


def topic_and_queue(args):
    sns = client("sns", args.moto)
    sqs = client("sqs", args.moto)
    topic_arn = sns.create_topic(Name="restore-doctor-demo")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="restore-doctor-demo")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:restore-doctor-demo",
    )
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="https",
        Endpoint=f"https://127.0.0.1:{args.fake_tls_port}/_fake/sns/chatbot",
    )
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="http",
        Endpoint=f"http://127.0.0.1:{args.fake_port}/_fake/sns/email",
    )
    return topic_arn, queue_url


CENTRAL = "131313131313"
# The function's readiness state table, and organization.yaml's role (scripts/demo.sh
# gives the function the same names).
READINESS_TABLE = "restore-doctor-readiness"
ORG_READ_ROLE = f"arn:aws:iam::{ACCOUNT}:role/RestoreDoctorOrganizationReader"


def setup_org(args):
    org = client("organizations", args.moto)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="restores")["OrganizationalUnit"]["Id"]
    member = org.create_account(AccountName="restores-b", Email="restores-b@example.com")[
        "CreateAccountStatus"
    ]["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    scp = org.create_policy(
        Name="no-grants-outside-backup",
        Description="demo: denies kms:CreateGrant",
        Type="SERVICE_CONTROL_POLICY",
        Content=policy([{"Sid": "NoGrants", "Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"}]),
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=ou)

    in_member = acting_in(member, args.moto)
    iam = client("iam", args.moto, in_member)
    role_name = "BackupRestoreRole"
    role_arn = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=policy(
            [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        ),
        Description="Restore role of the demo in member account B",
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="backup-read",
        PolicyDocument=policy([{"Effect": "Allow", "Action": "backup:DescribeRestoreJob", "Resource": "*"}]),
    )

    kms = client("kms", args.moto, acting_in(CENTRAL, args.moto))
    key = kms.create_key(Description="demo: the central backup account's vault key")["KeyMetadata"]["Arn"]
    kms.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=policy(
            [
                {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "MemberB", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
                 "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"],
                 "Resource": "*"},
            ]
        ),
    )

    event = json.load(open(args.event))
    detail = event["detail"]
    job_id = detail["restoreJobId"]
    vault = "Default"
    vault_arn = f"arn:aws:backup:{REGION}:{member}:backup-vault:{vault}"
    rp_arn = f"arn:aws:backup:{REGION}:{member}:recovery-point:demo-org-recovery-point"
    fs_id = "fs-0123456789abcdef0"
    fs_arn = f"arn:aws:elasticfilesystem:{REGION}:{member}:file-system/{fs_id}"
    metadata = {"file-system-id": fs_id, "newFileSystem": "true", "Encrypted": "true",
                "KmsKeyId": key, "PerformanceMode": "generalPurpose", "CreationToken": "demo-org"}
    # Readiness across the organization: the function's state table (as template.yaml
    # makes it), and B's file system as B's listings show it, restored by B's restore
    # testing selection with the same role that just failed.
    client("dynamodb", args.moto).create_table(
        TableName=READINESS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    reader = lambda account: f"arn:aws:iam::{account}:role/RestoreDoctorReader"  # noqa: E731
    event["account"] = member
    event["region"] = REGION
    event["resources"] = [rp_arn]
    detail["iamRoleArn"] = role_arn
    detail["backupVaultArn"] = vault_arn
    detail["recoveryPointArn"] = rp_arn
    fake(
        args.fake_port,
        "POST",
        "/_fake/scenario",
        {
            "restoreJobs": {
                job_id: {
                    "describe": {
                        "AccountId": member,
                        "RestoreJobId": job_id,
                        "RecoveryPointArn": rp_arn,
                        "BackupVaultArn": vault_arn,
                        "CreationDate": time.time() - 60,
                        "Status": "FAILED",
                        "StatusMessage": detail["statusMessage"],
                        "IamRoleArn": role_arn,
                        "ResourceType": "EFS",
                    },
                    "metadata": {"file-system-id": fs_id, "newFileSystem": "true"},
                }
            },
            "vaults": {
                vault: {
                    "arn": vault_arn,
                    "name": vault,
                    "AccountId": member,
                    "recoveryPoints": {
                        rp_arn: {
                            "RecoveryPointArn": rp_arn,
                            "BackupVaultName": vault,
                            "BackupVaultArn": vault_arn,
                            "ResourceArn": fs_arn,
                            "ResourceType": "EFS",
                            "Status": "COMPLETED",
                            "CreationDate": time.time() - 3600,
                            "EncryptionKeyArn": key,
                            "IsEncrypted": True,
                            "EncryptionKeyType": "CUSTOMER_MANAGED_KMS_KEY",
                            "restoreMetadata": metadata,
                        }
                    },
                }
            },
            "protectedResources": {fs_arn: {"ResourceType": "EFS", "AccountId": member}},
            "restoreTestingPlans": {
                "nightly": {
                    "AccountId": member,
                    "selections": {
                        "efs": {"ProtectedResourceType": "EFS", "IamRoleArn": role_arn,
                                "ProtectedResourceArns": ["*"]}
                    },
                }
            },
            # The member stack's reader roles in B and C, and organization.yaml's role:
            # the fake hands these AssumeRole calls to moto (its credentials act in the
            # role's account, so the fake lists B's resources to B only).
            "assumableRoles": {
                reader(member): args.moto,
                reader(CENTRAL): args.moto,
                ORG_READ_ROLE: args.moto,
            },
        },
    )
    json.dump(event, open(args.out, "w"))
    topic_arn, queue_url = topic_and_queue(args)
    json.dump({"topicArn": topic_arn, "queueUrl": queue_url, "member": member, "ou": ou, "scp": scp,
               "centralKey": key}, sys.stdout)
    print()


def banner(title):
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def show(args):
    sqs = client("sqs", args.moto)
    envelope = None
    deadline = time.time() + 30
    while envelope is None and time.time() < deadline:
        got = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            envelope = json.loads(m["Body"])
    if envelope is None:
        sys.exit("demo: no alert arrived on the SQS queue")
    report = json.loads(envelope["Message"])
    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}

    banner("SNS message read back from SQS: subject and message attributes")
    print("Subject:", envelope.get("Subject"))
    for k, v in sorted(attributes.items()):
        print(f"  {k} = {v}")
    print(f"SQS body: the JSON report (cause {report['cause']}, {len(report['missing'])} missing)")

    email = fake(args.fake_port, "GET", "/_fake/sns/email")
    banner("Email rendering (the `email`/`default` key of the same publish)")
    print(email[0]["Message"] if email else "(not delivered)")

    chatbot = fake(args.fake_port, "GET", "/_fake/sns/chatbot")
    banner("Slack rendering (the `https` key: an AWS Chatbot custom notification)")
    if chatbot:
        notification = json.loads(chatbot[0]["Message"])
        content = notification["content"]
        print(content["title"])
        print()
        print(content["description"])
        print()
        print("Next steps:")
        for step in content["nextSteps"]:
            print("  -", step)
        print()
        print("Raw notification:")
        print(json.dumps(notification, indent=2))
    else:
        print("(not delivered)")


def show_readiness(args):
    """The scheduled readiness run's summary, as the email subscriber reads it."""
    sqs = client("sqs", args.moto)
    envelope = None
    deadline = time.time() + 30
    while envelope is None and time.time() < deadline:
        got = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            envelope = json.loads(m["Body"])
    if envelope is None:
        sys.exit("demo: no readiness summary arrived on the SQS queue")
    banner("Scheduled readiness across the organization: the one summary of the run")
    print("Subject:", envelope.get("Subject"))
    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
    for k, v in sorted(attributes.items()):
        print(f"  {k} = {v}")
    print()
    email = [m for m in fake(args.fake_port, "GET", "/_fake/sns/email") if "Restore readiness" in m["Message"]]
    print(email[-1]["Message"] if email else "(not delivered)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["setup", "setup-org", "show", "show-readiness"])
    p.add_argument("--moto", required=True)
    p.add_argument("--fake-port", type=int, required=True)
    p.add_argument("--fake-tls-port", type=int)
    p.add_argument("--event")
    p.add_argument("--queue-url")
    p.add_argument("--out")
    args = p.parse_args()
    {"setup": setup, "setup-org": setup_org, "show": show, "show-readiness": show_readiness}[args.command](args)


if __name__ == "__main__":
    main()
