//! The read permissions the live CLI needs (issue #13): `deploy/cli-read-policy.json`
//! allows every operation the gathering calls, in the caller's own account only, and
//! nothing else; and the function's role in `template.yaml` allows the same operations.
//!
//! The operations are read from the code that calls them (`src/aws/gather/reads.rs`,
//! `src/aws/iam.rs`, `src/aws/live.rs`): a new call there fails this test until the
//! policy, the template and the table below name it. `restore-doctor readiness` reads
//! more (`src/aws/readiness.rs`): the CLI policy allows those too, and the function's role
//! only when readiness runs in the function (`ScheduledReadinessChecks` or
//! `ChangeTriggeredChecks`; `tests/template_operations.rs` checks its table access).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sam_template;

use std::collections::{BTreeMap, BTreeSet};

use restore_doctor::policy::{evaluate, Decision, NamedPolicy, Policy, PolicySet, Request};
use sam_template::{function_role_policies, root, template, Deployment, ACCOUNT, REGION};
use serde_json::Value;

const OTHER_ACCOUNT: &str = "444455556666";

/// Operations that need no permission at all: sts:GetCallerIdentity ("No permissions
/// are required to perform this operation", STS API reference, GetCallerIdentity:
/// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
const NEEDS_NO_PERMISSION: [&str; 1] = ["sts:GetCallerIdentity"];

/// Every IAM action the gathering calls, with a resource of `account` it calls it on
/// (`*`: the action has no resource-level permissions).
fn operations(account: &str) -> BTreeMap<&'static str, String> {
    let iam = |kind: &str, name: &str| format!("arn:aws:iam::{account}:{kind}/{name}");
    let key = format!("arn:aws:kms:{REGION}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    BTreeMap::from([
        ("backup:DescribeRestoreJob", "*".to_owned()),
        ("backup:GetRestoreJobMetadata", "*".to_owned()),
        ("backup:DescribeRecoveryPoint", "*".to_owned()),
        ("backup:ListBackupVaults", "*".to_owned()),
        (
            "backup:GetBackupVaultAccessPolicy",
            format!("arn:aws:backup:{REGION}:{account}:backup-vault:prod"),
        ),
        ("sts:DecodeAuthorizationMessage", "*".to_owned()),
        ("iam:ListAccountAliases", "*".to_owned()),
        ("iam:GetRole", iam("role", "service-role/BackupRestore")),
        ("iam:ListRolePolicies", iam("role", "BackupRestore")),
        ("iam:GetRolePolicy", iam("role", "BackupRestore")),
        ("iam:ListAttachedRolePolicies", iam("role", "BackupRestore")),
        ("iam:GetUser", iam("user", "alice")),
        ("iam:ListUserPolicies", iam("user", "alice")),
        ("iam:GetUserPolicy", iam("user", "alice")),
        ("iam:ListAttachedUserPolicies", iam("user", "alice")),
        ("iam:ListGroupsForUser", iam("user", "alice")),
        ("iam:ListGroupPolicies", iam("group", "ops")),
        ("iam:GetGroupPolicy", iam("group", "ops")),
        ("iam:ListAttachedGroupPolicies", iam("group", "ops")),
        ("iam:GetInstanceProfile", iam("instance-profile", "app")),
        ("iam:GetPolicy", iam("policy", "restore-extra")),
        ("iam:GetPolicyVersion", iam("policy", "restore-extra")),
        ("kms:DescribeKey", key.clone()),
        ("kms:GetKeyPolicy", key),
    ])
}

/// The reads only `restore-doctor readiness` makes, on top of the gathering's. Which
/// resource types these actions accept is not verified here (Service Authorization
/// Reference, AWS Backup: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbackup.html),
/// so the policy grants them on `*`: they are read-only, and the same reads AWS Backup's
/// restore testing makes (service-linked policy AWSServiceRolePolicyForBackupRestoreTesting);
/// ListRecoveryPointsByBackupVault, AWS's own AWSBackupServiceRolePolicyForRestores grants on
/// `*` (Sid BackupRestoreJobManagementPermissions).
fn readiness_operations() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("backup:ListProtectedResources", "*".to_owned()),
        ("backup:ListRecoveryPointsByBackupVault", "*".to_owned()),
        ("backup:ListRecoveryPointsByResource", "*".to_owned()),
        ("backup:GetRecoveryPointRestoreMetadata", "*".to_owned()),
        ("backup:ListRestoreTestingPlans", "*".to_owned()),
        ("backup:ListRestoreTestingSelections", "*".to_owned()),
        ("backup:GetRestoreTestingSelection", "*".to_owned()),
    ])
}

