//! What `template.yaml` promises about who may publish an alert, how the alerts are
//! stored, and which events reach the function (issue #8, sections 2 and 7), checked on
//! the template itself: its policies are evaluated with the project's own evaluator, and
//! its rules' event patterns are run through moto's EventBridge (an event either reaches
//! the rule's target queue or does not). The opt-in tag protection offered in `deploy/`
//! is evaluated the same way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "lambda")]
mod raw_http;
mod sam_template;
#[cfg(feature = "lambda")]
mod support;

use std::collections::BTreeMap;

use restore_doctor::policy::{
    evaluate, ContextValue, Decision, Evaluation, Layer, NamedPolicy, OrgLevel, Policy, PolicySet,
    Request,
};
use sam_template::{
    function_role_policies, resource, root, template, Deployment, ACCOUNT, FUNCTION_ROLE,
    FUNCTION_SESSION, OPT_IN_TAG, OTHER_ACCOUNT, REGION, TOPIC, TOPIC_KEY,
};
use serde_json::{json, Value};

/// The evaluator's decision; every request here is within AWS's limits.
fn decide(request: &Request, policies: &PolicySet) -> Evaluation {
    evaluate(request, policies).unwrap()
}

fn topic_policy(template: &Value, deployment: &Deployment) -> NamedPolicy {
    let policy = resource(template, "AlertTopicPolicy");
    assert_eq!(policy["Type"], "AWS::SNS::TopicPolicy");
    assert_eq!(
        deployment.resolve(&policy["Properties"]["Topics"]).unwrap(),
        json!([TOPIC]),
        "the policy is the alert topic's"
    );
    deployment.policy("AlertTopicPolicy", &policy["Properties"]["PolicyDocument"])
}

fn publish(principal: &str, principal_arn: Option<&str>) -> Request {
    let mut context = BTreeMap::new();
    if let Some(arn) = principal_arn {
        context.insert("aws:PrincipalArn".to_owned(), ContextValue::One(arn.into()));
    }
    Request {
        principal: principal.into(),
        action: "sns:Publish".into(),
        resource: TOPIC.into(),
        resource_account: Some(ACCOUNT.into()),
        context,
    }
}

fn named(name: &str, document: Value) -> NamedPolicy {
    NamedPolicy {
        name: name.into(),
        policy: Policy::from_value(&document).unwrap(),
    }
}

