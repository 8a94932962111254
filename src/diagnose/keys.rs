//! The KMS keys a restore uses, each resolved to a validated key ARN before any
//! permission is checked or granted on it, and the key policy that gates each one.

use super::check::ResourceGate;
use super::evidence::{Evidence, EvidencePart};
use super::facts::{gap_for, Facts};
use super::principal::parse_named;
use super::report::Unverified;
use super::validated::{self, InvalidValue, KeyArn, KeyRef};

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
pub fn keys_involved(e: &Evidence, facts: &Facts, unverified: &mut Vec<Unverified>) -> Vec<KeyArn> {
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

pub fn key_gate(e: &Evidence, key: &str, unverified: &mut Vec<Unverified>) -> ResourceGate {
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
                    "{}; the KMS checks assume the default key policy, which delegates to IAM in the key's own account{}",
                    gap_for(e, EvidencePart::KeyPolicy)
                        .unwrap_or_else(|| "it was not collected".into()),
                    KeyArn::parse(key)
                        .map(|k| format!(" ({})", k.arn().account()))
                        .unwrap_or_default()
                ),
            ));
            ResourceGate::KeyPolicy(None)
        }
    }
}
