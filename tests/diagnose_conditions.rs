//! Never verify by dropping a condition (issue #9): an allow conditional on context the
//! evidence lacks is "depends on <key>", never a grant without the condition and never
//! verified; a Deny conditional on unknown context means "may be denied" (unverified),
//! not a missing allow; a conditional statement the decision does not hinge on changes
//! nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::evidence::{Evidence, PolicyDoc, PolicyKind};
use restore_doctor::diagnose::report::{Blocker, Cause};
use restore_doctor::examine;
use restore_doctor::policy::{evaluate, Decision, NamedPolicy, Policy, PolicySet, Request};
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:iam::111122223333:role/R";
const TAG: &str = "aws:ResourceTag/backup-restore";

fn evaluate_with(statements: Value) -> restore_doctor::policy::Evaluation {
    let set = PolicySet {
        identity: vec![NamedPolicy {
            name: "p".into(),
            policy: Policy::from_value(&json!({"Version": "2012-10-17", "Statement": statements}))
                .unwrap(),
        }],
        ..PolicySet::default()
    };
    let req = Request {
        principal: ROLE.into(),
        action: "rds:RestoreDBInstanceFromDBSnapshot".into(),
        resource: "arn:aws:rds:us-east-1:111122223333:snapshot:awsbackup-job-1".into(),
        resource_account: Some("111122223333".into()),
        context: Default::default(),
    };
    evaluate(&req, &set).unwrap()
}

fn tagged_allow() -> Value {
    json!({"Effect": "Allow", "Action": "rds:*", "Resource": "*",
           "Condition": {"StringEquals": {TAG: "allowed"}}})
}

#[test]
fn the_evaluator_says_which_effect_hinges_on_unknown_context() {
    // The only allow hinges on the tag: denied as evaluated, but it depends on the tag.
    let e = evaluate_with(json!([tagged_allow()]));
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert_eq!(e.allow_depends_on, vec![TAG.to_owned()]);
    assert!(e.deny_depends_on.is_empty());

    // An unconditional allow beside it: the tag decides nothing (too broad before).
    let e = evaluate_with(json!([
        tagged_allow(),
        {"Effect": "Allow", "Action": "rds:RestoreDBInstanceFromDBSnapshot", "Resource": "*"}
    ]));
    assert_eq!(e.decision, Decision::Allowed);
    assert!(e.allow_depends_on.is_empty() && e.deny_depends_on.is_empty());
    assert_eq!(e.missing_context_keys, vec![TAG.to_owned()]);

    // A Deny on an unknown tag of an allowed request: may be denied.
    let e = evaluate_with(json!([
        {"Effect": "Allow", "Action": "rds:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "rds:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}
    ]));
    assert_eq!(e.decision, Decision::Allowed);
    assert_eq!(
        e.deny_depends_on,
        vec!["aws:ResourceTag/protected".to_owned()]
    );
    assert!(e.allow_depends_on.is_empty());

    // The same Deny on a request nothing allows: denied either way, nothing hinges.
    let e = evaluate_with(json!([
        {"Effect": "Deny", "Action": "rds:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}
    ]));
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert!(e.deny_depends_on.is_empty());

    // A condition that fails on a key the request carries is not hinging on the other.
    let e = evaluate_with(json!([
        {"Effect": "Allow", "Action": "rds:*", "Resource": "*",
         "Condition": {"StringEquals": {TAG: "allowed", "aws:PrincipalAccount": "999999999999"}}}
    ]));
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert!(e.allow_depends_on.is_empty());
}

fn case(name: &str) -> Evidence {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cases/{name}/evidence.json"));
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The EFS case whose role lacks EFS permissions, with `statements` added to the role.
fn efs_with(statements: Value) -> Evidence {
    let mut e = case("efs-role-missing-efs");
    e.restore_role.as_mut().unwrap().policies.push(PolicyDoc {
        name: "efs".into(),
        arn: None,
        kind: PolicyKind::Inline,
        document: json!({"Version": "2012-10-17", "Statement": statements}),
    });
    e
}

/// Regression: the role's EFS allow conditional on a resource tag was reported as a
/// plain missing allow, the patch granted it without the condition, and re-evaluating
/// that patch called the fix verified.
#[test]
fn a_conditional_allow_is_never_verified_by_granting_without_the_condition() {
    let report = examine(&case("efs-conditional-resource-tag"));
    let efs: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.action.starts_with("elasticfilesystem:"))
        .collect();
    assert_eq!(efs.len(), 5, "{:#?}", report.missing);
    for f in efs {
        assert!(!f.fixable_by_patch, "{f:#?}");
        assert_eq!(f.blocked_by, vec![Blocker::IdentityPolicy]);
        assert_eq!(f.assumed_context, vec![TAG.to_owned()]);
        assert!(f.who_must_act.as_deref().unwrap().contains(TAG));
    }
    assert!(report.patch.is_none(), "{:#?}", report.patch);
    assert!(!report.verified);
    assert!(report.summary.contains("depends on"), "{}", report.summary);
}

/// An allow that holds only because the key is absent (`...IfExists`) is not proven.
#[test]
fn an_allow_that_holds_by_absence_is_not_proven() {
    let e = efs_with(
        json!([{"Effect": "Allow", "Action": "elasticfilesystem:*", "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/env": "prod"}}}]),
    );
    let report = examine(&e);
    assert!(
        report
            .missing
            .iter()
            .all(|f| !f.action.starts_with("elasticfilesystem:")),
        "{:#?}",
        report.missing
    );
    assert!(!report.verified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.what.contains("elasticfilesystem:") && u.why.contains("aws:ResourceTag/env")));
    assert!(report
        .verification
        .still_blocked
        .iter()
        .any(|s| s.contains("not proven")));
}

/// A Deny that hinges on unknown context: unverified ("may be denied"), not a missing
/// allow, and no patch.
#[test]
fn a_conditional_deny_is_unverified_not_missing() {
    let e = efs_with(json!([
        {"Effect": "Allow", "Action": "elasticfilesystem:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "elasticfilesystem:DeleteFileSystem", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}
    ]));
    let report = examine(&e);
    assert!(report.missing.is_empty(), "{:#?}", report.missing);
    assert!(report.patch.is_none());
    assert!(!report.verified);
    assert_eq!(report.cause, Cause::Unverified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.what.contains("elasticfilesystem:DeleteFileSystem")
            && u.why.contains("may be denied")));
}

/// Control: a conditional statement the decision does not hinge on leaves the
/// diagnosis complete (the earlier, reverted attempt refused every such role).
#[test]
fn a_condition_the_decision_does_not_hinge_on_changes_nothing() {
    let e = efs_with(json!([
        {"Effect": "Allow", "Action": "elasticfilesystem:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "elasticfilesystem:*", "Resource": "*",
         "Condition": {"StringEquals": {TAG: "allowed"}}}
    ]));
    let report = examine(&e);
    assert!(report.missing.is_empty(), "{:#?}", report.missing);
    // Nothing depends on the unknown tag: no gap, nothing unproven. The evidence's
    // message is AWS's opaque denial, which nothing found explains.
    assert!(report.unverified.is_empty(), "{:#?}", report.unverified);
    assert!(report.verification.still_blocked.is_empty());
    assert_eq!(report.cause, Cause::UnexplainedDenial);
}
