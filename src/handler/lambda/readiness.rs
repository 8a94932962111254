//! Readiness in the function (issue #13, section 3): the scheduled run and the
//! change-triggered check, in the same stages as a failure's alert: read the input
//! ([`change`]), read the state the last run left, check ([`readiness_until`]), compare,
//! publish one alert when something newly cannot be restored, then keep the new state.
//!
//! In organization mode the member accounts of `READINESS_ACCOUNTS` are checked too, each
//! through its reader role, in the function's own Region: one run, one summary spanning
//! them. The accounts reached longest ago go first, so that a run the deadline cuts
//! short reaches the others next time; an account whose role is refused is said once (its
//! state item remembers it), not on every run. A change in a member account is checked
//! there; a change in an account not listed is skipped, nothing read.
//!
//! The state is written after the publish: a publish that fails is the invocation's
//! error (Lambda retries it, then the dead-letter queue), and the retry finds the same
//! old state and alerts again. A state that fails to be written is logged and counted,
//! never an error (the alert went out; the next run compares with the older state and
//! may say it again).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Handler, HandlerError, Outcome, Processed, DEADLINE_RESERVE};
use crate::aws::accounts::partition_of;
use crate::aws::gather::Owners;
use crate::aws::metrics;
use crate::aws::readiness::{readiness_until, Checked, Scope};
use crate::aws::state;
use crate::aws::{Clients, ReadinessSettings};
use crate::diagnose::readiness::{
    newly_not_ready, AccountState, ResourceReadiness, RestoreRoles, StoredState,
};
use crate::event::change;
use crate::render::alert::{Alert, AlertContext};
use crate::render::readiness_alert::{self, Coverage, NotRead, Place};

/// Seconds since the Unix epoch, now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The restore roles of `account`: `READINESS_RESTORE_ROLE` only in its own account (a
/// restore runs as a role of the account it restores in, so a role of the function's
/// account says nothing of a member's restores, which then use their restore testing
/// selections, else AWS Backup's default service role there).
fn roles(settings: &ReadinessSettings, account: &str) -> RestoreRoles {
    RestoreRoles {
        default: settings
            .restore_role
            .clone()
            .filter(|r| r.account() == account),
        by_type: Default::default(),
    }
}

fn skipped(reason: String) -> Processed {
    Processed {
        outcome: Outcome::Skipped { reason },
        evidence: None,
        report: None,
        alert: None,
    }
}

/// The clients that read one account: the function's own, or a member's reader role.
enum AccountClients<'a> {
    Own(&'a Clients),
    Member(Box<Clients>),
}

impl AccountClients<'_> {
    fn get(&self) -> &Clients {
        match self {
            AccountClients::Own(c) => c,
            AccountClients::Member(c) => c,
        }
    }
}

/// One account's part of a scheduled run.
struct AccountRun {
    account: String,
    checked: Checked,
}

impl Handler {
    /// The function's own account and Region: readiness reads only them.
    async fn place(&self, function_arn: Option<&str>) -> Result<Place, HandlerError> {
        let account = self.own_account(function_arn).await.map_err(|why| {
            HandlerError::Readiness(format!("the function's own account is not known: {why}"))
        })?;
        let region = self
            .clients
            .backup
            .config()
            .region()
            .map(|r| r.to_string())
            .filter(|r| crate::diagnose::validated::is_region(r))
            .ok_or_else(|| HandlerError::Readiness("the function's Region is not known".into()))?;
        Ok(Place {
            account: Some(account),
            region: Some(region),
        })
    }

