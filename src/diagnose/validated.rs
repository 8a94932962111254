//! Values from outside (an event, restore metadata, an AWS response), parsed once into
//! types that cannot hold a bad value.
//!
//! A refused StartRestoreJob is written by whoever made the call, and restore metadata
//! by whoever started the restore: every string in them is hostile until one of these
//! constructors accepted it. None of them accepts `*` or `?`, so a wildcard can never
//! reach a patch from outside data; what fails is an evidence gap, never a pattern.
//!
//! Sources of the rules:
//! - ARN format and partitions: IAM User Guide, "Identify AWS resources with Amazon
//!   Resource Names (ARNs)" (reference-arns.html); the longest ARN IAM accepts in a
//!   policy is 2,048 characters (IAM API `PolicyArn`/`RoleArn` length constraints).
//! - Role and instance profile names and paths: IAM API reference, `CreateRole`
//!   (`RoleName` `[\w+=,.@-]+`, 1–64; `Path` 1–512, `/` … `/`).
//! - Bucket names: Amazon S3 User Guide, "General purpose bucket naming rules"
//!   (bucketnamingrules.html).
//! - Key ids and ARNs: AWS KMS Developer Guide, "Key identifiers (KeyId)"
//!   (concepts.html#key-id); alias names: `CreateAlias` (`alias/` + `[a-zA-Z0-9/_-]+`, up
//!   to 256 characters).
//! - Account ids: 12 digits (AWS Account Management reference, "View AWS account
//!   identifiers").

use std::fmt;

/// The longest ARN accepted (IAM's limit for an ARN in an API call or a policy).
pub const MAX_ARN_LEN: usize = crate::policy::limits::MAX_ARN_CHARS;
/// Partitions AWS documents (reference-arns.html, "partition").
pub const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Why a value was not accepted. The value itself is not repeated in full: it may be
/// huge or hostile; [`shown`] gives a short, printable prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid {what}: {why}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub shown: String,
    pub why: String,
}

/// At most 80 printable characters of a value, for messages about it.
pub use crate::policy::limits::shown;

fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> InvalidValue {
    InvalidValue {
        what,
        shown: shown(value),
        why: why.into(),
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lower-case letters and digits only, as Organizations ids are spelled.
fn org_id_chars(p: &str) -> bool {
    p.bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `s` is an organization root id: `r-` and 4 to 32 lower-case letters or
/// digits (Organizations API reference, `Root.Id` pattern).
pub fn is_root_id(s: &str) -> bool {
    s.strip_prefix("r-")
        .is_some_and(|rest| (4..=32).contains(&rest.len()) && org_id_chars(rest))
}

/// Whether `s` is an OU id: `ou-`, 4 to 32 lower-case letters or digits, `-`, 8 to 32
/// more (Organizations API reference, `OrganizationalUnit.Id` pattern).
pub fn is_ou_id(s: &str) -> bool {
    s.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, ou)| {
            (4..=32).contains(&root.len())
                && (8..=32).contains(&ou.len())
                && org_id_chars(root)
                && org_id_chars(ou)
        })
}

/// Whether `s` is an organization root id or OU id ([`is_root_id`], [`is_ou_id`]).
pub fn is_org_parent_id(s: &str) -> bool {
    is_root_id(s) || is_ou_id(s)
}

/// Whether `s` is an account alias as IAM accepts one: 3 to 63 lower-case letters,
/// digits and single hyphens, starting and ending with a letter or digit (IAM API
/// reference, `CreateAccountAlias`, `AccountAlias`: length 3 to 63, pattern
/// `^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$`,
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccountAlias.html>).
/// An alias read from an account goes into the alert's subject only when it is one.
pub fn is_account_alias(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
        && !s.contains("--")
}

/// Whether `s` reads as a Region code (`us-east-1`, `us-gov-west-1`, `eusc-de-east-1`).
pub fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let Some((last, middle)) = rest.split_last() else {
        return false;
    };
    s.len() <= 32
        && (2..=4).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Characters allowed in the resource part of an ARN taken from outside: those of IAM
/// names and paths, KMS key ids and aliases, backup vault and recovery point ids, S3
/// bucket names and EC2/RDS ids. No wildcard, no white space, no markup or quote.
fn is_resource_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:+=,@".contains(c)
}

/// A parsed ARN with no wildcard: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arn {
    text: String,
    /// Byte offsets of the five `:` separators.
    colons: [usize; 5],
}