/// What `restore-doctor readiness --account ID` adds: the reader role member.yaml creates
/// in each account, assumed with the caller's credentials (`src/aws/accounts.rs`). A role
/// of another account needs the caller's identity policy to allow `sts:AssumeRole` on it,
/// as well as the role's trust policy (IAM user guide, "Grant a user permissions to switch
/// roles": https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_permissions-to-switch.html).
fn member_operations(account: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([(
        "sts:AssumeRole",
        format!("arn:aws:iam::{account}:role/RestoreDoctorReader"),
    )])
}

/// What `restore-doctor readiness --organization` adds: the organization's accounts
/// (`src/aws/organizations.rs`, `active_accounts`). ListAccounts takes no resource
/// (Service Authorization Reference, AWS Organizations: "Resource types" empty for it).
fn organization_operations() -> BTreeMap<&'static str, String> {
    BTreeMap::from([("organizations:ListAccounts", "*".to_owned())])
}

/// `get_role_policy` -> `GetRolePolicy`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The SDK operations called in `file`: `<client>.<operation>()` where the client is one
/// of the gathering's (`backup`, `iam`, `sts`, `kms`) and the statement sends it.
fn called_in(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let mut found = BTreeSet::new();
    for service in ["backup", "iam", "sts", "kms"] {
        let needle = format!("{service}.");
        for (at, _) in code.match_indices(&needle) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + needle.len()..];
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let statement = rest.split(';').next().unwrap_or_default();
            if !op.is_empty() && rest[op.len()..].starts_with("()") && statement.contains(".send()")
            {
                found.insert(format!("{service}:{}", pascal(&op)));
            }
        }
    }
    found
}

fn gathering_operations() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for file in [
        "src/aws/gather/reads.rs",
        "src/aws/iam.rs",
        "src/aws/live.rs",
    ] {
        let ops = called_in(file);
        assert!(
            !ops.is_empty(),
            "no operation found in {file}: the scan is broken"
        );
        all.extend(ops);
    }
    all
}

#[test]
fn the_table_names_exactly_the_operations_readiness_adds() {
    let called = called_in("src/aws/readiness.rs");
    let gathering = gathering_operations();
    let added: BTreeSet<String> = called.difference(&gathering).cloned().collect();
    let known: BTreeSet<String> = readiness_operations()
        .keys()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        added, known,
        "update deploy/cli-read-policy.json and readiness_operations()"
    );
}

#[test]
fn the_table_names_exactly_the_operations_the_gathering_calls() {
    let called = gathering_operations();
    let known: BTreeSet<String> = operations(ACCOUNT)
        .keys()
        .map(|a| a.to_string())
        .chain(NEEDS_NO_PERMISSION.iter().map(|a| a.to_string()))
        .collect();
    assert_eq!(
        called, known,
        "update deploy/cli-read-policy.json, template.yaml and this table"
    );
}

fn cli_policy() -> NamedPolicy {
    let text = std::fs::read_to_string(root().join("deploy/cli-read-policy.json")).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    NamedPolicy {
        name: "cli-read-policy".into(),
        policy: Policy::from_value(&value).unwrap(),
    }
}

/// What AWS decides for `principal` calling `action` on `resource` with identity
/// policies `policies`; `trusting` gives the resource a policy that grants that account
/// the action (a key or vault of another account that trusts the caller's).
fn decision(
    principal: &str,
    action: &str,
    resource: &str,
    policies: Vec<NamedPolicy>,
    trusting: Option<&str>,
) -> Decision {
    let account = resource.split(':').nth(4).filter(|a| !a.is_empty());
    let request = Request {
        principal: principal.into(),
        action: action.into(),
        resource: resource.into(),
        resource_account: account.map(str::to_owned),
        context: BTreeMap::new(),
    };
    let grant = |trusted: &str, action: &str| {
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{trusted}:root")},
            "Action": action, "Resource": "*"}]});
        NamedPolicy {
            name: "resource policy".into(),
            policy: Policy::from_value(&doc).unwrap(),
        }
    };
    let resource_policy = match trusting {
        Some(trusted) => Some(grant(trusted, action)),
        // A KMS key is usable only as its key policy says: KMS's default key policy lets
        // the account's IAM policies decide ("Default key policy", KMS developer guide).
        None if action.starts_with("kms:") => Some(grant(account.unwrap_or(ACCOUNT), "kms:*")),
        None => None,
    };
    let set = PolicySet {
        identity: policies,
        resource_policy,
        ..PolicySet::default()
    };
    evaluate(&request, &set).unwrap().decision
}

