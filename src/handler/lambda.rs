//! The Lambda side of the handler: the AWS calls, the deadline and the runtime loop
//! (feature `lambda`). Re-exported by [`handler`](crate::handler).

mod readiness;

use crate::event::{change, sanitize, test_alert, trigger};

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::FutureExt;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::{field, info, info_span, warn, Instrument};

use crate::aws::accounts::{partition_of, MemberAccounts, Reader};
use crate::aws::alias::AccountAliases;
use crate::aws::attach;
use crate::aws::dedup::RecentKeys;
use crate::aws::gather::{gather_from, Owners, Source};
use crate::aws::metrics::{self, Metrics, Sink};
use crate::aws::publish::{publish, PublishError};
use crate::aws::{Clients, Settings};
use crate::diagnose::evidence::{EvidencePart, Gap};
use crate::diagnose::report::AutoAttach;
use crate::diagnose::validated::shown;
use crate::diagnose::{Evidence, Report};
use crate::doctor::examine;
use crate::remedy::patch::POLICY_NAME;
use crate::render::alert::{self, Alert, AlertContext};

/// The time an invocation has when the caller gives no deadline, and the most a failure's
/// alert is given whatever the invocation's deadline: the template's function timeout
/// without readiness (`Timeout: 60` in template.yaml; 900 s with a readiness mode on).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Kept free after gathering for the diagnosis, auto-attach and the SNS Publish. The
/// diagnosis takes milliseconds (BENCHMARKS.md) and one Publish well under a second
/// normally; five seconds leave room for a slow Publish and its retry (our own margin;
/// AWS documents no Publish latency bound: not verified).
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(5);
/// Kept free after auto-attach for rendering and the SNS Publish.
pub const ATTACH_RESERVE: Duration = Duration::from_secs(2);

/// What one invocation did (the function's response payload).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    /// The alert was published.
    #[serde(rename_all = "camelCase")]
    Published {
        message_id: String,
        dedup_key: String,
        cause: String,
        gaps: usize,
        truncated: Vec<String>,
    },
    /// Not a failure this function diagnoses.
    Skipped { reason: String },
    /// Already alerted by this container.
    #[serde(rename_all = "camelCase")]
    Duplicate { dedup_key: String },
    /// A scheduled readiness run: how many accounts it was to read and how many could
    /// not be read, how many (resource, vault) rows were checked, how many are not ready,
    /// how many newly (the alert, when any), and whether the state was kept.
    #[serde(rename_all = "camelCase")]
    Readiness {
        accounts: usize,
        accounts_not_read: usize,
        checked: usize,
        not_ready: usize,
        newly_not_ready: usize,
        message_id: Option<String>,
        state_saved: bool,
    },
    /// A change that can break a restore: the rows it touches, checked again, and how
    /// many it broke (the alert, when any).
    #[serde(rename_all = "camelCase")]
    ChangeChecked {
        event_name: String,
        touched: usize,
        broken: usize,
        message_id: Option<String>,
        state_saved: bool,
    },
}

/// Everything one invocation produced, for tests and tools.
#[derive(Debug, Clone)]
pub struct Processed {
    pub outcome: Outcome,
    pub evidence: Option<Evidence>,
    pub report: Option<Report>,
    pub alert: Option<Alert>,
}

/// Facts about the invocation that go into every log line.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    pub xray_trace_id: Option<String>,
    pub function_arn: Option<String>,
}

impl From<&lambda_runtime::Context> for Invocation {
    fn from(ctx: &lambda_runtime::Context) -> Self {
        Invocation {
            request_id: ctx.request_id.clone(),
            xray_trace_id: ctx.xray_trace_id.clone(),
            function_arn: Some(ctx.invoked_function_arn.clone()).filter(|a| !a.is_empty()),
        }
    }
}

