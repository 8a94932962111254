//! The facts the diagnosis works from, read once from the evidence and its trigger
//! event, whichever carries them (the restore job, the event detail, CloudTrail's
//! request parameters, the recovery point).

use serde_json::Value;

use super::evidence::{Evidence, EvidencePart};
use super::report::Unverified;
use super::validated::{
    is_account_id, is_region, is_vault_name, shown, vault_name_from_arn, Arn, RoleArn,
};

/// What started the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A "Restore Job State Change" event with status FAILED.
    RestoreJobFailed,
    /// A CloudTrail event for a StartRestoreJob call AWS refused.
    StartRestoreJobDenied,
    /// A readiness check ([`READINESS_CHECK`]): no restore ran, nothing failed. Every
    /// requirement of the restore path is checked, and no cause is taken from a message
    /// (any message the evidence carries is ignored).
    Readiness,
    /// Something else: diagnosed as far as the evidence allows.
    Unknown,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::RestoreJobFailed => "restoreJobFailed",
            Trigger::StartRestoreJobDenied => "startRestoreJobDenied",
            Trigger::Readiness => "readiness",
            Trigger::Unknown => "unknown",
        }
    }
}

/// `detail-type` of the synthetic event a readiness check's evidence carries: "if this
/// resource had to be restored now, with the role that would be used, would it work?".
/// Its `detail` holds what the restore would use (`recoveryPointArn`, `backupVaultArn`,
/// `iamRoleArn`, `resourceType`, `sourceResourceArn`), each checked here as any other
/// event value. No EventBridge rule ever delivers it.
pub const READINESS_CHECK: &str = "Restore Readiness Check";

/// Facts about the restore, each from the most authoritative place that has it, each
/// validated: a value that fails its format is dropped and said in `rejected`, so it is
/// reported as unverified and can never fill a grant.
#[derive(Debug, Clone)]
pub struct Facts {
    pub trigger: Trigger,
    pub partition: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub restore_job_id: Option<String>,
    pub resource_type: Option<String>,
    pub role_arn: Option<String>,
    pub caller_arn: Option<String>,
    pub recovery_point_arn: Option<String>,
    pub vault_name: Option<String>,
    pub source_resource_arn: Option<String>,
    pub message: Option<String>,
    /// The AMI an EC2 restore launches from: the recovery point itself (an EC2 recovery
    /// point ARN is the AMI's ARN), as read from AWS Backup.
    pub image_arn: Option<Arn>,
    /// Values that failed validation, as unverified entries.
    pub rejected: Vec<Unverified>,
}

/// The longest failure message kept (AWS Backup status messages and CloudTrail error
/// messages are a few hundred characters; an encoded authorization message a few KB).
pub const MAX_MESSAGE_CHARS: usize = 16_384;
/// The longest AWS Backup resource type name kept (the longest documented one,
/// `Storage Gateway`, has 15 characters).
pub const MAX_RESOURCE_TYPE_CHARS: usize = 64;

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn first<I: IntoIterator<Item = Option<String>>>(candidates: I) -> Option<String> {
    candidates.into_iter().flatten().find(|s| !s.is_empty())
}

/// The account in an ARN (`arn:partition:service:region:account:...`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|s| !s.is_empty())
}

/// The Region in an ARN.
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|s| !s.is_empty())
}

/// The partition in an ARN (`aws`, `aws-cn`, `aws-us-gov`).
pub fn arn_partition(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split(':')
        .next()
        .filter(|s| !s.is_empty())
}

/// The last path segment of a role ARN: its name.
pub fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

/// A restore job id: the ids AWS Backup returns are UUID-like (letters, digits, `-`).
pub fn is_restore_job_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Validation of one fact: keeps the first candidate, or drops it with a reason.
struct Checker {
    rejected: Vec<Unverified>,
}

impl Checker {
    fn keep(
        &mut self,
        what: &str,
        part: EvidencePart,
        value: Option<String>,
        valid: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let v = value?;
        match valid(&v) {
            Ok(()) => Some(v),
            Err(why) => {
                self.rejected.push(Unverified::new(
                    part,
                    format!("the {what} `{}`", shown(&v)),
                    format!("{why}: it was ignored, and nothing that depends on it was checked or granted"),
                ));
                None
            }
        }
    }
}

/// A validation from a predicate and the reason it gives when the value fails.
fn rule(valid: fn(&str) -> bool, why: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |v| {
        if valid(v) {
            Ok(())
        } else {
            Err(why.to_string())
        }
    }
}

/// An AWS Backup resource type name (`EFS`, `Storage Gateway`, ...).
fn is_resource_type(v: &str) -> bool {
    v.chars().count() <= MAX_RESOURCE_TYPE_CHARS
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '_')
}

fn arn_ok(v: &str) -> Result<(), String> {
    Arn::parse(v).map(|_| ()).map_err(|e| e.why)
}

