//! The diagnosis report: the one structure that the CLI prints as JSON, the Lambda
//! publishes (SNS `sqs`/`lambda` deliveries) and the renderers turn into text.
//!
//! Format version [`REPORT_SCHEMA_VERSION`]; the JSON Schema is `schema/report.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::evidence::EvidencePart;
use crate::policy::{Layer, StatementRef};

/// Version of the report format written by this build. 2: new causes (`unexplainedDenial`,
/// the failure classes), `failure.class`, `unexplainedDenial`, `boundaryFix`,
/// `patch.managed`/`mergedWithExisting`, `keyPolicyFixes[].statementsOnly`,
/// `restore.accountAlias`; a reader that matches causes exhaustively must learn them.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// The outcome of diagnosing one failed restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    /// The restore in question, as far as it is known.
    pub restore: RestoreSummary,
    /// The failure message and what it decoded to.
    pub failure: Failure,
    /// The primary cause, for filtering and for the one-line summary.
    pub cause: Cause,
    /// The cause in one sentence an on-call engineer reads first.
    pub summary: String,
    /// Every missing permission and every blocker, most important first.
    pub missing: Vec<Finding>,
    /// What could not be verified, and why. Never read these as "fine".
    pub unverified: Vec<Unverified>,
    /// The least-privilege patch for the restore role (and caller), or `None` when
    /// nothing a role patch can fix is missing.
    pub patch: Option<Patch>,
    /// Patches for further principals (e.g. the caller of StartRestoreJob when the
    /// restore role needs one too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_patches: Vec<Patch>,
    /// True when re-evaluating with the patch applied allows every required action
    /// that a role patch can fix, and nothing else blocks.
    pub verified: bool,
    /// The re-evaluation behind `verified`.
    pub verification: Verification,
    /// For a vault access policy that denies the restore: the corrected policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_policy_fix: Option<VaultPolicyFix>,
    /// For KMS key policies that block the role: the key policy with the grant added,
    /// for the key administrators to apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_policy_fixes: Vec<KeyPolicyFix>,
    /// For a permissions boundary that blocks the restore role: what the boundary must
    /// allow too, for whoever manages it (a role patch alone cannot fix that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_fix: Option<BoundaryFix>,
    /// Opt-in auto-remediation decision, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_attach: Option<AutoAttach>,
    /// For a denial that no collected policy explains (`unexplainedDenial`): what was
    /// checked and what could not be, so the reader knows where to look next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexplained_denial: Option<UnexplainedDenial>,
}

/// What the diagnosis of a denial it could not explain did and did not look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnexplainedDenial {
    /// Requirements evaluated, all allowed (`action on resource for principal`).
    pub checked: Vec<String>,
    /// Policy layers AWS evaluates that the evidence did not let us evaluate.
    pub not_verified: Vec<String>,
    /// The most likely place to look next.
    pub next_step: String,
}

/// Identifying facts about the failed restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The account's alias, when it was read and is a valid alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    /// The OU (or root) directly above the account, when the organization's policies
    /// were read: subscribers route alerts by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// AWS Backup resource type (`EFS`, `EC2`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_vault_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_resource_arn: Option<String>,
    /// `restoreJobFailed` or `startRestoreJobDenied`.
    pub trigger: String,
}

/// How the failure message read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub kind: FailureKind,
    /// The denied request the message names (decoded or parsed), when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<DeniedRequest>,
    /// The non-permission failure class AWS's error code or text belongs to, with
    /// AWS's guidance for it (`data/failure-classes.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClassification>,
}

/// Failures that are not about permissions, by what must change for the restore to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailureClass {
    /// A VPC, subnet, security group or subnet group that is missing or unusable.
    Network,
    /// A restore metadata value AWS rejected, or a snapshot/backup it names that is gone.
    RestoreMetadata,
    /// The resource the restore creates already exists (name taken).
    AlreadyExists,
    /// A service quota or capacity limit.
    QuotaExceeded,
    /// A configuration AWS does not support (e.g. a new EC2 instance profile).
    UnsupportedConfiguration,
    /// A KMS key that is disabled, pending deletion or not found.
    KmsKeyState,
    /// An internal or transient AWS error.
    InternalError,
}

/// How a failure message was classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureClassification {
    pub class: FailureClass,
    /// The error code or phrase of the table that matched (from the table, never the message).
    pub matched: String,
    /// What AWS says to do about it, in our words.
    pub guidance: String,
    /// The AWS page the entry comes from.
    pub source: String,
}

/// The forms a failure message takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// "... Encoded authorization failure message: ..." (decoded with sts:DecodeAuthorizationMessage).
    EncodedAuthorization,
    /// "User: X is not authorized to perform: A on resource: R because ...".
    AccessDenied,
    /// "Insufficient privileges to perform this action", "Access Denied": no details.
    Opaque,
    /// A message that is not about permissions.
    Other,
    /// No message at all.
    None,
}

