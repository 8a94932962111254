//! Which EventBridge events start a diagnosis, read from the raw JSON and checked value by
//! value.
//!
//! Two kinds of event do: a "Restore Job State Change" with `detail.status` FAILED, and a
//! CloudTrail "AWS API Call via CloudTrail" record of a `StartRestoreJob` refused for want
//! of a permission. Everything else (other statuses, other error codes, other sources,
//! malformed envelopes) becomes a [`Skip`] with a reason, so the handler logs it and
//! returns without asking Lambda to retry.
//!
//! A refused call's record carries whatever its caller sent. Every value is therefore
//! checked here, once: ARNs with [`validated`], ids, codes, messages and metadata with
//! [`sanitize`]. A value that fails is dropped and said ([`Parsed::rejected`], one evidence
//! gap each), and the event the evidence carries ([`Parsed::event`]) is rebuilt from the
//! accepted values only, so nothing unchecked reaches the diagnosis or the alert.
//!
//! Parsing is pure: no AWS calls, no clock.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::sanitize::{self, dropped};
use crate::diagnose::evidence::{EvidencePart, Gap};
pub use crate::diagnose::facts::READINESS_CHECK;
use crate::diagnose::validated::{is_account_id, is_iam_name, is_region, shown, Arn, RoleArn};

/// `detail-type` of AWS Backup restore job events.
pub const RESTORE_JOB_STATE_CHANGE: &str = "Restore Job State Change";
/// `detail-type` of CloudTrail management events delivered by EventBridge.
pub const API_CALL_VIA_CLOUDTRAIL: &str = "AWS API Call via CloudTrail";
/// `source` of the synthetic readiness event: restore-doctor's own, never `aws.backup`,
/// so [`parse`] never takes one for a delivered event.
pub const READINESS_SOURCE: &str = "restore-doctor";
/// The most `resources` entries of an event kept (AWS Backup events name one or two).
pub const MAX_RESOURCES: usize = 8;

/// Where a dropped event value is said to come from.
const EVENT: &str = "event";

/// An event worth diagnosing, with the envelope fields every trigger has.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The EventBridge event id: the correlation id of everything logged for it.
    pub event_id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub trigger: Trigger,
    /// Values of the event that failed their check and were dropped, one gap each.
    pub rejected: Vec<Gap>,
    /// The event rebuilt from the accepted values only: what the evidence carries.
    pub event: Value,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A restore job ended in FAILED.
    RestoreJobFailed(RestoreJobFailed),
    /// A `StartRestoreJob` call was refused (the caller lacks a permission).
    StartRestoreJobDenied(StartRestoreJobDenied),
    /// Nothing failed: would a restore of this recovery point work now ([`readiness`])?
    Readiness(ReadinessCheck),
}

/// What a restore of one resource would use now, from the readiness enumeration (AWS
/// Backup's answers, each checked here as an event value would be).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadinessCheck {
    pub recovery_point_arn: Option<String>,
    pub backup_vault_arn: Option<String>,
    /// A valid role ARN ([`RoleArn`]): the role the restore would run as.
    pub iam_role_arn: Option<String>,
    pub resource_type: Option<String>,
    pub source_resource_arn: Option<String>,
    /// GetRecoveryPointRestoreMetadata's answer, checked ([`sanitize::metadata`]).
    pub metadata: BTreeMap<String, String>,
}

/// The `detail` of a FAILED "Restore Job State Change" event. Only `restoreJobId` is
/// required; the rest is read when present (the documented FAILED sample carries no
/// vault or recovery point, DescribeRestoreJob fills those in). Every string here passed
/// its check.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RestoreJobFailed {
    /// `None` when the event's id failed its check (said in [`Parsed::rejected`]).
    pub restore_job_id: Option<String>,
    pub status_message: Option<String>,
    /// A valid role ARN ([`RoleArn`]).
    pub iam_role_arn: Option<String>,
    pub resource_type: Option<String>,
    pub recovery_point_arn: Option<String>,
    pub backup_vault_arn: Option<String>,
    pub source_resource_arn: Option<String>,
    pub created_resource_arn: Option<String>,
    pub creation_date: Option<String>,
    pub completion_date: Option<String>,
    /// A number (`0`, `0.0`) or a string in the events seen so far.
    pub percent_done: Option<f64>,
    /// A string in the documented events (`"22548578304"`), accepted as a number too.
    pub backup_size_in_bytes: Option<u64>,
}

/// The parts of a CloudTrail `StartRestoreJob` record that say who was refused what.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StartRestoreJobDenied {
    /// CloudTrail's own `eventID` (stable across EventBridge redeliveries).
    pub cloudtrail_event_id: Option<String>,
    pub request_id: Option<String>,
    pub error_code: String,
    pub error_message: Option<String>,
    pub caller: Caller,
    pub recovery_point_arn: Option<String>,
    /// A valid role ARN ([`RoleArn`]).
    pub iam_role_arn: Option<String>,
    pub resource_type: Option<String>,
    /// `requestParameters.metadata`, checked ([`sanitize::metadata`]); empty when
    /// CloudTrail did not record it.
    pub metadata: BTreeMap<String, String>,
}

/// The identity that made the call, from `detail.userIdentity`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Caller {
    /// `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`, ...
    pub identity_type: String,
    /// `userIdentity.arn`: a user ARN, or the session ARN of an assumed role.
    pub arn: Option<String>,
    /// The IAM identity whose policies apply: the user, or the role behind the session.
    pub iam: Option<IamIdentity>,
}

/// An IAM user or role, by name (what the IAM read APIs take) and ARN, both checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamIdentity {
    User { name: String, arn: String },
    Role { name: String, arn: String },
}

/// Why an event is not diagnosed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The event id when the envelope had one, for the log line.
    pub event_id: Option<String>,
    pub reason: String,
}

