//! What every rendering of an alert says the same way — the headline, the cause in a
//! few words, the subject line, the correlation id and the console links — and the
//! checks the values pass before they become part of one. The email, the SNS envelope
//! ([`super::alert`]) and the Slack notification ([`super::slack`]) all build on these,
//! so the renderings cannot disagree.

use super::escape::single_line;
use crate::diagnose::report::{Cause, Report};
use crate::diagnose::validated::{is_account_id, is_iam_name, is_region, Arn, RoleArn};

/// SNS subjects "must be UTF-8 text with no line breaks or control characters, and less
/// than 100 characters long" (SNS API reference, `Publish`, `Subject`). Older versions of
/// that page asked for ASCII text: the subject is kept to printable ASCII so either
/// reading accepts it.
const MAX_SUBJECT_CHARS: usize = 99;

/// Longest correlation id or deduplication key shown anywhere (an EventBridge event id is
/// a 36-character UUID; a deduplication key is an account, a Region and a job id).
pub(crate) const MAX_CONTEXT_CHARS: usize = 256;

/// Longest resource type shown (AWS Backup's are short words such as `EFS`,
/// `DynamoDB`, `VirtualMachine`).
pub(crate) const MAX_RESOURCE_TYPE_CHARS: usize = 64;

/// What the alert needs beyond the report: which event it answers and how the same
/// failure is recognised again. Everything about the restore comes from the report's
/// `restore` summary, so the alert and the report can never disagree.
///
/// Both come from the event and are treated as hostile like every other value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertContext {
    /// The EventBridge event id (`correlation_id` in the logs).
    pub correlation_id: String,
    /// The same for every delivery of the same failure (see the README).
    pub dedup_key: String,
    /// The function's log group (Lambda's `AWS_LAMBDA_LOG_GROUP_NAME`), for the link
    /// that opens this alert's log lines; `None` offline.
    pub log_group: Option<String>,
}

/// True for a refused StartRestoreJob call (no restore job exists).
pub fn is_start_denied(report: &Report) -> bool {
    report.restore.trigger == "startRestoreJobDenied"
}

/// The correlation id as shown: one line, capped, `unknown` when missing.
pub fn correlation_id(ctx: &AlertContext) -> String {
    let id = single_line(&ctx.correlation_id, MAX_CONTEXT_CHARS);
    if id.is_empty() {
        "unknown".to_owned()
    } else {
        id
    }
}

/// `s` when it is 1 to `max` characters that cannot break out of any sink (letters,
/// digits, `-_.:/+=,@`): what a job id, an event id or a deduplication key is made of.
/// Used where a value becomes part of an identifier or a Chatbot variable.
pub fn token(s: &str, max: usize) -> Option<&str> {
    let ok = (1..=max).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/+=,@".contains(c));
    ok.then_some(s)
}

/// The shortest part of an alias shown when the whole does not fit the subject: fewer
/// characters would name no account a reader recognises.
const MIN_ALIAS_SHOWN: usize = 8;

/// The subject line: what failed, where, and why, in under 100 characters. The account
/// id and the cause are never cut: the headline gives way first (a caller's name may be
/// 64 characters), and the account's alias gets only the room left (an alias may be 63
/// characters); a shortened alias or headline ends in `...`.
pub fn subject(report: &Report) -> String {
    const TAG: &str = "[restore-doctor] ";
    let cause = cause_phrase(report);
    let account = report
        .restore
        .account_id
        .as_deref()
        .filter(|a| is_account_id(a));
    let tail = match account {
        Some(account) => format!(" in {account}: {cause}"),
        None => format!(": {cause}"),
    };
    let head_room = MAX_SUBJECT_CHARS.saturating_sub(TAG.len() + tail.len());
    let head = clean_to(&headline(report), head_room);
    let plain = clean_subject(&format!("{TAG}{head}{tail}"));
    let (Some(account), Some(alias)) = (
        account,
        report
            .restore
            .account_alias
            .as_deref()
            .filter(|a| crate::diagnose::validated::is_account_alias(a)),
    ) else {
        return plain;
    };
    // ` (` and `)` around the alias.
    let room = MAX_SUBJECT_CHARS.saturating_sub(plain.chars().count() + 3);
    let shown = if alias.len() <= room {
        alias.to_owned()
    } else if room >= MIN_ALIAS_SHOWN + 3 {
        let kept: String = alias.chars().take(room - 3).collect();
        format!("{}...", kept.trim_end_matches('-'))
    } else {
        return plain;
    };
    clean_subject(&format!("{TAG}{head} in {account} ({shown}): {cause}"))
}

