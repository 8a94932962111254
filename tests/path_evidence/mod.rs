//! Evidence of one failed restore on each catalog path: the resource type, recovery
//! point ARN and restore metadata that select that path, and a role holding the given
//! policies. Shared by the managed-policy and restore-path tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use restore_doctor::diagnose::evidence::*;
use restore_doctor::diagnose::requirements::{self, Requirement, Scope};
use restore_doctor::diagnose::restore_path::{self, PathEvidence};
use restore_doctor::diagnose::validated::{Arn, BucketName, EksClusterName, KeyArn};
use serde_json::{json, Value};

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "eu-west-1";
pub const BUCKET: &str = "restore-target";
/// The role an EKS new-cluster restore attaches to the cluster (restore metadata `clusterRole`).
pub const EKS_CLUSTER_ROLE: &str = "arn:aws:iam::111122223333:role/EKSClusterRole";

pub fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole")
}

pub fn key_arn() -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/0000aaaa-1111-2222-3333-444455556666")
}

/// A copy of an AWS managed policy (tests/data, see the manifest in the README).
pub fn managed(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The managed policies AWS documents for a path's resource type.
pub fn managed_policies_for(resource_type: &str) -> Vec<PolicyDoc> {
    let doc = |name: &str, arn: &str| PolicyDoc {
        name: name.into(),
        arn: Some(arn.into()),
        kind: PolicyKind::AwsManaged,
        document: managed(name),
    };
    let mut out = vec![doc(
        "AWSBackupServiceRolePolicyForRestores",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    )];
    match resource_type {
        "S3" => out.push(doc(
            "AWSBackupServiceRolePolicyForS3Restore",
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
        )),
        "SAP HANA on Amazon EC2" => out.push(doc(
            "AWSBackupRestoreAccessForSAPHANA",
            "arn:aws:iam::aws:policy/AWSBackupRestoreAccessForSAPHANA",
        )),
        // A file-level restore's permissions are this policy's (restoring-ebs.html).
        "EBS" => out.push(doc(
            "AWSBackupServiceRolePolicyForItemRestores",
            "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForItemRestores",
        )),
        _ => {}
    }
    out
}

/// (resource type, recovery point ARN, restore metadata) that select `path`.
pub fn shape(path: &str) -> (&'static str, String, Vec<(&'static str, &'static str)>) {
    let backup = format!(
        "arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:0b7d1c2e-5a4f-4f3e-9c1d-2a3b4c5d6e7f"
    );
    let continuous = |id: &str| {
        format!("arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:continuous:{id}-1a2b3c4d")
    };
    let rds = |kind: &str| format!("arn:aws:rds:{REGION}:{ACCOUNT}:{kind}:awsbackup:job-1a2bcd34");
    let fsx = format!("arn:aws:fsx:{REGION}:{ACCOUNT}:backup/backup-0123456789abcdef0");
    match path {
        "efs-new-file-system" => ("EFS", backup, vec![("newFileSystem", "true")]),
        "efs-existing-file-system" => ("EFS", backup, vec![("newFileSystem", "false")]),
        "ebs-volume" => (
            "EBS",
            format!("arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"),
            vec![],
        ),
        "ec2-instance" => (
            "EC2",
            format!("arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0"),
            vec![],
        ),
        "rds-instance-from-snapshot" => ("RDS", rds("snapshot"), vec![]),
        "rds-instance-to-point-in-time" => ("RDS", continuous("db-abcdefghijklmnop"), vec![]),
        "aurora-cluster-from-snapshot" => ("Aurora", rds("cluster-snapshot"), vec![]),
        "aurora-cluster-to-point-in-time" => {
            ("Aurora", continuous("cluster-abcdefghijklmnop"), vec![])
        }
        "documentdb-cluster-from-snapshot" => ("DocumentDB", rds("cluster-snapshot"), vec![]),
        "neptune-cluster-from-snapshot" => ("Neptune", rds("cluster-snapshot"), vec![]),
        "dynamodb-aws-backup" => ("DynamoDB", backup, vec![]),
        "dynamodb-native" => (
            "DynamoDB",
            format!(
                "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/backup/01700000000000-abcdef12"
            ),
            vec![],
        ),
        "s3-new-bucket" => ("S3", backup, vec![("NewBucket", "true")]),
        "s3-existing-bucket" => ("S3", backup, vec![("NewBucket", "false")]),
        "fsx-lustre" => ("FSx", fsx, vec![("FileSystemType", "LUSTRE")]),
        "fsx-windows" => ("FSx", fsx, vec![("FileSystemType", "WINDOWS")]),
        "fsx-openzfs" => ("FSx", fsx, vec![("FileSystemType", "OPENZFS")]),
        "fsx-ontap-volume" => ("FSx", fsx, vec![("FileSystemType", "ONTAP")]),
        "redshift-cluster" => (
            "Redshift",
            format!(
                "arn:aws:redshift:{REGION}:{ACCOUNT}:snapshot:analytics/awsbackup:job-1a2bcd34"
            ),
            vec![("ClusterIdentifier", "analytics-restored")],
        ),
        "redshift-table" => (
            "Redshift",
            format!(
                "arn:aws:redshift:{REGION}:{ACCOUNT}:snapshot:analytics/awsbackup:job-1a2bcd34"
            ),
            vec![
                ("SourceTableName", "orders"),
                ("NewTableName", "orders_restored"),
            ],
        ),
        "redshift-serverless-table" => (
            "Redshift Serverless",
            backup,
            vec![
                ("SourceTableName", "orders"),
                ("NewTableName", "orders_restored"),
            ],
        ),
        "aurora-dsql-cluster" => ("Aurora DSQL", backup, vec![]),
        "storage-gateway-volume" => ("Storage Gateway", backup, vec![]),
        "timestream-table" => ("Timestream", backup, vec![]),
        "vmware-virtual-machine" => ("VirtualMachine", backup, vec![]),
        "cloudformation-stack" => ("CloudFormation", backup, vec![]),
        "sap-hana-database" => ("SAP HANA on Amazon EC2", backup, vec![]),
        "ebs-file-level-to-s3" => (
            "EBS",
            format!("arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"),
            vec![
                ("restoreType", "FILE_LEVEL"),
                ("pathsToRestore", "[\"/data/app/config.yaml\"]"),
            ],
        ),
        "eks-existing-cluster" => (
            "EKS",
            backup,
            vec![("clusterName", "prod"), ("newCluster", "false")],
        ),
        "eks-new-cluster" => (
            "EKS",
            backup,
            vec![
                ("clusterName", "prod-restored"),
                ("newCluster", "true"),
                ("clusterRole", EKS_CLUSTER_ROLE),
            ],
        ),
        other => panic!("no evidence shape for path `{other}`: add one"),
    }
}

/// The failed restore of `path` by a role holding `policies`, with every value a
/// requirement needs (bucket, AMI, key and its default key policy) and SCPs collected.
pub fn evidence_for(path: &str, policies: Vec<PolicyDoc>) -> Evidence {
    let (resource_type, rp, extra) = shape(path);
    let role = role_arn();
    let mut metadata: BTreeMap<String, String> = extra
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    metadata.insert("KmsKeyId".into(), key_arn());
    metadata.insert("DestinationBucketName".into(), BUCKET.into());
    let mut evidence = Evidence {
        schema_version: SCHEMA_VERSION,
        trigger: json!({
            "detail-type": "Restore Job State Change", "source": "aws.backup",
            "account": ACCOUNT, "region": REGION,
            "detail": {"restoreJobId": "J1", "status": "FAILED", "resourceType": resource_type,
                       "iamRoleArn": role, "statusMessage": "Insufficient privileges to perform this action."}
        }),
        restore_job: Some(RestoreJob {
            restore_job_id: "J1".into(),
            status: Some("FAILED".into()),
            resource_type: Some(resource_type.into()),
            iam_role_arn: Some(role.clone()),
            recovery_point_arn: Some(rp.clone()),
            ..Default::default()
        }),
        restore_role: Some(Principal {
            arn: role,
            policies,
            ..Default::default()
        }),
        restore_metadata: Some(metadata),
        recovery_point: Some(RecoveryPoint {
            recovery_point_arn: rp,
            resource_type: Some(resource_type.into()),
            ..Default::default()
        }),
        service_control_policies: Some(vec![]),
        ..Default::default()
    };
    evidence.key_policies.push(KeyPolicy {
        key_arn: key_arn(),
        document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]}),
        read_from: None,
    });
    evidence
}

