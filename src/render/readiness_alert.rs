//! The alerts of readiness in the function: one SNS Publish per scheduled run that found
//! resources newly not ready, and one per change that broke the restore of resources.
//! Never one per resource.
//!
//! The same envelope as a failure's alert ([`super::alert`]): `default`/`email` the
//! text, `https` an AWS Chatbot custom notification, `sqs`/`lambda` a JSON document
//! (the [`ResourceReadiness`] of each resource, as `restore-doctor readiness --format
//! json` writes them), string message attributes to filter on (`cause`, `trigger`,
//! `accountId`, `resourceType`, `fixableByPatch`, `dedupKey`, and `changeEvent` for a
//! change). Every value is escaped for its sink ([`super::escape`]); the whole message
//! stays under SNS's limit: resources past a part's budget are counted, not listed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::alert::{Alert, MAX_ATTRIBUTE_CHARS, MAX_MESSAGE_BYTES};
use super::escape::{plain_text, single_line, slack_mrkdwn};
use super::facts::{clean_subject, correlation_id, token, AlertContext};
use super::readiness::resource;
use crate::diagnose::readiness::{ResourceReadiness, Verdict};
use crate::diagnose::validated::{is_account_id, is_region, Arn};
use crate::event::change::Change;

/// The budgets of the text part (`default` and `email` carry it, so twice) and of the JSON
/// part (`sqs` and `lambda`, twice), before escaping into the body: with escaping (at
/// most a third more for JSON text) and the Chatbot part (a few KiB), about 200 KiB,
/// below [`MAX_MESSAGE_BYTES`] with the subject and attributes; [`build`] checks it.
const TEXT_BUDGET: usize = 40 * 1024;
/// Resources in full while the JSON part is under this; then by summary up to twice it.
const JSON_BUDGET: usize = 20 * 1024;
/// Resources listed in the Chatbot description; the rest are counted.
const LISTED: usize = 5;
/// Findings listed per resource in the text; the rest are counted.
const FINDINGS: usize = 10;
/// Longest value in a Slack code span.
const SLACK_VALUE: usize = 160;
/// Longest sentence in the Slack description.
const SLACK_SENTENCE: usize = 600;

/// Where the run or change happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl Place {
    fn account(&self) -> Option<&str> {
        self.account.as_deref().filter(|a| is_account_id(a))
    }
    fn region(&self) -> Option<&str> {
        self.region.as_deref().filter(|r| is_region(r))
    }
    fn text(&self) -> String {
        format!(
            "account {}, Region {}",
            self.account().unwrap_or("(unknown)"),
            self.region().unwrap_or("(unknown)")
        )
    }
}

/// An account a scheduled run could not read (its reader role was refused), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRead {
    pub account: String,
    pub why: String,
}

/// What a scheduled run covered: how many rows it checked, every account it was to read
/// (the function's own and the member accounts; `place` is the function's), and those it
/// could not read.
#[derive(Debug, Clone, Copy)]
pub struct Coverage<'a> {
    pub checked: usize,
    pub accounts: &'a [String],
    pub not_read: &'a [NotRead],
}