/// A request named by the failure message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeniedRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// True for an explicit deny, false for implicit, `None` when the message does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_deny: Option<bool>,
    /// The policy type the message blames ("service control policy", ...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    /// Sids of the statements a decoded message says matched (denied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_statements: Vec<String>,
    /// The API operation the message names ("when calling the X operation"), when the
    /// action was read from it (`data/operations.json`) rather than named by AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// The primary cause of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Cause {
    /// Allows are missing from the restore role's (or caller's) identity policies.
    MissingPermissions,
    /// An explicit deny in an identity policy, boundary or SCP.
    ExplicitDeny,
    /// The backup vault access policy denies the restore.
    VaultPolicyDeny,
    /// A KMS key policy does not let the role use the key.
    KeyPolicy,
    /// The permissions boundary or an SCP does not allow a required action.
    GuardrailLimit,
    /// Nothing missing was found, but parts could not be verified.
    Unverified,
    /// Every required permission is in place: the failure is not about permissions.
    NotPermissions,
    /// AWS denied the restore, and every requirement checked is allowed: the deny
    /// comes from a layer the evidence does not show (SCP, RCP, session policy, key grants).
    UnexplainedDenial,
    /// Not about permissions: a VPC, subnet or security group problem.
    Network,
    /// Not about permissions: a restore metadata value AWS rejected.
    RestoreMetadata,
    /// Not about permissions: the resource to create already exists.
    AlreadyExists,
    /// Not about permissions: a service quota or capacity limit.
    QuotaExceeded,
    /// Not about permissions: a configuration AWS does not support.
    UnsupportedConfiguration,
    /// Not about permissions: the KMS key is disabled, pending deletion or not found.
    KmsKeyState,
    /// Not about permissions: an internal or transient AWS error.
    InternalError,
}

impl From<FailureClass> for Cause {
    fn from(c: FailureClass) -> Self {
        match c {
            FailureClass::Network => Cause::Network,
            FailureClass::RestoreMetadata => Cause::RestoreMetadata,
            FailureClass::AlreadyExists => Cause::AlreadyExists,
            FailureClass::QuotaExceeded => Cause::QuotaExceeded,
            FailureClass::UnsupportedConfiguration => Cause::UnsupportedConfiguration,
            FailureClass::KmsKeyState => Cause::KmsKeyState,
            FailureClass::InternalError => Cause::InternalError,
        }
    }
}

impl Cause {
    /// The camelCase name used in JSON and in SNS message attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::MissingPermissions => "missingPermissions",
            Cause::ExplicitDeny => "explicitDeny",
            Cause::VaultPolicyDeny => "vaultPolicyDeny",
            Cause::KeyPolicy => "keyPolicy",
            Cause::GuardrailLimit => "guardrailLimit",
            Cause::Unverified => "unverified",
            Cause::NotPermissions => "notPermissions",
            Cause::UnexplainedDenial => "unexplainedDenial",
            Cause::Network => "network",
            Cause::RestoreMetadata => "restoreMetadata",
            Cause::AlreadyExists => "alreadyExists",
            Cause::QuotaExceeded => "quotaExceeded",
            Cause::UnsupportedConfiguration => "unsupportedConfiguration",
            Cause::KmsKeyState => "kmsKeyState",
            Cause::InternalError => "internalError",
        }
    }

    /// Whether the cause is a failure class that is not about permissions: permission
    /// gaps found alongside it are "also missing", never the headline.
    pub fn is_failure_class(self) -> bool {
        matches!(
            self,
            Cause::Network
                | Cause::RestoreMetadata
                | Cause::AlreadyExists
                | Cause::QuotaExceeded
                | Cause::UnsupportedConfiguration
                | Cause::KmsKeyState
                | Cause::InternalError
        )
    }
}

/// Where a blocker lives, beyond the evaluator's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Blocker {
    /// No identity policy allows it: a role patch fixes it.
    IdentityPolicy,
    /// An explicit deny in an identity policy.
    IdentityDeny,
    PermissionBoundary,
    Scp,
    Rcp,
    SessionPolicy,
    /// The KMS key policy neither allows the role nor delegates to the account.
    KeyPolicy,
    VaultAccessPolicy,
    /// A role's trust policy.
    TrustPolicy,
    /// One of AWS's own rules (`policy::hard_rules`): AWS does not allow it whatever
    /// the policies say, so no patch or policy change can fix it.
    AwsRule,
}

impl From<Layer> for Blocker {
    fn from(layer: Layer) -> Self {
        match layer {
            Layer::Scp => Blocker::Scp,
            Layer::Rcp => Blocker::Rcp,
            Layer::ResourcePolicy => Blocker::KeyPolicy,
            Layer::Identity => Blocker::IdentityPolicy,
            Layer::PermissionBoundary => Blocker::PermissionBoundary,
            Layer::SessionPolicy => Blocker::SessionPolicy,
        }
    }
}

