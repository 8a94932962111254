//! The core (policy, event, diagnose, remedy, render, doctor) stays pure: no AWS SDK, no
//! async runtime, no network or file I/O. Only `src/aws/`, `src/handler*`, `src/cli/` and
//! `src/bin/` may. And the pipeline is layered: a stage never imports a later one.

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
    for core in ["policy", "event", "diagnose", "remedy", "render"] {
        scan(&src.join(core), &mut offenders);
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Every `crate::<module>` a file (or folder of files) imports.
fn imports_of(path: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut all = Vec::new();
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    all.push(p);
                }
            }
        }
        all
    } else {
        vec![path.with_extension("rs")]
    };
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Code only: doc comments may name a later stage to say who calls this one.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let module: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((file.display().to_string(), module));
        }
    }
    found
}

/// The pipeline's order, lowest first: each module may import only those before it.
/// `event` reads triggers into the evidence types of `diagnose`; `doctor` is the top of
/// the core: it calls `diagnose` and then `remedy`.
const LAYERS: &[&str] = &["policy", "diagnose", "event", "remedy", "render", "doctor"];

#[test]
fn no_stage_imports_a_later_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let later = &LAYERS[rank + 1..];
        for (file, module) in imports_of(&src.join(layer)) {
            if later.contains(&module.as_str()) {
                offenders.push(format!("{file} ({layer}) imports crate::{module}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The AWS adapters read the parsed trigger from `event`, below them, never from the
/// Lambda handler above them.
#[test]
fn the_adapters_do_not_import_the_handler() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let offenders: Vec<String> = imports_of(&src.join("aws"))
        .into_iter()
        .filter(|(_, m)| m == "handler" || m == "cli")
        .map(|(f, m)| format!("{f} imports crate::{m}"))
        .collect();
    assert!(offenders.is_empty(), "{offenders:#?}");
}
