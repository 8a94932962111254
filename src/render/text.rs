//! Plain text for the CLI and the email body: what failed, the cause in one line, then
//! every finding and the fix — readable on a phone at 3 a.m., no markup.

use std::fmt::Write as _;

use super::escape::plain_text as v;
use crate::diagnose::blocker_words;
use crate::diagnose::report::{Finding, Patch, Report};

/// The first line: what failed, where.
pub fn headline(report: &Report) -> String {
    let r = &report.restore;
    let what = match r.trigger.as_str() {
        "startRestoreJobDenied" => "StartRestoreJob refused",
        _ => "Restore failed",
    };
    let mut line = format!(
        "{what}: {} restore",
        v(r.resource_type.as_deref().unwrap_or("AWS Backup"))
    );
    if let Some(id) = &r.restore_job_id {
        let _ = write!(line, " {}", v(id));
    }
    let account = r.account_id.as_deref().map(|a| match &r.account_alias {
        Some(alias) => format!("{} ({})", v(a), v(alias)),
        None => v(a),
    });
    match (account, &r.region) {
        (Some(a), Some(g)) => {
            let _ = write!(line, " in {a} {}", v(g));
        }
        (Some(a), None) => {
            let _ = write!(line, " in {a}");
        }
        _ => {}
    }
    line
}

/// Findings that differ only in their action, as one entry (text and Slack).
pub(crate) fn grouped<'a>(findings: &[&'a Finding]) -> Vec<(Vec<&'a str>, &'a Finding)> {
    let mut groups: Vec<(Vec<&'a str>, &'a Finding)> = Vec::new();
    for f in findings {
        let same = |g: &&Finding| {
            g.principal == f.principal
                && g.resource == f.resource
                && g.blocked_by == f.blocked_by
                && g.denied_by == f.denied_by
                && g.why == f.why
                && g.who_must_act == f.who_must_act
                && g.assumed_context == f.assumed_context
        };
        match groups.iter_mut().find(|(_, g)| same(g)) {
            Some((actions, _)) => actions.push(f.action.as_str()),
            None => groups.push((vec![f.action.as_str()], f)),
        }
    }
    groups
}

/// How a principal is named in a finding line: `role NAME`, `user NAME`, or the ARN
/// when it is neither (the full ARN is in the fix's "Apply to" line and the JSON).
fn principal_words(principal: &str) -> String {
    if principal == "*" {
        return "any principal".to_owned();
    }
    if let Ok(role) = crate::diagnose::validated::RoleArn::parse(principal) {
        return format!("role {}", v(role.name()));
    }
    match principal.split_once(":user/") {
        Some((_, path)) => format!("user {}", v(path.rsplit('/').next().unwrap_or(path))),
        None => v(principal),
    }
}

