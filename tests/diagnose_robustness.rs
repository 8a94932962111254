//! Malformed evidence never panics the diagnosis: it is either rejected with a clear
//! error (not JSON, wrong shape) or diagnosed into a degraded report that says what could
//! not be verified. Mutations are applied to the real case corpus.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use proptest::prelude::*;
use restore_doctor::diagnose::Evidence;
use restore_doctor::examine;
use serde_json::Value;

fn corpus() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path().join("evidence.json");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.push(serde_json::from_str(&text).unwrap());
        }
    }
    out
}

/// Every JSON pointer in a value.
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{prefix}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn replacement(choice: u8) -> Value {
    match choice % 8 {
        0 => Value::Null,
        1 => Value::from(42),
        2 => Value::from(""),
        3 => Value::from("*"),
        4 => Value::Array(vec![]),
        5 => serde_json::json!({}),
        6 => Value::from(true),
        _ => Value::from("arn:aws:iam::1:role/${aws:username}/?*"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_evidence_is_rejected_or_diagnosed(case in 0usize..64, spot in 0usize..10_000, choice in any::<u8>()) {
        let corpus = corpus();
        let mut evidence = corpus[case % corpus.len()].clone();
        let mut spots = Vec::new();
        pointers(&evidence, String::new(), &mut spots);
        let target = spots[spot % spots.len()].clone();
        if target.is_empty() {
            evidence = replacement(choice);
        } else if let Some(slot) = evidence.pointer_mut(&target) {
            *slot = replacement(choice);
        }
        let text = evidence.to_string();
        match Evidence::from_json(&text) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(parsed) => {
                let report = examine(&parsed);
                prop_assert!(!report.summary.is_empty());
                // A report must always be serializable for the alert.
                prop_assert!(serde_json::to_string(&report).is_ok());
            }
        }
    }
}

#[test]
fn truncated_evidence_gives_a_located_error() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/cases/efs-role-missing-efs/evidence.json"),
    )
    .unwrap();
    let cut = &text[..text.len() / 2];
    let err = Evidence::from_json(cut).unwrap_err().to_string();
    assert!(err.contains("line"), "{err}");
}
