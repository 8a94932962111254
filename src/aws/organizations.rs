//! The service and resource control policies that apply to an account: every level from
//! the root down to the account (the root, each OU, the account itself), each with the
//! SCPs and the RCPs attached there, read through the organization read role
//! (organization.yaml) with `organizations:ListParents`, `ListPoliciesForTarget` (types
//! `SERVICE_CONTROL_POLICY` and `RESOURCE_CONTROL_POLICY`) and `DescribePolicy`. The
//! diagnosis evaluates them as the SCP layer (every level must allow: "How SCPs work",
//! AWS Organizations User Guide) and the RCP layer (RCPs only deny; they bound the
//! resources of the account, for the services AWS lists: "Resource control policies
//! (RCPs)", <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>).
//!
//! Kept per account for [`CACHE_TTL`]: a burst of failures in one account reads them
//! once, and a policy changed in the console is seen within minutes. The levels are
//! walked once for both types; the RCPs failing to read (RCPs not enabled in the
//! organization, for one) is their own gap and leaves the SCPs.
//!
//! SCPs (and RCPs) do not apply to the management account, which this module cannot tell from
//! another (that takes `organizations:DescribeOrganization`, not granted).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;

use aws_sdk_organizations::types::{ParentType, PolicySummary, PolicyType};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::call_error;
use crate::diagnose::evidence::{EvidencePart, Gap, OrgLevelDocs, PolicyDoc, PolicyKind};
use crate::diagnose::validated::{is_ou_id, is_root_id};

/// Pages of organizations:ListAccounts read at most (20 accounts a page, its most:
/// "MaxResults ... Valid Range: Minimum value of 1. Maximum value of 20.", Organizations
/// API reference, ListAccounts), so 10,000 accounts; more is a clear error, not a guess.
const MAX_ACCOUNT_PAGES: usize = 500;

/// The active accounts of the organization, by `organizations:ListAccounts` with the
/// caller's credentials ("This operation can be called only from the organization's
/// management account or by a member account that is a delegated administrator",
/// Organizations API reference, ListAccounts), each id checked, sorted. An account is
/// active when its `State` is `ACTIVE`, or, with no `State`, its `Status` (retired by AWS
/// on 2026-09-09 in favour of `State`: the SDK's `Account` documentation) is.
pub async fn active_accounts(
    client: &aws_sdk_organizations::Client,
) -> Result<Vec<String>, String> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let mut accounts = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_ACCOUNT_PAGES {
        let page = client
            .list_accounts()
            .max_results(20)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("organizations:ListAccounts failed: {}", call_error(&e).text))?;
        for a in page.accounts() {
            let active = match (a.state(), a.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            match a.id() {
                Some(id) if crate::diagnose::validated::is_account_id(id) => {
                    if active {
                        accounts.push(id.to_owned());
                    }
                }
                _ => {
                    return Err(
                        "organizations:ListAccounts returned an account id that is not 12 digits"
                            .into(),
                    )
                }
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            accounts.sort();
            accounts.dedup();
            // An organization lists at least its management account: none is no answer.
            if accounts.is_empty() {
                return Err("organizations:ListAccounts listed no active account".into());
            }
            return Ok(accounts);
        }
    }
    Err(format!(
        "organizations:ListAccounts: more than {MAX_ACCOUNT_PAGES} pages; name the accounts with --account"
    ))
}

/// How long the policies of one account are reused.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// Levels read at most above an account: OUs nest at most five deep under the root
/// ("Quotas for AWS Organizations", OU maximum nesting in a root), so the account, five
/// OUs and the root; one more and the answer is not trusted.
pub const MAX_LEVELS: usize = 7;
/// SCPs or RCPs read at most per level: AWS allows five of each type per target (same
/// quotas page); a longer list is refused rather than read whole.
pub const MAX_POLICIES_PER_LEVEL: usize = 5;

/// The SCPs and the RCPs of every level above one account; each may be a gap alone.
#[derive(Debug, Clone)]
pub struct AccountPolicies {
    pub scps: Result<Vec<OrgLevelDocs>, Gap>,
    pub rcps: Result<Vec<OrgLevelDocs>, Gap>,
}

/// What assumes the organization read role: the member accounts' credential cache
/// ([`MemberAccounts`](super::accounts::MemberAccounts)), which keeps this role's
/// credentials like a reader role's. A trait so that this module needs nothing of it.
pub trait AssumeRole {
    /// The SDK configuration acting as `role_arn`, or why it could not be assumed.
    fn config_for_role(
        &self,
        role_arn: &str,
        region: Option<&str>,
    ) -> impl Future<Output = Result<SdkConfig, String>> + Send;
}

