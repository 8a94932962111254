//! The evaluator against the crafted inputs of issue #8, section 6: past the sizes AWS
//! accepts it refuses with a typed error (never an Allow, never a panic), within them
//! it stays correct on long wildcards, and what it refuses the diagnosis reports as
//! unverified and `simulate` as an error with exit code 1.
//!
//! Nothing here is timed; memory and time of the same shapes are measured by
//! `scripts/bench-limits.sh` and `benches/limits.rs` (figures in BENCHMARKS.md).

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use restore_doctor::diagnose::check::{check, ResourceGate};
use restore_doctor::diagnose::principal::Subject;
use restore_doctor::diagnose::requirements::Requirement;
use restore_doctor::policy::limits::{
    MAX_ACTION_CHARS, MAX_ARN_CHARS, MAX_CONTEXT_KEYS, MAX_CONTEXT_KEY_CHARS, MAX_CONTEXT_VALUES,
    MAX_CONTEXT_VALUE_CHARS, MAX_MATCH_STEPS, MAX_POLICY_CHARS,
};
use restore_doctor::policy::{
    action_matches, arn_matches, evaluate, evaluate_with, ContextValue, Decision, EvalError,
    EvaluateOptions, NamedPolicy, ParseReason, Policy, PolicyKind, PolicySet, Request,
    ResourceWildcards,
};
use serde_json::{json, Value};

const ROLE: &str = "arn:aws:sts::111122223333:assumed-role/restore/job";

fn named(value: &Value) -> NamedPolicy {
    NamedPolicy {
        name: "p".into(),
        policy: Policy::from_value(value).unwrap(),
    }
}

fn identity(statements: Value) -> PolicySet {
    PolicySet {
        identity: vec![named(
            &json!({"Version": "2012-10-17", "Statement": statements}),
        )],
        ..Default::default()
    }
}

fn request(resource: &str) -> Request {
    Request {
        principal: ROLE.into(),
        action: "s3:GetObject".into(),
        resource: resource.into(),
        resource_account: Some("111122223333".into()),
        context: BTreeMap::new(),
    }
}

const PATTERN: EvaluateOptions = EvaluateOptions {
    resource_wildcards: ResourceWildcards::Pattern,
};

/// A policy whose minified JSON is exactly `chars` characters long.
fn policy_of_size(chars: usize) -> Value {
    let base = json!({"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    let empty = serde_json::to_string(&base).unwrap().len();
    let mut v = base;
    v["Statement"][0]["Sid"] = Value::String("S".repeat(chars - empty));
    assert_eq!(serde_json::to_string(&v).unwrap().len(), chars);
    v
}

// ---- policy sizes ----------------------------------------------------------------

#[test]
fn policy_larger_than_any_aws_accepts_is_refused_with_the_limit() {
    assert!(Policy::from_value(&policy_of_size(MAX_POLICY_CHARS)).is_ok());
    let err = Policy::from_value(&policy_of_size(MAX_POLICY_CHARS + 1)).unwrap_err();
    assert_eq!(
        err.reason,
        ParseReason::TooLarge {
            max: MAX_POLICY_CHARS
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid policy: the policy is larger than AWS accepts: more than 131072 characters without white space"
    );
}

#[test]
fn each_policy_kind_has_the_size_aws_documents() {
    let cases = [
        (PolicyKind::Managed, 6_144),
        (PolicyKind::RoleInline, 10_240),
        (PolicyKind::UserInline, 2_048),
        (PolicyKind::GroupInline, 5_120),
        (PolicyKind::ServiceControlPolicy, 5_120),
        (PolicyKind::ResourceControlPolicy, 5_120),
        (PolicyKind::KeyPolicy, 32_768),
        (PolicyKind::BucketPolicy, 20_480),
    ];
    for (kind, max) in cases {
        assert_eq!(kind.max_chars(), max, "{kind:?}");
        assert!(Policy::from_value_as(&policy_of_size(max), kind).is_ok());
        let err = Policy::from_value_as(&policy_of_size(max + 1), kind).unwrap_err();
        assert_eq!(err.reason, ParseReason::TooLarge { max }, "{kind:?}");
    }
}

#[test]
fn white_space_does_not_count_against_the_size() {
    let v = policy_of_size(PolicyKind::Managed.max_chars());
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    assert!(pretty.len() > PolicyKind::Managed.max_chars());
    assert!(Policy::parse_as(&pretty, PolicyKind::Managed).is_ok());
}

#[test]
fn policy_text_far_past_the_limit_is_refused_unread() {
    // Not even valid JSON: refused for its size before the JSON parser sees it.
    let text = "[".repeat(9 * MAX_POLICY_CHARS);
    let err = Policy::parse(&text).unwrap_err();
    assert!(matches!(err.reason, ParseReason::TooLarge { .. }), "{err}");
}

// ---- request sizes ---------------------------------------------------------------

fn refused(req: &Request) -> EvalError {
    evaluate(
        req,
        &identity(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])),
    )
    .unwrap_err()
}

#[test]
fn request_resource_longer_than_an_arn_is_not_decided() {
    let at_limit = format!("arn:aws:s3:::{}", "a".repeat(MAX_ARN_CHARS - 13));
    let allow_all = identity(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]));
    assert_eq!(
        evaluate(&request(&at_limit), &allow_all).unwrap().decision,
        Decision::Allowed
    );
    let over = format!("{at_limit}a");
    assert_eq!(
        refused(&request(&over)),
        EvalError::TooLong {
            field: "resource",
            len: MAX_ARN_CHARS + 1,
            max: MAX_ARN_CHARS
        }
    );
}

