"""The `make demo` scenario: a failed EFS restore whose role lacks every EFS and KMS
permission, set up in moto (IAM, KMS, SNS, SQS) and in aws_fake.py (Backup restore-job
reads), and the alert read back afterwards.

  python demo.py setup --moto URL --fake-port N --fake-tls-port N --event FILE
      prints {"topicArn": ..., "queueUrl": ...}
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


def client(service, moto):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["setup", "show"])
    p.add_argument("--moto", required=True)
    p.add_argument("--fake-port", type=int, required=True)
    p.add_argument("--fake-tls-port", type=int)
    p.add_argument("--event")
    p.add_argument("--queue-url")
    args = p.parse_args()
    setup(args) if args.command == "setup" else show(args)


if __name__ == "__main__":
    main()