impl Parsed {
    /// A key that is the same for every delivery of the same failure, whichever
    /// EventBridge event carries it: the restore job id, or CloudTrail's event id.
    pub fn dedup_key(&self) -> String {
        let account = self.account.as_deref().unwrap_or("unknown");
        let region = self.region.as_deref().unwrap_or("unknown");
        match &self.trigger {
            Trigger::RestoreJobFailed(job) => match &job.restore_job_id {
                Some(id) => format!("{account}:{region}:restore-job:{id}"),
                None => format!("{account}:{region}:event:{}", self.event_id),
            },
            Trigger::Readiness(check) => format!(
                "{account}:{region}:readiness:{}",
                check
                    .recovery_point_arn
                    .as_deref()
                    .unwrap_or(&self.event_id)
            ),
            Trigger::StartRestoreJobDenied(call) => {
                let id = call
                    .cloudtrail_event_id
                    .as_deref()
                    .or(call.request_id.as_deref())
                    .unwrap_or(&self.event_id);
                format!("{account}:{region}:start-restore-job:{id}")
            }
        }
    }

    /// `restoreJobFailed` or `startRestoreJobDenied`, as in the report.
    pub fn kind(&self) -> &'static str {
        match self.trigger {
            Trigger::RestoreJobFailed(_) => "restoreJobFailed",
            Trigger::StartRestoreJobDenied(_) => "startRestoreJobDenied",
            Trigger::Readiness(_) => "readiness",
        }
    }
}

impl Parsed {
    /// The evidence of this trigger before anything is read: the event as accepted, and
    /// one gap per value that failed its check.
    pub fn evidence(&self) -> crate::diagnose::Evidence {
        crate::diagnose::Evidence {
            schema_version: crate::diagnose::evidence::SCHEMA_VERSION,
            trigger: self.event.clone(),
            account_id: self.account.clone(),
            region: self.region.clone(),
            gaps: self.rejected.clone(),
            ..Default::default()
        }
    }
}

/// Whether a CloudTrail `errorCode` says the call was refused for want of a permission:
/// `AccessDenied*` (AccessDenied, AccessDeniedException), `UnauthorizedOperation` (with
/// or without EC2's `Client.` prefix) and `NotAuthorized` (AWS Backup API reference,
/// "Common Errors"). Validation errors and throttling are not permission failures.
pub fn is_access_denied(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || matches!(
            code,
            "UnauthorizedOperation" | "Client.UnauthorizedOperation" | "NotAuthorized"
        )
}

/// Reads an EventBridge event. Never fails and never panics: an event that is not a
/// diagnosable failure is a [`Skip`] with the reason.
pub fn parse(event: &Value) -> Result<Parsed, Skip> {
    let raw_id = event.get("id").and_then(Value::as_str);
    let event_id = raw_id.filter(|id| sanitize::is_id(id)).map(str::to_owned);
    let skip = |reason: String| Skip {
        event_id: event_id.clone(),
        reason,
    };
    let envelope = event
        .as_object()
        .ok_or_else(|| skip("not an EventBridge event: not a JSON object".into()))?;
    let id = match raw_id {
        None | Some("") => return Err(skip("the event has no `id`".into())),
        Some(raw) => event_id.clone().ok_or_else(|| {
            skip(format!(
                "the event id `{}` is not an event id (letters, digits, `-`, `_`)",
                shown(raw)
            ))
        })?,
    };
    let source = envelope.get("source").and_then(Value::as_str).unwrap_or("");
    if source != "aws.backup" {
        return Err(skip(format!(
            "source `{}` is not `aws.backup`",
            shown(source)
        )));
    }
    let detail_type = envelope
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let detail = envelope
        .get("detail")
        .and_then(Value::as_object)
        .ok_or_else(|| skip("`detail` is not an object".into()))?;

    let mut r = Reader::default();
    let account = r.checked(envelope, "account", "account", EvidencePart::Other, |s| {
        is_account_id(s)
            .then(|| s.to_owned())
            .ok_or("not a 12-digit account id".into())
    });
    let region = r.checked(envelope, "region", "region", EvidencePart::Other, |s| {
        is_region(s)
            .then(|| s.to_owned())
            .ok_or("not a Region code".into())
    });
    let time = r.date(envelope, "time", "time");
    let resources = r.resources(envelope.get("resources"));

    let (trigger, clean_detail) = match detail_type {
        RESTORE_JOB_STATE_CHANGE => restore_job_failed(detail, &mut r).map_err(skip)?,
        API_CALL_VIA_CLOUDTRAIL => start_restore_job_denied(detail, &mut r).map_err(skip)?,
        other => {
            return Err(skip(format!(
                "detail-type `{}` is not diagnosed",
                shown(other)
            )))
        }
    };
    let mut clean = Map::new();
    clean.insert("version".into(), json!("0"));
    clean.insert("id".into(), json!(id));
    clean.insert("detail-type".into(), json!(detail_type));
    clean.insert("source".into(), json!(source));
    put(&mut clean, "account", account.clone());
    put(&mut clean, "time", time);
    put(&mut clean, "region", region.clone());
    clean.insert("resources".into(), json!(resources));
    clean.insert("detail".into(), Value::Object(clean_detail));
    Ok(Parsed {
        event_id: id,
        account,
        region,
        trigger,
        rejected: r.rejected,
        event: Value::Object(clean),
    })
}

type Detail = Map<String, Value>;

/// The values of one readiness check as AWS Backup returned them, unchecked: the
/// recovery point (ListRecoveryPointsByResource), the role chosen for it, and the restore
/// metadata (GetRecoveryPointRestoreMetadata).
#[derive(Debug, Clone, Default)]
pub struct ReadinessInput {
    /// Becomes the event id: letters, digits, `-`, `_` (else `readiness`).
    pub id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub recovery_point_arn: Option<String>,
    pub backup_vault_arn: Option<String>,
    pub iam_role_arn: Option<String>,
    pub resource_type: Option<String>,
    pub source_resource_arn: Option<String>,
    pub metadata: Vec<(String, String)>,
}

