//! The reads of AWS Backup, STS and KMS a gathering makes, each checked value by value:
//! what fails its check is left out with a gap naming the call and the field.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::Value;

use super::{not_attempted, Aws};
use crate::aws::budget::{InLane, Service};
use crate::aws::error::{call_error, CallError};
use crate::aws::iam;
use crate::diagnose::evidence::{
    EvidencePart, Gap, InstanceProfile, KeyPolicy, KmsKey, RecoveryPoint, RestoreJob, VaultPolicy,
};
use crate::diagnose::validated::{Arn, KeyArn, KeyRef, RoleArn};
use crate::event::sanitize::{self, dropped};
use crate::event::trigger::Trigger;

/// Where dropped response values are said to come from.
pub(super) const METADATA_SOURCE: &str = "backup:GetRestoreJobMetadata";

/// At most one role per instance profile: IAM allows no more ("IAM and AWS STS quotas",
/// roles per instance profile: 1).
pub const MAX_PROFILE_ROLES: usize = 1;

/// The recovery point, with a gap for what could not be read: described in its vault
/// when the vault is known, else found by asking the account's vaults (a refused
/// StartRestoreJob names no vault, see [`locate_recovery_point`]).
pub(super) async fn recovery_point(
    aws: Aws<'_>,
    vault: Option<String>,
    rp_arn: Option<String>,
    trigger: &Trigger,
) -> (Option<RecoveryPoint>, Vec<Gap>) {
    let result = match (vault, rp_arn) {
        (Some(vault), Some(arn)) => describe_recovery_point(aws, vault, arn).await,
        (None, Some(arn)) => locate_recovery_point(aws, &arn).await,
        (Some(_), None) => Err(not_attempted(
            EvidencePart::RecoveryPoint,
            "backup:DescribeRecoveryPoint",
            "the recovery point is unknown",
        )),
        (None, None) => match trigger {
            Trigger::RestoreJobFailed(_) => Err(not_attempted(
                EvidencePart::RecoveryPoint,
                "backup:DescribeRecoveryPoint",
                NO_JOB_DETAILS,
            )),
            Trigger::StartRestoreJobDenied(_) | Trigger::Readiness(_) => return (None, Vec::new()),
        },
    };
    match result {
        Ok((rp, checked)) => (Some(rp), checked),
        Err(g) => (None, vec![g]),
    }
}

/// Why the vault is unknown when neither the job nor the request names a recovery point.
pub(super) const NO_JOB_DETAILS: &str =
    "the backup vault and the recovery point are unknown (no restore job details)";
/// Why the vault is unknown for a refused StartRestoreJob without a recovery point.
pub(super) const NO_RECOVERY_POINT: &str =
    "the refused StartRestoreJob request names no recovery point";
/// Why the vault is unknown for a readiness check without a recovery point.
pub(super) const NO_RECOVERY_POINT_LISTED: &str = "the readiness check names no recovery point";
/// Why the vault is unknown when its recovery point was not found.
pub(super) const VAULT_NOT_FOUND: &str =
    "the backup vault holding the recovery point was not found";

/// The access policy of `vault` (`None`: the vault has none), or the gap saying why
/// it could not be read or which vault is unknown and why.
pub(super) async fn vault_access_policy(
    aws: Aws<'_>,
    vault: Result<String, &str>,
) -> (Option<VaultPolicy>, Vec<Gap>) {
    let vault = match vault {
        Ok(v) => v,
        Err(why) => {
            return (
                None,
                vec![not_attempted(
                    EvidencePart::VaultAccessPolicy,
                    "backup:GetBackupVaultAccessPolicy",
                    why,
                )],
            )
        }
    };
    match vault_policy(aws, vault).await {
        Ok(p) => (p, Vec::new()),
        Err(g) => (None, vec![g]),
    }
}

