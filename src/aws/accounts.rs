//! Reading another account of the organization: a failure in member account A is
//! gathered in A, through A's `RestoreDoctorReader` role (member.yaml), never with the
//! function's own credentials, which would read the central account's roles by the
//! names A's event carries.
//!
//! One `sts:AssumeRole` per account and credential lifetime: the credentials are kept
//! per account until [`REFRESH_BEFORE_EXPIRY`] before they expire, so a burst of
//! failures in one account costs one AssumeRole. No `DurationSeconds` is asked: the
//! session then lasts one hour (STS API reference, AssumeRole), which member.yaml's
//! `MaxSessionDuration` allows. A reader role that is missing or does
//! not trust the function is an evidence gap that names the account and the fix, never
//! a failed invocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sts::config::{Credentials, Region, SharedCredentialsProvider};
use tokio::sync::Mutex;

use super::config::{EndpointOverrides, OrganizationSettings};
use super::error::call_error;
use super::organizations::{AccountPolicies, AssumeRole, OrganizationPolicies};
use super::Clients;
use crate::diagnose::evidence::{EvidencePart, Gap};

/// Credentials are renewed this long before they expire, so that no read of a gathering
/// (bounded by the function's 60 s timeout) starts with credentials about to lapse.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// An AssumeRole refused with `AccessDenied` (the role is missing or does not trust the
/// function: STS API reference, AssumeRole, Errors) is not asked again for this long: the describe and the policy
/// of a key in an account without the member stack, or a burst of failures there, cost
/// one refused call, and a member stack deployed since is used within a minute.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);

/// The session name the function's reads carry in the member account's CloudTrail.
pub const SESSION_NAME: &str = "restore-doctor";

/// Whose credentials gather the evidence of one failure.
#[derive(Debug)]
pub enum Reader {
    /// The function's own account: its own clients.
    Own,
    /// A member account, through its reader role (`role_arn`).
    Member {
        clients: Box<Clients>,
        role_arn: String,
    },
    /// A member account that could not be reached: the gap says which and how to fix it.
    Unreachable(Gap),
}

/// Credentials of one member account's reader role.
#[derive(Debug, Clone)]
struct Cached {
    credentials: Credentials,
    expires: SystemTime,
}

/// The member accounts' reader roles, with their credentials kept per account.
#[derive(Debug)]
pub struct MemberAccounts {
    settings: OrganizationSettings,
    /// The function's own STS client: the one that assumes the reader roles.
    sts: aws_sdk_sts::Client,
    /// The function's SDK configuration (timeouts, retries), which the member clients
    /// share with another account's credentials and the event's Region.
    sdk: SdkConfig,
    overrides: EndpointOverrides,
    /// Per role ARN. Held across an AssumeRole: a second failure of the same account
    /// waits for the first one's credentials instead of assuming the role again.
    cache: Mutex<HashMap<String, Cached>>,
    /// Per role ARN: when AssumeRole was last refused, and why.
    refused: Mutex<HashMap<String, (SystemTime, String)>>,
    assumed: AtomicUsize,
    /// The service control policies, through the organization read role, when given.
    policies: Option<OrganizationPolicies>,
}

impl MemberAccounts {
    /// `sts` assumes the roles; the member clients are built from `sdk` and `overrides`
    /// (local runs point services moto lacks at a fake).
    pub fn new(
        settings: OrganizationSettings,
        sts: aws_sdk_sts::Client,
        sdk: SdkConfig,
        overrides: EndpointOverrides,
    ) -> Self {
        MemberAccounts {
            policies: settings
                .read_role_arn
                .clone()
                .map(OrganizationPolicies::new),
            settings,
            sts,
            sdk,
            overrides,
            cache: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            assumed: AtomicUsize::new(0),
        }
    }

    /// How many times a reader role was assumed (one per account and credential
    /// lifetime when the cache works).
    pub fn assume_role_calls(&self) -> usize {
        self.assumed.load(Ordering::Relaxed)
    }

    /// The clients that read `account` in `region`. `own` is the function's own account
    /// (from its ARN, never from the event); `partition` that of its ARN.
    pub async fn reader_for(
        &self,
        account: &str,
        region: Option<&str>,
        own: &str,
        partition: &str,
    ) -> Reader {
        if account == own {
            return Reader::Own;
        }
        match self.member_clients(account, region, partition).await {
            Ok((clients, role_arn)) => Reader::Member {
                clients: Box::new(clients),
                role_arn,
            },
            Err((role_arn, error)) => Reader::Unreachable(Gap {
                part: EvidencePart::Other,
                call: format!("sts:AssumeRole {role_arn}"),
                error: format!(
                    "{error}: account {account} could not be read, so nothing about this failure was read from AWS. \
                     Deploy the member stack (member.yaml) in account {account}, with the StackSet or as a stack, \
                     and check that its {} role trusts this function's role",
                    self.settings.reader_role
                ),
            }),
        }
    }

    /// The reader role of `account`: the role member.yaml creates there.
    pub fn reader_role_arn(&self, account: &str, partition: &str) -> String {
        format!(
            "arn:{partition}:iam::{account}:role/{}",
            self.settings.reader_role
        )
    }

    /// The name of the reader role member.yaml creates, for the fix a gap names.
    pub fn reader_role_name(&self) -> &str {
        &self.settings.reader_role
    }

    /// Clients acting as `account`'s reader role in `region`, and that role's ARN; on
    /// failure the role's ARN and why it could not be assumed.
    pub async fn member_clients(
        &self,
        account: &str,
        region: Option<&str>,
        partition: &str,
    ) -> Result<(Clients, String), (String, String)> {
        let role_arn = self.reader_role_arn(account, partition);
        match self.config_for_role(&role_arn, region).await {
            Ok(sdk) => Ok((Clients::with_overrides(&sdk, &self.overrides), role_arn)),
            Err(error) => Err((role_arn, error)),
        }
    }

