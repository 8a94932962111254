//! Restore readiness of one account and Region: "if we had to restore this resource now,
//! with the role we would use, would it work?", answered for every protected resource
//! without starting a restore.
//!
//! The enumeration, then one gathering per (resource, vault), all in one [`Run`] so that
//! each role, managed policy, key and vault policy is read once per run (the calls grow
//! with the distinct roles, keys and vaults, not with the recovery points):
//! 1. `backup:ListProtectedResources`: what could be restored;
//! 2. the role per resource type: the restore testing selection for that type
//!    (`backup:ListRestoreTestingPlans`, `backup:ListRestoreTestingSelections`, which
//!    carry `ProtectedResourceType` and `IamRoleArn`), else `--restore-role TYPE=ARN`,
//!    else `--restore-role ARN`, else AWS Backup's default service role
//!    `service-role/AWSBackupDefaultServiceRole` when `iam:GetRole` finds it (restore job
//!    events name it as their role, `arn:aws:iam::…:role/service-role/AWSBackupDefaultServiceRole`,
//!    in public code; when AWS Backup creates it is not verified here, so its absence is
//!    an answer, not an error);
//! 3. the latest completed recovery point of each resource in each vault: in a full run,
//!    per vault (`backup:ListBackupVaults`, then `backup:ListRecoveryPointsByBackupVault`,
//!    1,000 a page), so the calls grow with the vaults, not the resources; in a scoped
//!    run (a change re-checks a few rows), per resource
//!    (`backup:ListRecoveryPointsByResource`), which costs one call per resource where
//!    listing by vault would read every vault's every recovery point to find a few;
//! 4. per recovery point, `backup:GetRecoveryPointRestoreMetadata`: the metadata AWS
//!    Backup would restore with by default (AWS Backup has no batch form);
//! 5. the synthetic readiness event ([`trigger::readiness`], every value checked there),
//!    gathered ([`gather_listed`]) and diagnosed ([`doctor::readiness`](crate::doctor::readiness)).
//!    The vault listing carries what `backup:DescribeRecoveryPoint` would say, so a full
//!    run's gathering does not describe the recovery point again; a scoped run's does
//!    (ListRecoveryPointsByResource carries neither the resource type nor the vault ARN).
//!
//! Every value from a response is checked before it is sent back to AWS (a resource
//! ARN, a vault name, a plan name) or used: one that fails is a gap, never a call.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::accounts::MemberAccounts;
use super::budget::{InLane, Lanes, Service};
use super::error::call_error;
use super::gather::{gather_listed, listed_recovery_point, Owners, Run, Source};
use super::Clients;
use crate::diagnose::evidence::{EvidencePart, Gap, RecoveryPoint};
use crate::diagnose::readiness::{
    state_key, ReadinessRun, ResourceReadiness, RestoreRoles, RoleSource, READINESS_SCHEMA_VERSION,
};
use crate::diagnose::validated::{shown, Arn, KeyArn, RoleArn};
use crate::event::sanitize;
use crate::event::trigger::{self, ReadinessInput};

/// The most protected resources checked in one run; the rest are a gap.
pub const MAX_RESOURCES: usize = 10_000;
/// The most pages of one listing read.
const MAX_PAGES: usize = 100;
/// The items asked per page of ListProtectedResources, ListRecoveryPointsByResource,
/// ListBackupVaults and ListRecoveryPointsByBackupVault: their most ("Valid Range:
/// Minimum value of 1. Maximum value of 1000.",
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListProtectedResources.html>,
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListRecoveryPointsByResource.html>,
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupVaults.html>,
/// <https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListRecoveryPointsByBackupVault.html>),
/// so that [`MAX_PAGES`] pages hold [`MAX_RESOURCES`] resources whatever AWS's default
/// page size is (not documented) and 10,000 resources take 10 listing calls.
const PAGE_SIZE: i32 = 1000;
/// The name of AWS Backup's default service role, under the path `/service-role/`.
pub const DEFAULT_SERVICE_ROLE: &str = "AWSBackupDefaultServiceRole";

/// A protected resource's latest recovery point in one vault.
struct Candidate {
    resource_arn: String,
    resource_type: Option<String>,
    recovery_point_arn: Option<String>,
    vault_name: Option<String>,
    vault_arn: Option<String>,
    /// The recovery point as the vault listing described it, with the gaps of its
    /// checks: the gathering does not describe it again.
    listed: Option<(RecoveryPoint, Vec<Gap>)>,
    /// The listing that found (or did not find) the recovery point.
    listing: &'static str,
    /// Why nothing of this resource could be gathered (a listing that failed).
    gap: Option<Gap>,
}

