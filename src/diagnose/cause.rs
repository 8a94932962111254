//! Findings from the message itself and the cause and summary of the report.

use super::check::{self, check, Check, ResourceGate};
use super::evidence::{self, Evidence, EvidencePart};
use super::facts::{self, Facts};
use super::message;
use super::principal::Subject;
use super::report::*;
use super::requirements::Requirement;

pub(crate) fn reconcile_denied(
    d: &DeniedRequest,
    checks: &[Check],
    unverified: &mut Vec<Unverified>,
) {
    let matching: Vec<&Check> = checks
        .iter()
        .filter(|c| {
            c.requirement.action.eq_ignore_ascii_case(&d.action)
                && d.resource
                    .as_deref()
                    .is_none_or(|r| r == c.requirement.resource)
        })
        .collect();
    if !matching.is_empty()
        && matching
            .iter()
            .all(|c| c.finding.is_none() && c.undecided.is_none())
    {
        unverified.push(Unverified::new(
            EvidencePart::DecodedMessage,
            format!(
                "the denial AWS reported for `{}`",
                super::validated::shown(&d.action)
            ),
            "the collected policies allow it: the cause may be a condition on the request, an SCP, or a policy that could not be read",
        ));
    }
}

/// AWS's own word that no policy allows a request, for a request no check evaluated
/// (the principal's policies were not collected, or the message names another
/// principal): a finding, never "nothing missing". Not fixable by a patch here, since
/// no patch can be verified without the policies; the report says what to collect.
pub(crate) fn finding_when_unchecked(
    d: &DeniedRequest,
    subjects: &[&Subject],
    default_subject: Option<&Subject>,
) -> Option<Finding> {
    if d.explicit_deny != Some(false) || !is_iam_action(&d.action) {
        return None;
    }
    let subject = match d.principal.as_deref() {
        Some(p) => subjects.iter().copied().find(|s| is_subject(p, s)),
        None => default_subject,
    };
    // With the principal's policies, the checks (and `named_request_check`) answer.
    if subject.is_some_and(|s| s.policies_known) {
        return None;
    }
    let blocker = match d.policy_type.as_deref() {
        Some("permissions boundary") => Blocker::PermissionBoundary,
        Some("service control policy") => Blocker::Scp,
        Some("resource control policy") => Blocker::Rcp,
        Some("session policy") => Blocker::SessionPolicy,
        _ => Blocker::IdentityPolicy,
    };
    let said = d.policy_type.as_deref().unwrap_or("identity-based policy");
    Some(Finding {
        action: d.action.clone(),
        resource: d.resource.clone().unwrap_or_else(|| "*".into()),
        principal: subject
            .map(|s| s.arn.clone())
            .or_else(|| d.principal.clone())
            .unwrap_or_default(),
        fixable_by_patch: false,
        blocked_by: vec![blocker],
        denied_by: vec![],
        why: format!(
            "AWS reported that no {said} allows it; the principal's policies were not in the evidence, so restore-doctor could not check it or verify a patch"
        ),
        who_must_act: Some(match blocker {
            Blocker::IdentityPolicy => "the principal's owner: allow it in its identity policies (run the diagnosis with the principal's policies in the evidence for a verified, least-privilege patch)".to_string(),
            other => check::who_must_act(&[other]),
        }),
        assumed_context: vec![],
    })
}

