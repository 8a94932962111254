//! Readiness, the pure part: the case corpus turned into readiness checks (the restore
//! job, its failure message, the decoded message and the caller removed; the trigger
//! rebuilt as the synthetic readiness event from what the restore would use) gives
//! ready / not ready / not verifiable from the same diagnosis.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use restore_doctor::diagnose::evidence::EvidencePart;
use restore_doctor::diagnose::facts::Facts;
use restore_doctor::diagnose::readiness::Verdict;
use restore_doctor::diagnose::Evidence;
use restore_doctor::doctor::readiness;
use restore_doctor::event::trigger::{self, ReadinessInput, Trigger};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("evidence.json").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "case corpus went missing");
    dirs
}

fn load(name: &str) -> Evidence {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
        .join("evidence.json");
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The evidence a readiness check of the same recovery point, role and metadata would
/// gather: no restore job, no message, no caller.
fn as_readiness(failed: &Evidence) -> Evidence {
    let f = Facts::from_evidence(failed);
    let vault_arn = failed
        .recovery_point
        .as_ref()
        .and_then(|r| r.backup_vault_arn.clone())
        .or_else(|| {
            failed
                .restore_job
                .as_ref()
                .and_then(|j| j.backup_vault_arn.clone())
        });
    let parsed = trigger::readiness(ReadinessInput {
        id: "readiness-test".into(),
        account: f.account.clone(),
        region: f.region.clone(),
        recovery_point_arn: f.recovery_point_arn.clone(),
        backup_vault_arn: vault_arn,
        iam_role_arn: f.role_arn.clone(),
        resource_type: f.resource_type.clone(),
        source_resource_arn: f.source_resource_arn.clone(),
        metadata: Vec::new(),
    });
    assert!(matches!(parsed.trigger, Trigger::Readiness(_)));
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
    e.gaps.extend(parsed.rejected);
    e
}

#[test]
fn the_corpus_as_readiness_checks() {
    let mut table = String::new();
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let r = readiness(&as_readiness(&load(&name)));
        assert_eq!(r.report.restore.trigger, "readiness", "{name}");
        assert!(r.report.failure.message.is_none(), "{name}");
        // The verdict follows from the report: never ready with a finding or a gap.
        match r.verdict {
            Verdict::Ready => assert!(r.report.missing.is_empty() && r.gaps.is_empty()),
            Verdict::NotReady => assert!(!r.report.missing.is_empty()),
            Verdict::NotVerifiable => {
                assert!(r.report.missing.is_empty() && (!r.gaps.is_empty() || r.checked == 0))
            }
        }
        table.push_str(&format!(
            "{name}: {} | checked {} | findings {} | patch {} | gaps {}\n",
            r.verdict.label(),
            r.checked,
            r.report.missing.len(),
            match (&r.report.patch, r.report.verified) {
                (Some(_), true) => "verified",
                (Some(_), false) => "unverified",
                (None, _) => "none",
            },
            r.gaps.len()
        ));
    }
    insta::assert_snapshot!(table);
}

#[test]
fn a_role_missing_a_permission_is_not_ready_with_the_verified_patch() {
    let r = readiness(&as_readiness(&load("efs-role-missing-efs")));
    assert_eq!(r.verdict, Verdict::NotReady, "{:#?}", r.report);
    assert!(r
        .report
        .missing
        .iter()
        .any(|f| f.action.starts_with("elasticfilesystem:")));
    assert!(r.report.verified);
    assert!(r.report.patch.is_some());
    assert_eq!(r.report.summary, r.summary);
}

/// The failure said "Insufficient privileges", and nothing checked explained it
/// (unexplainedDenial). Without a failure, the same role is simply ready: no cause is
/// taken from a message.
#[test]
fn no_cause_is_taken_from_a_message() {
    let failed = load("efs-managed-policy-all-allowed");
    let mut e = as_readiness(&failed);
    let r = readiness(&e);
    assert_eq!(r.verdict, Verdict::Ready, "{:#?}", r.gaps);
    assert!(r.checked > 0);
    assert!(r.report.unexplained_denial.is_none());
    // Even a message left in the evidence (an older job's) is ignored.
    e.restore_job = failed.restore_job.clone();
    let again = readiness(&e);
    assert_eq!(again.verdict, Verdict::Ready);
    assert!(again.report.failure.message.is_none());
}

#[test]
fn an_unread_role_is_not_verifiable_never_ready() {
    let mut e = as_readiness(&load("efs-managed-policy-all-allowed"));
    e.restore_role = None;
    let r = readiness(&e);
    assert_eq!(r.verdict, Verdict::NotVerifiable);
    assert!(r
        .gaps
        .iter()
        .any(|g| g.part == Some(EvidencePart::RestoreRole)));
}

#[test]
fn an_unread_key_policy_is_not_verifiable() {
    let mut e = as_readiness(&load("efs-managed-policy-all-allowed"));
    e.key_policies.clear();
    e.gaps
        .push(restore_doctor::diagnose::evidence::Gap {
            part: EvidencePart::KeyPolicy,
            call: "kms:GetKeyPolicy arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            error: "AccessDeniedException".into(),
        });
    let r = readiness(&e);
    assert_eq!(r.verdict, Verdict::NotVerifiable, "{:#?}", r);
}

