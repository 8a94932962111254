//! Arbitrary bytes into the policy parser; whatever parses must round-trip and be
//! evaluable in every layer without panicking.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use restore_doctor::policy::{
    evaluate, evaluate_with, ContextValue, EvaluateOptions, NamedPolicy, OrgLevel, Policy,
    PolicySet, Request, ResourceWildcards,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(policy) = Policy::parse(&text) else {
        return;
    };
    let again = Policy::from_value(&policy.to_value()).expect("serialized policy parses");
    assert_eq!(
        again, policy,
        "parse -> serialize -> parse changed the policy"
    );

    let named = NamedPolicy {
        name: "fuzzed".into(),
        policy,
    };
    let set = PolicySet {
        identity: vec![named.clone()],
        permission_boundaries: vec![named.clone()],
        scps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![named.clone()],
        }],
        rcps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![named.clone()],
        }],
        resource_policy: Some(named.clone()),
        session_policy: Some(named),
    };
    let mut context = BTreeMap::new();
    context.insert(
        "aws:SourceIp".into(),
        ContextValue::One("203.0.113.7".into()),
    );
    context.insert(
        "aws:TagKeys".into(),
        ContextValue::Many(vec!["team".into(), "*".into()]),
    );
    context.insert(
        "aws:PrincipalTag/team".into(),
        ContextValue::One("backup".into()),
    );
    context.insert(
        "aws:CurrentTime".into(),
        ContextValue::One("2024-05-01T12:00:00Z".into()),
    );
    let request = Request {
        principal: "arn:aws:sts::111122223333:assumed-role/restore/session".into(),
        action: "kms:Decrypt".into(),
        resource: "arn:aws:kms:eu-west-1:111122223333:key/1234".into(),
        resource_account: Some("111122223333".into()),
        context,
    };
    let _ = evaluate(&request, &set);
    let pattern = Request {
        resource: "arn:aws:s3:::bucket/*".into(),
        ..request
    };
    let options = EvaluateOptions {
        resource_wildcards: ResourceWildcards::Pattern,
    };
    let _ = evaluate_with(&pattern, &set, &options);
});
