//! Operating restore-doctor itself (issue #10, "Operating it"): the alarms on its
//! errors, its dead-letter queue and its failed publishes reach a topic the alarms may
//! publish to — never the alert topic, which only the function may publish to — the
//! dashboard is valid once deployed, and X-Ray permissions exist only with tracing on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sam_template;

use std::collections::BTreeMap;

use restore_doctor::policy::{evaluate, ContextValue, Decision, PolicySet, Request};
use sam_template::{
    function_role_policies, resource, template, Deployment, ACCOUNT, ALARM_TOPIC, OTHER_ACCOUNT,
    REGION, TOPIC,
};
use serde_json::{json, Value};

const ALARMS: [&str; 3] = [
    "FunctionErrorsAlarm",
    "DeadLetterQueueAlarm",
    "PublishErrorsAlarm",
];

#[test]
fn every_alarm_notifies_the_alarm_topic_or_the_given_one_never_the_alert_topic() {
    let template = template();
    let created = Deployment::new(true);
    let mut given = Deployment::new(true);
    given.conditions.insert("CreateAlarmTopic", false);
    let existing = format!("arn:aws:sns:{REGION}:{ACCOUNT}:ops");
    given.values.insert("AlarmTopicArn", existing.clone());
    for name in ALARMS {
        let alarm = resource(&template, name);
        assert_eq!(alarm["Type"], "AWS::CloudWatch::Alarm");
        let props = &alarm["Properties"];
        assert_eq!(
            created.resolve(&props["AlarmActions"]).unwrap(),
            json!([ALARM_TOPIC]),
            "{name}"
        );
        assert_eq!(
            given.resolve(&props["AlarmActions"]).unwrap(),
            json!([existing]),
            "{name}"
        );
        assert_ne!(
            created.resolve(&props["AlarmActions"]).unwrap(),
            json!([TOPIC]),
            "{name}"
        );
        // One bad event is one too many: any datapoint ≥ 1 alarms, no data is fine.
        assert_eq!(props["Threshold"], 1, "{name}");
        assert_eq!(
            props["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{name}"
        );
        assert_eq!(props["TreatMissingData"], "notBreaching", "{name}");
    }
}

#[test]
fn the_alarms_watch_the_metrics_the_function_and_its_queue_emit() {
    let template = template();
    let d = Deployment::new(true);
    let metric = |name: &str| {
        let p = d.resolve(&resource(&template, name)["Properties"]).unwrap();
        (
            p["Namespace"].as_str().unwrap().to_string(),
            p["MetricName"].as_str().unwrap().to_string(),
            p["Dimensions"].clone(),
        )
    };
    let (ns, name, dims) = metric("FunctionErrorsAlarm");
    assert_eq!((ns.as_str(), name.as_str()), ("AWS/Lambda", "Errors"));
    assert_eq!(
        dims,
        json!([{"Name": "FunctionName", "Value": d.value("RestoreDoctorFunction")}])
    );
    let (ns, name, dims) = metric("DeadLetterQueueAlarm");
    assert_eq!(
        (ns.as_str(), name.as_str()),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        dims,
        json!([{"Name": "QueueName", "Value": d.value("DeadLetterQueue.QueueName")}])
    );
    // The function's EMF metric: the namespace and `service` value it is configured with.
    let (ns, name, dims) = metric("PublishErrorsAlarm");
    let env =
        &resource(&template, "RestoreDoctorFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(ns, env["POWERTOOLS_METRICS_NAMESPACE"].as_str().unwrap());
    assert_eq!(
        dims,
        json!([{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}])
    );
    #[cfg(feature = "lambda")]
    assert_eq!(name, restore_doctor::aws::metrics::PUBLISH_ERRORS);
    #[cfg(not(feature = "lambda"))]
    assert_eq!(name, "PublishErrors");
}

fn cloudwatch_publish(topic: &str, source_account: &str) -> Request {
    let alarm = format!(
        "arn:aws:cloudwatch:{REGION}:{source_account}:alarm:restore-doctor-function-errors"
    );
    Request {
        principal: "cloudwatch.amazonaws.com".into(),
        action: "sns:Publish".into(),
        resource: topic.into(),
        resource_account: Some(ACCOUNT.into()),
        context: BTreeMap::from([
            (
                "aws:SourceAccount".to_owned(),
                ContextValue::One(source_account.into()),
            ),
            ("aws:SourceArn".to_owned(), ContextValue::One(alarm)),
        ]),
    }
}

#[test]
fn only_this_accounts_alarms_may_publish_to_the_alarm_topic() {
    let template = template();
    let d = Deployment::new(true);
    let policy = resource(&template, "AlarmTopicPolicy");
    assert_eq!(
        d.resolve(&policy["Properties"]["Topics"]).unwrap(),
        json!([ALARM_TOPIC])
    );
    let set = PolicySet {
        resource_policy: Some(
            d.policy("AlarmTopicPolicy", &policy["Properties"]["PolicyDocument"]),
        ),
        ..PolicySet::default()
    };
    let ours = evaluate(&cloudwatch_publish(ALARM_TOPIC, ACCOUNT), &set).unwrap();
    assert_eq!(ours.decision, Decision::Allowed, "{ours:#?}");
    let theirs = evaluate(&cloudwatch_publish(ALARM_TOPIC, OTHER_ACCOUNT), &set).unwrap();
    assert_ne!(
        theirs.decision,
        Decision::Allowed,
        "confused deputy: {theirs:#?}"
    );
    // And the alert topic still refuses CloudWatch: alarms never land among alerts.
    let alert_policy = resource(&template, "AlertTopicPolicy");
    let alert = PolicySet {
        resource_policy: Some(d.policy(
            "AlertTopicPolicy",
            &alert_policy["Properties"]["PolicyDocument"],
        )),
        ..PolicySet::default()
    };
    let eval = evaluate(&cloudwatch_publish(TOPIC, ACCOUNT), &alert).unwrap();
    assert_ne!(eval.decision, Decision::Allowed, "{eval:#?}");
}

#[test]
fn the_dashboard_is_valid_json_once_deployed_and_shows_the_alarmed_metrics() {
    let template = template();
    let d = Deployment::new(true);
    let body = d
        .resolve(&resource(&template, "Dashboard")["Properties"]["DashboardBody"])
        .unwrap();
    let body: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
    let text = body.to_string();
    for needle in [
        "PublishErrors",
        "EvidenceGaps",
        "FailuresDiagnosed",
        "ApproximateNumberOfMessagesVisible",
        &d.value("RestoreDoctorFunction"),
        &d.value("FunctionLogGroup"),
    ] {
        assert!(text.contains(needle), "dashboard lacks {needle}");
    }
    assert!(body["widgets"].as_array().unwrap().len() >= 3);
}

#[test]
fn xray_permissions_exist_only_with_tracing_on() {
    let template = template();
    let function = &resource(&template, "RestoreDoctorFunction")["Properties"];
    assert_eq!(function["Tracing"], json!({"Ref": "Tracing"}));
    assert_eq!(template["Parameters"]["Tracing"]["Default"], "PassThrough");
    let grants_xray = |on: bool| {
        let mut d = Deployment::new(true);
        d.conditions.insert("TracingOn", on);
        function_role_policies(&template, &d).iter().any(|p| {
            let req = Request {
                principal: sam_template::FUNCTION_ROLE.into(),
                action: "xray:PutTraceSegments".into(),
                resource: "*".into(),
                resource_account: Some(ACCOUNT.into()),
                context: BTreeMap::new(),
            };
            let set = PolicySet {
                identity: vec![p.clone()],
                ..PolicySet::default()
            };
            evaluate(&req, &set).unwrap().decision == Decision::Allowed
        })
    };
    assert!(grants_xray(true));
    assert!(!grants_xray(false));
}
