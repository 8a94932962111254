//! Building the least-privilege patch: only the missing actions, on the exact resources
//! the checks used, with the conditions that keep each grant narrow, in few statements.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::diagnose::check::Check;
use crate::diagnose::principal::{policy_size, Subject};
use crate::diagnose::report::Patch;

/// The inline policy name the patch always uses, so applying it twice is an upsert.
pub const POLICY_NAME: &str = crate::diagnose::principal::FIX_POLICY_NAME;

/// IAM's limit on the aggregate size of a role's inline policies (white space excluded).
pub const ROLE_INLINE_LIMIT: usize = 10_240;
/// The same limit for users.
pub const USER_INLINE_LIMIT: usize = 2_048;

/// Grants that share one condition: the condition, and each action's resources.
type ConditionGroup = (Option<Value>, BTreeMap<String, Vec<String>>);

/// The least-privilege statements that allow exactly the checks' requirements, and the
/// notes on their scope; `None` when there is nothing to allow. Shared by the role patch
/// and the permissions-boundary change, so both say the same thing.
pub fn statements(checks: &[&Check]) -> Option<(Vec<Value>, Vec<String>)> {
    // condition → action → resources
    let mut groups: BTreeMap<String, ConditionGroup> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut wildcard_only: Vec<String> = Vec::new();
    let mut broad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in checks {
        let req = &c.requirement;
        let key = req
            .condition
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (req.condition.clone(), BTreeMap::new()));
        let resources = entry.1.entry(req.action.clone()).or_default();
        if !resources.contains(&req.resource) {
            resources.push(req.resource.clone());
        }
        if req.wildcard_only {
            if !wildcard_only.contains(&req.action) {
                wildcard_only.push(req.action.clone());
            }
        } else if req.resource.ends_with('*') || req.resource.contains("*:") {
            let actions = broad.entry(req.resource.clone()).or_default();
            if !actions.contains(&req.action) {
                actions.push(req.action.clone());
            }
        }
    }
    // One note per reason, naming every action it concerns.
    let listed = |actions: &[String]| {
        actions
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !wildcard_only.is_empty() {
        let (verb, whose) = if wildcard_only.len() == 1 {
            ("has", "its")
        } else {
            ("have", "their")
        };
        warnings.push(format!(
            "{} {verb} no resource-level permissions: {whose} Resource must stay `*`",
            listed(&wildcard_only)
        ));
    }
    for (resource, actions) in &broad {
        let verb = if actions.len() == 1 { "is" } else { "are" };
        warnings.push(format!(
            "{} {verb} scoped to `{resource}`: the exact resource the restore creates or restores into is not known before it runs",
            listed(actions)
        ));
    }
    if groups.is_empty() {
        return None;
    }
    let mut statements = Vec::new();
    for (condition, by_action) in groups.values() {
        // Merge actions that share exactly the same resources into one statement.
        let mut by_resources: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (action, resources) in by_action {
            let mut r = resources.clone();
            r.sort();
            by_resources.entry(r).or_default().push(action.clone());
        }
        for (resources, mut actions) in by_resources {
            actions.sort();
            let base = sid_for(&actions);
            let mut stmt = json!({
                "Effect": "Allow",
                "Action": one_or_many(actions),
                "Resource": one_or_many(resources),
            });
            if let (Some(cond), Some(obj)) = (condition, stmt.as_object_mut()) {
                obj.insert("Condition".into(), cond.clone());
            }
            // The Sid carries a digest of the statement: the same grant always gets the
            // same Sid, so merging fixes never duplicates a statement or a Sid.
            let sid = format!("{base}{:08x}", digest(&stmt.to_string()));
            let mut with_sid = serde_json::Map::new();
            with_sid.insert("Sid".into(), Value::String(sid));
            if let Value::Object(fields) = stmt {
                with_sid.extend(fields);
            }
            statements.push(Value::Object(with_sid));
        }
    }
    Some((statements, warnings))
}

