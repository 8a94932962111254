//! `restore-doctor diagnose` on what people have in hand, and on what they get wrong:
//! each input error gets one message that says what to do, and a distinct exit code
//! (0 nothing missing, 1 unreadable input, 2 findings, 64 usage error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

use serde_json::{json, Value};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args(args)
        .output()
        .unwrap()
}

fn root(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Writes `value` to a temporary file and runs `diagnose --format json` on it.
fn diagnose_json(value: &Value) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    let out = run(&[
        "diagnose",
        "--evidence",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    (out, dir)
}

fn evidence_of(case: &str) -> Value {
    let text = std::fs::read_to_string(root(&format!("tests/cases/{case}/evidence.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The EFS case's evidence with field `from` (of `parent`, or at the top) renamed to
/// `to`: it must be refused (exit 1, nothing on standard output); its error is returned.
fn rejected_with_renamed(parent: Option<&str>, from: &str, to: &str) -> String {
    let mut evidence = evidence_of("efs-role-missing-kms");
    let object = match parent {
        Some(p) => evidence[p].as_object_mut().unwrap(),
        None => evidence.as_object_mut().unwrap(),
    };
    let value = object.remove(from).unwrap();
    object.insert(to.to_owned(), value);
    let (out, _dir) = diagnose_json(&evidence);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    stderr(&out)
}

#[test]
fn usage_errors_exit_64_not_the_findings_code() {
    let unknown_flag = run(&["diagnose", "--evidnce", "x.json"]);
    assert_eq!(
        unknown_flag.status.code(),
        Some(64),
        "{}",
        stderr(&unknown_flag)
    );
    let nothing = run(&["diagnose"]);
    assert_eq!(nothing.status.code(), Some(64), "{}", stderr(&nothing));
    let both = run(&[
        "diagnose",
        "--evidence",
        "x.json",
        "--message",
        "Access Denied",
    ]);
    assert_eq!(both.status.code(), Some(64), "{}", stderr(&both));
    let no_command = run(&[]);
    assert_eq!(no_command.status.code(), Some(64));
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    assert_eq!(run(&["diagnose", "--help"]).status.code(), Some(0));
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
}

/// The review's case: `restoreRol` silently dropped turned an AWS-named denial into
/// "No missing permission found", exit 0.
#[test]
fn a_misspelled_field_is_rejected_with_its_path_and_the_closest_name() {
    let err = rejected_with_renamed(None, "restoreRole", "restoreRol");
    assert!(err.contains("unknown field `restoreRol`"), "{err}");
    assert!(err.contains("did you mean `restoreRole`?"), "{err}");

    let err = rejected_with_renamed(Some("restoreRole"), "policies", "polices");
    assert!(err.contains("at `restoreRole.polices`"), "{err}");
    assert!(err.contains("did you mean `policies`?"), "{err}");
}

#[test]
fn a_null_or_missing_trigger_is_an_error_not_a_report() {
    for input in [json!({"trigger": null}), json!({}), json!({"trigger": {}})] {
        let (out, _dir) = diagnose_json(&input);
        assert_eq!(out.status.code(), Some(1), "{input}: {}", stderr(&out));
        assert!(stderr(&out).contains("trigger"), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "{input}");
    }
}

#[test]
fn an_unreadable_file_is_said_once() {
    let out = run(&["diagnose", "--evidence", "/nonexistent/evidence.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_json_syntax_error_shows_line_column_and_a_short_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let long_value = "x".repeat(5_000);
    std::fs::write(
        &path,
        format!("{{\n  \"trigger\": {{\"detail-type\": \"{long_value}\" \"detail\": {{}}}}\n}}"),
    )
    .unwrap();
    let out = run(&["diagnose", "--evidence", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("line 2, column"), "{err}");
    assert!(
        err.contains("\"detail\""),
        "the excerpt shows the place: {err}"
    );
    assert!(err.len() < 400, "not the whole input: {} bytes", err.len());
}

#[test]
fn a_raw_eventbridge_event_is_wrapped_and_said() {
    let out = run(&[
        "diagnose",
        "--evidence",
        &root("events/restore-job-failed-efs.json"),
        "--format",
        "json",
    ]);
    let err = stderr(&out);
    assert!(err.contains("raw EventBridge event"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["restore"]["trigger"], "restoreJobFailed");
    assert_eq!(
        report["restore"]["restoreJobId"],
        "A1B2C3D4-5E6F-7A8B-9C0D-EF1234567890"
    );
    // Only the event: the role's policies were not collected, and the report says so.
    assert!(report["unverified"].to_string().contains("restore role"));
}

/// `aws backup describe-restore-job` prints PascalCase; its fields are read as such.
#[test]
fn describe_restore_job_output_in_pascal_case_is_read() {
    let job = json!({
        "AccountId": "123456789012",
        "RestoreJobId": "B2C3D4E5-0000-1111-2222-333344445555",
        "RecoveryPointArn": "arn:aws:backup:eu-west-1:123456789012:recovery-point:5d3c2b1a-9e8f-4a7b-8c6d-1e2f3a4b5c6d",
        "CreationDate": "2026-03-02T03:11:58.412000+00:00",
        "Status": "FAILED",
        "StatusMessage": "Insufficient privileges to perform this action.",
        "PercentDone": "0.00%",
        "IamRoleArn": "arn:aws:iam::123456789012:role/service-role/BackupRestoreRoleEFS",
        "ResourceType": "EFS",
        "CreatedBy": {"RestoreTestingPlanArn": "arn:aws:backup:eu-west-1:123456789012:restore-testing-plan:p"}
    });
    let (out, _dir) = diagnose_json(&job);
    let err = stderr(&out);
    assert!(err.contains("describe-restore-job"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["restore"]["restoreJobId"],
        "B2C3D4E5-0000-1111-2222-333344445555"
    );
    assert_eq!(
        report["restore"]["roleArn"],
        "arn:aws:iam::123456789012:role/service-role/BackupRestoreRoleEFS"
    );
    assert_eq!(report["restore"]["resourceType"], "EFS");
    assert_eq!(report["restore"]["region"], "eu-west-1");
    assert_eq!(report["failure"]["kind"], "opaque");
}

/// PascalCase inside evidence too: a pasted describe-restore-job under `restoreJob`.
#[test]
fn pascal_case_restore_job_inside_evidence_is_read() {
    let mut evidence = evidence_of("efs-role-missing-kms");
    let camel = evidence["restoreJob"].clone();
    let mut pascal = serde_json::Map::new();
    for (k, v) in camel.as_object().unwrap() {
        let mut c = k.chars();
        let first = c.next().unwrap().to_ascii_uppercase();
        pascal.insert(format!("{first}{}", c.as_str()), v.clone());
    }
    evidence["restoreJob"] = Value::Object(pascal);
    let (out, _dir) = diagnose_json(&evidence);
    let (reference, _d) = diagnose_json(&evidence_of("efs-role-missing-kms"));
    assert_eq!(
        out.status.code(),
        reference.status.code(),
        "{}",
        stderr(&out)
    );
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b: Value = serde_json::from_slice(&reference.stdout).unwrap();
    assert_eq!(a["missing"], b["missing"]);
    assert_eq!(a["restore"], b["restore"]);
}

#[test]
fn a_status_message_alone_is_diagnosed_and_said() {
    let out = run(&[
        "diagnose",
        "--message",
        "Insufficient privileges to perform this action.",
        "--format",
        "json",
    ]);
    let err = stderr(&out);
    assert!(err.contains("status message alone"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["kind"], "opaque");
    assert_eq!(report["verified"], false);
    assert!(!report["unverified"].as_array().unwrap().is_empty());
}

/// An AWS-named denial is never contradicted: with only the message, AWS's action stays
/// a finding (exit 2), and the report says the policies were not in the evidence.
#[test]
fn an_aws_named_denial_with_thin_evidence_stays_a_finding() {
    let message = "User: arn:aws:sts::111122223333:assumed-role/BackupRestoreRole/AWSBackup-BackupRestoreRole is not authorized to perform: elasticfilesystem:Restore on resource: arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/fs-0123456789abcdef0 because no identity-based policy allows the elasticfilesystem:Restore action";
    let out = run(&["diagnose", "--message", message, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing = report["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert_eq!(missing[0]["action"], "elasticfilesystem:Restore");
    assert_eq!(missing[0]["fixableByPatch"], false);
    assert!(missing[0]["why"]
        .as_str()
        .unwrap()
        .contains("not in the evidence"));
    assert_eq!(report["patch"], Value::Null);
    assert_eq!(report["verified"], false);
    assert!(report["summary"]
        .as_str()
        .unwrap()
        .starts_with("AWS reported that"));

    // The same for a misspelled role field, the review's case, once the typo is fixed
    // by dropping the field: AWS's denial is kept, never "nothing missing".
    let mut evidence = evidence_of("efs-role-missing-kms");
    evidence.as_object_mut().unwrap().remove("restoreRole");
    evidence["restoreJob"]["statusMessage"] = json!(message);
    let (out, _dir) = diagnose_json(&evidence);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `--write-fix DIR`: each fix document as a JSON file, and the same commands reading
/// them with `file://`, for shells that mangle quoted JSON.
#[test]
fn write_fix_writes_the_documents_and_commands_that_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let fix_dir = dir.path().join("fix");
    let out = run(&[
        "diagnose",
        "--evidence",
        &root("tests/cases/efs-combined-role-kms-vault/evidence.json"),
        "--format",
        "json",
        "--write-fix",
        fix_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let role_doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fix_dir.join("restore-doctor-fix-BackupRestoreRole.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(role_doc, report["patch"]["document"]);
    let vault_doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fix_dir.join("vault-policy-efs-vault.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(vault_doc, report["vaultPolicyFix"]["document"]);
    let script = std::fs::read_to_string(fix_dir.join("fix-commands.sh")).unwrap();
    assert!(script.contains("--policy-document 'file://"), "{script}");
    assert!(script.contains("--policy 'file://"), "{script}");
    assert!(
        !script.contains("'{\"Version\""),
        "no inline JSON left: {script}"
    );
    assert!(stderr(&out).contains("wrote"));
}

/// The restore role as people have it from the aws-cli: `aws iam get-role` output, with
/// its policies as `get-role-policy` and `get-policy-version` outputs. Read as such, it
/// gives the same diagnosis as the evidence the Lambda writes.
#[test]
fn a_role_pasted_as_aws_cli_output_is_read() {
    let evidence = evidence_of("efs-role-missing-kms");
    let role = &evidence["restoreRole"];
    let arn = role["arn"].as_str().unwrap();
    let name = arn.rsplit('/').next().unwrap();
    let policies: Vec<Value> = role["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| match p["kind"].as_str().unwrap() {
            "inline" => json!({"RoleName": name, "PolicyName": p["name"], "PolicyDocument": p["document"]}),
            _ => json!({"PolicyArn": p["arn"], "PolicyVersion": {"Document": p["document"], "VersionId": "v1", "IsDefaultVersion": true, "CreateDate": "2026-01-01T00:00:00+00:00"}}),
        })
        .collect();
    let mut pasted = evidence.clone();
    pasted["restoreRole"] = json!({
        "Role": {
            "Path": "/service-role/",
            "RoleName": name,
            "RoleId": "AROAEXAMPLEID",
            "Arn": arn,
            "CreateDate": "2026-01-01T00:00:00+00:00",
            "AssumeRolePolicyDocument": role["trustPolicy"],
            "MaxSessionDuration": 3600,
            "RoleLastUsed": {}
        },
        "policies": policies
    });
    let (out, _dir) = diagnose_json(&pasted);
    assert!(stderr(&out).contains("aws-cli output"), "{}", stderr(&out));
    let (reference, _d) = diagnose_json(&evidence);
    assert_eq!(
        out.status.code(),
        reference.status.code(),
        "{}",
        stderr(&out)
    );
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b: Value = serde_json::from_slice(&reference.stdout).unwrap();
    assert_eq!(a["missing"], b["missing"]);
    assert_eq!(a["patch"]["document"], b["patch"]["document"]);

    // get-role alone carries no policies: the role is a gap, never "no permissions".
    let mut alone = evidence.clone();
    alone["restoreRole"] =
        json!({"Role": {"RoleName": name, "Arn": arn, "Path": "/service-role/"}});
    let (out, _dir) = diagnose_json(&alone);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["unverified"]
            .to_string()
            .contains("aws iam get-role output carries no policies"),
        "{report:#}"
    );
    assert!(report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["fixableByPatch"] == false));
}

/// `restoreJob` takes pasted aws-cli output whole (every PascalCase field AWS returns),
/// but a misspelled camelCase field of ours is still an error with its path and line.
#[test]
fn a_misspelled_restore_job_field_is_rejected_but_aws_fields_are_taken() {
    let err = rejected_with_renamed(Some("restoreJob"), "iamRoleArn", "iamRoleArm");
    assert!(err.contains("at `restoreJob.iamRoleArm`"), "{err}");
    assert!(err.contains("did you mean `iamRoleArn`?"), "{err}");
    assert!(err.contains("line "), "{err}");

    let mut with_aws_fields = evidence_of("efs-role-missing-kms");
    with_aws_fields["restoreJob"]["PercentDone"] = json!("0.00%");
    with_aws_fields["restoreJob"]["BackupSizeInBytes"] = json!(5368709120u64);
    let (out, _dir) = diagnose_json(&with_aws_fields);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