impl Facts {
    pub fn from_evidence(e: &Evidence) -> Facts {
        let t = &e.trigger;
        let detail_type = str_at(t, "/detail-type").unwrap_or("");
        let event_name = str_at(t, "/detail/eventName").unwrap_or("");
        let trigger = if detail_type == "Restore Job State Change" {
            Trigger::RestoreJobFailed
        } else if detail_type == "AWS API Call via CloudTrail" && event_name == "StartRestoreJob" {
            Trigger::StartRestoreJobDenied
        } else if detail_type == READINESS_CHECK {
            Trigger::Readiness
        } else {
            Trigger::Unknown
        };
        let job = e.restore_job.as_ref();
        let rp = e.recovery_point.as_ref();
        let params =
            |key: &str| str_at(t, &format!("/detail/requestParameters/{key}")).map(str::to_string);
        let mut c = Checker { rejected: vec![] };

        let role_arn = c.keep(
            "restore role ARN",
            EvidencePart::RestoreRole,
            first([
                job.and_then(|j| j.iam_role_arn.clone()),
                str_at(t, "/detail/iamRoleArn").map(str::to_string),
                params("iamRoleArn"),
                e.restore_role.as_ref().map(|r| r.arn.clone()),
            ]),
            |v| RoleArn::parse(v).map(|_| ()).map_err(|e| e.why),
        );
        let caller_arn = c.keep(
            "caller ARN",
            EvidencePart::Caller,
            first([
                e.caller.as_ref().map(|c| c.arn.clone()),
                str_at(t, "/detail/userIdentity/sessionContext/sessionIssuer/arn")
                    .map(str::to_string),
                str_at(t, "/detail/userIdentity/arn").map(str::to_string),
            ]),
            arn_ok,
        );
        let recovery_point_arn = c.keep(
            "recovery point ARN",
            EvidencePart::RecoveryPoint,
            first([
                job.and_then(|j| j.recovery_point_arn.clone()),
                rp.map(|r| r.recovery_point_arn.clone()),
                str_at(t, "/detail/recoveryPointArn").map(str::to_string),
                params("recoveryPointArn"),
            ]),
            arn_ok,
        );
        let vault_arn = first([
            job.and_then(|j| j.backup_vault_arn.clone()),
            rp.and_then(|r| r.backup_vault_arn.clone()),
            str_at(t, "/detail/backupVaultArn").map(str::to_string),
        ]);
        let vault_name = c.keep(
            "backup vault name",
            EvidencePart::VaultAccessPolicy,
            first([
                e.vault_access_policy
                    .as_ref()
                    .map(|v| v.backup_vault_name.clone()),
                rp.and_then(|r| r.backup_vault_name.clone()),
                vault_arn.as_deref().and_then(vault_name_from_arn),
            ]),
            rule(is_vault_name, "not a backup vault name"),
        );
        let account = c.keep(
            "account id",
            EvidencePart::RestoreJob,
            first([
                e.account_id.clone(),
                job.and_then(|j| j.account_id.clone()),
                str_at(t, "/account").map(str::to_string),
                str_at(t, "/detail/recipientAccountId").map(str::to_string),
                role_arn
                    .as_deref()
                    .and_then(arn_account)
                    .map(str::to_string),
            ]),
            rule(is_account_id, "not a 12-digit account id"),
        );
        let region = c.keep(
            "Region",
            EvidencePart::RestoreJob,
            first([
                e.region.clone(),
                str_at(t, "/region").map(str::to_string),
                str_at(t, "/detail/awsRegion").map(str::to_string),
                recovery_point_arn
                    .as_deref()
                    .and_then(arn_region)
                    .map(str::to_string),
            ]),
            rule(is_region, "not a Region code"),
        );
        let partition = first([
            role_arn
                .as_deref()
                .and_then(arn_partition)
                .map(str::to_string),
            recovery_point_arn
                .as_deref()
                .and_then(arn_partition)
                .map(str::to_string),
        ])
        .unwrap_or_else(|| "aws".to_string());
        let resource_type = c.keep(
            "resource type",
            EvidencePart::RestoreJob,
            first([
                job.and_then(|j| j.resource_type.clone()),
                str_at(t, "/detail/resourceType").map(str::to_string),
                params("resourceType"),
                rp.and_then(|r| r.resource_type.clone()),
            ]),
            rule(is_resource_type, "not an AWS Backup resource type name"),
        );
        // Nothing failed in a readiness check: a message found anyway (an older restore
        // job's) must not decide the cause.
        let message = (trigger != Trigger::Readiness)
            .then(|| {
                first([
                    job.and_then(|j| j.status_message.clone()),
                    str_at(t, "/detail/statusMessage").map(str::to_string),
                    str_at(t, "/detail/errorMessage").map(str::to_string),
                ])
            })
            .flatten()
            .map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect());
        let restore_job_id = c.keep(
            "restore job id",
            EvidencePart::RestoreJob,
            first([
                job.map(|j| j.restore_job_id.clone()),
                str_at(t, "/detail/restoreJobId").map(str::to_string),
            ]),
            rule(is_restore_job_id, "not a restore job id"),
        );
        let source_resource_arn = c.keep(
            "source resource ARN",
            EvidencePart::RecoveryPoint,
            first([
                job.and_then(|j| j.source_resource_arn.clone()),
                rp.and_then(|r| r.resource_arn.clone()),
                str_at(t, "/detail/sourceResourceArn").map(str::to_string),
            ]),
            arn_ok,
        );
        let image_arn = image_of(e, trigger, region.as_deref());
        Facts {
            trigger,
            partition,
            account,
            region,
            restore_job_id,
            resource_type,
            role_arn,
            caller_arn,
            recovery_point_arn,
            vault_name,
            source_resource_arn,
            message,
            image_arn,
            rejected: c.rejected,
        }
    }
}

