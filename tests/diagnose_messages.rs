//! What AWS said decides the cause (#9 section 1): the variations of each corpus case
//! that could go wrong — a named action on a pattern, on another account, for another
//! principal, from a hostile message; an operation outside the restore's services; a
//! class code inside a denial.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::cli::diagnose::exit_code;
use restore_doctor::diagnose::report::{Cause, FailureClass, FailureKind};
use restore_doctor::diagnose::{Evidence, Report};
use restore_doctor::examine;

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/BackupRestoreRole";
const SESSION: &str =
    "arn:aws:sts::111122223333:assumed-role/BackupRestoreRole/AWSBackup-BackupRestoreRole";
const TABLE: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/orders-restored";

fn case(name: &str) -> Evidence {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
        .join("evidence.json");
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn with_message(mut e: Evidence, msg: &str) -> Evidence {
    e.trigger["detail"]["statusMessage"] = msg.into();
    if let Some(job) = e.restore_job.as_mut() {
        job.status_message = Some(msg.into());
    }
    e
}

fn not_authorized(principal: &str, action: &str, resource: &str) -> String {
    format!("User: {principal} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action")
}

fn ddb(msg: &str) -> Report {
    examine(&with_message(
        case("class-named-action-dynamodb-list-tags"),
        msg,
    ))
}

fn patched_actions(r: &Report) -> Vec<String> {
    r.patch
        .iter()
        .chain(r.other_patches.iter())
        .flat_map(|p| {
            p.document["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| s["Action"].to_string())
        .collect()
}

/// Regression (#9): a DynamoDB restore denied dynamodb:ListTagsOfResource was reported
/// as "not about permissions".
#[test]
fn named_action_outside_the_catalog_is_a_finding_with_a_scoped_patch() {
    let r = ddb(&not_authorized(
        SESSION,
        "dynamodb:ListTagsOfResource",
        TABLE,
    ));
    assert_eq!(r.cause, Cause::MissingPermissions, "{}", r.summary);
    assert_eq!(r.missing.len(), 1);
    let f = &r.missing[0];
    assert_eq!(
        (f.action.as_str(), f.resource.as_str(), f.principal.as_str()),
        ("dynamodb:ListTagsOfResource", TABLE, ROLE)
    );
    assert!(f.fixable_by_patch && r.verified);
    let doc = &r.patch.as_ref().unwrap().document;
    assert_eq!(doc["Statement"][0]["Resource"], TABLE);
    assert_eq!(exit_code(&r), 2);
}

#[test]
fn any_session_of_the_restore_role_is_the_restore_role() {
    let other_session = "arn:aws:sts::111122223333:assumed-role/BackupRestoreRole/restore-test-42";
    let r = ddb(&not_authorized(
        other_session,
        "dynamodb:ListTagsOfResource",
        TABLE,
    ));
    assert_eq!(r.missing.len(), 1, "{:#?}", r.missing);
    assert_eq!(r.missing[0].principal, ROLE);
    // Same role name in another account is someone else.
    let foreign =
        "arn:aws:sts::444455556666:assumed-role/BackupRestoreRole/AWSBackup-BackupRestoreRole";
    let r = ddb(&not_authorized(
        foreign,
        "dynamodb:ListTagsOfResource",
        TABLE,
    ));
    assert!(r.patch.is_none(), "{:#?}", r.patch);
    assert_ne!(r.cause, Cause::NotPermissions);
}

#[test]
fn a_pattern_or_foreign_resource_from_the_message_is_never_granted() {
    for resource in [
        "arn:aws:dynamodb:us-east-1:111122223333:table/orders-*",
        "arn:aws:dynamodb:us-east-1:444455556666:table/orders-restored",
    ] {
        let r = ddb(&not_authorized(
            SESSION,
            "dynamodb:ListTagsOfResource",
            resource,
        ));
        assert_eq!(r.missing.len(), 1, "{resource}: {:#?}", r.missing);
        assert!(!r.missing[0].fixable_by_patch, "{resource}");
        assert!(r.patch.is_none(), "{resource}: {:#?}", r.patch);
        assert!(!r.verified);
    }
}

#[test]
fn a_message_cannot_steer_the_patch_to_other_services_or_wildcard_actions() {
    // IAM is not a service of a DynamoDB restore: reported, never granted.
    let r = ddb(&not_authorized(
        SESSION,
        "iam:CreateUser",
        "arn:aws:iam::111122223333:user/mallory",
    ));
    assert!(
        patched_actions(&r).iter().all(|a| !a.contains("iam:")),
        "{:?}",
        patched_actions(&r)
    );
    assert!(r.missing.iter().all(|f| !f.fixable_by_patch));
    // A wildcard or malformed action is not an action: no check, no grant.
    for action in [
        "dynamodb:*",
        "dynamodb:List`Tags",
        "DynamoDB:ListTagsOfResource",
    ] {
        let r = ddb(&not_authorized(SESSION, action, TABLE));
        assert!(r.patch.is_none(), "{action}: {:#?}", r.patch);
        assert!(r.missing.iter().all(|f| f.action != action), "{action}");
    }
}

/// The restore role already has what AWS named: the denial is unexplained, not "not
/// about permissions", and nothing is patched.
#[test]
fn a_named_action_the_policies_allow_is_an_unexplained_denial() {
    let r = ddb(&not_authorized(SESSION, "dynamodb:DescribeTable", TABLE));
    assert_eq!(r.cause, Cause::UnexplainedDenial, "{}", r.summary);
    assert!(r.patch.is_none() && !r.verified);
    let u = r.unexplained_denial.as_ref().unwrap();
    assert!(u.checked.iter().any(|c| c.starts_with("dynamodb:")));
    assert!(u
        .not_verified
        .iter()
        .any(|n| n.contains("resource control")));
    assert!(r.summary.contains("Next:"), "{}", r.summary);
}

#[test]
fn an_operation_outside_the_catalog_is_checked_on_star_and_not_granted() {
    // Redshift: DescribeClusterSubnetGroups is a Redshift operation the catalog does not
    // list, with a resource AWS did not name.
    let e = with_message(
        case("class-named-operation-redshift-restore"),
        "An error occurred (AccessDenied) when calling the DescribeClusterSubnetGroups operation: Access Denied",
    );
    let mut e = e;
    e.restore_role.as_mut().unwrap().policies[0].document["Statement"][0]["NotAction"] =
        serde_json::json!(["redshift:DescribeClusterSubnetGroups"]);
    let r = examine(&e);
    assert_eq!(
        r.failure.denied.as_ref().map(|d| d.action.as_str()),
        Some("redshift:DescribeClusterSubnetGroups")
    );
    let f = r
        .missing
        .iter()
        .find(|f| f.action == "redshift:DescribeClusterSubnetGroups")
        .unwrap_or_else(|| panic!("{:#?}", r.missing));
    assert_eq!(f.resource, "*");
    assert!(!f.fixable_by_patch);
    assert!(f
        .who_must_act
        .as_deref()
        .unwrap()
        .contains("resource-level"));
    assert!(r.patch.is_none());
}

#[test]
fn an_operation_of_another_service_names_no_action() {
    // An EFS restore whose message names a Redshift operation: nothing is guessed.
    let e = with_message(
        case("class-unexplained-denial-opaque"),
        "An error occurred (AccessDenied) when calling the RestoreFromClusterSnapshot operation: Access Denied",
    );
    let r = examine(&e);
    assert!(r.failure.denied.is_none(), "{:?}", r.failure.denied);
    assert_eq!(r.failure.kind, FailureKind::Opaque);
    assert_eq!(r.cause, Cause::UnexplainedDenial);
}

#[test]
fn every_class_message_is_classified_and_never_blamed_on_permissions() {
    let cases = [
        ("class-network-no-default-subnet", FailureClass::Network),
        (
            "class-restore-metadata-snapshot-not-found",
            FailureClass::RestoreMetadata,
        ),
        (
            "class-already-exists-dynamodb-table",
            FailureClass::AlreadyExists,
        ),
        ("class-quota-vcpu-limit", FailureClass::QuotaExceeded),
        (
            "class-unsupported-new-instance-profile",
            FailureClass::UnsupportedConfiguration,
        ),
        ("class-kms-key-pending-deletion", FailureClass::KmsKeyState),
        ("class-internal-failure", FailureClass::InternalError),
    ];
    for (name, class) in cases {
        let r = examine(&case(name));
        let c = r.failure.class.as_ref().unwrap_or_else(|| panic!("{name}"));
        assert_eq!(c.class, class, "{name}");
        assert_eq!(r.cause, Cause::from(class), "{name}");
        assert!(
            c.source.starts_with("https://docs.aws.amazon.com/"),
            "{name}"
        );
        assert!(!r.verified, "{name}");
        assert!(r.summary.starts_with("Not a permissions problem"), "{name}");
    }
}

/// The permission gap found alongside a non-permission failure stays in `missing` (and
/// its patch is offered) but is "also missing": never the headline, never verified.
#[test]
fn a_permission_gap_beside_a_failure_class_is_also_missing() {
    let r = examine(&case("class-unsupported-new-instance-profile"));
    assert_eq!(r.cause, Cause::UnsupportedConfiguration);
    assert_eq!(r.missing.len(), 1);
    assert!(r.patch.is_some() && !r.verified);
    let text = restore_doctor::render::text::report_text(&r);
    assert!(
        text.contains("Also missing (not the cause of this failure)"),
        "{text}"
    );
    assert!(!text.contains("\nMissing permissions"), "{text}");
}

/// A class code inside a denial does not turn the denial into "not about permissions".
#[test]
fn a_denial_that_mentions_a_class_code_stays_a_denial() {
    let r = ddb("Access Denied (InternalFailure while calling RestoreTableFromBackup)");
    assert!(r.failure.class.is_none());
    assert_eq!(r.cause, Cause::UnexplainedDenial, "{}", r.summary);
}

#[test]
fn an_unclassified_other_message_with_everything_allowed_is_not_permissions() {
    let r = ddb("The restore was cancelled by the operator.");
    assert_eq!(r.failure.kind, FailureKind::Other);
    assert!(r.failure.class.is_none());
    assert_eq!(r.cause, Cause::NotPermissions);
}

/// The Slack notification and the email subject of the new causes: the class with its
/// AWS guidance link and "also missing", and what an unexplained denial left unchecked.
#[test]
fn new_causes_render_in_slack_and_email() {
    use restore_doctor::render::{alert, slack};
    let ctx = alert::AlertContext {
        correlation_id: "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b".into(),
        dedup_key: "111122223333:us-east-1:restore-job:C1A55001".into(),
        log_group: None,
    };
    for name in [
        "class-unsupported-new-instance-profile",
        "class-unexplained-denial-opaque",
    ] {
        let r = examine(&case(name));
        let notification = slack::notification(&r, &ctx);
        let description = notification["content"]["description"].as_str().unwrap();
        if r.cause.is_failure_class() {
            assert!(description.contains("*Also missing*"), "{description}");
            assert!(
                description.contains("[AWS guidance](https://docs.aws.amazon.com/"),
                "{description}"
            );
        } else {
            let steps = notification["content"]["nextSteps"].to_string();
            assert!(steps.contains("Look next at"), "{steps}");
        }
        insta::assert_json_snapshot!(format!("{name}.slack"), notification);
        let built = alert::build(&r, &ctx);
        assert!(built.subject.chars().count() < 100);
        insta::assert_snapshot!(format!("{name}.subject"), built.subject);
    }
}

/// `data/operations.json` is what `scripts/gen-operations.py` generates from the pinned
/// AWS SDK service models (botocore in requirements-dev.txt): nobody edits the table by
/// hand, and a model change shows up here.
#[test]
fn the_operation_table_is_the_generated_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("RESTORE_DOCTOR_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin"));
    let out = std::process::Command::new(dir.join("python"))
        .arg("scripts/gen-operations.py")
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("the project's Python (make setup)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Slack says a vault deny in plain words: the vault's access policy denies the
/// restore to everyone, not "for any principal".
#[test]
fn slack_names_a_vault_deny_in_plain_words() {
    use restore_doctor::render::{alert, slack};
    // The caller is unknown: the Deny holds whoever calls.
    let r = examine(&case("efs-combined-role-kms-vault"));
    let n = slack::notification(&r, &alert::AlertContext::default());
    let d = n["content"]["description"].as_str().unwrap();
    assert!(
        d.contains(
            "the access policy of vault `efs-vault` denies `backup:StartRestoreJob` to everyone"
        ),
        "{d}"
    );
    assert!(!d.contains("any principal"), "{d}");
    // The caller is known: named.
    let r = examine(&case("efs-vault-policy-deny"));
    let n = slack::notification(&r, &alert::AlertContext::default());
    let d = n["content"]["description"].as_str().unwrap();
    assert!(
        d.contains("the access policy of vault `aws/efs/automatic-backup-vault` denies `backup:StartRestoreJob` to `oncall`"),
        "{d}"
    );
}
