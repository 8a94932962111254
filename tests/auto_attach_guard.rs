//! The auto-attach guardrails, offline: each one refuses a case crafted to get a broad,
//! foreign or unverified grant through; a clean, opted-in case is attached, merged with
//! an earlier fix without duplicating statements.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::evidence::{Evidence, PolicyDoc, PolicyKind, RoleFacts};
use restore_doctor::diagnose::Report;
use restore_doctor::examine;
use restore_doctor::remedy::guard::{decide, Decision, GuardSettings};
use serde_json::{json, Value};

fn case(name: &str) -> Evidence {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cases/{name}/evidence.json"));
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn opted_in(mut e: Evidence) -> Evidence {
    if let Some(r) = e.restore_role.as_mut() {
        r.tags
            .insert("restore-doctor:auto-attach".into(), "true".into());
    }
    e
}

fn on() -> GuardSettings {
    GuardSettings {
        enabled: true,
        account: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    }
}

fn run(e: &Evidence, settings: &GuardSettings) -> (Report, Decision) {
    let report = examine(e);
    let d = decide(e, &report, settings);
    (report, d)
}

fn refused_because(d: &Decision, needle: &str) {
    assert_eq!(d.report.decision, "refuse", "{:?}", d.report.reasons);
    assert!(d.put.is_none());
    assert!(
        d.report.reasons.iter().any(|r| r.contains(needle)),
        "no reason mentions `{needle}`: {:#?}",
        d.report.reasons
    );
}

/// Replaces the patch's statements, to try to slip a broad grant past the guard.
fn with_statements(e: &Evidence, statements: Value) -> Decision {
    let mut report = examine(e);
    report.patch.as_mut().unwrap().document =
        json!({"Version": "2012-10-17", "Statement": statements});
    decide(e, &report, &on())
}

#[test]
fn clean_opted_in_case_is_attached_exactly_as_shown() {
    let e = opted_in(case("efs-role-missing-kms"));
    let (report, d) = run(&e, &on());
    assert_eq!(d.report.decision, "attach", "{:?}", d.report.reasons);
    let (role, doc) = d.put.unwrap();
    assert_eq!(role, "BackupRestoreRole");
    // With no earlier fix, the attached policy is the patch shown, statement for statement.
    assert_eq!(
        doc["Statement"],
        report.patch.unwrap().document["Statement"]
    );
    assert!(d
        .report
        .undo_command
        .unwrap()
        .starts_with("aws iam delete-role-policy"));
}

#[test]
fn off_by_default() {
    let e = opted_in(case("efs-role-missing-kms"));
    let (_, d) = run(&e, &GuardSettings::default());
    refused_because(&d, "off");
}

#[test]
fn role_must_be_opted_in_by_tag_or_pattern() {
    let e = case("efs-role-missing-kms");
    refused_because(&run(&e, &on()).1, "not opted in");
    let wrong_tag_value = {
        let mut e = e.clone();
        e.restore_role
            .as_mut()
            .unwrap()
            .tags
            .insert("restore-doctor:auto-attach".into(), "yes please".into());
        e
    };
    refused_because(&run(&wrong_tag_value, &on()).1, "not opted in");
    let by_pattern = GuardSettings {
        role_patterns: vec!["arn:aws:iam::111122223333:role/service-role/Backup*".into()],
        ..on()
    };
    assert_eq!(run(&e, &by_pattern).1.report.decision, "attach");
    let other_pattern = GuardSettings {
        role_patterns: vec!["arn:aws:iam::111122223333:role/Other*".into()],
        ..on()
    };
    refused_because(&run(&e, &other_pattern).1, "not opted in");
}

#[test]
fn only_the_fixers_own_account() {
    let e = opted_in(case("efs-role-missing-kms"));
    let elsewhere = GuardSettings {
        account: Some("999999999999".into()),
        ..on()
    };
    refused_because(&run(&e, &elsewhere).1, "not in this account");
}

#[test]
fn blockers_a_patch_cannot_fix_are_never_patched() {
    for (name, needle) in [
        ("efs-identity-explicit-deny", "nothing to attach"),
        ("efs-scp-deny", "nothing to attach"),
        ("kms-key-policy-without-root", "nothing to attach"),
        ("efs-boundary-blocks-kms", "not a missing allow"),
        ("efs-combined-role-kms-vault", "not a missing allow"),
    ] {
        let e = opted_in(case(name));
        refused_because(&run(&e, &on()).1, needle);
    }
}

#[test]
fn caller_patches_are_not_attached() {
    let e = opted_in(case("efs-caller-missing-start-restore-job"));
    refused_because(&run(&e, &on()).1, "not the restore role");
}

#[test]
fn crafted_broad_grants_are_refused() {
    let e = opted_in(case("efs-role-missing-kms"));
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
        ),
        "wildcard action",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "kms:*", "Resource": key}]),
        ),
        "wildcard action",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "arn:aws:iam::111122223333:user/x"}]),
        ),
        "not an action the restore catalog requires",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "elasticfilesystem:CreateFileSystem", "Resource": "*"}]),
        ),
        "every resource",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:444455556666:key/x"}]),
        ),
        "another account",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": key}]),
        ),
        "plain Allow",
    );
}

