//! The two invocations that run readiness in the function (issue #13, section 3), read and
//! checked before anything else sees them:
//!
//! - the **scheduled run**: EventBridge Scheduler invokes the function with the fixed
//!   input template.yaml gives it ([`SCHEDULED_INPUT_KEY`]); anyone allowed to invoke
//!   the function can send the same, so it is checked like any event, and an input that
//!   names itself a schedule but has another shape is an error ([`ScheduleError`]), never
//!   a guess;
//! - a **change** that can break a restore: a CloudTrail management event delivered by
//!   EventBridge ("AWS API Call via CloudTrail") for one of [`CHANGE_EVENTS`]. Everything
//!   in it was written by whoever made the call, so the role name, key, vault name,
//!   principal and time are each checked here ([`validated`](crate::diagnose::validated),
//!   [`sanitize`]); a change whose target fails its check is a [`Skip`] that names the
//!   field, never the value.
//!
//! Pure: no AWS calls, no clock.

use serde_json::{Map, Value};

use super::sanitize;
use super::trigger::{Skip, API_CALL_VIA_CLOUDTRAIL};
use crate::diagnose::evidence::{EvidencePart, Gap};
use crate::diagnose::readiness::StoredState;
use crate::diagnose::validated::{is_account_id, is_iam_name, is_key_id, shown, Arn, KeyArn};

/// The key of the scheduled run's input: `{"restore-doctor": "scheduled-readiness"}`.
pub const SCHEDULED_INPUT_KEY: &str = "restore-doctor";
/// Its one accepted value.
pub const SCHEDULED_READINESS: &str = "scheduled-readiness";
/// The optional key the schedule fills with EventBridge Scheduler's
/// `<aws.scheduler.scheduled-time>` context attribute ("Adding context attributes in
/// EventBridge Scheduler": "The time you specified for the schedule to invoke its target,
/// for example, 2022-03-22T18:59:43Z").
pub const SCHEDULED_TIME_KEY: &str = "scheduledTime";

/// A scheduled run, as checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduledRun {
    /// When the schedule was due, when the input carried a valid time.
    pub scheduled_time: Option<String>,
}

/// An input that names itself a scheduled run but is not the one template.yaml sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a scheduled readiness input: {0} (expected {{\"restore-doctor\": \"scheduled-readiness\"}}, optionally with \"scheduledTime\")")]
pub struct ScheduleError(pub String);

/// Whether `event` claims to be a scheduled run (its top level has [`SCHEDULED_INPUT_KEY`]).
pub fn is_scheduled(event: &Value) -> bool {
    event.get(SCHEDULED_INPUT_KEY).is_some()
}

/// Reads a scheduled run's input. Any other key, another value or a malformed time is
/// an error: the schedule sends exactly this, so anything else was sent by someone else.
pub fn scheduled(event: &Value) -> Result<ScheduledRun, ScheduleError> {
    let map = event
        .as_object()
        .ok_or_else(|| ScheduleError("not a JSON object".into()))?;
    for key in map.keys() {
        if key != SCHEDULED_INPUT_KEY && key != SCHEDULED_TIME_KEY {
            return Err(ScheduleError(format!("unknown key `{}`", shown(key))));
        }
    }
    match map.get(SCHEDULED_INPUT_KEY) {
        Some(Value::String(s)) if s == SCHEDULED_READINESS => {}
        Some(Value::String(s)) => {
            return Err(ScheduleError(format!("unknown run `{}`", shown(s))));
        }
        _ => {
            return Err(ScheduleError(format!(
                "`{SCHEDULED_INPUT_KEY}` is not a string"
            )))
        }
    }
    let scheduled_time = match map.get(SCHEDULED_TIME_KEY) {
        None => None,
        Some(Value::String(t)) if sanitize::is_date(t) => Some(t.clone()),
        Some(_) => {
            return Err(ScheduleError(format!(
                "`{SCHEDULED_TIME_KEY}` is not a timestamp"
            )))
        }
    };
    Ok(ScheduledRun { scheduled_time })
}

