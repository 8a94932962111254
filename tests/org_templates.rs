//! The organization deployment (issue #12): what `template.yaml` adds with an
//! `OrganizationId`, what `member.yaml` creates in every member account and what
//! `organization.yaml` creates in the management account, checked on the templates
//! themselves with the project's own evaluator. The trust and bus policies let in the
//! central function's role and the organization's forwarders only; the reader role can
//! do exactly what the function reads, the fixer only put a role policy on opted-in
//! roles; and without an `OrganizationId` the central stack is what it was. Readiness
//! across the organization (issue #13): the member accounts listed in `ReadinessAccounts`
//! reach the function's settings, their change events the bus and its rules, only in
//! organization mode with a readiness mode on. What a member account cannot forward waits
//! in its stack's dead-letter queue, which only EventBridge may fill, for that stack's
//! forwarding rules only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sam_template;

use std::collections::{BTreeMap, BTreeSet};

use restore_doctor::policy::{
    evaluate, ContextValue, Decision, Evaluation, NamedPolicy, PolicySet, Request,
};
use sam_template::{
    allowed_by_pattern, evaluate_conditions, function_role_policies, resource, role_policies,
    template, template_file, Deployment, ACCOUNT, FUNCTION_ROLE, FUNCTION_SESSION, OPT_IN_TAG,
    OTHER_ACCOUNT, REGION,
};
use serde_json::{json, Value};

const ORG: &str = "o-a1b2c3d4e5";
const OTHER_ORG: &str = "o-z9y8x7w6v5";
/// The member account whose restore failed.
const MEMBER: &str = OTHER_ACCOUNT;
/// An account of another organization.
const STRANGER: &str = "777788889999";
const BUS_NAME: &str = "restore-doctor-restore-events";
const ORG_READ_ROLE: &str = "arn:aws:iam::999900001111:role/RestoreDoctorOrganizationReader";

fn bus_arn() -> String {
    format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS_NAME}")
}

fn decide(request: &Request, policies: &PolicySet) -> Evaluation {
    evaluate(request, policies).unwrap()
}

/// The central stack deployed with `OrganizationId` (and the organization read role),
/// auto-attach as given.
fn central(auto_attach: bool) -> Deployment {
    let mut d = Deployment::new(true);
    d.values.insert("OrganizationId", ORG.to_owned());
    d.values
        .insert("OrganizationReadRoleArn", ORG_READ_ROLE.to_owned());
    d.values.insert("OrganizationEventBus", BUS_NAME.to_owned());
    d.values.insert("OrganizationEventBus.Arn", bus_arn());
    d.values.insert(
        "RestoreDoctorFunction.Arn",
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:restore-doctor"),
    );
    d.conditions.insert("OrganizationMode", true);
    d.conditions.insert("ReadOrganizationPolicies", true);
    d.conditions.insert("AutoAttachOn", auto_attach);
    d.conditions.insert("FixInMemberAccounts", auto_attach);
    d
}

/// `member.yaml` deployed in `account`, in its roles Region, with the central stack's
/// outputs; `patterns` opts roles in by ARN pattern besides the tag.
fn member(account: &str, auto_attach: bool, patterns: &str) -> Deployment {
    let mut d = Deployment::in_account(account);
    d.values.insert("CentralEventBusArn", bus_arn());
    d.values
        .insert("CentralFunctionRoleArn", FUNCTION_ROLE.to_owned());
    d.values.insert("OrganizationId", ORG.to_owned());
    d.values.insert("AutoAttachTag", OPT_IN_TAG.to_owned());
    d.values
        .insert("AutoAttachRolePatterns", patterns.to_owned());
    d.values.insert(
        "ForwarderRole.Arn",
        format!("arn:aws:iam::{account}:role/RestoreDoctorForwarder-{REGION}"),
    );
    d.conditions.insert("CreateRoles", true);
    d.conditions.insert("CreateFixer", auto_attach);
    d.conditions
        .insert("FixByPattern", auto_attach && !patterns.is_empty());
    d.conditions.insert("GrantReadinessReads", false);
    d.conditions.insert("ForwardChanges", false);
    d
}

fn trust_policy(template: &Value, role: &str, d: &Deployment) -> NamedPolicy {
    d.policy(
        &format!("trust policy of {role}"),
        &resource(template, role)["Properties"]["AssumeRolePolicyDocument"],
    )
}

/// With `ReadinessReads=true`, the reader role also lists what could be restored
/// (`restore-doctor readiness --account`): exactly the CLI's and the central function's
/// `ReadinessReads` statement, and nothing without it.
#[test]
fn the_reader_role_has_the_readiness_listings_only_when_asked() {
    let member_template = template_file("member.yaml");
    let mut d = member(MEMBER, false, "");
    let without = role_policies(&member_template, "ReaderRole", &d);
    assert_eq!(without.len(), 1, "{without:#?}");
    assert!(!statements(&without[0]).contains_key("ReadinessReads"));
    d.conditions.insert("GrantReadinessReads", true);
    let with = role_policies(&member_template, "ReaderRole", &d);
    assert_eq!(with.len(), 2, "{with:#?}");
    assert_eq!(with[0], without[0], "the gathering's reads are unchanged");
    let readiness = statements(&with[1]);
    assert_eq!(readiness.keys().collect::<Vec<_>>(), ["ReadinessReads"]);

    let cli: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/cli-read-policy.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cli_statement = cli["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ReadinessReads")
        .unwrap();
    let cli_policy = restore_doctor::policy::Policy::from_value(&json!({
        "Version": "2012-10-17", "Statement": [cli_statement]
    }))
    .unwrap()
    .to_value();
    assert_eq!(readiness["ReadinessReads"], cli_policy["Statement"][0]);

    let mut central = Deployment::new(true);
    central.conditions.insert("ReadinessOn", true);
    central.conditions.insert("ChangeChecks", true);
    let function = function_role_policies(&template(), &central);
    let function_readiness = function.iter().find(|p| p.name == "readiness").unwrap();
    assert_eq!(
        readiness["ReadinessReads"],
        statements(function_readiness)["ReadinessReads"]
    );
}

/// `sts:AssumeRole` of `role_name` in `account` by a session of `caller_role`, whose
/// account belongs to `caller_org`; the role's account to `role_org`.
fn assume(caller_role: &str, caller_org: &str, account: &str, role_name: &str) -> Request {
    let caller_account = caller_role.split(':').nth(4).unwrap();
    let name = caller_role.rsplit('/').next().unwrap();
    let role_org = if account == STRANGER { OTHER_ORG } else { ORG };
    Request {
        principal: format!("arn:aws:sts::{caller_account}:assumed-role/{name}/restore-doctor"),
        action: "sts:AssumeRole".into(),
        resource: format!("arn:aws:iam::{account}:role/{role_name}"),
        resource_account: Some(account.into()),
        context: BTreeMap::from([
            (
                "aws:PrincipalArn".into(),
                ContextValue::One(caller_role.into()),
            ),
            (
                "aws:PrincipalOrgID".into(),
                ContextValue::One(caller_org.into()),
            ),
            (
                "aws:PrincipalAccount".into(),
                ContextValue::One(caller_account.into()),
            ),
            (
                "aws:ResourceOrgID".into(),
                ContextValue::One(role_org.into()),
            ),
            (
                "aws:ResourceAccount".into(),
                ContextValue::One(account.into()),
            ),
        ]),
    }
}

/// Whether `request` is allowed with the caller's `identity` policies and the role's
/// `trust` policy (cross-account: both must allow).
fn allowed(request: &Request, identity: &[NamedPolicy], trust: &NamedPolicy) -> bool {
    let eval = decide(
        request,
        &PolicySet {
            identity: identity.to_vec(),
            resource_policy: Some(trust.clone()),
            ..PolicySet::default()
        },
    );
    eval.decision == Decision::Allowed
}

/// A trust policy that leaves the decision to the central account's IAM policies.
fn trusting_the_central_account() -> NamedPolicy {
    NamedPolicy {
        name: "a trust policy that trusts the central account".into(),
        policy: restore_doctor::policy::Policy::from_value(&json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]
        }))
        .unwrap(),
    }
}

fn administrator_access() -> NamedPolicy {
    NamedPolicy {
        name: "AdministratorAccess".into(),
        policy: restore_doctor::policy::Policy::from_value(&json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        }))
        .unwrap(),
    }
}

