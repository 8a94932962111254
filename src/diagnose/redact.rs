//! Redacting an evidence file before it leaves the account (a bug report, a ticket, a
//! chat): account ids, IAM names, vault names, KMS alias names, S3 bucket names and the
//! account alias become pseudonyms. The same value gets the same pseudonym everywhere in
//! the file — in ARNs, policy documents, messages, the event — so the redacted evidence
//! still diagnoses the same, modulo the renaming ([`differences`] checks that).
//!
//! What is renamed, and how it is found:
//! - every run of exactly 12 digits in a string (account ids, wherever they appear:
//!   ARNs, principals, messages, bucket names) except in byte counts;
//! - the names in ARNs: IAM roles, users, groups, instance profiles and customer managed
//!   policies (AWS managed policies and service-linked roles are AWS's, not the
//!   account's), STS sessions, backup vaults (not `Default` nor `aws/…`), KMS aliases
//!   (not `aws/…`), S3 buckets;
//! - the fields that hold such a name without an ARN: `userName`, `backupVaultName`,
//!   `accountAlias`, policy and instance profile `name`s, and the restore metadata's
//!   `IamInstanceProfileName`.
//!
//! A name is replaced where it stands as a whole name (not inside a longer one, and not
//! as a service prefix such as `backup:`); longer names first, so a policy named after
//! its role keeps its own pseudonym. Kept: resource ids (key ids, recovery point ids,
//! file systems), tags, Sids, dates and error codes. A wildcard pattern that matched a
//! renamed name (`role/Backup*`) no longer does, which changes the diagnosis: that is
//! why [`differences`] exists.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::evidence::Evidence;
use super::principal::FIX_POLICY_NAME;
use super::report::Report;

