//! Operating restore-doctor itself (issue #10, "Operating it"): the alarms on its
//! errors, its dead-letter queue and its failed publishes reach a topic the alarms may
//! publish to — never the alert topic, which only the function may publish to — the
//! dashboard is valid once deployed, and X-Ray permissions exist only with tracing on.
//! Readiness in the function (issue #13, section 3): off by default, and when on, the
//! function's role may call exactly the readiness reads and the two DynamoDB calls the
//! code makes, on the stack's own table only; the schedule's role may only invoke the
//! function; the change rules match exactly the calls the parser acts on.

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
    function_role_policies, resource, role_policies, root, template, Deployment, ACCOUNT,
    ALARM_TOPIC, OTHER_ACCOUNT, READINESS_TABLE, REGION, TOPIC,
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

fn allowed(policies: &[restore_doctor::policy::NamedPolicy], action: &str, resource: &str) -> bool {
    let req = Request {
        principal: sam_template::FUNCTION_SESSION.into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: Some(ACCOUNT.into()),
        context: BTreeMap::new(),
    };
    let set = PolicySet {
        identity: policies.to_vec(),
        ..PolicySet::default()
    };
    evaluate(&req, &set).unwrap().decision == Decision::Allowed
}

fn readiness_deployment(schedule: bool, changes: bool) -> Deployment {
    let mut d = Deployment::new(true);
    d.conditions.insert("ScheduledReadiness", schedule);
    d.conditions.insert("ChangeChecks", changes);
    d.conditions.insert("ReadinessOn", schedule || changes);
    d
}

/// The `<client>.<operation>()` calls of `client` sent in `file` (`batch_write_item` ->
/// `BatchWriteItem`).
fn sdk_calls(file: &str, client: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let code: String = text.split_whitespace().collect();
    let needle = format!("{client}.");
    let mut found: Vec<String> = code
        .match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &code[at + needle.len()..];
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            (!op.is_empty() && rest[op.len()..].starts_with("()")).then(|| {
                op.split('_')
                    .map(|w| w[..1].to_uppercase() + &w[1..])
                    .collect::<String>()
            })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn readiness_is_off_by_default_and_nothing_of_it_exists_then() {
    let template = template();
    // Off until turned on; once on, daily unless the schedule is changed (issue #13).
    assert_eq!(
        template["Parameters"]["ScheduledReadinessChecks"]["Default"],
        "false"
    );
    assert_eq!(
        template["Parameters"]["ReadinessSchedule"]["Default"],
        "rate(1 day)"
    );
    assert_eq!(
        template["Parameters"]["ChangeTriggeredChecks"]["Default"],
        "false"
    );
    for name in [
        "ReadinessStateTable",
        "ReadinessScheduleRole",
        "ReadinessScheduleRun",
        "ReadinessRoleChange",
        "ReadinessKeyChange",
        "ReadinessVaultPolicyChange",
        "ReadinessRoleChangeInvoke",
        "ReadinessKeyChangeInvoke",
        "ReadinessVaultPolicyChangeInvoke",
    ] {
        let condition = resource(&template, name)["Condition"].as_str().unwrap();
        assert!(
            ["ReadinessOn", "ScheduledReadiness", "ChangeChecks"].contains(&condition),
            "{name}: {condition}"
        );
    }
    let off = function_role_policies(&template, &Deployment::new(true));
    for action in [
        "backup:ListProtectedResources",
        "dynamodb:Scan",
        "dynamodb:BatchWriteItem",
    ] {
        assert!(
            !allowed(&off, action, READINESS_TABLE),
            "{action} while off"
        );
        assert!(!allowed(&off, action, "*"), "{action} while off");
    }
    let env =
        &resource(&template, "RestoreDoctorFunction")["Properties"]["Environment"]["Variables"];
    for name in [
        "READINESS_TABLE",
        "CHANGE_TRIGGERED_CHECKS",
        "READINESS_RESTORE_ROLE",
        "READINESS_ACCOUNTS",
    ] {
        assert_eq!(Deployment::new(true).resolve(&env[name]), None, "{name}");
    }
}

#[test]
fn with_readiness_on_the_role_makes_exactly_the_calls_the_code_makes_on_its_own_table() {
    let template = template();
    // The DynamoDB calls the state adapter makes are the ones the template grants.
    let calls = sdk_calls("src/aws/state.rs", "ddb");
    assert_eq!(calls, ["BatchWriteItem", "Scan"]);
    let table = &resource(&template, "ReadinessStateTable")["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": "expiresAt", "Enabled": true})
    );
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}])
    );
    let other_table = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other");
    for (schedule, changes) in [(true, false), (false, true), (true, true)] {
        let d = readiness_deployment(schedule, changes);
        let on = function_role_policies(&template, &d);
        for call in &calls {
            let action = format!("dynamodb:{call}");
            assert!(allowed(&on, &action, READINESS_TABLE), "{action}");
            assert!(
                !allowed(&on, &action, &other_table),
                "{action} on another table"
            );
        }
        for action in [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteTable",
            "dynamodb:DeleteItem",
        ] {
            assert!(!allowed(&on, action, READINESS_TABLE), "{action}");
        }
        for action in [
            "backup:ListProtectedResources",
            "backup:ListRecoveryPointsByBackupVault",
            "backup:ListRecoveryPointsByResource",
            "backup:GetRecoveryPointRestoreMetadata",
            "backup:ListRestoreTestingPlans",
            "backup:ListRestoreTestingSelections",
            "backup:GetRestoreTestingSelection",
        ] {
            assert!(allowed(&on, action, "*"), "{action}");
        }
        assert!(!allowed(&on, "backup:StartRestoreJob", "*"));
        let env =
            &resource(&template, "RestoreDoctorFunction")["Properties"]["Environment"]["Variables"];
        assert_eq!(
            d.resolve(&env["READINESS_TABLE"]),
            Some(json!("restore-doctor-ReadinessStateTable-1J2K3L"))
        );
    }
}