/// A finding for what the message says was denied when no check covers it (an action
/// outside the catalog, or an SCP deny we could not see).
pub(crate) fn finding_from_message(
    d: &DeniedRequest,
    missing: &[Finding],
    scps: &Option<Vec<evidence::OrgLevelDocs>>,
    role_session: Option<(&str, &str)>,
) -> Option<Finding> {
    let covered = missing.iter().any(|f| {
        f.action.eq_ignore_ascii_case(&d.action)
            && d.resource.as_deref().is_none_or(|r| r == f.resource)
    });
    if covered {
        return None;
    }
    let by_scp = d.policy_type.as_deref() == Some("service control policy");
    if d.explicit_deny != Some(true) && !by_scp {
        return None;
    }
    let blocker = match d.policy_type.as_deref() {
        Some("service control policy") => Blocker::Scp,
        Some("permissions boundary") => Blocker::PermissionBoundary,
        Some("resource-based policy") => Blocker::VaultAccessPolicy,
        Some("resource control policy") => Blocker::Rcp,
        Some("session policy") => Blocker::SessionPolicy,
        Some("identity-based policy") => Blocker::IdentityDeny,
        // A decoded message says "explicit deny" without naming the policy type. The
        // identity policies and boundary were checked and do not deny it, so when SCPs
        // were not collected, an SCP is where the deny must be.
        _ if scps.is_none() => Blocker::Scp,
        _ => return None,
    };
    if blocker == Blocker::Scp && scps.is_some() {
        return None;
    }
    Some(Finding {
        action: d.action.clone(),
        resource: d.resource.clone().unwrap_or_else(|| "*".into()),
        // The restore role's session is reported as the role itself.
        principal: match (d.principal.as_deref(), role_session) {
            (Some(p), Some((session, role))) if p == session => role.to_string(),
            (p, _) => p.unwrap_or_default().to_string(),
        },
        fixable_by_patch: false,
        blocked_by: vec![blocker],
        denied_by: vec![],
        why: {
            let statements = match d.matched_statements.as_slice() {
                [] => String::new(),
                ids => format!(" (statement {})", ids.join(", ")),
            };
            match d.policy_type.as_deref() {
                Some(t) => format!("AWS reported an explicit deny in a {t}{statements} in the failure message"),
                None => format!("AWS reported an explicit deny{statements} in the failure message; no collected identity policy or boundary denies it"),
            }
        },
        who_must_act: Some(check::who_must_act(&[blocker])),
        assumed_context: vec![],
    })
}

/// Whether the failure is a denial: AWS said "not authorized" in some form, so the
/// cause can never be "not about permissions".
pub(crate) fn is_denial(kind: FailureKind, denied: Option<&DeniedRequest>) -> bool {
    denied.is_some()
        || matches!(
            kind,
            FailureKind::EncodedAuthorization | FailureKind::AccessDenied | FailureKind::Opaque
        )
}

/// The cause AWS's words and the checks support, in this order: a non-permission
/// failure class AWS named (permission gaps found alongside are "also missing", never
/// the headline); the blockers and gaps the checks found; a denial nothing explains
/// (`requirements_checked`: the restore path's requirements were evaluated); parts not
/// verified; and only then "not about permissions" — never for a denial.
pub(crate) fn cause_of(
    missing: &[Finding],
    unverified: &[Unverified],
    denied: Option<&DeniedRequest>,
    kind: FailureKind,
    class: Option<&FailureClassification>,
    requirements_checked: bool,
) -> Cause {
    if let Some(c) = class {
        return Cause::from(c.class);
    }
    let has = |b: Blocker| missing.iter().any(|f| f.blocked_by.contains(&b));
    let reported_explicit = denied.is_some_and(|d| d.explicit_deny == Some(true))
        && missing.iter().any(|f| !f.fixable_by_patch);
    if has(Blocker::VaultAccessPolicy) {
        Cause::VaultPolicyDeny
    } else if has(Blocker::IdentityDeny)
        || has(Blocker::AwsRule)
        || missing.iter().any(|f| !f.denied_by.is_empty())
        || reported_explicit
    {
        Cause::ExplicitDeny
    } else if has(Blocker::KeyPolicy) {
        Cause::KeyPolicy
    } else if has(Blocker::Scp)
        || has(Blocker::PermissionBoundary)
        || has(Blocker::Rcp)
        || has(Blocker::SessionPolicy)
    {
        Cause::GuardrailLimit
    } else if !missing.is_empty() {
        Cause::MissingPermissions
    } else if is_denial(kind, denied) && requirements_checked {
        // Only when the restore's requirements were actually evaluated: a denial with
        // nothing checked (no policies, no catalog entry) is "not verified".
        Cause::UnexplainedDenial
    } else if is_denial(kind, denied) && unverified.is_empty() {
        Cause::UnexplainedDenial
    } else if !unverified.is_empty() {
        Cause::Unverified
    } else {
        Cause::NotPermissions
    }
}

