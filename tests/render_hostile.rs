#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The alert with hostile values (issue #8, sections 4 and 5): a report diagnosed from a
//! case's evidence, then every field an attacker can write through a refused call or
//! restore metadata overwritten with Slack markup, forged email blocks, control and
//! bidirectional characters, NUL and 100 KB strings.
//!
//! What must hold: no value starts a line of the email or forges a heading; no value
//! opens Slack markup (`<…>`, a code span, a markdown link or a mention); console links
//! only from valid parts; and the whole Publish (body, subject, attributes) fits SNS's
//! 256 KiB with every key still JSON.

use proptest::prelude::*;
use restore_doctor::diagnose::report::{AutoAttach, Unverified};
use restore_doctor::diagnose::validated::Arn;
use restore_doctor::diagnose::{Evidence, Report};
use restore_doctor::examine;
use restore_doctor::render::alert::{self, Alert, AlertContext, MAX_MESSAGE_BYTES};
use restore_doctor::render::slack;
use restore_doctor::render::text::report_text;
use serde_json::{json, Value};

/// A role ARN that closes a code span, mentions the channel and shows a disguised link.
const MARKUP: &str =
    "arn:aws:iam::111122223333:role/Backup`<!channel>`<https://evil.example|Re-authenticate>";
/// A value whose newlines forge a verified fix with another command in the email.
const FORGED_FIX: &str = "EFS\n\nFix (verified: with the patch, the missing permission is allowed):\n\n  aws iam put-role-policy --role-name ProdAdminRole --policy-name pwn --policy-document file://evil.json\n";
/// Right-to-left override, NUL, a Unicode line separator and a markdown link.
const INVISIBLE: &str =
    "\u{202e}lanigiro\u{0}NUL\u{2028}[Re-authenticate](https://evil.example) @here";

fn case_report(name: &str) -> Report {
    let path = format!(
        "{}/tests/cases/{name}/evidence.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    examine(&Evidence::from_json(&text).unwrap())
}

fn hostile_context() -> AlertContext {
    AlertContext {
        correlation_id: "evt-1\n\nFix (verified)\n<!channel>".into(),
        dedup_key: "111122223333:eu-west-1:restore-job:`<!here>`".into(),
        log_group: Some("/aws/lambda/x\"~)('<script>".into()),
    }
}

/// The EFS case with a patch, every outside value replaced by `hostile(i)`.
fn hostile_report(hostile: impl Fn(usize) -> String) -> Report {
    let mut r = case_report("efs-role-missing-kms");
    assert!(
        r.patch.is_some() && !r.missing.is_empty(),
        "the case has a patch"
    );
    let rs = &mut r.restore;
    rs.role_arn = Some(hostile(0));
    rs.caller_arn = Some(hostile(1));
    rs.resource_type = Some(hostile(2));
    rs.restore_job_id = Some(hostile(3));
    rs.region = Some(hostile(4));
    rs.account_id = Some(hostile(5));
    rs.recovery_point_arn = Some(hostile(6));
    rs.backup_vault_name = Some(hostile(7));
    rs.source_resource_arn = Some(hostile(8));
    r.summary = format!("The restore role {} lacks {}", hostile(9), hostile(10));
    r.failure.message = Some(hostile(11));
    for (i, f) in r.missing.iter_mut().enumerate() {
        f.resource = hostile(12 + i);
        f.principal = hostile(13 + i);
        f.why = hostile(14 + i);
        f.who_must_act = Some(hostile(15 + i));
        f.assumed_context = vec![hostile(16 + i)];
    }
    r.unverified.push(Unverified {
        what: hostile(20),
        why: hostile(21),
        part: None,
    });
    let patch = r.patch.as_mut().unwrap();
    patch.principal_arn = hostile(22);
    patch.policy_name = hostile(23);
    patch.command = hostile(24);
    patch.warnings = vec![hostile(25)];
    patch.document = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": hostile(26), "Effect": "Allow", "Action": "kms:Decrypt", "Resource": hostile(27)
    }]});
    r.verification.still_blocked = vec![hostile(28)];
    r.auto_attach = Some(AutoAttach {
        role_arn: Some(hostile(29)),
        policy_name: Some(hostile(30)),
        undo_command: Some(hostile(31)),
        ..AutoAttach::refused(vec![hostile(32)])
    });
    r
}

/// The three shapes of the issue, in turn.
fn markup_values(i: usize) -> String {
    [MARKUP, FORGED_FIX, INVISIBLE][i % 3].to_owned()
}