#[test]
fn the_member_roles_trust_the_central_function_role_of_the_organization_only() {
    let central_template = template();
    let member_template = template_file("member.yaml");
    let m = member(MEMBER, true, "");
    let function = function_role_policies(&central_template, &central(true));
    let admin = vec![administrator_access()];
    for role in ["ReaderRole", "FixerRole"] {
        let name = resource(&member_template, role)["Properties"]["RoleName"]
            .as_str()
            .unwrap()
            .to_owned();
        let trust = trust_policy(&member_template, role, &m);
        // The central function: allowed, by its own policy and the role's trust.
        let ok = assume(FUNCTION_ROLE, ORG, MEMBER, &name);
        assert!(allowed(&ok, &function, &trust), "{role}");
        // Anyone else of the central account, even an administrator: refused.
        let other_role = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
        assert!(
            !allowed(&assume(&other_role, ORG, MEMBER, &name), &admin, &trust),
            "{role}"
        );
        // The function's role name in another account: refused.
        let look_alike = FUNCTION_ROLE.replace(ACCOUNT, STRANGER);
        assert!(
            !allowed(&assume(&look_alike, ORG, MEMBER, &name), &admin, &trust),
            "{role}"
        );
        // The central account outside the organization (moved to another one): refused.
        assert!(
            !allowed(
                &assume(FUNCTION_ROLE, OTHER_ORG, MEMBER, &name),
                &function,
                &trust
            ),
            "{role}"
        );
        // An administrator of the member account itself is not trusted either.
        let local_admin = format!("arn:aws:iam::{MEMBER}:role/Admin");
        assert!(
            !allowed(&assume(&local_admin, ORG, MEMBER, &name), &admin, &trust),
            "{role}"
        );
    }
}

#[test]
fn the_function_may_assume_those_role_names_in_accounts_of_its_organization_only() {
    let central_template = template();
    let everyone = trusting_the_central_account();
    let may = |d: &Deployment, account: &str, role: &str| {
        allowed(
            &assume(FUNCTION_ROLE, ORG, account, role),
            &function_role_policies(&central_template, d),
            &everyone,
        )
    };
    let propose_only = central(false);
    let auto = central(true);
    assert!(may(&propose_only, MEMBER, "RestoreDoctorReader"));
    assert!(!may(&propose_only, MEMBER, "RestoreDoctorFixer"));
    assert!(may(&auto, MEMBER, "RestoreDoctorFixer"));
    for d in [&propose_only, &auto] {
        // Another role name, an account of another organization, its own account.
        assert!(!may(d, MEMBER, "OrganizationAccountAccessRole"));
        assert!(!may(d, MEMBER, "Admin"));
        assert!(!may(d, STRANGER, "RestoreDoctorReader"));
        assert!(!may(d, ACCOUNT, "RestoreDoctorReader"));
    }
    // The organization read role, by its ARN.
    let read_role_account = ORG_READ_ROLE.split(':').nth(4).unwrap();
    assert!(may(
        &propose_only,
        read_role_account,
        "RestoreDoctorOrganizationReader"
    ));
    let mut without_read_role = central(false);
    without_read_role
        .conditions
        .insert("ReadOrganizationPolicies", false);
    assert!(!may(
        &without_read_role,
        read_role_account,
        "RestoreDoctorOrganizationReader"
    ));
}

/// Auto-attach in a member account goes only through its `RestoreDoctorFixer`: the
/// central function may assume that role only when deployed with auto-attach, only in
/// accounts of its organization and never in its own, and the fixer's trust lets in the
/// central function's role of that organization only.
#[test]
fn the_fixer_role_is_assumed_by_the_central_function_of_the_organization_only() {
    let central_template = template();
    let member_template = template_file("member.yaml");
    let fixer = "RestoreDoctorFixer";
    let trust = trust_policy(&member_template, "FixerRole", &member(MEMBER, true, ""));
    let auto = function_role_policies(&central_template, &central(true));
    let propose_only = function_role_policies(&central_template, &central(false));
    assert!(allowed(
        &assume(FUNCTION_ROLE, ORG, MEMBER, fixer),
        &auto,
        &trust
    ));
    // Deployed to propose only, the function's role has no statement for the fixer.
    assert!(!allowed(
        &assume(FUNCTION_ROLE, ORG, MEMBER, fixer),
        &propose_only,
        &trust
    ));
    // An account of another organization (its fixer trusting the function all the
    // same), and the function's own account: the function's own policy refuses.
    for account in [STRANGER, ACCOUNT] {
        let lenient = trust_policy(&member_template, "FixerRole", &member(account, true, ""));
        assert!(
            !allowed(&assume(FUNCTION_ROLE, ORG, account, fixer), &auto, &lenient),
            "{account}"
        );
    }
    // The central function's session after its account left the organization.
    assert!(!allowed(
        &assume(FUNCTION_ROLE, OTHER_ORG, MEMBER, fixer),
        &auto,
        &trust
    ));
    // The statement itself: the fixer role name in any account of the organization
    // (aws:ResourceOrgID), never the function's own account.
    let statement = statements(
        auto.iter()
            .find(|p| statements(p).contains_key("AssumeFixerRolesOfTheOrganization"))
            .unwrap(),
    )["AssumeFixerRolesOfTheOrganization"]
        .clone();
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(
        statement["Resource"],
        format!("arn:aws:iam::*:role/{fixer}")
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:ResourceOrgID"],
        ORG
    );
    assert_eq!(
        statement["Condition"]["StringNotEquals"]["aws:ResourceAccount"],
        ACCOUNT
    );
    // And the trust: the central account, with the function's role and the organization
    // as conditions.
    let trusted = &statements(&trust)["TheCentralFunctionOnly"];
    assert_eq!(
        trusted["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        FUNCTION_ROLE
    );
    assert_eq!(
        trusted["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        ORG
    );
}

/// The statements of one policy by Sid, as JSON.
fn statements(policy: &NamedPolicy) -> BTreeMap<String, Value> {
    policy.policy.to_value()["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

#[test]
fn the_reader_role_reads_exactly_what_the_function_reads() {
    let central_template = template();
    let member_template = template_file("member.yaml");
    let function = function_role_policies(&central_template, &Deployment::new(true));
    let gather = function
        .iter()
        .find(|p| p.name == "gather-evidence")
        .unwrap();
    let reader = role_policies(&member_template, "ReaderRole", &member(MEMBER, false, ""));
    assert_eq!(reader.len(), 1, "the reader has one policy: {reader:#?}");
    let ours = statements(gather);
    let theirs = statements(&reader[0]);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (sid, statement) in &ours {
        // The same statement, on the member's resources; one role serves every Region.
        let text = statement
            .to_string()
            .replace(&format!(":{REGION}:"), ":*:")
            .replace(ACCOUNT, MEMBER);
        let expected: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&theirs[sid], &expected, "{sid}");
    }
    // And, read as sets, the actions: no more, no less.
    let actions = |policy: &NamedPolicy| -> BTreeSet<String> {
        let value = policy.policy.to_value();
        value["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{other}"),
            })
            .collect()
    };
    assert_eq!(actions(gather), actions(&reader[0]));
    assert!(actions(&reader[0])
        .iter()
        .all(|a| !a.contains('*') && !a.contains("Put") && !a.contains("Create")));
}

fn put_role_policy(account: &str, role: &str, action: &str, tags: &[(&str, &str)]) -> Request {
    let mut context = BTreeMap::from([(
        "aws:PrincipalArn".to_owned(),
        ContextValue::One(format!("arn:aws:iam::{account}:role/RestoreDoctorFixer")),
    )]);
    for (k, v) in tags {
        context.insert(
            format!("aws:ResourceTag/{k}"),
            ContextValue::One((*v).into()),
        );
    }
    Request {
        principal: format!("arn:aws:sts::{account}:assumed-role/RestoreDoctorFixer/restore-doctor"),
        action: action.into(),
        resource: format!("arn:aws:iam::{account}:role/{role}"),
        resource_account: Some(account.into()),
        context,
    }
}

#[test]
fn the_fixer_can_only_put_a_role_policy_on_opted_in_roles() {
    let member_template = template_file("member.yaml");
    let fixer = |patterns: &str| PolicySet {
        identity: role_policies(
            &member_template,
            "FixerRole",
            &member(MEMBER, true, patterns),
        ),
        ..PolicySet::default()
    };
    let tagged: &[(&str, &str)] = &[(OPT_IN_TAG, "true")];
    let untagged: &[(&str, &str)] = &[("team", "storage")];
    let by_tag = fixer("");
    let may = |set: &PolicySet, role: &str, action: &str, tags: &[(&str, &str)]| {
        decide(&put_role_policy(MEMBER, role, action, tags), set).decision == Decision::Allowed
    };
    assert!(may(
        &by_tag,
        "BackupRestoreRole",
        "iam:PutRolePolicy",
        tagged
    ));
    assert!(!may(
        &by_tag,
        "BackupRestoreRole",
        "iam:PutRolePolicy",
        untagged
    ));
    for action in [
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:PassRole",
        "iam:PutRolePermissionsBoundary",
        "backup:StartRestoreJob",
        "iam:GetRole",
    ] {
        assert!(
            !may(&by_tag, "BackupRestoreRole", action, tagged),
            "{action}"
        );
    }
    // By pattern, as the central stack's AutoAttachRolePatterns.
    let patterns = format!("arn:aws:iam::{MEMBER}:role/service-role/Backup*");
    let by_pattern = fixer(&patterns);
    assert!(may(
        &by_pattern,
        "service-role/BackupRestores",
        "iam:PutRolePolicy",
        untagged
    ));
    assert!(!may(&by_pattern, "Other", "iam:PutRolePolicy", untagged));
    assert!(!may(
        &by_pattern,
        "service-role/BackupRestores",
        "iam:AttachRolePolicy",
        untagged
    ));
    // The same tag rule as the central stack's own auto-attach statement.
    let central_template = template();
    let own = function_role_policies(&central_template, &central(true));
    let own_tagged = own
        .iter()
        .find(|p| p.name == "auto-attach-tagged-roles")
        .unwrap();
    let member_tagged = by_tag
        .identity
        .iter()
        .find(|p| p.name == "auto-attach-tagged-roles")
        .unwrap();
    assert_eq!(
        own_tagged
            .policy
            .to_value()
            .to_string()
            .replace(ACCOUNT, MEMBER),
        member_tagged.policy.to_value().to_string()
    );
}

#[test]
fn member_roles_exist_once_per_account_and_the_fixer_only_when_opted_in() {
    let t = template_file("member.yaml");
    assert_eq!(
        t["Conditions"]["CreateRoles"],
        json!({"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RolesRegion"}]})
    );
    assert_eq!(
        t["Conditions"]["CreateFixer"]["Fn::And"][0],
        json!({"Condition": "CreateRoles"})
    );
    assert_eq!(
        t["Conditions"]["CreateFixer"]["Fn::And"][1],
        json!({"Fn::Equals": [{"Ref": "AutoAttach"}, "true"]})
    );
    assert_eq!(t["Parameters"]["AutoAttach"]["Default"], "false");
    assert_eq!(resource(&t, "ReaderRole")["Condition"], "CreateRoles");
    assert_eq!(resource(&t, "FixerRole")["Condition"], "CreateFixer");
    // Every other role is Region-specific by name: no two instances collide.
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] == "AWS::IAM::Role" && r.get("Condition").is_none() {
            let role_name = Deployment::in_account(MEMBER)
                .resolve(&r["Properties"]["RoleName"])
                .unwrap();
            assert!(
                role_name.as_str().unwrap().ends_with(REGION),
                "{name}: {role_name}"
            );
        }
    }
}