/// Whether a patch can be called verified under this cause: never for a failure that
/// is not about permissions (the patch does not fix *this* failure) nor for a denial
/// that nothing found explains.
pub(crate) fn cause_allows_verified(cause: Cause) -> bool {
    !cause.is_failure_class() && cause != Cause::UnexplainedDenial
}

pub(crate) fn services_of(findings: &[&Finding]) -> String {
    let mut services: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.action.split(':').next())
        .collect();
    services.sort();
    services.dedup();
    services.join(", ")
}

pub(crate) fn summarize(
    cause: Cause,
    missing: &[Finding],
    facts: &Facts,
    unverified: &[Unverified],
    class: Option<&FailureClassification>,
    unexplained: Option<&UnexplainedDenial>,
) -> String {
    let fixable: Vec<&Finding> = missing.iter().filter(|f| f.fixable_by_patch).collect();
    let blockers: Vec<&Finding> = missing.iter().filter(|f| !f.fixable_by_patch).collect();
    let who = |arn: &str| {
        if Some(arn) == facts.role_arn.as_deref() {
            format!("restore role {}", facts::role_name(arn))
        } else {
            format!("caller {arn}")
        }
    };
    let first_blocker = blockers.first().map(|f| {
        let by: Vec<&str> = f.blocked_by.iter().map(blocker_words).collect();
        format!(
            "{} on {} is blocked by the {}",
            f.action,
            f.resource,
            by.join(" and the ")
        )
    });
    let tail = |n: usize| match n {
        0 => String::new(),
        1 => " (1 more finding below)".to_string(),
        n => format!(" ({n} more findings below)"),
    };
    match cause {
        Cause::MissingPermissions if fixable.is_empty() => match blockers.first() {
            // What AWS named, where the evidence could not check it: AWS's word stands.
            Some(f) if f.assumed_context.is_empty() => format!(
                "AWS reported that {} is not allowed {} on {}; the evidence lacks the policies to check it, so no patch is verified (see who must act below){}.",
                f.principal,
                f.action,
                f.resource,
                tail(missing.len().saturating_sub(1))
            ),
            // Only allows that hinge on context the evidence lacks: say so, grant nothing.
            Some(f) => format!(
                "{} on {} depends on {}, which the evidence does not carry: not verified, and no patch grants around that condition{}.",
                f.action,
                f.resource,
                f.assumed_context.join(", "),
                tail(missing.len().saturating_sub(1))
            ),
            None => String::new(),
        },
        Cause::MissingPermissions => {
            let principals: Vec<String> = {
                let mut p: Vec<String> = fixable.iter().map(|f| who(&f.principal)).collect();
                p.dedup();
                p
            };
            format!(
                "The {} lacks {} permission{} ({}); the patch below adds exactly those.",
                principals.join(" and the "),
                fixable.len(),
                if fixable.len() == 1 { "" } else { "s" },
                services_of(&fixable)
            )
        }
        Cause::VaultPolicyDeny | Cause::ExplicitDeny | Cause::KeyPolicy | Cause::GuardrailLimit => format!(
            "{}; no role patch can fix that{}.",
            first_blocker.unwrap_or_default(),
            tail(missing.len().saturating_sub(1))
        ),
        Cause::Unverified => format!(
            "No missing permission found in what could be read, but {} part{} could not be verified (see below).",
            unverified.len(),
            if unverified.len() == 1 { "" } else { "s" }
        ),
        Cause::NotPermissions => {
            "Every permission the restore needs is in place: the failure is not about permissions.".into()
        }
        Cause::UnexplainedDenial => match unexplained {
            Some(u) => format!(
                "AWS denied the restore, but {} permission{} checked {} allowed by the collected policies; not verified: {}. Next: {}.",
                u.checked.len(),
                if u.checked.len() == 1 { "" } else { "s" },
                if u.checked.len() == 1 { "is" } else { "are" },
                u.not_verified.join("; "),
                u.next_step
            ),
            None => "AWS denied the restore and no checked permission explains it.".into(),
        },
        Cause::Network
        | Cause::RestoreMetadata
        | Cause::AlreadyExists
        | Cause::QuotaExceeded
        | Cause::UnsupportedConfiguration
        | Cause::KmsKeyState
        | Cause::InternalError => {
            let also = match missing.len() {
                0 => String::new(),
                1 => " Also missing: 1 permission (below); granting it does not fix this failure.".into(),
                n => format!(" Also missing: {n} permissions (below); granting them does not fix this failure."),
            };
            match class {
                Some(c) => format!(
                    "Not a permissions problem: {} (recognised by `{}`). {}{also}",
                    class_words(c.class),
                    c.matched,
                    c.guidance
                ),
                None => format!("Not a permissions problem.{also}"),
            }
        }
    }
}

