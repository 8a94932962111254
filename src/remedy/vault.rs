//! The corrected backup vault access policy when it denies the restore: the same policy
//! without `backup:StartRestoreJob` in its Deny statements, every other protection kept.

use serde_json::Value;

use crate::diagnose::evidence::Evidence;
use crate::diagnose::report::{Blocker, Finding, VaultPolicyFix};
use crate::policy::action_matches;

use super::patch::shell_quote;

const START_RESTORE: &str = "backup:StartRestoreJob";

/// The fix, when a finding is blocked by the vault policy.
pub fn fix(
    evidence: &Evidence,
    vault_name: &str,
    region: Option<&str>,
    missing: &[Finding],
) -> Option<VaultPolicyFix> {
    // AWS Backup is regional: the command names the vault's Region (a validated one).
    let region = region
        .filter(|r| crate::diagnose::validated::is_region(r))
        .map(|r| format!(" --region {r}"))
        .unwrap_or_default();
    if !missing
        .iter()
        .any(|f| f.blocked_by.contains(&Blocker::VaultAccessPolicy))
    {
        return None;
    }
    let original = &evidence.vault_access_policy.as_ref()?.document;
    let mut document = original.clone();
    let statements: Vec<Value> = match document.get("Statement")? {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    let kept: Vec<Value> = statements
        .into_iter()
        .filter_map(without_start_restore)
        .collect();
    let command = if kept.is_empty() {
        format!(
            "aws backup delete-backup-vault-access-policy{region} --backup-vault-name {}",
            shell_quote(vault_name)
        )
    } else {
        if let Some(obj) = document.as_object_mut() {
            obj.insert("Statement".into(), Value::Array(kept));
        }
        format!(
            "aws backup put-backup-vault-access-policy{region} --backup-vault-name {} --policy {}",
            shell_quote(vault_name),
            shell_quote(&serde_json::to_string(&document).unwrap_or_default())
        )
    };
    Some(VaultPolicyFix {
        backup_vault_name: vault_name.to_string(),
        document,
        command,
    })
}

/// The statement without StartRestoreJob if it is a Deny naming it; `None` if nothing is left.
fn without_start_restore(mut stmt: Value) -> Option<Value> {
    if stmt.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return Some(stmt);
    }
    let actions: Vec<String> = match stmt.get("Action") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => return Some(stmt),
    };
    let remaining: Vec<String> = actions
        .into_iter()
        .filter(|a| !action_matches(a, START_RESTORE))
        .collect();
    if remaining.is_empty() {
        return None;
    }
    if let Some(obj) = stmt.as_object_mut() {
        obj.insert(
            "Action".into(),
            Value::Array(remaining.into_iter().map(Value::String).collect()),
        );
    }
    Some(stmt)
}
