//! What "ready to restore" means for one resource, read from the report of a diagnosis
//! whose trigger is a readiness check ([`READINESS_CHECK`](super::facts::READINESS_CHECK)):
//! the same requirements, the same evaluator, no failure message.
//!
//! - **ready**: every requirement of the restore path was checked and allowed, and nothing
//!   that could change that answer is unverified;
//! - **not ready**: a requirement is denied: the findings, and the verified patch when
//!   one fixes them; or a key the restore needs is in a state KMS cannot use
//!   ([`UNUSABLE_KEY_STATES`]: disabled, pending deletion);
//! - **not verifiable**: nothing denied was found, but a part that could deny it was not
//!   read (the gaps), or no requirement could be checked at all.
//!
//! "Could not tell" is never "ready". Two kinds of unverified entries are caveats that do
//! not decide the verdict, and are still reported: service control policies when none
//! were collected (they apply to every resource of the account alike, and the single
//! account CLI cannot read them; the verdict says "as far as the account's own policies
//! go"), and the parts that only exist when something failed (the restore job, the
//! decoded message, the caller of a refused call).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::evidence::EvidencePart;
use super::report::{Report, Unverified};

/// The schema version of the readiness document (`restore-doctor readiness --format json`).
pub const READINESS_SCHEMA_VERSION: u32 = 1;

/// The answer for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Ready,
    NotReady,
    NotVerifiable,
}

impl Verdict {
    /// `ready`, `not ready`, `not verifiable`: as the table shows it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady => "not ready",
            Verdict::NotVerifiable => "not verifiable",
        }
    }
}

/// Where the role a restore would run as came from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RoleSource {
    /// The restore testing selection for this resource type.
    RestoreTestingSelection,
    /// `--restore-role EFS=ARN`: configured for this resource type.
    ConfiguredForType,
    /// `--restore-role ARN`: configured for every resource type.
    Configured,
    /// AWS Backup's default service role, `service-role/AWSBackupDefaultServiceRole`.
    DefaultServiceRole,
}

impl RoleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleSource::RestoreTestingSelection => "restore testing selection",
            RoleSource::ConfiguredForType => "--restore-role for the type",
            RoleSource::Configured => "--restore-role",
            RoleSource::DefaultServiceRole => "AWS Backup default service role",
        }
    }
}

/// The restore roles configured with `--restore-role`: one for every resource type, and
/// one per type (`EFS`, `RDS`, ...); each a checked role ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreRoles {
    pub default: Option<super::validated::RoleArn>,
    pub by_type: std::collections::BTreeMap<String, super::validated::RoleArn>,
}

/// One resource's readiness: the verdict, why, and the full report behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceReadiness {
    pub verdict: Verdict,
    /// One line: what was found, or what was not verified.
    pub summary: String,
    /// How many requirements of the restore path the evaluator decided.
    pub checked: usize,
    /// Where the role came from, when the enumeration chose it (absent offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_source: Option<RoleSource>,
    /// The entries that make it not verifiable (empty otherwise).
    pub gaps: Vec<Unverified>,
    /// Unverified entries that do not decide the verdict (see the module doc).
    pub caveats: Vec<Unverified>,
    /// The diagnosis: findings (`missing`), the patch and whether it is verified.
    pub report: Report,
}

/// Whether an unverified entry can change the answer for this resource.
fn decides(u: &Unverified) -> bool {
    !matches!(
        u.part,
        Some(
            EvidencePart::ServiceControlPolicies
                | EvidencePart::RestoreJob
                | EvidencePart::DecodedMessage
                | EvidencePart::Caller
        )
    )
}