/// What a value is: the pseudonym says it, so a redacted file still reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Account,
    AccountAlias,
    Role,
    User,
    Group,
    Session,
    Policy,
    InstanceProfile,
    Vault,
    KeyAlias,
    Bucket,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::AccountAlias => "alias",
            Kind::Role => "role",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Session => "session",
            Kind::Policy => "policy",
            Kind::InstanceProfile => "profile",
            Kind::Vault => "vault",
            Kind::KeyAlias => "key-alias",
            Kind::Bucket => "bucket",
        }
    }

    fn counted(self, n: usize) -> String {
        let (one, many) = match self {
            Kind::Account => ("account id", "account ids"),
            Kind::AccountAlias => ("account alias", "account aliases"),
            Kind::Role => ("role", "roles"),
            Kind::User => ("user", "users"),
            Kind::Group => ("group", "groups"),
            Kind::Session => ("session", "sessions"),
            Kind::Policy => ("policy", "policies"),
            Kind::InstanceProfile => ("instance profile", "instance profiles"),
            Kind::Vault => ("vault", "vaults"),
            Kind::KeyAlias => ("KMS alias", "KMS aliases"),
            Kind::Bucket => ("bucket", "buckets"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// The renaming of one file: original value to pseudonym. Never written to the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renames {
    /// Account ids (12 digits), replaced where they stand between non-digits.
    accounts: BTreeMap<String, String>,
    /// Names, longest first, replaced where they stand as a whole name.
    names: Vec<(String, String)>,
    /// How many values of each kind were renamed.
    counts: BTreeMap<Kind, usize>,
}

/// A redacted evidence and how it was renamed.
#[derive(Debug, Clone)]
pub struct Redacted {
    pub evidence: Evidence,
    pub renames: Renames,
}

/// The evidence could not be turned into JSON and back (it always can: a bug if not).
#[derive(Debug, thiserror::Error)]
#[error("the evidence could not be redacted: {0}")]
pub struct RedactError(String);

/// Redacts `evidence`: same input, same output.
pub fn redact(evidence: &Evidence) -> Result<Redacted, RedactError> {
    let value = serde_json::to_value(evidence).map_err(|e| RedactError(e.to_string()))?;
    let mut found = Found::default();
    found.walk(&value, None, None);
    let renames = found.renames();
    let evidence = serde_json::from_value(renames.apply_value(&value))
        .map_err(|e| RedactError(e.to_string()))?;
    Ok(Redacted { evidence, renames })
}

impl Renames {
    /// `text` with every renamed value replaced.
    pub fn apply(&self, text: &str) -> String {
        self.rewrite(text).0
    }

    /// The rewritten text and the originals replaced in it.
    fn rewrite<'a>(&'a self, text: &str) -> (String, Vec<&'a str>) {
        let mut out = String::with_capacity(text.len());
        let mut replaced = Vec::new();
        let mut prev: Option<char> = None;
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let found = self.name_at(rest, prev).or_else(|| {
                (!prev.is_some_and(|p| p.is_ascii_digit()))
                    .then(|| self.account_at(rest))
                    .flatten()
            });
            if let Some((from, to)) = found {
                out.push_str(to);
                replaced.push(from);
                prev = from.chars().next_back();
                rest = rest.get(from.len()..).unwrap_or_default();
                continue;
            }
            out.push(c);
            prev = Some(c);
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
        }
        (out, replaced)
    }

    /// `value` with [`apply`](Self::apply) on every string (object keys are kept: they
    /// are field names, condition keys and metadata keys, never an account's names).
    pub fn apply_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.apply(s)),
            Value::Array(list) => Value::Array(list.iter().map(|v| self.apply_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.apply_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// "2 account ids, 1 role, ..." for the note the command line prints.
    pub fn summary(&self) -> String {
        if self.counts.is_empty() {
            return "nothing".to_owned();
        }
        self.counts
            .iter()
            .map(|(kind, n)| kind.counted(*n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The original values `text` still holds where redaction would replace them: none
    /// in a redacted file (a check for tests and for the command line's last look).
    pub fn leaks_in(&self, text: &str) -> Vec<String> {
        let mut leaks: Vec<String> = self
            .rewrite(text)
            .1
            .into_iter()
            .map(str::to_owned)
            .collect();
        leaks.sort();
        leaks.dedup();
        leaks
    }

    fn name_at<'a>(&'a self, rest: &str, prev: Option<char>) -> Option<(&'a str, &'a str)> {
        if prev.is_some_and(is_name_char) {
            return None;
        }
        self.names.iter().find_map(|(from, to)| {
            let after = rest.strip_prefix(from.as_str())?;
            // A whole name, and not a service prefix (`backup:StartRestoreJob`).
            match after.chars().next() {
                Some(c) if is_name_char(c) || c == ':' => None,
                _ => Some((from.as_str(), to.as_str())),
            }
        })
    }

    fn account_at<'a>(&'a self, rest: &str) -> Option<(&'a str, &'a str)> {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits != 12 {
            return None;
        }
        let (from, to) = self.accounts.get_key_value(rest.get(..12)?)?;
        Some((from.as_str(), to.as_str()))
    }
}

/// Characters IAM allows in names (`[\w+=,.@-]`) less `,` and `.`, which end a sentence
/// in a message more often than they sit inside a name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '=' | '@')
}

/// Fields whose 12-digit numbers are sizes, not accounts.
const SIZE_FIELDS: [&str; 2] = ["backupSizeInBytes", "BackupSizeInBytes"];

/// Values to rename, in the order first seen (so pseudonyms follow the file's order).
#[derive(Default)]
struct Found {
    order: Vec<(String, Kind)>,
    seen: BTreeMap<String, Kind>,
}

impl Found {
    fn add(&mut self, value: &str, kind: Kind) {
        let patterned = value.contains(['*', '?', '$']);
        if value.is_empty() || patterned || self.seen.contains_key(value) {
            return;
        }
        self.seen.insert(value.to_owned(), kind);
        self.order.push((value.to_owned(), kind));
    }

    fn walk(&mut self, value: &Value, key: Option<&str>, parent: Option<&Map<String, Value>>) {
        match value {
            Value::String(s) => self.string(s, key, parent),
            Value::Array(list) => list.iter().for_each(|v| self.walk(v, key, parent)),
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| self.walk(v, Some(k), Some(map))),
            _ => {}
        }
    }

    fn string(&mut self, s: &str, key: Option<&str>, parent: Option<&Map<String, Value>>) {
        let key = key.unwrap_or_default();
        if SIZE_FIELDS.contains(&key) {
            return;
        }
        let has = |field: &str| parent.is_some_and(|p| p.contains_key(field));
        match key {
            "accountAlias" => self.add(s, Kind::AccountAlias),
            "backupVaultName" | "BackupVaultName" if !reserved_vault(s) => self.add(s, Kind::Vault),
            "userName" => self.add(s, Kind::User),
            "name" if has("roleArns") => self.add(s, Kind::InstanceProfile),
            "name" if s != FIX_POLICY_NAME && is_customer_policy(parent) => {
                self.add(s, Kind::Policy)
            }
            k if k.eq_ignore_ascii_case("IamInstanceProfileName") => {
                self.add(s, Kind::InstanceProfile)
            }
            _ => {}
        }
        for arn in arns_in(s) {
            self.arn(arn);
        }
        for account in twelve_digit_runs(s) {
            self.add(account, Kind::Account);
        }
    }

    fn arn(&mut self, arn: &str) {
        let mut parts = arn.splitn(6, ':');
        let (Some(_), Some(_), Some(service), Some(_), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return;
        };
        if super::validated::is_account_id(account) {
            self.add(account, Kind::Account);
        }
        let last = |path: &str| path.rsplit('/').next().unwrap_or(path).to_owned();
        match service {
            "iam" if account != "aws" => {
                let Some((kind, path)) = resource.split_once('/') else {
                    return;
                };
                match kind {
                    "role" if !path.starts_with("aws-service-role/") => {
                        self.add(&last(path), Kind::Role)
                    }
                    "user" => self.add(&last(path), Kind::User),
                    "group" => self.add(&last(path), Kind::Group),
                    "policy" => self.add(&last(path), Kind::Policy),
                    "instance-profile" => self.add(&last(path), Kind::InstanceProfile),
                    _ => {}
                }
            }
            "sts" => {
                if let Some(rest) = resource.strip_prefix("assumed-role/") {
                    let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
                    self.add(role, Kind::Role);
                    self.add(session, Kind::Session);
                } else if let Some(user) = resource.strip_prefix("federated-user/") {
                    self.add(user, Kind::User);
                }
            }
            "backup" => {
                if let Some(vault) = resource.strip_prefix("backup-vault:") {
                    if !reserved_vault(vault) {
                        self.add(vault, Kind::Vault);
                    }
                }
            }
            "kms" => {
                if let Some(alias) = resource.strip_prefix("alias/") {
                    if !alias.starts_with("aws/") {
                        self.add(alias, Kind::KeyAlias);
                    }
                }
            }
            "s3" => {
                let bucket = resource.split('/').next().unwrap_or_default();
                self.add(bucket, Kind::Bucket);
            }
            _ => {}
        }
    }

    /// Pseudonyms, numbered per kind in the order the values were first seen; none is
    /// a value of the file itself.
    fn renames(self) -> Renames {
        let mut renames = Renames::default();
        let mut next: BTreeMap<Kind, usize> = BTreeMap::new();
        for (original, kind) in &self.order {
            // AWS Backup's session of a role is `AWSBackup-<role>`, and the diagnosis
            // recognises it by that name: it stays the session of the renamed role.
            let backup_session = (*kind == Kind::Session)
                .then(|| original.strip_prefix(BACKUP_SESSION_PREFIX))
                .flatten()
                .and_then(|role| renames.names.iter().find(|(from, _)| from == role))
                .map(|(_, to)| format!("{BACKUP_SESSION_PREFIX}{to}"));
            if let Some(pseudonym) = backup_session {
                *renames.counts.entry(*kind).or_insert(0) += 1;
                renames.names.push((original.clone(), pseudonym));
                continue;
            }
            let n = next.entry(*kind).or_insert(0);
            let pseudonym = loop {
                *n += 1;
                let candidate = match kind {
                    Kind::Account => format!("{n:012}"),
                    k => format!("redacted-{}-{n}", k.word()),
                };
                if !self.seen.contains_key(&candidate) {
                    break candidate;
                }
            };
            *renames.counts.entry(*kind).or_insert(0) += 1;
            if *kind == Kind::Account {
                renames.accounts.insert(original.clone(), pseudonym);
            } else {
                renames.names.push((original.clone(), pseudonym));
            }
        }
        renames
            .names
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        renames
    }
}

