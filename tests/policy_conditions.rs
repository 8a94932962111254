//! Condition operators, one table per family, with AWS's rules for absent keys and
//! multivalued keys.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use restore_doctor::policy::{
    evaluate, ContextValue, Decision, NamedPolicy, Policy, PolicySet, Request,
};
use serde_json::{json, Value};

/// A request context value: `None` absent, one value, or several.
#[derive(Clone, Copy)]
enum Ctx<'a> {
    Absent,
    One(&'a str),
    Many(&'a [&'a str]),
}

/// Whether `{operator: {key: values}}` holds for the request context.
fn holds(operator: &str, key: &str, values: Value, ctx: Ctx<'_>) -> (bool, Vec<String>) {
    let policy = Policy::from_value(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": { operator: { key: values } }
        }]
    }))
    .unwrap();
    let mut context = BTreeMap::new();
    match ctx {
        Ctx::Absent => {}
        Ctx::One(v) => {
            context.insert(key.to_owned(), ContextValue::One(v.to_owned()));
        }
        Ctx::Many(vs) => {
            context.insert(
                key.to_owned(),
                ContextValue::Many(vs.iter().map(|s| s.to_string()).collect()),
            );
        }
    }
    let request = Request {
        principal: "arn:aws:iam::111122223333:role/restore".into(),
        action: "backup:StartRestoreJob".into(),
        resource: "*".into(),
        resource_account: Some("111122223333".into()),
        context,
    };
    let set = PolicySet {
        identity: vec![NamedPolicy {
            name: "p".into(),
            policy,
        }],
        ..PolicySet::default()
    };
    let e = evaluate(&request, &set).unwrap();
    (e.decision == Decision::Allowed, e.missing_context_keys)
}

type Case<'a> = (&'a str, Value, Ctx<'a>, bool);

