#![allow(clippy::panic)] // benchmark setup: a broken fixture should stop the run

//! Policy evaluation cost for one restore diagnosis: a restore role with 10 managed
//! policies (several statements each, most with conditions), a boundary, two SCP
//! levels and a KMS key policy, asked about the 40 permissions a typical AWS Backup
//! restore of EFS and EC2 needs.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use restore_doctor::policy::{
    evaluate, ContextValue, NamedPolicy, OrgLevel, Policy, PolicySet, Request,
};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/BackupRestoreRole/AWSBackup-restore";
const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/0b9d4c1e-1111-2222-3333-444455556666";

fn named(name: &str, statements: Value) -> NamedPolicy {
    let policy = Policy::from_value(&json!({"Version": "2012-10-17", "Statement": statements}))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    NamedPolicy {
        name: name.into(),
        policy,
    }
}

fn region_condition() -> Value {
    json!({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}})
}

fn managed_policies() -> Vec<NamedPolicy> {
    vec![
        named(
            "BackupRestoreCore",
            json!([
                {"Sid": "Backup", "Effect": "Allow", "Action": ["backup:DescribeRecoveryPoint", "backup:GetRecoveryPointRestoreMetadata", "backup:StartRestoreJob", "backup:DescribeRestoreJob"], "Resource": "*", "Condition": region_condition()},
                {"Sid": "Tags", "Effect": "Allow", "Action": ["tag:GetResources", "backup:ListTags"], "Resource": "*"},
                {"Sid": "Vault", "Effect": "Allow", "Action": "backup:*", "Resource": "arn:aws:backup:*:111122223333:backup-vault:*", "Condition": {"StringLike": {"aws:PrincipalTag/team": ["backup*", "platform"]}}},
            ]),
        ),
        named(
            "EfsRestore",
            json!([
                {"Sid": "Create", "Effect": "Allow", "Action": ["elasticfilesystem:CreateFileSystem", "elasticfilesystem:Restore", "elasticfilesystem:TagResource"], "Resource": "arn:aws:elasticfilesystem:*:111122223333:file-system/*", "Condition": region_condition()},
                {"Sid": "Describe", "Effect": "Allow", "Action": "elasticfilesystem:Describe*", "Resource": "*"},
                {"Sid": "Mount", "Effect": "Allow", "Action": ["elasticfilesystem:CreateMountTarget", "elasticfilesystem:DeleteMountTarget"], "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Name", "backup", "team"]}}},
                {"Sid": "Ap", "Effect": "Allow", "Action": "elasticfilesystem:CreateAccessPoint", "Resource": "arn:aws:elasticfilesystem:*:111122223333:access-point/*"},
            ]),
        ),
        named(
            "KmsForRestore",
            json!([
                {"Sid": "Use", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"], "Resource": "arn:aws:kms:*:111122223333:key/*", "Condition": {"StringLike": {"kms:ViaService": ["elasticfilesystem.*.amazonaws.com", "ec2.*.amazonaws.com", "backup.*.amazonaws.com"]}}},
                {"Sid": "Grant", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:RetireGrant"], "Resource": "arn:aws:kms:*:111122223333:key/*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
                {"Sid": "List", "Effect": "Allow", "Action": ["kms:ListAliases", "kms:ListKeys"], "Resource": "*"},
            ]),
        ),
        named(
            "PassRestoreRoles",
            json!([
                {"Sid": "Pass", "Effect": "Allow", "Action": "iam:PassRole", "Resource": ["arn:aws:iam::111122223333:role/BackupRestoreRole", "arn:aws:iam::111122223333:role/ec2-restore-*"], "Condition": {"StringEquals": {"iam:PassedToService": ["backup.amazonaws.com", "ec2.amazonaws.com"]}}},
                {"Sid": "Slr", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "arn:aws:iam::*:role/aws-service-role/*", "Condition": {"StringLike": {"iam:AWSServiceName": "*.amazonaws.com"}}},
                {"Sid": "Read", "Effect": "Allow", "Action": ["iam:GetRole", "iam:ListInstanceProfiles*"], "Resource": "*"},
            ]),
        ),
        named(
            "Ec2Restore",
            json!([
                {"Sid": "Run", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateVolume", "ec2:CreateTags", "ec2:AttachVolume"], "Resource": ["arn:aws:ec2:*:111122223333:instance/*", "arn:aws:ec2:*:111122223333:volume/*", "arn:aws:ec2:*:111122223333:network-interface/*", "arn:aws:ec2:*:111122223333:security-group/*", "arn:aws:ec2:*:111122223333:subnet/*"], "Condition": region_condition()},
                {"Sid": "Images", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CopySnapshot"], "Resource": ["arn:aws:ec2:*::image/*", "arn:aws:ec2:*::snapshot/*"]},
                {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
                {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*", "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateVolume"]}}},
            ]),
        ),
        named(
            "RegionGuardrail",
            json!([
                {"Sid": "OnlyEu", "Effect": "Deny", "NotAction": ["iam:*", "sts:*", "support:*", "organizations:*"], "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}},
                {"Sid": "NoPublicSnapshots", "Effect": "Deny", "Action": "ec2:ModifySnapshotAttribute", "Resource": "*"},
                {"Sid": "NoKeyDeletion", "Effect": "Deny", "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"], "Resource": "*"},
            ]),
        ),
        named(
            "S3Read",
            json!([
                {"Sid": "Buckets", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::restore-staging-111122223333", "arn:aws:s3:::restore-staging-111122223333/*"]},
                {"Sid": "Tls", "Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "Home", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:PrincipalTag/team}/*"},
            ]),
        ),
        named(
            "Observability",
            json!([
                {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "arn:aws:logs:*:111122223333:log-group:/aws/backup/*"},
                {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*", "Condition": {"StringEquals": {"cloudwatch:namespace": "RestoreDoctor"}}},
                {"Sid": "Sns", "Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:*:111122223333:backup-*"},
            ]),
        ),
        named(
            "DatabaseRestore",
            json!([
                {"Sid": "Rds", "Effect": "Allow", "Action": ["rds:RestoreDBInstanceFromDBSnapshot", "rds:CreateDBInstance", "rds:AddTagsToResource", "rds:DescribeDB*"], "Resource": "*", "Condition": region_condition()},
                {"Sid": "Ddb", "Effect": "Allow", "Action": ["dynamodb:RestoreTableFromBackup", "dynamodb:DescribeBackup", "dynamodb:PutItem", "dynamodb:BatchWriteItem"], "Resource": "arn:aws:dynamodb:*:111122223333:table/*"},
                {"Sid": "NotFromOutside", "Effect": "Deny", "Action": "rds:*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}, "Bool": {"aws:ViaAWSService": "false"}}},
            ]),
        ),
        named(
            "Tagging",
            json!([
                {"Sid": "TagKeys", "Effect": "Allow", "Action": ["elasticfilesystem:TagResource", "ec2:CreateTags", "backup:TagResource"], "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Name", "backup", "team", "aws:backup:source-resource"]}}},
                {"Sid": "NoOwnerChange", "Effect": "Deny", "Action": ["ec2:DeleteTags", "elasticfilesystem:UntagResource"], "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "owner"}}},
                {"Sid": "Dates", "Effect": "Allow", "Action": "backup:UpdateRecoveryPointLifecycle", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}},
            ]),
        ),
    ]
}

/// The 40 permissions an EFS + EC2 restore needs, with a realistic context.
fn required() -> Vec<(&'static str, String)> {
    let fs = "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-0123456789abcdef0"
        .to_owned();
    let ap = "arn:aws:elasticfilesystem:eu-west-1:111122223333:access-point/fsap-0123456789abcdef0"
        .to_owned();
    let rp = "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0".to_owned();
    let inst = "arn:aws:ec2:eu-west-1:111122223333:instance/*".to_owned();
    let vol = "arn:aws:ec2:eu-west-1:111122223333:volume/*".to_owned();
    let role = "arn:aws:iam::111122223333:role/BackupRestoreRole".to_owned();
    let vault = "arn:aws:backup:eu-west-1:111122223333:backup-vault:Default".to_owned();
    let point = "arn:aws:backup:eu-west-1:111122223333:recovery-point:rp-1".to_owned();
    let key = KEY.to_owned();
    let any = "*".to_owned();
    vec![
        ("backup:DescribeRecoveryPoint", point.clone()),
        ("backup:GetRecoveryPointRestoreMetadata", point.clone()),
        ("backup:StartRestoreJob", point.clone()),
        ("backup:DescribeRestoreJob", any.clone()),
        ("backup:ListTags", vault.clone()),
        ("backup:TagResource", point),
        ("elasticfilesystem:Restore", fs.clone()),
        ("elasticfilesystem:CreateFileSystem", fs.clone()),
        ("elasticfilesystem:DescribeFileSystems", fs.clone()),
        ("elasticfilesystem:TagResource", fs.clone()),
        ("elasticfilesystem:CreateMountTarget", fs.clone()),
        ("elasticfilesystem:DescribeMountTargets", fs),
        ("elasticfilesystem:CreateAccessPoint", ap.clone()),
        ("elasticfilesystem:DescribeAccessPoints", ap),
        ("kms:Decrypt", key.clone()),
        ("kms:Encrypt", key.clone()),
        ("kms:GenerateDataKey", key.clone()),
        ("kms:GenerateDataKeyWithoutPlaintext", key.clone()),
        ("kms:ReEncryptFrom", key.clone()),
        ("kms:ReEncryptTo", key.clone()),
        ("kms:DescribeKey", key.clone()),
        ("kms:CreateGrant", key.clone()),
        ("kms:RetireGrant", key),
        ("kms:ListAliases", any.clone()),
        ("iam:PassRole", role.clone()),
        ("iam:GetRole", role),
        ("iam:CreateServiceLinkedRole", "arn:aws:iam::111122223333:role/aws-service-role/elasticfilesystem.amazonaws.com/AWSServiceRoleForAmazonElasticFileSystem".to_owned()),
        ("ec2:RunInstances", inst.clone()),
        ("ec2:RunInstances", rp.clone()),
        ("ec2:CreateVolume", vol.clone()),
        ("ec2:AttachVolume", vol),
        ("ec2:CreateTags", inst),
        ("ec2:CopySnapshot", rp),
        ("ec2:DescribeInstances", any.clone()),
        ("ec2:DescribeSnapshots", any.clone()),
        ("ec2:DescribeImages", any.clone()),
        ("ec2:DescribeSubnets", any.clone()),
        ("ec2:DescribeSecurityGroups", any.clone()),
        ("logs:CreateLogStream", "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/backup/restore".to_owned()),
        ("sns:Publish", "arn:aws:sns:eu-west-1:111122223333:backup-events".to_owned()),
    ]
}

fn context() -> BTreeMap<String, ContextValue> {
    let one = |v: &str| ContextValue::One(v.to_owned());
    BTreeMap::from([
        ("aws:RequestedRegion".to_owned(), one("eu-west-1")),
        ("aws:SecureTransport".to_owned(), one("true")),
        ("aws:ViaAWSService".to_owned(), one("true")),
        ("aws:PrincipalTag/team".to_owned(), one("backup")),
        ("aws:CurrentTime".to_owned(), one("2024-05-01T12:00:00Z")),
        (
            "kms:ViaService".to_owned(),
            one("elasticfilesystem.eu-west-1.amazonaws.com"),
        ),
        ("kms:GrantIsForAWSResource".to_owned(), one("true")),
        (
            "iam:PassedToService".to_owned(),
            one("backup.amazonaws.com"),
        ),
        (
            "aws:TagKeys".to_owned(),
            ContextValue::Many(vec!["Name".to_owned(), "backup".to_owned()]),
        ),
    ])
}

fn cases() -> Vec<(Request, PolicySet)> {
    let base = PolicySet {
        identity: managed_policies(),
        permission_boundaries: vec![named(
            "RestoreBoundary",
            json!([
                {"Effect": "Allow", "Action": ["backup:*", "elasticfilesystem:*", "kms:*", "ec2:*", "iam:PassRole", "iam:Get*", "iam:CreateServiceLinkedRole", "logs:*", "sns:Publish"], "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::*:role/admin-*"},
            ]),
        )],
        scps: vec![
            OrgLevel {
                org_identifier: "r-root".into(),
                policies: vec![named(
                    "FullAWSAccess",
                    json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
                )],
            },
            OrgLevel {
                org_identifier: "ou-prod".into(),
                policies: vec![named(
                    "DenyLeaveOrg",
                    json!([
                        {"Effect": "Allow", "Action": "*", "Resource": "*"},
                        {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"},
                        {"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}},
                    ]),
                )],
            },
        ],
        ..PolicySet::default()
    };
    let key_policy = named(
        &format!("key policy of {KEY}"),
        json!([
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Backup", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/BackupRestoreRole"}, "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]),
    );
    required()
        .into_iter()
        .map(|(action, resource)| {
            let mut set = base.clone();
            if resource == KEY {
                set.resource_policy = Some(key_policy.clone());
            }
            let request = Request {
                principal: SESSION.into(),
                action: action.into(),
                resource,
                resource_account: Some(ACCOUNT.into()),
                context: context(),
            };
            (request, set)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    assert_eq!(cases.len(), 40);
    c.bench_function(
        "evaluate 40 restore permissions, 10 managed policies",
        |b| {
            b.iter(|| {
                for (request, set) in &cases {
                    black_box(evaluate(black_box(request), black_box(set)).ok());
                }
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
