//! The fix: a least-privilege patch per principal, proven by evaluating every
//! requirement again with the patch in place; and the corrected vault policy.

pub mod boundary;
pub mod guard;
pub mod key_policy;
pub mod patch;
pub mod vault;

use crate::diagnose::check::{check, Check};
use crate::diagnose::principal::Subject;
use crate::diagnose::report::{Patch, Verification};
use crate::policy::{NamedPolicy, Policy};

/// Patches and the re-evaluation behind them.
#[derive(Debug, Clone, Default)]
pub struct Remedy {
    pub patches: Vec<Patch>,
    pub verified: bool,
    pub verification: Verification,
}

/// Builds the patches for `subjects` from the checks and re-evaluates every check with
/// the patches applied.
pub fn remedy(checks: &[Check], subjects: &[&Subject], account: &str, partition: &str) -> Remedy {
    let mut patches = Vec::new();
    let mut patched: Vec<Subject> = Vec::new();
    for subject in subjects {
        let mine: Vec<&Check> = checks
            .iter()
            .filter(|c| c.principal_arn == subject.arn && c.needs_identity_grant)
            .collect();
        let mut s = (*subject).clone();
        if let Some(p) = patch::build(subject, &mine) {
            if let Ok(policy) = Policy::from_value(&p.document) {
                // Verified as it will be applied: a merged fix replaces the earlier one.
                if p.merged_with_existing {
                    s.policies.identity.retain(|n| n.name != patch::POLICY_NAME);
                }
                s.policies.identity.push(NamedPolicy {
                    name: format!("{} (proposed)", p.policy_name),
                    policy,
                });
            }
            patches.push(p);
        }
        patched.push(s);
    }
    let mut verification = Verification::default();
    for c in checks {
        let label = format!("{} on {}", c.requirement.action, c.requirement.resource);
        let Some(subject) = patched.iter().find(|s| s.arn == c.principal_arn) else {
            // A check made for a synthetic principal (vault policy alone): unchanged.
            if c.finding.is_some() {
                verification.still_blocked.push(label);
            }
            continue;
        };
        // Allowed and proven before the patch: the patch adds Allow statements only, so
        // it stays allowed and proven; not evaluated again (half the work on a big role).
        if c.finding.is_none()
            && c.undecided.is_none()
            && crate::diagnose::check::depends_on(c).is_empty()
        {
            continue;
        }
        let again = check(subject, &c.requirement, &c.gate, account, partition);
        // Not decided (before or with the patch): the patch is not proven for it.
        if let Some(err) = again.undecided.as_ref().or(c.undecided.as_ref()) {
            verification
                .still_blocked
                .push(format!("{label} (not decided: {err})"));
            continue;
        }
        // Allowed, but only while context nobody knows stays absent, or with a Deny
        // that hinges on it: not proven, whatever the patch does.
        let hinges = crate::diagnose::check::depends_on(&again);
        if again.finding.is_none() && !hinges.is_empty() {
            verification.still_blocked.push(format!(
                "{label} (not proven: depends on {}, which the evidence does not carry)",
                crate::diagnose::check::keys_shown(&hinges)
            ));
            continue;
        }
        match (&c.finding, &again.finding) {
            (_, None) if c.finding.is_some() => verification.now_allowed.push(label),
            (_, None) => {}
            (_, Some(f)) => {
                let by: Vec<&str> = f
                    .blocked_by
                    .iter()
                    .map(crate::diagnose::blocker_words)
                    .collect();
                verification
                    .still_blocked
                    .push(format!("{label} (blocked by the {})", by.join(" and the ")));
            }
        }
    }
    let verified = verification.still_blocked.is_empty();
    Remedy {
        patches,
        verified,
        verification,
    }
}
