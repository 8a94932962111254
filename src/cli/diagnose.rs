//! `restore-doctor diagnose --evidence FILE`: the diagnosis core on an evidence file.

use std::io::Read;

use crate::diagnose::{Evidence, Report};
use crate::doctor::examine;
use crate::remedy::guard::{decide, GuardSettings};
use crate::render::text::report_text;

use super::Format;

/// Errors of the `diagnose` command.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {source}")]
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
        0
    } else {
        2
    }
}

/// Runs the diagnosis (and the auto-attach decision when `guard` is given) and renders
/// it; returns the output and the exit code.
pub fn run(
    path: &str,
    format: Format,
    guard: Option<GuardSettings>,
) -> Result<(String, i32), DiagnoseError> {
    let text = read_input(path).map_err(|source| DiagnoseError::Read {
        path: path.to_string(),
        source,
    })?;
    let evidence = Evidence::from_json(&text).map_err(|source| DiagnoseError::Evidence {
        path: path.to_string(),
        source,
    })?;
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