/// Why an invocation failed. Few and stable: they are the `errorType` Lambda records.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retried by Lambda, then sent to the OnFailure destination.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The diagnosis could not produce a report at all.
    #[error("could not build the report: {0}")]
    Report(String),
    /// An input that claims to be the scheduled readiness run but is not its shape.
    #[error("invalid input: {0}")]
    Input(String),
    /// The readiness state could not be read: without it, what changed is not known.
    #[error(transparent)]
    State(#[from] crate::aws::state::StateError),
    /// Readiness could not run (the function's own account or Region is not known).
    #[error("readiness could not run: {0}")]
    Readiness(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match e {
            HandlerError::Publish(_) => "PublishFailed",
            HandlerError::Report(_) => "ReportFailed",
            HandlerError::Input(_) => "InvalidInput",
            HandlerError::State(_) => "StateFailed",
            HandlerError::Readiness(_) => "ReadinessFailed",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// The handler, built once per container.
#[derive(Debug)]
pub struct Handler {
    clients: Clients,
    settings: Settings,
    metrics: Metrics,
    seen: Mutex<RecentKeys>,
    cold_start: AtomicBool,
    /// The function's own account, once known (auto-attach and organization mode).
    account: Mutex<Option<String>>,
    /// Organization mode: the member accounts' reader roles. `None`: this account only.
    members: Option<MemberAccounts>,
    /// The aliases of the accounts alerted about, kept per account.
    aliases: AccountAliases,
}

impl Handler {
    pub fn new(clients: Clients, settings: Settings) -> Self {
        Handler {
            metrics: Metrics {
                namespace: settings.metrics_namespace.clone(),
                service: settings.service.clone(),
                sink: Sink::Stdout,
            },
            seen: Mutex::new(RecentKeys::new(settings.dedup_capacity)),
            cold_start: AtomicBool::new(true),
            account: Mutex::new(None),
            members: None,
            aliases: AccountAliases::default(),
            clients,
            settings,
        }
    }

    /// Organization mode: an event of another account is gathered through that
    /// account's reader role.
    pub fn with_member_accounts(mut self, members: MemberAccounts) -> Self {
        self.members = Some(members);
        self
    }

    /// The member accounts' reader roles, in organization mode.
    pub fn member_accounts(&self) -> Option<&MemberAccounts> {
        self.members.as_ref()
    }

    /// The account aliases this container keeps.
    pub fn account_aliases(&self) -> &AccountAliases {
        &self.aliases
    }

    /// Sends the EMF metric lines somewhere else than stdout (tests).
    pub fn with_metric_sink(mut self, sink: Sink) -> Self {
        self.metrics.sink = sink;
        self
    }

    /// Handles one event; the outcome is the function's response.
    pub async fn handle(&self, event: Value, inv: Invocation) -> Result<Outcome, HandlerError> {
        self.process(event, inv).await.map(|p| p.outcome)
    }

    /// Handles one event and returns everything it produced, as if the invocation had
    /// [`DEFAULT_TIMEOUT`] to run.
    pub async fn process(&self, event: Value, inv: Invocation) -> Result<Processed, HandlerError> {
        self.process_until(event, inv, Instant::now() + DEFAULT_TIMEOUT)
            .await
    }

    /// Handles one event that must be answered by `deadline` (the invocation's): gathering
    /// stops [`DEADLINE_RESERVE`] before it, so the alert still goes out in time.
    pub async fn process_until(
        &self,
        event: Value,
        inv: Invocation,
        deadline: Instant,
    ) -> Result<Processed, HandlerError> {
        let cold_start = self.cold_start.swap(false, Ordering::Relaxed);
        let span = info_span!(
            "invocation",
            function_request_id = %inv.request_id,
            xray_trace_id = inv.xray_trace_id.as_deref().unwrap_or(""),
            function_arn = inv.function_arn.as_deref().unwrap_or(""),
            correlation_id = field::Empty,
            cold_start,
        );
        if let Some(id) = event
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| sanitize::is_id(id))
        {
            span.record("correlation_id", id);
        }
        // Boxed: the SDK futures inside are deep enough to hit the compiler's layout limit.
        Box::pin(self.process_in_span(event, inv.function_arn.as_deref(), deadline))
            .instrument(span)
            .await
    }

    async fn process_in_span(
        &self,
        event: Value,
        function_arn: Option<&str>,
        deadline: Instant,
    ) -> Result<Processed, HandlerError> {
        if test_alert::is_test_alert(&event) {
            return self.publish_test_alert(&event, deadline).await;
        }
        if change::is_scheduled(&event) {
            return Box::pin(self.scheduled_readiness(&event, function_arn, deadline)).await;
        }
        if change::is_change(&event) {
            return Box::pin(self.change_readiness(&event, function_arn, deadline)).await;
        }
        // A failure's alert keeps the minute it always had: the function's timeout is
        // longer when readiness runs in it (template.yaml), and a hung read must not hold
        // the 3 a.m. alert back for a quarter of an hour.
        let deadline = deadline.min(Instant::now() + DEFAULT_TIMEOUT);
        let parsed = match contained("parsing the event", || trigger::parse(&event)) {
            Ok(Ok(p)) => p,
            Ok(Err(skip)) => {
                warn!(reason = %skip.reason, "event skipped");
                self.metrics.emit(metrics::EVENTS_SKIPPED, 1.0, &[]);
                return Ok(Processed {
                    outcome: Outcome::Skipped {
                        reason: skip.reason,
                    },
                    evidence: None,
                    report: None,
                    alert: None,
                });
            }
            Err(why) => {
                // Nothing checked is known about the event: it is logged and skipped.
                self.metrics.emit(metrics::EVENTS_SKIPPED, 1.0, &[]);
                return Ok(Processed {
                    outcome: Outcome::Skipped { reason: why },
                    evidence: None,
                    report: None,
                    alert: None,
                });
            }
        };
        let dedup_key = parsed.dedup_key();
        if self.already_alerted(&parsed.event_id, &dedup_key) {
            info!(dedup_key = %dedup_key, "duplicate event skipped: already alerted by this container");
            return Ok(Processed {
                outcome: Outcome::Duplicate { dedup_key },
                evidence: None,
                report: None,
                alert: None,
            });
        }

        let gather_by = deadline
            .checked_sub(DEADLINE_RESERVE)
            .unwrap_or_else(Instant::now);
        let reader = self.reader_for(&parsed, function_arn).await;
        // Known once `reader_for` asked for it (organization mode only).
        let own = match &self.members {
            Some(_) => self.own_account(function_arn).await.ok(),
            None => None,
        };
        let partition = partition_of(function_arn);
        let owners = match (&self.members, own.as_deref()) {
            (Some(members), Some(own_account)) => Some(Owners {
                members,
                own_clients: &self.clients,
                own_account,
                partition: &partition,
            }),
            _ => None,
        };
        let source = match &reader {
            Reader::Own => Ok(Source {
                clients: &self.clients,
                role_arn: None,
                owners,
                aliases: Some(&self.aliases),
            }),
            Reader::Member { clients, role_arn } => Ok(Source {
                clients: clients.as_ref(),
                role_arn: Some(role_arn.as_str()),
                owners,
                aliases: Some(&self.aliases),
            }),
            Reader::Unreachable(gap) => Err(gap.clone()),
        };
        let evidence = match source {
            Ok(source) => {
                // Boxed: the gathering future is deep enough to hit the compiler's layout limit.
                let gathered = AssertUnwindSafe(Box::pin(gather_from(source, &parsed, gather_by)))
                    .catch_unwind()
                    .await;
                match gathered {
                    Ok(evidence) => evidence,
                    Err(panic) => {
                        let why = panic_text(panic.as_ref());
                        tracing::error!(panic = %why, "gathering the evidence failed; alerting with the event alone");
                        evidence_of_event_alone(
                            &parsed,
                            Gap {
                                part: EvidencePart::Other,
                                call: "gathering the evidence".into(),
                                error: format!(
                                    "stopped on an internal error ({why}): nothing was read from AWS"
                                ),
                            },
                        )
                    }
                }
            }
            Err(gap) => evidence_of_event_alone(&parsed, gap),
        };
        let mut evidence = evidence;
        if !matches!(reader, Reader::Unreachable(_)) {
            self.add_organization_policies(&mut evidence, gather_by)
                .await;
        }
        for gap in &evidence.gaps {
            warn!(call = %gap.call, error = %gap.error, part = ?gap.part, "evidence gap");
        }
        info!(
            evidence = %serde_json::to_string(&evidence).unwrap_or_default(),
            gaps = evidence.gaps.len(),
            "evidence gathered"
        );

        let mut report = diagnose_safely(&evidence)?;
        info!(
            cause = report.cause.as_str(),
            missing = report.missing.len(),
            unverified = report.unverified.len(),
            summary = %report.summary,
            "diagnosed"
        );
        if self.settings.auto.attach {
            let auto = self
                .auto_attach(&evidence, &report, &parsed, &reader, function_arn, deadline)
                .await;
            info!(
                decision = %auto.decision,
                attached = auto.attached,
                role = auto.role_arn.as_deref().unwrap_or(""),
                reasons = ?auto.reasons,
                retry_restore_job_id = auto.retry_restore_job_id.as_deref().unwrap_or(""),
                "auto-attach"
            );
            if auto.attached {
                self.metrics.emit(metrics::FIXES_ATTACHED, 1.0, &[]);
            }
            if auto.retry_restore_job_id.is_some() {
                self.metrics.emit(metrics::RESTORES_RETRIED, 1.0, &[]);
            }
            report.auto_attach = Some(auto);
        }

        let ctx = AlertContext {
            correlation_id: parsed.event_id.clone(),
            dedup_key: dedup_key.clone(),
            log_group: log_group(),
        };
        let alert = render_safely(&report, &ctx)?;
        if !alert.truncated.is_empty() {
            warn!(parts = ?alert.truncated, "alert shortened to fit the SNS size limit");
        }
        let message_id = self.publish_by(&alert, deadline).await?;
        self.remember(&parsed.event_id, &dedup_key);
        self.metrics.emit(
            metrics::FAILURES_DIAGNOSED,
            1.0,
            &[("cause", report.cause.as_str())],
        );
        self.metrics
            .emit(metrics::EVIDENCE_GAPS, evidence.gaps.len() as f64, &[]);
        info!(message_id = %message_id, subject = %alert.subject, "alert published");
        Ok(Processed {
            outcome: Outcome::Published {
                message_id,
                dedup_key,
                cause: report.cause.as_str().to_owned(),
                gaps: evidence.gaps.len(),
                truncated: alert.truncated.clone(),
            },
            evidence: Some(evidence),
            report: Some(report),
            alert: Some(alert),
        })
    }

    /// Publishes the alert, or fails once the invocation's deadline has come. A failure
    /// is counted and logged here, and is the invocation's error: Lambda retries the
    /// event and finally hands it to the dead-letter queue.
    async fn publish_by(&self, alert: &Alert, deadline: Instant) -> Result<String, HandlerError> {
        let published = tokio::time::timeout_at(
            deadline,
            publish(&self.clients.sns, &self.settings.topic_arn, alert),
        )
        .await
        .unwrap_or_else(|_| {
            Err(PublishError {
                topic: self.settings.topic_arn.clone(),
                reason: "not answered before the invocation's deadline".into(),
            })
        });
        published.map_err(|e| {
            self.metrics.emit(metrics::PUBLISH_ERRORS, 1.0, &[]);
            tracing::error!(error = %e, "alert not published; Lambda will retry the event");
            e.into()
        })
    }

    /// The test alert: rendered like any alert from evidence that says it is a test,
    /// marked as a test everywhere, published, and never remembered as a failure.
    async fn publish_test_alert(
        &self,
        event: &Value,
        deadline: Instant,
    ) -> Result<Processed, HandlerError> {
        let evidence = test_alert::evidence();
        let mut report = diagnose_safely(&evidence)?;
        report.summary = test_alert::SUMMARY.to_owned();
        let correlation_id = event
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| sanitize::is_id(id))
            .unwrap_or("test-alert")
            .to_owned();
        let ctx = AlertContext {
            correlation_id,
            dedup_key: "test-alert".into(),
            log_group: log_group(),
        };
        let alert = alert::as_test(render_safely(&report, &ctx)?);
        let message_id = self.publish_by(&alert, deadline).await?;
        info!(message_id = %message_id, subject = %alert.subject, "test alert published");
        Ok(Processed {
            outcome: Outcome::Published {
                message_id,
                dedup_key: ctx.dedup_key,
                cause: "testAlert".into(),
                gaps: 0,
                truncated: alert.truncated.clone(),
            },
            evidence: Some(evidence),
            report: Some(report),
            alert: Some(alert),
        })
    }

    /// Auto-attach, bounded by the deadline and contained: a panic or a write still
    /// running at [`ATTACH_RESERVE`] before the deadline is a refusal in the alert. A
    /// member account's failure (organization mode) is fixed only through that
    /// account's fixer role.
    async fn auto_attach(
        &self,
        evidence: &Evidence,
        report: &Report,
        parsed: &trigger::Parsed,
        reader: &Reader,
        function_arn: Option<&str>,
        deadline: Instant,
    ) -> AutoAttach {
        let attach_by = deadline
            .checked_sub(ATTACH_RESERVE)
            .unwrap_or_else(Instant::now);
        let partition = partition_of(function_arn);
        let run = async {
            let clients = match reader {
                Reader::Own => None,
                Reader::Member { clients, .. } => Some(Some(clients.as_ref())),
                Reader::Unreachable(_) => Some(None),
            };
            let member = match (clients, &self.members, parsed.account.as_deref()) {
                (Some(reader), Some(members), Some(account)) => Some(attach::MemberAccount {
                    members,
                    account,
                    reader,
                    partition: &partition,
                }),
                _ => None,
            };
            match member {
                Some(member) => {
                    attach::remediate_member(member, evidence, report, &self.settings.auto).await
                }
                None => {
                    let account = self.own_account(function_arn).await;
                    attach::remediate_until(
                        &self.clients,
                        evidence,
                        report,
                        &parsed.trigger,
                        &self.settings.auto,
                        account,
                        attach_by,
                    )
                    .await
                }
            }
        };
        match tokio::time::timeout_at(attach_by, AssertUnwindSafe(run).catch_unwind()).await {
            Ok(Ok(auto)) => auto,
            Ok(Err(panic)) => {
                let why = panic_text(panic.as_ref());
                tracing::error!(panic = %why, "auto-attach failed");
                AutoAttach::refused(vec![format!(
                    "auto-attach stopped on an internal error ({why}); whether the role was changed is not known: check its `{POLICY_NAME}` policy"
                )])
            }
            Err(_) => AutoAttach::refused(vec![format!(
                "auto-attach did not finish before the invocation's deadline; whether the role was changed is not known: check its `{POLICY_NAME}` policy"
            )]),
        }
    }

    /// Whose credentials read the failure: the function's own, or in organization mode
    /// the reader role of the event's account when that is another one. Unsure which
    /// account it is, nothing is read: the function's own credentials would read this
    /// account's roles by the names another account's event carries.
    async fn reader_for(&self, parsed: &trigger::Parsed, function_arn: Option<&str>) -> Reader {
        let Some(members) = &self.members else {
            return Reader::Own;
        };
        let unreachable = |error: String| {
            Reader::Unreachable(Gap {
                part: EvidencePart::Other,
                call: "choosing the account to read".into(),
                error,
            })
        };
        let Some(account) = parsed.account.as_deref() else {
            return unreachable(
                "the event's account was not valid, so it is not known which account to read: nothing was read from AWS".into(),
            );
        };
        match self.own_account(function_arn).await {
            Ok(own) => {
                members
                    .reader_for(
                        account,
                        parsed.region.as_deref(),
                        &own,
                        &partition_of(function_arn),
                    )
                    .await
            }
            Err(why) => unreachable(format!(
                "{why}: whether account {account} is this function's own is not known, so nothing was read from AWS"
            )),
        }
    }

    /// Organization mode with the organization read role: the SCPs and RCPs above the
    /// failure's account, or gaps saying why they are missing. By `deadline` like every
    /// read.
    async fn add_organization_policies(&self, evidence: &mut Evidence, deadline: Instant) {
        let (Some(members), Some(account)) = (&self.members, evidence.account_id.clone()) else {
            return;
        };
        let read = tokio::time::timeout_at(deadline, members.organization_policies(&account));
        match read.await {
            Ok(None) => {}
            Ok(Some(policies)) => {
                match policies.scps {
                    Ok(levels) => evidence.service_control_policies = Some(levels),
                    Err(gap) => evidence.gaps.push(gap),
                }
                match policies.rcps {
                    Ok(levels) => evidence.resource_control_policies = Some(levels),
                    Err(gap) if evidence.gaps.iter().any(|g| g.call == gap.call) => {}
                    Err(gap) => evidence.gaps.push(gap),
                }
            }
            Err(_) => {
                for (part, what) in [
                    (EvidencePart::ServiceControlPolicies, "service"),
                    (EvidencePart::ResourceControlPolicies, "resource"),
                ] {
                    evidence.gaps.push(Gap {
                        part,
                        call: format!("the {what} control policies of account {account}"),
                        error: "not read before the deadline".into(),
                    });
                }
            }
        }
    }

    /// The account of the function's own ARN, else of sts:GetCallerIdentity, remembered
    /// once known. Never the event's account.
    async fn own_account(&self, function_arn: Option<&str>) -> Result<String, String> {
        let known = self
            .account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(account) = known {
            return Ok(account);
        }
        let account = attach::own_account(&self.clients.sts, function_arn).await?;
        *self.account.lock().unwrap_or_else(|p| p.into_inner()) = Some(account.clone());
        Ok(account)
    }

    fn already_alerted(&self, event_id: &str, dedup_key: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.contains(event_id) || seen.contains(dedup_key)
    }

    fn remember(&self, event_id: &str, dedup_key: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(event_id);
        seen.insert(dedup_key);
    }
}

/// The text of a panic's payload.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    shown(&text)
}

