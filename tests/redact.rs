//! `restore-doctor gather --redact` (issue #13): every case of the corpus, redacted,
//! diagnoses as before, modulo the renaming, and keeps none of the values it renamed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::redact::{differences, redact};
use restore_doctor::diagnose::Evidence;
use restore_doctor::examine;

fn cases() -> Vec<(String, Evidence)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out: Vec<(String, Evidence)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("evidence.json").exists())
        .map(|p| {
            let text = std::fs::read_to_string(p.join("evidence.json")).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, Evidence::from_json(&text).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 30, "the case corpus is missing: {}", out.len());
    out
}

#[test]
fn every_case_diagnoses_the_same_once_redacted() {
    for (name, evidence) in cases() {
        let redacted = redact(&evidence).unwrap();
        let before = examine(&evidence);
        let after = examine(&redacted.evidence);
        let diff = differences(&before, &after, &redacted.renames);
        assert!(diff.is_empty(), "{name}: {diff:#?}");
        // Not vacuous: the findings are there, renamed.
        assert_eq!(before.missing.len(), after.missing.len(), "{name}");
        assert_eq!(before.cause, after.cause, "{name}");
    }
}

#[test]
fn no_renamed_value_is_left_in_a_redacted_case() {
    for (name, evidence) in cases() {
        let redacted = redact(&evidence).unwrap();
        let text = serde_json::to_string(&redacted.evidence).unwrap();
        assert!(
            redacted.renames.leaks_in(&text).is_empty(),
            "{name}: {:?}",
            redacted.renames.leaks_in(&text)
        );
        // Every case names its account: none survives, as a whole number or in an ARN.
        let account = evidence
            .account_id
            .clone()
            .or_else(|| evidence.trigger["account"].as_str().map(str::to_owned));
        if let Some(account) = account {
            assert!(!text.contains(&account), "{name}: {account} left");
        }
    }
}

#[test]
fn a_renaming_that_changes_the_diagnosis_is_caught() {
    // The restore role may pass the instance profile's role through a wildcard on its
    // name. Renamed, the role no longer matches `AmazonSSMRole*`: the comparison must
    // say the diagnosis changed rather than pass.
    let (_, mut evidence) = cases()
        .into_iter()
        .find(|(n, _)| n == "ec2-passrole-encoded")
        .unwrap();
    let before_grant = examine(&evidence).missing.len();
    let role = evidence.restore_role.as_mut().unwrap();
    role.policies.push(
        serde_json::from_value(serde_json::json!({
            "name": "pass-ssm-roles", "kind": "inline",
            "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "iam:PassRole", "Resource": "arn:aws:iam::111122223333:role/AmazonSSMRole*"}]}
        }))
        .unwrap(),
    );
    let before = examine(&evidence);
    assert!(before.missing.len() < before_grant, "the grant must matter");
    let redacted = redact(&evidence).unwrap();
    let after = examine(&redacted.evidence);
    let diff = differences(&before, &after, &redacted.renames);
    assert!(!diff.is_empty(), "a changed diagnosis went unnoticed");
}
