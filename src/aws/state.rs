//! The readiness state between runs: one DynamoDB item per (resource, vault) with its
//! last verdict, the role it would be restored as, the keys and the vault its restore
//! uses, and an expiry (the table's TTL attribute) so a resource that is no longer
//! protected leaves the table by itself.
//!
//! The table (template.yaml, `ReadinessStateTable`) has the string hash key
//! [`KEY_ATTRIBUTE`] and TTL on [`TTL_ATTRIBUTE`]. DynamoDB's TTL "compares the current
//! time in epoch time format to the time stored in the TTL attribute of an item" and
//! deletes expired items "typically within two days"; "items that have expired and not
//! been deleted will still show up in reads, queries, and scans" (DynamoDB API
//! reference, UpdateTimeToLive): [`load`] skips them.
//!
//! Whatever the table holds is read back like any AWS answer: an item whose values fail
//! their checks is left out (and counted), never trusted.
//!
//! Besides the rows, one item per account the scheduled run reads ([`AccountState`],
//! key `account#<id>`): whether its reader role could be assumed, so that an account
//! that cannot be read is said once. Rows written before readiness read member accounts
//! carry no `accountId`: they are the function's own account's, the only one read then.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::error::call_error;
use crate::diagnose::readiness::{legacy_state_key, state_key, AccountState, StoredState, Verdict};
use crate::diagnose::validated::{is_account_id, Arn, KeyArn, RoleArn};
use crate::event::sanitize;

/// The table's hash key: [`state_key`] of the account, resource and vault, or
/// [`ACCOUNT_PREFIX`] and the account id.
pub const KEY_ATTRIBUTE: &str = "pk";
/// The table's TTL attribute: seconds since the Unix epoch.
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// BatchWriteItem takes at most 25 put or delete requests (DynamoDB API reference,
/// BatchWriteItem).
const BATCH: usize = 25;
/// Attempts at the items a BatchWriteItem left unprocessed.
const UNPROCESSED_ATTEMPTS: usize = 3;
/// The most pages of one Scan read (1 MB each).
const MAX_PAGES: usize = 100;
/// The most keys kept per item.
const MAX_KEYS: usize = 8;
/// The key prefix of an account's item (no resource ARN starts with it).
pub const ACCOUNT_PREFIX: &str = "account#";

/// The state table could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("readiness state table `{table}`: {reason}")]
pub struct StateError {
    pub table: String,
    pub reason: String,
}

/// What [`load`] read.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// One per key: where a row written before the account was part of the key and one
    /// written since say the same row, the later check.
    pub states: Vec<StoredState>,
    /// Per account id.
    pub accounts: BTreeMap<String, AccountState>,
    /// Items left out: a value failed its check.
    pub dropped: usize,
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Ready => "ready",
        Verdict::NotReady => "notReady",
        Verdict::NotVerifiable => "notVerifiable",
    }
}

fn verdict_of(s: &str) -> Option<Verdict> {
    match s {
        "ready" => Some(Verdict::Ready),
        "notReady" => Some(Verdict::NotReady),
        "notVerifiable" => Some(Verdict::NotVerifiable),
        _ => None,
    }
}

/// The item for `state`, expiring at `expires_at`.
fn item(state: &StoredState, expires_at: i64) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item = HashMap::from([
        (KEY_ATTRIBUTE.to_owned(), s(&state.key)),
        ("accountId".to_owned(), s(&state.account)),
        ("resourceArn".to_owned(), s(&state.resource_arn)),
        ("verdict".to_owned(), s(verdict_name(state.verdict))),
        (
            "keyArns".to_owned(),
            AttributeValue::L(state.key_arns.iter().map(|k| s(k)).collect()),
        ),
        (
            "checkedAt".to_owned(),
            AttributeValue::N(state.checked_at.to_string()),
        ),
        (
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        ),
    ]);
    for (name, value) in [
        ("vaultName", &state.vault_name),
        ("resourceType", &state.resource_type),
        ("roleArn", &state.role_arn),
    ] {
        if let Some(v) = value {
            item.insert(name.to_owned(), s(v));
        }
    }
    item
}

/// The item of an account's state, expiring at `expires_at`.
fn account_item(state: &AccountState, expires_at: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            KEY_ATTRIBUTE.to_owned(),
            AttributeValue::S(format!("{ACCOUNT_PREFIX}{}", state.account)),
        ),
        (
            "accountId".to_owned(),
            AttributeValue::S(state.account.clone()),
        ),
        ("readable".to_owned(), AttributeValue::Bool(state.readable)),
        (
            "checkedAt".to_owned(),
            AttributeValue::N(state.checked_at.to_string()),
        ),
        (
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        ),
    ])
}

/// What one item holds.
enum Read {
    Row(StoredState),
    Account(AccountState),
}

/// The account state an item holds, checked; `None` when a value fails.
fn account_of(item: &HashMap<String, AttributeValue>, key: &str) -> Option<AccountState> {
    let account = key
        .strip_prefix(ACCOUNT_PREFIX)
        .filter(|a| is_account_id(a))?;
    let same = item
        .get("accountId")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|a| a == account);
    let checked_at = item
        .get("checkedAt")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())?;
    same.then(|| AccountState {
        account: account.to_owned(),
        readable: item.get("readable").and_then(|v| v.as_bool().ok()).copied() == Some(true),
        checked_at,
    })
}