/// The organization read role's view of the SCPs and RCPs, cached per account.
#[derive(Debug)]
pub struct OrganizationPolicies {
    role_arn: String,
    cache: Mutex<HashMap<String, (Instant, AccountPolicies)>>,
    reads: AtomicUsize,
}

impl OrganizationPolicies {
    pub fn new(role_arn: String) -> Self {
        OrganizationPolicies {
            role_arn,
            cache: Mutex::new(HashMap::new()),
            reads: AtomicUsize::new(0),
        }
    }

    /// How many times the policies were read rather than taken from the cache.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// The SCPs and RCPs of every level above `account`, root first, the account last.
    /// A failure is a gap (the alert then says the layer was not verified, and why):
    /// one that stops both (no role, no levels) is the same gap for each.
    pub async fn policies(&self, account: &str, members: &impl AssumeRole) -> AccountPolicies {
        let mut cache = self.cache.lock().await;
        if let Some((read_at, policies)) = cache.get(account) {
            if read_at.elapsed() < CACHE_TTL {
                return policies.clone();
            }
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let read = async {
            let sdk = members
                .config_for_role(&self.role_arn, None)
                .await
                .map_err(|error| {
                    gap(
                        format!("sts:AssumeRole {}", self.role_arn),
                        format!(
                            "{error}: deploy the organization read role (organization.yaml) in the management account \
                             or the delegated administrator, and give its ARN as OrganizationReadRoleArn"
                        ),
                    )
                })?;
            let client = aws_sdk_organizations::Client::new(&sdk);
            let targets = read_targets(&client, account).await?;
            Ok::<_, Gap>((client, targets))
        };
        let policies = match read.await {
            Ok((client, targets)) => {
                let mut documents = HashMap::new();
                let scps = read_levels(&client, &targets, Kind::Scp, &mut documents).await;
                let rcps = read_levels(&client, &targets, Kind::Rcp, &mut documents).await;
                AccountPolicies { scps, rcps }
            }
            Err(g) => AccountPolicies {
                scps: Err(g.clone()),
                rcps: Err(Gap {
                    part: EvidencePart::ResourceControlPolicies,
                    ..g
                }),
            },
        };
        // Kept when the SCPs were read, as before the RCPs were: an organization without
        // RCPs enabled must not cost a read per failure.
        if policies.scps.is_ok() {
            cache.insert(account.to_owned(), (Instant::now(), policies.clone()));
        }
        policies
    }
}

/// The organization policy type read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scp,
    Rcp,
}

impl Kind {
    fn filter(self) -> PolicyType {
        match self {
            Kind::Scp => PolicyType::ServiceControlPolicy,
            Kind::Rcp => PolicyType::ResourceControlPolicy,
        }
    }

    fn part(self) -> EvidencePart {
        match self {
            Kind::Scp => EvidencePart::ServiceControlPolicies,
            Kind::Rcp => EvidencePart::ResourceControlPolicies,
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::Scp => "SCPs",
            Kind::Rcp => "RCPs",
        }
    }
}

fn gap(call: String, error: String) -> Gap {
    Gap {
        part: EvidencePart::ServiceControlPolicies,
        call,
        error,
    }
}

/// The targets from the root down to `account`.
async fn read_targets(
    client: &aws_sdk_organizations::Client,
    account: &str,
) -> Result<Vec<String>, Gap> {
    let mut targets = vec![account.to_owned()];
    let mut child = account.to_owned();
    loop {
        if targets.len() > MAX_LEVELS {
            return Err(gap(
                format!("organizations:ListParents {child}"),
                format!("more than {MAX_LEVELS} levels above account {account}: not read further"),
            ));
        }
        let out = client
            .list_parents()
            .child_id(&child)
            .send()
            .await
            .map_err(|e| {
                gap(
                    format!("organizations:ListParents {child}"),
                    call_error(&e).text,
                )
            })?;
        let [parent] = out.parents() else {
            return Err(gap(
                format!("organizations:ListParents {child}"),
                format!("{} parents returned, one expected", out.parents().len()),
            ));
        };
        let (id, is_root) = match (parent.id(), parent.r#type()) {
            (Some(id), Some(ParentType::Root)) if is_root_id(id) => (id, true),
            (Some(id), Some(ParentType::OrganizationalUnit)) if is_ou_id(id) => (id, false),
            _ => {
                return Err(gap(
                    format!("organizations:ListParents {child}"),
                    "the parent returned is not a valid root or OU id".into(),
                ))
            }
        };
        targets.push(id.to_owned());
        if is_root {
            break;
        }
        child = id.to_owned();
    }
    targets.reverse();
    Ok(targets)
}