/// Printable ASCII only: control, separator and invisible characters become one space,
/// other non-ASCII characters `?`, runs of spaces collapse, and the result is cut to
/// fewer than 100 characters.
pub fn clean_subject(s: &str) -> String {
    clean_to(s, MAX_SUBJECT_CHARS)
}

/// [`clean_subject`] cut to at most `max` characters.
fn clean_to(s: &str, max: usize) -> String {
    let line = single_line(s, max.saturating_mul(4));
    let mut out = String::new();
    for c in line.chars() {
        let c = match c {
            ' '..='~' => c,
            '…' => '.',
            c if c.is_whitespace() => ' ',
            _ => '?',
        };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim();
    if out.chars().count() <= max {
        return out.to_owned();
    }
    let mut cut: String = out.chars().take(max.saturating_sub(3)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str("...");
    cut
}

/// "EFS restore 1B234A56 failed", "StartRestoreJob denied for alice". Plain text, one
/// line, every value from the report shortened; escape it for its sink.
pub fn headline(report: &Report) -> String {
    let r = &report.restore;
    if is_start_denied(report) {
        let who = r
            .caller_arn
            .as_deref()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn))
            .map(|name| single_line(name, 64))
            .filter(|n| !n.is_empty());
        return match who {
            Some(name) => format!("StartRestoreJob denied for {name}"),
            None => "StartRestoreJob denied".into(),
        };
    }
    let kind = r
        .resource_type
        .as_deref()
        .map(|t| single_line(t, MAX_RESOURCE_TYPE_CHARS))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "AWS Backup".to_owned());
    match r.restore_job_id.as_deref() {
        Some(id) => format!("{kind} restore {} failed", single_line(short_id(id), 40)),
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
        Cause::UnexplainedDenial => "unexplained denial".into(),
        Cause::Network => "network/VPC problem".into(),
        Cause::RestoreMetadata => "restore parameters rejected".into(),
        Cause::AlreadyExists => "resource already exists".into(),
        Cause::QuotaExceeded => "quota or capacity limit".into(),
        Cause::UnsupportedConfiguration => "unsupported configuration".into(),
        Cause::KmsKeyState => "KMS key disabled or deleted".into(),
        Cause::InternalError => "AWS internal error".into(),
    }
}

/// True when attaching the report's patch is all it takes.
pub fn fixable_by_patch(report: &Report) -> bool {
    report.patch.is_some() && report.verified && report.missing.iter().all(|f| f.fixable_by_patch)
}

/// The console host of a partition; `None` for partitions whose console address is not
/// verified here (the ISO and European Sovereign Cloud partitions).
fn console_host(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" => Some("console.aws.amazon.com"),
        "aws-cn" => Some("console.amazonaws.cn"),
        "aws-us-gov" => Some("console.amazonaws-us-gov.com"),
        _ => None,
    }
}

/// The partition a Region belongs to, by its prefix (AWS General Reference, "Regions and
/// zones"): `cn-` is China, `us-gov-` GovCloud, `us-iso*`, `eu-isoe-`, `eusc-` the
/// partitions without a verified console address here.
fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso")
        || region.starts_with("eu-isoe-")
        || region.starts_with("eusc-")
    {
        "unverified"
    } else {
        "aws"
    }
}

/// Whether `s` reads as an AWS Backup job id (the service writes them as upper-case
/// UUIDs; any letters, digits and hyphens up to 128 characters are accepted here, not
/// verified beyond that).
fn is_job_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The AWS Backup console page of a restore job, or `None` when the Region, the job id or
/// the partition does not pass its check.
pub fn job_console_url(region: &str, job_id: &str, partition: &str) -> Option<String> {
    if !is_region(region) || !is_job_id(job_id) {
        return None;
    }
    let host = console_host(partition)?;
    let host = if partition == "aws" {
        format!("{region}.{host}")
    } else {
        host.to_owned()
    };
    Some(format!(
        "https://{host}/backup/home?region={region}#/jobs/restore/details/{job_id}"
    ))
}