/// Runs a synchronous stage; a panic in it becomes its text (logged).
fn contained<T>(stage: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic_text(panic.as_ref());
        tracing::error!(panic = %why, stage, "a stage failed");
        format!("{stage} failed: {why}")
    })
}

/// The diagnosis never fails by contract; should it panic all the same, the alert still
/// goes out, saying the diagnosis failed, with the evidence in the log.
fn diagnose_safely(evidence: &Evidence) -> Result<Report, HandlerError> {
    match contained("the diagnosis", || examine(evidence)) {
        Ok(report) => Ok(report),
        Err(why) => fallback_report(&why).map_err(HandlerError::Report),
    }
}

/// The alert for `report`; should rendering panic, the alert of the fallback report, and
/// should that panic too, a minimal alert that says so.
/// The function's log group, as the Lambda runtime names it (`AWS_LAMBDA_LOG_GROUP_NAME`,
/// Lambda Developer Guide, "Defined runtime environment variables"), for the alert's link
/// to its own log lines; checked where the link is built.
fn log_group() -> Option<String> {
    std::env::var("AWS_LAMBDA_LOG_GROUP_NAME").ok()
}

fn render_safely(report: &Report, ctx: &AlertContext) -> Result<Alert, HandlerError> {
    let why = match contained("rendering the alert", || alert::build(report, ctx)) {
        Ok(alert) => return Ok(alert),
        Err(why) => why,
    };
    let fallback = fallback_report(&why).map_err(HandlerError::Report)?;
    Ok(contained("rendering the fallback alert", || {
        alert::build(&fallback, ctx)
    })
    .unwrap_or_else(|_| minimal_alert(&why, ctx)))
}

