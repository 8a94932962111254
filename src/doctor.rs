//! The top of the pipeline: diagnose, then build and prove the fix, then assemble the
//! report. The only place that sees both [`crate::diagnose`] and [`crate::remedy`], so
//! the lower stages never call a higher one.

use crate::diagnose::readiness::{self, ResourceReadiness};
use crate::diagnose::report::{Report, RestoreSummary, REPORT_SCHEMA_VERSION};
use crate::diagnose::{self, Diagnosis, Evidence};
use crate::remedy;

/// Diagnoses one failed restore and proposes the verified fix. Never fails: what
/// cannot be checked is in the report's `unverified`.
pub fn examine(evidence: &Evidence) -> Report {
    report(evidence, diagnose::diagnose(evidence))
}

/// Whether one resource could be restored now, with the role that would be used: the
/// same diagnosis on evidence whose trigger is a readiness check (no failure message),
/// then the verdict ([`readiness::assess`]); a key it needs that KMS reports unusable
/// (disabled, pending deletion) makes it not ready too.
pub fn readiness(evidence: &Evidence) -> ResourceReadiness {
    let d = diagnose::diagnose(evidence);
    let checked = d.checks.iter().filter(|c| c.undecided.is_none()).count();
    let r = readiness::assess(report(evidence, d), checked);
    let r = readiness::with_unusable_keys(r, &readiness::unusable_keys(evidence));
    ResourceReadiness {
        report: Report {
            summary: r.summary.clone(),
            ..r.report
        },
        ..r
    }
}

/// Builds the fix for a diagnosis and assembles the report.
pub fn report(evidence: &Evidence, d: Diagnosis) -> Report {
    let account = d.facts.account.clone().unwrap_or_default();
    let partition = d.facts.partition.clone();
    let fix = remedy::remedy(&d.checks, &d.principals.subjects(), &account, &partition);
    let vault_policy_fix = d
        .plan
        .vault_gate
        .as_ref()
        .zip(d.facts.vault_name.as_deref())
        .and_then(|(_, name)| {
            remedy::vault::fix(evidence, name, d.facts.region.as_deref(), &d.missing)
        });
    // Verified only when something was actually checked, the patch (if any) makes
    // every check pass, and no blocker outside the checks (from the message) remains.
    let verified = fix.verified
        && d.complete
        && !d.checks.is_empty()
        && d.checks.iter().all(|c| c.undecided.is_none())
        && d.missing.iter().all(|f| f.fixable_by_patch)
        // A failure that is not about permissions is not fixed by any patch.
        && diagnose::cause::cause_allows_verified(d.cause);
    let key_policy_fixes = remedy::key_policy::fixes(evidence, &d.checks);
    let boundary_fix = remedy::boundary::fix(evidence, d.facts.role_arn.as_deref(), &d.checks);
    let facts = d.facts;
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        restore: RestoreSummary {
            restore_job_id: facts.restore_job_id,
            account_id: facts.account,
            account_alias: evidence
                .account_alias
                .clone()
                .filter(|a| crate::diagnose::validated::is_account_alias(a)),
            organizational_unit: parent_of_account(evidence),
            region: facts.region,
            resource_type: facts.resource_type,
            role_arn: facts.role_arn,
            caller_arn: facts.caller_arn,
            recovery_point_arn: facts.recovery_point_arn,
            backup_vault_name: facts.vault_name,
            source_resource_arn: facts.source_resource_arn,
            trigger: facts.trigger.as_str().to_string(),
        },
        failure: d.failure,
        cause: d.cause,
        summary: d.summary,
        missing: d.missing,
        unverified: d.unverified,
        patch: fix.patches.first().cloned(),
        other_patches: fix.patches.iter().skip(1).cloned().collect(),
        verified,
        verification: fix.verification,
        vault_policy_fix,
        key_policy_fixes,
        boundary_fix,
        auto_attach: None,
        unexplained_denial: d.unexplained_denial,
    }
}

/// The level directly above the account in the SCP (else RCP) levels read, root first
/// and the account last, when it is a well-formed OU or root id.
fn parent_of_account(evidence: &Evidence) -> Option<String> {
    let levels = evidence
        .service_control_policies
        .as_deref()
        .or(evidence.resource_control_policies.as_deref())?;
    let [.., parent, _account] = levels else {
        return None;
    };
    Some(parent.org_identifier.clone())
        .filter(|id| crate::diagnose::validated::is_org_parent_id(id))
}