#[test]
fn pass_role_only_on_an_exact_role_for_a_named_service() {
    let e = opted_in(case("ec2-passrole-encoded"));
    // The inline copy of the managed policy fills the role: make room first.
    let mut e = e;
    e.restore_role.as_mut().unwrap().policies[0].kind = PolicyKind::Managed;
    e.restore_role.as_mut().unwrap().trust_policy = Some(json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]}));
    // The passed role, as iam:GetRole read it: itself opted in, trusted by EC2.
    let profile_role = e.instance_profiles[0].role_arns[0].clone();
    e.instance_profiles[0].roles = vec![RoleFacts {
        arn: profile_role,
        trust_policy: Some(json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})),
        tags: [("restore-doctor:auto-attach".to_string(), "true".to_string())].into(),
    }];
    let (_, d) = run(&e, &on());
    assert_eq!(d.report.decision, "attach", "{:?}", d.report.reasons);
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111122223333:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}]),
        ),
        "iam:PassRole must be on one exact role",
    );
    refused_because(
        &with_statements(
            &e,
            json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111122223333:role/AmazonSSMRoleForInstancesQuickSetup"}]),
        ),
        "iam:PassRole must be on one exact role",
    );
}

#[test]
fn merged_policy_over_the_size_limit_is_refused() {
    // As found: the EC2 case's role carries an inline copy of the managed policy.
    let e = opted_in(case("ec2-passrole-encoded"));
    refused_because(&run(&e, &on()).1, "exceed IAM's 10240-character limit");
}

#[test]
fn earlier_fixes_are_merged_without_duplicates() {
    let e = opted_in(case("efs-role-missing-kms"));
    let (report, first) = run(&e, &on());
    let (_, attached) = first.put.unwrap();

    // Second run: the role now has the fix; nothing is missing, nothing to attach.
    let mut after = e.clone();
    after
        .restore_role
        .as_mut()
        .unwrap()
        .policies
        .push(PolicyDoc {
            name: "restore-doctor-fix".into(),
            arn: None,
            kind: PolicyKind::Inline,
            document: attached.clone(),
        });
    let (report2, second) = run(&after, &on());
    assert!(report2.missing.is_empty(), "{:#?}", report2.missing);
    refused_because(&second, "already carries `restore-doctor-fix`");

    // An earlier, different fix is kept and the new statements are added once.
    let mut earlier = e.clone();
    let old = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Earlier", "Effect": "Allow",
        "Action": "elasticfilesystem:DescribeFileSystems", "Resource": "arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/*"}]});
    earlier
        .restore_role
        .as_mut()
        .unwrap()
        .policies
        .push(PolicyDoc {
            name: "restore-doctor-fix".into(),
            arn: None,
            kind: PolicyKind::Inline,
            document: old.clone(),
        });
    let d = decide(&earlier, &report, &on());
    let (_, merged) = d.put.unwrap();
    let stmts = merged["Statement"].as_array().unwrap();
    assert_eq!(
        stmts.len(),
        1 + report.patch.as_ref().unwrap().document["Statement"]
            .as_array()
            .unwrap()
            .len()
    );
    assert_eq!(stmts[0], old["Statement"][0]);
    assert!(d.report.undo_command.unwrap().contains("Earlier"));
    // Deciding again on the merged result adds nothing.
    earlier
        .restore_role
        .as_mut()
        .unwrap()
        .policies
        .last_mut()
        .unwrap()
        .document = merged.clone();
    let again = decide(&earlier, &report, &on());
    assert_eq!(again.put.unwrap().1, merged);
}

/// The new restore paths' fixes pass the guard when opted in: the file-level S3 grant is
/// held to this account by `s3:ResourceAccount`, and the EKS grant names the one cluster
/// the restore metadata's `clusterName` names (no `cluster/*`).
#[test]
fn file_level_and_eks_fixes_are_attached_when_opted_in() {
    for (name, resource) in [
        (
            "ebs-file-level-to-s3-missing-s3permissionsforfilelevelrestore",
            "arn:aws:s3:::restored-files-111122223333/*",
        ),
        (
            "eks-new-cluster-missing-eksclusterrestore",
            "arn:aws:eks:us-east-1:111122223333:cluster/prod-restored",
        ),
    ] {
        let (_, d) = run(&opted_in(case(name)), &on());
        assert_eq!(
            d.report.decision, "attach",
            "{name}: {:?}",
            d.report.reasons
        );
        let (_, doc) = d.put.unwrap();
        let resources: Vec<&Value> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["Resource"])
            .collect();
        assert!(
            resources.iter().all(|r| *r == resource),
            "{name}: {resources:?}"
        );
    }
}