fn put_events(
    forwarder_account: &str,
    org: &str,
    role: &str,
    source: &str,
    detail_type: &str,
) -> Request {
    let role_arn = format!("arn:aws:iam::{forwarder_account}:role/{role}");
    Request {
        principal: format!("arn:aws:sts::{forwarder_account}:assumed-role/{role}/events"),
        action: "events:PutEvents".into(),
        resource: bus_arn(),
        resource_account: Some(ACCOUNT.into()),
        context: BTreeMap::from([
            ("aws:PrincipalArn".into(), ContextValue::One(role_arn)),
            ("aws:PrincipalOrgID".into(), ContextValue::One(org.into())),
            (
                "events:source".into(),
                ContextValue::Many(vec![source.into()]),
            ),
            (
                "events:detail-type".into(),
                ContextValue::One(detail_type.into()),
            ),
        ]),
    }
}

#[test]
fn the_bus_takes_the_two_restore_events_from_the_organizations_forwarders_only() {
    let central_template = template();
    let d = central(false);
    let bus = resource(&central_template, "OrganizationEventBus");
    assert_eq!(bus["Condition"], "OrganizationMode");
    let bus_policy = d.policy("bus policy", &bus["Properties"]["Policy"]);
    let member_template = template_file("member.yaml");
    let forwarder = role_policies(
        &member_template,
        "ForwarderRole",
        &member(MEMBER, false, ""),
    );
    let set = |identity: Vec<NamedPolicy>| PolicySet {
        identity,
        resource_policy: Some(bus_policy.clone()),
        ..PolicySet::default()
    };
    let forwarder_name = format!("RestoreDoctorForwarder-{REGION}");
    let failed = "Restore Job State Change";
    let refused = "AWS API Call via CloudTrail";
    for detail_type in [failed, refused] {
        let eval = decide(
            &put_events(MEMBER, ORG, &forwarder_name, "aws.backup", detail_type),
            &set(forwarder.clone()),
        );
        assert_eq!(eval.decision, Decision::Allowed, "{detail_type}: {eval:#?}");
    }
    let admin = set(vec![administrator_access()]);
    for (request, why) in [
        (
            put_events(STRANGER, OTHER_ORG, &forwarder_name, "aws.backup", failed),
            "another organization",
        ),
        (
            put_events(MEMBER, ORG, "Admin", "aws.backup", failed),
            "another role of the organization",
        ),
        (
            put_events(MEMBER, ORG, &forwarder_name, "my.app", failed),
            "another source",
        ),
        (
            put_events(
                MEMBER,
                ORG,
                &forwarder_name,
                "aws.backup",
                "Backup Job State Change",
            ),
            "another event",
        ),
    ] {
        let eval = decide(&request, &admin);
        assert_ne!(eval.decision, Decision::Allowed, "{why}: {eval:#?}");
    }
    // The forwarder may put events on that bus and nowhere else.
    let elsewhere = Request {
        resource: format!("arn:aws:events:{REGION}:{STRANGER}:event-bus/default"),
        resource_account: Some(STRANGER.into()),
        ..put_events(MEMBER, ORG, &forwarder_name, "aws.backup", failed)
    };
    let anyone = NamedPolicy {
        name: "a bus open to anyone".into(),
        policy: restore_doctor::policy::Policy::from_value(&json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": "*"}]
        }))
        .unwrap(),
    };
    let eval = decide(
        &elsewhere,
        &PolicySet {
            identity: forwarder,
            resource_policy: Some(anyone),
            ..PolicySet::default()
        },
    );
    assert_ne!(eval.decision, Decision::Allowed, "{eval:#?}");
}

/// The event pattern of the function's own rule `rule` (SAM event source).
fn own_pattern(template: &Value, rule: &str) -> Value {
    resource(template, "RestoreDoctorFunction")["Properties"]["Events"][rule]["Properties"]
        ["Pattern"]
        .clone()
}

