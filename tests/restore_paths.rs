//! One requirement set per restore path (#9): a role holding exactly what the catalog
//! asks for a path is diagnosed complete (no false positives, also through the CLI),
//! and a role missing one of those permissions gets exactly that finding.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod path_evidence;

use std::process::Command;

use path_evidence::*;
use restore_doctor::diagnose::evidence::EvidencePart;
use restore_doctor::diagnose::report::Cause;
use restore_doctor::diagnose::requirements::{
    all_paths, path_ids, path_info, source_of, supported_types,
};
use restore_doctor::examine;

#[test]
fn every_covered_type_lists_its_paths_and_each_has_evidence() {
    for t in supported_types() {
        let ids = path_ids(&t);
        assert!(!ids.is_empty(), "{t}");
        for id in ids {
            assert_eq!(shape(&id).0, t, "{id}");
            let reqs = catalog_output(&id);
            assert!(!reqs.is_empty(), "{id}: asks nothing");
            // Every service requirement traces back to the statement or page it came from.
            for r in reqs.iter().filter(|r| !r.action.starts_with("kms:")) {
                assert!(
                    source_of(&id, &r.action, &r.resource, &scope_for(&id)).is_some(),
                    "{id}: `{}` on `{}` has no source",
                    r.action,
                    r.resource
                );
            }
        }
    }
}

#[test]
fn a_role_with_only_the_path_requirements_is_complete() {
    for p in all_paths() {
        let reqs = catalog_output(&p);
        let report = examine(&evidence_for(&p, vec![policy_granting(&reqs)]));
        assert!(report.missing.is_empty(), "{p}: {:#?}", report.missing);
        assert!(
            report.unverified.is_empty(),
            "{p}: {:#?}",
            report.unverified
        );
        // The evidence carries AWS's opaque denial: with every requirement allowed, the
        // denial is unexplained (look at SCPs, session policies...), never "not about
        // permissions", and nothing is missing.
        assert_eq!(report.cause, Cause::UnexplainedDenial, "{p}");
        assert!(report.patch.is_none(), "{p}");
    }
}

#[test]
fn cli_exits_0_for_a_least_privilege_role_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    for p in all_paths() {
        let evidence = evidence_for(&p, vec![policy_granting(&catalog_output(&p))]);
        let file = dir.path().join(format!("{p}.json"));
        std::fs::write(&file, serde_json::to_vec(&evidence).unwrap()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
            .args([
                "diagnose",
                "--evidence",
                file.to_str().unwrap(),
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{p}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["cause"], "unexplainedDenial", "{p}");
        assert_eq!(report["missing"], serde_json::json!([]), "{p}");
    }
}

#[test]
fn a_role_missing_one_requirement_gets_exactly_that_finding() {
    for p in all_paths() {
        let reqs = catalog_output(&p);
        for (i, gone) in reqs.iter().enumerate() {
            let mut kept = reqs.clone();
            kept.remove(i);
            let report = examine(&evidence_for(&p, vec![policy_granting(&kept)]));
            let found: Vec<(String, String)> = report
                .missing
                .iter()
                .map(|f| (f.action.clone(), f.resource.clone()))
                .collect();
            assert_eq!(
                found,
                [(gone.action.clone(), gone.resource.clone())],
                "{p}: without `{}` on `{}`",
                gone.action,
                gone.resource
            );
            assert_eq!(report.cause, Cause::MissingPermissions, "{p}");
            assert!(
                report.verified,
                "{p}: the patch for `{}` does not verify",
                gone.action
            );
        }
    }
}

/// Regression (#9): a role made for one path is not asked for another path's actions.
#[test]
fn paths_of_one_type_do_not_ask_each_others_actions() {
    let actions =
        |p: &str| -> Vec<String> { catalog_output(p).into_iter().map(|r| r.action).collect() };
    let existing = actions("s3-existing-bucket");
    for a in ["s3:CreateBucket", "s3:PutBucketVersioning"] {
        assert!(!existing.iter().any(|x| x == a), "{a}");
        assert!(actions("s3-new-bucket").iter().any(|x| x == a), "{a}");
    }
    assert!(!actions("dynamodb-native")
        .iter()
        .any(|a| a == "dynamodb:RestoreTableFromAwsBackup"));
    assert!(!actions("dynamodb-aws-backup")
        .iter()
        .any(|a| a == "dynamodb:RestoreTableFromBackup"));
    assert!(!actions("aurora-cluster-from-snapshot")
        .iter()
        .any(|a| a.contains("DBInstance")));
    assert!(!actions("efs-existing-file-system")
        .iter()
        .any(|a| a == "elasticfilesystem:CreateFileSystem"));
    assert!(!actions("rds-instance-from-snapshot")
        .iter()
        .any(|a| a.contains("DBCluster")));
    // A volume restore writes nothing to S3; a file-level one creates no volume.
    assert!(!actions("ebs-volume").iter().any(|a| a.starts_with("s3:")));
    assert!(!actions("ebs-file-level-to-s3")
        .iter()
        .any(|a| a == "ec2:CreateVolume"));
    assert!(actions("ebs-file-level-to-s3")
        .iter()
        .any(|a| a == "ebs:GetSnapshotBlock"));
    // Only a restore that creates the cluster creates one, and passes it a role.
    for a in ["eks:CreateCluster", "iam:PassRole"] {
        assert!(
            !actions("eks-existing-cluster").iter().any(|x| x == a),
            "{a}"
        );
        assert!(actions("eks-new-cluster").iter().any(|x| x == a), "{a}");
    }
}

/// Regression (#9): an EKS restore whose metadata does not say `newCluster` asks what
/// both EKS paths need and reports the new-cluster actions as depending on it.
#[test]
fn eks_without_new_cluster_flag_reports_the_cluster_creation_as_depending_on_it() {
    let mut e = evidence_for("eks-new-cluster", vec![]);
    e.restore_metadata.as_mut().unwrap().remove("newCluster");
    let report = examine(&e);
    let actions: Vec<&str> = report.missing.iter().map(|f| f.action.as_str()).collect();
    assert!(actions.contains(&"eks:CreateAccessEntry"), "{actions:?}");
    assert!(!actions.contains(&"eks:CreateCluster"), "{actions:?}");
    assert!(!actions.contains(&"iam:PassRole"), "{actions:?}");
    assert!(!report.verified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.part == Some(EvidencePart::RestoreMetadata)
            && u.why.contains("`newCluster`")
            && u.what.contains("eks:CreateCluster")));
}