/// What an item holds, every value checked; `None` when one fails or the item has
/// expired by `now`. A row with no `accountId` is `own`'s (see the module doc).
fn read_item(item: &HashMap<String, AttributeValue>, now: i64, own: &str) -> Option<Read> {
    let key = item.get(KEY_ATTRIBUTE).and_then(|v| v.as_s().ok())?;
    let expired = item
        .get(TTL_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|t| t < now);
    if expired {
        return None;
    }
    if key.starts_with(ACCOUNT_PREFIX) {
        return account_of(item, key).map(Read::Account);
    }
    state_of(item, now, own).map(Read::Row)
}

/// The state an item holds, every value checked; `None` when one fails or the item has
/// expired by `now`.
fn state_of(item: &HashMap<String, AttributeValue>, now: i64, own: &str) -> Option<StoredState> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let number = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    if number(TTL_ATTRIBUTE).is_some_and(|t| t < now) {
        return None;
    }
    let resource_arn = text("resourceArn").filter(|a| Arn::parse(a).is_ok())?;
    let vault_name = match text("vaultName") {
        Some(v) if sanitize::is_vault_name(&v) => Some(v),
        Some(_) => return None,
        None => None,
    };
    let stored = text(KEY_ATTRIBUTE)?;
    let (account, expected) = match text("accountId") {
        Some(a) if is_account_id(&a) => {
            let k = state_key(&a, &resource_arn, vault_name.as_deref());
            (a, k)
        }
        Some(_) => return None,
        None => (
            own.to_owned(),
            legacy_state_key(&resource_arn, vault_name.as_deref()),
        ),
    };
    if stored != expected {
        return None;
    }
    let resource_type = match text("resourceType") {
        Some(t) if sanitize::is_resource_type(&t) => Some(t),
        Some(_) => return None,
        None => None,
    };
    let role_arn = match text("roleArn") {
        Some(r) => Some(RoleArn::parse(&r).ok()?.as_str().to_owned()),
        None => None,
    };
    let key_arns = match item.get("keyArns") {
        None => Vec::new(),
        Some(v) => {
            let list = v.as_l().ok()?;
            if list.len() > MAX_KEYS {
                return None;
            }
            list.iter()
                .map(|k| {
                    k.as_s()
                        .ok()
                        .and_then(|k| KeyArn::parse(k).ok())
                        .map(|k| k.as_str().to_owned())
                })
                .collect::<Option<Vec<_>>>()?
        }
    };
    Some(StoredState {
        key: state_key(&account, &resource_arn, vault_name.as_deref()),
        account,
        resource_arn,
        vault_name,
        resource_type,
        verdict: verdict_of(&text("verdict")?)?,
        role_arn,
        key_arns,
        checked_at: number("checkedAt")?,
    })
}

/// Every unexpired state in `table` (a strongly consistent Scan, so a change right after
/// a run sees that run's states); `own` is the function's own account.
pub async fn load(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    now: i64,
    own: &str,
) -> Result<Loaded, StateError> {
    let fail = |reason: String| StateError {
        table: table.to_owned(),
        reason,
    };
    let mut loaded = Loaded::default();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    for _ in 0..MAX_PAGES {
        let page = ddb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| fail(format!("dynamodb:Scan failed: {}", call_error(&e).text)))?;
        for item in page.items() {
            match read_item(item, now, own) {
                Some(Read::Row(s)) => loaded.states.push(s),
                Some(Read::Account(a)) => {
                    loaded.accounts.insert(a.account.clone(), a);
                }
                None => loaded.dropped += 1,
            }
        }
        start = page.last_evaluated_key().cloned().filter(|k| !k.is_empty());
        if start.is_none() {
            latest_per_key(&mut loaded.states);
            return Ok(loaded);
        }
    }
    Err(fail(format!(
        "more than {MAX_PAGES} pages: not all states were read"
    )))
}

/// One state per key, the latest check's (stable otherwise).
fn latest_per_key(states: &mut Vec<StoredState>) {
    let mut latest: HashMap<String, i64> = HashMap::new();
    for s in states.iter() {
        let at = latest.entry(s.key.clone()).or_insert(s.checked_at);
        *at = (*at).max(s.checked_at);
    }
    let mut kept = std::collections::HashSet::new();
    states.retain(|s| latest.get(&s.key) == Some(&s.checked_at) && kept.insert(s.key.clone()));
}

