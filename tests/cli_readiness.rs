//! `restore-doctor readiness` (issue #13, section 2), the real binary against moto (IAM:
//! the restore roles) and the fake in `tests/fakes/aws_fake.py`, which serves the AWS
//! Backup operations moto 5.2 lacks: ListProtectedResources, ListBackupVaults,
//! ListRecoveryPointsByBackupVault, ListRecoveryPointsByResource,
//! GetRecoveryPointRestoreMetadata, ListRestoreTestingPlans, ListRestoreTestingSelections,
//! GetRestoreTestingSelection, DescribeRecoveryPoint, GetBackupVaultAccessPolicy; and STS GetCallerIdentity.
//!
//! One test per process: the fake's protected resources are the account's, so a second
//! test in this binary would see the first one's resources.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn readiness_options_are_checked_before_any_call() {
    let out = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args([
            "readiness",
            "--restore-role",
            "EFS=arn:aws:iam::123456789012:role/*",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--restore-role"),
        "{}",
        text(&out.stderr)
    );
    let version = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args(["readiness", "--version"])
        .output()
        .unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(text(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let bad_format = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .args(["readiness", "--format", "html"])
        .output()
        .unwrap();
    assert_eq!(bad_format.status.code(), Some(64));
}

#[cfg(feature = "aws")]
mod support;

#[cfg(feature = "aws")]
mod live {
    use super::support::{scenario, stack, unique, Stack, ACCOUNT, REGION};
    use super::*;
    use restore_doctor::diagnose::readiness::{ReadinessRun, RoleSource, Verdict};
    use serde_json::{json, Value};
    use std::process::Output;

    fn readiness(stack: &Stack, args: &[&str]) -> Output {
        support::cli::restore_doctor(stack, &[&["readiness"], args].concat())
    }

    /// A recovery point of `resource` in `vault`, created at `at` (epoch seconds).
    fn rp(vault: &str, resource: &str, kind: &str, at: f64, status: &str, meta: &Value) -> Value {
        json!({
            "BackupVaultName": vault,
            "BackupVaultArn": format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{vault}"),
            "ResourceArn": resource,
            "ResourceType": kind,
            "Status": status,
            "IsEncrypted": false,
            "CreationDate": at,
            "restoreMetadata": meta
        })
    }

    /// Two EFS file systems (restored with the role of the EFS restore testing
    /// selection, which has every EFS permission) and one EBS volume (restored with
    /// `--restore-role EBS=…`, a role without `ec2:DeleteVolume`), several recovery
    /// points each, in three vaults: exactly the volume is not ready, with the verified
    /// patch; each vault policy is read once for the run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exactly_the_resource_whose_role_lacks_a_permission_is_not_ready() {
        let stack = stack();
        let sdk = stack.sdk_config().await;
        let u = unique("ready");
        let efs_role = scenario::role(
            &sdk,
            &format!("efs-restore-{u}"),
            "/service-role/",
            &scenario::backup_trust(),
            &[("efs", scenario::allow_all(&["elasticfilesystem:*"]))],
            &[],
            None,
        )
        .await;
        let ebs_role = scenario::ebs_role_without_delete(&sdk, &format!("ebs-restore-{u}")).await;

        let (v1, v2, v3) = (format!("a-{u}"), format!("b-{u}"), format!("c-{u}"));
        let fs =
            |id: &str| format!("arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-{id}");
        let (fs_a, fs_b) = (fs("0a0a0a0a"), fs("0b0b0b0b"));
        let vol = format!("arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0c0c0c0c0c0c0c0c0");
        let point =
            |name: &str| format!("arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{name}-{u}");
        let efs_meta = |id: &str| {
            json!({"file-system-id": format!("fs-{id}"), "newFileSystem": "true",
                   "Encrypted": "false", "PerformanceMode": "generalPurpose",
                   "CreationToken": format!("t-{id}")})
        };
        let ebs_meta = json!({"volumeType": "gp3", "encrypted": "false",
                              "availabilityZone": format!("{REGION}a")});
        let vault = |name: &str, points: Vec<(String, Value)>| {
            json!({
                "arn": format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{name}"),
                "recoveryPoints": points.into_iter().collect::<serde_json::Map<String, Value>>()
            })
        };
        stack.fake_scenario(&json!({
            "protectedResources": {
                // Hostile: dropped with a gap, never sent back to AWS nor shown raw.
                "arn:aws:ec2:eu-west-1:123456789012:volume/vol-1\n*": {"ResourceType": "EBS"},
                &fs_a: {"ResourceType": "EFS"},
                &fs_b: {"ResourceType": "EFS"},
                &vol: {"ResourceType": "EBS"}
            },
            "restoreTestingPlans": {
                format!("nightly_{}", u.replace('-', "_")): {"selections": {
                    "efs": {"ProtectedResourceType": "EFS", "IamRoleArn": &efs_role,
                            "ProtectedResourceArns": ["*"],
                            "RestoreMetadataOverrides": {"performancemode": "maxIO"}}
                }},
                // A selection whose role is a wildcard: dropped, its role never used.
                format!("evil_{}", u.replace('-', "_")): {"selections": {
                    "ebs_all": {"ProtectedResourceType": "EBS",
                                "IamRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/*"),
                                "ProtectedResourceArns": ["*"]}
                }},
                // An EBS selection of another volume: restore testing never restores
                // this account's volume with its role, so readiness does not either.
                format!("weekly_{}", u.replace('-', "_")): {"selections": {
                    "ebs_other": {"ProtectedResourceType": "EBS", "IamRoleArn": &efs_role,
                                  "ProtectedResourceArns": [format!("arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0ffffffffffffffff")]}
                }}
            },
            "vaults": {
                &v1: vault(&v1, vec![
                    (point("a-old"), rp(&v1, &fs_a, "EFS", 1_772_000_000.0, "COMPLETED", &efs_meta("0a0a0a0a"))),
                    (point("a-new"), rp(&v1, &fs_a, "EFS", 1_772_300_000.0, "COMPLETED", &efs_meta("0a0a0a0a"))),
                    (point("b-new"), rp(&v1, &fs_b, "EFS", 1_772_200_000.0, "COMPLETED", &efs_meta("0b0b0b0b"))),
                    // Newer, but gone: never the one a restore would use.
                    (point("b-expired"), rp(&v1, &fs_b, "EFS", 1_772_400_000.0, "EXPIRED", &efs_meta("0b0b0b0b"))),
                ]),
                &v2: vault(&v2, vec![
                    (point("a-copy"), rp(&v2, &fs_a, "EFS", 1_772_100_000.0, "COMPLETED", &efs_meta("0a0a0a0a"))),
                ]),
                &v3: vault(&v3, vec![
                    (point("v-1"), rp(&v3, &vol, "EBS", 1_772_000_000.0, "COMPLETED", &ebs_meta)),
                    (point("v-2"), rp(&v3, &vol, "EBS", 1_772_100_000.0, "COMPLETED", &ebs_meta)),
                    (point("v-3"), rp(&v3, &vol, "EBS", 1_772_050_000.0, "COMPLETED", &ebs_meta)),
                ]),
            }
        }));

        let ebs_flag = format!("EBS={ebs_role}");
        let out = readiness(stack, &["--restore-role", &ebs_flag, "--format", "json"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let run: ReadinessRun = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
        // The two hostile values, each a gap of the listing that returned it.
        let calls: Vec<&str> = run.gaps.iter().map(|g| g.call.as_str()).collect();
        assert_eq!(run.gaps.len(), 2, "{:#?}", run.gaps);
        assert!(
            calls.contains(&"backup:ListProtectedResources"),
            "{calls:?}"
        );
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("backup:GetRestoreTestingSelection evil_")),
            "{calls:?}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("vol-1"));
        assert_eq!(run.account_id.as_deref(), Some(ACCOUNT));

        // One row per resource and vault, each on the latest completed recovery point.
        let mut rows: Vec<(String, String, String)> = run
            .resources
            .iter()
            .map(|r| {
                let s = &r.report.restore;
                (
                    s.source_resource_arn.clone().unwrap(),
                    s.backup_vault_name.clone().unwrap(),
                    s.recovery_point_arn.clone().unwrap(),
                )
            })
            .collect();
        rows.sort();
        let mut want = vec![
            (fs_a.clone(), v1.clone(), point("a-new")),
            (fs_a.clone(), v2.clone(), point("a-copy")),
            (fs_b.clone(), v1.clone(), point("b-new")),
            (vol.clone(), v3.clone(), point("v-2")),
        ];
        want.sort();
        assert_eq!(rows, want);

        for r in &run.resources {
            let s = &r.report.restore;
            if s.source_resource_arn.as_deref() == Some(vol.as_str()) {
                assert_eq!(r.verdict, Verdict::NotReady, "{:#?}", r.report);
                assert_eq!(s.role_arn.as_deref(), Some(ebs_role.as_str()));
                assert_eq!(r.role_source, Some(RoleSource::ConfiguredForType));
                let actions: Vec<&str> =
                    r.report.missing.iter().map(|f| f.action.as_str()).collect();
                assert_eq!(actions, ["ec2:DeleteVolume"], "{:#?}", r.report.missing);
                assert!(r.report.verified);
                let patch = r.report.patch.as_ref().unwrap();
                assert_eq!(patch.principal_arn, ebs_role);
            } else {
                assert_eq!(r.verdict, Verdict::Ready, "{}: {:#?}", r.summary, r.gaps);
                assert_eq!(s.role_arn.as_deref(), Some(efs_role.as_str()));
                assert_eq!(r.role_source, Some(RoleSource::RestoreTestingSelection));
                assert_eq!(s.resource_type.as_deref(), Some("EFS"));
            }
        }

        // Calls grow with vaults, not recovery points: v1 holds two resources' latest
        // points and its policy was read once; the metadata once per row.
        assert_eq!(stack.fake_requests("GetBackupVaultAccessPolicy", &v1), 1);
        assert_eq!(stack.fake_requests("GetBackupVaultAccessPolicy", &v3), 1);
        for (_, _, p) in &want {
            assert_eq!(stack.fake_requests("GetRecoveryPointRestoreMetadata", p), 1);
        }
        assert_eq!(
            stack.fake_requests("GetRecoveryPointRestoreMetadata", &point("a-old")),
            0
        );
        // Each selection was read once for the run, not once per resource.
        let nightly = format!("nightly_{}", u.replace('-', "_"));
        assert_eq!(
            stack.fake_requests("GetRestoreTestingSelection", &format!("{nightly}/efs")),
            1
        );
        // A full run lists by vault: v3's three recovery points took two pages of the
        // fake's two, v1's four two, v2's one one; nothing was listed by resource, and
        // no recovery point was described again (the listing described it).
        assert_eq!(
            stack.fake_requests("ListRecoveryPointsByBackupVault", &v1),
            2
        );
        assert_eq!(
            stack.fake_requests("ListRecoveryPointsByBackupVault", &v2),
            1
        );
        assert_eq!(
            stack.fake_requests("ListRecoveryPointsByBackupVault", &v3),
            2
        );
        for resource in [&fs_a, &fs_b, &vol] {
            assert_eq!(
                stack.fake_requests("ListRecoveryPointsByResource", resource),
                0
            );
        }
        let all_points = [
            "a-old",
            "a-new",
            "b-new",
            "b-expired",
            "a-copy",
            "v-1",
            "v-2",
            "v-3",
        ];
        for p in all_points {
            assert_eq!(stack.fake_requests("DescribeRecoveryPoint", &point(p)), 0);
        }

        // More recovery points (older ones of the volume): the run's calls grow by the
        // vault listing's pages only, not three per recovery point.
        let more = ["v-4", "v-5", "v-6", "v-7"];
        stack.fake_scenario(&json!({"vaults": {&v3: {"recoveryPoints": more
            .iter()
            .enumerate()
            .map(|(i, n)| (point(n), rp(&v3, &vol, "EBS", 1_771_000_000.0 + i as f64, "COMPLETED", &ebs_meta)))
            .collect::<serde_json::Map<String, Value>>()}}}));
        let again = readiness(stack, &["--restore-role", &ebs_flag, "--format", "json"]);
        assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
        let rerun: ReadinessRun = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(rerun.resources.len(), want.len());
        // Seven recovery points in v3: four pages this run, after the first run's two.
        assert_eq!(
            stack.fake_requests("ListRecoveryPointsByBackupVault", &v3),
            6
        );
        for p in all_points.iter().chain(&more) {
            assert_eq!(stack.fake_requests("DescribeRecoveryPoint", &point(p)), 0);
        }
        for p in more {
            assert_eq!(
                stack.fake_requests("GetRecoveryPointRestoreMetadata", &point(p)),
                0
            );
        }
        assert_eq!(stack.fake_requests("ListRecoveryPointsByResource", &vol), 0);

        // The text and Markdown tables say the same, with the same exit code.
        for (format, marker) in [("text", "NOT READY"), ("markdown", "**not ready**")] {
            let out = readiness(stack, &["--restore-role", &ebs_flag, "--format", format]);
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
            let shown = text(&out.stdout);
            assert_eq!(shown.matches(marker).count(), 1, "{shown}");
            assert!(shown.contains("ec2:DeleteVolume"), "{shown}");
        }

        // Without the EBS role: no restore testing selection for EBS, no configured
        // role, no default service role in the account: the volume is not verifiable,
        // never ready, and nothing is not ready (exit 0).
        let out = readiness(stack, &["--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let run: ReadinessRun = serde_json::from_slice(&out.stdout).unwrap();
        let volume = run
            .resources
            .iter()
            .find(|r| r.report.restore.source_resource_arn.as_deref() == Some(vol.as_str()))
            .unwrap();
        assert_eq!(volume.verdict, Verdict::NotVerifiable);
        assert!(
            volume.gaps.iter().any(|g| g.why.contains("--restore-role")),
            "{:#?}",
            volume.gaps
        );

        // A read policy without ListRecoveryPointsByBackupVault (one written before it):
        // the run lists per resource instead, still finds every row on its latest
        // recovery point, and says why in one run gap.
        let refused = json!({"status": 403, "code": "AccessDeniedException",
                             "message": "not authorized to perform: backup:ListRecoveryPointsByBackupVault"});
        stack.fake_scenario(&json!({"vaults": {&v2: {"errors": {
            "ListRecoveryPointsByBackupVault": refused}}}}));
        let out = readiness(stack, &["--restore-role", &ebs_flag, "--format", "json"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let run: ReadinessRun = serde_json::from_slice(&out.stdout).unwrap();
        let mut rows: Vec<(String, String, String)> = run
            .resources
            .iter()
            .map(|r| {
                let s = &r.report.restore;
                (
                    s.source_resource_arn.clone().unwrap(),
                    s.backup_vault_name.clone().unwrap(),
                    s.recovery_point_arn.clone().unwrap(),
                )
            })
            .collect();
        rows.sort();
        assert_eq!(rows, want);
        let fallback: Vec<_> = run
            .gaps
            .iter()
            .filter(|g| g.call.starts_with("backup:ListRecoveryPointsByBackupVault"))
            .collect();
        assert_eq!(fallback.len(), 1, "{:#?}", run.gaps);
        assert!(
            fallback[0].error.contains("listed per resource instead"),
            "{fallback:#?}"
        );
        for resource in [&fs_a, &fs_b, &vol] {
            assert!(stack.fake_requests("ListRecoveryPointsByResource", resource) >= 1);
        }
    }
}