fn administrator_access() -> NamedPolicy {
    named(
        "AdministratorAccess",
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
}

#[test]
fn only_the_function_role_may_publish_an_alert() {
    let template = template();
    let deployment = Deployment::new(true);
    let topic_policy = topic_policy(&template, &deployment);

    // The function's own session, with its own policies: allowed.
    let function = PolicySet {
        identity: function_role_policies(&template, &deployment),
        resource_policy: Some(topic_policy.clone()),
        ..PolicySet::default()
    };
    let eval = decide(&publish(FUNCTION_SESSION, Some(FUNCTION_ROLE)), &function);
    assert_eq!(eval.decision, Decision::Allowed, "{eval:#?}");
    // The topic policy alone lets the role publish (its Allow names the role).
    let eval = decide(
        &publish(FUNCTION_ROLE, None),
        &PolicySet {
            resource_policy: Some(topic_policy.clone()),
            ..PolicySet::default()
        },
    );
    assert_eq!(eval.decision, Decision::Allowed, "{eval:#?}");

    // An administrator of the same account (sns:Publish on "*" in its own policies)
    // cannot forge an alert: the topic policy's explicit deny wins.
    let admin_role = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
    let admin_session = format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice");
    let admin = PolicySet {
        identity: vec![administrator_access()],
        resource_policy: Some(topic_policy.clone()),
        ..PolicySet::default()
    };
    for (principal, principal_arn) in [
        (admin_role.as_str(), None),
        (admin_session.as_str(), Some(admin_role.as_str())),
        (&format!("arn:aws:iam::{ACCOUNT}:user/bob"), None),
        (&format!("arn:aws:iam::{ACCOUNT}:root"), None),
    ] {
        let eval = decide(&publish(principal, principal_arn), &admin);
        assert_eq!(
            eval.decision,
            Decision::ExplicitlyDenied,
            "{principal}: {eval:#?}"
        );
        assert_eq!(eval.blocked_by, vec![Layer::ResourcePolicy], "{principal}");
    }
    // A role that shares the function role's name in another account is not it.
    let look_alike = FUNCTION_ROLE.replace(ACCOUNT, OTHER_ACCOUNT);
    let eval = decide(&publish(&look_alike, None), &admin);
    assert_ne!(eval.decision, Decision::Allowed, "{eval:#?}");
    // A service (EventBridge, CloudWatch alarms) cannot publish either.
    let eval = decide(&publish("events.amazonaws.com", None), &admin);
    assert_ne!(eval.decision, Decision::Allowed, "{eval:#?}");
}

#[test]
fn the_alert_topic_is_encrypted_with_its_own_key_which_the_function_role_alone_is_granted() {
    let template = template();
    assert_eq!(
        template["Parameters"]["EncryptAlertTopic"]["Default"], "true",
        "encrypted unless the deployer turns it off"
    );
    let topic = resource(&template, "AlertTopic");
    let encrypted = Deployment::new(true);
    assert_eq!(
        encrypted.resolve(&topic["Properties"]["KmsMasterKeyId"]),
        Some(json!(TOPIC_KEY)),
        "the topic uses the stack's own key"
    );
    let plain = Deployment::new(false);
    assert_eq!(
        plain
            .resolve(&topic["Properties"])
            .unwrap()
            .get("KmsMasterKeyId"),
        None,
        "EncryptAlertTopic=false leaves the topic unencrypted"
    );

    let key = resource(&template, "AlertTopicKey");
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Condition"], "EncryptTopic");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let key_policy = encrypted.policy("key policy", &key["Properties"]["KeyPolicy"]);
    // KMS's default key policy and nothing else: the account's IAM policies decide.
    assert_eq!(key_policy.policy.statements().len(), 1);
    assert_eq!(
        key_policy.policy.to_value()["Statement"][0]["Principal"],
        json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")})
    );

    // The role may GenerateDataKey and Decrypt with this key, nothing else with it,
    // and nothing with any other key.
    let role = |deployment: &Deployment| PolicySet {
        identity: function_role_policies(&template, deployment),
        resource_policy: Some(key_policy.clone()),
        ..PolicySet::default()
    };
    let kms = |action: &str, key: &str| Request {
        principal: FUNCTION_SESSION.into(),
        action: action.into(),
        resource: key.into(),
        resource_account: Some(ACCOUNT.into()),
        context: BTreeMap::new(),
    };
    let other_key =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555");
    for (action, key, allowed) in [
        ("kms:GenerateDataKey", TOPIC_KEY, true),
        ("kms:Decrypt", TOPIC_KEY, true),
        ("kms:Encrypt", TOPIC_KEY, false),
        ("kms:GenerateDataKeyWithoutPlaintext", TOPIC_KEY, false),
        ("kms:CreateGrant", TOPIC_KEY, false),
        ("kms:Decrypt", other_key.as_str(), false),
        ("kms:GenerateDataKey", other_key.as_str(), false),
    ] {
        let eval = decide(&kms(action, key), &role(&encrypted));
        assert_eq!(
            eval.decision == Decision::Allowed,
            allowed,
            "{action} on {key}: {eval:#?}"
        );
    }
    // Without encryption the role gets no KMS permission at all.
    let eval = decide(&kms("kms:GenerateDataKey", TOPIC_KEY), &role(&plain));
    assert_ne!(eval.decision, Decision::Allowed, "{eval:#?}");
}

fn rule_pattern(template: &Value, rule: &str) -> Value {
    let function = resource(template, "RestoreDoctorFunction");
    let event = &function["Properties"]["Events"][rule];
    assert_eq!(event["Type"], "EventBridgeRule", "{rule}");
    event["Properties"]["Pattern"].clone()
}

#[test]
fn the_cloudtrail_rule_matches_refused_calls_only_not_any_error_code() {
    let template = template();
    let pattern = rule_pattern(&template, "StartRestoreJobDenied");
    let codes = pattern["detail"]["errorCode"].as_array().unwrap();
    assert!(
        !codes.iter().any(|c| c.get("exists").is_some()),
        "`exists` would match validation errors and throttling: {codes:?}"
    );
    assert_eq!(
        codes,
        &vec![
            json!({"prefix": "AccessDenied"}),
            json!("NotAuthorized"),
            json!("UnauthorizedOperation"),
        ]
    );
    assert_eq!(pattern["detail"]["eventName"], json!(["StartRestoreJob"]));
    assert_eq!(
        pattern["detail"]["eventSource"],
        json!(["backup.amazonaws.com"])
    );
}

#[test]
fn both_rules_take_only_this_accounts_events() {
    let template = template();
    for rule in ["RestoreJobFailed", "StartRestoreJobDenied"] {
        let pattern = rule_pattern(&template, rule);
        assert_eq!(
            pattern["account"],
            json!([{"Ref": "AWS::AccountId"}]),
            "{rule}: {pattern}"
        );
        assert_eq!(pattern["source"], json!(["aws.backup"]), "{rule}");
    }
}

/// The protection snippets of `deploy/`, parsed by the project's own parser.
fn snippet(file: &str) -> NamedPolicy {
    let text = std::fs::read_to_string(root().join("deploy").join(file)).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    NamedPolicy {
        name: file.into(),
        policy: Policy::from_value(&value).unwrap_or_else(|e| panic!("{file}: {e}")),
    }
}

/// An IAM call on a role, with its tag keys (`aws:TagKeys`, `aws:RequestTag/…`) and the
/// role's own tags (`aws:ResourceTag/…`).
fn iam_call(
    principal: &str,
    principal_arn: &str,
    action: &str,
    tags: &[(&str, &str)],
    role_tags: &[(&str, &str)],
) -> Request {
    let mut context = BTreeMap::from([(
        "aws:PrincipalArn".to_owned(),
        ContextValue::One(principal_arn.into()),
    )]);
    if !tags.is_empty() && action != "iam:UntagRole" {
        for (k, v) in tags {
            context.insert(
                format!("aws:RequestTag/{k}"),
                ContextValue::One((*v).into()),
            );
        }
    }
    if !tags.is_empty() {
        context.insert(
            "aws:TagKeys".into(),
            ContextValue::Many(tags.iter().map(|(k, _)| (*k).to_owned()).collect()),
        );
    }
    for (k, v) in role_tags {
        context.insert(
            format!("aws:ResourceTag/{k}"),
            ContextValue::One((*v).into()),
        );
    }
    Request {
        principal: principal.into(),
        action: action.into(),
        resource: format!("arn:aws:iam::{ACCOUNT}:role/BackupRestoreRole"),
        resource_account: Some(ACCOUNT.into()),
        context,
    }
}

/// Tags as (key, value).
type Tags<'a> = &'a [(&'a str, &'a str)];
/// (caller, action, tags in the request, tags of the role, denied?)
type Case<'a> = (&'a str, &'a str, Tags<'a>, Tags<'a>, bool);

/// Callers by name: (session ARN, role ARN). The administrators are the ones the
/// snippet exempts as shipped (a role named `Admin`, the IAM Identity Center
/// AdministratorAccess permission set).
fn callers() -> BTreeMap<&'static str, (String, String)> {
    let sso = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
    BTreeMap::from([
        (
            "developer",
            (
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/Developer/alice"),
                format!("arn:aws:iam::{ACCOUNT}:role/Developer"),
            ),
        ),
        (
            "admin",
            (
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob"),
                format!("arn:aws:iam::{ACCOUNT}:role/Admin"),
            ),
        ),
        (
            "SSO admin",
            (
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/{sso}/carol"),
                format!(
                    "arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/{sso}"
                ),
            ),
        ),
    ])
}

