//! Opt-in auto-remediation: whether the verified patch may be attached to the restore
//! role without a human, and the exact policy that would be attached.
//!
//! Stricter than the tools it learns from: only a verified patch, only missing allows
//! in the role's own identity policies, only opted-in roles in our own account, only
//! actions the restore catalog requires, never a wildcard action or an unscoped
//! resource beyond the actions that have no resource-level permissions, iam:PassRole only
//! on an exact role with `iam:PassedToService`, and within IAM's size limit once merged.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::diagnose::evidence::{Evidence, PolicyKind};
use crate::diagnose::facts::{arn_account, role_name};
use crate::diagnose::principal::policy_size;
use crate::diagnose::report::{AutoAttach, Blocker, Report};
use crate::diagnose::requirements;
use crate::policy::arn_matches;

use super::patch::{shell_quote, POLICY_NAME, ROLE_INLINE_LIMIT};

/// The tag that opts a role in, with value `true`.
pub const DEFAULT_OPT_IN_TAG: &str = "restore-doctor:auto-attach";

/// Guard settings; the Lambda reads them from its environment
/// (`AUTO_ATTACH`, `AUTO_ATTACH_TAG`, `AUTO_ATTACH_ROLE_PATTERNS`), the CLI from flags of
/// the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// Off by default: propose only.
    pub enabled: bool,
    /// A role carrying this tag with value `true` is opted in.
    pub opt_in_tag: String,
    /// Role ARN patterns (with `*`/`?`) that are opted in without a tag.
    pub role_patterns: Vec<String>,
    /// The account the fixer runs in; only roles and resources of this account qualify.
    pub account: Option<String>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            enabled: false,
            opt_in_tag: DEFAULT_OPT_IN_TAG.to_string(),
            role_patterns: vec![],
            account: None,
        }
    }
}

/// The decision, with the merged policy when attaching.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub report: AutoAttach,
    /// When attaching: role name and the full inline policy to put.
    pub put: Option<(String, Value)>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// Statements of `existing` plus those of `patch` not already there (compared whole).
