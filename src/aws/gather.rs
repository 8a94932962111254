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
//!    distinct identity), the instance profiles named in the metadata with their roles,
//!    and the target KMS keys named in the metadata (kms:DescribeKey);
//! 3. then the key policies of every distinct key found (recovery point key, target keys).
//!
//! What bounds it, so that one crafted or unlucky event cannot exhaust the function or
//! the account:
//! - every value sent to AWS passed its check first (an event's in
//!   [`trigger`](crate::event::trigger), a response's here): a value that fails is a
//!   gap, never a call, so no oversized or hostile string reaches the SDK;
//! - at most [`MAX_INSTANCE_PROFILES`] instance profiles and [`MAX_TARGET_KEYS`] target
//!   keys per event, read a few at a time ([`IAM_CONCURRENCY`], [`KMS_CONCURRENCY`]); the
//!   rest are a gap that says how many were skipped;
//! - every call stops at the deadline ([`gather_until`]): what was not read by then is a
//!   gap ("not read before the deadline") and the alert goes out with the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::future::OptionFuture;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{call_error, CallError};
use super::iam;
use super::Clients;
use crate::diagnose::evidence::{
    Evidence, EvidencePart, Gap, InstanceProfile, KeyPolicy, KmsKey, RecoveryPoint, RestoreJob,
    VaultPolicy, SCHEMA_VERSION,
};
use crate::diagnose::validated::{shown, Arn, KeyArn, KeyRef, RoleArn};
use crate::event::sanitize::{self, dropped};
use crate::event::trigger::{IamIdentity, Parsed, Trigger};

/// The text that precedes the token sts:DecodeAuthorizationMessage decodes.
const ENCODED_MARKER: &str = "encoded authorization failure message:";

/// At most this many instance profiles named in one restore's metadata are read. An EC2
/// restore launches one instance with one profile; two leave room for a key spelled two
/// ways, and keep a crafted metadata map from spending the account's IAM rate limit.
pub const MAX_INSTANCE_PROFILES: usize = 2;
/// At most this many target KMS keys named in one restore's metadata are resolved
/// (a restore encrypts with one key; three allow the different metadata keys naming it).
pub const MAX_TARGET_KEYS: usize = 3;
/// At most one role per instance profile: IAM allows no more ("IAM and AWS STS quotas",
/// roles per instance profile: 1).
pub const MAX_PROFILE_ROLES: usize = 1;
/// IAM reads of one kind in flight at once (IAM throttles bursts per account).
pub const IAM_CONCURRENCY: usize = 2;
/// KMS reads in flight at once.
pub const KMS_CONCURRENCY: usize = 3;

/// Restore metadata keys naming the target KMS key, lowercased (`KmsKeyId`, `kmsKeyId`,
/// DynamoDB's `kmsMasterKeyArn`, ...).
const TARGET_KEY_KEYS: [&str; 4] = ["kmskeyid", "kmskeyarn", "kmsmasterkeyarn", "kmskey"];

/// Where a metadata value that names no valid profile or key is said to come from.
const REJECTED_METADATA: &str = "restore metadata";

/// Where dropped response values are said to come from.
const METADATA_SOURCE: &str = "backup:GetRestoreJobMetadata";

/// Gathers everything about one failure with no deadline but the SDK's own timeouts.
/// Never fails: what cannot be read is a gap.
pub async fn gather(clients: &Clients, parsed: &Parsed) -> Evidence {
    // Far enough to never cut a call short: the SDK's operation timeout bounds each.
    let far = Instant::now() + std::time::Duration::from_secs(24 * 3600);
    gather_until(clients, parsed, far).await
}

