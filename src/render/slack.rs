//! The Slack (and Teams) rendering: an AWS Chatbot custom notification, delivered through
//! the SNS `https` key. Short by construction: the cause, the first few missing
//! permissions, next steps and links; the full report is in the email and the JSON.
//!
//! Format: version `1.0`, source `custom`, `content` (client-markdown title,
//! description, nextSteps, keywords) and `metadata` (threadId, summary, eventType,
//! relatedResources, additionalContext).

use serde_json::{json, Map, Value};

use super::alert::{self, AlertContext};
use super::text::grouped;
use crate::diagnose::report::{Finding, Report};

/// Findings listed in the description; the rest are counted.
const LISTED_FINDINGS: usize = 5;
/// Longest description, in characters (Slack cuts section text at 3,000).
const MAX_DESCRIPTION_CHARS: usize = 2_800;
/// Longest next step, in characters.
const MAX_STEP_CHARS: usize = 600;
const MAX_STEPS: usize = 6;

/// The Chatbot custom notification for `report`.
pub fn notification(report: &Report, ctx: &AlertContext) -> Value {
    let headline = alert::headline(report);
    let phrase = alert::cause_phrase(report);
    json!({
        "version": "1.0",
        "source": "custom",
        "id": if ctx.dedup_key.is_empty() { &ctx.correlation_id } else { &ctx.dedup_key },
        "content": {
            "textType": "client-markdown",
            "title": format!(":rotating_light: {headline}: {phrase}"),
            "description": description(report),
            "nextSteps": next_steps(report),
            "keywords": keywords(report),
        },
        "metadata": {
            "threadId": thread_id(report, ctx),
            "summary": alert::subject(report),
            "eventType": if alert::is_start_denied(report) { "StartRestoreJobDenied" } else { "RestoreJobFailed" },
            "relatedResources": related_resources(report),
            "additionalContext": additional_context(report, ctx),
        }
    })
}

fn thread_id(report: &Report, ctx: &AlertContext) -> String {
    match &report.restore.restore_job_id {
        Some(job) => format!("restore-doctor/{job}"),
        None if !ctx.dedup_key.is_empty() => format!("restore-doctor/{}", ctx.dedup_key),
        None => format!("restore-doctor/{}", ctx.correlation_id),
    }
}

