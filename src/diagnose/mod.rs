//! From evidence to diagnosis: decode the failure, list what the restore needs, and ask
//! the evaluator about each requirement, layer by layer — all of them at once, so the
//! report names every missing permission rather than the first one AWS tripped over.
//!
//! The stages, in order, each a function with its own input and output:
//!
//! 1. read the failure ([`failure::read`]): the message, decoded when AWS encoded it;
//! 2. facts ([`Facts::from_evidence`]): every outside value validated or dropped;
//! 3. principals ([`principal::principals`]): the restore role and caller, parsed;
//! 4. requirements for this path ([`plan::plan`]): what must be allowed, for whom;
//! 5. checks ([`check::check`]): each requirement asked of the evaluator;
//! 6. findings and cause: what is missing, what blocks it, the one-line summary.
//!
//! The patch and the report come after, from [`crate::doctor`], which calls this and
//! then [`crate::remedy`]: nothing here calls up into the fix.

pub mod cause;
pub mod check;
pub mod evidence;
pub mod facts;
pub mod failure;
pub mod failure_class;
pub mod gaps;
pub mod keys;
pub mod managed_key;
pub mod message;
pub mod operations;
pub mod plan;
pub mod principal;
pub mod readiness;
pub mod redact;
pub mod report;
pub mod requirements;
pub mod restore_path;
pub mod validated;

pub use cause::blocker_words;
pub use evidence::Evidence;
pub use plan::{target_bucket, target_eks_cluster};
pub use report::Report;

use crate::policy::Decision;

use cause::{capitalized, cause_of, finding_from_message, reconcile_denied, summarize};
use check::{check, Check};
use evidence::EvidencePart;
use facts::Facts;
use plan::{Plan, Who};
use principal::{subject, Principals, Subject};
use report::*;

/// What the diagnosis found, before any fix is built.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub facts: Facts,
    pub failure: Failure,
    pub principals: Principals,
    pub plan: Plan,
    /// Every requirement asked of the evaluator, with its answer.
    pub checks: Vec<Check>,
    /// Every missing permission and blocker, patch-fixable ones last.
    pub missing: Vec<Finding>,
    pub unverified: Vec<Unverified>,
    /// False when a value some requirement needed was missing or dropped: then no
    /// patch can be called verified, whatever the re-evaluation says.
    pub complete: bool,
    pub cause: Cause,
    pub summary: String,
    /// For cause `unexplainedDenial`: what was checked, what was not, where to look next.
    pub unexplained_denial: Option<UnexplainedDenial>,
}

