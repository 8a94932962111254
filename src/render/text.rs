//! Plain text for the CLI and the email body: the cause in one line, then the fix.

use crate::diagnose::Report;

/// The full text report (CLI `--format text` and the SNS `email`/`default` body).
pub fn report_text(report: &Report) -> String {
    format!("{}\n", report.summary)
}
