//! From evidence to diagnosis: decode the failure, list what the restore needs, and ask
//! the evaluator about each requirement, layer by layer — all of them at once, so the
//! report names every missing permission rather than the first one AWS tripped over.

pub mod check;
pub mod evidence;
pub mod facts;
pub mod managed_key;
pub mod message;
pub mod principal;
pub mod report;
pub mod requirements;
pub mod validated;

pub use evidence::Evidence;
pub use report::Report;

use crate::policy::{Decision, NamedPolicy};
use crate::remedy;

use check::{check, Check, ResourceGate};
use evidence::EvidencePart;
use facts::{gap_for, Facts, Trigger};
use principal::{parse_named, parse_scps, subject, Subject};
use report::*;
use requirements::{Requirement, Scope};
use validated::{BucketName, InvalidValue, KeyArn, KeyRef, RoleArn};

/// Diagnoses one failed restore. Never fails: what cannot be checked becomes an
/// [`Unverified`] entry in the report.
pub fn diagnose(evidence: &Evidence) -> Report {
    let facts = Facts::from_evidence(evidence);
    let mut unverified = Vec::new();

    let (kind, mut denied) = message::classify(facts.message.as_deref());
    if kind == FailureKind::EncodedAuthorization {
        match evidence.decoded_message.as_ref().and_then(message::parse_decoded) {
            Some(d) => denied = Some(d),
            None => unverified.push(Unverified::new(
                EvidencePart::DecodedMessage,
                "the encoded authorization message",
                gap_for(evidence, EvidencePart::DecodedMessage).unwrap_or_else(|| {
                    "it was not decoded (sts:DecodeAuthorizationMessage); every required permission was still checked".into()
                }),
            )),
        }
    }

    let scps = match &evidence.service_control_policies {
        Some(levels) => parse_scps(levels, &mut unverified),
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

    let account = facts.account.clone().unwrap_or_default();
    let partition = facts.partition.clone();
    // Values dropped or missing that a requirement's resource needed: while any is
    // here, the patch cannot be called verified, whatever the re-evaluation says.
    let mut incomplete: Vec<Unverified> = facts.rejected.clone();
    let scope = Scope {
        partition: partition.clone(),
        region: facts.region.clone(),
        account: facts.account.clone(),
        bucket: restore_bucket(evidence, &mut incomplete),
        image_arn: facts.image_arn.clone(),
    };

    let mut checks: Vec<Check> = Vec::new();

    // The restore role: everything the restore of this resource type needs.
    let role = facts.role_arn.as_deref().map(|arn| {
        if evidence.restore_role.is_none() {
            unverified.push(Unverified::new(
                EvidencePart::RestoreRole,
                format!("the restore role `{arn}`"),
                gap_for(evidence, EvidencePart::RestoreRole)
                    .unwrap_or_else(|| "its policies were not collected".into()),
            ));
        }
        subject(
            EvidencePart::RestoreRole,
            arn,
            evidence.restore_role.as_ref(),
            &scps,
            facts.region.as_deref(),
            true,
            &mut unverified,
        )
    });
    if facts.role_arn.is_none() {
        unverified.push(Unverified::new(
            EvidencePart::RestoreRole,
            "the restore role",
            "neither the restore job nor the event names a valid one",
        ));
    }
    if let Some(role) = role.as_ref().filter(|r| r.policies_known) {
        let type_name = facts.resource_type.as_deref().unwrap_or("");
        let canonical = requirements::canonical_type(type_name);
        match &canonical {
            Some(t) => {
                let (reqs, unknown) = requirements::service_requirements(t, &scope);
                for req in reqs {
                    checks.push(check(role, &req, &ResourceGate::None, &account, &partition));
                }
                for u in unknown {
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
                for key in keys_involved(evidence, &facts, &mut incomplete) {
                    let gate = key_gate(evidence, key.as_str(), &mut unverified);
                    for req in requirements::kms_requirements(t, &key, &format!("{t} restore")) {
                        checks.push(check(role, &req, &gate, &account, &partition));
                    }
                }
                if let Some(service) = requirements::pass_role_service(t) {
                    for profile_role in instance_profile_roles(evidence, &account, &mut incomplete) {
                        let req = requirements::pass_role_requirement(
                            &profile_role,
                            &service,
                            &format!("{t} restore: attach the instance profile's role to the restored instance"),
                        );
                        checks.push(check(role, &req, &ResourceGate::None, &account, &partition));
                    }
                }
            }
            None => unverified.push(Unverified::new(
                EvidencePart::RestoreJob,
                format!("the permissions a `{}` restore needs", if type_name.is_empty() { "unknown" } else { type_name }),
                format!(
                    "this resource type is not in the catalog (supported: {}); only the failure message, KMS and the vault policy were checked",
                    requirements::supported_types().join(", ")
                ),
            )),
        }
    }

    // The caller of StartRestoreJob, when the failure is theirs.
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
                facts.region.as_deref(),
                false,
                &mut unverified,
            )
        })
    });
    let vault_gate = vault_gate(evidence, &facts, &mut unverified);
    if let Some(rp) = facts.recovery_point_arn.as_deref() {
        let start = Requirement {
            action: "backup:StartRestoreJob".into(),
            resource: rp.to_string(),
            context: Default::default(),
            condition: None,
            why: "start the restore job".into(),
            wildcard_only: false,
        };
        match (&caller, &vault_gate) {
            (Some(caller), gate) => {
                let gate = gate
                    .clone()
                    .map_or(ResourceGate::None, ResourceGate::VaultPolicy);
                checks.push(check(caller, &start, &gate, &account, &partition));
            }
            (None, Some(vault)) => {
                // The caller is unknown: the vault policy alone must not deny the restore.
                let anyone = Subject {
                    policies: Default::default(),
                    ..subject(
                        EvidencePart::Other,
                        &format!("arn:{partition}:iam::{account}:root"),
                        None,
                        &[],
                        None,
                        false,
                        &mut Vec::new(),
                    )
                };
                let c = check(
                    &anyone,
                    &start,
                    &ResourceGate::VaultPolicy(vault.clone()),
                    &account,
                    &partition,
                );
                if c.evaluation.decision == Decision::ExplicitlyDenied || c.undecided.is_some() {
                    // The deny applies whoever calls: report it for any principal.
                    let mut c = c;
                    if let Some(f) = c.finding.as_mut() {
                        f.principal = "*".into();
                    }
                    checks.push(c);
                }
            }
            (None, None) => {}
        }
    }
    if let (Some(caller), Some(role_arn)) = (&caller, facts.role_arn.as_deref()) {
        let req = requirements::pass_role_requirement(
            role_arn,
            "backup.amazonaws.com",
            "pass the restore role to AWS Backup",
        );
        checks.push(check(
            caller,
            &req,
            &ResourceGate::None,
            &account,
            &partition,
        ));
    }

    // A decoded message carries the real request context (e.g. `ec2:InstanceType`):
    // evaluate the denied request once more with it, which catches conditional denies
    // the generic requirements cannot see.
    if let (Some(d), Some(role), Some(decoded)) = (&denied, &role, &evidence.decoded_message) {
        let templates = facts
            .resource_type
            .as_deref()
            .and_then(requirements::canonical_type)
            .map(|t| requirements::catalog_resources(&t, &scope))
            .unwrap_or_default();
        let grantable = |r: &str| {
            templates.iter().any(|t| t == r)
                || validated::Arn::parse(r)
                    .is_ok_and(|a| a.account().is_empty() || a.account() == account)
        };
        if let Some(c) =
            decoded_request_check(d, role, decoded, &checks, &account, &partition, &grantable)
        {
            checks.push(c);
        }
    }

    // AWS managed keys: explained by AWS's rules, never by a grant or key policy edit.
    managed_key::apply(evidence, &account, &mut checks);
    // Allowed only while unknown context stays absent, or open to a conditional Deny.
    unverified.extend(check::unproven(&checks, facts.role_arn.as_deref()));

    // A request the evaluator would not decide (past AWS's limits) is a gap, never a pass.
    for c in checks.iter().filter(|c| c.undecided.is_some()) {
        if let Some(err) = &c.undecided {
            let part = if Some(c.principal_arn.as_str()) == facts.role_arn.as_deref() {
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

    // The request AWS named must be among the findings: from our checks, or from the
    // message itself when it names a blocker we cannot see; otherwise say that the
    // denial could not be reproduced rather than call it fine.
    let mut missing: Vec<Finding> = checks.iter().filter_map(|c| c.finding.clone()).collect();
    if let Some(d) = &denied {
        let role_session = role
            .as_ref()
            .map(|r| (r.request_principal.as_str(), r.arn.as_str()));
        match finding_from_message(
            d,
            &missing,
            &evidence.service_control_policies,
            role_session,
        ) {
            Some(f) => missing.push(f),
            None => reconcile_denied(d, &checks, &mut unverified),
        }
    }
    missing.sort_by_key(|f| (f.fixable_by_patch, f.principal.clone()));

    let subjects: Vec<&Subject> = role.iter().chain(caller.iter()).collect();
    let remedy = remedy::remedy(&checks, &subjects, &account, &partition);
    let vault_policy_fix = vault_gate
        .as_ref()
        .zip(facts.vault_name.as_deref())
        .and_then(|(_, name)| remedy::vault::fix(evidence, name, &missing));

    // Every evidence gap is said, even those no check above needed to mention.
    let complete = incomplete.is_empty();
    unverified.extend(incomplete);
    report_remaining_gaps(evidence, &mut unverified);

    // Verified only when something was actually checked, the patch (if any) makes
    // every check pass, and no blocker outside the checks (from the message) remains.
    let verified = remedy.verified
        && complete
        && !checks.is_empty()
        && checks.iter().all(|c| c.undecided.is_none())
        && missing.iter().all(|f| f.fixable_by_patch);
    let cause = cause_of(&missing, &unverified, denied.as_ref());
    let summary = summarize(cause, &missing, &facts, &unverified);
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        restore: RestoreSummary {
            restore_job_id: facts.restore_job_id.clone(),
            account_id: facts.account.clone(),
            region: facts.region.clone(),
            resource_type: facts.resource_type.clone(),
            role_arn: facts.role_arn.clone(),
            caller_arn: facts.caller_arn.clone(),
            recovery_point_arn: facts.recovery_point_arn.clone(),
            backup_vault_name: facts.vault_name.clone(),
            source_resource_arn: facts.source_resource_arn.clone(),
            trigger: facts.trigger.as_str().to_string(),
        },
        failure: Failure {
            message: facts.message.clone(),
            kind,
            denied,
        },
        cause,
        summary,
        missing,
        unverified,
        patch: remedy.patches.first().cloned(),
        other_patches: remedy.patches.iter().skip(1).cloned().collect(),
        verified,
        verification: remedy.verification,
        vault_policy_fix,
        key_policy_fixes: remedy::key_policy::fixes(evidence, &checks),
        auto_attach: None,
    }
}

/// Adds an [`Unverified`] entry for every gap not already reported, saying what the
/// diagnosis could not check because of it.
fn report_remaining_gaps(evidence: &Evidence, unverified: &mut Vec<Unverified>) {
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
            EvidencePart::Other => ("part of the evidence", "the diagnosis used what was collected"),
        };
        unverified.push(Unverified::new(
            gap.part,
            what,
            format!("{text}; {consequence}"),
        ));
    }
}