#[test]
fn the_schedule_may_only_invoke_this_function_with_the_fixed_input() {
    let template = template();
    let mut d = readiness_deployment(true, false);
    d.values
        .insert("ReadinessSchedule", "rate(1 day)".to_owned());
    d.values.insert(
        "ReadinessScheduleRole.Arn",
        format!("arn:aws:iam::{ACCOUNT}:role/restore-doctor-ReadinessScheduleRole-1M"),
    );
    let schedule = d
        .resolve(&resource(&template, "ReadinessScheduleRun")["Properties"])
        .unwrap();
    let function = d.value("RestoreDoctorFunction.Arn");
    assert_eq!(schedule["Target"]["Arn"], function.as_str());
    assert_eq!(schedule["FlexibleTimeWindow"]["Mode"], "OFF");
    // The input is what the function accepts as a scheduled run, and nothing else.
    let input: Value = serde_json::from_str(schedule["Target"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input[restore_doctor::event::change::SCHEDULED_INPUT_KEY],
        restore_doctor::event::change::SCHEDULED_READINESS
    );
    let filled =
        json!({"restore-doctor": input["restore-doctor"], "scheduledTime": "2026-03-02T06:00:00Z"});
    assert!(restore_doctor::event::change::scheduled(&filled).is_ok());

    let role = role_policies(&template, "ReadinessScheduleRole", &d);
    let can = |action: &str, resource: &str| {
        let req = Request {
            principal: format!("arn:aws:sts::{ACCOUNT}:assumed-role/ReadinessScheduleRole/s"),
            action: action.into(),
            resource: resource.into(),
            resource_account: Some(ACCOUNT.into()),
            context: BTreeMap::new(),
        };
        let set = PolicySet {
            identity: role.clone(),
            ..PolicySet::default()
        };
        evaluate(&req, &set).unwrap().decision == Decision::Allowed
    };
    assert!(can("lambda:InvokeFunction", &function));
    assert!(!can(
        "lambda:InvokeFunction",
        &format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:other")
    ));
    assert!(!can("lambda:UpdateFunctionCode", &function));
    let trust = &resource(&template, "ReadinessScheduleRole")["Properties"]
        ["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "scheduler.amazonaws.com");
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"})
    );
}

#[test]
fn the_change_rules_match_exactly_the_calls_the_function_acts_on_successful_and_of_this_account() {
    let template = template();
    let mut from_rules = Vec::new();
    for rule in [
        "ReadinessRoleChange",
        "ReadinessKeyChange",
        "ReadinessVaultPolicyChange",
    ] {
        let pattern = &resource(&template, rule)["Properties"]["EventPattern"];
        assert_eq!(
            pattern["account"],
            json!([{"Ref": "AWS::AccountId"}]),
            "{rule}"
        );
        assert_eq!(
            pattern["detail"]["errorCode"],
            json!([{"exists": false}]),
            "{rule}"
        );
        let source = pattern["detail"]["eventSource"][0].as_str().unwrap();
        assert_eq!(
            pattern["source"][0].as_str().unwrap(),
            format!("aws.{}", source.split('.').next().unwrap()),
            "{rule}"
        );
        for name in pattern["detail"]["eventName"].as_array().unwrap() {
            from_rules.push((source.to_owned(), name.as_str().unwrap().to_owned()));
        }
        let target = &resource(&template, rule)["Properties"]["Targets"][0];
        assert_eq!(
            target["Arn"],
            json!({"Fn::GetAtt": ["RestoreDoctorFunction", "Arn"]})
        );
        assert!(target["DeadLetterConfig"]["Arn"].is_object(), "{rule}");
    }
    from_rules.sort();
    let mut parsed: Vec<(String, String)> = restore_doctor::event::change::CHANGE_EVENTS
        .iter()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect();
    parsed.sort();
    assert_eq!(from_rules, parsed);
}

/// A readiness run gets Lambda's longest timeout; without readiness the function keeps
/// the 60 s its failure alerts are budgeted for (the handler caps a failure at that).
#[test]
fn the_timeout_is_long_only_with_a_readiness_mode_on() {
    let template = template();
    let timeout = &resource(&template, "RestoreDoctorFunction")["Properties"]["Timeout"];
    for (schedule, changes, want) in [(false, false, 60), (true, false, 900), (false, true, 900)] {
        let got = readiness_deployment(schedule, changes).resolve(timeout);
        assert_eq!(
            got,
            Some(json!(want)),
            "schedule={schedule} changes={changes}"
        );
    }
}