/// A value AWS returned that fails its check is dropped and said, never used.
#[test]
fn a_hostile_role_arn_from_the_enumeration_is_dropped() {
    let parsed = trigger::readiness(ReadinessInput {
        id: "x".into(),
        account: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        recovery_point_arn: Some(
            "arn:aws:backup:us-east-1:111122223333:recovery-point:0b7d1c2e".into(),
        ),
        iam_role_arn: Some("arn:aws:iam::111122223333:role/*".into()),
        resource_type: Some("EFS\n".into()),
        ..Default::default()
    });
    let Trigger::Readiness(check) = &parsed.trigger else {
        panic!("not a readiness trigger")
    };
    assert!(check.iam_role_arn.is_none());
    assert!(check.resource_type.is_none());
    assert_eq!(parsed.rejected.len(), 2, "{:#?}", parsed.rejected);
    assert!(parsed.event["detail"].get("iamRoleArn").is_none());
    // And the diagnosis of such a check is never ready.
    let e = Evidence {
        trigger: parsed.event.clone(),
        gaps: parsed.rejected.clone(),
        ..Default::default()
    };
    assert_ne!(readiness(&e).verdict, Verdict::Ready);
}

/// A run of three resources (one of each verdict) and one listing gap, as the three
/// formats print it.
fn sample_run() -> restore_doctor::diagnose::readiness::ReadinessRun {
    use restore_doctor::diagnose::readiness::{ReadinessRun, RoleSource};
    let mut resources = Vec::new();
    for (case, source) in [
        (
            "efs-managed-policy-all-allowed",
            RoleSource::RestoreTestingSelection,
        ),
        ("efs-role-missing-efs", RoleSource::Configured),
        ("efs-trigger-only", RoleSource::DefaultServiceRole),
    ] {
        let mut r = readiness(&as_readiness(&load(case)));
        r.role_source = Some(source);
        resources.push(r);
    }
    ReadinessRun {
        schema_version: 1,
        account_id: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        resources,
        gaps: vec![restore_doctor::diagnose::evidence::Gap {
            part: EvidencePart::RestoreRole,
            call: "backup:ListRestoreTestingSelections nightly|plan".into(),
            error: "AccessDeniedException: not allowed `<b>`".into(),
        }],
    }
}

#[test]
fn readiness_text_snapshot() {
    use restore_doctor::cli::readiness::{exit_code, render, Checked, ReadinessFormat};
    let run = Checked::One(sample_run());
    assert_eq!(exit_code(&run), 2);
    insta::assert_snapshot!(render(&run, ReadinessFormat::Text));
}

#[test]
fn readiness_markdown_snapshot() {
    use restore_doctor::cli::readiness::{render, Checked, ReadinessFormat};
    insta::assert_snapshot!(render(
        &Checked::One(sample_run()),
        ReadinessFormat::Markdown
    ));
}

#[test]
fn readiness_json_snapshot() {
    use restore_doctor::cli::readiness::{render, Checked, ReadinessFormat};
    let text = render(&Checked::One(sample_run()), ReadinessFormat::Json);
    let back: restore_doctor::diagnose::readiness::ReadinessRun =
        serde_json::from_str(&text).unwrap();
    assert_eq!(back, sample_run());
    insta::assert_snapshot!(text);
}

#[test]
fn all_ready_or_unverifiable_exits_zero() {
    use restore_doctor::cli::readiness::{exit_code, Checked};
    let mut run = sample_run();
    run.resources.retain(|r| r.verdict != Verdict::NotReady);
    assert_eq!(exit_code(&Checked::One(run.clone())), 0);
    assert_eq!(exit_code(&Checked::Accounts(vec![run, unreachable()])), 0);
}

/// An account whose reader role could not be assumed, as `readiness --account` reports
/// it: no resources, one gap naming the account and the fix.
fn unreachable() -> restore_doctor::diagnose::readiness::ReadinessRun {
    restore_doctor::diagnose::readiness::ReadinessRun {
        schema_version: 1,
        account_id: Some("444455556666".into()),
        region: Some("us-east-1".into()),
        resources: Vec::new(),
        gaps: vec![restore_doctor::diagnose::evidence::Gap {
            part: EvidencePart::Other,
            call: "sts:AssumeRole arn:aws:iam::444455556666:role/RestoreDoctorReader".into(),
            error: "AccessDenied: not authorized: account 444455556666 could not be read, so the \
                    readiness of its resources is not verifiable. Deploy the member stack \
                    (member.yaml) in account 444455556666"
                .into(),
        }],
    }
}

/// `readiness --account A --account B`: one table per account, headed by it; exit 2 when
/// any account has a resource not ready; JSON `{"schemaVersion", "accounts": [...]}`.
#[test]
fn several_accounts_snapshot() {
    use restore_doctor::cli::readiness::{exit_code, render, Checked, ReadinessFormat};
    use restore_doctor::diagnose::readiness::ReadinessDocument;
    let checked = Checked::Accounts(vec![unreachable(), sample_run()]);
    assert_eq!(exit_code(&checked), 2);
    insta::assert_snapshot!(
        "several_accounts_text",
        render(&checked, ReadinessFormat::Text)
    );
    insta::assert_snapshot!(
        "several_accounts_markdown",
        render(&checked, ReadinessFormat::Markdown)
    );
    let json = render(&checked, ReadinessFormat::Json);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["accounts"][0]["accountId"], "444455556666");
    assert_eq!(doc["accounts"][1]["accountId"], "111122223333");
    match serde_json::from_str(&json).unwrap() {
        ReadinessDocument::Accounts(a) => {
            assert_eq!(a.accounts, vec![unreachable(), sample_run()]);
        }
        ReadinessDocument::Run(_) => panic!("read as one run"),
    }
    // The one-account document still reads as one run.
    let one = render(&Checked::One(sample_run()), ReadinessFormat::Json);
    assert!(matches!(
        serde_json::from_str(&one).unwrap(),
        ReadinessDocument::Run(r) if r == sample_run()
    ));
}
