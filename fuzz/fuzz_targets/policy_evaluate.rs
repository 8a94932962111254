//! The evaluator on crafted wildcards from both sides: the first line of the input is
//! the request resource (read both literally and as a pattern), the second the values
//! of a multivalued context key (split at `,`), the rest a policy used in every layer.
//! Whatever the input, evaluation must answer or refuse with an error — never panic —
//! and a refusal must come from a limit, not from a well-sized request.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use restore_doctor::policy::limits::MAX_ARN_CHARS;
use restore_doctor::policy::{
    evaluate_with, ContextValue, EvalError, EvaluateOptions, NamedPolicy, OrgLevel, Policy,
    PolicySet, Request, ResourceWildcards,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(3, '\n');
    let (Some(resource), Some(values), Some(policy)) = (lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let Ok(policy) = Policy::parse(policy) else {
        return;
    };
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
        rcps: vec![],
        resource_policy: Some(named.clone()),
        session_policy: Some(named),
    };
    let mut context = BTreeMap::new();
    context.insert(
        "aws:TagKeys".to_string(),
        ContextValue::Many(values.split(',').map(str::to_owned).collect()),
    );
    context.insert(
        "aws:PrincipalTag/team".to_string(),
        ContextValue::One(values.to_owned()),
    );
    let request = Request {
        principal: "arn:aws:sts::111122223333:assumed-role/restore/session".into(),
        action: "s3:GetObject".into(),
        resource: resource.to_owned(),
        resource_account: Some("111122223333".into()),
        context,
    };
    for resource_wildcards in [ResourceWildcards::Literal, ResourceWildcards::Pattern] {
        let options = EvaluateOptions { resource_wildcards };
        match evaluate_with(&request, &set, &options) {
            Ok(_)
            | Err(EvalError::TooComplex { .. })
            | Err(EvalError::TooManyContextValues { .. }) => {}
            Err(EvalError::TooLong { field, len, max }) => {
                assert!(len > max, "{field}: {len} within {max}");
                if field == "resource" {
                    assert!(resource.len() > MAX_ARN_CHARS);
                }
            }
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
});