/// An alert that needs no rendering: the SNS `default` text only, always far below the
/// size limit.
fn minimal_alert(why: &str, ctx: &AlertContext) -> Alert {
    let text = format!(
        "A restore failed, but restore-doctor could not build its alert ({why}). Event {}: the evidence is in the function's log.",
        shown(&ctx.correlation_id)
    );
    Alert {
        subject: "AWS Backup restore failed (undiagnosed)".into(),
        message: json!({ "default": text }).to_string(),
        attributes: BTreeMap::from([("cause".to_owned(), "unverified".to_owned())]),
        truncated: Vec::new(),
    }
}

/// The evidence when nothing could be gathered (gathering failed, or the event's account
/// could not be read): the checked event and what it dropped, and `why` as a gap.
fn evidence_of_event_alone(parsed: &trigger::Parsed, why: Gap) -> Evidence {
    let mut gaps = parsed.rejected.clone();
    gaps.push(why);
    Evidence {
        schema_version: crate::diagnose::evidence::SCHEMA_VERSION,
        trigger: parsed.event.clone(),
        account_id: parsed.account.clone(),
        region: parsed.region.clone(),
        gaps,
        ..Evidence::default()
    }
}

fn fallback_report(why: &str) -> Result<Report, String> {
    serde_json::from_value(json!({
        "schemaVersion": crate::diagnose::report::REPORT_SCHEMA_VERSION,
        "restore": {"trigger": "unknown"},
        "failure": {"kind": "none"},
        "cause": "unverified",
        "summary": format!("The restore failed, but restore-doctor could not diagnose it ({why}). The evidence is in the function's log."),
        "missing": [],
        "unverified": [{"what": "the whole diagnosis", "why": why}],
        "patch": null,
        "verified": false,
        "verification": {"nowAllowed": [], "stillBlocked": []}
    }))
    .map_err(|e| e.to_string())
}