    /// The name of the fixer role member.yaml creates in an account that opts in to
    /// auto-attach; `None` when the function was not deployed to attach in member accounts.
    pub fn fixer_role_name(&self) -> Option<&str> {
        self.settings.fixer_role.as_deref()
    }

    /// Clients acting as `account`'s fixer role in `region`, and that role's ARN; on
    /// failure the role's ARN (when one is configured) and why it could not be assumed.
    /// Its credentials are kept apart from the reader's (the cache is per role ARN, so per
    /// account and role), and a refusal is remembered the same way.
    pub async fn fixer_clients(
        &self,
        account: &str,
        region: Option<&str>,
        partition: &str,
    ) -> Result<(Clients, String), (Option<String>, String)> {
        let Some(name) = self.fixer_role_name() else {
            return Err((
                None,
                "no fixer role is configured (MEMBER_FIXER_ROLE)".into(),
            ));
        };
        let role_arn = format!("arn:{partition}:iam::{account}:role/{name}");
        match self.config_for_role(&role_arn, region).await {
            Ok(sdk) => Ok((Clients::with_overrides(&sdk, &self.overrides), role_arn)),
            Err(error) => Err((Some(role_arn), error)),
        }
    }

    /// The service and resource control policies that apply to `account`, through the
    /// organization read role; `None` without one (the alert then says they were not
    /// collected).
    pub async fn organization_policies(&self, account: &str) -> Option<AccountPolicies> {
        let policies = self.policies.as_ref()?;
        Some(policies.policies(account, self).await)
    }

    /// How many times the organization's policies were read rather than taken from the
    /// cache.
    pub fn organization_reads(&self) -> usize {
        self.policies
            .as_ref()
            .map_or(0, OrganizationPolicies::reads)
    }

    /// The function's SDK configuration acting as `role_arn` (assumed, or from the
    /// cache), in `region` when given.
    pub async fn config_for_role(
        &self,
        role_arn: &str,
        region: Option<&str>,
    ) -> Result<SdkConfig, String> {
        AssumeRole::config_for_role(self, role_arn, region).await
    }
}

impl AssumeRole for MemberAccounts {
    async fn config_for_role(
        &self,
        role_arn: &str,
        region: Option<&str>,
    ) -> Result<SdkConfig, String> {
        let credentials = self.credentials(role_arn).await?;
        let mut sdk = self
            .sdk
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials));
        if let Some(region) = region {
            sdk = sdk.region(Region::new(region.to_owned()));
        }
        Ok(sdk.build())
    }
}

impl MemberAccounts {
    /// The role's credentials, assumed again only when missing or about to expire, and
    /// not asked again for [`REFUSAL_TTL`] after a refusal.
    async fn credentials(&self, role_arn: &str) -> Result<Credentials, String> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(role_arn) {
            if still_valid(cached.expires, SystemTime::now()) {
                return Ok(cached.credentials.clone());
            }
        }
        let mut refused = self.refused.lock().await;
        if let Some((at, why)) = refused.get(role_arn) {
            if at.elapsed().is_ok_and(|e| e < REFUSAL_TTL) {
                return Err(why.clone());
            }
        }
        self.assumed.fetch_add(1, Ordering::Relaxed);
        let out = match self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let error = call_error(&e);
                // Only STS's answer that the role is not for us is remembered; a throttled
                // or timed-out call is tried again by the next read.
                if error.code.as_deref() == Some("AccessDenied") {
                    refused.insert(role_arn.to_owned(), (SystemTime::now(), error.text.clone()));
                }
                return Err(error.text);
            }
        };
        drop(refused);
        let c = out
            .credentials()
            .ok_or_else(|| "AssumeRole returned no credentials".to_owned())?;
        let expires = SystemTime::try_from(*c.expiration())
            .map_err(|_| "AssumeRole returned an unusable expiration".to_owned())?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expires),
            "restore-doctor-reader",
        );
        cache.insert(
            role_arn.to_owned(),
            Cached {
                credentials: credentials.clone(),
                expires,
            },
        );
        Ok(credentials)
    }
}

/// Credentials expiring at `expires` may still be used at `now`.
fn still_valid(expires: SystemTime, now: SystemTime) -> bool {
    expires
        .duration_since(now)
        .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), `aws` when there is none.
pub fn partition_of(arn: Option<&str>) -> String {
    arn.and_then(|a| a.split(':').nth(1))
        .filter(|p| {
            !p.is_empty()
                && p.starts_with("aws")
                && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .unwrap_or("aws")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_shortly_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(still_valid(now + Duration::from_secs(3600), now));
        assert!(still_valid(
            now + REFRESH_BEFORE_EXPIRY + Duration::from_secs(1),
            now
        ));
        assert!(!still_valid(now + REFRESH_BEFORE_EXPIRY, now));
        assert!(!still_valid(now + Duration::from_secs(10), now));
        assert!(!still_valid(now - Duration::from_secs(10), now));
    }

    #[test]
    fn the_partition_comes_from_the_functions_arn() {
        assert_eq!(
            partition_of(Some("arn:aws-cn:lambda:cn-north-1:111122223333:function:f")),
            "aws-cn"
        );
        assert_eq!(
            partition_of(Some("arn:aws:lambda:eu-west-1:111122223333:function:f")),
            "aws"
        );
        assert_eq!(partition_of(None), "aws");
        assert_eq!(partition_of(Some("arn:x/../:lambda")), "aws");
    }
}