/// The latest completed recovery point of one resource in one vault, so far.
struct Latest {
    created: aws_smithy_types::DateTime,
    arn: String,
    listed: Option<(RecoveryPoint, Vec<Gap>)>,
}

/// What the vault listing found of one resource: the latest per vault, and how many of
/// its recovery points were dropped (a value failed its check).
#[derive(Default)]
struct Found {
    latest: BTreeMap<String, Latest>,
    dropped: usize,
}

const BY_RESOURCE: &str = "backup:ListRecoveryPointsByResource";
const BY_VAULT: &str = "backup:ListRecoveryPointsByBackupVault";

fn gap(part: EvidencePart, call: impl Into<String>, error: impl Into<String>) -> Gap {
    Gap {
        part,
        call: call.into(),
        error: error.into(),
    }
}

/// Checks every protected resource of the account and Region the clients are for.
pub async fn readiness(
    clients: &Clients,
    account: &str,
    region: &str,
    roles: &RestoreRoles,
) -> ReadinessRun {
    readiness_in(clients, (account, region), roles, Scope::default()).await
}

/// [`readiness`] of the rows of `scope`, with no deadline of its own (the command line).
async fn readiness_in(
    clients: &Clients,
    (account, region): (&str, &str),
    roles: &RestoreRoles,
    scope: Scope<'_>,
) -> ReadinessRun {
    let far = Instant::now() + std::time::Duration::from_secs(24 * 3600);
    Box::pin(readiness_until(clients, account, region, roles, scope, far))
        .await
        .run
}

/// [`readiness`] of each of `accounts` in `region`, in that order: the caller's own
/// account (`own`) with its own clients, every other through its reader role
/// (`members`: member.yaml's `RestoreDoctorReader` unless renamed), assumed with the
/// caller's credentials. A key owned by another of the accounts is read in its owner
/// (as the function does). An account whose role cannot be assumed is a run with no
/// resources and one gap naming the account and the fix, never an error: the other
/// accounts are still checked.
pub async fn readiness_of_accounts(
    clients: &Clients,
    members: &MemberAccounts,
    (own, partition): (&str, &str),
    region: &str,
    accounts: &[String],
    roles: &RestoreRoles,
) -> Vec<ReadinessRun> {
    let scope = Scope {
        owners: Some(Owners {
            members,
            own_clients: clients,
            own_account: own,
            partition,
        }),
        ..Scope::default()
    };
    let mut runs = Vec::with_capacity(accounts.len());
    for account in accounts {
        if account == own {
            runs.push(readiness_in(clients, (account, region), roles, scope).await);
            continue;
        }
        match members
            .member_clients(account, Some(region), partition)
            .await
        {
            Ok((member, _role)) => {
                runs.push(readiness_in(&member, (account, region), roles, scope).await)
            }
            Err((role_arn, error)) => runs.push(unreachable_account(
                account,
                region,
                &role_arn,
                &error,
                members.reader_role_name(),
            )),
        }
    }
    runs
}

/// The run of an account whose reader role could not be assumed: nothing in it is
/// verifiable, and the gap says which account, why, and what to deploy there.
pub fn unreachable_account(
    account: &str,
    region: &str,
    role_arn: &str,
    error: &str,
    role_name: &str,
) -> ReadinessRun {
    ReadinessRun {
        schema_version: READINESS_SCHEMA_VERSION,
        account_id: Some(account.to_owned()),
        region: Some(region.to_owned()),
        resources: Vec::new(),
        gaps: vec![gap(
            EvidencePart::Other,
            format!("sts:AssumeRole {role_arn}"),
            format!(
                "{}: account {account} could not be read, so the readiness of its resources is not verifiable. \
                 Deploy the member stack (member.yaml) in account {account}, with the StackSet or as a stack, \
                 and check that its {role_name} role trusts the principal running restore-doctor",
                error.chars().filter(|c| !c.is_control()).take(500).collect::<String>()
            ),
        )],
    }
}

/// A readiness run, with the keys each row's restore uses (same order as
/// `run.resources`): the recovery point's key and the target keys KMS resolved, which
/// the function keeps to find the resources a key change touches.
#[derive(Debug, Clone)]
pub struct Checked {
    pub run: ReadinessRun,
    pub keys: Vec<Vec<String>>,
}

