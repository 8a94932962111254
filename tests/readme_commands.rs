//! Every `restore-doctor` command the README shows is run here, from the repository
//! root, with the binary this build made: a README example that points at a missing
//! file or an option that no longer exists fails this test.
//!
//! Not run: commands of a block that also calls `aws` (they need an account and read
//! what that call saved), and the other tools' commands (`make`, `sam`, `cargo`), which
//! CI runs itself (`make test` is what CI runs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

/// The `sh` blocks of the README, each as its lines.
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        let fence = line.trim_start();
        match (&mut current, fence.strip_prefix("```")) {
            (None, Some(info)) if info.trim() == "sh" => current = Some(Vec::new()),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some(lines), None) => lines.push(line.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

/// Splits a command line into words: single and double quotes group, `#` starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

#[test]
fn every_restore_doctor_command_in_the_readme_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut ran = Vec::new();
    for block in sh_blocks(&readme) {
        if block
            .iter()
            .any(|l| words(l).first().is_some_and(|w| w == "aws"))
        {
            continue;
        }
        for line in &block {
            let w = words(line);
            let Some((program, args)) = w.split_first() else {
                continue;
            };
            if !matches!(
                program.as_str(),
                "restore-doctor" | "target/release/restore-doctor"
            ) {
                continue;
            }
            let out = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
                .args(args)
                .current_dir(root)
                .output()
                .unwrap();
            // 0: nothing missing, 2: findings (README: exit codes); anything else is an error.
            assert!(
                matches!(out.status.code(), Some(0 | 2)),
                "`{line}` exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty(), "`{line}` printed nothing");
            ran.push(line.clone());
        }
    }
    // The offline section's examples: if this drops, the extraction broke, not the README.
    assert!(ran.len() >= 4, "only ran {ran:?}");
}

#[test]
fn words_follow_shell_quoting() {
    assert_eq!(
        words(r#"restore-doctor diagnose --message "Access Denied" --format 'json'  # note"#),
        [
            "restore-doctor",
            "diagnose",
            "--message",
            "Access Denied",
            "--format",
            "json"
        ]
    );
}

/// The README lists every restore path of the catalog and every failure class of
/// `data/failure-classes.json` with each entry's source, so what it promises is what
/// the data holds.
#[test]
fn the_readme_lists_every_restore_path_and_failure_class_with_its_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for path in restore_doctor::diagnose::requirements::all_paths() {
        assert!(
            readme.contains(&format!("| `{path}` |")),
            "README lacks restore path `{path}`"
        );
    }
    let classes: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("data/failure-classes.json")).unwrap(),
    )
    .unwrap();
    for entry in classes["entries"].as_array().unwrap() {
        let class = entry["class"].as_str().unwrap();
        assert!(
            readme.contains(&format!("| `{class}` |")),
            "README lacks class `{class}`"
        );
        let source = entry["source"].as_str().unwrap();
        assert!(
            readme.contains(source),
            "README lacks the source {source} of `{class}`"
        );
    }
}
