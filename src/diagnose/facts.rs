//! The facts the diagnosis works from, read once from the evidence and its trigger
//! event, whichever carries them (the restore job, the event detail, CloudTrail's
//! request parameters, the recovery point).

use serde_json::Value;

use super::evidence::{Evidence, EvidencePart};

/// What started the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A "Restore Job State Change" event with status FAILED.
    RestoreJobFailed,
    /// A CloudTrail event for a StartRestoreJob call AWS refused.
    StartRestoreJobDenied,
    /// Something else: diagnosed as far as the evidence allows.
    Unknown,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::RestoreJobFailed => "restoreJobFailed",
            Trigger::StartRestoreJobDenied => "startRestoreJobDenied",
            Trigger::Unknown => "unknown",
        }
    }
}

/// Facts about the restore, each from the most authoritative place that has it.
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
    /// The AMI the EC2 restore launches from, when the event names it.
    pub image_arn: Option<String>,
}

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

/// The vault name in a vault ARN (`...:backup-vault:NAME`).
pub fn vault_name_from_arn(vault_arn: &str) -> Option<String> {
    vault_arn
        .split_once(":backup-vault:")
        .map(|(_, name)| name.to_string())
        .filter(|n| !n.is_empty())
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
        } else {
            Trigger::Unknown
        };
        let job = e.restore_job.as_ref();
        let rp = e.recovery_point.as_ref();
        let params =
            |key: &str| str_at(t, &format!("/detail/requestParameters/{key}")).map(str::to_string);

        let role_arn = first([
            job.and_then(|j| j.iam_role_arn.clone()),
            str_at(t, "/detail/iamRoleArn").map(str::to_string),
            params("iamRoleArn"),
            e.restore_role.as_ref().map(|r| r.arn.clone()),
        ]);
        let caller_arn = first([
            e.caller.as_ref().map(|c| c.arn.clone()),
            str_at(t, "/detail/userIdentity/sessionContext/sessionIssuer/arn").map(str::to_string),
            str_at(t, "/detail/userIdentity/arn").map(str::to_string),
        ]);
        let recovery_point_arn = first([
            job.and_then(|j| j.recovery_point_arn.clone()),
            rp.map(|r| r.recovery_point_arn.clone()),
            str_at(t, "/detail/recoveryPointArn").map(str::to_string),
            params("recoveryPointArn"),
        ]);
        let vault_arn = first([
            job.and_then(|j| j.backup_vault_arn.clone()),
            rp.and_then(|r| r.backup_vault_arn.clone()),
            str_at(t, "/detail/backupVaultArn").map(str::to_string),
        ]);
        let vault_name = first([
            e.vault_access_policy
                .as_ref()
                .map(|v| v.backup_vault_name.clone()),
            rp.and_then(|r| r.backup_vault_name.clone()),
            vault_arn.as_deref().and_then(vault_name_from_arn),
        ]);
        let account = first([
            e.account_id.clone(),
            job.and_then(|j| j.account_id.clone()),
            str_at(t, "/account").map(str::to_string),
            str_at(t, "/detail/recipientAccountId").map(str::to_string),
            role_arn
                .as_deref()
                .and_then(arn_account)
                .map(str::to_string),
        ]);
        let region = first([
            e.region.clone(),
            str_at(t, "/region").map(str::to_string),
            str_at(t, "/detail/awsRegion").map(str::to_string),
            recovery_point_arn
                .as_deref()
                .and_then(arn_region)
                .map(str::to_string),
        ]);
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
        let resource_type = first([
            job.and_then(|j| j.resource_type.clone()),
            str_at(t, "/detail/resourceType").map(str::to_string),
            params("resourceType"),
            rp.and_then(|r| r.resource_type.clone()),
        ]);
        let message = first([
            job.and_then(|j| j.status_message.clone()),
            str_at(t, "/detail/statusMessage").map(str::to_string),
            str_at(t, "/detail/errorMessage").map(str::to_string),
        ]);
        let image_arn = t
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|r| r.contains(":image/"))
            .map(str::to_string);
        Facts {
            trigger,
            partition,
            account,
            region,
            restore_job_id: first([
                job.map(|j| j.restore_job_id.clone()),
                str_at(t, "/detail/restoreJobId").map(str::to_string),
            ]),
            resource_type,
            role_arn,
            caller_arn,
            recovery_point_arn,
            vault_name,
            source_resource_arn: first([
                job.and_then(|j| j.source_resource_arn.clone()),
                rp.and_then(|r| r.resource_arn.clone()),
                str_at(t, "/detail/sourceResourceArn").map(str::to_string),
            ]),
            message,
            image_arn,
        }
    }
}

/// The evidence gap recorded for a part, if any (its error text).
pub fn gap_for(e: &Evidence, part: EvidencePart) -> Option<String> {
    e.gaps
        .iter()
        .find(|g| g.part == part)
        .map(|g| format!("{} failed: {}", g.call, g.error))
}