/// The verdict for a report of a readiness check, given how many requirements the
/// evaluator decided (pure: no reads, no clock).
pub fn assess(report: Report, checked: usize) -> ResourceReadiness {
    let (gaps, caveats): (Vec<Unverified>, Vec<Unverified>) =
        report.unverified.iter().cloned().partition(decides);
    let role = report.restore.role_arn.as_deref().unwrap_or("no role");
    let (verdict, summary) = if !report.missing.is_empty() {
        let n = report.missing.len();
        let fix = match (&report.patch, report.verified) {
            (Some(_), true) => "; the patch below is verified to fix it",
            (Some(_), false) => "; a patch is proposed but not verified",
            (None, _) => "; no role patch fixes it",
        };
        (
            Verdict::NotReady,
            format!(
                "{n} required permission{} denied for `{role}`{fix}",
                if n == 1 { " is" } else { "s are" }
            ),
        )
    } else if !gaps.is_empty() {
        let n = gaps.len();
        (
            Verdict::NotVerifiable,
            format!(
                "nothing denied found, but {n} part{} could not be verified",
                if n == 1 { "" } else { "s" }
            ),
        )
    } else if checked == 0 {
        (
            Verdict::NotVerifiable,
            "no requirement of this restore could be checked".into(),
        )
    } else {
        (
            Verdict::Ready,
            format!(
                "{checked} required permission{} allowed for `{role}`",
                if checked == 1 { " is" } else { "s are" }
            ),
        )
    };
    ResourceReadiness {
        verdict,
        summary,
        checked,
        role_source: None,
        gaps,
        caveats,
        report,
    }
}

/// KMS key states in which a key cannot be used for cryptographic operations, so a
/// restore that needs it fails whatever the policies allow. Source: AWS KMS Developer
/// Guide, "Key states of AWS KMS keys"
/// (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html): its key
/// state table marks the cryptographic operations as failing for `Disabled`,
/// `PendingDeletion` and `PendingImport`, and of `Unavailable` keys (a disconnected
/// custom key store) it says "you cannot use them in cryptographic operations".
pub const UNUSABLE_KEY_STATES: [&str; 4] = [
    "Disabled",
    "PendingDeletion",
    "PendingImport",
    "Unavailable",
];

/// The keys of `evidence` (as kms:DescribeKey read them) whose state makes them unusable:
/// (key ARN, state).
pub fn unusable_keys(evidence: &super::Evidence) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = evidence
        .kms_keys
        .iter()
        .filter_map(|k| {
            let state = k.key_state.as_deref()?;
            UNUSABLE_KEY_STATES
                .contains(&state)
                .then(|| (k.key_arn.clone(), state.to_owned()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `r` with the keys it needs that cannot be used: not ready whatever the policies
/// allow, said in the summary (a disabled key, a key pending deletion: what a
/// `DisableKey` or `ScheduleKeyDeletion` change does).
pub fn with_unusable_keys(
    mut r: ResourceReadiness,
    keys: &[(String, String)],
) -> ResourceReadiness {
    if keys.is_empty() {
        return r;
    }
    let said: Vec<String> = keys
        .iter()
        .map(|(arn, state)| format!("`{arn}` is {state}"))
        .collect();
    let why = format!(
        "the KMS key {} (a restore that uses it fails until it is usable again)",
        said.join(", ")
    );
    r.summary = if r.verdict == Verdict::NotReady {
        format!("{}; and {why}", r.summary)
    } else {
        why
    };
    r.verdict = Verdict::NotReady;
    r
}

/// A readiness run over one account and Region: every resource checked, and what the
/// enumeration itself could not read. The `--format json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessRun {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// One entry per protected resource and backup vault (its latest recovery point).
    pub resources: Vec<ResourceReadiness>,
    /// What the enumeration could not read (a listing refused, restore testing
    /// selections unread): resources it hides are not in `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<super::evidence::Gap>,
}

impl ReadinessRun {
    /// How many resources have each verdict: (ready, not ready, not verifiable).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |v: Verdict| self.resources.iter().filter(|r| r.verdict == v).count();
        (
            n(Verdict::Ready),
            n(Verdict::NotReady),
            n(Verdict::NotVerifiable),
        )
    }
}

/// Readiness runs over several accounts (`readiness --account A --account B`): one
/// [`ReadinessRun`] per account, in the order asked, so a reader of the one-account
/// document reads each entry unchanged. An account that could not be read is a run with
/// no resources and a gap naming the account and the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessAccounts {
    pub schema_version: u32,
    pub accounts: Vec<ReadinessRun>,
}

/// The `readiness --format json` document: one account's run, or several accounts' runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReadinessDocument {
    /// Several accounts (`--account`); read first, as only this shape has `accounts`.
    Accounts(ReadinessAccounts),
    /// One account: the caller's own.
    Run(ReadinessRun),
}

