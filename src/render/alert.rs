//! The SNS alert: one Publish with `MessageStructure=json` that reads well for every kind
//! of subscriber.
//!
//! | key | who gets it | content |
//! |---|---|---|
//! | `default`, `email` | email, and any protocol without its own key | the text report and console links |
//! | `https` | AWS Chatbot (Slack, Teams) | a Chatbot custom notification ([`super::slack`]) |
//! | `sqs`, `lambda` | queues and functions | the JSON [`Report`] |
//!
//! The whole Publish stays under SNS's 256 KiB, counting the body, the subject and every
//! message attribute: attribute values are capped, the largest parts are shortened first
//! (the Chatbot notification becomes a minimal one), each with a note that names the
//! correlation id so the full evidence can be found in the function's log; when even that
//! does not fit, every key gets a minimal message (subject, cause, correlation id, "see
//! the log") that always does.
//!
//! Every value from the report or the event is escaped for its sink by
//! [`super::escape`]; console links are built only from parts that passed the checks of
//! [`crate::diagnose::validated`], and an invalid value gives no link.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::escape::single_line;
use super::facts::{
    clean_subject, correlation_id, subject, MAX_CONTEXT_CHARS, MAX_RESOURCE_TYPE_CHARS,
};
use super::slack;
use super::text::report_text;
use crate::diagnose::evidence::EvidencePart;
use crate::diagnose::report::{AutoAttach, Report, RestoreSummary, Unverified};
use crate::diagnose::validated::{is_account_id, is_region, Arn};

/// SNS's default maximum message size: "All parts of the message attribute, including
/// name, type, and value, are included in the message size restriction, which is 256 KiB
/// (262,144 bytes)" (SNS API reference, `MessageAttributeValue`; `Publish`, `Message`).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// Room kept for what SNS might count besides the body, subject and attributes (not
/// verified that it counts anything else), and for rounding: at most this, and at most a
/// sixteenth of a smaller limit.
const SAFETY_BYTES: usize = 2_048;

/// Longest message attribute value. SNS counts attribute names, types and values in the
/// message size (see [`MAX_MESSAGE_BYTES`]) and allows names of up to 256 characters
/// (SNS Developer Guide, "Amazon SNS message attributes"); no value here needs more, and
/// a capped value can never push the message over the limit.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

pub use super::facts::{
    cause_phrase, fixable_by_patch, headline, iam_console_url, is_start_denied, job_console_url,
    links, token, AlertContext,
};

/// The first lines of every body of a test alert.
const TEST_BANNER: &str =
    "THIS IS A TEST ALERT sent by hand to check the subscriptions: no restore failed.";

/// Marks a rendered alert as a test in every place a reader looks first: the subject,
/// the email and default text, the Slack title and description, and a `test` message
/// attribute that subscription filter policies can match.
pub fn as_test(mut alert: Alert) -> Alert {
    alert.subject = clean_subject(&alert.subject.replacen(
        "[restore-doctor]",
        "[restore-doctor TEST]",
        1,
    ));
    if let Ok(Value::Object(mut keys)) = serde_json::from_str::<Value>(&alert.message) {
        for key in ["default", "email"] {
            if let Some(Value::String(text)) = keys.get_mut(key) {
                *text = format!("{TEST_BANNER}\n\n{text}");
            }
        }
        if let Some(Value::String(https)) = keys.get_mut("https") {
            if let Ok(mut n) = serde_json::from_str::<Value>(https) {
                if let Some(content) = n.get_mut("content").and_then(Value::as_object_mut) {
                    let title = content.get("title").and_then(Value::as_str).unwrap_or("");
                    let title = format!("TEST: {title}");
                    content.insert("title".into(), Value::String(title));
                    let description = content
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let description = format!("*{TEST_BANNER}*\n{description}");
                    content.insert("description".into(), Value::String(description));
                }
                *https = n.to_string();
            }
        }
        alert.message = Value::Object(keys).to_string();
    }
    alert.attributes.insert("test".into(), "true".into());
    alert
}

