//! The evidence: everything gathered about one failed restore, as plain serde data.
//!
//! The Lambda writes it (and logs it); `restore-doctor diagnose --evidence` reads it, so
//! any alert can be reproduced offline. Policy documents are kept as raw JSON here and
//! parsed only during diagnosis: a malformed document must not make the whole evidence
//! unreadable, it becomes an "unverified" finding instead.
//!
//! Format version [`SCHEMA_VERSION`]; the JSON Schema is `schema/evidence.schema.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the evidence format written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything known about one failed restore. Only `trigger` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evidence {
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    /// The EventBridge event that started it all, rebuilt by the Lambda from the values
    /// that passed their checks (what failed is a gap); read as given offline.
    pub trigger: serde_json::Value,
    /// Account and Region the restore ran in (from the event when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// iam:ListAccountAliases: the account's alias, shown next to its id when readable
    /// (informative only: a failure to read it is not a gap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    /// backup:DescribeRestoreJob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_job: Option<RestoreJob>,
    /// backup:GetRestoreJobMetadata (the metadata the restore was started with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_metadata: Option<BTreeMap<String, String>>,
    /// backup:DescribeRecoveryPoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point: Option<RecoveryPoint>,
    /// The `DecodedMessage` of sts:DecodeAuthorizationMessage, parsed from its JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_message: Option<serde_json::Value>,
    /// The role AWS Backup assumed for the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_role: Option<Principal>,
    /// The identity that called StartRestoreJob, when the failure is the caller's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Principal>,
    /// Instance profiles named in the restore metadata (EC2), with their roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_profiles: Vec<InstanceProfile>,
    /// kms:DescribeKey of every key the restore metadata names: how each key id, alias
    /// or ARN resolved. A target key counts only once resolved here (or read with
    /// kms:GetKeyPolicy): a key named in the metadata is a claim, not a fact. The
    /// recovery point's key is described too (reference = its ARN), for its
    /// `KeyManager`: an AWS managed key cannot be shared or have its policy edited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kms_keys: Vec<KmsKey>,
    /// backup:GetBackupVaultAccessPolicy of the recovery point's vault. `None` with no gap
    /// recorded means the vault has no access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_access_policy: Option<VaultPolicy>,
    /// kms:GetKeyPolicy (policy name `default`) of every key involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_policies: Vec<KeyPolicy>,
    /// Service control policies, one entry per level of the organization (root, OUs,
    /// account). `None` means not collected: the SCP layer is then reported unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_control_policies: Option<Vec<OrgLevelDocs>>,
    /// Resource control policies, one entry per level above the failure's account (root,
    /// OUs, account), read like the SCPs. `None` means not collected: the RCP layer is
    /// then reported unverified. They bound only the resources of that account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_control_policies: Option<Vec<OrgLevelDocs>>,
    /// What could not be collected, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

fn default_schema_version() -> u32 {
    SCHEMA_VERSION
}

/// The fields of backup:DescribeRestoreJob that the diagnosis uses: camelCase as the
/// Lambda writes them, or PascalCase as `aws backup describe-restore-job` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
// Not `deny_unknown_fields`: pasted aws-cli output carries every field AWS returns.
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    #[serde(alias = "RestoreJobId")]
    pub restore_job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "AccountId")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "Status")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "StatusMessage")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "ResourceType")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "IamRoleArn")]
    pub iam_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "RecoveryPointArn")]
    pub recovery_point_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "BackupVaultArn")]
    pub backup_vault_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "SourceResourceArn")]
    pub source_resource_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "CreatedResourceArn")]
    pub created_resource_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "CreationDate")]
    pub creation_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "CompletionDate")]
    pub completion_date: Option<String>,
}

/// The fields of backup:DescribeRecoveryPoint that the diagnosis uses (camelCase, or
/// PascalCase as `aws backup describe-recovery-point` prints them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
// Not `deny_unknown_fields`: pasted aws-cli output carries every field AWS returns.
#[serde(rename_all = "camelCase")]
pub struct RecoveryPoint {
    #[serde(alias = "RecoveryPointArn")]
    pub recovery_point_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "BackupVaultName")]
    pub backup_vault_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "BackupVaultArn")]
    pub backup_vault_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "ResourceArn")]
    pub resource_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "ResourceType")]
    pub resource_type: Option<String>,
    /// The KMS key the backup is encrypted with (vault key for fully managed types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "EncryptionKeyArn")]
    pub encryption_key_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "IsEncrypted")]
    pub is_encrypted: Option<bool>,
    /// `AWS_OWNED_KMS_KEY` or `CUSTOMER_MANAGED_KMS_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "EncryptionKeyType")]
    pub encryption_key_type: Option<String>,
}