fn cut(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn short_arn(arn: &str) -> &str {
    arn.rsplit(['/', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(arn)
}

fn description(report: &Report) -> String {
    let mut d = report.summary.trim().to_owned();
    if !report.missing.is_empty() {
        d.push_str("\n\n*Missing*\n");
        let findings: Vec<&Finding> = report.missing.iter().collect();
        let groups = grouped(&findings);
        for (actions, f) in groups.iter().take(LISTED_FINDINGS) {
            let fix = if f.fixable_by_patch {
                "fixed by the patch".to_owned()
            } else {
                match &f.who_must_act {
                    Some(who) => format!("needs {who}"),
                    None => "not fixable by a role patch".to_owned(),
                }
            };
            let actions = actions
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            d.push_str(&format!(
                "• {actions} on `{}` for {}: {fix}\n",
                cut(&f.resource, 120),
                match f.principal.as_str() {
                    "*" => "any principal".to_owned(),
                    arn => format!("`{}`", short_arn(arn)),
                }
            ));
        }
        let listed: usize = groups
            .iter()
            .take(LISTED_FINDINGS)
            .map(|(a, _)| a.len())
            .sum();
        if report.missing.len() > listed {
            d.push_str(&format!(
                "…and {} more (see the email)\n",
                report.missing.len() - listed
            ));
        }
    }
    if !report.unverified.is_empty() {
        d.push_str(&format!(
            "\n*Not verified*: {} (see the email)\n",
            report
                .unverified
                .iter()
                .take(3)
                .map(|u| u.what.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let links: Vec<String> = alert::links(report)
        .into_iter()
        .map(|(label, url)| format!("[{label}]({url})"))
        .collect();
    let links = if links.is_empty() {
        String::new()
    } else {
        format!("\n{}", links.join(" · "))
    };
    let room = MAX_DESCRIPTION_CHARS.saturating_sub(links.chars().count());
    format!("{}{links}", cut(d.trim_end(), room))
}

fn next_steps(report: &Report) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    if let Some(patch) = &report.patch {
        let who = short_arn(&patch.principal_arn);
        let verified = if report.verified { "verified " } else { "" };
        let step = format!(
            "Attach the {verified}least-privilege policy `{}` to `{who}`: `{}`",
            patch.policy_name, patch.command
        );
        steps.push(if step.chars().count() <= MAX_STEP_CHARS {
            step
        } else {
            format!(
                "Attach the {verified}least-privilege policy `{}` to `{who}` (the command is in the email)",
                patch.policy_name
            )
        });
    }
    for patch in &report.other_patches {
        steps.push(format!(
            "Attach the least-privilege policy `{}` to `{}` (the command is in the email)",
            patch.policy_name,
            short_arn(&patch.principal_arn)
        ));
    }
    for fix in &report.key_policy_fixes {
        steps.push(format!(
            "Key administrators: apply the corrected key policy of `{}` (the command is in the email)",
            short_arn(&fix.key_arn)
        ));
    }
    if let Some(fix) = &report.vault_policy_fix {
        steps.push(format!(
            "Correct the access policy of vault `{}` (the command is in the email)",
            fix.backup_vault_name
        ));
    }
    let mut owners: Vec<String> = Vec::new();
    for f in report.missing.iter().filter(|f| !f.fixable_by_patch) {
        let step = match &f.who_must_act {
            Some(who) => format!(
                "{}: allow `{}` on `{}`",
                capitalized(who),
                f.action,
                cut(&f.resource, 120)
            ),
            None => format!("Allow `{}` on `{}`", f.action, cut(&f.resource, 120)),
        };
        if !owners.contains(&step) {
            owners.push(step);
        }
    }
    steps.extend(owners.into_iter().take(3));
    for u in report.unverified.iter().take(2) {
        steps.push(format!("Check by hand: {} ({})", u.what, u.why));
    }
    steps.truncate(MAX_STEPS - 1);
    steps.push(if alert::is_start_denied(report) {
        "Call StartRestoreJob again once fixed".to_owned()
    } else {
        "Start the restore again once fixed".to_owned()
    });
    steps.into_iter().map(|s| cut(&s, MAX_STEP_CHARS)).collect()
}

fn keywords(report: &Report) -> Vec<String> {
    let ctx = &report.restore;
    let mut k = vec![
        "restore-doctor".to_owned(),
        report.cause.as_str().to_owned(),
    ];
    k.extend(ctx.resource_type.clone());
    k.extend(ctx.account_id.clone());
    k.extend(ctx.region.clone());
    k
}

fn related_resources(report: &Report) -> Vec<String> {
    let ctx = &report.restore;
    let mut r: Vec<String> = Vec::new();
    for arn in [&ctx.role_arn, &ctx.caller_arn, &ctx.recovery_point_arn]
        .into_iter()
        .flatten()
    {
        if !r.contains(arn) {
            r.push(arn.clone());
        }
    }
    r
}

fn additional_context(report: &Report, ctx: &AlertContext) -> Value {
    let mut m = Map::new();
    m.insert("cause".into(), Value::from(report.cause.as_str()));
    m.insert(
        "fixableByPatch".into(),
        Value::from(alert::fixable_by_patch(report).to_string()),
    );
    m.insert(
        "correlationId".into(),
        Value::from(ctx.correlation_id.as_str()),
    );
    let r = &report.restore;
    for (key, value) in [
        ("accountId", &r.account_id),
        ("region", &r.region),
        ("restoreJobId", &r.restore_job_id),
        ("resourceType", &r.resource_type),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), Value::from(v.as_str()));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(short_arn("arn:aws:iam::1:role/path/Name"), "Name");
    }
}