/// At most this many listed vaults are asked for a recovery point.
pub const MAX_VAULTS_SEARCHED: usize = 50;
/// Vaults asked first, without listing: the vault EFS automatic backups use and AWS
/// Backup's default vault. A vault that does not exist just answers "not found".
pub const LIKELY_VAULTS: [&str; 2] = ["aws/efs/automatic-backup-vault", "Default"];
/// Vaults asked at the same time.
const VAULT_CONCURRENCY: usize = 4;

/// Finds the vault holding `rp_arn`: backup:DescribeRecoveryPoint in the
/// [`LIKELY_VAULTS`], then in the vaults backup:ListBackupVaults lists (paginated, at
/// most [`MAX_VAULTS_SEARCHED`]), until one answers.
pub(super) async fn locate_recovery_point(
    aws: Aws<'_>,
    rp_arn: &str,
) -> Result<(RecoveryPoint, Vec<Gap>), Gap> {
    let gap = |call: &str, error: String| Gap {
        part: EvidencePart::RecoveryPoint,
        call: call.to_owned(),
        error,
    };
    let mut refused: Option<String> = None;
    let likely: Vec<String> = LIKELY_VAULTS.iter().map(|v| (*v).to_owned()).collect();
    if let Some(rp) = ask_vaults(aws, &likely, rp_arn, &mut refused).await {
        return Ok(rp);
    }
    let (listed, more) = list_vaults(aws).await.map_err(|e| {
        gap(
            "backup:ListBackupVaults",
            format!(
                "{e} (the recovery point is in neither `{}`)",
                LIKELY_VAULTS.join("` nor `")
            ),
        )
    })?;
    let others: Vec<String> = listed
        .into_iter()
        .filter(|v| !LIKELY_VAULTS.contains(&v.as_str()))
        .collect();
    if let Some(rp) = ask_vaults(aws, &others, rp_arn, &mut refused).await {
        return Ok(rp);
    }
    let mut error = format!(
        "the recovery point is in none of the {} backup vaults asked{}",
        likely.len() + others.len(),
        if more {
            format!(" (the account lists more than {MAX_VAULTS_SEARCHED})")
        } else {
            String::new()
        }
    );
    if let Some(r) = refused {
        error.push_str(&format!("; one vault refused: {r}"));
    }
    Err(gap(
        "backup:ListBackupVaults + backup:DescribeRecoveryPoint",
        error,
    ))
}

/// The first [`MAX_VAULTS_SEARCHED`] vault names the account lists, and whether it has
/// more.
async fn list_vaults(aws: Aws<'_>) -> Result<(Vec<String>, bool), CallError> {
    async { list_vaults_pages(aws).await }
        .lane(aws.lanes, Service::Backup)
        .await
}

async fn list_vaults_pages(aws: Aws<'_>) -> Result<(Vec<String>, bool), CallError> {
    let mut vaults = Vec::new();
    let mut pages = aws
        .clients
        .backup
        .list_backup_vaults()
        .max_results(MAX_VAULTS_SEARCHED as i32)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let vault = item.map_err(|e| call_error(&e))?;
        if vaults.len() == MAX_VAULTS_SEARCHED {
            return Ok((vaults, true));
        }
        if let Some(name) = vault.backup_vault_name() {
            vaults.push(name.to_owned());
        }
    }
    Ok((vaults, false))
}

/// DescribeRecoveryPoint in `vaults`, a few at a time, until one answers. The first
/// answer other than "not found" is kept in `refused`, to say if none answers.
async fn ask_vaults(
    aws: Aws<'_>,
    vaults: &[String],
    rp_arn: &str,
    refused: &mut Option<String>,
) -> Option<(RecoveryPoint, Vec<Gap>)> {
    let mut lookups =
        futures::stream::iter(vaults.iter().map(|v| read_recovery_point(aws, v, rp_arn)))
            .buffered(VAULT_CONCURRENCY);
    while let Some((vault, r)) = lookups.next().await {
        match r {
            Ok(rp) => return Some(rp),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                refused.get_or_insert(format!("`{vault}`: {e}"));
            }
        }
    }
    None
}

