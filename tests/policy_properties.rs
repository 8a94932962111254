//! Properties of the evaluator, checked on generated inputs:
//! wildcard matching agrees with a naive reference matcher, an explicit deny always
//! wins, and parse → serialize → parse is the identity.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use restore_doctor::policy::{
    action_matches, arn_matches, evaluate, Decision, NamedPolicy, OrgLevel, Policy, PolicySet,
    Request,
};
use serde_json::{json, Value};

/// The obvious recursive definition of `*`/`?` matching.
fn reference(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && reference(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference(rest, &text[1..]),
    }
}

/// Dynamic programming over (pattern, text) prefixes: the textbook matcher, quadratic
/// but exact, for inputs too long for [`reference`]'s backtracking.
fn reference_dp(pattern: &[char], text: &[char], fold: bool) -> bool {
    let eq = |a: char, b: char| {
        if fold {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // row[j]: pattern[..i] matches text[..j].
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        if p == '*' {
            next[0] = row[0];
        }
        for j in 1..=text.len() {
            next[j] = match p {
                '*' => row[j] || next[j - 1],
                '?' => row[j - 1],
                c => row[j - 1] && eq(c, text[j - 1]),
            };
        }
        row = next;
    }
    row[text.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Longer patterns with many segments, repeated letters (where a segment search
    /// must fall back correctly: `aab` in `aaab`) and case folding.
    #[test]
    fn segment_matching_agrees_with_dp(
        pattern in "[aab*?]{0,40}",
        text in "[aab]{0,60}",
        upper in proptest::bool::ANY,
    ) {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(arn_matches(&pattern, &text), reference_dp(&p, &t, false) || pattern == "*");
        // Actions fold case: an upper-cased text matches as the lower-case one.
        let shown = if upper { text.to_uppercase() } else { text.clone() };
        prop_assert_eq!(action_matches(&pattern, &shown), reference_dp(&p, &t, true));
    }

    /// Non-ASCII patterns and texts take the character path, ASCII ones the byte path:
    /// both agree with the reference.
    #[test]
    fn byte_and_char_paths_agree(pattern in "[aé*?]{0,16}", text in "[aéb]{0,24}") {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(action_matches(&pattern, &text), reference_dp(&p, &t, true));
    }

    #[test]
    fn wildcards_agree_with_reference(pattern in "[ab*?é]{0,10}", text in "[abé]{0,12}") {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let want = reference(&p, &t);
        prop_assert_eq!(action_matches(&pattern, &text), want);
        // Without `:` an ARN pattern is one segment: same answer.
        prop_assert_eq!(arn_matches(&pattern, &text), want || pattern == "*");
    }

    #[test]
    fn arn_segments_match_independently(
        segs in proptest::collection::vec("[ab*]{0,3}", 6),
        texts in proptest::collection::vec("[ab]{0,3}", 6),
    ) {
        let pattern = segs.join(":");
        let arn = texts.join(":");
        let want = pattern == "*" || segs.iter().zip(&texts).all(|(p, t)| {
            let p: Vec<char> = p.chars().collect();
            let t: Vec<char> = t.chars().collect();
            reference(&p, &t)
        });
        prop_assert_eq!(arn_matches(&pattern, &arn), want);
    }
}

const PRINCIPALS: [&str; 4] = [
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/restore",
    "arn:aws:sts::111122223333:assumed-role/restore/job",
    "arn:aws:sts::444455556666:assumed-role/other/job",
];
const ACTIONS: [&str; 4] = [
    "kms:Decrypt",
    "s3:GetObject",
    "ec2:CreateVolume",
    "sts:AssumeRole",
];
const RESOURCES: [&str; 4] = [
    "arn:aws:kms:eu-west-1:111122223333:key/k",
    "arn:aws:s3:::bucket/object",
    "*",
    "arn:aws:iam::111122223333:role/target",
];

fn statement() -> impl Strategy<Value = Value> {
    let effect = prop_oneof![Just("Allow"), Just("Deny")];
    let action = prop_oneof![
        Just(json!("*")),
        Just(json!("kms:*")),
        Just(json!(["s3:Get*", "ec2:*"])),
        Just(json!("sts:AssumeRole")),
    ];
    let resource = prop_oneof![
        Just(json!({"Resource": "*"})),
        Just(json!({"Resource": "arn:aws:s3:::bucket/*"})),
        Just(json!({"NotResource": "arn:aws:kms:*:*:key/*"})),
        Just(json!({})),
    ];
    let principal = prop_oneof![
        Just(json!({"Principal": "*"})),
        Just(json!({"Principal": {"AWS": "111122223333"}})),
        Just(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:role/restore"}})),
        Just(json!({"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/alice"}})),
        Just(json!({})),
    ];
    let condition = prop_oneof![
        Just(json!({})),
        Just(json!({"Condition": {"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}}})),
        Just(json!({"Condition": {"Bool": {"aws:SecureTransport": "true"}}})),
    ];
    (effect, action, resource, principal, condition).prop_map(|(e, a, r, p, c)| {
        let mut st = json!({"Effect": e, "Action": a});
        for extra in [r, p, c] {
            if let (Value::Object(target), Value::Object(more)) = (&mut st, extra) {
                target.extend(more);
            }
        }
        st
    })
}

fn policy_value() -> impl Strategy<Value = Value> {
    proptest::collection::vec(statement(), 0..4)
        .prop_map(|statements| json!({"Version": "2012-10-17", "Statement": statements}))
}

fn named(name: &str, value: &Value) -> NamedPolicy {
    NamedPolicy {
        name: name.into(),
        policy: Policy::from_value(value).unwrap(),
    }
}

fn policy_set() -> impl Strategy<Value = PolicySet> {
    (
        proptest::collection::vec(policy_value(), 0..3),
        proptest::option::of(policy_value()),
        proptest::option::of(policy_value()),
        proptest::option::of(policy_value()),
        proptest::option::of(policy_value()),
        proptest::option::of(policy_value()),
    )
        .prop_map(|(identity, boundary, scp, rcp, rp, session)| PolicySet {
            identity: identity
                .iter()
                .enumerate()
                .map(|(i, v)| named(&format!("identity{i}"), v))
                .collect(),
            permission_boundaries: boundary.iter().map(|v| named("boundary", v)).collect(),
            scps: scp
                .iter()
                .map(|v| OrgLevel {
                    org_identifier: "r-root".into(),
                    policies: vec![named("scp", v)],
                })
                .collect(),
            rcps: rcp
                .iter()
                .map(|v| OrgLevel {
                    org_identifier: "r-root".into(),
                    policies: vec![named("rcp", v)],
                })
                .collect(),
            resource_policy: rp.map(|v| named("rp", &v)),
            session_policy: session.map(|v| named("session", &v)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn an_explicit_deny_always_wins(
        set in policy_set(),
        principal in 0..PRINCIPALS.len(),
        action in 0..ACTIONS.len(),
        resource in 0..RESOURCES.len(),
        layer in 0..6usize,
    ) {
        let request = Request {
            principal: PRINCIPALS[principal].into(),
            action: ACTIONS[action].into(),
            resource: RESOURCES[resource].into(),
            resource_account: Some("111122223333".into()),
            context: BTreeMap::new(),
        };
        let deny = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": ACTIONS[action], "Resource": "*"
        }]});
        let deny = named("added deny", &deny);
        let mut set = set;
        match layer {
            0 => set.identity.push(deny),
            1 => set.permission_boundaries.push(deny),
            2 => set.scps.push(OrgLevel { org_identifier: "ou-x".into(), policies: vec![deny] }),
            3 => set.rcps.push(OrgLevel { org_identifier: "ou-x".into(), policies: vec![deny] }),
            4 => set.resource_policy = Some(deny),
            _ => set.session_policy = Some(deny),
        }
        let e = evaluate(&request, &set).unwrap();
        prop_assert_eq!(e.decision, Decision::ExplicitlyDenied);
        prop_assert!(!e.blocked_by.is_empty());
    }

    #[test]
    fn parse_serialize_parse_round_trips(value in policy_value(), single in any::<bool>()) {
        let mut value = value;
        // Also cover a lone statement written as an object.
        if single {
            if let Some(Value::Array(items)) = value.get("Statement").cloned() {
                if let [one] = items.as_slice() {
                    value["Statement"] = one.clone();
                }
            }
        }
        let text = serde_json::to_string(&value).unwrap();
        let policy = Policy::parse(&text).unwrap();
        let again = Policy::parse(&serde_json::to_string(&policy).unwrap()).unwrap();
        prop_assert_eq!(&again, &policy);
        prop_assert_eq!(again.to_value(), value);
    }

    #[test]
    fn arbitrary_text_never_panics_and_round_trips_when_it_parses(text in "\\PC{0,200}") {
        if let Ok(policy) = Policy::parse(&text) {
            let again = Policy::from_value(&policy.to_value()).unwrap();
            prop_assert_eq!(again, policy);
        }
    }
}
