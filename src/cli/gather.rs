//! `restore-doctor gather`: the evidence of a failure read live and saved in the format
//! the offline `diagnose --evidence` reads (`schema/evidence.schema.json`), for later,
//! for someone without access to the account, or for a bug report — redacted on request.

use std::io::Write;

use crate::diagnose::redact::{differences, redact, RedactError};
use crate::doctor::examine;

use super::live::{self, Connection, LiveError, Target};

/// What `gather` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Target,
    pub connection: Connection,
    /// The file to write, `-` for standard output.
    pub output: String,
    pub redact: bool,
}

/// Errors of the `gather` command.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Redact(#[from] RedactError),
    #[error("cannot write `{path}`")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Gathers, redacts when asked, and writes the evidence.
pub fn run(settings: &Settings) -> Result<(), GatherError> {
    let evidence = live::gather(&settings.target, &settings.connection)?;
    let evidence = if settings.redact {
        let redacted = redact(&evidence)?;
        eprintln!("restore-doctor: redacted {}", redacted.renames.summary());
        // Redaction must not change what the file says: compare the two diagnoses.
        let diff = differences(
            &examine(&evidence),
            &examine(&redacted.evidence),
            &redacted.renames,
        );
        if !diff.is_empty() {
            eprintln!("restore-doctor: warning: the redacted evidence does not diagnose as the original does (a policy pattern probably matched a renamed name); whoever reads it will not see the same findings:");
            for line in diff {
                eprintln!("  - {line}");
            }
        }
        redacted.evidence
    } else {
        evidence
    };
    let mut text = serde_json::to_string_pretty(&evidence).unwrap_or_default();
    text.push('\n');
    let write_error = |source| GatherError::Write {
        path: settings.output.clone(),
        source,
    };
    if settings.output == "-" {
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(write_error)?;
    } else {
        std::fs::write(&settings.output, text).map_err(write_error)?;
        eprintln!("restore-doctor: wrote {}", settings.output);
    }
    Ok(())
}
