//! The core (policy, diagnose, remedy, render) stays pure: no AWS SDK, no async runtime,
//! no network or file I/O. Only `src/aws/`, `src/handler.rs`, `src/cli/` and `src/bin/` may.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "aws_sdk_",
    "aws_config",
    "tokio",
    "lambda_runtime",
    "std::fs",
    "std::net::Tcp",
    "std::process",
    "crate::aws",
    "crate::handler",
    "crate::cli",
];

fn scan(dir: &Path, offenders: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, offenders);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for word in FORBIDDEN {
                if text.contains(word) {
                    offenders.push(format!("{} uses `{word}`", path.display()));
                }
            }
        }
    }
}

#[test]
fn core_modules_import_nothing_from_the_edges() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for core in ["policy", "diagnose", "remedy", "render"] {
        scan(&src.join(core), &mut offenders);
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
