//! Checks for the plain strings an event or an AWS response carries (ids, messages,
//! restore metadata), beside the ARN and name checks of
//! [`validated`](crate::diagnose::validated).
//!
//! A refused StartRestoreJob reaches the function through CloudTrail with whatever the
//! caller sent, and restore metadata is whatever the restore was started with: each value
//! is checked once here, and one that fails is dropped and becomes an evidence [`Gap`]
//! naming the field, so the alert says what could not be verified instead of carrying
//! the value (or a pattern built from it) any further.
//!
//! Limits and their sources:
//! - [`MAX_RESOURCE_TYPE_LEN`] and its characters: AWS Backup API reference,
//!   `StartRestoreJob`, `ResourceType` (pattern `^[a-zA-Z0-9\-\_\.]{1,50}$`).
//! - CloudTrail `eventID` is a GUID: CloudTrail User Guide, "CloudTrail record contents
//!   for management, data, and network activity events" (`eventID`).
//! - [`MAX_METADATA_VALUE_LEN`]: the largest restore metadata value AWS Backup documents
//!   is EC2 `UserData`, up to 16 KB before base64 (Amazon EC2 User Guide, "Run commands
//!   when you launch an EC2 instance with user data input"), about 21.4 KB encoded.
//! - Not verified (AWS documents no limit or format, so these are our own bounds, chosen
//!   well above anything seen): restore job ids and request ids ([`MAX_ID_LEN`], letters,
//!   digits, `-` and `_`), [`MAX_MESSAGE_LEN`] for `statusMessage`/`errorMessage` (the
//!   longest seen carries a 1–2 KB encoded authorization message),
//!   [`MAX_METADATA_ENTRIES`] and [`MAX_METADATA_KEY_LEN`] (AWS Backup's documented
//!   metadata keys are fewer than 40 per resource type, none longer than 40 characters).

use std::collections::BTreeMap;

use crate::diagnose::evidence::{EvidencePart, Gap};
use crate::diagnose::validated::{shown, Arn, InvalidValue, KeyArn, RoleArn};

/// The longest restore job id, request id or event id kept (not verified, see above).
pub const MAX_ID_LEN: usize = 128;
/// The longest `statusMessage` / `errorMessage` kept whole; longer ones are shortened.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;
/// `ResourceType` of StartRestoreJob: 1 to 50 characters.
pub const MAX_RESOURCE_TYPE_LEN: usize = 50;
/// The most restore metadata entries kept; the rest are dropped and said.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// The longest restore metadata key kept.
pub const MAX_METADATA_KEY_LEN: usize = 128;
/// The longest restore metadata value kept (EC2 `UserData`, base64, with room).
pub const MAX_METADATA_VALUE_LEN: usize = 24 * 1024;
/// The longest date string kept (`2026-03-02T03:11:58.412Z` and offsets fit easily).
pub const MAX_DATE_LEN: usize = 40;

/// A value dropped from `source` (`event`, `backup:GetRestoreJobMetadata`): the gap that
/// says so.
pub fn dropped(part: EvidencePart, source: &str, field: &str, why: impl std::fmt::Display) -> Gap {
    Gap {
        part,
        call: format!("{source} `{}`", shown(field)),
        error: format!("not used: {why}"),
    }
}

/// Why a value failed, without the value: what it should have been, why not, and its
/// length. A rejected value is hostile until shown otherwise, so it is never echoed into
/// a gap (and from there into an alert); CloudTrail keeps the original.
pub fn refused(e: &InvalidValue, len: usize) -> String {
    format!("not a valid {} ({len} bytes): {}", e.what, e.why)
}

/// A check of one string: the accepted text, or why not.
pub type Check = fn(&str) -> Result<String, InvalidValue>;

/// Any ARN without a wildcard ([`Arn::parse`]).
pub fn arn(s: &str) -> Result<String, InvalidValue> {
    Arn::parse(s).map(|a| a.as_str().to_owned())
}

/// An IAM role ARN ([`RoleArn::parse`]).
pub fn role_arn(s: &str) -> Result<String, InvalidValue> {
    RoleArn::parse(s).map(|a| a.as_str().to_owned())
}

/// A KMS key ARN, never an alias ([`KeyArn::parse`]).
pub fn key_arn(s: &str) -> Result<String, InvalidValue> {
    KeyArn::parse(s).map(|a| a.as_str().to_owned())
}

