//! The `Condition` element: every operator AWS documents, `...IfExists`, the
//! `ForAnyValue:`/`ForAllValues:` set operators and AWS's rules for absent keys.
//!
//! - Blocks, and keys within a block, must all hold; a key's values are alternatives.
//! - An absent key makes a positive operator false and a negated one (`StringNotEquals`,
//!   `NotIpAddress`, ...) true; `...IfExists` makes it true; `ForAllValues:` is true
//!   and `ForAnyValue:` false on an absent or empty key; `Null` tests presence.
//! - Keys tested but absent are recorded so the caller knows the answer may change.

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::arn::{arn_matches_in, arn_matches_tokens};
use super::context::Context;
use super::document::ConditionBlock;
use super::operator::{Operator, OperatorKind, SetOperator};
use super::variables::{expand, has_variables};
use super::wildcard::{glob, Tok};

/// Whether all condition blocks hold. Every key is tested (no short cut) so that all
/// absent keys are recorded.
pub(crate) fn conditions_hold(
    blocks: &[ConditionBlock],
    ctx: &Context<'_>,
    variables: bool,
    missing: &mut Vec<String>,
) -> bool {
    let mut all = true;
    for block in blocks {
        for (key, values) in &block.keys {
            if !key_holds(
                &block.operator,
                key,
                values.as_slice(),
                ctx,
                variables,
                missing,
            ) {
                all = false;
            }
        }
    }
    all
}

fn key_holds(
    op: &Operator,
    key: &str,
    policy_values: &[String],
    ctx: &Context<'_>,
    variables: bool,
    missing: &mut Vec<String>,
) -> bool {
    let request_values = ctx.get(key).filter(|v| !v.is_empty());
    if op.kind == OperatorKind::Null {
        let absent = request_values.is_none();
        if absent {
            missing.push(key.to_owned());
            if let Some(outcome) = ctx.assumed() {
                return outcome;
            }
        }
        return policy_values.iter().any(|v| {
            if v.eq_ignore_ascii_case("true") {
                absent
            } else if v.eq_ignore_ascii_case("false") {
                !absent
            } else {
                false
            }
        });
    }
    let Some(request_values) = request_values else {
        missing.push(key.to_owned());
        if let Some(outcome) = ctx.assumed() {
            return outcome;
        }
        return if op.if_exists {
            true
        } else {
            match op.set {
                Some(SetOperator::ForAllValues) => true,
                Some(SetOperator::ForAnyValue) => false,
                None => op.kind.is_negated(),
            }
        };
    };
    let negated = op.kind.is_negated();
    let budget = ctx.budget();
    // Once the budget is spent every answer is void: stop walking the pairs at once, so
    // that many policy values against many request values cost no more than the budget.
    let mut positive = |v: &str| {
        policy_values
            .iter()
            .take_while(|_| !budget.exhausted())
            .any(|p| compare(op.kind, v, p, ctx, variables, missing))
    };
    match op.set {
        None if negated => request_values.iter().all(|v| !positive(v)),
        None => request_values.iter().any(|v| positive(v)),
        Some(SetOperator::ForAnyValue) => request_values.iter().any(|v| positive(v) != negated),
        Some(SetOperator::ForAllValues) => request_values.iter().all(|v| positive(v) != negated),
    }
}

/// The positive comparison behind `kind` (its negation is applied by the caller).
fn compare(
    kind: OperatorKind,
    request: &str,
    policy: &str,
    ctx: &Context<'_>,
    variables: bool,
    missing: &mut Vec<String>,
) -> bool {
    use OperatorKind::*;
    // Each pair costs at least reading both values (parsing numbers, dates, addresses).
    if !ctx.budget().spend(steps(request.len() + policy.len() + 1)) {
        return false;
    }
    if variables && kind.takes_variables() && has_variables(policy) {
        let wildcards = matches!(
            kind,
            StringLike | StringNotLike | ArnEquals | ArnLike | ArnNotEquals | ArnNotLike
        );
        let Some(toks) = expand(policy, ctx, wildcards, missing) else {
            return false;
        };
        return compare_tokens(kind, request, &toks, ctx);
    }
    let budget = ctx.budget();
    match kind {
        StringEquals | StringNotEquals => request == policy,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            glob(literal(policy).as_slice(), request, true, budget)
        }
        StringLike | StringNotLike => glob(policy, request, false, budget),
        NumericEquals | NumericNotEquals => numeric(request, policy, |a, b| a == b),
        NumericLessThan => numeric(request, policy, |a, b| a < b),
        NumericLessThanEquals => numeric(request, policy, |a, b| a <= b),
        NumericGreaterThan => numeric(request, policy, |a, b| a > b),
        NumericGreaterThanEquals => numeric(request, policy, |a, b| a >= b),
        DateEquals | DateNotEquals => date(request, policy, |a, b| a == b),
        DateLessThan => date(request, policy, |a, b| a < b),
        DateLessThanEquals => date(request, policy, |a, b| a <= b),
        DateGreaterThan => date(request, policy, |a, b| a > b),
        DateGreaterThanEquals => date(request, policy, |a, b| a >= b),
        Bool => request.eq_ignore_ascii_case(policy),
        BinaryEquals => binary_equals(request, policy),
        IpAddress | NotIpAddress => ip_in(request, policy),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_matches_in(policy, request, budget),
        Null => false,
    }
}