/// The target bucket of an S3 restore, from the restore metadata (keys matched without
/// regard to case), validated against S3's bucket naming rules; `Ok(None)` when the
/// metadata names none.
pub fn target_bucket(e: &Evidence) -> Result<Option<BucketName>, InvalidValue> {
    let Some(meta) = e.restore_metadata.as_ref() else {
        return Ok(None);
    };
    let value = meta
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "destinationbucketname" | "bucketname"
            )
        })
        .map(|(_, v)| v.trim())
        .find(|v| !v.is_empty());
    value.map(BucketName::parse).transpose()
}

fn restore_bucket(e: &Evidence, unverified: &mut Vec<Unverified>) -> Option<BucketName> {
    match target_bucket(e) {
        Ok(b) => b,
        Err(err) => {
            unverified.push(Unverified::new(
                EvidencePart::RestoreMetadata,
                format!("the target S3 bucket `{}`", err.shown),
                format!(
                    "{}: it was ignored, and no S3 permission was checked or granted on it",
                    err.why
                ),
            ));
            None
        }
    }
}

/// Restore metadata keys that name the target KMS key (EFS, EBS, DynamoDB, ...),
/// lower-cased: metadata keys are matched without regard to case.
const TARGET_KEY_METADATA: [&str; 4] = ["kmskeyid", "kmskeyarn", "kmsmasterkeyarn", "kmskey"];