const OPT_IN: &[(&str, &str)] = &[(OPT_IN_TAG, "true")];
const OPT_IN_UPPER: &[(&str, &str)] = &[("Restore-Doctor:Auto-Attach", "true")];
const OTHER_TAG: &[(&str, &str)] = &[("team", "storage")];
const BOTH: &[(&str, &str)] = &[("team", "storage"), (OPT_IN_TAG, "true")];
const NONE: &[(&str, &str)] = &[];

#[test]
fn the_scp_snippet_lets_only_administrators_set_or_remove_the_opt_in_tag() {
    let scp = snippet("protect-opt-in-tag-scp.json");
    let full_access = named(
        "FullAWSAccess",
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    );
    let policies = PolicySet {
        identity: vec![administrator_access()],
        scps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![full_access, scp],
        }],
        ..PolicySet::default()
    };
    let callers = callers();
    let cases: &[Case] = &[
        ("developer", "iam:TagRole", OPT_IN, NONE, true),
        ("developer", "iam:TagRole", OPT_IN_UPPER, NONE, true),
        ("developer", "iam:TagRole", BOTH, NONE, true),
        ("developer", "iam:UntagRole", OPT_IN, OPT_IN, true),
        ("developer", "iam:CreateRole", OPT_IN, NONE, true),
        (
            "developer",
            "iam:UpdateAssumeRolePolicy",
            NONE,
            OPT_IN,
            true,
        ),
        ("developer", "iam:TagRole", OTHER_TAG, NONE, false),
        ("developer", "iam:UntagRole", OTHER_TAG, OPT_IN, false),
        ("developer", "iam:CreateRole", NONE, NONE, false),
        (
            "developer",
            "iam:UpdateAssumeRolePolicy",
            NONE,
            OTHER_TAG,
            false,
        ),
        ("admin", "iam:TagRole", OPT_IN, NONE, false),
        ("admin", "iam:UntagRole", OPT_IN, OPT_IN, false),
        ("admin", "iam:UpdateAssumeRolePolicy", NONE, OPT_IN, false),
        ("SSO admin", "iam:TagRole", OPT_IN, NONE, false),
        ("SSO admin", "iam:UntagRole", OPT_IN, OPT_IN, false),
    ];
    for (who, action, tags, role_tags, denied) in cases {
        let (session, role) = &callers[who];
        let eval = decide(&iam_call(session, role, action, tags, role_tags), &policies);
        let what = format!("{who} {action} {tags:?} on a role tagged {role_tags:?}: {eval:#?}");
        if *denied {
            assert_eq!(eval.decision, Decision::ExplicitlyDenied, "{what}");
            assert_eq!(eval.blocked_by, vec![Layer::Scp], "{what}");
        } else {
            assert_eq!(eval.decision, Decision::Allowed, "{what}");
        }
    }
}