#[test]
fn request_principal_action_and_context_past_their_limits_are_not_decided() {
    let mut r = request("arn:aws:s3:::b/k");
    r.principal = format!("{ROLE}{}", "x".repeat(MAX_ARN_CHARS));
    assert!(matches!(
        refused(&r),
        EvalError::TooLong {
            field: "principal",
            ..
        }
    ));

    let mut r = request("arn:aws:s3:::b/k");
    r.action = format!("s3:{}", "G".repeat(MAX_ACTION_CHARS));
    assert!(matches!(
        refused(&r),
        EvalError::TooLong {
            field: "action",
            ..
        }
    ));

    let mut r = request("arn:aws:s3:::b/k");
    r.context.insert(
        "k".repeat(MAX_CONTEXT_KEY_CHARS + 1),
        ContextValue::One("v".into()),
    );
    assert!(matches!(
        refused(&r),
        EvalError::TooLong {
            field: "context key name",
            ..
        }
    ));

    let mut r = request("arn:aws:s3:::b/k");
    r.context.insert(
        "aws:UserAgent".into(),
        ContextValue::One("v".repeat(MAX_CONTEXT_VALUE_CHARS + 1)),
    );
    assert!(matches!(
        refused(&r),
        EvalError::TooLong {
            field: "context value",
            ..
        }
    ));

    let mut r = request("arn:aws:s3:::b/k");
    r.context.insert(
        "aws:TagKeys".into(),
        ContextValue::Many(vec!["t".into(); MAX_CONTEXT_VALUES + 1]),
    );
    assert_eq!(
        refused(&r).to_string(),
        "context key `aws:TagKeys` has 1025 values, more than the 1024 evaluated"
    );

    let mut r = request("arn:aws:s3:::b/k");
    for i in 0..=MAX_CONTEXT_KEYS {
        r.context
            .insert(format!("k:{i}"), ContextValue::One("v".into()));
    }
    assert!(matches!(refused(&r), EvalError::TooManyContextKeys { .. }));
}

#[test]
fn a_hostile_context_key_is_shown_short_and_without_backticks() {
    let key = format!("`<!channel>\n{}", "k".repeat(200));
    let mut r = request("arn:aws:s3:::b/k");
    r.context.insert(
        key,
        ContextValue::Many(vec!["t".into(); MAX_CONTEXT_VALUES + 1]),
    );
    let text = refused(&r).to_string();
    assert!(!text.contains('\n'), "{text}");
    assert_eq!(text.matches('`').count(), 2, "{text}");
    assert!(text.len() < 200, "{text}");
}

// ---- work past the budget ----------------------------------------------------------

/// `ForAllValues:StringNotLike` with `patterns` patterns against `values` request
/// values, none alike: every pair is tried and the condition holds.
fn for_any_value(patterns: usize, values: usize, effect: &str) -> (Request, Value) {
    let mut r = request("arn:aws:s3:::b/k");
    r.context.insert(
        "aws:TagKeys".into(),
        ContextValue::Many((0..values).map(|j| format!("v{j}")).collect()),
    );
    let st = json!({"Effect": effect, "Action": "s3:*", "Resource": "*",
        "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": (0..patterns).map(|i| format!("p{i}*q")).collect::<Vec<_>>()}}});
    (r, st)
}

#[test]
fn condition_with_10k_patterns_by_1k_values_is_refused_as_too_complex() {
    let (r, st) = for_any_value(10_000, 1_000, "Allow");
    assert_eq!(
        evaluate(&r, &identity(json!([st]))).unwrap_err(),
        EvalError::TooComplex {
            max: MAX_MATCH_STEPS
        }
    );
}

#[test]
fn a_deny_the_budget_cut_short_is_never_read_as_an_allow() {
    // The Allow is cheap and would decide alone; the Deny's condition holds (no value
    // is like any pattern) but cannot be finished within the budget.
    let (r, deny) = for_any_value(10_000, 1_000, "Deny");
    let set = identity(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}, deny]));
    assert!(matches!(
        evaluate(&r, &set),
        Err(EvalError::TooComplex { .. })
    ));
    // The same Deny, small enough to finish, denies.
    let (r, deny) = for_any_value(100, 100, "Deny");
    let set = identity(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}, deny]));
    assert_eq!(
        evaluate(&r, &set).unwrap().decision,
        Decision::ExplicitlyDenied
    );
}

