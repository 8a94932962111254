//! The diagnosis case corpus: every folder under `tests/cases/` holds an evidence file
//! and the expected diagnosis; one test runs them all, and snapshots pin both renderings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use restore_doctor::cli::diagnose::exit_code;
use restore_doctor::diagnose::{Evidence, Report};
use restore_doctor::examine;
use restore_doctor::render::text::report_text;
use serde_json::Value;

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

fn load(dir: &Path) -> (Evidence, Value) {
    let evidence =
        Evidence::from_json(&std::fs::read_to_string(dir.join("evidence.json")).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (evidence, expected)
}

/// (action, resource?, principal?, fixable, blockedBy set) as a comparable key.
fn finding_key(f: &Value, with_resource: bool, with_principal: bool) -> String {
    let mut blocked: Vec<String> = f["blockedBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    blocked.sort();
    format!(
        "{} | {} | {} | fixable={} | {}",
        f["action"].as_str().unwrap().to_ascii_lowercase(),
        if with_resource {
            f["resource"].as_str().unwrap_or("")
        } else {
            ""
        },
        if with_principal {
            f["principal"].as_str().unwrap_or("")
        } else {
            ""
        },
        f["fixableByPatch"].as_bool().unwrap(),
        blocked.join(",")
    )
}

fn check_case(dir: &Path, report: &Report, expected: &Value) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let json = serde_json::to_value(report).unwrap();
    let mut errors = Vec::new();
    let mut expect = |cond: bool, what: String| {
        if !cond {
            errors.push(format!("{name}: {what}"));
        }
    };
    expect(
        json["cause"] == expected["cause"],
        format!("cause {} != {}", json["cause"], expected["cause"]),
    );
    expect(
        exit_code(report) as i64 == expected["exitCode"].as_i64().unwrap(),
        format!("exit code {}", exit_code(report)),
    );
    expect(
        json["verified"] == expected["verified"],
        format!("verified {}", json["verified"]),
    );

    // Missing findings: exactly the expected set, compared on the fields each expectation names.
    let want = expected["missing"].as_array().unwrap();
    let got = json["missing"].as_array().unwrap();
    let with_resource = want.iter().all(|w| w.get("resource").is_some());
    let with_principal = want.iter().all(|w| w.get("principal").is_some()) && !want.is_empty();
    let want_set: BTreeSet<String> = want
        .iter()
        .map(|f| finding_key(f, with_resource, with_principal))
        .collect();
    let got_set: BTreeSet<String> = got
        .iter()
        .map(|f| finding_key(f, with_resource, with_principal))
        .collect();
    expect(
        want_set == got_set,
        format!(
            "missing differs\n  unexpected: {:#?}\n  not found: {:#?}",
            got_set.difference(&want_set).collect::<Vec<_>>(),
            want_set.difference(&got_set).collect::<Vec<_>>()
        ),
    );

    match expected["patchPrincipal"].as_str() {
        Some(p) => expect(
            report.patch.as_ref().map(|x| x.principal_arn.as_str()) == Some(p),
            format!(
                "patch principal {:?}",
                report.patch.as_ref().map(|x| &x.principal_arn)
            ),
        ),
        None => expect(report.patch.is_none(), "unexpected patch".into()),
    }
    if let Some(v) = expected.get("vaultPolicyFix") {
        expect(
            report.vault_policy_fix.is_some() == v.as_bool().unwrap(),
            "vault policy fix".into(),
        );
    }
    if let Some(v) = expected.get("keyPolicyFix") {
        expect(
            report.key_policy_fixes.is_empty() != v.as_bool().unwrap(),
            "key policy fix".into(),
        );
    }
    if let Some(kind) = expected.get("failureKind") {
        expect(
            json["failure"]["kind"] == *kind,
            format!("failure kind {}", json["failure"]["kind"]),
        );
    }
    if let Some(class) = expected.get("failureClass") {
        expect(
            json["failure"]["class"]["class"] == *class,
            format!("failure class {}", json["failure"]["class"]),
        );
    } else {
        expect(
            json["failure"].get("class").is_none(),
            format!("unexpected failure class {}", json["failure"]["class"]),
        );
    }
    if let Some(action) = expected.get("deniedAction") {
        expect(
            json["failure"]["denied"]["action"] == *action,
            format!("denied action {}", json["failure"]["denied"]["action"]),
        );
    }
    for needle in expected["summaryContains"].as_array().into_iter().flatten() {
        let needle = needle.as_str().unwrap();
        expect(
            report.summary.contains(needle),
            format!("summary does not say `{needle}`: {}", report.summary),
        );
    }
    if let Some(want) = expected.get("patchActions") {
        let mut got: Vec<String> = report
            .patch
            .iter()
            .flat_map(|p| {
                p.document["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => vec![],
            })
            .collect();
        got.sort();
        got.dedup();
        let mut want: Vec<String> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        want.sort();
        expect(got == want, format!("patch actions {got:?}"));
    }
    // Cases built from public material name it (#9: every class case cites its source).
    if name.starts_with("class-") {
        expect(
            expected["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("https://")),
            "no `source` citing the public material".into(),
        );
    }
    for needle in expected["unverifiedContains"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let needle = needle.as_str().unwrap();
        expect(
            report
                .unverified
                .iter()
                .any(|u| u.what.contains(needle) || u.why.contains(needle)),
            format!("no unverified entry mentions `{needle}`"),
        );
    }
    errors
}

#[test]
fn every_case_diagnoses_as_expected() {
    let mut errors = Vec::new();
    for dir in cases() {
        let (evidence, expected) = load(&dir);
        let report = examine(&evidence);
        errors.extend(check_case(&dir, &report, &expected));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_case_renders_stable_text_and_json() {
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (evidence, _) = load(&dir);
        let report = examine(&evidence);
        insta::assert_snapshot!(format!("{name}.text"), report_text(&report));
        insta::assert_json_snapshot!(format!("{name}.json"), report);
    }
}

/// Every patch the corpus produces must hold IAM's and our own least-privilege rules.
#[test]
fn patches_are_least_privilege() {
    for dir in cases() {
        let (evidence, _) = load(&dir);
        let report = examine(&evidence);
        for patch in report.patch.iter().chain(report.other_patches.iter()) {
            let doc = &patch.document;
            assert!(patch.size <= 10_240, "{}: patch too large", dir.display());
            for stmt in doc["Statement"].as_array().unwrap() {
                assert_eq!(stmt["Effect"], "Allow");
                let actions: Vec<&str> = match &stmt["Action"] {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
                    other => panic!("bad Action {other}"),
                };
                for a in &actions {
                    assert!(!a.contains('*'), "{}: wildcard action {a}", dir.display());
                    if a.eq_ignore_ascii_case("iam:PassRole") {
                        assert!(
                            stmt["Condition"]["StringEquals"]["iam:PassedToService"].is_string()
                        );
                        assert!(!stmt["Resource"].as_str().unwrap_or("*").contains('*'));
                    }
                    if a.eq_ignore_ascii_case("kms:CreateGrant") {
                        assert_eq!(
                            stmt["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
                            "true"
                        );
                    }
                }
                let resources: Vec<&str> = match &stmt["Resource"] {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
                    other => panic!("bad Resource {other}"),
                };
                if resources.contains(&"*") {
                    for a in &actions {
                        assert!(
                            patch.warnings.iter().any(|w| w.contains(a)),
                            "{}: `{a}` on `*` without a warning",
                            dir.display()
                        );
                    }
                }
            }
            assert!(patch.command.starts_with("aws iam "), "{}", patch.command);
        }
    }
}

/// The proposed key policy, applied by the key administrators, must let the restore
/// through: diagnose again with it in place and nothing may be missing.
#[test]
fn key_policy_fix_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/kms-key-policy-without-root");
    let (mut evidence, _) = load(&dir);
    let report = examine(&evidence);
    assert_eq!(report.key_policy_fixes.len(), 1);
    let fix = &report.key_policy_fixes[0];
    assert!(fix
        .command
        .starts_with("aws kms put-key-policy --region us-east-1 --key-id 'arn:aws:kms:"));
    // Every original statement is kept.
    let before = evidence.key_policies[0].document["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let after = fix.document["Statement"].as_array().unwrap();
    assert!(before.iter().all(|s| after.contains(s)));
    evidence.key_policies[0].document = fix.document.clone();
    let again = examine(&evidence);
    assert!(again.missing.is_empty(), "{:#?}", again.missing);
}

/// The JSON report is what SQS and Lambda subscribers get: it must read back as the
/// same report, whatever fields were left out for being empty.
#[test]
fn every_report_reads_back_from_its_json() {
    for dir in cases() {
        let (evidence, _) = load(&dir);
        let report = examine(&evidence);
        let text = serde_json::to_string(&report).unwrap();
        let back: Report =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(back, report, "{}", dir.display());
    }
}

/// The Slack notification and the email of a corpus case with several kinds of finding:
/// grouped per resource, blockers with who must act, within Chatbot's limits.
#[test]
fn combined_case_alert_renderings() {
    use restore_doctor::render::{alert, slack};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/efs-combined-role-kms-vault");
    let (evidence, _) = load(&dir);
    let report = examine(&evidence);
    let ctx = alert::AlertContext {
        correlation_id: "7c6f1a2b-3d4e-5f60-7182-93a4b5c6d7e8".into(),
        dedup_key: "111122223333:us-east-1:restore-job:4A3B2C1D-0E9F-8A7B-6C5D-4E3F2A1B0C9D".into(),
        log_group: None,
    };
    let notification = slack::notification(&report, &ctx);
    let description = notification["content"]["description"].as_str().unwrap();
    assert!(
        description.contains("`elasticfilesystem:Restore`, `elasticfilesystem:CreateFileSystem`"),
        "{description}"
    );
    insta::assert_json_snapshot!("combined.slack", notification);
    let built = alert::build(&report, &ctx);
    assert!(built.subject.chars().count() < 100);
    insta::assert_snapshot!("combined.subject", built.subject);
}

/// Every gap in the evidence is said in the report, even when no check needed that part:
/// a principal with one unreadable policy is not silently read as complete.
#[test]
fn every_gap_is_reported_as_unverified() {
    use restore_doctor::diagnose::evidence::{EvidencePart, Gap};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/efs-role-missing-efs");
    let (mut evidence, _) = load(&dir);
    let before = examine(&evidence).unverified.len();
    evidence.gaps.push(Gap {
        part: EvidencePart::RestoreRole,
        call: "iam:GetRolePolicy BackupRestoreRole legacy-inline".into(),
        error: "ThrottlingException: Rate exceeded".into(),
    });
    evidence.gaps.push(Gap {
        part: EvidencePart::InstanceProfile,
        call: "iam:GetInstanceProfile web".into(),
        error: "NoSuchEntity: Instance Profile web cannot be found.".into(),
    });
    let report = examine(&evidence);
    assert_eq!(
        report.unverified.len(),
        before + 2,
        "{:#?}",
        report.unverified
    );
    assert!(report.unverified.iter().any(
        |u| u.what == "part of the restore role's policies" && u.why.contains("legacy-inline")
    ));
    assert!(report
        .unverified
        .iter()
        .any(|u| u.why.contains("iam:PassRole on its role was not checked")));
}

/// A target key named by alias in the metadata and never resolved is said, not skipped.
#[test]
fn unresolved_target_key_alias_is_unverified() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/efs-role-missing-efs");
    let (mut evidence, _) = load(&dir);
    let meta = evidence.restore_metadata.as_mut().unwrap();
    meta.insert("KmsKeyId".into(), "alias/efs-restores".into());
    let report = examine(&evidence);
    assert!(
        report
            .unverified
            .iter()
            .any(|u| u.what.contains("alias/efs-restores")),
        "{:#?}",
        report.unverified
    );
    // A key id that a collected key policy resolves is not reported.
    let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    evidence
        .restore_metadata
        .as_mut()
        .unwrap()
        .insert("KmsKeyId".into(), key_id.into());
    let report = examine(&evidence);
    assert!(!report.unverified.iter().any(|u| u.what.contains(key_id)));
}
