//! KMS keys the diagnosis could not fully read (issue #9, "an unread key policy is not a
//! default one"): the default key policy delegates to the key's own account, so for a
//! key in another account an unread policy is no grant to the restore role's account.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use restore_doctor::diagnose::evidence::{
    Evidence, EvidencePart, Gap, KmsKey, PolicyDoc, PolicyKind,
};
use restore_doctor::diagnose::report::{Blocker, Cause};
use restore_doctor::examine;
use serde_json::json;

const CENTRAL_KEY: &str =
    "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn case(name: &str) -> Evidence {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/cases/{name}/evidence.json"));
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The EFS case, its recovery point encrypted with a key of the central backup account
/// whose policy could not be read; the role's own policies allow everything on it.
fn central_key_unread() -> Evidence {
    let mut e = case("efs-role-missing-kms");
    e.recovery_point.as_mut().unwrap().encryption_key_arn = Some(CENTRAL_KEY.into());
    e.restore_metadata.as_mut().unwrap().remove("KmsKeyId");
    e.key_policies.clear();
    e.gaps.push(Gap {
        part: EvidencePart::KeyPolicy,
        call: format!("kms:GetKeyPolicy {CENTRAL_KEY}"),
        error: "AccessDeniedException: not authorized".into(),
    });
    e.restore_role.as_mut().unwrap().policies.push(PolicyDoc {
        name: "kms-everything".into(),
        arn: None,
        kind: PolicyKind::Inline,
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": CENTRAL_KEY}]}),
    });
    e
}

/// Regression: the default policy assumed for the unread key delegated to the restore's
/// own account, so the report said nothing was missing (exit 0) while KMS denies.
#[test]
fn an_unread_key_policy_in_another_account_is_not_a_grant() {
    let report = examine(&central_key_unread());
    let on_key: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.resource == CENTRAL_KEY)
        .collect();
    assert!(!on_key.is_empty(), "{:#?}", report.missing);
    for f in &on_key {
        assert!(!f.fixable_by_patch, "{f:#?}");
        assert!(f.blocked_by.contains(&Blocker::KeyPolicy), "{f:#?}");
    }
    assert_eq!(report.cause, Cause::KeyPolicy);
    assert!(!report.verified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.what.contains("key policy") && u.what.contains(CENTRAL_KEY)));
    // Who must act is named with the key's account; they get the statements to add,
    // never a put-key-policy of a guessed whole policy.
    assert!(on_key.iter().all(|f| f
        .who_must_act
        .as_deref()
        .is_some_and(|w| w.contains("account 444455556666"))));
    let [fix] = report.key_policy_fixes.as_slice() else {
        panic!("{:#?}", report.key_policy_fixes)
    };
    assert_eq!(fix.key_arn, CENTRAL_KEY);
    assert!(fix.statements_only);
    assert!(fix.command.is_empty());
    let statements = fix.document["Statement"].as_array().unwrap();
    assert!(!statements.is_empty());
    assert!(statements.iter().all(|st| st["Principal"]["AWS"]
        == "arn:aws:iam::111122223333:role/service-role/BackupRestoreRole"));
}

