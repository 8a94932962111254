//! AWS's own rules, which no policy can grant around: writes to roles only AWS may
//! change and to the aliases of AWS managed keys. The evaluator answers these before
//! reading any policy, with the rule as the reason, so that a report never proposes a
//! patch for them and auto-attach refuses them from the same words.
//!
//! Each rule carries the AWS page it comes from. A request outside these rules is
//! decided by the policies as usual.

use serde::{Deserialize, Serialize};

use super::arn::Arn;

/// One of AWS's fixed rules, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardRule {
    /// Stable identifier, for tests and the JSON report.
    pub id: &'static str,
    /// What AWS does not allow, in a sentence that reads after "AWS does not allow this:".
    pub why: &'static str,
    /// The AWS page (or error AWS returns) the rule comes from.
    pub source: &'static str,
}

/// A hard rule as reported in an [`super::Evaluation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsRule {
    pub id: String,
    pub why: String,
    pub source: String,
}

impl From<&HardRule> for AwsRule {
    fn from(r: &HardRule) -> Self {
        AwsRule {
            id: r.id.to_owned(),
            why: r.why.to_owned(),
            source: r.source.to_owned(),
        }
    }
}

/// The words every report and refusal uses for a hard rule.
pub const NO_PATCH: &str = "AWS does not allow this: no patch can fix it";

/// Service-linked roles: "service-linked roles are protected AWS resources. Only the
/// service that depends on the service-linked role can modify or delete the role"
/// (IAM API Reference, `UnmodifiableEntity`); their description is the one thing an
/// account may edit (IAM User Guide, "Update a service-linked role").
pub const SERVICE_LINKED_ROLE: HardRule = HardRule {
    id: "serviceLinkedRoleWrite",
    why: "a service-linked role (path `/aws-service-role/`) is changed only by the service it is linked to",
    source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_update-service-linked-role.html; IAM API error UnmodifiableEntity",
};

/// Roles IAM Identity Center creates for permission sets: IAM answers any write with
/// "UnmodifiableEntity: Cannot perform the operation on the protected role
/// 'AWSReservedSSO_…' - this role is only modifiable by AWS" (reported in
/// rebuy-de/aws-nuke#441 and perkbox/cloud-access-bot#11); Identity Center changes them
/// through its service-linked role (AWSSSOServiceRolePolicy, Sid
/// `IAMRoleProvisioningActions`, on `role/aws-reserved/sso.amazonaws.com/*`).
pub const IDENTITY_CENTER_ROLE: HardRule = HardRule {
    id: "identityCenterRoleWrite",
    why: "a role IAM Identity Center created (path `/aws-reserved/`) is changed only through its permission set",
    source: "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSSSOServiceRolePolicy.html (Sid IAMRoleProvisioningActions); IAM API error UnmodifiableEntity",
};

/// iam:PassRole of a role only AWS manages. AWS documents the trust and permissions of
/// these roles as fixed, not a PassRole deny as such: not verified against an AWS page
/// as an authorization rule (issue #9 asks for it). What is sourced is that nothing in
/// the account can make such a role fit another use.
pub const PASS_AWS_MANAGED_ROLE: HardRule = HardRule {
    id: "awsManagedRolePass",
    why: "a service-linked or IAM Identity Center role cannot be passed for another use: its trust and permissions are fixed by AWS (the authorization deny itself is not verified against AWS documentation)",
    source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_update-service-linked-role.html; https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSSSOServiceRolePolicy.html",
};

/// "The alias name for a customer managed key cannot begin with alias/aws/. The
/// alias/aws/ prefix is reserved for AWS managed key" (KMS Developer Guide, "Create
/// aliases"); "Aliases that begin with alias/aws are reserved" (KMS API, UpdateAlias).
pub const AWS_MANAGED_ALIAS: HardRule = HardRule {
    id: "awsManagedAliasWrite",
    why: "aliases under `alias/aws/` are reserved for AWS managed keys",
    source: "https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html",
};

/// "You can view the key policy for an AWS managed key or a customer managed key, but
/// you can only change the key policy for a customer managed key" (KMS Developer Guide,
/// "Change a key policy"). Not decidable from an ARN: the diagnosis applies it from
/// kms:DescribeKey's `KeyManager`.
pub const AWS_MANAGED_KEY_POLICY: HardRule = HardRule {
    id: "awsManagedKeyPolicy",
    why: "the key policy of an AWS managed key (`KeyManager: AWS`) cannot be changed",
    source: "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying.html",
};

/// AWS managed keys serve only the AWS service that created them, in their own account:
/// AWS Backup shares across accounts only resources encrypted with a customer managed
/// key ("if your resources are encrypted with a customer managed key, you must share
/// this customer managed key with the destination account": AWS Backup Developer
/// Guide, "Creating backup copies across AWS accounts"), and the key policy of an AWS
/// managed key cannot be changed to add another account (see [`AWS_MANAGED_KEY_POLICY`]).
pub const AWS_MANAGED_KEY_CROSS_ACCOUNT: HardRule = HardRule {
    id: "awsManagedKeyCrossAccount",
    why: "AWS managed keys cannot be shared across accounts: re-copy or re-back up with a customer managed key",
    source: "https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html; https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying.html",
};