/// Words for a failure class in sentences.
pub fn class_words(c: FailureClass) -> &'static str {
    match c {
        FailureClass::Network => {
            "a VPC, subnet or security group the restore needs is missing or unusable"
        }
        FailureClass::RestoreMetadata => {
            "AWS rejected a restore parameter, or what it names does not exist"
        }
        FailureClass::AlreadyExists => "the resource the restore creates already exists",
        FailureClass::QuotaExceeded => "a service quota or capacity limit was reached",
        FailureClass::UnsupportedConfiguration => "AWS does not support this restore configuration",
        FailureClass::KmsKeyState => "the KMS key is disabled, pending deletion or not found",
        FailureClass::InternalError => "AWS reported an internal or transient error",
    }
}

/// Words for a blocker in sentences.
pub fn blocker_words(b: &Blocker) -> &'static str {
    match b {
        Blocker::IdentityPolicy => "missing allow in the identity policies",
        Blocker::IdentityDeny => "explicit deny in an identity policy",
        Blocker::PermissionBoundary => "permissions boundary",
        Blocker::Scp => "service control policy",
        Blocker::Rcp => "resource control policy",
        Blocker::SessionPolicy => "session policy",
        Blocker::KeyPolicy => "KMS key policy",
        Blocker::VaultAccessPolicy => "backup vault access policy",
        Blocker::TrustPolicy => "trust policy",
        Blocker::AwsRule => {
            "AWS rule that no policy overrides (AWS does not allow this: no patch can fix it)"
        }
    }
}

/// `s` with its first letter upper-cased (sentences built from lower-case phrases).
pub(crate) fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether `principal` (from a message) is `subject`: its request principal, its ARN,
/// or any session of the role (`arn:P:sts::A:assumed-role/NAME/SESSION` for the role
/// `arn:P:iam::A:role/PATH/NAME`): plain messages carry whatever session name AWS used.
fn is_subject(principal: &str, subject: &Subject) -> bool {
    if principal == subject.request_principal || principal == subject.arn {
        return true;
    }
    let session = || -> Option<bool> {
        let role = subject.arn.split(':').collect::<Vec<_>>();
        let p = principal.split(':').collect::<Vec<_>>();
        let (role_part, role_account, role_res) = (role.get(1)?, role.get(4)?, role.get(5)?);
        let (p_part, p_service, p_account, p_res) = (p.get(1)?, p.get(2)?, p.get(4)?, p.get(5)?);
        let role_name = role_res.strip_prefix("role/")?.rsplit('/').next()?;
        let mut rest = p_res.strip_prefix("assumed-role/")?.splitn(2, '/');
        let name = rest.next()?;
        rest.next().filter(|s| !s.is_empty())?;
        Some(
            p.len() == 6
                && *p_service == "sts"
                && p_part == role_part
                && p_account == role_account
                && name == role_name,
        )
    };
    session().unwrap_or(false)
}

