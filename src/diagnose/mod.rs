//! From evidence to diagnosis: decode the failure, list what the restore needs, and ask
//! the evaluator about each requirement, layer by layer.

pub mod evidence;
pub mod report;

pub use evidence::Evidence;
pub use report::Report;

use report::*;

/// Diagnoses one failed restore. Never fails: what cannot be checked becomes an
/// [`Unverified`] entry in the report.
pub fn diagnose(evidence: &Evidence) -> Report {
    // Placeholder while the diagnosis is written: reports everything as unverified.
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        restore: RestoreSummary {
            trigger: "restoreJobFailed".into(),
            restore_job_id: evidence.restore_job.as_ref().map(|j| j.restore_job_id.clone()),
            ..Default::default()
        },
        failure: Failure {
            message: None,
            kind: FailureKind::None,
            denied: None,
        },
        cause: Cause::Unverified,
        summary: "diagnosis not implemented yet".into(),
        missing: vec![],
        unverified: vec![],
        patch: None,
        verified: false,
        verification: Verification::default(),
        vault_policy_fix: None,
        auto_attach: None,
    }
}
