//! AWS managed keys (`aws/ebs`, `aws/rds`, ...): their key policy is AWS's, so no key
//! policy change and no grant in another account can ever make them usable there. A
//! check on such a key that fails is explained by AWS's rule, never by a fix that
//! cannot work (issue #9, "AWS managed keys cannot be shared").
//!
//! A key counts as AWS managed when kms:DescribeKey said `KeyManager: AWS`, or when it
//! is named by an `alias/aws/...` alias (reserved for AWS managed keys: see
//! `policy::hard_rules::AWS_MANAGED_ALIAS`).

use crate::policy::hard_rules::{AwsRule, AWS_MANAGED_KEY_CROSS_ACCOUNT, AWS_MANAGED_KEY_POLICY};

use super::check::{hard_rule_words, Check, ResourceGate};
use super::evidence::Evidence;
use super::report::{Blocker, Finding};
use super::validated::KeyArn;

/// Whether the evidence shows `key_arn` to be an AWS managed key.
pub fn is_aws_managed_key(evidence: &Evidence, key_arn: &str) -> bool {
    evidence.kms_keys.iter().any(|k| {
        k.key_arn == key_arn
            && (k
                .key_manager
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("AWS"))
                || crate::policy::hard_rules::is_aws_managed_alias(&k.reference))
    })
}

/// The rule that explains a failing check on an AWS managed key: sharing across
/// accounts for a key outside the restore's account, else the fixed key policy.
fn rule_for(key: &KeyArn, account: &str) -> AwsRule {
    if key.arn().account() != account {
        (&AWS_MANAGED_KEY_CROSS_ACCOUNT).into()
    } else {
        (&AWS_MANAGED_KEY_POLICY).into()
    }
}

/// Rewrites the checks on AWS managed keys: a key in another account can never be used
/// by this one (a finding even where the collected policies seem to allow, since its
/// real policy is AWS's), and a same-account key whose policy blocks is explained by
/// the fixed key policy, not by its administrators. Neither gets an identity grant.
pub fn apply(evidence: &Evidence, account: &str, checks: &mut [Check]) {
    for c in checks.iter_mut() {
        if !matches!(c.gate, ResourceGate::KeyPolicy(_)) || c.undecided.is_some() {
            continue;
        }
        let Ok(key) = KeyArn::parse(&c.requirement.resource) else {
            continue;
        };
        if !is_aws_managed_key(evidence, key.as_str()) {
            continue;
        }
        let cross_account = key.arn().account() != account;
        let key_policy_blocks = c
            .finding
            .as_ref()
            .is_some_and(|f| f.blocked_by.contains(&Blocker::KeyPolicy));
        if !cross_account && !key_policy_blocks {
            continue;
        }
        let rule = rule_for(&key, account);
        c.needs_identity_grant = false;
        let mut blocked_by: Vec<Blocker> = c
            .finding
            .as_ref()
            .map(|f| {
                f.blocked_by
                    .iter()
                    .copied()
                    .filter(|b| !matches!(b, Blocker::KeyPolicy | Blocker::IdentityPolicy))
                    .collect()
            })
            .unwrap_or_default();
        blocked_by.insert(0, Blocker::AwsRule);
        let previous = c.finding.take();
        c.finding = Some(Finding {
            action: c.requirement.action.clone(),
            resource: c.requirement.resource.clone(),
            principal: previous
                .as_ref()
                .map_or_else(|| c.principal_arn.clone(), |f| f.principal.clone()),
            fixable_by_patch: false,
            blocked_by,
            denied_by: previous
                .as_ref()
                .map(|f| f.denied_by.clone())
                .unwrap_or_default(),
            why: c.requirement.why.clone(),
            who_must_act: Some(hard_rule_words(&rule)),
            assumed_context: previous.map(|f| f.assumed_context).unwrap_or_default(),
        });
    }
}