/// Which rows a run checks, and in which order.
#[derive(Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Only the (resource, vault) rows whose [`state_key`] is here; all when `None`.
    pub only: Option<&'a BTreeSet<String>>,
    /// When each resource (by ARN) was last checked: the resources checked longest ago
    /// (and those never checked) go first, so a run the deadline cuts short reaches the
    /// others on the next run.
    pub last_checked: Option<&'a BTreeMap<String, i64>>,
    /// Organization mode: a key owned by another account (a central backup account's
    /// vault key) is read in its owner through the owner's reader role, as a failure's
    /// gathering reads it; `None`: every read in the account checked.
    pub owners: Option<Owners<'a>>,
}

/// [`readiness`] of the rows of `scope`, stopping at `deadline`: rows not reached are one
/// run gap, never a verdict.
pub async fn readiness_until(
    clients: &Clients,
    account: &str,
    region: &str,
    roles: &RestoreRoles,
    scope: Scope<'_>,
    deadline: Instant,
) -> Checked {
    let only = scope.only;
    let lanes = Lanes::default();
    let run = Run::new(clients, &lanes);
    let mut run_gaps = Vec::new();

    let mut resources = protected_resources(clients, &lanes, &mut run_gaps).await;
    if let Some(only) = only {
        resources.retain(|(arn, _)| {
            let prefix = state_key(account, arn, Some(""));
            only.iter().any(|k| k.starts_with(&prefix))
        });
    }
    if let Some(last) = scope.last_checked {
        // Stable: equally old resources keep the listing's order.
        resources.sort_by_key(|(arn, _)| last.get(arn).copied().unwrap_or(i64::MIN));
    }
    let selections = restore_testing_selections(clients, &lanes, &mut run_gaps).await;
    let needs_default = resources.iter().any(|(arn, t)| {
        let t = t.as_deref().unwrap_or("");
        selection_for(&selections, arn, t).is_none()
            && !roles.by_type.contains_key(t)
            && roles.default.is_none()
    });
    let default_role = if needs_default {
        default_service_role(clients, &lanes, &mut run_gaps).await
    } else {
        None
    };
    // A full run lists by vault; a scoped one (or one whose vault listing was refused:
    // a read policy from before this listing) by resource.
    let mut by_vault = if only.is_none() {
        let wanted: BTreeSet<&str> = resources.iter().map(|(a, _)| a.as_str()).collect();
        recovery_points_by_vault(clients, &lanes, &wanted, &mut run_gaps).await
    } else {
        None
    };

    let mut out = Vec::new();
    let mut keys = Vec::new();
    let mut left = 0usize;
    for (resource_arn, resource_type) in resources {
        if Instant::now() >= deadline {
            left += 1;
            continue;
        }
        let t = resource_type.clone().unwrap_or_default();
        let chosen = selection_for(&selections, &resource_arn, &t);
        let overrides = chosen.map(|s| s.overrides.clone()).unwrap_or_default();
        let role: Option<(String, RoleSource)> = chosen
            .map(|s| (s.role.clone(), RoleSource::RestoreTestingSelection))
            .or_else(|| {
                roles
                    .by_type
                    .get(&t)
                    .map(|r| (r.as_str().to_owned(), RoleSource::ConfiguredForType))
            })
            .or_else(|| {
                roles
                    .default
                    .as_ref()
                    .map(|r| (r.as_str().to_owned(), RoleSource::Configured))
            })
            .or_else(|| {
                default_role
                    .clone()
                    .map(|r| (r, RoleSource::DefaultServiceRole))
            });
        let listed = match by_vault.as_mut() {
            Some(found) => candidates(
                (account, region),
                &resource_arn,
                resource_type,
                found.remove(&resource_arn).unwrap_or_default(),
                BY_VAULT,
            ),
            None => {
                latest_recovery_points(
                    clients,
                    &lanes,
                    (account, region),
                    &resource_arn,
                    resource_type,
                )
                .await
            }
        };
        for c in listed {
            if let Some(only) = only {
                if !only.contains(&state_key(
                    account,
                    &c.resource_arn,
                    c.vault_name.as_deref(),
                )) {
                    continue;
                }
            }
            let (r, k) = check(
                &run,
                (clients, &lanes, scope.owners),
                (account, region),
                c,
                (role.clone(), &overrides),
                deadline,
            )
            .await;
            out.push(r);
            keys.push(k);
        }
    }
    if left > 0 {
        run_gaps.push(gap(
            EvidencePart::Other,
            "readiness run",
            format!("{left} protected resource(s) not checked before the invocation's deadline"),
        ));
    }
    Checked {
        run: ReadinessRun {
            schema_version: READINESS_SCHEMA_VERSION,
            account_id: Some(account.to_owned()),
            region: Some(region.to_owned()),
            resources: out,
            gaps: run_gaps,
        },
        keys,
    }
}

