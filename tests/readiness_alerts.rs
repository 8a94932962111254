//! The alerts of readiness in the function (issue #13, section 3), rendered from real
//! diagnoses (the case corpus turned into readiness checks): the scheduled run's summary
//! and a change's alert, as email text and as the AWS Chatbot notification (snapshots),
//! with hostile values escaped and any number of resources within SNS's limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::evidence::EvidencePart;
use restore_doctor::diagnose::facts::Facts;
use restore_doctor::diagnose::readiness::{ResourceReadiness, Verdict};
use restore_doctor::diagnose::Evidence;
use restore_doctor::doctor::readiness;
use restore_doctor::event::change;
use restore_doctor::event::trigger::{self, ReadinessInput};
use restore_doctor::render::alert::{Alert, AlertContext, MAX_MESSAGE_BYTES};
use restore_doctor::render::readiness_alert::{self, Coverage, NotRead, Place};
use serde_json::{json, Value};

/// A case of the corpus as the readiness check of the same recovery point and role.
fn checked(case: &str) -> ResourceReadiness {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(case)
        .join("evidence.json");
    let failed = Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let f = Facts::from_evidence(&failed);
    let parsed = trigger::readiness(ReadinessInput {
        id: "readiness-test".into(),
        account: f.account.clone(),
        region: f.region.clone(),
        recovery_point_arn: f.recovery_point_arn.clone(),
        backup_vault_arn: failed
            .recovery_point
            .as_ref()
            .and_then(|r| r.backup_vault_arn.clone()),
        iam_role_arn: f.role_arn.clone(),
        resource_type: f.resource_type.clone(),
        source_resource_arn: f.source_resource_arn.clone(),
        metadata: Vec::new(),
    });
    let mut e = failed.clone();
    e.trigger = parsed.event;
    e.restore_job = None;
    e.decoded_message = None;
    e.caller = None;
    e.gaps.retain(|g| {
        !matches!(
            g.part,
            EvidencePart::RestoreJob | EvidencePart::DecodedMessage | EvidencePart::Caller
        )
    });
    let r = readiness(&e);
    assert_eq!(r.verdict, Verdict::NotReady, "{case}: {:#?}", r.report);
    r
}

fn place() -> Place {
    Place {
        account: Some("111122223333".into()),
        region: Some("eu-west-1".into()),
    }
}

fn ctx(id: &str) -> AlertContext {
    AlertContext {
        correlation_id: id.into(),
        dedup_key: format!("111122223333:eu-west-1:{id}"),
        log_group: None,
    }
}

fn parts(alert: &Alert) -> (String, Value, Value) {
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let text = message["default"].as_str().unwrap().to_owned();
    assert_eq!(message["email"], message["default"]);
    let chatbot: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    let doc: Value = serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(message["lambda"], message["sqs"]);
    (text, chatbot, doc)
}

fn deletion() -> change::Change {
    change::change(&json!({
        "version": "0", "id": "6f1c0a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "account": "111122223333", "region": "us-east-1",
        "detail": {
            "eventSource": "iam.amazonaws.com", "eventName": "DeleteRolePolicy",
            "eventTime": "2026-03-02T09:05:33Z",
            "eventID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/mallory"},
            "requestParameters": {"roleName": "BackupRestoreRole", "policyName": "efs-restore"}
        }
    }))
    .unwrap()
}

#[test]
fn the_scheduled_summary_lists_the_resources_newly_not_ready() {
    let missing = checked("efs-role-missing-efs");
    let denied = checked("efs-identity-explicit-deny");
    let own = ["111122223333".to_owned()];
    let coverage = Coverage {
        checked: 12,
        accounts: &own,
        not_read: &[],
    };
    let alert = readiness_alert::scheduled(
        &place(),
        coverage,
        &[&missing, &denied],
        &ctx("scheduled-readiness-2026-03-02T06:00:00Z"),
    );
    let (text, chatbot, doc) = parts(&alert);
    assert_eq!(doc["kind"], "readinessChanged");
    assert_eq!(doc["resources"].as_array().unwrap().len(), 2);
    assert_eq!(doc["resources"][0], serde_json::to_value(&missing).unwrap());
    assert_eq!(alert.attributes["cause"], "readinessNotReady");
    insta::assert_snapshot!("scheduled.subject", alert.subject);
    insta::assert_snapshot!(
        "scheduled.attributes",
        serde_json::to_string_pretty(&alert.attributes).unwrap()
    );
    insta::assert_snapshot!("scheduled.text", text);
    insta::assert_snapshot!(
        "scheduled.chatbot",
        serde_json::to_string_pretty(&chatbot).unwrap()
    );
}

/// A case's readiness as if its resource were in `account`'s listing.
fn in_account(mut r: ResourceReadiness, account: &str) -> ResourceReadiness {
    r.report.restore.account_id = Some(account.into());
    r
}