/// The policies of `kind` attached to each of `targets`, in their order; a document
/// read once per policy id (`documents`, shared by both kinds).
async fn read_levels(
    client: &aws_sdk_organizations::Client,
    targets: &[String],
    kind: Kind,
    documents: &mut HashMap<String, PolicyDoc>,
) -> Result<Vec<OrgLevelDocs>, Gap> {
    let mut levels = Vec::with_capacity(targets.len());
    for target in targets {
        let summaries = policies_for(client, target, kind).await?;
        let mut policies = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let Some(id) = summary.id().filter(|id| is_policy_id(id)) else {
                return Err(Gap {
                    part: kind.part(),
                    call: format!("organizations:ListPoliciesForTarget {target}"),
                    error: "a policy without a valid id was returned".into(),
                });
            };
            if let Some(doc) = documents.get(id) {
                policies.push(doc.clone());
                continue;
            }
            let doc = describe(client, id, &summary).await.map_err(|g| Gap {
                part: kind.part(),
                ..g
            })?;
            documents.insert(id.to_owned(), doc.clone());
            policies.push(doc);
        }
        levels.push(OrgLevelDocs {
            org_identifier: target.clone(),
            policies,
        });
    }
    Ok(levels)
}

/// The policies of `kind` attached to one target, at most [`MAX_POLICIES_PER_LEVEL`].
async fn policies_for(
    client: &aws_sdk_organizations::Client,
    target: &str,
    kind: Kind,
) -> Result<Vec<PolicySummary>, Gap> {
    let call = format!("organizations:ListPoliciesForTarget {target}");
    let gap = |call: String, error: String| Gap {
        part: kind.part(),
        call,
        error,
    };
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_policies_for_target()
            .target_id(target)
            .filter(kind.filter())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| gap(call.clone(), call_error(&e).text))?;
        out.extend(page.policies().iter().cloned());
        if out.len() > MAX_POLICIES_PER_LEVEL {
            return Err(gap(
                call,
                format!(
                    "more than {MAX_POLICIES_PER_LEVEL} {} returned: not read",
                    kind.short()
                ),
            ));
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// One SCP's document, parsed as JSON (validated as a policy by the diagnosis).
async fn describe(
    client: &aws_sdk_organizations::Client,
    id: &str,
    summary: &PolicySummary,
) -> Result<PolicyDoc, Gap> {
    let call = format!("organizations:DescribePolicy {id}");
    let out = client
        .describe_policy()
        .policy_id(id)
        .send()
        .await
        .map_err(|e| gap(call.clone(), call_error(&e).text))?;
    let content = out
        .policy()
        .and_then(|p| p.content())
        .ok_or_else(|| gap(call.clone(), "no policy document returned".into()))?;
    let document = serde_json::from_str::<Value>(content)
        .map_err(|e| gap(call, format!("the policy document is not JSON: {e}")))?;
    Ok(PolicyDoc {
        name: summary.name().unwrap_or(id).chars().take(128).collect(),
        arn: summary.arn().map(str::to_owned),
        kind: if summary.aws_managed() {
            PolicyKind::AwsManaged
        } else {
            PolicyKind::Managed
        },
        document,
    })
}

/// `p-` and 8 to 128 letters, digits or `_` (PolicySummary.Id: `p-FullAWSAccess` included).
fn is_policy_id(id: &str) -> bool {
    id.strip_prefix("p-").is_some_and(|rest| {
        (8..=128).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_are_sent_back_to_aws() {
        assert!(is_root_id("r-ab12"));
        assert!(!is_root_id("r-AB12"));
        assert!(!is_root_id("r-a"));
        assert!(is_ou_id("ou-ab12-cdef3456"));
        assert!(!is_ou_id("ou-ab12"));
        assert!(!is_ou_id("ou-ab12-cdef/../x"));
        assert!(is_policy_id("p-FullAWSAccess"));
        assert!(is_policy_id("p-abcd1234"));
        assert!(!is_policy_id("p-abc"));
        assert!(!is_policy_id("p-abcd1234&x=1"));
    }
}