/// The validated values of the restore [`evidence_for`] builds for `path`.
pub fn scope_for(path: &str) -> Scope {
    Scope {
        partition: "aws".into(),
        region: Some(REGION.into()),
        account: Some(ACCOUNT.into()),
        bucket: Some(BucketName::parse(BUCKET).unwrap()),
        // The AMI an EC2 recovery point is.
        image_arn: Arn::parse(&shape(path).1)
            .ok()
            .filter(|a| a.resource().starts_with("image/")),
        // The cluster an EKS restore targets.
        eks_cluster: shape(path)
            .2
            .iter()
            .find(|(k, _)| *k == "clusterName")
            .map(|(_, v)| EksClusterName::parse(v).unwrap()),
    }
}

/// What the catalog asks of `path` for the evidence [`evidence_for`] builds: the
/// service requirements and the KMS ones on the restore's key.
pub fn catalog_output(path: &str) -> Vec<Requirement> {
    let (resource_type, rp, extra) = shape(path);
    let metadata: BTreeMap<String, String> = extra
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let selection = restore_path::select(
        resource_type,
        &PathEvidence {
            recovery_point_arn: Some(&rp),
            source_resource_arn: None,
            metadata: Some(&metadata),
        },
    )
    .unwrap_or_else(|| panic!("{path}: not selected"));
    assert_eq!(
        selection.decided(),
        Some(path),
        "{path}: evidence selects {selection:?}"
    );
    let scope = scope_for(path);
    let needs = requirements::service_requirements(&selection, &scope);
    assert!(
        needs.unknown.is_empty() && needs.depends.is_empty(),
        "{path}: {needs:#?}"
    );
    let mut out = needs.requirements;
    let key = KeyArn::parse(&key_arn()).unwrap();
    out.extend(requirements::kms_requirements(&selection, &key, "restore"));
    // The role a path passes by name in its metadata (the EC2 evidence has no profile).
    if let (Some(service), Some(key)) = (
        requirements::pass_role_service(&selection),
        requirements::pass_role_metadata_key(&selection),
    ) {
        out.push(requirements::pass_role_requirement(
            &metadata[&key],
            &service,
            "pass",
        ));
    }
    out
}

/// An inline policy granting exactly `reqs`, one statement each, conditions kept.
pub fn policy_granting(reqs: &[Requirement]) -> PolicyDoc {
    let statements: Vec<Value> = reqs
        .iter()
        .map(|r| {
            let mut s = json!({"Effect": "Allow", "Action": r.action, "Resource": r.resource});
            if let Some(c) = &r.condition {
                s["Condition"] = c.clone();
            }
            s
        })
        .collect();
    PolicyDoc {
        name: "least-privilege".into(),
        arn: None,
        kind: PolicyKind::Inline,
        document: json!({"Version": "2012-10-17", "Statement": statements}),
    }
}
