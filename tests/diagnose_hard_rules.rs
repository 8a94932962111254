//! AWS's own rules (issue #9, section 3): writes to roles only AWS may change and to the
//! aliases of AWS managed keys are denied whatever the policies say; the diagnosis says
//! "AWS does not allow this: no patch can fix it", the patch never grants them and
//! auto-attach refuses them, from the one rule in `policy::hard_rules`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::evidence::Evidence;
use restore_doctor::diagnose::report::{Blocker, Cause};
use restore_doctor::examine;
use restore_doctor::policy::hard_rules::{self, NO_PATCH};
use restore_doctor::policy::{evaluate, Decision, NamedPolicy, Policy, PolicySet, Request};
use restore_doctor::remedy::guard::{decide, GuardSettings};
use serde_json::json;

const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const SLR: &str =
    "arn:aws:iam::111122223333:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup";
const SSO: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123456789abcdef";

fn case(name: &str) -> Evidence {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cases/{name}/evidence.json"));
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A principal allowed everything.
fn admin() -> PolicySet {
    PolicySet {
        identity: vec![NamedPolicy {
            name: "AdministratorAccess".into(),
            policy: Policy::from_value(&json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            .unwrap(),
        }],
        ..PolicySet::default()
    }
}

fn ask(action: &str, resource: &str) -> restore_doctor::policy::Evaluation {
    let req = Request {
        principal: ADMIN.into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: Some("111122223333".into()),
        context: Default::default(),
    };
    evaluate(&req, &admin()).unwrap()
}

#[test]
fn an_administrator_cannot_write_roles_only_aws_may_change() {
    for (role, id) in [
        (SLR, "serviceLinkedRoleWrite"),
        (SSO, "identityCenterRoleWrite"),
    ] {
        for action in [
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:UpdateAssumeRolePolicy",
        ] {
            let e = ask(action, role);
            assert_eq!(e.decision, Decision::ExplicitlyDenied, "{action} on {role}");
            let rule = e.hard_rule.as_ref().unwrap();
            assert_eq!(rule.id, id);
            assert!(rule.source.starts_with("https://"), "{rule:?}");
            // Decided before any layer: nothing in the policies explains it.
            assert!(e.layers.is_empty() && e.blocked_by.is_empty());
        }
    }
    // The same writes to an ordinary role are the policies' business.
    let plain = "arn:aws:iam::111122223333:role/service-role/BackupRestoreRole";
    let e = ask("iam:PutRolePolicy", plain);
    assert_eq!(e.decision, Decision::Allowed);
    assert!(e.hard_rule.is_none());
    // A service-linked role's description is editable (IAM User Guide).
    assert_eq!(
        ask("iam:UpdateRoleDescription", SLR).decision,
        Decision::Allowed
    );
}

#[test]
fn aliases_of_aws_managed_keys_are_never_written() {
    let reserved = "arn:aws:kms:us-east-1:111122223333:alias/aws/ebs";
    for action in ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"] {
        let e = ask(action, reserved);
        assert_eq!(e.decision, Decision::ExplicitlyDenied, "{action}");
        assert_eq!(e.hard_rule.unwrap().id, "awsManagedAliasWrite");
    }
    let own = "arn:aws:kms:us-east-1:111122223333:alias/awsome";
    assert_eq!(ask("kms:UpdateAlias", own).decision, Decision::Allowed);
}

/// Regression: an EC2 restore passing a role IAM Identity Center owns was reported as a
/// missing iam:PassRole with a patch granting it, which cannot make the role usable.
#[test]
fn passing_an_identity_center_role_is_explained_never_patched() {
    let e = case("ec2-aws-reserved-instance-profile-role");
    let report = examine(&e);
    let f = report
        .missing
        .iter()
        .find(|f| f.action == "iam:PassRole")
        .unwrap();
    assert_eq!(f.resource, SSO);
    assert_eq!(f.blocked_by, vec![Blocker::AwsRule]);
    assert!(!f.fixable_by_patch);
    assert!(f.who_must_act.as_deref().unwrap().contains(NO_PATCH));
    assert_eq!(report.cause, Cause::ExplicitDeny);
    assert!(
        report.summary.contains("no patch can fix it"),
        "{}",
        report.summary
    );
    assert!(!report.verified);
    // Nothing anywhere grants PassRole on it.
    let grants = serde_json::to_string(&report.patch).unwrap();
    assert!(!grants.contains("aws-reserved"), "{grants}");
}

/// Auto-attach refuses a restore role only AWS may change with the rule's own words, and
/// refuses a patch statement that grants what a hard rule denies.
#[test]
fn auto_attach_refuses_from_the_same_rule() {
    let mut e = case("efs-role-missing-kms");
    e.restore_job.as_mut().unwrap().iam_role_arn = Some(SLR.into());
    e.trigger["detail"]["iamRoleArn"] = json!(SLR);
    let role = e.restore_role.as_mut().unwrap();
    role.arn = SLR.into();
    role.tags
        .insert("restore-doctor:auto-attach".into(), "true".into());
    let settings = GuardSettings {
        enabled: true,
        account: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let report = examine(&e);
    let d = decide(&e, &report, &settings);
    assert_eq!(d.report.decision, "refuse");
    let rule = hard_rules::hard_rule("iam:PutRolePolicy", SLR).unwrap();
    assert!(
        d.report
            .reasons
            .iter()
            .any(|r| r.contains(NO_PATCH) && r.contains(rule.why)),
        "{:#?}",
        d.report.reasons
    );

    // A patch slipped in with iam:PassRole on a service-linked role.
    let e = {
        let mut e = case("efs-role-missing-kms");
        e.restore_role
            .as_mut()
            .unwrap()
            .tags
            .insert("restore-doctor:auto-attach".into(), "true".into());
        e
    };
    let mut report = examine(&e);
    report.patch.as_mut().unwrap().document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": SLR,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}]});
    let d = decide(&e, &report, &settings);
    assert_eq!(d.report.decision, "refuse");
    assert!(
        d.report
            .reasons
            .iter()
            .any(|r| r.contains("`iam:PassRole` on") && r.contains(NO_PATCH)),
        "{:#?}",
        d.report.reasons
    );
}
