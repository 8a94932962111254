//! End-to-end diagnosis cost, evidence in, report and text out, on the case corpus's
//! heaviest evidence (a role with an inline copy of the managed restore policy) and its
//! combined case (EFS + KMS + vault policy). This is the Lambda's time after the AWS
//! calls return: it must not be what makes an alert slow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use restore_doctor::diagnose::Evidence;
use restore_doctor::examine;
use restore_doctor::render::text::report_text;

fn load(case: &str) -> Evidence {
    let path = format!(
        "{}/tests/cases/{case}/evidence.json",
        env!("CARGO_MANIFEST_DIR")
    );
    Evidence::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    for case in [
        "efs-combined-role-kms-vault",
        "ec2-passrole-encoded",
        "efs-managed-policy-all-allowed",
    ] {
        let evidence = load(case);
        c.bench_function(&format!("diagnose {case}"), |b| {
            b.iter(|| {
                let report = examine(black_box(&evidence));
                black_box(report_text(&report))
            })
        });
    }
}

/// The EFS case with `n` more statements in the role's inline policy (distinct buckets,
/// none matching a requirement): the cost per requirement must not grow with the copy of
/// every statement, only with the matching itself.
fn with_statements(n: usize) -> Evidence {
    let mut evidence = load("efs-role-missing-kms");
    let filler: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "Sid": format!("Filler{i}"),
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": format!("arn:aws:s3:::bucket-{i}/*")
            })
        })
        .collect();
    let role = evidence.restore_role.as_mut().unwrap();
    role.policies
        .push(restore_doctor::diagnose::evidence::PolicyDoc {
            name: "filler".into(),
            arn: None,
            kind: restore_doctor::diagnose::evidence::PolicyKind::Inline,
            document: serde_json::json!({"Version": "2012-10-17", "Statement": filler}),
        });
    evidence
}

fn growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnose role statements");
    for n in [10, 100, 1_000] {
        let evidence = with_statements(n);
        group.bench_function(format!("{n}"), |b| {
            b.iter(|| black_box(examine(black_box(&evidence))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, growth);
criterion_main!(benches);
