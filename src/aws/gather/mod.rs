//! Gathering the evidence for one failed restore: every read-only call the diagnosis
//! needs, each started as soon as what it needs is known, each failure a [`Gap`].
//!
//! The reads form a graph, not stages. From the event alone, at once: the restore job
//! and its metadata, the restore role's policies (the event names the role), the
//! caller's policies (a refused StartRestoreJob), the decoded authorization message (the
//! event carries the status message), the account alias. Then each chain goes on by
//! itself:
//! - restore job → recovery point and vault access policy → the recovery point's key
//!   (kms:DescribeKey and kms:GetKeyPolicy at once); a recovery point a listing already
//!   read (a readiness run's vault listing, [`gather_listed`]) is not described again;
//! - restore metadata → target keys (a key ARN: DescribeKey and GetKeyPolicy at once; an
//!   alias or key id: DescribeKey, then GetKeyPolicy of what it resolved to) and
//!   instance profiles → their roles;
//! - role → inline and attached policy names, boundary ARN → documents → default
//!   versions ([`iam::Reads`]).
//!
//! So the longest chain is three reads before the alert's Publish, for any role shape,
//! where stages made it five to nine (issue #11; BENCHMARKS.md, "Evidence gathering").
//! What the restore job says wins over the event: when it names another role or another
//! encoded message, that one is read too, after the job. Every read happens once: a key
//! or managed policy needed twice waits for the first read
//! ([`Once`](crate::aws::budget::Once)).
//!
//! What bounds it, so that one crafted or unlucky event cannot exhaust the function or
//! the account:
//! - every value sent to AWS passed its check first (an event's in
//!   [`trigger`](crate::event::trigger), a response's here): a value that fails is a
//!   gap, never a call, so no oversized or hostile string reaches the SDK;
//! - at most [`MAX_INSTANCE_PROFILES`] instance profiles and [`MAX_TARGET_KEYS`] target
//!   keys per event; the rest are a gap that says how many were skipped;
//! - at most a few calls per service in flight ([`Lanes`]);
//! - every call stops at the deadline ([`gather_until`]): what was not read by then is a
//!   gap ("not read before the deadline") and the alert goes out with the rest.
//!
//! In organization mode a key owned by another account than the failure's (the central
//! backup account's vault key), or a vault the job names there, is read in its owner, through that account's reader role
//! ([`Owners`]): KMS answers kms:GetKeyPolicy only to the key's own account ("Allowing
//! users in other accounts to use a KMS key",
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html>:
//! cross-account permissions work only for the operations listed there, and GetKeyPolicy
//! is not one). The AssumeRole runs in the STS lane,
//! started with the key's read, as soon as its ARN is known. Every policy read records
//! where it was read ([`ReadFrom`]).

mod metadata;
mod reads;

use std::collections::BTreeMap;

use futures::future::{join_all, OptionFuture};
use futures::FutureExt;
use serde_json::Value;
use tokio::time::Instant;

use super::accounts::MemberAccounts;
use super::alias::AccountAliases;
use super::budget::{late, By, InLane, Lanes, Once, Service};
use super::iam;
use super::Clients;
use crate::diagnose::evidence::{
    Evidence, EvidencePart, Gap, InstanceProfile, KeyPolicy, KmsKey, ReadFrom, RecoveryPoint,
    RestoreJob, VaultPolicy,
};
use crate::diagnose::validated::{shown, Arn, KeyArn, KeyRef, RoleArn};
use crate::event::trigger::{IamIdentity, Parsed, Trigger};

pub use metadata::{
    encoded_token, instance_profile_names, target_key_refs, vault_name_from_arn,
    MAX_INSTANCE_PROFILES, MAX_TARGET_KEYS,
};
pub use reads::{listed_recovery_point, LIKELY_VAULTS, MAX_PROFILE_ROLES, MAX_VAULTS_SEARCHED};

/// The clients of one gathering and its lanes: what every read needs.
#[derive(Clone, Copy)]
pub(crate) struct Aws<'a> {
    pub clients: &'a Clients,
    pub lanes: &'a Lanes,
}

/// Whose credentials a gathering reads with, and how it reaches other accounts.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The clients of the failure's account.
    pub clients: &'a Clients,
    /// The role those clients act as (the failure's account's reader role); `None`: the
    /// function's own credentials.
    pub role_arn: Option<&'a str>,
    /// Organization mode: how keys owned by other accounts are read. `None`: every read
    /// goes to the failure's account, as in a single-account deployment.
    pub owners: Option<Owners<'a>>,
    /// The account aliases the function keeps between invocations. `None`: the alias is
    /// read once per run (the command line, a readiness run).
    pub aliases: Option<&'a AccountAliases>,
}

