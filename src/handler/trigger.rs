//! Which EventBridge events start a diagnosis, read leniently from the raw JSON.
//!
//! Two kinds of event do: a "Restore Job State Change" with `detail.status` FAILED, and a
//! CloudTrail "AWS API Call via CloudTrail" record of a refused `StartRestoreJob`.
//! Everything else (other statuses, other sources, malformed events) becomes a [`Skip`]
//! with a reason, so the handler logs it and returns without asking Lambda to retry.
//!
//! Parsing is pure: no AWS calls, no clock.

use std::collections::BTreeMap;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::Value;

/// `detail-type` of AWS Backup restore job events.
pub const RESTORE_JOB_STATE_CHANGE: &str = "Restore Job State Change";
/// `detail-type` of CloudTrail management events delivered by EventBridge.
pub const API_CALL_VIA_CLOUDTRAIL: &str = "AWS API Call via CloudTrail";

/// An event worth diagnosing, with the envelope fields every trigger has.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The EventBridge event id: the correlation id of everything logged for it.
    pub event_id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub trigger: Trigger,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A restore job ended in FAILED.
    RestoreJobFailed(RestoreJobFailed),
    /// A `StartRestoreJob` call was refused (the caller lacks a permission).
    StartRestoreJobDenied(StartRestoreJobDenied),
}

/// The `detail` of a FAILED "Restore Job State Change" event. Only `restoreJobId` is
/// required; the rest is read when present (the documented FAILED sample carries no
/// vault or recovery point, DescribeRestoreJob fills those in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RestoreJobFailed {
    pub restore_job_id: String,
    pub status_message: Option<String>,
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
    pub iam_role_arn: Option<String>,
    pub resource_type: Option<String>,
    /// `requestParameters.metadata`; empty when CloudTrail did not record it.
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

/// An IAM user or role, by name (what the IAM read APIs take) and ARN.
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
            Trigger::RestoreJobFailed(job) => {
                format!("{account}:{region}:restore-job:{}", job.restore_job_id)
            }
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
        }
    }
}

/// Reads an EventBridge event. Never fails: an event that is not a diagnosable failure
/// is a [`Skip`] with the reason.
pub fn parse(event: &Value) -> Result<Parsed, Skip> {
    let event_id = event.get("id").and_then(Value::as_str).map(str::to_owned);
    let skip = |reason: String| Skip {
        event_id: event_id.clone(),
        reason,
    };
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
        .map_err(|e| skip(format!("not an EventBridge event: {e}")))?;
    let id = envelope
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| skip("the event has no `id`".into()))?;
    if envelope.source != "aws.backup" {
        return Err(skip(format!(
            "source `{}` is not `aws.backup`",
            envelope.source
        )));
    }
    let detail = envelope
        .detail
        .as_object()
        .ok_or_else(|| skip("`detail` is not an object".into()))?;
    let trigger = match envelope.detail_type.as_str() {
        RESTORE_JOB_STATE_CHANGE => restore_job_failed(detail).map_err(skip)?,
        API_CALL_VIA_CLOUDTRAIL => start_restore_job_denied(detail).map_err(skip)?,
        other => return Err(skip(format!("detail-type `{other}` is not diagnosed"))),
    };
    Ok(Parsed {
        event_id: id,
        account: envelope.account.filter(|a| !a.is_empty()),
        region: envelope.region.filter(|r| !r.is_empty()),
        trigger,
    })
}

type Detail = serde_json::Map<String, Value>;

