//! What the restore metadata and the failure message name: instance profiles, target
//! KMS keys, the encoded authorization message. Every value is checked before it can
//! become a call; one that fails is a gap.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diagnose::evidence::{Evidence, EvidencePart, Gap};
use crate::diagnose::message;
use crate::diagnose::validated::{Arn, KeyRef};
use crate::event::sanitize::{self, dropped};

/// The text that precedes the token sts:DecodeAuthorizationMessage decodes.
/// At most this many instance profiles named in one restore's metadata are read. An EC2
/// restore launches one instance with one profile; two leave room for a key spelled two
/// ways, and keep a crafted metadata map from spending the account's IAM rate limit.
pub const MAX_INSTANCE_PROFILES: usize = 2;
/// At most this many target KMS keys named in one restore's metadata are resolved
/// (a restore encrypts with one key; three allow the different metadata keys naming it).
pub const MAX_TARGET_KEYS: usize = 3;

/// Restore metadata keys naming the target KMS key, lowercased (`KmsKeyId`, `kmsKeyId`,
/// DynamoDB's `kmsMasterKeyArn`, ...).
const TARGET_KEY_KEYS: [&str; 4] = ["kmskeyid", "kmskeyarn", "kmsmasterkeyarn", "kmskey"];

/// Where a metadata value that names no valid profile or key is said to come from.
const REJECTED_METADATA: &str = "restore metadata";

/// The metadata key a "not a valid …" gap of [`instance_profile_names`] or
/// [`target_key_refs`] is about.
pub(super) fn rejected_metadata_key(gap: &Gap) -> Option<String> {
    let key = gap.call.strip_prefix(REJECTED_METADATA)?;
    Some(key.trim_matches(['`', ' ']).to_owned())
}

/// Removes `key` from the evidence's metadata and from the metadata of the event it
/// carries.
pub(super) fn drop_metadata_entry(ev: &mut Evidence, key: &str) {
    if let Some(m) = ev.restore_metadata.as_mut() {
        m.remove(key);
    }
    if let Some(m) = ev
        .trigger
        .pointer_mut("/detail/requestParameters/metadata")
        .and_then(Value::as_object_mut)
    {
        m.remove(key);
    }
}

pub use crate::diagnose::validated::vault_name_from_arn;

/// The token of the failure message worth sending to sts:DecodeAuthorizationMessage:
/// the core's reading of the message ([`message::encoded_token`]), and at least 16
/// characters, so that a stub or a crafted short word costs no STS call.
pub fn encoded_token(message: &str) -> Option<&str> {
    message::encoded_token(message).filter(|t| t.len() >= 16)
}

/// `UseBackedUpValue` and `null` name no instance profile or key.
fn names_nothing(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("null") || v.eq_ignore_ascii_case("usebackedupvalue")
}

/// Instance profiles an EC2 restore attaches, from its metadata (keys are
/// case-insensitive; `UseBackedUpValue`/`null` name none): checked IAM names, at most
/// [`MAX_INSTANCE_PROFILES`]. A value that is not a profile name or ARN, and every
/// profile past the limit, is a gap.
pub fn instance_profile_names(metadata: &BTreeMap<String, String>) -> (Vec<String>, Vec<Gap>) {
    let mut gaps = Vec::new();
    let mut names = BTreeSet::new();
    for (key, value) in metadata {
        if !matches!(
            key.to_ascii_lowercase().as_str(),
            "iaminstanceprofilename"
                | "iaminstanceprofilearn"
                | "iaminstanceprofile"
                | "instanceprofilename"
                | "instanceprofilearn"
        ) {
            continue;
        }
        let v = value.trim();
        if names_nothing(v) {
            continue;
        }
        let name = if v.starts_with("arn:") {
            Arn::parse(v).ok().and_then(|a| {
                let path = a.resource().strip_prefix("instance-profile/")?;
                (a.service() == "iam").then(|| path.rsplit('/').next().unwrap_or(path).to_owned())
            })
        } else {
            Some(v.to_owned())
        };
        match name.filter(|n| crate::diagnose::validated::is_iam_name(n)) {
            Some(n) => {
                names.insert(n);
            }
            None => gaps.push(dropped(
                EvidencePart::RestoreMetadata,
                REJECTED_METADATA,
                key,
                format!(
                    "not an instance profile name or ARN ({} bytes): iam:GetInstanceProfile was not called",
                    v.len()
                ),
            )),
        }
    }
    let mut names: Vec<String> = names.into_iter().collect();
    if names.len() > MAX_INSTANCE_PROFILES {
        let skipped = names.split_off(MAX_INSTANCE_PROFILES);
        gaps.push(Gap {
            part: EvidencePart::InstanceProfile,
            call: "iam:GetInstanceProfile".into(),
            error: format!(
                "not attempted: the metadata names {} instance profiles; only the first {MAX_INSTANCE_PROFILES} were read, {} skipped",
                MAX_INSTANCE_PROFILES + skipped.len(),
                skipped.len()
            ),
        });
    }
    (names, gaps)
}