/// Builds the synthetic readiness event ([`READINESS_CHECK`]) from AWS Backup's answers.
/// Every value is checked as an event's: one that fails is dropped and said in
/// [`Parsed::rejected`], and the event carries the accepted values only.
pub fn readiness(input: ReadinessInput) -> Parsed {
    let mut r = Reader::default();
    let mut raw = Map::new();
    let mut set = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            raw.insert(k.to_owned(), Value::String(v.clone()));
        }
    };
    set("account", &input.account);
    set("region", &input.region);
    set("recoveryPointArn", &input.recovery_point_arn);
    set("backupVaultArn", &input.backup_vault_arn);
    set("iamRoleArn", &input.iam_role_arn);
    set("resourceType", &input.resource_type);
    set("sourceResourceArn", &input.source_resource_arn);
    let account = r.checked(&raw, "account", "account", EvidencePart::Other, |s| {
        is_account_id(s)
            .then(|| s.to_owned())
            .ok_or("not a 12-digit account id".into())
    });
    let region = r.checked(&raw, "region", "region", EvidencePart::Other, |s| {
        is_region(s)
            .then(|| s.to_owned())
            .ok_or("not a Region code".into())
    });
    let (metadata, gaps) = sanitize::metadata(input.metadata, EVENT, "restore metadata");
    r.rejected.extend(gaps);
    let check = ReadinessCheck {
        recovery_point_arn: r.arn(
            &raw,
            "recoveryPointArn",
            "recoveryPointArn",
            EvidencePart::RecoveryPoint,
        ),
        backup_vault_arn: r.arn(
            &raw,
            "backupVaultArn",
            "backupVaultArn",
            EvidencePart::VaultAccessPolicy,
        ),
        iam_role_arn: r.role_arn(&raw, "iamRoleArn", "iamRoleArn", EvidencePart::RestoreRole),
        resource_type: r.resource_type(&raw, "resourceType", "resourceType"),
        source_resource_arn: r.arn(
            &raw,
            "sourceResourceArn",
            "sourceResourceArn",
            EvidencePart::Other,
        ),
        metadata,
    };
    let id = if sanitize::is_id(&input.id) {
        input.id
    } else {
        "readiness".to_owned()
    };
    let mut detail = Map::new();
    put(
        &mut detail,
        "recoveryPointArn",
        check.recovery_point_arn.clone(),
    );
    put(
        &mut detail,
        "backupVaultArn",
        check.backup_vault_arn.clone(),
    );
    put(&mut detail, "iamRoleArn", check.iam_role_arn.clone());
    put(&mut detail, "resourceType", check.resource_type.clone());
    put(
        &mut detail,
        "sourceResourceArn",
        check.source_resource_arn.clone(),
    );
    let mut clean = Map::new();
    clean.insert("version".into(), json!("0"));
    clean.insert("id".into(), json!(id));
    clean.insert("detail-type".into(), json!(READINESS_CHECK));
    clean.insert("source".into(), json!(READINESS_SOURCE));
    put(&mut clean, "account", account.clone());
    put(&mut clean, "region", region.clone());
    let resources: Vec<&String> = check.recovery_point_arn.iter().collect();
    clean.insert("resources".into(), json!(resources));
    clean.insert("detail".into(), Value::Object(detail));
    Parsed {
        event_id: id,
        account,
        region,
        trigger: Trigger::Readiness(check),
        rejected: r.rejected,
        event: Value::Object(clean),
    }
}

fn put(out: &mut Detail, key: &str, value: Option<String>) {
    if let Some(v) = value {
        out.insert(key.to_owned(), Value::String(v));
    }
}

/// Reads fields and collects what it drops.
#[derive(Default)]
struct Reader {
    rejected: Vec<Gap>,
}

impl Reader {
    fn reject(&mut self, part: EvidencePart, field: &str, why: impl std::fmt::Display) {
        self.rejected.push(dropped(part, EVENT, field, why));
    }