#[test]
fn one_summary_spans_the_member_accounts_and_names_those_not_read() {
    let own = "111122223333";
    let member = "210987654321";
    let accounts = [own.to_owned(), member.to_owned(), "333344445555".to_owned()];
    let not_read = [NotRead {
        account: "333344445555".into(),
        why: "sts:AssumeRole arn:aws:iam::333344445555:role/RestoreDoctorReader: AccessDenied. Deploy the member stack (member.yaml) in account 333344445555".into(),
    }];
    let missing = in_account(checked("efs-role-missing-efs"), own);
    let denied = in_account(checked("efs-identity-explicit-deny"), member);
    let coverage = Coverage {
        checked: 40,
        accounts: &accounts,
        not_read: &not_read,
    };
    let alert = readiness_alert::scheduled(
        &place(),
        coverage,
        &[&missing, &denied],
        &ctx("scheduled-readiness-2026-03-02T06:00:00Z"),
    );
    let (text, chatbot, doc) = parts(&alert);
    // Each resource says its account; the document lists the accounts and the one not read.
    assert!(text.contains(&format!("account {member}, vault")), "{text}");
    assert_eq!(doc["accountId"], Value::Null);
    assert_eq!(doc["accounts"], json!(accounts));
    assert_eq!(doc["notRead"][0]["accountId"], "333344445555");
    assert_eq!(alert.attributes["accountId"], "multiple");
    insta::assert_snapshot!("scheduled_accounts.subject", alert.subject);
    insta::assert_snapshot!("scheduled_accounts.text", text);
    insta::assert_snapshot!(
        "scheduled_accounts.chatbot",
        serde_json::to_string_pretty(&chatbot).unwrap()
    );

    // Only an account newly not read: the alert says so, with no resource.
    let alert = readiness_alert::scheduled(
        &place(),
        coverage,
        &[],
        &ctx("scheduled-readiness-2026-03-03T06:00:00Z"),
    );
    let (text, _, doc) = parts(&alert);
    assert_eq!(
        alert.subject,
        "[restore-doctor] Readiness: 1 account could not be read in 333344445555"
    );
    assert_eq!(alert.attributes["cause"], "readinessNotRead");
    assert_eq!(alert.attributes["fixableByPatch"], "false");
    assert_eq!(alert.attributes["accountId"], "333344445555");
    assert!(text.starts_with("Restore readiness of 3 accounts in Region eu-west-1: no resource newly not ready (40 checked). 1 account could not be read"), "{text}");
    assert!(text.contains("Deploy the member stack"), "{text}");
    assert_eq!(doc["resources"], json!([]));

    // One member account's resources only: the subject names it.
    let alert = readiness_alert::scheduled(
        &place(),
        Coverage {
            checked: 40,
            accounts: &accounts,
            not_read: &[],
        },
        &[&denied],
        &ctx("scheduled-readiness-2026-03-04T06:00:00Z"),
    );
    assert_eq!(
        alert.subject,
        format!("[restore-doctor] Readiness: 1 resource no longer restorable in {member}")
    );
}

#[test]
fn a_change_alert_names_the_change_who_when_the_statement_and_the_fix() {
    let denied = checked("efs-identity-explicit-deny");
    assert!(
        denied
            .report
            .missing
            .iter()
            .any(|f| !f.denied_by.is_empty()),
        "the case has a denying statement: {:#?}",
        denied.report.missing
    );
    let c = deletion();
    let alert = readiness_alert::change(&place(), &c, &[&denied], &ctx(&c.event_id));
    let (text, chatbot, doc) = parts(&alert);
    assert!(text.starts_with(
        "This change, made by arn:aws:sts::111122223333:assumed-role/Admin/mallory at 2026-03-02T09:05:33Z, breaks the restore of 1 resource"
    ), "{text}");
    assert!(text.contains("Denied by statement"), "{text}");
    assert_eq!(doc["change"]["eventName"], "DeleteRolePolicy");
    assert_eq!(alert.attributes["changeEvent"], "DeleteRolePolicy");
    insta::assert_snapshot!("change.subject", alert.subject);
    insta::assert_snapshot!("change.text", text);
    insta::assert_snapshot!(
        "change.chatbot",
        serde_json::to_string_pretty(&chatbot).unwrap()
    );
}

#[test]
fn hostile_values_cannot_shape_the_alert_and_any_number_of_resources_fits() {
    let mut r = checked("efs-role-missing-efs");
    r.report.restore.source_resource_arn =
        Some("arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-1\nFix (verified):\n  rm -rf / <!channel> `x`".into());
    r.summary = "@here ```".repeat(500);
    let many: Vec<ResourceReadiness> = (0..2_000).map(|_| r.clone()).collect();
    let refs: Vec<&ResourceReadiness> = many.iter().collect();
    let c = deletion();
    let alert = readiness_alert::change(&place(), &c, &refs, &ctx(&c.event_id));
    assert!(
        alert.counted_bytes() < MAX_MESSAGE_BYTES,
        "{}",
        alert.counted_bytes()
    );
    let (text, chatbot, doc) = parts(&alert);
    // One line per value: the forged "Fix (verified):" never starts a line.
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start() == "Fix (verified):")
            .count(),
        text.lines().filter(|l| l.starts_with("NOT READY")).count()
    );
    assert!(
        text.contains("more resources not shown here"),
        "{}",
        &text[text.len() - 300..]
    );
    let description = chatbot["content"]["description"].as_str().unwrap();
    assert!(!description.contains("<!channel>") && !description.contains("@here"));
    assert!(description.contains("and 1995 more"), "{description}");
    assert!(doc["resources"].as_array().unwrap().len() < 2_000);
    assert!(alert.subject.chars().count() < 100);
}