/// Letters, digits, `-` and `_`, 1 to [`MAX_ID_LEN`] characters: restore job ids, request
/// ids, EventBridge event ids.
pub fn is_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A GUID in its usual 8-4-4-4-12 hexadecimal form (CloudTrail's `eventID`).
pub fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A resource type as StartRestoreJob accepts it.
pub fn is_resource_type(s: &str) -> bool {
    (1..=MAX_RESOURCE_TYPE_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub use crate::diagnose::validated::is_vault_name;

/// An error code or identity type: letters, digits, `.`, `:`, `_` and `-`, at most 128.
pub fn is_code(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// A timestamp as events and responses write them (digits, `-`, `:`, `.`, `T`, `Z`, `+`).
pub fn is_date(s: &str) -> bool {
    (1..=MAX_DATE_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ+ ".contains(&b))
}

/// A free-text message (a status or error message) made safe to carry: control
/// characters become spaces, and past [`MAX_MESSAGE_LEN`] bytes it is cut at a character
/// boundary. Returns the text and whether it was cut.
pub fn message(s: &str) -> (String, bool) {
    let mut out = String::with_capacity(s.len().min(MAX_MESSAGE_LEN));
    let mut cut = false;
    for c in s.chars() {
        if out.len() + c.len_utf8() > MAX_MESSAGE_LEN {
            cut = true;
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    (out, cut)
}

/// Restore metadata, checked entry by entry: keys of at most [`MAX_METADATA_KEY_LEN`]
/// letters, digits and `-_.:`; values of at most [`MAX_METADATA_VALUE_LEN`] bytes with no
/// control character; at most [`MAX_METADATA_ENTRIES`] entries. Keys are compared without
/// regard to case (the diagnosis reads them that way): keys that differ only in case and
/// carry the same value are kept once; carrying different values, all of them are dropped,
/// since which one AWS Backup would use is not known.
///
/// `source` names where the metadata came from and `at` the field holding it, for the
/// gaps.
pub fn metadata<I>(entries: I, source: &str, at: &str) -> (BTreeMap<String, String>, Vec<Gap>)
where
    I: IntoIterator<Item = (String, String)>,
{
    let part = EvidencePart::RestoreMetadata;
    let mut gaps = Vec::new();
    // Lowercased key -> (the key as first written, value, conflicting).
    let mut by_key: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
    let mut over = 0usize;
    for (key, value) in entries {
        let key_ok = (1..=MAX_METADATA_KEY_LEN).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !key_ok {
            gaps.push(dropped(
                part,
                source,
                at,
                format!(
                    "a key ({} bytes) is not a metadata key (letters, digits, `-_.:`, at most {MAX_METADATA_KEY_LEN})",
                    key.len()
                ),
            ));
            continue;
        }
        if value.len() > MAX_METADATA_VALUE_LEN || value.chars().any(char::is_control) {
            gaps.push(dropped(
                part,
                source,
                &format!("{at}.{key}"),
                format!(
                    "the value is longer than {MAX_METADATA_VALUE_LEN} bytes or holds a control character ({} bytes)",
                    value.len()
                ),
            ));
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let full = by_key.len() >= MAX_METADATA_ENTRIES;
        match by_key.get_mut(&lower) {
            Some((_, kept, conflicting)) => {
                if *kept != value {
                    *conflicting = true;
                }
            }
            None if full => over += 1,
            None => {
                by_key.insert(lower, (key, value, false));
            }
        }
    }
    if over > 0 {
        gaps.push(dropped(
            part,
            source,
            at,
            format!("{over} entries past the first {MAX_METADATA_ENTRIES} were not read"),
        ));
    }
    let mut out = BTreeMap::new();
    for (_, (key, value, conflicting)) in by_key {
        if conflicting {
            gaps.push(dropped(
                part,
                source,
                &format!("{at}.{key}"),
                "keys that differ only in case carry different values",
            ));
        } else {
            out.insert(key, value);
        }
    }
    (out, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn ids_guids_and_resource_types() {
        assert!(is_id("A1B2C3D4-5E6F-7A8B-9C0D-EF1234567890"));
        assert!(!is_id(""));
        assert!(!is_id("job/1"));
        assert!(!is_id(&"a".repeat(MAX_ID_LEN + 1)));
        assert!(is_guid("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"));
        assert!(!is_guid("ct-1"));
        assert!(is_resource_type("EFS"));
        assert!(is_resource_type("Aurora.DSQL"));
        assert!(!is_resource_type("EFS`<!channel>`"));
        assert!(!is_resource_type(&"E".repeat(51)));
    }

    #[test]
    fn messages_lose_control_characters_and_are_cut_at_a_character_boundary() {
        let (m, cut) = message("denied\nFix (verified):\r\tx");
        assert_eq!(m, "denied Fix (verified):  x");
        assert!(!cut);
        let long = "é".repeat(MAX_MESSAGE_LEN);
        let (m, cut) = message(&long);
        assert!(cut);
        assert!(m.len() <= MAX_MESSAGE_LEN);
        assert!(m.chars().all(|c| c == 'é'));
    }

    #[test]
    fn metadata_keys_are_deduplicated_without_regard_to_case() {
        let (m, gaps) = metadata(
            entries(&[
                ("KmsKeyId", "alias/a"),
                ("kmskeyid", "alias/a"),
                ("IamInstanceProfileName", "one"),
                ("iamInstanceProfileName", "two"),
                ("Encrypted", "true"),
            ]),
            "event",
            "metadata",
        );
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m["KmsKeyId"], "alias/a");
        assert_eq!(m["Encrypted"], "true");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].error.contains("differ only in case"));
        assert_eq!(gaps[0].part, EvidencePart::RestoreMetadata);
    }

    #[test]
    fn hostile_metadata_is_dropped_and_said() {
        let many: Vec<(String, String)> = (0..MAX_METADATA_ENTRIES + 10)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect();
        let (m, gaps) = metadata(many, "event", "metadata");
        assert_eq!(m.len(), MAX_METADATA_ENTRIES);
        assert!(gaps[0].error.contains("10 entries"), "{gaps:?}");

        let (m, gaps) = metadata(
            entries(&[
                ("RoleName", "x\nFix (verified by restore-doctor):"),
                ("bad key`", "v"),
                ("Big", &"b".repeat(MAX_METADATA_VALUE_LEN + 1)),
            ]),
            "event",
            "metadata",
        );
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(gaps.len(), 3, "{gaps:?}");
        assert!(gaps.iter().all(|g| !g.error.contains('\n')));
        assert!(gaps
            .iter()
            .all(|g| !g.call.contains('`') || g.call.matches('`').count() == 2));
    }
}
