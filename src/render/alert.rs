//! The SNS alert: one Publish with `MessageStructure=json` that reads well for every kind
//! of subscriber.
//!
//! | key | who gets it | content |
//! |---|---|---|
//! | `default`, `email` | email, and any protocol without its own key | the text report and console links |
//! | `https` | AWS Chatbot (Slack, Teams) | a Chatbot custom notification ([`super::slack`]) |
//! | `sqs`, `lambda` | queues and functions | the JSON [`Report`] |
//!
//! The whole message stays under SNS's 256 KiB: the largest parts are shortened first,
//! each with a note that names the correlation id, so the full evidence can be found in
//! the function's log.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::slack;
use super::text::report_text;
use crate::diagnose::report::{Cause, Report};

/// SNS's default maximum message size (body and attributes together).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// Room kept for what SNS counts besides the body, and for rounding.
const SAFETY_BYTES: usize = 2_048;

/// SNS subjects must be shorter than 100 characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// What the alert needs beyond the report: which event it answers and how the same
/// failure is recognised again. Everything about the restore comes from the report's
/// `restore` summary, so the alert and the report can never disagree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertContext {
    /// The EventBridge event id (`correlation_id` in the logs).
    pub correlation_id: String,
    /// The same for every delivery of the same failure (see the README).
    pub dedup_key: String,
}

/// True for a refused StartRestoreJob call (no restore job exists).
pub fn is_start_denied(report: &Report) -> bool {
    report.restore.trigger == "startRestoreJobDenied"
}

/// One SNS Publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub subject: String,
    /// The `MessageStructure=json` body.
    pub message: String,
    /// String message attributes: `cause`, `resourceType`, `fixableByPatch`, `accountId`,
    /// `trigger`, `dedupKey`.
    pub attributes: BTreeMap<String, String>,
    /// The keys of the parts that had to be shortened (empty almost always).
    pub truncated: Vec<String>,
}

/// Builds the alert for `report`.
pub fn build(report: &Report, ctx: &AlertContext) -> Alert {
    build_with_limit(report, ctx, MAX_MESSAGE_BYTES)
}

/// [`build`] with another size limit (a topic's `MaximumMessageSize`, or tests).
pub fn build_with_limit(report: &Report, ctx: &AlertContext, limit: usize) -> Alert {
    let subject = subject(report);
    let attributes = attributes(report, ctx);
    let note = truncation_note(ctx);

    let text = email_text(report, ctx);
    let chatbot = slack::notification(report, ctx).to_string();
    let report_value = serde_json::to_value(report).unwrap_or(Value::Null);
    let mut parts = vec![
        Part::text("default", text.clone()),
        Part::text("email", text),
        Part::fixed("https", chatbot),
        Part::json("sqs", report_value.clone()),
        Part::json("lambda", report_value),
    ];

    let overhead = subject.len()
        + attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + "String".len())
            .sum::<usize>()
        + SAFETY_BYTES;
    let budget = limit.saturating_sub(overhead);
    let mut truncated = Vec::new();
    loop {
        let total = message_len(&parts);
        if total <= budget {
            break;
        }
        let excess = total - budget;
        let Some(largest) = parts
            .iter_mut()
            .filter(|p| p.shrinkable)
            .max_by_key(|p| p.escaped)
        else {
            break;
        };
        let size = largest.escaped;
        let target = size.saturating_sub(excess).min(size / 2 + size / 4);
        if !largest.shrink(target, &note) {
            largest.shrinkable = false;
        }
        if !truncated.contains(&largest.key.to_owned()) {
            truncated.push(largest.key.to_owned());
        }
    }
    Alert {
        subject,
        message: message(&parts),
        attributes,
        truncated,
    }
}

/// The note a shortened part ends with.
pub fn truncation_note(ctx: &AlertContext) -> String {
    format!(
        "[truncated, see log (correlation id {})]",
        if ctx.correlation_id.is_empty() {
            "unknown"
        } else {
            &ctx.correlation_id
        }
    )
}

/// One key of the message: its text as sent, and its size once escaped into the body.
struct Part {
    key: &'static str,
    text: String,
    /// The report, kept as JSON so it can be shortened and still read as a report.
    json: Option<Value>,
    escaped: usize,
    shrinkable: bool,
}

