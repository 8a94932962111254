//! The `restore-doctor diagnose` binary: exit codes carry the result (0 nothing missing,
//! 2 missing permissions or blockers, 1 error) and bad input gets one clear message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
}

fn case(name: &str) -> String {
    format!(
        "{}/tests/cases/{name}/evidence.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn missing_permissions_exit_2_with_the_fix_in_text() {
    let out = bin()
        .args(["diagnose", "--evidence", &case("efs-role-missing-kms")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().nth(1).unwrap().starts_with("Cause: "),
        "{text}"
    );
    assert!(
        text.contains("aws iam put-role-policy --role-name 'BackupRestoreRole'"),
        "{text}"
    );
}

#[test]
fn nothing_missing_exits_0() {
    let out = bin()
        .args([
            "diagnose",
            "--evidence",
            &case("efs-managed-policy-all-allowed"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["missing"], serde_json::json!([]));
    assert_eq!(report["patch"], serde_json::Value::Null);
}

#[test]
fn json_report_from_stdin() {
    let mut child = bin()
        .args(["diagnose", "--evidence", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let evidence = std::fs::read(case("ec2-passrole-encoded")).unwrap();
    child.stdin.take().unwrap().write_all(&evidence).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["missing"][0]["action"], "iam:PassRole");
    assert_eq!(report["verified"], true);
}

#[test]
fn malformed_evidence_exits_1_with_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{\"trigger\": {\"detail\": }").unwrap();
    let out = bin()
        .args(["diagnose", "--evidence", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("line 1, column"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unreadable_file_exits_1() {
    let out = bin()
        .args(["diagnose", "--evidence", "/nonexistent/evidence.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("/nonexistent/evidence.json"));
}

#[test]
fn auto_attach_decision_appears_in_the_report() {
    let out = bin()
        .args([
            "diagnose",
            "--evidence",
            &case("efs-role-missing-kms"),
            "--format",
            "json",
            "--auto-attach",
            "--auto-attach-role-patterns",
            "arn:aws:iam::111122223333:role/service-role/*",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["autoAttach"]["decision"], "attach",
        "{}",
        report["autoAttach"]
    );
    let refused = bin()
        .args([
            "diagnose",
            "--evidence",
            &case("efs-role-missing-kms"),
            "--format",
            "json",
            "--auto-attach",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(report["autoAttach"]["decision"], "refuse");
}
