//! `restore-doctor diagnose --evidence FILE` (or `--message TEXT`): the diagnosis core
//! on an evidence file, a raw event, aws-cli output or a status message.

use std::io::Read;

use crate::diagnose::Report;
use crate::doctor::examine;
use crate::remedy::guard::{decide, GuardSettings};
use crate::render::text::report_text;

use super::{input, Format};

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
}

/// Reads a file, `-` meaning standard input.
pub fn read_input(path: &str) -> Result<String, std::io::Error> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
    }
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
/// or the status message alone.
#[derive(Debug, Clone)]
pub enum Source {
    File(String),
    Message(String),
}

/// Runs the diagnosis (and the auto-attach decision when `guard` is given) and renders
/// it; returns the output and the exit code.
pub fn run(
    source: &Source,
    format: Format,
    guard: Option<GuardSettings>,
) -> Result<(String, i32), DiagnoseError> {
    let (evidence, form) = match source {
        Source::Message(m) => input::from_message(m),
        Source::File(path) => {
            let text = read_input(path).map_err(|source| DiagnoseError::Read {
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
        // Offline there is no function identity: unless given, take the evidence's
        // account and Region.
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
    Ok((out, exit_code(&report)))
}