impl Part {
    fn text(key: &'static str, text: String) -> Self {
        Part {
            key,
            escaped: escaped_len(&text),
            text,
            json: None,
            shrinkable: true,
        }
    }
    fn fixed(key: &'static str, text: String) -> Self {
        Part {
            shrinkable: false,
            ..Part::text(key, text)
        }
    }
    fn json(key: &'static str, v: Value) -> Self {
        Part {
            json: Some(v.clone()),
            ..Part::text(key, v.to_string())
        }
    }
    /// Shortens the part to about `target` escaped bytes. False when it cannot shrink.
    fn shrink(&mut self, target: usize, note: &str) -> bool {
        let changed = match &mut self.json {
            Some(v) => {
                let changed = shrink_json(v, target, note);
                self.text = v.to_string();
                changed
            }
            None => {
                let shorter = truncate_text(&self.text, target, note);
                let changed = shorter.len() < self.text.len();
                self.text = shorter;
                changed
            }
        };
        self.escaped = escaped_len(&self.text);
        changed
    }
}

/// The `MessageStructure=json` body.
fn message(parts: &[Part]) -> String {
    let mut map = Map::new();
    for p in parts {
        map.insert(p.key.into(), Value::String(p.text.clone()));
    }
    Value::Object(map).to_string()
}

/// The length of [`message`], without building it.
fn message_len(parts: &[Part]) -> usize {
    2 + parts.len().saturating_sub(1)
        + parts
            .iter()
            .map(|p| escaped_len(p.key) + 1 + p.escaped)
            .sum::<usize>()
}

/// The length of `s` as a JSON string literal (quotes included), without building it.
fn escaped_len(s: &str) -> usize {
    2 + s.chars().map(escaped_char_len).sum::<usize>()
}

/// Bytes one character takes inside a JSON string literal, as serde_json writes it.
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// The longest prefix of `s` (cut at a line end when one is near) that, with `note`
/// appended, fits in `target` escaped bytes.
fn truncate_text(s: &str, target: usize, note: &str) -> String {
    let tail = format!("\n\n{note}\n");
    let budget = target.saturating_sub(escaped_len(&tail));
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in s.char_indices() {
        used += escaped_char_len(c);
        if used > budget {
            break;
        }
        cut = i + c.len_utf8();
    }
    // Prefer ending at a line end within the last 200 bytes.
    if let Some(nl) = s.get(..cut).and_then(|head| head.rfind('\n')) {
        if cut - nl < 200 {
            cut = nl;
        }
    }
    format!("{}{tail}", s.get(..cut).unwrap_or_default())
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

enum Reduction {
    /// Drop the second half of an array.
    HalveArray,
    /// Cut a long string in half.
    HalveString,
    /// Replace a policy document: a partial policy must never look like a whole one.
    ReplaceDocument,
}

/// Shrinks the report JSON step by step (largest reducible node first) until it fits in
/// `target` escaped bytes. The result still reads as a report: arrays get shorter,
/// long strings end in `note`, policy documents become `note`, and a top-level
/// `truncated` field says so. False when nothing is left to shrink.
fn shrink_json(v: &mut Value, target: usize, note: &str) -> bool {
    let mut changed = false;
    if let Value::Object(map) = v {
        map.insert("truncated".into(), Value::from(note));
    }
    while escaped_len(&v.to_string()) > target {
        let Some((_, path, how)) = heaviest(v, &mut Vec::new(), false) else {
            break;
        };
        let pointer: String = path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => format!("/{i}"),
            })
            .collect();
        let Some(node) = v.pointer_mut(&pointer) else {
            break;
        };
        match how {
            Reduction::HalveArray => {
                if let Value::Array(items) = node {
                    let keep = items.len() / 2;
                    items.truncate(keep);
                }
            }
            Reduction::HalveString => {
                if let Value::String(s) = node {
                    let mut cut = s.len() / 2;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                    s.push_str(" … ");
                    s.push_str(note);
                }
            }
            Reduction::ReplaceDocument => *node = Value::from(note),
        }
        changed = true;
    }
    changed
}

/// The reducible node with the largest serialized size.
fn heaviest(
    v: &Value,
    path: &mut Vec<Seg>,
    is_document: bool,
) -> Option<(usize, Vec<Seg>, Reduction)> {
    let size = v.to_string().len();
    if is_document && !v.is_string() {
        return Some((size, path.clone(), Reduction::ReplaceDocument));
    }
    let mut best: Option<(usize, Vec<Seg>, Reduction)> = None;
    let mut consider = |c: Option<(usize, Vec<Seg>, Reduction)>| {
        if let Some(c) = c {
            if best.as_ref().is_none_or(|b| c.0 > b.0) {
                best = Some(c);
            }
        }
    };
    match v {
        Value::String(s) if s.len() > 400 => {
            consider(Some((size, path.clone(), Reduction::HalveString)));
        }
        Value::Array(items) => {
            if !items.is_empty() {
                consider(Some((size, path.clone(), Reduction::HalveArray)));
            }
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                consider(heaviest(item, path, false));
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                consider(heaviest(item, path, k == "document"));
                path.pop();
            }
        }
        _ => {}
    }
    best
}