/// Gathers everything that can be read before `deadline`. A call still running then is
/// abandoned and becomes a gap saying so; the evidence holds everything read before it.
pub async fn gather_until(clients: &Clients, parsed: &Parsed, deadline: Instant) -> Evidence {
    let by = By(deadline);
    let mut ev = Evidence {
        schema_version: SCHEMA_VERSION,
        trigger: parsed.event.clone(),
        account_id: parsed.account.clone(),
        region: parsed.region.clone(),
        gaps: parsed.rejected.clone(),
        ..Evidence::default()
    };

    // Stage 1: what the trigger does not say.
    let mut facts = Facts::from_trigger(&parsed.trigger);
    match &parsed.trigger {
        Trigger::RestoreJobFailed(job) => match &job.restore_job_id {
            Some(id) => {
                let (described, metadata) = futures::join!(
                    by.call(
                        describe_restore_job(clients, id),
                        late(EvidencePart::RestoreJob, "backup:DescribeRestoreJob", id),
                    ),
                    by.call(
                        restore_job_metadata(clients, id),
                        late(EvidencePart::RestoreMetadata, METADATA_SOURCE, id),
                    ),
                );
                match described {
                    Ok((j, gaps)) => {
                        ev.gaps.extend(gaps);
                        facts.absorb(&j);
                        if ev.account_id.is_none() {
                            ev.account_id.clone_from(&j.account_id);
                        }
                        ev.restore_job = Some(j);
                    }
                    Err(g) => ev.gaps.push(g),
                }
                match metadata {
                    Ok((m, gaps)) => {
                        ev.gaps.extend(gaps);
                        ev.restore_metadata = Some(m);
                    }
                    Err(g) => ev.gaps.push(g),
                }
            }
            None => {
                let why = "the event's restore job id was not valid";
                ev.gaps.push(not_attempted(
                    EvidencePart::RestoreJob,
                    "backup:DescribeRestoreJob",
                    why,
                ));
                ev.gaps.push(not_attempted(
                    EvidencePart::RestoreMetadata,
                    METADATA_SOURCE,
                    why,
                ));
            }
        },
        Trigger::StartRestoreJobDenied(call) => {
            if !call.metadata.is_empty() {
                ev.restore_metadata = Some(call.metadata.clone());
            }
        }
    }
    let metadata = ev.restore_metadata.clone().unwrap_or_default();

    // Stage 2: everything that depends only on stage 1, at once.
    let vault = facts.vault_name();
    let token = facts.message.as_deref().and_then(encoded_token);
    let role = facts
        .role_arn
        .as_deref()
        .and_then(|a| RoleArn::parse(a).ok());
    let role_name = role.as_ref().map(|r| r.name().to_owned());
    let caller = caller_identity(&parsed.trigger);
    // The same role as restore role and caller is read once.
    let caller_is_role = matches!(
        (&caller, &role_name),
        (Some(IamIdentity::Role { name, .. }), Some(role)) if name.eq_ignore_ascii_case(role)
    );
    let (profiles, profile_gaps) = instance_profile_names(&metadata);
    let (target_keys, key_gaps) = target_key_refs(&metadata);
    // A value that names no valid profile or key leaves the evidence with its gap: what
    // comes after must not read it as a resource (`arn:*` as a key ARN).
    for gap in profile_gaps.iter().chain(&key_gaps) {
        if let Some(key) = rejected_metadata_key(gap) {
            drop_metadata_entry(&mut ev, &key);
        }
    }
    ev.gaps.extend(profile_gaps);
    ev.gaps.extend(key_gaps);

    let rp_and_vault = by.run(
        recovery_point_and_vault(
            clients,
            vault,
            facts.recovery_point_arn.clone(),
            &parsed.trigger,
        ),
        || {
            (
                None,
                None,
                vec![
                    late(
                        EvidencePart::RecoveryPoint,
                        "backup:DescribeRecoveryPoint",
                        "",
                    )(),
                    late(
                        EvidencePart::VaultAccessPolicy,
                        "backup:GetBackupVaultAccessPolicy",
                        "",
                    )(),
                ],
            )
        },
    );
    let decoded = OptionFuture::from(token.map(|t| {
        by.call(
            decode(clients, t.to_owned()),
            late(
                EvidencePart::DecodedMessage,
                "sts:DecodeAuthorizationMessage",
                "",
            ),
        )
    }));
    let restore_role = OptionFuture::from(role_name.clone().map(|name| {
        let on_late = late(EvidencePart::RestoreRole, "iam:GetRole", &name);
        by.call(
            async move { iam::role(&clients.iam, &name, EvidencePart::RestoreRole).await },
            on_late,
        )
    }));
    let caller_read =
        OptionFuture::from(caller.clone().filter(|_| !caller_is_role).map(|identity| {
            let on_late = late(EvidencePart::Caller, "iam:GetUser/iam:GetRole", "");
            by.call(
                async move {
                    match identity {
                        IamIdentity::Role { name, .. } => {
                            iam::role(&clients.iam, &name, EvidencePart::Caller).await
                        }
                        IamIdentity::User { name, .. } => {
                            iam::user(&clients.iam, &name, EvidencePart::Caller).await
                        }
                    }
                },
                on_late,
            )
        }));
    let profile_reads = futures::stream::iter(profiles.iter().map(|p| {
        by.call(
            instance_profile_with_roles(clients, p),
            late(EvidencePart::InstanceProfile, "iam:GetInstanceProfile", p),
        )
    }))
    .buffered(IAM_CONCURRENCY)
    .collect::<Vec<_>>();
    let key_lookups = futures::stream::iter(target_keys.iter().map(|k| {
        by.call(
            describe_key(clients, k.clone()),
            late(EvidencePart::KeyPolicy, "kms:DescribeKey", k.as_str()),
        )
    }))
    .buffered(KMS_CONCURRENCY)
    .collect::<Vec<_>>();

    // Informative only, read alongside the rest (no round trip of its own on the path).
    let alias = by.run(account_alias(clients), || None);

    let (rp_and_vault, decoded, restore_role, caller_read, profile_reads, key_lookups, alias) = futures::join!(
        rp_and_vault,
        decoded,
        restore_role,
        caller_read,
        profile_reads,
        key_lookups,
        alias
    );
    ev.account_alias = alias;

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
    match (restore_role, &role) {
        (Some(Ok((p, gaps))), Some(asked)) => {
            ev.gaps.extend(gaps);
            // The role is read by name; it is the restore's role only if IAM's ARN for
            // that name is exactly the one the restore names (path included).
            if p.arn == asked.as_str() {
                restore_principal = Some(p);
            } else {
                ev.gaps.push(Gap {
                    part: EvidencePart::RestoreRole,
                    call: format!("iam:GetRole {}", asked.name()),
                    error: format!(
                        "IAM's role of that name is `{}`, not the restore's role `{}`: not used",
                        shown(&p.arn),
                        asked.as_str()
                    ),
                });
            }
        }
        (Some(Err(g)), _) => ev.gaps.push(g),
        _ => ev.gaps.push(not_attempted(
            EvidencePart::RestoreRole,
            "iam:GetRole",
            "neither the event nor the restore job names a valid restore role",
        )),
    }
    if caller_is_role {
        ev.caller = restore_principal.clone();
    } else {
        match (caller_read, &caller) {
            (Some(Ok((p, gaps))), Some(IamIdentity::User { arn, .. })) if p.arn != *arn => {
                ev.gaps.extend(gaps);
                ev.gaps.push(Gap {
                    part: EvidencePart::Caller,
                    call: "iam:GetUser".into(),
                    error: format!(
                        "IAM's user of that name is `{}`, not the caller `{arn}`: not used",
                        shown(&p.arn)
                    ),
                });
            }
            (Some(Ok((p, gaps))), _) => {
                ev.gaps.extend(gaps);
                ev.caller = Some(p);
            }
            (Some(Err(g)), _) => ev.gaps.push(g),
            (None, _) => {}
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
            Ok((p, gaps)) => {
                ev.instance_profiles.push(p);
                ev.gaps.extend(gaps);
            }
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
            Ok(key) => {
                keys.push(key.key_arn.clone());
                ev.kms_keys.push(key);
            }
            Err(g) => ev.gaps.push(g),
        }
    }
    let mut seen = BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    // The recovery point's key is described too, once, unless a target key lookup
    // already did: its `KeyManager` says whether it is an AWS managed key, which no
    // key policy edit or cross-account grant can open (issue #9).
    let rp_key = ev
        .recovery_point
        .as_ref()
        .filter(|rp| rp.encryption_key_type.as_deref() != Some("AWS_OWNED_KMS_KEY"))
        .and_then(|rp| rp.encryption_key_arn.as_deref())
        .and_then(|k| KeyArn::parse(k).ok())
        .filter(|k| !ev.kms_keys.iter().any(|d| d.key_arn == k.as_str()));
    let rp_described = OptionFuture::from(rp_key.map(|k| {
        let on_late = late(EvidencePart::KeyPolicy, "kms:DescribeKey", k.as_str());
        by.call(describe_key(clients, KeyRef::Arn(k)), on_late)
    }));
    let policies = futures::stream::iter(keys.iter().map(|k| {
        by.call(
            key_policy(clients, k.clone()),
            late(EvidencePart::KeyPolicy, "kms:GetKeyPolicy", k),
        )
    }))
    .buffered(KMS_CONCURRENCY)
    .collect::<Vec<_>>();
    let (policies, rp_described) = futures::join!(policies, rp_described);
    match rp_described {
        Some(Ok(key)) => ev.kms_keys.push(key),
        Some(Err(g)) => ev.gaps.push(g),
        None => {}
    }
    for r in policies {
        match r {
            Ok(p) => ev.key_policies.push(p),
            Err(g) => ev.gaps.push(g),
        }
    }
    ev
}