/// One missing permission or blocker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub action: String,
    pub resource: String,
    /// The principal that lacks the permission (restore role or caller ARN).
    pub principal: String,
    /// True when adding the patch to the principal's identity policies fixes it.
    pub fixable_by_patch: bool,
    /// Every layer that blocks it (an implicit deny in identity policies is `identityPolicy`).
    pub blocked_by: Vec<Blocker>,
    /// The statements that deny it, when explicitly denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_by: Vec<StatementRef>,
    /// Why the restore needs it (`EFS restore: create the new file system`).
    pub why: String,
    /// Who must act when a role patch cannot fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who_must_act: Option<String>,
    /// Context keys the decision depended on that were not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed_context: Vec<String>,
}

/// A part of the diagnosis that could not be checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unverified {
    pub what: String,
    pub why: String,
    /// The part of the evidence it is about; auto-attach refuses while anything about
    /// the role, the caller, the keys, the metadata or an instance profile is unverified.
    /// Absent (older reports) reads as "unknown part", which refuses too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<EvidencePart>,
}

impl Unverified {
    pub fn new(part: EvidencePart, what: impl Into<String>, why: impl Into<String>) -> Self {
        Unverified {
            what: what.into(),
            why: why.into(),
            part: Some(part),
        }
    }
}

/// The least-privilege fix for a principal's identity policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// The role (or user) the patch goes on.
    pub principal_arn: String,
    /// Deterministic inline policy name, so attaching twice is an upsert.
    pub policy_name: String,
    /// The policy document.
    pub document: serde_json::Value,
    /// Size as IAM counts it (no whitespace), to check against the 10,240 limit.
    pub size: usize,
    /// `aws iam put-role-policy ...`, ready to paste.
    pub command: String,
    /// E.g. "`ec2:DescribeInstances` has no resource-level permissions: Resource stays `*`".
    pub warnings: Vec<String>,
    /// The command creates a customer managed policy and attaches it (the inline
    /// policies would exceed IAM's size limit), instead of putting an inline policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
    /// The document is the earlier inline `restore-doctor-fix` with the new statements
    /// added: putting it keeps every grant of the earlier fix.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged_with_existing: bool,
}

/// The patch re-evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Required actions the patch makes allowed (`action on resource`).
    pub now_allowed: Vec<String>,
    /// Required actions still denied after the patch, with the blocker.
    pub still_blocked: Vec<String>,
}

/// A corrected vault access policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultPolicyFix {
    pub backup_vault_name: String,
    pub document: serde_json::Value,
    pub command: String,
}

impl AutoAttach {
    /// A refusal, with every reason.
    pub fn refused(reasons: Vec<String>) -> Self {
        AutoAttach {
            decision: "refuse".into(),
            reasons,
            policy_name: None,
            role_arn: None,
            attached_document: None,
            undo_command: None,
            attached: false,
            retry_restore_job_id: None,
        }
    }
}

/// The change a permissions boundary needs: the statements it must allow as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundaryFix {
    /// The role whose boundary blocks the restore.
    pub role_arn: String,
    /// The boundary policy, when the evidence names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_arn: Option<String>,
    /// The boundary with the statements added (every earlier one kept); only the
    /// statements to add when `statementsOnly`.
    pub document: serde_json::Value,
    /// `aws iam create-policy-version ... --set-as-default`; empty when `statementsOnly`
    /// (the boundary was not read, or is AWS managed and cannot be edited).
    pub command: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub statements_only: bool,
}

/// A corrected KMS key policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicyFix {
    pub key_arn: String,
    /// The whole key policy: the original statements plus the one added for the role;
    /// only the statements to add when `statementsOnly`.
    pub document: serde_json::Value,
    /// `aws kms put-key-policy ...`; empty when `statementsOnly` (putting the statements
    /// alone would replace the key's whole policy).
    pub command: String,
    /// The key policy could not be read: `document` holds only the statements its
    /// administrators must add to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub statements_only: bool,
}

/// Whether the fix may be attached automatically, and why (not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoAttach {
    /// `attach` or `refuse`.
    pub decision: String,
    /// Every guardrail that refused, or why attaching is allowed.
    pub reasons: Vec<String>,
    /// The inline policy that is (or would be) put on the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The whole inline policy after merging with earlier fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_document: Option<serde_json::Value>,
    /// The command that restores the role to how it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_command: Option<String>,
    /// Whether the policy was actually put on the role (the Lambda sets it after
    /// iam:PutRolePolicy succeeds; offline it stays false).
    #[serde(default)]
    pub attached: bool,
    /// The restore job started again with the original metadata, when the opt-in retry ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_restore_job_id: Option<String>,
}
