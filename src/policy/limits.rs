//! The sizes the evaluator accepts, taken from the limits AWS itself enforces, and the
//! bound on the work one evaluation may do.
//!
//! Why: policies and requests reach the evaluator from hostile places (a refused call's
//! parameters, restore metadata, a crafted `simulate` file). Past these sizes AWS would
//! have refused the policy or the request, so refusing them here loses nothing real,
//! and it keeps every question the evaluator answers small. Past a limit the answer is
//! a typed error ([`super::EvalError`], [`super::ParseReason::TooLarge`]; a request is
//! checked by `types::check_request`), which the
//! diagnosis reports as unverified: never a guess, never an Allow.
//!
//! Sources:
//! - IAM User Guide, "IAM and AWS STS quotas" (reference_iam-quotas.html): managed
//!   policy 6,144 characters; inline policies per role 10,240, per user 2,048, per
//!   group 5,120 (aggregate); role trust policy 2,048 by default, 4,096 after a quota
//!   increase; white space is not counted.
//! - AWS Organizations User Guide, quotas: service control policy 5,120 characters;
//!   resource control policy 5,120 characters.
//! - AWS KMS API reference, `PutKeyPolicy` `Policy`: 32 KiB (32,768 bytes).
//! - Amazon S3 User Guide, "Bucket policies and user policies": 20 KB.
//! - AWS Backup API reference, `PutBackupVaultAccessPolicy` `Policy`: no length is
//!   documented (not verified); the general ceiling below applies.
//! - IAM API reference, `SimulateCustomPolicy` / `SimulatePrincipalPolicy`:
//!   `PolicyInputList` and `ResourcePolicy` members 1–131,072 characters (including
//!   white space), `ActionNames` members 3–128, `ResourceArns` members and `CallerArn`
//!   1–2,048; `ContextEntry.ContextKeyName` 5–256 (API_ContextEntry.html).
//!   `ContextKeyValues` has no documented length or count: the limits on them here are
//!   this project's, chosen well above every documented context value (tag values 256,
//!   S3 object keys 1,024, ARNs 2,048).

/// The largest policy document IAM's own simulator accepts (`SimulateCustomPolicy`
/// `PolicyInputList`, 131,072 characters): the ceiling for a policy of unknown kind.
pub const MAX_POLICY_CHARS: usize = 131_072;
/// The longest ARN (IAM API `ResourceArns`/`CallerArn`, 2,048).
pub const MAX_ARN_CHARS: usize = 2_048;
/// The longest action name (IAM API `SimulateCustomPolicy` `ActionNames`, 128).
pub const MAX_ACTION_CHARS: usize = 128;
/// The longest context key name (IAM API `ContextEntry.ContextKeyName`, 256).
pub const MAX_CONTEXT_KEY_CHARS: usize = 256;
/// The longest context value: this project's limit (AWS documents none), twice the
/// longest ARN.
pub const MAX_CONTEXT_VALUE_CHARS: usize = 4_096;
/// Values of one multivalued context key: this project's limit (AWS documents none;
/// the largest real lists, such as `aws:TagKeys`, hold at most 50).
pub const MAX_CONTEXT_VALUES: usize = 1_024;
/// Context keys in one request: this project's limit (AWS documents none).
pub const MAX_CONTEXT_KEYS: usize = 1_024;
/// Matching steps one evaluation may take (one request against one policy set). A
/// step is one comparison of a pattern element with a text element, counted as the
/// worst case of the search before it runs. Measured: every evaluation of the
/// diagnosis cases in `tests/cases` takes at most about 3,800 (the 47-statement AWS
/// managed policy for restores among them), an 80,000-character wildcard overlap
/// about 62,000; spending the whole budget takes about 0.2 s of a release build
/// (`scripts/bench-limits.sh`, BENCHMARKS.md).
pub const MAX_MATCH_STEPS: u64 = 50_000_000;
/// The longest value a policy variable expansion may produce, in characters: a pattern
/// longer than the longest context value and ARN together can match nothing real.
pub const MAX_EXPANDED_CHARS: usize = MAX_POLICY_CHARS;

/// The kinds of policy whose size AWS limits, for [`super::Policy::parse_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A customer managed policy (6,144).
    Managed,
    /// The inline policies of a role, together (10,240).
    RoleInline,
    /// The inline policies of a user, together (2,048).
    UserInline,
    /// The inline policies of a group, together (5,120).
    GroupInline,
    /// A role's trust policy (4,096 after the largest quota increase).
    TrustPolicy,
    /// A service control policy (5,120).
    ServiceControlPolicy,
    /// A resource control policy (5,120).
    ResourceControlPolicy,
    /// A KMS key policy (32,768).
    KeyPolicy,
    /// An S3 bucket policy (20 KB, read as 20,480).
    BucketPolicy,
    /// Anything else, including AWS managed policies and backup vault access policies
    /// (whose limits are not documented): the simulator's ceiling, 131,072.
    Other,
}

impl PolicyKind {
    /// The most characters (white space excluded) AWS accepts for this kind.
    pub fn max_chars(self) -> usize {
        match self {
            PolicyKind::Managed => 6_144,
            PolicyKind::RoleInline => 10_240,
            PolicyKind::UserInline => 2_048,
            PolicyKind::GroupInline => 5_120,
            PolicyKind::TrustPolicy => 4_096,
            PolicyKind::ServiceControlPolicy | PolicyKind::ResourceControlPolicy => 5_120,
            PolicyKind::KeyPolicy => 32_768,
            PolicyKind::BucketPolicy => 20_480,
            PolicyKind::Other => MAX_POLICY_CHARS,
        }
    }
}

/// An outside value as shown in a message (a context key, an ARN from an event): at
/// most 80 printable characters, backticks replaced, since it may be huge or hostile.
pub fn shown(key: &str) -> String {
    let mut out: String = key
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '`' { '\'' } else { c })
        .take(80)
        .collect();
    if key.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The size of a JSON value as AWS counts a policy: its characters without the white
/// space between tokens. Stops counting once past `limit`, so a huge value costs no
/// more than the limit to measure.
pub(crate) fn json_chars(value: &serde_json::Value, limit: usize) -> usize {
    use serde_json::Value;
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if total > limit {
            break;
        }
        total += match v {
            Value::Null => 4,
            Value::Bool(b) => {
                if *b {
                    4
                } else {
                    5
                }
            }
            Value::Number(n) => n.to_string().len(),
            Value::String(s) => string_chars(s),
            Value::Array(items) => {
                stack.extend(items.iter());
                // Brackets and the commas between items.
                2 + items.len().saturating_sub(1)
            }
            Value::Object(map) => {
                let mut size = 2 + map.len().saturating_sub(1);
                for (k, item) in map {
                    // Key, colon.
                    size += string_chars(k) + 1;
                    stack.push(item);
                }
                size
            }
        };
    }
    total
}

/// A JSON string's characters as written: quotes, and escapes for quotes, backslashes
/// and control characters.
fn string_chars(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c.is_control() && u32::from(c) < 0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_is_the_minified_length() {
        for v in [
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}]}),
            json!({"a": [1, 2.5, true, false, null, "q\"uote\\ \n tab\t é"]}),
            json!([]),
            json!({}),
        ] {
            let minified = serde_json::to_string(&v).unwrap();
            assert_eq!(
                json_chars(&v, usize::MAX),
                minified.chars().count(),
                "{minified}"
            );
        }
    }

    #[test]
    fn measuring_stops_past_the_limit() {
        let big = json!(vec!["x".repeat(100); 1000]);
        let n = json_chars(&big, 500);
        assert!(n > 500 && n < 2_000, "{n}");
    }
}