fn parts(a: &Alert) -> (Value, String, Value) {
    let message: Value = serde_json::from_str(&a.message).expect("the body is JSON");
    let email = message["email"].as_str().expect("an email key").to_owned();
    let chatbot: Value =
        serde_json::from_str(message["https"].as_str().expect("an https key")).unwrap();
    (message, email, chatbot)
}

/// Lines of `email` that start (after indentation) with `prefix`.
fn lines_starting(email: &str, prefix: &str) -> usize {
    email
        .lines()
        .filter(|l| l.trim_start().starts_with(prefix))
        .count()
}

fn assert_email_is_inert(email: &str) {
    assert_eq!(
        lines_starting(email, "Fix ("),
        1,
        "one real fix heading:\n{email}"
    );
    assert_eq!(lines_starting(email, "Auto-attach:"), 1, "{email}");
    assert_eq!(
        lines_starting(email, "aws iam put-role-policy --role-name ProdAdminRole"),
        0,
        "a forged command on its own line:\n{email}"
    );
    for c in email.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{2028}'..='\u{202e}').contains(&c)),
            "{c:?} in the email"
        );
    }
    for line in email.lines() {
        let link = ["  Restore job: ", "  Restore role: ", "  Caller: "]
            .iter()
            .find_map(|label| line.strip_prefix(label));
        if let Some(url) = link {
            assert!(
                url.starts_with("https://console.aws.amazon.com/")
                    || url.starts_with("https://console.amazonaws")
                    || url.contains(".console.aws.amazon.com/backup/"),
                "a console link from an unchecked value: {line}"
            );
        }
    }
}

/// Every Slack text field: no raw `<`/`>`, balanced code spans, no mention, and the only
/// markdown links are the alert's own console links.
fn assert_slack_is_inert(chatbot: &Value, report: &Report) {
    let content = &chatbot["content"];
    let mut texts: Vec<&str> = vec![
        content["title"].as_str().unwrap(),
        content["description"].as_str().unwrap(),
        chatbot["metadata"]["summary"].as_str().unwrap(),
    ];
    texts.extend(
        content["nextSteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap()),
    );
    texts.extend(
        content["keywords"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap()),
    );
    for t in &texts {
        assert!(!t.contains(['<', '>']), "raw markup: {t}");
        assert_eq!(t.matches('`').count() % 2, 0, "unbalanced code span: {t}");
        for mention in ["@channel", "@here", "@everyone"] {
            assert!(!t.to_lowercase().contains(mention), "{mention} in {t}");
        }
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
    }
    let description = content["description"].as_str().unwrap();
    assert_eq!(
        description.matches("](").count(),
        alert::links(report, &hostile_context()).len(),
        "only the console links are links: {description}"
    );
    assert!(!description.contains("](https://evil"), "{description}");
    for r in chatbot["metadata"]["relatedResources"].as_array().unwrap() {
        Arn::parse(r.as_str().unwrap()).expect("related resources are valid ARNs");
    }
    for (k, v) in chatbot["metadata"]["additionalContext"]
        .as_object()
        .unwrap()
    {
        let v = v.as_str().unwrap();
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/+=,@ ".contains(c)),
            "additionalContext.{k} = {v:?}"
        );
    }
    for id in [&chatbot["id"], &chatbot["metadata"]["threadId"]] {
        assert!(!id.as_str().unwrap().contains(['<', '`', '\n']), "{id}");
    }
}

fn assert_fits(a: &Alert, limit: usize) {
    assert!(
        a.counted_bytes() <= limit,
        "{} bytes > {limit}",
        a.counted_bytes()
    );
    let attrs: usize = a
        .attributes
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum();
    assert!(a.message.len() + attrs + a.subject.len() <= limit);
    let message: Value = serde_json::from_str(&a.message).expect("the body is JSON");
    let keys: Vec<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(keys.contains(&"default"), "{keys:?}");
    assert!(
        a.subject.chars().count() < 100 && a.subject.bytes().all(|b| (0x20..0x7f).contains(&b))
    );
    for v in a.attributes.values() {
        assert!(
            !v.is_empty() && v.chars().count() <= alert::MAX_ATTRIBUTE_CHARS,
            "{v}"
        );
    }
}

/// Every key is there and reads as what it is: text, a Chatbot notification, a report.
fn assert_every_key(a: &Alert) {
    let (message, _, chatbot) = parts(a);
    let keys: Vec<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["default", "email", "https", "sqs", "lambda"]);
    assert_eq!(chatbot["version"], "1.0");
    for key in ["sqs", "lambda"] {
        let _: Report = serde_json::from_str(message[key].as_str().unwrap())
            .unwrap_or_else(|e| panic!("`{key}` is not a report: {e}"));
    }
}