fn run(family: &str, key: &str, cases: &[Case<'_>]) {
    for (i, (op, values, ctx, want)) in cases.iter().enumerate() {
        let (got, _) = holds(op, key, values.clone(), *ctx);
        assert_eq!(got, *want, "{family} case {i}: {op} {values}");
    }
}

#[test]
fn string_operators() {
    use Ctx::*;
    run(
        "string",
        "aws:PrincipalTag/team",
        &[
            ("StringEquals", json!("blue"), One("blue"), true),
            ("StringEquals", json!("blue"), One("Blue"), false),
            ("StringEquals", json!(["red", "blue"]), One("blue"), true),
            ("StringEquals", json!("b*"), One("blue"), false),
            (
                "StringNotEquals",
                json!(["red", "green"]),
                One("blue"),
                true,
            ),
            (
                "StringNotEquals",
                json!(["red", "blue"]),
                One("blue"),
                false,
            ),
            ("StringEqualsIgnoreCase", json!("BLUE"), One("blue"), true),
            ("StringEqualsIgnoreCase", json!("b*"), One("blue"), false),
            (
                "StringNotEqualsIgnoreCase",
                json!("BLUE"),
                One("blue"),
                false,
            ),
            ("StringLike", json!("b*e"), One("blue"), true),
            ("StringLike", json!("b?ue"), One("blue"), true),
            ("StringLike", json!("B*"), One("blue"), false),
            ("StringNotLike", json!(["r*", "g*"]), One("blue"), true),
            ("StringNotLike", json!("b*"), One("blue"), false),
        ],
    );
}

#[test]
fn string_operators_expand_variables() {
    use Ctx::*;
    run(
        "string variables",
        "s3:prefix",
        &[
            // aws:username comes from the calling user; a role has none
            (
                "StringLike",
                json!("home/${aws:PrincipalTag/team, 'x'}/*"),
                One("home/x/f"),
                true,
            ),
            (
                "StringEquals",
                json!("${aws:PrincipalType}"),
                One("AssumedRole"),
                true,
            ),
            ("StringEquals", json!("${*}"), One("*"), true),
            ("StringLike", json!("${*}"), One("anything"), false),
        ],
    );
}

#[test]
fn numeric_operators() {
    use Ctx::*;
    run(
        "numeric",
        "s3:max-keys",
        &[
            ("NumericEquals", json!("10"), One("10"), true),
            ("NumericEquals", json!(10), One("10.0"), true),
            ("NumericNotEquals", json!("10"), One("11"), true),
            ("NumericLessThan", json!("10"), One("9"), true),
            ("NumericLessThan", json!("10"), One("10"), false),
            ("NumericLessThanEquals", json!("10"), One("10"), true),
            ("NumericGreaterThan", json!("10"), One("10.5"), true),
            ("NumericGreaterThanEquals", json!("10"), One("9"), false),
            ("NumericEquals", json!("10"), One("ten"), false),
        ],
    );
}

#[test]
fn date_operators() {
    use Ctx::*;
    run(
        "date",
        "aws:CurrentTime",
        &[
            (
                "DateEquals",
                json!("2024-05-01T12:00:00Z"),
                One("2024-05-01T12:00:00Z"),
                true,
            ),
            (
                "DateNotEquals",
                json!("2024-05-01T12:00:00Z"),
                One("2024-05-01T12:00:01Z"),
                true,
            ),
            (
                "DateLessThan",
                json!("2024-05-02"),
                One("2024-05-01T23:59:59Z"),
                true,
            ),
            (
                "DateLessThanEquals",
                json!("2024-05-01T12:00:00Z"),
                One("2024-05-01T14:00:00+02:00"),
                true,
            ),
            (
                "DateGreaterThan",
                json!("2024-05-01T12:00:00Z"),
                One("1714564801"),
                true,
            ),
            (
                "DateGreaterThanEquals",
                json!("2030-01-01T00:00:00Z"),
                One("2024-05-01T12:00:00Z"),
                false,
            ),
            ("DateEquals", json!("2024-05-01"), One("not a date"), false),
        ],
    );
}

#[test]
fn bool_and_binary_operators() {
    use Ctx::*;
    run(
        "bool",
        "aws:SecureTransport",
        &[
            ("Bool", json!("true"), One("true"), true),
            ("Bool", json!(true), One("TRUE"), true),
            ("Bool", json!("true"), One("false"), false),
        ],
    );
    run(
        "binary",
        "s3:x-amz-content",
        &[
            ("BinaryEquals", json!("QmluYXJ5"), One("QmluYXJ5"), true),
            ("BinaryEquals", json!("QmluYXJ5"), One("T3RoZXI="), false),
        ],
    );
}

#[test]
fn ip_address_operators() {
    use Ctx::*;
    run(
        "ip",
        "aws:SourceIp",
        &[
            (
                "IpAddress",
                json!("203.0.113.0/24"),
                One("203.0.113.9"),
                true,
            ),
            (
                "IpAddress",
                json!(["198.51.100.0/24", "203.0.113.9"]),
                One("203.0.113.9"),
                true,
            ),
            (
                "IpAddress",
                json!("203.0.113.0/24"),
                One("198.51.100.1"),
                false,
            ),
            (
                "IpAddress",
                json!("2001:db8::/32"),
                One("2001:db8:1::5"),
                true,
            ),
            (
                "IpAddress",
                json!("2001:db8::/32"),
                One("203.0.113.9"),
                false,
            ),
            (
                "NotIpAddress",
                json!("203.0.113.0/24"),
                One("198.51.100.1"),
                true,
            ),
            (
                "NotIpAddress",
                json!("203.0.113.0/24"),
                One("203.0.113.1"),
                false,
            ),
        ],
    );
}

#[test]
fn arn_operators() {
    use Ctx::*;
    run(
        "arn",
        "aws:SourceArn",
        &[
            (
                "ArnEquals",
                json!("arn:aws:backup:eu-west-1:111122223333:backup-vault:v"),
                One("arn:aws:backup:eu-west-1:111122223333:backup-vault:v"),
                true,
            ),
            (
                "ArnLike",
                json!("arn:aws:backup:*:111122223333:*"),
                One("arn:aws:backup:eu-west-1:111122223333:backup-vault:v"),
                true,
            ),
            (
                "ArnLike",
                json!("arn:aws:backup:*:444455556666:*"),
                One("arn:aws:backup:eu-west-1:111122223333:backup-vault:v"),
                false,
            ),
            (
                "ArnNotEquals",
                json!("arn:aws:backup:*:*:*"),
                One("arn:aws:s3:::b"),
                true,
            ),
            (
                "ArnNotLike",
                json!("arn:aws:s3:::*"),
                One("arn:aws:s3:::b"),
                false,
            ),
        ],
    );
}

#[test]
fn null_operator() {
    use Ctx::*;
    run(
        "null",
        "aws:TokenIssueTime",
        &[
            ("Null", json!("true"), Absent, true),
            ("Null", json!("true"), One("2024-05-01T00:00:00Z"), false),
            ("Null", json!("false"), One("2024-05-01T00:00:00Z"), true),
            ("Null", json!(false), Absent, false),
            ("Null", json!("true"), Many(&[]), true),
        ],
    );
}

#[test]
fn absent_keys() {
    use Ctx::*;
    run(
        "absent",
        "aws:ResourceTag/env",
        &[
            // positive operators fail, negated ones hold
            ("StringEquals", json!("prod"), Absent, false),
            ("StringNotEquals", json!("prod"), Absent, true),
            ("StringNotLike", json!("p*"), Absent, true),
            ("NumericLessThan", json!("1"), Absent, false),
            ("NotIpAddress", json!("10.0.0.0/8"), Absent, true),
            ("ArnNotLike", json!("arn:*"), Absent, true),
            ("Bool", json!("true"), Absent, false),
            // ...IfExists holds when the key is absent, and compares when present
            ("StringEqualsIfExists", json!("prod"), Absent, true),
            ("StringEqualsIfExists", json!("prod"), One("dev"), false),
            ("StringNotEqualsIfExists", json!("prod"), Absent, true),
            ("BoolIfExists", json!("false"), Absent, true),
            ("NumericGreaterThanIfExists", json!("3"), One("4"), true),
        ],
    );
}

#[test]
fn set_operators() {
    use Ctx::*;
    let tags: &[&str] = &["team", "env"];
    run(
        "sets",
        "aws:TagKeys",
        &[
            (
                "ForAnyValue:StringEquals",
                json!(["env", "cost"]),
                Many(tags),
                true,
            ),
            (
                "ForAnyValue:StringEquals",
                json!(["cost"]),
                Many(tags),
                false,
            ),
            (
                "ForAllValues:StringEquals",
                json!(["team", "env", "cost"]),
                Many(tags),
                true,
            ),
            (
                "ForAllValues:StringEquals",
                json!(["team"]),
                Many(tags),
                false,
            ),
            (
                "ForAllValues:StringLike",
                json!(["t*", "e*"]),
                Many(tags),
                true,
            ),
            // ForAllValues holds and ForAnyValue fails on an absent or empty key
            ("ForAllValues:StringEquals", json!(["team"]), Absent, true),
            (
                "ForAllValues:StringEquals",
                json!(["team"]),
                Many(&[]),
                true,
            ),
            ("ForAnyValue:StringEquals", json!(["team"]), Absent, false),
            (
                "ForAnyValue:StringEquals",
                json!(["team"]),
                Many(&[]),
                false,
            ),
            // negated operators apply per value
            (
                "ForAnyValue:StringNotEquals",
                json!(["team"]),
                Many(tags),
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                json!(["cost"]),
                Many(tags),
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                json!(["team"]),
                Many(tags),
                false,
            ),
            // a single-valued key is a set of one
            (
                "ForAllValues:StringEquals",
                json!(["o-1", "o-2"]),
                One("o-1"),
                true,
            ),
            (
                "ForAllValues:StringEquals",
                json!(["o-1", "o-2"]),
                One("o-3"),
                false,
            ),
            // without a set operator a multivalued key matches when any value does
            ("StringEquals", json!("env"), Many(tags), true),
            ("StringNotEquals", json!("env"), Many(tags), false),
        ],
    );
}

#[test]
fn every_block_and_key_must_hold() {
    let policy = Policy::from_value(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:RequestedRegion": "eu-west-1", "aws:PrincipalTag/team": "blue"},
                "Bool": {"aws:SecureTransport": "true"}
            }
        }]
    }))
    .unwrap();
    let set = PolicySet {
        identity: vec![NamedPolicy {
            name: "p".into(),
            policy,
        }],
        ..PolicySet::default()
    };
    let context = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), ContextValue::One(v.to_string())))
            .collect::<BTreeMap<_, _>>()
    };
    let request = |ctx| Request {
        principal: "arn:aws:iam::111122223333:role/r".into(),
        action: "ec2:CreateVolume".into(),
        resource: "*".into(),
        resource_account: None,
        context: ctx,
    };
    let all = context(&[
        ("aws:RequestedRegion", "eu-west-1"),
        ("aws:PrincipalTag/team", "blue"),
        ("aws:SecureTransport", "true"),
    ]);
    assert_eq!(
        evaluate(&request(all), &set).unwrap().decision,
        Decision::Allowed
    );
    let partial = context(&[
        ("aws:RequestedRegion", "eu-west-1"),
        ("aws:SecureTransport", "true"),
    ]);
    let e = evaluate(&request(partial), &set).unwrap();
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert_eq!(
        e.missing_context_keys,
        vec!["aws:PrincipalTag/team".to_owned()]
    );
}

#[test]
fn absent_keys_are_reported_even_when_if_exists_lets_them_pass() {
    let (ok, missing) = holds(
        "StringEqualsIfExists",
        "aws:ResourceTag/env",
        json!("prod"),
        Ctx::Absent,
    );
    assert!(ok);
    assert_eq!(missing, vec!["aws:ResourceTag/env".to_owned()]);
    // Null decides on absence, but a key absent from the evidence may be present in the
    // real request: it is reported too, so a Null-conditioned allow is never proven by
    // the key merely being unknown (#9, never verify by dropping a condition).
    let (ok, missing) = holds("Null", "aws:ResourceTag/env", json!("true"), Ctx::Absent);
    assert!(ok);
    assert_eq!(missing, vec!["aws:ResourceTag/env".to_owned()]);
}