    /// The clients that read `account` in the function's Region: its own for its own
    /// account, else the member's reader role (organization mode, a listed account);
    /// `Err` says why the account cannot be read.
    async fn account_clients(
        &self,
        settings: &ReadinessSettings,
        (own, account): (&str, &str),
        region: &str,
        function_arn: Option<&str>,
    ) -> Result<AccountClients<'_>, String> {
        if account == own {
            return Ok(AccountClients::Own(&self.clients));
        }
        let Some(members) = self.member_accounts() else {
            return Err("organization mode is off (MEMBER_READER_ROLE is unset)".into());
        };
        if !settings.accounts.iter().any(|a| a == account) {
            return Err(format!(
                "account {account} is not one of READINESS_ACCOUNTS (template.yaml's ReadinessAccounts)"
            ));
        }
        match members
            .member_clients(account, Some(region), &partition_of(function_arn))
            .await
        {
            Ok((clients, _)) => Ok(AccountClients::Member(Box::new(clients))),
            Err((role_arn, error)) => Err(format!(
                "sts:AssumeRole {role_arn}: {}. Deploy the member stack (member.yaml) in account {account} with ReadinessReads=true, and check that its {} role trusts this function's role",
                error.chars().filter(|c| !c.is_control()).take(500).collect::<String>(),
                members.reader_role_name()
            )),
        }
    }

    /// Organization mode: keys of other accounts are read in their owner, as a failure's
    /// gathering reads them.
    fn owners<'a>(&'a self, own: &'a str, partition: &'a str) -> Option<Owners<'a>> {
        self.member_accounts().map(|members| Owners {
            members,
            own_clients: &self.clients,
            own_account: own,
            partition,
        })
    }

    /// The states to write for the rows of `account`'s `checked`, at `now`.
    fn states_of(account: &str, checked: &Checked, now: i64) -> Vec<StoredState> {
        checked
            .run
            .resources
            .iter()
            .zip(checked.keys.iter())
            .filter_map(|(r, k)| StoredState::of(account, r, k.clone(), now))
            .collect()
    }

    /// Publishes `alert` when there is one (a failure is the invocation's error).
    async fn publish_if_any(
        &self,
        alert: Option<&Alert>,
        deadline: Instant,
    ) -> Result<Option<String>, HandlerError> {
        let Some(alert) = alert else {
            return Ok(None);
        };
        let id = self.publish_by(alert, deadline).await?;
        info!(message_id = %id, subject = %alert.subject, "readiness alert published");
        Ok(Some(id))
    }

    /// Writes `states` and `accounts` by `deadline`; a failure is logged and counted,
    /// and said in the outcome.
    async fn keep(
        &self,
        settings: &ReadinessSettings,
        (states, accounts): (&[StoredState], &[AccountState]),
        now: i64,
        deadline: Instant,
    ) -> bool {
        let expires = now.saturating_add(i64::from(settings.state_days) * 86_400);
        let save = state::save(
            &self.clients.dynamodb,
            &settings.table,
            (states, accounts),
            expires,
        );
        let why = match tokio::time::timeout_at(deadline, save).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "not written before the invocation's deadline".to_owned(),
        };
        tracing::error!(error = %why, "readiness state not saved; the next run compares with the older state");
        self.metrics.emit(metrics::READINESS_STATE_ERRORS, 1.0, &[]);
        false
    }

    /// [`readiness_until`] of `account` with `clients`, a panic in it contained: the
    /// invocation fails with the reason instead of the process going down (Lambda
    /// retries, then the dead-letter queue), and nothing is published or written.
    async fn check(
        clients: &Clients,
        (account, region): (&str, &str),
        settings: &ReadinessSettings,
        scope: Scope<'_>,
        by: Instant,
    ) -> Result<Checked, HandlerError> {
        let roles = roles(settings, account);
        let run = Box::pin(readiness_until(clients, account, region, &roles, scope, by));
        AssertUnwindSafe(run).catch_unwind().await.map_err(|panic| {
            let why = super::panic_text(panic.as_ref());
            tracing::error!(panic = %why, "readiness run failed");
            HandlerError::Readiness(format!("stopped on an internal error ({why})"))
        })
    }

    /// Every account a scheduled run reads, the ones reached longest ago first (never
    /// reached: first of all; equally old: the function's own, then the listed order).
    fn accounts_in_order(
        own: &str,
        settings: &ReadinessSettings,
        previous: &state::Loaded,
    ) -> Vec<String> {
        let mut accounts = vec![own.to_owned()];
        accounts.extend(settings.accounts.iter().filter(|a| *a != own).cloned());
        accounts.sort_by_key(|a| previous.accounts.get(a).map_or(i64::MIN, |s| s.checked_at));
        accounts
    }

    /// The scheduled run: every protected resource of every account read, one summary
    /// alert for those newly not ready and the accounts newly not readable.
    pub(super) async fn scheduled_readiness(
        &self,
        event: &Value,
        function_arn: Option<&str>,
        deadline: Instant,
    ) -> Result<Processed, HandlerError> {
        let run = change::scheduled(event).map_err(|e| HandlerError::Input(e.to_string()))?;
        let Some(settings) = self.settings.readiness.clone() else {
            warn!("scheduled readiness input, but readiness is not enabled (READINESS_TABLE is unset)");
            return Ok(skipped(
                "readiness is not enabled in this deployment (no READINESS_TABLE)".into(),
            ));
        };
        let place = self.place(function_arn).await?;
        let own = place.account.clone().unwrap_or_default();
        let region = place.region.clone().unwrap_or_default();
        let started = now();
        let previous = state::load(&self.clients.dynamodb, &settings.table, started, &own).await?;
        let check_by = deadline
            .checked_sub(DEADLINE_RESERVE)
            .unwrap_or_else(Instant::now);
        let accounts = Self::accounts_in_order(&own, &settings, &previous);
        let mut runs: Vec<AccountRun> = Vec::new();
        let mut not_read: Vec<NotRead> = Vec::new();
        let mut account_states: Vec<AccountState> = Vec::new();
        let mut not_reached = 0usize;
        for account in &accounts {
            if Instant::now() >= check_by {
                not_reached += 1;
                continue;
            }
            let clients = match self
                .account_clients(&settings, (&own, account), &region, function_arn)
                .await
            {
                Ok(c) => c,
                Err(why) => {
                    warn!(account = %account, error = %why, "readiness: account not read");
                    not_read.push(NotRead {
                        account: account.clone(),
                        why,
                    });
                    account_states.push(AccountState {
                        account: account.clone(),
                        readable: false,
                        checked_at: started,
                    });
                    continue;
                }
            };
            // Per resource of this account, its oldest row's last check: the longest
            // unchecked go first.
            let mut last_checked: BTreeMap<String, i64> = BTreeMap::new();
            for s in previous.states.iter().filter(|s| &s.account == account) {
                let at = last_checked
                    .entry(s.resource_arn.clone())
                    .or_insert(s.checked_at);
                *at = (*at).min(s.checked_at);
            }
            let partition = partition_of(function_arn);
            let scope = Scope {
                only: None,
                last_checked: Some(&last_checked),
                owners: self.owners(&own, &partition),
            };
            let checked = Self::check(
                clients.get(),
                (account, &region),
                &settings,
                scope,
                check_by,
            )
            .await?;
            for g in &checked.run.gaps {
                warn!(account = %account, call = %g.call, error = %g.error, "readiness listing gap");
            }
            account_states.push(AccountState {
                account: account.clone(),
                readable: true,
                checked_at: started,
            });
            runs.push(AccountRun {
                account: account.clone(),
                checked,
            });
        }
        if not_reached > 0 {
            warn!(
                accounts = not_reached,
                "readiness: accounts not reached before the invocation's deadline; they go first next run"
            );
        }
        let changed: Vec<&ResourceReadiness> = runs
            .iter()
            .flat_map(|r| newly_not_ready(&previous.states, &r.account, &r.checked.run.resources))
            .collect();
        // Said once: an account not read that was read last time, or never tried.
        let newly_not_read = not_read
            .iter()
            .filter(|n| previous.accounts.get(&n.account).is_none_or(|s| s.readable))
            .count();
        let checked_rows: usize = runs.iter().map(|r| r.checked.run.resources.len()).sum();
        let not_ready: usize = runs.iter().map(|r| r.checked.run.counts().1).sum();
        let unknown: usize = runs.iter().map(|r| r.checked.run.counts().2).sum();
        info!(
            accounts = accounts.len(),
            accounts_not_read = not_read.len(),
            accounts_not_reached = not_reached,
            checked = checked_rows,
            ready = checked_rows - not_ready - unknown,
            not_ready,
            not_verifiable = unknown,
            newly_not_ready = changed.len(),
            dropped_states = previous.dropped,
            "readiness run"
        );
        let when = run
            .scheduled_time
            .clone()
            .unwrap_or_else(|| started.to_string());
        let ctx = AlertContext {
            correlation_id: format!("scheduled-readiness-{when}"),
            dedup_key: format!("{own}:{region}:readiness:{when}"),
            log_group: None,
        };
        let alert = (!changed.is_empty() || newly_not_read > 0).then(|| {
            let coverage = Coverage {
                checked: checked_rows,
                accounts: &accounts,
                not_read: &not_read,
            };
            readiness_alert::scheduled(&place, coverage, &changed, &ctx)
        });
        let message_id = self.publish_if_any(alert.as_ref(), deadline).await?;
        self.metrics
            .emit(metrics::RESOURCES_NOT_READY, not_ready as f64, &[]);
        if settings.accounts.iter().any(|a| *a != own) {
            self.metrics.emit(
                metrics::READINESS_ACCOUNTS_NOT_READ,
                not_read.len() as f64,
                &[],
            );
        }
        let states: Vec<StoredState> = runs
            .iter()
            .flat_map(|r| Self::states_of(&r.account, &r.checked, started))
            .collect();
        let state_saved = self
            .keep(&settings, (&states, &account_states), started, deadline)
            .await;
        Ok(Processed {
            outcome: Outcome::Readiness {
                accounts: accounts.len(),
                accounts_not_read: not_read.len(),
                checked: checked_rows,
                not_ready,
                newly_not_ready: changed.len(),
                message_id,
                state_saved,
            },
            evidence: None,
            report: None,
            alert,
        })
    }

    /// A change that can break a restore: only the resources it touches are checked
    /// again, each in its own account; one alert when it broke any.
    pub(super) async fn change_readiness(
        &self,
        event: &Value,
        function_arn: Option<&str>,
        deadline: Instant,
    ) -> Result<Processed, HandlerError> {
        let change = match change::change(event) {
            Ok(c) => c,
            Err(skip) => {
                warn!(reason = %skip.reason, "change event skipped");
                self.metrics.emit(metrics::EVENTS_SKIPPED, 1.0, &[]);
                return Ok(skipped(skip.reason));
            }
        };
        for g in &change.rejected {
            warn!(call = %g.call, error = %g.error, "change event value dropped");
        }
        let Some(settings) = self.settings.readiness.clone().filter(|s| s.change_checks) else {
            return Ok(skipped(
                "change-triggered checks are not enabled in this deployment".into(),
            ));
        };
        let own_place = self.place(function_arn).await?;
        let own = own_place.account.clone().unwrap_or_default();
        let region = own_place.region.clone().unwrap_or_default();
        let Some(account) = change
            .account
            .clone()
            .filter(|a| *a == own || settings.accounts.contains(a))
        else {
            return Ok(skipped(format!(
                "the change is not in this function's account {own} nor one of READINESS_ACCOUNTS: nothing was read"
            )));
        };
        let place = Place {
            account: Some(account.clone()),
            region: Some(region.clone()),
        };
        let dedup_key = change.dedup_key();
        if self.already_alerted(&change.event_id, &dedup_key) {
            info!(dedup_key = %dedup_key, "duplicate change event skipped");
            return Ok(Processed {
                outcome: Outcome::Duplicate { dedup_key },
                evidence: None,
                report: None,
                alert: None,
            });
        }
        let started = now();
        let previous = state::load(&self.clients.dynamodb, &settings.table, started, &own).await?;
        let check_by = deadline
            .checked_sub(DEADLINE_RESERVE)
            .unwrap_or_else(Instant::now);
        // The rows it touches, per account (a key can serve another account's vault).
        let mut touched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in previous
            .states
            .iter()
            .filter(|s| change.target.touches(s, &account))
        {
            touched
                .entry(s.account.clone())
                .or_default()
                .insert(s.key.clone());
        }
        // With no state of the change's account yet (readiness never ran there), which
        // resources a role, key or vault restores is not known: every resource of it is
        // checked once, as a first run, and the touched ones are those of that run.
        let baseline = !previous.states.iter().any(|s| s.account == account);
        if baseline {
            touched.entry(account.clone()).or_default();
        }
        if touched.is_empty() {
            info!(event_name = change.event_name, target = %change.target.describe(), "change touches no resource");
            return Ok(Processed {
                outcome: Outcome::ChangeChecked {
                    event_name: change.event_name.to_owned(),
                    touched: 0,
                    broken: 0,
                    message_id: None,
                    state_saved: true,
                },
                evidence: None,
                report: None,
                alert: None,
            });
        }
        let mut runs: Vec<AccountRun> = Vec::new();
        for (in_account, keys) in &touched {
            // An account that cannot be read now is the invocation's error: Lambda
            // retries it (a throttled AssumeRole passes), then the dead-letter queue.
            let clients = self
                .account_clients(&settings, (&own, in_account), &region, function_arn)
                .await
                .map_err(|why| {
                    HandlerError::Readiness(format!(
                        "the change's resources in account {in_account} could not be read: {why}"
                    ))
                })?;
            let first_run = baseline && *in_account == account;
            let partition = partition_of(function_arn);
            let scope = Scope {
                only: (!first_run).then_some(keys),
                last_checked: None,
                owners: self.owners(&own, &partition),
            };
            let checked = Self::check(
                clients.get(),
                (in_account, &region),
                &settings,
                scope,
                check_by,
            )
            .await?;
            runs.push(AccountRun {
                account: in_account.clone(),
                checked,
            });
        }
        let mut states: Vec<StoredState> = Vec::new();
        let mut rows: Vec<ResourceReadiness> = Vec::new();
        for r in &runs {
            let these = Self::states_of(&r.account, &r.checked, started);
            let first_run = baseline && r.account == account;
            for (row, s) in r.checked.run.resources.iter().zip(these.iter()) {
                if first_run || change.target.touches(s, &account) {
                    rows.push(row.clone());
                }
            }
            states.extend(these);
        }
        let broken: Vec<&ResourceReadiness> = rows
            .iter()
            .filter(|row| {
                let in_account = row.report.restore.account_id.as_deref().unwrap_or("");
                !newly_not_ready(&previous.states, in_account, std::slice::from_ref(*row))
                    .is_empty()
            })
            .collect();
        info!(
            event_name = change.event_name,
            account = %account,
            target = %change.target.describe(),
            principal = change.principal.as_deref().unwrap_or(""),
            touched = rows.len(),
            broken = broken.len(),
            baseline,
            "change checked"
        );
        let ctx = AlertContext {
            correlation_id: change.event_id.clone(),
            dedup_key: dedup_key.clone(),
            log_group: None,
        };
        let alert =
            (!broken.is_empty()).then(|| readiness_alert::change(&place, &change, &broken, &ctx));
        let message_id = self.publish_if_any(alert.as_ref(), deadline).await?;
        self.remember(&change.event_id, &dedup_key);
        let state_saved = self
            .keep(&settings, (&states, &[]), started, deadline)
            .await;
        Ok(Processed {
            outcome: Outcome::ChangeChecked {
                event_name: change.event_name.to_owned(),
                touched: rows.len(),
                broken: broken.len(),
                message_id,
                state_saved,
            },
            evidence: None,
            report: None,
            alert,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_configured_restore_role_is_used_in_its_own_account_only() {
        let role =
            crate::diagnose::validated::RoleArn::parse("arn:aws:iam::111122223333:role/Restore")
                .unwrap();
        let settings = ReadinessSettings {
            table: "t".into(),
            state_days: 30,
            restore_role: Some(role.clone()),
            change_checks: false,
            accounts: vec!["210987654321".into()],
        };
        assert_eq!(roles(&settings, "111122223333").default, Some(role));
        assert_eq!(roles(&settings, "210987654321").default, None);
    }

    #[test]
    fn the_accounts_reached_longest_ago_go_first_and_never_reached_before_all() {
        let settings = ReadinessSettings {
            table: "t".into(),
            state_days: 30,
            restore_role: None,
            change_checks: false,
            accounts: vec![
                "210987654321".into(),
                "111122223333".into(),
                "333344445555".into(),
                "444455556666".into(),
            ],
        };
        let at = |account: &str, checked_at: i64| {
            (
                account.to_owned(),
                AccountState {
                    account: account.into(),
                    readable: true,
                    checked_at,
                },
            )
        };
        let previous = state::Loaded {
            accounts: [
                at("111122223333", 300),
                at("210987654321", 100),
                at("333344445555", 200),
            ]
            .into(),
            ..Default::default()
        };
        // The own account (also listed) once; 444455556666 never reached: first.
        assert_eq!(
            Handler::accounts_in_order("111122223333", &settings, &previous),
            [
                "444455556666",
                "210987654321",
                "333344445555",
                "111122223333"
            ]
        );
        // Nothing reached yet: the own account, then the listed order.
        assert_eq!(
            Handler::accounts_in_order("111122223333", &settings, &state::Loaded::default()),
            [
                "111122223333",
                "210987654321",
                "333344445555",
                "444455556666"
            ]
        );
    }
}