/// The subject line: what failed, where, and why, in under 100 characters.
pub fn subject(report: &Report) -> String {
    let mut s = format!("[restore-doctor] {}", headline(report));
    if let Some(account) = &report.restore.account_id {
        s.push_str(&format!(" in {account}"));
    }
    s.push_str(&format!(": {}", cause_phrase(report)));
    clean_subject(&s)
}

/// Control characters become spaces, runs of spaces collapse, and the result is cut to
/// fewer than 100 characters.
pub fn clean_subject(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim();
    if out.chars().count() <= MAX_SUBJECT_CHARS {
        return out.to_owned();
    }
    let mut cut: String = out.chars().take(MAX_SUBJECT_CHARS - 3).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str("...");
    cut
}

/// "EFS restore 1B234A56 failed", "StartRestoreJob denied for alice".
pub fn headline(report: &Report) -> String {
    let r = &report.restore;
    if is_start_denied(report) {
        let who = r
            .caller_arn
            .as_deref()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn))
            .filter(|n| !n.is_empty());
        return match who {
            Some(name) => format!("StartRestoreJob denied for {name}"),
            None => "StartRestoreJob denied".into(),
        };
    }
    let kind = r.resource_type.as_deref().unwrap_or("AWS Backup");
    match r.restore_job_id.as_deref() {
        Some(id) => format!("{kind} restore {} failed", short_id(id)),
        None => format!("{kind} restore failed"),
    }
}

fn short_id(id: &str) -> &str {
    id.split('-').next().filter(|s| s.len() >= 6).unwrap_or(id)
}

/// The cause in a few words.
pub fn cause_phrase(report: &Report) -> String {
    match report.cause {
        Cause::MissingPermissions => match report.missing.len() {
            0 => "missing permissions".into(),
            1 => "1 missing permission".into(),
            n => format!("{n} missing permissions"),
        },
        Cause::ExplicitDeny => "denied by an explicit Deny".into(),
        Cause::VaultPolicyDeny => "the vault access policy denies it".into(),
        Cause::KeyPolicy => "a KMS key policy blocks the role".into(),
        Cause::GuardrailLimit => "blocked by a permissions boundary or SCP".into(),
        Cause::Unverified => "cause not verified".into(),
        Cause::NotPermissions => "not a permissions problem".into(),
    }
}

/// True when attaching the report's patch is all it takes.
pub fn fixable_by_patch(report: &Report) -> bool {
    report.patch.is_some() && report.verified && report.missing.iter().all(|f| f.fixable_by_patch)
}

/// The message attributes subscribers can filter on.
pub fn attributes(report: &Report, ctx: &AlertContext) -> BTreeMap<String, String> {
    let or_unknown = |v: &Option<String>| {
        v.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut a = BTreeMap::new();
    a.insert("cause".into(), report.cause.as_str().to_owned());
    let r = &report.restore;
    a.insert("resourceType".into(), or_unknown(&r.resource_type));
    a.insert(
        "fixableByPatch".into(),
        fixable_by_patch(report).to_string(),
    );
    a.insert("accountId".into(), or_unknown(&r.account_id));
    a.insert(
        "trigger".into(),
        if r.trigger.is_empty() {
            "unknown".into()
        } else {
            r.trigger.clone()
        },
    );
    if !ctx.dedup_key.is_empty() {
        a.insert("dedupKey".into(), ctx.dedup_key.clone());
    }
    a
}

/// The console host of an ARN's partition.
fn console_host(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    }
}

fn partition_of(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.split(':').nth(1)).unwrap_or("aws")
}

/// The AWS Backup console page of a restore job.
pub fn job_console_url(region: &str, job_id: &str, partition: &str) -> String {
    let host = console_host(partition);
    let host = if partition == "aws" {
        format!("{region}.{host}")
    } else {
        host.to_owned()
    };
    format!("https://{host}/backup/home?region={region}#/jobs/restore/details/{job_id}")
}

/// The IAM console page of a role or user, from its ARN.
pub fn iam_console_url(arn: &str) -> Option<String> {
    let host = console_host(partition_of(Some(arn)));
    let (kind, rest) = if let Some((_, rest)) = arn.split_once(":role/") {
        ("roles", rest)
    } else if let Some((_, rest)) = arn.split_once(":user/") {
        ("users", rest)
    } else if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        ("roles", rest.split('/').next().unwrap_or(rest))
    } else {
        return None;
    };
    let name = rest.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some(format!("https://{host}/iam/home#/{kind}/details/{name}"))
}