fn steps(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn compare_tokens(kind: OperatorKind, request: &str, toks: &[Tok], ctx: &Context<'_>) -> bool {
    use OperatorKind::*;
    let budget = ctx.budget();
    match kind {
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => glob(toks, request, true, budget),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => {
            arn_matches_tokens(toks, request, budget)
        }
        // Equality and `Like`: the tokens carry literal or wildcard meaning already.
        _ => glob(toks, request, false, budget),
    }
}

fn literal(s: &str) -> Vec<Tok> {
    s.chars().map(Tok::Char).collect()
}

fn numeric(request: &str, policy: &str, cmp: impl Fn(f64, f64) -> bool) -> bool {
    match (request.trim().parse::<f64>(), policy.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => cmp(a, b),
        _ => false,
    }
}

/// Milliseconds since the epoch of an ISO 8601 date/time or of epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

fn date(request: &str, policy: &str, cmp: impl Fn(i64, i64) -> bool) -> bool {
    match (parse_date(request), parse_date(policy)) {
        (Some(a), Some(b)) => cmp(a, b),
        _ => false,
    }
}

fn binary_equals(request: &str, policy: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    match (engine.decode(request.trim()), engine.decode(policy.trim())) {
        (Ok(a), Ok(b)) => a == b,
        _ => request == policy,
    }
}

/// Whether the request's address lies in the policy's address or CIDR block.
pub(crate) fn ip_in(request: &str, policy: &str) -> bool {
    let Ok(addr) = request.trim().parse::<IpAddr>() else {
        return false;
    };
    let policy = policy.trim();
    let (net, prefix) = match policy.split_once('/') {
        Some((net, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (net, Some(bits)),
            Err(_) => return false,
        },
        None => (policy, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = prefix.unwrap_or(32);
            bits <= 32 && masked(u32::from(a).into(), u32::from(n).into(), bits, 32)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = prefix.unwrap_or(128);
            bits <= 128 && masked(u128::from(a), u128::from(n), bits, 128)
        }
        (IpAddr::V6(a), IpAddr::V4(n)) => match a.to_ipv4_mapped() {
            Some(a) => {
                let bits = prefix.unwrap_or(32);
                bits <= 32 && masked(u32::from(a).into(), u32::from(n).into(), bits, 32)
            }
            None => false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

fn masked(a: u128, n: u128, bits: u32, width: u32) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    a.checked_shr(shift) == n.checked_shr(shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_table() {
        let cases = [
            ("203.0.113.7", "203.0.113.0/24", true),
            ("203.0.114.7", "203.0.113.0/24", false),
            ("203.0.113.7", "203.0.113.7", true),
            ("10.1.2.3", "0.0.0.0/0", true),
            ("2001:db8::1", "2001:db8::/32", true),
            ("2001:db9::1", "2001:db8::/32", false),
            ("::ffff:203.0.113.7", "203.0.113.0/24", true),
            ("203.0.113.7", "2001:db8::/32", false),
            ("not-an-ip", "0.0.0.0/0", false),
            ("203.0.113.7", "203.0.113.0/33", false),
        ];
        for (addr, net, want) in cases {
            assert_eq!(ip_in(addr, net), want, "{addr} in {net}");
        }
    }

    #[test]
    fn date_formats() {
        let day = parse_date("2020-01-01").unwrap();
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(day));
        assert_eq!(parse_date("2020-01-01T00:00:00.000Z"), Some(day));
        assert_eq!(parse_date("2020-01-01T01:00:00+01:00"), Some(day));
        assert_eq!(parse_date("1577836800"), Some(day));
        assert_eq!(parse_date("yesterday"), None);
    }
}