/// An IAM principal (the restore role or the caller) with every policy that applies to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Principal {
    /// The IAM ARN (`arn:aws:iam::111122223333:role/path/Name`, or a user ARN). For
    /// an assumed-role caller, the role's ARN; the session ARN goes to `session_arn`.
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_arn: Option<String>,
    /// Inline and managed identity policies.
    #[serde(default)]
    pub policies: Vec<PolicyDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_boundary: Option<PolicyDoc>,
    /// The role's trust policy (AssumeRolePolicyDocument), URL-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<serde_json::Value>,
    /// Tags on the principal (also the `aws:PrincipalTag/*` context keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Which account it was read from and through which role (organization mode reads
    /// other accounts through their reader roles). Absent in evidence written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<ReadFrom>,
}

/// Where an identity policy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PolicyKind {
    Inline,
    Managed,
    AwsManaged,
    PermissionBoundary,
}

/// One policy document with its name (inline) or ARN (managed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub kind: PolicyKind,
    /// The policy JSON, already URL-decoded and parsed as JSON (not yet validated as IAM).
    pub document: serde_json::Value,
}

/// iam:GetInstanceProfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceProfile {
    pub arn: String,
    pub name: String,
    #[serde(default)]
    pub role_arns: Vec<String>,
    /// iam:GetRole of each role in the profile: what auto-attach needs before it grants
    /// iam:PassRole on it (the role's own opt-in tag and its trust policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleFacts>,
}

/// A role's trust policy and tags (iam:GetRole), without its permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleFacts {
    pub arn: String,
    /// AssumeRolePolicyDocument, URL-decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// kms:DescribeKey of one key reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KmsKey {
    /// The key as the restore metadata named it (key id, alias, alias ARN or key ARN).
    pub reference: String,
    /// `KeyMetadata.Arn`.
    pub key_arn: String,
    /// `KeyMetadata.KeyManager`: `AWS` or `CUSTOMER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    /// `KeyMetadata.KeyState`: `Enabled`, `Disabled`, `PendingDeletion`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
}

/// The vault access policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultPolicy {
    pub backup_vault_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_vault_arn: Option<String>,
    pub document: serde_json::Value,
    /// Which account it was read from and through which role (organization mode reads
    /// other accounts through their reader roles). Absent in evidence written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<ReadFrom>,
}

/// A KMS key policy and the key it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPolicy {
    pub key_arn: String,
    pub document: serde_json::Value,
    /// Which account it was read from and through which role (organization mode reads
    /// other accounts through their reader roles). Absent in evidence written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<ReadFrom>,
}

/// Where a policy was read: the account that owns it, and the role the read acted as.
/// A key in the central backup account is read there, through that account's reader
/// role, not through the failing account's, which KMS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadFrom {
    /// The 12-digit account the policy was read from.
    pub account_id: String,
    /// The role assumed to read it (a `RestoreDoctorReader`); absent: the reading
    /// function's own credentials (its own account, or a single-account deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// SCPs (or RCPs) at one organization level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgLevelDocs {
    pub org_identifier: String,
    pub policies: Vec<PolicyDoc>,
}

/// Something that could not be collected. `part` says which part of the evidence is
/// missing so the diagnosis can say exactly what it could not verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gap {
    pub part: EvidencePart,
    /// The call that failed, e.g. `kms:GetKeyPolicy arn:aws:kms:...:key/...`.
    pub call: String,
    /// The error, e.g. `AccessDeniedException: User ... is not authorized ...`.
    pub error: String,
}

/// The parts of the evidence a gap can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EvidencePart {
    RestoreJob,
    RestoreMetadata,
    RecoveryPoint,
    DecodedMessage,
    RestoreRole,
    Caller,
    InstanceProfile,
    VaultAccessPolicy,
    KeyPolicy,
    ServiceControlPolicies,
    ResourceControlPolicies,
    Other,
}

