#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The alert the Lambda publishes, for a fixed report: snapshots of the Slack (Chatbot)
//! notification and of the whole SNS message, and the size and subject limits.
//!
//! The text report itself (`render::text`) has its own snapshots; here it is replaced by a
//! placeholder so these snapshots change only when the alert does.

use restore_doctor::diagnose::Report;
use restore_doctor::render::alert::{self, AlertContext, MAX_MESSAGE_BYTES};
use restore_doctor::render::slack;
use restore_doctor::render::text::report_text;
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:iam::123456789012:role/service-role/BackupRestoreRoleEFS";
const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn finding(action: &str, resource: &str, fixable: bool, why: &str) -> Value {
    json!({
        "action": action,
        "resource": resource,
        "principal": ROLE,
        "fixableByPatch": fixable,
        "blockedBy": [if fixable { "identityPolicy" } else { "keyPolicy" }],
        "deniedBy": [],
        "why": why,
        "whoMustAct": if fixable { Value::Null } else { json!("the administrators of the KMS key") },
        "assumedContext": []
    })
}

/// A fixed EFS report, written as JSON so new optional report fields do not break it.
fn report() -> Report {
    let fs = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/*";
    serde_json::from_value(json!({
        "schemaVersion": 1,
        "restore": {
            "restoreJobId": "A1B2C3D4-5E6F-7A8B-9C0D-EF1234567890",
            "accountId": "123456789012",
            "region": "eu-west-1",
            "resourceType": "EFS",
            "roleArn": ROLE,
            "recoveryPointArn": "arn:aws:backup:eu-west-1:123456789012:recovery-point:5d3c2b1a-9e8f-4a7b-8c6d-1e2f3a4b5c6d",
            "backupVaultName": "Default",
            "trigger": "restoreJobFailed"
        },
        "failure": {"message": "Insufficient privileges to perform this action", "kind": "opaque"},
        "cause": "missingPermissions",
        "summary": "The restore role BackupRestoreRoleEFS lacks 3 permissions an EFS restore needs.",
        "missing": [
            finding("elasticfilesystem:Restore", fs, true, "EFS restore: restore into the file system"),
            finding("elasticfilesystem:CreateFilesystem", fs, true, "EFS restore: create the new file system"),
            finding("kms:CreateGrant", KEY, false, "EFS restore: let EFS use the target key")
        ],
        "unverified": [{"what": "service control policies", "why": "not collected"}],
        "patch": {
            "principalArn": ROLE,
            "policyName": "restore-doctor-efs-1a2b3c4d",
            "document": {"Version": "2012-10-17", "Statement": [{
                "Sid": "RestoreDoctorEfs",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:CreateFilesystem", "elasticfilesystem:Restore"],
                "Resource": fs
            }]},
            "size": 180,
            "command": "aws iam put-role-policy --role-name BackupRestoreRoleEFS --policy-name restore-doctor-efs-1a2b3c4d --policy-document file://patch.json",
            "warnings": []
        },
        "verified": false,
        "verification": {
            "nowAllowed": ["elasticfilesystem:Restore on *", "elasticfilesystem:CreateFilesystem on *"],
            "stillBlocked": ["kms:CreateGrant on key (keyPolicy)"]
        }
    }))
    .expect("the fixture is a report")
}

fn context() -> AlertContext {
    AlertContext {
        correlation_id: "7c1d0f3e-5b2a-4c8e-9f10-2a6b8d4e1f01".into(),
        dedup_key: "123456789012:eu-west-1:restore-job:A1B2C3D4-5E6F-7A8B-9C0D-EF1234567890".into(),
        log_group: Some("/aws/lambda/restore-doctor-RestoreDoctorFunction-1A2B3C".into()),
    }
}

#[test]
fn slack_notification() {
    insta::assert_json_snapshot!(slack::notification(&report(), &context()));
}

#[test]
fn sns_message() {
    let report = report();
    let alert = alert::build(&report, &context());
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let text = report_text(&report);
    let body = |key: &str| {
        let s = message[key].as_str().unwrap();
        assert!(s.starts_with(&text), "`{key}` starts with the text report");
        format!("<report text>{}", &s[text.len()..])
    };
    assert_eq!(message["sqs"], message["lambda"]);
    let sqs: Value = serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(sqs, serde_json::to_value(&report).unwrap());
    assert!(alert.truncated.is_empty());
    insta::assert_json_snapshot!(json!({
        "subject": alert.subject,
        "attributes": alert.attributes,
        "message": {
            "default": body("default"),
            "email": body("email"),
            "https": serde_json::from_str::<Value>(message["https"].as_str().unwrap()).unwrap(),
            "sqs": "<the report as JSON>",
            "lambda": "<the report as JSON>",
        }
    }));
}

#[test]
fn an_oversized_report_is_shortened_with_a_note_and_stays_a_report() {
    let mut report = report();
    let template = report.missing[0].clone();
    for i in 0..4_000 {
        let mut f = template.clone();
        f.action = format!("elasticfilesystem:Action{i}");
        f.why = "w".repeat(100);
        report.missing.push(f);
    }
    let ctx = context();
    let alert = alert::build(&report, &ctx);
    let attributes: usize = alert
        .attributes
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    assert!(
        alert.message.len() + alert.subject.len() + attributes < MAX_MESSAGE_BYTES,
        "{} bytes",
        alert.message.len()
    );
    assert!(!alert.truncated.is_empty());
    let note = format!("truncated, see log (correlation id {})", ctx.correlation_id);
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    for key in &alert.truncated {
        let part = message[key.as_str()].as_str().unwrap();
        assert!(part.contains(&note), "`{key}` says it was shortened");
    }
    assert!(
        alert.truncated.contains(&"sqs".to_owned()),
        "{:?}",
        alert.truncated
    );
    let sqs: Value = serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert!(sqs["truncated"].as_str().unwrap().contains(&note));
    let shortened: Report = serde_json::from_value(sqs).expect("still a report");
    assert!(shortened.missing.len() < report.missing.len());
    assert_eq!(shortened.summary, report.summary);
    // The Chatbot notification is short by construction and never cut.
    let chatbot: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot["version"], "1.0");
}

#[test]
fn a_huge_patch_document_is_replaced_whole_never_cut() {
    let mut report = report();
    let patch = report.patch.as_mut().unwrap();
    patch.document["Statement"] = json!((0..5_000)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
        .collect::<Vec<_>>());
    let alert = alert::build(&report, &context());
    assert!(alert.message.len() < MAX_MESSAGE_BYTES);
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let sqs: Value = serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    let document = &sqs["patch"]["document"];
    assert!(
        document.as_str().is_some_and(|s| s.contains("truncated")),
        "a partial policy must never look whole: {document}"
    );
}

#[test]
fn subjects_stay_short_and_single_line_whatever_the_input() {
    let mut report = report();
    report.restore.resource_type = Some("EFS\r\n\u{7}Injected: line".into());
    report.restore.restore_job_id = Some("X".repeat(200));
    report.restore.account_id = Some("123456789012".into());
    let alert = alert::build(&report, &context());
    assert!(alert.subject.chars().count() < 100, "{}", alert.subject);
    assert!(
        !alert.subject.chars().any(char::is_control),
        "{:?}",
        alert.subject
    );
}

/// The account's alias gets the room the subject leaves: the account id and the cause
/// are never cut for it, a long alias is shortened with `...` (or left out when too little
/// of it would fit), and one IAM would not accept is never shown.
#[test]
fn the_alias_takes_only_the_room_the_subject_leaves() {
    let longest = format!("acme-{}", "x".repeat(58));
    let mut subjects = Vec::new();
    for (case, alias, trigger) in [
        ("no alias", None, "restoreJobFailed"),
        ("short alias", Some("acme-prod"), "restoreJobFailed"),
        (
            "alias of 63 characters",
            Some(longest.as_str()),
            "restoreJobFailed",
        ),
        (
            "not an IAM alias",
            Some("Acme\n[restore-doctor] fix ATTACHED"),
            "restoreJobFailed",
        ),
        (
            "long caller name",
            Some("acme-prod-eu"),
            "startRestoreJobDenied",
        ),
    ] {
        let mut report = report();
        report.restore.account_alias = alias.map(str::to_owned);
        report.restore.trigger = trigger.into();
        if trigger == "startRestoreJobDenied" {
            report.restore.caller_arn =
                Some(format!("arn:aws:iam::123456789012:user/{}", "a".repeat(40)));
        }
        let subject = alert::build(&report, &context()).subject;
        assert!(subject.chars().count() < 100, "{case}: {subject}");
        assert!(subject.contains("123456789012"), "{case}: {subject}");
        assert!(
            subject.ends_with(": 3 missing permissions"),
            "{case}: {subject}"
        );
        assert!(!subject.contains("ATTACHED"), "{case}: {subject}");
        subjects.push(json!({"case": case, "subject": subject}));
    }
    insta::assert_json_snapshot!(subjects);
}

#[test]
fn a_refused_start_restore_job_names_the_caller_and_links_to_it() {
    let mut report = report();
    report.restore.trigger = "startRestoreJobDenied".into();
    report.restore.caller_arn = Some("arn:aws:iam::123456789012:user/alice".into());
    report.restore.restore_job_id = None;
    let alert = alert::build(&report, &context());
    assert!(
        alert.subject.contains("StartRestoreJob denied for alice"),
        "{}",
        alert.subject
    );
    assert_eq!(alert.attributes["trigger"], "startRestoreJobDenied");
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let email = message["email"].as_str().unwrap();
    assert!(email.contains("https://console.aws.amazon.com/iam/home#/users/details/alice"));
    assert!(!email.contains("/jobs/restore/details/"), "no job exists");
}