/// The CloudTrail events that can break a restore, by event source and name, and what
/// each names: IAM calls on a role (AWS IAM API reference: PutRolePolicy,
/// DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy, PutRolePermissionsBoundary,
/// UpdateAssumeRolePolicy — the call that replaces a role's trust policy; IAM has no
/// "UpdateAssumeRoleTrustPolicy"), KMS calls on a key (PutKeyPolicy, DisableKey,
/// ScheduleKeyDeletion, RevokeGrant), and AWS Backup's PutBackupVaultAccessPolicy.
pub const CHANGE_EVENTS: [(&str, &str); 11] = [
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("iam.amazonaws.com", "DeleteRolePolicy"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("iam.amazonaws.com", "DetachRolePolicy"),
    ("iam.amazonaws.com", "PutRolePermissionsBoundary"),
    ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
    ("kms.amazonaws.com", "PutKeyPolicy"),
    ("kms.amazonaws.com", "DisableKey"),
    ("kms.amazonaws.com", "ScheduleKeyDeletion"),
    ("kms.amazonaws.com", "RevokeGrant"),
    ("backup.amazonaws.com", "PutBackupVaultAccessPolicy"),
];

/// What a change is about: the resources it can break are found by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeTarget {
    /// A role, by name (IAM's calls take the name; the role is in the event's account).
    Role { name: String },
    /// A key, by its ARN when the record names it, and its key id.
    Key {
        key_id: String,
        key_arn: Option<String>,
    },
    /// A backup vault, by name.
    Vault { name: String },
}

impl ChangeTarget {
    /// Whether the stored state of one (resource, vault) is restored with what changed in
    /// `account`: the role it would be restored as (by name, a row of that account), a key
    /// its recovery point or restore uses (by ARN, a row of any account: a key can serve
    /// another account's vault; else by id, a key of that account), or its vault (by
    /// name, a row of that account).
    pub fn touches(&self, state: &StoredState, account: &str) -> bool {
        match self {
            ChangeTarget::Role { name } => {
                state.account == account
                    && state.role_arn.as_deref().is_some_and(|r| {
                        Arn::parse(r).is_ok_and(|a| {
                            a.account() == account
                                && a.resource().rsplit('/').next() == Some(name.as_str())
                                && a.resource().starts_with("role/")
                        })
                    })
            }
            // By ARN when the record names it (a multi-Region key's replicas share its
            // id across Regions), else by id in this account.
            ChangeTarget::Key { key_id, key_arn } => state.key_arns.iter().any(|k| match key_arn {
                Some(arn) => arn == k,
                None => KeyArn::parse(k).is_ok_and(|a| {
                    a.arn().resource().strip_prefix("key/") == Some(key_id.as_str())
                        && a.arn().account() == account
                }),
            }),
            ChangeTarget::Vault { name } => {
                state.account == account && state.vault_name.as_deref() == Some(name.as_str())
            }
        }
    }

    /// `role EbsRestore`, `key 1234abcd-…`, `backup vault prod`.
    pub fn describe(&self) -> String {
        match self {
            ChangeTarget::Role { name } => format!("role {name}"),
            ChangeTarget::Key { key_id, .. } => format!("KMS key {key_id}"),
            ChangeTarget::Vault { name } => format!("backup vault {name}"),
        }
    }
}

/// A change, every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The EventBridge event id (the correlation id).
    pub event_id: String,
    /// CloudTrail's own `eventID`, when it is a GUID: the same for every redelivery.
    pub cloudtrail_event_id: Option<String>,
    pub account: Option<String>,
    /// The call, one of [`CHANGE_EVENTS`].
    pub event_name: &'static str,
    pub target: ChangeTarget,
    /// `userIdentity.arn`, when it is a valid ARN.
    pub principal: Option<String>,
    /// `eventTime`, when it is a timestamp.
    pub time: Option<String>,
    /// Values that failed their check and were left out, one gap each.
    pub rejected: Vec<Gap>,
}

impl Change {
    /// The same for every delivery of the same call.
    pub fn dedup_key(&self) -> String {
        format!(
            "{}:change:{}",
            self.account.as_deref().unwrap_or("unknown"),
            self.cloudtrail_event_id
                .as_deref()
                .unwrap_or(&self.event_id)
        )
    }
}

