//! The account alias shown next to an account id in the alert, kept per account for the
//! life of the container: a burst of failures in one account costs one
//! iam:ListAccountAliases, like its one AssumeRole ([`accounts`](super::accounts)).
//!
//! The alias is a courtesy: read through the account's reader role in organization mode
//! (member.yaml grants `iam:ListAccountAliases`), with the function's own role for its own
//! account (template.yaml grants it), and validated against IAM's alias rules before it
//! is kept ([`is_account_alias`](crate::diagnose::validated::is_account_alias)). A read
//! that fails leaves it out (the subject then names the account id only) and is tried
//! again after [`RETRY_AFTER`]. The account's name in AWS Organizations is not read:
//! `organizations:DescribeAccount` is not among the organization read role's
//! permissions.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an answer (an alias, or none) is kept. The same as the reader role's
/// credentials (one hour): an alias changed since shows within the hour.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);

/// How long a failed read (refused, throttled) is remembered before the alias is asked
/// again, as a refused AssumeRole is ([`REFUSAL_TTL`](super::accounts::REFUSAL_TTL)).
pub const RETRY_AFTER: Duration = super::accounts::REFUSAL_TTL;

/// The aliases of the accounts this container has alerted about.
#[derive(Debug, Default)]
pub struct AccountAliases {
    known: Mutex<HashMap<String, (Option<String>, Instant)>>,
    reads: AtomicUsize,
}

impl AccountAliases {
    /// The alias of `account`: kept, or read with `read` (`Ok(None)`: the account has no
    /// valid alias; `Err`: the read failed) and kept. A read dropped before it answers (the
    /// gathering's deadline) keeps nothing.
    pub async fn alias<F>(&self, account: &str, read: impl FnOnce() -> F) -> Option<String>
    where
        F: Future<Output = Result<Option<String>, String>>,
    {
        if let Some(alias) = self.kept(account, Instant::now()) {
            return alias;
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let (alias, keep) = match read().await {
            Ok(alias) => (alias, KEEP_FOR),
            Err(_) => (None, RETRY_AFTER),
        };
        self.keep(account, alias.clone(), Instant::now() + keep);
        alias
    }

    /// How many times an alias was read rather than taken from what is kept.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    fn kept(&self, account: &str, now: Instant) -> Option<Option<String>> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known
            .get(account)
            .filter(|(_, until)| now < *until)
            .map(|(alias, _)| alias.clone())
    }

    fn keep(&self, account: &str, alias: Option<String>, until: Instant) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.insert(account.to_owned(), (alias, until));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn an_alias_is_read_once_per_account_and_a_failure_is_tried_again_later() {
        let aliases = AccountAliases::default();
        let read = |answer: Result<Option<String>, String>| move || async move { answer };
        let a = aliases
            .alias("111122223333", read(Ok(Some("acme-prod".into()))))
            .await;
        assert_eq!(a.as_deref(), Some("acme-prod"));
        let again = aliases
            .alias("111122223333", read(Ok(Some("changed".into()))))
            .await;
        assert_eq!(again.as_deref(), Some("acme-prod"));
        assert_eq!(aliases.reads(), 1);

        // Another account is its own read; a failure leaves the alias out.
        let other = aliases
            .alias("444455556666", read(Err("AccessDenied".into())))
            .await;
        assert_eq!(other, None);
        assert_eq!(aliases.reads(), 2);
        // Remembered for RETRY_AFTER only; an answer for KEEP_FOR.
        let now = Instant::now();
        assert_eq!(aliases.kept("444455556666", now), Some(None));
        assert_eq!(
            aliases.kept("444455556666", now + RETRY_AFTER + Duration::from_secs(1)),
            None
        );
        assert!(aliases
            .kept("111122223333", now + RETRY_AFTER + Duration::from_secs(1))
            .is_some());
        assert_eq!(
            aliases.kept("111122223333", now + KEEP_FOR + Duration::from_secs(1)),
            None
        );
    }
}