/// An IAM action as AWS names them: `prefix:Name`, the prefix lower-case letters,
/// digits and `-`, the name letters and digits; no wildcard.
fn is_iam_action(action: &str) -> bool {
    let Some((prefix, name)) = action.split_once(':') else {
        return false;
    };
    action.len() <= 128
        && !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a named action may be granted by a patch for this restore: its service is
/// one the restore's catalog entry uses, or KMS or AWS Backup. Never IAM or STS (a
/// message could otherwise steer a patch into granting `iam:CreateUser`; iam:PassRole
/// comes from the catalog's own requirement, with its `iam:PassedToService`).
pub(crate) fn restore_action(resource_type: Option<&str>, action: &str) -> bool {
    let prefix = action.split(':').next().unwrap_or_default();
    prefix == "kms"
        || prefix == "backup"
        || restore_service_prefixes(resource_type)
            .iter()
            .any(|p| p == prefix)
}

/// Where the denied request came from, for the finding's `why`.
fn named_why(d: &DeniedRequest, decoded: bool) -> String {
    match (&d.operation, decoded) {
        (_, true) => "the request AWS denied, with the context from the decoded message".into(),
        (Some(op), false) => format!(
            "the request AWS denied: the failure message names the `{}` operation",
            super::validated::shown(op)
        ),
        (None, false) => "the request AWS denied, as the failure message names it".into(),
    }
}

/// The denied request the failure message names (plain sentence, decoded message, or
/// an operation name read through `data/operations.json`), evaluated for the principal
/// it names — or for `default_subject` when it names none — even when the catalog does
/// not list it, so a named action is always a finding that the patch machinery sees.
/// Kept only when it finds what no other check found.
#[allow(clippy::too_many_arguments)]
pub(crate) fn named_request_check(
    d: &DeniedRequest,
    subjects: &[&Subject],
    default_subject: Option<&Subject>,
    decoded: Option<&serde_json::Value>,
    checks: &[Check],
    account: &str,
    partition: &str,
    grantable: &dyn Fn(&str) -> bool,
    wildcard_only: &dyn Fn(&str) -> bool,
    restore_action: &dyn Fn(&str) -> bool,
) -> Option<Check> {
    // The action goes into a policy: only a well-formed, wildcard-free IAM action.
    if !is_iam_action(&d.action) {
        return None;
    }
    let subject = match d.principal.as_deref() {
        Some(p) => subjects.iter().copied().find(|s| is_subject(p, s))?,
        None => default_subject?,
    };
    if !subject.policies_known {
        return None;
    }
    let same_action = |c: &&Check| {
        c.principal_arn == subject.arn && c.requirement.action.eq_ignore_ascii_case(&d.action)
    };
    let resource = match d.resource.clone() {
        Some(r) => r,
        // AWS did not say which resource: the catalog's own requirements for that action
        // (with their exact resources) already answer for it.
        None if checks.iter().any(|c| same_action(&c)) => return None,
        None => "*".into(),
    };
    let context: std::collections::BTreeMap<String, crate::policy::ContextValue> = decoded
        .map(message::decoded_context)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, mut v)| {
            let value = if v.len() == 1 {
                crate::policy::ContextValue::One(v.remove(0))
            } else {
                crate::policy::ContextValue::Many(v)
            };
            (k, value)
        })
        .collect();
    // Evaluated already: with a finding, or (without the message's own context, which
    // could change the answer) allowed.
    let already = checks
        .iter()
        .filter(|c| same_action(c))
        .any(|c| c.requirement.resource == resource && (c.finding.is_some() || context.is_empty()));
    if already {
        return None;
    }
    let wildcard = resource == "*" && wildcard_only(&d.action);
    let req = Requirement {
        action: d.action.clone(),
        resource,
        context,
        condition: None,
        why: named_why(d, decoded.is_some()),
        wildcard_only: wildcard,
    };
    let mut c = check(subject, &req, &ResourceGate::None, account, partition);
    // A patch grants on the named resource only when it is an exact ARN of this account
    // or one of the catalog's own templates, never a pattern (or `*`) the message
    // happened to carry; `*` only for an action the catalog lists as having no
    // resource-level permissions (the patch then says so).
    let refused = if !restore_action(&req.action) {
        Some(format!(
            "the principal's owner, by hand: `{}` is not an action of the services this restore uses, so restore-doctor does not grant it",
            super::validated::shown(&req.action)
        ))
    } else if req.resource == "*" {
        (!wildcard).then(|| format!(
            "the principal's owner, by hand: AWS did not name the resource, and `{}` is not known to lack resource-level permissions, so restore-doctor does not grant it on `*`",
            super::validated::shown(&req.action)
        ))
    } else {
        (!grantable(&req.resource)).then(|| format!(
            "the principal's owner, by hand: `{}` is not an exact resource of this account, so restore-doctor does not grant on it",
            super::validated::shown(&req.resource)
        ))
    };
    if let (true, Some(who)) = (c.needs_identity_grant, refused) {
        c.needs_identity_grant = false;
        if let Some(f) = c.finding.as_mut() {
            f.fixable_by_patch = false;
            f.who_must_act = Some(who);
        }
    }
    (c.finding.is_some() || c.undecided.is_some()).then_some(c)
}