/// Whether `event` is a CloudTrail record of one of [`CHANGE_EVENTS`] (by its claimed
/// event source and name; [`change`] checks the rest).
pub fn is_change(event: &Value) -> bool {
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    let detail = event.get("detail");
    let field = |k: &str| detail.and_then(|d| d.get(k)).and_then(Value::as_str);
    detail_type == Some(API_CALL_VIA_CLOUDTRAIL)
        && CHANGE_EVENTS
            .iter()
            .any(|(s, n)| field("eventSource") == Some(*s) && field("eventName") == Some(*n))
}

/// The fields a skipped change names (never the values).
fn dropped(field: &str, why: impl std::fmt::Display) -> Gap {
    sanitize::dropped(EvidencePart::Other, "event", field, why)
}

/// Reads a change event. Never panics: an event that cannot be acted on is a [`Skip`]
/// with the reason.
pub fn change(event: &Value) -> Result<Change, Skip> {
    let raw_id = event.get("id").and_then(Value::as_str);
    let event_id = raw_id.filter(|id| sanitize::is_id(id)).map(str::to_owned);
    let skip = |reason: String| Skip {
        event_id: event_id.clone(),
        reason,
    };
    let id = event_id
        .clone()
        .ok_or_else(|| skip("the event has no valid `id` (letters, digits, `-`, `_`)".into()))?;
    let detail = event
        .get("detail")
        .and_then(Value::as_object)
        .ok_or_else(|| skip("`detail` is not an object".into()))?;
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let source = text(detail, "eventSource").unwrap_or_default();
    let name = text(detail, "eventName").unwrap_or_default();
    let Some(&(_, event_name)) = CHANGE_EVENTS
        .iter()
        .find(|(s, n)| *s == source && *n == name)
    else {
        return Err(skip(format!(
            "`{}` of `{}` is not a change that can break a restore",
            shown(&name),
            shown(&source)
        )));
    };
    // A refused or failed call changed nothing.
    if detail.get("errorCode").is_some_and(|c| !c.is_null()) {
        return Err(skip(format!("{event_name} failed: nothing changed")));
    }
    let mut rejected = Vec::new();
    let account = match event.get("account").and_then(Value::as_str) {
        Some(a) if is_account_id(a) => Some(a.to_owned()),
        Some(_) => {
            rejected.push(dropped("account", "not a 12-digit account id"));
            None
        }
        None => None,
    };
    let params = detail
        .get("requestParameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let target = match source.as_str() {
        "iam.amazonaws.com" => {
            let name = text(&params, "roleName").ok_or_else(|| {
                skip(format!(
                    "{event_name}: `requestParameters.roleName` is missing"
                ))
            })?;
            if !is_iam_name(&name) {
                return Err(skip(format!(
                    "{event_name}: `requestParameters.roleName` ({} bytes) is not an IAM role name: nothing was checked",
                    name.len()
                )));
            }
            ChangeTarget::Role { name }
        }
        "kms.amazonaws.com" => key_target(detail, &params)
            .map_err(|why| skip(format!("{event_name}: {why}: nothing was checked")))?,
        _ => {
            let name = text(&params, "backupVaultName").ok_or_else(|| {
                skip(format!(
                    "{event_name}: `requestParameters.backupVaultName` is missing"
                ))
            })?;
            if !sanitize::is_vault_name(&name) {
                return Err(skip(format!(
                    "{event_name}: `requestParameters.backupVaultName` ({} bytes) is not a backup vault name: nothing was checked",
                    name.len()
                )));
            }
            ChangeTarget::Vault { name }
        }
    };
    let identity = detail.get("userIdentity").and_then(Value::as_object);
    let principal = match identity.and_then(|u| u.get("arn")).and_then(Value::as_str) {
        Some(arn) => match Arn::parse(arn) {
            Ok(a) => Some(a.as_str().to_owned()),
            Err(e) => {
                rejected.push(dropped(
                    "userIdentity.arn",
                    sanitize::refused(&e, arn.len()),
                ));
                None
            }
        },
        // AWS services and some federated callers carry no ARN: say who by type.
        None => identity
            .and_then(|u| {
                u.get("invokedBy")
                    .or_else(|| u.get("type"))
                    .and_then(Value::as_str)
            })
            .filter(|t| {
                t.len() <= 128
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
            })
            .map(str::to_owned),
    };
    let time = match detail.get("eventTime").and_then(Value::as_str) {
        Some(t) if sanitize::is_date(t) => Some(t.to_owned()),
        Some(_) => {
            rejected.push(dropped("eventTime", "not a timestamp"));
            None
        }
        None => None,
    };
    let cloudtrail_event_id = detail
        .get("eventID")
        .and_then(Value::as_str)
        .filter(|e| sanitize::is_guid(e))
        .map(str::to_owned);
    Ok(Change {
        event_id: id,
        cloudtrail_event_id,
        account,
        event_name,
        target,
        principal,
        time,
        rejected,
    })
}