/// The role a restore would use, where it came from, and (for a restore testing
/// selection) the metadata overrides it restores with.
type RoleChoice<'o> = (Option<(String, RoleSource)>, &'o [(String, String)]);

/// One (resource, vault): its restore metadata, the gathering and the verdict.
async fn check<'a>(
    run: &Run<'a>,
    (clients, lanes, owners): (&'a Clients, &Lanes, Option<Owners<'a>>),
    (account, region): (&str, &str),
    c: Candidate,
    (role, overrides): RoleChoice<'_>,
    far: Instant,
) -> (ResourceReadiness, Vec<String>) {
    let mut gaps: Vec<Gap> = c.gap.into_iter().collect();
    let (listed, listed_gaps) = c.listed.unzip();
    gaps.extend(listed_gaps.into_iter().flatten());
    let mut metadata = Vec::new();
    match (&c.vault_name, &c.recovery_point_arn) {
        (Some(vault), Some(rp)) => match restore_metadata(clients, lanes, vault, rp).await {
            Ok(m) => metadata = with_overrides(m, overrides),
            Err(g) => gaps.push(g),
        },
        _ if gaps.is_empty() => gaps.push(gap(
            EvidencePart::RecoveryPoint,
            c.listing,
            "no completed recovery point of this resource was listed",
        )),
        _ => {}
    }
    if role.is_none() {
        gaps.push(gap(
            EvidencePart::RestoreRole,
            "restore role",
            "no restore testing selection for this resource type, no --restore-role, and no AWS Backup default service role: give one with --restore-role",
        ));
    }
    let parsed = trigger::readiness(ReadinessInput {
        id: "readiness".into(),
        account: Some(account.to_owned()),
        region: Some(region.to_owned()),
        recovery_point_arn: c.recovery_point_arn.clone(),
        backup_vault_arn: c.vault_arn.clone(),
        iam_role_arn: role.as_ref().map(|(r, _)| r.clone()),
        resource_type: c.resource_type.clone(),
        source_resource_arn: Some(c.resource_arn.clone()),
        metadata,
    });
    let mut evidence = if c.recovery_point_arn.is_some() && role.is_some() {
        // The account the clients are for, read with their own credentials.
        let source = Source {
            clients,
            role_arn: None,
            owners,
            aliases: None,
        };
        Box::pin(gather_listed(run, source, &parsed, listed.as_ref(), far)).await
    } else {
        parsed.evidence()
    };
    evidence.gaps.extend(gaps);
    let mut r = crate::doctor::readiness(&evidence);
    r.role_source = role.map(|(_, s)| s);
    (r, keys_of(&evidence))
}

/// The keys a restore of this recovery point uses, as read: the recovery point's own
/// key and every key KMS resolved (target keys of the metadata), each a valid key ARN.
fn keys_of(evidence: &crate::diagnose::Evidence) -> Vec<String> {
    let mut keys: Vec<String> = evidence
        .recovery_point
        .iter()
        .filter_map(|rp| rp.encryption_key_arn.clone())
        .chain(evidence.kms_keys.iter().map(|k| k.key_arn.clone()))
        .filter(|k| KeyArn::parse(k).is_ok())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// ListProtectedResources: (resource ARN, resource type), each checked.
async fn protected_resources(
    clients: &Clients,
    lanes: &Lanes,
    run_gaps: &mut Vec<Gap>,
) -> Vec<(String, Option<String>)> {
    const CALL: &str = "backup:ListProtectedResources";
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = clients
            .backup
            .list_protected_resources()
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .lane(lanes, Service::Backup)
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                run_gaps.push(gap(EvidencePart::Other, CALL, call_error(&e).text));
                return out;
            }
        };
        for r in page.results() {
            let arn = r.resource_arn().unwrap_or("");
            match sanitize::arn(arn) {
                Ok(a) => {
                    let t = r
                        .resource_type()
                        .filter(|t| sanitize::is_resource_type(t))
                        .map(str::to_owned);
                    if out.len() < MAX_RESOURCES {
                        out.push((a, t));
                    }
                }
                Err(e) => run_gaps.push(gap(
                    EvidencePart::Other,
                    CALL,
                    format!(
                        "a resource ARN was dropped: {}",
                        sanitize::refused(&e, arn.len())
                    ),
                )),
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    if out.len() >= MAX_RESOURCES {
        run_gaps.push(gap(
            EvidencePart::Other,
            CALL,
            format!("only the first {MAX_RESOURCES} protected resources were checked"),
        ));
    }
    out
}

/// A restore testing selection, as GetRestoreTestingSelection returned it, checked.
#[derive(Debug, Clone, Default, PartialEq)]
struct Selection {
    resource_type: String,
    role: String,
    /// `ProtectedResourceArns`: the resources it names, or `*` for every one of the type.
    resources: Vec<String>,
    /// `RestoreMetadataOverrides`: what restore testing restores with instead of the
    /// inferred metadata.
    overrides: Vec<(String, String)>,
}

impl Selection {
    /// Whether restore testing would restore `resource` with this selection's role: it
    /// names the resource, or every resource of its type (`*`; AWS Backup,
    /// RestoreTestingSelectionForCreate: "ProtectedResourceArns: [\"*\"]").
    fn covers(&self, resource: &str) -> Option<bool> {
        if self.resources.iter().any(|r| r == resource) {
            Some(true)
        } else if self.resources.is_empty() || self.resources.iter().any(|r| r == "*") {
            Some(false)
        } else {
            None
        }
    }
}

/// The selection whose role restore testing would use for `resource` of `kind`: one
/// that names it, else one for every resource of its type (first plan, then first
/// selection, by name).
fn selection_for<'s>(
    selections: &'s [Selection],
    resource: &str,
    kind: &str,
) -> Option<&'s Selection> {
    let of_type = || selections.iter().filter(|s| s.resource_type == kind);
    of_type()
        .find(|s| s.covers(resource) == Some(true))
        .or_else(|| of_type().find(|s| s.covers(resource) == Some(false)))
}

