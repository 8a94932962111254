#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The whole handler against a real local AWS endpoint: moto (IAM, KMS, SNS, SQS) and the
//! fake in `tests/fakes/aws_fake.py` (Backup DescribeRestoreJob, GetRestoreJobMetadata,
//! DescribeRecoveryPoint, GetBackupVaultAccessPolicy; sts:DecodeAuthorizationMessage;
//! KMS failure injection; the https endpoint AWS Chatbot would be).
//!
//! The alert is read back from an SQS queue subscribed to the topic (raw delivery off:
//! the body is the SNS envelope, whose `Message` is the `sqs` key: the JSON report).
//!
//! Tests named `diagnosis_*` assert on the content of the diagnosis itself; the others
//! only on what the Lambda edge controls.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use restore_doctor::aws::metrics::Sink;

use restore_doctor::aws::{Clients, EndpointOverrides, Settings};
use restore_doctor::diagnose::report::Report;
use restore_doctor::handler::{Handler, HandlerError, Invocation, Outcome, Processed};
use serde_json::{json, Value};
use support::{scenario, stack, unique, ACCOUNT};

fn settings(topic_arn: &str) -> Settings {
    Settings {
        topic_arn: topic_arn.to_owned(),
        service: "restore-doctor".into(),
        metrics_namespace: "RestoreDoctorTests".into(),
        dedup_capacity: 64,
        auto: Default::default(),
        organization: None,
        readiness: None,
    }
}

fn invocation() -> Invocation {
    Invocation {
        request_id: unique("request"),
        xray_trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
        function_arn: None,
    }
}

async fn handler(topic_arn: &str) -> Handler {
    Handler::new(stack().clients().await, settings(topic_arn))
        .with_metric_sink(Sink::Memory(Default::default()))
}

/// A handler whose EMF lines are kept, and the lines.
async fn handler_with_metrics(topic_arn: &str) -> (Handler, Arc<Mutex<Vec<String>>>) {
    let lines: Arc<Mutex<Vec<String>>> = Default::default();
    let handler = Handler::new(stack().clients().await, settings(topic_arn))
        .with_metric_sink(Sink::Memory(lines.clone()));
    (handler, lines)
}

/// The value of metric `name` in the kept EMF lines, with its dimensions.
fn metric(lines: &Arc<Mutex<Vec<String>>>, name: &str) -> Option<Value> {
    lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v.get(name).is_some())
}

/// Processes `event` and returns what was published, the one envelope read back and the
/// EMF metric lines.
async fn publish_and_read(event: Value, name: &str) -> (Processed, Value, Arc<Mutex<Vec<String>>>) {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, name).await;
    let (handler, metrics) = handler_with_metrics(&topic.topic_arn).await;
    let processed = handler.process(event, invocation()).await.unwrap();
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "exactly one alert: {got:#?}");
    (processed, got.into_iter().next().unwrap(), metrics)
}

/// The `sqs` key of the alert: the report as JSON.
fn report_json(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().unwrap()).expect("the sqs key is JSON")
}

