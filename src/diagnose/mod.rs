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

pub mod check;
pub mod evidence;
pub mod facts;
pub mod failure;
pub mod gaps;
pub mod keys;
pub mod message;
pub mod plan;
pub mod principal;
pub mod report;
pub mod requirements;
pub mod restore_path;
pub mod validated;

pub use evidence::Evidence;
pub use plan::target_bucket;
pub use report::Report;

use crate::policy::Decision;

use check::{check, Check, ResourceGate};
use evidence::EvidencePart;
use facts::Facts;
use plan::{Plan, Who};
use principal::{subject, Principals, Subject};
use report::*;
use requirements::Requirement;

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

    // A decoded message carries the real request context (e.g. `ec2:InstanceType`):
    // evaluate the denied request once more with it, which catches conditional denies
    // the generic requirements cannot see.
    let account = facts.account.clone().unwrap_or_default();
    if let (Some(d), Some(role), Some(decoded)) =
        (&failure.denied, &principals.role, &evidence.decoded_message)
    {
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
        if let Some(c) = decoded_request_check(
            d,
            role,
            decoded,
            &checks,
            &account,
            &facts.partition,
            &grantable,
        ) {
            checks.push(c);
        }
    }
    gaps::undecided_checks(&checks, facts.role_arn.as_deref(), &mut unverified);

    // The request AWS named must be among the findings: from our checks, or from the
    // message itself when it names a blocker we cannot see; otherwise say that the
    // denial could not be reproduced rather than call it fine.
    let mut missing: Vec<Finding> = checks.iter().filter_map(|c| c.finding.clone()).collect();
    if let Some(d) = &failure.denied {
        let role_session = principals
            .role
            .as_ref()
            .map(|r| (r.request_principal.as_str(), r.arn.as_str()));
        match finding_from_message(
            d,
            &missing,
            &evidence.service_control_policies,
            role_session,
        ) {
            Some(f) => missing.push(f),
            None => reconcile_denied(d, &checks, &mut unverified),
        }
    }
    missing.sort_by_key(|f| (f.fixable_by_patch, f.principal.clone()));

    // Every evidence gap is said, even those no check above needed to mention.
    let complete = incomplete.is_empty();
    unverified.extend(incomplete);
    gaps::report_remaining_gaps(evidence, &mut unverified);

    let cause = cause_of(&missing, &unverified, failure.denied.as_ref());
    let summary = summarize(cause, &missing, &facts, &unverified);
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

fn reconcile_denied(d: &DeniedRequest, checks: &[Check], unverified: &mut Vec<Unverified>) {
    let matching: Vec<&Check> = checks
        .iter()
        .filter(|c| {
            c.requirement.action.eq_ignore_ascii_case(&d.action)
                && d.resource
                    .as_deref()
                    .is_none_or(|r| r == c.requirement.resource)
        })
        .collect();
    if !matching.is_empty()
        && matching
            .iter()
            .all(|c| c.finding.is_none() && c.undecided.is_none())
    {
        unverified.push(Unverified::new(
            EvidencePart::DecodedMessage,
            format!("the denial AWS reported for `{}`", d.action),
            "the collected policies allow it: the cause may be a condition on the request, an SCP, or a policy that could not be read",
        ));
    }
}