#[test]
fn every_rule_of_the_organization_matches_what_the_accounts_own_rules_match() {
    let central_template = template();
    let member_template = template_file("member.yaml");
    for (own, org, forwarding) in [
        (
            "RestoreJobFailed",
            "OrganizationRestoreJobFailed",
            "RestoreJobFailed",
        ),
        (
            "StartRestoreJobDenied",
            "OrganizationStartRestoreJobDenied",
            "StartRestoreJobDenied",
        ),
    ] {
        let own_pattern = own_pattern(&central_template, own);
        // The central bus: the same events, from every account but the central one
        // (its own arrive on its default bus).
        let rule = resource(&central_template, org);
        assert_eq!(rule["Condition"], "OrganizationMode");
        let mut expected = own_pattern.clone();
        expected["account"] = json!([{"anything-but": {"Ref": "AWS::AccountId"}}]);
        assert_eq!(rule["Properties"]["EventPattern"], expected, "{org}");
        assert_eq!(
            rule["Properties"]["EventBusName"],
            json!({"Ref": "OrganizationEventBus"})
        );
        let target = &rule["Properties"]["Targets"][0];
        assert_eq!(
            target["Arn"],
            json!({"Fn::GetAtt": ["RestoreDoctorFunction", "Arn"]})
        );
        assert_eq!(
            target["DeadLetterConfig"]["Arn"],
            json!({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
        );
        // The member account: the same events of its own account, to the central bus.
        let forward = resource(&member_template, forwarding);
        assert_eq!(
            forward["Properties"]["EventPattern"], own_pattern,
            "{forwarding}"
        );
        let target = &forward["Properties"]["Targets"][0];
        assert_eq!(target["Arn"], json!({"Ref": "CentralEventBusArn"}));
        assert_eq!(
            target["RoleArn"],
            json!({"Fn::GetAtt": ["ForwarderRole", "Arn"]})
        );
    }
}

#[test]
fn without_an_organization_id_the_central_stack_creates_nothing_of_the_organization() {
    let t = template();
    assert_eq!(t["Parameters"]["OrganizationId"]["Default"], "");
    assert_eq!(
        t["Conditions"]["OrganizationMode"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]})
    );
    // Every condition that creates something of the organization requires OrganizationMode.
    for name in ["FixInMemberAccounts", "ReadOrganizationPolicies"] {
        assert_eq!(
            t["Conditions"][name]["Fn::And"][0],
            json!({"Condition": "OrganizationMode"}),
            "{name}"
        );
    }
    let mut single = Deployment::new(true);
    for (key, rule) in [
        (
            "RestoreDoctorFunctionRestoreJobFailed.Arn",
            "RestoreJobFailed",
        ),
        (
            "RestoreDoctorFunctionStartRestoreJobDenied.Arn",
            "StartRestoreJobDenied",
        ),
    ] {
        let arn = format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/restore-doctor-{rule}");
        single.values.insert(key, arn);
    }
    let created: Vec<(&String, &Value)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| match r.get("Condition").and_then(Value::as_str) {
            None => true,
            Some(c) => *single.conditions.get(c).unwrap_or(&true),
        })
        .collect();
    for (name, r) in &created {
        assert!(
            !matches!(
                r["Type"].as_str().unwrap(),
                "AWS::Events::EventBus" | "AWS::Events::Rule" | "AWS::Lambda::Permission"
            ),
            "{name} exists in single-account mode"
        );
    }
    for org_resource in [
        "OrganizationEventBus",
        "OrganizationRestoreJobFailed",
        "OrganizationStartRestoreJobDenied",
        "OrganizationRestoreJobFailedInvoke",
        "OrganizationStartRestoreJobDeniedInvoke",
    ] {
        assert_eq!(
            resource(&t, org_resource)["Condition"],
            "OrganizationMode",
            "{org_resource}"
        );
    }
    // No AssumeRole, no organization setting, the same two rules to the dead-letter queue.
    let text = serde_json::to_string(
        &function_role_policies(&t, &single)
            .iter()
            .map(|p| p.policy.to_value())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!text.contains("sts:AssumeRole"), "{text}");
    let variables =
        &resource(&t, "RestoreDoctorFunction")["Properties"]["Environment"]["Variables"];
    for org_setting in [
        "ORGANIZATION_ID",
        "MEMBER_READER_ROLE",
        "MEMBER_FIXER_ROLE",
        "ORGANIZATION_READ_ROLE_ARN",
    ] {
        assert!(variables[org_setting].is_object(), "{org_setting}");
        assert_eq!(
            single.resolve(&variables[org_setting]),
            None,
            "{org_setting}"
        );
    }
    let dlq = single
        .resolve(&resource(&t, "DeadLetterQueuePolicy")["Properties"]["PolicyDocument"])
        .unwrap();
    assert_eq!(
        dlq["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for output in ["FunctionRoleArn", "OrganizationEventBusArn"] {
        assert_eq!(t["Outputs"][output]["Condition"], "OrganizationMode");
    }
    // With it, the settings the function reads are there.
    let org = central(true);
    for (name, value) in [
        ("ORGANIZATION_ID", ORG),
        ("MEMBER_READER_ROLE", "RestoreDoctorReader"),
        ("MEMBER_FIXER_ROLE", "RestoreDoctorFixer"),
        ("ORGANIZATION_READ_ROLE_ARN", ORG_READ_ROLE),
    ] {
        assert_eq!(org.resolve(&variables[name]), Some(json!(value)), "{name}");
    }
}

fn org_read(action: &str, resource: &str, policy_type: Option<&str>) -> Request {
    let mut context = BTreeMap::new();
    if let Some(t) = policy_type {
        context.insert(
            "organizations:PolicyType".to_owned(),
            ContextValue::One(t.into()),
        );
    }
    Request {
        principal:
            "arn:aws:sts::999900001111:assumed-role/RestoreDoctorOrganizationReader/restore-doctor"
                .into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: Some("999900001111".into()),
        context,
    }
}

#[test]
fn the_organization_read_role_reads_control_policies_of_its_organization_only() {
    let t = template_file("organization.yaml");
    let mut d = Deployment::in_account("999900001111");
    d.values
        .insert("CentralFunctionRoleArn", FUNCTION_ROLE.to_owned());
    d.values.insert("OrganizationId", ORG.to_owned());
    let trust = trust_policy(&t, "OrganizationReadRole", &d);
    let function = function_role_policies(&template(), &central(false));
    let name = "RestoreDoctorOrganizationReader";
    assert!(allowed(
        &assume(FUNCTION_ROLE, ORG, "999900001111", name),
        &function,
        &trust
    ));
    let other = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
    assert!(!allowed(
        &assume(&other, ORG, "999900001111", name),
        &[administrator_access()],
        &trust
    ));
    assert!(!allowed(
        &assume(FUNCTION_ROLE, OTHER_ORG, "999900001111", name),
        &function,
        &trust
    ));

    let set = PolicySet {
        identity: role_policies(&t, "OrganizationReadRole", &d),
        ..PolicySet::default()
    };
    let account = format!("arn:aws:organizations::999900001111:account/{ORG}/{MEMBER}");
    let ou = format!("arn:aws:organizations::999900001111:ou/{ORG}/ou-ab12-cdef3456");
    let root = format!("arn:aws:organizations::999900001111:root/{ORG}/r-ab12");
    let scp = format!(
        "arn:aws:organizations::999900001111:policy/{ORG}/service_control_policy/p-abcd1234"
    );
    let rcp = format!(
        "arn:aws:organizations::999900001111:policy/{ORG}/resource_control_policy/p-abcd5678"
    );
    let full_access = "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess";
    let tag_policy =
        format!("arn:aws:organizations::999900001111:policy/{ORG}/tag_policy/p-abcd9999");
    let other_org_scp = format!(
        "arn:aws:organizations::123412341234:policy/{OTHER_ORG}/service_control_policy/p-abcd1234"
    );
    let cases: Vec<(Request, bool)> = vec![
        (org_read("organizations:ListParents", &account, None), true),
        (org_read("organizations:ListParents", &ou, None), true),
        (
            org_read(
                "organizations:ListPoliciesForTarget",
                &account,
                Some("SERVICE_CONTROL_POLICY"),
            ),
            true,
        ),
        (
            org_read(
                "organizations:ListPoliciesForTarget",
                &root,
                Some("RESOURCE_CONTROL_POLICY"),
            ),
            true,
        ),
        (
            org_read(
                "organizations:ListPoliciesForTarget",
                &ou,
                Some("TAG_POLICY"),
            ),
            false,
        ),
        (org_read("organizations:DescribePolicy", &scp, None), true),
        (org_read("organizations:DescribePolicy", &rcp, None), true),
        (
            org_read("organizations:DescribePolicy", full_access, None),
            true,
        ),
        (
            org_read("organizations:DescribePolicy", &tag_policy, None),
            false,
        ),
        (
            org_read("organizations:DescribePolicy", &other_org_scp, None),
            false,
        ),
        (org_read("organizations:ListAccounts", "*", None), false),
        (
            org_read("organizations:DescribeAccount", &account, None),
            false,
        ),
        (org_read("organizations:AttachPolicy", &scp, None), false),
        (org_read("organizations:UpdatePolicy", &scp, None), false),
    ];
    for (request, expected) in cases {
        let eval = decide(&request, &set);
        assert_eq!(
            eval.decision == Decision::Allowed,
            expected,
            "{} on {}: {eval:#?}",
            request.action,
            request.resource
        );
    }
}

