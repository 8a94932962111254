//! `restore-doctor simulate` end to end: input shapes, output shapes, exit codes.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn simulate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .arg("simulate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn simulation(effect: &str) -> Value {
    json!({
        "name": "ignored",
        "request": {
            "principal": "arn:aws:sts::111122223333:assumed-role/restore/job",
            "action": "kms:Decrypt",
            "resource": {"resource": "arn:aws:kms:eu-west-1:111122223333:key/k", "accountId": "111122223333"},
            "context": {"kms:ViaService": "efs.eu-west-1.amazonaws.com", "aws:TagKeys": ["a", "b"], "n": 3}
        },
        "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Sid": "Kms", "Effect": effect, "Action": "kms:Decrypt", "Resource": "*"}]}],
        "resourcePolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]},
        "serviceControlPolicies": [{"orgIdentifier": "r-root", "policies": [{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}]}]
    })
}

#[test]
fn array_in_array_out_in_order() {
    let input = json!([simulation("Allow"), simulation("Deny")]).to_string();
    let out = simulate(&["--input", "-"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["result"], "Allowed");
    assert_eq!(results[1]["result"], "ExplicitlyDenied");
    assert_eq!(results[1]["blockedBy"], json!(["identity"]));
    let identity = results[1]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "identity")
        .unwrap();
    assert_eq!(
        identity["deniedBy"],
        json!([{"policy": "identityPolicies[0]", "sid": "Kms", "index": 0}])
    );
}

#[test]
fn single_object_gives_single_result_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    std::fs::write(&path, simulation("Allow").to_string()).unwrap();
    let out = simulate(&["--input", path.to_str().unwrap()], "");
    assert!(out.status.success());
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["result"], "Allowed");
    assert!(result["missingContextKeys"].as_array().unwrap().is_empty());
}

#[test]
fn text_format_is_for_people() {
    let out = simulate(
        &["--input", "-", "--format", "text"],
        &simulation("Deny").to_string(),
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("explicitly denied"), "{text}");
    assert!(text.contains("blocked by: identity-based policy"), "{text}");
    assert!(
        text.contains("denied by identityPolicies[0] statement 0 (`Kms`)"),
        "{text}"
    );
}

#[test]
fn bad_input_exits_1_with_one_clear_message() {
    let mut bad = simulation("Allow");
    bad["identityPolicies"][0]["Statement"][0]["Effect"] = json!("Alow");
    let cases = [
        ("not json", "{".to_owned(), "input is not valid JSON"),
        (
            "bad policy",
            json!([simulation("Allow"), bad]).to_string(),
            "simulation 1: identityPolicies[0]: invalid policy at `/Statement/0/Effect`",
        ),
        (
            "no request",
            json!({"identityPolicies": []}).to_string(),
            "simulation 0: not a simulation object",
        ),
    ];
    for (name, input, message) in cases {
        let out = simulate(&["--input", "-"], &input);
        assert_eq!(out.status.code(), Some(1), "{name}");
        // Streamed: the results decided before the bad simulation are printed, the
        // rest is not (the exit code says the output is incomplete).
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let expected_results = usize::from(name == "bad policy");
        assert_eq!(
            stdout.matches("\"result\"").count(),
            expected_results,
            "{name}: {stdout}"
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("restore-doctor: error: "),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    }
    let missing = simulate(&["--input", "/nonexistent/sim.json"], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read `/nonexistent/sim.json`")
    );
}

#[test]
fn anonymous_principal_object() {
    let input = json!({
        "request": {"principal": {"type": "Anonymous"}, "action": "s3:GetObject",
                    "resource": {"resource": "arn:aws:s3:::public/key", "accountId": "111122223333"}},
        "identityPolicies": [],
        "resourcePolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*"}]}
    });
    let out = simulate(&["--input", "-"], &input.to_string());
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["result"], "Allowed");
}

/// The input is streamed one simulation at a time: a file larger than any one
/// simulation may be (8 MiB) is read in full, while one simulation past that size is
/// refused before it fills memory.
#[test]
fn the_limit_is_per_simulation_not_per_file() {
    let one = simulation("Allow").to_string();
    let count = (8 * 1024 * 1024) / one.len() + 100;
    let many = format!("[{}]", vec![one; count].join(","));
    assert!(many.len() > 8 * 1024 * 1024);
    // From a file: a pipe written in full before the output is read would fill both
    // pipes' buffers and stall.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.json");
    std::fs::write(&path, &many).unwrap();
    let out = simulate(&["--input", path.to_str().unwrap(), "--format", "text"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches(": allowed\n").count(), count);

    let mut huge = simulation("Allow");
    huge["request"]["context"]["big"] = json!("x".repeat(9 * 1024 * 1024));
    let path = dir.path().join("huge.json");
    std::fs::write(&path, json!([huge]).to_string()).unwrap();
    let out = simulate(&["--input", path.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("one simulation is larger than"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