/// What a denial no finding explains leaves open: the requirements checked (all
/// allowed), the layers AWS evaluates that the evidence does not show, and where to
/// look first.
pub(crate) fn unexplained_denial(
    checks: &[Check],
    evidence: &Evidence,
    unverified: &[Unverified],
    kind: FailureKind,
    account: Option<&str>,
) -> UnexplainedDenial {
    let shown = super::validated::shown;
    let checked: Vec<String> = checks
        .iter()
        .filter(|c| c.finding.is_none() && c.undecided.is_none())
        .map(|c| {
            format!(
                "{} on {} for {}",
                shown(&c.requirement.action),
                shown(&c.requirement.resource),
                shown(&c.principal_arn)
            )
        })
        .collect();
    let part_gap = |part: EvidencePart| unverified.iter().any(|u| u.part == Some(part));
    let mut not_verified: Vec<String> = Vec::new();
    let policies_unread = part_gap(EvidencePart::RestoreRole) || part_gap(EvidencePart::Caller);
    if policies_unread {
        not_verified.push("part of the principals' own policies (see below)".into());
    }
    let scps_missing = evidence.service_control_policies.is_none();
    if scps_missing {
        not_verified.push("service control policies (not collected)".into());
    }
    // Those of other accounts' resources, when the restore account's were read, are
    // said by `gaps::rcps_of_other_accounts`. AWS Backup's session policy is not
    // visible at all.
    if evidence.resource_control_policies.is_none() {
        not_verified.push("resource control policies".into());
    }
    not_verified.push("the session policy of the restore role's session".into());
    let key_unread: Vec<String> = checks
        .iter()
        .filter(|c| matches!(c.gate, ResourceGate::KeyPolicy(None)))
        .map(|c| shown(&c.requirement.resource))
        .fold(Vec::new(), |mut keys, k| {
            if !keys.contains(&k) {
                keys.push(k);
            }
            keys
        });
    for k in &key_unread {
        not_verified.push(format!("the key policy of `{k}` (not read)"));
    }
    let uses_keys = checks
        .iter()
        .any(|c| matches!(c.gate, ResourceGate::KeyPolicy(_)));
    if uses_keys {
        not_verified.push("KMS grants on the keys involved (not read)".into());
    }
    let encoded_undecoded =
        kind == FailureKind::EncodedAuthorization && evidence.decoded_message.is_none();
    let next_step = if encoded_undecoded {
        "decode the authorization message (`aws sts decode-authorization-message`): it names the denied action, resource and whether an explicit deny matched".to_string()
    } else if policies_unread {
        "read the principals' policies that could not be collected (see below) and diagnose again"
            .to_string()
    } else if scps_missing {
        format!(
            "the service control policies that apply to account {} (in the organization's management account): an SCP is the most common deny that identity policies do not show",
            account.map_or("unknown".into(), shown)
        )
    } else if let Some(k) = key_unread.first() {
        format!("the key policy and grants of `{k}`")
    } else {
        "the CloudTrail event of the denied call in the restore's time window (errorCode AccessDenied): its eventName and requestParameters name the exact request, then its resource control policies, session policy and KMS grants".to_string()
    };
    UnexplainedDenial {
        checked,
        not_verified,
        next_step,
    }
}