/// The AMI of an EC2 restore, from what AWS Backup itself reported: the recovery point
/// (DescribeRecoveryPoint, DescribeRestoreJob), or the `resources` of a Restore Job State
/// Change event (written by AWS Backup). Never from a refused call's request parameters.
fn image_of(e: &Evidence, trigger: Trigger, region: Option<&str>) -> Option<Arn> {
    let from_event = (trigger == Trigger::RestoreJobFailed)
        .then(|| {
            e.trigger
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|r| r.contains(":image/"))
                .map(str::to_string)
        })
        .flatten();
    [
        e.recovery_point
            .as_ref()
            .map(|r| r.recovery_point_arn.clone()),
        e.restore_job
            .as_ref()
            .and_then(|j| j.recovery_point_arn.clone()),
        from_event,
    ]
    .into_iter()
    .flatten()
    .filter_map(|s| Arn::parse(&s).ok())
    .find(|a| {
        a.service() == "ec2"
            && Some(a.region()) == region
            && a.resource()
                .strip_prefix("image/ami-")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

/// The evidence gap recorded for a part, if any (its error text).
pub fn gap_for(e: &Evidence, part: EvidencePart) -> Option<String> {
    e.gaps
        .iter()
        .find(|g| g.part == part)
        .map(|g| format!("{} failed: {}", g.call, g.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (#8 section 4): values from the event reached the report, the patch
    /// and the alert as they came.
    #[test]
    fn hostile_event_values_are_dropped_and_said() {
        let e = Evidence {
            trigger: serde_json::json!({
                "detail-type": "Restore Job State Change",
                "account": "*",
                "region": "us-east-*",
                "detail": {
                    "restoreJobId": "job`\n<!channel>",
                    "iamRoleArn": "arn:aws:iam::111122223333:role/a`b <https://evil.example|Re-authenticate>",
                    "resourceType": "E".repeat(88_000),
                    "statusMessage": "x".repeat(100_000),
                    "recoveryPointArn": format!("arn:aws:backup:us-east-1:111122223333:recovery-point:{}", "a".repeat(70_000)),
                }
            }),
            ..Default::default()
        };
        let f = Facts::from_evidence(&e);
        assert_eq!(f.account, None);
        assert_eq!(f.region, None);
        assert_eq!(f.restore_job_id, None);
        assert_eq!(f.role_arn, None);
        assert_eq!(f.resource_type, None);
        assert_eq!(f.recovery_point_arn, None);
        assert_eq!(
            f.message.map(|m| m.chars().count()),
            Some(MAX_MESSAGE_CHARS)
        );
        assert_eq!(f.rejected.len(), 6, "{:#?}", f.rejected);
        for r in &f.rejected {
            assert!(r.what.chars().count() < 160, "{}", r.what);
            // Only the two backticks that quote the value: none from the value itself.
            assert!(
                !r.what.contains('\n') && r.what.matches('`').count() == 2,
                "{}",
                r.what
            );
        }
    }

    #[test]
    fn valid_event_values_are_kept() {
        let e = Evidence {
            trigger: serde_json::json!({
                "detail-type": "Restore Job State Change",
                "account": "111122223333",
                "region": "eu-west-1",
                "detail": {
                    "restoreJobId": "4A3B2C1D-0E9F-8A7B-6C5D-4E3F2A1B0C9D",
                    "iamRoleArn": "arn:aws:iam::111122223333:role/service-role/Backup",
                    "resourceType": "Storage Gateway",
                }
            }),
            ..Default::default()
        };
        let f = Facts::from_evidence(&e);
        assert_eq!(f.account.as_deref(), Some("111122223333"));
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(f.resource_type.as_deref(), Some("Storage Gateway"));
        assert!(f.role_arn.is_some() && f.restore_job_id.is_some());
        assert!(f.rejected.is_empty(), "{:#?}", f.rejected);
    }
}