fn date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// Checks the values of a response one by one: ARNs, role ARNs, messages, resource
/// types. What fails is dropped with a gap naming `call` and the field.
struct Checked<'a> {
    call: &'a str,
    part: EvidencePart,
    gaps: Vec<Gap>,
}

impl Checked<'_> {
    fn drop_value(&mut self, field: &str, why: impl std::fmt::Display) {
        self.gaps.push(dropped(self.part, self.call, field, why));
    }

    fn parsed(&mut self, field: &str, v: Option<&str>, check: sanitize::Check) -> Option<String> {
        let v = v.filter(|v| !v.is_empty())?;
        match check(v) {
            Ok(a) => Some(a),
            Err(e) => {
                self.drop_value(field, sanitize::refused(&e, v.len()));
                None
            }
        }
    }

    fn message(&mut self, field: &str, v: Option<&str>) -> Option<String> {
        let v = v?;
        let (text, cut) = sanitize::message(v);
        if cut {
            self.drop_value(
                field,
                format!(
                    "{} bytes long: only the first {} were kept",
                    v.len(),
                    sanitize::MAX_MESSAGE_LEN
                ),
            );
        }
        Some(text)
    }

    fn text(&mut self, field: &str, v: Option<&str>, ok: fn(&str) -> bool) -> Option<String> {
        let v = v.filter(|v| !v.is_empty())?;
        if ok(v) {
            Some(v.to_owned())
        } else {
            self.drop_value(field, format!("not well-formed ({} bytes)", v.len()));
            None
        }
    }
}

/// backup:DescribeRestoreJob, every field checked.
pub(super) async fn describe_restore_job(
    aws: Aws<'_>,
    id: &str,
) -> Result<(RestoreJob, Vec<Gap>), Gap> {
    let call = format!("backup:DescribeRestoreJob {id}");
    let out = aws
        .clients
        .backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
        .lane(aws.lanes, Service::Backup)
        .await
        .map_err(|e| Gap {
            part: EvidencePart::RestoreJob,
            call: call.clone(),
            error: call_error(&e).text,
        })?;
    let mut c = Checked {
        call: &call,
        part: EvidencePart::RestoreJob,
        gaps: Vec::new(),
    };
    let job = RestoreJob {
        restore_job_id: id.to_owned(),
        account_id: c.text(
            "AccountId",
            out.account_id(),
            crate::diagnose::validated::is_account_id,
        ),
        status: c.text(
            "Status",
            out.status().map(|s| s.as_str()),
            sanitize::is_code,
        ),
        status_message: c.message("StatusMessage", out.status_message()),
        resource_type: c.text(
            "ResourceType",
            out.resource_type(),
            sanitize::is_resource_type,
        ),
        iam_role_arn: c.parsed("IamRoleArn", out.iam_role_arn(), sanitize::role_arn),
        recovery_point_arn: c.parsed("RecoveryPointArn", out.recovery_point_arn(), sanitize::arn),
        backup_vault_arn: c.parsed("BackupVaultArn", out.backup_vault_arn(), sanitize::arn),
        source_resource_arn: c.parsed(
            "SourceResourceArn",
            out.source_resource_arn(),
            sanitize::arn,
        ),
        created_resource_arn: c.parsed(
            "CreatedResourceArn",
            out.created_resource_arn(),
            sanitize::arn,
        ),
        creation_date: date(out.creation_date()),
        completion_date: date(out.completion_date()),
    };
    Ok((job, c.gaps))
}

/// backup:GetRestoreJobMetadata, checked as the event's metadata is
/// ([`sanitize::metadata`]).
pub(super) async fn restore_job_metadata(
    aws: Aws<'_>,
    id: &str,
) -> Result<(BTreeMap<String, String>, Vec<Gap>), Gap> {
    let out = aws
        .clients
        .backup
        .get_restore_job_metadata()
        .restore_job_id(id)
        .send()
        .lane(aws.lanes, Service::Backup)
        .await
        .map_err(|e| Gap {
            part: EvidencePart::RestoreMetadata,
            call: format!("{METADATA_SOURCE} {id}"),
            error: call_error(&e).text,
        })?;
    let entries = out
        .metadata()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()));
    Ok(sanitize::metadata(entries, METADATA_SOURCE, "Metadata"))
}