/// One SNS Publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub subject: String,
    /// The `MessageStructure=json` body.
    pub message: String,
    /// String message attributes: `cause`, `resourceType`, `fixableByPatch`, `accountId`,
    /// `organizationalUnit` (organization mode), `trigger`, `dedupKey`.
    pub attributes: BTreeMap<String, String>,
    /// The keys of the parts that had to be shortened (empty almost always).
    pub truncated: Vec<String>,
}

impl Alert {
    /// The bytes SNS counts for this Publish: the body, the subject, and each attribute's
    /// name, data type (`String`) and value.
    pub fn counted_bytes(&self) -> usize {
        self.message.len() + self.subject.len() + attributes_bytes(&self.attributes)
    }
}

fn attributes_bytes(attributes: &BTreeMap<String, String>) -> usize {
    attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + v.len())
        .sum()
}

/// The keys of the message, by what they carry (see the table above).
const TEXT_KEYS: &[&str] = &["default", "email"];
const CHATBOT_KEYS: &[&str] = &["https"];
const REPORT_KEYS: &[&str] = &["sqs", "lambda"];

/// Builds the alert for `report`.
pub fn build(report: &Report, ctx: &AlertContext) -> Alert {
    build_with_limit(report, ctx, MAX_MESSAGE_BYTES)
}

/// [`build`] with another size limit (a topic's `MaximumMessageSize`, or tests). The
/// result fits `limit` for any report once `limit` is at least 2 KiB.
pub fn build_with_limit(report: &Report, ctx: &AlertContext, limit: usize) -> Alert {
    let subject = subject(report);
    let attributes = attributes(report, ctx);
    let note = truncation_note(ctx);

    let overhead = subject.len() + attributes_bytes(&attributes) + SAFETY_BYTES.min(limit / 16);
    let budget = limit.saturating_sub(overhead);

    let text = email_text(report, ctx);
    let chatbot = slack::notification(report, ctx).to_string();
    let minimal_chatbot = slack::minimal_notification(report, ctx).to_string();
    let report_value = serde_json::to_value(report).unwrap_or(Value::Null);
    let mut parts = vec![
        Part::text(TEXT_KEYS, text),
        Part::chatbot(CHATBOT_KEYS, chatbot, minimal_chatbot),
        Part::json(REPORT_KEYS, report_value),
    ];

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
        let copies = largest.keys.len().max(1);
        let target = size
            .saturating_sub(excess.div_ceil(copies))
            .min(size / 2 + size / 4);
        if !largest.shrink(target, &note) {
            largest.shrinkable = false;
        }
        for key in largest.keys {
            if !truncated.iter().any(|t| t == key) {
                truncated.push((*key).to_owned());
            }
        }
    }
    if message_len(&parts) > budget {
        parts = minimal_parts(report, ctx, &subject, &note);
        truncated = parts
            .iter()
            .flat_map(|p| p.keys.iter().map(|k| (*k).to_owned()))
            .collect();
        if message_len(&parts) > budget {
            // Only `default` is required with MessageStructure=json; every protocol
            // falls back to it.
            let text = minimal_text(report, ctx, &subject);
            let cut = truncate_text(&text, budget.saturating_sub(escaped_len("default") + 3), "");
            parts = vec![Part::text(&["default"], cut)];
            truncated = vec!["default".to_owned()];
        }
    }
    Alert {
        subject,
        message: message(&parts),
        attributes,
        truncated,
    }
}

/// The text every key gets when even the shortened parts do not fit.
fn minimal_text(report: &Report, ctx: &AlertContext, subject: &str) -> String {
    format!(
        "{subject}\nCause: {}\nThe full report did not fit in one SNS message. The function's log line \"evidence gathered\" with correlation id {} holds the evidence; see the log.\n",
        cause_phrase(report),
        correlation_id(ctx)
    )
}