/// Organization mode: the accounts that own what the failure's account uses (a vault
/// key in the central backup account), read through their reader roles.
#[derive(Clone, Copy)]
pub struct Owners<'a> {
    pub members: &'a MemberAccounts,
    /// The function's own clients: a key in the function's own account is read with
    /// them, no role assumed.
    pub own_clients: &'a Clients,
    /// The function's own account, from its ARN (never from an event).
    pub own_account: &'a str,
    /// The partition of the function's ARN: the reader roles' ARNs are in it.
    pub partition: &'a str,
}

/// Which clients read a resource of some account.
enum Via<'a> {
    /// The gathering's own clients: the resource is in the failure's account.
    Home,
    /// The function's own clients: the resource is in the function's account.
    Own(&'a Clients),
    /// The owner's reader role.
    Member(Box<Clients>),
}

impl<'a> Source<'a> {
    /// Where a read with the gathering's own clients happened, when the account is known.
    fn home(&self, account: Option<&str>) -> Option<ReadFrom> {
        account.map(|a| ReadFrom {
            account_id: a.to_owned(),
            role_arn: self.role_arn.map(str::to_owned),
        })
    }

    /// The clients for a resource of `account` in `region`: the gathering's own unless
    /// organization mode knows another owner. A refused reader role is a gap that names
    /// the account and the fix.
    async fn via(
        self,
        home: Option<&str>,
        account: &str,
        region: &str,
        lanes: &Lanes,
        part: EvidencePart,
        what: &str,
    ) -> Result<(Via<'a>, Option<ReadFrom>), Gap> {
        let elsewhere = home.is_some_and(|h| h != account)
            && crate::diagnose::validated::is_account_id(account);
        let Some(owners) = self.owners.filter(|_| elsewhere) else {
            return Ok((Via::Home, self.home(home)));
        };
        if account == owners.own_account {
            let from = ReadFrom {
                account_id: account.to_owned(),
                role_arn: None,
            };
            return Ok((Via::Own(owners.own_clients), Some(from)));
        }
        let region = Some(region).filter(|r| !r.is_empty());
        // Boxed: an AssumeRole future held inline would weigh on every frame above it in
        // a debug build (the gathering's note on stack depth).
        match Box::pin(
            owners
                .members
                .member_clients(account, region, owners.partition),
        )
        .lane(lanes, Service::Sts)
        .await
        {
            Ok((clients, role_arn)) => {
                let from = ReadFrom {
                    account_id: account.to_owned(),
                    role_arn: Some(role_arn.clone()),
                };
                Ok((Via::Member(Box::new(clients)), Some(from)))
            }
            Err((role_arn, error)) => Err(Gap {
                part,
                call: format!("sts:AssumeRole {role_arn}"),
                error: format!(
                    "{error}: {what} belongs to account {account}, which is read through its own {} role. \
                     Deploy the member stack (member.yaml) in account {account}, with the StackSet or as a stack, \
                     and check that its role trusts this function's role",
                    owners.members.reader_role_name()
                ),
            }),
        }
    }
}

impl Via<'_> {
    fn clients<'c>(&'c self, home: &'c Clients) -> &'c Clients {
        match self {
            Via::Home => home,
            Via::Own(c) => c,
            Via::Member(c) => c,
        }
    }
}

/// The key reads of one gathering, once per key reference and once per key ARN.
#[derive(Default)]
struct KeyReads<'a> {
    described: Once<'a, Result<KmsKey, Gap>>,
    policies: Once<'a, Result<KeyPolicy, Gap>>,
}

/// The reads a run of several gatherings shares (a readiness run gathers every
/// protected resource): each role, managed policy, instance profile, key, key policy,
/// vault policy and the account alias is read once per run, so the calls grow with the distinct roles, keys
/// and vaults, not with the recovery points. One gathering has a run of its own.
pub struct Run<'a> {
    aws: Aws<'a>,
    iam: iam::Reads<'a>,
    keys: KeyReads<'a>,
    roles: Known<iam::Collected>,
    profiles: Known<ProfileRead>,
    vaults: Once<'a, (Option<VaultPolicy>, Vec<Gap>)>,
    alias: Once<'a, Option<String>>,
}

/// An instance profile with its roles, as one gathering read it.
type ProfileRead = Result<(InstanceProfile, Vec<Gap>), Gap>;

impl<'a> Run<'a> {
    pub fn new(clients: &'a Clients, lanes: &'a Lanes) -> Self {
        Run {
            aws: Aws { clients, lanes },
            iam: iam::Reads::new(&clients.iam, lanes),
            keys: KeyReads::default(),
            roles: Known::default(),
            profiles: Known::default(),
            vaults: Once::default(),
            alias: Once::default(),
        }
    }
}

