//! Findings from the message itself and the cause and summary of the report.

use super::check::{self, Check};
use super::evidence::{self, EvidencePart};
use super::facts::{self, Facts};
use super::report::*;

pub(crate) fn reconcile_denied(
    d: &DeniedRequest,
    checks: &[Check],
    unverified: &mut Vec<Unverified>,
) {
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

/// A finding for what the message says was denied when no check covers it (an action
/// outside the catalog, or an SCP deny we could not see).
pub(crate) fn finding_from_message(
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

pub(crate) fn cause_of(
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

pub(crate) fn services_of(findings: &[&Finding]) -> String {
    let mut services: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.action.split(':').next())
        .collect();
    services.sort();
    services.dedup();
    services.join(", ")
}

pub(crate) fn summarize(
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

pub(crate) fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