/// The report reduced to what always fits: what failed, where, the cause and whether a
/// fix was attached, still readable as a report.
fn minimal_report(report: &Report, note: &str) -> Value {
    let r = &report.restore;
    let short = |v: &Option<String>, max: usize| v.as_deref().map(|s| single_line(s, max));
    let restore = RestoreSummary {
        restore_job_id: short(&r.restore_job_id, MAX_CONTEXT_CHARS),
        account_id: r.account_id.clone().filter(|a| is_account_id(a)),
        organizational_unit: r
            .organizational_unit
            .clone()
            .filter(|o| crate::diagnose::validated::is_org_parent_id(o)),
        region: r.region.clone().filter(|g| is_region(g)),
        resource_type: short(&r.resource_type, MAX_RESOURCE_TYPE_CHARS),
        role_arn: r.role_arn.clone().filter(|a| Arn::parse(a).is_ok()),
        caller_arn: r.caller_arn.clone().filter(|a| Arn::parse(a).is_ok()),
        trigger: single_line(&r.trigger, 64),
        ..RestoreSummary::default()
    };
    let auto_attach = report.auto_attach.as_ref().map(|a| AutoAttach {
        decision: single_line(&a.decision, 64),
        reasons: Vec::new(),
        policy_name: a.policy_name.as_deref().map(|n| single_line(n, 128)),
        role_arn: a.role_arn.clone().filter(|a| Arn::parse(a).is_ok()),
        attached_document: None,
        undo_command: None,
        attached: a.attached,
        retry_restore_job_id: short(&a.retry_restore_job_id, MAX_CONTEXT_CHARS),
    });
    let mut reduced = Report {
        restore,
        summary: single_line(&report.summary, 1_024),
        missing: Vec::new(),
        unverified: vec![Unverified::new(
            EvidencePart::Other,
            "the full report",
            note.to_owned(),
        )],
        patch: None,
        other_patches: Vec::new(),
        verified: false,
        verification: Default::default(),
        vault_policy_fix: None,
        key_policy_fixes: Vec::new(),
        boundary_fix: None,
        auto_attach,
        ..report.clone()
    };
    reduced.failure.message = None;
    reduced.failure.denied = None;
    let mut v = serde_json::to_value(&reduced).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("truncated".into(), Value::from(note));
    }
    v
}

/// Every key, minimal.
fn minimal_parts(report: &Report, ctx: &AlertContext, subject: &str, note: &str) -> Vec<Part> {
    let text = minimal_text(report, ctx, subject);
    let json = minimal_report(report, note);
    let chatbot = slack::minimal_notification(report, ctx).to_string();
    vec![
        Part::text(TEXT_KEYS, text),
        Part::chatbot(CHATBOT_KEYS, chatbot.clone(), chatbot),
        Part::json(REPORT_KEYS, json),
    ]
}

/// The note a shortened part ends with.
pub fn truncation_note(ctx: &AlertContext) -> String {
    format!(
        "[truncated, see log (correlation id {})]",
        single_line(&correlation_id(ctx), 100)
    )
}

/// What a part is, for shortening it.
enum Kind {
    /// Text: cut at a line end, with the note.
    Text,
    /// The report, kept as JSON so it can be shortened and still read as a report.
    Json(Value),
    /// The Chatbot notification: short by construction; when it must shrink all the
    /// same, it becomes this minimal notification.
    Chatbot(String),
}

/// Keys of the message that carry the same text (shortened once for all of them), the
/// text as sent, and its size once escaped into the body.
struct Part {
    keys: &'static [&'static str],
    text: String,
    kind: Kind,
    escaped: usize,
    shrinkable: bool,
}