/// Writes `states` and `accounts` (an upsert per item: the key is the account, resource
/// and vault, or the account), each expiring at `expires_at`.
pub async fn save(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    (states, accounts): (&[StoredState], &[AccountState]),
    expires_at: i64,
) -> Result<(), StateError> {
    let fail = |reason: String| StateError {
        table: table.to_owned(),
        reason,
    };
    let items: Vec<HashMap<String, AttributeValue>> = states
        .iter()
        .map(|s| item(s, expires_at))
        .chain(accounts.iter().map(|a| account_item(a, expires_at)))
        .collect();
    for chunk in items.chunks(BATCH) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| fail(format!("an item: {e}")))
            })
            .collect::<Result<_, _>>()?;
        for _ in 0..UNPROCESSED_ATTEMPTS {
            let out = ddb
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| {
                    fail(format!(
                        "dynamodb:BatchWriteItem failed: {}",
                        call_error(&e).text
                    ))
                })?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
        if !requests.is_empty() {
            return Err(fail(format!(
                "{} item(s) left unprocessed by dynamodb:BatchWriteItem",
                requests.len()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OWN: &str = "111122223333";

    fn state() -> StoredState {
        let resource = "arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/fs-1";
        StoredState {
            key: state_key(OWN, resource, Some("daily")),
            account: OWN.into(),
            resource_arn: resource.into(),
            vault_name: Some("daily".into()),
            resource_type: Some("EFS".into()),
            verdict: Verdict::NotReady,
            role_arn: Some("arn:aws:iam::111122223333:role/service-role/R".into()),
            key_arns: vec![
                "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
            ],
            checked_at: 1_772_000_000,
        }
    }

    #[test]
    fn the_attribute_names_are_the_templates() {
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"),
        )
        .unwrap();
        assert!(template.contains(&format!("AttributeName: {TTL_ATTRIBUTE}\n")));
        assert!(template.contains(&format!("- AttributeName: {KEY_ATTRIBUTE}\n")));
    }

    #[test]
    fn a_state_reads_back_as_written_until_it_expires() {
        let s = state();
        let item = item(&s, 1_772_100_000);
        assert_eq!(state_of(&item, 1_772_000_500, OWN), Some(s.clone()));
        assert_eq!(state_of(&item, 1_772_100_001, OWN), None);
        // Another account's row stays that account's, whatever the function's own is.
        let member = StoredState {
            key: state_key("210987654321", &s.resource_arn, Some("daily")),
            account: "210987654321".into(),
            ..s
        };
        let item = super::item(&member, 1_772_100_000);
        assert_eq!(state_of(&item, 1_772_000_500, OWN), Some(member));
    }

    #[test]
    fn a_row_written_before_the_account_was_kept_is_the_own_accounts() {
        let s = state();
        let mut legacy = item(&s, 1_772_100_000);
        legacy.remove("accountId");
        legacy.insert(
            KEY_ATTRIBUTE.into(),
            AttributeValue::S(legacy_state_key(&s.resource_arn, Some("daily"))),
        );
        assert_eq!(state_of(&legacy, 1_772_000_500, OWN), Some(s.clone()));
        // Its key must still be the resource's and vault's.
        legacy.insert(
            KEY_ATTRIBUTE.into(),
            AttributeValue::S(legacy_state_key(&s.resource_arn, Some("other"))),
        );
        assert_eq!(state_of(&legacy, 1_772_000_500, OWN), None);
        // Read next to the row written since, the later check is kept.
        let newer = StoredState {
            checked_at: s.checked_at + 10,
            ..s.clone()
        };
        let mut both = vec![s, newer.clone()];
        latest_per_key(&mut both);
        assert_eq!(both, [newer]);
    }

    #[test]
    fn an_accounts_item_reads_back_and_a_forged_one_is_left_out() {
        let a = AccountState {
            account: "210987654321".into(),
            readable: false,
            checked_at: 1_772_000_000,
        };
        let i = account_item(&a, 1_772_100_000);
        assert!(matches!(read_item(&i, 1_772_000_500, OWN), Some(Read::Account(x)) if x == a));
        assert!(read_item(&i, 1_772_100_001, OWN).is_none(), "expired");
        for (name, value) in [
            (
                KEY_ATTRIBUTE,
                AttributeValue::S("account#2109876543".into()),
            ),
            ("accountId", AttributeValue::S("111122223333".into())),
            ("checkedAt", AttributeValue::S("x".into())),
        ] {
            let mut bad = i.clone();
            bad.insert(name.into(), value);
            assert!(read_item(&bad, 1_772_000_500, OWN).is_none(), "{name}");
        }
    }

    #[test]
    fn an_item_with_a_value_that_fails_its_check_is_left_out() {
        let base = item(&state(), 1_772_100_000);
        for (name, value) in [
            (
                "roleArn",
                AttributeValue::S("arn:aws:iam::111122223333:role/*".into()),
            ),
            ("verdict", AttributeValue::S("fine".into())),
            ("vaultName", AttributeValue::S("other".into())),
            (
                "keyArns",
                AttributeValue::L(vec![AttributeValue::S("alias/x".into())]),
            ),
            ("resourceArn", AttributeValue::S("fs-1".into())),
            ("checkedAt", AttributeValue::S("yesterday".into())),
            ("accountId", AttributeValue::S("2109".into())),
            ("accountId", AttributeValue::S("210987654321".into())),
        ] {
            let mut bad = base.clone();
            bad.insert(name.into(), value);
            assert_eq!(state_of(&bad, 1_772_000_500, OWN), None, "{name}");
        }
    }
}
