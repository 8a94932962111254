//! Parsing policy documents: what AWS accepts parses, what it rejects fails with the
//! place (JSON pointer) and the reason, and nothing panics.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use restore_doctor::policy::{
    ActionBlock, Effect, OperatorKind, ParseReason, Policy, Principal, PrincipalBlock,
    PrincipalType, ResourceBlock, SetOperator,
};

#[test]
fn accepted_documents() {
    let cases = [
        (
            "statement as an object",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        ),
        (
            "statement as an array, values as arrays",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::b/*"]}]}"#,
        ),
        (
            "no version, an Id",
            r#"{"Id":"x","Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:iam::*:*"}]}"#,
        ),
        (
            "legacy version",
            r#"{"Version":"2008-10-17","Statement":[]}"#,
        ),
        (
            "trust policy without resource",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        ),
        (
            "every principal type",
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:root"],"Service":"ec2.amazonaws.com","Federated":"cognito-identity.amazonaws.com","CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"*"}]}"#,
        ),
        (
            "not principal wildcard",
            r#"{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"*","Resource":"*"}]}"#,
        ),
        (
            "condition values that are numbers and booleans",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true}}}]}"#,
        ),
    ];
    for (name, text) in cases {
        assert!(
            Policy::parse(text).is_ok(),
            "{name}: {:?}",
            Policy::parse(text)
        );
    }
}

#[test]
fn rejected_documents_name_the_place() {
    type IsReason = fn(&ParseReason) -> bool;
    let cases: [(&str, &str, &str, IsReason); 14] = [
        ("not json", "{", "", |r| matches!(r, ParseReason::Json(_))),
        ("not an object", "[]", "", |r| {
            matches!(r, ParseReason::WrongType { .. })
        }),
        ("no statement", r#"{"Version":"2012-10-17"}"#, "", |r| {
            *r == ParseReason::MissingElement("Statement")
        }),
        (
            "bad version",
            r#"{"Version":"2012-10-18","Statement":[]}"#,
            "/Version",
            |r| matches!(r, ParseReason::Version(_)),
        ),
        (
            "unknown top-level element",
            r#"{"Statement":[],"Statements":[]}"#,
            "/Statements",
            |r| matches!(r, ParseReason::UnknownElement(_)),
        ),
        (
            "bad effect in the second statement",
            r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"allow","Action":"*"}]}"#,
            "/Statement/1/Effect",
            |r| matches!(r, ParseReason::Effect(_)),
        ),
        (
            "missing effect",
            r#"{"Statement":[{"Action":"*"}]}"#,
            "/Statement/0",
            |r| *r == ParseReason::MissingElement("Effect"),
        ),
        (
            "missing action",
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            "/Statement",
            |r| *r == ParseReason::MissingElement("Action"),
        ),
        (
            "action and not action",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#,
            "/Statement/0/NotAction",
            |r| matches!(r, ParseReason::Exclusive("Action", "NotAction")),
        ),
        (
            "number in an action list",
            r#"{"Statement":[{"Effect":"Allow","Action":["s3:*",3]}]}"#,
            "/Statement/0/Action/1",
            |r| matches!(r, ParseReason::WrongType { .. }),
        ),
        (
            "empty action list",
            r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#,
            "/Statement/0/Action",
            |r| *r == ParseReason::Empty("Action"),
        ),
        (
            "unknown principal type",
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Aws":"*"},"Action":"*"}]}"#,
            "/Statement/0/Principal/Aws",
            |r| matches!(r, ParseReason::PrincipalType(_)),
        ),
        (
            "unknown condition operator",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEqual":{"a":"b"}}}]}"#,
            "/Statement/0/Condition/StringEqual",
            |r| matches!(r, ParseReason::Operator(_)),
        ),
        (
            "null condition value, key with a slash",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":null}}}]}"#,
            "/Statement/0/Condition/StringEquals/aws:PrincipalTag~1team",
            |r| matches!(r, ParseReason::WrongType { .. }),
        ),
    ];
    for (name, text, pointer, reason) in cases {
        let err = Policy::parse(text).expect_err(name);
        assert_eq!(err.pointer, pointer, "{name}: {err}");
        assert!(reason(&err.reason), "{name}: {err}");
    }
}

#[test]
fn error_messages_are_lowercase_with_input_in_backticks() {
    let err = Policy::parse(r#"{"Statement":[{"Effect":"Permit","Action":"*"}]}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid policy at `/Statement/0/Effect`: invalid effect `Permit`: expected `Allow` or `Deny`"
    );
}

#[test]
fn parsed_model() {
    let policy = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","NotResource":"arn:aws:kms:*:*:alias/*","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*"]}}}]}"#,
    )
    .unwrap();
    assert!(policy.uses_variables());
    let [st] = policy.statements() else {
        panic!("one statement")
    };
    assert_eq!(st.sid(), Some("Key"));
    assert_eq!(st.effect, Effect::Allow);
    assert!(matches!(&st.action, ActionBlock::Action(v) if v.is_single()));
    assert!(matches!(&st.resource, Some(ResourceBlock::NotResource(_))));
    let Some(PrincipalBlock::Principal(Principal::Map(entries))) = &st.principal else {
        panic!("principal map")
    };
    assert_eq!(entries[0].0, PrincipalType::Aws);
    let op = st.condition[0].operator;
    assert_eq!(op.set, Some(SetOperator::ForAnyValue));
    assert_eq!(op.kind, OperatorKind::StringLike);
    assert!(op.if_exists);
}

#[test]
fn serializes_to_canonical_json_and_round_trips() {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/r"]},"NotAction":"s3:*","Resource":["*"],"Condition":{"StringEquals":{"aws:PrincipalTag/x":"1"},"NumericLessThan":{"n":"5"}}}]}"#;
    let policy = Policy::parse(text).unwrap();
    assert_eq!(serde_json::to_string(&policy).unwrap(), text);
    let again: Policy = serde_json::from_value(policy.to_value()).unwrap();
    assert_eq!(again, policy);
}

#[test]
fn lenient_where_aws_is_lenient() {
    // Numbers and booleans in conditions are read as strings.
    let policy = Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"n":[1,2.5]},"Bool":{"b":false}}}]}"#,
    )
    .unwrap();
    let value = policy.to_value();
    assert_eq!(
        value["Statement"][0]["Condition"]["NumericEquals"]["n"][1],
        "2.5"
    );
    assert_eq!(value["Statement"][0]["Condition"]["Bool"]["b"], "false");
}

/// Found by the `policy_parse` fuzz target: two spellings of one operator used to be
/// merged into one JSON key on output, so parse -> serialize -> parse changed the
/// policy. Operator names are now exact, as AWS spells them.
#[test]
fn operator_spelled_twice_in_different_case_does_not_merge() {
    let text = "{\"Version\":\"2012-10-17\",\"Id\":\"key-policy\",\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::055561111666:root\",\"444455556666\"],\"Service\":\"backup.amazonaws.com\"},\"Action\":\"kms:*\",\"Resource\":\"*\",\"Condition\":{\"ForAnyValue:StringEquals\":{\"awTime\":\"2030-01-01T00:00:00Z\"},\"NumericLessThanEquals\":{\"s1:max-keys\":10},\"Null\":{\"aws:Princ\u{FFFD}palTag/team\":\"false\"},\"ArnLikeIfExists\":{\"aws:SourceArns:TagKeys\":[\"team\",\"env\"]},\"IpAddress\":{\"aws:SourceIp\":[\"[03.0.113.0/ArnNotEquals24\",\"2001:db8::/3\u{FFFD}\u{FFFD}2\"]},\"DateLessThan\":{\"awsTime\":\"2030-01-01T00:00:00Z\"},\"NumeRicLessThanEquals\":{\"s1:max-keys\":10},\"Null\":{\"aws:Princ\u{FFFD}palTag/team\":\"false\"},\"ArnLikeIfExists\":{\"aws:SourceArn\":\"arn:aws:backup:*:055561111666:*\"}}}}";
    match Policy::parse(text) {
        Ok(policy) => assert_eq!(Policy::from_value(&policy.to_value()).unwrap(), policy),
        Err(err) => assert_eq!(
            err.pointer, "/Statement/Condition/NumeRicLessThanEquals",
            "{err}"
        ),
    }
    let err = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"stringEquals":{"a":"b"}}}}"#,
    )
    .unwrap_err();
    assert!(matches!(err.reason, ParseReason::Operator(_)), "{err}");
}

#[test]
fn deeply_nested_or_odd_input_does_not_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let inputs = [
        deep.as_str(),
        "",
        "null",
        "\u{0}",
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"ForAnyValue:":{}}}}"#,
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":[]}}"#,
        r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":5}}"#,
        r#"{"Statement":"*"}"#,
    ];
    for input in inputs {
        let _ = Policy::parse(input);
    }
}

#[test]
fn deserialize_goes_through_validation() {
    let bad: Result<Policy, _> =
        serde_json::from_str(r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#);
    let message = bad.unwrap_err().to_string();
    assert!(message.contains("/Statement/0/Effect"), "{message}");
}