async fn describe_recovery_point(
    aws: Aws<'_>,
    vault: String,
    arn: String,
) -> Result<(RecoveryPoint, Vec<Gap>), Gap> {
    let (vault, result) = read_recovery_point(aws, &vault, &arn).await;
    result.map_err(|e| Gap {
        part: EvidencePart::RecoveryPoint,
        call: format!("backup:DescribeRecoveryPoint {vault} {arn}"),
        error: e.text,
    })
}

/// backup:DescribeRecoveryPoint, with the vault it asked. Its values are checked; one
/// that fails is left out, with a gap (a key ARN left out must not read as "no key").
async fn read_recovery_point<'a>(
    aws: Aws<'_>,
    vault: &'a str,
    arn: &str,
) -> (&'a str, Result<(RecoveryPoint, Vec<Gap>), CallError>) {
    let result = aws
        .clients
        .backup
        .describe_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(arn)
        .send()
        .lane(aws.lanes, Service::Backup)
        .await;
    let out = match result {
        Ok(out) => out,
        Err(e) => return (vault, Err(call_error(&e))),
    };
    let raw = Raw {
        recovery_point_arn: out.recovery_point_arn(),
        backup_vault_name: out.backup_vault_name(),
        backup_vault_arn: out.backup_vault_arn(),
        resource_arn: out.resource_arn(),
        resource_type: out.resource_type(),
        encryption_key_arn: out.encryption_key_arn(),
        is_encrypted: out.is_encrypted(),
        encryption_key_type: out.encryption_key_type().map(|t| t.as_str()),
    };
    let checked = checked_recovery_point("backup:DescribeRecoveryPoint", raw, (arn, vault));
    (vault, Ok(checked))
}

/// A recovery point's values as one AWS answer gives them: DescribeRecoveryPoint's, or
/// an item of ListRecoveryPointsByBackupVault (RecoveryPointByBackupVault).
struct Raw<'o> {
    recovery_point_arn: Option<&'o str>,
    backup_vault_name: Option<&'o str>,
    backup_vault_arn: Option<&'o str>,
    resource_arn: Option<&'o str>,
    resource_type: Option<&'o str>,
    encryption_key_arn: Option<&'o str>,
    is_encrypted: bool,
    encryption_key_type: Option<&'o str>,
}

/// The recovery point `call` answered, every value checked; one that fails is left out,
/// with a gap (a key ARN left out must not read as "no key"). Its ARN and vault name
/// fall back to `arn` and `vault`, which the caller asked with (already checked).
fn checked_recovery_point(
    call: &'static str,
    raw: Raw<'_>,
    (arn, vault): (&str, &str),
) -> (RecoveryPoint, Vec<Gap>) {
    let mut c = Checked {
        call,
        part: EvidencePart::RecoveryPoint,
        gaps: Vec::new(),
    };
    let rp = RecoveryPoint {
        recovery_point_arn: c
            .parsed("RecoveryPointArn", raw.recovery_point_arn, sanitize::arn)
            .unwrap_or_else(|| arn.to_owned()),
        backup_vault_name: c
            .text(
                "BackupVaultName",
                raw.backup_vault_name,
                sanitize::is_vault_name,
            )
            .or_else(|| Some(vault.to_owned())),
        backup_vault_arn: c.parsed("BackupVaultArn", raw.backup_vault_arn, sanitize::arn),
        resource_arn: c.parsed("ResourceArn", raw.resource_arn, sanitize::arn),
        resource_type: c.text(
            "ResourceType",
            raw.resource_type,
            sanitize::is_resource_type,
        ),
        encryption_key_arn: c.parsed(
            "EncryptionKeyArn",
            raw.encryption_key_arn,
            sanitize::key_arn,
        ),
        is_encrypted: Some(raw.is_encrypted),
        encryption_key_type: raw.encryption_key_type.map(str::to_owned),
    };
    (rp, c.gaps)
}