/// A new-cluster restore passes the cluster role its metadata names to EKS: a role that
/// may not pass it gets exactly that finding, scoped to the one role and service; no
/// role named, or one of another account, is a gap, never a grant.
#[test]
fn eks_new_cluster_passes_the_metadata_cluster_role() {
    let mut reqs = catalog_output("eks-new-cluster");
    reqs.retain(|r| r.action != "iam:PassRole");
    let report = examine(&evidence_for(
        "eks-new-cluster",
        vec![policy_granting(&reqs)],
    ));
    assert_eq!(report.missing.len(), 1, "{:#?}", report.missing);
    let f = &report.missing[0];
    assert_eq!(
        (f.action.as_str(), f.resource.as_str()),
        ("iam:PassRole", EKS_CLUSTER_ROLE)
    );
    let patch = serde_json::to_string(&report.patch).unwrap();
    assert!(patch.contains("eks.amazonaws.com"), "{patch}");

    for role in [None, Some("arn:aws:iam::444455556666:role/EKSClusterRole")] {
        let mut e = evidence_for("eks-new-cluster", vec![policy_granting(&reqs)]);
        let meta = e.restore_metadata.as_mut().unwrap();
        meta.remove("clusterRole");
        if let Some(r) = role {
            meta.insert("clusterRole".into(), r.into());
        }
        let report = examine(&e);
        assert!(report.missing.is_empty(), "{:#?}", report.missing);
        assert!(!report.verified);
        assert!(
            report
                .unverified
                .iter()
                .any(|u| u.what.contains("iam:PassRole")),
            "{:#?}",
            report.unverified
        );
    }
}

/// restoring-ec2.html documents no file-level restore: an EC2 restore with the EBS
/// file-level keys is not covered, not checked as an instance launch.
#[test]
fn ec2_with_file_level_keys_is_not_covered() {
    let mut e = evidence_for("ec2-instance", vec![]);
    e.restore_metadata
        .as_mut()
        .unwrap()
        .insert("pathsToRestore".into(), "[\"/etc/hosts\"]".into());
    let report = examine(&e);
    assert!(report.missing.is_empty(), "{:#?}", report.missing);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.why.contains("not covered")));
}

/// Undecided evidence: a DynamoDB restore whose recovery point ARN is unknown asks only
/// what both DynamoDB paths need, says what depends on the path, and is not verified.
#[test]
fn undecided_path_asks_the_intersection_and_says_what_depends() {
    let mut e = evidence_for("dynamodb-native", vec![]);
    e.restore_job.as_mut().unwrap().recovery_point_arn = None;
    e.recovery_point = None;
    let report = examine(&e);
    let actions: Vec<&str> = report.missing.iter().map(|f| f.action.as_str()).collect();
    assert!(actions.contains(&"dynamodb:PutItem"), "{actions:?}");
    assert!(
        !actions.contains(&"dynamodb:RestoreTableFromBackup"),
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"dynamodb:RestoreTableFromAwsBackup"),
        "{actions:?}"
    );
    assert!(!report.verified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.part == Some(EvidencePart::RecoveryPoint)
            && u.why.contains("DynamoDB-native")
            && u.what.contains("dynamodb:RestoreTableFromAwsBackup")
            && u.what.contains("dynamodb:RestoreTableFromBackup")));
}

/// A type AWS Backup restores without a sourced entry is "not covered", never guessed.
#[test]
fn uncovered_type_is_reported_not_covered() {
    let mut e = evidence_for("ebs-volume", vec![]);
    e.trigger["detail"]["resourceType"] = "QuantumLedger".into();
    e.restore_job.as_mut().unwrap().resource_type = Some("QuantumLedger".into());
    e.recovery_point.as_mut().unwrap().resource_type = Some("QuantumLedger".into());
    let report = examine(&e);
    assert!(report.missing.is_empty(), "{:#?}", report.missing);
    assert_eq!(report.cause, Cause::Unverified);
    assert!(report
        .unverified
        .iter()
        .any(|u| u.why.contains("not covered")));
    assert!(path_info("ebs-volume")
        .unwrap()
        .sources
        .iter()
        .any(|s| s.contains("Sid EBSPermissions")));
}