/// The invocation's deadline from the runtime's `Lambda-Runtime-Deadline-Ms` (epoch
/// milliseconds), as an instant on this process's clock, at most Lambda's longest
/// timeout away. A deadline that is not in the future cannot be Lambda's at the start of
/// an invocation (a skewed clock, or an emulator that sends none): [`DEFAULT_TIMEOUT`] is
/// used instead, and said, since Lambda enforces its own deadline whatever we assume.
pub fn deadline_of(ctx: &lambda_runtime::Context) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let left = u128::from(ctx.deadline).saturating_sub(now_ms);
    let left = u64::try_from(left).unwrap_or(u64::MAX).min(MAX_TIMEOUT_MS);
    if left == 0 {
        warn!(
            deadline_ms = ctx.deadline,
            "the invocation's deadline is not in the future; assuming the default timeout"
        );
        return Instant::now() + DEFAULT_TIMEOUT;
    }
    Instant::now() + Duration::from_millis(left)
}

/// Lambda's longest function timeout, 900 s ("Lambda quotas", function timeout).
const MAX_TIMEOUT_MS: u64 = 900_000;

/// Runs the handler under the Lambda runtime until the container is shut down.
pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_of(&event.context);
        handler
            .process_until(event.payload, Invocation::from(&event.context), deadline)
            .await
            .map(|p| p.outcome)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_report_reads_as_a_report() {
        let report = fallback_report("boom").unwrap();
        assert_eq!(report.cause.as_str(), "unverified");
        assert!(report.summary.contains("boom"));
    }

    #[test]
    fn errors_map_to_stable_lambda_error_types() {
        let d: Diagnostic = HandlerError::Publish(PublishError {
            topic: "arn:aws:sns:eu-west-1:1:t".into(),
            reason: "NotFound: Topic does not exist".into(),
        })
        .into();
        assert_eq!(d.error_type, "PublishFailed");
        assert!(d.error_message.contains("Topic does not exist"));
        let d: Diagnostic = HandlerError::Report("x".into()).into();
        assert_eq!(d.error_type, "ReportFailed");
    }

    #[test]
    fn a_panicking_stage_is_contained_and_said() {
        let got: Result<(), String> =
            contained("the diagnosis", || panic!("index out of `bounds`\n"));
        let why = got.unwrap_err();
        assert!(
            why.starts_with("the diagnosis failed: index out of"),
            "{why}"
        );
        assert!(!why.contains('\n') && !why.contains('`'), "{why}");
        assert_eq!(contained("x", || 7), Ok(7));
    }

    #[test]
    fn the_minimal_alert_needs_no_rendering_and_always_fits() {
        let ctx = AlertContext {
            correlation_id: "e`<!channel>".repeat(10_000),
            dedup_key: "k".into(),
            log_group: None,
        };
        let alert = minimal_alert("boom", &ctx);
        let message: Value = serde_json::from_str(&alert.message).unwrap();
        assert!(message["default"].as_str().unwrap().contains("boom"));
        assert!(alert.message.len() < 1024, "{}", alert.message.len());
        assert!(!alert.message.contains('`'));
    }

    #[test]
    fn evidence_of_the_event_alone_says_nothing_was_read() {
        let event = json!({"id": "e-1", "source": "aws.backup", "detail-type": trigger::RESTORE_JOB_STATE_CHANGE,
            "account": "111122223333", "detail": {"status": "FAILED", "restoreJobId": "J", "resourceType": "E F"}});
        let parsed = trigger::parse(&event).unwrap();
        let ev = evidence_of_event_alone(
            &parsed,
            Gap {
                part: EvidencePart::Other,
                call: "gathering the evidence".into(),
                error: "stopped on an internal error (boom): nothing was read from AWS".into(),
            },
        );
        assert_eq!(ev.gaps.len(), 2, "{:#?}", ev.gaps);
        assert!(ev
            .gaps
            .iter()
            .any(|g| g.error.contains("nothing was read from AWS")));
        assert_eq!(ev.trigger, parsed.event);
        // The diagnosis of it is a report, not a panic.
        let _ = examine(&ev);
    }

    #[test]
    fn the_deadline_comes_from_the_runtime_and_is_never_unbounded() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let mut ctx = lambda_runtime::Context::default();
        ctx.deadline = now_ms + 10_000;
        let left = deadline_of(&ctx) - Instant::now();
        assert!(
            left <= Duration::from_secs(10) && left > Duration::from_secs(8),
            "{left:?}"
        );
        for unusable in [0, now_ms.saturating_sub(5_000)] {
            ctx.deadline = unusable;
            let left = deadline_of(&ctx) - Instant::now();
            assert!(
                left <= DEFAULT_TIMEOUT && left > DEFAULT_TIMEOUT / 2,
                "{left:?}"
            );
        }
        ctx.deadline = u64::MAX;
        assert!(deadline_of(&ctx) - Instant::now() <= Duration::from_millis(MAX_TIMEOUT_MS));
    }
}