    /// The string at `key` (a number is read as its text), or `None` when absent, empty
    /// or `null`; any other JSON type is dropped and said.
    fn raw(&mut self, map: &Detail, key: &str, field: &str, part: EvidencePart) -> Option<String> {
        match map.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Null => None,
            _ => {
                self.reject(part, field, "not a string");
                None
            }
        }
    }

    fn checked(
        &mut self,
        map: &Detail,
        key: &str,
        field: &str,
        part: EvidencePart,
        check: impl FnOnce(&str) -> Result<String, String>,
    ) -> Option<String> {
        let raw = self.raw(map, key, field, part)?;
        match check(&raw) {
            Ok(v) => Some(v),
            Err(why) => {
                self.reject(part, field, format!("{why} ({} bytes)", raw.len()));
                None
            }
        }
    }

    fn parsed(
        &mut self,
        map: &Detail,
        key: &str,
        field: &str,
        part: EvidencePart,
        check: sanitize::Check,
    ) -> Option<String> {
        let raw = self.raw(map, key, field, part)?;
        match check(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.reject(part, field, sanitize::refused(&e, raw.len()));
                None
            }
        }
    }

    fn arn(&mut self, map: &Detail, key: &str, field: &str, part: EvidencePart) -> Option<String> {
        self.parsed(map, key, field, part, sanitize::arn)
    }

    fn role_arn(
        &mut self,
        map: &Detail,
        key: &str,
        field: &str,
        part: EvidencePart,
    ) -> Option<String> {
        self.parsed(map, key, field, part, sanitize::role_arn)
    }

    fn message(&mut self, map: &Detail, key: &str, field: &str) -> Option<String> {
        let raw = self.raw(map, key, field, EvidencePart::DecodedMessage)?;
        let (text, cut) = sanitize::message(&raw);
        if cut {
            self.reject(
                EvidencePart::DecodedMessage,
                field,
                format!(
                    "{} bytes long: only the first {} were kept",
                    raw.len(),
                    sanitize::MAX_MESSAGE_LEN
                ),
            );
        }
        Some(text)
    }

    fn resource_type(&mut self, map: &Detail, key: &str, field: &str) -> Option<String> {
        self.checked(map, key, field, EvidencePart::Other, |s| {
            sanitize::is_resource_type(s)
                .then(|| s.to_owned())
                .ok_or_else(|| {
                    format!(
                        "not a resource type (letters, digits, `-_.`, at most {})",
                        sanitize::MAX_RESOURCE_TYPE_LEN
                    )
                })
        })
    }

    fn date(&mut self, map: &Detail, key: &str, field: &str) -> Option<String> {
        self.checked(map, key, field, EvidencePart::Other, |s| {
            sanitize::is_date(s)
                .then(|| s.to_owned())
                .ok_or("not a timestamp".into())
        })
    }

    fn id(&mut self, map: &Detail, key: &str, field: &str, part: EvidencePart) -> Option<String> {
        self.checked(map, key, field, part, |s| {
            sanitize::is_id(s)
                .then(|| s.to_owned())
                .ok_or("not an id (letters, digits, `-`, `_`, at most 128)".into())
        })
    }

    fn resources(&mut self, v: Option<&Value>) -> Vec<String> {
        let Some(list) = v.and_then(Value::as_array) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            if out.len() == MAX_RESOURCES {
                self.reject(
                    EvidencePart::Other,
                    "resources",
                    format!(
                        "{} entries past the first {MAX_RESOURCES} were not read",
                        list.len() - i
                    ),
                );
                break;
            }
            match item.as_str().map(|s| (s.len(), Arn::parse(s))) {
                Some((_, Ok(a))) => out.push(a.as_str().to_owned()),
                Some((len, Err(e))) => self.reject(
                    EvidencePart::Other,
                    &format!("resources[{i}]"),
                    sanitize::refused(&e, len),
                ),
                None => self.reject(
                    EvidencePart::Other,
                    &format!("resources[{i}]"),
                    "not a string",
                ),
            }
        }
        out
    }
}

fn restore_job_failed(detail: &Detail, r: &mut Reader) -> Result<(Trigger, Detail), String> {
    // Restore events use `status`; the CREATED event uses `state`.
    let status = detail
        .get("status")
        .or_else(|| detail.get("state"))
        .and_then(Value::as_str);
    match status {
        Some("FAILED") => {}
        Some(other) => {
            return Err(format!(
                "restore job status `{}` is not FAILED",
                shown(other)
            ))
        }
        None => return Err("the restore job event has no `status`".into()),
    }
    if detail
        .get("restoreJobId")
        .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
    {
        return Err("the restore job event has no `restoreJobId`".into());
    }
    let d = "detail.";
    let f = |k: &str| format!("{d}{k}");
    let job = RestoreJobFailed {
        restore_job_id: r.id(
            detail,
            "restoreJobId",
            &f("restoreJobId"),
            EvidencePart::RestoreJob,
        ),
        status_message: r.message(detail, "statusMessage", &f("statusMessage")),
        iam_role_arn: r.role_arn(
            detail,
            "iamRoleArn",
            &f("iamRoleArn"),
            EvidencePart::RestoreRole,
        ),
        resource_type: r.resource_type(detail, "resourceType", &f("resourceType")),
        recovery_point_arn: r.arn(
            detail,
            "recoveryPointArn",
            &f("recoveryPointArn"),
            EvidencePart::RecoveryPoint,
        ),
        backup_vault_arn: r.arn(
            detail,
            "backupVaultArn",
            &f("backupVaultArn"),
            EvidencePart::VaultAccessPolicy,
        ),
        source_resource_arn: r.arn(
            detail,
            "sourceResourceArn",
            &f("sourceResourceArn"),
            EvidencePart::Other,
        ),
        created_resource_arn: r.arn(
            detail,
            "createdResourceArn",
            &f("createdResourceArn"),
            EvidencePart::Other,
        ),
        creation_date: r.date(detail, "creationDate", &f("creationDate")),
        completion_date: r.date(detail, "completionDate", &f("completionDate")),
        percent_done: number(detail.get("percentDone")).filter(|n| (0.0..=100.0).contains(n)),
        backup_size_in_bytes: number(detail.get("backupSizeInBytes"))
            .filter(|n| *n >= 0.0 && *n < u64::MAX as f64)
            .map(|n| n as u64),
    };
    let mut out = Map::new();
    put(&mut out, "restoreJobId", job.restore_job_id.clone());
    if let Some(n) = job.backup_size_in_bytes {
        out.insert("backupSizeInBytes".into(), json!(n.to_string()));
    }
    put(&mut out, "creationDate", job.creation_date.clone());
    put(&mut out, "completionDate", job.completion_date.clone());
    put(&mut out, "iamRoleArn", job.iam_role_arn.clone());
    if let Some(n) = job.percent_done {
        out.insert("percentDone".into(), json!(n));
    }
    put(&mut out, "resourceType", job.resource_type.clone());
    put(&mut out, "recoveryPointArn", job.recovery_point_arn.clone());
    put(&mut out, "backupVaultArn", job.backup_vault_arn.clone());
    put(
        &mut out,
        "sourceResourceArn",
        job.source_resource_arn.clone(),
    );
    put(
        &mut out,
        "createdResourceArn",
        job.created_resource_arn.clone(),
    );
    out.insert("status".into(), json!("FAILED"));
    put(&mut out, "statusMessage", job.status_message.clone());
    Ok((Trigger::RestoreJobFailed(job), out))
}

