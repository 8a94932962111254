//! The principals whose permissions the diagnosis checks (the restore role, the
//! caller), with their parsed policies and the request context AWS gives them.

use std::collections::BTreeMap;

use crate::policy::{ContextValue, NamedPolicy, OrgLevel, Policy, PolicySet};

use super::evidence::{EvidencePart, OrgLevelDocs, PolicyDoc, Principal};
use super::facts::{arn_account, role_name};
use super::report::Unverified;

/// A principal ready for evaluation.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The IAM ARN (role or user), used in findings and patches.
    pub arn: String,
    /// The ARN the request is made as (an assumed-role session for roles).
    pub request_principal: String,
    /// Identity policies, boundary and SCPs.
    pub policies: PolicySet,
    /// Inline policy characters already used (IAM's aggregate inline limit).
    pub inline_size: usize,
    /// Context keys AWS sets for this principal.
    pub context: BTreeMap<String, ContextValue>,
    /// Whether the identity policies were collected at all.
    pub policies_known: bool,
    /// The principal's own inline [`FIX_POLICY_NAME`] from an earlier fix, as read: a
    /// new fix must keep its statements, since putting the same name replaces it.
    pub existing_fix: Option<serde_json::Value>,
}

/// The inline policy every fix is put as, so that applying a fix twice is an upsert.
pub const FIX_POLICY_NAME: &str = "restore-doctor-fix";

impl Subject {
    /// Whether the principal is an IAM role (else a user).
    pub fn is_role(&self) -> bool {
        self.arn.contains(":role/")
    }

    /// The name used by `aws iam put-role-policy --role-name` / `put-user-policy --user-name`.
    pub fn name(&self) -> &str {
        role_name(&self.arn)
    }
}

/// Parses one policy document; a malformed one becomes an [`Unverified`] entry.
pub fn parse_named(
    part: EvidencePart,
    name: &str,
    document: &serde_json::Value,
    unverified: &mut Vec<Unverified>,
) -> Option<NamedPolicy> {
    match Policy::from_value(document) {
        Ok(policy) => Some(NamedPolicy {
            name: name.to_string(),
            policy,
        }),
        Err(err) => {
            unverified.push(Unverified::new(
                part,
                format!("policy `{name}`"),
                format!("it could not be parsed ({err}), so its statements were not evaluated"),
            ));
            None
        }
    }
}

fn doc_name(doc: &PolicyDoc) -> String {
    doc.arn.clone().unwrap_or_else(|| doc.name.clone())
}

/// Minified size, as IAM counts policy characters (it ignores white space).
pub fn policy_size(document: &serde_json::Value) -> usize {
    // Counted in place, as AWS counts (characters, no white space), not by writing the
    // document out.
    crate::policy::limits::json_chars(document, usize::MAX)
}

/// Parses SCP levels, recording malformed ones.
pub fn parse_scps(levels: &[OrgLevelDocs], unverified: &mut Vec<Unverified>) -> Vec<OrgLevel> {
    parse_levels(
        levels,
        EvidencePart::ServiceControlPolicies,
        "SCP",
        unverified,
    )
}

/// Parses RCP levels, recording malformed ones.
pub fn parse_rcps(levels: &[OrgLevelDocs], unverified: &mut Vec<Unverified>) -> Vec<OrgLevel> {
    parse_levels(
        levels,
        EvidencePart::ResourceControlPolicies,
        "RCP",
        unverified,
    )
}

fn parse_levels(
    levels: &[OrgLevelDocs],
    part: EvidencePart,
    kind: &str,
    unverified: &mut Vec<Unverified>,
) -> Vec<OrgLevel> {
    levels
        .iter()
        .map(|level| OrgLevel {
            org_identifier: level.org_identifier.clone(),
            policies: level
                .policies
                .iter()
                .filter_map(|d| {
                    parse_named(
                        part,
                        &format!("{kind} {}", doc_name(d)),
                        &d.document,
                        unverified,
                    )
                })
                .collect(),
        })
        .collect()
}