#[test]
fn the_boundary_snippet_denies_the_opt_in_tag_to_whoever_carries_it() {
    let boundary = snippet("protect-opt-in-tag-boundary.json");
    let policies = PolicySet {
        identity: vec![administrator_access()],
        permission_boundaries: vec![boundary],
        ..PolicySet::default()
    };
    let callers = callers();
    let (dev_session, dev_role) = &callers["developer"];
    let cases: &[Case] = &[
        ("developer", "iam:TagRole", OPT_IN, NONE, true),
        ("developer", "iam:TagRole", OPT_IN_UPPER, NONE, true),
        ("developer", "iam:UntagRole", OPT_IN, OPT_IN, true),
        ("developer", "iam:CreateRole", BOTH, NONE, true),
        (
            "developer",
            "iam:UpdateAssumeRolePolicy",
            NONE,
            OPT_IN,
            true,
        ),
        (
            "developer",
            "iam:DeleteRolePermissionsBoundary",
            NONE,
            NONE,
            true,
        ),
        (
            "developer",
            "iam:PutRolePermissionsBoundary",
            NONE,
            NONE,
            true,
        ),
        ("developer", "iam:TagRole", OTHER_TAG, NONE, false),
        ("developer", "iam:CreateRole", NONE, NONE, false),
        ("developer", "s3:GetObject", NONE, NONE, false),
    ];
    for (who, action, tags, role_tags, denied) in cases {
        let eval = decide(
            &iam_call(dev_session, dev_role, action, tags, role_tags),
            &policies,
        );
        let what = format!("{who} {action} {tags:?} on a role tagged {role_tags:?}: {eval:#?}");
        if *denied {
            assert_eq!(eval.decision, Decision::ExplicitlyDenied, "{what}");
            assert_eq!(eval.blocked_by, vec![Layer::PermissionBoundary], "{what}");
        } else {
            assert_eq!(eval.decision, Decision::Allowed, "{what}");
        }
    }
}

/// The rules' event patterns as deployed, run through moto's EventBridge: each rule gets
/// an SQS queue as its target, the test puts events on the default bus, and whatever
/// reaches a queue is what the rule matched.
#[cfg(feature = "lambda")]
mod routing {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::raw_http;
    use super::sam_template::{template, Deployment};
    use super::support::{self, scenario, stack, unique, REGION};
    use super::{rule_pattern, OTHER_ACCOUNT};