/// The denied request of a decoded message, evaluated for the restore role with the
/// message's own context; kept only when it finds what no other check found.
fn decoded_request_check(
    d: &DeniedRequest,
    role: &Subject,
    decoded: &serde_json::Value,
    checks: &[Check],
    account: &str,
    partition: &str,
    grantable: &dyn Fn(&str) -> bool,
) -> Option<Check> {
    if !role.policies_known || d.principal.as_deref() != Some(role.request_principal.as_str()) {
        return None;
    }
    let resource = d.resource.clone().unwrap_or_else(|| "*".into());
    let already = checks.iter().any(|c| {
        c.finding.is_some()
            && c.requirement.action.eq_ignore_ascii_case(&d.action)
            && c.requirement.resource == resource
    });
    if already {
        return None;
    }
    let context = message::decoded_context(decoded)
        .into_iter()
        .map(|(k, mut v)| {
            let value = if v.len() == 1 {
                crate::policy::ContextValue::One(v.remove(0))
            } else {
                crate::policy::ContextValue::Many(v)
            };
            (k, value)
        })
        .collect();
    let req = Requirement {
        action: d.action.clone(),
        resource,
        context,
        condition: None,
        why: "the request AWS denied, with the context from the decoded message".into(),
        wildcard_only: false,
    };
    let mut c = check(role, &req, &ResourceGate::None, account, partition);
    // The message names the resource; a patch grants on it only when it is an exact
    // ARN of this account or one of the catalog's own templates, never a pattern
    // (or `*`) the request happened to carry.
    if c.needs_identity_grant && !grantable(&req.resource) {
        c.needs_identity_grant = false;
        if let Some(f) = c.finding.as_mut() {
            f.fixable_by_patch = false;
            f.who_must_act = Some(format!(
                "the role owner, by hand: `{}` is not an exact resource of this account, so restore-doctor does not grant on it",
                validated::shown(&req.resource)
            ));
        }
    }
    (c.finding.is_some() || c.undecided.is_some()).then_some(c)
}

/// A finding for what the message says was denied when no check covers it (an action
/// outside the catalog, or an SCP deny we could not see).
fn finding_from_message(
    d: &DeniedRequest,
    missing: &[Finding],
    scps: &Option<Vec<evidence::OrgLevelDocs>>,
    role_session: Option<(&str, &str)>,
) -> Option<Finding> {
    let covered = missing.iter().any(|f| {
        f.action.eq_ignore_ascii_case(&d.action)
            && d.resource.as_deref().is_none_or(|r| r == f.resource)
    });
    if covered {
        return None;
    }
    let by_scp = d.policy_type.as_deref() == Some("service control policy");
    if d.explicit_deny != Some(true) && !by_scp {
        return None;
    }
    let blocker = match d.policy_type.as_deref() {
        Some("service control policy") => Blocker::Scp,
        Some("permissions boundary") => Blocker::PermissionBoundary,
        Some("resource-based policy") => Blocker::VaultAccessPolicy,
        Some("resource control policy") => Blocker::Rcp,
        Some("session policy") => Blocker::SessionPolicy,
        Some("identity-based policy") => Blocker::IdentityDeny,
        // A decoded message says "explicit deny" without naming the policy type. The
        // identity policies and boundary were checked and do not deny it, so when SCPs
        // were not collected, an SCP is where the deny must be.
        _ if scps.is_none() => Blocker::Scp,
        _ => return None,
    };
    if blocker == Blocker::Scp && scps.is_some() {
        return None;
    }
    Some(Finding {
        action: d.action.clone(),
        resource: d.resource.clone().unwrap_or_else(|| "*".into()),
        // The restore role's session is reported as the role itself.
        principal: match (d.principal.as_deref(), role_session) {
            (Some(p), Some((session, role))) if p == session => role.to_string(),
            (p, _) => p.unwrap_or_default().to_string(),
        },
        fixable_by_patch: false,
        blocked_by: vec![blocker],
        denied_by: vec![],
        why: {
            let statements = match d.matched_statements.as_slice() {
                [] => String::new(),
                ids => format!(" (statement {})", ids.join(", ")),
            };
            match d.policy_type.as_deref() {
                Some(t) => format!("AWS reported an explicit deny in a {t}{statements} in the failure message"),
                None => format!("AWS reported an explicit deny{statements} in the failure message; no collected identity policy or boundary denies it"),
            }
        },
        who_must_act: Some(check::who_must_act(&[blocker])),
        assumed_context: vec![],
    })
}