/// The patch for one subject, or `None` when it needs no grant.
pub fn build(subject: &Subject, checks: &[&Check]) -> Option<Patch> {
    let (statements, mut warnings) = statements(checks)?;
    let new = json!({"Version": "2012-10-17", "Statement": statements});
    let limit = if subject.is_role() {
        ROLE_INLINE_LIMIT
    } else {
        USER_INLINE_LIMIT
    };
    // Putting `restore-doctor-fix` replaces the earlier one: the inline proposal is the
    // merged document, and the earlier fix's size is no longer counted beside it.
    let existing = subject.existing_fix.as_ref();
    let merged = merge(existing, &new);
    let others = subject
        .inline_size
        .saturating_sub(existing.map_or(0, policy_size));
    let fits_inline = policy_size(&merged) + others <= limit;
    let (document, command) = if fits_inline {
        let command = command(subject, &merged);
        (merged, command)
    } else {
        warnings.push(format!(
            "the patch ({} characters) and the existing inline policies ({} characters) exceed IAM's {limit}-character inline limit: the command creates a customer managed policy and attaches it instead",
            policy_size(&new),
            subject.inline_size
        ));
        let command = managed_command(subject, &new);
        (new, command)
    };
    let merged_with_existing = fits_inline && existing.is_some();
    if merged_with_existing {
        let kept = statements_of(existing).len();
        warnings.push(format!(
            "merges with the existing inline policy `{POLICY_NAME}`: its {kept} statement{} {} kept, since putting the same name replaces it",
            if kept == 1 { "" } else { "s" },
            if kept == 1 { "is" } else { "are" }
        ));
    }
    Some(Patch {
        principal_arn: subject.arn.clone(),
        policy_name: if fits_inline {
            POLICY_NAME.to_string()
        } else {
            format!("{POLICY_NAME}-{}", subject.name())
        },
        size: policy_size(&document),
        document,
        command,
        warnings,
        managed: !fits_inline,
        merged_with_existing,
    })
}

fn statements_of(document: Option<&Value>) -> Vec<Value> {
    document
        .and_then(|d| d.get("Statement"))
        .map(|s| match s {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        })
        .unwrap_or_default()
}

/// Statements of `existing` plus those of `patch` not already there (compared whole):
/// what `restore-doctor-fix` must hold so that putting it again loses no earlier grant.
pub fn merge(existing: Option<&Value>, patch: &Value) -> Value {
    let mut statements = statements_of(existing);
    for stmt in statements_of(Some(patch)) {
        if !statements.contains(&stmt) {
            statements.push(stmt);
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

/// A readable Sid prefix from the services of the actions (`RestoreDoctorKms`, ...).
fn sid_for(actions: &[String]) -> String {
    let mut services: Vec<String> = actions
        .iter()
        .filter_map(|a| a.split(':').next())
        .map(|s| {
            let clean: String = s.chars().filter(char::is_ascii_alphanumeric).collect();
            let mut c = clean.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    services.dedup();
    format!("RestoreDoctor{}", services.join(""))
}

/// FNV-1a, 32 bits: a stable digest (the std hasher is not stable across releases).
pub fn digest(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The customer managed policy route, for a role whose inline policies are full.
fn managed_command(subject: &Subject, document: &Value) -> String {
    let doc = serde_json::to_string(document).unwrap_or_default();
    let name = format!("{POLICY_NAME}-{}", subject.name());
    let account = subject.arn.split(':').nth(4).unwrap_or("");
    let partition = subject.arn.split(':').nth(1).unwrap_or("aws");
    let (verb, flag) = if subject.is_role() {
        ("attach-role-policy", "--role-name")
    } else {
        ("attach-user-policy", "--user-name")
    };
    format!(
        "aws iam create-policy --policy-name {} --policy-document {} && aws iam {verb} {flag} {} --policy-arn {}",
        shell_quote(&name),
        shell_quote(&doc),
        shell_quote(subject.name()),
        shell_quote(&format!("arn:{partition}:iam::{account}:policy/{name}"))
    )
}

fn command(subject: &Subject, document: &Value) -> String {
    let doc = serde_json::to_string(document).unwrap_or_default();
    let (verb, flag) = if subject.is_role() {
        ("put-role-policy", "--role-name")
    } else {
        ("put-user-policy", "--user-name")
    };
    format!(
        "aws iam {verb} {flag} {} --policy-name {POLICY_NAME} --policy-document {}",
        shell_quote(subject.name()),
        shell_quote(&doc)
    )
}
