//! `restore-doctor schema evidence|report|readiness`: the JSON Schemas of the documented
//! formats, generated from the very types that read and write them.

use crate::diagnose::readiness::ReadinessDocument;
use crate::diagnose::{Evidence, Report};

/// Which format's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// The evidence the Lambda gathers and logs (`diagnose --evidence` input).
    Evidence,
    /// The diagnosis report (`diagnose --format json` output, the SNS `sqs`/`lambda` body).
    Report,
    /// The readiness document (`readiness --format json` output): one account's run, or
    /// `accounts`, one run per account given with `--account`.
    Readiness,
}

/// The schema as pretty JSON with a trailing newline (as committed under `schema/`).
pub fn schema_json(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Evidence => schemars::schema_for!(Evidence),
        SchemaKind::Report => schemars::schema_for!(Report),
        SchemaKind::Readiness => schemars::schema_for!(ReadinessDocument),
    };
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}
