//! The Slack (and Teams) rendering: an AWS Chatbot custom notification, delivered through
//! the SNS `https` key. Short by construction: the cause, the first few missing
//! permissions, next steps and links; the full report is in the email and the JSON.
//!
//! Format: version `1.0`, source `custom`, `content` (client-markdown title,
//! description, nextSteps, keywords) and `metadata` (threadId, summary, eventType,
//! relatedResources, additionalContext).

//! Every value from the report or the event goes through [`slack_mrkdwn`] (cut first,
//! then escaped, so an entity is never cut in half); fields that are identifiers or
//! Chatbot variables hold only checked values ([`facts::token`], validated ARNs,
//! account ids and Regions) or are left out.

use serde_json::{json, Map, Value};

use super::escape::slack_mrkdwn;
use super::facts::{self, AlertContext};
use super::text::grouped;
use crate::diagnose::cause::capitalized;
use crate::diagnose::report::{Blocker, Finding, Report};
use crate::diagnose::validated::{is_account_id, is_region, Arn};

/// Findings listed in the description; the rest are counted.
const LISTED_FINDINGS: usize = 5;
/// Longest description, in characters (Slack cuts section text at 3,000).
const MAX_DESCRIPTION_CHARS: usize = 2_800;
/// Longest next step, in characters.
const MAX_STEP_CHARS: usize = 600;
const MAX_STEPS: usize = 6;
/// Longest resource, action or principal shown in a code span.
const MAX_VALUE_CHARS: usize = 120;
/// Longest sentence from the report (summary, why, who must act).
const MAX_SENTENCE_CHARS: usize = 600;
/// Longest identifier (event id, deduplication key, job id) put into `id`, `threadId`
/// and `additionalContext`.
const MAX_ID_CHARS: usize = 256;

/// `s` for Slack text, shortened to `max` characters.
fn md(s: &str, max: usize) -> String {
    slack_mrkdwn(s, max)
}

/// The notification's `id`: the deduplication key, else the correlation id, when it is a
/// plain token.
fn notification_id(ctx: &AlertContext) -> String {
    facts::token(&ctx.dedup_key, MAX_ID_CHARS)
        .or_else(|| facts::token(&ctx.correlation_id, MAX_ID_CHARS))
        .unwrap_or("unknown")
        .to_owned()
}

fn title(report: &Report) -> String {
    format!(
        ":rotating_light: {}: {}",
        md(&facts::headline(report), 200),
        facts::cause_phrase(report)
    )
}

/// The SNS subject, its values escaped (the `[restore-doctor]` tag is ours).
fn summary(report: &Report) -> String {
    let subject = facts::subject(report);
    match subject.strip_prefix("[restore-doctor] ") {
        Some(rest) => format!("[restore-doctor] {}", md(rest, 200)),
        None => md(&subject, 200),
    }
}

fn event_type(report: &Report) -> &'static str {
    if facts::is_start_denied(report) {
        "StartRestoreJobDenied"
    } else {
        "RestoreJobFailed"
    }
}

/// The Chatbot custom notification for `report`.
pub fn notification(report: &Report, ctx: &AlertContext) -> Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "id": notification_id(ctx),
        "content": {
            "textType": "client-markdown",
            "title": title(report),
            "description": description(report, ctx),
            "nextSteps": next_steps(report),
            "keywords": keywords(report),
        },
        "metadata": {
            "threadId": thread_id(report, ctx),
            "summary": summary(report),
            "eventType": event_type(report),
            "relatedResources": related_resources(report),
            "additionalContext": additional_context(report, ctx),
        }
    })
}

/// The notification when the whole alert must shrink: what failed, the cause, and where
/// the rest is. A few hundred bytes whatever the report.
pub fn minimal_notification(report: &Report, ctx: &AlertContext) -> Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "id": notification_id(ctx),
        "content": {
            "textType": "client-markdown",
            "title": title(report),
            "description": format!(
                "The full report did not fit in one message: see the email, or the function's log with correlation id `{}`.",
                md(&facts::correlation_id(ctx), MAX_ID_CHARS)
            ),
            "nextSteps": [if facts::is_start_denied(report) {
                "Call StartRestoreJob again once fixed"
            } else {
                "Start the restore again once fixed"
            }],
        },
        "metadata": {
            "threadId": thread_id(report, ctx),
            "summary": summary(report),
            "eventType": event_type(report),
        }
    })
}

fn thread_id(report: &Report, ctx: &AlertContext) -> String {
    let key = report
        .restore
        .restore_job_id
        .as_deref()
        .and_then(|job| facts::token(job, MAX_ID_CHARS))
        .or_else(|| facts::token(&ctx.dedup_key, MAX_ID_CHARS))
        .or_else(|| facts::token(&ctx.correlation_id, MAX_ID_CHARS))
        .unwrap_or("unknown");
    format!("restore-doctor/{key}")
}