/// The inferred metadata with a selection's overrides in place ("Key values are not
/// case sensitive": AWS Backup, RestoreTestingSelectionForUpdate).
fn with_overrides(
    inferred: Vec<(String, String)>,
    overrides: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = inferred
        .into_iter()
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o.eq_ignore_ascii_case(k)))
        .collect();
    out.extend(overrides.iter().cloned());
    out
}

/// Every restore testing selection of the account, read in full (ListRestoreTestingPlans,
/// ListRestoreTestingSelections, GetRestoreTestingSelection), first plan and first
/// selection by name first.
async fn restore_testing_selections(
    clients: &Clients,
    lanes: &Lanes,
    run_gaps: &mut Vec<Gap>,
) -> Vec<Selection> {
    let mut plans = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        match clients
            .backup
            .list_restore_testing_plans()
            .set_next_token(token.clone())
            .send()
            .lane(lanes, Service::Backup)
            .await
        {
            Ok(p) => {
                plans.extend(
                    p.restore_testing_plans()
                        .iter()
                        .map(|p| p.restore_testing_plan_name().to_owned()),
                );
                token = p.next_token().map(str::to_owned);
            }
            Err(e) => {
                run_gaps.push(gap(
                    EvidencePart::RestoreRole,
                    "backup:ListRestoreTestingPlans",
                    format!(
                        "{}; the restore role of each resource type came from --restore-role or the default service role",
                        call_error(&e).text
                    ),
                ));
                return Vec::new();
            }
        }
        if token.is_none() {
            break;
        }
    }
    plans.sort();
    let mut out = Vec::new();
    for plan in plans {
        if !sanitize::is_id(&plan) {
            run_gaps.push(gap(
                EvidencePart::RestoreRole,
                "backup:ListRestoreTestingSelections",
                format!("not attempted: `{}` is not a plan name", shown(&plan)),
            ));
            continue;
        }
        let call = format!("backup:ListRestoreTestingSelections {plan}");
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            match clients
                .backup
                .list_restore_testing_selections()
                .restore_testing_plan_name(&plan)
                .set_next_token(token.clone())
                .send()
                .lane(lanes, Service::Backup)
                .await
            {
                Ok(page) => {
                    names.extend(
                        page.restore_testing_selections()
                            .iter()
                            .map(|s| s.restore_testing_selection_name().to_owned()),
                    );
                    token = page.next_token().map(str::to_owned);
                }
                Err(e) => {
                    run_gaps.push(gap(
                        EvidencePart::RestoreRole,
                        call.clone(),
                        call_error(&e).text,
                    ));
                    token = None;
                }
            }
            if token.is_none() {
                break;
            }
        }
        names.sort();
        for name in names {
            let call = format!("backup:GetRestoreTestingSelection {plan}/{}", shown(&name));
            if !sanitize::is_id(&name) {
                run_gaps.push(gap(
                    EvidencePart::RestoreRole,
                    call,
                    "not attempted: not a selection name",
                ));
                continue;
            }
            match selection(clients, lanes, &plan, &name).await {
                Ok(s) => out.push(s),
                Err(why) => run_gaps.push(gap(EvidencePart::RestoreRole, call, why)),
            }
        }
    }
    out
}

