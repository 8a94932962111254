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

criterion_group!(benches, bench);
criterion_main!(benches);