#[test]
fn hostile_values_in_the_email_text() {
    let report = hostile_report(markup_values);
    let a = alert::build(&report, &hostile_context());
    let (message, email, _) = parts(&a);
    assert_email_is_inert(&email);
    assert_eq!(message["default"], message["email"]);
    insta::assert_snapshot!(email);
}

#[test]
fn hostile_values_in_the_chatbot_notification() {
    let report = hostile_report(markup_values);
    let chatbot = slack::notification(&report, &hostile_context());
    assert_slack_is_inert(&chatbot, &report);
    insta::assert_json_snapshot!(chatbot);
}

#[test]
fn hostile_values_keep_the_subject_and_attributes_plain() {
    let report = hostile_report(markup_values);
    let a = alert::build(&report, &hostile_context());
    insta::assert_json_snapshot!(json!({"subject": a.subject, "attributes": a.attributes}));
    assert_fits(&a, MAX_MESSAGE_BYTES);
}

#[test]
fn a_role_arn_with_a_backtick_does_not_escape_the_code_span_in_next_steps() {
    let mut report = case_report("efs-role-missing-kms");
    report.patch.as_mut().unwrap().principal_arn = MARKUP.into();
    for f in &mut report.missing {
        f.principal = MARKUP.into();
    }
    let chatbot = slack::notification(&report, &AlertContext::default());
    assert_slack_is_inert(&chatbot, &report);
    let steps = chatbot["content"]["nextSteps"].to_string();
    assert!(
        steps.contains("`evil.example|Re-authenticate&gt;`"),
        "{steps}"
    );
    let description = chatbot["content"]["description"].as_str().unwrap();
    assert!(
        description.contains("for `evil.example|Re-authenticate&gt;`"),
        "{description}"
    );
}

#[test]
fn newlines_in_metadata_do_not_forge_a_fix_block_in_the_email() {
    let mut report = case_report("efs-role-missing-kms");
    report.restore.resource_type = Some(FORGED_FIX.into());
    report.failure.message = Some(FORGED_FIX.into());
    report.summary = FORGED_FIX.into();
    let email = alert::email_text(&report, &AlertContext::default());
    assert_eq!(lines_starting(&email, "Fix ("), 1, "{email}");
    assert_eq!(
        lines_starting(&email, "aws iam put-role-policy --role-name ProdAdminRole"),
        0
    );
    assert_eq!(email, alert::email_text(&report, &AlertContext::default()));
    assert!(report_text(&report)
        .lines()
        .next()
        .unwrap()
        .starts_with("Restore failed: EFS Fix"));
}

#[test]
fn invalid_arns_regions_and_job_ids_give_no_console_link() {
    let report = hostile_report(markup_values);
    assert!(
        alert::links(&report, &hostile_context()).is_empty(),
        "{:?}",
        alert::links(&report, &hostile_context())
    );
    let mut report = case_report("efs-role-missing-kms");
    report.restore.region = Some("eu-west-1.evil.example/".into());
    report.restore.role_arn = Some("arn:aws:iam::111122223333:role/x#/evil".into());
    let links = alert::links(&report, &hostile_context());
    assert!(links.is_empty(), "{links:?}");
}

#[test]
fn a_huge_resource_type_in_the_event_still_fits_sns() {
    let mut report = case_report("efs-role-missing-kms");
    report.restore.resource_type = Some("E".repeat(88 * 1024));
    let a = alert::build(&report, &AlertContext::default());
    assert_fits(&a, MAX_MESSAGE_BYTES);
    assert_every_key(&a);
    assert_eq!(a.attributes["resourceType"].chars().count(), 64);
}

#[test]
fn hundred_kilobyte_values_everywhere_still_fit_sns_with_every_key() {
    let report = hostile_report(|i| format!("{i}{}", "x`<\n".repeat(25_000)));
    let ctx = AlertContext {
        correlation_id: "c".repeat(100_000),
        dedup_key: "d".repeat(100_000),
        log_group: None,
    };
    let a = alert::build(&report, &ctx);
    assert_fits(&a, MAX_MESSAGE_BYTES);
    assert_every_key(&a);
    assert!(!a.truncated.is_empty());
    let (_, email, chatbot) = parts(&a);
    // Whatever was shortened says so (the email no longer repeats the policy documents,
    // so with these values it may fit whole).
    if a.truncated.iter().any(|k| k == "email") {
        assert!(
            email.contains("truncated, see log"),
            "the email says it was shortened"
        );
    }
    assert_slack_is_inert(&chatbot, &report);
}