    /// One EventBridge API call (JSON protocol) to moto.
    fn events(port: u16, operation: &str, body: &Value) -> Value {
        let target = format!("AWSEvents.{operation}");
        let credential = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/events/aws4_request, SignedHeaders=host, Signature=0"
        );
        let answer = raw_http::post(
            port,
            "/",
            &[
                ("X-Amz-Target", &target),
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Authorization", &credential),
            ],
            &body.to_string(),
            Duration::from_secs(30),
        );
        assert_eq!(answer.status, 200, "{operation}: {}", answer.body);
        serde_json::from_str(&answer.body).unwrap_or(Value::Null)
    }

    /// Creates the template's rule `rule` (its pattern with `account` resolved to
    /// `account`) with a queue as target; returns the queue URL.
    async fn deploy_rule(rule: &str, account: &str) -> String {
        deploy_pattern(rule, &rule_pattern(&template(), rule), account).await
    }

    /// Creates a rule named after `rule` with `pattern` (its `account` resolved to
    /// `account`) and a queue as target; returns the queue URL.
    async fn deploy_pattern(rule: &str, pattern: &Value, account: &str) -> String {
        let mut deployment = Deployment::new(true);
        deployment
            .values
            .insert("AWS::AccountId", account.to_owned());
        deploy_resolved(rule, &deployment.resolve(pattern).unwrap()).await
    }

    /// Creates a rule named after `rule` with the deployed `pattern` and a queue as
    /// target; returns the queue URL.
    async fn deploy_resolved(rule: &str, pattern: &Value) -> String {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let name = unique(rule);
        let queue_url = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{}:{name}", support::ACCOUNT);
        let port = stack.moto.port;
        events(
            port,
            "PutRule",
            &json!({"Name": name, "EventPattern": pattern.to_string(), "State": "ENABLED"}),
        );
        events(
            port,
            "PutTargets",
            &json!({"Rule": name, "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
        );
        queue_url
    }

    /// Puts one event per detail on the default bus (moto stamps its own account).
    fn put(details: &[(&str, Value)]) {
        put_from("aws.backup", details)
    }

    fn put_from(source: &str, details: &[(&str, Value)]) {
        let entries: Vec<Value> = details
            .iter()
            .map(|(detail_type, detail)| {
                json!({
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": detail.to_string(),
                })
            })
            .collect();
        for chunk in entries.chunks(10) {
            let answer = events(stack().moto.port, "PutEvents", &json!({"Entries": chunk}));
            assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
        }
    }

    /// The markers (`detail.eventID` / `detail.restoreJobId`) of what reached the queue
    /// from this test's run: the tests share moto's default bus, so a rule also sees the
    /// events another test puts at the same time.
    async fn delivered(queue_url: &str, field: &str, run: &str) -> Vec<String> {
        let sdk = stack().sdk_config().await;
        let mut got: Vec<String> = scenario::receive(&sdk, queue_url, 0, Duration::from_secs(3))
            .await
            .iter()
            .map(|m| m["detail"][field].as_str().unwrap().to_owned())
            .filter(|marker| marker.starts_with(run))
            .collect();
        got.sort();
        got
    }

    fn refused_call(marker: &str, error_code: Option<&str>) -> (&'static str, Value) {
        cloudtrail_call(
            marker,
            "backup.amazonaws.com",
            "StartRestoreJob",
            error_code,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_reach_the_function_and_validation_errors_or_throttling_do_not() {
        let queue = deploy_rule("StartRestoreJobDenied", support::ACCOUNT).await;
        let run = unique("call");
        let codes = [
            ("AccessDeniedException", true),
            ("AccessDenied", true),
            ("NotAuthorized", true),
            ("UnauthorizedOperation", true),
            ("ValidationException", false),
            ("InvalidParameterValueException", false),
            ("MissingParameterValueException", false),
            ("ThrottlingException", false),
            ("ServiceUnavailableException", false),
        ];
        let mut events: Vec<(&str, Value)> = codes
            .iter()
            .map(|(code, _)| refused_call(&format!("{run}-{code}"), Some(code)))
            .collect();
        events.push(refused_call(&format!("{run}-succeeded"), None));
        put(&events);
        let mut expected: Vec<String> = codes
            .iter()
            .filter(|(_, matched)| *matched)
            .map(|(code, _)| format!("{run}-{code}"))
            .collect();
        expected.sort();
        assert_eq!(delivered(&queue, "eventID", &run).await, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_of_another_account_reach_neither_rule() {
        let run = unique("other");
        // Deployed in another account than the one moto stamps on the events.
        let denied = deploy_rule("StartRestoreJobDenied", OTHER_ACCOUNT).await;
        let failed = deploy_rule("RestoreJobFailed", OTHER_ACCOUNT).await;
        // Deployed in moto's own account: the same events do reach it.
        let failed_here = deploy_rule("RestoreJobFailed", support::ACCOUNT).await;
        put(&[
            refused_call(&format!("{run}-denied"), Some("AccessDeniedException")),
            (
                "Restore Job State Change",
                json!({"restoreJobId": format!("{run}-failed"), "status": "FAILED"}),
            ),
            (
                "Restore Job State Change",
                json!({"restoreJobId": format!("{run}-completed"), "status": "COMPLETED"}),
            ),
        ]);
        assert!(delivered(&denied, "eventID", &run).await.is_empty());
        assert!(delivered(&failed, "restoreJobId", &run).await.is_empty());
        assert_eq!(
            delivered(&failed_here, "restoreJobId", &run).await,
            vec![format!("{run}-failed")]
        );
    }

    /// A CloudTrail record of `name` on `source`, marked `marker`, refused with `error`.
    fn cloudtrail_call(
        marker: &str,
        source: &str,
        name: &str,
        error: Option<&str>,
    ) -> (&'static str, Value) {
        let mut detail = json!({"eventSource": source, "eventName": name, "eventID": marker});
        if let Some(code) = error {
            detail["errorCode"] = json!(code);
        }
        ("AWS API Call via CloudTrail", detail)
    }

    /// Puts `good` of `service` succeeding, the same call refused and `other` succeeding
    /// (marked under `run`); only the first may reach `here`'s queue, nothing `elsewhere`'s.
    async fn only_the_successful_change_reaches(
        rule: &str,
        run: &str,
        (service, good, other): (&str, &str, &str),
        here: &str,
        elsewhere: &str,
    ) {
        let source = format!("{service}.amazonaws.com");
        let m = |what: &str| format!("{run}-{service}-{what}");
        put_from(
            &format!("aws.{service}"),
            &[
                cloudtrail_call(&m("ok"), &source, good, None),
                cloudtrail_call(&m("refused"), &source, good, Some("AccessDenied")),
                cloudtrail_call(&m("other"), &source, other, None),
            ],
        );
        let prefix = format!("{run}-{service}");
        assert_eq!(
            delivered(here, "eventID", &prefix).await,
            vec![m("ok")],
            "{rule}"
        );
        assert!(
            delivered(elsewhere, "eventID", &prefix).await.is_empty(),
            "{rule}"
        );
    }

    /// The change calls each change rule is tested with: one it takes, one of the same
    /// service it does not.
    const CHANGES: [(&str, &str, &str); 3] = [
        ("iam", "DeleteRolePolicy", "CreateRole"),
        ("kms", "DisableKey", "Decrypt"),
        ("backup", "PutBackupVaultAccessPolicy", "StartRestoreJob"),
    ];

    /// The organization's change rules (readiness across the organization, issue #13):
    /// a successful change of a listed account reaches the function; the same change of
    /// an account not listed, a refused one or another call does not. moto stamps its own
    /// account on every event, so the deployed list either holds that account or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_organizations_change_rules_take_the_listed_accounts_changes_only() {
        let template = template();
        let run = unique("member-change");
        for (rule, change) in [
            "OrganizationRoleChange",
            "OrganizationKeyChange",
            "OrganizationVaultPolicyChange",
        ]
        .into_iter()
        .zip(CHANGES)
        {
            let pattern = &template["Resources"][rule]["Properties"]["EventPattern"];
            let deployed = |accounts: String| {
                let mut d = Deployment::new(true);
                d.values.insert("AWS::Region", REGION.to_owned());
                d.values.insert("ReadinessAccounts", accounts);
                d.resolve(pattern).unwrap()
            };
            let listed = deploy_resolved(
                rule,
                &deployed(format!("{OTHER_ACCOUNT},{}", support::ACCOUNT)),
            )
            .await;
            let unlisted =
                deploy_resolved(rule, &deployed(format!("{OTHER_ACCOUNT},777788889999"))).await;
            only_the_successful_change_reaches(rule, &run, change, &listed, &unlisted).await;
        }
    }

    /// The readiness change rules (issue #13, section 3): a successful change of this
    /// account reaches the function; a refused one (it changed nothing), another call of
    /// the same service, or another account's does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_successful_changes_of_this_account_reach_the_function() {
        let template = template();
        let pattern =
            |rule: &str| template["Resources"][rule]["Properties"]["EventPattern"].clone();
        let run = unique("change");
        for (rule, change) in [
            "ReadinessRoleChange",
            "ReadinessKeyChange",
            "ReadinessVaultPolicyChange",
        ]
        .into_iter()
        .zip(CHANGES)
        {
            let here = deploy_pattern(rule, &pattern(rule), support::ACCOUNT).await;
            let elsewhere = deploy_pattern(rule, &pattern(rule), OTHER_ACCOUNT).await;
            only_the_successful_change_reaches(rule, &run, change, &here, &elsewhere).await;
        }
    }
}