/// The IAM prefixes of the services a restore of this type calls (from the catalog),
/// where an operation named in its failure message is looked up first.
pub(crate) fn restore_service_prefixes(resource_type: Option<&str>) -> Vec<String> {
    let Some(t) = resource_type.and_then(super::requirements::canonical_type) else {
        return vec![];
    };
    let mut prefixes: Vec<String> = super::requirements::catalog_actions(&t)
        .0
        .iter()
        .filter_map(|a| a.split(':').next())
        .filter(|p| !super::operations::GENERIC_PREFIXES.contains(p))
        .map(str::to_string)
        .collect();
    prefixes.dedup();
    prefixes
}

/// Whether the catalog lists `action` without resource-level permissions for this
/// restore type (so `*` is the only resource a grant can name).
pub(crate) fn wildcard_only_action(resource_type: Option<&str>, action: &str) -> bool {
    resource_type
        .and_then(super::requirements::canonical_type)
        .is_some_and(|t| {
            super::requirements::catalog_actions(&t)
                .1
                .contains(&action.to_ascii_lowercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(arn: &str) -> Subject {
        super::super::principal::subject(
            EvidencePart::RestoreRole,
            arn,
            None,
            &[],
            None,
            true,
            &mut Vec::new(),
        )
    }

    #[test]
    fn sessions_of_the_role_are_the_role_and_nothing_else_is() {
        let r = role("arn:aws:iam::111122223333:role/service-role/Restore");
        for yes in [
            "arn:aws:sts::111122223333:assumed-role/Restore/AWSBackup-Restore",
            "arn:aws:sts::111122223333:assumed-role/Restore/any-session",
            "arn:aws:iam::111122223333:role/service-role/Restore",
        ] {
            assert!(is_subject(yes, &r), "{yes}");
        }
        for no in [
            "arn:aws:sts::444455556666:assumed-role/Restore/s",
            "arn:aws:sts::111122223333:assumed-role/RestoreX/s",
            "arn:aws-cn:sts::111122223333:assumed-role/Restore/s",
            "arn:aws:sts::111122223333:assumed-role/Restore/",
            "arn:aws:sts::111122223333:assumed-role/Restore/s:extra",
            "arn:aws:iam::111122223333:user/Restore",
        ] {
            assert!(!is_subject(no, &r), "{no}");
        }
    }

    #[test]
    fn only_well_formed_actions_without_wildcards() {
        assert!(is_iam_action("dynamodb:ListTagsOfResource"));
        assert!(is_iam_action("redshift-serverless:RestoreFromSnapshot"));
        for bad in [
            "dynamodb:*",
            "dynamodb:List*",
            "ListTags",
            ":X",
            "dynamodb:",
            "Dynamo:X",
            "s3:Get`x",
        ] {
            assert!(!is_iam_action(bad), "{bad}");
        }
    }

    #[test]
    fn restore_actions_are_the_restore_services_kms_and_backup() {
        assert!(restore_action(
            Some("DynamoDB"),
            "dynamodb:ListTagsOfResource"
        ));
        assert!(restore_action(Some("DynamoDB"), "kms:Decrypt"));
        assert!(!restore_action(Some("DynamoDB"), "iam:CreateUser"));
        assert!(!restore_action(Some("DynamoDB"), "ec2:RunInstances"));
        assert!(!restore_action(None, "dynamodb:ListTagsOfResource"));
    }
}
