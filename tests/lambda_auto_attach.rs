#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Opt-in auto-remediation against moto (IAM roles, tags and inline policies, SNS, SQS)
//! and the fake (Backup restore-job reads, ListBackupVaults, StartRestoreJob with
//! idempotency tokens, sts:GetCallerIdentity):
//!
//! - an opted-in role gets exactly the policy the alert shows, with the undo command;
//!   a second run changes nothing;
//! - each guardrail refuses a case crafted to get a broad or foreign grant, and the
//!   role's inline policies stay as they were;
//! - the optional retry starts at most one restore per failed job;
//! - a refused StartRestoreJob finds the vault holding its recovery point, so a vault
//!   policy deny is named.

mod support;

use std::time::Duration;

use aws_config::SdkConfig;
use restore_doctor::aws::attach;
use restore_doctor::aws::metrics::Sink;
use restore_doctor::aws::{AutoSettings, Settings};
use restore_doctor::diagnose::report::{AutoAttach, Blocker};
use restore_doctor::event::trigger;
use restore_doctor::handler::{Handler, Invocation, Processed};
use restore_doctor::remedy::patch::POLICY_NAME;
use serde_json::{json, Value};
use support::scenario::{self, EfsCase};
use support::{stack, unique, ACCOUNT, REGION};

/// The function's ARN in `account`.
fn function_arn(account: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{account}:function:restore-doctor")
}

fn invocation(account: Option<&str>) -> Invocation {
    Invocation {
        request_id: unique("request"),
        xray_trace_id: None,
        function_arn: account.map(function_arn),
    }
}

fn attach_on() -> AutoSettings {
    AutoSettings {
        attach: true,
        retry_wait: Duration::ZERO,
        ..AutoSettings::default()
    }
}

/// A fresh handler: a new container, so nothing is remembered from another run.
async fn handler(topic_arn: &str, auto: AutoSettings) -> Handler {
    let settings = Settings {
        auto,
        ..Settings::for_topic(topic_arn)
    };
    Handler::new(stack().clients().await, settings)
        .with_metric_sink(Sink::Memory(Default::default()))
}

fn role_name(case: &EfsCase) -> String {
    format!("restore-{}", case.uniq)
}

/// The EFS case with its role opted in by the default tag.
async fn opted_in_case(sdk: &SdkConfig) -> EfsCase {
    let case = scenario::efs_case(stack(), sdk).await;
    scenario::tag_role(sdk, &role_name(&case), "restore-doctor:auto-attach", "true").await;
    case
}

/// Runs one event through a fresh handler and returns what it produced and the one
/// alert read back from SQS.
async fn run(event: Value, auto: AutoSettings, account: Option<&str>) -> (Processed, Value) {
    let sdk = stack().sdk_config().await;
    let name = unique("auto");
    let topic = scenario::topic_with_queue(&sdk, &name).await;
    let processed = handler(&topic.topic_arn, auto)
        .await
        .process(event, invocation(account))
        .await
        .unwrap();
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "exactly one alert: {got:#?}");
    (processed, got.into_iter().next().unwrap())
}

fn auto_of(p: &Processed) -> AutoAttach {
    p.report
        .as_ref()
        .unwrap()
        .auto_attach
        .clone()
        .unwrap_or_else(|| panic!("no auto-attach decision: {:#?}", p.report))
}

fn email(envelope_or_processed: &Processed) -> String {
    let message: Value =
        serde_json::from_str(&envelope_or_processed.alert.as_ref().unwrap().message).unwrap();
    message["email"].as_str().unwrap().to_owned()
}

/// The report as published (the `sqs` key).
fn published(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap()
}