/// The console links of the alert, labelled.
pub fn links(report: &Report) -> Vec<(&'static str, String)> {
    let ctx = &report.restore;
    let mut links = Vec::new();
    if let (Some(region), Some(job)) = (&ctx.region, &ctx.restore_job_id) {
        let partition = partition_of(
            ctx.role_arn
                .as_deref()
                .or(ctx.recovery_point_arn.as_deref()),
        );
        links.push(("Restore job", job_console_url(region, job, partition)));
    }
    if let Some(url) = ctx.role_arn.as_deref().and_then(iam_console_url) {
        links.push(("Restore role", url));
    }
    if let Some(url) = ctx.caller_arn.as_deref().and_then(iam_console_url) {
        links.push(("Caller", url));
    }
    links
}

/// The email (and `default`) body: the text report, the console links and how to find
/// the evidence in the log.
pub fn email_text(report: &Report, ctx: &AlertContext) -> String {
    let mut s = report_text(report);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    let links = links(report);
    if !links.is_empty() {
        s.push_str("\nLinks\n");
        for (label, url) in links {
            s.push_str(&format!("  {label}: {url}\n"));
        }
    }
    s.push_str(&format!(
        "\nCorrelation id: {}\nThe function's log line \"evidence gathered\" with this correlation id holds the evidence; \
`restore-doctor diagnose --evidence <file>` reproduces this alert from it offline.\n",
        if ctx.correlation_id.is_empty() {
            "unknown"
        } else {
            &ctx.correlation_id
        }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_lose_control_characters_and_stay_under_100_chars() {
        let s = clean_subject("a\nb\tc\u{7}  d");
        assert_eq!(s, "a b c d");
        let long = clean_subject(&"x".repeat(300));
        assert!(long.chars().count() < 100);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn console_links_follow_the_partition() {
        assert_eq!(
            job_console_url("eu-west-1", "JOB", "aws"),
            "https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/restore/details/JOB"
        );
        assert_eq!(
            iam_console_url("arn:aws:iam::1:role/service-role/Restore").as_deref(),
            Some("https://console.aws.amazon.com/iam/home#/roles/details/Restore")
        );
        assert_eq!(
            iam_console_url("arn:aws:iam::1:user/ops/alice").as_deref(),
            Some("https://console.aws.amazon.com/iam/home#/users/details/alice")
        );
        assert_eq!(
            iam_console_url("arn:aws-cn:iam::1:role/R").as_deref(),
            Some("https://console.amazonaws.cn/iam/home#/roles/details/R")
        );
        assert_eq!(iam_console_url("arn:aws:sts::1:federated-user/bob"), None);
    }

    #[test]
    fn the_message_length_is_computed_exactly() {
        let parts = vec![
            Part::text("default", "a \"quoted\"\nline".into()),
            Part::json("sqs", json!({"k": "v\u{1}"})),
        ];
        assert_eq!(message_len(&parts), message(&parts).len());
    }

    #[test]
    fn escaped_lengths_match_serde_json() {
        for s in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak\ttab\u{1}\u{8}",
            "é€😀",
            "",
        ] {
            assert_eq!(
                escaped_len(s),
                serde_json::to_string(s).unwrap().len(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn text_is_cut_at_a_char_boundary_with_the_note() {
        let s = "é".repeat(1000);
        let cut = truncate_text(&s, 300, "[truncated]");
        assert!(escaped_len(&cut) <= 300);
        assert!(cut.ends_with("[truncated]\n"));
    }

    #[test]
    fn json_shrinks_arrays_and_strings_and_replaces_documents_whole() {
        let mut v = json!({
            "summary": "s",
            "missing": (0..200).map(|i| json!({"action": format!("svc:Action{i}"), "why": "w".repeat(50)})).collect::<Vec<_>>(),
            "patch": {"document": {"Statement": (0..100).map(|i| json!({"Sid": format!("S{i}")})).collect::<Vec<_>>()}},
        });
        assert!(shrink_json(&mut v, 3_000, "[truncated]"));
        assert!(escaped_len(&v.to_string()) <= 3_000);
        assert_eq!(v["truncated"], "[truncated]");
        assert!(v["missing"].as_array().unwrap().len() < 200);
        let doc = &v["patch"]["document"];
        assert!(doc == &json!("[truncated]") || doc["Statement"].as_array().unwrap().len() == 100);
    }
}