/// The session name AWS Backup uses when it assumes a restore role (`AWSBackup-<role>`).
const BACKUP_SESSION_PREFIX: &str = "AWSBackup-";

/// Vault names AWS gives (`Default`, `aws/efs/automatic-backup-vault`): the diagnosis
/// reads them, and they say nothing about the account.
fn reserved_vault(name: &str) -> bool {
    name == "Default" || name.starts_with("aws/")
}

/// A policy of the account's own (inline, customer managed or a boundary), whose name is
/// the account's; AWS managed policies keep theirs.
fn is_customer_policy(parent: Option<&Map<String, Value>>) -> bool {
    let kind = parent
        .and_then(|p| p.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    matches!(kind, "inline" | "managed" | "permissionBoundary")
}

/// Every ARN written in `text`: from `arn:` (not inside a word) to the next blank,
/// quote or bracket, without a sentence's final period.
fn arns_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| t.find("arn:")) {
        let start = from + at;
        from = start + 4;
        let before = text.get(..start).and_then(|t| t.chars().next_back());
        if before.is_some_and(char::is_alphanumeric) {
            continue;
        }
        let tail = text.get(start..).unwrap_or_default();
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"'<>()[]{},;`".contains(c))
            .unwrap_or(tail.len());
        let arn = tail.get(..end).unwrap_or_default().trim_end_matches('.');
        out.push(arn);
    }
    out
}

