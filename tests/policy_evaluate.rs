//! AWS's evaluation logic, one rule per test: explicit deny, organization policies,
//! same- and cross-account access, boundaries and session policies, KMS key policies,
//! role trust policies, and the explanation that comes with the decision.

// Test helpers outside `#[test]` functions may unwrap and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use restore_doctor::policy::{
    evaluate, evaluate_with, Decision, EvaluateOptions, Evaluation, Layer, LayerOutcome,
    NamedPolicy, OrgLevel, Policy, PolicySet, Request, ResourceWildcards, StatementRef,
};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ROLE: &str = "arn:aws:iam::111122223333:role/restore";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/restore/job-1";
const USER: &str = "arn:aws:iam::111122223333:user/alice";
const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234";
const BUCKET_OBJECT: &str = "arn:aws:s3:::bucket/object";

fn named(name: &str, statements: Value) -> NamedPolicy {
    NamedPolicy {
        name: name.into(),
        policy: Policy::from_value(&json!({"Version": "2012-10-17", "Statement": statements}))
            .unwrap(),
    }
}

fn allow(action: &str, resource: &str) -> Value {
    json!({"Effect": "Allow", "Action": action, "Resource": resource})
}

fn deny(action: &str, resource: &str) -> Value {
    json!({"Effect": "Deny", "Action": action, "Resource": resource})
}

fn grant(effect: &str, principal: Value, action: &str) -> Value {
    json!({"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"})
}

fn request(principal: &str, action: &str, resource: &str, account: &str) -> Request {
    Request {
        principal: principal.into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: Some(account.into()),
        context: BTreeMap::new(),
    }
}

fn identity(statements: Value) -> Vec<NamedPolicy> {
    vec![named("identity", statements)]
}

fn decide(req: &Request, set: &PolicySet) -> Decision {
    evaluate(req, set).unwrap().decision
}

fn layer(e: &Evaluation, layer: Layer) -> &restore_doctor::policy::LayerResult {
    e.layers.iter().find(|l| l.layer == layer).unwrap()
}

#[test]
fn explicit_deny_wins_in_every_layer() {
    let req = request(SESSION, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let allow_all = || named("allow", json!([allow("*", "*")]));
    let base = || PolicySet {
        identity: vec![allow_all()],
        permission_boundaries: vec![allow_all()],
        scps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![allow_all()],
        }],
        rcps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![],
        }],
        resource_policy: Some(named(
            "rp",
            json!([grant("Allow", json!({"AWS": SESSION}), "s3:*")]),
        )),
        session_policy: Some(allow_all()),
    };
    assert_eq!(decide(&req, &base()), Decision::Allowed);
    let denying = |name| named(name, json!([allow("*", "*"), deny("s3:GetObject", "*")]));
    type AddDeny = fn(&mut PolicySet, NamedPolicy);
    let cases: [(Layer, AddDeny); 6] = [
        (Layer::Scp, |s, p| s.scps[0].policies.push(p)),
        (Layer::Rcp, |s, _| {
            s.rcps[0].policies.push(named(
                "rcp",
                json!([grant("Deny", json!("*"), "s3:GetObject")]),
            ))
        }),
        (Layer::ResourcePolicy, |s, _| {
            s.resource_policy = Some(named(
                "rp",
                json!([grant("Deny", json!({"AWS": ACCOUNT}), "s3:*")]),
            ))
        }),
        (Layer::Identity, |s, p| s.identity.push(p)),
        (Layer::PermissionBoundary, |s, p| {
            s.permission_boundaries = vec![p]
        }),
        (Layer::SessionPolicy, |s, p| s.session_policy = Some(p)),
    ];
    for (expected, add) in cases {
        let mut set = base();
        add(&mut set, denying("deny"));
        let e = evaluate(&req, &set).unwrap();
        assert_eq!(e.decision, Decision::ExplicitlyDenied, "{expected:?}");
        assert_eq!(e.blocked_by, vec![expected]);
    }
}