/// What the alert is about, beyond the resources.
enum Occasion<'a> {
    Scheduled(Coverage<'a>),
    Change(&'a Change),
}

/// The alert of a scheduled run: the resources whose state changed to not ready since
/// the last run (`changed`), out of `coverage.checked`, and the accounts that could not
/// be read; called when either is not empty.
pub fn scheduled(
    place: &Place,
    coverage: Coverage<'_>,
    changed: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> Alert {
    build(place, &Occasion::Scheduled(coverage), changed, ctx)
}

/// The alert of a change that broke the restore of `broken` (never empty when this is
/// called).
pub fn change(
    place: &Place,
    change: &Change,
    broken: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> Alert {
    build(place, &Occasion::Change(change), broken, ctx)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The short name of a principal ARN (`alice` of `…:assumed-role/Admin/alice`), or the
/// value itself when it is not an ARN (an AWS service, by its checked name).
fn who_short(principal: &str) -> String {
    match Arn::parse(principal) {
        Ok(a) => a
            .resource()
            .rsplit('/')
            .next()
            .unwrap_or(a.resource())
            .to_owned(),
        Err(_) => principal.to_owned(),
    }
}

/// Whether the alert spans several accounts: then each resource says its own.
fn spans_accounts(occasion: &Occasion<'_>) -> bool {
    matches!(occasion, Occasion::Scheduled(c) if c.accounts.len() > 1)
}

/// The account of a resource's row, as checked.
fn row_account(r: &ResourceReadiness) -> Option<&str> {
    r.report
        .restore
        .account_id
        .as_deref()
        .filter(|a| is_account_id(a))
}

/// The one account the alert is about (its rows' and the accounts not read), or `None`
/// when it is about several.
fn one_account<'a>(
    place: &'a Place,
    occasion: &'a Occasion<'_>,
    rows: &'a [&ResourceReadiness],
) -> Option<&'a str> {
    let Occasion::Scheduled(c) = occasion else {
        return place.account();
    };
    if c.accounts.len() <= 1 {
        return place.account();
    }
    let mut all = rows
        .iter()
        .map(|r| row_account(r))
        .chain(c.not_read.iter().map(|n| Some(n.account.as_str())));
    let first = all.next()??;
    all.all(|a| a == Some(first))
        .then_some(first)
        .filter(|a| is_account_id(a))
}

/// The first sentence, plain text, unescaped.
fn headline(place: &Place, occasion: &Occasion<'_>, n: usize) -> String {
    let resources = plural(n, "resource", "resources");
    match occasion {
        Occasion::Scheduled(c) => {
            let where_ = if c.accounts.len() > 1 {
                format!(
                    "{} in Region {}",
                    plural(c.accounts.len(), "account", "accounts"),
                    place.region().unwrap_or("(unknown)")
                )
            } else {
                place.text()
            };
            let mut s = if n > 0 {
                format!(
                    "Restore readiness of {where_}: {resources} can no longer be restored since the last run ({} checked).",
                    c.checked
                )
            } else {
                format!(
                    "Restore readiness of {where_}: no resource newly not ready ({} checked).",
                    c.checked
                )
            };
            if !c.not_read.is_empty() {
                let k = c.not_read.len();
                s.push_str(&format!(
                    " {} could not be read, so nothing in {} was verified.",
                    plural(k, "account", "accounts"),
                    if k == 1 { "it" } else { "them" }
                ));
            }
            s
        }
        Occasion::Change(c) => format!(
            "This change, made by {} at {}, breaks the restore of {resources}: {} on {} ({}).",
            c.principal.as_deref().unwrap_or("an unknown principal"),
            c.time.as_deref().unwrap_or("an unknown time"),
            c.event_name,
            c.target.describe(),
            place.text()
        ),
    }
}

fn subject(place: &Place, occasion: &Occasion<'_>, rows: &[&ResourceReadiness]) -> String {
    let n = rows.len();
    let where_ = match (one_account(place, occasion, rows), occasion) {
        (Some(a), _) => format!(" in {a}"),
        (None, Occasion::Scheduled(c)) if c.accounts.len() > 1 => {
            let mut with: Vec<&str> = rows.iter().filter_map(|r| row_account(r)).collect();
            with.sort_unstable();
            with.dedup();
            match with.as_slice() {
                [one] => format!(" in {one}"),
                _ => format!(" in {}", plural(with.len(), "account", "accounts")),
            }
        }
        (None, _) => String::new(),
    };
    let s = match occasion {
        Occasion::Scheduled(c) if n == 0 => format!(
            "[restore-doctor] Readiness: {} could not be read{where_}",
            plural(c.not_read.len(), "account", "accounts")
        ),
        Occasion::Scheduled(c) if !c.not_read.is_empty() => format!(
            "[restore-doctor] Readiness: {} no longer restorable{where_}; {} not read",
            plural(n, "resource", "resources"),
            plural(c.not_read.len(), "account", "accounts")
        ),
        Occasion::Scheduled(_) => format!(
            "[restore-doctor] Readiness: {} no longer restorable{where_}",
            plural(n, "resource", "resources")
        ),
        Occasion::Change(c) => format!(
            "[restore-doctor] {} by {} breaks the restore of {}{where_}",
            c.event_name,
            c.principal
                .as_deref()
                .map(who_short)
                .unwrap_or_else(|| "unknown".into()),
            plural(n, "resource", "resources")
        ),
    };
    clean_subject(&s)
}

/// The statements that deny a finding, as people look them up: the `Sid` (or the
/// statement's position, `#1` first) and the policy. Unescaped.
fn statements(r: &ResourceReadiness) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .report
        .missing
        .iter()
        .flat_map(|f| f.denied_by.iter())
        .map(|s| {
            let which = s.sid.clone().unwrap_or_else(|| format!("#{}", s.index + 1));
            (which, s.policy.clone())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One resource in the text: what, why, the statement that denies it, the fix; its
/// account when the alert spans several.
fn text_block(r: &ResourceReadiness, with_account: bool) -> String {
    let t = plain_text;
    let s = &r.report.restore;
    let account = match (with_account, row_account(r)) {
        (true, Some(a)) => format!("account {a}, "),
        _ => String::new(),
    };
    let mut b = format!(
        "\nNOT READY {} ({}, {account}vault {}, role {})\n  {}\n",
        t(resource(r)),
        t(s.resource_type.as_deref().unwrap_or("?")),
        t(s.backup_vault_name.as_deref().unwrap_or("?")),
        t(s.role_arn.as_deref().unwrap_or("(none)")),
        t(&r.summary)
    );
    for f in r.report.missing.iter().take(FINDINGS) {
        b.push_str(&format!(
            "  - {} on {} ({})\n",
            t(&f.action),
            t(&f.resource),
            t(&f.why)
        ));
        if let Some(who) = &f.who_must_act {
            b.push_str(&format!("    who must act: {}\n", t(who)));
        }
    }
    if r.report.missing.len() > FINDINGS {
        b.push_str(&format!(
            "  - and {} more (see the JSON delivery)\n",
            r.report.missing.len() - FINDINGS
        ));
    }
    for (which, policy) in statements(r) {
        b.push_str(&format!(
            "  Denied by statement `{}` of `{}`\n",
            t(&which),
            t(&policy)
        ));
    }
    match (&r.report.patch, r.report.verified) {
        (Some(p), true) => b.push_str(&format!("  Fix (verified):\n    {}\n", t(&p.command))),
        (Some(p), false) => b.push_str(&format!("  Fix (NOT verified):\n    {}\n", t(&p.command))),
        (None, _) => {}
    }
    b
}

fn email_text(
    place: &Place,
    occasion: &Occasion<'_>,
    rows: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> String {
    let mut s = format!("{}\n", plain_text(&headline(place, occasion, rows.len())));
    if let Occasion::Scheduled(c) = occasion {
        if !c.not_read.is_empty() {
            s.push_str("\nNot read (nothing in them was verified):\n");
            for n in c.not_read {
                s.push_str(&format!(
                    "  - account {}: {}\n",
                    plain_text(&n.account),
                    plain_text(&n.why)
                ));
            }
        }
    }
    if let Occasion::Change(c) = occasion {
        if !c.rejected.is_empty() {
            s.push_str("\nNot shown (failed their checks):\n");
            for g in &c.rejected {
                s.push_str(&format!(
                    "  - {}: {}\n",
                    plain_text(&g.call),
                    plain_text(&g.error)
                ));
            }
        }
    }
    let mut left = 0usize;
    for r in rows {
        let block = text_block(r, spans_accounts(occasion));
        if s.len() + block.len() > TEXT_BUDGET {
            left += 1;
            continue;
        }
        s.push_str(&block);
    }
    if left > 0 {
        s.push_str(&format!(
            "\n... and {} not shown here (message size): see the JSON delivery or the function's log.\n",
            plural(left, "more resource", "more resources")
        ));
    }
    s.push_str(&format!(
        "\nCorrelation id: {}\n`restore-doctor readiness` with the same role shows the same verdicts from a terminal.\n",
        correlation_id(ctx)
    ));
    s
}

fn md(s: &str) -> String {
    slack_mrkdwn(s, SLACK_VALUE)
}

/// The subject for Slack: its values escaped, the `[restore-doctor]` tag (ours) kept as
/// it is, as in a failure's notification.
fn slack_summary(subject: &str) -> String {
    match subject.strip_prefix("[restore-doctor] ") {
        Some(rest) => format!("[restore-doctor] {}", slack_mrkdwn(rest, 200)),
        None => slack_mrkdwn(subject, 200),
    }
}

fn chatbot(
    place: &Place,
    occasion: &Occasion<'_>,
    rows: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> Value {
    let n = rows.len();
    let title = match occasion {
        Occasion::Scheduled(c) if n == 0 => format!(
            ":warning: Restore readiness: {} could not be read",
            plural(c.not_read.len(), "account", "accounts")
        ),
        Occasion::Scheduled(_) => format!(
            ":warning: Restore readiness: {} can no longer be restored",
            plural(n, "resource", "resources")
        ),
        Occasion::Change(c) => format!(
            ":rotating_light: {} breaks the restore of {}",
            c.event_name,
            plural(n, "resource", "resources")
        ),
    };
    let mut description = format!(
        "{}\n",
        slack_mrkdwn(&headline(place, occasion, n), SLACK_SENTENCE)
    );
    for r in rows.iter().take(LISTED) {
        let first = r
            .report
            .missing
            .first()
            .map(|f| format!(": `{}` on `{}`", md(&f.action), md(&f.resource)))
            .unwrap_or_default();
        let account = match (spans_accounts(occasion), row_account(r)) {
            (true, Some(a)) => format!(" (account `{a}`)"),
            _ => String::new(),
        };
        description.push_str(&format!("• `{}`{account}{first}\n", md(resource(r))));
        if let Some((which, policy)) = statements(r).first() {
            description.push_str(&format!(
                "   denied by statement `{}` of `{}`\n",
                md(which),
                md(policy)
            ));
        }
    }
    if n > LISTED {
        description.push_str(&format!("… and {} more (see the email)\n", n - LISTED));
    }
    if let Occasion::Scheduled(c) = occasion {
        for nr in c.not_read.iter().take(LISTED) {
            description.push_str(&format!("• account `{}` not read\n", md(&nr.account)));
        }
        if c.not_read.len() > LISTED {
            description.push_str(&format!(
                "… and {} more accounts not read (see the email)\n",
                c.not_read.len() - LISTED
            ));
        }
    }
    let fixable = rows
        .iter()
        .all(|r| r.report.patch.is_some() && r.report.verified);
    let mut next_steps = vec![if n == 0 {
        "Deploy the member stack (member.yaml) in each account not read, or check that its reader role trusts this function's role".to_owned()
    } else if fixable {
        "Apply each verified fix from the email (one `aws iam put-role-policy` per role)".to_owned()
    } else {
        "Read the email: some resources need a key, vault or boundary change, not a role patch"
            .to_owned()
    }];
    if let Occasion::Change(_) = occasion {
        next_steps.push("Or undo the change if it was not meant to affect restores".into());
    }
    let thread = match occasion {
        Occasion::Scheduled(_) => "readiness".to_owned(),
        Occasion::Change(c) => format!(
            "change/{}",
            token(c.cloudtrail_event_id.as_deref().unwrap_or(&c.event_id), 64).unwrap_or("unknown")
        ),
    };
    let related: Vec<&str> = rows
        .iter()
        .map(|r| resource(r))
        .filter(|a| Arn::parse(a).is_ok())
        .take(LISTED)
        .collect();
    let mut context = serde_json::Map::new();
    if let Some(a) = one_account(place, occasion, rows) {
        context.insert("accountId".into(), json!(a));
    }
    if let Some(r) = place.region() {
        context.insert("region".into(), json!(r));
    }
    if let Some(id) = token(&ctx.correlation_id, 256) {
        context.insert("correlationId".into(), json!(id));
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": token(&ctx.dedup_key, 256).unwrap_or("unknown"),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
            "keywords": ["restore-doctor", "readiness"],
        },
        "metadata": {
            "threadId": format!("restore-doctor/{thread}"),
            "summary": slack_summary(&subject(place, occasion, rows)),
            "eventType": match occasion {
                Occasion::Scheduled(_) => "ReadinessChanged",
                Occasion::Change(_) => "ReadinessBrokenByChange",
            },
            "relatedResources": related,
            "additionalContext": context,
        }
    })
}

/// The JSON delivery: the readiness of each resource, as many in full as fit, the rest
/// by resource and summary.
fn document(place: &Place, occasion: &Occasion<'_>, rows: &[&ResourceReadiness]) -> Value {
    let mut resources = Vec::new();
    let mut used = 0usize;
    let mut shortened = 0usize;
    for r in rows {
        let full = serde_json::to_value(r).unwrap_or(Value::Null);
        let size = full.to_string().len();
        if used + size <= JSON_BUDGET {
            used += size;
            resources.push(full);
        } else {
            let short = json!({
                "verdict": r.verdict,
                "summary": r.summary,
                "resource": resource(r),
                "backupVaultName": r.report.restore.backup_vault_name,
                "truncated": "the full readiness is in the email and the function's log",
            });
            let size = short.to_string().len();
            if used + size > JSON_BUDGET * 2 {
                shortened += 1;
                continue;
            }
            used += size;
            resources.push(short);
        }
    }
    let mut doc = json!({
        "schemaVersion": 1,
        "kind": match occasion {
            Occasion::Scheduled(_) => "readinessChanged",
            Occasion::Change(_) => "readinessBrokenByChange",
        },
        "accountId": one_account(place, occasion, rows),
        "region": place.region(),
        "resources": resources,
    });
    if let (Value::Object(map), Occasion::Scheduled(c)) = (&mut doc, occasion) {
        map.insert("checked".into(), json!(c.checked));
        if c.accounts.len() > 1 {
            map.insert("accounts".into(), json!(c.accounts));
        }
        if !c.not_read.is_empty() {
            let not_read: Vec<Value> = c
                .not_read
                .iter()
                .map(|n| json!({"accountId": n.account, "why": n.why}))
                .collect();
            map.insert("notRead".into(), json!(not_read));
        }
    }
    if let (Value::Object(map), Occasion::Change(c)) = (&mut doc, occasion) {
        map.insert(
            "change".into(),
            json!({
                "eventName": c.event_name,
                "target": c.target.describe(),
                "principal": c.principal,
                "time": c.time,
                "cloudTrailEventId": c.cloudtrail_event_id,
            }),
        );
    }
    if shortened > 0 {
        if let Value::Object(map) = &mut doc {
            map.insert("notListed".into(), json!(shortened));
        }
    }
    doc
}

fn attributes(
    place: &Place,
    occasion: &Occasion<'_>,
    rows: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let (cause, trigger) = match occasion {
        Occasion::Scheduled(_) if rows.is_empty() => ("readinessNotRead", "readiness"),
        Occasion::Scheduled(_) => ("readinessNotReady", "readiness"),
        Occasion::Change(_) => ("readinessBrokenByChange", "change"),
    };
    a.insert("cause".into(), cause.to_owned());
    a.insert("trigger".into(), trigger.to_owned());
    let account = match one_account(place, occasion, rows) {
        Some(a) => a,
        None if spans_accounts(occasion) => "multiple",
        None => "unknown",
    };
    a.insert("accountId".into(), account.to_owned());
    let mut types: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.report.restore.resource_type.as_deref())
        .collect();
    types.sort_unstable();
    types.dedup();
    let kind = match types.as_slice() {
        [one] => single_line(one, 64),
        [] => "unknown".into(),
        _ => "multiple".into(),
    };
    a.insert("resourceType".into(), kind);
    let fixable = !rows.is_empty()
        && rows.iter().all(|r| {
            r.verdict == Verdict::NotReady && r.report.patch.is_some() && r.report.verified
        });
    a.insert("fixableByPatch".into(), fixable.to_string());
    if let Occasion::Change(c) = occasion {
        a.insert("changeEvent".into(), c.event_name.to_owned());
    }
    let dedup = single_line(&ctx.dedup_key, MAX_ATTRIBUTE_CHARS);
    if !dedup.is_empty() {
        a.insert("dedupKey".into(), dedup);
    }
    a
}

fn build(
    place: &Place,
    occasion: &Occasion<'_>,
    rows: &[&ResourceReadiness],
    ctx: &AlertContext,
) -> Alert {
    let text = email_text(place, occasion, rows, ctx);
    let report = document(place, occasion, rows).to_string();
    let message = json!({
        "default": text,
        "email": text,
        "https": chatbot(place, occasion, rows, ctx).to_string(),
        "sqs": report,
        "lambda": report,
    })
    .to_string();
    let mut alert = Alert {
        subject: subject(place, occasion, rows),
        message,
        attributes: attributes(place, occasion, rows, ctx),
        truncated: Vec::new(),
    };
    if alert.counted_bytes() >= MAX_MESSAGE_BYTES {
        // Not expected with the budgets above; should it happen, the text alone (every
        // protocol falls back to `default`), which is at most the text budget.
        alert.message = json!({ "default": text }).to_string();
        alert.truncated = vec![
            "email".into(),
            "https".into(),
            "sqs".into(),
            "lambda".into(),
        ];
    }
    alert
}
