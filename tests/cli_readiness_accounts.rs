//! `restore-doctor readiness --account …` (issue #13, section 2, the organization's
//! member accounts), the real binary against moto (IAM in each account: moto hands out
//! AssumeRole credentials that act in the role's account) and `tests/fakes/aws_fake.py`
//! for what moto 5.2 lacks: the AWS Backup readiness reads (ListProtectedResources,
//! ListBackupVaults, ListRecoveryPointsByBackupVault, ListRecoveryPointsByResource, GetRecoveryPointRestoreMetadata, ListRestoreTestingPlans,
//! ListRestoreTestingSelections, GetRestoreTestingSelection, DescribeRecoveryPoint,
//! GetBackupVaultAccessPolicy), listed per account (their "AccountId"), STS
//! GetCallerIdentity, and an AssumeRole that refuses a role that is not deployed (moto's
//! accepts any).
//!
//! One test per process: the fake's listings are shared by the binary's tests.

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
fn account_ids_and_the_reader_role_are_checked_before_any_call() {
    for args in [
        ["--account", "12345678901"],
        ["--account", "arn:aws:iam::123456789012:root"],
        ["--reader-role", "a/b"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
            .arg("readiness")
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(args[0]),
            "{args:?}: {}",
            text(&out.stderr)
        );
        // Refused before any credential is looked for.
        assert!(
            !text(&out.stderr).contains("credentials"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[cfg(feature = "aws")]
mod support;

#[cfg(feature = "aws")]
mod live {
    use super::support::org::sdk_in;
    use super::support::{scenario, stack, unique, Stack, ACCOUNT, REGION};
    use super::*;
    use restore_doctor::diagnose::readiness::{
        ReadinessDocument, ReadinessRun, RoleSource, Verdict,
    };
    use serde_json::{json, Value};
    use std::process::Output;

    /// A member account with the reader role deployed, and one without it.
    const MEMBER: &str = "210987654321";
    const BARE: &str = "333344445555";

    fn readiness(stack: &Stack, args: &[&str]) -> Output {
        support::cli::restore_doctor(stack, &[&["readiness"], args].concat())
    }

    fn accounts(out: &Output) -> Vec<ReadinessRun> {
        match serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
        {
            ReadinessDocument::Accounts(a) => a.accounts,
            ReadinessDocument::Run(_) => panic!("one run: {}", text(&out.stdout)),
        }
    }

    /// One resource per account, each listed only to its own account: the caller's EFS
    /// file system (its restore testing selection's role has every EFS permission) is
    /// ready; the member's EBS volume (restored with the member's selection's role,
    /// which lacks `ec2:DeleteVolume`) is not ready, with the patch for the member's
    /// role; the account without the reader role is not verifiable, naming the fix.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_account_is_checked_in_itself_and_one_without_the_role_is_not_verifiable() {
        let stack = stack();
        let u = unique("acct");
        let own_sdk = stack.sdk_config().await;
        let member_sdk = sdk_in(stack, MEMBER).await;
        let efs_role = scenario::role(
            &own_sdk,
            &format!("efs-restore-{u}"),
            "/",
            &scenario::backup_trust(),
            &[("efs", scenario::allow_all(&["elasticfilesystem:*"]))],
            &[],
            None,
        )
        .await;
        let ebs_role =
            scenario::ebs_role_without_delete(&member_sdk, &format!("ebs-restore-{u}")).await;
        assert!(
            ebs_role.contains(&format!("::{MEMBER}:role/")),
            "{ebs_role}"
        );

        let fs = format!("arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0a0a0a0a");
        let vol = format!("arn:aws:ec2:{REGION}:{MEMBER}:volume/vol-0c0c0c0c0c0c0c0c0");
        let (own_vault, member_vault) = (format!("own-{u}"), format!("member-{u}"));
        let point = |account: &str, name: &str| {
            format!("arn:aws:backup:{REGION}:{account}:recovery-point:{name}-{u}")
        };
        let vault = |account: &str, name: &str, resource: &str, kind: &str, meta: Value| {
            let arn = format!("arn:aws:backup:{REGION}:{account}:backup-vault:{name}");
            json!({"arn": &arn, "recoveryPoints": {point(account, "p"): {
                "BackupVaultName": name, "BackupVaultArn": &arn, "ResourceArn": resource,
                "ResourceType": kind, "Status": "COMPLETED", "IsEncrypted": false,
                "CreationDate": 1_772_000_000.0, "restoreMetadata": meta
            }}})
        };
        let plan = |name: &str| format!("{name}_{}", u.replace('-', "_"));
        let reader = |account: &str| format!("arn:aws:iam::{account}:role/RestoreDoctorReader");
        stack.fake_scenario(&json!({
            "protectedResources": {
                &fs: {"ResourceType": "EFS", "AccountId": ACCOUNT},
                &vol: {"ResourceType": "EBS", "AccountId": MEMBER}
            },
            "restoreTestingPlans": {
                plan("own"): {"AccountId": ACCOUNT, "selections": {"efs": {
                    "ProtectedResourceType": "EFS", "IamRoleArn": &efs_role,
                    "ProtectedResourceArns": ["*"]}}},
                plan("member"): {"AccountId": MEMBER, "selections": {"ebs": {
                    "ProtectedResourceType": "EBS", "IamRoleArn": &ebs_role,
                    "ProtectedResourceArns": ["*"]}}}
            },
            "vaults": {
                &own_vault: vault(ACCOUNT, &own_vault, &fs, "EFS",
                    json!({"file-system-id": "fs-0a0a0a0a", "newFileSystem": "true",
                           "Encrypted": "false", "PerformanceMode": "generalPurpose",
                           "CreationToken": "t-0a"})),
                &member_vault: vault(MEMBER, &member_vault, &vol, "EBS",
                    json!({"volumeType": "gp3", "encrypted": "false",
                           "availabilityZone": format!("{REGION}a")})),
            },
            // The member stack is deployed in MEMBER only: BARE's role is refused.
            "assumableRoles": {reader(MEMBER): &stack.moto.url}
        }));

        let args = [
            "--account",
            ACCOUNT,
            "--account",
            MEMBER,
            "--account",
            BARE,
            "--account",
            MEMBER,
        ];
        let mut json_args = args.to_vec();
        json_args.extend(["--format", "json"]);
        let out = readiness(stack, &json_args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let runs = accounts(&out);
        let ids: Vec<&str> = runs
            .iter()
            .map(|r| r.account_id.as_deref().unwrap())
            .collect();
        // In the order given, the repeat dropped.
        assert_eq!(ids, [ACCOUNT, MEMBER, BARE]);

        // The caller's own account, with its own credentials: only its file system.
        let own = &runs[0];
        assert!(own.gaps.is_empty(), "{:#?}", own.gaps);
        assert_eq!(own.resources.len(), 1, "{:#?}", own.resources);
        let r = &own.resources[0];
        assert_eq!(
            r.report.restore.source_resource_arn.as_deref(),
            Some(fs.as_str())
        );
        assert_eq!(r.verdict, Verdict::Ready, "{}: {:#?}", r.summary, r.gaps);
        assert_eq!(
            r.report.restore.role_arn.as_deref(),
            Some(efs_role.as_str())
        );
        assert_eq!(r.role_source, Some(RoleSource::RestoreTestingSelection));
        assert_eq!(stack.fake_requests("AssumeRole", &reader(ACCOUNT)), 0);

        // The member account, through its reader role: only its volume, read with the
        // member's restore testing selection and its role in the member account.
        let member = &runs[1];
        assert!(member.gaps.is_empty(), "{:#?}", member.gaps);
        assert_eq!(member.resources.len(), 1, "{:#?}", member.resources);
        let r = &member.resources[0];
        assert_eq!(
            r.report.restore.source_resource_arn.as_deref(),
            Some(vol.as_str())
        );
        assert_eq!(r.verdict, Verdict::NotReady, "{:#?}", r.report);
        assert_eq!(
            r.report.restore.role_arn.as_deref(),
            Some(ebs_role.as_str())
        );
        let actions: Vec<&str> = r.report.missing.iter().map(|f| f.action.as_str()).collect();
        assert_eq!(actions, ["ec2:DeleteVolume"], "{:#?}", r.report.missing);
        assert!(r.report.verified);
        assert_eq!(r.report.patch.as_ref().unwrap().principal_arn, ebs_role);
        // The role was assumed once for the run, though the account was given twice.
        assert_eq!(stack.fake_requests("AssumeRole", &reader(MEMBER)), 1);

        // The account without the reader role: not verifiable, naming it and the fix.
        let bare = &runs[2];
        assert!(bare.resources.is_empty());
        assert_eq!(bare.gaps.len(), 1, "{:#?}", bare.gaps);
        let gap = &bare.gaps[0];
        assert_eq!(gap.call, format!("sts:AssumeRole {}", reader(BARE)));
        for part in ["AccessDenied", BARE, "member.yaml", "RestoreDoctorReader"] {
            assert!(gap.error.contains(part), "{part}: {}", gap.error);
        }

        // Text and Markdown: one table per account, each headed by its account.
        for (format, marker) in [("text", "NOT READY"), ("markdown", "**not ready**")] {
            let mut a = args.to_vec();
            a.extend(["--format", format]);
            let out = readiness(stack, &a);
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
            let shown = text(&out.stdout);
            for id in [ACCOUNT, MEMBER, BARE] {
                assert_eq!(
                    shown
                        .matches(&format!("Restore readiness of account {id}"))
                        .count(),
                    1,
                    "{shown}"
                );
            }
            assert_eq!(shown.matches(marker).count(), 1, "{shown}");
            assert!(shown.contains("ec2:DeleteVolume"), "{shown}");
            assert!(shown.contains("member.yaml"), "{shown}");
            assert!(shown.contains("nothing here is verifiable"), "{shown}");
        }

        // A reader role of another name is not deployed anywhere: nothing is verifiable,
        // nothing is not ready (exit 0), and the gap names that role.
        let out = readiness(
            stack,
            &[
                "--account",
                MEMBER,
                "--reader-role",
                "Other",
                "--format",
                "json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let runs = accounts(&out);
        assert_eq!(runs.len(), 1);
        assert!(runs[0].resources.is_empty());
        assert_eq!(
            runs[0].gaps[0].call,
            format!("sts:AssumeRole arn:aws:iam::{MEMBER}:role/Other")
        );

        // Without --account: the caller's account alone, in the one-account document.
        let out = readiness(stack, &["--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let run: ReadinessRun = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(run.account_id.as_deref(), Some(ACCOUNT));
        assert_eq!(run.resources.len(), 1);
        assert_eq!(run.resources[0].verdict, Verdict::Ready);

        // --organization before there is an organization (AWS refuses ListAccounts; moto
        // lists no account): a clear error, nothing checked.
        let out = readiness(stack, &["--organization", "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(
            err.contains("--organization") && err.contains("organizations:ListAccounts"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
        // With one (moto's Organizations; the caller's account is its management account):
        // every active account, sorted, each checked as --account would; the new member
        // has no reader role deployed, so it is not verifiable.
        let (new_member, ..) = super::support::org::organization(&own_sdk).await;
        let listed: Vec<String> = {
            let org = aws_sdk_organizations::Client::new(&own_sdk);
            let mut ids: Vec<String> = org
                .list_accounts()
                .send()
                .await
                .unwrap()
                .accounts()
                .iter()
                .map(|a| a.id().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        assert!(listed.contains(&ACCOUNT.to_owned()) && listed.contains(&new_member));
        let out = readiness(stack, &["--organization", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let runs = accounts(&out);
        let ids: Vec<&str> = runs
            .iter()
            .map(|r| r.account_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, listed);
        let own = runs
            .iter()
            .find(|r| r.account_id.as_deref() == Some(ACCOUNT))
            .unwrap();
        assert_eq!(own.resources.len(), 1);
        let new = runs
            .iter()
            .find(|r| r.account_id.as_deref() == Some(new_member.as_str()))
            .unwrap();
        assert_eq!(
            new.gaps[0].call,
            format!("sts:AssumeRole {}", reader(&new_member))
        );
        // Not both: --account and --organization.
        let out = readiness(stack, &["--organization", "--account", MEMBER]);
        assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("cannot be used with"),
            "{}",
            text(&out.stderr)
        );
    }
}
