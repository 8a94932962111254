//! Stage "requirements for this path": every action the restore (and its caller) needs,
//! on which resource, for whom, behind which resource policy — built only from
//! validated evidence. Nothing here evaluates; [`super::check`] does.

use crate::policy::NamedPolicy;

use super::capitalized;
use super::check::ResourceGate;
use super::evidence::{Evidence, EvidencePart};
use super::facts::{gap_for, Facts};
use super::keys::{key_gate, keys_involved};
use super::message;
use super::principal::{parse_named, Principals};
use super::report::Unverified;
use super::requirements::{self, Requirement, Scope};
use super::restore_path;
use super::validated::{BucketName, EksClusterName, InvalidValue, RoleArn};

/// Whose permission a requirement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The restore role, as AWS Backup's session.
    Role,
    /// The caller of StartRestoreJob.
    Caller,
    /// Anyone: the caller is unknown, so only the vault policy is asked whether it
    /// denies the restore whoever calls.
    AnyCaller,
}

/// One requirement for one principal.
#[derive(Debug, Clone)]
pub struct Planned {
    pub who: Who,
    pub requirement: Requirement,
    pub gate: ResourceGate,
}

/// What the restore needs, and the facts the later stages reuse.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub items: Vec<Planned>,
    /// The validated values the catalog's templates were filled with.
    pub scope: Scope,
    /// The vault access policy, when it was read and parses.
    pub vault_gate: Option<NamedPolicy>,
}