/// Answers kept once read: a role read by one gathering of a run is not read again by
/// the next (the gatherings of a run go one after the other, so no two ask at once).
struct Known<T: Clone> {
    answers: std::sync::Mutex<BTreeMap<String, T>>,
}

impl<T: Clone> Default for Known<T> {
    fn default() -> Self {
        Known {
            answers: std::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T: Clone> Known<T> {
    fn known(&self, key: &str) -> Option<T> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn keep(&self, key: &str, value: &T) {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), value.clone());
    }
}

/// A 12-digit account id held by value: reads a run keeps for its later gatherings
/// carry it without borrowing from the gathering that started them.
#[derive(Clone, Copy)]
struct Account([u8; 12]);

impl Account {
    fn parse(id: &str) -> Option<Self> {
        let digits: [u8; 12] = id.as_bytes().try_into().ok()?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then_some(Account(digits))
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What every chain of one gathering shares.
#[derive(Clone, Copy)]
struct Ctx<'r, 'a> {
    aws: Aws<'a>,
    source: Source<'a>,
    /// The failure's account, when the event named a valid one.
    home: Option<Account>,
    iam: &'r iam::Reads<'a>,
    keys: &'r KeyReads<'a>,
    roles: &'r Known<iam::Collected>,
    profiles: &'r Known<ProfileRead>,
    vaults: &'r Once<'a, (Option<VaultPolicy>, Vec<Gap>)>,
    /// The recovery point as a listing already read it (a readiness run's vault
    /// listing): used instead of backup:DescribeRecoveryPoint when it is the one the
    /// gathering needs.
    listed: Option<&'r RecoveryPoint>,
    by: By,
}

impl<'a> Ctx<'_, 'a> {
    /// kms:DescribeKey of `key`, once per reference.
    async fn describe_key(self, key: KeyRef) -> Result<KmsKey, Gap> {
        let (aws, source, home) = (self.aws, self.source, self.home);
        let reference = key.as_str().to_owned();
        let read = self.keys.described.get(&reference, move || {
            async move {
                let owner = match &key {
                    KeyRef::Arn(arn) => Some(arn.arn().clone()),
                    KeyRef::Unresolved(_) => None,
                };
                let Some(owner) = owner else {
                    return reads::describe_key(aws, key).await;
                };
                let what = format!("the key `{}`", owner.as_str());
                let (via, _) = Box::pin(source.via(
                    home.as_ref().map(Account::as_str),
                    owner.account(),
                    owner.region(),
                    aws.lanes,
                    EvidencePart::KeyPolicy,
                    &what,
                ))
                .await?;
                let clients = via.clients(aws.clients);
                reads::describe_key(
                    Aws {
                        clients,
                        lanes: aws.lanes,
                    },
                    key,
                )
                .await
            }
            .boxed()
        });
        self.by
            .call(
                read,
                late(EvidencePart::KeyPolicy, "kms:DescribeKey", &reference),
            )
            .await
    }

    /// kms:GetKeyPolicy of `arn`, once per key.
    async fn key_policy(self, arn: &str) -> Result<KeyPolicy, Gap> {
        let (aws, source, home) = (self.aws, self.source, self.home);
        let owned = arn.to_owned();
        let read = self.keys.policies.get(arn, move || {
            async move {
                // Only ARNs KMS or a check confirmed get here; one that does not parse is
                // read where the failure is, as before.
                let (via, from) = match KeyArn::parse(&owned) {
                    Ok(k) => {
                        let what = format!("the key `{}`", k.as_str());
                        let arn = k.arn();
                        Box::pin(source.via(
                            home.as_ref().map(Account::as_str),
                            arn.account(),
                            arn.region(),
                            aws.lanes,
                            EvidencePart::KeyPolicy,
                            &what,
                        ))
                        .await?
                    }
                    Err(_) => (Via::Home, source.home(home.as_ref().map(Account::as_str))),
                };
                let clients = via.clients(aws.clients);
                let mut policy = reads::key_policy(
                    Aws {
                        clients,
                        lanes: aws.lanes,
                    },
                    owned,
                )
                .await?;
                policy.read_from = from;
                Ok(policy)
            }
            .boxed()
        });
        self.by
            .call(read, late(EvidencePart::KeyPolicy, "kms:GetKeyPolicy", arn))
            .await
    }

    /// A target key named in the metadata: what it resolves to and its policy. A key ARN
    /// is read both ways at once, and its policy kept only once KMS confirms the ARN; an
    /// alias or key id is resolved first.
    async fn target_key(self, key: KeyRef) -> KeyRead {
        match &key {
            KeyRef::Arn(arn) => {
                let arn = arn.as_str().to_owned();
                let (described, policy) =
                    futures::join!(self.describe_key(key.clone()), self.key_policy(&arn));
                match described {
                    Ok(k) => (Ok(k), Some(policy)),
                    Err(g) => (Err(g), None),
                }
            }
            _ => match self.describe_key(key.clone()).await {
                Ok(k) => {
                    // The recovery point's key, asked by ARN, needs no second DescribeKey.
                    self.keys.described.know(&k.key_arn, Ok(k.clone()));
                    let policy = self.key_policy(&k.key_arn).await;
                    (Ok(k), Some(policy))
                }
                Err(g) => (Err(g), None),
            },
        }
    }

    /// The access policy of `vault`, read in `owner`'s account (the vault ARN's) when
    /// that is another one, else where the failure is.
    /// The restore role (or a role caller), with the gap of a read past the deadline.
    ///
    /// Boxed, as the other chains: one gathering's future, held inline, would be deep
    /// enough to overflow a thread's stack in a debug build.
    async fn role(self, name: String, part: EvidencePart) -> iam::Collected {
        let key = format!("{part:?}/{name}");
        if let Some(known) = self.roles.known(&key) {
            return known;
        }
        let on_late = late(part, "iam:GetRole", &name);
        let read = self
            .by
            .call(Box::pin(self.iam.role(&name, part)), on_late)
            .await;
        self.roles.keep(&key, &read);
        read
    }

    /// backup:GetBackupVaultAccessPolicy, once per vault.
    async fn vault_policy(
        self,
        vault: Result<String, &'static str>,
        owner: Option<Arn>,
    ) -> (Option<VaultPolicy>, Vec<Gap>) {
        let (aws, source, home) = (self.aws, self.source, self.home);
        let on_late = || {
            (
                None,
                vec![late(
                    EvidencePart::VaultAccessPolicy,
                    "backup:GetBackupVaultAccessPolicy",
                    "",
                )()],
            )
        };
        match vault {
            Ok(name) => {
                // Vaults of two accounts may share a name.
                let key = format!(
                    "{}/{name}",
                    owner.as_ref().map(|a| a.account()).unwrap_or_default()
                );
                let read = self.vaults.get(&key, move || {
                    read_vault_policy(aws, source, home, Ok(name), owner).boxed()
                });
                self.by.run(read, on_late).await
            }
            Err(why) => {
                self.by
                    .run(
                        Box::pin(read_vault_policy(aws, source, home, Err(why), None)),
                        on_late,
                    )
                    .await
            }
        }
    }

    /// iam:GetInstanceProfile and its roles, once per run: every EC2 restore of a
    /// readiness run may name the same profile.
    async fn instance_profile(self, name: String) -> ProfileRead {
        if let Some(known) = self.profiles.known(&name) {
            return known;
        }
        let read = self
            .by
            .call(
                reads::instance_profile_with_roles(self.iam, &name),
                late(
                    EvidencePart::InstanceProfile,
                    "iam:GetInstanceProfile",
                    &name,
                ),
            )
            .await;
        self.profiles.keep(&name, &read);
        read
    }

    async fn user(self, name: String, part: EvidencePart) -> iam::Collected {
        let on_late = late(part, "iam:GetUser", &name);
        self.by
            .call(Box::pin(self.iam.user(&name, part)), on_late)
            .await
    }

    async fn decode(self, token: String) -> Result<Value, Gap> {
        let on_late = late(
            EvidencePart::DecodedMessage,
            "sts:DecodeAuthorizationMessage",
            "",
        );
        self.by.call(reads::decode(self.aws, token), on_late).await
    }
}

/// backup:GetBackupVaultAccessPolicy of `vault`, through the account that owns it.
async fn read_vault_policy<'a>(
    aws: Aws<'a>,
    source: Source<'a>,
    home: Option<Account>,
    vault: Result<String, &'static str>,
    owner: Option<Arn>,
) -> (Option<VaultPolicy>, Vec<Gap>) {
    let routed = match (&owner, &vault) {
        (Some(arn), Ok(_)) => {
            let what = format!("the backup vault `{}`", arn.as_str());
            Box::pin(source.via(
                home.as_ref().map(Account::as_str),
                arn.account(),
                arn.region(),
                aws.lanes,
                EvidencePart::VaultAccessPolicy,
                &what,
            ))
            .await
        }
        _ => Ok((Via::Home, source.home(home.as_ref().map(Account::as_str)))),
    };
    let (via, from) = match routed {
        Ok(r) => r,
        Err(g) => return (None, vec![g]),
    };
    let aws = Aws {
        clients: via.clients(aws.clients),
        lanes: aws.lanes,
    };
    let (mut policy, gaps) = Box::pin(reads::vault_access_policy(aws, vault)).await;
    if let Some(p) = policy.as_mut() {
        p.read_from = from;
    }
    (policy, gaps)
}

/// Gathers everything about one failure with no deadline but the SDK's own timeouts.
/// Never fails: what cannot be read is a gap.
pub async fn gather(clients: &Clients, parsed: &Parsed) -> Evidence {
    // Far enough to never cut a call short: the SDK's operation timeout bounds each.
    let far = Instant::now() + std::time::Duration::from_secs(24 * 3600);
    Box::pin(gather_until(clients, parsed, far)).await
}

/// A key as KMS resolved it, and its policy when it was read (not for a key KMS did not
/// confirm).
type KeyRead = (Result<KmsKey, Gap>, Option<Result<KeyPolicy, Gap>>);

/// What the restore job's side of the graph found: the job, its metadata, and everything
/// read from them.
#[derive(Default)]
struct JobSide {
    /// Gaps of the job and metadata reads, in that order.
    job_gaps: Vec<Gap>,
    job: Option<RestoreJob>,
    metadata: Option<BTreeMap<String, String>>,
    /// The event's facts with the job's merged in.
    facts: Facts,
    /// Metadata values that name no valid profile or key, and keys past the limits.
    metadata_gaps: Vec<Gap>,
    recovery_point: Option<RecoveryPoint>,
    vault_access_policy: Option<VaultPolicy>,
    rp_gaps: Vec<Gap>,
    /// The recovery point's key: DescribeKey and GetKeyPolicy.
    rp_key: Option<(Result<KmsKey, Gap>, Result<KeyPolicy, Gap>)>,
    targets: Vec<KeyRead>,
    profiles: Vec<Result<(InstanceProfile, Vec<Gap>), Gap>>,
    /// The job's role, read when it is not the event's.
    role_again: Option<iam::Collected>,
    /// The job's encoded message, decoded when it is not the event's.
    decoded_again: Option<Result<Value, Gap>>,
}

/// The restore job and its metadata, and everything that depends on either: two chains
/// that do not wait for each other.
async fn job_side(ctx: Ctx<'_, '_>, parsed: &Parsed, event: &Facts) -> JobSide {
    let job_id = match &parsed.trigger {
        Trigger::RestoreJobFailed(job) => Some(job.restore_job_id.as_deref()),
        Trigger::StartRestoreJobDenied(_) | Trigger::Readiness(_) => None,
    };
    let ((job, job_gaps, job_chain), (metadata, metadata_gaps, meta_chain)) = futures::join!(
        job_chain(ctx, parsed, event, job_id),
        metadata_chain(ctx, parsed, job_id)
    );
    let (facts, rp, rp_gaps, rp_key, role_again, decoded_again) = job_chain;
    let (metadata_checks, targets, profiles) = meta_chain;
    let mut gaps = job_gaps;
    gaps.extend(metadata_gaps);
    JobSide {
        job_gaps: gaps,
        job,
        metadata,
        facts,
        metadata_gaps: metadata_checks,
        recovery_point: rp.0,
        vault_access_policy: rp.1,
        rp_gaps,
        rp_key,
        targets,
        profiles,
        role_again,
        decoded_again,
    }
}

/// What the job's chain found: the merged facts, the recovery point and vault policy,
/// their gaps, the recovery point's key, the job's role and message when not the
/// event's.
type JobChain = (
    Facts,
    (Option<RecoveryPoint>, Option<VaultPolicy>),
    Vec<Gap>,
    Option<(Result<KmsKey, Gap>, Result<KeyPolicy, Gap>)>,
    Option<iam::Collected>,
    Option<Result<Value, Gap>>,
);

/// DescribeRestoreJob, then the recovery point (→ its key) and the vault policy, and the
/// job's role or message when they are not the event's.
async fn job_chain(
    ctx: Ctx<'_, '_>,
    parsed: &Parsed,
    event: &Facts,
    job_id: Option<Option<&str>>,
) -> (Option<RestoreJob>, Vec<Gap>, JobChain) {
    let mut facts = event.clone();
    let mut job = None;
    let mut job_gaps = Vec::new();
    match job_id {
        Some(Some(id)) => match ctx
            .by
            .call(
                reads::describe_restore_job(ctx.aws, id),
                late(EvidencePart::RestoreJob, "backup:DescribeRestoreJob", id),
            )
            .await
        {
            Ok((j, gaps)) => {
                job_gaps.extend(gaps);
                facts.absorb(&j);
                job = Some(j);
            }
            Err(g) => job_gaps.push(g),
        },
        Some(None) => job_gaps.push(not_attempted(
            EvidencePart::RestoreJob,
            "backup:DescribeRestoreJob",
            INVALID_JOB_ID,
        )),
        None => {}
    }

    // The vault's policy starts with the recovery point when the job names the vault;
    // else once the recovery point is found (in its vault), beside the key reads.
    let vault_known = facts.vault_name();
    // A vault the job names in another account (a cross-account copy's) is read there;
    // one found by its recovery point is in the failure's account.
    let vault_owner = facts.vault_arn.as_deref().and_then(|a| Arn::parse(a).ok());
    let vault_policy =
        |vault: Result<String, &'static str>, owner: Option<Arn>| ctx.vault_policy(vault, owner);
    let early_policy = OptionFuture::from(
        vault_known
            .clone()
            .map(|v| vault_policy(Ok(v), vault_owner.clone())),
    );
    let listed = ctx
        .listed
        .filter(|rp| facts.recovery_point_arn.as_ref() == Some(&rp.recovery_point_arn));
    let recovery_point = async {
        let (rp, gaps) = match listed {
            Some(rp) => (Some(rp.clone()), Vec::new()),
            None => {
                ctx.by
                    .run(
                        reads::recovery_point(
                            ctx.aws,
                            vault_known.clone(),
                            facts.recovery_point_arn.clone(),
                            &parsed.trigger,
                        ),
                        || {
                            (
                                None,
                                vec![late(
                                    EvidencePart::RecoveryPoint,
                                    "backup:DescribeRecoveryPoint",
                                    "",
                                )()],
                            )
                        },
                    )
                    .await
            }
        };
        let late_vault = match (
            &vault_known,
            &rp,
            &facts.recovery_point_arn,
            &parsed.trigger,
        ) {
            (Some(_), _, _, _) => None,
            (None, Some(rp), _, _) => {
                Some(rp.backup_vault_name.clone().ok_or(reads::VAULT_NOT_FOUND))
            }
            (None, None, Some(_), _) => Some(Err(reads::VAULT_NOT_FOUND)),
            (None, None, None, Trigger::RestoreJobFailed(_)) => Some(Err(reads::NO_JOB_DETAILS)),
            (None, None, None, Trigger::StartRestoreJobDenied(_)) => {
                Some(Err(reads::NO_RECOVERY_POINT))
            }
            (None, None, None, Trigger::Readiness(_)) => Some(Err(reads::NO_RECOVERY_POINT_LISTED)),
        };
        // An AWS owned key has no policy to read and nothing to describe.
        let key = rp
            .as_ref()
            .filter(|rp| rp.encryption_key_type.as_deref() != Some("AWS_OWNED_KMS_KEY"))
            .and_then(|rp| rp.encryption_key_arn.as_deref())
            .and_then(|k| KeyArn::parse(k).ok());
        let key = OptionFuture::from(key.map(|k| async move {
            futures::join!(
                ctx.describe_key(KeyRef::Arn(k.clone())),
                ctx.key_policy(k.as_str())
            )
        }));
        let (key, late_policy) = futures::join!(
            key,
            OptionFuture::from(late_vault.map(|v| vault_policy(v, None)))
        );
        (rp, gaps, key, late_policy)
    };
    let job_role = facts.role().filter(|r| Some(r) != event.role().as_ref());
    let role_again = OptionFuture::from(
        job_role.map(|r| ctx.role(r.name().to_owned(), EvidencePart::RestoreRole)),
    );
    let job_token = facts.token().filter(|t| Some(t) != event.token().as_ref());
    let decoded_again = OptionFuture::from(job_token.map(|t| ctx.decode(t)));

    let (early_policy, (rp, mut rp_gaps, rp_key, late_policy), role_again, decoded_again) =
        futures::join!(early_policy, recovery_point, role_again, decoded_again);
    let mut policy = None;
    if let Some((p, gaps)) = early_policy.or(late_policy) {
        policy = p;
        rp_gaps.extend(gaps);
    }
    (
        job,
        job_gaps,
        (
            facts,
            (rp, policy),
            rp_gaps,
            rp_key,
            role_again,
            decoded_again,
        ),
    )
}

/// Why the job was not read.
const INVALID_JOB_ID: &str = "the event's restore job id was not valid";

/// What the metadata chain found: the metadata's own checks, the target keys and the
/// instance profiles.
type MetadataChain = (
    Vec<Gap>,
    Vec<KeyRead>,
    Vec<Result<(InstanceProfile, Vec<Gap>), Gap>>,
);

/// GetRestoreJobMetadata (or the refused request's metadata), then the target keys and
/// instance profiles it names.
async fn metadata_chain(
    ctx: Ctx<'_, '_>,
    parsed: &Parsed,
    job_id: Option<Option<&str>>,
) -> (Option<BTreeMap<String, String>>, Vec<Gap>, MetadataChain) {
    let mut metadata = None;
    let mut read_gaps = Vec::new();
    match (job_id, &parsed.trigger) {
        (Some(Some(id)), _) => match ctx
            .by
            .call(
                reads::restore_job_metadata(ctx.aws, id),
                late(EvidencePart::RestoreMetadata, reads::METADATA_SOURCE, id),
            )
            .await
        {
            Ok((m, gaps)) => {
                read_gaps.extend(gaps);
                metadata = Some(m);
            }
            Err(g) => read_gaps.push(g),
        },
        (Some(None), _) => read_gaps.push(not_attempted(
            EvidencePart::RestoreMetadata,
            reads::METADATA_SOURCE,
            INVALID_JOB_ID,
        )),
        (None, Trigger::StartRestoreJobDenied(call)) if !call.metadata.is_empty() => {
            metadata = Some(call.metadata.clone());
        }
        // GetRecoveryPointRestoreMetadata's answer, read by the readiness enumeration:
        // what AWS Backup would restore with by default.
        (None, Trigger::Readiness(check)) => {
            metadata = Some(check.metadata.clone());
        }
        (None, _) => {}
    }
    let names = metadata.clone().unwrap_or_default();
    let (profiles, profile_gaps) = instance_profile_names(&names);
    let (target_keys, key_gaps) = target_key_refs(&names);
    let mut checks = profile_gaps;
    checks.extend(key_gaps);
    let targets = join_all(target_keys.into_iter().map(|k| ctx.target_key(k)));
    let profiles = join_all(profiles.into_iter().map(|p| ctx.instance_profile(p)));
    let (targets, profiles) = futures::join!(targets, profiles);
    (metadata, read_gaps, (checks, targets, profiles))
}

/// Gathers everything that can be read before `deadline`. A call still running then is
/// abandoned and becomes a gap saying so; the evidence holds everything read before it.
pub async fn gather_until(clients: &Clients, parsed: &Parsed, deadline: Instant) -> Evidence {
    let source = Source {
        clients,
        role_arn: None,
        owners: None,
        aliases: None,
    };
    Box::pin(gather_from(source, parsed, deadline)).await
}

/// [`gather_until`] with `source`'s credentials: in organization mode the failure's
/// account's reader role, and the owners of keys in other accounts.
pub async fn gather_from(source: Source<'_>, parsed: &Parsed, deadline: Instant) -> Evidence {
    let clients = source.clients;
    let lanes = Lanes::default();
    let run = Run::new(clients, &lanes);
    Box::pin(gather_in(&run, source, parsed, deadline)).await
}

/// One gathering within a run: what the run already read is not read again.
pub async fn gather_in<'a>(
    run: &Run<'a>,
    source: Source<'a>,
    parsed: &Parsed,
    deadline: Instant,
) -> Evidence {
    Box::pin(gather_listed(run, source, parsed, None, deadline)).await
}

