//! Plain text for the CLI and the email body: what failed, the cause in one line, then
//! every finding and the fix — readable on a phone at 3 a.m., no markup.

use std::fmt::Write as _;

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
        r.resource_type
            .as_deref()
            .unwrap_or("unknown resource type")
    );
    if let Some(id) = &r.restore_job_id {
        let _ = write!(line, " {id}");
    }
    match (&r.account_id, &r.region) {
        (Some(a), Some(g)) => {
            let _ = write!(line, " in {a} {g}");
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

fn finding_lines(out: &mut String, findings: &[&Finding]) {
    for (actions, f) in grouped(findings) {
        let _ = writeln!(out, "  - {}", actions.join(", "));
        let _ = writeln!(out, "      on: {}", f.resource);
        let by: Vec<&str> = f.blocked_by.iter().map(blocker_words).collect();
        let principal = match f.principal.as_str() {
            "*" => "any principal",
            arn => arn,
        };
        let _ = writeln!(out, "      principal: {principal}");
        let _ = writeln!(out, "      blocked by: {}", by.join(", "));
        for s in &f.denied_by {
            let _ = writeln!(
                out,
                "      denied by: {} statement {}{}",
                s.policy,
                s.index,
                s.sid
                    .as_deref()
                    .map(|sid| format!(" (Sid {sid})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "      needed for: {}", f.why);
        if let Some(who) = &f.who_must_act {
            let _ = writeln!(out, "      who must act: {who}");
        }
        if !f.assumed_context.is_empty() {
            let _ = writeln!(
                out,
                "      depends on request context not known here: {}",
                f.assumed_context.join(", ")
            );
        }
    }
}

fn patch_block(out: &mut String, p: &Patch) {
    let _ = writeln!(
        out,
        "  Apply to {} as inline policy `{}` ({} characters):",
        p.principal_arn, p.policy_name, p.size
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  {}", p.command);
    let _ = writeln!(out);
    let pretty = serde_json::to_string_pretty(&p.document).unwrap_or_default();
    for line in pretty.lines() {
        let _ = writeln!(out, "  {line}");
    }
    for w in &p.warnings {
        let _ = writeln!(out, "  note: {w}");
    }
}

/// The full text report (CLI `--format text` and the SNS `email`/`default` body).
pub fn report_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(out, "Cause: {}", report.summary);
    if let Some(msg) = &report.failure.message {
        let _ = writeln!(out, "AWS said: {msg}");
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
            "\nBlockers a role patch cannot fix ({}):",
            blockers.len()
        );
        finding_lines(&mut out, &blockers);
    }
    if !fixable.is_empty() {
        let _ = writeln!(out, "\nMissing permissions ({}):", fixable.len());
        finding_lines(&mut out, &fixable);
    }
    if !report.unverified.is_empty() {
        let _ = writeln!(out, "\nCould not verify ({}):", report.unverified.len());
        for u in &report.unverified {
            let _ = writeln!(out, "  - {}: {}", u.what, u.why);
        }
    }
    let patches: Vec<&Patch> = report
        .patch
        .iter()
        .chain(report.other_patches.iter())
        .collect();
    if !patches.is_empty() {
        let v = &report.verification;
        let status = if report.verified {
            match v.now_allowed.len() {
                1 => "verified: with the patch, the missing permission is allowed".to_string(),
                n => format!("verified: with the patch, all {n} missing permissions are allowed"),
            }
        } else {
            format!(
                "NOT sufficient alone: {} allowed with the patch, {} still blocked",
                v.now_allowed.len(),
                v.still_blocked.len()
            )
        };
        let _ = writeln!(out, "\nFix ({status}):");
        for p in patches {
            patch_block(&mut out, p);
        }
        if !report.verified {
            for s in &v.still_blocked {
                let _ = writeln!(out, "  still blocked: {s}");
            }
        }
    }
    if let Some(v) = &report.vault_policy_fix {
        let _ = writeln!(
            out,
            "\nVault policy fix (backup vault `{}`: removes only the Deny of backup:StartRestoreJob):",
            v.backup_vault_name
        );
        let _ = writeln!(out, "\n  {}", v.command);
    }
    for k in &report.key_policy_fixes {
        let _ = writeln!(
            out,
            "\nKey policy fix (for the administrators of `{}`: adds a grant for the role only, keeps every other statement):",
            k.key_arn
        );
        let _ = writeln!(out, "\n  {}", k.command);
    }
    if let Some(a) = &report.auto_attach {
        let verdict = match (a.decision.as_str(), a.attached) {
            ("attach", true) => "ATTACHED".to_string(),
            ("attach", false) => "would attach (not attached)".to_string(),
            _ => "not attached".to_string(),
        };
        let _ = writeln!(out, "\nAuto-attach: {verdict}");
        for r in &a.reasons {
            let _ = writeln!(out, "  - {r}");
        }
        if let (Some(name), Some(role)) = (&a.policy_name, &a.role_arn) {
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
                let pretty = serde_json::to_string_pretty(doc).unwrap_or_default();
                for line in pretty.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        if let Some(undo) = &a.undo_command {
            let _ = writeln!(out, "  undo: {undo}");
        }
        if let Some(job) = &a.retry_restore_job_id {
            let _ = writeln!(out, "  restore started again: job {job}");
        }
    }
    out
}
