//! Gathering the evidence for one failed restore: every read-only call the diagnosis
//! needs, independent calls at the same time, each failure recorded as a [`Gap`].
//!
//! The order is forced by what each call needs to know:
//! 1. the restore job and its metadata (the event alone names neither the recovery
//!    point nor the vault; a refused StartRestoreJob names no vault either, so the vault
//!    holding its recovery point is looked up among the account's vaults, see
//!    [`locate_recovery_point`]);
//! 2. then, at once: the recovery point, the vault access policy, the decoded
//!    authorization message, the restore role's and the caller's policies (one read per
//!    distinct identity), the instance profiles named in the metadata, and the target KMS
//!    key named in the metadata;
//! 3. then the key policies of every distinct key found (recovery point key, target key).

use std::collections::BTreeMap;

use futures::future::{join_all, OptionFuture};
use futures::StreamExt;
use serde_json::Value;

use super::error::{call_error, CallError};
use super::iam;
use super::Clients;
use crate::diagnose::evidence::{
    Evidence, EvidencePart, Gap, KeyPolicy, RecoveryPoint, RestoreJob, VaultPolicy, SCHEMA_VERSION,
};
use crate::handler::trigger::{IamIdentity, Parsed, Trigger};

/// The text that precedes the token sts:DecodeAuthorizationMessage decodes.
const ENCODED_MARKER: &str = "encoded authorization failure message:";