/// [`gather_in`], with the recovery point a listing already read (`listed`, checked
/// there): when it is the one the gathering needs, backup:DescribeRecoveryPoint is not
/// called and the rest of its chain (its key, the vault policy) starts at once. A
/// readiness run's vault listing carries every field DescribeRecoveryPoint would give.
pub async fn gather_listed<'a>(
    run: &Run<'a>,
    source: Source<'a>,
    parsed: &Parsed,
    listed: Option<&RecoveryPoint>,
    deadline: Instant,
) -> Evidence {
    let aws = run.aws;
    let ctx = Ctx {
        aws,
        source,
        home: parsed.account.as_deref().and_then(Account::parse),
        iam: &run.iam,
        keys: &run.keys,
        roles: &run.roles,
        profiles: &run.profiles,
        vaults: &run.vaults,
        listed,
        by: By(deadline),
    };
    let mut ev = parsed.evidence();

    // Everything the event alone allows, at once.
    let event = Facts::from_trigger(&parsed.trigger);
    let event_role = event.role();
    let caller = caller_identity(&parsed.trigger);
    // The same role as restore role and caller is read once.
    let caller_is_role = matches!(
        (&caller, &event_role),
        (Some(IamIdentity::Role { name, .. }), Some(role)) if name.eq_ignore_ascii_case(role.name())
    );
    let role_read = OptionFuture::from(
        event_role
            .as_ref()
            .map(|r| ctx.role(r.name().to_owned(), EvidencePart::RestoreRole)),
    );
    let caller_read = OptionFuture::from(caller.clone().filter(|_| !caller_is_role).map(
        |identity| match identity {
            IamIdentity::Role { name, .. } => ctx.role(name, EvidencePart::Caller).left_future(),
            IamIdentity::User { name, .. } => ctx.user(name, EvidencePart::Caller).right_future(),
        },
    ));
    let decoded = OptionFuture::from(event.token().map(|t| ctx.decode(t)));
    // Informative only, read alongside the rest (no round trip of its own on the path).
    let home = ctx.home;
    let alias = async move {
        match (source.aliases, home) {
            (Some(aliases), Some(account)) => {
                aliases
                    .alias(account.as_str(), || reads::account_alias(aws))
                    .await
            }
            _ => {
                run.alias
                    .get("", move || {
                        reads::account_alias(aws).map(|r| r.ok().flatten()).boxed()
                    })
                    .await
            }
        }
    };
    let alias = ctx.by.run(alias, || None);
    let (side, role_read, caller_read, decoded, alias) = futures::join!(
        Box::pin(job_side(ctx, parsed, &event)),
        role_read,
        caller_read,
        decoded,
        alias
    );
    ev.account_alias = alias;

    // Assembled in the order the parts are explained: job, metadata, recovery point,
    // message, role, caller, profiles, keys.
    ev.gaps.extend(side.job_gaps);
    if let Some(job) = &side.job {
        if ev.account_id.is_none() {
            ev.account_id.clone_from(&job.account_id);
        }
    }
    ev.restore_job = side.job;
    ev.restore_metadata = side.metadata;
    // A value that names no valid profile or key leaves the evidence with its gap: what
    // comes after must not read it as a resource (`arn:*` as a key ARN).
    for gap in &side.metadata_gaps {
        if let Some(key) = metadata::rejected_metadata_key(gap) {
            metadata::drop_metadata_entry(&mut ev, &key);
        }
    }
    ev.gaps.extend(side.metadata_gaps);
    ev.recovery_point = side.recovery_point;
    ev.vault_access_policy = side.vault_access_policy;
    ev.gaps.extend(side.rp_gaps);

    let facts = side.facts;
    let decoded = match (side.decoded_again, facts.token()) {
        (Some(again), _) => Some(again),
        (None, Some(_)) => decoded,
        (None, None) => None,
    };
    match decoded {
        Some(Ok(v)) => ev.decoded_message = Some(v),
        Some(Err(g)) => ev.gaps.push(g),
        None => {}
    }

    let role = facts.role();
    let restore_role = side.role_again.or(role_read);
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
    // The principals are read where the failure is.
    let home = source.home(parsed.account.as_deref());
    if let Some(p) = restore_principal.as_mut() {
        p.read_from.clone_from(&home);
    }
    if let Some(c) = ev.caller.as_mut() {
        c.read_from.clone_from(&home);
    }
    ev.restore_role = restore_principal;
    for r in side.profiles {
        match r {
            Ok((p, gaps)) => {
                ev.instance_profiles.push(p);
                ev.gaps.extend(gaps);
            }
            Err(g) => ev.gaps.push(g),
        }
    }

    // Keys: the target keys as resolved, then the recovery point's key unless a target
    // is the same key; policies once per key, the recovery point's first.
    let mut policies: Vec<Result<KeyPolicy, Gap>> = Vec::new();
    let mut rp_described = None;
    if let Some((described, policy)) = side.rp_key {
        rp_described = Some(described);
        policies.push(policy);
    }
    for (described, policy) in side.targets {
        match described {
            Ok(key) => ev.kms_keys.push(key),
            Err(g) => ev.gaps.push(g),
        }
        policies.extend(policy);
    }
    match rp_described {
        Some(Ok(key)) if ev.kms_keys.iter().any(|k| k.key_arn == key.key_arn) => {}
        Some(Ok(key)) => ev.kms_keys.push(key),
        Some(Err(g)) => ev.gaps.push(g),
        None => {}
    }
    for r in policies {
        match r {
            Ok(p) if ev.key_policies.iter().any(|k| k.key_arn == p.key_arn) => {}
            Ok(p) => ev.key_policies.push(p),
            Err(g) if ev.gaps.contains(&g) => {}
            Err(g) => ev.gaps.push(g),
        }
    }
    ev
}

/// What the trigger and the restore job say, merged (the job wins).
#[derive(Debug, Default, Clone)]
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
            Trigger::Readiness(check) => Facts {
                role_arn: check.iam_role_arn.clone(),
                recovery_point_arn: check.recovery_point_arn.clone(),
                vault_arn: check.backup_vault_arn.clone(),
                message: None,
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

    fn role(&self) -> Option<RoleArn> {
        self.role_arn
            .as_deref()
            .and_then(|a| RoleArn::parse(a).ok())
    }

    fn token(&self) -> Option<String> {
        self.message
            .as_deref()
            .and_then(encoded_token)
            .map(str::to_owned)
    }
}

fn caller_identity(trigger: &Trigger) -> Option<IamIdentity> {
    match trigger {
        Trigger::StartRestoreJobDenied(call) => call.caller.iam.clone(),
        Trigger::RestoreJobFailed(_) | Trigger::Readiness(_) => None,
    }
}

pub(super) fn not_attempted(part: EvidencePart, call: &str, why: &str) -> Gap {
    Gap {
        part,
        call: call.to_owned(),
        error: format!("not attempted: {why}"),
    }
}