fn start_restore_job_denied(detail: &Detail, r: &mut Reader) -> Result<(Trigger, Detail), String> {
    let event_name = detail
        .get("eventName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if event_name != "StartRestoreJob" {
        return Err(format!(
            "CloudTrail event `{}` is not StartRestoreJob",
            shown(event_name)
        ));
    }
    let error_code = match detail.get("errorCode").and_then(Value::as_str) {
        None | Some("") => return Err("the StartRestoreJob call succeeded (no `errorCode`)".into()),
        Some(code) if !is_access_denied(code) => {
            return Err(format!(
                "the StartRestoreJob call failed with `{}`, not for want of a permission",
                shown(code)
            ))
        }
        Some(code) => code.to_owned(),
    };
    let empty = Map::new();
    let params = match detail.get("requestParameters") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => {
            r.reject(
                EvidencePart::Other,
                "detail.requestParameters",
                "not an object",
            );
            &empty
        }
    };
    let p = "detail.requestParameters.";
    let metadata = match params.get("metadata") {
        Some(Value::Object(m)) => {
            let (kept, gaps) = sanitize::metadata(
                m.iter().map(|(k, v)| (k.clone(), value_text(v))),
                EVENT,
                &format!("{p}metadata"),
            );
            r.rejected.extend(gaps);
            kept
        }
        None | Some(Value::Null) => BTreeMap::new(),
        Some(_) => {
            r.reject(
                EvidencePart::RestoreMetadata,
                &format!("{p}metadata"),
                "not an object",
            );
            BTreeMap::new()
        }
    };
    let call = StartRestoreJobDenied {
        cloudtrail_event_id: r.checked(
            detail,
            "eventID",
            "detail.eventID",
            EvidencePart::Other,
            |s| {
                sanitize::is_guid(s)
                    .then(|| s.to_owned())
                    .ok_or("not a CloudTrail event id (a GUID)".into())
            },
        ),
        request_id: r.id(detail, "requestID", "detail.requestID", EvidencePart::Other),
        error_code,
        error_message: r.message(detail, "errorMessage", "detail.errorMessage"),
        caller: caller(detail.get("userIdentity"), r),
        recovery_point_arn: r.arn(
            params,
            "recoveryPointArn",
            &format!("{p}recoveryPointArn"),
            EvidencePart::RecoveryPoint,
        ),
        iam_role_arn: r.role_arn(
            params,
            "iamRoleArn",
            &format!("{p}iamRoleArn"),
            EvidencePart::RestoreRole,
        ),
        resource_type: r.resource_type(params, "resourceType", &format!("{p}resourceType")),
        metadata,
    };
    let aws_region = r.checked(
        detail,
        "awsRegion",
        "detail.awsRegion",
        EvidencePart::Other,
        |s| {
            is_region(s)
                .then(|| s.to_owned())
                .ok_or("not a Region code".into())
        },
    );
    let recipient = r.checked(
        detail,
        "recipientAccountId",
        "detail.recipientAccountId",
        EvidencePart::Other,
        |s| {
            is_account_id(s)
                .then(|| s.to_owned())
                .ok_or("not a 12-digit account id".into())
        },
    );
    let event_time = r.date(detail, "eventTime", "detail.eventTime");

    let mut identity = Map::new();
    if !call.caller.identity_type.is_empty() {
        identity.insert("type".into(), json!(call.caller.identity_type));
    }
    put(&mut identity, "arn", call.caller.arn.clone());
    match &call.caller.iam {
        Some(IamIdentity::User { name, .. }) => {
            identity.insert("userName".into(), json!(name));
        }
        Some(IamIdentity::Role { name, arn }) if call.caller.arn.as_deref() != Some(arn) => {
            identity.insert(
                "sessionContext".into(),
                json!({"sessionIssuer": {"type": "Role", "arn": arn, "userName": name}}),
            );
        }
        _ => {}
    }
    let mut request = Map::new();
    put(
        &mut request,
        "recoveryPointArn",
        call.recovery_point_arn.clone(),
    );
    if !call.metadata.is_empty() {
        request.insert("metadata".into(), json!(call.metadata));
    }
    put(&mut request, "iamRoleArn", call.iam_role_arn.clone());
    put(&mut request, "resourceType", call.resource_type.clone());

    let mut out = Map::new();
    out.insert("userIdentity".into(), Value::Object(identity));
    put(&mut out, "eventTime", event_time);
    out.insert("eventSource".into(), json!("backup.amazonaws.com"));
    out.insert("eventName".into(), json!("StartRestoreJob"));
    put(&mut out, "awsRegion", aws_region);
    out.insert("errorCode".into(), json!(call.error_code));
    put(&mut out, "errorMessage", call.error_message.clone());
    out.insert("requestParameters".into(), Value::Object(request));
    put(&mut out, "requestID", call.request_id.clone());
    put(&mut out, "eventID", call.cloudtrail_event_id.clone());
    put(&mut out, "recipientAccountId", recipient);
    Ok((Trigger::StartRestoreJobDenied(call), out))
}

