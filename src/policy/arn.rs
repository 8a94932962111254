//! ARN matching segment by segment, and the few ARN facts the evaluator needs.
//!
//! `arn:partition:service:region:account:resource`: a wildcard in one of the first five
//! segments stays inside it; the resource part (which may hold `:` and `/`) is matched
//! as a whole. Anything that is not a six-part ARN (`*`, a malformed pattern) is
//! matched as one string.

use super::wildcard::{covers, glob, overlaps, Budget, Tok};

/// The first six items, when there are six.
fn six<T, I: Iterator<Item = T>>(mut it: I) -> Option<[T; 6]> {
    Some([
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ])
}

/// Splits at the first five `:` into the six ARN parts.
fn split6(s: &str) -> Option<[&str; 6]> {
    six(s.splitn(6, ':'))
}

fn split6_tokens(toks: &[Tok]) -> Option<[&[Tok]; 6]> {
    six(toks.splitn(6, |t| *t == Tok::Char(':')))
}

/// Whether an ARN pattern with `*`/`?` wildcards (no policy variables) matches an ARN.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    arn_matches_in(pattern, arn, &Budget::unlimited())
}

/// [`arn_matches`] within an evaluation's budget.
pub(crate) fn arn_matches_in(pattern: &str, arn: &str, budget: &Budget) -> bool {
    if pattern == "*" {
        return true;
    }
    match (split6(pattern), split6(arn)) {
        (Some(p), Some(a)) => p
            .iter()
            .zip(a.iter())
            .all(|(p, a)| glob(*p, a, false, budget)),
        _ => glob(pattern, arn, false, budget),
    }
}

/// [`arn_matches`] for a pattern that went through variable expansion.
pub(crate) fn arn_matches_tokens(pattern: &[Tok], arn: &str, budget: &Budget) -> bool {
    if pattern == [Tok::Star] {
        return true;
    }
    match (split6_tokens(pattern), split6(arn)) {
        (Some(p), Some(a)) => p
            .iter()
            .zip(a.iter())
            .all(|(p, a)| glob(*p, a, false, budget)),
        _ => glob(pattern, arn, false, budget),
    }
}

/// Whether some ARN matches both the policy pattern and the request's wildcard ARN.
pub(crate) fn arn_overlaps(pattern: &[Tok], request: &[Tok], budget: &Budget) -> bool {
    if pattern == [Tok::Star] {
        return true;
    }
    match (split6_tokens(pattern), split6_tokens(request)) {
        (Some(p), Some(r)) => p.iter().zip(r.iter()).all(|(p, r)| overlaps(p, r, budget)),
        _ => overlaps(pattern, request, budget),
    }
}

/// Whether every ARN the request's wildcard ARN stands for matches the policy pattern.
pub(crate) fn arn_covers(pattern: &[Tok], request: &[Tok], budget: &Budget) -> bool {
    if pattern == [Tok::Star] {
        return true;
    }
    match (split6_tokens(pattern), split6_tokens(request)) {
        (Some(p), Some(r)) => p.iter().zip(r.iter()).all(|(p, r)| covers(p, r, budget)),
        _ => covers(pattern, request, budget),
    }
}

/// The parts of an ARN the evaluator reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arn<'a> {
    pub service: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub(crate) fn parse(s: &'a str) -> Option<Arn<'a>> {
        let [scheme, _partition, service, _region, account, resource] = split6(s)?;
        if scheme != "arn" {
            return None;
        }
        Some(Arn {
            service,
            account,
            resource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_table() {
        let cases = [
            ("*", "arn:aws:s3:::b", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/x:y", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::c/k", false),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:eu-west-1:111122223333:key/1",
                true,
            ),
            (
                "arn:aws:kms:*:111122223333:key/*",
                "arn:aws:kms:eu-west-1:444455556666:key/1",
                false,
            ),
            // not six parts: matched as one string
            ("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:1:volume/v", true),
            ("arn:aws:iam::*:role/r", "arn:aws:iam::1:role/r", true),
            // a wildcard does not spill over a segment boundary
            (
                "arn:aws:iam::1*:role/r",
                "arn:aws:iam::1:role/x:role/r",
                false,
            ),
            ("arn:aws:s3:::b", "*", false),
            ("*", "*", true),
            ("arn:aws:s3:::B", "arn:aws:s3:::b", false),
        ];
        for (p, a, want) in cases {
            assert_eq!(arn_matches(p, a), want, "{p} vs {a}");
        }
    }

    #[test]
    fn arn_parts() {
        let arn = Arn::parse("arn:aws:kms:us-east-1:111122223333:key/abc").unwrap();
        assert_eq!(arn.service, "kms");
        assert_eq!(arn.account, "111122223333");
        assert_eq!(arn.resource, "key/abc");
        assert_eq!(Arn::parse("*"), None);
    }
}