fn restore_job_failed(detail: &Detail) -> Result<Trigger, String> {
    // Restore events use `status`; the CREATED event uses `state`.
    let status = text(detail, "status").or_else(|| text(detail, "state"));
    match status.as_deref() {
        Some("FAILED") => {}
        Some(other) => return Err(format!("restore job status `{other}` is not FAILED")),
        None => return Err("the restore job event has no `status`".into()),
    }
    let restore_job_id =
        text(detail, "restoreJobId").ok_or("the restore job event has no `restoreJobId`")?;
    Ok(Trigger::RestoreJobFailed(RestoreJobFailed {
        restore_job_id,
        status_message: text(detail, "statusMessage"),
        iam_role_arn: text(detail, "iamRoleArn"),
        resource_type: text(detail, "resourceType"),
        recovery_point_arn: text(detail, "recoveryPointArn"),
        backup_vault_arn: text(detail, "backupVaultArn"),
        source_resource_arn: text(detail, "sourceResourceArn"),
        created_resource_arn: text(detail, "createdResourceArn"),
        creation_date: text(detail, "creationDate"),
        completion_date: text(detail, "completionDate"),
        percent_done: number(detail.get("percentDone")),
        backup_size_in_bytes: number(detail.get("backupSizeInBytes"))
            .filter(|n| *n >= 0.0)
            .map(|n| n as u64),
    }))
}

fn start_restore_job_denied(detail: &Detail) -> Result<Trigger, String> {
    let event_name = text(detail, "eventName").unwrap_or_default();
    if event_name != "StartRestoreJob" {
        return Err(format!(
            "CloudTrail event `{event_name}` is not StartRestoreJob"
        ));
    }
    let error_code =
        text(detail, "errorCode").ok_or("the StartRestoreJob call succeeded (no `errorCode`)")?;
    let params = detail
        .get("requestParameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let metadata = params
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default();
    Ok(Trigger::StartRestoreJobDenied(StartRestoreJobDenied {
        cloudtrail_event_id: text(detail, "eventID"),
        request_id: text(detail, "requestID"),
        error_code,
        error_message: text(detail, "errorMessage"),
        caller: caller(detail.get("userIdentity")),
        recovery_point_arn: text(&params, "recoveryPointArn"),
        iam_role_arn: text(&params, "iamRoleArn"),
        resource_type: text(&params, "resourceType"),
        metadata,
    }))
}

fn caller(identity: Option<&Value>) -> Caller {
    let Some(identity) = identity.and_then(Value::as_object) else {
        return Caller::default();
    };
    let identity_type = text(identity, "type").unwrap_or_default();
    let arn = text(identity, "arn");
    let iam = match identity_type.as_str() {
        "IAMUser" => arn.as_deref().and_then(|arn| {
            let name = text(identity, "userName").or_else(|| last_segment(arn, ":user/"))?;
            Some(IamIdentity::User {
                name,
                arn: arn.to_owned(),
            })
        }),
        "AssumedRole" => {
            let issuer = identity
                .get("sessionContext")
                .and_then(|c| c.get("sessionIssuer"))
                .and_then(Value::as_object);
            let issuer_arn = issuer.and_then(|i| text(i, "arn"));
            let issuer_name = issuer.and_then(|i| text(i, "userName"));
            match issuer_arn {
                Some(role_arn) => {
                    let name = issuer_name.or_else(|| last_segment(&role_arn, ":role/"));
                    name.map(|name| IamIdentity::Role {
                        name,
                        arn: role_arn,
                    })
                }
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

/// `arn:aws:sts::111122223333:assumed-role/Name/session` -> the role (its path is unknown
/// here; the IAM read APIs take the name only).
fn role_from_session_arn(session_arn: &str) -> Option<IamIdentity> {
    let mut parts = session_arn.splitn(6, ':');
    let (_, partition, _, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    if name.is_empty() {
        return None;
    }
    Some(IamIdentity::Role {
        name: name.to_owned(),
        arn: format!("arn:{partition}:iam::{account}:role/{name}"),
    })
}

/// The last path segment after `marker` (`:role/`, `:user/`), i.e. the IAM name.
fn last_segment(arn: &str, marker: &str) -> Option<String> {
    let (_, path) = arn.split_once(marker)?;
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn text(map: &Detail, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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
        assert_eq!(job.restore_job_id, "JOB-1");
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
                "eventID": "ct-1",
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
            "111122223333:eu-west-1:start-restore-job:ct-1"
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
}