/// The key a KMS call names: the ARN of CloudTrail's `resources` entry for the key when
/// it is one (CloudTrail records the key ARN there for KMS calls on a key), else
/// `requestParameters.keyId` when it is a key id or key ARN. An alias names no key until
/// KMS resolves it, so it is refused.
fn key_target(
    detail: &Map<String, Value>,
    params: &Map<String, Value>,
) -> Result<ChangeTarget, String> {
    let from_resources = detail
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("ARN").and_then(Value::as_str))
        .find_map(|a| KeyArn::parse(a).ok());
    let requested = params.get("keyId").and_then(Value::as_str);
    if let Some(arn) = from_resources {
        let key_id = arn
            .arn()
            .resource()
            .strip_prefix("key/")
            .unwrap_or_default()
            .to_owned();
        return Ok(ChangeTarget::Key {
            key_id,
            key_arn: Some(arn.as_str().to_owned()),
        });
    }
    match requested {
        Some(k) if is_key_id(k) => Ok(ChangeTarget::Key {
            key_id: k.to_owned(),
            key_arn: None,
        }),
        Some(k) => match KeyArn::parse(k) {
            Ok(arn) => Ok(ChangeTarget::Key {
                key_id: arn
                    .arn()
                    .resource()
                    .strip_prefix("key/")
                    .unwrap_or_default()
                    .to_owned(),
                key_arn: Some(arn.as_str().to_owned()),
            }),
            Err(_) => Err(format!(
                "`requestParameters.keyId` ({} bytes) is neither a key id nor a key ARN",
                k.len()
            )),
        },
        None => Err("the record names no key".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::diagnose::readiness::Verdict;
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";

    fn event(source: &str, name: &str, params: Value) -> Value {
        json!({
            "version": "0", "id": "6f1c0a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "detail-type": "AWS API Call via CloudTrail",
            "source": format!("aws.{}", source.split('.').next().unwrap()),
            "account": ACCOUNT, "region": "us-east-1",
            "detail": {
                "eventSource": source, "eventName": name,
                "eventTime": "2026-03-02T09:05:33Z",
                "eventID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice")},
                "requestParameters": params
            }
        })
    }

    fn state(role: &str, keys: &[&str], vault: &str) -> StoredState {
        StoredState {
            key: "k".into(),
            account: ACCOUNT.into(),
            resource_arn: "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-1"
                .into(),
            vault_name: Some(vault.into()),
            resource_type: Some("EFS".into()),
            verdict: Verdict::Ready,
            role_arn: Some(role.into()),
            key_arns: keys.iter().map(|k| k.to_string()).collect(),
            checked_at: 0,
        }
    }

    #[test]
    fn a_role_policy_change_names_the_role_the_principal_and_the_time() {
        let c = change(&event(
            "iam.amazonaws.com",
            "DeleteRolePolicy",
            json!({"roleName": "EfsRestore", "policyName": "efs"}),
        ))
        .unwrap();
        assert_eq!(c.event_name, "DeleteRolePolicy");
        assert_eq!(
            c.target,
            ChangeTarget::Role {
                name: "EfsRestore".into()
            }
        );
        assert_eq!(
            c.principal.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Admin/alice")
        );
        assert_eq!(c.time.as_deref(), Some("2026-03-02T09:05:33Z"));
        assert_eq!(
            c.dedup_key(),
            "111122223333:change:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        );
        let role = |path: &str| format!("arn:aws:iam::{ACCOUNT}:role/{path}");
        assert!(c
            .target
            .touches(&state(&role("service-role/EfsRestore"), &[], "v"), ACCOUNT));
        assert!(!c
            .target
            .touches(&state(&role("EfsRestore2"), &[], "v"), ACCOUNT));
        assert!(!c.target.touches(
            &state("arn:aws:iam::444455556666:role/EfsRestore", &[], "v"),
            ACCOUNT
        ));
    }

    #[test]
    fn a_key_change_takes_the_key_from_the_record_and_matches_by_id() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut e = event(
            "kms.amazonaws.com",
            "DisableKey",
            json!({"keyId": "alias/evil"}),
        );
        e["detail"]["resources"] = json!([{"ARN": arn, "type": "AWS::KMS::Key"}]);
        let c = change(&e).unwrap();
        assert!(
            matches!(&c.target, ChangeTarget::Key { key_id, .. } if key_id == "1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert!(c.target.touches(
            &state("arn:aws:iam::111122223333:role/R", &[arn], "v"),
            ACCOUNT
        ));
        let by_id = change(&event(
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            json!({"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ))
        .unwrap();
        assert!(by_id.target.touches(
            &state("arn:aws:iam::111122223333:role/R", &[arn], "v"),
            ACCOUNT
        ));
        // An alias with no key in `resources` names no key.
        let alias = change(&event(
            "kms.amazonaws.com",
            "PutKeyPolicy",
            json!({"keyId": "alias/x"}),
        ));
        assert!(alias.unwrap_err().reason.contains("neither a key id"));
    }

    #[test]
    fn a_change_touches_rows_of_its_own_account_except_a_key_named_by_arn() {
        const MEMBER: &str = "210987654321";
        let of = |account: &str, role: &str, keys: &[&str], vault: &str| StoredState {
            account: account.into(),
            ..state(role, keys, vault)
        };
        let role = change(&event(
            "iam.amazonaws.com",
            "PutRolePolicy",
            json!({"roleName": "R", "policyName": "p"}),
        ))
        .unwrap();
        let own_role = format!("arn:aws:iam::{ACCOUNT}:role/R");
        let member_role = format!("arn:aws:iam::{MEMBER}:role/R");
        assert!(role
            .target
            .touches(&of(ACCOUNT, &own_role, &[], "v"), ACCOUNT));
        // The member's role of the same name is another role.
        assert!(!role
            .target
            .touches(&of(MEMBER, &member_role, &[], "v"), ACCOUNT));
        assert!(role
            .target
            .touches(&of(MEMBER, &member_role, &[], "v"), MEMBER));
        // Every account has a vault named Default: only this account's is touched.
        let vault = change(&event(
            "backup.amazonaws.com",
            "PutBackupVaultAccessPolicy",
            json!({"backupVaultName": "Default"}),
        ))
        .unwrap();
        assert!(vault
            .target
            .touches(&of(ACCOUNT, &own_role, &[], "Default"), ACCOUNT));
        assert!(!vault
            .target
            .touches(&of(MEMBER, &member_role, &[], "Default"), ACCOUNT));
        // A key of this account that a member's vault uses: the member's row is touched.
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut e = event("kms.amazonaws.com", "PutKeyPolicy", json!({"keyId": arn}));
        e["detail"]["resources"] = json!([{"ARN": arn, "type": "AWS::KMS::Key"}]);
        let key = change(&e).unwrap();
        assert!(key
            .target
            .touches(&of(MEMBER, &member_role, &[arn], "v"), ACCOUNT));
    }

    #[test]
    fn hostile_targets_are_skipped_naming_the_field_never_the_value() {
        for (source, name, params) in [
            (
                "iam.amazonaws.com",
                "PutRolePolicy",
                json!({"roleName": "*"}),
            ),
            (
                "iam.amazonaws.com",
                "AttachRolePolicy",
                json!({"roleName": "a`<!channel>\n"}),
            ),
            (
                "iam.amazonaws.com",
                "DetachRolePolicy",
                json!({"roleName": "x".repeat(65)}),
            ),
            ("iam.amazonaws.com", "UpdateAssumeRolePolicy", json!({})),
            (
                "kms.amazonaws.com",
                "RevokeGrant",
                json!({"keyId": "key/*"}),
            ),
            (
                "backup.amazonaws.com",
                "PutBackupVaultAccessPolicy",
                json!({"backupVaultName": "v<script>"}),
            ),
            (
                "backup.amazonaws.com",
                "PutBackupVaultAccessPolicy",
                json!({"backupVaultName": 7}),
            ),
        ] {
            let skip = change(&event(source, name, params.clone())).unwrap_err();
            assert!(skip.reason.starts_with(name), "{}", skip.reason);
            assert!(
                !skip.reason.contains("<!channel>") && !skip.reason.contains("<script>"),
                "{}",
                skip.reason
            );
        }
        // A hostile principal or time is dropped and said; the change still counts.
        let mut e = event(
            "iam.amazonaws.com",
            "PutRolePolicy",
            json!({"roleName": "R"}),
        );
        e["detail"]["userIdentity"]["arn"] = json!("arn:aws:iam::111122223333:user/<!channel>");
        e["detail"]["eventTime"] = json!("tomorrow`");
        let c = change(&e).unwrap();
        assert_eq!(c.principal, None);
        assert_eq!(c.time, None);
        assert_eq!(c.rejected.len(), 2, "{:#?}", c.rejected);
        assert!(!format!("{:?}", c.rejected).contains("<!channel>"));
        // A failed call changed nothing.
        let mut failed = event(
            "iam.amazonaws.com",
            "PutRolePolicy",
            json!({"roleName": "R"}),
        );
        failed["detail"]["errorCode"] = json!("AccessDenied");
        assert!(change(&failed)
            .unwrap_err()
            .reason
            .contains("nothing changed"));
        // Not an object at all.
        assert!(change(&json!([1, 2])).is_err());
        assert!(change(&json!({"id": "x", "detail": "no"})).is_err());
    }

    #[test]
    fn the_sample_events_read_as_they_should() {
        let scheduled_event: Value =
            serde_json::from_str(include_str!("../../events/readiness-scheduled.json")).unwrap();
        assert!(is_scheduled(&scheduled_event));
        assert!(scheduled(&scheduled_event).is_ok());
        let deletion: Value =
            serde_json::from_str(include_str!("../../events/change-delete-role-policy.json"))
                .unwrap();
        assert!(is_change(&deletion));
        let c = change(&deletion).unwrap();
        assert_eq!(
            c.target,
            ChangeTarget::Role {
                name: "BackupRestoreRole".into()
            }
        );
        assert!(c.rejected.is_empty(), "{:#?}", c.rejected);
    }

    #[test]
    fn only_the_listed_calls_are_changes() {
        assert!(is_change(&event(
            "iam.amazonaws.com",
            "PutRolePolicy",
            json!({})
        )));
        assert!(is_change(&event(
            "backup.amazonaws.com",
            "PutBackupVaultAccessPolicy",
            json!({})
        )));
        assert!(!is_change(&event(
            "backup.amazonaws.com",
            "StartRestoreJob",
            json!({})
        )));
        assert!(!is_change(&event(
            "iam.amazonaws.com",
            "CreateRole",
            json!({})
        )));
        assert!(!is_change(&event(
            "kms.amazonaws.com",
            "PutRolePolicy",
            json!({})
        )));
    }

    #[test]
    fn the_scheduled_input_is_exactly_the_templates() {
        assert_eq!(
            scheduled(&json!({"restore-doctor": "scheduled-readiness"})),
            Ok(ScheduledRun::default())
        );
        assert_eq!(
            scheduled(&json!({"restore-doctor": "scheduled-readiness", "scheduledTime": "2026-03-02T03:00:00Z"}))
                .unwrap()
                .scheduled_time
                .as_deref(),
            Some("2026-03-02T03:00:00Z")
        );
        for bad in [
            json!({"restore-doctor": "delete-everything"}),
            json!({"restore-doctor": 1}),
            json!({"restore-doctor": "scheduled-readiness", "roles": ["*"]}),
            json!({"restore-doctor": "scheduled-readiness", "scheduledTime": "<aws.scheduler.scheduled-time>"}),
        ] {
            assert!(is_scheduled(&bad));
            let e = scheduled(&bad).unwrap_err();
            assert!(e.to_string().contains("expected"), "{e}");
        }
        assert!(!is_scheduled(&json!({"source": "aws.backup"})));
    }
}