/// Target KMS keys named in the metadata (`KmsKeyId`, `kmsKeyId`, DynamoDB's
/// `kmsMasterKeyArn`): key ids, key ARNs, alias names or alias ARNs, parsed with
/// [`KeyRef::parse`], at most [`MAX_TARGET_KEYS`]. A value that is none of them is a gap
/// (never a call), and so is every key past the limit.
pub fn target_key_refs(metadata: &BTreeMap<String, String>) -> (Vec<KeyRef>, Vec<Gap>) {
    let mut gaps = Vec::new();
    let mut refs = BTreeSet::new();
    for (key, value) in metadata {
        if !TARGET_KEY_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
            continue;
        }
        let v = value.trim();
        if names_nothing(v) {
            continue;
        }
        match KeyRef::parse(v) {
            Ok(r) => {
                refs.insert(r);
            }
            Err(e) => gaps.push(dropped(
                EvidencePart::RestoreMetadata,
                REJECTED_METADATA,
                key,
                format!(
                    "{}: kms:DescribeKey was not called",
                    sanitize::refused(&e, v.len())
                ),
            )),
        }
    }
    let mut refs: Vec<KeyRef> = refs.into_iter().collect();
    if refs.len() > MAX_TARGET_KEYS {
        let skipped = refs.split_off(MAX_TARGET_KEYS);
        gaps.push(Gap {
            part: EvidencePart::KeyPolicy,
            call: "kms:DescribeKey".into(),
            error: format!(
                "not attempted: the metadata names {} target keys; only the first {MAX_TARGET_KEYS} were resolved, {} skipped",
                MAX_TARGET_KEYS + skipped.len(),
                skipped.len()
            ),
        });
    }
    (refs, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_word_after_the_marker() {
        let msg = "You are not authorized to perform this operation. Please consult the permissions associated with your AWS Backup role(s), and refer to the AWS Backup documentation for more details. Encoded authorization failure message: AbC-123_xyzAbC-123_xyz.";
        assert_eq!(encoded_token(msg), Some("AbC-123_xyzAbC-123_xyz"));
        assert_eq!(
            encoded_token("Encoded authorization failure message: <omitted>"),
            None
        );
        assert_eq!(
            encoded_token("Insufficient privileges to perform this action"),
            None
        );
    }

    #[test]
    fn instance_profiles_and_keys_come_from_case_insensitive_metadata_keys() {
        let metadata: BTreeMap<String, String> = [
            ("IamInstanceProfileName", "AppProfile"),
            (
                "iamInstanceProfileArn",
                "arn:aws:iam::111122223333:instance-profile/path/Other",
            ),
            ("instanceProfileName", "UseBackedUpValue"),
            ("KmsKeyId", "alias/aws/elasticfilesystem"),
            ("kmsKeyId", "alias/aws/elasticfilesystem"),
            ("Encrypted", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(instance_profile_names(&metadata).0, ["AppProfile", "Other"]);
        let (keys, gaps) = target_key_refs(&metadata);
        assert_eq!(
            keys,
            [KeyRef::Unresolved("alias/aws/elasticfilesystem".into())]
        );
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    #[test]
    fn names_from_arns() {
        assert_eq!(
            vault_name_from_arn(
                "arn:aws:backup:eu-west-1:1:backup-vault:aws/efs/automatic-backup-vault"
            )
            .as_deref(),
            Some("aws/efs/automatic-backup-vault")
        );
        assert_eq!(
            vault_name_from_arn("arn:aws:backup:eu-west-1:1:backup-vault:a b"),
            None
        );
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn hostile_key_references_are_gaps_never_calls() {
        let (keys, gaps) = target_key_refs(&meta(&[
            ("KmsKeyId", "arn:*"),
            ("kmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/*"),
            ("kmsMasterKeyArn", "alias/*"),
        ]));
        assert!(keys.is_empty(), "{keys:?}");
        assert_eq!(gaps.len(), 3, "{gaps:?}");
        assert!(gaps
            .iter()
            .all(|g| g.part == EvidencePart::RestoreMetadata && g.error.contains("not called")));
    }

    #[test]
    fn instance_profiles_and_keys_per_event_are_capped_and_the_rest_said() {
        let (names, gaps) = instance_profile_names(&meta(&[
            ("IamInstanceProfileName", "a"),
            (
                "iamInstanceProfileArn",
                "arn:aws:iam::111122223333:instance-profile/b",
            ),
            ("InstanceProfileName", "c"),
            (
                "instanceProfileArn",
                "arn:aws:iam::111122223333:instance-profile/d",
            ),
            ("IamInstanceProfile", "bad name!"),
        ]));
        assert_eq!(names.len(), MAX_INSTANCE_PROFILES);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(
            gaps.iter().any(|g| g.error.contains("2 skipped")),
            "{gaps:?}"
        );
        let (keys, gaps) = target_key_refs(&meta(&[
            ("KmsKeyId", "alias/a"),
            ("kmsKeyArn", "alias/b"),
            ("kmsMasterKeyArn", "alias/c"),
            ("KmsKey", "alias/d"),
        ]));
        assert_eq!(keys.len(), MAX_TARGET_KEYS);
        assert!(gaps[0].error.contains("1 skipped"), "{gaps:?}");
    }
}