/// The CLI runs as whoever the user is: an IAM user, or a role session (SSO).
fn callers() -> [String; 2] {
    [
        format!("arn:aws:iam::{ACCOUNT}:user/oncall"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Oncall_0123456789abcdef/alice"),
    ]
}

#[test]
fn the_cli_read_policy_allows_every_gathering_call_in_the_callers_account() {
    for caller in callers() {
        for (action, resource) in operations(ACCOUNT)
            .into_iter()
            .chain(organization_operations())
            .chain(readiness_operations())
        {
            assert_eq!(
                decision(&caller, action, &resource, vec![cli_policy()], None),
                Decision::Allowed,
                "{caller}: {action} on {resource}"
            );
        }
        // AWS managed policies are read too (the restore role's managed policies).
        let managed = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores";
        for action in ["iam:GetPolicy", "iam:GetPolicyVersion"] {
            assert_eq!(
                decision(&caller, action, managed, vec![cli_policy()], None),
                Decision::Allowed
            );
        }
    }
}

#[test]
fn the_cli_read_policy_reads_nothing_of_another_account_and_writes_nothing() {
    // Even where the other account's key or vault trusts ours, the caller's own policy
    // does not reach it: a cross-account call needs the identity policy's allow too.
    for caller in callers() {
        for (action, resource) in operations(OTHER_ACCOUNT) {
            if resource == "*" {
                continue;
            }
            assert_ne!(
                decision(
                    &caller,
                    action,
                    &resource,
                    vec![cli_policy()],
                    Some(ACCOUNT)
                ),
                Decision::Allowed,
                "{caller}: {action} on {resource}"
            );
        }
    }
    // Every action it names is one the gathering calls: no write, no wildcard.
    let text = std::fs::read_to_string(root().join("deploy/cli-read-policy.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut known = operations(ACCOUNT);
    known.extend(readiness_operations());
    known.extend(member_operations(OTHER_ACCOUNT));
    known.extend(organization_operations());
    for statement in doc["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        let actions = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(list) => list
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
            other => panic!("unexpected Action {other}"),
        };
        for action in actions {
            assert!(
                known.contains_key(action.as_str()),
                "{action} is not a gathering call"
            );
        }
    }
}

#[test]
fn the_cli_read_policy_assumes_only_the_reader_role_of_another_account() {
    for caller in callers() {
        // The role's trust policy trusts the caller's account (member.yaml's names the
        // caller); the identity policy decides which roles.
        for (action, resource) in member_operations(OTHER_ACCOUNT) {
            assert_eq!(
                decision(
                    &caller,
                    action,
                    &resource,
                    vec![cli_policy()],
                    Some(ACCOUNT)
                ),
                Decision::Allowed,
                "{caller}: {action} on {resource}"
            );
        }
        // No other role: not the fixer (it writes), not an administrator's role, not a
        // reader role under a path.
        for role in [
            "RestoreDoctorFixer",
            "OrganizationAccountAccessRole",
            "team/RestoreDoctorReader",
            "RestoreDoctorReaderX",
        ] {
            let arn = format!("arn:aws:iam::{OTHER_ACCOUNT}:role/{role}");
            assert_ne!(
                decision(
                    &caller,
                    "sts:AssumeRole",
                    &arn,
                    vec![cli_policy()],
                    Some(ACCOUNT)
                ),
                Decision::Allowed,
                "{caller}: sts:AssumeRole on {arn}"
            );
        }
    }
}

#[test]
fn the_function_role_allows_every_gathering_call_too() {
    let template = template();
    let policies = function_role_policies(&template, &Deployment::new(true));
    let session = format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/restore-doctor-FunctionRole-1A2B3C/restore-doctor"
    );
    for (action, resource) in operations(ACCOUNT) {
        assert_eq!(
            decision(&session, action, &resource, policies.clone(), None),
            Decision::Allowed,
            "FunctionRole: {action} on {resource}"
        );
    }
}

#[test]
fn the_function_role_allows_the_readiness_reads_only_when_readiness_runs_in_it() {
    let template = template();
    let session = format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/restore-doctor-FunctionRole-1A2B3C/restore-doctor"
    );
    for on in [false, true] {
        let mut d = Deployment::new(true);
        d.conditions.insert("ChangeChecks", on);
        d.conditions.insert("ReadinessOn", on);
        let policies = function_role_policies(&template, &d);
        for (action, resource) in readiness_operations() {
            assert_eq!(
                decision(&session, action, &resource, policies.clone(), None) == Decision::Allowed,
                on,
                "FunctionRole with readiness {on}: {action} on {resource}"
            );
        }
    }
}

#[test]
fn the_readme_shows_the_policy_file_as_it_is() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("### The read permissions the CLI needs")
        .nth(1)
        .expect("the README's section on the CLI's read permissions");
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json block in that section");
    let shown: Value = serde_json::from_str(block).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/cli-read-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(shown, file);
}