/// The most member accounts the function's readiness checks (`READINESS_ACCOUNTS`):
/// template.yaml's `ReadinessAccounts` pattern takes as many, so that the change rule
/// listing them stays within EventBridge's 2,048 characters per event pattern
/// (EventBridge quotas, <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>).
pub const MAX_MEMBER_ACCOUNTS: usize = 100;

/// One (resource, vault) as the last readiness run left it: what the function keeps
/// between runs (in its DynamoDB table) to alert only on what changed, and to find the
/// resources a change touches (their role, keys and vault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// [`state_key`] of the account, resource and vault.
    pub key: String,
    /// The account whose listing holds the row (the function's own, or a member read
    /// through its reader role): a resource ARN does not say it (an S3 bucket's has no
    /// account, and a copy in another account's vault lists the source's ARN), and
    /// vault names repeat across accounts (every account has `Default`).
    pub account: String,
    pub resource_arn: String,
    pub vault_name: Option<String>,
    pub resource_type: Option<String>,
    pub verdict: Verdict,
    /// The role a restore would run as.
    pub role_arn: Option<String>,
    /// The keys its restore uses: the recovery point's, and the target key(s) KMS resolved.
    pub key_arns: Vec<String>,
    /// When it was checked (seconds since the Unix epoch).
    pub checked_at: i64,
}

/// The key of one (resource, vault) in `account`: neither an account id, an ARN nor a
/// vault name holds `#`.
pub fn state_key(account: &str, resource_arn: &str, vault_name: Option<&str>) -> String {
    format!("{account}#{resource_arn}#{}", vault_name.unwrap_or("-"))
}

/// The key the single-account versions wrote (no account): read as the function's own
/// account, since they read no other.
pub fn legacy_state_key(resource_arn: &str, vault_name: Option<&str>) -> String {
    format!("{resource_arn}#{}", vault_name.unwrap_or("-"))
}

impl StoredState {
    /// The state to keep for `r`, a row of `account`'s run, checked at `now`; `None` when
    /// the row names no resource (nothing to compare it with next time).
    pub fn of(
        account: &str,
        r: &ResourceReadiness,
        key_arns: Vec<String>,
        now: i64,
    ) -> Option<Self> {
        let s = &r.report.restore;
        let resource_arn = s.source_resource_arn.clone()?;
        Some(StoredState {
            key: state_key(account, &resource_arn, s.backup_vault_name.as_deref()),
            account: account.to_owned(),
            resource_arn,
            vault_name: s.backup_vault_name.clone(),
            resource_type: s.resource_type.clone(),
            verdict: r.verdict,
            role_arn: s.role_arn.clone(),
            key_arns,
            checked_at: now,
        })
    }
}

/// An account as the last scheduled run left it: whether its reader role could be
/// assumed, so that an account that cannot be read is said once, not every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub account: String,
    pub readable: bool,
    /// When a run last reached it (seconds since the Unix epoch): the accounts reached
    /// longest ago go first, so that a run the deadline cuts short reaches the others
    /// next time.
    pub checked_at: i64,
}