/// Builds the plan. `unverified` gets what could not be checked at all; `incomplete`
/// gets the values a requirement needed that were missing or dropped — while any is
/// there, no patch is called verified.
pub fn plan(
    evidence: &Evidence,
    facts: &Facts,
    principals: &Principals,
    unverified: &mut Vec<Unverified>,
    incomplete: &mut Vec<Unverified>,
) -> Plan {
    let scope = Scope {
        partition: facts.partition.clone(),
        region: facts.region.clone(),
        account: facts.account.clone(),
        bucket: validated_target(target_bucket(evidence), "S3 bucket", "S3", incomplete),
        image_arn: facts.image_arn.clone(),
        eks_cluster: facts
            .resource_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("EKS"))
            .then(|| {
                validated_target(
                    target_eks_cluster(evidence),
                    "EKS cluster",
                    "EKS",
                    incomplete,
                )
            })
            .flatten(),
    };
    let account = facts.account.clone().unwrap_or_default();
    let mut items = Vec::new();
    let mut add = |who: Who, requirement: Requirement, gate: ResourceGate| {
        items.push(Planned {
            who,
            requirement,
            gate,
        })
    };

    // The restore role: everything the restore of this resource type needs.
    if principals.role.as_ref().is_some_and(|r| r.policies_known) {
        let type_name = facts.resource_type.as_deref().unwrap_or("");
        let selection = restore_path::select(
            type_name,
            &restore_path::PathEvidence {
                recovery_point_arn: facts.recovery_point_arn.as_deref(),
                source_resource_arn: facts.source_resource_arn.as_deref(),
                metadata: evidence.restore_metadata.as_ref(),
            },
        );
        match &selection {
            Some(path) => {
                let t = &path.resource_type;
                let needs = requirements::service_requirements(path, &scope);
                for req in needs.requirements {
                    add(Who::Role, req, ResourceGate::None);
                }
                if let (Some(on), false) = (&path.depends_on, needs.depends.is_empty()) {
                    let actions: std::collections::BTreeSet<&str> =
                        needs.depends.iter().map(|r| r.action.as_str()).collect();
                    incomplete.push(Unverified::new(
                        on.part,
                        format!("the {t} permissions that depend on the restore path ({})", actions.into_iter().collect::<Vec<_>>().join(", ")),
                        format!("they depend on {}, which the evidence does not say: only what every possible path needs was checked, and the patch grants nothing else", on.what),
                    ));
                }
                for u in needs.unknown {
                    incomplete.push(Unverified::new(
                        match u {
                            requirements::Unknown::Bucket => EvidencePart::RestoreMetadata,
                            requirements::Unknown::Image => EvidencePart::RecoveryPoint,
                            _ => EvidencePart::RestoreJob,
                        },
                        format!("the {t} permissions that name {}", u.words()),
                        format!("{} is not known from validated evidence, so those permissions were not checked and the patch grants nothing in their place", capitalized(u.words())),
                    ));
                }
                for key in keys_involved(evidence, facts, incomplete) {
                    let gate = key_gate(evidence, key.as_str(), unverified);
                    for req in requirements::kms_requirements(path, &key, &format!("{t} restore")) {
                        add(Who::Role, req, gate.clone());
                    }
                }
                if let Some(service) = requirements::pass_role_service(path) {
                    let (roles, why) = match requirements::pass_role_metadata_key(path) {
                        Some(key) => (
                            metadata_roles(evidence, &key, &service, &account, incomplete),
                            format!("{t} restore: pass the role the restore metadata `{key}` names to {service}"),
                        ),
                        None => (
                            instance_profile_roles(evidence, &account, incomplete),
                            format!("{t} restore: attach the instance profile's role to the restored instance"),
                        ),
                    };
                    for role in roles {
                        let req = requirements::pass_role_requirement(&role, &service, &why);
                        add(Who::Role, req, ResourceGate::None);
                    }
                }
            }
            None => unverified.push(Unverified::new(
                EvidencePart::RestoreJob,
                format!("the permissions a `{}` restore needs", if type_name.is_empty() { "unknown" } else { type_name }),
                match requirements::not_covered_reason(type_name) {
                    Some(why) => format!("{why}; only the failure message and the vault policy were checked"),
                    None => format!(
                        "this resource type or restore path is not covered by the catalog (covered: {}); only the failure message and the vault policy were checked",
                        requirements::supported_types().join(", ")
                    ),
                },
            )),
        }
    }

    // The caller: StartRestoreJob on the recovery point, behind the vault policy, and
    // iam:PassRole of the restore role to AWS Backup.
    let vault_gate = vault_gate(evidence, facts, unverified);
    if let Some(rp) = facts.recovery_point_arn.as_deref() {
        let start = Requirement {
            action: "backup:StartRestoreJob".into(),
            resource: rp.to_string(),
            context: Default::default(),
            condition: None,
            why: "start the restore job".into(),
            wildcard_only: false,
        };
        let gate = vault_gate
            .clone()
            .map_or(ResourceGate::None, ResourceGate::VaultPolicy);
        match (&principals.caller, &vault_gate) {
            (Some(_), _) => add(Who::Caller, start, gate),
            (None, Some(_)) => add(Who::AnyCaller, start, gate),
            (None, None) => {}
        }
    }
    if let (Some(_), Some(role_arn)) = (&principals.caller, facts.role_arn.as_deref()) {
        let req = requirements::pass_role_requirement(
            role_arn,
            "backup.amazonaws.com",
            "pass the restore role to AWS Backup",
        );
        add(Who::Caller, req, ResourceGate::None);
    }
    Plan {
        items,
        scope,
        vault_gate,
    }
}

/// The first non-empty restore metadata value under one of `keys` (matched without
/// regard to case), trimmed.
fn metadata_value<'e>(e: &'e Evidence, keys: &[&str]) -> Option<&'e str> {
    e.restore_metadata
        .as_ref()?
        .iter()
        .filter(|(k, _)| keys.iter().any(|key| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| v.trim())
        .find(|v| !v.is_empty())
}

/// The target bucket of an S3 restore, from the restore metadata (keys matched without
/// regard to case), validated against S3's bucket naming rules; `Ok(None)` when the
/// metadata names none.
pub fn target_bucket(e: &Evidence) -> Result<Option<BucketName>, InvalidValue> {
    metadata_value(e, &["destinationBucketName", "bucketName"])
        .map(BucketName::parse)
        .transpose()
}

/// The target cluster of an EKS restore: the restore metadata's mandatory `clusterName`
/// (restoring-eks.html), validated as an EKS cluster name; `Ok(None)` when it names none.
pub fn target_eks_cluster(e: &Evidence) -> Result<Option<EksClusterName>, InvalidValue> {
    metadata_value(e, &["clusterName"])
        .map(EksClusterName::parse)
        .transpose()
}

