//! Issue #8, sections 1–3: crafted and degraded evidence must never steer auto-attach
//! into a broad grant. Each reproduction runs the CLI exactly as the review did
//! (`diagnose --evidence F --auto-attach --account 111122223333 --format json`) and
//! checks both the proposed patch and the guard's decision; then a property test over
//! random hostile evidence checks what any `attach` decision implies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use restore_doctor::diagnose::evidence::{
    Evidence, EvidencePart, Gap, InstanceProfile, KmsKey, RoleFacts,
};
use restore_doctor::diagnose::requirements;
use restore_doctor::diagnose::validated::Arn;
use restore_doctor::diagnose::Report;
use restore_doctor::examine;
use restore_doctor::remedy::guard::{decide, GuardSettings};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const OPT_IN: &str = "restore-doctor:auto-attach";

fn case(name: &str) -> Evidence {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cases/{name}/evidence.json"));
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn opted_in(mut e: Evidence) -> Evidence {
    let role = e.restore_role.as_mut().unwrap();
    role.tags.insert(OPT_IN.into(), "true".into());
    role.trust_policy = Some(trust("backup.amazonaws.com"));
    e
}

fn trust(service: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
}

fn settings() -> GuardSettings {
    GuardSettings {
        enabled: true,
        account: Some(ACCOUNT.into()),
        region: Some(REGION.into()),
        ..Default::default()
    }
}

/// The review's command line, on `e`; returns the JSON report.
fn cli(e: &Evidence, extra: &[&str]) -> Value {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(serde_json::to_string(e).unwrap().as_bytes())
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args(["diagnose", "--evidence"])
        .arg(file.path())
        .args(["--auto-attach", "--account", ACCOUNT, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(report: &Value, needle: &str) {
    let auto = &report["autoAttach"];
    assert_eq!(auto["decision"], "refuse", "{auto:#}");
    let reasons = auto["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|r| r.as_str().unwrap().contains(needle)),
        "no reason mentions `{needle}`: {reasons:#?}"
    );
}

/// Every Resource of the proposed patch.
fn patch_resources(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in report["patch"]["document"]["Statement"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match &stmt["Resource"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(a.iter().map(|v| v.as_str().unwrap().to_owned())),
            _ => {}
        }
    }
    out
}

fn unverified_mentions(report: &Value, needle: &str) -> bool {
    report["unverified"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u.to_string().contains(needle))
}

fn with_metadata(mut e: Evidence, key: &str, value: &str) -> Evidence {
    e.restore_metadata
        .get_or_insert_with(Default::default)
        .insert(key.into(), value.into());
    e
}

// ---- Section 1: grants built from values nobody verified -------------------------

#[test]
fn a_bucket_named_star_is_neither_granted_nor_attached() {
    let e = with_metadata(
        opted_in(case("s3-role-without-s3-restore-policy")),
        "DestinationBucketName",
        "*",
    );
    let report = cli(&e, &[]);
    let resources = patch_resources(&report);
    assert!(
        resources.iter().all(|r| !r.starts_with("arn:aws:s3:::")),
        "{resources:#?}"
    );
    assert_eq!(report["verified"], false);
    assert!(unverified_mentions(&report, "target S3 bucket"));
    refused(&report, "not verified");
}

#[test]
fn throttled_restore_metadata_gives_no_wildcard_bucket() {
    let mut e = opted_in(case("s3-role-without-s3-restore-policy"));
    e.restore_metadata = None;
    e.gaps.push(Gap {
        part: EvidencePart::RestoreMetadata,
        call: "backup:GetRestoreJobMetadata 4A3B".into(),
        error: "ThrottlingException: Rate exceeded".into(),
    });
    let report = cli(&e, &[]);
    let text = report["patch"].to_string();
    assert!(!text.contains("s3:::*"), "{text}");
    assert_eq!(report["verified"], false);
    assert!(unverified_mentions(&report, "target S3 bucket"));
    refused(&report, "not verified");
}

#[test]
fn s3_grants_must_prove_the_bucket_is_in_this_account() {
    // A valid bucket: the patch holds every S3 grant but CreateBucket to this account.
    let e = opted_in(case("s3-role-without-s3-restore-policy"));
    let report = examine(&e);
    for stmt in report.patch.as_ref().unwrap().document["Statement"]
        .as_array()
        .unwrap()
    {
        if stmt["Action"] != "s3:CreateBucket" {
            assert_eq!(
                stmt["Condition"]["StringEquals"]["s3:ResourceAccount"], ACCOUNT,
                "{stmt}"
            );
        }
    }
    assert_eq!(decide(&e, &report, &settings()).report.decision, "attach");
    // The same grant without the condition (a bucket of another account) is refused.
    let mut crafted = report.clone();
    crafted.patch.as_mut().unwrap().document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::someone-elses-bucket/*"}]});
    let d = decide(&e, &crafted, &settings());
    assert_eq!(d.report.decision, "refuse");
    assert!(
        d.report
            .reasons
            .iter()
            .any(|r| r.contains("not proven to be in this account")),
        "{:#?}",
        d.report.reasons
    );
}

#[test]
fn kms_key_patterns_in_the_metadata_are_neither_granted_nor_attached() {
    for hostile in [
        "arn:*",
        "arn:aws:kms:us-east-1:111122223333:key/*",
        "arn:aws:kms:*:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ] {
        let e = with_metadata(opted_in(case("efs-role-missing-kms")), "KmsKeyId", hostile);
        let report = cli(&e, &[]);
        let resources = patch_resources(&report);
        assert!(
            resources
                .iter()
                .all(|r| !r.contains('*') || r.contains(":file-system/")),
            "{hostile}: {resources:#?}"
        );
        assert!(!resources.iter().any(|r| r == "arn:*"), "{hostile}");
        assert_eq!(report["verified"], false, "{hostile}");
        assert!(unverified_mentions(&report, "target KMS key"), "{hostile}");
        refused(&report, "not verified");
    }
}

/// The EFS case whose metadata names `alias/restore`, which kms:DescribeKey resolved to
/// `key_arn`.
fn efs_with_alias_resolved_to(key_arn: &str) -> Evidence {
    let mut e = with_metadata(
        opted_in(case("efs-role-missing-kms")),
        "KmsKeyId",
        "alias/restore",
    );
    e.kms_keys.push(KmsKey {
        reference: "alias/restore".into(),
        key_arn: key_arn.into(),
        key_manager: Some("CUSTOMER".into()),
        key_state: Some("Enabled".into()),
    });
    e
}

#[test]
fn a_metadata_key_is_a_claim_until_kms_resolves_it_in_this_account() {
    let other = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let unresolved = "arn:aws:kms:us-east-1:111122223333:key/99999999-12ab-34cd-56ef-1234567890ab";
    // Named, valid, but never confirmed by kms:DescribeKey: not granted.
    let e = with_metadata(
        opted_in(case("efs-role-missing-kms")),
        "KmsKeyId",
        unresolved,
    );
    let report = cli(&e, &[]);
    assert!(!patch_resources(&report).iter().any(|r| r == unresolved));
    refused(&report, "did not resolve");
    // Resolved, but to a key of another account: not granted either.
    let e = efs_with_alias_resolved_to(other);
    let report = cli(&e, &[]);
    assert!(!patch_resources(&report).iter().any(|r| r == other));
    refused(&report, "outside the restore's own account");
    // Resolved in this account and Region: checked and granted like the recovery
    // point's key.
    let own = "arn:aws:kms:us-east-1:111122223333:key/22222222-12ab-34cd-56ef-1234567890ab";
    let mut e = efs_with_alias_resolved_to(own);
    // Until its key policy is read, the key is not verified either.
    refused(&cli(&e, &[]), "the key policy of");
    let default_policy = e.key_policies[0].document.clone();
    e.key_policies
        .push(restore_doctor::diagnose::evidence::KeyPolicy {
            key_arn: own.into(),
            document: default_policy,
            read_from: None,
        });
    let report = cli(&e, &[]);
    assert!(patch_resources(&report).iter().any(|r| r == own));
    assert_eq!(
        report["autoAttach"]["decision"], "attach",
        "{:#}",
        report["autoAttach"]
    );
}

/// The EC2 case with room for a patch and a clean restore role.
fn ec2(profile_role: &str, facts: Option<RoleFacts>) -> Evidence {
    let mut e = opted_in(case("ec2-passrole-encoded"));
    e.restore_role.as_mut().unwrap().policies[0].kind =
        restore_doctor::diagnose::evidence::PolicyKind::Managed;
    e.decoded_message = None;
    e.restore_metadata
        .as_mut()
        .unwrap()
        .insert("IamInstanceProfileName".into(), "AdminProfile".into());
    e.instance_profiles = vec![InstanceProfile {
        arn: format!("arn:aws:iam::{ACCOUNT}:instance-profile/AdminProfile"),
        name: "AdminProfile".into(),
        role_arns: vec![profile_role.into()],
        roles: facts.into_iter().collect(),
    }];
    e
}

#[test]
fn an_admins_instance_profile_is_not_passed() {
    let admin = format!("arn:aws:iam::{ACCOUNT}:role/ProdAdminRole");
    // The role behind the profile was never read: no PassRole attached.
    let report = cli(&ec2(&admin, None), &[]);
    refused(&report, "tags and trust policy were not read");
    // Read, but not opted in itself.
    let facts = RoleFacts {
        arn: admin.clone(),
        trust_policy: Some(trust("ec2.amazonaws.com")),
        tags: Default::default(),
    };
    let report = cli(&ec2(&admin, Some(facts.clone())), &[]);
    refused(&report, "not itself opted in");
    // Opted in, but trusted by another service than the one it is passed to.
    let lambda_role = RoleFacts {
        tags: [(OPT_IN.to_string(), "true".to_string())].into(),
        trust_policy: Some(trust("lambda.amazonaws.com")),
        ..facts.clone()
    };
    let report = cli(&ec2(&admin, Some(lambda_role)), &[]);
    refused(&report, "does not trust `ec2.amazonaws.com`");
    // Opted in and trusted by EC2: attached.
    let fine = RoleFacts {
        tags: [(OPT_IN.to_string(), "true".to_string())].into(),
        ..facts
    };
    let report = cli(&ec2(&admin, Some(fine)), &[]);
    assert_eq!(
        report["autoAttach"]["decision"], "attach",
        "{:#}",
        report["autoAttach"]
    );
}

// ---- Section 2: the guard ignores what it could not verify -----------------------

#[test]
fn a_refused_start_restore_job_never_attaches() {
    let mut e = opted_in(case("efs-role-missing-kms"));
    e.trigger = json!({"version": "0", "id": "1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.backup", "account": ACCOUNT, "region": REGION,
        "detail": {"eventName": "StartRestoreJob", "errorCode": "AccessDenied",
            "userIdentity": {"type": "FederatedUser", "arn": format!("arn:aws:sts::{ACCOUNT}:federated-user/alice")},
            "requestParameters": {"iamRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/service-role/BackupRestoreRole")}}});
    let report = cli(&e, &[]);
    refused(&report, "never for a refused StartRestoreJob");
}

#[test]
fn a_throttled_policy_listing_refuses() {
    let mut e = opted_in(case("efs-role-missing-kms"));
    e.gaps.push(Gap {
        part: EvidencePart::RestoreRole,
        call: "iam:ListAttachedRolePolicies BackupRestoreRole".into(),
        error: "Throttling: Rate exceeded".into(),
    });
    let report = cli(&e, &[]);
    refused(&report, "iam:ListAttachedRolePolicies");
    // The clean case attaches: the refusal is the gap's doing.
    let report = cli(&opted_in(case("efs-role-missing-kms")), &[]);
    assert_eq!(report["autoAttach"]["decision"], "attach");
}

#[test]
fn the_restore_role_must_trust_aws_backup_only() {
    let mut e = opted_in(case("efs-role-missing-kms"));
    e.restore_role.as_mut().unwrap().trust_policy = Some(json!({"Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"}]}));
    refused(
        &cli(&e, &[]),
        "also trusts AWS `arn:aws:iam::444455556666:root`",
    );
    e.restore_role.as_mut().unwrap().trust_policy = None;
    refused(&cli(&e, &[]), "trust policy was not read");
    e.restore_role.as_mut().unwrap().trust_policy = Some(json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}));
    refused(&cli(&e, &[]), "principal is not named");
}

// ---- Section 3: opt-in checked on one role, written to another -------------------

#[test]
fn the_opt_in_is_checked_on_the_role_iam_read() {
    let event_arn =
        format!("arn:aws:iam::{ACCOUNT}:role/service-role/BackupAnything/ProdAdminRole");
    let mut e = case("efs-role-missing-kms");
    e.restore_job.as_mut().unwrap().iam_role_arn = Some(event_arn.clone());
    e.trigger["detail"]["iamRoleArn"] = json!(event_arn);
    let role = e.restore_role.as_mut().unwrap();
    role.arn = format!("arn:aws:iam::{ACCOUNT}:role/ProdAdminRole");
    role.trust_policy = Some(trust("backup.amazonaws.com"));
    let report = cli(
        &e,
        &[
            "--auto-attach-role-patterns",
            "arn:aws:iam::111122223333:role/service-role/Backup*",
        ],
    );
    refused(&report, "is not exactly the role the restore ran as");
    assert!(report["autoAttach"]["roleArn"].is_null());
}

// ---- Property: what any `attach` implies -----------------------------------------

fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("arn:*".to_string()),
        Just("arn:aws:kms:us-east-1:111122223333:key/*".to_string()),
        Just(
            "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .to_string()
        ),
        Just("arn:aws:iam::111122223333:role/*".to_string()),
        Just("arn:aws:iam::444455556666:role/Admin".to_string()),
        Just("arn:aws:s3:::*".to_string()),
        Just("bucket/*".to_string()),
        Just("other-accounts-bucket".to_string()),
        Just("alias/aws/s3".to_string()),
        Just("a`b<!channel>\nFix (verified".to_string()),
        Just("us-east-*".to_string()),
        Just(String::new()),
        "[ -~]{0,40}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Metadata(&'static str, String),
    DropMetadata,
    JobRole(String),
    RecoveryPointKey(String),
    ResourceType(String),
    Account(String),
    Region(String),
    Gap(EvidencePart),
    ProfileRole(String, bool, &'static str),
    ResolvedKey(String, String),
    TrustAlso(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let key = prop_oneof![
        Just("DestinationBucketName"),
        Just("KmsKeyId"),
        Just("kmskeyid"),
        Just("IamInstanceProfileName"),
        Just("kmsMasterKeyArn"),
    ];
    let part = prop_oneof![
        Just(EvidencePart::RestoreMetadata),
        Just(EvidencePart::RestoreRole),
        Just(EvidencePart::KeyPolicy),
        Just(EvidencePart::InstanceProfile),
        Just(EvidencePart::RecoveryPoint),
        Just(EvidencePart::ServiceControlPolicies),
    ];
    prop_oneof![
        (key, hostile_value()).prop_map(|(k, v)| Mutation::Metadata(k, v)),
        Just(Mutation::DropMetadata),
        hostile_value().prop_map(Mutation::JobRole),
        hostile_value().prop_map(Mutation::RecoveryPointKey),
        prop_oneof![
            hostile_value(),
            Just("S3".to_string()),
            Just("EC2".to_string())
        ]
        .prop_map(Mutation::ResourceType),
        prop_oneof![hostile_value(), Just("444455556666".to_string())].prop_map(Mutation::Account),
        prop_oneof![hostile_value(), Just("eu-west-1".to_string())].prop_map(Mutation::Region),
        part.prop_map(Mutation::Gap),
        (
            hostile_value(),
            any::<bool>(),
            prop_oneof![Just("ec2.amazonaws.com"), Just("lambda.amazonaws.com")]
        )
            .prop_map(|(r, t, s)| Mutation::ProfileRole(r, t, s)),
        (hostile_value(), hostile_value()).prop_map(|(a, b)| Mutation::ResolvedKey(a, b)),
        hostile_value().prop_map(Mutation::TrustAlso),
    ]
}

fn apply(e: &mut Evidence, m: &Mutation) {
    match m {
        Mutation::Metadata(k, v) => {
            e.restore_metadata
                .get_or_insert_with(Default::default)
                .insert((*k).into(), v.clone());
        }
        Mutation::DropMetadata => e.restore_metadata = None,
        Mutation::JobRole(r) => {
            if let Some(j) = e.restore_job.as_mut() {
                j.iam_role_arn = Some(r.clone());
            }
        }
        Mutation::RecoveryPointKey(k) => {
            if let Some(rp) = e.recovery_point.as_mut() {
                rp.encryption_key_arn = Some(k.clone());
            }
        }
        Mutation::ResourceType(t) => {
            if let Some(j) = e.restore_job.as_mut() {
                j.resource_type = Some(t.clone());
            }
        }
        Mutation::Account(a) => e.account_id = Some(a.clone()),
        Mutation::Region(r) => e.region = Some(r.clone()),
        Mutation::Gap(part) => e.gaps.push(Gap {
            part: *part,
            call: "x".into(),
            error: "ThrottlingException".into(),
        }),
        Mutation::ProfileRole(role, tagged, service) => e.instance_profiles.push(InstanceProfile {
            arn: format!("arn:aws:iam::{ACCOUNT}:instance-profile/P"),
            name: "P".into(),
            role_arns: vec![role.clone()],
            roles: vec![RoleFacts {
                arn: role.clone(),
                trust_policy: Some(trust(service)),
                tags: if *tagged {
                    [(OPT_IN.to_string(), "true".to_string())].into()
                } else {
                    Default::default()
                },
            }],
        }),
        Mutation::ResolvedKey(reference, arn) => e.kms_keys.push(KmsKey {
            reference: reference.clone(),
            key_arn: arn.clone(),
            key_manager: None,
            key_state: None,
        }),
        Mutation::TrustAlso(principal) => {
            if let Some(r) = e.restore_role.as_mut() {
                r.trust_policy = Some(json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"},
                    {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]}));
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// What an `attach` must imply, checked without the guard's own helpers where possible.
fn assert_attach_is_narrow(e: &Evidence, report: &Report, put: &Value) {
    let t = requirements::canonical_type(report.restore.resource_type.as_deref().unwrap())
        .expect("attach for a type outside the catalog");
    let (actions, wildcard_only) = requirements::catalog_actions(&t);
    let templates = requirements::catalog_resources(
        &t,
        &requirements::Scope {
            partition: "aws".into(),
            region: Some(REGION.into()),
            account: Some(ACCOUNT.into()),
            bucket: restore_doctor::diagnose::target_bucket(e).ok().flatten(),
            image_arn: None,
            eks_cluster: restore_doctor::diagnose::target_eks_cluster(e)
                .ok()
                .flatten(),
        },
    );
    for stmt in put["Statement"].as_array().unwrap() {
        assert_eq!(stmt["Effect"], "Allow");
        let stmt_actions = strings(&stmt["Action"]);
        for a in &stmt_actions {
            assert!(
                actions.contains(&a.to_ascii_lowercase()),
                "{a} not in the catalog"
            );
        }
        for r in strings(&stmt["Resource"]) {
            if r == "*" {
                assert!(
                    stmt_actions
                        .iter()
                        .all(|a| wildcard_only.contains(&a.to_ascii_lowercase())),
                    "{stmt}"
                );
            } else if r.contains(['*', '?']) {
                assert!(templates.contains(&r), "pattern {r} is no catalog template");
                assert!(
                    r.starts_with("arn:aws:s3:::") || r.contains(&format!(":{REGION}:{ACCOUNT}:")),
                    "{r} not filled with this account and Region"
                );
            } else {
                let arn = Arn::parse(&r).unwrap();
                assert!(
                    arn.account() == ACCOUNT || (arn.service() == "s3" && arn.account().is_empty()),
                    "{r}"
                );
                assert!(arn.region().is_empty() || arn.region() == REGION, "{r}");
            }
            if r.starts_with("arn:aws:s3:::") && stmt_actions != ["s3:CreateBucket"] {
                assert_eq!(
                    stmt["Condition"]["StringEquals"]["s3:ResourceAccount"],
                    ACCOUNT
                );
            }
        }
    }
    let role = e.restore_role.as_ref().unwrap();
    assert_eq!(Some(&role.arn), report.restore.role_arn.as_ref());
    assert!(role
        .arn
        .starts_with(&format!("arn:aws:iam::{ACCOUNT}:role/")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]
    #[test]
    fn attach_implies_a_fully_specified_same_account_catalog_patch(
        base in prop_oneof![
            Just("efs-role-missing-kms"),
            Just("s3-role-without-s3-restore-policy"),
            Just("efs-evidence-gaps"),
            Just("dynamodb-role-missing-kms"),
            Just("ec2-passrole-encoded"),
        ],
        mutations in proptest::collection::vec(mutation(), 0..4),
    ) {
        let mut e = opted_in(case(base));
        for m in &mutations {
            apply(&mut e, m);
        }
        let report = examine(&e);
        let d = decide(&e, &report, &settings());
        if d.report.decision == "attach" {
            let (_, put) = d.put.as_ref().unwrap();
            assert_attach_is_narrow(&e, &report, put);
        } else {
            prop_assert!(d.put.is_none());
            prop_assert!(!d.report.reasons.is_empty());
        }
    }
}

/// A decoded authorization message names the request's own resource, which may be a
/// pattern: it is reported, but never granted by the patch.
#[test]
fn a_pattern_in_a_decoded_message_is_reported_not_granted() {
    let mut e = opted_in(case("efs-role-missing-kms"));
    e.decoded_message = Some(json!({"allowed": false, "explicitDeny": false, "context": {
        "principal": {"arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/BackupRestoreRole/AWSBackup-BackupRestoreRole")},
        "action": "kms:Decrypt",
        "resource": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/*"),
        "conditions": {"items": []}}}));
    e.restore_job.as_mut().unwrap().status_message =
        Some("Encoded authorization failure message: AbCdEfGhIjKlMnOpQrSt".into());
    let report = examine(&e);
    let f = report
        .missing
        .iter()
        .find(|f| f.resource.ends_with(":key/*"))
        .expect("the denied request is reported");
    assert!(!f.fixable_by_patch);
    let patch = serde_json::to_string(&report.patch).unwrap();
    assert!(!patch.contains("key/*"), "{patch}");
    assert_eq!(decide(&e, &report, &settings()).report.decision, "refuse");
}

/// Roles only AWS may change (service-linked, IAM Identity Center) are never written,
/// whatever their tags say.
#[test]
fn roles_under_aws_managed_paths_are_never_written() {
    for path in [
        "aws-service-role/backup.amazonaws.com",
        "aws-reserved/sso.amazonaws.com",
    ] {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{path}/BackupRestoreRole");
        let mut e = opted_in(case("efs-role-missing-kms"));
        e.restore_job.as_mut().unwrap().iam_role_arn = Some(arn.clone());
        e.trigger["detail"]["iamRoleArn"] = json!(arn);
        e.restore_role.as_mut().unwrap().arn = arn.clone();
        refused(&cli(&e, &[]), "which only AWS may change");
    }
}