fn merge(existing: Option<&Value>, patch: &Value) -> Value {
    let mut statements: Vec<Value> = existing
        .and_then(|d| d.get("Statement"))
        .map(|s| match s {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        })
        .unwrap_or_default();
    for stmt in patch
        .get("Statement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !statements.contains(stmt) {
            statements.push(stmt.clone());
        }
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Decides whether the report's patch may be attached automatically.
pub fn decide(evidence: &Evidence, report: &Report, settings: &GuardSettings) -> Decision {
    let mut reasons = Vec::new();
    let refuse = |reasons: Vec<String>| Decision {
        report: AutoAttach::refused(reasons),
        put: None,
    };
    if !settings.enabled {
        return refuse(vec!["auto-attach is off (propose-only mode)".into()]);
    }
    let Some(patch) = report.patch.as_ref() else {
        let earlier = evidence.restore_role.as_ref().is_some_and(|r| {
            r.policies
                .iter()
                .any(|p| p.kind == PolicyKind::Inline && p.name == POLICY_NAME)
        });
        let why = match (report.missing.is_empty(), earlier) {
            (true, true) => format!("nothing to attach: no patch is needed, and the role already carries `{POLICY_NAME}` from an earlier fix"),
            (true, false) => "nothing to attach: no patch is needed".into(),
            (false, _) => "nothing to attach: what is missing is not fixable by a role patch (see the blockers)".into(),
        };
        return refuse(vec![why]);
    };
    let role_arn = patch.principal_arn.clone();
    if !role_arn.contains(":role/") || Some(&role_arn) != report.restore.role_arn.as_ref() {
        reasons.push(format!("the patch is for `{role_arn}`, not the restore role: only restore roles are patched automatically"));
    }
    if !report.other_patches.is_empty() {
        reasons.push("more than one principal needs a patch".into());
    }
    if !report.verified {
        reasons.push("re-evaluation does not show the patch fixing every requirement".into());
    }
    for f in &report.missing {
        if !(f.fixable_by_patch && f.blocked_by == [Blocker::IdentityPolicy]) {
            reasons.push(format!(
                "`{}` on `{}` is not a missing allow in the role's identity policies: explained, not patched",
                f.action, f.resource
            ));
        }
    }

    // Opt-in: tag or ARN pattern.
    let tagged = evidence
        .restore_role
        .as_ref()
        .filter(|r| r.arn == role_arn)
        .and_then(|r| r.tags.get(&settings.opt_in_tag))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let listed = settings
        .role_patterns
        .iter()
        .any(|p| arn_matches(p, &role_arn));
    if !tagged && !listed {
        reasons.push(format!(
            "the role is not opted in (tag `{}=true` or a matching role pattern)",
            settings.opt_in_tag
        ));
    }

    // Same account only.
    let account = settings.account.clone();
    match account.as_deref() {
        None => {
            reasons.push("the fixer's account is unknown, so same-account cannot be proven".into())
        }
        Some(acct) => {
            if arn_account(&role_arn) != Some(acct) {
                reasons.push(format!("the role is not in this account ({acct})"));
            }
        }
    }

    // Every statement: catalog actions only, no wildcard actions, scoped resources,
    // PassRole only on an exact role for a named service.
    let resource_type = report
        .restore
        .resource_type
        .as_deref()
        .and_then(requirements::canonical_type);
    let (allowed_actions, wildcard_only) = match &resource_type {
        Some(t) => catalog_actions(t),
        None => {
            reasons.push("the resource type is not in the restore catalog".into());
            (BTreeSet::new(), BTreeSet::new())
        }
    };
    for stmt in patch
        .document
        .get("Statement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if stmt.get("Effect").and_then(Value::as_str) != Some("Allow")
            || stmt.get("NotAction").is_some()
            || stmt.get("NotResource").is_some()
        {
            reasons.push("a statement is not a plain Allow of actions on resources".into());
        }
        let actions = strings(stmt.get("Action").unwrap_or(&Value::Null));
        let resources = strings(stmt.get("Resource").unwrap_or(&Value::Null));
        for a in &actions {
            if a.contains('*') || a.contains('?') {
                reasons.push(format!("wildcard action `{a}`"));
            } else if !allowed_actions.contains(&a.to_ascii_lowercase()) {
                reasons.push(format!(
                    "`{a}` is not an action the restore catalog requires for this resource type"
                ));
            }
        }
        for r in &resources {
            if r == "*" {
                for a in &actions {
                    if !wildcard_only.contains(&a.to_ascii_lowercase()) {
                        reasons.push(format!("`{a}` would be granted on every resource (`*`)"));
                    }
                }
            }
            if let (Some(acct), Some(r_acct)) = (account.as_deref(), arn_account(r)) {
                if r_acct != acct && r_acct != "*" {
                    reasons.push(format!("resource `{r}` is in another account"));
                }
                if r_acct == "*" {
                    reasons.push(format!("resource `{r}` is not scoped to an account"));
                }
            }
        }
        if actions
            .iter()
            .any(|a| a.eq_ignore_ascii_case("iam:PassRole"))
        {
            let exact = resources
                .iter()
                .all(|r| r.contains(":role/") && !r.contains('*') && !r.contains('?'));
            let service = stmt
                .pointer("/Condition/StringEquals/iam:PassedToService")
                .is_some_and(|v| v.is_string());
            if !exact || !service {
                reasons.push("iam:PassRole must be on one exact role with an `iam:PassedToService` condition".into());
            }
        }
    }

    // Merge with the earlier fix and check IAM's aggregate inline limit.
    let role = evidence.restore_role.as_ref().filter(|r| r.arn == role_arn);
    let existing = role.and_then(|r| {
        r.policies
            .iter()
            .find(|p| p.kind == PolicyKind::Inline && p.name == POLICY_NAME)
    });
    let merged = merge(existing.map(|p| &p.document), &patch.document);
    let other_inline: usize = role
        .map(|r| {
            r.policies
                .iter()
                .filter(|p| p.kind == PolicyKind::Inline && p.name != POLICY_NAME)
                .map(|p| policy_size(&p.document))
                .sum()
        })
        .unwrap_or(0);
    let merged_size = policy_size(&merged);
    if merged_size + other_inline > ROLE_INLINE_LIMIT {
        reasons.push(format!(
            "the merged policy ({merged_size} characters) and the role's other inline policies ({other_inline}) exceed IAM's {ROLE_INLINE_LIMIT}-character limit"
        ));
    }

    reasons.dedup();
    if !reasons.is_empty() {
        return refuse(reasons);
    }
    let name = role_name(&role_arn).to_string();
    let undo = match existing {
        None => format!(
            "aws iam delete-role-policy --role-name {} --policy-name {POLICY_NAME}",
            shell_quote(&name)
        ),
        Some(previous) => format!(
            "aws iam put-role-policy --role-name {} --policy-name {POLICY_NAME} --policy-document {}",
            shell_quote(&name),
            shell_quote(&serde_json::to_string(&previous.document).unwrap_or_default())
        ),
    };
    let unchanged = existing.is_some_and(|p| p.document == merged);
    Decision {
        report: AutoAttach {
            decision: "attach".into(),
            reasons: vec![if unchanged {
                "every guardrail holds; the role already has these statements, nothing changes"
                    .into()
            } else {
                "every guardrail holds".into()
            }],
            policy_name: Some(POLICY_NAME.into()),
            role_arn: Some(role_arn),
            attached_document: Some(merged.clone()),
            undo_command: Some(undo),
            attached: false,
            retry_restore_job_id: None,
        },
        put: Some((name, merged)),
    }
}

/// Lower-cased actions the catalog requires for a type (service, KMS, PassRole), and
/// those of them without resource-level permissions.
fn catalog_actions(resource_type: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let scope = requirements::Scope {
        partition: "aws".into(),
        ..Default::default()
    };
    let mut all = BTreeSet::new();
    let mut wildcard_only = BTreeSet::new();
    let mut reqs = requirements::service_requirements(resource_type, &scope);
    reqs.extend(requirements::kms_requirements(
        resource_type,
        "k",
        &scope,
        "",
    ));
    if let Some(service) = requirements::pass_role_service(resource_type) {
        reqs.push(requirements::pass_role_requirement("r", &service, ""));
    }
    for r in reqs {
        let a = r.action.to_ascii_lowercase();
        if r.wildcard_only {
            wildcard_only.insert(a.clone());
        }
        all.insert(a);
    }
    (all, wildcard_only)
}
