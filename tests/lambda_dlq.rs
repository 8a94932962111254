#![cfg(feature = "lambda")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! End to end, issue #8 section 5: an event the function fails on at every attempt ends in
//! the dead-letter queue, so no alert is lost without a trace.
//!
//! Real: the built `restore-doctor-lambda` binary under the Lambda runtime API emulator
//! (`cargo-lambda lambda watch --only-lambda-apis`), invoked through the emulator's Invoke
//! API, its AWS calls going to moto and the fake, publishing to a topic that does not
//! exist (so every publish fails); the dead-letter queue is a moto SQS queue; the retry
//! count, the OnFailure destination and the role's permission to send there are read
//! from `template.yaml`.
//!
//! Emulated, because neither the emulator nor moto runs Lambda's asynchronous
//! invocation queue for our binary: the retry loop (the first attempt and
//! `MaximumRetryAttempts` more, stopping at the first success) and the hand-off of the
//! failure to the OnFailure destination, which this test writes in the invocation record
//! format Lambda documents ("Capturing records of Lambda asynchronous invocations",
//! https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html:
//! `requestContext.condition` `RetriesExhausted`, `approximateInvokeCount`, the event as
//! `requestPayload`, the function's error as `responsePayload`).

mod raw_http;
mod sam_template;
mod support;

use std::time::Duration;

use restore_doctor::policy::{evaluate, Decision, PolicySet, Request};
use serde_json::{json, Value};
use support::{emulator, scenario, stack, unique, ACCOUNT, REGION};

/// What one invocation answered: whether the function returned an error, the request id
/// and the payload (the function's response, or its error).
struct Answer {
    function_error: Option<String>,
    request_id: Option<String>,
    payload: Value,
}

/// The emulator's Invoke API (`POST /2015-03-31/functions/_/invocations`), as Lambda's
/// asynchronous queue calls the function once per attempt.
fn invoke(port: u16, event: &Value) -> Answer {
    let answer = raw_http::post(
        port,
        "/2015-03-31/functions/_/invocations",
        &[("Content-Type", "application/json")],
        &event.to_string(),
        Duration::from_secs(60),
    );
    // Lambda answers a function error with 200 and `X-Amz-Function-Error: Unhandled`; the
    // emulator with a 500 and the same error body.
    let function_error = answer
        .header("x-amz-function-error")
        .or_else(|| (answer.status >= 500).then(|| "Unhandled".to_owned()));
    Answer {
        function_error,
        request_id: answer.header("x-amzn-requestid"),
        payload: serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("{e}: {}\n\n{}", answer.head, answer.body)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_function_fails_on_at_every_attempt_ends_in_the_dead_letter_queue() {
    // What the template deploys: how often Lambda retries, where the failure goes, and
    // that the function's role (which Lambda sends the record with) may send there.
    let template = sam_template::template();
    let function = sam_template::resource(&template, "RestoreDoctorFunction");
    let invoke_config = &function["Properties"]["EventInvokeConfig"];
    let retries = invoke_config["MaximumRetryAttempts"].as_u64().unwrap();
    let on_failure = &invoke_config["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert_eq!(
        on_failure["Destination"],
        json!({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
    );
    let deployment = sam_template::Deployment::new(true);
    let role = PolicySet {
        identity: sam_template::function_role_policies(&template, &deployment),
        ..PolicySet::default()
    };
    let send = Request {
        principal: sam_template::FUNCTION_SESSION.into(),
        action: "sqs:SendMessage".into(),
        resource: deployment.value("DeadLetterQueue.Arn"),
        ..Request::default()
    };
    assert_eq!(evaluate(&send, &role).unwrap().decision, Decision::Allowed);

    let stack = stack();
    let sdk = stack.sdk_config().await;
    let case = scenario::efs_case(stack, &sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(unique("dead-letter"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    // Publishing fails at every attempt: the topic does not exist.
    let missing_topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", unique("no-such-topic"));
    let dir = stack.dir.join(unique("dlq"));
    std::fs::create_dir_all(&dir).unwrap();

    let (_watch, port) = emulator::start_emulator(&dir);
    let function_log = dir.join("function.log");
    let _function = emulator::start_function(stack, port, &missing_topic, "$LATEST", &function_log);

    // Lambda's asynchronous invocation (emulated): the first attempt and `retries` more,
    // stopping at the first success.
    let attempts = retries + 1;
    let mut answers = Vec::new();
    for _ in 0..attempts {
        let answer = invoke(port, &case.event);
        let failed = answer.function_error.is_some();
        answers.push(answer);
        if !failed {
            break;
        }
    }
    // Each attempt failed with the publish error (none taken for an alerted duplicate).
    assert_eq!(answers.len() as u64, attempts);
    for answer in &answers {
        assert!(answer.function_error.is_some(), "{}", answer.payload);
        assert_eq!(
            answer.payload["errorType"], "PublishFailed",
            "{}",
            answer.payload
        );
        assert!(
            answer.payload["errorMessage"]
                .as_str()
                .unwrap()
                .contains(&missing_topic),
            "{}",
            answer.payload
        );
    }
    let last = answers.last().unwrap();

    // The hand-off (emulated): Lambda writes the invocation record to the OnFailure
    // destination once the retries are exhausted.
    let record = json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": last.request_id.clone().unwrap_or_else(|| unique("request")),
            "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:_:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": answers.len(),
        },
        "requestPayload": case.event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": last.function_error,
        },
        "responsePayload": last.payload,
    });
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body(record.to_string())
        .send()
        .await
        .unwrap();

    // The dead-letter queue holds the original event and why it failed.
    let got = scenario::receive(&sdk, &dlq_url, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let held = &got[0];
    assert_eq!(held["requestPayload"], case.event);
    assert_eq!(held["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(held["requestContext"]["approximateInvokeCount"], attempts);
    assert_eq!(held["responsePayload"]["errorType"], "PublishFailed");

    // Every attempt diagnosed the event and tried to publish it: one failed publish,
    // and one PublishErrors metric, per attempt, all under the event's correlation id.
    let lines: Vec<Value> = emulator::json_lines(&function_log);
    let not_published = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("alert not published"))
        })
        .collect::<Vec<_>>();
    assert_eq!(not_published.len() as u64, attempts, "{lines:#?}");
    assert!(not_published
        .iter()
        .all(|l| l["correlation_id"] == case.event["id"]));
    let publish_errors = lines
        .iter()
        .filter(|l| l.get("PublishErrors").is_some())
        .count();
    assert_eq!(publish_errors as u64, attempts, "{lines:#?}");
}