#[test]
fn scp_every_level_must_allow() {
    let req = request(USER, "ec2:CreateVolume", "*", ACCOUNT);
    let level = |id: &str, statements: Value| OrgLevel {
        org_identifier: id.into(),
        policies: vec![named(id, statements)],
    };
    let set = PolicySet {
        identity: identity(json!([allow("ec2:*", "*")])),
        scps: vec![
            level("r-root", json!([allow("*", "*")])),
            level("ou-a", json!([allow("s3:*", "*")])),
        ],
        ..PolicySet::default()
    };
    let e = evaluate(&req, &set).unwrap();
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert_eq!(e.blocked_by, vec![Layer::Scp]);
    let failing = e
        .layers
        .iter()
        .find(|l| l.outcome == LayerOutcome::ImplicitlyDenied)
        .unwrap();
    assert_eq!(failing.org_identifier.as_deref(), Some("ou-a"));

    // an empty level allows nothing
    let empty = PolicySet {
        scps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![],
        }],
        ..set.clone()
    };
    assert_eq!(decide(&req, &empty), Decision::ImplicitlyDenied);
}

#[test]
fn scps_do_not_apply_to_service_principals_service_linked_roles_or_anonymous() {
    let scps = vec![OrgLevel {
        org_identifier: "r-root".into(),
        policies: vec![named("scp", json!([deny("*", "*")]))],
    }];
    let rp = Some(named(
        "rp",
        json!([grant("Allow", json!("*"), "s3:GetObject")]),
    ));
    for principal in [
        "backup.amazonaws.com",
        Request::ANONYMOUS,
        "arn:aws:iam::111122223333:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup",
    ] {
        let set = PolicySet {
            identity: identity(json!([allow("*", "*")])),
            scps: scps.clone(),
            resource_policy: rp.clone(),
            ..PolicySet::default()
        };
        let req = request(principal, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
        assert_eq!(decide(&req, &set), Decision::Allowed, "{principal}");
    }
}

#[test]
fn rcps_only_deny() {
    let req = request(USER, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let set = PolicySet {
        identity: identity(json!([allow("s3:*", "*")])),
        rcps: vec![OrgLevel {
            org_identifier: "r-root".into(),
            policies: vec![],
        }],
        ..PolicySet::default()
    };
    assert_eq!(decide(&req, &set), Decision::Allowed);
}

#[test]
fn same_account_identity_or_resource_policy_suffices() {
    let req = |p| request(p, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let by_identity = PolicySet {
        identity: identity(json!([allow("s3:GetObject", BUCKET_OBJECT)])),
        ..PolicySet::default()
    };
    assert_eq!(decide(&req(USER), &by_identity), Decision::Allowed);
    let cases = [
        (
            "names the user",
            json!({"AWS": USER}),
            USER,
            Decision::Allowed,
        ),
        (
            "names the role, session calls",
            json!({"AWS": ROLE}),
            SESSION,
            Decision::Allowed,
        ),
        (
            "names the session",
            json!({"AWS": SESSION}),
            SESSION,
            Decision::Allowed,
        ),
        ("everyone", json!("*"), USER, Decision::Allowed),
        // naming the account only delegates to IAM policies
        (
            "account root",
            json!({"AWS": "arn:aws:iam::111122223333:root"}),
            USER,
            Decision::ImplicitlyDenied,
        ),
        (
            "bare account id",
            json!({"AWS": ACCOUNT}),
            USER,
            Decision::ImplicitlyDenied,
        ),
        (
            "someone else",
            json!({"AWS": "arn:aws:iam::111122223333:user/bob"}),
            USER,
            Decision::ImplicitlyDenied,
        ),
    ];
    for (name, principal, caller, want) in cases {
        let set = PolicySet {
            resource_policy: Some(named(
                "rp",
                json!([grant("Allow", principal, "s3:GetObject")]),
            )),
            ..PolicySet::default()
        };
        assert_eq!(decide(&req(caller), &set), want, "{name}");
    }
}

#[test]
fn resource_policy_statement_without_principal_names_nobody() {
    let req = request(USER, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let set = PolicySet {
        identity: identity(json!([allow("s3:*", "*")])),
        resource_policy: Some(named("rp", json!([deny("s3:*", "*")]))),
        ..PolicySet::default()
    };
    assert_eq!(decide(&req, &set), Decision::Allowed);
}

#[test]
fn boundary_limits_identity_and_role_grants_but_not_direct_grants() {
    let boundary = vec![named("boundary", json!([allow("ec2:*", "*")]))];
    let cases = [
        ("identity grant", None, SESSION, Decision::ImplicitlyDenied),
        (
            "grant to the role",
            Some(json!({"AWS": ROLE})),
            SESSION,
            Decision::ImplicitlyDenied,
        ),
        (
            "grant to the session",
            Some(json!({"AWS": SESSION})),
            SESSION,
            Decision::Allowed,
        ),
        (
            "grant to the user",
            Some(json!({"AWS": USER})),
            USER,
            Decision::Allowed,
        ),
        (
            "grant to everyone",
            Some(json!("*")),
            SESSION,
            Decision::Allowed,
        ),
    ];
    for (name, principal, caller, want) in cases {
        let set = PolicySet {
            identity: identity(json!([allow("s3:*", "*")])),
            permission_boundaries: boundary.clone(),
            resource_policy: principal
                .map(|p| named("rp", json!([grant("Allow", p, "s3:GetObject")]))),
            ..PolicySet::default()
        };
        let e = evaluate(
            &request(caller, "s3:GetObject", BUCKET_OBJECT, ACCOUNT),
            &set,
        )
        .unwrap();
        assert_eq!(e.decision, want, "{name}");
        if want == Decision::ImplicitlyDenied {
            assert_eq!(e.blocked_by, vec![Layer::PermissionBoundary], "{name}");
        }
    }
}

#[test]
fn deny_with_not_principal_applies_to_principals_with_a_boundary() {
    let rp = Some(named(
        "rp",
        json!([{"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"}]),
    ));
    let req = request(ROLE, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let without = PolicySet {
        identity: identity(json!([allow("s3:*", "*")])),
        resource_policy: rp,
        ..PolicySet::default()
    };
    assert_eq!(decide(&req, &without), Decision::Allowed);
    let with = PolicySet {
        permission_boundaries: vec![named("boundary", json!([allow("*", "*")]))],
        ..without
    };
    assert_eq!(decide(&req, &with), Decision::ExplicitlyDenied);
}

#[test]
fn session_policy_limits_sessions() {
    let req = request(SESSION, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let set = |session: Value, rp: Option<Value>| PolicySet {
        identity: identity(json!([allow("s3:*", "*")])),
        session_policy: Some(named("session", session)),
        resource_policy: rp.map(|p| named("rp", json!([grant("Allow", p, "s3:GetObject")]))),
        ..PolicySet::default()
    };
    assert_eq!(
        decide(&req, &set(json!([allow("s3:*", "*")]), None)),
        Decision::Allowed
    );
    let e = evaluate(&req, &set(json!([allow("ec2:*", "*")]), None)).unwrap();
    assert_eq!(e.decision, Decision::ImplicitlyDenied);
    assert_eq!(e.blocked_by, vec![Layer::SessionPolicy]);
    // a session policy grants nothing by itself
    let nothing = PolicySet {
        identity: vec![],
        ..set(json!([allow("*", "*")]), None)
    };
    assert_eq!(decide(&req, &nothing), Decision::ImplicitlyDenied);
}

#[test]
fn cross_account_needs_both_sides() {
    let req = request(SESSION, "s3:GetObject", BUCKET_OBJECT, OTHER);
    let id = || identity(json!([allow("s3:GetObject", "*")]));
    let rp = |p: Value| Some(named("rp", json!([grant("Allow", p, "s3:GetObject")])));
    let cases = [
        (
            "identity only",
            id(),
            None,
            Decision::ImplicitlyDenied,
            vec![Layer::ResourcePolicy],
        ),
        (
            "resource policy only",
            vec![],
            rp(json!({"AWS": SESSION})),
            Decision::ImplicitlyDenied,
            vec![Layer::Identity],
        ),
        (
            "both, account delegation",
            id(),
            rp(json!({"AWS": ACCOUNT})),
            Decision::Allowed,
            vec![],
        ),
        (
            "both, role",
            id(),
            rp(json!({"AWS": ROLE})),
            Decision::Allowed,
            vec![],
        ),
        (
            "other account named",
            id(),
            rp(json!({"AWS": OTHER})),
            Decision::ImplicitlyDenied,
            vec![Layer::ResourcePolicy],
        ),
    ];
    for (name, identity, resource_policy, want, blocked) in cases {
        let set = PolicySet {
            identity,
            resource_policy,
            ..PolicySet::default()
        };
        let e = evaluate(&req, &set).unwrap();
        assert_eq!(e.decision, want, "{name}");
        assert_eq!(e.blocked_by, blocked, "{name}");
    }
}

#[test]
fn resource_account_comes_from_the_arn_when_not_given() {
    let set = PolicySet {
        identity: identity(json!([allow("kms:Decrypt", "*")])),
        ..PolicySet::default()
    };
    let other_key = "arn:aws:kms:eu-west-1:444455556666:key/1";
    let mut req = request(ROLE, "kms:Decrypt", other_key, ACCOUNT);
    req.resource_account = None;
    let e = evaluate(&req, &set).unwrap();
    assert_eq!(e.blocked_by, vec![Layer::ResourcePolicy]);
}

#[test]
fn kms_key_policy_must_allow() {
    let req = request(SESSION, "kms:Decrypt", KEY, ACCOUNT);
    let id = || identity(json!([allow("kms:Decrypt", KEY)]));
    let key_policy = |p: Value| Some(named("key policy", json!([grant("Allow", p, "kms:*")])));
    let cases = [
        (
            "no key policy",
            id(),
            None,
            Decision::ImplicitlyDenied,
            vec![Layer::ResourcePolicy],
        ),
        (
            "root delegation and identity",
            id(),
            key_policy(json!({"AWS": "arn:aws:iam::111122223333:root"})),
            Decision::Allowed,
            vec![],
        ),
        (
            "root delegation without identity",
            vec![],
            key_policy(json!({"AWS": "arn:aws:iam::111122223333:root"})),
            Decision::ImplicitlyDenied,
            vec![Layer::Identity],
        ),
        (
            "key policy names the role",
            vec![],
            key_policy(json!({"AWS": ROLE})),
            Decision::Allowed,
            vec![],
        ),
        (
            "key policy names someone else",
            id(),
            key_policy(json!({"AWS": USER})),
            Decision::ImplicitlyDenied,
            vec![Layer::ResourcePolicy],
        ),
    ];
    for (name, identity, resource_policy, want, blocked) in cases {
        let set = PolicySet {
            identity,
            resource_policy,
            ..PolicySet::default()
        };
        let e = evaluate(&req, &set).unwrap();
        assert_eq!(e.decision, want, "{name}");
        assert_eq!(e.blocked_by, blocked, "{name}");
    }
    // A key policy that was needed but is absent shows as not allowing.
    let e = evaluate(
        &req,
        &PolicySet {
            identity: id(),
            ..PolicySet::default()
        },
    )
    .unwrap();
    assert_eq!(
        layer(&e, Layer::ResourcePolicy).outcome,
        LayerOutcome::ImplicitlyDenied
    );
    // Actions on `*` (kms:ListKeys) need no key policy.
    let list = request(SESSION, "kms:ListKeys", "*", ACCOUNT);
    let set = PolicySet {
        identity: identity(json!([allow("kms:ListKeys", "*")])),
        ..PolicySet::default()
    };
    assert_eq!(decide(&list, &set), Decision::Allowed);
}

#[test]
fn role_trust_policy_must_allow_assume_role() {
    let target = "arn:aws:iam::111122223333:role/target";
    let trust = |p: Value| {
        Some(named(
            "trust policy",
            json!([{"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"}]),
        ))
    };
    let cases = [
        (
            "no trust",
            USER,
            vec![allow("sts:AssumeRole", target)],
            None,
            Decision::ImplicitlyDenied,
        ),
        (
            "trust names the user",
            USER,
            vec![],
            trust(json!({"AWS": USER})),
            Decision::Allowed,
        ),
        (
            "trust delegates to the account, identity allows",
            USER,
            vec![allow("sts:AssumeRole", target)],
            trust(json!({"AWS": ACCOUNT})),
            Decision::Allowed,
        ),
        (
            "trust delegates to the account only",
            USER,
            vec![],
            trust(json!({"AWS": ACCOUNT})),
            Decision::ImplicitlyDenied,
        ),
        (
            "service principal trusted",
            "backup.amazonaws.com",
            vec![],
            trust(json!({"Service": "backup.amazonaws.com"})),
            Decision::Allowed,
        ),
        (
            "other service",
            "ec2.amazonaws.com",
            vec![],
            trust(json!({"Service": "backup.amazonaws.com"})),
            Decision::ImplicitlyDenied,
        ),
    ];
    for (name, caller, statements, resource_policy, want) in cases {
        let set = PolicySet {
            identity: identity(Value::Array(statements)),
            resource_policy,
            ..PolicySet::default()
        };
        assert_eq!(
            decide(&request(caller, "sts:AssumeRole", target, ACCOUNT), &set),
            want,
            "{name}"
        );
    }
}

#[test]
fn aws_managed_policies_are_readable_not_writable() {
    let set = PolicySet {
        identity: identity(json!([allow("*", "*")])),
        ..PolicySet::default()
    };
    let managed = "arn:aws:iam::aws:policy/AdministratorAccess";
    assert_eq!(
        decide(&request(USER, "iam:GetPolicy", managed, ACCOUNT), &set),
        Decision::Allowed
    );
    assert_eq!(
        decide(&request(USER, "iam:DeletePolicy", managed, ACCOUNT), &set),
        Decision::ImplicitlyDenied
    );
}

#[test]
fn get_caller_identity_is_always_allowed() {
    let set = PolicySet {
        identity: identity(json!([deny("*", "*")])),
        ..PolicySet::default()
    };
    assert_eq!(
        decide(&request(USER, "sts:GetCallerIdentity", "*", ACCOUNT), &set),
        Decision::Allowed
    );
}

#[test]
fn anonymous_callers_need_a_public_resource_policy() {
    let req = request(Request::ANONYMOUS, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let rp = |p: Value| PolicySet {
        resource_policy: Some(named("rp", json!([grant("Allow", p, "s3:GetObject")]))),
        ..PolicySet::default()
    };
    assert_eq!(decide(&req, &rp(json!("*"))), Decision::Allowed);
    assert_eq!(
        decide(&req, &rp(json!({"AWS": ACCOUNT}))),
        Decision::ImplicitlyDenied
    );
    assert_eq!(
        decide(&req, &PolicySet::default()),
        Decision::ImplicitlyDenied
    );
}

#[test]
fn request_wildcards_as_resource_sets() {
    let pattern = EvaluateOptions {
        resource_wildcards: ResourceWildcards::Pattern,
    };
    let literal = EvaluateOptions::default();
    let set = |statements: Value| PolicySet {
        identity: identity(statements),
        ..PolicySet::default()
    };
    let req = request(USER, "s3:GetObject", "arn:aws:s3:::bucket/*", ACCOUNT);
    let cases = [
        (
            "allow on a subset counts",
            json!([allow("s3:GetObject", "arn:aws:s3:::bucket/public/*")]),
            Decision::Allowed,
            Decision::ImplicitlyDenied,
        ),
        (
            "deny on a subset does not",
            json!([
                allow("s3:*", "*"),
                deny("s3:GetObject", "arn:aws:s3:::bucket/private/*")
            ]),
            Decision::Allowed,
            Decision::Allowed,
        ),
        (
            "deny on a superset does",
            json!([allow("s3:*", "*"), deny("s3:GetObject", "arn:aws:s3:::*")]),
            Decision::ExplicitlyDenied,
            Decision::ExplicitlyDenied,
        ),
        (
            "disjoint allow",
            json!([allow("s3:GetObject", "arn:aws:s3:::other/*")]),
            Decision::ImplicitlyDenied,
            Decision::ImplicitlyDenied,
        ),
    ];
    for (name, statements, as_pattern, as_literal) in cases {
        assert_eq!(
            evaluate_with(&req, &set(statements.clone()), &pattern)
                .unwrap()
                .decision,
            as_pattern,
            "{name}"
        );
        assert_eq!(
            evaluate_with(&req, &set(statements), &literal)
                .unwrap()
                .decision,
            as_literal,
            "{name} (literal)"
        );
    }
}

#[test]
fn explanation_names_the_statements_and_layers() {
    let req = request(SESSION, "kms:Decrypt", KEY, ACCOUNT);
    let mut key_policy = named(
        "key policy",
        json!([
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}
        ]),
    );
    key_policy.name = format!("key policy of {KEY}");
    let set = PolicySet {
        identity: vec![
            named(
                "AWSBackupServiceRolePolicyForRestores",
                json!([allow("ec2:*", "*")]),
            ),
            named(
                "inline-kms",
                json!([
                    {"Sid": "Decrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                     "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}}
                ]),
            ),
        ],
        permission_boundaries: vec![named(
            "boundary",
            json!([deny("kms:*", "*"), allow("*", "*")]),
        )],
        resource_policy: Some(key_policy),
        ..PolicySet::default()
    };
    let e = evaluate(&req, &set).unwrap();
    assert_eq!(e.decision, Decision::ExplicitlyDenied);
    assert_eq!(e.blocked_by, vec![Layer::PermissionBoundary]);
    assert_eq!(
        layer(&e, Layer::PermissionBoundary).denied_by,
        vec![StatementRef {
            policy: "boundary".into(),
            sid: None,
            index: 0
        }]
    );
    assert_eq!(
        layer(&e, Layer::ResourcePolicy).allowed_by,
        vec![StatementRef {
            policy: format!("key policy of {KEY}"),
            sid: Some("Root".into()),
            index: 0
        }]
    );
    // The identity allow depends on a key the request lacks.
    assert_eq!(
        layer(&e, Layer::Identity).outcome,
        LayerOutcome::ImplicitlyDenied
    );
    assert_eq!(e.missing_context_keys, vec!["kms:ViaService".to_owned()]);
    assert_eq!(
        layer(&e, Layer::SessionPolicy).outcome,
        LayerOutcome::NotApplicable
    );
    let order: Vec<Layer> = e.layers.iter().map(|l| l.layer).collect();
    assert_eq!(
        order,
        vec![
            Layer::ResourcePolicy,
            Layer::Identity,
            Layer::PermissionBoundary,
            Layer::SessionPolicy
        ]
    );
}

#[test]
fn explanation_serializes_with_camel_case_names() {
    let req = request(USER, "s3:GetObject", BUCKET_OBJECT, ACCOUNT);
    let e = evaluate(&req, &PolicySet::default()).unwrap();
    let value = serde_json::to_value(&e).unwrap();
    assert_eq!(value["decision"], "ImplicitlyDenied");
    assert_eq!(value["blockedBy"], json!(["identity"]));
    assert!(value["missingContextKeys"].as_array().unwrap().is_empty());
}