impl Arn {
    /// Parses an ARN, refusing wildcards, unknown partitions, malformed Regions and
    /// accounts, and any character outside [`is_resource_char`].
    pub fn parse(s: &str) -> Result<Arn, InvalidValue> {
        let bad = |why: &str| invalid("ARN", s, why);
        if s.len() > MAX_ARN_LEN {
            return Err(bad(&format!("longer than {MAX_ARN_LEN} characters")));
        }
        if s.contains(['*', '?']) {
            return Err(bad("it holds a wildcard"));
        }
        let mut colons = [0usize; 5];
        let mut found = 0;
        for (i, c) in s.char_indices() {
            if c == ':' && found < 5 {
                if let Some(slot) = colons.get_mut(found) {
                    *slot = i;
                }
                found += 1;
            }
        }
        if found < 5 {
            return Err(bad("an ARN has six parts separated by `:`"));
        }
        let arn = Arn {
            text: s.to_owned(),
            colons,
        };
        if arn.part(0) != "arn" {
            return Err(bad("it does not start with `arn:`"));
        }
        if !PARTITIONS.contains(&arn.partition()) {
            return Err(bad("unknown partition"));
        }
        let service = arn.service();
        if service.is_empty()
            || service.len() > 64
            || !service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("malformed service"));
        }
        if !arn.region().is_empty() && !is_region(arn.region()) {
            return Err(bad("malformed Region"));
        }
        let account = arn.account();
        if !account.is_empty() && !is_account_id(account) && account != "aws" {
            return Err(bad("the account is not a 12-digit id"));
        }
        if arn.resource().is_empty() {
            return Err(bad("no resource"));
        }
        if !arn.resource().chars().all(is_resource_char) {
            return Err(bad("the resource holds a character no AWS resource id has"));
        }
        Ok(arn)
    }

    fn part(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.colons.get(i - 1).map_or(0, |c| c + 1),
        };
        let end = self.colons.get(i).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn partition(&self) -> &str {
        self.part(1)
    }
    pub fn service(&self) -> &str {
        self.part(2)
    }
    pub fn region(&self) -> &str {
        self.part(3)
    }
    pub fn account(&self) -> &str {
        self.part(4)
    }
    /// Everything after the fifth `:` (may itself hold `:` and `/`).
    pub fn resource(&self) -> &str {
        self.colons
            .get(4)
            .and_then(|c| self.text.get(c + 1..))
            .unwrap_or("")
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An IAM name (role, user, instance profile): `[\w+=,.@-]{1,64}` (CreateRole).
pub fn is_iam_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// An IAM role ARN: `arn:partition:iam::account:role/path/name`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleArn(Arn);

impl RoleArn {
    pub fn parse(s: &str) -> Result<RoleArn, InvalidValue> {
        let arn = Arn::parse(s)?;
        let bad = |why: &str| invalid("IAM role ARN", s, why);
        if arn.service() != "iam" || !arn.region().is_empty() || !is_account_id(arn.account()) {
            return Err(bad("not `arn:partition:iam::account:role/...`"));
        }
        let Some(path_and_name) = arn.resource().strip_prefix("role/") else {
            return Err(bad("not a role"));
        };
        let (path, name) = path_and_name
            .rsplit_once('/')
            .unwrap_or(("", path_and_name));
        if !is_iam_name(name) {
            return Err(bad("malformed role name"));
        }
        if path.len() > 510
            || path
                .split('/')
                .any(|seg| !seg.is_empty() && !is_iam_name(seg))
        {
            return Err(bad("malformed role path"));
        }
        Ok(RoleArn(arn))
    }

    pub fn arn(&self) -> &Arn {
        &self.0
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn account(&self) -> &str {
        self.0.account()
    }
    /// The role name: what iam:GetRole and iam:PutRolePolicy take (the path is not part
    /// of it).
    pub fn name(&self) -> &str {
        let r = self.0.resource();
        r.rsplit('/').next().unwrap_or(r)
    }
}

/// An S3 general purpose bucket name that obeys S3's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Accepts a bucket name, or an `arn:<partition>:s3:::name` bucket ARN.
    pub fn parse(s: &str) -> Result<BucketName, InvalidValue> {
        let bad = |why: &str| invalid("S3 bucket name", s, why);
        let name = match s.strip_prefix("arn:") {
            Some(_) => {
                let arn = Arn::parse(s)?;
                if arn.service() != "s3" || !arn.region().is_empty() || !arn.account().is_empty() {
                    return Err(bad("not an S3 bucket ARN"));
                }
                arn.resource().to_owned()
            }
            None => s.to_owned(),
        };
        let bytes = name.as_bytes();
        if !(3..=63).contains(&bytes.len()) {
            return Err(bad("a bucket name has 3 to 63 characters"));
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        {
            return Err(bad(
                "only lowercase letters, digits, dots and hyphens are allowed",
            ));
        }
        let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        if !edge_ok(bytes.first()) || !edge_ok(bytes.last()) {
            return Err(bad("it must begin and end with a letter or digit"));
        }
        if name.contains("..") {
            return Err(bad("two adjacent dots"));
        }
        if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
            return Err(bad("it is formatted as an IP address"));
        }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
            if name.starts_with(prefix) {
                return Err(bad(&format!("the prefix `{prefix}` is reserved")));
            }
        }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
            if name.ends_with(suffix) {
                return Err(bad(&format!("the suffix `{suffix}` is reserved")));
            }
        }
        Ok(BucketName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A backup vault name. `CreateBackupVault` allows `^[a-zA-Z0-9\-\_]{2,50}$`; vaults AWS
/// creates also hold `/` (`aws/efs/automatic-backup-vault`), so `/` and `.` are accepted,
/// up to 64 characters (not verified beyond these two sources).
pub fn is_vault_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b))
}