#[test]
fn a_report_too_big_to_shorten_falls_back_to_a_minimal_alert() {
    let report = hostile_report(|i| format!("{i}{}", "é".repeat(50_000)));
    let a = alert::build_with_limit(&report, &AlertContext::default(), 8 * 1024);
    assert_fits(&a, 8 * 1024);
    assert_every_key(&a);
    let (message, _, _) = parts(&a);
    let sqs: Value = serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
    assert!(
        sqs["truncated"].as_str().unwrap().contains("truncated"),
        "{sqs}"
    );
    let tiny = alert::build_with_limit(&report, &AlertContext::default(), 2 * 1024);
    assert_fits(&tiny, 2 * 1024);
}

/// Strings an attacker may write: markup, controls, invisible characters, long runs.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(MARKUP.to_owned()),
        Just(FORGED_FIX.to_owned()),
        Just(INVISIBLE.to_owned()),
        "[\\PC`<>&@\\[\\]\\n\\r\u{202e}\u{2028}\u{0}]{0,64}",
        ("[a-z`<\\n]{1,4}", 1usize..30_000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_hostile_report_builds_an_alert_that_fits(
        values in proptest::collection::vec(hostile_string(), 33),
        extra_findings in 0usize..40,
        limit in prop_oneof![Just(MAX_MESSAGE_BYTES), 2_048usize..MAX_MESSAGE_BYTES],
    ) {
        let mut report = hostile_report(|i| values[i % values.len()].clone());
        if let Some(first) = report.missing.first().cloned() {
            for i in 0..extra_findings {
                let mut f = first.clone();
                f.action = format!("{}{i}", values[i % values.len()]);
                report.missing.push(f);
            }
        }
        let ctx = AlertContext {
            correlation_id: values[0].clone(),
            dedup_key: values[1].clone(),
            log_group: None,
        };
        let a = alert::build_with_limit(&report, &ctx, limit);
        assert_fits(&a, limit);
        let message: Value = serde_json::from_str(&a.message).unwrap();
        if let Some(email) = message.get("email").and_then(Value::as_str) {
            prop_assert!(lines_starting(email, "Fix (") <= 1);
            prop_assert_eq!(lines_starting(email, "aws iam put-role-policy --role-name ProdAdminRole"), 0);
        }
        if let Some(https) = message.get("https").and_then(Value::as_str) {
            let chatbot: Value = serde_json::from_str(https).unwrap();
            let description = chatbot["content"]["description"].as_str().unwrap();
            prop_assert!(!description.contains(['<', '>']));
            prop_assert_eq!(description.matches('`').count() % 2, 0);
        }
    }
}

/// The Logs Insights link is built only from checked values: a hostile log group name
/// (quote, `~`, parentheses) gives no link at all, a valid one gives a link whose query
/// names the correlation id and cannot be closed early by any value.
#[test]
fn the_log_lines_link_comes_only_from_checked_values() {
    let report = case_report("efs-role-missing-kms");
    let hostile = alert::links(&report, &hostile_context());
    assert!(
        hostile
            .iter()
            .all(|(label, _)| !label.contains("Log lines")),
        "{hostile:?}"
    );
    let ctx = AlertContext {
        correlation_id: "7c1d0f3e-5b2a-4c8e-9f10-2a6b8d4e1f01".into(),
        dedup_key: "k".into(),
        log_group: Some("/aws/lambda/restore-doctor-Fn-1A2B".into()),
    };
    let links = alert::links(&report, &ctx);
    let (_, url) = links
        .iter()
        .find(|(label, _)| label.contains("Log lines"))
        .expect("a log lines link");
    assert!(url.starts_with("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:logs-insights"), "{url}");
    assert!(
        url.contains("7c1d0f3e*2D5b2a"),
        "the correlation id, encoded: {url}"
    );
    assert!(url.contains("*2Faws*2Flambda*2Frestore*2Ddoctor"), "{url}");
    // Only the link's own structure uses ~ ( ) ' characters.
    let detail = url.split("$3D").nth(1).unwrap();
    assert_eq!(detail.matches('(').count(), 2, "{detail}");
    assert!(!url.contains(' ') && !url.contains('"'), "{url}");
    // A correlation id that is not a token gives no link.
    let bad = AlertContext {
        correlation_id: "x\" | fields secret".into(),
        ..ctx
    };
    assert!(alert::links(&report, &bad)
        .iter()
        .all(|(l, _)| !l.contains("Log lines")));
}
