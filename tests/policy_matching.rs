//! Matching rules: action wildcards, ARNs segment by segment, policy variables.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use restore_doctor::policy::{
    action_matches, arn_matches, evaluate, ContextValue, Decision, NamedPolicy, Policy, PolicySet,
    Request,
};
use serde_json::json;

#[test]
fn action_patterns() {
    let cases = [
        ("s3:GetObject", "s3:GetObject", true),
        ("S3:GETOBJECT", "s3:GetObject", true),
        ("s3:Get*", "s3:GetObjectVersion", true),
        ("s3:Get*", "s3:PutObject", false),
        ("s3:*Object", "s3:DeleteObject", true),
        ("s3:?etObject", "s3:GetObject", true),
        ("s3:?etObject", "s3:GGetObject", false),
        ("*", "backup:StartRestoreJob", true),
        ("s3:", "s3:GetObject", false),
        ("s3:GetObject ", "s3:GetObject", false),
        (" s3:GetObject", "s3:GetObject", false),
        ("ec2:*", "ec2-instance-connect:SendSSHPublicKey", false),
    ];
    for (pattern, action, want) in cases {
        assert_eq!(
            action_matches(pattern, action),
            want,
            "{pattern} vs {action}"
        );
    }
}

#[test]
fn arn_patterns() {
    let cases = [
        (
            "*",
            "arn:aws:efs:eu-west-1:111122223333:file-system/fs-1",
            true,
        ),
        (
            "arn:aws:efs:*:*:file-system/*",
            "arn:aws:efs:eu-west-1:111122223333:file-system/fs-1",
            true,
        ),
        (
            "arn:aws:efs:*:*:file-system/*",
            "arn:aws:efs:eu-west-1:111122223333:access-point/fsap-1",
            false,
        ),
        (
            "arn:aws:ec2:*::snapshot/*",
            "arn:aws:ec2:eu-west-1::snapshot/snap-1",
            true,
        ),
        (
            "arn:aws:ec2:*::snapshot/*",
            "arn:aws:ec2:eu-west-1:111122223333:snapshot/snap-1",
            false,
        ),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", true),
        ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key", false),
        ("arn:aws:s3:::buck?t", "arn:aws:s3:::bucket", true),
        (
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:role/path/r",
            true,
        ),
        // `*` in the account segment does not reach into the resource
        (
            "arn:aws:iam::*:role/r",
            "arn:aws:iam::111122223333:user/role/r",
            false,
        ),
        // resource ARNs are case-sensitive
        ("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", false),
        ("arn:aws:kms:eu-west-1:111122223333:key/*", "*", false),
    ];
    for (pattern, arn, want) in cases {
        assert_eq!(arn_matches(pattern, arn), want, "{pattern} vs {arn}");
    }
}

fn allow_resource(resource: &str, version: &str) -> PolicySet {
    let policy = Policy::from_value(&json!({
        "Version": version,
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}]
    }))
    .unwrap();
    PolicySet {
        identity: vec![NamedPolicy {
            name: "p".into(),
            policy,
        }],
        ..PolicySet::default()
    }
}

fn get(resource: &str, context: &[(&str, &str)]) -> Request {
    Request {
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        action: "s3:GetObject".into(),
        resource: resource.into(),
        resource_account: Some("111122223333".into()),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), ContextValue::One(v.to_string())))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn policy_variables_in_resources() {
    let v12 = "2012-10-17";
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        Decision,
    );
    let cases: [Case<'_>; 10] = [
        // aws:username is derived from the calling user
        (
            "user name",
            "arn:aws:s3:::home/${aws:username}/*",
            &[],
            "arn:aws:s3:::home/alice/f",
            Decision::Allowed,
        ),
        (
            "other user's folder",
            "arn:aws:s3:::home/${aws:username}/*",
            &[],
            "arn:aws:s3:::home/bob/f",
            Decision::ImplicitlyDenied,
        ),
        (
            "principal tag",
            "arn:aws:s3:::${aws:PrincipalTag/team}/*",
            &[("aws:PrincipalTag/team", "blue")],
            "arn:aws:s3:::blue/f",
            Decision::Allowed,
        ),
        (
            "keys are case-insensitive",
            "arn:aws:s3:::${aws:principaltag/TEAM}/*",
            &[("aws:PrincipalTag/team", "blue")],
            "arn:aws:s3:::blue/f",
            Decision::Allowed,
        ),
        (
            "absent key matches nothing",
            "arn:aws:s3:::${aws:PrincipalTag/team}/*",
            &[],
            "arn:aws:s3:::blue/f",
            Decision::ImplicitlyDenied,
        ),
        (
            "default value",
            "arn:aws:s3:::${aws:PrincipalTag/team, 'shared'}/*",
            &[],
            "arn:aws:s3:::shared/f",
            Decision::Allowed,
        ),
        (
            "escaped star is literal",
            "arn:aws:s3:::b/${*}",
            &[],
            "arn:aws:s3:::b/*",
            Decision::Allowed,
        ),
        (
            "escaped star does not match others",
            "arn:aws:s3:::b/${*}",
            &[],
            "arn:aws:s3:::b/x",
            Decision::ImplicitlyDenied,
        ),
        (
            "escaped question mark and dollar",
            "arn:aws:s3:::b/${?}${$}",
            &[],
            "arn:aws:s3:::b/?$",
            Decision::Allowed,
        ),
        (
            "value with a star is literal",
            "arn:aws:s3:::${aws:PrincipalTag/team}/f",
            &[("aws:PrincipalTag/team", "*")],
            "arn:aws:s3:::blue/f",
            Decision::ImplicitlyDenied,
        ),
    ];
    for (name, pattern, context, resource, want) in cases {
        let got = evaluate(&get(resource, context), &allow_resource(pattern, v12)).unwrap();
        assert_eq!(got.decision, want, "{name}");
    }
}

#[test]
fn variables_are_plain_text_without_the_2012_version() {
    let set = allow_resource("arn:aws:s3:::home/${aws:username}/*", "2008-10-17");
    let plain = evaluate(&get("arn:aws:s3:::home/${aws:username}/f", &[]), &set).unwrap();
    assert_eq!(plain.decision, Decision::Allowed);
    let expanded = evaluate(&get("arn:aws:s3:::home/alice/f", &[]), &set).unwrap();
    assert_eq!(expanded.decision, Decision::ImplicitlyDenied);
}

#[test]
fn unresolved_variable_is_reported_missing() {
    let set = allow_resource("arn:aws:s3:::${aws:PrincipalTag/team}/*", "2012-10-17");
    let got = evaluate(&get("arn:aws:s3:::blue/f", &[]), &set).unwrap();
    assert_eq!(
        got.missing_context_keys,
        vec!["aws:PrincipalTag/team".to_owned()]
    );
}