fn caller(identity: Option<&Value>, r: &mut Reader) -> Caller {
    let Some(identity) = identity.and_then(Value::as_object) else {
        return Caller::default();
    };
    let part = EvidencePart::Caller;
    let u = "detail.userIdentity.";
    let identity_type = r
        .checked(identity, "type", &format!("{u}type"), part, |s| {
            sanitize::is_code(s)
                .then(|| s.to_owned())
                .ok_or("not an identity type".into())
        })
        .unwrap_or_default();
    let mut arn = r.arn(identity, "arn", &format!("{u}arn"), part);
    let iam = match identity_type.as_str() {
        "IAMUser" => {
            let user = arn
                .as_deref()
                .and_then(|arn| user_identity(identity, arn, r));
            if user.is_none() && arn.is_some() {
                // An IAM user's ARN that names no valid user is not carried either.
                r.reject(
                    part,
                    &format!("{u}arn"),
                    "not an IAM user ARN with a valid user name",
                );
                arn = None;
            }
            user
        }
        "AssumedRole" => {
            let issuer = identity
                .get("sessionContext")
                .and_then(|c| c.get("sessionIssuer"))
                .and_then(Value::as_object);
            let issuer_field = format!("{u}sessionContext.sessionIssuer.arn");
            match issuer.and_then(|i| r.role_arn(i, "arn", &issuer_field, part)) {
                Some(role_arn) => RoleArn::parse(&role_arn)
                    .ok()
                    .map(|role| IamIdentity::Role {
                        name: role.name().to_owned(),
                        arn: role_arn,
                    }),
                // No issuer recorded: the role name is the middle of the session ARN.
                None => arn.as_deref().and_then(role_from_session_arn),
            }
        }
        _ => None,
    };
    Caller {
        identity_type,
        arn,
        iam,
    }
}

/// An IAM user from its (already checked) ARN; `userName`, when given, must be the ARN's
/// last segment.
fn user_identity(identity: &Detail, arn: &str, r: &mut Reader) -> Option<IamIdentity> {
    let parsed = Arn::parse(arn).ok()?;
    let path_and_name = parsed.resource().strip_prefix("user/")?;
    if parsed.service() != "iam" {
        return None;
    }
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    if !is_iam_name(name) {
        return None;
    }
    if let Some(given) = identity.get("userName").and_then(Value::as_str) {
        if given != name {
            r.reject(
                EvidencePart::Caller,
                "detail.userIdentity.userName",
                format!("not the user the ARN names ({} bytes)", given.len()),
            );
        }
    }
    Some(IamIdentity::User {
        name: name.to_owned(),
        arn: arn.to_owned(),
    })
}