fn cause_of(
    missing: &[Finding],
    unverified: &[Unverified],
    denied: Option<&DeniedRequest>,
) -> Cause {
    let has = |b: Blocker| missing.iter().any(|f| f.blocked_by.contains(&b));
    let reported_explicit = denied.is_some_and(|d| d.explicit_deny == Some(true))
        && missing.iter().any(|f| !f.fixable_by_patch);
    if has(Blocker::VaultAccessPolicy) {
        Cause::VaultPolicyDeny
    } else if has(Blocker::IdentityDeny)
        || missing.iter().any(|f| !f.denied_by.is_empty())
        || reported_explicit
    {
        Cause::ExplicitDeny
    } else if has(Blocker::KeyPolicy) {
        Cause::KeyPolicy
    } else if has(Blocker::Scp)
        || has(Blocker::PermissionBoundary)
        || has(Blocker::Rcp)
        || has(Blocker::SessionPolicy)
    {
        Cause::GuardrailLimit
    } else if !missing.is_empty() {
        Cause::MissingPermissions
    } else if !unverified.is_empty() {
        Cause::Unverified
    } else {
        Cause::NotPermissions
    }
}

fn services_of(findings: &[&Finding]) -> String {
    let mut services: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.action.split(':').next())
        .collect();
    services.sort();
    services.dedup();
    services.join(", ")
}

fn summarize(
    cause: Cause,
    missing: &[Finding],
    facts: &Facts,
    unverified: &[Unverified],
) -> String {
    let fixable: Vec<&Finding> = missing.iter().filter(|f| f.fixable_by_patch).collect();
    let blockers: Vec<&Finding> = missing.iter().filter(|f| !f.fixable_by_patch).collect();
    let who = |arn: &str| {
        if Some(arn) == facts.role_arn.as_deref() {
            format!("restore role {}", facts::role_name(arn))
        } else {
            format!("caller {arn}")
        }
    };
    let first_blocker = blockers.first().map(|f| {
        let by: Vec<&str> = f.blocked_by.iter().map(blocker_words).collect();
        format!(
            "{} on {} is blocked by the {}",
            f.action,
            f.resource,
            by.join(" and the ")
        )
    });
    let tail = |n: usize| match n {
        0 => String::new(),
        1 => " (1 more finding below)".to_string(),
        n => format!(" ({n} more findings below)"),
    };
    match cause {
        Cause::MissingPermissions => {
            let principals: Vec<String> = {
                let mut p: Vec<String> = fixable.iter().map(|f| who(&f.principal)).collect();
                p.dedup();
                p
            };
            format!(
                "The {} lacks {} permission{} ({}); the patch below adds exactly those.",
                principals.join(" and the "),
                fixable.len(),
                if fixable.len() == 1 { "" } else { "s" },
                services_of(&fixable)
            )
        }
        Cause::VaultPolicyDeny | Cause::ExplicitDeny | Cause::KeyPolicy | Cause::GuardrailLimit => format!(
            "{}; no role patch can fix that{}.",
            first_blocker.unwrap_or_default(),
            tail(missing.len().saturating_sub(1))
        ),
        Cause::Unverified => format!(
            "No missing permission found in what could be read, but {} part{} could not be verified (see below).",
            unverified.len(),
            if unverified.len() == 1 { "" } else { "s" }
        ),
        Cause::NotPermissions => {
            "Every permission the restore needs is in place: the failure is not about permissions.".into()
        }
    }
}

/// Words for a blocker in sentences.
pub fn blocker_words(b: &Blocker) -> &'static str {
    match b {
        Blocker::IdentityPolicy => "missing allow in the identity policies",
        Blocker::IdentityDeny => "explicit deny in an identity policy",
        Blocker::PermissionBoundary => "permissions boundary",
        Blocker::Scp => "service control policy",
        Blocker::Rcp => "resource control policy",
        Blocker::SessionPolicy => "session policy",
        Blocker::KeyPolicy => "KMS key policy",
        Blocker::VaultAccessPolicy => "backup vault access policy",
        Blocker::TrustPolicy => "trust policy",
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
