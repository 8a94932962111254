//! The fix for a KMS key policy that neither names the restore role nor delegates to
//! the account: the key policy with one statement added for exactly the role, the
//! actions it lacks and the conditions that keep them narrow. Key administrators apply it.
//! When the key policy could not be read (a key of another account, say), the fix is
//! the statement to add, for its administrators to merge: never a whole guessed policy.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::diagnose::check::{Check, ResourceGate};
use crate::diagnose::evidence::Evidence;
use crate::diagnose::report::{Blocker, KeyPolicyFix};

use super::patch::{digest, shell_quote};

/// Actions per condition (keyed by the condition's JSON text).
type ByCondition = BTreeMap<String, (Option<Value>, Vec<String>)>;

/// One fix per key whose policy blocks the role.
pub fn fixes(evidence: &Evidence, checks: &[Check]) -> Vec<KeyPolicyFix> {
    // key → role → (condition → actions)
    let mut wanted: BTreeMap<String, BTreeMap<String, ByCondition>> = BTreeMap::new();
    for c in checks {
        let Some(f) = &c.finding else { continue };
        // A key policy that could not be read gets the statement to add, not a whole
        // policy (`fixes` below): putting a guessed policy would drop its statements.
        let ResourceGate::KeyPolicy(_) = &c.gate else {
            continue;
        };
        // The key policy of an AWS managed key cannot be changed
        // (`policy::hard_rules::AWS_MANAGED_KEY_POLICY`): no command that would fail.
        if crate::diagnose::managed_key::is_aws_managed_key(evidence, &c.requirement.resource) {
            continue;
        }
        if !f.blocked_by.contains(&Blocker::KeyPolicy) || !f.denied_by.is_empty() {
            continue;
        }
        let cond = c.requirement.condition.clone();
        let key = cond.as_ref().map(Value::to_string).unwrap_or_default();
        let entry = wanted
            .entry(c.requirement.resource.clone())
            .or_default()
            .entry(c.principal_arn.clone())
            .or_default()
            .entry(key)
            .or_insert_with(|| (cond, Vec::new()));
        if !entry.1.contains(&c.requirement.action) {
            entry.1.push(c.requirement.action.clone());
        }
    }
    let mut out = Vec::new();
    for (key_arn, roles) in wanted {
        let original = evidence.key_policies.iter().find(|k| k.key_arn == key_arn);
        let unread = original.is_none();
        let mut document = original.map_or_else(
            || json!({"Version": "2012-10-17", "Statement": []}),
            |o| o.document.clone(),
        );
        let mut statements: Vec<Value> = match document.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => continue,
        };
        for (role, groups) in roles {
            for (condition, mut actions) in groups.into_values() {
                actions.sort();
                let mut stmt = json!({
                    "Effect": "Allow",
                    "Principal": {"AWS": role},
                    "Action": actions,
                    "Resource": "*",
                });
                if let (Some(c), Some(obj)) = (condition, stmt.as_object_mut()) {
                    obj.insert("Condition".into(), c);
                }
                let sid = format!("RestoreDoctorKeyUse{:08x}", digest(&stmt.to_string()));
                let mut with_sid = serde_json::Map::new();
                with_sid.insert("Sid".into(), Value::String(sid));
                if let Value::Object(fields) = stmt {
                    with_sid.extend(fields);
                }
                statements.push(Value::Object(with_sid));
            }
        }
        if let Some(obj) = document.as_object_mut() {
            obj.insert("Statement".into(), Value::Array(statements));
        }
        // Unread: only the statements to add; `put-key-policy` with them alone would
        // replace the key's whole policy, so there is no command to paste.
        let command = if unread {
            String::new()
        } else {
            // KMS is regional: the key's own Region, from its validated ARN.
            let region = crate::diagnose::validated::KeyArn::parse(&key_arn)
                .map(|k| format!(" --region {}", k.arn().region()))
                .unwrap_or_default();
            format!(
                "aws kms put-key-policy{region} --key-id {} --policy-name default --policy {}",
                shell_quote(&key_arn),
                shell_quote(&serde_json::to_string(&document).unwrap_or_default())
            )
        };
        out.push(KeyPolicyFix {
            key_arn,
            document,
            command,
            statements_only: unread,
        });
    }
    out
}