impl Evidence {
    /// Reads evidence from JSON text. A misspelled field is an error, never ignored: a
    /// `restoreRol` silently dropped would turn an AWS-named denial into "nothing
    /// missing". Errors name the field's path, the closest known name, and the line.
    pub fn from_json(text: &str) -> Result<Self, EvidenceError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let evidence: Evidence = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = (inner.line(), inner.column());
            let mut reason = inner.to_string();
            // serde_json appends " at line L column C": said once, below, with the excerpt.
            if let Some(i) = reason.rfind(" at line ") {
                reason.truncate(i);
            }
            if let Some(hint) = closest_field(&reason) {
                reason.push_str(&format!("; did you mean `{hint}`?"));
            }
            EvidenceError::Malformed {
                path: if path == "." {
                    String::new()
                } else {
                    format!(" at `{path}`")
                },
                line,
                column,
                reason,
                excerpt: excerpt(text, line, column),
            }
        })?;
        if evidence.schema_version > SCHEMA_VERSION {
            return Err(EvidenceError::NewerVersion(evidence.schema_version));
        }
        check_aws_shaped_fields(text)?;
        if evidence.trigger.as_object().is_none_or(|o| o.is_empty()) {
            return Err(EvidenceError::NoTrigger);
        }
        Ok(evidence)
    }
}

/// `restoreJob` and `recoveryPoint` take aws-cli output whole (every PascalCase field AWS
/// returns), so serde cannot reject their unknown fields; a camelCase one, though, is
/// ours and misspelled (`iamRoleArm`): rejected like any other unknown field.
fn check_aws_shaped_fields(text: &str) -> Result<(), EvidenceError> {
    let Ok(serde_json::Value::Object(top)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(());
    };
    let known = |schema: schemars::Schema| -> Vec<String> {
        schema
            .get("properties")
            .and_then(serde_json::Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    for (field, names) in [
        ("restoreJob", known(schemars::schema_for!(RestoreJob))),
        ("recoveryPoint", known(schemars::schema_for!(RecoveryPoint))),
    ] {
        let Some(serde_json::Value::Object(obj)) = top.get(field) else {
            continue;
        };
        let unknown = obj.keys().find(|k| {
            k.starts_with(|c: char| c.is_ascii_lowercase()) && !names.iter().any(|n| n == *k)
        });
        if let Some(k) = unknown {
            let mut reason = format!(
                "unknown field `{k}`, expected one of {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(hint) = closest_field(&reason) {
                reason.push_str(&format!("; did you mean `{hint}`?"));
            }
            // Where the key is written (its first occurrence), for the line and excerpt.
            let at = text.find(&format!("\"{k}\"")).unwrap_or(0);
            let before = text.get(..at).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return Err(EvidenceError::Malformed {
                path: format!(" at `{field}.{k}`"),
                line,
                column,
                reason,
                excerpt: excerpt(text, line, column),
            });
        }
    }
    Ok(())
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": the known name closest
/// to `x`, when one is close enough to be a typo.
fn closest_field(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|known| {
            (
                strsim::jaro_winkler(&unknown.to_lowercase(), &known.to_lowercase()),
                known,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, known)| known.to_string())
}

/// At most 60 characters of the offending line, around the column, on one line.
fn excerpt(text: &str, line: usize, column: usize) -> String {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let chars: Vec<char> = l.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let from = at.saturating_sub(40);
    let to = (at + 20).min(chars.len());
    let snippet: String = chars.get(from..to).unwrap_or_default().iter().collect();
    let snippet = snippet.trim();
    let shown: String = snippet
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{}{shown}{}",
        if from > 0 { "…" } else { "" },
        if to < chars.len() { "…" } else { "" }
    )
}

/// Evidence that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence is not valid{path} (line {line}, column {column}: `{excerpt}`): {reason}")]
    Malformed {
        /// ` at `.restoreJob.status``, or empty at the top.
        path: String,
        line: usize,
        column: usize,
        reason: String,
        excerpt: String,
    },
    #[error(
        "evidence has schemaVersion {0}, newer than this build understands ({SCHEMA_VERSION})"
    )]
    NewerVersion(u32),
    #[error("evidence has no `trigger` event: give the EventBridge event the restore failed with (an object with `detail-type` and `detail`)")]
    NoTrigger,
}