#[test]
fn policy_variables_expanding_past_the_limit_are_refused() {
    let mut r = request("arn:aws:s3:::b/k");
    r.principal = format!("arn:aws:iam::111122223333:user/{}", "u".repeat(1_900));
    let resource = format!("arn:aws:s3:::b/{}", "${aws:username}".repeat(8_000));
    let set = identity(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": resource}]));
    assert!(matches!(
        evaluate(&r, &set),
        Err(EvalError::TooComplex { .. })
    ));
}

// ---- long wildcards within the limits stay correct ---------------------------------

#[test]
fn overlap_of_80k_overlapping_wildcards_is_decided() {
    // The shape that took 1.5 GB: request and policy both long runs of `*a`.
    let request_pattern = format!("arn:aws:s3:::{}", "*a".repeat(990));
    let policy_pattern = format!("arn:aws:s3:::{}", "a*".repeat(40_000));
    let allow =
        identity(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": policy_pattern}]));
    let e = evaluate_with(&request(&request_pattern), &allow, &PATTERN).unwrap();
    assert_eq!(e.decision, Decision::Allowed);
    // Heads that disagree cannot overlap, however long the rest.
    let other = format!("arn:aws:s3:::b{}", "a*".repeat(40_000));
    let allow = identity(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": other}]));
    let request_pattern = format!("arn:aws:s3:::c{}", "*a".repeat(990));
    let e = evaluate_with(&request(&request_pattern), &allow, &PATTERN).unwrap();
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
}

#[test]
fn a_long_deny_pattern_covers_only_what_it_covers() {
    // A Deny applies to a wildcard request only when it covers all of it.
    let request_pattern = format!("arn:aws:s3:::{}*", "a".repeat(1_000));
    let allow = json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"});
    let covering = format!("arn:aws:s3:::{}*", "a?".repeat(400));
    let set = identity(json!([allow, {"Effect": "Deny", "Action": "s3:*", "Resource": covering}]));
    assert_eq!(
        evaluate_with(&request(&request_pattern), &set, &PATTERN)
            .unwrap()
            .decision,
        Decision::ExplicitlyDenied
    );
    let narrower = format!("arn:aws:s3:::{}b*", "a".repeat(1_000));
    let set = identity(json!([allow, {"Effect": "Deny", "Action": "s3:*", "Resource": narrower}]));
    assert_eq!(
        evaluate_with(&request(&request_pattern), &set, &PATTERN)
            .unwrap()
            .decision,
        Decision::Allowed
    );
}

#[test]
fn star_aaa_b_over_a_long_text_matches_only_with_the_b() {
    // The shape that took 24 s at 250 KB, through the public matchers (no size limit).
    let text = "a".repeat(250_000);
    let anchored = format!("*{}b", "a".repeat(125_000));
    let inside = format!("*{}b*", "a".repeat(125_000));
    assert!(!action_matches(&anchored, &text));
    assert!(!action_matches(&inside, &text));
    let with_b = format!("{text}b{text}");
    assert!(!action_matches(&anchored, &with_b));
    assert!(action_matches(&inside, &with_b));
    assert!(action_matches(&anchored, &format!("{text}b")));
    assert!(arn_matches(&inside, &with_b));
}

// ---- what refuses to decide is reported, not passed --------------------------------

#[test]
fn a_check_past_the_limits_is_unverified_and_never_verified() {
    let subject = Subject {
        arn: "arn:aws:iam::111122223333:role/restore".into(),
        request_principal: ROLE.into(),
        policies: identity(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])),
        inline_size: 0,
        context: BTreeMap::new(),
        policies_known: true,
        existing_fix: None,
    };
    let requirement = Requirement {
        action: "backup:StartRestoreJob".into(),
        resource: format!(
            "arn:aws:backup:eu-west-1:111122223333:recovery-point:{}",
            "r".repeat(64 * 1024)
        ),
        context: BTreeMap::new(),
        condition: None,
        why: "start the restore job".into(),
        wildcard_only: false,
    };
    let c = check(
        &subject,
        &requirement,
        &ResourceGate::None,
        "111122223333",
        "aws",
    );
    assert!(c.finding.is_none());
    assert!(matches!(
        c.undecided,
        Some(EvalError::TooLong {
            field: "resource",
            ..
        })
    ));
    assert_ne!(c.evaluation.decision, Decision::Allowed);
    let remedy = restore_doctor::remedy::remedy(&[c], &[&subject], "111122223333", "aws");
    assert!(!remedy.verified);
    assert!(
        remedy.verification.still_blocked[0].contains("not decided"),
        "{:?}",
        remedy.verification
    );
}

#[test]
fn simulate_past_a_limit_prints_the_error_and_exits_1() {
    let input = json!({
        "request": {
            "principal": ROLE,
            "action": "s3:GetObject",
            "resource": {"resource": format!("arn:aws:s3:::{}", "*a".repeat(40_000))}
        },
        "identityPolicies": [{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}]
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args(["simulate", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("simulation 0: not decided: the request's resource is 80013 characters long, more than the 2048 AWS accepts"),
        "{err}"
    );
}