/// Actions of the report's findings, lowercased.
fn missing_actions(report: &Value) -> Vec<String> {
    report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap().to_ascii_lowercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efs_failure_publishes_one_alert_with_structure_subject_and_attributes() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let (processed, envelope, metrics) = publish_and_read(case.event.clone(), &case.uniq).await;

    let Outcome::Published {
        gaps, dedup_key, ..
    } = &processed.outcome
    else {
        panic!("not published: {:?}", processed.outcome)
    };
    assert_eq!(*gaps, 0);
    assert_eq!(
        dedup_key,
        &format!("{ACCOUNT}:eu-west-1:restore-job:{}", case.job_id)
    );
    let alert = processed.alert.as_ref().unwrap();
    let report = processed.report.as_ref().unwrap();

    // The envelope: subject, attributes, and the report as the `sqs` key.
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Subject"], alert.subject.as_str());
    let subject = alert.subject.as_str();
    assert!(
        subject.chars().count() < 100 && !subject.chars().any(char::is_control),
        "{subject}"
    );
    assert!(subject.contains("EFS restore"), "{subject}");
    let attrs = scenario::attributes(&envelope);
    assert_eq!(attrs["cause"], report.cause.as_str());
    assert_eq!(attrs["resourceType"], "EFS");
    assert_eq!(attrs["accountId"], ACCOUNT);
    assert!(attrs["fixableByPatch"] == "true" || attrs["fixableByPatch"] == "false");
    assert_eq!(attrs["dedupKey"], *dedup_key);
    assert_eq!(
        report_json(&envelope),
        serde_json::to_value(report).unwrap(),
        "the sqs key is the serialized report"
    );

    // The full MessageStructure=json body.
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let keys: Vec<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["default", "email", "https", "sqs", "lambda"]);
    assert_eq!(message["default"], message["email"]);
    assert_eq!(message["sqs"], message["lambda"]);
    let email = message["email"].as_str().unwrap();
    assert!(email.starts_with(&restore_doctor::render::text::report_text(report)));
    assert!(email.contains(&format!(
        "https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/restore/details/{}",
        case.job_id
    )));
    assert!(email.contains(&format!(
        "https://console.aws.amazon.com/iam/home#/roles/details/restore-{}",
        case.uniq
    )));
    assert!(
        email.contains(case.event["id"].as_str().unwrap()),
        "correlation id in the email"
    );
    let chatbot: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot["version"], "1.0");
    assert_eq!(chatbot["source"], "custom");
    assert_eq!(chatbot["content"]["textType"], "client-markdown");
    assert!(!chatbot["content"]["nextSteps"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        chatbot["metadata"]["threadId"],
        format!("restore-doctor/{}", case.job_id)
    );

    // EMF metrics: one failure diagnosed, by cause; no gaps.
    let diagnosed = metric(&metrics, "FailuresDiagnosed").unwrap();
    assert_eq!(diagnosed["cause"], report.cause.as_str());
    assert_eq!(
        diagnosed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service", "cause"]])
    );
    assert_eq!(
        metric(&metrics, "EvidenceGaps").unwrap()["EvidenceGaps"],
        json!(0.0)
    );

    // The evidence the alert came from.
    let ev = processed.evidence.as_ref().unwrap();
    assert!(ev.restore_role.is_some() && ev.recovery_point.is_some());
    assert_eq!(ev.key_policies.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_report_json_reads_back_as_a_report() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let (processed, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;
    let read: Report = serde_json::from_str(envelope["Message"].as_str().unwrap())
        .expect("the sqs key deserializes as a Report");
    assert_eq!(read, processed.report.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatbot_and_email_subscribers_get_their_own_keys() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let topic = scenario::topic_with_queue(&sdk, &case.uniq).await;
    scenario::subscribe_fake_endpoints(stack, &sdk, &topic.topic_arn, &case.uniq).await;

    let processed = handler(&topic.topic_arn)
        .await
        .process(case.event.clone(), invocation())
        .await
        .unwrap();

    let alert = processed.alert.unwrap();
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    let https = stack.sns_deliveries(&case.uniq);
    assert_eq!(https.len(), 1, "{https:#?}");
    assert_eq!(
        https[0]["Message"], message["https"],
        "Chatbot gets the custom notification"
    );
    let http = stack.sns_deliveries(&format!("{}-http", case.uniq));
    assert_eq!(http.len(), 1, "{http:#?}");
    assert_eq!(
        http[0]["Message"], message["default"],
        "other protocols get the email text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnosis_efs_names_the_missing_efs_and_kms_permissions() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let (_, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;
    let report = report_json(&envelope);

    let missing = missing_actions(&report);
    assert_eq!(report["cause"], "missingPermissions", "{report:#}");
    for action in [
        "elasticfilesystem:createfilesystem",
        "elasticfilesystem:restore",
    ] {
        assert!(
            missing.contains(&action.to_owned()),
            "{action} not in {missing:?}"
        );
    }
    assert!(
        missing.iter().any(|a| a.starts_with("kms:")),
        "no KMS action in {missing:?}"
    );
    let principals: Vec<&Value> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["principal"])
        .collect();
    assert!(
        principals.iter().all(|p| **p == case.role_arn),
        "{principals:?}"
    );
    assert!(report["patch"].is_object(), "{report:#}");
    assert_eq!(scenario::attributes(&envelope)["fixableByPatch"], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_failure_with_an_encoded_message_is_published() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::ec2_case(stack, &sdk).await;
    let (processed, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;

    assert!(
        matches!(processed.outcome, Outcome::Published { gaps: 0, .. }),
        "{:?}",
        processed.outcome
    );
    assert_eq!(scenario::attributes(&envelope)["resourceType"], "EC2");
    let ev = processed.evidence.unwrap();
    assert_eq!(
        ev.decoded_message.unwrap()["context"]["action"],
        "iam:PassRole"
    );
    assert_eq!(
        report_json(&envelope),
        serde_json::to_value(processed.report.unwrap()).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnosis_ec2_names_pass_role_on_the_instance_profile_role() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::ec2_case(stack, &sdk).await;
    let (_, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;
    let report = report_json(&envelope);

    assert_eq!(
        report["failure"]["denied"]["action"], "iam:PassRole",
        "{report:#}"
    );
    let pass = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "iam:PassRole")
        .unwrap_or_else(|| panic!("no iam:PassRole in {:#}", report["missing"]));
    assert_eq!(pass["resource"], case.profile_role_arn.as_str());
    assert_eq!(pass["principal"], case.role_arn.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_start_restore_job_by_a_user_is_published() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::user_case(&sdk).await;
    let (processed, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;

    let attrs = scenario::attributes(&envelope);
    assert_eq!(attrs["trigger"], "startRestoreJobDenied");
    assert!(envelope["Subject"]
        .as_str()
        .unwrap()
        .contains("StartRestoreJob denied for alice"));
    let alert = processed.alert.unwrap();
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    assert!(message["email"].as_str().unwrap().contains(&format!(
        "https://console.aws.amazon.com/iam/home#/users/details/alice-{}",
        case.uniq
    )));
    assert_eq!(
        processed.evidence.unwrap().caller.unwrap().arn,
        case.user_arn
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnosis_user_lacks_start_restore_job() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::user_case(&sdk).await;
    let (_, envelope, _) = publish_and_read(case.event.clone(), &case.uniq).await;
    let report = report_json(&envelope);
    assert!(
        report["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["action"] == "backup:StartRestoreJob"
                && f["principal"] == case.user_arn.as_str()),
        "{:#}",
        report["missing"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_evidence_still_alerts_and_says_what_was_not_verified() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    stack.fake_scenario(&json!({
        "vaults": {&case.vault: {"errors": {
            "GetBackupVaultAccessPolicy": {"status": 403, "code": "AccessDeniedException", "message": "Insufficient privileges to perform this action."},
            "DescribeRecoveryPoint": {"status": 400, "code": "ThrottlingException", "message": "Rate exceeded"}
        }}},
        "kmsKeys": {&case.target_key_arn: {"arn": &case.target_key_arn, "errors": {
            "GetKeyPolicy": {"status": 400, "code": "AccessDeniedException", "message": "not authorized to perform: kms:GetKeyPolicy"}
        }}}
    }));
    let topic = scenario::topic_with_queue(&sdk, &case.uniq).await;
    let clients = Clients::with_overrides(
        &sdk,
        &EndpointOverrides {
            kms: Some(stack.fake.url.clone()),
            ..stack.overrides()
        },
    );
    let lines: Arc<Mutex<Vec<String>>> = Default::default();
    let processed = Handler::new(clients, settings(&topic.topic_arn))
        .with_metric_sink(Sink::Memory(lines.clone()))
        .process(case.event.clone(), invocation())
        .await
        .unwrap();

    let Outcome::Published { gaps, .. } = processed.outcome else {
        panic!("not published: {:?}", processed.outcome)
    };
    assert_eq!(gaps, 3, "{:#?}", processed.evidence.unwrap().gaps);
    assert_eq!(
        metric(&lines, "EvidenceGaps").unwrap()["EvidenceGaps"],
        json!(3.0)
    );
    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1);
    let report = report_json(&got[0]);
    assert!(
        !report["unverified"].as_array().unwrap().is_empty(),
        "gaps must show as unverified: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_events_publish_nothing() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let name = unique("skip");
    let topic = scenario::topic_with_queue(&sdk, &name).await;
    let handler = handler(&topic.topic_arn).await;
    for file in ["restore-job-completed.json", "malformed.json"] {
        let event = scenario::event(file, |_| {});
        let outcome = handler.handle(event, invocation()).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Skipped { .. }),
            "{file}: {outcome:?}"
        );
    }
    // Not even a JSON object: skipped, not an error.
    let outcome = handler.handle(json!([1, 2]), invocation()).await.unwrap();
    assert!(matches!(outcome, Outcome::Skipped { .. }));
    let got = scenario::receive(&sdk, &topic.queue_url, 0, Duration::from_secs(2)).await;
    assert!(got.is_empty(), "{got:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_or_a_second_event_for_the_same_job_alerts_once() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let topic = scenario::topic_with_queue(&sdk, &case.uniq).await;
    let handler = handler(&topic.topic_arn).await;

    let first = handler
        .handle(case.event.clone(), invocation())
        .await
        .unwrap();
    assert!(matches!(first, Outcome::Published { .. }), "{first:?}");
    let again = handler
        .handle(case.event.clone(), invocation())
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    let mut other_event = case.event.clone();
    other_event["id"] = json!(unique("event"));
    let same_job = handler.handle(other_event, invocation()).await.unwrap();
    assert!(
        matches!(same_job, Outcome::Duplicate { .. }),
        "{same_job:?}"
    );

    let got = scenario::receive(&sdk, &topic.queue_url, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_fails_the_invocation_so_lambda_retries() {
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let missing_topic = format!(
        "arn:aws:sns:eu-west-1:{ACCOUNT}:{}",
        unique("no-such-topic")
    );
    let (handler, metrics) = handler_with_metrics(&missing_topic).await;

    let err = handler
        .handle(case.event.clone(), invocation())
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Publish(_)), "{err:?}");
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "PublishFailed");
    assert!(
        diagnostic.error_message.contains(&missing_topic),
        "{}",
        diagnostic.error_message
    );
    assert_eq!(
        metric(&metrics, "PublishErrors").unwrap()["PublishErrors"],
        json!(1.0)
    );
    assert!(metric(&metrics, "FailuresDiagnosed").is_none());

    // Not remembered as alerted: the retry publishes.
    let again = handler.handle(case.event.clone(), invocation()).await;
    assert!(
        again.is_err(),
        "still failing, but retried rather than deduplicated"
    );
}

/// `events/test-alert.json`, sent by hand after deploying, publishes one alert marked as a
/// test in the subject, the email, the Slack title and a `test` attribute; it is not
/// counted as a diagnosed failure, and sending it twice publishes twice (no dedup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_alert_is_published_and_marked_as_a_test_everywhere() {
    let text = std::fs::read_to_string(format!(
        "{}/events/test-alert.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let event: Value = serde_json::from_str(&text).unwrap();
    let (processed, envelope, metrics) =
        publish_and_read(event.clone(), &unique("test-alert")).await;
    let Outcome::Published { cause, .. } = &processed.outcome else {
        panic!("not published: {:?}", processed.outcome)
    };
    assert_eq!(cause, "testAlert");
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.starts_with("[restore-doctor TEST]"), "{subject}");
    assert!(subject.chars().count() < 100, "{subject}");
    assert_eq!(scenario::attributes(&envelope)["test"], "true");
    let alert = processed.alert.as_ref().unwrap();
    let message: Value = serde_json::from_str(&alert.message).unwrap();
    assert!(message["email"]
        .as_str()
        .unwrap()
        .starts_with("THIS IS A TEST ALERT"));
    assert!(message["default"]
        .as_str()
        .unwrap()
        .starts_with("THIS IS A TEST ALERT"));
    insta::assert_snapshot!("test-alert-email", message["email"].as_str().unwrap());
    insta::assert_snapshot!("test-alert-subject", subject);
    let chatbot: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    assert!(chatbot["content"]["title"]
        .as_str()
        .unwrap()
        .starts_with("TEST: "));
    assert!(chatbot["content"]["description"]
        .as_str()
        .unwrap()
        .contains("THIS IS A TEST ALERT"));
    let report = report_json(&envelope);
    assert!(report["summary"]
        .as_str()
        .unwrap()
        .starts_with("TEST ALERT"));
    assert!(metric(&metrics, "FailuresDiagnosed").is_none());
    assert!(alert.counted_bytes() < 256 * 1024);

    // Twice is twice: a team may test again after fixing a subscription.
    let stack = stack();
    let sdk = stack.sdk_config().await;
    let topic = scenario::topic_with_queue(&sdk, &unique("test-alert-twice")).await;
    let handler = handler(&topic.topic_arn).await;
    for _ in 0..2 {
        let p = handler.process(event.clone(), invocation()).await.unwrap();
        assert!(
            matches!(p.outcome, Outcome::Published { .. }),
            "{:?}",
            p.outcome
        );
    }
    let got = scenario::receive(&sdk, &topic.queue_url, 2, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2);
}