fn assert_refused(auto: &AutoAttach, needle: &str) {
    assert_eq!(auto.decision, "refuse", "{:#?}", auto.reasons);
    assert!(!auto.attached);
    assert!(
        auto.reasons.iter().any(|r| r.contains(needle)),
        "no reason mentions `{needle}`: {:#?}",
        auto.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_in_role_gets_exactly_the_policy_the_alert_shows() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = opted_in_case(&sdk).await;
    let before = scenario::inline_policies(&sdk, &role_name(&case)).await;

    let (processed, envelope) = run(case.event.clone(), attach_on(), Some(ACCOUNT)).await;

    let auto = auto_of(&processed);
    assert_eq!(auto.decision, "attach", "{:#?}", auto.reasons);
    assert!(auto.attached);
    assert_eq!(auto.role_arn.as_deref(), Some(case.role_arn.as_str()));
    assert_eq!(auto.policy_name.as_deref(), Some(POLICY_NAME));
    // What IAM holds is byte for byte the document the published alert carries.
    let published_doc = published(&envelope)["autoAttach"]["attachedDocument"].clone();
    assert!(published_doc.is_object(), "{:#}", published(&envelope));
    let after = scenario::inline_policies(&sdk, &role_name(&case)).await;
    assert_eq!(
        after[POLICY_NAME],
        serde_json::to_string(&published_doc).unwrap()
    );
    assert_eq!(Some(&published_doc), auto.attached_document.as_ref());
    // Nothing else on the role changed.
    let mut others = after.clone();
    others.remove(POLICY_NAME);
    assert_eq!(others, before);
    // The alert says so, with the undo command.
    let text = email(&processed);
    assert!(text.contains("Auto-attach: ATTACHED"), "{text}");
    let undo = auto.undo_command.as_deref().unwrap();
    assert_eq!(
        undo,
        format!(
            "aws iam delete-role-policy --role-name '{}' --policy-name {POLICY_NAME}",
            role_name(&case)
        )
    );
    assert!(text.contains(&format!("undo: {undo}")), "{text}");
    assert_eq!(published(&envelope)["autoAttach"]["attached"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_over_the_same_failure_changes_nothing() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = opted_in_case(&sdk).await;
    let (first, _) = run(case.event.clone(), attach_on(), Some(ACCOUNT)).await;
    assert!(auto_of(&first).attached, "{:#?}", auto_of(&first));
    let attached = scenario::inline_policies(&sdk, &role_name(&case)).await;

    // Another container, another delivery of the same failure: the role now has the fix,
    // so nothing is missing from it and nothing is attached.
    let mut again = case.event.clone();
    again["id"] = json!(unique("event"));
    let (second, _) = run(again, attach_on(), Some(ACCOUNT)).await;
    let auto = auto_of(&second);
    assert_refused(&auto, "nothing to attach");
    assert!(auto.attached_document.is_none(), "{auto:#?}");
    assert_eq!(
        scenario::inline_policies(&sdk, &role_name(&case)).await,
        attached
    );

    // The same evidence again (read before the fix, as after a lagging IAM read): the
    // merged document is already on the role, so PutRolePolicy is not called.
    let evidence = first.evidence.as_ref().unwrap();
    let mut report = first.report.clone().unwrap();
    report.auto_attach = None;
    let parsed = trigger::parse(&case.event).unwrap();
    let auto = attach::remediate(
        &stack.clients().await,
        evidence,
        &report,
        &parsed.trigger,
        &attach_on(),
        Ok(ACCOUNT.to_owned()),
    )
    .await;
    assert!(auto.attached, "{auto:#?}");
    assert!(
        auto.reasons
            .iter()
            .any(|r| r.contains("iam:PutRolePolicy was not called")),
        "{auto:#?}"
    );
    assert_eq!(auto.attached_document, auto_of(&first).attached_document);
    assert_eq!(
        scenario::inline_policies(&sdk, &role_name(&case)).await,
        attached
    );
}

/// Runs the case with `auto` as the function in `account` and checks that the role's
/// inline policies are unchanged.
async fn unchanged_after(
    sdk: &SdkConfig,
    case: &EfsCase,
    auto: AutoSettings,
    account: &str,
) -> Processed {
    let role = role_name(case);
    let before = scenario::inline_policies(sdk, &role).await;
    let (processed, _) = run(case.event.clone(), auto, Some(account)).await;
    let after = scenario::inline_policies(sdk, &role).await;
    assert_eq!(after, before, "the role's inline policies changed");
    assert!(!after.contains_key(POLICY_NAME));
    processed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_a_role_that_is_not_opted_in_is_left_alone() {
    let sdk = stack().sdk_config().await;
    let case = scenario::efs_case(stack(), &sdk).await;
    // A tag with another value is not an opt-in either.
    scenario::tag_role(&sdk, &role_name(&case), "restore-doctor:auto-attach", "yes").await;
    let p = unchanged_after(&sdk, &case, attach_on(), ACCOUNT).await;
    assert_refused(&auto_of(&p), "not opted in");
    assert!(
        email(&p).contains("Auto-attach: not attached"),
        "{}",
        email(&p)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_auto_attach_is_off_by_default() {
    let sdk = stack().sdk_config().await;
    let case = opted_in_case(&sdk).await;
    let p = unchanged_after(&sdk, &case, AutoSettings::default(), ACCOUNT).await;
    // Propose only: the alert has the patch and no auto-attach section.
    let report = p.report.as_ref().unwrap();
    assert!(report.patch.is_some());
    assert!(report.auto_attach.is_none());
    assert!(!email(&p).contains("Auto-attach"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_an_explicit_deny_is_explained_not_patched() {
    let sdk = stack().sdk_config().await;
    let case = opted_in_case(&sdk).await;
    scenario::put_inline(
        &sdk,
        &role_name(&case),
        "no-efs-restores",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny",
            "Action": "elasticfilesystem:Restore",
            "Resource": "*"
        }]}),
    )
    .await;
    let p = unchanged_after(&sdk, &case, attach_on(), ACCOUNT).await;
    let auto = auto_of(&p);
    assert_eq!(auto.decision, "refuse", "{auto:#?}");
    assert!(
        p.report
            .as_ref()
            .unwrap()
            .missing
            .iter()
            .any(|f| f.blocked_by.contains(&Blocker::IdentityDeny)),
        "{:#?}",
        p.report
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_the_merged_policy_must_fit_iams_inline_limit() {
    let sdk = stack().sdk_config().await;
    let case = opted_in_case(&sdk).await;
    // Two harmless inline policies that leave little room under 10,240 characters.
    for n in 0..2 {
        let buckets: Vec<String> = (0..110)
            .map(|i| format!("arn:aws:s3:::restore-doctor-padding-bucket-{n}-{i:03}/*"))
            .collect();
        scenario::put_inline(
            &sdk,
            &role_name(&case),
            &format!("padding-{n}"),
            &json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "s3:GetObject", "Resource": buckets
            }]}),
        )
        .await;
    }
    let p = unchanged_after(&sdk, &case, attach_on(), ACCOUNT).await;
    assert_refused(&auto_of(&p), "10240-character limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_a_role_in_another_account_is_never_patched() {
    let sdk = stack().sdk_config().await;
    let case = opted_in_case(&sdk).await;
    // The event, the role and its evidence are in moto's account; the function runs in
    // another one.
    let p = unchanged_after(&sdk, &case, attach_on(), "999999999999").await;
    assert_refused(&auto_of(&p), "not in this account (999999999999)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_starts_at_most_one_restore_per_failed_job() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = opted_in_case(&sdk).await;
    let auto = AutoSettings {
        retry_restore: true,
        ..attach_on()
    };
    let (first, envelope) = run(case.event.clone(), auto.clone(), Some(ACCOUNT)).await;
    let decision = auto_of(&first);
    assert!(decision.attached, "{decision:#?}");
    let job = decision
        .retry_restore_job_id
        .clone()
        .unwrap_or_else(|| panic!("not retried: {decision:#?}"));
    assert_eq!(
        published(&envelope)["autoAttach"]["retryRestoreJobId"],
        job.as_str()
    );
    assert!(email(&first).contains(&format!("restore started again: job {job}")));

    // The restore was started again exactly as the failed job was.
    let started = |rp: &str| -> Vec<Value> {
        stack
            .started_restore_jobs()
            .into_iter()
            .filter(|j| j["request"]["RecoveryPointArn"] == rp)
            .collect()
    };
    let jobs = started(&case.recovery_point_arn);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let request = &jobs[0]["request"];
    assert_eq!(jobs[0]["RestoreJobId"], job.as_str());
    assert_eq!(request["IamRoleArn"], case.role_arn.as_str());
    assert_eq!(request["ResourceType"], "EFS");
    assert_eq!(
        request["IdempotencyToken"],
        format!("restore-doctor-retry-{}", case.job_id)
    );
    assert_eq!(
        request["Metadata"]["file-system-id"],
        "fs-0123456789abcdef0"
    );
    assert_eq!(
        request["Metadata"]["KmsKeyId"],
        case.target_key_arn.as_str()
    );

    // Another container, same failed job, fix in place: no retry at all.
    let mut again = case.event.clone();
    again["id"] = json!(unique("event"));
    let (second, _) = run(again.clone(), auto.clone(), Some(ACCOUNT)).await;
    assert!(auto_of(&second).retry_restore_job_id.is_none());

    // The fix removed again (undone, or a race between containers): attached again, and
    // the retry reuses the token, so still one restore job, the same one.
    aws_sdk_iam::Client::new(&sdk)
        .delete_role_policy()
        .role_name(role_name(&case))
        .policy_name(POLICY_NAME)
        .send()
        .await
        .unwrap();
    again["id"] = json!(unique("event"));
    let (third, _) = run(again, auto, Some(ACCOUNT)).await;
    let decision = auto_of(&third);
    assert!(decision.attached, "{decision:#?}");
    assert_eq!(decision.retry_restore_job_id.as_deref(), Some(job.as_str()));
    assert_eq!(
        stack.fake_requests("StartRestoreJob", &case.recovery_point_arn),
        2
    );
    assert_eq!(started(&case.recovery_point_arn).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_retry_is_reported_and_the_account_can_come_from_sts() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = opted_in_case(&sdk).await;
    stack.fake_scenario(&json!({"startRestoreJob": {&case.recovery_point_arn: {"error": {
        "status": 400, "code": "InvalidRequestException", "message": "the file system already exists"
    }}}}));
    let auto = AutoSettings {
        retry_restore: true,
        ..attach_on()
    };
    // No function ARN in the context: the account is the caller identity's (the fake's
    // sts:GetCallerIdentity answers with moto's account).
    let (p, _) = run(case.event.clone(), auto, None).await;
    let decision = auto_of(&p);
    assert!(decision.attached, "{decision:#?}");
    assert!(decision.retry_restore_job_id.is_none());
    assert!(
        decision.reasons.iter().any(
            |r| r.contains("not started again") && r.contains("the file system already exists")
        ),
        "{decision:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_start_restore_job_finds_the_vault_whose_policy_denies_it() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    // The EFS default vault is asked first; any other vault is found by listing (on the
    // second page of the fake's ten-vault pages at least).
    for vault in [
        scenario::EFS_AUTOMATIC_VAULT.to_owned(),
        unique("vault-elsewhere"),
    ] {
        let case = scenario::vault_deny_case(stack, &sdk, &vault).await;
        // Auto-attach on, the restore role opted in: a vault policy is never patched.
        scenario::tag_role(
            &sdk,
            case.role_arn.rsplit('/').next().unwrap(),
            "restore-doctor:auto-attach",
            "true",
        )
        .await;
        let (p, envelope) = run(case.event.clone(), attach_on(), Some(ACCOUNT)).await;

        let ev = p.evidence.as_ref().unwrap();
        let rp = ev
            .recovery_point
            .as_ref()
            .unwrap_or_else(|| panic!("{vault}: {:#?}", ev.gaps));
        assert_eq!(rp.backup_vault_name.as_deref(), Some(vault.as_str()));
        assert_eq!(
            ev.vault_access_policy.as_ref().unwrap().backup_vault_name,
            vault
        );
        assert!(ev.gaps.is_empty(), "{:#?}", ev.gaps);

        let report = published(&envelope);
        let finding = report["missing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["action"] == "backup:StartRestoreJob")
            .unwrap_or_else(|| panic!("{:#}", report["missing"]));
        assert_eq!(finding["principal"], case.user_arn.as_str());
        assert!(
            finding["blockedBy"]
                .as_array()
                .unwrap()
                .contains(&json!("vaultAccessPolicy")),
            "{finding:#}"
        );
        assert!(report["vaultPolicyFix"].is_object(), "{report:#}");
        assert_eq!(auto_of(&p).decision, "refuse");
    }
    assert!(stack.fake_requests("ListBackupVaults", "10") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_unsafe_write_becomes_a_refusal_in_the_alert() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let clients = stack.clients().await;
    let case = opted_in_case(&sdk).await;
    // The evidence and diagnosis of a propose-only run: nothing attached yet.
    let (p, _) = run(case.event.clone(), AutoSettings::default(), Some(ACCOUNT)).await;
    let (evidence, report) = (p.evidence.unwrap(), p.report.unwrap());
    let parsed = trigger::parse(&case.event).unwrap();
    let settings = attach_on();
    let remediate = || {
        attach::remediate(
            &clients,
            &evidence,
            &report,
            &parsed.trigger,
            &settings,
            Ok(ACCOUNT.to_owned()),
        )
    };

    // Someone put another fix after the evidence was read: not overwritten.
    let theirs = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "elasticfilesystem:Restore", "Resource": "*"
    }]});
    scenario::put_inline(&sdk, &role_name(&case), POLICY_NAME, &theirs).await;
    let auto = remediate().await;
    assert_refused(&auto, "changed after the evidence was read");
    assert_eq!(
        scenario::inline_policies(&sdk, &role_name(&case)).await[POLICY_NAME],
        theirs.to_string()
    );

    // The role is gone by the time of writing: PutRolePolicy fails, and says why.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role = role_name(&case);
    for policy in scenario::inline_policies(&sdk, &role).await.keys() {
        iam.delete_role_policy()
            .role_name(&role)
            .policy_name(policy)
            .send()
            .await
            .unwrap();
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    for policy in attached.attached_policies() {
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(policy.policy_arn().unwrap())
            .send()
            .await
            .unwrap();
    }
    iam.delete_role().role_name(&role).send().await.unwrap();
    let auto = remediate().await;
    assert_refused(&auto, "iam:PutRolePolicy failed");
    assert!(auto.undo_command.is_none() && auto.attached_document.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrail_the_opt_in_is_checked_on_the_role_that_would_be_written() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let mut case = scenario::efs_case(stack, &sdk).await;
    // The restore names a role under a path the opt-in pattern matches; IAM's role of
    // that name lives elsewhere (`role/service-role/<name>`) and is not opted in.
    let crafted = format!(
        "arn:aws:iam::{ACCOUNT}:role/service-role/BackupAnything/{}",
        role_name(&case)
    );
    stack.fake_scenario(
        &json!({"restoreJobs": {&case.job_id: {"describe": {"IamRoleArn": &crafted}}}}),
    );
    case.event["detail"]["iamRoleArn"] = json!(&crafted);
    let auto = AutoSettings {
        role_patterns: vec![format!("arn:aws:iam::{ACCOUNT}:role/service-role/Backup*")],
        ..attach_on()
    };

    let p = unchanged_after(&sdk, &case, auto, ACCOUNT).await;

    assert_eq!(auto_of(&p).decision, "refuse", "{:#?}", auto_of(&p));
    let evidence = p.evidence.as_ref().unwrap();
    assert!(evidence.restore_role.is_none());
    assert!(
        evidence.gaps.iter().any(|g| g.part
            == restore_doctor::diagnose::evidence::EvidencePart::RestoreRole
            && g.error.contains("not the restore's role")),
        "{:#?}",
        evidence.gaps
    );
}