/// The metadata key a "not a valid …" gap of [`instance_profile_names`] or
/// [`target_key_refs`] is about.
fn rejected_metadata_key(gap: &Gap) -> Option<String> {
    let key = gap.call.strip_prefix(REJECTED_METADATA)?;
    Some(key.trim_matches(['`', ' ']).to_owned())
}

/// Removes `key` from the evidence's metadata and from the metadata of the event it
/// carries.
fn drop_metadata_entry(ev: &mut Evidence, key: &str) {
    if let Some(m) = ev.restore_metadata.as_mut() {
        m.remove(key);
    }
    if let Some(m) = ev
        .trigger
        .pointer_mut("/detail/requestParameters/metadata")
        .and_then(Value::as_object_mut)
    {
        m.remove(key);
    }
}

/// The deadline every call of one gathering stops at.
#[derive(Clone, Copy)]
struct By(Instant);

impl By {
    /// `fut`, or `on_late()` if it has not finished by the deadline.
    async fn run<T>(self, fut: impl Future<Output = T>, on_late: impl FnOnce() -> T) -> T {
        match tokio::time::timeout_at(self.0, fut).await {
            Ok(v) => v,
            Err(_) => on_late(),
        }
    }

    /// A call that may fail with a gap, or the gap `on_late` makes at the deadline.
    async fn call<T>(
        self,
        fut: impl Future<Output = Result<T, Gap>>,
        on_late: impl FnOnce() -> Gap,
    ) -> Result<T, Gap> {
        self.run(fut, || Err(on_late())).await
    }
}

