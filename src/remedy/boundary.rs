//! The change a permissions boundary needs when it, not only the role's own policies,
//! keeps the restore from an action: a role patch alone then fixes nothing (the
//! effective permissions are the intersection of the identity policies and the boundary:
//! IAM User Guide, "Permissions boundaries for IAM entities"). The boundary's owner gets
//! the statements it must allow and, for a customer managed boundary that was read, the
//! command that adds them as its new default version, every earlier statement kept.

use serde_json::json;

use crate::diagnose::check::Check;
use crate::diagnose::evidence::Evidence;
use crate::diagnose::report::{Blocker, BoundaryFix};
use crate::diagnose::validated::Arn;

use super::patch::{merge, shell_quote, statements};

/// The boundary change for the restore role, or `None` when no boundary blocks it.
pub fn fix(evidence: &Evidence, role_arn: Option<&str>, checks: &[Check]) -> Option<BoundaryFix> {
    let role_arn = role_arn?;
    let blocked: Vec<&Check> = checks
        .iter()
        .filter(|c| c.principal_arn == role_arn)
        .filter(|c| {
            c.finding.as_ref().is_some_and(|f| {
                f.blocked_by.contains(&Blocker::PermissionBoundary) && f.denied_by.is_empty()
            })
        })
        .collect();
    let (added, _) = statements(&blocked)?;
    let boundary = evidence
        .restore_role
        .as_ref()
        .and_then(|r| r.permission_boundary.as_ref());
    let boundary_arn = boundary.and_then(|b| b.arn.clone());
    // A customer managed boundary of the role's account can get a new version; an AWS
    // managed one cannot be edited (its owner is AWS): then only the statements.
    let editable = boundary_arn
        .as_deref()
        .and_then(|a| Arn::parse(a).ok())
        .is_some_and(|a| a.service() == "iam" && a.account() != "aws" && !a.account().is_empty());
    let (document, command) = match (boundary, editable) {
        (Some(b), true) => {
            let merged = merge(Some(&b.document), &json!({"Statement": added}));
            let command = format!(
                "aws iam create-policy-version --policy-arn {} --set-as-default --policy-document {}",
                shell_quote(boundary_arn.as_deref().unwrap_or_default()),
                shell_quote(&serde_json::to_string(&merged).unwrap_or_default())
            );
            (merged, command)
        }
        _ => (
            json!({"Version": "2012-10-17", "Statement": added}),
            String::new(),
        ),
    };
    Some(BoundaryFix {
        role_arn: role_arn.to_owned(),
        boundary_arn,
        statements_only: command.is_empty(),
        document,
        command,
    })
}