/// A recovery point as backup:ListRecoveryPointsByBackupVault listed it, checked as
/// [`read_recovery_point`] checks DescribeRecoveryPoint's answer: the listing carries the
/// same fields the diagnosis uses (RecoveryPointByBackupVault: RecoveryPointArn,
/// BackupVaultName, BackupVaultArn, ResourceArn, ResourceType, EncryptionKeyArn,
/// IsEncrypted, EncryptionKeyType,
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RecoveryPointByBackupVault.html>),
/// so a readiness run need not describe it again. `arn` and `vault` are the values the
/// caller already checked, and are used as they are.
pub fn listed_recovery_point(
    out: &aws_sdk_backup::types::RecoveryPointByBackupVault,
    arn: &str,
    vault: &str,
) -> (RecoveryPoint, Vec<Gap>) {
    let raw = Raw {
        recovery_point_arn: None,
        backup_vault_name: None,
        backup_vault_arn: out.backup_vault_arn(),
        resource_arn: out.resource_arn(),
        resource_type: out.resource_type(),
        encryption_key_arn: out.encryption_key_arn(),
        is_encrypted: out.is_encrypted(),
        encryption_key_type: out.encryption_key_type().map(|t| t.as_str()),
    };
    checked_recovery_point("backup:ListRecoveryPointsByBackupVault", raw, (arn, vault))
}

/// `Ok(None)`: the vault has no access policy (the service answers "not found").
async fn vault_policy(aws: Aws<'_>, vault: String) -> Result<Option<VaultPolicy>, Gap> {
    match aws
        .clients
        .backup
        .get_backup_vault_access_policy()
        .backup_vault_name(&vault)
        .send()
        .lane(aws.lanes, Service::Backup)
        .await
    {
        Ok(out) => Ok(out.policy().map(|p| VaultPolicy {
            backup_vault_name: vault.clone(),
            backup_vault_arn: out
                .backup_vault_arn()
                .filter(|a| Arn::parse(a).is_ok())
                .map(str::to_owned),
            document: iam::decode_document(p),
            read_from: None,
        })),
        Err(e) => {
            let err = call_error(&e);
            if err.is_not_found() {
                Ok(None)
            } else {
                Err(Gap {
                    part: EvidencePart::VaultAccessPolicy,
                    call: format!("backup:GetBackupVaultAccessPolicy {vault}"),
                    error: err.text,
                })
            }
        }
    }
}