/// `arn:aws:backup:eu-west-1:111122223333:backup-vault:Name` -> `Name`, when it is a
/// vault name.
pub fn vault_name_from_arn(arn: &str) -> Option<String> {
    arn.split_once(":backup-vault:")
        .map(|(_, name)| name.to_owned())
        .filter(|n| is_vault_name(n))
}

/// An EKS cluster name as CreateCluster accepts it: 1 to 100 characters, a letter or
/// digit first, then letters, digits, hyphens and underscores (EKS API reference,
/// CreateCluster `name`: pattern `^[0-9A-Za-z][A-Za-z0-9\-_]*$`). Only such a name goes
/// into a cluster ARN we grant on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EksClusterName(String);

impl EksClusterName {
    pub fn parse(s: &str) -> Result<EksClusterName, InvalidValue> {
        let bad = |why: &str| invalid("EKS cluster name", s, why);
        if !(1..=100).contains(&s.len()) {
            return Err(bad("a cluster name has 1 to 100 characters"));
        }
        if !s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("it must begin with a letter or digit"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(
                "only letters, digits, hyphens and underscores are allowed",
            ));
        }
        Ok(EksClusterName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A KMS key ARN (`arn:partition:kms:region:account:key/id`), never an alias.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyArn(Arn);

/// A key id: a UUID, or a multi-Region key id `mrk-` + 32 hex digits.
pub fn is_key_id(s: &str) -> bool {
    let uuid = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let mrk = s
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    uuid || mrk
}

impl KeyArn {
    pub fn parse(s: &str) -> Result<KeyArn, InvalidValue> {
        let arn = Arn::parse(s)?;
        let ok = arn.service() == "kms"
            && is_region(arn.region())
            && is_account_id(arn.account())
            && arn.resource().strip_prefix("key/").is_some_and(is_key_id);
        if !ok {
            return Err(invalid(
                "KMS key ARN",
                s,
                "not `arn:partition:kms:region:account:key/<key id>`",
            ));
        }
        Ok(KeyArn(arn))
    }

    pub fn arn(&self) -> &Arn {
        &self.0
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// How restore metadata names a KMS key: only a form KMS itself accepts as a `KeyId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyRef {
    /// A full key ARN: usable once kms:DescribeKey confirmed it.
    Arn(KeyArn),
    /// A key id, alias name (`alias/...`) or alias ARN: must be resolved with
    /// kms:DescribeKey before anything is checked or granted on it.
    Unresolved(String),
}

impl KeyRef {
    pub fn parse(s: &str) -> Result<KeyRef, InvalidValue> {
        let s = s.trim();
        if s.starts_with("arn:") {
            if let Ok(k) = KeyArn::parse(s) {
                return Ok(KeyRef::Arn(k));
            }
            let arn = Arn::parse(s)?;
            let alias = arn.service() == "kms"
                && is_region(arn.region())
                && is_account_id(arn.account())
                && arn
                    .resource()
                    .strip_prefix("alias/")
                    .is_some_and(is_alias_name);
            return if alias {
                Ok(KeyRef::Unresolved(s.to_owned()))
            } else {
                Err(invalid("KMS key", s, "neither a key ARN nor an alias ARN"))
            };
        }
        if is_key_id(s) || s.strip_prefix("alias/").is_some_and(is_alias_name) {
            return Ok(KeyRef::Unresolved(s.to_owned()));
        }
        Err(invalid(
            "KMS key",
            s,
            "neither a key id, a key ARN, an alias name nor an alias ARN",
        ))
    }

    pub fn as_str(&self) -> &str {
        match self {
            KeyRef::Arn(k) => k.as_str(),
            KeyRef::Unresolved(s) => s,
        }
    }
}

fn is_alias_name(s: &str) -> bool {
    (1..=250).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_parse_into_parts() {
        let a = Arn::parse("arn:aws:kms:us-east-1:111122223333:key/k:x/y").unwrap();
        assert_eq!(
            (
                a.partition(),
                a.service(),
                a.region(),
                a.account(),
                a.resource()
            ),
            ("aws", "kms", "us-east-1", "111122223333", "key/k:x/y")
        );
        let s3 = Arn::parse("arn:aws-us-gov:s3:::my-bucket").unwrap();
        assert_eq!(
            (s3.region(), s3.account(), s3.resource()),
            ("", "", "my-bucket")
        );
        assert!(Arn::parse("arn:aws:iam::aws:policy/AdministratorAccess").is_ok());
        assert!(Arn::parse("arn:aws:backup:eusc-de-east-1:111122223333:recovery-point:1").is_ok());
    }

    #[test]
    fn hostile_arns_are_refused() {
        for bad in [
            "arn:*",
            "arn:aws:kms:us-east-1:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/?",
            "arn:aws:iam::111122223333:role/a`b",
            "arn:aws:iam::111122223333:role/<!channel>",
            "arn:aws:iam::111122223333:role/a\nb",
            "arn:aws:iam::111122223333:role/a b",
            "arn:evil:iam::111122223333:role/a",
            "arn:aws:iam::1111:role/a",
            "arn:aws:kms:US-EAST-1:111122223333:key/a",
            "arn:aws:iam::111122223333:",
            "not:an:arn",
            "",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("arn:aws:iam::111122223333:role/{}", "a".repeat(MAX_ARN_LEN));
        let err = Arn::parse(&long).unwrap_err();
        assert!(err.shown.chars().count() <= 81, "{err}");
    }

    #[test]
    fn role_arns_give_their_name_without_the_path() {
        let r = RoleArn::parse("arn:aws:iam::111122223333:role/service-role/BackupRole").unwrap();
        assert_eq!(r.name(), "BackupRole");
        assert_eq!(r.account(), "111122223333");
        assert!(RoleArn::parse("arn:aws:iam::111122223333:user/alice").is_err());
        assert!(RoleArn::parse("arn:aws:iam::111122223333:role/").is_err());
        assert!(RoleArn::parse(&format!(
            "arn:aws:iam::111122223333:role/{}",
            "n".repeat(65)
        ))
        .is_err());
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["my-bucket", "a.b.c", "abc", "arn:aws:s3:::restore-target-1"] {
            assert!(BucketName::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            BucketName::parse("arn:aws:s3:::restore-target-1")
                .unwrap()
                .as_str(),
            "restore-target-1"
        );
        for bad in [
            "*",
            "ab",
            "My-Bucket",
            "a..b",
            "-ab",
            "ab-",
            "192.168.5.4",
            "xn--abc",
            "bucket-s3alias",
            "a_b",
            "bucket/key",
            "arn:aws:s3:::*",
        ] {
            assert!(BucketName::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(BucketName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn key_refs_are_ids_aliases_or_key_arns_only() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(matches!(KeyRef::parse(arn), Ok(KeyRef::Arn(_))));
        for unresolved in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/aws/elasticfilesystem",
            "arn:aws:kms:us-east-1:111122223333:alias/restore",
        ] {
            assert!(
                matches!(KeyRef::parse(unresolved), Ok(KeyRef::Unresolved(_))),
                "{unresolved}"
            );
        }
        for bad in [
            "arn:*",
            "arn:aws:kms:us-east-1:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/not-a-key-id",
            "arn:aws:s3:::bucket",
            "*",
            "alias/*",
            "key",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn regions_and_accounts() {
        for r in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "eusc-de-east-1",
            "ap-southeast-4",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in ["*", "us", "us-east", "US-EAST-1", "us-east-1a", "us--1"] {
            assert!(!is_region(r), "{r}");
        }
        assert!(is_account_id("111122223333"));
        assert!(!is_account_id("11112222333a"));
    }

    /// CreateCluster's name rules: hostile metadata never reaches a cluster ARN.
    #[test]
    fn eks_cluster_names_follow_create_cluster_rules() {
        for ok in ["prod", "p", "prod-restored_2", &"a".repeat(100)] {
            assert_eq!(EksClusterName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-prod",
            "_x",
            "prod/*",
            "prod*",
            "a b",
            "ünï",
            &"a".repeat(101),
        ] {
            assert!(EksClusterName::parse(bad).is_err(), "{bad}");
        }
    }
}