impl Part {
    fn text(keys: &'static [&'static str], text: String) -> Self {
        Part {
            keys,
            escaped: escaped_len(&text),
            text,
            kind: Kind::Text,
            shrinkable: true,
        }
    }
    fn chatbot(keys: &'static [&'static str], text: String, minimal: String) -> Self {
        Part {
            kind: Kind::Chatbot(minimal),
            ..Part::text(keys, text)
        }
    }
    fn json(keys: &'static [&'static str], v: Value) -> Self {
        let text = v.to_string();
        Part {
            kind: Kind::Json(v),
            ..Part::text(keys, text)
        }
    }
    /// Shortens the part to about `target` escaped bytes. False when it cannot shrink.
    fn shrink(&mut self, target: usize, note: &str) -> bool {
        let changed = match &mut self.kind {
            Kind::Json(v) => {
                let changed = shrink_json(v, target, note);
                self.text = v.to_string();
                changed
            }
            Kind::Text => {
                let shorter = truncate_text(&self.text, target, note);
                let changed = shorter.len() < self.text.len();
                self.text = shorter;
                changed
            }
            Kind::Chatbot(minimal) => {
                let changed = minimal.len() < self.text.len();
                if changed {
                    self.text = std::mem::take(minimal);
                }
                self.shrinkable = false;
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
        for key in p.keys {
            map.insert((*key).into(), Value::String(p.text.clone()));
        }
    }
    Value::Object(map).to_string()
}

/// The length of [`message`], without building it.
fn message_len(parts: &[Part]) -> usize {
    let keys: usize = parts.iter().map(|p| p.keys.len()).sum();
    2 + keys.saturating_sub(1)
        + parts
            .iter()
            .flat_map(|p| p.keys.iter().map(|k| escaped_len(k) + 1 + p.escaped))
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
    /// Cut a long string by what is in excess (at least to half of it).
    CutString,
    /// Replace a policy document: a partial policy must never look like a whole one.
    ReplaceDocument,
}

/// Strings at most this long are never cut.
const SHORT_STRING_BYTES: usize = 400;

/// Keys whose value is a policy document.
const DOCUMENT_KEYS: [&str; 2] = ["document", "attachedDocument"];

/// Shrinks the report JSON step by step (largest reducible node first) until it fits in
/// `target` escaped bytes. The result still reads as a report: arrays get shorter,
/// long strings end in `note`, policy documents become `note`, and a top-level
/// `truncated` field says so. False when nothing is left to shrink.
fn shrink_json(v: &mut Value, target: usize, note: &str) -> bool {
    let mut changed = false;
    if let Value::Object(map) = v {
        map.insert("truncated".into(), Value::from(note));
    }
    loop {
        let size = escaped_len(&v.to_string());
        if size <= target {
            break;
        }
        let mut best = None;
        json_len(v, &mut Vec::new(), false, &mut best);
        let Some(Candidate { path, how, .. }) = best else {
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
            Reduction::CutString => {
                if let Value::String(s) = node {
                    // At least half of it goes; more when that is what is in excess.
                    let excess = size - target + note.len() + 8;
                    let mut cut = s.len().saturating_sub(excess).min(s.len() / 2);
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
struct Candidate {
    size: usize,
    path: Vec<Seg>,
    how: Reduction,
}

/// The length of `v.to_string()`, computed without building it; on the way, the
/// heaviest reducible node goes into `best`. Linear in the size of `v`.
fn json_len(
    v: &Value,
    path: &mut Vec<Seg>,
    is_document: bool,
    best: &mut Option<Candidate>,
) -> usize {
    fn consider(size: usize, path: &[Seg], how: Reduction, best: &mut Option<Candidate>) {
        if best.as_ref().is_none_or(|b| size > b.size) {
            *best = Some(Candidate {
                size,
                path: path.to_vec(),
                how,
            });
        }
    }
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => {
            let size = escaped_len(s);
            if s.len() > SHORT_STRING_BYTES {
                consider(size, path, Reduction::CutString, best);
            }
            size
        }
        Value::Array(items) => {
            let mut size = 2 + items.len().saturating_sub(1);
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                size += json_len(item, path, false, best);
                path.pop();
            }
            if is_document {
                consider(size, path, Reduction::ReplaceDocument, best);
            } else if !items.is_empty() {
                consider(size, path, Reduction::HalveArray, best);
            }
            size
        }
        Value::Object(map) => {
            let mut size = 2 + map.len().saturating_sub(1);
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                size += escaped_len(k)
                    + 1
                    + json_len(item, path, DOCUMENT_KEYS.contains(&k.as_str()), best);
                path.pop();
            }
            if is_document {
                consider(size, path, Reduction::ReplaceDocument, best);
            }
            size
        }
    }
}

/// The message attributes subscribers can filter on, each one line of at most
/// [`MAX_ATTRIBUTE_CHARS`] characters and never empty (SNS refuses an empty value).
pub fn attributes(report: &Report, ctx: &AlertContext) -> BTreeMap<String, String> {
    let value = |v: Option<&str>, max: usize| {
        v.map(|s| single_line(s, max))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut a = BTreeMap::new();
    a.insert("cause".into(), report.cause.as_str().to_owned());
    let r = &report.restore;
    a.insert(
        "resourceType".into(),
        value(r.resource_type.as_deref(), MAX_RESOURCE_TYPE_CHARS),
    );
    a.insert(
        "fixableByPatch".into(),
        fixable_by_patch(report).to_string(),
    );
    let account = match r.account_id.as_deref() {
        None | Some("") => "unknown",
        Some(a) if is_account_id(a) => a,
        Some(_) => "invalid",
    };
    a.insert("accountId".into(), account.to_owned());
    if let Some(ou) = r
        .organizational_unit
        .as_deref()
        .filter(|o| crate::diagnose::validated::is_org_parent_id(o))
    {
        a.insert("organizationalUnit".into(), ou.to_owned());
    }
    a.insert("trigger".into(), value(Some(&r.trigger), 64));
    let dedup = single_line(&ctx.dedup_key, MAX_ATTRIBUTE_CHARS);
    if !dedup.is_empty() {
        a.insert("dedupKey".into(), dedup);
    }
    a
}

/// The email (and `default`) body: the text report, the console links and how to find
/// the evidence in the log.
pub fn email_text(report: &Report, ctx: &AlertContext) -> String {
    let mut s = report_text(report);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    let links = links(report, ctx);
    if !links.is_empty() {
        s.push_str("\nLinks\n");
        for (label, url) in links {
            s.push_str(&format!("  {label}: {url}\n"));
        }
    }
    s.push_str(&format!(
        "\nCorrelation id: {}\nThe function's log line \"evidence gathered\" with this correlation id holds the evidence; \
`restore-doctor diagnose --evidence <file>` reproduces this alert from it offline.\n",
        correlation_id(ctx)
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
            job_console_url("eu-west-1", "JOB", "aws").as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/restore/details/JOB")
        );
        assert_eq!(
            job_console_url("cn-north-1", "JOB", "aws-cn").as_deref(),
            Some("https://console.amazonaws.cn/backup/home?region=cn-north-1#/jobs/restore/details/JOB")
        );
        assert_eq!(
            iam_console_url("arn:aws:iam::111122223333:role/service-role/Restore").as_deref(),
            Some("https://console.aws.amazon.com/iam/home#/roles/details/Restore")
        );
        assert_eq!(
            iam_console_url("arn:aws:iam::111122223333:user/ops/alice").as_deref(),
            Some("https://console.aws.amazon.com/iam/home#/users/details/alice")
        );
        assert_eq!(
            iam_console_url("arn:aws:sts::111122223333:assumed-role/Ops/alice").as_deref(),
            Some("https://console.aws.amazon.com/iam/home#/roles/details/Ops")
        );
        assert_eq!(
            iam_console_url("arn:aws-cn:iam::111122223333:role/R").as_deref(),
            Some("https://console.amazonaws.cn/iam/home#/roles/details/R")
        );
        assert_eq!(
            iam_console_url("arn:aws:sts::111122223333:federated-user/bob"),
            None
        );
    }

    #[test]
    fn invalid_values_give_no_console_link() {
        for (region, job) in [
            ("eu-west-1", "JOB#/evil"),
            ("eu-west-1", "a b"),
            ("evil.example/x", "JOB"),
            ("eu-west-1", ""),
        ] {
            assert_eq!(job_console_url(region, job, "aws"), None, "{region} {job}");
        }
        assert_eq!(job_console_url("eu-west-1", "JOB", "aws-iso"), None);
        for arn in [
            "arn:aws:iam::111122223333:role/a`b",
            "arn:aws:iam::111122223333:role/<!channel>",
            "arn:aws:iam::111122223333:role/x?next=https://evil.example",
            "arn:aws:iam::1:role/R",
            "arn:aws:iam::111122223333:user/a\nb",
            "role/R",
        ] {
            assert_eq!(iam_console_url(arn), None, "{arn:?}");
        }
    }

    #[test]
    fn subjects_are_printable_ascii() {
        assert_eq!(clean_subject("EFS\u{202e} é restore…"), "EFS ? restore.");
        assert_eq!(clean_subject("a\u{2028}b"), "a b");
    }

    #[test]
    fn the_message_length_is_computed_exactly() {
        let parts = vec![
            Part::text(TEXT_KEYS, "a \"quoted\"\nline".into()),
            Part::json(REPORT_KEYS, json!({"k": "v\u{1}"})),
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