/// The target key references of the restore metadata, each parsed.
fn target_key_refs(e: &Evidence) -> Vec<(String, Result<KeyRef, InvalidValue>)> {
    let mut refs: Vec<String> = e
        .restore_metadata
        .iter()
        .flatten()
        .filter(|(k, _)| TARGET_KEY_METADATA.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("null"))
        .collect();
    refs.sort();
    refs.dedup();
    refs.into_iter()
        .map(|r| {
            let parsed = KeyRef::parse(&r);
            (r, parsed)
        })
        .collect()
}

/// The key ARN a metadata reference resolved to: kms:DescribeKey's answer, a key policy
/// the gatherer read for it (it reads key policies only of keys it resolved), or the
/// recovery point's own key as AWS Backup reported it.
fn resolved(e: &Evidence, r: &KeyRef) -> Option<KeyArn> {
    let described = e
        .kms_keys
        .iter()
        .find(|k| k.reference == r.as_str())
        .and_then(|k| KeyArn::parse(&k.key_arn).ok());
    described.or_else(|| match r {
        KeyRef::Arn(k) => (e.key_policies.iter().any(|kp| kp.key_arn == k.as_str())
            || e.recovery_point
                .as_ref()
                .and_then(|rp| rp.encryption_key_arn.as_deref())
                == Some(k.as_str()))
        .then(|| k.clone()),
        KeyRef::Unresolved(id) if validated::is_key_id(id) => e
            .key_policies
            .iter()
            .filter_map(|kp| KeyArn::parse(&kp.key_arn).ok())
            .find(|k| k.arn().resource() == format!("key/{id}")),
        KeyRef::Unresolved(_) => None,
    })
}