/// `arn:aws:sts::111122223333:assumed-role/Name/session` -> the role (its path is unknown
/// here; the IAM read APIs take the name only).
fn role_from_session_arn(session_arn: &str) -> Option<IamIdentity> {
    let arn = Arn::parse(session_arn).ok()?;
    if arn.service() != "sts" {
        return None;
    }
    let name = arn
        .resource()
        .strip_prefix("assumed-role/")?
        .split('/')
        .next()?;
    let role = RoleArn::parse(&format!(
        "arn:{}:iam::{}:role/{name}",
        arn.partition(),
        arn.account()
    ))
    .ok()?;
    Some(IamIdentity::Role {
        name: role.name().to_owned(),
        arn: role.as_str().to_owned(),
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.len() <= 32 => s.trim().parse().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_efs() -> Value {
        json!({
            "version": "0",
            "id": "5a1f7b0e-1111-2222-3333-444455556666",
            "detail-type": "Restore Job State Change",
            "source": "aws.backup",
            "account": "111122223333",
            "time": "2026-03-01T03:12:09Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "restoreJobId": "JOB-1",
                "backupSizeInBytes": "22548578304",
                "percentDone": 0.0,
                "resourceType": "EFS",
                "iamRoleArn": "arn:aws:iam::111122223333:role/service-role/RestoreRole",
                "status": "FAILED",
                "statusMessage": "Insufficient privileges to perform this action"
            }
        })
    }

    #[test]
    fn failed_restore_job_is_parsed_leniently() {
        let parsed = parse(&failed_efs()).unwrap();
        assert_eq!(parsed.event_id, "5a1f7b0e-1111-2222-3333-444455556666");
        assert_eq!(parsed.region.as_deref(), Some("eu-west-1"));
        let Trigger::RestoreJobFailed(job) = &parsed.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(job.restore_job_id.as_deref(), Some("JOB-1"));
        assert_eq!(job.backup_size_in_bytes, Some(22_548_578_304));
        assert_eq!(job.percent_done, Some(0.0));
        assert_eq!(job.resource_type.as_deref(), Some("EFS"));
        assert_eq!(
            parsed.dedup_key(),
            "111122223333:eu-west-1:restore-job:JOB-1"
        );
        assert_eq!(parsed.kind(), "restoreJobFailed");
    }

    #[test]
    fn percent_done_as_string_and_size_as_number_are_accepted() {
        let mut event = failed_efs();
        event["detail"]["percentDone"] = json!("12.5");
        event["detail"]["backupSizeInBytes"] = json!(42);
        let Trigger::RestoreJobFailed(job) = parse(&event).unwrap().trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(job.percent_done, Some(12.5));
        assert_eq!(job.backup_size_in_bytes, Some(42));
    }

    #[test]
    fn other_statuses_sources_and_types_are_skipped_with_a_reason() {
        let mut completed = failed_efs();
        completed["detail"]["status"] = json!("COMPLETED");
        let skip = parse(&completed).unwrap_err();
        assert!(skip.reason.contains("COMPLETED"), "{}", skip.reason);
        assert_eq!(
            skip.event_id.as_deref(),
            Some("5a1f7b0e-1111-2222-3333-444455556666")
        );

        let mut created = failed_efs();
        created["detail"] = json!({"restoreJobId": "J", "state": "CREATED"});
        assert!(parse(&created).unwrap_err().reason.contains("CREATED"));

        let mut ec2 = failed_efs();
        ec2["source"] = json!("aws.ec2");
        assert!(parse(&ec2).unwrap_err().reason.contains("aws.ec2"));

        let mut copy = failed_efs();
        copy["detail-type"] = json!("Copy Job State Change");
        assert!(parse(&copy).unwrap_err().reason.contains("Copy Job"));
    }

    #[test]
    fn malformed_events_are_skipped_not_errors() {
        for event in [
            json!("not an object"),
            json!({}),
            json!({"id": "x", "source": "aws.backup", "detail": {}}),
            json!({"id": "x", "source": "aws.backup", "detail-type": "Restore Job State Change", "detail": "FAILED"}),
            json!({"id": "x", "source": "aws.backup", "detail-type": "Restore Job State Change", "detail": {"status": "FAILED"}}),
            json!({"source": "aws.backup", "detail-type": "Restore Job State Change", "detail": {"status": "FAILED", "restoreJobId": "J"}}),
        ] {
            let skip = parse(&event).unwrap_err();
            assert!(!skip.reason.is_empty());
        }
    }

    fn cloudtrail_denied(identity: Value) -> Value {
        json!({
            "version": "0",
            "id": "eb-1",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.backup",
            "account": "111122223333",
            "region": "eu-west-1",
            "detail": {
                "eventName": "StartRestoreJob",
                "eventID": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
                "requestID": "req-1",
                "errorCode": "AccessDenied",
                "errorMessage": "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: backup:StartRestoreJob",
                "userIdentity": identity,
                "requestParameters": {
                    "recoveryPointArn": "arn:aws:backup:eu-west-1:111122223333:recovery-point:rp-1",
                    "iamRoleArn": "arn:aws:iam::111122223333:role/RestoreRole",
                    "resourceType": "EFS",
                    "metadata": {"file-system-id": "fs-1", "newFileSystem": true}
                }
            }
        })
    }

    #[test]
    fn refused_start_restore_job_by_a_user() {
        let parsed = parse(&cloudtrail_denied(json!({
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/ops/alice",
            "userName": "alice"
        })))
        .unwrap();
        assert_eq!(
            parsed.dedup_key(),
            "111122223333:eu-west-1:start-restore-job:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
        );
        let Trigger::StartRestoreJobDenied(call) = parsed.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(call.error_code, "AccessDenied");
        assert_eq!(call.resource_type.as_deref(), Some("EFS"));
        assert_eq!(call.metadata["newFileSystem"], "true");
        assert_eq!(
            call.caller.iam,
            Some(IamIdentity::User {
                name: "alice".into(),
                arn: "arn:aws:iam::111122223333:user/ops/alice".into()
            })
        );
    }

    #[test]
    fn refused_start_restore_job_by_an_assumed_role() {
        let with_issuer = parse(&cloudtrail_denied(json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/Ops/alice",
            "sessionContext": {"sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/team/Ops",
                "userName": "Ops"
            }}
        })))
        .unwrap();
        let Trigger::StartRestoreJobDenied(call) = with_issuer.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(
            call.caller.iam,
            Some(IamIdentity::Role {
                name: "Ops".into(),
                arn: "arn:aws:iam::111122223333:role/team/Ops".into()
            })
        );
        assert_eq!(
            call.caller.arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Ops/alice")
        );

        let without_issuer = parse(&cloudtrail_denied(json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/Ops/alice"
        })))
        .unwrap();
        let Trigger::StartRestoreJobDenied(call) = without_issuer.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(
            call.caller.iam,
            Some(IamIdentity::Role {
                name: "Ops".into(),
                arn: "arn:aws:iam::111122223333:role/Ops".into()
            })
        );
    }

    #[test]
    fn successful_or_other_cloudtrail_calls_are_skipped() {
        let mut ok = cloudtrail_denied(json!({"type": "Root"}));
        ok["detail"].as_object_mut().unwrap().remove("errorCode");
        assert!(parse(&ok).unwrap_err().reason.contains("errorCode"));

        let mut other = cloudtrail_denied(json!({"type": "Root"}));
        other["detail"]["eventName"] = json!("StartBackupJob");
        assert!(parse(&other).unwrap_err().reason.contains("StartBackupJob"));
    }

    fn rejected_fields(p: &Parsed) -> Vec<String> {
        p.rejected.iter().map(|g| g.call.clone()).collect()
    }

    #[test]
    fn hostile_values_in_a_refused_call_are_dropped_said_and_kept_out_of_the_event() {
        let mut event = cloudtrail_denied(json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/Ops/x`<!channel>`",
            "sessionContext": {"sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/Ops`<https://evil.example|Re-authenticate>",
                "userName": "Ops"
            }}
        }));
        let d = &mut event["detail"];
        d["requestParameters"]["iamRoleArn"] =
            json!("arn:aws:iam::111122223333:role/R`\n<!channel>");
        d["requestParameters"]["resourceType"] = json!("R".repeat(88 * 1024));
        d["requestParameters"]["recoveryPointArn"] = json!(format!(
            "arn:aws:backup:eu-west-1:111122223333:recovery-point:{}",
            "a".repeat(64 * 1024)
        ));
        d["requestParameters"]["metadata"] = json!({
            "KmsKeyId": "arn:*",
            "RoleName": "x\nFix (verified by restore-doctor): aws iam delete-role",
        });
        d["errorMessage"] =
            json!("denied\n\nFix (verified by restore-doctor):\n  aws iam attach-role-policy");
        let parsed = parse(&event).unwrap();
        let Trigger::StartRestoreJobDenied(call) = &parsed.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(call.iam_role_arn, None);
        assert_eq!(call.resource_type, None);
        assert_eq!(call.recovery_point_arn, None);
        assert_eq!(call.caller.arn, None);
        assert_eq!(call.caller.iam, None);
        // A key reference is checked where it is resolved (gather), not here; the
        // newline-carrying value is dropped.
        assert_eq!(call.metadata.keys().collect::<Vec<_>>(), ["KmsKeyId"]);
        assert!(!call.error_message.as_deref().unwrap().contains('\n'));
        let fields = rejected_fields(&parsed);
        for field in [
            "detail.requestParameters.iamRoleArn",
            "detail.requestParameters.resourceType",
            "detail.requestParameters.recoveryPointArn",
            "detail.userIdentity.arn",
            "detail.userIdentity.sessionContext.sessionIssuer.arn",
            "metadata.RoleName",
        ] {
            assert!(
                fields.iter().any(|f| f.contains(field)),
                "{field} not in {fields:#?}"
            );
        }
        let parts: Vec<EvidencePart> = parsed.rejected.iter().map(|g| g.part).collect();
        assert!(parts.contains(&EvidencePart::RestoreRole));
        assert!(parts.contains(&EvidencePart::RestoreMetadata));
        // The gaps quote a short printable prefix only.
        for g in &parsed.rejected {
            assert!(g.error.len() < 600, "{g:?}");
            assert!(!g.error.contains('\n') && !g.call.contains('\n'), "{g:?}");
        }
        // Nothing dropped survives in the event the evidence carries.
        let text = parsed.event.to_string();
        for needle in [
            "<!channel>",
            "evil.example",
            "RRRR",
            "aaaa",
            "delete-role",
            "\\n",
        ] {
            assert!(!text.contains(needle), "{needle} in {text}");
        }
        assert!(text.len() < 4096, "{}", text.len());
    }

    #[test]
    fn the_event_the_evidence_carries_keeps_every_valid_value() {
        let event = failed_efs();
        let parsed = parse(&event).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(
            parsed.event["detail"]["iamRoleArn"],
            event["detail"]["iamRoleArn"]
        );
        assert_eq!(parsed.event["detail"]["restoreJobId"], "JOB-1");
        assert_eq!(
            parsed.event["detail"]["statusMessage"],
            event["detail"]["statusMessage"]
        );
        assert_eq!(parsed.event["detail-type"], RESTORE_JOB_STATE_CHANGE);
        assert_eq!(parsed.event["account"], "111122223333");

        let denied = cloudtrail_denied(json!({
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/ops/alice",
            "userName": "alice"
        }));
        let parsed = parse(&denied).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let d = &parsed.event["detail"];
        assert_eq!(
            d["userIdentity"]["arn"],
            "arn:aws:iam::111122223333:user/ops/alice"
        );
        assert_eq!(d["requestParameters"]["metadata"]["newFileSystem"], "true");
        assert_eq!(d["eventName"], "StartRestoreJob");
    }

    #[test]
    fn an_invalid_restore_job_id_or_envelope_value_is_a_gap_not_a_lost_alert() {
        let mut event = failed_efs();
        event["detail"]["restoreJobId"] = json!("../../x`y");
        event["account"] = json!("11112222333*");
        event["region"] = json!("eu-west-1\n");
        let parsed = parse(&event).unwrap();
        let Trigger::RestoreJobFailed(job) = &parsed.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(job.restore_job_id, None);
        assert_eq!(parsed.account, None);
        assert_eq!(parsed.region, None);
        assert_eq!(parsed.rejected.len(), 3, "{:#?}", parsed.rejected);
        assert_eq!(parsed.rejected[0].part, EvidencePart::Other);
        assert!(parsed
            .rejected
            .iter()
            .any(|g| g.part == EvidencePart::RestoreJob && g.call.contains("restoreJobId")));
        assert_eq!(
            parsed.dedup_key(),
            "unknown:unknown:event:5a1f7b0e-1111-2222-3333-444455556666"
        );
    }

    #[test]
    fn only_permission_failures_of_start_restore_job_are_diagnosed() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "NotAuthorized",
        ] {
            let mut e = cloudtrail_denied(json!({"type": "Root"}));
            e["detail"]["errorCode"] = json!(code);
            assert!(parse(&e).is_ok(), "{code}");
        }
        for code in [
            "ThrottlingException",
            "ValidationException",
            "InvalidParameterValueException",
        ] {
            let mut e = cloudtrail_denied(json!({"type": "Root"}));
            e["detail"]["errorCode"] = json!(code);
            let skip = parse(&e).unwrap_err();
            assert!(skip.reason.contains(code), "{}", skip.reason);
        }
    }

    #[test]
    fn a_huge_or_strange_event_is_skipped_or_parsed_without_panicking() {
        let deep = (0..100).fold(json!(1), |v, _| json!([v]));
        for event in [
            json!({"id": "x".repeat(100_000), "source": "aws.backup", "detail-type": RESTORE_JOB_STATE_CHANGE, "detail": {"status": "FAILED", "restoreJobId": "J"}}),
            json!({"id": "e", "source": "aws.backup", "detail-type": RESTORE_JOB_STATE_CHANGE, "resources": deep, "detail": {"status": "FAILED", "restoreJobId": "J", "percentDone": "NaN", "backupSizeInBytes": 1e300}}),
            json!({"id": "e", "source": "aws.backup", "detail-type": API_CALL_VIA_CLOUDTRAIL, "detail": {"eventName": "StartRestoreJob", "errorCode": "AccessDenied", "requestParameters": [1], "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/"}}}),
        ] {
            let _ = parse(&event);
        }
        let e = json!({"id": "e", "source": "aws.backup", "detail-type": RESTORE_JOB_STATE_CHANGE, "detail": {"status": "FAILED", "restoreJobId": "J", "percentDone": "NaN", "backupSizeInBytes": 1e300}});
        let Trigger::RestoreJobFailed(job) = parse(&e).unwrap().trigger else {
            panic!("wrong trigger")
        };
        assert_eq!((job.percent_done, job.backup_size_in_bytes), (None, None));
    }

    #[test]
    fn a_user_arn_naming_no_valid_user_is_dropped_not_carried() {
        let parsed = parse(&cloudtrail_denied(json!({
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/a:b"
        })))
        .unwrap();
        let Trigger::StartRestoreJobDenied(call) = &parsed.trigger else {
            panic!("wrong trigger")
        };
        assert_eq!(
            (call.caller.arn.as_ref(), call.caller.iam.as_ref()),
            (None, None)
        );
        assert!(parsed.event["detail"]["userIdentity"].get("arn").is_none());
        // What was kept passes its own checks again (found by the event_parse fuzz target).
        assert!(parse(&parsed.event).unwrap().rejected.is_empty());
    }
}