/// Builds a subject from collected evidence (`principal`), or from the ARN alone when
/// nothing was collected (then `policies_known` is false).
pub fn subject(
    part: EvidencePart,
    arn: &str,
    principal: Option<&Principal>,
    scps: &[OrgLevel],
    region: Option<&str>,
    as_backup_session: bool,
    unverified: &mut Vec<Unverified>,
) -> Subject {
    let mut policies = PolicySet {
        scps: scps.to_vec(),
        ..Default::default()
    };
    let mut inline_size = 0;
    if let Some(p) = principal {
        for doc in &p.policies {
            // Group inline policies (named `group/<group>/<policy>` by the gatherer)
            // count against the group's limit, not the principal's.
            if doc.kind == super::evidence::PolicyKind::Inline && !doc.name.starts_with("group/") {
                inline_size += policy_size(&doc.document);
            }
            if let Some(named) = parse_named(part, &doc_name(doc), &doc.document, unverified) {
                policies.identity.push(named);
            }
        }
        if let Some(b) = &p.permission_boundary {
            if let Some(named) = parse_named(part, &doc_name(b), &b.document, unverified) {
                policies.permission_boundaries.push(named);
            }
        }
    }
    let is_role = arn.contains(":role/");
    let account = arn_account(arn).unwrap_or("").to_string();
    let partition = arn.split(':').nth(1).unwrap_or("aws");
    let request_principal = match principal.and_then(|p| p.session_arn.clone()) {
        Some(session) => session,
        None if is_role && as_backup_session => {
            // AWS Backup assumes the restore role with session name `AWSBackup-<RoleName>`.
            let name = role_name(arn);
            format!("arn:{partition}:sts::{account}:assumed-role/{name}/AWSBackup-{name}")
        }
        None => arn.to_string(),
    };
    let mut context = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        context.insert(k.to_string(), ContextValue::One(v));
    };
    put("aws:PrincipalArn", arn.to_string());
    put("aws:PrincipalAccount", account);
    put(
        "aws:PrincipalType",
        if request_principal.contains(":assumed-role/") {
            "AssumedRole".into()
        } else if is_role {
            "Role".into()
        } else {
            "User".into()
        },
    );
    if let Some(region) = region {
        put("aws:RequestedRegion", region.to_string());
    }
    if !is_role {
        put("aws:username", role_name(arn).to_string());
    }
    if let Some(p) = principal {
        for (k, v) in &p.tags {
            put(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
    }
    let existing_fix = principal.and_then(|p| {
        p.policies
            .iter()
            .find(|d| d.kind == super::evidence::PolicyKind::Inline && d.name == FIX_POLICY_NAME)
            .map(|d| d.document.clone())
    });
    Subject {
        arn: arn.to_string(),
        request_principal,
        policies,
        inline_size,
        context,
        policies_known: principal.is_some(),
        existing_fix,
    }
}

/// Who the diagnosis asks the evaluator about: the restore role and, when known, the
/// caller of StartRestoreJob, both under the same SCPs.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    pub role: Option<Subject>,
    pub caller: Option<Subject>,
    pub scps: Vec<OrgLevel>,
}

impl Principals {
    /// The subjects a patch may go on, restore role first.
    pub fn subjects(&self) -> Vec<&Subject> {
        self.role.iter().chain(self.caller.iter()).collect()
    }

    /// Whom a failure message that names no principal is about: the caller of a refused
    /// StartRestoreJob, else the restore role.
    pub fn unnamed(&self, trigger: super::facts::Trigger) -> Option<&Subject> {
        match trigger {
            super::facts::Trigger::StartRestoreJobDenied => self.caller.as_ref(),
            _ => self.role.as_ref(),
        }
    }
}

/// Stage "principals": parses the SCPs and the collected policies of the restore role
/// and the caller; what was not collected or does not parse is said in `unverified`.
pub fn principals(
    evidence: &super::Evidence,
    facts: &super::facts::Facts,
    unverified: &mut Vec<Unverified>,
) -> Principals {
    use super::facts::{gap_for, Trigger};
    let scps = match &evidence.service_control_policies {
        Some(levels) => parse_scps(levels, unverified),
        None => {
            unverified.push(Unverified::new(
                EvidencePart::ServiceControlPolicies,
                "service control policies",
                gap_for(evidence, EvidencePart::ServiceControlPolicies).unwrap_or_else(|| {
                    "not collected: an SCP may still deny what the identity policies allow".into()
                }),
            ));
            vec![]
        }
    };
    let region = facts.region.as_deref();
    let role = match facts.role_arn.as_deref() {
        Some(arn) => {
            if evidence.restore_role.is_none() {
                unverified.push(Unverified::new(
                    EvidencePart::RestoreRole,
                    format!("the restore role `{arn}`"),
                    gap_for(evidence, EvidencePart::RestoreRole)
                        .unwrap_or_else(|| "its policies were not collected".into()),
                ));
            }
            let collected = evidence.restore_role.as_ref();
            let part = EvidencePart::RestoreRole;
            Some(subject(
                part, arn, collected, &scps, region, true, unverified,
            ))
        }
        None => {
            unverified.push(Unverified::new(
                EvidencePart::RestoreRole,
                "the restore role",
                "neither the restore job nor the event names a valid one",
            ));
            None
        }
    };
    let caller = facts.caller_arn.as_deref().and_then(|arn| {
        let collected = evidence.caller.as_ref();
        if facts.trigger == Trigger::StartRestoreJobDenied && collected.is_none() {
            unverified.push(Unverified::new(
                EvidencePart::Caller,
                format!("the caller `{arn}`"),
                gap_for(evidence, EvidencePart::Caller)
                    .unwrap_or_else(|| "its policies were not collected".into()),
            ));
        }
        collected.map(|c| {
            subject(
                EvidencePart::Caller,
                arn,
                Some(c),
                &scps,
                region,
                false,
                unverified,
            )
        })
    });
    // The RCPs above the failure's account bound that account's resources: each check
    // keeps them only for a resource there, of a service RCPs apply to.
    let rcps = evidence
        .resource_control_policies
        .as_deref()
        .map(|levels| parse_rcps(levels, unverified))
        .unwrap_or_default();
    let (mut role, mut caller) = (role, caller);
    for s in role.iter_mut().chain(caller.iter_mut()) {
        s.policies.rcps.clone_from(&rcps);
    }
    Principals { role, caller, scps }
}