/// Customer-managed keys the restore uses, each a validated key ARN: the recovery
/// point's key (as AWS Backup reported it), the target key of the metadata once
/// resolved and in the restore's own partition, account and Region, and every key whose
/// policy was read. AWS-owned keys need no permission. What fails is reported, never
/// checked or granted.
fn keys_involved(e: &Evidence, facts: &Facts, unverified: &mut Vec<Unverified>) -> Vec<KeyArn> {
    let mut keys = Vec::new();
    if let Some(rp) = &e.recovery_point {
        let aws_owned = rp.encryption_key_type.as_deref() == Some("AWS_OWNED_KMS_KEY");
        if let (Some(k), false) = (&rp.encryption_key_arn, aws_owned) {
            match KeyArn::parse(k) {
                Ok(k) => keys.push(k),
                Err(err) => unverified.push(Unverified::new(
                    EvidencePart::RecoveryPoint,
                    format!("the recovery point's KMS key `{}`", err.shown),
                    format!("{}: KMS permissions on it were not checked", err.why),
                )),
            }
        }
    }
    for (reference, parsed) in target_key_refs(e) {
        let what = format!("the target KMS key `{}`", validated::shown(&reference));
        let why = match parsed.map(|r| resolved(e, &r)) {
            Err(err) => format!("{}: it was ignored", err.why),
            Ok(None) => {
                "the restore metadata names it and kms:DescribeKey did not resolve it to a key ARN"
                    .into()
            }
            Ok(Some(k)) => {
                let same = k.arn().partition() == facts.partition
                    && Some(k.arn().account()) == facts.account.as_deref()
                    && Some(k.arn().region()) == facts.region.as_deref();
                if same {
                    keys.push(k);
                    continue;
                }
                format!(
                    "it resolved to `{}`, outside the restore's own account and Region",
                    k.as_str()
                )
            }
        };
        unverified.push(Unverified::new(
            EvidencePart::RestoreMetadata,
            what,
            format!("{why}; KMS permissions on it were not checked and nothing is granted on it"),
        ));
    }
    for kp in &e.key_policies {
        match KeyArn::parse(&kp.key_arn) {
            Ok(k) => keys.push(k),
            Err(err) => unverified.push(Unverified::new(
                EvidencePart::KeyPolicy,
                format!("the key policy of `{}`", err.shown),
                format!("{}: it was not used", err.why),
            )),
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn key_gate(e: &Evidence, key: &str, unverified: &mut Vec<Unverified>) -> ResourceGate {
    match e.key_policies.iter().find(|k| k.key_arn == key) {
        Some(kp) => ResourceGate::KeyPolicy(parse_named(
            EvidencePart::KeyPolicy,
            &format!("key policy of {key}"),
            &kp.document,
            unverified,
        )),
        None => {
            unverified.push(Unverified::new(
                EvidencePart::KeyPolicy,
                format!("the key policy of `{key}`"),
                format!(
                    "{}; the KMS checks assume the default key policy, which delegates to IAM",
                    gap_for(e, EvidencePart::KeyPolicy)
                        .unwrap_or_else(|| "it was not collected".into())
                ),
            ));
            ResourceGate::KeyPolicy(None)
        }
    }
}

fn vault_gate(
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

fn reconcile_denied(d: &DeniedRequest, checks: &[Check], unverified: &mut Vec<Unverified>) {
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
            format!("the denial AWS reported for `{}`", d.action),
            "the collected policies allow it: the cause may be a condition on the request, an SCP, or a policy that could not be read",
        ));
    }
}

/// The denied request of a decoded message, evaluated for the restore role with the
/// message's own context; kept only when it finds what no other check found.
fn decoded_request_check(
    d: &DeniedRequest,
    role: &Subject,
    decoded: &serde_json::Value,
    checks: &[Check],
    account: &str,
    partition: &str,
    grantable: &dyn Fn(&str) -> bool,
) -> Option<Check> {
    if !role.policies_known || d.principal.as_deref() != Some(role.request_principal.as_str()) {
        return None;
    }
    let resource = d.resource.clone().unwrap_or_else(|| "*".into());
    let already = checks.iter().any(|c| {
        c.finding.is_some()
            && c.requirement.action.eq_ignore_ascii_case(&d.action)
            && c.requirement.resource == resource
    });
    if already {
        return None;
    }
    let context = message::decoded_context(decoded)
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
    let req = Requirement {
        action: d.action.clone(),
        resource,
        context,
        condition: None,
        why: "the request AWS denied, with the context from the decoded message".into(),
        wildcard_only: false,
    };
    let mut c = check(role, &req, &ResourceGate::None, account, partition);
    // The message names the resource; a patch grants on it only when it is an exact
    // ARN of this account or one of the catalog's own templates, never a pattern
    // (or `*`) the request happened to carry.
    if c.needs_identity_grant && !grantable(&req.resource) {
        c.needs_identity_grant = false;
        if let Some(f) = c.finding.as_mut() {
            f.fixable_by_patch = false;
            f.who_must_act = Some(format!(
                "the role owner, by hand: `{}` is not an exact resource of this account, so restore-doctor does not grant on it",
                validated::shown(&req.resource)
            ));
        }
    }
    (c.finding.is_some() || c.undecided.is_some()).then_some(c)
}

/// A finding for what the message says was denied when no check covers it (an action
/// outside the catalog, or an SCP deny we could not see).
fn finding_from_message(
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

fn cause_of(
    missing: &[Finding],
    unverified: &[Unverified],
    denied: Option<&DeniedRequest>,
) -> Cause {
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
    } else if !unverified.is_empty() {
        Cause::Unverified
    } else {
        Cause::NotPermissions
    }
}

fn services_of(findings: &[&Finding]) -> String {
    let mut services: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.action.split(':').next())
        .collect();
    services.sort();
    services.dedup();
    services.join(", ")
}

fn summarize(
    cause: Cause,
    missing: &[Finding],
    facts: &Facts,
    unverified: &[Unverified],
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

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
