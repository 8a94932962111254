//! A role with the current AWSBackupServiceRolePolicyForRestores (and, for S3, the S3
//! restore policy) attached must get no missing identity permission for any resource
//! type the catalog supports: the catalog must not demand more than AWS's own policy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use restore_doctor::diagnose::evidence::*;
use restore_doctor::diagnose::report::Blocker;
use restore_doctor::diagnose::requirements::supported_types;
use restore_doctor::examine;
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

fn managed(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn evidence_for(resource_type: &str) -> Evidence {
    let role = format!("arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole");
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/0000aaaa-1111-2222-3333-444455556666");
    let mut policies = vec![PolicyDoc {
        name: "AWSBackupServiceRolePolicyForRestores".into(),
        arn: Some(
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores".into(),
        ),
        kind: PolicyKind::AwsManaged,
        document: managed("AWSBackupServiceRolePolicyForRestores"),
    }];
    if resource_type == "S3" {
        policies.push(PolicyDoc {
            name: "AWSBackupServiceRolePolicyForS3Restore".into(),
            arn: Some("arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore".into()),
            kind: PolicyKind::AwsManaged,
            document: managed("AWSBackupServiceRolePolicyForS3Restore"),
        });
    }
    let mut evidence = Evidence {
        schema_version: SCHEMA_VERSION,
        trigger: json!({
            "detail-type": "Restore Job State Change", "source": "aws.backup",
            "account": ACCOUNT, "region": REGION,
            "detail": {"restoreJobId": "J1", "status": "FAILED", "resourceType": resource_type, "iamRoleArn": role}
        }),
        restore_role: Some(Principal {
            arn: role,
            policies,
            ..Default::default()
        }),
        // Every value a requirement's resource needs, so no requirement is left out:
        // the target bucket (S3) and the AMI the recovery point is (EC2).
        restore_metadata: Some(
            [
                ("KmsKeyId".to_string(), key.clone()),
                (
                    "DestinationBucketName".to_string(),
                    "restore-target".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        ),
        recovery_point: (resource_type == "EC2").then(|| RecoveryPoint {
            recovery_point_arn: format!("arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0"),
            encryption_key_type: Some("AWS_OWNED_KMS_KEY".into()),
            ..Default::default()
        }),
        service_control_policies: Some(vec![]),
        ..Default::default()
    };
    evidence.key_policies.push(KeyPolicy {
        key_arn: key,
        document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]}),
    });
    evidence
}

#[test]
fn managed_restore_policy_satisfies_every_supported_type() {
    let types = supported_types();
    assert!(types.len() >= 7);
    for t in types {
        let report = examine(&evidence_for(&t));
        let identity: Vec<String> = report
            .missing
            .iter()
            .filter(|f| f.blocked_by.contains(&Blocker::IdentityPolicy))
            .map(|f| format!("{} on {}", f.action, f.resource))
            .collect();
        assert!(
            identity.is_empty(),
            "{t}: the managed policy lacks {identity:#?}"
        );
        assert!(report.patch.is_none(), "{t}: unexpected patch");
        // Nothing was left out for want of a value: the check covered every requirement.
        assert!(
            report.unverified.is_empty(),
            "{t}: not everything was checked: {:#?}",
            report.unverified
        );
    }
}

#[test]
fn without_the_managed_policy_every_type_has_missing_permissions() {
    // The same check must be able to fail: strip the role's policies.
    for t in supported_types() {
        let mut e = evidence_for(&t);
        if let Some(r) = e.restore_role.as_mut() {
            r.policies.clear();
        }
        let report = examine(&e);
        assert!(
            !report.missing.is_empty(),
            "{t}: nothing reported missing for a bare role"
        );
        assert!(report.verified, "{t}: patch does not verify");
    }
}
