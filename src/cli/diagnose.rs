//! `restore-doctor diagnose --evidence FILE` (or `--message TEXT`): the diagnosis core
//! on an evidence file, a raw event, aws-cli output or a status message.

use crate::diagnose::Report;
use crate::doctor::examine;
use crate::remedy::guard::{decide, GuardSettings};
use crate::render::text::report_text;

use super::{input, live, Format};

/// Errors of the `diagnose` command.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`")]
    Evidence {
        path: String,
        source: crate::diagnose::evidence::EvidenceError,
    },
    #[error(transparent)]
    Live(#[from] live::LiveError),
}

/// Exit code for a report: 0 nothing missing, 2 missing permissions or blockers found.
pub fn exit_code(report: &Report) -> i32 {
    if report.missing.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_FINDINGS
    }
}

/// Where the failure comes from: a file (or `-`) in any form [`input::read`] accepts,
/// the status message alone, or AWS itself, read live with the user's credentials.
#[derive(Debug, Clone)]
pub enum Source {
    File(String),
    Message(String),
    Live(live::Target, live::Connection),
}

/// Runs the diagnosis (and the auto-attach decision when `guard` is given) and renders
/// it; returns the output, the exit code and the report.
pub fn run(
    source: &Source,
    format: Format,
    guard: Option<GuardSettings>,
) -> Result<(String, i32, Report), DiagnoseError> {
    let (evidence, form) = match source {
        Source::Message(m) => input::from_message(m),
        Source::Live(target, connection) => {
            (live::gather(target, connection)?, input::Form::Evidence)
        }
        Source::File(path) => {
            let text = input::read_input(path).map_err(|source| DiagnoseError::Read {
                path: path.to_string(),
                source,
            })?;
            input::read(&text).map_err(|source| DiagnoseError::Evidence {
                path: path.to_string(),
                source,
            })?
        }
    };
    if form != input::Form::Evidence {
        eprintln!("restore-doctor: read the input as {}", form.words());
    }
    let mut report = examine(&evidence);
    if let Some(mut settings) = guard {
        // Outside the function there is no function identity: unless given, take the
        // evidence's account and Region (live, those the evidence was read in).
        if settings.account.is_none() {
            settings.account = report.restore.account_id.clone();
        }
        if settings.region.is_none() {
            settings.region = report.restore.region.clone();
        }
        report.auto_attach = Some(decide(&evidence, &report, &settings).report);
    }
    let out = match format {
        Format::Text => report_text(&report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    let code = exit_code(&report);
    Ok((out, code, report))
}

/// Writes each fix document as a JSON file in `dir`, and `fix-commands.sh` with the
/// same commands reading them (`file://`), for people whose shell mangles the quoted
/// JSON (PowerShell, some consoles). Returns the paths written.
pub fn write_fix(
    report: &Report,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, std::io::Error> {
    use crate::remedy::patch::shell_quote;
    std::fs::create_dir_all(dir)?;
    let mut docs: Vec<(String, &serde_json::Value, &str)> = Vec::new();
    for p in report.patch.iter().chain(report.other_patches.iter()) {
        let who = p.principal_arn.rsplit('/').next().unwrap_or("principal");
        docs.push((
            format!("{}-{}.json", p.policy_name, safe(who)),
            &p.document,
            &p.command,
        ));
    }
    if let Some(v) = &report.vault_policy_fix {
        docs.push((
            format!("vault-policy-{}.json", safe(&v.backup_vault_name)),
            &v.document,
            &v.command,
        ));
    }
    for k in &report.key_policy_fixes {
        let id = k.key_arn.rsplit('/').next().unwrap_or("key");
        docs.push((
            format!("key-policy-{}.json", safe(id)),
            &k.document,
            &k.command,
        ));
    }
    if let Some(b) = &report.boundary_fix {
        docs.push((
            "permissions-boundary.json".to_owned(),
            &b.document,
            &b.command,
        ));
    }
    let mut written = Vec::new();
    let mut script = String::from("#!/bin/sh\n# The fixes of this restore-doctor report, reading the policy documents from files.\n# Read the report first: what it could not verify, and who must run which command.\nset -e\n");
    for (name, document, command) in docs {
        let path = dir.join(&name);
        let mut pretty = serde_json::to_string_pretty(document).unwrap_or_default();
        pretty.push('\n');
        std::fs::write(&path, pretty)?;
        written.push(path.clone());
        if command.is_empty() {
            script.push_str(&format!(
                "# {name}: statements to add by hand (no command: the policy could not be read)\n"
            ));
            continue;
        }
        let inline = shell_quote(&serde_json::to_string(document).unwrap_or_default());
        let file = shell_quote(&format!("file://{}", path.display()));
        script.push_str(&command.replace(&inline, &file));
        script.push('\n');
    }
    let script_path = dir.join("fix-commands.sh");
    std::fs::write(&script_path, script)?;
    written.push(script_path);
    Ok(written)
}

/// A file-name-safe form of an identifier from the report.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}