/// The IAM console page of a role or user, from its ARN; `None` unless the ARN parses
/// and names a role, a user or an assumed role with a valid IAM name.
pub fn iam_console_url(arn: &str) -> Option<String> {
    let (kind, name) = if let Ok(role) = RoleArn::parse(arn) {
        ("roles", role.name().to_owned())
    } else {
        let parsed = Arn::parse(arn).ok()?;
        let resource = parsed.resource();
        match (parsed.service(), resource.split_once('/')) {
            ("iam", Some(("user", path_and_name))) => (
                "users",
                path_and_name
                    .rsplit('/')
                    .next()
                    .unwrap_or(path_and_name)
                    .to_owned(),
            ),
            ("sts", Some(("assumed-role", role_and_session))) => (
                "roles",
                role_and_session
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            _ => return None,
        }
    };
    if !is_iam_name(&name) {
        return None;
    }
    let partition = Arn::parse(arn).ok()?.partition().to_owned();
    let host = console_host(&partition)?;
    Some(format!("https://{host}/iam/home#/{kind}/details/{name}"))
}

/// Whether `s` is a CloudWatch Logs log group name: 1 to 512 characters of letters,
/// digits, `_ - . / #` (CloudWatch Logs API reference, `CreateLogGroup`, `logGroupName`
/// pattern `[\.\-_/#A-Za-z0-9]+`).
fn is_log_group(s: &str) -> bool {
    (1..=512).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
}

/// The console's encoding of a value inside a Logs Insights link: every byte but
/// letters and digits as `*XX`, which keeps the value from closing the link's own
/// `~(...)` structure.
fn insights_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("*{b:02X}")
            }
        })
        .collect()
}

/// A CloudWatch Logs Insights link that opens this alert's log lines (the last day,
/// filtered by correlation id), the evidence line among them. Built only from checked
/// values: a Region, a log group name and a correlation id token. The console's link
/// format (`#logsV2:logs-insights$3FqueryDetail$3D~(...)`) is not documented by AWS:
/// not verified beyond the console accepting it as of this writing.
pub fn logs_insights_url(region: &str, log_group: &str, correlation_id: &str) -> Option<String> {
    if !is_region(region) || !is_log_group(log_group) {
        return None;
    }
    let id = token(correlation_id, MAX_CONTEXT_CHARS)?;
    let host = console_host(partition_of_region(region))?;
    let host = if host == "console.aws.amazon.com" {
        format!("{region}.{host}")
    } else {
        host.to_owned()
    };
    let query = format!(
        "fields @timestamp, level, message, reason, call, error | filter correlation_id = \"{id}\" | sort @timestamp asc"
    );
    Some(format!(
        "https://{host}/cloudwatch/home?region={region}#logsV2:logs-insights$3FqueryDetail$3D~(end~0~start~-86400~timeType~'RELATIVE~unit~'seconds~editorString~'{}~source~(~'{}))",
        insights_value(&query),
        insights_value(log_group)
    ))
}

/// The console links of the alert, labelled; only from values that pass their checks.
pub fn links(report: &Report, alert: &AlertContext) -> Vec<(&'static str, String)> {
    let ctx = &report.restore;
    let mut links = Vec::new();
    if let (Some(region), Some(job)) = (&ctx.region, &ctx.restore_job_id) {
        let from_arn = [&ctx.role_arn, &ctx.recovery_point_arn]
            .into_iter()
            .flatten()
            .find_map(|a| Arn::parse(a).ok())
            .map(|a| a.partition().to_owned());
        let partition = from_arn.unwrap_or_else(|| partition_of_region(region).to_owned());
        if let Some(url) = job_console_url(region, job, &partition) {
            links.push(("Restore job", url));
        }
    }
    if let Some(url) = ctx.role_arn.as_deref().and_then(iam_console_url) {
        links.push(("Restore role", url));
    }
    if let Some(url) = ctx.caller_arn.as_deref().and_then(iam_console_url) {
        links.push(("Caller", url));
    }
    if let (Some(region), Some(group)) = (&ctx.region, &alert.log_group) {
        if let Some(url) = logs_insights_url(region, group, &alert.correlation_id) {
            links.push(("Log lines of this alert", url));
        }
    }
    links
}