#[test]
fn the_function_session_used_in_the_tests_is_the_function_role() {
    // Guards the helpers above: `assume` builds the function's session from its role.
    let r = assume(FUNCTION_ROLE, ORG, MEMBER, "RestoreDoctorReader");
    assert_eq!(r.principal, FUNCTION_SESSION);
}

/// Member accounts the central stack's readiness also reads (`ReadinessAccounts`).
const LISTED: [&str; 2] = [MEMBER, "555566667777"];
/// The central stack's own change rules, the organization's for the listed accounts, and
/// member.yaml's forwarding ones.
const CHANGE_RULES: [(&str, &str, &str); 3] = [
    (
        "ReadinessRoleChange",
        "OrganizationRoleChange",
        "RoleChange",
    ),
    ("ReadinessKeyChange", "OrganizationKeyChange", "KeyChange"),
    (
        "ReadinessVaultPolicyChange",
        "OrganizationVaultPolicyChange",
        "VaultPolicyChange",
    ),
];

/// The central stack in organization mode (as `central(false)`) with `parameters` on
/// top, every condition as CloudFormation evaluates it from them, and an ARN for each of
/// its rules.
fn central_with(template: &Value, parameters: &[(&'static str, &str)]) -> Deployment {
    let mut d = central(false);
    let mut all = vec![
        ("OrganizationId", ORG),
        ("OrganizationReadRoleArn", ORG_READ_ROLE),
    ];
    all.extend_from_slice(parameters);
    let evaluated = evaluate_conditions(template, &all);
    for (name, holds) in d.conditions.iter_mut() {
        *holds = evaluated[*name];
    }
    for (name, value) in all {
        d.values.insert(name, value.to_owned());
    }
    for key in [
        "RestoreDoctorFunctionRestoreJobFailed.Arn",
        "RestoreDoctorFunctionStartRestoreJobDenied.Arn",
        "OrganizationRestoreJobFailed.Arn",
        "OrganizationStartRestoreJobDenied.Arn",
        "ReadinessRoleChange.Arn",
        "ReadinessKeyChange.Arn",
        "ReadinessVaultPolicyChange.Arn",
        "OrganizationRoleChange.Arn",
        "OrganizationKeyChange.Arn",
        "OrganizationVaultPolicyChange.Arn",
    ] {
        let rule = key.trim_end_matches(".Arn");
        d.values.insert(
            key,
            format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/restore-doctor-{rule}"),
        );
    }
    d
}

/// The central stack with member change checks on: organization mode, change-triggered
/// checks, `LISTED` accounts.
fn central_checking_member_changes(template: &Value) -> Deployment {
    central_with(
        template,
        &[
            ("ChangeTriggeredChecks", "true"),
            ("ReadinessAccounts", &LISTED.join(",")),
        ],
    )
}

/// Whether `condition` holds in `d` (the test gives every condition it reads).
fn holds(d: &Deployment, condition: &str) -> bool {
    *d.conditions
        .get(condition)
        .unwrap_or_else(|| panic!("the test sets no condition `{condition}`"))
}

/// `READINESS_ACCOUNTS` reaches the function only with an `OrganizationId`, a readiness
/// mode on and accounts listed; the organization's change rules, their invoke permissions,
/// their dead-letter queue entries and the bus's change statement exist only when the
/// change-triggered checks are the mode on. Every combination, the conditions evaluated
/// from the parameters as CloudFormation does. Wherever it is set, the function's role may
/// already assume `RestoreDoctorReader` in each listed account (nothing added for it).
#[test]
fn readiness_accounts_reach_the_function_only_with_an_organization_a_readiness_mode_and_accounts() {
    let t = template();
    let listed = LISTED.join(",");
    let variables =
        &resource(&t, "RestoreDoctorFunction")["Properties"]["Environment"]["Variables"];
    let dlq = &resource(&t, "DeadLetterQueuePolicy")["Properties"]["PolicyDocument"];
    let org_change_resources = [
        "OrganizationRoleChange",
        "OrganizationKeyChange",
        "OrganizationVaultPolicyChange",
        "OrganizationRoleChangeInvoke",
        "OrganizationKeyChangeInvoke",
        "OrganizationVaultPolicyChangeInvoke",
    ];
    for name in org_change_resources {
        assert_eq!(
            resource(&t, name)["Condition"],
            "ChangesInMembers",
            "{name}"
        );
    }
    let trusting_the_central_account = trusting_the_central_account();
    let mut set_somewhere = false;
    for org in [false, true] {
        for schedule in [false, true] {
            for changes in [false, true] {
                for accounts in ["", listed.as_str()] {
                    let flag = |on: bool| if on { "true" } else { "false" };
                    let d = central_with(
                        &t,
                        &[
                            ("OrganizationId", if org { ORG } else { "" }),
                            ("ScheduledReadinessChecks", flag(schedule)),
                            ("ChangeTriggeredChecks", flag(changes)),
                            ("ReadinessAccounts", accounts),
                        ],
                    );
                    let case = format!(
                        "org={org} schedule={schedule} changes={changes} accounts={accounts:?}"
                    );
                    let members = org && (schedule || changes) && !accounts.is_empty();
                    let member_changes = members && changes;
                    assert_eq!(
                        d.resolve(&variables["READINESS_ACCOUNTS"]),
                        members.then(|| json!(listed)),
                        "{case}"
                    );
                    assert_eq!(holds(&d, "ReadinessInMembers"), members, "{case}");
                    assert_eq!(holds(&d, "ChangesInMembers"), member_changes, "{case}");
                    let arns = d.resolve(dlq).unwrap()["Statement"][0]["Condition"]["ArnEquals"]
                        ["aws:SourceArn"]
                        .as_array()
                        .unwrap()
                        .len();
                    let expected = 2
                        + if org { 2 } else { 0 }
                        + if changes { 3 } else { 0 }
                        + if member_changes { 3 } else { 0 };
                    assert_eq!(arns, expected, "{case}");
                    if org {
                        let bus = d.policy(
                            "bus policy",
                            &resource(&t, "OrganizationEventBus")["Properties"]["Policy"],
                        );
                        assert_eq!(
                            statements(&bus).contains_key("ChangeEventsOfTheOrganization"),
                            member_changes,
                            "{case}"
                        );
                    }
                    if members {
                        set_somewhere = true;
                        let function = function_role_policies(&t, &d);
                        for account in LISTED {
                            assert!(
                                allowed(
                                    &assume(FUNCTION_ROLE, ORG, account, "RestoreDoctorReader"),
                                    &function,
                                    &trusting_the_central_account
                                ),
                                "{case}: {account}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(set_somewhere);
}

/// With member change checks, the bus also takes the listed accounts' role and key
/// changes (`aws.iam`, `aws.kms`, CloudTrail's detail type) from the organization's
/// forwarders, and still nothing else: not from another organization or another role,
/// not another source or detail type, not with the change checks off. The forwarding
/// role member.yaml already has is enough to send them.
#[test]
fn the_bus_takes_role_and_key_changes_from_the_organizations_forwarders_only_when_checked() {
    let t = template();
    let bus = resource(&t, "OrganizationEventBus");
    let bus_policy = |d: &Deployment| d.policy("bus policy", &bus["Properties"]["Policy"]);
    let on = central_checking_member_changes(&t);
    let schedule_only = central_with(
        &t,
        &[
            ("ScheduledReadinessChecks", "true"),
            ("ReadinessAccounts", &LISTED.join(",")),
        ],
    );
    let no_accounts = central_with(&t, &[("ChangeTriggeredChecks", "true")]);
    let forwarder = role_policies(
        &template_file("member.yaml"),
        "ForwarderRole",
        &member(MEMBER, false, ""),
    );
    let set = |d: &Deployment, identity: Vec<NamedPolicy>| PolicySet {
        identity,
        resource_policy: Some(bus_policy(d)),
        ..PolicySet::default()
    };
    let forwarder_name = format!("RestoreDoctorForwarder-{REGION}");
    let us_east_1 = "RestoreDoctorForwarder-us-east-1";
    let cloudtrail = "AWS API Call via CloudTrail";
    for (source, role) in [
        ("aws.iam", us_east_1),
        ("aws.kms", forwarder_name.as_str()),
        ("aws.backup", forwarder_name.as_str()),
    ] {
        let request = put_events(MEMBER, ORG, role, source, cloudtrail);
        let eval = decide(&request, &set(&on, forwarder.clone()));
        assert_eq!(eval.decision, Decision::Allowed, "{source}: {eval:#?}");
        for off in [&schedule_only, &no_accounts] {
            let eval = decide(&request, &set(off, vec![administrator_access()]));
            // The vault policy change is AWS Backup's, which the bus always took.
            assert_eq!(
                eval.decision == Decision::Allowed,
                source == "aws.backup",
                "{source} with the change checks off: {eval:#?}"
            );
        }
    }
    // The restore events are taken as before.
    let failed = put_events(
        MEMBER,
        ORG,
        &forwarder_name,
        "aws.backup",
        "Restore Job State Change",
    );
    assert_eq!(
        decide(&failed, &set(&on, forwarder.clone())).decision,
        Decision::Allowed
    );
    let admin = set(&on, vec![administrator_access()]);
    let mixed = Request {
        context: {
            let mut c = put_events(MEMBER, ORG, us_east_1, "aws.iam", cloudtrail).context;
            c.insert(
                "events:source".into(),
                ContextValue::Many(vec!["aws.iam".into(), "my.app".into()]),
            );
            c
        },
        ..put_events(MEMBER, ORG, us_east_1, "aws.iam", cloudtrail)
    };
    for (request, why) in [
        (
            put_events(STRANGER, OTHER_ORG, us_east_1, "aws.iam", cloudtrail),
            "another organization",
        ),
        (
            put_events(MEMBER, ORG, "Admin", "aws.iam", cloudtrail),
            "another role of the organization",
        ),
        (
            put_events(MEMBER, ORG, "Admin", "aws.kms", cloudtrail),
            "another role of the organization",
        ),
        (
            put_events(MEMBER, ORG, us_east_1, "aws.iam", "IAM Role Change"),
            "another detail type",
        ),
        (
            put_events(MEMBER, ORG, &forwarder_name, "aws.kms", "KMS CMK Deletion"),
            "another detail type",
        ),
        (
            put_events(MEMBER, ORG, &forwarder_name, "aws.ec2", cloudtrail),
            "another source",
        ),
        (
            put_events(MEMBER, ORG, &forwarder_name, "my.app", cloudtrail),
            "a custom source",
        ),
        (mixed, "a source of its own among them"),
    ] {
        let eval = decide(&request, &admin);
        assert_ne!(eval.decision, Decision::Allowed, "{why}: {eval:#?}");
    }
}

/// Each organization change rule is the central stack's own change rule for the listed
/// accounts instead of its own, on the organization's bus, to the function with the same
/// retries and dead-letter queue as the organization's restore rules; keys and vaults are
/// read in the function's Region only, so those two take that Region's changes only (the
/// own rules see no other: a Region's default bus gets its own Region's key and vault
/// events). member.yaml forwards exactly what the own rule matches, in the member's own
/// account, and only with `ChangeEvents=true`.
#[test]
fn every_change_rule_of_the_organization_matches_what_the_own_change_rule_matches_in_the_listed_accounts(
) {
    let central_template = template();
    let member_template = template_file("member.yaml");
    let d = central_checking_member_changes(&central_template);
    let restore_target =
        &resource(&central_template, "OrganizationRestoreJobFailed")["Properties"]["Targets"][0];
    for (own, org, forwarding) in CHANGE_RULES {
        let own_rule = resource(&central_template, own);
        let own_pattern = own_rule["Properties"]["EventPattern"].clone();
        assert_eq!(own_pattern["account"], json!([{"Ref": "AWS::AccountId"}]));
        let rule = resource(&central_template, org);
        assert_eq!(rule["Type"], "AWS::Events::Rule");
        assert_eq!(rule["Condition"], "ChangesInMembers", "{org}");
        let mut expected = own_pattern.clone();
        expected["account"] = json!({"Fn::Split": [",", {"Ref": "ReadinessAccounts"}]});
        if own != "ReadinessRoleChange" {
            expected["region"] = json!([{"Ref": "AWS::Region"}]);
        }
        assert_eq!(rule["Properties"]["EventPattern"], expected, "{org}");
        // Deployed: exactly the listed accounts.
        let deployed = d.resolve(&rule["Properties"]["EventPattern"]).unwrap();
        assert_eq!(deployed["account"], json!(LISTED), "{org}");
        assert_eq!(
            rule["Properties"]["EventBusName"],
            json!({"Ref": "OrganizationEventBus"})
        );
        let targets = rule["Properties"]["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{org}");
        assert_eq!(&targets[0], restore_target, "{org}");
        assert_eq!(&targets[0], &own_rule["Properties"]["Targets"][0], "{org}");
        // Its invoke permission names the rule.
        let invoke = resource(&central_template, &format!("{org}Invoke"));
        assert_eq!(invoke["Type"], "AWS::Lambda::Permission");
        assert_eq!(
            invoke["Properties"],
            json!({
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": "RestoreDoctorFunction"},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [org, "Arn"]},
            }),
            "{org}"
        );
        // Its deliveries that fail may go to the dead-letter queue.
        let dlq = d
            .resolve(
                &resource(&central_template, "DeadLetterQueuePolicy")["Properties"]
                    ["PolicyDocument"],
            )
            .unwrap();
        let arn = d.value(&format!("{org}.Arn"));
        assert!(
            dlq["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
                .as_array()
                .unwrap()
                .contains(&json!(arn)),
            "{org}"
        );
        // The member account: the own pattern, to the central bus, with ChangeEvents only.
        let forward = resource(&member_template, forwarding);
        assert_eq!(forward["Type"], "AWS::Events::Rule");
        assert_eq!(forward["Condition"], "ForwardChanges", "{forwarding}");
        assert_eq!(
            forward["Properties"]["EventPattern"], own_pattern,
            "{forwarding}"
        );
        let targets = forward["Properties"]["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{forwarding}");
        assert_eq!(targets[0]["Arn"], json!({"Ref": "CentralEventBusArn"}));
        assert_eq!(
            targets[0]["RoleArn"],
            json!({"Fn::GetAtt": ["ForwarderRole", "Arn"]})
        );
    }
}

/// member.yaml forwards nothing of its changes unless `ChangeEvents=true` (off by
/// default); its rules are the two restore forwarders and, with it, the three change ones.
#[test]
fn member_accounts_forward_their_changes_only_with_change_events() {
    let t = template_file("member.yaml");
    assert_eq!(t["Parameters"]["ChangeEvents"]["Default"], "false");
    assert_eq!(
        t["Parameters"]["ChangeEvents"]["AllowedValues"],
        json!(["false", "true"])
    );
    assert_eq!(
        t["Conditions"]["ForwardChanges"],
        json!({"Fn::Equals": [{"Ref": "ChangeEvents"}, "true"]})
    );
    for (changes, want) in [
        ("false", vec!["RestoreJobFailed", "StartRestoreJobDenied"]),
        (
            "true",
            vec![
                "KeyChange",
                "RestoreJobFailed",
                "RoleChange",
                "StartRestoreJobDenied",
                "VaultPolicyChange",
            ],
        ),
    ] {
        let conditions = evaluate_conditions(
            &t,
            &[
                ("ChangeEvents", changes),
                ("RolesRegion", REGION),
                ("OrganizationId", ORG),
            ],
        );
        let mut rules: Vec<&str> = t["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
            .filter(|(_, r)| {
                r.get("Condition")
                    .and_then(Value::as_str)
                    .is_none_or(|c| conditions[c])
            })
            .map(|(name, _)| name.as_str())
            .collect();
        rules.sort_unstable();
        assert_eq!(rules, want, "ChangeEvents={changes}");
    }
}

/// `ReadinessAccounts`: empty, or 12-digit ids separated by commas, nothing else, at most
/// 100 of them; and the longest list it takes keeps every change pattern within
/// EventBridge's 2,048 characters per event pattern ("Amazon EventBridge quotas", Event
/// pattern size: <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>).
#[test]
fn readiness_accounts_take_comma_separated_account_ids_only_as_many_as_a_pattern_holds() {
    let t = template();
    let parameter = &t["Parameters"]["ReadinessAccounts"];
    assert_eq!(parameter["Type"], "String");
    assert_eq!(parameter["Default"], "");
    let pattern = parameter["AllowedPattern"].as_str().unwrap();
    let ids = |n: usize| -> String {
        (0..n)
            .map(|i| format!("{:012}", 100_000_000_000_u64 + i as u64))
            .collect::<Vec<_>>()
            .join(",")
    };
    // As many as the function takes (READINESS_ACCOUNTS is refused beyond it).
    let most = restore_doctor::diagnose::readiness::MAX_MEMBER_ACCOUNTS;
    let hundred = ids(most);
    let too_many = ids(most + 1);
    let several = LISTED.join(",");
    let cases: [(&str, bool); 15] = [
        ("", true),
        (MEMBER, true),
        (&several, true),
        (&hundred, true),
        (&too_many, false),
        ("444455556666, 555566667777", false),
        (" 444455556666", false),
        ("44445555666", false),
        ("4444555566667", false),
        ("444455556666,", false),
        (",444455556666", false),
        ("444455556666,,555566667777", false),
        ("arn:aws:iam::444455556666:root", false),
        ("444455556666;555566667777", false),
        ("44445555666a", false),
    ];
    let values: Vec<&str> = cases.iter().map(|(v, _)| *v).collect();
    let got = allowed_by_pattern(pattern, &values);
    for ((value, want), got) in cases.iter().zip(got) {
        let shown: String = value.chars().take(40).collect();
        assert_eq!(got, *want, "{shown:?}");
    }
    let d = central_with(
        &t,
        &[
            ("ChangeTriggeredChecks", "true"),
            ("ReadinessAccounts", &hundred),
        ],
    );
    for (_, org, _) in CHANGE_RULES {
        let deployed = d
            .resolve(&resource(&t, org)["Properties"]["EventPattern"])
            .unwrap();
        assert_eq!(deployed["account"].as_array().unwrap().len(), 100);
        // Compact JSON, plus a space after every separator in case CloudFormation sends
        // it spaced (how it serializes the pattern is not verified).
        let text = deployed.to_string();
        let size = text.chars().count() + text.matches([',', ':']).count();
        assert!(size <= 2048, "{org}: {size} characters");
    }
}

/// member.yaml's forwarding rules (every rule it has), each with the key its ARN takes in
/// a deployment.
const FORWARDING_RULES: [(&str, &str); 5] = [
    ("RestoreJobFailed", "RestoreJobFailed.Arn"),
    ("StartRestoreJobDenied", "StartRestoreJobDenied.Arn"),
    ("RoleChange", "RoleChange.Arn"),
    ("KeyChange", "KeyChange.Arn"),
    ("VaultPolicyChange", "VaultPolicyChange.Arn"),
];
/// The forwarding dead-letter queue of the member stack in `MEMBER`, as CloudFormation
/// names a queue of a StackSet instance.
const FORWARDING_QUEUE_NAME: &str =
    "StackSet-restore-doctor-member-ForwardingDeadLetterQu-1A2B3C4D";

fn forwarding_queue_arn() -> String {
    format!("arn:aws:sqs:{REGION}:{MEMBER}:{FORWARDING_QUEUE_NAME}")
}

/// The deployed ARN of member.yaml's rule `rule`: its `Name` on this account's default bus.
fn member_rule_arn(template: &Value, rule: &str) -> String {
    let name = resource(template, rule)["Properties"]["Name"]
        .as_str()
        .unwrap();
    format!("arn:aws:events:{REGION}:{MEMBER}:rule/{name}")
}

/// member.yaml in `MEMBER` (its roles Region) with `ChangeEvents` and `AlarmTopicArn` as
/// given, every condition as CloudFormation evaluates it, and the ARNs of its rules and
/// queue.
fn member_forwarding(template: &Value, changes: bool, alarm_topic: &str) -> Deployment {
    let evaluated = evaluate_conditions(
        template,
        &[
            ("ChangeEvents", if changes { "true" } else { "false" }),
            ("RolesRegion", REGION),
            ("OrganizationId", ORG),
            ("AlarmTopicArn", alarm_topic),
        ],
    );
    let mut d = member(MEMBER, false, "");
    let names = [
        "CreateRoles",
        "CreateFixer",
        "HasRolePatterns",
        "FixByPattern",
        "GrantReadinessReads",
        "ForwardChanges",
        "HasAlarmTopic",
    ];
    let mut all: Vec<&str> = evaluated.keys().map(String::as_str).collect();
    all.sort_unstable();
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(
        all, expected,
        "the test sets every condition of member.yaml"
    );
    for name in names {
        d.conditions.insert(name, evaluated[name]);
    }
    for (rule, key) in FORWARDING_RULES {
        d.values.insert(key, member_rule_arn(template, rule));
    }
    d.values
        .insert("ForwardingDeadLetterQueue.Arn", forwarding_queue_arn());
    d.values.insert(
        "ForwardingDeadLetterQueue.QueueName",
        FORWARDING_QUEUE_NAME.to_owned(),
    );
    d.values.insert(
        "ForwardingDeadLetterQueue",
        format!("https://sqs.{REGION}.amazonaws.com/{MEMBER}/{FORWARDING_QUEUE_NAME}"),
    );
    d.values.insert("AlarmTopicArn", alarm_topic.to_owned());
    d
}

/// Nothing a member account forwards is lost without a trace: every forwarding target
/// (restore and change rules alike) sends what the central bus did not take to the
/// stack's own dead-letter queue, a standard queue (EventBridge takes no FIFO one),
/// encrypted with SQS-owned keys (no key policy for EventBridge to need) and keeping
/// messages SQS's longest, 14 days. No target has a `RetryPolicy`: EventBridge does not
/// take one on an event bus target (member.yaml says where that comes from), so its
/// default, 24 hours and 185 attempts, runs before the queue.
///
/// That EventBridge puts an undelivered event in the queue is not run here: moto's
/// EventBridge keeps a target's `DeadLetterConfig` but never acts on it (a failed delivery
/// is not sent anywhere), so only the template's wiring and the queue policy are checked.
#[test]
fn every_forwarding_target_sends_what_it_cannot_deliver_to_the_stacks_dead_letter_queue() {
    let t = template_file("member.yaml");
    let mut rules: Vec<&str> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        .map(|(name, _)| name.as_str())
        .collect();
    rules.sort_unstable();
    let mut forwarding: Vec<&str> = FORWARDING_RULES.iter().map(|(r, _)| *r).collect();
    forwarding.sort_unstable();
    assert_eq!(rules, forwarding);
    for rule in rules {
        let targets = resource(&t, rule)["Properties"]["Targets"]
            .as_array()
            .unwrap();
        assert_eq!(targets.len(), 1, "{rule}");
        let target = &targets[0];
        assert_eq!(
            target["Arn"],
            json!({"Ref": "CentralEventBusArn"}),
            "{rule}"
        );
        assert_eq!(
            target["RoleArn"],
            json!({"Fn::GetAtt": ["ForwarderRole", "Arn"]}),
            "{rule}"
        );
        assert_eq!(
            target["DeadLetterConfig"],
            json!({"Arn": {"Fn::GetAtt": ["ForwardingDeadLetterQueue", "Arn"]}}),
            "{rule}"
        );
        assert!(
            target.get("RetryPolicy").is_none(),
            "{rule}: an event bus target takes no RetryPolicy (see member.yaml)"
        );
    }
    let queue = resource(&t, "ForwardingDeadLetterQueue");
    assert_eq!(queue["Type"], "AWS::SQS::Queue");
    // There whenever a rule is: the restore rules have no condition.
    assert!(queue.get("Condition").is_none());
    assert_eq!(
        queue["Properties"],
        json!({"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": true})
    );
    let output = &t["Outputs"]["ForwardingDeadLetterQueueUrl"];
    assert_eq!(output["Value"], json!({"Ref": "ForwardingDeadLetterQueue"}));
    assert!(output.get("Condition").is_none());
}

/// An `sqs:SendMessage` to the forwarding queue by `principal` on behalf of `source_arn`.
fn send_to_forwarding_queue(principal: &str, source_arn: Option<&str>) -> Request {
    let mut context = BTreeMap::new();
    if let Some(arn) = source_arn {
        context.insert(
            "aws:SourceArn".to_owned(),
            ContextValue::One(arn.to_owned()),
        );
    }
    Request {
        principal: principal.into(),
        action: "sqs:SendMessage".into(),
        resource: forwarding_queue_arn(),
        resource_account: Some(MEMBER.into()),
        context,
    }
}

/// The queue policy, evaluated: EventBridge may send for each forwarding rule the stack
/// has (the change rules only with `ChangeEvents=true`), and for nothing else: not a rule
/// of the same name in another Region, account or bus, not another rule of the account,
/// not without a rule, not another service or another account's administrator, not
/// another queue action.
#[test]
fn the_forwarding_dead_letter_queue_takes_eventbridge_deliveries_of_this_stacks_rules_only() {
    let t = template_file("member.yaml");
    let queue_policy = resource(&t, "ForwardingDeadLetterQueuePolicy");
    assert_eq!(queue_policy["Type"], "AWS::SQS::QueuePolicy");
    assert_eq!(
        queue_policy["Properties"]["Queues"],
        json!([{"Ref": "ForwardingDeadLetterQueue"}])
    );
    let events = "events.amazonaws.com";
    let failed = member_rule_arn(&t, "RestoreJobFailed");
    let failed_name = failed.rsplit('/').next().unwrap();
    for changes in [false, true] {
        let d = member_forwarding(&t, changes, "");
        let set = PolicySet {
            resource_policy: Some(d.policy(
                "ForwardingDeadLetterQueuePolicy",
                &queue_policy["Properties"]["PolicyDocument"],
            )),
            ..PolicySet::default()
        };
        for (rule, _) in FORWARDING_RULES {
            let exists = resource(&t, rule)
                .get("Condition")
                .and_then(Value::as_str)
                .is_none_or(|c| holds(&d, c));
            assert_eq!(
                exists,
                !CHANGE_RULES.iter().any(|(_, _, f)| *f == rule) || changes
            );
            let arn = member_rule_arn(&t, rule);
            let eval = decide(&send_to_forwarding_queue(events, Some(&arn)), &set);
            assert_eq!(
                eval.decision == Decision::Allowed,
                exists,
                "ChangeEvents={changes} {rule}: {eval:#?}"
            );
        }
        let refused = [
            (
                send_to_forwarding_queue(
                    events,
                    Some(&format!(
                        "arn:aws:events:us-east-1:{MEMBER}:rule/{failed_name}"
                    )),
                ),
                "the same rule of the stack in another Region",
            ),
            (
                send_to_forwarding_queue(
                    events,
                    Some(&format!(
                        "arn:aws:events:{REGION}:{STRANGER}:rule/{failed_name}"
                    )),
                ),
                "the same rule in another account",
            ),
            (
                send_to_forwarding_queue(
                    events,
                    Some(&format!(
                        "arn:aws:events:{REGION}:{MEMBER}:rule/another-bus/{failed_name}"
                    )),
                ),
                "a rule of the same name on another bus",
            ),
            (
                send_to_forwarding_queue(
                    events,
                    Some(&format!(
                        "arn:aws:events:{REGION}:{MEMBER}:rule/someone-elses"
                    )),
                ),
                "another rule of the account",
            ),
            (send_to_forwarding_queue(events, None), "no rule at all"),
            (
                send_to_forwarding_queue("sns.amazonaws.com", Some(&failed)),
                "another service",
            ),
            (
                Request {
                    action: "sqs:ReceiveMessage".into(),
                    ..send_to_forwarding_queue(events, Some(&failed))
                },
                "another action",
            ),
            (
                Request {
                    resource: format!("arn:aws:sqs:{REGION}:{MEMBER}:another-queue"),
                    ..send_to_forwarding_queue(events, Some(&failed))
                },
                "another queue",
            ),
        ];
        for (request, why) in refused {
            let eval = decide(&request, &set);
            assert_ne!(
                eval.decision,
                Decision::Allowed,
                "ChangeEvents={changes} {why}: {eval:#?}"
            );
        }
        let stranger = PolicySet {
            identity: vec![administrator_access()],
            ..set.clone()
        };
        let eval = decide(
            &send_to_forwarding_queue(&format!("arn:aws:iam::{STRANGER}:role/Admin"), None),
            &stranger,
        );
        assert_ne!(
            eval.decision,
            Decision::Allowed,
            "another account: {eval:#?}"
        );
    }
}

/// The queue policy names each forwarding rule once, under the rule's own condition: a
/// rule that always exists plainly, a conditional one through `Fn::If` on its condition
/// (so the policy never names a rule the stack did not create, and never misses one).
#[test]
fn the_forwarding_queue_policy_names_each_rule_under_the_rules_own_condition() {
    let t = template_file("member.yaml");
    let arns = resource(&t, "ForwardingDeadLetterQueuePolicy")["Properties"]["PolicyDocument"]
        ["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
        .as_array()
        .unwrap();
    let get_att = |v: &Value| -> String {
        let parts = v["Fn::GetAtt"].as_array().unwrap();
        assert_eq!(parts[1], "Arn", "{v}");
        parts[0].as_str().unwrap().to_owned()
    };
    let mut named: BTreeMap<String, Option<String>> = BTreeMap::new();
    for entry in arns {
        let (rule, condition) = match entry.get("Fn::If") {
            Some(args) => {
                assert_eq!(args[2], json!({"Ref": "AWS::NoValue"}), "{entry}");
                (
                    get_att(&args[1]),
                    Some(args[0].as_str().unwrap().to_owned()),
                )
            }
            None => (get_att(entry), None),
        };
        assert!(named.insert(rule, condition).is_none(), "{entry} twice");
    }
    let rules: BTreeMap<String, Option<String>> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::Rule")
        .map(|(name, r)| {
            let condition = r
                .get("Condition")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (name.clone(), condition)
        })
        .collect();
    assert_eq!(named, rules);
}

/// With `AlarmTopicArn` (empty by default) an alarm tells that topic as soon as one event
/// waits in the forwarding queue; without it there is no alarm. The parameter takes an
/// SNS topic ARN or nothing.
#[test]
fn the_forwarding_queue_alarm_exists_only_with_a_topic_and_notifies_it_of_one_waiting_event() {
    let t = template_file("member.yaml");
    let parameter = &t["Parameters"]["AlarmTopicArn"];
    assert_eq!(parameter["Default"], "");
    let topic = format!("arn:aws:sns:{REGION}:{MEMBER}:ops-alarms");
    let cases: [(&str, bool); 8] = [
        ("", true),
        (&topic, true),
        ("arn:aws-us-gov:sns:us-gov-west-1:444455556666:ops", true),
        (
            &format!("arn:aws:lambda:{REGION}:{MEMBER}:function:ops"),
            false,
        ),
        ("arn:aws:sns:eu-west-1:4444:ops", false),
        (&format!("{topic},{topic}"), false),
        (&format!(" {topic}"), false),
        ("ops-alarms", false),
    ];
    let values: Vec<&str> = cases.iter().map(|(v, _)| *v).collect();
    let got = allowed_by_pattern(parameter["AllowedPattern"].as_str().unwrap(), &values);
    for ((value, want), got) in cases.iter().zip(got) {
        assert_eq!(got, *want, "{value:?}");
    }
    let alarms: Vec<(&String, &Value)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    let (name, alarm) = alarms[0];
    assert_eq!(name, "ForwardingDeadLetterQueueAlarm");
    assert_eq!(alarm["Condition"], "HasAlarmTopic");
    assert!(!holds(&member_forwarding(&t, false, ""), "HasAlarmTopic"));
    let d = member_forwarding(&t, false, &topic);
    assert!(holds(&d, "HasAlarmTopic"));
    let props = d.resolve(&alarm["Properties"]).unwrap();
    assert_eq!(props["AlarmActions"], json!([topic]));
    assert_eq!(props["Namespace"], "AWS/SQS");
    assert_eq!(props["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        props["Dimensions"],
        json!([{"Name": "QueueName", "Value": FORWARDING_QUEUE_NAME}])
    );
    // One waiting event is one too many; an empty queue reporting nothing is fine.
    assert_eq!(props["Statistic"], "Maximum");
    assert_eq!(props["Threshold"], 1);
    assert_eq!(props["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(props["TreatMissingData"], "notBreaching");
}