/// A target read from the restore metadata; an invalid one is a gap that says which
/// permissions were therefore neither checked nor granted.
fn validated_target<T>(
    read: Result<Option<T>, InvalidValue>,
    what: &str,
    service: &str,
    unverified: &mut Vec<Unverified>,
) -> Option<T> {
    read.unwrap_or_else(|err| {
        unverified.push(Unverified::new(
            EvidencePart::RestoreMetadata,
            format!("the target {what} `{}`", err.shown),
            format!(
                "{}: it was ignored, and no {service} permission was checked or granted on it",
                err.why
            ),
        ));
        None
    })
}

pub fn vault_gate(
    e: &Evidence,
    facts: &Facts,
    unverified: &mut Vec<Unverified>,
) -> Option<NamedPolicy> {
    match &e.vault_access_policy {
        Some(v) => parse_named(
            EvidencePart::VaultAccessPolicy,
            &format!("access policy of vault {}", v.backup_vault_name),
            &v.document,
            unverified,
        ),
        None => {
            if let Some(gap) = gap_for(e, EvidencePart::VaultAccessPolicy) {
                unverified.push(Unverified::new(
                    EvidencePart::VaultAccessPolicy,
                    format!(
                        "the access policy of backup vault `{}`",
                        facts.vault_name.as_deref().unwrap_or("unknown")
                    ),
                    format!(
                        "{gap}; a Deny of backup:StartRestoreJob there would block every restore"
                    ),
                ));
            }
            None
        }
    }
}

/// The roles an EC2 restore passes to the instance: those of the instance profiles
/// read from IAM, and the one a decoded message names. Only valid role ARNs of the
/// restore's own account (iam:PassRole never crosses accounts).
fn instance_profile_roles(
    e: &Evidence,
    account: &str,
    unverified: &mut Vec<Unverified>,
) -> Vec<String> {
    let mut candidates: Vec<(EvidencePart, String)> = e
        .instance_profiles
        .iter()
        .flat_map(|p| {
            p.role_arns
                .iter()
                .map(|r| (EvidencePart::InstanceProfile, r.clone()))
        })
        .collect();
    // The decoded message names the passed role directly (EC2 article).
    if let Some(d) = e.decoded_message.as_ref().and_then(message::parse_decoded) {
        if d.action.eq_ignore_ascii_case("iam:PassRole") {
            candidates.extend(d.resource.map(|r| (EvidencePart::DecodedMessage, r)));
        }
    }
    same_account_roles(candidates, account, unverified)
}

/// The role a restore passes as its restore metadata names it under `key` (EKS:
/// `clusterRole`); none named is a gap, since AWS may then pass a role the evidence does
/// not carry.
fn metadata_roles(
    e: &Evidence,
    key: &str,
    service: &str,
    account: &str,
    unverified: &mut Vec<Unverified>,
) -> Vec<String> {
    match metadata_value(e, &[key]) {
        Some(arn) => same_account_roles(
            vec![(EvidencePart::RestoreMetadata, arn.to_owned())],
            account,
            unverified,
        ),
        None => {
            unverified.push(Unverified::new(
                EvidencePart::RestoreMetadata,
                format!("iam:PassRole of the role the restore passes to {service}"),
                format!("the restore metadata names no `{key}`: which role AWS passes is not in the evidence, so none was checked or granted"),
            ));
            Vec::new()
        }
    }
}

/// The valid role ARNs of the restore's own account among `candidates` (iam:PassRole
/// never crosses accounts); each other value is a gap.
fn same_account_roles(
    candidates: Vec<(EvidencePart, String)>,
    account: &str,
    unverified: &mut Vec<Unverified>,
) -> Vec<String> {
    let mut roles = Vec::new();
    for (part, arn) in candidates {
        match RoleArn::parse(&arn) {
            Ok(r) if r.account() == account => roles.push(arn),
            Ok(_) => unverified.push(Unverified::new(
                part,
                format!("iam:PassRole on `{arn}`"),
                "the role is in another account than the restore: not checked, nothing granted",
            )),
            Err(err) => unverified.push(Unverified::new(
                part,
                format!("iam:PassRole on `{}`", err.shown),
                format!("{}: not checked, nothing granted", err.why),
            )),
        }
    }
    roles.sort();
    roles.dedup();
    roles
}
