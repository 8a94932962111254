//! Evidence gaps said once each: every part of the evidence that could not be read,
//! and every check the evaluator would not decide, becomes an [`Unverified`] entry
//! naming what it leaves unchecked, so nobody reads a gap as "fine".

use super::check::Check;
use super::evidence::{Evidence, EvidencePart};
use super::report::Unverified;
use super::validated;

/// Adds an [`Unverified`] entry for every gap not already reported, saying what the
/// diagnosis could not check because of it.
pub fn report_remaining_gaps(evidence: &Evidence, unverified: &mut Vec<Unverified>) {
    for gap in &evidence.gaps {
        let text = format!("{} failed: {}", gap.call, gap.error);
        if unverified.iter().any(|u| u.why.contains(&text)) {
            continue;
        }
        let (what, consequence) = match gap.part {
            EvidencePart::RestoreJob => ("the restore job", "its role, recovery point and vault were taken from the event where it had them"),
            EvidencePart::RestoreMetadata => ("the restore metadata", "the target KMS key and instance profile of the restore may be unknown, so their permissions were not checked"),
            EvidencePart::RecoveryPoint => ("the recovery point", "its encryption key may be unknown, so KMS permissions on it were not checked"),
            EvidencePart::DecodedMessage => ("the encoded authorization message", "every required permission was still checked"),
            EvidencePart::RestoreRole => ("part of the restore role's policies", "a policy that could not be read may grant or deny what is reported here"),
            EvidencePart::Caller => ("part of the caller's policies", "a policy that could not be read may grant or deny what is reported here"),
            EvidencePart::InstanceProfile => ("an instance profile", "iam:PassRole on its role was not checked"),
            EvidencePart::VaultAccessPolicy => ("the vault access policy", "a Deny of backup:StartRestoreJob there would block every restore"),
            EvidencePart::KeyPolicy => ("a KMS key policy", "the KMS checks assume the default key policy, which delegates to IAM"),
            EvidencePart::ServiceControlPolicies => ("service control policies", "an SCP may still deny what the identity policies allow"),
            EvidencePart::ResourceControlPolicies => ("resource control policies", "an RCP may still deny what the key and resource policies allow"),
            EvidencePart::Other => ("part of the evidence", "the diagnosis used what was collected"),
        };
        unverified.push(Unverified::new(
            gap.part,
            what,
            format!("{text}; {consequence}"),
        ));
    }
}

/// A request the evaluator would not decide (past AWS's limits) is a gap, never a pass.
pub fn undecided_checks(
    checks: &[Check],
    role_arn: Option<&str>,
    unverified: &mut Vec<Unverified>,
) {
    for c in checks {
        let Some(err) = &c.undecided else { continue };
        let part = if Some(c.principal_arn.as_str()) == role_arn {
            EvidencePart::RestoreRole
        } else {
            EvidencePart::Caller
        };
        unverified.push(Unverified::new(
            part,
            format!(
                "`{}` on `{}` for `{}`",
                validated::shown(&c.requirement.action),
                validated::shown(&c.requirement.resource),
                validated::shown(&c.principal_arn)
            ),
            format!("it was not evaluated: {err}"),
        ));
    }
}

/// The RCPs read are those above the restore's account: a resource of another account
/// (the central backup account's key), of a service RCPs apply to, is bound by that
/// account's RCPs, which were not read.
pub fn rcps_of_other_accounts(
    evidence: &Evidence,
    checks: &[Check],
    account: Option<&str>,
    unverified: &mut Vec<Unverified>,
) {
    if evidence.resource_control_policies.is_none() {
        return;
    }
    let mut others: Vec<String> = Vec::new();
    for c in checks {
        let owner = validated::Arn::parse(&c.requirement.resource)
            .ok()
            .map(|a| a.account().to_owned())
            .filter(|a| validated::is_account_id(a));
        if let Some(owner) = owner {
            if Some(owner.as_str()) != account
                && super::check::rcp_applies(&c.requirement.action)
                && !others.contains(&owner)
            {
                others.push(owner);
            }
        }
    }
    for owner in others {
        unverified.push(Unverified::new(
            EvidencePart::ResourceControlPolicies,
            format!("the resource control policies of account {owner}"),
            "only those above the restore's account were read; an RCP there may still deny what the key and resource policies allow",
        ));
    }
}