/// Every run of exactly 12 digits in `text`.
fn twelve_digit_runs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s == 12 {
                    out.extend(text.get(s..i));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// How the diagnosis of the redacted evidence differs from the original's, renamed: one
/// line per difference in the cause, the verdict, the missing permissions (action,
/// resource, principal, what blocks it) or the parts that could not be verified; empty
/// when they are the same findings. Explanatory sentences are not compared: a renamed
/// word in them (an inline policy named `restore`) is not a different finding.
pub fn differences(original: &Report, redacted: &Report, renames: &Renames) -> Vec<String> {
    let findings = |r: &Report, rename: bool| -> Vec<String> {
        let mut list: Vec<String> = r
            .missing
            .iter()
            .map(|f| {
                let key = format!(
                    "{} on {} for {} ({}{:?})",
                    f.action,
                    f.resource,
                    f.principal,
                    if f.fixable_by_patch { "fixable, " } else { "" },
                    f.blocked_by
                );
                if rename {
                    renames.apply(&key)
                } else {
                    key
                }
            })
            .collect();
        list.sort();
        list
    };
    let parts = |r: &Report| -> Vec<String> {
        let mut list: Vec<String> = r
            .unverified
            .iter()
            .map(|u| format!("{:?}", u.part))
            .collect();
        list.sort();
        list
    };
    let mut out = Vec::new();
    if original.cause != redacted.cause {
        out.push(format!(
            "cause: {:?} before redaction, {:?} after",
            original.cause, redacted.cause
        ));
    }
    if original.verified != redacted.verified {
        out.push(format!(
            "verified: {} before redaction, {} after",
            original.verified, redacted.verified
        ));
    }
    let (before, after) = (findings(original, true), findings(redacted, false));
    for gone in before.iter().filter(|f| !after.contains(f)) {
        out.push(format!("missing before redaction only: {gone}"));
    }
    for new in after.iter().filter(|f| !before.contains(f)) {
        out.push(format!("missing after redaction only: {new}"));
    }
    if parts(original) != parts(redacted) {
        out.push(format!(
            "unverified: {} parts before redaction, {} after, or different ones",
            original.unverified.len(),
            redacted.unverified.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evidence(v: Value) -> Evidence {
        serde_json::from_value(v).unwrap()
    }

    fn sample() -> Evidence {
        evidence(json!({
            "trigger": {"detail-type": "Restore Job State Change", "account": "111122223333",
                        "detail": {"iamRoleArn": "arn:aws:iam::111122223333:role/service-role/Backup",
                                   "backupSizeInBytes": "123456789012",
                                   "statusMessage": "User: arn:aws:sts::111122223333:assumed-role/Backup/AWSBackup-Backup is not authorized to perform: backup:StartRestoreJob on resource: arn:aws:backup:eu-west-1:111122223333:backup-vault:prod-vault."}},
            "accountId": "111122223333",
            "accountAlias": "acme-prod",
            "restoreRole": {
                "arn": "arn:aws:iam::111122223333:role/service-role/Backup",
                "policies": [
                    {"name": "Backup-extra", "kind": "inline", "document": {"Statement": [
                        {"Effect": "Allow", "Action": "backup:StartRestoreJob",
                         "Resource": "arn:aws:s3:::acme-111122223333-data/*"}]}},
                    {"name": "AWSBackupServiceRolePolicyForRestores", "kind": "awsManaged",
                     "arn": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
                     "document": {}},
                    {"name": FIX_POLICY_NAME, "kind": "inline", "document": {}}
                ]
            },
            "vaultAccessPolicy": {"backupVaultName": "prod-vault", "document": {
                "Statement": [{"Effect": "Deny", "Principal": {"AWS": "444455556666"}, "Action": "*", "Resource": "*"}]}},
            "recoveryPoint": {"recoveryPointArn": "arn:aws:backup:eu-west-1:111122223333:recovery-point:1", "backupVaultName": "aws/efs/automatic-backup-vault"}
        }))
    }

    #[test]
    fn the_same_value_gets_the_same_pseudonym_everywhere() {
        let r = redact(&sample()).unwrap();
        let text = serde_json::to_string(&r.evidence).unwrap();
        assert!(r.renames.leaks_in(&text).is_empty(), "{text}");
        let e = &r.evidence;
        assert_eq!(e.account_id.as_deref(), Some("000000000001"));
        assert_eq!(e.trigger["account"], "000000000001");
        assert_eq!(
            e.restore_role.as_ref().unwrap().arn,
            "arn:aws:iam::000000000001:role/service-role/redacted-role-1"
        );
        assert_eq!(e.account_alias.as_deref(), Some("redacted-alias-1"));
        let message = e.trigger["detail"]["statusMessage"].as_str().unwrap();
        assert_eq!(
            message,
            "User: arn:aws:sts::000000000001:assumed-role/redacted-role-1/AWSBackup-redacted-role-1 is not authorized to perform: backup:StartRestoreJob on resource: arn:aws:backup:eu-west-1:000000000001:backup-vault:redacted-vault-1."
        );
        assert_eq!(
            e.vault_access_policy.as_ref().unwrap().backup_vault_name,
            "redacted-vault-1"
        );
        // A foreign account in a policy is an account too, with its own pseudonym.
        assert_eq!(
            e.vault_access_policy.as_ref().unwrap().document["Statement"][0]["Principal"]["AWS"],
            "000000000002"
        );
        let policies = &e.restore_role.as_ref().unwrap().policies;
        assert_eq!(policies[0].name, "redacted-policy-1");
        assert_eq!(
            policies[0].document["Statement"][0]["Resource"],
            "arn:aws:s3:::redacted-bucket-1/*"
        );
        // The action whose service prefix is a role's name elsewhere stays an action.
        assert_eq!(
            policies[0].document["Statement"][0]["Action"],
            "backup:StartRestoreJob"
        );
    }

    #[test]
    fn aws_names_sizes_and_our_own_policy_name_are_kept() {
        let r = redact(&sample()).unwrap();
        let e = &r.evidence;
        assert_eq!(e.trigger["detail"]["backupSizeInBytes"], "123456789012");
        let policies = &e.restore_role.as_ref().unwrap().policies;
        assert_eq!(policies[1].name, "AWSBackupServiceRolePolicyForRestores");
        assert_eq!(
            policies[1].arn.as_deref(),
            Some("arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores")
        );
        assert_eq!(policies[2].name, FIX_POLICY_NAME);
        assert_eq!(
            e.recovery_point
                .as_ref()
                .unwrap()
                .backup_vault_name
                .as_deref(),
            Some("aws/efs/automatic-backup-vault")
        );
    }

    #[test]
    fn redaction_is_deterministic_and_names_are_replaced_whole() {
        let a = redact(&sample()).unwrap();
        let b = redact(&sample()).unwrap();
        assert_eq!(a.evidence, b.evidence);
        assert_eq!(a.renames, b.renames);
        // `Backup` is a role: `Backup-extra` (a longer name) and `Backupx` are not it.
        assert_eq!(
            a.renames.apply("Backupx Backup-extra Backup."),
            "Backupx redacted-policy-1 redacted-role-1."
        );
        assert_eq!(
            a.renames.summary(),
            "2 account ids, 1 account alias, 1 role, 1 session, 1 policy, 1 vault, 1 bucket"
        );
    }

    #[test]
    fn a_role_named_like_a_service_leaves_actions_and_arns_alone() {
        let e = evidence(json!({
            "trigger": {"detail-type": "x", "detail": {
                "iamRoleArn": "arn:aws:iam::111122223333:role/backup",
                "statusMessage": "backup is not authorized to perform: backup:StartRestoreJob on arn:aws:backup:eu-west-1:111122223333:backup-vault:v"}}
        }));
        let r = redact(&e).unwrap();
        assert_eq!(
            r.evidence.trigger["detail"]["statusMessage"],
            "redacted-role-1 is not authorized to perform: backup:StartRestoreJob on arn:aws:backup:eu-west-1:000000000001:backup-vault:redacted-vault-1"
        );
    }

    #[test]
    fn a_pseudonym_is_never_a_value_of_the_file() {
        let e = evidence(json!({
            "trigger": {"detail-type": "x", "account": "000000000001",
                        "detail": {"iamRoleArn": "arn:aws:iam::222233334444:role/redacted-role-1"}}
        }));
        let r = redact(&e).unwrap();
        assert_eq!(r.evidence.trigger["account"], "000000000002");
        assert_eq!(
            r.evidence.trigger["detail"]["iamRoleArn"],
            "arn:aws:iam::000000000003:role/redacted-role-2"
        );
    }
}