/// IAM actions that change a role: its policies, boundary, trust or existence. The
/// description (`UpdateRole`, `UpdateRoleDescription`) and tags are left out: AWS lets
/// accounts edit a service-linked role's description, and tags are not documented either way.
const ROLE_WRITES: [&str; 9] = [
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRole",
    "iam:DeleteServiceLinkedRole",
];

const ALIAS_WRITES: [&str; 3] = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"];

/// The path prefixes of roles only AWS may change, with the rule for writes to them.
const AWS_ROLE_PATHS: [(&str, &HardRule); 2] = [
    ("/aws-service-role/", &SERVICE_LINKED_ROLE),
    ("/aws-reserved/", &IDENTITY_CENTER_ROLE),
];

fn one_of(action: &str, list: &[&str]) -> bool {
    list.iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// The write rule for a role ARN under a path only AWS may change, if it is one.
pub fn aws_managed_role(role_arn: &str) -> Option<&'static HardRule> {
    let arn = Arn::parse(role_arn)?;
    if arn.service != "iam" {
        return None;
    }
    let path = arn.resource.strip_prefix("role")?;
    AWS_ROLE_PATHS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map(|(_, rule)| *rule)
}

/// The AWS rule that denies `action` on `resource` whatever the policies say, if any.
/// `resource` is a literal ARN; a pattern never matches a rule.
pub fn hard_rule(action: &str, resource: &str) -> Option<&'static HardRule> {
    if resource.contains(['*', '?']) {
        return None;
    }
    if one_of(action, &ROLE_WRITES) {
        return aws_managed_role(resource);
    }
    if action.eq_ignore_ascii_case("iam:PassRole") {
        return aws_managed_role(resource).map(|_| &PASS_AWS_MANAGED_ROLE);
    }
    if one_of(action, &ALIAS_WRITES) {
        let arn = Arn::parse(resource)?;
        let reserved = arn.service == "kms"
            && arn
                .resource
                .get(..10)
                .is_some_and(|head| head.eq_ignore_ascii_case("alias/aws/"));
        return reserved.then_some(&AWS_MANAGED_ALIAS);
    }
    None
}

/// Whether a key reference (alias name or alias ARN) names an AWS managed key's alias.
pub fn is_aws_managed_alias(reference: &str) -> bool {
    let alias = match Arn::parse(reference) {
        Some(arn) if arn.service == "kms" => arn.resource,
        Some(_) => return false,
        None => reference,
    };
    alias
        .get(..10)
        .is_some_and(|head| head.eq_ignore_ascii_case("alias/aws/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_writes_by_path() {
        let slr = "arn:aws:iam::111122223333:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup";
        let sso = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123";
        let plain = "arn:aws:iam::111122223333:role/service-role/AWSBackupDefaultServiceRole";
        assert_eq!(
            hard_rule("iam:PutRolePolicy", slr),
            Some(&SERVICE_LINKED_ROLE)
        );
        assert_eq!(
            hard_rule("IAM:attachrolepolicy", sso),
            Some(&IDENTITY_CENTER_ROLE)
        );
        assert_eq!(hard_rule("iam:PassRole", sso), Some(&PASS_AWS_MANAGED_ROLE));
        assert_eq!(hard_rule("iam:PutRolePolicy", plain), None);
        // The description of a service-linked role is editable.
        assert_eq!(hard_rule("iam:UpdateRoleDescription", slr), None);
        // A role whose *name* merely contains the path words is not under the path.
        assert_eq!(
            hard_rule(
                "iam:PutRolePolicy",
                "arn:aws:iam::111122223333:role/x/aws-reserved/y"
            ),
            None
        );
        assert_eq!(
            hard_rule("iam:PutRolePolicy", "arn:aws:iam::111122223333:role/aws-*"),
            None
        );
    }

    #[test]
    fn reserved_aliases() {
        let a = "arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs";
        assert_eq!(hard_rule("kms:UpdateAlias", a), Some(&AWS_MANAGED_ALIAS));
        assert_eq!(hard_rule("kms:Decrypt", a), None);
        assert_eq!(
            hard_rule(
                "kms:CreateAlias",
                "arn:aws:kms:eu-west-1:111122223333:alias/awsome"
            ),
            None
        );
        assert!(is_aws_managed_alias("alias/aws/rds"));
        assert!(is_aws_managed_alias(a));
        assert!(!is_aws_managed_alias("alias/awsome"));
        assert!(!is_aws_managed_alias(
            "arn:aws:iam::111122223333:role/alias/aws/x"
        ));
    }
}