/// GetRestoreTestingSelection, every value checked: a selection with a value that fails
/// is left out (its resources fall back to --restore-role or the default service role).
async fn selection(
    clients: &Clients,
    lanes: &Lanes,
    plan: &str,
    name: &str,
) -> Result<Selection, String> {
    let out = clients
        .backup
        .get_restore_testing_selection()
        .restore_testing_plan_name(plan)
        .restore_testing_selection_name(name)
        .send()
        .lane(lanes, Service::Backup)
        .await
        .map_err(|e| call_error(&e).text)?;
    let s = out
        .restore_testing_selection()
        .ok_or("no selection returned")?;
    let resource_type = s.protected_resource_type();
    if !sanitize::is_resource_type(resource_type) {
        return Err("its resource type failed its check: not used".into());
    }
    let role = RoleArn::parse(s.iam_role_arn())
        .map_err(|e| format!("its role ARN: {}: not used", e.why))?;
    let mut resources = Vec::new();
    for r in s.protected_resource_arns() {
        if r == "*" {
            resources.push(r.clone());
        } else {
            let arn = sanitize::arn(r).map_err(|e| {
                format!(
                    "a resource ARN: {}: not used",
                    sanitize::refused(&e, r.len())
                )
            })?;
            resources.push(arn);
        }
    }
    let overrides = s
        .restore_metadata_overrides()
        .map(|m| {
            let mut v: Vec<(String, String)> =
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    Ok(Selection {
        resource_type: resource_type.to_owned(),
        role: role.as_str().to_owned(),
        resources,
        overrides,
    })
}

/// AWS Backup's default service role, when the account has it.
async fn default_service_role(
    clients: &Clients,
    lanes: &Lanes,
    run_gaps: &mut Vec<Gap>,
) -> Option<String> {
    let call = format!("iam:GetRole {DEFAULT_SERVICE_ROLE}");
    match clients
        .iam
        .get_role()
        .role_name(DEFAULT_SERVICE_ROLE)
        .send()
        .lane(lanes, Service::Iam)
        .await
    {
        Ok(out) => {
            let arn = out.role().map(|r| r.arn()).unwrap_or("");
            match RoleArn::parse(arn) {
                Ok(r) => Some(r.as_str().to_owned()),
                Err(e) => {
                    run_gaps.push(gap(EvidencePart::RestoreRole, call, e.why));
                    None
                }
            }
        }
        Err(e) => {
            let err = call_error(&e);
            // Absent is an answer, not a gap: the resources without a role say so.
            if !err.is_not_found() {
                run_gaps.push(gap(EvidencePart::RestoreRole, call, err.text));
            }
            None
        }
    }
}

/// ListRecoveryPointsByResource: the latest completed recovery point in each vault.
async fn latest_recovery_points(
    clients: &Clients,
    lanes: &Lanes,
    (account, region): (&str, &str),
    resource_arn: &str,
    resource_type: Option<String>,
) -> Vec<Candidate> {
    let mut found = Found::default();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = match clients
            .backup
            .list_recovery_points_by_resource()
            .resource_arn(resource_arn)
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .lane(lanes, Service::Backup)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                return vec![Candidate {
                    resource_arn: resource_arn.to_owned(),
                    resource_type,
                    recovery_point_arn: None,
                    vault_name: None,
                    vault_arn: None,
                    listed: None,
                    listing: BY_RESOURCE,
                    gap: Some(gap(
                        EvidencePart::RecoveryPoint,
                        format!("{BY_RESOURCE} {resource_arn}"),
                        call_error(&e).text,
                    )),
                }]
            }
        };
        for rp in page.recovery_points() {
            if !completed(rp.status()) {
                continue;
            }
            let vault = rp.backup_vault_name().unwrap_or("");
            let arn = rp.recovery_point_arn().unwrap_or("");
            let (Some(created), true, Ok(arn)) = (
                rp.creation_date(),
                sanitize::is_vault_name(vault),
                Arn::parse(arn),
            ) else {
                found.dropped += 1;
                continue;
            };
            found.keep(vault, *created, arn.as_str(), || None);
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    candidates(
        (account, region),
        resource_arn,
        resource_type,
        found,
        BY_RESOURCE,
    )
}

/// Whether a restore could use a recovery point of this status.
fn completed(status: Option<&aws_sdk_backup::types::RecoveryPointStatus>) -> bool {
    use aws_sdk_backup::types::RecoveryPointStatus as S;
    matches!(status, Some(S::Completed | S::Available))
}

impl Found {
    /// Keeps the recovery point if it is the latest of its vault so far; `listed` is
    /// built only then.
    fn keep(
        &mut self,
        vault: &str,
        created: aws_smithy_types::DateTime,
        arn: &str,
        listed: impl FnOnce() -> Option<(RecoveryPoint, Vec<Gap>)>,
    ) {
        let newer = self.latest.get(vault).is_none_or(|l| created > l.created);
        if newer {
            self.latest.insert(
                vault.to_owned(),
                Latest {
                    created,
                    arn: arn.to_owned(),
                    listed: listed(),
                },
            );
        }
    }
}

/// One row per vault holding a completed recovery point of the resource (one row
/// without a recovery point when none does).
fn candidates(
    (account, region): (&str, &str),
    resource_arn: &str,
    resource_type: Option<String>,
    found: Found,
    listing: &'static str,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = found
        .latest
        .into_iter()
        .map(|(vault, l)| Candidate {
            resource_arn: resource_arn.to_owned(),
            resource_type: resource_type.clone(),
            vault_arn: Arn::parse(&l.arn)
                .ok()
                .map(|a| vault_arn(a.partition(), (account, region), &vault)),
            recovery_point_arn: Some(l.arn),
            vault_name: Some(vault),
            listed: l.listed,
            listing,
            gap: None,
        })
        .collect();
    if out.is_empty() {
        out.push(Candidate {
            resource_arn: resource_arn.to_owned(),
            resource_type,
            recovery_point_arn: None,
            vault_name: None,
            vault_arn: None,
            listed: None,
            listing,
            gap: None,
        });
    }
    // A point dropped may be the latest: no row can say it checked the one a restore
    // would use.
    if found.dropped > 0 {
        let call = if listing == BY_RESOURCE {
            format!("{listing} {resource_arn}")
        } else {
            listing.to_owned()
        };
        for c in &mut out {
            c.gap = Some(gap(
                EvidencePart::RecoveryPoint,
                call.clone(),
                format!(
                    "{} recovery point(s) dropped: a vault name, ARN or date failed its check",
                    found.dropped
                ),
            ));
        }
    }
    out
}

/// Every vault's recovery points (ListBackupVaults, then ListRecoveryPointsByBackupVault
/// per vault, 1,000 a page): the latest completed one of each `wanted` resource in each
/// vault. Every value is checked: a recovery point whose ARN, vault name or date fails is
/// counted against its resource (a gap on its rows, as by resource); one whose resource
/// ARN fails, or a vault whose name fails, is a run gap. `None` when a listing call
/// failed: the caller lists by resource instead, so that a read policy without
/// these two actions still gets every row, and a run gap says so. ListBackupVaults is
/// asked without `ByVaultType` or `ByShared`; whether its default listing includes
/// logically air-gapped or shared vaults is not verified here
/// (<https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupVaults.html>).
async fn recovery_points_by_vault(
    clients: &Clients,
    lanes: &Lanes,
    wanted: &BTreeSet<&str>,
    run_gaps: &mut Vec<Gap>,
) -> Option<BTreeMap<String, Found>> {
    let fallback = |call: &str, error: String| {
        gap(
            EvidencePart::RecoveryPoint,
            call,
            format!(
                "{error}; the recovery points were listed per resource instead (ListRecoveryPointsByResource, one call per resource)"
            ),
        )
    };
    let mut vaults = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = match clients
            .backup
            .list_backup_vaults()
            .max_results(PAGE_SIZE)
            .set_next_token(token.clone())
            .send()
            .lane(lanes, Service::Backup)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                run_gaps.push(fallback("backup:ListBackupVaults", call_error(&e).text));
                return None;
            }
        };
        for v in page.backup_vault_list() {
            let name = v.backup_vault_name().unwrap_or("");
            if sanitize::is_vault_name(name) {
                vaults.push(name.to_owned());
            } else {
                run_gaps.push(gap(
                    EvidencePart::RecoveryPoint,
                    "backup:ListBackupVaults",
                    format!(
                        "a vault name was dropped ({} bytes, not well-formed): its recovery points were not checked",
                        name.len()
                    ),
                ));
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // A name listed twice (pages that overlap) is listed once.
    vaults.sort();
    vaults.dedup();
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut unattributed = 0usize;
    for vault in &vaults {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = match clients
                .backup
                .list_recovery_points_by_backup_vault()
                .backup_vault_name(vault)
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .lane(lanes, Service::Backup)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    run_gaps.push(fallback(
                        &format!("{BY_VAULT} {vault}"),
                        call_error(&e).text,
                    ));
                    return None;
                }
            };
            for rp in page.recovery_points() {
                let resource = rp.resource_arn().unwrap_or("");
                let Ok(resource) = sanitize::arn(resource) else {
                    unattributed += 1;
                    continue;
                };
                if !wanted.contains(resource.as_str()) || !completed(rp.status()) {
                    continue;
                }
                let entry = found.entry(resource).or_default();
                // The vault is the one asked (its name checked above).
                let arn = rp.recovery_point_arn().unwrap_or("");
                let (Some(created), Ok(arn)) = (rp.creation_date(), Arn::parse(arn)) else {
                    entry.dropped += 1;
                    continue;
                };
                entry.keep(vault, *created, arn.as_str(), || {
                    Some(listed_recovery_point(rp, arn.as_str(), vault))
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    if unattributed > 0 {
        run_gaps.push(gap(
            EvidencePart::RecoveryPoint,
            BY_VAULT,
            format!(
                "{unattributed} recovery point(s) dropped: their resource ARN failed its check, so the latest recovery point of some resource may not be the one checked"
            ),
        ));
    }
    Some(found)
}

/// The ARN of a vault the listing named: the vaults the listings name
/// are those of the account and Region asked, and the recovery point's ARN may not say
/// which: an EBS snapshot's has no account (`arn:${Partition}:ec2:${Region}::snapshot/*`
/// in AWSBackupServiceRolePolicyForRestores v35, Sid EBSPermissions), nor has an EC2
/// image's (`events/restore-job-failed-ec2-encoded.json`). A vault ARN without its
/// account was read a second time under another name, and shown so.
fn vault_arn(partition: &str, (account, region): (&str, &str), vault: &str) -> String {
    format!("arn:{partition}:backup:{region}:{account}:backup-vault:{vault}")
}

/// GetRecoveryPointRestoreMetadata: the metadata AWS Backup would restore with.
async fn restore_metadata(
    clients: &Clients,
    lanes: &Lanes,
    vault: &str,
    rp: &str,
) -> Result<Vec<(String, String)>, Gap> {
    let out = clients
        .backup
        .get_recovery_point_restore_metadata()
        .backup_vault_name(vault)
        .recovery_point_arn(rp)
        .send()
        .lane(lanes, Service::Backup)
        .await
        .map_err(|e| {
            gap(
                EvidencePart::RestoreMetadata,
                format!("backup:GetRecoveryPointRestoreMetadata {rp}"),
                call_error(&e).text,
            )
        })?;
    Ok(out
        .restore_metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn sel(kind: &str, role: &str, resources: &[&str]) -> Selection {
        Selection {
            resource_type: kind.into(),
            role: role.into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            overrides: vec![],
        }
    }

    #[test]
    fn the_selection_naming_the_resource_wins_over_the_wildcard_one() {
        let fs = "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-1";
        let all = [
            sel("EFS", "wild", &["*"]),
            sel("EFS", "named", &[fs]),
            sel(
                "EFS",
                "other",
                &["arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-2"],
            ),
            sel("EBS", "ebs", &["*"]),
        ];
        assert_eq!(selection_for(&all, fs, "EFS").unwrap().role, "named");
        let fs3 = "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-3";
        assert_eq!(selection_for(&all, fs3, "EFS").unwrap().role, "wild");
        // A selection naming only other resources never restores this one.
        assert!(selection_for(&all[2..3], fs3, "EFS").is_none());
        assert!(selection_for(&all, fs3, "RDS").is_none());
    }

    #[test]
    fn the_vault_of_an_ebs_snapshot_is_in_the_account_listed() {
        let snapshot =
            Arn::parse("arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0").unwrap();
        assert_eq!(snapshot.account(), "");
        assert_eq!(
            vault_arn(
                snapshot.partition(),
                ("111122223333", "eu-west-1"),
                "Default"
            ),
            "arn:aws:backup:eu-west-1:111122223333:backup-vault:Default"
        );
    }

    #[test]
    fn overrides_replace_inferred_keys_whatever_their_case() {
        let m = with_overrides(
            vec![
                ("KmsKeyId".into(), "inferred".into()),
                ("newFileSystem".into(), "true".into()),
            ],
            &[("kmskeyid".into(), "override".into())],
        );
        assert_eq!(
            m,
            [
                ("newFileSystem".to_string(), "true".to_string()),
                ("kmskeyid".to_string(), "override".to_string())
            ]
        );
    }
}