/// The gap of a call abandoned at the deadline.
fn late(part: EvidencePart, call: &str, on: &str) -> impl FnOnce() -> Gap {
    let call = if on.is_empty() {
        call.to_owned()
    } else {
        format!("{call} {on}")
    };
    move || {
        Gap {
        part,
        call,
        error: "not read before the deadline: the invocation's remaining time was kept for the diagnosis and the alert".into(),
    }
    }
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
                Some(Ok((rp, checked))) => {
                    gaps.extend(checked);
                    Some(rp)
                }
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
            Ok((rp, checked)) => {
                gaps.extend(checked);
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
pub async fn locate_recovery_point(
    clients: &Clients,
    rp_arn: &str,
) -> Result<(RecoveryPoint, Vec<Gap>), Gap> {
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
) -> Option<(RecoveryPoint, Vec<Gap>)> {
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

/// `arn:aws:backup:eu-west-1:111122223333:backup-vault:Name` -> `Name`, when it is a
/// vault name ([`sanitize::is_vault_name`]).
pub fn vault_name_from_arn(arn: &str) -> Option<String> {
    arn.split_once(":backup-vault:")
        .map(|(_, name)| name.to_owned())
        .filter(|n| sanitize::is_vault_name(n))
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

/// `UseBackedUpValue` and `null` name no instance profile or key.
fn names_nothing(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("null") || v.eq_ignore_ascii_case("usebackedupvalue")
}

/// Instance profiles an EC2 restore attaches, from its metadata (keys are
/// case-insensitive; `UseBackedUpValue`/`null` name none): checked IAM names, at most
/// [`MAX_INSTANCE_PROFILES`]. A value that is not a profile name or ARN, and every
/// profile past the limit, is a gap.
pub fn instance_profile_names(metadata: &BTreeMap<String, String>) -> (Vec<String>, Vec<Gap>) {
    let mut gaps = Vec::new();
    let mut names = BTreeSet::new();
    for (key, value) in metadata {
        if !matches!(
            key.to_ascii_lowercase().as_str(),
            "iaminstanceprofilename"
                | "iaminstanceprofilearn"
                | "iaminstanceprofile"
                | "instanceprofilename"
                | "instanceprofilearn"
        ) {
            continue;
        }
        let v = value.trim();
        if names_nothing(v) {
            continue;
        }
        let name = if v.starts_with("arn:") {
            Arn::parse(v).ok().and_then(|a| {
                let path = a.resource().strip_prefix("instance-profile/")?;
                (a.service() == "iam").then(|| path.rsplit('/').next().unwrap_or(path).to_owned())
            })
        } else {
            Some(v.to_owned())
        };
        match name.filter(|n| crate::diagnose::validated::is_iam_name(n)) {
            Some(n) => {
                names.insert(n);
            }
            None => gaps.push(dropped(
                EvidencePart::RestoreMetadata,
                REJECTED_METADATA,
                key,
                format!(
                    "not an instance profile name or ARN ({} bytes): iam:GetInstanceProfile was not called",
                    v.len()
                ),
            )),
        }
    }
    let mut names: Vec<String> = names.into_iter().collect();
    if names.len() > MAX_INSTANCE_PROFILES {
        let skipped = names.split_off(MAX_INSTANCE_PROFILES);
        gaps.push(Gap {
            part: EvidencePart::InstanceProfile,
            call: "iam:GetInstanceProfile".into(),
            error: format!(
                "not attempted: the metadata names {} instance profiles; only the first {MAX_INSTANCE_PROFILES} were read, {} skipped",
                MAX_INSTANCE_PROFILES + skipped.len(),
                skipped.len()
            ),
        });
    }
    (names, gaps)
}

/// Target KMS keys named in the metadata (`KmsKeyId`, `kmsKeyId`, DynamoDB's
/// `kmsMasterKeyArn`): key ids, key ARNs, alias names or alias ARNs, parsed with
/// [`KeyRef::parse`], at most [`MAX_TARGET_KEYS`]. A value that is none of them is a gap
/// (never a call), and so is every key past the limit.
pub fn target_key_refs(metadata: &BTreeMap<String, String>) -> (Vec<KeyRef>, Vec<Gap>) {
    let mut gaps = Vec::new();
    let mut refs = BTreeSet::new();
    for (key, value) in metadata {
        if !TARGET_KEY_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
            continue;
        }
        let v = value.trim();
        if names_nothing(v) {
            continue;
        }
        match KeyRef::parse(v) {
            Ok(r) => {
                refs.insert(r);
            }
            Err(e) => gaps.push(dropped(
                EvidencePart::RestoreMetadata,
                REJECTED_METADATA,
                key,
                format!(
                    "{}: kms:DescribeKey was not called",
                    sanitize::refused(&e, v.len())
                ),
            )),
        }
    }
    let mut refs: Vec<KeyRef> = refs.into_iter().collect();
    if refs.len() > MAX_TARGET_KEYS {
        let skipped = refs.split_off(MAX_TARGET_KEYS);
        gaps.push(Gap {
            part: EvidencePart::KeyPolicy,
            call: "kms:DescribeKey".into(),
            error: format!(
                "not attempted: the metadata names {} target keys; only the first {MAX_TARGET_KEYS} were resolved, {} skipped",
                MAX_TARGET_KEYS + skipped.len(),
                skipped.len()
            ),
        });
    }
    (refs, gaps)
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
async fn describe_restore_job(clients: &Clients, id: &str) -> Result<(RestoreJob, Vec<Gap>), Gap> {
    let call = format!("backup:DescribeRestoreJob {id}");
    let out = clients
        .backup
        .describe_restore_job()
        .restore_job_id(id)
        .send()
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
async fn restore_job_metadata(
    clients: &Clients,
    id: &str,
) -> Result<(BTreeMap<String, String>, Vec<Gap>), Gap> {
    let out = clients
        .backup
        .get_restore_job_metadata()
        .restore_job_id(id)
        .send()
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
    clients: &Clients,
    vault: String,
    arn: String,
) -> Result<(RecoveryPoint, Vec<Gap>), Gap> {
    let (vault, result) = read_recovery_point(clients, &vault, &arn).await;
    result.map_err(|e| Gap {
        part: EvidencePart::RecoveryPoint,
        call: format!("backup:DescribeRecoveryPoint {vault} {arn}"),
        error: e.text,
    })
}

/// backup:DescribeRecoveryPoint, with the vault it asked. Its values are checked; one
/// that fails is left out, with a gap (a key ARN left out must not read as "no key").
async fn read_recovery_point<'a>(
    clients: &Clients,
    vault: &'a str,
    arn: &str,
) -> (&'a str, Result<(RecoveryPoint, Vec<Gap>), CallError>) {
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
    let mut c = Checked {
        call: "backup:DescribeRecoveryPoint",
        part: EvidencePart::RecoveryPoint,
        gaps: Vec::new(),
    };
    let rp = RecoveryPoint {
        recovery_point_arn: c
            .parsed("RecoveryPointArn", out.recovery_point_arn(), sanitize::arn)
            .unwrap_or_else(|| arn.to_owned()),
        backup_vault_name: c
            .text(
                "BackupVaultName",
                out.backup_vault_name(),
                sanitize::is_vault_name,
            )
            .or_else(|| Some(vault.to_owned())),
        backup_vault_arn: c.parsed("BackupVaultArn", out.backup_vault_arn(), sanitize::arn),
        resource_arn: c.parsed("ResourceArn", out.resource_arn(), sanitize::arn),
        resource_type: c.text(
            "ResourceType",
            out.resource_type(),
            sanitize::is_resource_type,
        ),
        encryption_key_arn: c.parsed(
            "EncryptionKeyArn",
            out.encryption_key_arn(),
            sanitize::key_arn,
        ),
        is_encrypted: Some(out.is_encrypted()),
        encryption_key_type: out.encryption_key_type().map(|t| t.as_str().to_owned()),
    };
    (vault, Ok((rp, c.gaps)))
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
            backup_vault_name: vault.clone(),
            backup_vault_arn: out
                .backup_vault_arn()
                .filter(|a| Arn::parse(a).is_ok())
                .map(str::to_owned),
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

/// kms:DescribeKey of a key reference from the metadata: what it resolves to. A key ARN
/// in the metadata is a claim until KMS confirms it: it must come back as itself.
/// iam:ListAccountAliases, best effort: the alias is a courtesy next to the account id
/// in the alert, so a refusal or an error leaves it out (logged), never a gap; a value
/// that is not an alias as IAM accepts them is dropped.
async fn account_alias(clients: &Clients) -> Option<String> {
    match clients.iam.list_account_aliases().send().await {
        Ok(out) => out
            .account_aliases()
            .first()
            .filter(|a| crate::diagnose::validated::is_account_alias(a))
            .cloned(),
        Err(e) => {
            tracing::info!(error = %call_error(&e), "account alias not read");
            None
        }
    }
}

async fn describe_key(clients: &Clients, key: KeyRef) -> Result<KmsKey, Gap> {
    let reference = key.as_str().to_owned();
    let gap = |error: String| Gap {
        part: EvidencePart::KeyPolicy,
        call: format!("kms:DescribeKey {reference}"),
        error,
    };
    let out = clients
        .kms
        .describe_key()
        .key_id(&reference)
        .send()
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
async fn instance_profile_with_roles(
    clients: &Clients,
    name: &str,
) -> Result<(InstanceProfile, Vec<Gap>), Gap> {
    let mut profile = iam::instance_profile(&clients.iam, name).await?;
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
            .map(|r| iam::role_facts(&clients.iam, r, EvidencePart::InstanceProfile)),
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
                "arn:aws:iam::111122223333:instance-profile/path/Other",
            ),
            ("instanceProfileName", "UseBackedUpValue"),
            ("KmsKeyId", "alias/aws/elasticfilesystem"),
            ("kmsKeyId", "alias/aws/elasticfilesystem"),
            ("Encrypted", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(instance_profile_names(&metadata).0, ["AppProfile", "Other"]);
        let (keys, gaps) = target_key_refs(&metadata);
        assert_eq!(
            keys,
            [KeyRef::Unresolved("alias/aws/elasticfilesystem".into())]
        );
        assert!(gaps.is_empty(), "{gaps:?}");
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
            vault_name_from_arn("arn:aws:backup:eu-west-1:1:backup-vault:a b"),
            None
        );
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn hostile_key_references_are_gaps_never_calls() {
        let (keys, gaps) = target_key_refs(&meta(&[
            ("KmsKeyId", "arn:*"),
            ("kmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/*"),
            ("kmsMasterKeyArn", "alias/*"),
        ]));
        assert!(keys.is_empty(), "{keys:?}");
        assert_eq!(gaps.len(), 3, "{gaps:?}");
        assert!(gaps
            .iter()
            .all(|g| g.part == EvidencePart::RestoreMetadata && g.error.contains("not called")));
    }

    #[test]
    fn instance_profiles_and_keys_per_event_are_capped_and_the_rest_said() {
        let (names, gaps) = instance_profile_names(&meta(&[
            ("IamInstanceProfileName", "a"),
            (
                "iamInstanceProfileArn",
                "arn:aws:iam::111122223333:instance-profile/b",
            ),
            ("InstanceProfileName", "c"),
            (
                "instanceProfileArn",
                "arn:aws:iam::111122223333:instance-profile/d",
            ),
            ("IamInstanceProfile", "bad name!"),
        ]));
        assert_eq!(names.len(), MAX_INSTANCE_PROFILES);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(
            gaps.iter().any(|g| g.error.contains("2 skipped")),
            "{gaps:?}"
        );
        let (keys, gaps) = target_key_refs(&meta(&[
            ("KmsKeyId", "alias/a"),
            ("kmsKeyArn", "alias/b"),
            ("kmsMasterKeyArn", "alias/c"),
            ("KmsKey", "alias/d"),
        ]));
        assert_eq!(keys.len(), MAX_TARGET_KEYS);
        assert!(gaps[0].error.contains("1 skipped"), "{gaps:?}");
    }
}