/// The same key in the restore's own account: the assumed default policy delegates to
/// the account, and the role's own allow is enough.
#[test]
fn an_unread_key_policy_in_the_same_account_delegates_to_it() {
    let own = CENTRAL_KEY.replace("444455556666", "111122223333");
    let mut e = central_key_unread();
    e.recovery_point.as_mut().unwrap().encryption_key_arn = Some(own.clone());
    e.restore_role
        .as_mut()
        .unwrap()
        .policies
        .last_mut()
        .unwrap()
        .document = json!({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": own}]});
    let report = examine(&e);
    assert!(
        !report.missing.iter().any(|f| f.resource == own),
        "{:#?}",
        report.missing
    );
}

/// Issue #9, "no useless grants": a key policy of this account that neither names the
/// role nor delegates to the account ignores identity policies, so an identity grant on
/// the key cannot take effect; the fix is the corrected key policy alone.
#[test]
fn no_identity_grant_for_a_key_whose_policy_ignores_identity_policies() {
    let mut e = case("kms-key-policy-without-root");
    // Without the role's own KMS allows.
    let doc = &mut e.restore_role.as_mut().unwrap().policies[0].document;
    let statements = doc["Statement"].as_array_mut().unwrap();
    statements.retain(|s| !s["Sid"].as_str().unwrap_or("").starts_with("Kms"));
    let report = examine(&e);
    let kms: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.action.starts_with("kms:"))
        .collect();
    assert!(!kms.is_empty());
    assert!(kms.iter().all(|f| !f.fixable_by_patch), "{kms:#?}");
    let patch = serde_json::to_string(&report.patch).unwrap();
    assert!(!patch.contains("kms:"), "{patch}");
    assert_eq!(report.key_policy_fixes.len(), 1);
}

const OWN_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn aws_managed(reference: &str, key_arn: &str, manager: Option<&str>) -> KmsKey {
    KmsKey {
        reference: reference.into(),
        key_arn: key_arn.into(),
        key_manager: manager.map(str::to_owned),
        key_state: Some("Enabled".into()),
    }
}

/// Issue #9, "AWS managed keys cannot be shared": a recovery point encrypted with an AWS
/// managed key of another account is explained by AWS's rule, with what to do instead
/// and the AWS page, never by a grant or a key policy edit (before: a key policy blocker
/// asking the key administrators for a change AWS does not allow).
#[test]
fn an_aws_managed_key_of_another_account_says_re_copy_with_a_customer_managed_key() {
    let e = case("kms-aws-managed-cross-account");
    let report = examine(&e);
    let on_key: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.action.starts_with("kms:"))
        .collect();
    assert_eq!(on_key.len(), 4, "{:#?}", report.missing);
    for f in &on_key {
        assert_eq!(f.blocked_by, vec![Blocker::AwsRule], "{f:#?}");
        assert!(!f.fixable_by_patch);
        let who = f.who_must_act.as_deref().unwrap();
        assert!(who.contains("AWS managed keys cannot be shared across accounts: re-copy or re-back up with a customer managed key"), "{who}");
        assert!(who.contains("https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html"), "{who}");
    }
    assert!(report.key_policy_fixes.is_empty());
    assert!(report.patch.is_none());
    assert_eq!(report.cause, Cause::ExplicitDeny);
    assert!(!report.verified);

    // Even with the role's own allow on the key and a (copied) key policy that seems to
    // delegate, nothing is proposed: the real policy is AWS's.
    let mut e = e;
    let key = e.kms_keys[0].key_arn.clone();
    e.key_policies
        .push(restore_doctor::diagnose::evidence::KeyPolicy {
            key_arn: key.clone(),
            document: json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"}]}),
            read_from: None,
        });
    e.restore_role.as_mut().unwrap().policies.push(PolicyDoc {
        name: "kms-everything".into(),
        arn: None,
        kind: PolicyKind::Inline,
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": key}]}),
    });
    let report = examine(&e);
    assert!(report
        .missing
        .iter()
        .filter(|f| f.resource == key)
        .all(|f| f.blocked_by == vec![Blocker::AwsRule]));
    assert_eq!(
        report.missing.iter().filter(|f| f.resource == key).count(),
        4
    );
    assert!(report.key_policy_fixes.is_empty());
}

/// Regression: for an AWS managed key of this account whose policy does not let the
/// role in, a put-key-policy command was proposed, which KMS refuses for AWS managed keys.
#[test]
fn no_put_key_policy_for_an_aws_managed_key() {
    let mut e = case("kms-key-policy-without-root");
    e.kms_keys.push(aws_managed(OWN_KEY, OWN_KEY, Some("AWS")));
    let report = examine(&e);
    assert!(
        report.key_policy_fixes.is_empty(),
        "{:#?}",
        report.key_policy_fixes
    );
    let kms: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.action.starts_with("kms:"))
        .collect();
    assert!(!kms.is_empty());
    for f in kms {
        assert!(f.blocked_by.contains(&Blocker::AwsRule), "{f:#?}");
        assert!(!f.blocked_by.contains(&Blocker::KeyPolicy), "{f:#?}");
        assert!(f
            .who_must_act
            .as_deref()
            .unwrap()
            .contains("cannot be changed"));
    }
    assert!(!report.verified);
}

/// An `alias/aws/...` alias names an AWS managed key even when kms:DescribeKey's answer
/// carried no KeyManager.
#[test]
fn an_aws_alias_marks_the_key_as_aws_managed() {
    let mut e = case("kms-key-policy-without-root");
    e.restore_metadata
        .as_mut()
        .unwrap()
        .insert("KmsKeyId".into(), "alias/aws/elasticfilesystem".into());
    e.kms_keys
        .push(aws_managed("alias/aws/elasticfilesystem", OWN_KEY, None));
    assert!(restore_doctor::diagnose::managed_key::is_aws_managed_key(
        &e, OWN_KEY
    ));
    let report = examine(&e);
    assert!(report.key_policy_fixes.is_empty());
    // The same evidence naming a customer managed key keeps its key policy fix.
    let mut customer = case("kms-key-policy-without-root");
    customer
        .kms_keys
        .push(aws_managed(OWN_KEY, OWN_KEY, Some("CUSTOMER")));
    assert_eq!(examine(&customer).key_policy_fixes.len(), 1);
}