/// Diagnoses one failed restore. Never fails: what cannot be checked becomes an
/// [`Unverified`] entry.
pub fn diagnose(evidence: &Evidence) -> Diagnosis {
    let facts = Facts::from_evidence(evidence);
    let mut unverified = Vec::new();
    let failure = failure::read(evidence, &facts, &mut unverified);
    let principals = principal::principals(evidence, &facts, &mut unverified);
    let mut incomplete: Vec<Unverified> = facts.rejected.clone();
    let plan = plan::plan(
        evidence,
        &facts,
        &principals,
        &mut unverified,
        &mut incomplete,
    );
    let mut checks = run_checks(&plan, &principals, &facts);

    // The request the message names is a finding of its own, even outside the catalog
    // (a decoded message also carries the real request context, e.g. `ec2:InstanceType`,
    // which catches conditional denies the generic requirements cannot see).
    let account = facts.account.clone().unwrap_or_default();
    if let Some(d) = &failure.denied {
        let templates = facts
            .resource_type
            .as_deref()
            .and_then(requirements::canonical_type)
            .map(|t| requirements::catalog_resources(&t, &plan.scope))
            .unwrap_or_default();
        let grantable = |r: &str| {
            templates.iter().any(|t| t == r)
                || validated::Arn::parse(r)
                    .is_ok_and(|a| a.account().is_empty() || a.account() == account)
        };
        let wildcard_only =
            |a: &str| cause::wildcard_only_action(facts.resource_type.as_deref(), a);
        let restore_action = |a: &str| cause::restore_action(facts.resource_type.as_deref(), a);
        let default_subject = principals.unnamed(facts.trigger);
        let decoded = evidence
            .decoded_message
            .as_ref()
            .filter(|_| failure.kind == FailureKind::EncodedAuthorization);
        if let Some(c) = cause::named_request_check(
            d,
            &principals.subjects(),
            default_subject,
            decoded,
            &checks,
            &account,
            &facts.partition,
            &grantable,
            &wildcard_only,
            &restore_action,
        ) {
            checks.push(c);
        }
    }
    // AWS managed keys: explained by AWS's rules, never by a grant or key policy edit.
    managed_key::apply(evidence, &account, &mut checks);
    // Allowed only while unknown context stays absent, or open to a conditional Deny.
    let unproven = check::unproven(&checks, facts.role_arn.as_deref());
    let all_proven = unproven.is_empty();
    unverified.extend(unproven);
    gaps::undecided_checks(&checks, facts.role_arn.as_deref(), &mut unverified);
    gaps::rcps_of_other_accounts(evidence, &checks, facts.account.as_deref(), &mut unverified);

    // The request AWS named must be among the findings: from our checks, or from the
    // message itself when it names a blocker we cannot see; otherwise say that the
    // denial could not be reproduced rather than call it fine.
    let mut missing: Vec<Finding> = checks.iter().filter_map(|c| c.finding.clone()).collect();
    if let Some(d) = &failure.denied {
        let role_session = principals
            .role
            .as_ref()
            .map(|r| (r.request_principal.as_str(), r.arn.as_str()));
        let from_message = finding_from_message(
            d,
            &missing,
            &evidence.service_control_policies,
            role_session,
        )
        .or_else(|| {
            let unnamed = principals.unnamed(facts.trigger);
            cause::finding_when_unchecked(d, &principals.subjects(), unnamed)
        });
        match from_message {
            Some(f) => missing.push(f),
            None => reconcile_denied(d, &checks, &mut unverified),
        }
    }
    missing.sort_by_key(|f| (f.fixable_by_patch, f.principal.clone()));

    // Every evidence gap is said, even those no check above needed to mention.
    let complete = incomplete.is_empty();
    unverified.extend(incomplete);
    gaps::report_remaining_gaps(evidence, &mut unverified);

    // A denial is "unexplained" only when every check was decided and proven: a check
    // that a conditional Deny may block is an explanation not ruled out (unverified).
    let requirements_checked = all_proven
        && checks.iter().any(|c| c.undecided.is_none())
        && facts
            .resource_type
            .as_deref()
            .and_then(requirements::canonical_type)
            .is_some();
    let cause = cause_of(
        &missing,
        &unverified,
        failure.denied.as_ref(),
        failure.kind,
        failure.class.as_ref(),
        requirements_checked,
    );
    let unexplained_denial = (cause == Cause::UnexplainedDenial).then(|| {
        cause::unexplained_denial(
            &checks,
            evidence,
            &unverified,
            failure.kind,
            facts.account.as_deref(),
        )
    });
    let summary = summarize(
        cause,
        &missing,
        &facts,
        &unverified,
        failure.class.as_ref(),
        unexplained_denial.as_ref(),
    );
    Diagnosis {
        facts,
        failure,
        principals,
        plan,
        checks,
        missing,
        unverified,
        complete,
        cause,
        summary,
        unexplained_denial,
    }
}

/// Stage "checks": every planned requirement asked of the evaluator for its principal.
fn run_checks(plan: &Plan, principals: &Principals, facts: &Facts) -> Vec<Check> {
    let account = facts.account.clone().unwrap_or_default();
    let partition = facts.partition.as_str();
    let mut checks = Vec::new();
    for p in &plan.items {
        let asked = match p.who {
            Who::Role => principals.role.as_ref(),
            Who::Caller => principals.caller.as_ref(),
            Who::AnyCaller => None,
        };
        match (p.who, asked) {
            (Who::AnyCaller, _) => {
                // The caller is unknown: the vault policy alone must not deny the restore.
                let anyone = Subject {
                    policies: Default::default(),
                    ..subject(
                        EvidencePart::Other,
                        &format!("arn:{partition}:iam::{account}:root"),
                        None,
                        &[],
                        None,
                        false,
                        &mut Vec::new(),
                    )
                };
                let mut c = check(&anyone, &p.requirement, &p.gate, &account, partition);
                if c.evaluation.decision == Decision::ExplicitlyDenied || c.undecided.is_some() {
                    // The deny applies whoever calls: report it for any principal.
                    if let Some(f) = c.finding.as_mut() {
                        f.principal = "*".into();
                    }
                    checks.push(c);
                }
            }
            (_, Some(s)) => checks.push(check(s, &p.requirement, &p.gate, &account, partition)),
            (_, None) => {}
        }
    }
    checks
}