pub(super) async fn decode(aws: Aws<'_>, token: String) -> Result<Value, Gap> {
    let gap = |error: String| Gap {
        part: EvidencePart::DecodedMessage,
        call: "sts:DecodeAuthorizationMessage".into(),
        error,
    };
    let out = aws
        .clients
        .sts
        .decode_authorization_message()
        .encoded_message(token)
        .send()
        .lane(aws.lanes, Service::Sts)
        .await
        .map_err(|e| gap(call_error(&e).text))?;
    let text = out
        .decoded_message()
        .ok_or_else(|| gap("no decoded message returned".into()))?;
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// iam:ListAccountAliases, best effort: the alias is a courtesy next to the account id
/// in the alert, so a refusal or an error leaves it out (logged, `Err`), never a gap; a
/// value that is not an alias as IAM accepts them is dropped (`Ok(None)`).
pub(super) async fn account_alias(aws: Aws<'_>) -> Result<Option<String>, String> {
    match aws
        .clients
        .iam
        .list_account_aliases()
        .send()
        .lane(aws.lanes, Service::Iam)
        .await
    {
        Ok(out) => Ok(out
            .account_aliases()
            .first()
            .filter(|a| crate::diagnose::validated::is_account_alias(a))
            .cloned()),
        Err(e) => {
            let error = call_error(&e);
            tracing::info!(error = %error, "account alias not read");
            Err(error.text)
        }
    }
}

/// kms:DescribeKey of a key reference from the metadata: what it resolves to. A key ARN
/// in the metadata is a claim until KMS confirms it: it must come back as itself.
pub(super) async fn describe_key(aws: Aws<'_>, key: KeyRef) -> Result<KmsKey, Gap> {
    let reference = key.as_str().to_owned();
    let gap = |error: String| Gap {
        part: EvidencePart::KeyPolicy,
        call: format!("kms:DescribeKey {reference}"),
        error,
    };
    let out = aws
        .clients
        .kms
        .describe_key()
        .key_id(&reference)
        .send()
        .lane(aws.lanes, Service::Kms)
        .await
        .map_err(|e| gap(call_error(&e).text))?;
    let meta = out
        .key_metadata()
        .ok_or_else(|| gap("no key metadata returned".into()))?;
    let key_arn = meta
        .arn()
        .map(KeyArn::parse)
        .ok_or_else(|| gap("no key ARN returned".into()))?
        .map_err(|e| gap(format!("the returned key ARN is not used: {}", e.why)))?;
    if let KeyRef::Arn(claimed) = &key {
        if claimed != &key_arn {
            return Err(gap(format!(
                "the metadata names `{}` but KMS resolved it to `{}`: not used",
                claimed.as_str(),
                key_arn.as_str()
            )));
        }
    }
    Ok(KmsKey {
        reference: reference.clone(),
        key_arn: key_arn.as_str().to_owned(),
        key_manager: meta.key_manager().map(|m| m.as_str().to_owned()),
        key_state: meta.key_state().map(|s| s.as_str().to_owned()),
    })
}

/// iam:GetInstanceProfile, then iam:GetRole of its role (trust policy and tags), which
/// auto-attach needs before it grants iam:PassRole on it. Roles past
/// [`MAX_PROFILE_ROLES`], or whose ARN fails its check, are gaps.
pub(super) async fn instance_profile_with_roles(
    iam: &iam::Reads<'_>,
    name: &str,
) -> Result<(InstanceProfile, Vec<Gap>), Gap> {
    let mut profile = iam.instance_profile(name).await?;
    let mut gaps = Vec::new();
    let mut roles = Vec::new();
    for (i, arn) in profile.role_arns.iter().enumerate() {
        if i >= MAX_PROFILE_ROLES {
            gaps.push(not_attempted(
                EvidencePart::InstanceProfile,
                "iam:GetRole",
                &format!(
                    "instance profile `{name}` lists {} roles; IAM allows {MAX_PROFILE_ROLES}",
                    profile.role_arns.len()
                ),
            ));
            break;
        }
        match RoleArn::parse(arn) {
            Ok(role) => roles.push(role),
            Err(e) => gaps.push(dropped(
                EvidencePart::InstanceProfile,
                "iam:GetInstanceProfile",
                &format!("{name} Roles[{i}].Arn"),
                sanitize::refused(&e, arn.len()),
            )),
        }
    }
    let reads = futures::future::join_all(
        roles
            .iter()
            .map(|r| iam.role_facts(r, EvidencePart::InstanceProfile)),
    )
    .await;
    for r in reads {
        match r {
            Ok(facts) => profile.roles.push(facts),
            Err(g) => gaps.push(g),
        }
    }
    Ok((profile, gaps))
}

pub(super) async fn key_policy(aws: Aws<'_>, key_arn: String) -> Result<KeyPolicy, Gap> {
    let out = aws
        .clients
        .kms
        .get_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .send()
        .lane(aws.lanes, Service::Kms)
        .await
        .map_err(|e| Gap {
            part: EvidencePart::KeyPolicy,
            call: format!("kms:GetKeyPolicy {key_arn}"),
            error: call_error(&e).text,
        })?;
    let document = out
        .policy()
        .map(iam::decode_document)
        .unwrap_or(Value::Null);
    Ok(KeyPolicy {
        key_arn,
        document,
        read_from: None,
    })
}
