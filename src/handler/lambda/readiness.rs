//! Readiness in the function (issue #13, section 3): the scheduled run and the
//! change-triggered check, in the same stages as a failure's alert: read the input
//! ([`change`]), read the state the last run left, check ([`readiness_until`]), compare,
//! publish one alert when something newly cannot be restored, then keep the new state.
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
use crate::aws::metrics;
use crate::aws::readiness::{readiness_until, Checked, Scope};
use crate::aws::state;
use crate::aws::ReadinessSettings;
use crate::diagnose::readiness::{newly_not_ready, RestoreRoles, StoredState};
use crate::event::change;
use crate::render::alert::{Alert, AlertContext};
use crate::render::readiness_alert::{self, Place};

/// Seconds since the Unix epoch, now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn roles(settings: &ReadinessSettings) -> RestoreRoles {
    RestoreRoles {
        default: settings.restore_role.clone(),
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

    /// The states to write for the rows of `checked`, at `now`.
    fn states_of(checked: &Checked, now: i64) -> Vec<StoredState> {
        checked
            .run
            .resources
            .iter()
            .zip(checked.keys.iter())
            .filter_map(|(r, k)| StoredState::of(r, k.clone(), now))
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

    /// Writes `states` by `deadline`; a failure is logged and counted, and said in the
    /// outcome.
    async fn keep(
        &self,
        settings: &ReadinessSettings,
        states: &[StoredState],
        now: i64,
        deadline: Instant,
    ) -> bool {
        let expires = now.saturating_add(i64::from(settings.state_days) * 86_400);
        let save = state::save(&self.clients.dynamodb, &settings.table, states, expires);
        let why = match tokio::time::timeout_at(deadline, save).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "not written before the invocation's deadline".to_owned(),
        };
        tracing::error!(error = %why, "readiness state not saved; the next run compares with the older state");
        self.metrics.emit(metrics::READINESS_STATE_ERRORS, 1.0, &[]);
        false
    }

    /// [`readiness_until`], a panic in it contained: the invocation fails with the
    /// reason instead of the process going down (Lambda retries, then the dead-letter
    /// queue), and nothing is published or written.
    async fn check(
        &self,
        place: &Place,
        settings: &ReadinessSettings,
        scope: Scope<'_>,
        by: Instant,
    ) -> Result<Checked, HandlerError> {
        let account = place.account.as_deref().unwrap_or_default();
        let region = place.region.as_deref().unwrap_or_default();
        let roles = roles(settings);
        let run = Box::pin(readiness_until(
            &self.clients,
            account,
            region,
            &roles,
            scope,
            by,
        ));
        AssertUnwindSafe(run).catch_unwind().await.map_err(|panic| {
            let why = super::panic_text(panic.as_ref());
            tracing::error!(panic = %why, "readiness run failed");
            HandlerError::Readiness(format!("stopped on an internal error ({why})"))
        })
    }

    /// The scheduled run: every protected resource, one summary alert for those newly
    /// not ready.
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
        let account = place.account.clone().unwrap_or_default();
        let region = place.region.clone().unwrap_or_default();
        let started = now();
        let previous = state::load(&self.clients.dynamodb, &settings.table, started).await?;
        let check_by = deadline
            .checked_sub(DEADLINE_RESERVE)
            .unwrap_or_else(Instant::now);
        // Per resource, its oldest row's last check: the longest unchecked go first.
        let mut last_checked: BTreeMap<String, i64> = BTreeMap::new();
        for s in &previous.states {
            let at = last_checked
                .entry(s.resource_arn.clone())
                .or_insert(s.checked_at);
            *at = (*at).min(s.checked_at);
        }
        let scope = Scope {
            only: None,
            last_checked: Some(&last_checked),
        };
        let checked = self.check(&place, &settings, scope, check_by).await?;
        for g in &checked.run.gaps {
            warn!(call = %g.call, error = %g.error, "readiness listing gap");
        }
        let changed = newly_not_ready(&previous.states, &checked.run.resources);
        let (ready, not_ready, unknown) = checked.run.counts();
        info!(
            checked = checked.run.resources.len(),
            ready,
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
            dedup_key: format!("{account}:{region}:readiness:{when}"),
            log_group: None,
        };
        let alert = (!changed.is_empty()).then(|| {
            readiness_alert::scheduled(&place, checked.run.resources.len(), &changed, &ctx)
        });
        let message_id = self.publish_if_any(alert.as_ref(), deadline).await?;
        self.metrics
            .emit(metrics::RESOURCES_NOT_READY, not_ready as f64, &[]);
        let state_saved = self
            .keep(
                &settings,
                &Self::states_of(&checked, started),
                started,
                deadline,
            )
            .await;
        Ok(Processed {
            outcome: Outcome::Readiness {
                checked: checked.run.resources.len(),
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
    /// again; one alert when it broke any.
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
        let place = self.place(function_arn).await?;
        let account = place.account.clone().unwrap_or_default();
        if change.account.as_deref() != Some(account.as_str()) {
            return Ok(skipped(format!(
                "the change is not in this function's account {account}: nothing was read"
            )));
        }
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
        let previous = state::load(&self.clients.dynamodb, &settings.table, started).await?;
        let check_by = deadline
            .checked_sub(DEADLINE_RESERVE)
            .unwrap_or_else(Instant::now);
        // With no state yet (readiness never ran), which resources a role, key or vault
        // restores is not known: every resource is checked once, as a first run, and the
        // touched ones are those of that run.
        let baseline = previous.states.is_empty();
        let touched: BTreeSet<String> = previous
            .states
            .iter()
            .filter(|s| change.target.touches(s, Some(&account)))
            .map(|s| s.key.clone())
            .collect();
        if !baseline && touched.is_empty() {
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
        let scope = Scope {
            only: (!baseline).then_some(&touched),
            last_checked: None,
        };
        let checked = self.check(&place, &settings, scope, check_by).await?;
        let states = Self::states_of(&checked, started);
        let touched_now: BTreeSet<&str> = states
            .iter()
            .filter(|s| !baseline || change.target.touches(s, Some(&account)))
            .map(|s| s.key.as_str())
            .collect();
        let rows: Vec<_> = checked
            .run
            .resources
            .iter()
            .zip(states.iter())
            .filter(|(_, s)| touched_now.contains(s.key.as_str()))
            .map(|(r, _)| r.clone())
            .collect();
        let broken = newly_not_ready(&previous.states, &rows);
        info!(
            event_name = change.event_name,
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
        let state_saved = self.keep(&settings, &states, started, deadline).await;
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