/// One line per principal and resource (the actions they lack together); a second and
/// third line only for what a role patch cannot fix: what blocks it, and who must act.
fn finding_lines(out: &mut String, findings: &[&Finding]) {
    for (actions, f) in grouped(findings) {
        let actions: Vec<String> = actions.iter().map(|a| v(a)).collect();
        let _ = writeln!(
            out,
            "  - {}: {} on {}",
            principal_words(&f.principal),
            actions.join(", "),
            v(&f.resource)
        );
        if !f.fixable_by_patch {
            let by: Vec<&str> = f.blocked_by.iter().map(blocker_words).collect();
            let denied: Vec<String> = f
                .denied_by
                .iter()
                .map(|s| {
                    format!(
                        "{} statement {}{}",
                        v(&s.policy),
                        s.index,
                        s.sid
                            .as_deref()
                            .map(|sid| format!(" (Sid {})", v(sid)))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let denied = match denied.as_slice() {
                [] => String::new(),
                d => format!(" ({})", d.join(", ")),
            };
            let _ = writeln!(out, "      blocked by the {}{denied}", by.join(" and the "));
            if let Some(who) = &f.who_must_act {
                let _ = writeln!(out, "      who must act: {}", v(who));
            }
        }
        if !f.assumed_context.is_empty() {
            let _ = writeln!(
                out,
                "      depends on request context not known here: {}",
                f.assumed_context
                    .iter()
                    .map(|k| v(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// The account of a key ARN, when it parses.
fn key_account(key_arn: &str) -> Option<String> {
    crate::diagnose::validated::KeyArn::parse(key_arn)
        .ok()
        .map(|k| k.arn().account().to_owned())
}

fn patch_block(out: &mut String, p: &Patch) {
    // The words say what the command does: an inline policy put (merged with an
    // earlier fix when there is one), or a managed policy created and attached.
    let how = match (p.managed, p.merged_with_existing) {
        (true, _) => "as the new customer managed policy",
        (false, true) => "as inline policy (the earlier fix and the new statements, merged)",
        (false, false) => "as inline policy",
    };
    let _ = writeln!(
        out,
        "  Apply to {} {how} `{}` ({} characters):",
        v(&p.principal_arn),
        v(&p.policy_name),
        p.size
    );
    account_comment(out, &p.principal_arn, "IAM is global: no --region");
    let _ = writeln!(out, "  {}", v(&p.command));
    for w in &p.warnings {
        let _ = writeln!(out, "  note: {}", v(w));
    }
}

/// `# run in account N (...)`: the account whose credentials the command needs.
fn account_comment(out: &mut String, arn: &str, note: &str) {
    if let Ok(a) = crate::diagnose::validated::Arn::parse(arn) {
        if crate::diagnose::validated::is_account_id(a.account()) {
            let _ = writeln!(out, "  # run in account {} ({note})", a.account());
        }
    }
}

/// A policy document, pretty-printed and indented. serde_json escapes C0 controls inside
/// strings but not C1 controls, line separators or bidirectional characters, so each
/// line goes through [`v`] too.
fn document_lines(out: &mut String, document: &serde_json::Value, indent: &str) {
    let pretty = serde_json::to_string_pretty(document).unwrap_or_default();
    for line in pretty.lines() {
        let _ = writeln!(out, "{indent}{}", v(line));
    }
}

/// The full text report (CLI `--format text` and the SNS `email`/`default` body).
pub fn report_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(out, "Cause: {}", v(&report.summary));
    if let Some(msg) = &report.failure.message {
        let _ = writeln!(out, "AWS said: {}", v(msg));
    }
    if let Some(c) = &report.failure.class {
        let _ = writeln!(out, "AWS guidance: {}", v(&c.source));
    }
    // A failure that is not about permissions: what the checks found is listed, but as
    // "also missing", never as the reason this restore failed.
    let also = report.cause.is_failure_class();
    if let Some(u) = &report.unexplained_denial {
        let _ = writeln!(out, "\nChecked and allowed ({}):", u.checked.len());
        for c in &u.checked {
            let _ = writeln!(out, "  - {}", v(c));
        }
        let _ = writeln!(out, "Not verified:");
        for n in &u.not_verified {
            let _ = writeln!(out, "  - {}", v(n));
        }
        let _ = writeln!(out, "Look next at: {}", v(&u.next_step));
    }
    let fixable: Vec<&Finding> = report
        .missing
        .iter()
        .filter(|f| f.fixable_by_patch)
        .collect();
    let blockers: Vec<&Finding> = report
        .missing
        .iter()
        .filter(|f| !f.fixable_by_patch)
        .collect();
    if !blockers.is_empty() {
        let _ = writeln!(
            out,
            "\n{}Blockers a role patch cannot fix ({}):",
            if also {
                "Also missing (not the cause of this failure) — "
            } else {
                ""
            },
            blockers.len()
        );
        finding_lines(&mut out, &blockers);
    }
    if !fixable.is_empty() {
        let _ = writeln!(
            out,
            "\n{} ({}):",
            if also {
                "Also missing (not the cause of this failure)"
            } else {
                "Missing permissions"
            },
            fixable.len()
        );
        finding_lines(&mut out, &fixable);
    }
    if !report.unverified.is_empty() {
        let _ = writeln!(out, "\nCould not verify ({}):", report.unverified.len());
        for u in &report.unverified {
            let _ = writeln!(out, "  - {}: {}", v(&u.what), v(&u.why));
        }
    }
    let patches: Vec<&Patch> = report
        .patch
        .iter()
        .chain(report.other_patches.iter())
        .collect();
    if !patches.is_empty() {
        let check = &report.verification;
        let status = if also {
            "for the also-missing permissions only: it does not fix this failure".to_string()
        } else if report.verified {
            match check.now_allowed.len() {
                1 => "verified: with the patch, the missing permission is allowed".to_string(),
                n => format!("verified: with the patch, all {n} missing permissions are allowed"),
            }
        } else {
            format!(
                "NOT sufficient alone: {} allowed with the patch, {} still blocked",
                check.now_allowed.len(),
                check.still_blocked.len()
            )
        };
        let _ = writeln!(out, "\nFix ({status}):");
        for p in patches {
            patch_block(&mut out, p);
        }
        if !report.verified && !also {
            for s in &check.still_blocked {
                let _ = writeln!(out, "  still blocked: {}", v(s));
            }
        }
    }
    if let Some(fix) = &report.vault_policy_fix {
        let _ = writeln!(
            out,
            "\nVault policy fix (backup vault `{}`: removes only the Deny of backup:StartRestoreJob):",
            v(&fix.backup_vault_name)
        );
        if let Some(a) = report
            .restore
            .account_id
            .as_deref()
            .filter(|a| crate::diagnose::validated::is_account_id(a))
        {
            let _ = writeln!(out, "  # run in account {a}, as the vault's owner");
        }
        let _ = writeln!(out, "  {}", v(&fix.command));
    }
    if let Some(b) = &report.boundary_fix {
        let name = b
            .boundary_arn
            .as_deref()
            .map(v)
            .unwrap_or_else(|| "of the role".into());
        if b.statements_only {
            let _ = writeln!(
                out,
                "\nPermissions boundary change (for whoever manages the boundary {name}: it must also allow these statements; the role patch alone cannot take effect):\n"
            );
            document_lines(&mut out, &b.document, "  ");
        } else {
            let _ = writeln!(
                out,
                "\nPermissions boundary change (for whoever manages the boundary {name}: adds what the restore needs as its new default version, every other statement kept; the role patch alone cannot take effect; IAM keeps at most 5 versions of a policy, so delete the oldest first if it has 5):"
            );
            account_comment(&mut out, &b.role_arn, "IAM is global: no --region");
            let _ = writeln!(out, "  {}", v(&b.command));
        }
    }
    for k in &report.key_policy_fixes {
        if k.statements_only {
            let _ = writeln!(
                out,
                "\nKey policy fix (for the administrators of `{}`{}: its policy could not be read, so add these statements to it, keeping every other statement):\n",
                v(&k.key_arn),
                key_account(&k.key_arn)
                    .map(|a| format!(", in account {a}"))
                    .unwrap_or_default()
            );
            document_lines(&mut out, &k.document, "  ");
            continue;
        }
        let _ = writeln!(
            out,
            "\nKey policy fix (for the administrators of `{}`: adds a grant for the role only, keeps every other statement):",
            v(&k.key_arn)
        );
        account_comment(&mut out, &k.key_arn, "as a key administrator");
        let _ = writeln!(out, "  {}", v(&k.command));
    }
    if let Some(a) = &report.auto_attach {
        let verdict = match (a.decision.as_str(), a.attached) {
            ("attach", true) => "ATTACHED".to_string(),
            ("attach", false) => "would attach (not attached)".to_string(),
            _ => "not attached".to_string(),
        };
        let _ = writeln!(out, "\nAuto-attach: {verdict}");
        for r in &a.reasons {
            let _ = writeln!(out, "  - {}", v(r));
        }
        if let (Some(name), Some(role)) = (&a.policy_name, &a.role_arn) {
            let (name, role) = (v(name), v(role));
            let same_as_patch =
                report.patch.as_ref().map(|p| &p.document) == a.attached_document.as_ref();
            if same_as_patch {
                let _ = writeln!(
                    out,
                    "  inline policy `{name}` on {role}: exactly the patch above"
                );
            } else if let Some(doc) = &a.attached_document {
                let _ = writeln!(
                    out,
                    "  inline policy `{name}` on {role} (earlier fixes merged with the patch):"
                );
                document_lines(&mut out, doc, "    ");
            }
        }
        if let Some(undo) = &a.undo_command {
            let _ = writeln!(out, "  undo: {}", v(undo));
        }
        if let Some(job) = &a.retry_restore_job_id {
            let _ = writeln!(out, "  restore started again: job {}", v(job));
        }
    }
    out
}