/// The resources of `current` (the rows of `account`'s run) that are not ready now and
/// were not the last time they were checked (or were never checked): what one alert
/// reports. A resource still not ready, or one that became ready or not verifiable, is
/// not in it.
pub fn newly_not_ready<'a>(
    previous: &[StoredState],
    account: &str,
    current: &'a [ResourceReadiness],
) -> Vec<&'a ResourceReadiness> {
    let before: std::collections::BTreeMap<&str, Verdict> = previous
        .iter()
        .map(|s| (s.key.as_str(), s.verdict))
        .collect();
    current
        .iter()
        .filter(|r| r.verdict == Verdict::NotReady)
        .filter(|r| {
            let s = &r.report.restore;
            let key = s
                .source_resource_arn
                .as_deref()
                .map(|a| state_key(account, a, s.backup_vault_name.as_deref()));
            key.and_then(|k| before.get(k.as_str()).copied()) != Some(Verdict::NotReady)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::diagnose::evidence::KmsKey;

    fn row(verdict: Verdict, resource: &str, vault: &str) -> ResourceReadiness {
        let report: Report = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "restore": {"trigger": "readiness", "sourceResourceArn": resource, "backupVaultName": vault},
            "failure": {"kind": "none"}, "cause": "unverified", "summary": "s",
            "missing": [], "unverified": [], "patch": null, "verified": false,
            "verification": {"nowAllowed": [], "stillBlocked": []}
        }))
        .unwrap();
        ResourceReadiness {
            verdict,
            summary: "s".into(),
            checked: 1,
            role_source: None,
            gaps: vec![],
            caveats: vec![],
            report,
        }
    }

    #[test]
    fn only_resources_that_turned_not_ready_are_new() {
        let was = |v: Verdict, r: &str| StoredState {
            key: state_key("111122223333", r, Some("v")),
            account: "111122223333".into(),
            resource_arn: r.into(),
            vault_name: Some("v".into()),
            resource_type: None,
            verdict: v,
            role_arn: None,
            key_arns: vec![],
            checked_at: 0,
        };
        let previous = [
            was(Verdict::Ready, "a"),
            was(Verdict::NotReady, "b"),
            was(Verdict::NotVerifiable, "c"),
        ];
        let now = [
            row(Verdict::NotReady, "a", "v"), // ready -> not ready: new
            row(Verdict::NotReady, "b", "v"), // still not ready: not new
            row(Verdict::NotReady, "c", "v"), // not verifiable -> not ready: new
            row(Verdict::NotReady, "d", "v"), // never checked: new
            row(Verdict::NotReady, "a", "w"), // same resource, another vault: new
            row(Verdict::Ready, "e", "v"),
        ];
        let key = |r: &&ResourceReadiness| {
            legacy_state_key(
                r.report.restore.source_resource_arn.as_deref().unwrap(),
                r.report.restore.backup_vault_name.as_deref(),
            )
        };
        let new: Vec<String> = newly_not_ready(&previous, "111122223333", &now)
            .iter()
            .map(key)
            .collect();
        assert_eq!(new, ["a#v", "c#v", "d#v", "a#w"]);
        // The same rows in another account are all new: a vault name or a copied
        // resource's ARN says nothing of the account.
        let elsewhere: Vec<String> = newly_not_ready(&previous, "210987654321", &now)
            .iter()
            .map(key)
            .collect();
        assert_eq!(elsewhere, ["a#v", "b#v", "c#v", "d#v", "a#w"]);
    }

    #[test]
    fn a_key_kms_cannot_use_makes_the_resource_not_ready() {
        let evidence = crate::diagnose::Evidence {
            kms_keys: vec![
                KmsKey {
                    reference: "k1".into(),
                    key_arn: "arn:k1".into(),
                    key_manager: None,
                    key_state: Some("Enabled".into()),
                },
                KmsKey {
                    reference: "k2".into(),
                    key_arn: "arn:k2".into(),
                    key_manager: None,
                    key_state: Some("PendingDeletion".into()),
                },
            ],
            ..Default::default()
        };
        let keys = unusable_keys(&evidence);
        assert_eq!(
            keys,
            [("arn:k2".to_string(), "PendingDeletion".to_string())]
        );
        let r = with_unusable_keys(row(Verdict::Ready, "a", "v"), &keys);
        assert_eq!(r.verdict, Verdict::NotReady);
        assert!(
            r.summary.contains("`arn:k2` is PendingDeletion"),
            "{}",
            r.summary
        );
        let same = with_unusable_keys(row(Verdict::Ready, "a", "v"), &[]);
        assert_eq!(same.verdict, Verdict::Ready);
    }
}