/// Auto-attach refuses the AWS managed key case: nothing there is a missing allow.
#[test]
fn auto_attach_refuses_an_aws_managed_key_of_another_account() {
    use restore_doctor::remedy::guard::{decide, GuardSettings};
    let mut e = case("kms-aws-managed-cross-account");
    e.restore_role
        .as_mut()
        .unwrap()
        .tags
        .insert("restore-doctor:auto-attach".into(), "true".into());
    let settings = GuardSettings {
        enabled: true,
        account: Some("111122223333".into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let d = decide(&e, &examine(&e), &settings);
    assert_eq!(d.report.decision, "refuse");
    assert!(d.put.is_none());
    assert!(
        d.report
            .reasons
            .iter()
            .any(|r| r.contains("not fixable by a role patch")),
        "{:#?}",
        d.report.reasons
    );
}

/// RCP levels above the restore's account, one of which denies everything to everyone.
fn rcps_denying_all() -> Vec<restore_doctor::diagnose::evidence::OrgLevelDocs> {
    use restore_doctor::diagnose::evidence::OrgLevelDocs;
    let deny = PolicyDoc {
        name: "deny-everything".into(),
        arn: Some("arn:aws:organizations::111122223333:policy/o-a1b2c3d4e5/resource_control_policy/p-abcd1234".into()),
        kind: PolicyKind::Managed,
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "NothingAtAll", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}),
    };
    vec![
        OrgLevelDocs {
            org_identifier: "r-ab12".into(),
            policies: vec![],
        },
        OrgLevelDocs {
            org_identifier: "ou-ab12-cdef3456".into(),
            policies: vec![deny],
        },
    ]
}

/// RCPs bound the resources of the services AWS lists for them (KMS among them), in the
/// account they are attached above: a Deny of `*` reaches the restore's own key, not
/// the EFS actions, and not a key of another account (whose RCPs were not read).
#[test]
fn rcps_are_a_layer_only_for_listed_services_in_the_restores_account() {
    let mut e = case("efs-role-missing-kms");
    let own_key = e.key_policies[0].key_arn.clone();
    e.resource_control_policies = Some(rcps_denying_all());
    let report = examine(&e);
    let on_own_key: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.resource == own_key)
        .collect();
    assert!(!on_own_key.is_empty(), "{:#?}", report.missing);
    assert!(
        on_own_key
            .iter()
            .all(|f| f.blocked_by.contains(&Blocker::Rcp)),
        "{on_own_key:#?}"
    );
    assert!(
        report
            .missing
            .iter()
            .filter(|f| f.action.starts_with("elasticfilesystem:"))
            .all(|f| !f.blocked_by.contains(&Blocker::Rcp)),
        "{:#?}",
        report.missing
    );

    let mut e = central_key_unread();
    e.resource_control_policies = Some(rcps_denying_all());
    let report = examine(&e);
    assert!(
        report
            .missing
            .iter()
            .filter(|f| f.resource == CENTRAL_KEY)
            .all(|f| !f.blocked_by.contains(&Blocker::Rcp)),
        "{:#?}",
        report.missing
    );
    let unverified = serde_json::to_string(&report).unwrap();
    assert!(
        unverified.contains("resource control policies of account 444455556666"),
        "{unverified}"
    );
}

/// Regression: a key in the central backup account whose policy delegates to the
/// restore's account was reported "blocked by the KMS key policy; no role patch can fix
/// that", though the patch (an identity grant in the restore's account) fixes it.
#[test]
fn a_key_of_another_account_delegating_to_the_restores_account_is_fixed_by_the_patch() {
    let mut e = central_key_unread();
    e.gaps.clear();
    e.restore_role
        .as_mut()
        .unwrap()
        .policies
        .retain(|p| p.name != "kms-everything");
    e.key_policies
        .push(restore_doctor::diagnose::evidence::KeyPolicy {
            key_arn: CENTRAL_KEY.into(),
            document: json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"],
                 "Resource": "*"}]}),
            read_from: None,
        });
    let report = examine(&e);
    let on_key: Vec<_> = report
        .missing
        .iter()
        .filter(|f| f.resource == CENTRAL_KEY)
        .collect();
    assert!(!on_key.is_empty(), "{:#?}", report.missing);
    for f in on_key {
        assert!(f.fixable_by_patch, "{f:#?}");
        assert_eq!(f.blocked_by, vec![Blocker::IdentityPolicy], "{f:#?}");
    }
    assert!(report.verified, "{:#?}", report.verification);
}