/// `s` cut to `max_chars` characters, ending in `…`; a code span left open by the cut is
/// closed first, so the rest of the message never turns into code.
fn cut(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(2)).collect();
    if out.matches('`').count() % 2 == 1 {
        out.push('`');
    }
    out.push('…');
    out
}

fn short_arn(arn: &str) -> &str {
    arn.rsplit(['/', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(arn)
}

/// A principal for the description: its short name in a code span.
fn principal(arn: &str) -> String {
    match arn {
        "*" => "any principal".to_owned(),
        arn => format!("`{}`", md(short_arn(arn), MAX_VALUE_CHARS)),
    }
}

fn description(report: &Report, ctx: &AlertContext) -> String {
    let mut d = md(report.summary.trim(), MAX_SENTENCE_CHARS);
    if !report.missing.is_empty() {
        d.push_str(if report.cause.is_failure_class() {
            "\n\n*Also missing* (not the cause of this failure)\n"
        } else {
            "\n\n*Missing*\n"
        });
        let findings: Vec<&Finding> = report.missing.iter().collect();
        let groups = grouped(&findings);
        for (actions, f) in groups.iter().take(LISTED_FINDINGS) {
            let fix = if f.fixable_by_patch {
                "fixed by the patch".to_owned()
            } else {
                match &f.who_must_act {
                    Some(who) => format!("needs {}", md(who, MAX_SENTENCE_CHARS)),
                    None => "not fixable by a role patch".to_owned(),
                }
            };
            let actions = actions
                .iter()
                .map(|a| format!("`{}`", md(a, MAX_VALUE_CHARS)))
                .collect::<Vec<_>>()
                .join(", ");
            // A vault policy that denies everyone reads as such, not "for any principal".
            let vault = report.restore.backup_vault_name.as_deref();
            match (f.blocked_by.contains(&Blocker::VaultAccessPolicy), vault) {
                (true, Some(vault)) => d.push_str(&format!(
                    "• the access policy of vault `{}` denies {actions} to {}: {fix}\n",
                    md(vault, MAX_VALUE_CHARS),
                    match f.principal.as_str() {
                        "*" => "everyone".to_owned(),
                        p => principal(p),
                    }
                )),
                _ => d.push_str(&format!(
                    "• {actions} on `{}` for {}: {fix}\n",
                    md(&f.resource, MAX_VALUE_CHARS),
                    principal(&f.principal)
                )),
            }
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
                .map(|u| md(&u.what, MAX_VALUE_CHARS))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Links come only from checked parts (see `facts::links`) and from our own table of
    // AWS guidance pages (never from the message).
    let links: Vec<String> = facts::links(report, ctx)
        .into_iter()
        .chain(guidance_link(report))
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

/// The AWS page of the failure class, when it is one of the table's (an https AWS
/// documentation address, as `data/failure-classes.json` is tested to hold).
fn guidance_link(report: &Report) -> Option<(&'static str, String)> {
    report
        .failure
        .class
        .as_ref()
        .map(|c| c.source.as_str())
        .filter(|u| {
            u.starts_with("https://docs.aws.amazon.com/")
                && !u.contains([' ', ')', '(', '>', '<', '|', '`'])
        })
        .map(|u| ("AWS guidance", u.to_owned()))
}

fn next_steps(report: &Report) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    if let Some(c) = &report.failure.class {
        steps.push(md(&c.guidance, MAX_STEP_CHARS));
    }
    if let Some(u) = &report.unexplained_denial {
        steps.push(format!("Look next at {}", md(&u.next_step, MAX_STEP_CHARS)));
    }
    if let Some(patch) = &report.patch {
        let who = md(short_arn(&patch.principal_arn), MAX_VALUE_CHARS);
        let name = md(&patch.policy_name, MAX_VALUE_CHARS);
        let verified = if report.cause.is_failure_class() {
            "also-missing "
        } else if report.verified {
            "verified "
        } else {
            ""
        };
        let command = md(&patch.command, MAX_STEP_CHARS);
        let step =
            format!("Attach the {verified}least-privilege policy `{name}` to `{who}`: `{command}`");
        // Too long for a step: say where it is, and link the role's page in the IAM
        // console, where the inline policy can be added by hand.
        let console = facts::iam_console_url(&patch.principal_arn)
            .map(|url| format!(", or add it on the [role's page]({url})"))
            .unwrap_or_default();
        steps.push(if step.chars().count() <= MAX_STEP_CHARS {
            step
        } else {
            format!(
                "Attach the {verified}least-privilege policy `{name}` to `{who}` (the command is in the email{console})"
            )
        });
    }
    for patch in report.other_patches.iter().take(MAX_STEPS) {
        steps.push(format!(
            "Attach the least-privilege policy `{}` to `{}` (the command is in the email)",
            md(&patch.policy_name, MAX_VALUE_CHARS),
            md(short_arn(&patch.principal_arn), MAX_VALUE_CHARS)
        ));
    }
    for fix in report.key_policy_fixes.iter().take(MAX_STEPS) {
        steps.push(if fix.statements_only {
            format!(
                "Key administrators: add the statements in the email to the key policy of `{}`",
                md(short_arn(&fix.key_arn), MAX_VALUE_CHARS)
            )
        } else {
            format!(
                "Key administrators: apply the corrected key policy of `{}` (the command is in the email)",
                md(short_arn(&fix.key_arn), MAX_VALUE_CHARS)
            )
        });
    }
    if let Some(fix) = &report.vault_policy_fix {
        steps.push(format!(
            "Vault owner: remove the Deny of StartRestoreJob from the access policy of vault `{}` (the command is in the email)",
            md(&fix.backup_vault_name, MAX_VALUE_CHARS)
        ));
    }
    let mut owners: Vec<String> = Vec::new();
    for f in report.missing.iter().filter(|f| !f.fixable_by_patch) {
        let step = match &f.who_must_act {
            Some(who) => format!(
                "{}: allow `{}` on `{}`",
                capitalized(&md(who, MAX_SENTENCE_CHARS)),
                md(&f.action, MAX_VALUE_CHARS),
                md(&f.resource, MAX_VALUE_CHARS)
            ),
            None => format!(
                "Allow `{}` on `{}`",
                md(&f.action, MAX_VALUE_CHARS),
                md(&f.resource, MAX_VALUE_CHARS)
            ),
        };
        if !owners.contains(&step) {
            owners.push(step);
        }
        if owners.len() >= 3 {
            break;
        }
    }
    steps.extend(owners);
    for u in report.unverified.iter().take(2) {
        steps.push(format!(
            "Check by hand: {} ({})",
            md(&u.what, MAX_SENTENCE_CHARS),
            md(&u.why, MAX_SENTENCE_CHARS)
        ));
    }
    steps.truncate(MAX_STEPS - 1);
    steps.push(if facts::is_start_denied(report) {
        "Call StartRestoreJob again once fixed".to_owned()
    } else {
        "Start the restore again once fixed".to_owned()
    });
    steps.into_iter().map(|s| cut(&s, MAX_STEP_CHARS)).collect()
}

/// Keywords shown as tags: only checked values.
fn keywords(report: &Report) -> Vec<String> {
    let ctx = &report.restore;
    let mut k = vec![
        "restore-doctor".to_owned(),
        report.cause.as_str().to_owned(),
    ];
    k.extend(
        ctx.resource_type
            .as_deref()
            .filter(|t| is_resource_type(t))
            .map(str::to_owned),
    );
    k.extend(ctx.account_id.clone().filter(|a| is_account_id(a)));
    k.extend(ctx.region.clone().filter(|g| is_region(g)));
    k
}

/// Whether `s` reads as an AWS Backup resource type (`EFS`, `Storage Gateway`, `SAP HANA
/// on Amazon EC2`): letters, digits and single spaces, up to 64 characters.
fn is_resource_type(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
}

/// The ARNs of the restore: only those that parse (the ARN grammar admits no markup).
fn related_resources(report: &Report) -> Vec<String> {
    let ctx = &report.restore;
    let mut r: Vec<String> = Vec::new();
    for arn in [&ctx.role_arn, &ctx.caller_arn, &ctx.recovery_point_arn]
        .into_iter()
        .flatten()
        .filter(|a| Arn::parse(a).is_ok())
    {
        if !r.contains(arn) {
            r.push(arn.clone());
        }
    }
    r
}

/// Values a Chatbot custom action may use as variables (in a command line): only plain
/// tokens, account ids and Regions; anything else is left out.
fn additional_context(report: &Report, ctx: &AlertContext) -> Value {
    let mut m = Map::new();
    m.insert("cause".into(), Value::from(report.cause.as_str()));
    m.insert(
        "fixableByPatch".into(),
        Value::from(facts::fixable_by_patch(report).to_string()),
    );
    if let Some(id) = facts::token(&ctx.correlation_id, MAX_ID_CHARS) {
        m.insert("correlationId".into(), Value::from(id));
    }
    let r = &report.restore;
    let checked = [
        (
            "accountId",
            r.account_id.as_deref().filter(|a| is_account_id(a)),
        ),
        ("region", r.region.as_deref().filter(|g| is_region(g))),
        (
            "restoreJobId",
            r.restore_job_id
                .as_deref()
                .and_then(|j| facts::token(j, MAX_ID_CHARS)),
        ),
        (
            "resourceType",
            r.resource_type.as_deref().filter(|t| is_resource_type(t)),
        ),
    ];
    for (key, value) in checked {
        if let Some(v) = value {
            m.insert(key.into(), Value::from(v));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abcdef", 4), "ab…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(
            cut("a `code span` b", 6),
            "a `c`…",
            "an open code span is closed"
        );
        assert_eq!(short_arn("arn:aws:iam::1:role/path/Name"), "Name");
    }
}
