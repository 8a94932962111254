#![allow(clippy::panic)] // benchmark setup: a broken fixture should stop the run

//! Growth of the evaluator's cost with input size on the crafted shapes of issue #8,
//! section 6, at 1k, 10k and 100k characters: it should grow linearly (ten times the
//! input, about ten times the time), where the old matcher grew quadratically.
//!
//! - `glob *a…ab* over a…ab`: the backtracking worst case, through the public matcher
//!   (which has no size limit), pattern half the text.
//! - `overlap a*a*… with *a*a…`: a policy resource of that many characters against a
//!   request resource read as a pattern (the request at its 2,048-character limit).
//! - `condition pairs`: a `ForAllValues:StringNotLike` condition with n patterns
//!   against n request values (n² pairs) — quadratic by nature, so shown up to the
//!   point where the matching budget refuses it instead.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use restore_doctor::policy::{
    action_matches, evaluate, evaluate_with, ContextValue, EvaluateOptions, NamedPolicy, Policy,
    PolicySet, Request, ResourceWildcards,
};
use serde_json::json;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn identity(statements: serde_json::Value) -> PolicySet {
    let policy = Policy::from_value(&json!({"Version": "2012-10-17", "Statement": statements}))
        .unwrap_or_else(|e| panic!("{e}"));
    PolicySet {
        identity: vec![NamedPolicy {
            name: "bench".into(),
            policy,
        }],
        ..Default::default()
    }
}

fn request(resource: String, context: BTreeMap<String, ContextValue>) -> Request {
    Request {
        principal: "arn:aws:sts::111122223333:assumed-role/restore/job".into(),
        action: "s3:GetObject".into(),
        resource,
        resource_account: Some("111122223333".into()),
        context,
    }
}

fn glob(c: &mut Criterion) {
    let mut group = c.benchmark_group("glob *a…ab* over a…ab");
    for n in SIZES {
        let text = format!("{}b", "a".repeat(n));
        let pattern = format!("*{}b*", "a".repeat(n / 2));
        if !action_matches(&pattern, &text) {
            panic!("the pattern should match");
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(action_matches(black_box(&pattern), black_box(&text))))
        });
    }
    group.finish();
}

fn overlap(c: &mut Criterion) {
    let mut group = c.benchmark_group("overlap a*a*… with *a*a…");
    let options = EvaluateOptions {
        resource_wildcards: ResourceWildcards::Pattern,
    };
    let req = request(
        format!("arn:aws:s3:::{}", "*a".repeat(1_010)),
        BTreeMap::new(),
    );
    for n in SIZES {
        // Two statements of n/2 characters each: n characters of policy in all.
        let pattern = format!("arn:aws:s3:::{}", "a*".repeat(n / 4));
        let set = identity(json!([
            {"Effect": "Allow", "Action": "s3:*", "Resource": pattern},
            {"Effect": "Deny", "Action": "s3:*", "Resource": format!("{pattern}b")},
        ]));
        if evaluate_with(&req, &set, &options).is_err() {
            panic!("the overlap should be decided");
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(evaluate_with(black_box(&req), black_box(&set), &options).ok()))
        });
    }
    group.finish();
}

fn condition_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("condition pairs");
    for n in [100usize, 1_000, 3_000] {
        let patterns: Vec<String> = (0..n).map(|i| format!("p{i}*q")).collect();
        let set = identity(
            json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": patterns}}}]),
        );
        let values = n.min(1_024);
        let mut context = BTreeMap::new();
        context.insert(
            "aws:TagKeys".to_string(),
            ContextValue::Many((0..values).map(|j| format!("v{j}")).collect()),
        );
        let req = request("arn:aws:s3:::b/k".into(), context);
        group.bench_with_input(
            BenchmarkId::new(format!("{n} patterns x {values} values"), n * values),
            &n,
            |b, _| b.iter(|| black_box(evaluate(black_box(&req), black_box(&set)).ok())),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = glob, overlap, condition_pairs
}
criterion_main!(benches);