/// Gathers everything about one failure. Never fails: what cannot be read is a gap.
pub async fn gather(clients: &Clients, parsed: &Parsed, event: &Value) -> Evidence {
    let mut ev = Evidence {
        schema_version: SCHEMA_VERSION,
        trigger: event.clone(),
        account_id: parsed.account.clone(),
        region: parsed.region.clone(),
        ..Evidence::default()
    };

    // Stage 1: what the trigger does not say.
    let mut facts = Facts::from_trigger(&parsed.trigger);
    if let Trigger::RestoreJobFailed(job) = &parsed.trigger {
        let (described, metadata) = futures::join!(
            describe_restore_job(clients, &job.restore_job_id),
            restore_job_metadata(clients, &job.restore_job_id),
        );
        match described {
            Ok(j) => {
                facts.absorb(&j);
                if ev.account_id.is_none() {
                    ev.account_id.clone_from(&j.account_id);
                }
                ev.restore_job = Some(j);
            }
            Err(g) => ev.gaps.push(g),
        }
        match metadata {
            Ok(m) => ev.restore_metadata = Some(m),
            Err(g) => ev.gaps.push(g),
        }
    } else if let Trigger::StartRestoreJobDenied(call) = &parsed.trigger {
        if !call.metadata.is_empty() {
            ev.restore_metadata = Some(call.metadata.clone());
        }
    }
    let metadata = ev.restore_metadata.clone().unwrap_or_default();

    // Stage 2: everything that depends only on stage 1, at once.
    let vault = facts.vault_name();
    let token = facts.message.as_deref().and_then(encoded_token);
    let role_name = facts.role_arn.as_deref().and_then(role_name_of);
    let caller = caller_identity(&parsed.trigger);
    // The same role as restore role and caller is read once.
    let caller_is_role = matches!(
        (&caller, &role_name),
        (Some(IamIdentity::Role { name, .. }), Some(role)) if name.eq_ignore_ascii_case(role)
    );
    let profiles = instance_profile_names(&metadata);
    let target_keys = target_key_refs(&metadata);

    let rp_and_vault = recovery_point_and_vault(
        clients,
        vault,
        facts.recovery_point_arn.clone(),
        &parsed.trigger,
    );
    let decoded = OptionFuture::from(token.map(|t| decode(clients, t.to_owned())));
    let restore_role = OptionFuture::from(role_name.clone().map(|name| async move {
        iam::role(&clients.iam, &name, EvidencePart::RestoreRole).await
    }));
    let caller_read = OptionFuture::from(caller.clone().filter(|_| !caller_is_role).map(
        |identity| async move {
            match identity {
                IamIdentity::Role { name, .. } => {
                    iam::role(&clients.iam, &name, EvidencePart::Caller).await
                }
                IamIdentity::User { name, .. } => {
                    iam::user(&clients.iam, &name, EvidencePart::Caller).await
                }
            }
        },
    ));
    let profile_reads = join_all(
        profiles
            .iter()
            .map(|p| iam::instance_profile(&clients.iam, p)),
    );
    let key_lookups = join_all(target_keys.iter().map(|k| describe_key(clients, k.clone())));

    let (rp_and_vault, decoded, restore_role, caller_read, profile_reads, key_lookups) = futures::join!(
        rp_and_vault,
        decoded,
        restore_role,
        caller_read,
        profile_reads,
        key_lookups
    );

    let (recovery_point, vault_access_policy, gaps) = rp_and_vault;
    ev.recovery_point = recovery_point;
    ev.vault_access_policy = vault_access_policy;
    ev.gaps.extend(gaps);
    match decoded {
        Some(Ok(v)) => ev.decoded_message = Some(v),
        Some(Err(g)) => ev.gaps.push(g),
        None => {}
    }
    let mut restore_principal = None;
    match restore_role {
        Some(Ok((p, gaps))) => {
            ev.gaps.extend(gaps);
            restore_principal = Some(p);
        }
        Some(Err(g)) => ev.gaps.push(g),
        None => ev.gaps.push(not_attempted(
            EvidencePart::RestoreRole,
            "iam:GetRole",
            "neither the event nor the restore job names the restore role",
        )),
    }
    if caller_is_role {
        ev.caller = restore_principal.clone();
    } else {
        match caller_read {
            Some(Ok((p, gaps))) => {
                ev.gaps.extend(gaps);
                ev.caller = Some(p);
            }
            Some(Err(g)) => ev.gaps.push(g),
            None => {}
        }
    }
    if let (Some(c), Trigger::StartRestoreJobDenied(call)) = (ev.caller.as_mut(), &parsed.trigger) {
        if call.caller.arn.as_deref() != Some(c.arn.as_str()) {
            c.session_arn.clone_from(&call.caller.arn);
        }
    }
    if let (None, Trigger::StartRestoreJobDenied(call)) = (&caller, &parsed.trigger) {
        ev.gaps.push(not_attempted(
            EvidencePart::Caller,
            "iam:GetUser/iam:GetRole",
            &format!(
                "the caller (`{}`) is not an IAM user or role",
                if call.caller.identity_type.is_empty() {
                    "unknown"
                } else {
                    &call.caller.identity_type
                }
            ),
        ));
    }
    ev.restore_role = restore_principal;
    for r in profile_reads {
        match r {
            Ok(p) => ev.instance_profiles.push(p),
            Err(g) => ev.gaps.push(g),
        }
    }

    // Stage 3: key policies, once per distinct key.
    let mut keys: Vec<String> = Vec::new();
    if let Some(rp) = &ev.recovery_point {
        let aws_owned = rp.encryption_key_type.as_deref() == Some("AWS_OWNED_KMS_KEY");
        if let (Some(arn), false) = (&rp.encryption_key_arn, aws_owned) {
            keys.push(arn.clone());
        }
    }
    for r in key_lookups {
        match r {
            Ok(arn) => keys.push(arn),
            Err(g) => ev.gaps.push(g),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    for r in join_all(keys.iter().map(|k| key_policy(clients, k.clone()))).await {
        match r {
            Ok(p) => ev.key_policies.push(p),
            Err(g) => ev.gaps.push(g),
        }
    }
    ev
}

/// The recovery point and its vault's access policy, with a gap for what could not be
/// read. When only the recovery point is known (a refused StartRestoreJob names no
/// vault), the vault is found by asking the account's vaults ([`locate_recovery_point`]).
async fn recovery_point_and_vault(
    clients: &Clients,
    vault: Option<String>,
    rp_arn: Option<String>,
    trigger: &Trigger,
) -> (Option<RecoveryPoint>, Option<VaultPolicy>, Vec<Gap>) {
    let mut gaps = Vec::new();
    let (rp, vault) = match (vault, rp_arn) {
        (Some(vault), rp_arn) => {
            let rp = OptionFuture::from(
                rp_arn.map(|arn| describe_recovery_point(clients, vault.clone(), arn)),
            );
            let (rp, policy) = futures::join!(rp, vault_policy(clients, vault.clone()));
            let rp = match rp {
                Some(Ok(rp)) => Some(rp),
                Some(Err(g)) => {
                    gaps.push(g);
                    None
                }
                None => {
                    gaps.push(not_attempted(
                        EvidencePart::RecoveryPoint,
                        "backup:DescribeRecoveryPoint",
                        "the recovery point is unknown",
                    ));
                    None
                }
            };
            return match policy {
                Ok(p) => (rp, p, gaps),
                Err(g) => {
                    gaps.push(g);
                    (rp, None, gaps)
                }
            };
        }
        (None, Some(rp_arn)) => match locate_recovery_point(clients, &rp_arn).await {
            Ok(rp) => {
                let vault = rp.backup_vault_name.clone();
                (Some(rp), vault)
            }
            Err(g) => {
                gaps.push(g);
                (None, None)
            }
        },
        (None, None) => {
            let why = match trigger {
                Trigger::RestoreJobFailed(_) => {
                    "the backup vault and the recovery point are unknown (no restore job details)"
                }
                Trigger::StartRestoreJobDenied(_) => {
                    "the refused StartRestoreJob request names no recovery point"
                }
            };
            if matches!(trigger, Trigger::RestoreJobFailed(_)) {
                gaps.push(not_attempted(
                    EvidencePart::RecoveryPoint,
                    "backup:DescribeRecoveryPoint",
                    why,
                ));
            }
            gaps.push(not_attempted(
                EvidencePart::VaultAccessPolicy,
                "backup:GetBackupVaultAccessPolicy",
                why,
            ));
            return (None, None, gaps);
        }
    };
    let Some(vault) = vault else {
        gaps.push(not_attempted(
            EvidencePart::VaultAccessPolicy,
            "backup:GetBackupVaultAccessPolicy",
            "the backup vault holding the recovery point was not found",
        ));
        return (rp, None, gaps);
    };
    match vault_policy(clients, vault).await {
        Ok(p) => (rp, p, gaps),
        Err(g) => {
            gaps.push(g);
            (rp, None, gaps)
        }
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
pub async fn locate_recovery_point(clients: &Clients, rp_arn: &str) -> Result<RecoveryPoint, Gap> {
    let gap = |call: &str, error: String| Gap {
        part: EvidencePart::RecoveryPoint,
        call: call.to_owned(),
        error,
    };
    let mut refused: Option<String> = None;
    let likely: Vec<String> = LIKELY_VAULTS.iter().map(|v| (*v).to_owned()).collect();
    if let Some(rp) = ask_vaults(clients, &likely, rp_arn, &mut refused).await {
        return Ok(rp);
    }
    let (listed, more) = list_vaults(clients).await.map_err(|e| {
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
    if let Some(rp) = ask_vaults(clients, &others, rp_arn, &mut refused).await {
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
async fn list_vaults(clients: &Clients) -> Result<(Vec<String>, bool), CallError> {
    let mut vaults = Vec::new();
    let mut pages = clients
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
    clients: &Clients,
    vaults: &[String],
    rp_arn: &str,
    refused: &mut Option<String>,
) -> Option<RecoveryPoint> {
    let mut lookups = futures::stream::iter(
        vaults
            .iter()
            .map(|v| read_recovery_point(clients, v, rp_arn)),
    )
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

/// What the trigger and the restore job say, merged (the job wins).
#[derive(Debug, Default)]
struct Facts {
    role_arn: Option<String>,
    recovery_point_arn: Option<String>,
    vault_arn: Option<String>,
    message: Option<String>,
}

impl Facts {
    fn from_trigger(trigger: &Trigger) -> Self {
        match trigger {
            Trigger::RestoreJobFailed(job) => Facts {
                role_arn: job.iam_role_arn.clone(),
                recovery_point_arn: job.recovery_point_arn.clone(),
                vault_arn: job.backup_vault_arn.clone(),
                message: job.status_message.clone(),
            },
            Trigger::StartRestoreJobDenied(call) => Facts {
                role_arn: call.iam_role_arn.clone(),
                recovery_point_arn: call.recovery_point_arn.clone(),
                vault_arn: None,
                message: call.error_message.clone(),
            },
        }
    }

    fn absorb(&mut self, job: &RestoreJob) {
        let take = |mine: &mut Option<String>, theirs: &Option<String>| {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        };
        take(&mut self.role_arn, &job.iam_role_arn);
        take(&mut self.recovery_point_arn, &job.recovery_point_arn);
        take(&mut self.vault_arn, &job.backup_vault_arn);
        take(&mut self.message, &job.status_message);
    }

    fn vault_name(&self) -> Option<String> {
        self.vault_arn.as_deref().and_then(vault_name_from_arn)
    }
}

fn caller_identity(trigger: &Trigger) -> Option<IamIdentity> {
    match trigger {
        Trigger::StartRestoreJobDenied(call) => call.caller.iam.clone(),
        Trigger::RestoreJobFailed(_) => None,
    }
}

fn not_attempted(part: EvidencePart, call: &str, why: &str) -> Gap {
    Gap {
        part,
        call: call.to_owned(),
        error: format!("not attempted: {why}"),
    }
}

/// `arn:aws:backup:eu-west-1:111122223333:backup-vault:Name` -> `Name`.
pub fn vault_name_from_arn(arn: &str) -> Option<String> {
    arn.split_once(":backup-vault:")
        .map(|(_, name)| name.to_owned())
        .filter(|n| !n.is_empty())
}

/// The role name at the end of a role ARN (the path is not part of the name).
pub fn role_name_of(arn: &str) -> Option<String> {
    let (_, path) = arn.split_once(":role/")?;
    path.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// The token after "Encoded authorization failure message:", if the message has one.
pub fn encoded_token(message: &str) -> Option<&str> {
    let at = message.to_ascii_lowercase().find(ENCODED_MARKER)?;
    let rest = message.get(at + ENCODED_MARKER.len()..)?;
    let token = rest
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ',', ';', ')', '"', '\'']);
    (token.len() >= 16).then_some(token)
}

/// Instance profiles an EC2 restore attaches, from its metadata (keys are
/// case-insensitive; `UseBackedUpValue`/`null` name none).
pub fn instance_profile_names(metadata: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = metadata
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "iaminstanceprofilename"
                    | "iaminstanceprofilearn"
                    | "iaminstanceprofile"
                    | "instanceprofilename"
                    | "instanceprofilearn"
            )
        })
        .filter_map(|(_, v)| {
            let v = v.trim();
            if v.is_empty()
                || v.eq_ignore_ascii_case("null")
                || v.eq_ignore_ascii_case("usebackedupvalue")
            {
                return None;
            }
            match v.split_once(":instance-profile/") {
                Some((_, path)) => path.rsplit('/').next().map(str::to_owned),
                None => Some(v.to_owned()),
            }
        })
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Target KMS keys named in the metadata (`KmsKeyId`, `kmsKeyId`, DynamoDB's
/// `kmsMasterKeyArn`): key ids, key ARNs, alias names or alias ARNs.
pub fn target_key_refs(metadata: &BTreeMap<String, String>) -> Vec<String> {
    let mut refs: Vec<String> = metadata
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "kmskeyid" | "kmskeyarn" | "kmsmasterkeyarn" | "kmskey"
            )
        })
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("null"))
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

fn date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

async fn describe_restore_job(clients: &Clients, id: &str) -> Result<RestoreJob, Gap> {
    let out = clients
        .backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
        .await
        .map_err(|e| Gap {
            part: EvidencePart::RestoreJob,
            call: format!("backup:DescribeRestoreJob {id}"),
            error: call_error(&e).text,
        })?;
    let own = |s: Option<&str>| s.map(str::to_owned);
    Ok(RestoreJob {
        restore_job_id: out.restore_job_id().unwrap_or(id).to_owned(),
        account_id: own(out.account_id()),
        status: out.status().map(|s| s.as_str().to_owned()),
        status_message: own(out.status_message()),
        resource_type: own(out.resource_type()),
        iam_role_arn: own(out.iam_role_arn()),
        recovery_point_arn: own(out.recovery_point_arn()),
        backup_vault_arn: own(out.backup_vault_arn()),
        source_resource_arn: own(out.source_resource_arn()),
        created_resource_arn: own(out.created_resource_arn()),
        creation_date: date(out.creation_date()),
        completion_date: date(out.completion_date()),
    })
}

async fn restore_job_metadata(
    clients: &Clients,
    id: &str,
) -> Result<BTreeMap<String, String>, Gap> {
    let out = clients
        .backup
        .get_restore_job_metadata()
        .restore_job_id(id)
        .send()
        .await
        .map_err(|e| Gap {
            part: EvidencePart::RestoreMetadata,
            call: format!("backup:GetRestoreJobMetadata {id}"),
            error: call_error(&e).text,
        })?;
    Ok(out
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

async fn describe_recovery_point(
    clients: &Clients,
    vault: String,
    arn: String,
) -> Result<RecoveryPoint, Gap> {
    let (vault, result) = read_recovery_point(clients, &vault, &arn).await;
    result.map_err(|e| Gap {
        part: EvidencePart::RecoveryPoint,
        call: format!("backup:DescribeRecoveryPoint {vault} {arn}"),
        error: e.text,
    })
}

/// backup:DescribeRecoveryPoint, with the vault it asked.
async fn read_recovery_point<'a>(
    clients: &Clients,
    vault: &'a str,
    arn: &str,
) -> (&'a str, Result<RecoveryPoint, CallError>) {
    let result = clients
        .backup
        .describe_recovery_point()
        .backup_vault_name(vault)
        .recovery_point_arn(arn)
        .send()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(e) => return (vault, Err(call_error(&e))),
    };
    let own = |s: Option<&str>| s.map(str::to_owned);
    let rp = RecoveryPoint {
        recovery_point_arn: out.recovery_point_arn().unwrap_or(arn).to_owned(),
        backup_vault_name: own(out.backup_vault_name()).or_else(|| Some(vault.to_owned())),
        backup_vault_arn: own(out.backup_vault_arn()),
        resource_arn: own(out.resource_arn()),
        resource_type: own(out.resource_type()),
        encryption_key_arn: own(out.encryption_key_arn()),
        is_encrypted: Some(out.is_encrypted()),
        encryption_key_type: out.encryption_key_type().map(|t| t.as_str().to_owned()),
    };
    (vault, Ok(rp))
}

/// `Ok(None)`: the vault has no access policy (the service answers "not found").
async fn vault_policy(clients: &Clients, vault: String) -> Result<Option<VaultPolicy>, Gap> {
    match clients
        .backup
        .get_backup_vault_access_policy()
        .backup_vault_name(&vault)
        .send()
        .await
    {
        Ok(out) => Ok(out.policy().map(|p| VaultPolicy {
            backup_vault_name: out.backup_vault_name().unwrap_or(&vault).to_owned(),
            backup_vault_arn: out.backup_vault_arn().map(str::to_owned),
            document: iam::decode_document(p),
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

async fn decode(clients: &Clients, token: String) -> Result<Value, Gap> {
    let gap = |error: String| Gap {
        part: EvidencePart::DecodedMessage,
        call: "sts:DecodeAuthorizationMessage".into(),
        error,
    };
    let out = clients
        .sts
        .decode_authorization_message()
        .encoded_message(token)
        .send()
        .await
        .map_err(|e| gap(call_error(&e).text))?;
    let text = out
        .decoded_message()
        .ok_or_else(|| gap("no decoded message returned".into()))?;
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// kms:DescribeKey: an alias or key id to the key ARN.
async fn describe_key(clients: &Clients, key: String) -> Result<String, Gap> {
    let gap = |error: String| Gap {
        part: EvidencePart::KeyPolicy,
        call: format!("kms:DescribeKey {key}"),
        error,
    };
    let out = clients
        .kms
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .map_err(|e| gap(call_error(&e).text))?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_owned)
        .ok_or_else(|| gap("no key ARN returned".into()))
}

async fn key_policy(clients: &Clients, key_arn: String) -> Result<KeyPolicy, Gap> {
    let out = clients
        .kms
        .get_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .send()
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
    Ok(KeyPolicy { key_arn, document })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_word_after_the_marker() {
        let msg = "You are not authorized to perform this operation. Please consult the permissions associated with your AWS Backup role(s), and refer to the AWS Backup documentation for more details. Encoded authorization failure message: AbC-123_xyzAbC-123_xyz.";
        assert_eq!(encoded_token(msg), Some("AbC-123_xyzAbC-123_xyz"));
        assert_eq!(
            encoded_token("Encoded authorization failure message: <omitted>"),
            None
        );
        assert_eq!(
            encoded_token("Insufficient privileges to perform this action"),
            None
        );
    }

    #[test]
    fn instance_profiles_and_keys_come_from_case_insensitive_metadata_keys() {
        let metadata: BTreeMap<String, String> = [
            ("IamInstanceProfileName", "AppProfile"),
            (
                "iamInstanceProfileArn",
                "arn:aws:iam::1:instance-profile/path/Other",
            ),
            ("instanceProfileName", "UseBackedUpValue"),
            ("KmsKeyId", "alias/aws/elasticfilesystem"),
            ("kmsKeyId", "alias/aws/elasticfilesystem"),
            ("Encrypted", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(instance_profile_names(&metadata), ["AppProfile", "Other"]);
        assert_eq!(target_key_refs(&metadata), ["alias/aws/elasticfilesystem"]);
    }

    #[test]
    fn names_from_arns() {
        assert_eq!(
            vault_name_from_arn(
                "arn:aws:backup:eu-west-1:1:backup-vault:aws/efs/automatic-backup-vault"
            )
            .as_deref(),
            Some("aws/efs/automatic-backup-vault")
        );
        assert_eq!(
            role_name_of("arn:aws:iam::1:role/service-role/AWSBackupDefaultServiceRole").as_deref(),
            Some("AWSBackupDefaultServiceRole")
        );
        assert_eq!(role_name_of("arn:aws:iam::1:user/alice"), None);
    }
}
